"""Data-parallel training on ``torch.distributed`` (DDP): gloo on CPU, nccl on GPU.

Streams are split by *lane*: of ``L`` global lanes, rank ``r`` of ``w`` trains lanes
``r, r+w, r+2w, ...`` (``global[r::w]``). Every rank runs the same number of chunks with the same
``T``, so the TBPTT windows, and therefore the gradient all-reduces, stay in lockstep.

Equivalence with one process: the adaptive loss is normalised by the *global* step counts (one
all_reduce of two integers per window) and multiplied by ``w``, because DDP averages gradients over
ranks. The averaged gradient is then exactly the gradient of the global-batch loss, for both
normalisations ("steps" and "masked") and even when ranks hold different numbers of lanes.

Checkpoints: the carried network state of all ranks is gathered into global lane order and rank 0
writes one file (atomic). That layout is the plain :class:`~spiking_nr.train.Trainer` layout, so a
checkpoint resumes on any number of ranks, including a plain single-process Trainer.

Run (see docs/distributed.md)::

    torchrun --nproc_per_node=2 -m spiking_nr.distributed --chunks 20 --checkpoint run/ckpt.pt
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from spiking_nr.checkpoint import save_checkpoint
from spiking_nr.io import write_json
from spiking_nr.losses import AdaptiveLossConfig, kl_to_uniform
from spiking_nr.network import SRNN, SRNNConfig
from spiking_nr.state import map_state, state_leaves
from spiking_nr.train import Chunk, ChunkSource, TrainConfig, Trainer, load_checkpoint, unwrap_model

S = TypeVar("S")
SourceFactory = Callable[[int, int], ChunkSource]  # (rank, world_size) -> ChunkSource


# ---- process group ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` of ``world_size``, its device and the backend in use."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None  # None: no process group (one process)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_context() -> DistContext:
    """The context of an already initialised process group (or the one-process context)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    backend = dist.get_backend()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device, backend)


def init_distributed(backend: str | None = None, timeout_s: float = 300.0) -> DistContext:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, ...).

    ``backend`` None picks nccl when CUDA is available, else gloo. Without torchrun's variables
    (a plain ``python`` run) no group is created and the one-process context is returned.
    """
    if dist.is_initialized():
        return current_context()
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return DistContext()
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' (CPU) or 'nccl' (GPU), got {backend!r}")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ValueError("backend 'nccl' needs CUDA, which is not available; use 'gloo'")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return current_context()


# ---- lanes -----------------------------------------------------------------------------------
def rank_lanes(n_lanes: int, rank: int, world_size: int) -> list[int]:
    """Global lanes of ``rank`` among ``world_size`` ranks: ``r, r+w, ...`` below ``n_lanes``."""
    _check_rank(rank, world_size)
    if n_lanes < world_size:
        raise ValueError(
            f"{n_lanes} lanes cannot be shared by {world_size} ranks: every rank needs at least "
            "one lane (use more lanes or fewer ranks)"
        )
    return list(range(rank, n_lanes, world_size))


def merge_lane_states(states: Sequence[S]) -> S:
    """Interleave per-rank states (leaves ``[B_r, ...]``) into global lane order ``[B, ...]``.

    ``states[r]`` holds lanes ``r, r+w, ...``; the result is what one process with all lanes holds.
    """
    world = len(states)
    if world == 0:
        raise ValueError("need the state of at least one rank")
    if any(s is None for s in states):
        if all(s is None for s in states):
            return None  # type: ignore[return-value]
        raise ValueError("some ranks carry a network state and others do not")
    per_rank = [state_leaves(s) for s in states]
    merged = []
    for leaves in zip(*per_rank):
        total = sum(leaf.shape[0] for leaf in leaves)
        out = leaves[0].new_empty((total, *leaves[0].shape[1:]))
        for r, leaf in enumerate(leaves):
            if leaf.shape[0] != len(range(r, total, world)):
                raise ValueError(
                    f"rank {r} holds {leaf.shape[0]} lanes; a {world}-rank split of {total} lanes "
                    f"gives it {len(range(r, total, world))}"
                )
            out[r::world] = leaf
        merged.append(out)
    it = iter(merged)
    return map_state(lambda _: next(it), states[0])


def split_lane_state(state: S, rank: int, world_size: int) -> S:
    """This rank's lanes (``global[r::w]``) of a global-lane-order state (None stays None)."""
    _check_rank(rank, world_size)
    return map_state(lambda t: t[rank::world_size].clone(), state)


