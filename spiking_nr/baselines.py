"""Non-spiking baselines with the SRNN's interface (explicit state, ``reset_mask``): the paper's
other RNN families.

``GRUNetwork(config)(x [T, B, N_in], state, reset_mask) -> GRUOutput(output [T, B, C], state)``, so
the :class:`~spiking_nr.train.Trainer`, the adaptive loss, the stream experiments and the warm-up
(:mod:`spiking_nr.warmup`) take it unchanged. ``GRUConfig.cell`` picks the layer:

* ``"gru"`` (default): ``torch.nn.GRU`` (gates in the order reset, update, new; weight rows
  gate-major ``[3*H, ...]``);
* ``"rnn"``: a vanilla (Elman) tanh RNN, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``
  (``torch.nn.RNN``);
* ``"lru"``: a diagonal linear state-space layer in the style of the Linear Recurrent Unit (Orvieto
  et al. 2023): complex diagonal state ``h_t = lambda * h_{t-1} + gamma * (B x_t)``, ``lambda =
  exp(-exp(nu) + i exp(theta))`` (stable by construction, ``|lambda|`` initialised uniformly in
  [0.9, 0.999]), ``gamma = sqrt(1 - |lambda|^2)``; output ``y_t = GLU(Re(C h_t) + D x_t)`` =
  ``(W_a z) * sigmoid(W_b z)``. The state is ``[B, 2H]`` (real and imaginary parts).

Outputs are a linear readout of the last layer per step. Without ``reset_mask`` a GRU/RNN layer
runs the whole sequence in one call; with it, the sequence is cut at the steps where any lane
resets (the LRU steps through time and zeroes reset lanes in place).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from spiking_nr._checks import check_batch, check_sequence

CELLS = ("gru", "rnn", "lru")


@dataclass(frozen=True)
class GRUConfig:
    """``hidden``: units per layer; ``seed`` for the initial weights (torch's default init);
    ``cell``: ``gru``, ``rnn`` (vanilla tanh) or ``lru`` (diagonal linear state space + GLU)."""

    input_size: int
    hidden: tuple[int, ...]
    output_size: int
    seed: int = 0
    cell: str = "gru"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.input_size < 1 or self.output_size < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"sizes must be >= 1 and at least one hidden layer, got {self}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")

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
    """One GRU (or, ``cell="rnn"``, vanilla tanh RNN) layer;
    ``forward(x [T, B, N], h [B, H], reset_mask) -> (h_seq [T, B, H], h_last, None)``."""

    def __init__(self, input_size: int, size: int, cell: str = "gru") -> None:
        super().__init__()
        self.input_size, self.size, self.neuron = input_size, size, cell
        if cell == "gru":
            self.gru = nn.GRU(input_size, size)
        else:  # the attribute keeps its name so GRU checkpoints load unchanged
            self.gru = nn.RNN(input_size, size, nonlinearity="tanh")

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
        """Rows of parameter ``name`` that belong to ``neurons`` (gate-major ``[3*H]`` layout for
        the GRU, ``[H]`` for the tanh RNN)."""
        if name.startswith("gru."):
            rows = torch.arange((3 if self.neuron == "gru" else 1) * self.size)
            return rows[(rows % self.size >= (neurons.start or 0))
                        & (rows % self.size < (self.size if neurons.stop is None else neurons.stop))]
        return None


class LRULayer(nn.Module):
    """A diagonal linear state-space layer with a GLU output (see the module docstring);
    ``forward(x [T, B, N], h [B, 2H], reset_mask) -> (y_seq [T, B, H], h_last [B, 2H], None)``."""

    neuron = "lru"

    def __init__(self, input_size: int, size: int, r_min: float = 0.9, r_max: float = 0.999) -> None:
        super().__init__()
        self.input_size, self.size = input_size, size
        radius = torch.sqrt(torch.rand(size) * (r_max ** 2 - r_min ** 2) + r_min ** 2)
        self.nu_log = nn.Parameter(torch.log(-torch.log(radius)))
        self.theta_log = nn.Parameter(torch.log(torch.rand(size) * math.pi / 10 + 1e-3))
        scale = 1.0 / math.sqrt(2 * input_size)
        self.b_re = nn.Parameter(torch.randn(size, input_size) * scale)
        self.b_im = nn.Parameter(torch.randn(size, input_size) * scale)
        self.c_re = nn.Parameter(torch.randn(size, size) / math.sqrt(size))
        self.c_im = nn.Parameter(torch.randn(size, size) / math.sqrt(size))
        self.d = nn.Parameter(torch.randn(size, input_size) / math.sqrt(input_size))
        self.glu = nn.Linear(size, 2 * size)

    def initial_state(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros(batch, 2 * self.size, dtype=like.dtype, device=like.device)

    def forward(self, x: torch.Tensor, h: torch.Tensor, reset_mask: torch.Tensor | None = None,
                record: bool = False) -> tuple[torch.Tensor, torch.Tensor, None]:
        modulus = torch.exp(-torch.exp(self.nu_log))
        angle = torch.exp(self.theta_log)
        lam_re, lam_im = modulus * torch.cos(angle), modulus * torch.sin(angle)
        gamma = torch.sqrt(1.0 - modulus ** 2)
        u_re = gamma * (x @ self.b_re.T)  # [T, B, H]
        u_im = gamma * (x @ self.b_im.T)
        h_re, h_im = h[:, :self.size], h[:, self.size:]
        states_re, states_im = [], []
        for t in range(x.shape[0]):
            if reset_mask is not None:
                keep = (~reset_mask[t]).to(h_re.dtype).unsqueeze(-1)
                h_re, h_im = h_re * keep, h_im * keep
            h_re, h_im = (lam_re * h_re - lam_im * h_im + u_re[t],
                          lam_re * h_im + lam_im * h_re + u_im[t])
            states_re.append(h_re)
            states_im.append(h_im)
        s_re, s_im = torch.stack(states_re), torch.stack(states_im)
        z = s_re @ self.c_re.T - s_im @ self.c_im.T + x @ self.d.T  # Re(C h) + D x
        y = nn.functional.glu(self.glu(z), dim=-1)
        return y, torch.cat([h_re, h_im], dim=-1), None

    def attractor_state(self, h: torch.Tensor) -> torch.Tensor:
        return h

    def neuron_rows(self, name: str, neurons: slice) -> torch.Tensor | slice | None:
        return None  # partial warm-up is not defined for the LRU: every parameter is shared


class GRUNetwork(nn.Module):
    """Stacked GRU / tanh RNN / LRU layers + per-step linear readout, with the SRNN's call
    signature."""

    def __init__(self, config: GRUConfig) -> None:
        super().__init__()
        self.config = config
        torch.manual_seed(config.seed)
        sizes = (config.input_size, *config.hidden)
        self.layers = nn.ModuleList(LRULayer(a, b) if config.cell == "lru" else GRULayer(a, b, config.cell)
                                    for a, b in zip(sizes[:-1], sizes[1:]))
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
