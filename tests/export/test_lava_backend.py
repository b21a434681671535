"""Real Lava runs (Loihi2SimCfg) against the CPU backend: every spike and every final voltage."""

import multiprocessing
import sys

import h5py
import numpy as np
import pytest

from neuromorphic_export.build import make_layer, random_network
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.io import load_network, save_network
from neuromorphic_export.lava import ensure_lava_importable, lava_available, run_lava
from neuromorphic_export.spec import NetworkSpec, lava_dense_weights, netx_dense_weights
from tests.export.test_cpu_backend import any_network

pytestmark = pytest.mark.slow


def test_compat_makes_lava_importable_idempotently():
    ensure_lava_importable()
    ensure_lava_importable()
    assert lava_available()
    from lava.magma.compiler import var_model

    assert var_model.AxonEncoder().hi is not var_model.AxonEncoder().hi  # default_factory, not shared
    assert "lava.lib.dl.slayer.object_detection" in sys.modules
    assert multiprocessing.get_start_method() == "fork"


def assert_lava_equals_cpu(spec, x):
    """Every spike, every final voltage and every readout value of Lava fixed_pt == CPU backend."""
    lava = run_lava(spec, x)
    cpu = CPUSimulator(spec).run(x, record=("spikes", "voltage"))
    hidden = len(spec.layers) - 1
    assert len(lava.spikes) == hidden
    for depth in range(hidden):
        np.testing.assert_array_equal(lava.spikes[depth], cpu.spikes[depth][:, 0])
        np.testing.assert_array_equal(lava.final_voltage[depth], cpu.voltage[depth][-1, 0])
        assert lava.spikes[depth].sum() > 20, "the comparison must involve real activity"
    np.testing.assert_array_equal(lava.output, cpu.output[:, 0])
    print(f"{spec.layers[0].model}: Lava fixed_pt == CPU backend over {len(x)} steps, "
          f"{sum(int(s.sum()) for s in lava.spikes)} spikes, sizes {[l.size for l in spec.layers]}")


@pytest.mark.parametrize("model", ["alif_yin", "cuba_lif", "atrlif"])
@pytest.mark.parametrize("sizes, n_in, seed", [((10, 8), 12, 0), ((40, 24, 16), 30, 1)])
def test_lava_fixed_point_equals_cpu_backend(model, sizes, n_in, seed):
    spec = any_network(model, "fixed", n_in=n_in, sizes=sizes, seed=seed)
    x = (np.random.default_rng(seed).random((220, n_in)) < 0.25).astype(np.uint8)
    assert_lava_equals_cpu(spec, x)


@pytest.mark.parametrize("model, params", [
    ("cuba_lif", {"du": 1, "dv": 0, "vth": 2**17 - 1}),
    ("atrlif", {"di": 1, "dv": 0, "dth": 64, "dr": 512, "th0": 4095, "th_step": 4095}),
])
def test_lava_fixed_point_saturation_equals_cpu_backend(model, params):
    """Strong drive: the current wraps at 2**23 and the voltage clips, in lava as on the CPU."""
    rng = np.random.default_rng(7)
    first = make_layer(model, "hot", 2 * rng.integers(50, 127, (6, 30)), bias=4095,
                       weight_rec=2 * rng.integers(-60, 60, (6, 6)), **params)
    rest = random_network(model, 6, (8,), 3, seed=7).layers
    spec = NetworkSpec(30, (first, *rest), "fixed")
    x = (rng.random((300, 30)) < 0.6).astype(np.uint8)
    cpu = CPUSimulator(spec).run(x, record=("voltage",))
    assert np.abs(cpu.voltage[0]).max() >= 2**23 - 2**12, "the test must reach the 24-bit limits"
    assert_lava_equals_cpu(spec, x)


@pytest.mark.parametrize("model", ["alif_yin", "cuba_lif", "atrlif"])
def test_lava_float_mode_spike_agreement(model):
    spec = any_network(model, "float", seed=4)
    x = (np.random.default_rng(4).random((200, 12)) < 0.3).astype(np.uint8)
    lava = run_lava(spec, x)
    cpu = CPUSimulator(spec).run(x, record=("spikes",))
    agreement = np.mean([np.mean(a == b[:, 0]) for a, b in zip(lava.spikes, cpu.spikes)])
    print(f"{model}: CPU float vs Lava floating_pt spike agreement {agreement:.4%}")
    assert agreement > 0.99
    np.testing.assert_allclose(lava.output, cpu.output[:, 0], rtol=1e-9, atol=1e-9)


def run_netx(path, x):
    """(output spikes [T, N], final voltage per layer) of ``path`` loaded by lava-dl netx, fixed_pt."""
    ensure_lava_importable()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    net = netx.hdf5.Network(net_config=str(path))
    source, sink = Source(data=x.T.astype(np.int32)), Sink(shape=net.out.shape, buffer=len(x))
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=len(x)), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get().T, [np.asarray(layer.neuron.v.get()) for layer in net.layers]
    finally:
        net.stop()


