"""Helpers for explicit network state: nested NamedTuples of ``[B, N]`` tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

S = TypeVar("S")


def map_state(fn: Callable[[torch.Tensor], torch.Tensor], state: S) -> S:
    """Apply ``fn`` to every tensor of a (nested) NamedTuple/tuple state, keeping its structure."""
    if isinstance(state, torch.Tensor):
        return fn(state)  # type: ignore[return-value]
    if isinstance(state, tuple):
        mapped = [map_state(fn, item) for item in state]
        return type(state)(*mapped) if hasattr(state, "_fields") else type(state)(mapped)
    if state is None:
        return state
    raise TypeError(f"state leaves must be tensors or (named) tuples, got {type(state)}")


def detach_state(state: S) -> S:
    """Cut the autograd graph at a truncated-BPTT window boundary; values are unchanged."""
    return map_state(torch.Tensor.detach, state)


def state_leaves(state: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    map_state(lambda t: out.append(t) or t, state)
    return out


def reset_lanes(state: S, lanes: torch.Tensor) -> S:
    """Zero the state of the batch lanes where ``lanes`` (``[B]`` bool) is True."""
    keep = (~lanes).to(torch.get_default_dtype())
    return map_state(lambda t: t * keep.to(t.dtype).unsqueeze(-1), state)
