"""Real Lava runs (Loihi2SimCfg) against the CPU backend: every spike and every final voltage."""

import multiprocessing
import sys

import numpy as np
import pytest

from neuromorphic_export.build import make_layer, random_network
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.io import save_network
from neuromorphic_export.lava import ensure_lava_importable, lava_available, run_lava
from neuromorphic_export.spec import NetworkSpec
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
    first = make_layer(model, "hot", rng.integers(100, 254, (6, 30)), bias=4095,
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


def test_netx_loads_the_written_cuba_network_and_spikes_like_the_cpu_backend(tmp_path):
    """lava-dl netx reads the package's file unchanged (its CUBA layers) and gives the same spikes."""
    ensure_lava_importable()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    spec = random_network("cuba_lif", 16, (24, 12), 3, seed=5)
    path = save_network(spec, tmp_path / "cuba.h5")
    x = (np.random.default_rng(5).random((220, 16)) < 0.25).astype(np.uint8)
    net = netx.hdf5.Network(net_config=str(path))
    assert len(net) == 2, "netx loads the two CUBA layers and skips the package's readout"
    source, sink = Source(data=x.T.astype(np.int32)), Sink(shape=net.out.shape, buffer=len(x))
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=len(x)), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        spikes = sink.data.get().T
        final_v = [np.asarray(layer.neuron.v.get()) for layer in net.layers]
    finally:
        net.stop()
    cpu = CPUSimulator(spec).run(x, record=("spikes", "voltage"))
    np.testing.assert_array_equal(spikes, cpu.spikes[-1][:, 0])
    for depth, voltage in enumerate(final_v):
        np.testing.assert_array_equal(voltage, cpu.voltage[depth][-1, 0])
    assert spikes.sum() > 20
    print(f"netx CUBA network == CPU backend: {int(spikes.sum())} output spikes over {len(x)} steps")


def test_bad_input_rejected_before_lava_starts():
    spec = any_network("alif_yin", "float")
    with pytest.raises(ValueError, match=r"\[T, 12\]"):
        run_lava(spec, np.zeros((5, 2, 12)))
    with pytest.raises(ValueError, match="binary"):
        run_lava(spec, np.full((5, 12), 0.5))