def _check_rank(rank: int, world_size: int) -> None:
    if not (isinstance(world_size, int) and world_size >= 1 and 0 <= rank < world_size):
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")


# ---- loss normalised over the global batch ---------------------------------------------------
class LossTerms(NamedTuple):
    """Un-normalised pieces of the adaptive loss of one rank's lanes."""

    ce_sum: torch.Tensor  # sum of cross-entropy over informative steps
    kl_sum: torch.Tensor  # sum of KL-to-uniform over the other steps (unweighted)
    n_ce: torch.Tensor  # number of informative steps (int64)
    n_kl: torch.Tensor  # number of other steps (int64)


def adaptive_loss_terms(logits: torch.Tensor, target: torch.Tensor, informative: torch.Tensor,
                        kl_direction: str = "uniform_model") -> LossTerms:
    """Sums and counts of :func:`spiking_nr.losses.adaptive_loss` for ``logits [T, B, C]``."""
    if logits.dim() != 3 or tuple(target.shape) != tuple(logits.shape[:2]) or tuple(
            informative.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"expected logits [T, B, C] and target/informative [T, B], got {tuple(logits.shape)}, "
            f"{tuple(target.shape)}, {tuple(informative.shape)}"
        )
    log_p = F.log_softmax(logits, dim=-1)
    ce_steps = informative.bool() & (target >= 0)
    ce = -log_p.gather(-1, target.clamp(min=0).long().unsqueeze(-1)).squeeze(-1)
    kl = kl_to_uniform(log_p, kl_direction)
    return LossTerms((ce * ce_steps).sum(), (kl * ~ce_steps).sum(), ce_steps.sum(),
                     (~ce_steps).sum())


def global_adaptive_loss(terms: LossTerms, global_n_ce: torch.Tensor, global_n_kl: torch.Tensor,
                         config: AdaptiveLossConfig, world_size: int) -> torch.Tensor:
    """This rank's share of the global-batch loss, times ``world_size``.

    Summed over ranks and divided by ``world_size`` (what DDP does to gradients) this is the
    adaptive loss of the whole global batch.
    """
    if config.normalise == "steps":
        loss = (terms.ce_sum + config.kl_weight * terms.kl_sum) / (
            global_n_ce + global_n_kl).clamp(min=1)
    else:
        loss = terms.ce_sum / global_n_ce.clamp(min=1) + config.kl_weight * terms.kl_sum / (
            global_n_kl.clamp(min=1))
    return loss * world_size


def make_global_loss(config: AdaptiveLossConfig, ctx: DistContext
                     ) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """A Trainer ``loss_fn`` whose rank-averaged gradient equals the global-batch gradient."""

    def loss_fn(logits: torch.Tensor, target: torch.Tensor, informative: torch.Tensor):
        terms = adaptive_loss_terms(logits, target, informative, config.kl_direction)
        counts = torch.stack([terms.n_ce, terms.n_kl]).to(torch.int64)
        if ctx.world_size > 1:
            dist.all_reduce(counts)  # global step counts; integers, so exact on every backend
        return global_adaptive_loss(terms, counts[0], counts[1], config, ctx.world_size)

    return loss_fn


