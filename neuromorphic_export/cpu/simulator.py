"""CPU simulation backend: runs a :class:`NetworkSpec` step by step with Lava's timing.

Streaming: state is carried across :meth:`CPUSimulator.run` and :meth:`CPUSimulator.step` calls
(in any interleaving) and never reset unless :meth:`CPUSimulator.reset` is called, so running a
stream in chunks or one step at a time equals running it at once. Fixed mode is bit-exact integer
arithmetic (the Lava fixed_pt models compute the same).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from neuromorphic_export.cpu import kernels
from neuromorphic_export.energy import OpCounts, count_operations
from neuromorphic_export.spec import BIAS_DELAY_MODELS, NEURON_PARAMS, NetworkSpec

RECORDABLE = ("spikes", "voltage", "threshold")


@dataclass(frozen=True, eq=False)
class LayerState:
    """Per-layer state, plain numpy ``[B, N]`` arrays; ``pending`` is the in-flight dense input.

    ``u`` is the membrane voltage (readout: its value ``y``); ``b`` the adaptation state
    (``alif_yin``: ``b``; ``atrlif``: the threshold ``th``); ``i`` the synaptic current
    (``cuba_lif``, ``atrlif``); ``r`` the refractory state (``atrlif``); ``s`` the last spikes;
    ``age [B, 1]`` the steps a lane has run, counted up to the layer's ``bias_delay``.
    The simulator updates the arrays in place (so the fields are frozen); to restore a saved
    state, assign a list of states to ``CPUSimulator.states`` (e.g. from ``state_copy()``).
    """

    pending: np.ndarray
    u: np.ndarray
    b: np.ndarray | None = None
    s: np.ndarray | None = None
    i: np.ndarray | None = None
    r: np.ndarray | None = None
    age: np.ndarray | None = None


@dataclass
class SimulationResult:
    """``output [T, B, C]`` raw readout values (int state units in fixed mode); per-layer
    recordings ``[T, B, N]``; ``ops`` the run's operation counts
    (:func:`neuromorphic_export.energy.count_operations`). :attr:`values` is the readout in
    physical (float) units with the input's shape: ``[T, C]`` for an unbatched ``[T, N_in]``
    input, as Lava's result."""

    output: np.ndarray
    spikes: list[np.ndarray] = field(default_factory=list)
    voltage: list[np.ndarray] = field(default_factory=list)
    threshold: list[np.ndarray] = field(default_factory=list)
    ops: OpCounts | None = None  # synaptic ops, neuron updates, spikes of this run (energy.py)
    scale: float = 1.0  # the readout's state units per physical unit
    batched: bool = True  # False when the input was [T, N_in]

    @property
    def values(self) -> np.ndarray:
        """Readout in physical units, float64: ``[T, C]`` (unbatched input) or ``[T, B, C]``."""
        values = self.output / self.scale
        return values if self.batched else values[:, 0]

    def output_float(self, spec: NetworkSpec) -> np.ndarray:
        """Readout values in float units (divides by the readout's state scale)."""
        return self.output / spec.layers[-1].scale


