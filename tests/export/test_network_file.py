import h5py
import numpy as np
import pytest

import neuromorphic_export.io as nio
from neuromorphic_export.io import load_network, save_network
from neuromorphic_export.quantize import quantize_network
from tests.export.test_cpu_backend import random_spec


@pytest.mark.parametrize("fixed", [False, True])
def test_round_trip(tmp_path, fixed):
    spec = random_spec()
    spec = quantize_network(spec) if fixed else spec
    path = save_network(spec, tmp_path / "net.h5")
    back = load_network(path)
    assert back.mode == spec.mode and back.input_size == spec.input_size
    for a, b in zip(spec.layers, back.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert (a.weight_rec is None) == (b.weight_rec is None)
        assert a.scale == b.scale and a.params.keys() == b.params.keys()


def _corrupt(tmp_path, edit):
    path = save_network(quantize_network(random_spec()), tmp_path / "net.h5")
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.attrs.__setitem__("version", 99), "unknown version 99"),
    (lambda f: f.attrs.__setitem__("format", "netx"), "format"),
    (lambda f: f["layers/0"].__delitem__("weight"), "missing dataset 'weight'"),
    (lambda f: f["layers/1/params"].__delitem__("rho"), "missing dataset 'rho'"),
    (lambda f: f["layers/0"].attrs.__setitem__("model", "izhikevich"), "unknown neuron model"),
    (lambda f: (f["layers/0"].__delitem__("bias"), f["layers/0"].create_dataset("bias", data=np.zeros(3))),
     r"bias must have shape \(10,\)"),
    (lambda f: (f["layers/0"].__delitem__("weight"),
                f["layers/0"].create_dataset("weight", data=np.full((10, 12), 1000))), r"\[-256, 254\]"),
    (lambda f: (f["layers/0/params"].__delitem__("alpha"),
                f["layers/0/params"].create_dataset("alpha", data=np.full(10, np.nan))), "integers"),
    (lambda f: f.attrs.__setitem__("metadata", "{not json"), "JSON"),
])
def test_corrupt_files_rejected(tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        load_network(_corrupt(tmp_path, edit))


def test_not_hdf5_and_missing(tmp_path):
    (tmp_path / "x.h5").write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        load_network(tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "nope.h5")


def test_failed_export_leaves_old_file_and_no_half_file(tmp_path, monkeypatch):
    path = save_network(random_spec(seed=1), tmp_path / "net.h5")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nio.h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="disk full"):
        save_network(random_spec(seed=2), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.h5"]
