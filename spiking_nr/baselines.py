"""Non-spiking baseline: a stacked GRU with the SRNN's interface (explicit state, ``reset_mask``).

``GRUNetwork(config)(x [T, B, N_in], state, reset_mask) -> GRUOutput(output [T, B, C], state)``, so
the :class:`~spiking_nr.train.Trainer`, the adaptive loss, the stream experiments and the warm-up
(:mod:`spiking_nr.warmup`) take it unchanged. Each layer is a ``torch.nn.GRU`` (gates in the
order reset, update, new; weight rows gate-major ``[3*H, ...]``); outputs are a linear readout of the
last layer per step. Without ``reset_mask`` a layer runs the whole sequence in one call; with it, the
sequence is cut at the steps where any lane resets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from spiking_nr._checks import check_batch, check_sequence


@dataclass(frozen=True)
class GRUConfig:
    """``hidden``: units per layer; ``seed`` for the initial weights (torch's default init)."""

    input_size: int
    hidden: tuple[int, ...]
    output_size: int
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.input_size < 1 or self.output_size < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"sizes must be >= 1 and at least one hidden layer, got {self}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "gru", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GRUConfig:
        data = {k: v for k, v in data.items() if k != "kind"}
        return cls(**{**data, "hidden": tuple(data["hidden"])})


class GRUState(NamedTuple):
    layers: tuple[torch.Tensor, ...]  # h per layer, [B, H]


class GRUOutput(NamedTuple):
    output: torch.Tensor  # [T, B, C]
    state: GRUState
    record: None = None


class GRULayer(nn.Module):
    """One GRU layer; ``forward(x [T, B, N], h [B, H], reset_mask) -> (h_seq [T, B, H], h_last, None)``."""

    neuron = "gru"

    def __init__(self, input_size: int, size: int) -> None:
        super().__init__()
        self.input_size, self.size = input_size, size
        self.gru = nn.GRU(input_size, size)

    def initial_state(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros(batch, self.size, dtype=like.dtype, device=like.device)

    def forward(self, x: torch.Tensor, h: torch.Tensor, reset_mask: torch.Tensor | None = None,
                record: bool = False) -> tuple[torch.Tensor, torch.Tensor, None]:
        if reset_mask is None or not bool(reset_mask.any()):
            out, h_last = self.gru(x, h.unsqueeze(0))
            return out, h_last[0], None
        cuts = torch.nonzero(reset_mask.any(1)).flatten().tolist()
        pieces, start = [], 0
        for stop in [*cuts, x.shape[0]]:
            if stop > start:
                out, h_last = self.gru(x[start:stop], h.unsqueeze(0))
                pieces.append(out)
                h = h_last[0]
            if stop < x.shape[0]:
                h = h * (~reset_mask[stop]).to(h.dtype).unsqueeze(-1)
            start = stop
        return torch.cat(pieces), h, None

    # --- what the warm-up needs (spiking_nr.warmup) ---
    def attractor_state(self, h: torch.Tensor) -> torch.Tensor:
        """The state whose fixed points are the attractors: the hidden state itself."""
        return h

    def neuron_rows(self, name: str, neurons: slice) -> torch.Tensor | slice | None:
        """Rows of parameter ``name`` that belong to ``neurons`` (gate-major ``[3*H]`` layout)."""
        if name.startswith("gru."):
            rows = torch.arange(3 * self.size)
            return rows[(rows % self.size >= (neurons.start or 0))
                        & (rows % self.size < (self.size if neurons.stop is None else neurons.stop))]
        return None


class GRUNetwork(nn.Module):
    """Stacked GRU + per-step linear readout, with the SRNN's call signature."""

    def __init__(self, config: GRUConfig) -> None:
        super().__init__()
        self.config = config
        torch.manual_seed(config.seed)
        sizes = (config.input_size, *config.hidden)
        self.layers = nn.ModuleList(GRULayer(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.readout = nn.Linear(config.hidden[-1], config.output_size)

    def initial_state(self, batch: int, like: torch.Tensor | None = None) -> GRUState:
        like = self.readout.weight if like is None else like
        return GRUState(tuple(layer.initial_state(batch, like) for layer in self.layers))

    def forward(self, x: torch.Tensor, state: GRUState | None = None,
                reset_mask: torch.Tensor | None = None, record: bool = False) -> GRUOutput:
        """Run ``x [T, B, N_in]`` from ``state`` (None = rest); ``reset_mask [T, B]`` zeroes a
        lane's state just before the steps where it is True."""
        if record:
            raise ValueError("a GRU has no spikes, voltages or thresholds to record")
        check_sequence(x, self.config.input_size)
        batch = x.shape[1]
        if state is None:
            state = self.initial_state(batch, x)
        elif not isinstance(state, GRUState) or len(state.layers) != len(self.layers):
            raise ValueError(f"state must be a GRUState with {len(self.layers)} layer states")
        for i, h in enumerate(state.layers):
            check_batch(h.shape[0], batch, f"state of layer {i}")
        if reset_mask is not None:
            reset_mask = torch.as_tensor(reset_mask, device=x.device).bool()
            if reset_mask.shape != x.shape[:2]:
                raise ValueError(f"reset_mask must have shape [T, B] = {tuple(x.shape[:2])}, "
                                 f"got {tuple(reset_mask.shape)}")
        h_seq, finals = x, []
        for layer, h in zip(self.layers, state.layers):
            h_seq, h_last, _ = layer(h_seq, h, reset_mask)
            finals.append(h_last)
        return GRUOutput(self.readout(h_seq), GRUState(tuple(finals)))
