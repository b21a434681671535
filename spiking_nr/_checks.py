"""Input validation shared by the torch modules: one clear error for each kind of bad input."""

from __future__ import annotations

import torch


def check_sequence(x: torch.Tensor, n_features: int, name: str = "input") -> None:
    """Require a finite floating tensor of shape ``[T, B, n_features]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, B, {n_features}], got {type(x)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating tensor (float32/float64), got dtype {x.dtype}; "
            "convert spikes with .float()"
        )
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have rank 3 [T, B, N] (time-major), got shape {tuple(x.shape)}"
        )
    if x.shape[2] != n_features:
        raise ValueError(
            f"{name} has {x.shape[2]} features per step, expected {n_features} "
            f"(shape {tuple(x.shape)} is [T, B, N])"
        )
    # One pass: any NaN/inf makes the sum non-finite; the exact check runs only then (the sum of
    # finite values can also overflow).
    if not bool(torch.isfinite(x.sum())):
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(f"{name} contains {bad} NaN/inf value(s); expected finite values")


def check_batch(state_batch: int, batch: int, what: str) -> None:
    if state_batch != batch:
        raise ValueError(
            f"{what} has batch size {state_batch} but the input has batch size {batch}; "
            "pass state=None to start fresh or feed a stream with the same number of lanes"
        )


def check_positive_time_constants(tau: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(tau).all()) or bool((tau <= 0).any()):
        raise ValueError(f"{name} must be finite and > 0 (in steps), got min {float(tau.min()):.4g}")


def resolve_device(name: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a :class:`torch.device` that exists here."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {name!r}; expected cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; expected cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: no CUDA device is available here "
                             "(torch.cuda.is_available() is False); use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device
