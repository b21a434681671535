"""What the continual-stream experiments (E1 image stream, E2 keyword stream) share.

A :class:`StreamTask` names the data (train and held-out streams, masks, chunk sizes); a
:class:`Variant` names one row of the comparison (mask, reset policy, KL weight, neuron model).
:func:`train_variant` trains one row; :func:`evaluate_variant` runs it on one unbroken held-out
stream (reset only when the row says so) and reports accuracy overall, by position in the stream and
on streams cut after 1, 10, 100 and 1000 segments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.baselines import GRUConfig, GRUNetwork
from spiking_nr.losses import AdaptiveLossConfig
from spiking_nr.metrics import (
    accuracy_by_position,
    accuracy_on_stream_lengths,
    position_bins,
    segment_scores,
    stream_report,
)
from spiking_nr.streams import ContinualStream, StreamChunk, isolated_batch
from spiking_nr.train import TrainConfig, Trainer

STREAM_LENGTHS = (1, 10, 100, 1000)


@dataclass(frozen=True)
class StreamTask:
    """A continual-stream task: streams, how masks are applied, and training chunk sizes (steps)."""

    name: str
    data_note: str
    n_inputs: int
    n_classes: int
    train_stream: ContinualStream
    test_stream: ContinualStream
    with_mask: Callable[[Iterator[StreamChunk], str], Iterator[StreamChunk]]
    chunk_len: int  # training chunk, steps
    tbptt_window: int  # steps
    sample_len: int  # steps of one isolated sample (row (f))
    decision_steps: int | None = 10  # a segment's class from its last steps (None: all its steps)


@dataclass(frozen=True)
class Variant:
    name: str
    mask: str = "temporal_intensity"
    reset_policy: str = "never"
    kl_weight: float = 1.0
    neuron: str = "alif"


def isolated_samples_source(task: StreamTask, batch: int, seed: int = 0):
    """Classic training data: every chunk is a batch of single target samples from rest, informative
    where the task's energy mask says so (the ``sample`` reset policy)."""

    def source():
        rng = np.random.default_rng(seed)
        targets = task.train_stream.targets
        while True:
            chunk = isolated_batch(targets, rng.integers(len(targets), size=batch))
            yield next(task.with_mask(iter([chunk]), "energy"))
    return source


def build_model(task: StreamTask, variant: Variant, hidden: int, seed: int) -> torch.nn.Module:
    """An SRNN of ``variant.neuron`` (alif, lif) neurons, or the non-spiking GRU baseline (gru)."""
    if variant.neuron == "gru":
        return GRUNetwork(GRUConfig(task.n_inputs, (hidden,), task.n_classes, seed=seed))
    return SRNN(SRNNConfig.simple(task.n_inputs, (hidden,), task.n_classes, neuron=variant.neuron,
                                  seed=seed))


def train_variant(task: StreamTask, variant: Variant, chunks: int, hidden: int, seed: int,
                  batch: int = 32, lr: float = 5e-3, model: torch.nn.Module | None = None,
                  device: str | torch.device = "cpu") -> torch.nn.Module:
    """Train one row for ``chunks`` stream chunks of ``task.chunk_len`` steps (same number of steps
    for isolated-sample training), from ``model`` if given (e.g. warmed up), else a fresh one;
    the model ends on ``device``."""
    model = build_model(task, variant, hidden, seed) if model is None else model
    if variant.reset_policy == "sample":
        source = isolated_samples_source(task, batch, seed)
        n_chunks = chunks * task.chunk_len // task.sample_len
    else:
        def source():
            return task.with_mask(task.train_stream.chunks(batch, task.chunk_len), variant.mask)
        n_chunks = chunks
    config = TrainConfig(tbptt_window=task.tbptt_window, reset_policy=variant.reset_policy, lr=lr,
                         lr_tau=2e-2, seed=seed, loss=AdaptiveLossConfig(kl_weight=variant.kl_weight))
    Trainer(model, source, config, device=device).fit(n_chunks)
    return model


@torch.no_grad()
def evaluate(model: torch.nn.Module, chunk: StreamChunk, reset: bool) -> np.ndarray:
    """Outputs ``[T, B, C]`` on one unbroken chunk; ``reset`` zeroes state at every segment start."""
    device = next(model.parameters()).device
    mask = torch.from_numpy(chunk.segment_start).to(device) if reset else None
    return model(torch.from_numpy(chunk.inputs).to(device), reset_mask=mask).output.cpu().numpy()


def evaluate_variant(model: torch.nn.Module, variant: Variant, task: StreamTask,
                     chunk: StreamChunk) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """Report of one row on the held-out ``chunk`` and its accuracy-by-position curve."""
    outputs = evaluate(model, chunk, reset=variant.reset_policy == "segment")
    report = stream_report(outputs, chunk.target, chunk.segment_id, chunk.is_target, task.n_classes,
                           last_k=task.decision_steps)
    scores = segment_scores(outputs, chunk.segment_id, chunk.target, chunk.is_target, task.decision_steps)
    bins = position_bins(int(scores.position.max()) + 1)
    by_position = accuracy_by_position(scores, bins)
    report["accuracy_by_position"] = {f"segments {lo + 1}-{hi}": float(acc)
                                      for lo, hi, acc in zip(bins[:-1], bins[1:], by_position)}
    lengths = [n for n in STREAM_LENGTHS if n <= scores.position.max() + 1]
    report["accuracy_on_stream_of_n_segments"] = {
        str(n): float(acc) for n, acc in zip(lengths, accuracy_on_stream_lengths(scores, lengths))}
    return report, (bins[1:].astype(float), by_position)
