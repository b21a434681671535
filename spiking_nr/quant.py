"""Quantisation-aware training and bit-exact fixed-point evaluation in torch.

:class:`FixedPointSRNN` runs an :class:`SRNN` with the exact Loihi fixed-point dynamics of
``neuromorphic_export.spec`` (integers held in float64 tensors, which represent them exactly):
weights, decays and thresholds come from :func:`spiking_nr.export.to_network_spec` (the one
quantiser), rounding toward zero is emulated, and gradients pass straight through the roundings
(STE) and through the surrogate at ``(u - B) / scale``. ``timing="lava"`` is the deployed timing
(dense delays, biases gated by each layer's ``bias_delay``): bit-exact with the CPU backend and
Lava. ``timing="torch"`` is the trained model's (no dense delays, biases from step 0): its output
at step ``t`` equals the deployed network's at ``t + latency``. The adaptation trace ``b`` is
computed in int64 (its products reach ``2**63``, beyond float64's exact integers), with the float
expression as its straight-through gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from neuromorphic_export.spec import RHO_ONE
from spiking_nr._checks import check_sequence
from spiking_nr.export import to_network_spec
from spiking_nr.network import SRNN, Recording, SRNNOutput
from spiking_nr.neurons import ALIFState, ReadoutState

TIMINGS = ("lava", "torch")

STATE_MIN, STATE_MAX = -(2**23), 2**23 - 1


def _ste(exact: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    """Forward ``rounded``, backward identity to ``exact``."""
    return exact + (rounded - exact).detach()


def _rtz_div4096(x: torch.Tensor) -> torch.Tensor:
    exact = x / 4096.0
    return _ste(exact, torch.trunc(exact))


class FixedPointState(NamedTuple):
    """Integer state: ALIF state per hidden layer, readout ``y``, per layer the input spikes still
    in flight in its dense connection (``lava`` timing; empty for ``torch`` timing) and the number
    of steps run (``lava`` timing: a layer adds its bias once ``steps >= bias_delay``)."""

    layers: tuple[ALIFState, ...]
    readout: ReadoutState
    pending: tuple[torch.Tensor, ...]
    steps: int = 0


class FixedPointSRNN(nn.Module):
    """Wraps an :class:`SRNN` (``.module``) and runs it in Loihi fixed point; same call signature."""

    def __init__(self, model: SRNN, timing: str = "lava") -> None:
        super().__init__()
        if not isinstance(model, SRNN):
            raise TypeError(f"expected an SRNN, got {type(model).__name__}")
        if timing not in TIMINGS:
            raise ValueError(f"timing must be one of {TIMINGS}, got {timing!r}")
        self.module = model
        self.timing = timing

    @property
    def config(self):
        return self.module.config

    def initial_state(self, batch: int, like: torch.Tensor | None = None) -> FixedPointState:
        """Resting state; every hidden layer is an ALIF state (LIF = ALIF with beta = 0)."""
        kw = {"dtype": torch.float64, "device": None if like is None else like.device}
        layers = tuple(
            ALIFState(*(torch.zeros(batch, layer.size, **kw) for _ in range(3)))
            for layer in self.module.layers
        )
        sizes = [self.config.input_size] + [layer.size for layer in self.module.layers]
        pending = tuple(torch.zeros(batch, n, **kw) for n in sizes) if self.timing == "lava" else ()
        return FixedPointState(layers, ReadoutState(torch.zeros(batch, self.config.output_size, **kw)),
                               pending)

    def _delayed(self, h: torch.Tensor, state: FixedPointState, index: int, new_pending: list):
        """The dense connection's one-step delay (``lava`` timing)."""
        if self.timing != "lava":
            return h
        new_pending.append(h[-1])
        return torch.cat([state.pending[index].unsqueeze(0), h[:-1]])

    def _quantized(self, dtype: torch.dtype, device: torch.device):
        """Per layer: W, W_rec, bias, alpha (STE tensors), scale, bias_delay; spiking layers also
        rho (STE), b0, beta, and the exact int64 ``rho_int``, ``beta_int``, ``inc``, ``trace_bits``."""
        spec = to_network_spec(self.module, "fixed")
        out = []
        modules = [*self.module.layers, self.module.readout]
        for layer_module, layer in zip(modules, spec.layers):
            def t(a):
                return torch.as_tensor(a, dtype=dtype, device=device)

            s_w = layer.scale / 64.0
            params = layer_module.neuron_parameters()
            gain = (1.0 - params.alpha).unsqueeze(1)
            weight = _ste(gain * layer_module.fc.weight * s_w, t(layer.weight))
            weight_rec = None
            if layer.weight_rec is not None:
                weight_rec = _ste(gain * layer_module.rec.weight * s_w, t(layer.weight_rec))
            bias = _ste(gain[:, 0] * layer_module.fc.bias * s_w, t(layer.bias))
            alpha = _ste(params.alpha * 4096.0, t(layer.params["alpha"]))
            entry = {"weight": weight, "weight_rec": weight_rec, "bias": bias, "alpha": alpha,
                     "scale": layer.scale, "bias_delay": layer.bias_delay}
            if layer.spiking:
                rho_exact = params.rho * RHO_ONE if hasattr(params, "rho") else t(layer.params["rho"])
                bits = layer.trace_bits
                rho_int = torch.as_tensor(layer.params["rho"], dtype=torch.int64, device=device)
                one_minus = RHO_ONE - rho_int
                entry.update(rho=_ste(rho_exact, t(layer.params["rho"])),
                             b0=t(layer.params["b0"]), beta=t(layer.params["beta"]),
                             rho_int=rho_int, trace_bits=bits,
                             beta_int=torch.as_tensor(layer.params["beta"], dtype=torch.int64,
                                                      device=device),
                             inc=one_minus << (bits - 24) if bits >= 24 else one_minus >> (24 - bits))
            out.append(entry)
        return out

    def _bias_on(self, state: FixedPointState, t: int, p: dict) -> bool:
        """Whether a layer adds its bias at step ``t`` of this chunk (always, in torch timing)."""
        return self.timing != "lava" or state.steps + t >= p["bias_delay"]

    @staticmethod
    def _adaptation(b: torch.Tensor, s: torch.Tensor, p: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b, B)`` of the spec's fixed-point ALIF: exact in int64, float expressions as STE."""
        bits = p["trace_bits"]
        b_int = b.detach().long()
        b_int = ((b_int * p["rho_int"]) >> 24) + s.detach().long() * p["inc"]
        exact = b * p["rho"] / RHO_ONE + s * (RHO_ONE - p["rho"]) * 2.0 ** (bits - 24)
        b = _ste(exact, b_int.double())
        th_int = (p["beta_int"] * b_int) >> bits
        th = p["b0"] + _ste(p["beta"] * b / 2.0**bits, th_int.double())
        return b, th

    def forward(self, x: torch.Tensor, state: FixedPointState | None = None,
                reset_mask: torch.Tensor | None = None, record: bool = False) -> SRNNOutput:
        """Like :meth:`SRNN.forward`; ``output`` is the readout in float units (``y / scale``)."""
        check_sequence(x, self.module.config.input_size)
        if x.dtype != torch.float64:
            x = x.double()  # integer arithmetic up to 2**36 must be exact
        n_steps, batch = x.shape[:2]
        if state is None:
            state = self.initial_state(batch, x)
        if reset_mask is not None:
            reset_mask = torch.as_tensor(reset_mask, device=x.device).bool()
        layers = self._quantized(torch.float64, x.device)
        if not isinstance(state, FixedPointState):
            raise TypeError("state must be the FixedPointState returned by this FixedPointSRNN")
        h = x
        new_states, spikes, voltages, thresholds, pending = [], [], [], [], []
        for index, (p, layer_state, layer_module) in enumerate(
                zip(layers[:-1], state.layers, self.module.layers)):
            drive = self._delayed(h, state, index, pending) @ p["weight"].T
            u, b, s = layer_state.u.double(), layer_state.b.double(), layer_state.s.double()
            outs, us, ths = [], [], []
            for t in range(n_steps):
                if reset_mask is not None:
                    keep = (~reset_mask[t]).double().unsqueeze(1)
                    u, b, s = u * keep, b * keep, s * keep
                a = drive[t] if p["weight_rec"] is None else drive[t] + s @ p["weight_rec"].T
                if self._bias_on(state, t, p):
                    a = a + p["bias"]
                b, th = self._adaptation(b, s, p)
                u = torch.clamp(_rtz_div4096(u * p["alpha"]) + 64.0 * a - th * s,
                                STATE_MIN, STATE_MAX)
                s = layer_module.spike_fn((u - th) / p["scale"])
                outs.append(s)
                if record:
                    us.append(u)
                    ths.append(th)
            h = torch.stack(outs)
            new_states.append(ALIFState(u, b, s))
            if record:
                spikes.append(h)
                voltages.append(torch.stack(us))
                thresholds.append(torch.stack(ths))
        p = layers[-1]
        drive = self._delayed(h, state, len(layers) - 1, pending) @ p["weight"].T
        y = state.readout.y.double()
        ys = []
        for t in range(n_steps):
            if reset_mask is not None:
                y = y * (~reset_mask[t]).double().unsqueeze(1)
            a = drive[t] + p["bias"] if self._bias_on(state, t, p) else drive[t]
            y = torch.clamp(_rtz_div4096(y * p["alpha"]) + 64.0 * a, STATE_MIN, STATE_MAX)
            ys.append(y)
        output = torch.stack(ys) / p["scale"]
        # Carried state is in integer state units throughout (exact across chunks).
        new_state = FixedPointState(tuple(new_states), ReadoutState(ys[-1]), tuple(pending),
                                    state.steps + n_steps)
        recording = Recording(tuple(spikes), tuple(voltages), tuple(thresholds)) if record else None
        return SRNNOutput(output, new_state, recording)