# ---- trainer ---------------------------------------------------------------------------------
class DistributedTrainer(Trainer):
    """:class:`Trainer` under DDP: this rank's lanes, global loss normalisation, reduced metrics.

    ``make_source(rank, world_size)`` returns this rank's chunk source (lanes ``rank::world_size``
    of the global stream). Works without a process group too (one process, plain semantics).
    Collective methods (``fit``, ``train_chunk``, ``save``, ``state_dict``) must be called on all
    ranks.

    >>> ctx = init_distributed()
    >>> trainer = DistributedTrainer(SRNN(cfg), lambda r, w: my_stream(lanes=range(r, 32, w)), tc)
    """

    def __init__(self, model: SRNN, make_source: SourceFactory, config: TrainConfig = TrainConfig(),
                 ctx: DistContext | None = None) -> None:
        if not isinstance(model, SRNN):
            raise TypeError(f"model must be an SRNN (it is wrapped in DDP here), got {type(model)}")
        if not callable(make_source):
            raise TypeError("make_source must be a callable (rank, world_size) -> chunk source")
        self.ctx = current_context() if ctx is None else ctx
        model = model.to(self.ctx.device)
        if self.ctx.world_size > 1:
            # DDP broadcasts rank 0's parameters here, so all replicas start identical.
            device_ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=device_ids)
        source = make_source(self.ctx.rank, self.ctx.world_size)
        super().__init__(model, source, config, self.ctx.device,  # type: ignore[arg-type]
                         loss_fn=make_global_loss(config.loss, self.ctx))

    @property
    def network(self) -> SRNN:
        """The bare SRNN (without the DDP wrapper)."""
        return unwrap_model(self.model)  # type: ignore[return-value]

    def train_chunk(self, chunk: Chunk) -> dict[str, float]:
        """One chunk on this rank's lanes; loss and accuracy are reduced over all ranks."""
        metrics = super().train_chunk(chunk)
        if self.ctx.world_size > 1:
            # The rank-local "loss" is world_size * this rank's share: sum / w = the global loss.
            values = torch.tensor([metrics["loss"], metrics["correct"], metrics["scored"]],
                                  dtype=torch.float64, device=self.ctx.device)
            dist.all_reduce(values)
            loss, correct, scored = values.tolist()
            metrics.update(loss=loss / self.ctx.world_size, correct=int(correct),
                           scored=int(scored))
            metrics["step_accuracy"] = correct / scored if scored else float("nan")
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint with the carried state of all ranks in global lane order (collective)."""
        data = super().state_dict()
        if self.ctx.world_size > 1:
            local = None if self.state is None else map_state(
                lambda t: t.detach().cpu(), self.state)
            gathered: list[Any] = [None] * self.ctx.world_size
            dist.all_gather_object(gathered, local)
            data["carried_state"] = merge_lane_states(gathered)
        data["world_size"] = self.ctx.world_size  # informative only: any world size can resume
        return data

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Restore a checkpoint written with any number of ranks; keep this rank's lanes."""
        super().load_state_dict(data)
        if self.state is not None:
            n_lanes = state_leaves(self.state)[0].shape[0]
            rank_lanes(n_lanes, self.ctx.rank, self.ctx.world_size)  # raises if too few lanes
            self.state = map_state(lambda t: t.to(self.ctx.device),
                                   split_lane_state(self.state, self.ctx.rank, self.ctx.world_size))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Collective: gather the state, rank 0 writes the file atomically, all ranks wait."""
        data = self.state_dict()
        if self.ctx.is_main:
            save_checkpoint(data, path)
        if self.ctx.world_size > 1:
            dist.barrier()  # nobody reads or overwrites the file before it is complete

    def load(self, path: str | os.PathLike[str]) -> None:
        """Every rank reads the same file (shared filesystem, or a copy on each node)."""
        self.load_state_dict(load_checkpoint(path))


def replica_divergence(model: torch.nn.Module) -> float:
    """Largest absolute difference of any parameter between this rank and the others (0 = in sync).

    Collective. Returns 0.0 in a one-process run.
    """
    ctx = current_context()
    flat = torch.cat([p.detach().reshape(-1) for p in unwrap_model(model).parameters()])
    if ctx.world_size == 1:
        return 0.0
    gathered = [torch.empty_like(flat) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, flat)
    return max(float((g - flat).abs().max()) for g in gathered)


# ---- a built-in per-lane cue stream (demo and tests) -----------------------------------------
class CueChunk(NamedTuple):
    inputs: np.ndarray  # [T, B, N] float32
    target: np.ndarray  # [T, B] int64, -1 = no class
    informative: np.ndarray  # [T, B] bool
    segment_start: np.ndarray  # [T, B] bool


def cue_stream_source(lanes: Sequence[int], steps: int = 50, n_inputs: int = 8,
                      n_classes: int = 3, segment: int = 10, seed: int = 0,
                      n_chunks: int = 10_000) -> ChunkSource:
    """Endless synthetic stream, lane by lane: a segment of class ``c`` lights input ``c``.

    Each global lane ``g`` has its own generator (seeded by ``(seed, g)``), so a lane's stream
    does not depend on how lanes are shared among ranks. Segments of ``segment`` steps have class
    ``-1`` (noise only) or ``0..n_classes-1``; inputs are uniform noise in [0, 0.2) plus 1 on the
    cue channel. Chunks are ``steps`` long. A stand-in for ``spiking_nr.streams`` in demos/tests.
    """
    lanes = [int(g) for g in lanes]
    if not lanes or min(lanes) < 0:
        raise ValueError(f"lanes must be a non-empty list of lane indices >= 0, got {lanes}")
    if n_inputs < n_classes:
        raise ValueError(f"n_inputs ({n_inputs}) must be >= n_classes ({n_classes}): one cue each")
    if steps % segment:
        raise ValueError(f"steps ({steps}) must be a multiple of segment ({segment})")

    def chunks() -> Iterator[CueChunk]:
        rngs = [np.random.default_rng([seed, g]) for g in lanes]
        for _ in range(n_chunks):
            cols = []
            for rng in rngs:
                labels = np.repeat(rng.integers(-1, n_classes, size=steps // segment), segment)
                x = rng.random((steps, n_inputs), dtype=np.float32) * 0.2
                cue = labels >= 0
                x[np.nonzero(cue)[0], labels[cue]] += 1.0
                cols.append((x, labels))
            target = np.stack([c[1] for c in cols], axis=1)
            start = np.zeros(target.shape, bool)
            start[::segment] = True
            yield CueChunk(np.stack([c[0] for c in cols], axis=1), target, target >= 0, start)

    return chunks


# ---- command line ----------------------------------------------------------------------------
def _load_factory(spec: str) -> SourceFactory:
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"--source must look like 'package.module:function', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attr)
    if not callable(factory):
        raise TypeError(f"{spec} is not callable; expected make_source(rank, world_size)")
    return factory


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m spiking_nr.distributed",
        description="Data-parallel SRNN training (run it under torchrun).")
    p.add_argument("--chunks", type=int, default=20, help="chunks to train (all ranks)")
    p.add_argument("--lanes", type=int, default=8, help="global number of stream lanes (batch)")
    p.add_argument("--steps", type=int, default=50, help="steps per chunk (built-in stream)")
    p.add_argument("--inputs", type=int, default=8, help="input channels (built-in stream)")
    p.add_argument("--classes", type=int, default=3, help="classes (built-in stream)")
    p.add_argument("--hidden", type=int, nargs="+", default=[32], help="hidden layer sizes")
    p.add_argument("--neuron", choices=["alif", "lif"], default="alif")
    p.add_argument("--tbptt", type=int, default=25, help="TBPTT window in steps (0 = full chunk)")
    p.add_argument("--reset-policy", choices=["never", "segment", "sample"], default="never")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0, help="model init and stream seed")
    p.add_argument("--source", help="'module:function' = make_source(rank, world_size) -> source; "
                   "its chunks must match --inputs/--classes (default: built-in cue stream)")
    p.add_argument("--backend", choices=["gloo", "nccl"], help="default: nccl with CUDA, else gloo")
    p.add_argument("--resume", help="checkpoint to resume from (written with any number of ranks)")
    p.add_argument("--checkpoint", help="write the checkpoint here (rank 0) at the end")
    p.add_argument("--save-every", type=int, default=0, help="also save every N chunks")
    p.add_argument("--metrics", help="write per-chunk reduced metrics + replica check as JSON")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per rank")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m spiking_nr.distributed`` (under torchrun or alone)."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    ctx = init_distributed(args.backend)
    try:
        if args.source:
            make_source = _load_factory(args.source)
        else:
            def make_source(rank: int, world: int) -> ChunkSource:
                return cue_stream_source(rank_lanes(args.lanes, rank, world), args.steps,
                                         args.inputs, args.classes, seed=args.seed)
        model = SRNN(SRNNConfig.simple(args.inputs, tuple(args.hidden), args.classes,
                                       neuron=args.neuron, seed=args.seed))
        config = TrainConfig(tbptt_window=args.tbptt or None, reset_policy=args.reset_policy,
                             lr=args.lr, seed=args.seed)
        trainer = DistributedTrainer(model, make_source, config, ctx)
        if args.resume:
            trainer.load(args.resume)
        history = []
        for i in range(args.chunks):
            metrics = trainer.train_chunk(trainer._next_chunk())
            history.append(metrics)
            if ctx.is_main:
                print(f"chunk {metrics['position']:5d}  loss {metrics['loss']:.4f}  "
                      f"step_acc {metrics['step_accuracy']:.3f}", flush=True)
            if args.checkpoint and args.save_every and (i + 1) % args.save_every == 0:
                trainer.save(args.checkpoint)
        divergence = replica_divergence(trainer.model)
        if args.checkpoint:
            trainer.save(args.checkpoint)
        if ctx.is_main:
            print(f"world_size {ctx.world_size}  backend {ctx.backend}  "
                  f"replica divergence {divergence:.3g}", flush=True)
            if args.metrics:
                write_json(args.metrics, {"world_size": ctx.world_size, "backend": ctx.backend,
                                          "replica_divergence": divergence, "history": history})
        return 0 if math.isfinite(divergence) and divergence == 0.0 else 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
