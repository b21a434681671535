"""Spike functions with surrogate gradients.

Forward: the Heaviside step ``H(x) = 1 if x > 0 else 0`` (strictly greater, as in Yin et al. 2021).
Backward: a smooth pseudo-derivative chosen by name. ``x`` is the distance to threshold in the
neuron's state units (``u - B``).

Pseudo-derivatives (``N(x; mu, sigma)`` is the normal density):

* ``multi_gaussian`` (Yin et al. 2021): ``gamma*[(1+h) N(x;0,s) - h N(x;s,k s) - h N(x;-s,k s)]``,
  defaults s=0.5, h=0.15, k=6, gamma=0.5.
* ``fast_sigmoid`` (SuperSpike, Zenke & Ganguli 2018): ``1 / (1 + slope*|x|)^2``, slope=25.
* ``triangle`` (Esser et al. 2016): ``max(0, 1 - |x|/width) / width``, width=0.5.
* ``arctan`` (Fang et al. 2021): ``(alpha/2) / (1 + (pi/2 * alpha * x)^2)``, alpha=2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["Surrogate", "SURROGATES", "get_surrogate", "surrogate_grad"]


def _normal(x: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    return torch.exp(-((x - mu) ** 2) / (2.0 * sigma**2)) / (math.sqrt(2.0 * math.pi) * sigma)


def _multi_gaussian(x: torch.Tensor, s: float, h: float, k: float, gamma: float) -> torch.Tensor:
    return gamma * (
        (1.0 + h) * _normal(x, 0.0, s) - h * _normal(x, s, k * s) - h * _normal(x, -s, k * s)
    )


def _fast_sigmoid(x: torch.Tensor, slope: float) -> torch.Tensor:
    return 1.0 / (1.0 + slope * x.abs()) ** 2


def _triangle(x: torch.Tensor, width: float) -> torch.Tensor:
    return torch.clamp(1.0 - x.abs() / width, min=0.0) / width


def _arctan(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


# name -> (pseudo-derivative, default parameters)
SURROGATES: dict[str, tuple[Callable[..., torch.Tensor], dict[str, float]]] = {
    "multi_gaussian": (_multi_gaussian, {"s": 0.5, "h": 0.15, "k": 6.0, "gamma": 0.5}),
    "fast_sigmoid": (_fast_sigmoid, {"slope": 25.0}),
    "triangle": (_triangle, {"width": 0.5}),
    "arctan": (_arctan, {"alpha": 2.0}),
}


def surrogate_grad(name: str, x: torch.Tensor, **params: float) -> torch.Tensor:
    """The pseudo-derivative ``dH/dx`` of surrogate ``name`` at ``x`` (defaults filled in)."""
    fn, defaults = _lookup(name)
    return fn(x, **{**defaults, **params})


def _lookup(name: str) -> tuple[Callable[..., torch.Tensor], dict[str, float]]:
    try:
        return SURROGATES[name]
    except KeyError:
        raise ValueError(
            f"unknown surrogate {name!r}; expected one of {sorted(SURROGATES)}"
        ) from None


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        s: Surrogate = ctx.surrogate
        return grad_output * s.grad(x), None


@dataclass(frozen=True)
class Surrogate:
    """A named spike function: ``Surrogate("multi_gaussian")(u - B)`` -> spikes in {0, 1}.

    ``params`` override the defaults listed in :data:`SURROGATES`; unknown keys are rejected.
    """

    name: str = "multi_gaussian"
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _, defaults = _lookup(self.name)
        unknown = set(self.params) - set(defaults)
        if unknown:
            raise ValueError(
                f"surrogate {self.name!r} has no parameter(s) {sorted(unknown)}; "
                f"expected a subset of {sorted(defaults)}"
            )
        for key, value in self.params.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"surrogate parameter {key}={value!r} must be a finite positive number"
                )

    @property
    def resolved_params(self) -> dict[str, float]:
        return {**_lookup(self.name)[1], **self.params}

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """Pseudo-derivative at ``x``."""
        return _lookup(self.name)[0](x, **self.resolved_params)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeFunction.apply(x, self)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))


def get_surrogate(name: str = "multi_gaussian", **params: float) -> Surrogate:
    """Spike function by name, e.g. ``get_surrogate("fast_sigmoid", slope=10)``."""
    return Surrogate(name, dict(params))
