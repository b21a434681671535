import gzip
import struct

import numpy as np
import pytest

from spiking_nr.data.mnist import (
    FASHION_NAMES,
    load_digits_8x8,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)


def _write_idx(path, array, type_code=0x08, compress=False):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def _torchvision_layout(root, folder, n_train=6, n_test=4, compress=True):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        _write_idx(raw / f"{part}-images-idx3-ubyte", images, compress=compress)
        _write_idx(raw / f"{part}-labels-idx1-ubyte", labels, compress=compress)
        arrays[part] = (images, labels)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_from_idx_files(tmp_path, compress):
    arrays = _torchvision_layout(tmp_path, "MNIST", compress=compress)
    split = load_mnist(tmp_path)
    np.testing.assert_allclose(split.train_images, arrays["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.test_labels, arrays["t10k"][1])
    assert split.train_images.dtype == np.float32 and split.train_labels.dtype == np.int64
    seqs = split.sequences("test")
    assert len(seqs) == 4 and seqs.n_features == 28 and seqs[0][0].shape == (28, 28)
    assert seqs.class_names[3] == "3"


def test_fashion_mnist_layout_and_names(tmp_path):
    _torchvision_layout(tmp_path, "FashionMNIST")
    split = load_fashion_mnist(tmp_path)
    assert split.class_names == FASHION_NAMES and split.name == "FashionMNIST"
    assert len(split.train_labels) == 6


def test_idx_reader_types_and_errors(tmp_path):
    values = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    _write_idx(tmp_path / "ints", values, type_code=0x0C)
    np.testing.assert_array_equal(read_idx(tmp_path / "ints"), values)
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    _write_idx(tmp_path / "short", np.zeros((5, 2), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match="bytes follow"):
        read_idx(tmp_path / "short")


def test_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST/raw.*download=True"):
        load_mnist(tmp_path)
    arrays = _torchvision_layout(tmp_path, "FashionMNIST")
    (tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path)
    assert arrays


def test_digits_8x8_offline():
    split = load_digits_8x8(seed=0)
    assert len(split.train_labels) + len(split.test_labels) == 1797
    assert split.train_images.shape[1:] == (8, 8) and split.train_images.max() <= 1.0
    assert set(split.test_labels) == set(range(10))
    again = load_digits_8x8(seed=0)
    np.testing.assert_array_equal(split.test_labels, again.test_labels)
    assert not np.array_equal(split.test_labels, load_digits_8x8(seed=1).test_labels)


def test_download_checks_md5_and_leaves_no_half_file(tmp_path, monkeypatch):
    """The download path runs against a local file:// mirror: good files land, corrupt ones do not."""
    import hashlib

    from spiking_nr.data import mnist

    source = tmp_path / "mirror"
    arrays = _torchvision_layout(source, "MNIST")
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (source / "MNIST" / "raw").iterdir()}
    mirror = (source / "MNIST" / "raw").as_uri() + "/"
    monkeypatch.setitem(mnist.IDX_SOURCES, "MNIST", ((mirror,), files))
    split = load_mnist(tmp_path / "data", download=True)
    assert np.array_equal(split.train_labels, arrays["train"][1])

    corrupt = dict(files, **{"t10k-labels-idx1-ubyte.gz": "0" * 32})
    monkeypatch.setitem(mnist.IDX_SOURCES, "MNIST", ((mirror,), corrupt))
    raw = tmp_path / "fresh" / "MNIST" / "raw"
    with pytest.raises(OSError, match="MD5 mismatch"):
        load_mnist(tmp_path / "fresh", download=True)
    assert not (raw / "t10k-labels-idx1-ubyte.gz").exists()
    assert not [p for p in raw.iterdir() if p.name.endswith(".tmp")]


def test_fashion_stream_has_fashion_targets_and_mnist_distractors(tmp_path):
    from spiking_nr.experiment import image_task

    _torchvision_layout(tmp_path, "FashionMNIST", n_train=12, n_test=10)
    _torchvision_layout(tmp_path, "MNIST", n_train=12, n_test=10)
    task = image_task(0, fashion_root=str(tmp_path))
    assert task.n_classes == 10 and task.data_note.startswith("REAL")
    chunk = next(task.test_stream.chunks(2, 600, total_steps=600))
    assert chunk.inputs.shape == (600, 2, 28) and set(np.unique(chunk.inputs)) <= {0.0, 1.0}
    assert chunk.is_target.any() and (~chunk.is_target & (chunk.target == -1)).any()
    assert chunk.target.max() <= 9 and (chunk.target[chunk.is_target] >= 0).all()


def test_fashion_stream_without_files_says_where_to_put_them(tmp_path):
    from spiking_nr.data.image_stream import fashion_streams

    with pytest.raises(FileNotFoundError, match="FashionMNIST.*not found"):
        fashion_streams(tmp_path)
