"""The continual-stream protocol of the experiments (E1, E2, the demo) as an API.

A :class:`StreamTask` names the data: training, validation and held-out test streams, the mask
settings for that data (a :data:`spiking_nr.masks.MASK_PRESETS` name), chunk sizes. A
:class:`Variant` names one row of a comparison: the mask, the loss mode, the training reset policy,
whether it is reset at segment starts when evaluated, the KL weight and the neuron model.

* :func:`train_variant` trains one row (reset-free on the stream, reset-based, or on isolated
  samples through :func:`isolated_samples_source`);
* :func:`evaluate_variant` runs it on one unbroken stream (reset only when the row says so) and
  reports accuracy overall, by position in the stream and on streams of the first 1, 10, 100 and
  1000 target segments, distractor and gap rejection apart (:func:`spiking_nr.metrics.stream_report`);
* :func:`run_protocol` does both for several rows and seeds (a row's model is trained once per seed
  and shared by rows that differ only in how they are evaluated), scores every seed on the
  validation stream (for choices) and on the held-out test stream, and summarises each metric as
  mean and standard error over seeds; :func:`paired_difference` compares two rows seed by seed.

On one's own arrays (``x [N, T, C]``, ``y [N]``)::

    task = task_from_arrays(x_train, y_train, x_test, y_test, distractor_classes=[3])
    result = run_protocol(task, standard_variants(), chunks=200, hidden=128, seeds=(0, 1, 2))
    print(markdown_table(result))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spiking_nr.baselines import GRUConfig, GRUNetwork
from spiking_nr.data.base import LabelledSequences
from spiking_nr.losses import AdaptiveLossConfig
from spiking_nr.masks import with_mask
from spiking_nr.metrics import (
    accuracy_by_position,
    accuracy_on_stream_lengths,
    position_bins,
    segment_scores,
    stream_report,
)
from spiking_nr.network import SRNN, SRNNConfig
from spiking_nr.streams import (
    ContinualStream,
    StreamChunk,
    StreamConfig,
    collect,
    isolated_batch,
    split_classes,
)
from spiking_nr.train import TrainConfig, Trainer

STREAM_LENGTHS = (1, 10, 100, 1000)  # target segments per lane
NEURONS = ("alif", "lif", "gru", "rnn", "lru")  # spiking (SRNN) or non-spiking baselines


@dataclass(frozen=True)
class StreamTask:
    """A continual-stream task: streams, mask settings and training chunk sizes (steps).

    ``mask_preset``: the input-driven masks' settings for this data (a ``MASK_PRESETS`` name or a
    mapping ``{mask: params}``); ``mask_view``: what those masks see of the inputs (None: the
    inputs). ``sample_len``: steps of one isolated sample (rows trained on isolated samples get
    ``chunk_len / sample_len`` times as many chunks, so the same number of steps).
    ``decision_steps``: a segment's class from its last steps (None: all of them).
    ``validation_stream``: for choices (models, hyper-parameters); the test stream is for the
    final numbers only.
    """

    name: str
    data_note: str
    n_inputs: int
    n_classes: int
    train_stream: ContinualStream
    test_stream: ContinualStream
    chunk_len: int
    tbptt_window: int
    sample_len: int
    decision_steps: int | None = 10
    mask_preset: str | Mapping[str, Mapping[str, float]] = "default"
    mask_view: Callable[[np.ndarray], np.ndarray] | None = None
    validation_stream: ContinualStream | None = None

    def with_mask(self, chunks: Iterator[StreamChunk], mask: str) -> Iterator[StreamChunk]:
        """``chunks`` with ``informative`` from the streaming mask ``mask`` (task settings)."""
        return with_mask(chunks, mask, self.mask_preset, self.mask_view)


@dataclass(frozen=True)
class Variant:
    """One row. ``reset_policy`` is the training policy (``never``, ``segment``, ``sample``);
    ``eval_reset``: reset at every segment start when evaluated (None: iff trained with
    ``segment``). ``loss_mode``: ``labels`` or ``mask`` (label-free, see
    :mod:`spiking_nr.losses`). ``neuron``: ``alif``, ``lif``, or a non-spiking baseline ``gru``,
    ``rnn`` (tanh), ``lru`` (:mod:`spiking_nr.baselines`).
    ``key``: a short name for tables and paired differences (default: the name)."""

    name: str
    mask: str = "temporal_intensity"
    reset_policy: str = "never"
    kl_weight: float = 1.0
    neuron: str = "alif"
    eval_reset: bool | None = None
    loss_mode: str = "labels"
    key: str = ""

    def __post_init__(self) -> None:
        if self.neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {NEURONS}, got {self.neuron!r}")
        if not self.key:
            object.__setattr__(self, "key", self.name)

    @property
    def resets_in_evaluation(self) -> bool:
        return self.reset_policy == "segment" if self.eval_reset is None else bool(self.eval_reset)

    @property
    def training(self) -> tuple:
        """What defines the trained model: rows equal here share one model per seed."""
        return (self.mask, self.reset_policy, self.kl_weight, self.neuron, self.loss_mode)


def standard_variants(gru: bool = True, lif: bool = True) -> list[Variant]:
    """The rows of E1: reset-free with each mask, without KL, label-free, and the baselines."""
    rows = [
        Variant("(a) reset-free, adaptive loss, temporal-intensity mask", key="a"),
        Variant("(b) reset-free, adaptive loss, energy mask", mask="energy", key="b"),
        Variant("(c) reset-free, adaptive loss, oracle mask", mask="oracle", key="c"),
        Variant("(d) reset-free, cross-entropy on target steps only", mask="oracle",
                kl_weight=0.0, key="d"),
        Variant("(a') as (a), label-free loss (the mask alone decides CE vs KL)",
                loss_mode="mask", key="a_free"),
        Variant("(b') as (b), label-free loss", mask="energy", loss_mode="mask", key="b_free"),
        Variant("(e) reset at every segment start (oracle-synchronised)", reset_policy="segment",
                key="e"),
        Variant("(f) trained on isolated samples, run without reset", reset_policy="sample",
                key="f"),
        Variant("(f_reset) trained on isolated samples, reset at segment starts",
                reset_policy="sample", eval_reset=True, key="f_reset"),
    ]
    if lif:
        rows.append(Variant("(g) as (a), LIF instead of ALIF", neuron="lif", key="g"))
    if gru:
        rows.append(Variant("(h) as (a), non-spiking GRU (context)", neuron="gru", key="h"))
    return rows


# ---- tasks ---------------------------------------------------------------------------------------
def split_validation(dataset: LabelledSequences, fraction: float, seed: int
                     ) -> tuple[LabelledSequences, LabelledSequences]:
    """(rest, validation): a random ``fraction`` of ``dataset`` held out (at least one sample)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng([seed, 7]).permutation(len(dataset))
    n_val = max(1, int(round(fraction * len(dataset))))
    if n_val >= len(dataset):
        raise ValueError(f"{dataset.name or 'dataset'} has {len(dataset)} samples: too few to hold "
                         f"out a validation fraction of {fraction}")
    return dataset.subset(np.sort(order[n_val:])), dataset.subset(np.sort(order[:n_val]))


