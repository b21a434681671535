"""Activity regularisation for training: firing-rate bounds and a target rate, and dropout with one
mask per lane held fixed across time (the form that suits recurrent layers).

Both act on the outputs of the hidden layers (``model.layers``: spikes ``[T, B, N]`` of an SRNN, or
a GRU's hidden states), captured by forward hooks, so the network code is unchanged.

* **Firing-rate regularisation** (``weight`` > 0): per neuron ``n`` of every hidden layer, the
  rate ``r_n`` = mean spikes per step over the window's steps and lanes; penalty
  ``weight * sum_layers mean_n [relu(lower - r_n)^2 + relu(r_n - upper)^2 (+ (r_n - target)^2)]``.
  Bounds keep neurons from falling silent or saturating; a target rate makes the code sparser (fewer
  spikes, cheaper on neuromorphic hardware).
* **Dropout across time** (``dropout`` = p > 0): each hidden layer's outputs are multiplied by a
  mask ``[B, N]`` of Bernoulli(1 - p) / (1 - p), drawn once per training chunk and applied at every
  step (Gal & Ghahramani 2016): a dropped neuron is silent to the next layer and the readout for the
  whole chunk instead of flickering step by step. The layer's own recurrence sees its undropped
  spikes. Only in training mode; evaluation is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ActivityConfig:
    """Rates in spikes per step per neuron (in [0, 1]); ``dropout`` in [0, 1)."""

    weight: float = 0.0
    lower: float = 0.0
    upper: float = 1.0
    target: float | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"rate weight must be finite and >= 0, got {self.weight}")
        if not 0.0 <= self.lower <= self.upper <= 1.0:
            raise ValueError(f"rate bounds must satisfy 0 <= lower <= upper <= 1 (spikes per step), "
                             f"got lower={self.lower}, upper={self.upper}")
        if self.target is not None and not 0.0 <= self.target <= 1.0:
            raise ValueError(f"target rate must be in [0, 1] spikes per step, got {self.target}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def active(self) -> bool:
        return self.weight > 0 or self.dropout > 0


def rate_penalty(rates: torch.Tensor, config: ActivityConfig) -> torch.Tensor:
    """Mean over neurons of the bound (and target) penalties for per-neuron ``rates [N]``."""
    pen = torch.relu(config.lower - rates) ** 2 + torch.relu(rates - config.upper) ** 2
    if config.target is not None:
        pen = pen + (rates - config.target) ** 2
    return pen.mean()


class ActivityRegulariser:
    """Hooks on ``model.layers`` that drop out hidden outputs and collect them for the penalty.

    Per chunk call :meth:`new_chunk` (draws the dropout masks for ``batch`` lanes); after each
    forward :meth:`penalty` returns the weighted rate penalty of what was captured (and forgets it)
    and :attr:`last_rate` the mean rate (spikes per step per neuron) of the last window.
    """

    def __init__(self, model: torch.nn.Module, config: ActivityConfig) -> None:
        layers = getattr(model, "layers", None)
        if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
            raise TypeError(f"{type(model).__name__} has no hidden layers (model.layers) to "
                            "regularise")
        self.config = config
        self.captured: list[torch.Tensor] = []
        self.masks: list[torch.Tensor | None] = [None] * len(layers)
        self.last_rate = float("nan")
        self.handles = [layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(layers)]

    def _hook(self, index: int):
        def hook(module: torch.nn.Module, inputs, output):
            if not module.training:
                return None
            h = output[0]  # [T, B, N]
            self.captured.append(h)
            mask = self.masks[index]
            if self.config.dropout > 0:
                if mask is None or mask.shape != h.shape[1:]:
                    keep = 1.0 - self.config.dropout
                    # torch's global generator: seeded by the Trainer, saved in its checkpoints
                    mask = torch.bernoulli(torch.full(tuple(h.shape[1:]), keep)) / keep
                    self.masks[index] = mask
                return (h * mask.to(h.device, h.dtype), *output[1:])
            return None
        return hook

    def new_chunk(self) -> None:
        """Fresh dropout masks at the next forward (one per chunk, fixed across its steps)."""
        self.masks = [None] * len(self.masks)
        self.captured = []

    def penalty(self) -> torch.Tensor | float:
        """The weighted rate penalty of the outputs captured since the last call."""
        captured, self.captured = self.captured, []
        if not captured:
            return 0.0
        rates = [h.float().mean(dim=(0, 1)) for h in captured]
        self.last_rate = float(torch.cat([r.detach() for r in rates]).mean())
        if self.config.weight == 0:
            return 0.0
        return self.config.weight * sum(rate_penalty(r, self.config) for r in rates)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