def assert_netx_equals_cpu(spec, path, x):
    spikes, final_v = run_netx(path, x)
    assert len(final_v) == len(spec.layers) - 1, "netx loads the CUBA layers, skips the readout"
    cpu = CPUSimulator(spec).run(x, record=("spikes", "voltage"))
    np.testing.assert_array_equal(spikes, cpu.spikes[-1][:, 0])
    for depth, voltage in enumerate(final_v):
        np.testing.assert_array_equal(voltage, cpu.voltage[depth][-1, 0])
    assert spikes.sum() > 20
    return int(spikes.sum())


def test_netx_loads_the_written_cuba_network_and_spikes_like_the_cpu_backend(tmp_path):
    """lava-dl netx reads the package's file unchanged (its CUBA layers) and gives the same spikes."""
    spec = random_network("cuba_lif", 16, (24, 12), 3, seed=5)
    path = save_network(spec, tmp_path / "cuba.h5")
    x = (np.random.default_rng(5).random((220, 16)) < 0.25).astype(np.uint8)
    total = assert_netx_equals_cpu(spec, path, x)
    print(f"netx CUBA network == CPU backend: {total} output spikes over {len(x)} steps")


def _cuba(name, weight, weight_rec=None, vth=300):
    return make_layer("cuba_lif", name, weight, weight_rec=weight_rec, du=1024, dv=256, vth=vth,
                      bias=2)


def _valid_netx_files():
    """Files that validate, at the edges of netx's bit sizing."""
    rng = np.random.default_rng(11)
    odd_big = rng.integers(64, 127, (12, 16)) * 2 + 1  # one-signed, odd, above 127
    return {
        "quantised (mixed, even)": random_network("cuba_lif", 16, (12, 8), 3, seed=6),
        "one-signed odd input and recurrent": NetworkSpec(16, (
            _cuba("h0", odd_big, rng.integers(0, 40, (12, 12)) * 2 + 1, vth=6000),
            _cuba("h1", rng.integers(1, 254, (8, 12)), vth=4000), readout_layer(8)), "fixed"),
        "odd input below 128, mixed even recurrent": NetworkSpec(16, (
            _cuba("h0", odd_big // 2 | 1, 2 * rng.integers(-60, 60, (12, 12)), vth=2000),
            readout_layer(12)), "fixed"),
    }


def readout_layer(n_in):
    return make_layer("readout", "out", np.full((3, n_in), 6), alpha=3800)


@pytest.mark.parametrize("case", list(_valid_netx_files()))
def test_every_valid_file_runs_the_same_in_netx_lava_and_cpu(case, tmp_path):
    spec = _valid_netx_files()[case]
    path = save_network(spec, tmp_path / "net.h5")
    spec = load_network(path)
    x = (np.random.default_rng(12).random((200, 16)) < 0.25).astype(np.uint8)
    total = assert_netx_equals_cpu(spec, path, x)
    assert_lava_equals_cpu(spec, x)
    print(f"{case}: netx == Lava == CPU backend, {total} netx output spikes")


def test_emulated_rules_are_what_lava_and_netx_do(tmp_path):
    """What the validator refuses really changes: lava's Dense on odd mixed weights, and netx on a
    hand-written file with the joint-sizing trap (both bypass the package's validation)."""
    ensure_lava_importable()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    rng = np.random.default_rng(3)
    w = rng.integers(-256, 255, (5, 8))
    w[0, 0] = 255
    x = (rng.random((30, 8)) < 0.5).astype(np.int32)
    source, dense, sink = Source(data=x.T), Dense(weights=w, num_message_bits=0), Sink(shape=(5,), buffer=30)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(sink.a_in)
    try:
        source.run(condition=RunSteps(num_steps=30), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        got = sink.data.get().T
    finally:
        source.stop()
    np.testing.assert_array_equal(got[1:], x[:-1] @ lava_dense_weights(w).T)
    assert not np.array_equal(got[1:], x[:-1] @ w.T)

    weight = rng.integers(64, 127, (10, 16)) * 2 + 1
    weight_rec = 2 * rng.integers(-20, 20, (10, 10))
    with pytest.raises(ValueError, match="netx's bit sizing"):
        _cuba("h0", weight, weight_rec).validate("fixed")
    effective = NetworkSpec(16, (_cuba("h0", netx_dense_weights(weight, weight_rec)[0], weight_rec,
                                       vth=200), readout_layer(10)), "fixed")
    path = save_network(effective, tmp_path / "trap.h5")
    with h5py.File(path, "r+") as f:  # the weights the validator refuses, written by hand
        del f["layer/1/weight"]
        f["layer/1"].create_dataset("weight", data=weight)
    x = (np.random.default_rng(4).random((150, 16)) < 0.3).astype(np.uint8)
    spikes, _ = run_netx(path, x)
    assert not effective.layers[0].weight.any()
    np.testing.assert_array_equal(spikes, CPUSimulator(effective).run(x).spikes[0][:, 0])
    fed = NetworkSpec(16, (_cuba("h0", weight, vth=200), readout_layer(10)), "fixed")  # no trap
    assert spikes.sum() == 0 and CPUSimulator(fed).run(x).spikes[0].sum() > 100


def test_bad_input_rejected_before_lava_starts():
    spec = any_network("alif_yin", "float")
    with pytest.raises(ValueError, match=r"\[T, 12\]"):
        run_lava(spec, np.zeros((5, 2, 12)))
    with pytest.raises(ValueError, match="binary"):
        run_lava(spec, np.full((5, 12), 0.5))