def _validation_streams(train: ContinualStream, fraction: float, seed: int
                        ) -> tuple[ContinualStream, ContinualStream]:
    """The training stream's samples split into (training stream, validation stream)."""
    t_rest, t_val = split_validation(train.targets, fraction, seed)
    if train.distractors is None:
        d_rest = d_val = None
    else:
        d_rest, d_val = split_validation(train.distractors, fraction, seed)
    return (ContinualStream(t_rest, d_rest, train.config),
            ContinualStream(t_val, d_val, replace(train.config, seed=train.config.seed + 500)))


def image_task(seed: int = 0, fashion_root: str | Path | None = None,
               validation_fraction: float | None = None) -> StreamTask:
    """E1's image stream (28 spike channels per row, 28 rows per image): the SUBSTITUTE MNIST 0-4
    vs 5-9 stream, or with ``fashion_root`` the paper's Fashion-MNIST vs MNIST stream from IDX
    files. ``validation_fraction``: hold out that fraction of the training images as a
    validation stream (the training stream then has the rest)."""
    from spiking_nr.data.image_stream import (
        DATA_NOTE,
        FASHION_NOTE,
        MASK_PRESET,
        N_CLASSES,
        fashion_streams,
        image_streams,
    )

    if fashion_root is None:
        (train, test), note, n_classes = image_streams(seed), DATA_NOTE, N_CLASSES
    else:
        (train, test), note, n_classes = fashion_streams(fashion_root, seed), FASHION_NOTE, 10
    validation = None
    if validation_fraction is not None:
        train, validation = _validation_streams(train, validation_fraction, seed)
    return StreamTask("image stream", note, 28, n_classes, train, test, chunk_len=280,
                      tbptt_window=56, sample_len=28, mask_preset=MASK_PRESET,
                      validation_stream=validation)


