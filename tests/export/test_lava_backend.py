"""Real Lava runs (Loihi2SimCfg) against the CPU backend: every spike and every final voltage."""

import multiprocessing
import sys

import numpy as np
import pytest

from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.lava import ensure_lava_importable, lava_available, run_lava
from neuromorphic_export.quantize import quantize_network
from tests.export.test_cpu_backend import random_spec

pytestmark = pytest.mark.slow


def test_compat_makes_lava_importable_idempotently():
    ensure_lava_importable()
    ensure_lava_importable()
    assert lava_available()
    from lava.magma.compiler import var_model

    assert var_model.AxonEncoder().hi is not var_model.AxonEncoder().hi  # default_factory, not shared
    assert "lava.lib.dl.slayer.object_detection" in sys.modules
    assert multiprocessing.get_start_method() == "fork"


@pytest.mark.parametrize("sizes, n_in, seed", [((10, 8), 12, 0), ((40, 24, 16), 30, 1)])
def test_lava_fixed_point_equals_cpu_backend(sizes, n_in, seed):
    spec = quantize_network(random_spec(n_in=n_in, sizes=sizes, seed=seed))
    x = (np.random.default_rng(seed).random((220, n_in)) < 0.25).astype(np.uint8)
    lava = run_lava(spec, x)
    cpu = CPUSimulator(spec).run(x, record=("spikes", "voltage"))
    assert len(lava.spikes) == len(sizes)
    for depth in range(len(sizes)):
        np.testing.assert_array_equal(lava.spikes[depth], cpu.spikes[depth][:, 0])
        np.testing.assert_array_equal(lava.final_voltage[depth], cpu.voltage[depth][-1, 0])
        assert lava.spikes[depth].sum() > 20, "the comparison must involve real activity"
    np.testing.assert_array_equal(lava.output, cpu.output[:, 0])


def test_lava_float_mode_spike_agreement():
    spec = random_spec(seed=4)
    x = (np.random.default_rng(4).random((200, 12)) < 0.3).astype(np.uint8)
    lava = run_lava(spec, x)
    cpu = CPUSimulator(spec).run(x, record=("spikes",))
    agreement = np.mean([np.mean(a == b[:, 0]) for a, b in zip(lava.spikes, cpu.spikes)])
    assert agreement > 0.99
    np.testing.assert_allclose(lava.output, cpu.output[:, 0], rtol=1e-9, atol=1e-9)


def test_bad_input_rejected_before_lava_starts():
    spec = random_spec()
    with pytest.raises(ValueError, match=r"\[T, 12\]"):
        run_lava(spec, np.zeros((5, 2, 12)))
    with pytest.raises(ValueError, match="binary"):
        run_lava(spec, np.full((5, 12), 0.5))
