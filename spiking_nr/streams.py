"""Continual streams built from labelled samples: target segments, distractors and gaps.

Each batch lane is an independent, endless stream with its own generator derived from
``(seed, lane)``, produced lazily chunk by chunk: a 10^6-step stream never sits in memory, and
chunking does not change the stream (the concatenated chunks are identical for any chunk length).

Per step a chunk carries ``inputs [T, B, N]``, ``target [T, B]`` (class in target segments, -1 in
distractor and gap segments), ``informative [T, B]`` (oracle: inside target segments, after the
first ``skip_first`` steps of each), ``segment_id [T, B]`` (counts segments per lane),
``segment_start [T, B]`` (first step of every segment, for oracle-synchronised resets) and
``is_target [T, B]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

GAP_KINDS = ("silence", "noise")


class StreamChunk(NamedTuple):
    inputs: np.ndarray
    target: np.ndarray
    informative: np.ndarray
    segment_id: np.ndarray
    segment_start: np.ndarray
    is_target: np.ndarray


@dataclass(frozen=True)
class LabelledSequences:
    """Samples as encoded sequences: ``encode(samples[i]) -> [T_i, N]``, labels ``[n]`` int."""

    samples: np.ndarray
    labels: np.ndarray
    encode: Callable[[np.ndarray], np.ndarray]
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.samples) != len(self.labels):
            raise ValueError(f"{len(self.samples)} samples but {len(self.labels)} labels")
        if len(self.samples) == 0:
            raise ValueError(f"dataset {self.name!r} is empty")

    def __len__(self) -> int:
        return len(self.labels)

    def sequence(self, index: int) -> np.ndarray:
        return np.asarray(self.encode(self.samples[index]), dtype=np.float32)

    @property
    def n_features(self) -> int:
        return int(self.sequence(0).shape[1])


@dataclass(frozen=True)
class StreamConfig:
    """``p_distractor``: chance a segment is a distractor; gaps of ``gap_range`` steps (inclusive)
    of ``gap_kind`` follow a segment with probability ``p_gap``; ``noise_rate`` for noise gaps."""

    p_distractor: float = 0.5
    p_gap: float = 0.5
    gap_range: tuple[int, int] = (0, 10)
    gap_kind: str = "silence"
    noise_rate: float = 0.02
    skip_first: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("p_distractor", "p_gap", "noise_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        low, high = self.gap_range
        if not 0 <= low <= high:
            raise ValueError(f"gap_range must be (low, high) with 0 <= low <= high, got {self.gap_range}")
        if self.gap_kind not in GAP_KINDS:
            raise ValueError(f"gap_kind must be one of {GAP_KINDS}, got {self.gap_kind!r}")
        if self.skip_first < 0:
            raise ValueError(f"skip_first must be >= 0, got {self.skip_first}")


class _Lane:
    """One endless lane: yields steps segment by segment from its own generator."""

    def __init__(self, stream: ContinualStream, lane: int) -> None:
        self.stream = stream
        self.rng = np.random.default_rng([stream.config.seed, lane])
        self.segment = -1
        self.buffer: list[tuple] = []
        self.pos = 0

    def _next_segment(self) -> None:
        cfg, s = self.stream.config, self.stream
        distractor = s.distractors is not None and self.rng.random() < cfg.p_distractor
        source = s.distractors if distractor else s.targets
        index = int(self.rng.integers(len(source)))
        x = source.sequence(index)
        label = -1 if distractor else int(source.labels[index])
        self.segment += 1
        n = len(x)
        informative = np.zeros(n, bool)
        if not distractor:
            informative[cfg.skip_first:] = True
        parts = [(x, np.full(n, label), informative, ~np.zeros(n, bool) if not distractor else
                  np.zeros(n, bool), self.segment)]
        if self.rng.random() < cfg.p_gap:
            gap = int(self.rng.integers(cfg.gap_range[0], cfg.gap_range[1] + 1))
            if gap:
                self.segment += 1
                g = (self.rng.random((gap, x.shape[1])) < cfg.noise_rate).astype(np.float32) \
                    if cfg.gap_kind == "noise" else np.zeros((gap, x.shape[1]), np.float32)
                parts.append((g, np.full(gap, -1), np.zeros(gap, bool), np.zeros(gap, bool),
                              self.segment))
        for xs, ys, inf, is_target, seg in parts:
            start = np.zeros(len(xs), bool)
            start[0] = True
            self.buffer.append((xs, ys, inf, np.full(len(xs), seg), start, is_target))

    def take(self, n: int) -> tuple[np.ndarray, ...]:
        pieces: list[list[np.ndarray]] = [[] for _ in range(6)]
        need = n
        while need:
            if not self.buffer:
                self._next_segment()
            seg = self.buffer[0]
            available = len(seg[0]) - self.pos
            k = min(available, need)
            for out, arr in zip(pieces, seg):
                out.append(arr[self.pos:self.pos + k])
            self.pos += k
            need -= k
            if self.pos == len(seg[0]):
                self.buffer.pop(0)
                self.pos = 0
        return tuple(np.concatenate(p) for p in pieces)


class ContinualStream:
    """Endless per-lane streams of target segments (``targets``) and distractors."""

    def __init__(self, targets: LabelledSequences, distractors: LabelledSequences | None = None,
                 config: StreamConfig = StreamConfig()) -> None:
        self.targets = targets
        self.distractors = distractors
        self.config = config
        if distractors is not None and distractors.n_features != targets.n_features:
            raise ValueError(f"targets have {targets.n_features} features per step but distractors "
                             f"have {distractors.n_features}")

    @property
    def n_features(self) -> int:
        return self.targets.n_features

    def chunks(self, batch_size: int, chunk_len: int, total_steps: int | None = None,
               lanes: Sequence[int] | None = None) -> Iterator[StreamChunk]:
        """Yield chunks of ``chunk_len`` steps (the last may be shorter) for ``total_steps`` steps
        (None = forever). ``lanes`` picks which lanes (default ``range(batch_size)``)."""
        if chunk_len <= 0 or batch_size <= 0:
            raise ValueError(f"chunk_len and batch_size must be positive, got {chunk_len}, {batch_size}")
        lane_ids = list(range(batch_size)) if lanes is None else list(lanes)
        workers = [_Lane(self, lane) for lane in lane_ids]
        done = 0
        while total_steps is None or done < total_steps:
            n = chunk_len if total_steps is None else min(chunk_len, total_steps - done)
            per_lane = [w.take(n) for w in workers]
            fields = [np.stack([lane[i] for lane in per_lane], axis=1) for i in range(6)]
            yield StreamChunk(fields[0].astype(np.float32), fields[1].astype(np.int64),
                              fields[2], fields[3].astype(np.int64), fields[4], fields[5])
            done += n