def keyword_task(root: str | Path, seed: int = 0, clips_per_word: int = 150,
                 synthetic: bool = True, validation_fraction: float | None = None) -> StreamTask:
    """E2's keyword stream (40 log-mel bands per 10 ms frame, 98-frame clips); SYNTHETIC espeak-ng
    clips unless ``synthetic=False`` (a real Speech Commands folder at ``root``)."""
    from spiking_nr.data.keyword_stream import (
        MASK_PRESET,
        N_CLASSES,
        N_FEATURES,
        SYNTHETIC_NOTE,
        keyword_streams,
    )

    streams = keyword_streams(root, seed, clips_per_word, synthetic=synthetic)
    note = SYNTHETIC_NOTE if synthetic else f"Speech Commands recordings from {root}"
    train, validation = streams.train, None
    if validation_fraction is not None:
        train, validation = _validation_streams(train, validation_fraction, seed)
    clip = 98
    return StreamTask("keyword stream", note, N_FEATURES, N_CLASSES, train, streams.test,
                      chunk_len=3 * clip, tbptt_window=clip, sample_len=clip, decision_steps=None,
                      mask_preset=MASK_PRESET, mask_view=streams.scale.intensity,
                      validation_stream=validation)


def task_from_arrays(x_train: Any, y_train: Any, x_test: Any, y_test: Any,
                     distractor_classes: Sequence[int] = (), name: str = "arrays",
                     data_note: str = "user arrays", stream: StreamConfig | None = None,
                     validation_fraction: float | None = 0.1, seed: int = 0,
                     chunk_len: int | None = None, tbptt_window: int | None = None,
                     decision_steps: int | None = 10,
                     mask_preset: str | Mapping[str, Mapping[str, float]] = "default"
                     ) -> StreamTask:
    """A task from arrays ``x [N, T, C]`` (float, time-major per sample) and labels ``y [N]``.

    Classes in ``distractor_classes`` become distractors (no class); the others are the targets,
    relabelled ``0..K-1`` in increasing order. ``stream``: how the stream is drawn (gaps, distractor
    share; its seed is replaced per split). Training chunks default to 10 samples, TBPTT windows to
    2 samples.
    """
    parts = []
    for which, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = np.asarray(x, np.float32), np.asarray(y)
        if x.ndim != 3 or x.shape[1] == 0 or x.shape[2] == 0:
            raise ValueError(f"x_{which} must be [N, T, C] with T, C > 0, got shape {x.shape}")
        if y.shape != (len(x),):
            raise ValueError(f"y_{which} must be [N] = ({len(x)},) labels, got shape {y.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"x_{which} contains NaN/inf values")
        parts.append(LabelledSequences(x, y, None, f"{name} {which}"))
    distractors = sorted(int(c) for c in distractor_classes)
    targets = sorted(set(np.unique(parts[0].labels).tolist()) - set(distractors))
    missing = sorted(set(distractors) - set(np.unique(parts[0].labels).tolist()))
    if missing:
        raise ValueError(f"distractor classes {missing} do not occur in y_train")
    if not targets:
        raise ValueError("no target classes left: every class of y_train is a distractor")
    config = stream or StreamConfig()
    streams = []
    for k, dataset in enumerate(parts):
        if distractors:
            t, d = split_classes(dataset, targets, distractors)
        else:
            t, d = dataset.select_classes(targets), None
        streams.append(ContinualStream(t, d, replace(config, seed=seed + 1000 * k)))
    train, validation = streams[0], None
    if validation_fraction is not None:
        train, validation = _validation_streams(train, validation_fraction, seed)
    sample_len = int(np.asarray(x_train).shape[1])
    return StreamTask(name, data_note, int(np.asarray(x_train).shape[2]), len(targets), train,
                      streams[1], chunk_len=chunk_len or 10 * sample_len,
                      tbptt_window=tbptt_window or 2 * sample_len, sample_len=sample_len,
                      decision_steps=decision_steps, mask_preset=mask_preset,
                      validation_stream=validation)


# ---- training ------------------------------------------------------------------------------------
def isolated_samples_source(task: StreamTask, batch: int, seed: int = 0
                            ) -> Callable[[], Iterator[StreamChunk]]:
    """Classic training data: every chunk is a batch of single target samples from rest,
    informative where the task's energy mask says so (the ``sample`` reset policy)."""

    def source() -> Iterator[StreamChunk]:
        rng = np.random.default_rng(seed)
        targets = task.train_stream.targets
        while True:
            chunk = isolated_batch(targets, rng.integers(len(targets), size=batch))
            yield next(task.with_mask(iter([chunk]), "energy"))
    return source


def build_model(task: StreamTask, variant: Variant, hidden: int, seed: int) -> torch.nn.Module:
    """An SRNN of ``variant.neuron`` (alif, lif) neurons, or a non-spiking baseline: gru, rnn
    (vanilla tanh) or lru (diagonal linear state space with a GLU output)."""
    if variant.neuron in ("gru", "rnn", "lru"):
        return GRUNetwork(GRUConfig(task.n_inputs, (hidden,), task.n_classes, seed=seed,
                                    cell=variant.neuron))
    return SRNN(SRNNConfig.simple(task.n_inputs, (hidden,), task.n_classes, neuron=variant.neuron,
                                  seed=seed))


def train_config_for(task: StreamTask, variant: Variant, seed: int, lr: float = 5e-3,
                     **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a row (``overrides``: other TrainConfig fields)."""
    loss = AdaptiveLossConfig(kl_weight=variant.kl_weight, mode=variant.loss_mode)
    return TrainConfig(tbptt_window=task.tbptt_window, reset_policy=variant.reset_policy, lr=lr,
                       lr_tau=2e-2, seed=seed, loss=loss, **overrides)


def train_variant(task: StreamTask, variant: Variant, chunks: int, hidden: int, seed: int,
                  batch: int = 32, lr: float = 5e-3, model: torch.nn.Module | None = None,
                  device: str | torch.device = "cpu", **overrides: Any) -> torch.nn.Module:
    """Train one row for ``chunks`` stream chunks of ``task.chunk_len`` steps (the same number of
    steps for isolated-sample training), from ``model`` if given (e.g. warmed up), else a fresh
    one; the model ends on ``device``. ``overrides``: other :class:`TrainConfig` fields."""
    model = build_model(task, variant, hidden, seed) if model is None else model
    if variant.reset_policy == "sample":
        source = isolated_samples_source(task, batch, seed)
        n_chunks = chunks * task.chunk_len // task.sample_len
    else:
        def source() -> Iterator[StreamChunk]:
            return task.with_mask(task.train_stream.chunks(batch, task.chunk_len), variant.mask)
        n_chunks = chunks
    Trainer(model, source, train_config_for(task, variant, seed, lr, **overrides), device=device).fit(
        n_chunks, progress=False)
    return model


# ---- evaluation ----------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: torch.nn.Module, chunk: StreamChunk, reset: bool) -> np.ndarray:
    """Outputs ``[T, B, C]`` on one unbroken chunk; ``reset`` zeroes state at every segment start."""
    device = next(model.parameters()).device
    mask = torch.from_numpy(chunk.segment_start).to(device) if reset else None
    return model(torch.from_numpy(chunk.inputs).to(device), reset_mask=mask).output.cpu().numpy()


def stream_curves(outputs: np.ndarray, chunk: StreamChunk, decision_steps: int | None
                  ) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """Accuracy by position (segments = samples) and on streams of the first n target segments;
    returns (report entries, (bin upper edges, accuracy per bin) for plots)."""
    scores = segment_scores(outputs, chunk.segment_id, chunk.target, chunk.is_target,
                            decision_steps, is_gap=chunk.is_gap)
    bins = position_bins(int(scores.position.max()) + 1)
    by_position = accuracy_by_position(scores, bins)
    lengths = [n for n in STREAM_LENGTHS if n <= scores.target_position.max() + 1]
    report = {
        "accuracy_by_position": {f"segments {lo + 1}-{hi}": float(acc)
                                 for lo, hi, acc in zip(bins[:-1], bins[1:], by_position)},
        "accuracy_on_stream_of_n_segments": {
            str(n): float(acc) for n, acc in zip(lengths, accuracy_on_stream_lengths(scores,
                                                                                     lengths))},
        "segments_per_lane": int(scores.position.max()) + 1,
        "target_segments_per_lane": int(scores.target_position.max()) + 1,
    }
    return report, (bins[1:].astype(float), by_position)


def evaluate_variant(model: torch.nn.Module, variant: Variant, task: StreamTask,
                     chunk: StreamChunk) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """Report of one row on ``chunk`` (one unbroken stream; reset at segment starts only when the
    row says so) and its accuracy-by-position curve."""
    outputs = evaluate(model, chunk, reset=variant.resets_in_evaluation)
    report = stream_report(outputs, chunk.target, chunk.segment_id, chunk.is_target,
                           task.n_classes, last_k=task.decision_steps, is_gap=chunk.is_gap)
    curves, curve = stream_curves(outputs, chunk, task.decision_steps)
    report.update(curves)
    return report, curve


# ---- several rows and seeds ----------------------------------------------------------------------
def mean_se(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "se", "n"}`` of finite values: standard error = sample std / sqrt(n) (NaN for
    n < 2); NaN values are left out (and counted in ``n_nan``)."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    n = len(finite)
    out = {"mean": float(finite.mean()) if n else float("nan"),
           "se": float(finite.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"), "n": n}
    if n < len(v):
        out["n_nan"] = int(len(v) - n)
    return out


def _summarise(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and SE over seeds of every number in the reports (nested dicts kept; ``reasons``
    merged)."""
    out: dict[str, Any] = {}
    for key, first in per_seed[0].items():
        values = [r.get(key) for r in per_seed]
        if key == "reasons":
            merged = {k: v for r in values for k, v in (r or {}).items()}
            if merged:
                out[key] = merged
        elif isinstance(first, Mapping):
            out[key] = _summarise([v or {} for v in values])
        elif isinstance(first, (int, float)) and not isinstance(first, bool):
            out[key] = mean_se([float("nan") if v is None else v for v in values])
    return out


def paired_difference(result: Mapping[str, Any], first: str, second: str,
                      metric: str = "segment_accuracy", split: str = "test") -> dict[str, Any]:
    """``first - second`` of ``metric`` seed by seed (rows by key), with mean, SE and the per-seed
    differences (same seeds: the same test stream, initial weights and training stream)."""
    rows = {row["key"]: row for row in result["rows"].values()}
    for key in (first, second):
        if key not in rows:
            raise KeyError(f"no row with key {key!r}; rows: {sorted(rows)}")
    a, b = rows[first][split]["seeds"], rows[second][split]["seeds"]
    seeds = [s for s in a if s in b]
    diffs = [a[s][metric] - b[s][metric] for s in seeds]
    return {"metric": metric, "split": split, **mean_se(diffs),
            "per_seed": dict(zip(seeds, diffs)),
            "first_better_in": int(sum(d > 0 for d in diffs))}


def run_protocol(task: StreamTask, variants: Sequence[Variant], chunks: int, hidden: int,
                 seeds: Sequence[int] = (0,), lanes: int = 8, steps: int = 36000,
                 validation_steps: int | None = None,
                 log: Callable[[str], None] | None = print, device: str | torch.device = "cpu",
                 **overrides: Any) -> dict[str, Any]:
    """Train and evaluate every row for every seed.

    Seed ``s`` sets the initial weights and the training stream's draws (its stream seed + ``s``);
    every row of a seed sees the same. Each row is scored on ``lanes`` x ``steps`` of the held-out
    test stream and, when the task has
    one, on ``lanes`` x ``validation_steps`` (default ``steps // 3``) of its validation stream.
    Returns ``{"rows": {name: {"key", "test": {"mean": {...}, "seeds": {seed: report}},
    "validation": ...}}, "curves": {name: (bin upper edges, accuracy)}, ...}``; "mean" holds
    ``{"mean", "se", "n"}`` per number; curves are means over seeds (for plots).
    ``device``: where every row trains and runs. ``overrides``: other :class:`TrainConfig` fields
    for every row.
    """
    if len({v.key for v in variants}) != len(variants):
        raise ValueError("variants need distinct keys")
    test = collect(task.test_stream, lanes, steps)
    validation = None
    if task.validation_stream is not None:
        validation = collect(task.validation_stream, lanes, validation_steps or steps // 3)
    per_seed: dict[str, dict[str, dict[str, Any]]] = {v.name: {"test": {}, "validation": {}}
                                                      for v in variants}
    curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {v.name: [] for v in variants}
    for seed in seeds:
        trained: dict[tuple, torch.nn.Module] = {}
        # every seed draws its own training stream (same images) as well as its own weights
        stream = task.train_stream
        seeded = replace(task, train_stream=ContinualStream(
            stream.targets, stream.distractors, replace(stream.config,
                                                        seed=stream.config.seed + int(seed))))
        for variant in variants:
            if variant.training not in trained:
                trained[variant.training] = train_variant(seeded, variant, chunks, hidden, seed,
                                                          device=device, **overrides)
            model = trained[variant.training]
            report, curve = evaluate_variant(model, variant, task, test)
            per_seed[variant.name]["test"][str(seed)] = report
            curves[variant.name].append(curve)
            line = (f"seed {seed} {variant.name}: segment accuracy {report['segment_accuracy']:.3f},"
                    f" distractor AUROC {report['distractor_auroc']:.3f}")
            if validation is not None:
                val, _ = evaluate_variant(model, variant, task, validation)
                per_seed[variant.name]["validation"][str(seed)] = val
                line += f" (validation {val['segment_accuracy']:.3f})"
            if log is not None:
                log(line)
    rows: dict[str, Any] = {}
    for variant in variants:
        row: dict[str, Any] = {"key": variant.key}
        for split, reports in per_seed[variant.name].items():
            if reports:
                row[split] = {"mean": _summarise(list(reports.values())), "seeds": reports}
        rows[variant.name] = row
    return {"rows": rows, "seeds": [int(s) for s in seeds],
            "evaluation": {"lanes": lanes, "steps_per_lane": steps,
                           "validation_steps_per_lane": None if validation is None
                           else int(validation.inputs.shape[0])},
            # accuracy by position, mean over seeds (the same test stream, so the same bins)
            "curves": {name: (c[0][0], np.nanmean(np.stack([y for _, y in c]), axis=0))
                       for name, c in curves.items()}}


def combine_results(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One result from several :func:`run_protocol` results over disjoint seeds (same rows, same
    evaluation streams): per-seed reports joined, means and standard errors recomputed."""
    if not results:
        raise ValueError("no results to combine")
    names = list(results[0]["rows"])
    seeds: list[int] = []
    for r in results:
        if list(r["rows"]) != names:
            raise ValueError("results to combine must have the same rows in the same order")
        if r["evaluation"] != results[0]["evaluation"]:
            raise ValueError("results to combine must come from the same evaluation streams")
        overlap = set(seeds) & set(r["seeds"])
        if overlap:
            raise ValueError(f"seeds {sorted(overlap)} occur in more than one result")
        seeds += list(r["seeds"])
    rows: dict[str, Any] = {}
    for name in names:
        row: dict[str, Any] = {"key": results[0]["rows"][name]["key"]}
        for split in ("test", "validation"):
            reports = {s: rep for r in results for s, rep in r["rows"][name].get(split, {})
                       .get("seeds", {}).items()}
            if reports:
                row[split] = {"mean": _summarise(list(reports.values())), "seeds": reports}
        rows[name] = row
    out = {k: v for k, v in results[0].items() if k not in ("rows", "seeds", "curves", "seconds")}
    return {**out, "rows": rows, "seeds": seeds}


def markdown_table(result: Mapping[str, Any], split: str = "test",
                   columns: Sequence[tuple[str, str]] | None = None, digits: int = 3) -> str:
    """A markdown table of ``result`` (from :func:`run_protocol`): mean ± SE over seeds."""
    columns = columns or (("segment accuracy", "segment_accuracy"),
                          ("distractor AUROC", "distractor_auroc"),
                          ("gap AUROC", "gap_auroc"),
                          ("distractor entropy", "distractor_entropy"))
    lines = ["| row | " + " | ".join(c for c, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, row in result["rows"].items():
        cells = []
        for _, path in columns:
            value: Any = row[split]["mean"]
            for part in path.split("/"):
                value = value.get(part, {}) if isinstance(value, Mapping) else {}
            cells.append(format_mean_se(value, digits) if value else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_mean_se(value: Mapping[str, float], digits: int = 3) -> str:
    """``0.921 ± 0.004`` (``0.921`` alone when there is no SE: a single seed)."""
    mean, se = value.get("mean", float("nan")), value.get("se", float("nan"))
    if not math.isfinite(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


__all__ = ["NEURONS", "STREAM_LENGTHS", "StreamTask", "Variant", "build_model", "combine_results",
           "evaluate",
           "evaluate_variant", "format_mean_se", "image_task", "isolated_samples_source",
           "keyword_task", "markdown_table", "mean_se", "paired_difference", "run_protocol",
           "split_validation", "standard_variants", "stream_curves", "task_from_arrays",
           "train_config_for", "train_variant"]
