"""Operations per step and an energy estimate from published per-operation figures.

Counted from a run's spikes (any backend): a *synaptic operation* is one non-zero synapse that an
input event or a hidden spike reaches (input and recurrent connections; a dense connection with
zero entries would not store them on a sparse core); a *neuron update* is one neuron (hidden or
readout) advanced by one step; *spikes* are the hidden layers' spikes.

Energy figures: Loihi 2's per-operation energies are not published in a per-operation table that
could be checked here, so the estimate uses **Loihi 1**'s, from M. Davies et al., "Loihi: A
Neuromorphic Manycore Processor with On-Chip Learning", IEEE Micro 38(1):82-99, 2018, Table 2:
23.6 pJ per synaptic spike operation (their minimum), 81 pJ per active and 52 pJ per inactive
neuron update, 1.7 pJ per spike within a tile. Assumptions here: a neuron that spikes in a step
is "active", every other update (and every readout update) "inactive"; every spike stays within
a tile (no mesh hops); no static or host power. The result is a per-operation lower-bound
estimate for Loihi 1, not a measurement and not a Loihi 2 figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuromorphic_export.spec import NetworkSpec


@dataclass(frozen=True)
class EnergyFigures:
    """Energy per operation in picojoules, and where the numbers come from."""

    name: str
    source: str
    synaptic_op_pj: float
    active_neuron_update_pj: float
    inactive_neuron_update_pj: float
    spike_pj: float


LOIHI1_DAVIES2018 = EnergyFigures(
    name="Loihi 1 per-operation figures of Davies et al. 2018 (lower bound; not Loihi 2)",
    source="M. Davies et al., Loihi: A Neuromorphic Manycore Processor with On-Chip Learning, "
           "IEEE Micro 38(1):82-99, 2018, Table 2",
    synaptic_op_pj=23.6, active_neuron_update_pj=81.0, inactive_neuron_update_pj=52.0,
    spike_pj=1.7)


@dataclass(frozen=True)
class OpCounts:
    """Totals over ``lane_steps`` (= steps x lanes) of a run."""

    lane_steps: int
    synaptic_ops: int
    neuron_updates: int
    spikes: int
    input_events: int

    def per_step(self) -> dict[str, float]:
        """Mean counts per step of one lane."""
        n = max(self.lane_steps, 1)
        return {"synaptic_ops": self.synaptic_ops / n, "neuron_updates": self.neuron_updates / n,
                "spikes": self.spikes / n, "input_events": self.input_events / n}

    def energy_per_step_j(self, figures: EnergyFigures = LOIHI1_DAVIES2018) -> float:
        """Estimated energy of one lane-step in joules (see the module docstring)."""
        pj = (self.synaptic_ops * figures.synaptic_op_pj
              + self.spikes * (figures.active_neuron_update_pj + figures.spike_pj)
              + (self.neuron_updates - self.spikes) * figures.inactive_neuron_update_pj)
        return pj * 1e-12 / max(self.lane_steps, 1)

    def summary(self, steps_per_inference: float | None = None,
                figures: EnergyFigures = LOIHI1_DAVIES2018) -> dict:
        """Counts per step and the energy estimate (per step, per inference if given), as JSON."""
        out = {"per_step": {k: round(v, 3) for k, v in self.per_step().items()},
               "energy_per_step_nj": round(self.energy_per_step_j(figures) * 1e9, 4),
               "energy_figures": figures.name, "energy_source": figures.source}
        if steps_per_inference is not None:
            out["steps_per_inference"] = round(float(steps_per_inference), 2)
            out["energy_per_inference_nj"] = round(
                self.energy_per_step_j(figures) * steps_per_inference * 1e9, 3)
        return out

    def describe(self, steps_per_inference: float | None = None,
                 figures: EnergyFigures = LOIHI1_DAVIES2018) -> str:
        """Two lines for the command line."""
        p = self.per_step()
        text = (f"per step: {p['synaptic_ops']:.1f} synaptic ops, {p['neuron_updates']:.0f} neuron "
                f"updates, {p['spikes']:.2f} spikes, {p['input_events']:.2f} input events\n"
                f"energy estimate from {figures.name}: "
                f"{self.energy_per_step_j(figures) * 1e9:.2f} nJ per step")
        if steps_per_inference is not None:
            text += (f", {self.energy_per_step_j(figures) * steps_per_inference * 1e9:.1f} nJ per "
                     f"inference of {steps_per_inference:.1f} steps")
        return text


def static_costs(spec: NetworkSpec, figures: EnergyFigures = LOIHI1_DAVIES2018) -> str:
    """What a step costs before any spike: neurons, synapses and the per-operation figures."""
    neurons = sum(layer.size for layer in spec.layers)
    synapses = sum(int(np.count_nonzero(layer.weight)) + (
        0 if layer.weight_rec is None else int(np.count_nonzero(layer.weight_rec)))
        for layer in spec.layers)
    fan_in = _fan_out(spec.layers[0].weight).mean()
    return (f"{neurons} neurons, {synapses} non-zero synapses (an input event reaches "
            f"{fan_in:.1f} on average); energy from {figures.name}: "
            f"{neurons * figures.inactive_neuron_update_pj / 1e3:.2f} nJ per step at rest, "
            f"+{figures.synaptic_op_pj} pJ per synaptic op, "
            f"+{figures.active_neuron_update_pj - figures.inactive_neuron_update_pj + figures.spike_pj:.1f}"
            f" pJ per spike (`spiking-nr simulate` counts them on a stream)")


def _fan_out(weight: np.ndarray) -> np.ndarray:
    """Non-zero synapses per source neuron (column) of ``weight [N, N_in]``."""
    return np.count_nonzero(weight, axis=0).astype(np.int64)


def count_operations(spec: NetworkSpec, inputs: np.ndarray,
                     spikes: Sequence[np.ndarray]) -> OpCounts:
    """Counts of a run: ``inputs [T, N_in]`` or ``[T, B, N_in]`` binary, ``spikes`` one
    ``[T, N]`` / ``[T, B, N]`` array per spiking layer (e.g. ``SimulationResult.spikes``)."""
    x = np.asarray(inputs)
    hidden = [np.asarray(s) for s in spikes]
    n_spiking = sum(layer.spiking for layer in spec.layers)
    if len(hidden) != n_spiking:
        raise ValueError(f"need the spikes of {n_spiking} spiking layers, got {len(hidden)}")
    lane_steps = int(np.prod(x.shape[:-1]))
    # events per source neuron, summed over steps and lanes
    totals = [x.reshape(-1, x.shape[-1]).sum(0, dtype=np.int64)]
    totals += [s.reshape(-1, s.shape[-1]).sum(0, dtype=np.int64) for s in hidden]
    synops = 0
    for index, layer in enumerate(spec.layers):
        synops += int(totals[index] @ _fan_out(layer.weight))
        if layer.weight_rec is not None:
            synops += int(totals[index + 1] @ _fan_out(layer.weight_rec))
    return OpCounts(lane_steps=lane_steps, synaptic_ops=synops,
                    neuron_updates=lane_steps * sum(layer.size for layer in spec.layers),
                    spikes=int(sum(t.sum() for t in totals[1:])), input_events=int(totals[0].sum()))
