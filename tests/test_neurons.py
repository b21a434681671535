"""Neuron dynamics against an independent numpy implementation of the published equations."""

import numpy as np
import pytest
import torch

from spiking_nr.neurons import (
    ALIFParameters,
    LIFParameters,
    ReadoutParameters,
    alif_initial_state,
    alif_step,
    lif_initial_state,
    lif_step,
    readout_initial_state,
    readout_step,
)
from spiking_nr.surrogate import get_surrogate


def numpy_alif(currents, tau_m, tau_adp, b0, beta):
    """Yin et al. 2021 ALIF, written from the paper's equations in float64."""
    alpha, rho = np.exp(-1 / tau_m), np.exp(-1 / tau_adp)
    u = np.zeros_like(currents[0])
    b = np.zeros_like(u)
    s = np.zeros_like(u)
    us, bs, ss = [], [], []
    for current in currents:
        b = rho * b + (1 - rho) * s
        threshold = b0 + beta * b
        u = alpha * u + (1 - alpha) * current - threshold * s
        s = (u - threshold > 0).astype(float)
        us.append(u)
        bs.append(b)
        ss.append(s)
    return np.array(us), np.array(bs), np.array(ss)


def test_alif_matches_numpy_step_by_step():
    rng = np.random.default_rng(0)
    T, B, N = 300, 3, 17
    currents = rng.normal(0.05, 0.2, size=(T, B, N))
    tau_m, tau_adp = rng.uniform(5, 30, N), rng.uniform(50, 300, N)
    ref_u, ref_b, ref_s = numpy_alif(currents, tau_m, tau_adp, 0.01, 1.8)
    params = ALIFParameters(torch.tensor(np.exp(-1 / tau_m)), torch.tensor(np.exp(-1 / tau_adp)),
                            0.01, 1.8)
    state = alif_initial_state(B, N, torch.zeros(1, dtype=torch.float64))
    spike_fn = get_surrogate("multi_gaussian")
    for t in range(T):
        s, state = alif_step(torch.tensor(currents[t]), state, params, spike_fn)
        np.testing.assert_allclose(state.u.numpy(), ref_u[t], rtol=0, atol=1e-12)
        np.testing.assert_allclose(state.b.numpy(), ref_b[t], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(s.numpy(), ref_s[t])
    assert ref_s.sum() > 50, "the test drive must make the neurons spike"
    assert ref_b.max() > 0.01, "adaptation must be exercised"


def test_lif_is_alif_without_adaptation():
    rng = np.random.default_rng(1)
    T, B, N = 200, 2, 9
    currents = rng.normal(0.05, 0.2, size=(T, B, N))
    tau_m = rng.uniform(5, 30, N)
    ref_u, _, ref_s = numpy_alif(currents, tau_m, np.full(N, 100.0), 0.02, 0.0)
    params = LIFParameters(torch.tensor(np.exp(-1 / tau_m)), 0.02)
    state = lif_initial_state(B, N, torch.zeros(1, dtype=torch.float64))
    for t in range(T):
        s, state = lif_step(torch.tensor(currents[t]), state, params, get_surrogate("triangle"))
        np.testing.assert_allclose(state.u.numpy(), ref_u[t], atol=1e-12)
        np.testing.assert_array_equal(s.numpy(), ref_s[t])
    assert ref_s.sum() > 20


def test_readout_is_leaky_integrator():
    alpha = torch.tensor([0.9, 0.5], dtype=torch.float64)
    state = readout_initial_state(1, 2, torch.zeros(1, dtype=torch.float64))
    y_ref = np.zeros(2)
    for t in range(20):
        current = torch.tensor([[float(t), -1.0]], dtype=torch.float64)
        y, state = readout_step(current, state, ReadoutParameters(alpha))
        y_ref = alpha.numpy() * y_ref + (1 - alpha.numpy()) * current.numpy()[0]
        np.testing.assert_allclose(y.numpy()[0], y_ref, atol=1e-12)


def test_step_functions_are_pure():
    params = ALIFParameters(torch.full((4,), 0.9), torch.full((4,), 0.99))
    state = alif_initial_state(2, 4)
    before = [t.clone() for t in state]
    alif_step(torch.ones(2, 4), state, params, get_surrogate())
    for old, new in zip(before, state):
        assert torch.equal(old, new)


@pytest.mark.parametrize("tau", [0.0, -3.0, float("nan")])
def test_non_positive_time_constant_rejected(tau):
    from spiking_nr.neurons import TimeConstants

    tc = TimeConstants(3, (20.0, 5.0))
    with pytest.raises(ValueError, match="> 0"):
        tc.set_tau(torch.tensor([10.0, tau, 10.0]))
    with pytest.raises(ValueError, match="mean > 0"):
        TimeConstants(3, (-1.0, 5.0))