class CPUSimulator:
    """``CPUSimulator(spec).run(spikes [T, N_in] or [T, B, N_in])`` -> :class:`SimulationResult`.

    For low-latency streaming, :meth:`step` advances one step (``[N_in]`` or ``[B, N_in]`` spikes)
    and :meth:`step_events` one step given the indices of the active inputs; both return the
    output ``[B, C]`` of that step, exactly the row :meth:`run` would give, and share its state.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"expected a NetworkSpec, got {type(spec).__name__}")
        self.spec = spec
        self._dtype = np.int64 if spec.mode == "fixed" else np.float64
        # Per layer: its kernel and the arguments between (spikes_in, pending) and the state.
        self._kernels = []
        for layer in spec.layers:
            w_t = self._kernel_weights(layer.weight)
            if layer.spiking:
                w_rec_t = (self._kernel_weights(layer.weight_rec) if layer.weight_rec is not None
                           else np.zeros((1, 1), w_t.dtype))
                static = (w_t, w_rec_t, layer.weight_rec is not None, layer.bias)
            else:
                static = (w_t, layer.bias)
            if layer.model in BIAS_DELAY_MODELS:
                static += (layer.bias_delay,)
            static += tuple(layer.params[key] for key in NEURON_PARAMS[layer.model])
            if layer.model == "alif_yin":
                static += (layer.trace_bits,)
            self._kernels.append((kernels.LAYER_KERNELS[layer.model, spec.mode], static))
        self.states: list[LayerState] = []
        self._checked: list[LayerState] = []  # the state objects _check_states last accepted
        self._plan: _StepPlan | None = None

    def _kernel_weights(self, weight: np.ndarray) -> np.ndarray:
        """``weight.T`` for the kernels (contiguous rows, one per input).

        Fixed-point weights are 8-bit mantissas: as int16 they gather faster than int64 and sum
        into the kernels' int64 accumulators unchanged.
        """
        w_t = np.ascontiguousarray(weight.T)
        if self.spec.mode == "fixed":
            narrow = w_t.astype(np.int16)
            if np.array_equal(narrow, w_t):
                return narrow
        return w_t

    def reset(self) -> None:
        """Forget all state (the next :meth:`run` or :meth:`step` starts from rest, any batch)."""
        self.states = []
        self._plan = None

    def state_copy(self) -> list[LayerState]:
        return copy.deepcopy(self.states)

    def _start(self, batch: int) -> bool:
        """Start a stream of ``batch`` lanes at rest, or check the one in progress has ``batch``.

        Returns True when the stream was just started.
        """
        if not self.states:
            size_in = self.spec.input_size
            for layer in self.spec.layers:
                pending = np.zeros((batch, size_in), self._dtype)
                self.states.append(LayerState(pending, **kernels.initial_state(
                    layer.model, layer.params, self.spec.mode, batch)))
                size_in = layer.size
            self._checked = list(self.states)
            return True
        if self.states != self._checked:  # assigned by the caller (identity comparison)
            self._check_states()
            self._checked = list(self.states)
        current = self.states[0].pending.shape[0]
        if batch != current:
            raise ValueError(f"the simulator carries state for batch {current}, got input with "
                             f"batch {batch}; call reset() to start a new stream")
        return False

    def _layer_call(self, index: int, spikes_in: np.ndarray, outs: tuple[np.ndarray, ...]):
        """(kernel, args) advancing layer ``index`` over ``spikes_in``; traces go to ``outs``."""
        kernel, static = self._kernels[index]
        state = self.states[index]
        model = self.spec.layers[index].model
        return kernel, (spikes_in, state.pending, *static,
                        *(getattr(state, name) for name in kernels.STATE_VARS[model]), *outs)

    def run(self, spikes: np.ndarray, record: tuple[str, ...] = ("spikes",)) -> SimulationResult:
        """Advance by ``T`` steps. ``spikes`` are binary input events ``[T, N_in]`` or ``[T, B, N_in]``."""
        unknown = set(record) - set(RECORDABLE)
        if unknown:
            raise ValueError(f"cannot record {sorted(unknown)}; choose from {RECORDABLE}")
        x = self._check_input(spikes)
        n_steps, batch = x.shape[:2]
        self._start(batch)
        result = SimulationResult(output=np.empty(0), scale=float(self.spec.layers[-1].scale),
                                  batched=np.ndim(spikes) == 3)
        h = x
        hidden = []
        for index, layer in enumerate(self.spec.layers):
            shape = (n_steps, batch, layer.size)
            outs = tuple(np.empty(shape, self._dtype) for _ in range(3 if layer.spiking else 1))
            kernel, args = self._layer_call(index, h, outs)
            kernel(*args)
            if layer.spiking:
                if "spikes" in record:
                    result.spikes.append(outs[0].astype(np.uint8))
                if "voltage" in record:
                    result.voltage.append(outs[1])
                if "threshold" in record:
                    result.threshold.append(outs[2])
            h = outs[0]
            if layer.spiking:
                hidden.append(h)
        result.output = h
        result.ops = count_operations(self.spec, x, hidden)
        return result

    def step(self, spikes: np.ndarray, values: bool = False) -> np.ndarray:
        """Advance one step: binary spikes ``[N_in]`` or ``[B, N_in]`` -> the output ``[B, C]``.

        Equals the step's row of :meth:`run`'s ``output`` (a new array of the same dtype). Any
        numeric input dtype works (``bool`` or the network's dtype is fastest). ``values=True``
        returns the readout in physical units instead (float64, the row of ``run(...).values``:
        ``[C]`` for an ``[N_in]`` input, ``[B, C]`` for ``[B, N_in]``).
        """
        x = spikes if type(spikes) is np.ndarray else np.asarray(spikes)
        if x.ndim == 1:
            batch = 1
        elif x.ndim == 2:
            batch = x.shape[0]
        else:
            raise ValueError(f"step input must be [N_in] or [B, N_in], got shape {x.shape}")
        if x.shape[-1] != self.spec.input_size or x.dtype.kind not in "biuf":
            self._check_input(x[None])  # raises run()'s message
        plan = self._plan
        fresh = False
        if plan is None or plan.batch != batch or plan.states != self.states:
            plan, fresh = self._prepare_step(batch)
        if not kernels.load_binary(x, plan.x):
            if fresh:
                self.reset()
            self._check_input(x[None])  # raises run()'s message
        if values:
            out = plan.advance() / float(self.spec.layers[-1].scale)
            return out[0] if x.ndim == 1 else out
        return plan.advance()

    def step_events(self, indices) -> np.ndarray:
        """Advance one step given the indices of the inputs that spike -> the output ``[B, C]``.

        ``indices``: integers in ``[0, N_in)`` (a 1-D array or sequence; batch 1), or one such
        sequence per lane (a list of ``B`` of them, or a ``[B, k]`` array). Repeats count once.
        Same result and state as :meth:`step` on the dense row.
        """
        if type(indices) is np.ndarray:
            lanes = tuple(indices) if indices.ndim == 2 else (indices,)
        elif isinstance(indices, (list, tuple)) and len(indices) and np.ndim(indices[0]):
            lanes = tuple(indices)
        else:
            lanes = (indices,)
        plan = self._plan
        fresh = False
        if plan is None or plan.batch != len(lanes) or plan.states != self.states:
            plan, fresh = self._prepare_step(len(lanes))
        for row, lane in zip(plan.rows, lanes):
            lane = lane if type(lane) is np.ndarray else np.asarray(lane)
            if lane.size == 0:
                lane = _NO_EVENTS
            if lane.ndim != 1 or lane.dtype.kind not in "iu" or not kernels.load_events(lane, row):
                if fresh:
                    self.reset()
                got = f"{lane.dtype} with shape {lane.shape}"
                if lane.dtype.kind in "iu" and lane.ndim == 1:
                    got = f"values in [{lane.min()}, {lane.max()}]"
                raise ValueError(f"event indices must be 1-D integers in [0, {self.spec.input_size}),"
                                 f" one sequence per lane; got {got}")
        return plan.advance()

    def _prepare_step(self, batch: int) -> tuple[_StepPlan, bool]:
        """Start or check the stream, then (re)build the step plan for the current state objects.

        Returns the plan and whether the stream was just started.
        """
        fresh = self._start(batch)
        plan = self._plan
        if plan is None or plan.states != self.states:
            x = np.zeros((1, batch, self.spec.input_size), self._dtype)
            calls, h = [], x
            for index, layer in enumerate(self.spec.layers):
                outs = tuple(np.empty((1, batch, layer.size), self._dtype)
                             for _ in range(3 if layer.spiking else 1))
                calls.append(self._layer_call(index, h, outs))
                h = outs[0]
            plan = self._plan = _StepPlan(list(self.states), batch, x, tuple(x[0]), tuple(calls), h[0])
        return plan, fresh

    def _check_states(self) -> None:
        """The kernels index without bounds checks: assigned states must fit the network."""
        layers, states = self.spec.layers, self.states
        if not (isinstance(states, list) and all(isinstance(state, LayerState) for state in states)):
            raise ValueError("states must be a list of LayerState (e.g. from state_copy())")
        if len(states) != len(layers):
            raise ValueError(f"states has {len(states)} layers, the network {len(layers)}")
        batch = states[0].pending.shape[0] if np.ndim(states[0].pending) == 2 else -1
        size_in = self.spec.input_size
        for layer, state in zip(layers, states):
            for name in ("pending", *kernels.STATE_VARS[layer.model]):
                array = getattr(state, name)
                shape = (batch, {"pending": size_in, "age": 1}.get(name, layer.size))
                if not (isinstance(array, np.ndarray) and array.shape == shape
                        and array.dtype == self._dtype and array.flags.c_contiguous):
                    raise ValueError(f"layer {layer.name!r} state {name} must be a C-contiguous "
                                     f"{np.dtype(self._dtype)} array of shape {shape}")
            size_in = layer.size

    def _check_input(self, spikes: np.ndarray) -> np.ndarray:
        """``[T, B, N_in]`` spikes in the network's dtype, or ``ValueError`` saying what is wrong."""
        x = np.asarray(spikes)
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3:
            raise ValueError(f"input spikes must be [T, N_in] or [T, B, N_in], got shape {x.shape}")
        if x.shape[2] != self.spec.input_size:
            raise ValueError(f"input has {x.shape[2]} channels, the network expects "
                             f"{self.spec.input_size}")
        if x.dtype.kind not in "biuf":
            raise ValueError(f"input spikes must be numeric (0/1), got dtype {x.dtype}")
        out = np.empty(x.shape, self._dtype)
        if not kernels.load_binary(x, out):
            if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
                raise ValueError("input contains NaN/inf")
            raise ValueError("inputs must be binary spikes (0/1); encode analog data first "
                             "(e.g. spiking_nr.encoding delta or rate encoders)")
        return out


_NO_EVENTS = np.zeros(0, np.int64)


@dataclass(eq=False)
class _StepPlan:
    """One step's kernel calls on preallocated buffers: ``x [1, B, N_in]`` in, ``out [B, C]``.

    ``states`` are the state objects the calls hold (a plan is rebuilt when they are replaced);
    ``rows`` the lanes of ``x``.
    """

    states: list[LayerState]
    batch: int
    x: np.ndarray
    rows: tuple[np.ndarray, ...]
    calls: tuple
    out: np.ndarray

    def advance(self) -> np.ndarray:
        for kernel, args in self.calls:
            kernel(*args)
        return self.out.copy()
