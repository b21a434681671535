"""Adaptive LIF neuron of Yin, Corradi & Bohte 2021 (Nature Machine Intelligence 3, 905-913).

Per step (dt = 1 step; ``alpha = exp(-1/tau_mem)``, ``rho = exp(-1/tau_adapt)``)::

    b_t = rho * b_{t-1} + (1 - rho) * s_{t-1}
    B_t = b0 + beta * b_t                               adaptive threshold
    u_t = alpha * u_{t-1} + (1 - alpha) * I_t - B_t * s_{t-1}   soft reset by the threshold
    s_t = H(u_t - B_t)                                  surrogate gradient in backward
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from spiking_nr._checks import check_positive_time_constants
from spiking_nr.surrogate import Surrogate


class ALIFParameters(NamedTuple):
    """Per-neuron decays (``[N]`` tensors, per step) and threshold constants (state units)."""

    alpha: torch.Tensor  # exp(-1/tau_mem)
    rho: torch.Tensor  # exp(-1/tau_adapt)
    b0: float = 0.01
    beta: float = 1.8


class ALIFState(NamedTuple):
    """``u`` membrane, ``b`` adaptation, ``s`` last spikes; each ``[B, N]``."""

    u: torch.Tensor
    b: torch.Tensor
    s: torch.Tensor


def alif_initial_state(batch: int, size: int, like: torch.Tensor | None = None) -> ALIFState:
    """All-zero state: at rest, no adaptation, no spike."""
    kw = {} if like is None else {"dtype": like.dtype, "device": like.device}
    zeros = torch.zeros(batch, size, **kw)
    return ALIFState(zeros, zeros.clone(), zeros.clone())


def alif_threshold(state: ALIFState, params: ALIFParameters) -> torch.Tensor:
    """Adaptive threshold ``B_t = b0 + beta * b_t`` for a state returned by :func:`alif_step`."""
    return params.b0 + params.beta * state.b


def alif_step(
    current: torch.Tensor,
    state: ALIFState,
    params: ALIFParameters,
    spike_fn: Surrogate,
) -> tuple[torch.Tensor, ALIFState]:
    """One ALIF step. ``current`` is ``I_t`` ``[B, N]``; returns ``(s_t, new_state)``."""
    b = params.rho * state.b + (1.0 - params.rho) * state.s
    threshold = params.b0 + params.beta * b
    u = params.alpha * state.u + (1.0 - params.alpha) * current - threshold * state.s
    s = spike_fn(u - threshold)
    return s, ALIFState(u, b, s)


def _normal_init(size: int, mean_std: tuple[float, float], generator: torch.Generator | None):
    mean, std = mean_std
    tau = torch.randn(size, generator=generator) * std + mean
    # Published initialisations are normal; clamp so the rare negative draw stays a valid decay.
    return tau.clamp(min=1.0)


class TimeConstants(nn.Module):
    """Learnable per-neuron time constants (steps), positive by construction (``tau = exp(p)``)."""

    def __init__(self, size: int, init: tuple[float, float], learnable: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"size must be a positive number of neurons, got {size}")
        if init[0] <= 0 or init[1] < 0:
            raise ValueError(f"time-constant init (mean, std) must have mean > 0, std >= 0: {init}")
        log_tau = torch.log(_normal_init(size, init, generator))
        self.log_tau = nn.Parameter(log_tau, requires_grad=learnable)

    @property
    def tau(self) -> torch.Tensor:
        return self.log_tau.exp()

    def decay(self) -> torch.Tensor:
        """``exp(-1/tau)`` per neuron."""
        return torch.exp(-1.0 / self.tau)

    def set_tau(self, tau: torch.Tensor) -> None:
        tau = torch.as_tensor(tau, dtype=self.log_tau.dtype)
        check_positive_time_constants(tau, "tau")
        with torch.no_grad():
            self.log_tau.copy_(torch.log(tau.expand_as(self.log_tau)))


def check_threshold_constants(b0: float, beta: float) -> None:
    if not (math.isfinite(b0) and b0 > 0):
        raise ValueError(f"b0 (base threshold) must be finite and > 0, got {b0}")
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta (adaptation strength) must be finite and >= 0, got {beta}")
