import gzip

import numpy as np
import pytest

from spiking_nr.data.mnist import load_mnist_5k, read_mnist_csv


def _write_csv(path, n_per_class=5, label_offset=0):
    rng = np.random.default_rng(0)
    rows = []
    for digit in range(10):
        for _ in range(n_per_class):
            rows.append([*rng.integers(0, 256, 784), digit + label_offset])
    with gzip.open(path, "wt") as handle:
        np.savetxt(handle, np.array(rows), fmt="%d", delimiter=",")


def test_reader_and_stratified_split(tmp_path):
    path = tmp_path / "mnist_5k.csv.gz"
    _write_csv(path)
    images, labels = read_mnist_csv(path)
    assert images.shape == (50, 28, 28) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    split = load_mnist_5k(seed=1, test_fraction=0.2, path=path)
    assert len(split.test_labels) == 10 and sorted(split.test_labels) == list(range(10))
    assert len(split.train_labels) == 40
    again = load_mnist_5k(seed=1, test_fraction=0.2, path=path)
    np.testing.assert_array_equal(split.train_images, again.train_images)


def test_real_offline_mnist_is_there():
    split = load_mnist_5k()
    assert len(split.train_labels) + len(split.test_labels) == 5000
    assert np.bincount(split.train_labels).tolist() == [400] * 10
    assert "real MNIST" in split.source


def test_bad_files_rejected(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="784 pixels"):
        read_mnist_csv(bad)
    path = tmp_path / "labels.csv.gz"
    _write_csv(path, n_per_class=1, label_offset=5)
    with pytest.raises(ValueError, match="digits 0-9"):
        read_mnist_csv(path)
    with pytest.raises(ValueError, match="test_fraction"):
        load_mnist_5k(test_fraction=1.5, path=path)
