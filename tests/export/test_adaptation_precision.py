"""Fixed point keeps ALIF adaptation: one neuron, one burst, trace within 2 % of float to 5 tau."""

import dataclasses

import numpy as np
import pytest

from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.quantize import quantize_network
from neuromorphic_export.spec import LayerSpec, NetworkSpec

BURST = 10  # input steps; the neuron fires on most of them


def one_neuron(tau_adapt: float) -> NetworkSpec:
    """2 inputs (excitatory, inhibitory) -> one ALIF neuron (tau_m 20, b0 0.01, beta 1.8) ->
    readout, float."""
    alif = LayerSpec("alif", "alif_yin", np.array([[1.0, -10.0]]), np.zeros(1),
                     {"alpha": np.array([np.exp(-1 / 20)]), "rho": np.array([np.exp(-1 / tau_adapt)]),
                      "b0": np.array([0.01]), "beta": np.array([1.8])})
    readout = LayerSpec("out", "readout", np.array([[0.1]]), np.zeros(1), {"alpha": np.array([0.9])})
    return NetworkSpec(2, (alif, readout))


def trace(spec: NetworkSpec, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(b [T] in float units, spikes [T]) of the neuron: a burst of excitatory input, then one
    inhibitory input that ends the burst, then silence."""
    sim = CPUSimulator(spec)
    x = np.zeros((n_steps, 2), np.uint8)
    x[:BURST, 0] = 1
    x[BURST, 1] = 1
    b, s = np.empty(n_steps), np.empty(n_steps)
    unit = 2.0 ** spec.layers[0].trace_bits if spec.mode == "fixed" else 1.0
    for t in range(n_steps):
        sim.step(x[t])
        b[t] = sim.states[0].b[0, 0] / unit
        s[t] = sim.states[0].s[0, 0]
    return b, s


def burst_error(spec_float: NetworkSpec, spec_fixed: NetworkSpec, tau: float) -> float:
    """Largest |b_fixed - b_float| / b_float from the burst's first spike to 5 tau after it ends."""
    n_steps = BURST + 2 + int(5 * tau)
    b_float, s_float = trace(spec_float, n_steps)
    b_fixed, s_fixed = trace(spec_fixed, n_steps)
    np.testing.assert_array_equal(s_fixed, s_float)  # the same burst, so the traces are comparable
    assert 3 <= s_float.sum() <= BURST + 2 and s_float[BURST + 2:].sum() == 0
    live = b_float > 0
    assert live[BURST:].all()
    return float(np.max(np.abs(b_fixed[live] - b_float[live]) / b_float[live]))


@pytest.mark.parametrize("tau", [20, 150, 600, 2000])
def test_fixed_point_adaptation_within_two_percent_of_float(tau):
    spec = one_neuron(tau)
    error = burst_error(spec, quantize_network(spec), tau)
    print(f"tau_adapt {tau}: fixed-point adaptation trace within {error:.2e} of float (relative)")
    assert error <= 0.02


@pytest.mark.parametrize("tau", [150, 2000])
def test_the_twelve_bit_trace_misses_the_target(tau):
    """The check can fail: the version-2 representation (12-bit rho and trace) loses the burst."""
    spec = one_neuron(tau)
    fixed = quantize_network(spec)
    layer = fixed.layers[0]
    legacy = dataclasses.replace(layer, trace_bits=12, params={
        **layer.params, "rho": (layer.params["rho"] + 2048) >> 12 << 12})
    error = burst_error(spec, NetworkSpec(2, (legacy, fixed.layers[1]), "fixed"), tau)
    assert error > 0.5
