"""Operation counts of the CPU backend and the Loihi 1 energy estimate."""

import dataclasses

import numpy as np
import pytest

from neuromorphic_export.build import make_layer, random_network
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.energy import LOIHI1_DAVIES2018, count_operations, static_costs
from neuromorphic_export.spec import NetworkSpec


def test_counts_by_hand():
    """2 inputs -> 3 recurrent neurons -> 2 readouts; zeros in the weights are not synapses."""
    w = np.array([[40, 0], [40, 40], [0, 40]])
    w_rec = np.array([[0, 2, 0], [0, 0, 0], [2, 0, 0]])  # sources 0 and 1 have fan-out 1
    hidden = make_layer("cuba_lif", "h", w, weight_rec=w_rec, du=4096, dv=4096, vth=10)
    out = make_layer("readout", "out", np.array([[2, 0, 2], [2, 2, 2]]), alpha=0)
    spec = NetworkSpec(2, (hidden, out), "fixed")
    x = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.uint8)
    result = CPUSimulator(spec).run(x)
    spikes = result.spikes[0][:, 0]
    assert spikes.sum() > 0
    per_source = spikes.sum(0)
    expected_synops = (2 * 2 + 2 * 2  # input events: channel 0 twice, channel 1 twice, fan-out 2 each
                       + per_source[0] * (1 + 2) + per_source[1] * (1 + 1) + per_source[2] * (0 + 2))
    ops = result.ops
    assert (ops.lane_steps, ops.synaptic_ops, ops.neuron_updates, ops.spikes, ops.input_events) == (
        4, expected_synops, 4 * 5, int(spikes.sum()), 4)
    assert count_operations(spec, x, [spikes]) == ops  # any backend's spikes give the same counts
    f = LOIHI1_DAVIES2018
    pj = (expected_synops * f.synaptic_op_pj + ops.spikes * (f.active_neuron_update_pj + f.spike_pj)
          + (20 - ops.spikes) * f.inactive_neuron_update_pj)
    assert ops.energy_per_step_j() == pytest.approx(pj * 1e-12 / 4)
    summary = ops.summary(steps_per_inference=10)
    assert summary["energy_per_inference_nj"] == pytest.approx(pj * 1e-3 / 4 * 10, rel=1e-3)
    assert "Davies" in summary["energy_source"] and "Loihi 1" in summary["energy_figures"]


def test_silence_costs_only_neuron_updates_and_batches_count_per_lane():
    spec = random_network("alif_yin", 12, (10,), 3, seed=0)
    spec = NetworkSpec(12, tuple(dataclasses.replace(layer, bias=0 * layer.bias)
                                 for layer in spec.layers), "fixed")  # no bias: silence stays silent
    quiet = CPUSimulator(spec).run(np.zeros((50, 4, 12), np.uint8)).ops
    assert quiet.synaptic_ops == 0 and quiet.spikes == 0 and quiet.lane_steps == 200
    assert quiet.energy_per_step_j() == pytest.approx(13 * 52e-12)
    x = (np.random.default_rng(0).random((50, 4, 12)) < 0.3).astype(np.uint8)
    busy = CPUSimulator(spec).run(x).ops
    one = CPUSimulator(spec).run(x[:, :1]).ops
    assert busy.synaptic_ops > 0 and one.lane_steps == 50
    assert "non-zero synapses" in static_costs(spec) and "Davies" in static_costs(spec)


def test_bad_counts_input():
    spec = random_network("alif_yin", 12, (10,), 3, seed=0)
    with pytest.raises(ValueError, match="spikes of 1 spiking layers"):
        count_operations(spec, np.zeros((5, 12)), [])
