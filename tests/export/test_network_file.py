import dataclasses

import h5py
import numpy as np
import pytest

import neuromorphic_export.io as nio
from neuromorphic_export.build import random_network
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.io import load_network, save_network
from neuromorphic_export.quantize import quantize_network
from tests.export.test_cpu_backend import random_spec


def assert_same_network(spec, back):
    assert back.mode == spec.mode and back.input_size == spec.input_size
    assert [layer.model for layer in back.layers] == [layer.model for layer in spec.layers]
    for a, b in zip(spec.layers, back.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert (a.weight_rec is None) == (b.weight_rec is None)
        if a.weight_rec is not None:
            np.testing.assert_array_equal(a.weight_rec, b.weight_rec)
        assert a.name == b.name and a.scale == b.scale and a.params.keys() == b.params.keys()
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key])


@pytest.mark.parametrize("fixed", [False, True])
def test_round_trip(tmp_path, fixed):
    spec = random_spec()
    spec = quantize_network(spec) if fixed else spec
    assert_same_network(spec, load_network(save_network(spec, tmp_path / "net.h5")))


@pytest.mark.parametrize("model", ["cuba_lif", "atrlif"])
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_round_trip_loihi_models(tmp_path, model, mode):
    spec = random_network(model, 9, (7, 5), 2, mode=mode, seed=3)
    path = save_network(spec, tmp_path / "net.h5")
    assert_same_network(spec, load_network(path))
    with h5py.File(path, "r") as f:  # netx's schema exactly where netx can express the layer
        kinds = [f[f"layer/{i}/type"][()] for i in range(len(f["layer"]))]
    netx = model == "cuba_lif" and mode == "fixed"
    assert kinds == [b"input", *([b"dense_rec"] * 2 if netx else [b"spiking-nr"] * 2), b"spiking-nr"]


def test_cuba_after_an_extension_layer_stays_extension(tmp_path):
    """netx skips unknown layer types: a CUBA layer behind one would be wired across the gap."""
    alif = quantize_network(random_spec(n_in=9, sizes=(7,)))
    cuba = random_network("cuba_lif", 7, (5,), 2, seed=1)
    spec = type(alif)(9, (alif.layers[0], *cuba.layers), "fixed")
    path = save_network(spec, tmp_path / "net.h5")
    with h5py.File(path, "r") as f:
        assert f["layer/2/type"][()] == b"spiking-nr"
    assert_same_network(spec, load_network(path))


def _legacy_spec():
    """A fixed-point network that a version-1/2 file can hold: 12-bit rho, 12-bit trace, no delays."""
    spec = quantize_network(random_spec())
    layers = tuple(dataclasses.replace(
        layer, trace_bits=12, params={**layer.params, "rho": layer.params["rho"] >> 12 << 12})
        if layer.model == "alif_yin" else layer for layer in spec.layers)
    return type(spec)(spec.input_size, layers, "fixed", spec.metadata)


def _make_legacy(path, version):
    """Rewrite a version-3 file as the older layout: 12-bit rho, no trace_bits / bias_delay attrs."""
    with h5py.File(path, "r+") as f:
        for i in range(1, len(f["layer"])):
            g = f[f"layer/{i}"]
            del g.attrs["trace_bits"], g.attrs["bias_delay"]
            if g.attrs["model"] == "alif_yin":
                _replace(g["params"], "rho", g["params/rho"][()] >> 12)
        if version == 1:  # /layers/<i> from 0, no input layer
            f.create_group("layers")
            for i in range(len(f["layer"]) - 1):
                f.move(f"layer/{i + 1}", f"layers/{i}")
            del f["layer"]
        f.attrs["version"] = version


@pytest.mark.parametrize("version", [1, 2])
def test_older_versions_still_load_with_their_dynamics(tmp_path, version):
    spec = _legacy_spec()
    path = save_network(spec, tmp_path / "net.h5")
    _make_legacy(path, version)
    back = load_network(path)
    assert_same_network(spec, back)
    assert [layer.trace_bits for layer in back.layers[:-1]] == [12, 12]
    x = (np.random.default_rng(0).random((150, 12)) < 0.3).astype(np.uint8)
    np.testing.assert_array_equal(CPUSimulator(back).run(x).output, CPUSimulator(spec).run(x).output)


