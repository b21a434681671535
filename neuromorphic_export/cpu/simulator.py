"""CPU simulation backend: runs a :class:`NetworkSpec` step by step with Lava's timing.

Streaming: state is carried across :meth:`CPUSimulator.run` calls and never reset unless
:meth:`CPUSimulator.reset` is called, so running a stream in chunks equals running it at once.
Fixed mode is bit-exact integer arithmetic (the Lava fixed_pt models compute the same).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from neuromorphic_export.cpu import kernels
from neuromorphic_export.spec import NEURON_PARAMS, NetworkSpec

RECORDABLE = ("spikes", "voltage", "threshold")


@dataclass
class LayerState:
    """Per-layer state, plain numpy ``[B, N]`` arrays; ``pending`` is the in-flight dense input.

    ``u`` is the membrane voltage (readout: its value ``y``); ``b`` the adaptation state
    (``alif_yin``: ``b``; ``atrlif``: the threshold ``th``); ``i`` the synaptic current
    (``cuba_lif``, ``atrlif``); ``r`` the refractory state (``atrlif``); ``s`` the last spikes.
    """

    pending: np.ndarray
    u: np.ndarray
    b: np.ndarray | None = None
    s: np.ndarray | None = None
    i: np.ndarray | None = None
    r: np.ndarray | None = None


@dataclass
class SimulationResult:
    """``output [T, B, C]`` readout values (int state units in fixed mode); per-layer recordings."""

    output: np.ndarray
    spikes: list[np.ndarray] = field(default_factory=list)
    voltage: list[np.ndarray] = field(default_factory=list)
    threshold: list[np.ndarray] = field(default_factory=list)

    def output_float(self, spec: NetworkSpec) -> np.ndarray:
        """Readout values in float units (divides by the readout's state scale)."""
        return self.output / spec.layers[-1].scale


class CPUSimulator:
    """``CPUSimulator(spec).run(spikes [T, N_in] or [T, B, N_in])`` -> :class:`SimulationResult`."""

    def __init__(self, spec: NetworkSpec) -> None:
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"expected a NetworkSpec, got {type(spec).__name__}")
        self.spec = spec
        self._dtype = np.int64 if spec.mode == "fixed" else np.float64
        self._transposed = [
            (np.ascontiguousarray(layer.weight.T),
             np.ascontiguousarray(layer.weight_rec.T) if layer.weight_rec is not None
             else np.zeros((1, 1), self._dtype))
            for layer in spec.layers
        ]
        self._batch: int | None = None
        self.states: list[LayerState] = []

    def reset(self) -> None:
        """Forget all state (the next :meth:`run` starts from rest)."""
        self._batch = None
        self.states = []

    def _init_state(self, batch: int) -> None:
        self._batch = batch
        self.states = []
        size_in = self.spec.input_size
        for layer in self.spec.layers:
            zeros = np.zeros((batch, layer.size), self._dtype)
            pending = np.zeros((batch, size_in), self._dtype)
            if layer.spiking:
                self.states.append(LayerState(pending, **kernels.initial_state(
                    layer.model, layer.params, self.spec.mode, batch)))
            else:
                self.states.append(LayerState(pending, zeros))
            size_in = layer.size

    def state_copy(self) -> list[LayerState]:
        return copy.deepcopy(self.states)

    def run(self, spikes: np.ndarray, record: tuple[str, ...] = ("spikes",)) -> SimulationResult:
        """Advance by ``T`` steps. ``spikes`` are binary input events ``[T, N_in]`` or ``[T, B, N_in]``."""
        x = self._check_input(spikes)
        unknown = set(record) - set(RECORDABLE)
        if unknown:
            raise ValueError(f"cannot record {sorted(unknown)}; choose from {RECORDABLE}")
        if self._batch is None:
            self._init_state(x.shape[1])
        elif x.shape[1] != self._batch:
            raise ValueError(f"the simulator carries state for batch {self._batch}, got input with "
                             f"batch {x.shape[1]}; call reset() to start a new stream")
        result = SimulationResult(output=np.empty(0))
        h = x
        n_steps, batch = x.shape[:2]
        for layer, state, (w_t, w_rec_t) in zip(self.spec.layers, self.states, self._transposed):
            p = layer.params
            if layer.spiking:
                out_s = np.empty((n_steps, batch, layer.size), self._dtype)
                out_u = np.empty_like(out_s)
                out_th = np.empty_like(out_s)
                kernels.SPIKING_KERNELS[layer.model, self.spec.mode](
                    h, state.pending, w_t, w_rec_t, layer.weight_rec is not None, layer.bias,
                    *(p[key] for key in NEURON_PARAMS[layer.model]),
                    *(getattr(state, name) for name in kernels.STATE_VARS[layer.model]),
                    out_s, out_u, out_th)
                if "spikes" in record:
                    result.spikes.append(out_s.astype(np.uint8))
                if "voltage" in record:
                    result.voltage.append(out_u)
                if "threshold" in record:
                    result.threshold.append(out_th)
            else:
                out_s = np.empty((n_steps, batch, layer.size), self._dtype)
                fixed = self.spec.mode == "fixed"
                kernel = kernels.readout_fixed_layer if fixed else kernels.readout_float_layer
                kernel(h, state.pending, w_t, layer.bias, p["alpha"], state.u, out_s)
                result.output = out_s
            state.pending = np.ascontiguousarray(h[-1]) if n_steps else state.pending
            h = out_s
        if result.output.size == 0 and self.spec.layers[-1].spiking:
            result.output = h
        return result

    def _check_input(self, spikes: np.ndarray) -> np.ndarray:
        x = np.asarray(spikes)
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3:
            raise ValueError(f"input spikes must be [T, N_in] or [T, B, N_in], got shape {x.shape}")
        if x.shape[2] != self.spec.input_size:
            raise ValueError(f"input has {x.shape[2]} channels, the network expects "
                             f"{self.spec.input_size}")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise ValueError("input contains NaN/inf")
        if x.size and not np.all((x == 0) | (x == 1)):
            raise ValueError("inputs must be binary spikes (0/1); encode analog data first "
                             "(e.g. spiking_nr.encoding delta or rate encoders)")
        return np.ascontiguousarray(x, dtype=self._dtype)
