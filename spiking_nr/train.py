"""Training on continual streams: full or truncated BPTT, reset policies, checkpoints.

A *source* is a zero-argument callable returning a fresh iterator of chunks from the start of the
stream; each chunk has ``inputs [T, B, N]``, ``target [T, B]`` (-1 = no class), ``informative
[T, B]`` (the mask the loss uses) and ``segment_start [T, B]`` (numpy arrays or tensors). The
trainer remembers how many chunks it consumed, so a resumed run regenerates the stream
deterministically and skips to where it stopped.

Reset policies:

* ``never``   — reset-free: state carried across chunks and segments, never reset;
* ``segment`` — state zeroed at every segment start (the reset-based baseline, oracle-synchronised);
* ``sample``  — every chunk is a batch of isolated samples, each starting from rest.

Truncated BPTT with window ``k``: one optimiser step per ``k`` steps, the state carried forward
and its graph detached at window boundaries, so memory is O(k), not O(stream length).
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from spiking_nr.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    python_rng_state,
    save_checkpoint,
    set_python_rng_state,
)
from spiking_nr.losses import AdaptiveLossConfig, adaptive_loss
from spiking_nr.network import SRNN, SRNNConfig, SRNNState
from spiking_nr.regularisation import ActivityConfig, ActivityRegulariser
from spiking_nr.state import detach_state

RESET_POLICIES = ("never", "segment", "sample")
__all__ = ["CHECKPOINT_FORMAT", "TrainConfig", "Trainer", "load_checkpoint", "model_from_checkpoint",
           "save_model"]


class Chunk(Protocol):
    inputs: Any
    target: Any
    informative: Any
    segment_start: Any


ChunkSource = Callable[[], Iterable[Chunk]]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Learning rates per group: time constants usually want a larger one."""

    tbptt_window: int | None = None  # steps per optimiser step; None = the whole chunk (full BPTT)
    reset_policy: str = "never"
    lr: float = 5e-3
    lr_tau: float = 2e-2
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    seed: int = 0
    loss: AdaptiveLossConfig = field(default_factory=AdaptiveLossConfig)
    # firing-rate bounds/target and dropout across time (spiking_nr.regularisation)
    activity: ActivityConfig = field(default_factory=ActivityConfig)

    def __post_init__(self) -> None:
        if self.reset_policy not in RESET_POLICIES:
            raise ValueError(
                f"reset_policy must be one of {RESET_POLICIES}, got {self.reset_policy!r}"
            )
        if self.tbptt_window is not None and (
            not isinstance(self.tbptt_window, int) or self.tbptt_window <= 0
        ):
            raise ValueError(f"tbptt_window must be a positive int or None, got {self.tbptt_window!r}")
        for name in ("lr", "lr_tau"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        if isinstance(self.loss, dict):
            object.__setattr__(self, "loss", AdaptiveLossConfig(**self.loss))
        if isinstance(self.activity, dict):
            object.__setattr__(self, "activity", ActivityConfig(**self.activity))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed python's and torch's global generators (models and streams use their own generators)."""
    random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam with two groups: time constants (``log_tau``) at ``lr_tau``, everything else at ``lr``."""
    tau, other = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (tau if name.endswith("log_tau") else other).append(param)
    groups = [{"params": other, "lr": config.lr, "name": "weights"}]
    if tau:
        groups.append({"params": tau, "lr": config.lr_tau, "name": "time_constants"})
    return torch.optim.Adam(groups, weight_decay=config.weight_decay)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The bare module under a ``DistributedDataParallel`` wrapper (the model itself otherwise)."""
    # DDP keeps the real network in ``.module``: its config and un-prefixed state_dict live there.
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def _as_tensor(value: Any, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
    return tensor.to(device=device, dtype=dtype) if dtype is not None else tensor.to(device)


class Trainer:
    """Trains an :class:`SRNN` on a chunk source with the adaptive loss.

    >>> trainer = Trainer(model, source, TrainConfig(tbptt_window=50))
    >>> history = trainer.fit(n_chunks=200)
    """

    def __init__(self, model: SRNN, source: ChunkSource, config: TrainConfig = TrainConfig(),
                 device: str | torch.device = "cpu",
                 loss_fn: Callable[..., torch.Tensor] | None = None) -> None:
        if not callable(source):
            raise TypeError("source must be a zero-argument callable returning an iterator of chunks")
        self.model = model.to(device)
        self.source = source
        self.config = config
        self.device = torch.device(device)
        self.loss_fn = loss_fn or (lambda out, chunk_target, mask: adaptive_loss(
            out, chunk_target, mask, self.config.loss))
        self.optimizer = make_optimizer(self.model, config)
        self.position = 0  # chunks consumed
        self.optimizer_steps = 0
        self.state: SRNNState | None = None  # carried network state (reset-free training)
        self._iterator: Iterator[Chunk] | None = None
        self.activity = (ActivityRegulariser(unwrap_model(self.model), config.activity)
                         if config.activity.active else None)
        seed_everything(config.seed)

    def _next_chunk(self) -> Chunk:
        if self._iterator is None:
            self._iterator = itertools.islice(iter(self.source()), self.position, None)
        try:
            return next(self._iterator)
        except StopIteration:
            raise RuntimeError(
                f"the chunk source ran out after {self.position} chunks; make it longer or "
                "train for fewer chunks"
            ) from None

    def train_chunk(self, chunk: Chunk) -> dict[str, float]:
        """One chunk: forward/backward per TBPTT window, one optimiser step per window."""
        self.model.train()
        x = _as_tensor(chunk.inputs, self.device, torch.float32)
        target = _as_tensor(chunk.target, self.device, torch.long)
        mask = _as_tensor(chunk.informative, self.device, torch.bool)
        policy = self.config.reset_policy
        reset = _as_tensor(chunk.segment_start, self.device, torch.bool) if policy == "segment" else None
        state = None if policy == "sample" else self.state
        window = self.config.tbptt_window or x.shape[0]
        total_loss, correct, counted = 0.0, 0, 0
        if self.activity is not None:
            self.activity.new_chunk()  # one dropout mask per chunk, fixed across its steps
        for t0 in range(0, x.shape[0], window):
            sl = slice(t0, t0 + window)
            out = self.model(x[sl], state, None if reset is None else reset[sl])
            loss = self.loss_fn(out.output, target[sl], mask[sl])
            if self.activity is not None:
                loss = loss + self.activity.penalty()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.optimizer_steps += 1
            state = detach_state(out.state)
            total_loss += float(loss.detach()) * (min(t0 + window, x.shape[0]) - t0)
            with torch.no_grad():
                scored = mask[sl] & (target[sl] >= 0)
                correct += int(((out.output.argmax(-1) == target[sl]) & scored).sum())
                counted += int(scored.sum())
        self.state = None if policy == "sample" else state
        self.position += 1
        extra = {} if self.activity is None else {"rate": self.activity.last_rate}
        return {"loss": total_loss / x.shape[0], **extra,
                "step_accuracy": correct / counted if counted else float("nan"),
                "position": self.position,
                "correct": correct, "scored": counted}  # raw counts: ranks sum them

    def fit(self, n_chunks: int, progress: bool = True,
            callback: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Train on the next ``n_chunks`` chunks; returns per-chunk metrics."""
        from tqdm.auto import tqdm

        history = []
        bar = tqdm(range(n_chunks), desc="train", disable=None if progress else True, leave=False,
                   mininterval=1.0)
        for _ in bar:
            metrics = self.train_chunk(self._next_chunk())
            history.append(metrics)
            bar.set_postfix(loss=f"{metrics['loss']:.3f}", acc=f"{metrics['step_accuracy']:.2f}")
            if callback is not None:
                callback(metrics)
        return history

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "model_config": unwrap_model(self.model).config.to_dict(),
            "train_config": self.config.to_dict(),
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "position": self.position,
            "optimizer_steps": self.optimizer_steps,
            "carried_state": self.state,
            "rng": {"torch": torch.get_rng_state(), **python_rng_state()},
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        unwrap_model(self.model).load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.position = int(data["position"])
        self.optimizer_steps = int(data["optimizer_steps"])
        self.state = data["carried_state"]
        torch.set_rng_state(data["rng"]["torch"])
        set_python_rng_state(data["rng"])
        self._iterator = None  # regenerate the stream and skip what was consumed

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a checkpoint atomically (the old file survives a crash mid-write)."""
        save_checkpoint(self.state_dict(), path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a checkpoint; one-line ``ValueError`` if it does not fit this trainer."""
        data = load_checkpoint(path)
        try:
            self.load_state_dict(data)
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{path} does not fit this model and optimiser: "
                             f"{str(exc).strip().splitlines()[0][:300]}") from None


def save_model(model: SRNN, path: str | os.PathLike[str]) -> None:
    """Write just a model (config + weights) in the checkpoint format, atomically."""
    save_checkpoint({"model_config": model.config.to_dict(), "model": model.state_dict()}, path)


def model_from_checkpoint(path: str | os.PathLike[str]) -> torch.nn.Module:
    """Rebuild the trained model (an :class:`SRNN`, or the GRU baseline) stored in a checkpoint."""
    data = load_checkpoint(path)
    try:
        if data["model_config"].get("kind") == "gru":
            from spiking_nr.baselines import GRUConfig, GRUNetwork

            model: torch.nn.Module = GRUNetwork(GRUConfig.from_dict(data["model_config"]))
        else:
            model = SRNN(SRNNConfig.from_dict(data["model_config"]))
        model.load_state_dict(data["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the stored model does not rebuild: "
                         f"{str(exc).strip().splitlines()[0][:300]}") from None
    return model