def test_twelve_bit_trace_is_the_version_2_equation():
    """trace_bits 12, rho = r << 12: b = rtz(b*r / 4096) + s*(4096 - r), B = b0 + rtz(beta*b / 4096)."""
    spec = _legacy_spec()
    x = (np.random.default_rng(1).random((200, 12)) < 0.3).astype(np.uint8)
    result = CPUSimulator(spec).run(x, record=("spikes", "threshold"))
    layer = spec.layers[0]
    r, beta, b0 = layer.params["rho"] >> 12, layer.params["beta"], layer.params["b0"]
    b, s_prev = np.zeros(layer.size, np.int64), np.zeros(layer.size, np.int64)
    for t in range(len(x)):
        b = b * r // 4096 + s_prev * (4096 - r)
        np.testing.assert_array_equal(result.threshold[0][t, 0], b0 + beta * b // 4096)
        s_prev = result.spikes[0][t, 0].astype(np.int64)
    assert result.spikes[0].sum() > 50


def _corrupt(tmp_path, edit, spec=None):
    spec = quantize_network(random_spec()) if spec is None else spec
    path = save_network(spec, tmp_path / "net.h5")
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _replace(group, key, data):
    del group[key]
    group.create_dataset(key, data=data)


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.attrs.__setitem__("version", 99), "unknown version 99"),
    (lambda f: f.attrs.__setitem__("format", "netx"), "format"),
    (lambda f: f["layer/1"].__delitem__("weight"), "missing dataset 'weight'"),
    (lambda f: f["layer/2/params"].__delitem__("rho"), "missing dataset 'rho'"),
    (lambda f: f["layer/1"].attrs.__setitem__("model", "izhikevich"), "unknown neuron model"),
    (lambda f: _replace(f["layer/1"], "bias", np.zeros(3)), r"bias must have shape \(10,\)"),
    (lambda f: _replace(f["layer/1"], "weight", np.full((10, 12), 1000)), r"\[-256, 254\]"),
    (lambda f: _replace(f["layer/1/params"], "alpha", np.full(10, np.nan)), "integers"),
    (lambda f: f.attrs.__setitem__("metadata", "{not json"), "JSON"),
    (lambda f: f["layer"].__delitem__("0"), "layer 0: missing"),
    (lambda f: _replace(f["layer/0"], "shape", np.array([5])), "must be type 'input' of shape"),
    (lambda f: _replace(f["layer/3"], "type", np.bytes_("conv")), "unsupported layer type 'conv'"),
])
def test_corrupt_files_rejected(tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        load_network(_corrupt(tmp_path, edit))


@pytest.mark.parametrize("edit, match", [
    (lambda f: f["layer/1/neuron"].__delitem__("vThMant"), "missing dataset 'vThMant'"),
    (lambda f: f["layer/1"].__delitem__("neuron"), "missing group 'neuron'"),
    (lambda f: _replace(f["layer/1/neuron"], "type", np.bytes_("SDNN")), "type 'SDNN' is not supported"),
    (lambda f: _replace(f["layer/1/neuron"], "iDecay", 0), r"current decay du must be in \[1, 4096\]"),
    (lambda f: _replace(f["layer/1/neuron"], "vDecay", 5000), r"decay dv must be in \[0, 4096\]"),
    (lambda f: _replace(f["layer/2/neuron"], "vThMant", np.array([3, 4])), "'vThMant' must be one number"),
    (lambda f: _replace(f["layer/1/neuron"], "vThMant", 2**20), r"threshold vth must be in \[0, 131071\]"),
    (lambda f: _replace(f["layer/1"], "shape", np.array([4])), r"shape \[4\] does not match weight"),
    (lambda f: _replace(f["layer/1"], "bias", np.full(7, np.nan)), "bias must hold integers"),
    (lambda f: _replace(f["layer/1"], "bias", np.full(7, 5000)), r"bias of a cuba_lif layer must be in"),
    (lambda f: f["layer/1"].__delitem__("weight_rec"), "missing dataset 'weight_rec'"),
    (lambda f: _replace(f["layer/1"], "type", np.bytes_("dense")), "type must be 'dense_rec'"),
    (lambda f: f["layer/1"].create_dataset("delay", data=np.ones(7)), "delays are not supported"),
    (lambda f: f.attrs.__setitem__("mode", "float"), "holds Loihi integers"),
])
def test_corrupt_netx_layers_rejected(tmp_path, edit, match):
    spec = random_network("cuba_lif", 9, (7, 5), 2, seed=0)
    with pytest.raises(ValueError, match=match):
        load_network(_corrupt(tmp_path, edit, spec))


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
