"""Spiking recurrent network (SRNN): stacked spiking layers and a leaky readout.

Everything is time-major. ``SRNN.forward(x [T, B, N_in], state) -> SRNNOutput`` with per-step
outputs ``[T, B, C]`` and the new state, which the caller passes back in for the next chunk of the
stream. State is never reset unless asked (``state=None`` or ``reset_mask``), so feeding a stream in
chunks gives exactly the outputs of feeding it at once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from spiking_nr import fast
from spiking_nr._checks import check_batch, check_sequence
from spiking_nr.neurons.alif import (
    ALIFParameters,
    ALIFState,
    TimeConstants,
    alif_initial_state,
    alif_step,
    check_threshold_constants,
)
from spiking_nr.neurons.lif import LIFParameters, LIFState, lif_initial_state, lif_step
from spiking_nr.neurons.readout import (
    ReadoutParameters,
    ReadoutState,
    readout_initial_state,
    readout_step,
)
from spiking_nr.state import reset_lanes
from spiking_nr.surrogate import Surrogate

NEURON_MODELS = ("alif", "lif")
IMPLEMENTATIONS = ("auto", "reference")
LayerState = ALIFState | LIFState


@dataclass(frozen=True)
class LayerConfig:
    """One hidden layer: ``size`` neurons of model ``neuron``, with or without recurrence."""

    size: int
    recurrent: bool = True
    neuron: str = "alif"

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size <= 0:
            raise ValueError(f"layer size must be a positive int, got {self.size!r}")
        if self.neuron not in NEURON_MODELS:
            raise ValueError(f"unknown neuron model {self.neuron!r}; expected one of {NEURON_MODELS}")


@dataclass(frozen=True)
class SRNNConfig:
    """Architecture and initialisation (published defaults of Yin et al. 2021).

    Time-constant inits are ``(mean, std)`` of a normal, in steps.
    """

    input_size: int
    output_size: int
    layers: tuple[LayerConfig, ...] = (LayerConfig(64),)
    surrogate: str = "multi_gaussian"
    surrogate_params: dict[str, float] = field(default_factory=dict)
    b0: float = 0.01
    beta: float = 1.8
    tau_mem_init: tuple[float, float] = (20.0, 5.0)
    tau_adapt_init: tuple[float, float] = (150.0, 10.0)
    tau_out_init: tuple[float, float] = (20.0, 5.0)
    learn_tau: bool = True
    seed: int | None = 0
    impl: str = "auto"  # "auto": fused layers (fast on CPU, fast_gpu on CUDA); "reference": step loop

    def __post_init__(self) -> None:
        for name in ("input_size", "output_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if len(self.layers) == 0:
            raise ValueError("an SRNN needs at least one hidden layer")
        layers = tuple(
            LayerConfig(**layer) if isinstance(layer, dict) else layer for layer in self.layers
        )
        object.__setattr__(self, "layers", layers)
        check_threshold_constants(self.b0, self.beta)
        if self.impl not in IMPLEMENTATIONS:
            raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, got {self.impl!r}")
        Surrogate(self.surrogate, dict(self.surrogate_params))  # validates name and parameters

    @classmethod
    def simple(cls, input_size: int, hidden: tuple[int, ...] | list[int], output_size: int,
               neuron: str = "alif", recurrent: bool = True, **kwargs: Any) -> SRNNConfig:
        """Stacked layers of one neuron model: ``SRNNConfig.simple(28, (64, 64), 10)``."""
        layers = tuple(LayerConfig(int(h), recurrent, neuron) for h in hidden)
        return cls(input_size=input_size, output_size=output_size, layers=layers, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SRNNConfig:
        data = dict(data)
        data["layers"] = tuple(LayerConfig(**layer) for layer in data.get("layers", ()))
        for key in ("tau_mem_init", "tau_adapt_init", "tau_out_init"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


class Recording(NamedTuple):
    """Per-layer traces, each a tuple with one ``[T, B, N_l]`` tensor per hidden layer."""

    spikes: tuple[torch.Tensor, ...]
    voltage: tuple[torch.Tensor, ...]
    threshold: tuple[torch.Tensor, ...]


class SRNNState(NamedTuple):
    layers: tuple[LayerState, ...]
    readout: ReadoutState


class SRNNOutput(NamedTuple):
    output: torch.Tensor  # [T, B, C] per-step readout values (logits)
    state: SRNNState
    record: Recording | None


def _zero_where(reset_t: torch.Tensor | None, state):
    return state if reset_t is None else reset_lanes(state, reset_t)


def _fused_module(x: torch.Tensor, spike_fn: Surrogate | None = None):
    """The fused layers for ``x`` (same functions in both): :mod:`spiking_nr.fast` for CPU
    float32/float64, :mod:`spiking_nr.fast_gpu` (Triton) for CUDA float32; None: step loop."""
    if fast.fused_supported(x, spike_fn):
        return fast
    if x.device.type == "cuda":
        from spiking_nr import fast_gpu  # imports triton: only when a CUDA tensor comes

        if fast_gpu.gpu_supported(x, spike_fn):
            return fast_gpu
    return None


class SpikingLayer(nn.Module):
    """A layer of ALIF or LIF neurons fed by a dense input projection (+ optional recurrence)."""

    def __init__(self, input_size: int, config: LayerConfig, net: SRNNConfig,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.input_size = input_size
        self.size = config.size
        self.neuron = config.neuron
        self.b0 = net.b0
        self.beta = net.beta if config.neuron == "alif" else 0.0
        self.spike_fn = Surrogate(net.surrogate, dict(net.surrogate_params))
        self.impl = net.impl
        self.fc = nn.Linear(input_size, config.size)
        self.rec = nn.Linear(config.size, config.size, bias=False) if config.recurrent else None
        self.tau_mem = TimeConstants(config.size, net.tau_mem_init, net.learn_tau, generator)
        self.tau_adapt = (
            TimeConstants(config.size, net.tau_adapt_init, net.learn_tau, generator)
            if config.neuron == "alif" else None
        )
        self._init_weights(generator)

    def _init_weights(self, generator: torch.Generator | None) -> None:
        # Yin et al. 2021: xavier-uniform input weights, orthogonal recurrent weights, zero bias.
        bound = math.sqrt(6.0 / (self.fc.in_features + self.fc.out_features))
        with torch.no_grad():
            self.fc.weight.uniform_(-bound, bound, generator=generator)
            self.fc.bias.zero_()
            if self.rec is not None:
                q, r = torch.linalg.qr(torch.randn(self.size, self.size, generator=generator))
                self.rec.weight.copy_(q * torch.sign(torch.diagonal(r)).unsqueeze(0))

    def neuron_parameters(self) -> ALIFParameters | LIFParameters:
        alpha = self.tau_mem.decay()
        if self.neuron == "alif":
            assert self.tau_adapt is not None
            return ALIFParameters(alpha, self.tau_adapt.decay(), self.b0, self.beta)
        return LIFParameters(alpha, self.b0)

    def initial_state(self, batch: int, like: torch.Tensor) -> LayerState:
        if self.neuron == "alif":
            return alif_initial_state(batch, self.size, like)
        return lif_initial_state(batch, self.size, like)

    # --- what the warm-up needs (spiking_nr.warmup) ---
    def attractor_state(self, state: LayerState) -> torch.Tensor:
        """The state that carries attractors: the adaptation ``b`` (ALIF) or membrane ``u`` (LIF)."""
        return state.b if self.neuron == "alif" else state.u

    def neuron_rows(self, name: str, neurons: slice) -> slice | None:
        """Rows of parameter ``name`` that belong to ``neurons`` (None: not per-neuron)."""
        if name.endswith("log_tau") or name in ("fc.weight", "fc.bias", "rec.weight"):
            return neurons
        return None

    def forward(self, x: torch.Tensor, state: LayerState, reset_mask: torch.Tensor | None = None,
                record: bool = False):
        """``x [T, B, N_in]`` -> spikes ``[T, B, N]``, final state, optional (u, threshold) traces."""
        params = self.neuron_parameters()
        fused = _fused_module(x, self.spike_fn) if self.impl == "auto" else None
        if fused is not None:
            w_rec = None if self.rec is None else self.rec.weight
            if isinstance(params, ALIFParameters):
                spikes, u, b = fused.alif_layer_sequence(
                    x, self.fc.weight, self.fc.bias, w_rec, params.alpha, params.rho, state.u,
                    state.b, state.s, params.b0, params.beta, self.spike_fn, reset_mask, record)
                trace = (u, params.b0 + params.beta * b) if record else None
                if record:
                    u, b = u[-1], b[-1]
                return spikes, ALIFState(u, b, spikes[-1]), trace
            # LIF is ALIF without adaptation (beta = 0: the threshold stays at v_th).
            no_adaptation = torch.zeros_like(state.u)
            spikes, u, _ = fused.alif_layer_sequence(
                x, self.fc.weight, self.fc.bias, w_rec, params.alpha, torch.zeros_like(params.alpha),
                state.u, no_adaptation, state.s, params.v_th, 0.0, self.spike_fn, reset_mask, record)
            trace = (u, torch.full_like(u, params.v_th)) if record else None
            return spikes, LIFState(u[-1] if record else u, spikes[-1]), trace
        drive = self.fc(x)  # one GEMM for all T: the input projection has no time dependence
        spikes, voltages, thresholds = [], [], []
        for t in range(x.shape[0]):
            state = _zero_where(None if reset_mask is None else reset_mask[t], state)
            current = drive[t] if self.rec is None else drive[t] + self.rec(state.s)
            if self.neuron == "alif":
                s, state = alif_step(current, state, params, self.spike_fn)
            else:
                s, state = lif_step(current, state, params, self.spike_fn)
            spikes.append(s)
            if record:
                voltages.append(state.u)
                thresholds.append(
                    params.b0 + params.beta * state.b if self.neuron == "alif"
                    else torch.full_like(state.u, params.v_th)
                )
        trace = (torch.stack(voltages), torch.stack(thresholds)) if record else None
        return torch.stack(spikes), state, trace


class LeakyReadout(nn.Module):
    """Dense projection into leaky integrators; the per-step output is the integrator value."""

    def __init__(self, input_size: int, output_size: int, tau_init: tuple[float, float],
                 learn_tau: bool, generator: torch.Generator | None = None,
                 impl: str = "auto") -> None:
        super().__init__()
        self.impl = impl
        self.fc = nn.Linear(input_size, output_size)
        self.tau = TimeConstants(output_size, tau_init, learn_tau, generator)
        bound = math.sqrt(6.0 / (input_size + output_size))
        with torch.no_grad():
            self.fc.weight.uniform_(-bound, bound, generator=generator)
            self.fc.bias.zero_()

    def neuron_parameters(self) -> ReadoutParameters:
        return ReadoutParameters(self.tau.decay())

    def forward(self, h: torch.Tensor, state: ReadoutState,
                reset_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ReadoutState]:
        params = self.neuron_parameters()
        fused = _fused_module(h) if self.impl == "auto" else None
        if fused is not None:
            y = fused.leaky_readout_sequence(h, self.fc.weight, self.fc.bias, params.alpha, state.y,
                                             reset_mask)
            return y, ReadoutState(y[-1])
        drive = self.fc(h)
        outputs = []
        for t in range(h.shape[0]):
            state = _zero_where(None if reset_mask is None else reset_mask[t], state)
            y, state = readout_step(drive[t], state, params)
            outputs.append(y)
        return torch.stack(outputs), state


class SRNN(nn.Module):
    """Stacked spiking layers + leaky readout with explicit, carried state.

    >>> net = SRNN(SRNNConfig.simple(28, (64,), 10))
    >>> out = net(torch.rand(28, 4, 28))          # fresh state
    >>> out2 = net(torch.rand(10, 4, 28), out.state)  # continue the same stream
    """

    def __init__(self, config: SRNNConfig) -> None:
        super().__init__()
        self.config = config
        generator = None
        if config.seed is not None:
            generator = torch.Generator().manual_seed(int(config.seed))
        layers, size = [], config.input_size
        for layer_config in config.layers:
            layers.append(SpikingLayer(size, layer_config, config, generator))
            size = layer_config.size
        self.layers = nn.ModuleList(layers)
        self.readout = LeakyReadout(size, config.output_size, config.tau_out_init,
                                    config.learn_tau, generator, config.impl)

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def output_size(self) -> int:
        return self.config.output_size

    def initial_state(self, batch: int, like: torch.Tensor | None = None) -> SRNNState:
        """Resting state for ``batch`` lanes (dtype/device of ``like``, else of the weights)."""
        like = self.readout.fc.weight if like is None else like
        return SRNNState(
            tuple(layer.initial_state(batch, like) for layer in self.layers),
            readout_initial_state(batch, self.config.output_size, like),
        )

    def forward(self, x: torch.Tensor, state: SRNNState | None = None,
                reset_mask: torch.Tensor | None = None, record: bool = False) -> SRNNOutput:
        """Run ``x [T, B, N_in]`` from ``state`` (None = rest).

        ``reset_mask [T, B]`` (bool) zeroes a lane's state just before the steps where it is True
        (oracle-synchronised resets at segment starts). ``record`` returns spikes, membrane
        potentials and thresholds of every hidden layer.
        """
        check_sequence(x, self.config.input_size)
        batch = x.shape[1]
        if state is None:
            state = self.initial_state(batch, x)
        else:
            self._check_state(state, batch)
        if reset_mask is not None:
            reset_mask = _check_reset_mask(reset_mask, x)
        h = x
        new_layer_states, spikes, voltages, thresholds = [], [], [], []
        for layer, layer_state in zip(self.layers, state.layers):
            h, layer_state, trace = layer(h, layer_state, reset_mask, record)
            new_layer_states.append(layer_state)
            if record:
                spikes.append(h)
                voltages.append(trace[0])
                thresholds.append(trace[1])
        y, readout_state = self.readout(h, state.readout, reset_mask)
        recording = Recording(tuple(spikes), tuple(voltages), tuple(thresholds)) if record else None
        return SRNNOutput(y, SRNNState(tuple(new_layer_states), readout_state), recording)

    def stepper(self, batch: int = 1, state: SRNNState | None = None, **kwargs: Any):
        """A :class:`spiking_nr.streaming.SRNNStepper`: low-latency inference one step at a time.

        It snapshots the parameters now: make a new one after training.
        """
        from spiking_nr.streaming import SRNNStepper

        return SRNNStepper(self, batch, state, **kwargs)

    def _check_state(self, state: SRNNState, batch: int) -> None:
        if not isinstance(state, SRNNState) or len(state.layers) != len(self.layers):
            raise ValueError(
                f"state must be an SRNNState with {len(self.layers)} layer states "
                "(as returned by this network)"
            )
        for i, (layer, layer_state) in enumerate(zip(self.layers, state.layers)):
            if layer_state.u.shape[-1] != layer.size:
                raise ValueError(
                    f"state of layer {i} has {layer_state.u.shape[-1]} neurons, expected {layer.size}"
                )
            check_batch(layer_state.u.shape[0], batch, f"state of layer {i}")


def _check_reset_mask(reset_mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    reset_mask = torch.as_tensor(reset_mask, device=x.device)
    if reset_mask.shape != x.shape[:2]:
        raise ValueError(
            f"reset_mask must have shape [T, B] = {tuple(x.shape[:2])}, got {tuple(reset_mask.shape)}"
        )
    return reset_mask.bool()
