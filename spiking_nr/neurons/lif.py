"""Leaky integrate-and-fire neuron (no adaptation), same conventions as the ALIF.

Per step (``alpha = exp(-1/tau_mem)``)::

    u_t = alpha * u_{t-1} + (1 - alpha) * I_t - v_th * s_{t-1}    soft reset
    s_t = H(u_t - v_th)

It is the ALIF with ``beta = 0`` and ``v_th = b0``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spiking_nr.surrogate import Surrogate


class LIFParameters(NamedTuple):
    alpha: torch.Tensor  # [N] exp(-1/tau_mem)
    v_th: float = 0.01


class LIFState(NamedTuple):
    """``u`` membrane, ``s`` last spikes; each ``[B, N]``."""

    u: torch.Tensor
    s: torch.Tensor


def lif_initial_state(batch: int, size: int, like: torch.Tensor | None = None) -> LIFState:
    kw = {} if like is None else {"dtype": like.dtype, "device": like.device}
    zeros = torch.zeros(batch, size, **kw)
    return LIFState(zeros, zeros.clone())


def lif_step(
    current: torch.Tensor, state: LIFState, params: LIFParameters, spike_fn: Surrogate
) -> tuple[torch.Tensor, LIFState]:
    """One LIF step. ``current`` is ``I_t`` ``[B, N]``; returns ``(s_t, new_state)``."""
    u = params.alpha * state.u + (1.0 - params.alpha) * current - params.v_th * state.s
    s = spike_fn(u - params.v_th)
    return s, LIFState(u, s)
