"""Non-spiking leaky-integrator readout: ``y_t = alpha * y_{t-1} + (1 - alpha) * I_t``.

``y_t`` (``[B, C]``) is the per-step output (logits).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class ReadoutParameters(NamedTuple):
    alpha: torch.Tensor  # [C] exp(-1/tau)


class ReadoutState(NamedTuple):
    y: torch.Tensor  # [B, C]


def readout_initial_state(batch: int, size: int, like: torch.Tensor | None = None) -> ReadoutState:
    kw = {} if like is None else {"dtype": like.dtype, "device": like.device}
    return ReadoutState(torch.zeros(batch, size, **kw))


def readout_step(
    current: torch.Tensor, state: ReadoutState, params: ReadoutParameters
) -> tuple[torch.Tensor, ReadoutState]:
    y = params.alpha * state.y + (1.0 - params.alpha) * current
    return y, ReadoutState(y)
