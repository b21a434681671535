import h5py
import numpy as np
import pytest

from spiking_nr.data.shd import SpikeBinning, load_shd, read_shd_file


def _write_shd(path, samples, labels, keys=None):
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(samples):
            times[i] = np.asarray(t, np.float32)
            units[i] = np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        if keys is not None:
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))


def test_binning_to_frames(tmp_path):
    samples = [([0.0, 0.0051, 0.0057, 0.5, 1.39, 1.5], [0, 3, 3, 699, 10, 5]),
               ([0.1], [1])]
    _write_shd(tmp_path / "shd_train.h5", samples, [2, 0], keys=["zero", "one", "two"])
    data = load_shd(tmp_path, "train")
    x, y = data[0]
    assert x.shape == (250, 700) and y == 2 and data.class_names == ("zero", "one", "two")
    # 5.6 ms bins: 0.0051 s -> bin 0, 0.0057 s -> bin 1; 1.5 s is past the 1.4 s window
    assert x[0, 0] == 1 and x[0, 3] == 1 and x[1, 3] == 1
    assert x[int(0.5 / 0.0056), 699] == 1 and x[248, 10] == 1 and x.sum() == 5
    counts = SpikeBinning(n_bins=10, duration=0.1, max_count=None)(
        (np.array([0.001, 0.002, 0.003]), np.array([4, 4, 4])))
    assert counts[0, 4] == 3 and counts.sum() == 3
    variable = SpikeBinning(duration=None, dt=0.01)((np.array([0.0, 0.095]), np.array([1, 2])))
    assert variable.shape == (10, 700) and variable[9, 2] == 1


def test_tonic_layout_and_errors(tmp_path):
    (tmp_path / "SHD").mkdir()
    _write_shd(tmp_path / "SHD" / "shd_test.h5", [([0.2], [7])], [19])
    data = load_shd(tmp_path, "test")
    assert data.n_classes == 20 and data.class_names is None and data.n_features == 700
    with pytest.raises(FileNotFoundError, match="zenkelab"):
        load_shd(tmp_path, "train")
    with h5py.File(tmp_path / "broken.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(1))
    with pytest.raises(ValueError, match="spikes/times"):
        read_shd_file(tmp_path / "broken.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5"):
        read_shd_file(tmp_path / "text.h5")
    with pytest.raises(ValueError, match="unit ids"):
        SpikeBinning()((np.array([0.1]), np.array([700])))
    with pytest.raises(ValueError, match="dt"):
        SpikeBinning(duration=None)
    with pytest.raises(ValueError, match="split"):
        load_shd(tmp_path, "valid")
