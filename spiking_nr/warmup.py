"""Warm-up initialisation (Lambrechts, De Geeter, Vecoven, Ernst & Drion, Neural Networks 2023,
arXiv 2106.01001): before training, push a recurrent network towards *reachable multistability*,
which greatly helps long-memory tasks.

* VAA (variability amongst attractors) of ``n`` settled states:
  ``VAA = (1/n) sum_i 1 / |{j : ||h_j - h_i|| < eps}|`` — ``1/n`` when all states fall into one
  attractor, ``1`` when all differ.
* VAA* (differentiable surrogate, on ``tanh(h)``): ``C_ij = 1 - ReLU(d_ij - eps) / (d_ij + 1e-6)``,
  ``VAA* = (1/n) sum_i 1 / sum_j C_ij``.
* Warm-up loss ``MSE(VAA*, target=0.95)`` averaged over layers, its own Adam (lr 1e-2), 100 steps,
  batch 32. Each step: states reached from random-length prefixes of training sequences, then a
  settling horizon drawn up to ``min(1 + 10*step, 200)`` steps during which every layer receives one
  constant random input (shared by the batch); VAA* is taken on the settled states.

Which state carries the attractors: in the GRU its hidden state ``h``; in the ALIF SRNN the
**adaptation variable b** (for LIF layers, the membrane potential ``u``). Spikes are binary, so
two settled spike vectors are either equal or at distance >= 1; ``b`` is the spike train low-pass
filtered with the adaptation time constant (``b = rho*b + (1-rho)*s``): a smooth summary of recent
firing that settles to a fixed point when the firing pattern does, and its gradient reaches every
weight through the surrogate.

Partial warm-up (``fraction=0.5``): only the first half of each layer's neurons is warmed (their
rows of the input and recurrent weights, their bias and time constants); the second half keeps its
transient dynamics (its parameters are not changed at all), which preserves precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from spiking_nr.baselines import GRUNetwork
from spiking_nr.network import SRNN

Model = SRNN | GRUNetwork  # anything whose layers expose attractor_state() and neuron_rows()


def vaa(states: torch.Tensor | np.ndarray, eps: float = 1e-4) -> float:
    """VAA of ``states [n, d]`` (exact count of neighbours within ``eps``)."""
    h = torch.as_tensor(states, dtype=torch.float64)
    if h.dim() != 2 or h.shape[0] == 0:
        raise ValueError(f"states must be [n, d] with n >= 1, got shape {tuple(h.shape)}")
    close = torch.cdist(h, h) < eps
    return float((1.0 / close.sum(1).double()).mean())


def vaa_star(states: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Differentiable VAA* of ``states [n, d]`` computed on ``tanh(states)``."""
    h = torch.tanh(states)
    diff = h.unsqueeze(0) - h.unsqueeze(1)
    d = torch.sqrt((diff**2).sum(-1) + 1e-12)
    closeness = 1.0 - torch.relu(d - eps) / (d + 1e-6)
    return (1.0 / closeness.sum(1)).mean()


@dataclass(frozen=True)
class WarmupConfig:
    steps: int = 100
    lr: float = 1e-2
    batch: int = 32
    target: float = 0.95
    max_horizon: int = 200
    eps: float = 1e-4
    fraction: float = 1.0  # share of each layer's neurons that is warmed up (0.5 = partial)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.steps <= 0 or self.batch < 2 or self.max_horizon <= 0:
            raise ValueError("steps and max_horizon must be positive and batch >= 2")


@dataclass
class WarmupReport:
    vaa_before: list[float]
    vaa_after: list[float]
    vaa_star_history: list[list[float]]


def _settled_states(model: Model, prefix: torch.Tensor, horizon: int,
                    constant_inputs: list[torch.Tensor], warmed: list[int]) -> list[torch.Tensor]:
    with torch.no_grad():
        state = model(prefix).state
    states = []
    for layer, layer_state, drive_in, n in zip(model.layers, state.layers, constant_inputs, warmed):
        x = drive_in.expand(horizon, prefix.shape[1], -1)
        _, final, _ = layer(x, layer_state)
        states.append(layer.attractor_state(final)[:, :n])
    return states


def warm_up(model: Model, sample_inputs: Callable[[np.random.Generator, int], torch.Tensor],
            config: WarmupConfig = WarmupConfig(), progress: bool = True) -> WarmupReport:
    """Warm ``model`` up in place. ``sample_inputs(rng, batch)`` returns training sequences
    ``[T, batch, N_in]``; random-length prefixes of them set the states before settling."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    warmed = [max(1, int(round(layer.size * config.fraction))) for layer in model.layers]
    params = [p for layer in model.layers for p in layer.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    optimizer = torch.optim.Adam(params, lr=config.lr)

    def measure(horizon: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        x = sample_inputs(rng, config.batch).to(torch.get_default_dtype())
        length = int(rng.integers(1, x.shape[0] + 1))
        inputs = [torch.randn(1, 1, layer.input_size, generator=generator) for layer in model.layers]
        states = _settled_states(model, x[:length], horizon, inputs, warmed)
        return states, [vaa_star(s, config.eps) for s in states]

    with torch.no_grad():
        vaa_before = [vaa(s, config.eps) for s in measure(config.max_horizon)[0]]
    history = []
    for step in tqdm(range(config.steps), desc="warm-up", disable=None if progress else True):
        horizon = int(rng.integers(1, min(1 + 10 * step, config.max_horizon) + 1))
        _, scores = measure(horizon)
        loss = torch.stack([(s - config.target) ** 2 for s in scores]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.fraction < 1.0:
            _mask_gradients(model, warmed)
        optimizer.step()
        history.append([float(s.detach()) for s in scores])
    if config.fraction < 1.0:  # Adam's moment estimates must not move the cold half either
        _restore_cold_half(model, params, before, warmed)
    with torch.no_grad():
        vaa_after = [vaa(s, config.eps) for s in measure(config.max_horizon)[0]]
    return WarmupReport(vaa_before, vaa_after, history)


def _neuron_slices(model: Model, warmed: list[int]):
    """(parameter, index of the cold rows/entries) per warmed layer parameter."""
    for layer, n in zip(model.layers, warmed):
        for name, param in layer.named_parameters():
            rows = layer.neuron_rows(name, slice(n, None))
            if rows is not None:
                yield param, rows


def _mask_gradients(model: Model, warmed: list[int]) -> None:
    for param, cold in _neuron_slices(model, warmed):
        if param.grad is not None:
            param.grad[cold] = 0.0


def _restore_cold_half(model: Model, params, before, warmed: list[int]) -> None:
    saved = {id(p): b for p, b in zip(params, before)}
    with torch.no_grad():
        for param, cold in _neuron_slices(model, warmed):
            param[cold] = saved[id(param)][cold]
