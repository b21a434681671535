"""The reset-free adaptive loss (Yin & Corradi 2024, "Never Reset Again", arXiv 2412.15983).

Per step ``t`` and lane ``b`` with per-step logits ``z [T, B, C]``, target ``y [T, B]`` (``-1`` =
no class) and informativeness mask ``m [T, B]``. Two modes (``AdaptiveLossConfig.mode``) say who
decides where the KL term applies:

``"labels"`` (default; the labels decide):

* informative steps with a class (``m & y >= 0``): cross-entropy ``-log p_y``;
* every other step, distractors and gaps included whatever the mask says: KL to uniform.

So an input-driven mask only chooses between CE and KL *inside* target segments.

``"mask"`` (label-free; the mask alone decides):

* ``m`` False: KL to uniform, on any step (target, distractor or gap);
* ``m`` True and ``y >= 0``: cross-entropy (the labels only give the class);
* ``m`` True and ``y == -1`` (the mask calls a distractor or gap step informative, but there is no
  class to learn): **no loss term**; the step counts for neither term nor for the ``"steps"``
  normaliser. Nothing tells the network that the step is not a target except the mask.

With the oracle mask (``m = y >= 0``) the two modes are the same loss.

The KL term, weighted by ``lambda``: ``"uniform_model"`` is KL(U||p) = ``-log C - mean_c log p_c``
(soft-target cross-entropy towards uniform, the default); ``"model_uniform"`` is KL(p||U) =
``log C - H(p)``.

Normalisation: ``"steps"`` divides the summed CE and KL by the number of counted steps
(``T*B`` less ignored ones); ``"masked"`` averages CE over its steps and KL over its steps
separately and adds them. Steps in ``ignore`` count for neither term. With an all-True mask and
valid targets everywhere the loss is plain cross-entropy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

KL_DIRECTIONS = ("uniform_model", "model_uniform")
NORMALISATIONS = ("steps", "masked")
LOSS_MODES = ("labels", "mask")


@dataclass(frozen=True)
class AdaptiveLossConfig:
    kl_direction: str = "uniform_model"
    kl_weight: float = 1.0  # lambda
    normalise: str = "steps"
    mode: str = "labels"  # who decides where KL applies: "labels" or the mask alone ("mask")

    def __post_init__(self) -> None:
        if self.mode not in LOSS_MODES:
            raise ValueError(f"loss mode must be one of {LOSS_MODES}, got {self.mode!r}")
        if self.kl_direction not in KL_DIRECTIONS:
            raise ValueError(f"kl_direction must be one of {KL_DIRECTIONS}, got {self.kl_direction!r}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {self.normalise!r}")
        if not (math.isfinite(self.kl_weight) and self.kl_weight >= 0):
            raise ValueError(f"kl_weight must be finite and >= 0, got {self.kl_weight}")


def kl_to_uniform(log_p: torch.Tensor, direction: str = "uniform_model") -> torch.Tensor:
    """Per-step KL between ``softmax`` output (given as ``log_p [..., C]``) and uniform."""
    n_classes = log_p.shape[-1]
    if direction == "uniform_model":
        return -math.log(n_classes) - log_p.mean(-1)
    if direction == "model_uniform":
        return math.log(n_classes) + (log_p.exp() * log_p).sum(-1)
    raise ValueError(f"kl direction must be one of {KL_DIRECTIONS}, got {direction!r}")


def adaptive_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    informative: torch.Tensor,
    config: AdaptiveLossConfig = AdaptiveLossConfig(),
    ignore: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar adaptive loss for ``logits [T, B, C]``, ``target``/``informative``/``ignore [T, B]``."""
    _check(logits, target, informative, ignore)
    log_p = F.log_softmax(logits, dim=-1)
    counted = torch.ones_like(informative, dtype=torch.bool) if ignore is None else ~ignore.bool()
    informative = informative.bool()
    ce_steps = informative & (target >= 0) & counted
    if config.mode == "mask":
        # the mask alone decides: informative steps without a class get no loss term at all
        counted = counted & (~informative | (target >= 0))
        kl_steps = ~informative & counted
    else:
        kl_steps = ~ce_steps & counted
    safe_target = target.clamp(min=0).long()
    ce = -log_p.gather(-1, safe_target.unsqueeze(-1)).squeeze(-1)
    kl = kl_to_uniform(log_p, config.kl_direction)
    ce_sum = (ce * ce_steps).sum()
    kl_sum = (kl * kl_steps).sum()
    if config.normalise == "steps":
        return (ce_sum + config.kl_weight * kl_sum) / counted.sum().clamp(min=1)
    return ce_sum / ce_steps.sum().clamp(min=1) + config.kl_weight * kl_sum / kl_steps.sum().clamp(
        min=1
    )


def _check(logits, target, informative, ignore) -> None:
    if logits.dim() != 3:
        raise ValueError(f"logits must be [T, B, C], got shape {tuple(logits.shape)}")
    for name, tensor in (("target", target), ("informative", informative), ("ignore", ignore)):
        if tensor is not None and tuple(tensor.shape) != tuple(logits.shape[:2]):
            raise ValueError(
                f"{name} must have shape [T, B] = {tuple(logits.shape[:2])}, got {tuple(tensor.shape)}"
            )
    for name, tensor in (("informative", informative), ("ignore", ignore)):
        if tensor is not None and tensor.is_floating_point():
            raise TypeError(f"{name} must be a boolean [T, B] mask, got {tensor.dtype}")
    if target.is_floating_point():
        raise TypeError(f"target must hold integer class indices (-1 = none), got {target.dtype}")
    if bool((target >= logits.shape[-1]).any()) or bool((target < -1).any()):
        raise ValueError(
            f"target values must be in [-1, {logits.shape[-1] - 1}] (-1 = no class), got "
            f"range [{int(target.min())}, {int(target.max())}]"
        )
