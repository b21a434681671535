"""Continual-inference metrics on per-step outputs (numpy in, numpy arrays / floats out).

Inputs follow the package conventions: per-step outputs (logits) ``[T, B, C]``, per-step
``target [T, B]`` (class index, ``-1`` = no class: distractor or gap), ``segment_id [T, B]``
(changes value at every segment boundary of a lane) and ``is_target [T, B]``. Torch tensors are
accepted (detached and moved to the CPU first).

Decision rule for a segment (``rule``, over the segment's last ``last_k`` steps; ``last_k=None`` =
the whole segment):

* ``"mean_softmax"`` (default) — argmax of the mean softmax output;
* ``"mean_logits"`` — argmax of the mean logits;
* ``"vote"``        — the class most often the per-step argmax (ties: the lowest class index);
* ``"last"``        — argmax at the segment's final step (same as ``last_k=1``).

A target segment is correct when its decision equals its label. Confidence and entropy of a segment
always come from the mean softmax over the same steps (entropy in nats; ``log C`` = uniform).

**Segments and gaps** (the same definition as :mod:`spiking_nr.streams`): a *segment* is one sample,
a target or a distractor; a *gap* (silence/noise between samples, ``is_gap [T, B]``) is not a
segment. Stream positions count samples only; "a stream of n segments" counts target segments.
Distractor rejection is scored separately against the two kinds of negatives, with the AUROC of
the confidence (1.0 = every target more confident than every negative, 0.5 = chance):
``distractor_*`` against distractor segments only, ``gap_*`` against gaps only. A metric with no
negatives of its kind is NaN, and the report says why under ``reasons`` (never a 0.5 or 1.0 that
looks like a result). Without ``is_gap`` the gaps cannot be told from distractors: every non-target
run then counts as a distractor and the gap metrics are NaN with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

DECISION_RULES = ("mean_softmax", "mean_logits", "vote", "last")


def as_numpy(value: Any, name: str = "array") -> np.ndarray:
    """``value`` as a numpy array; torch tensors are detached and copied to the CPU."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}: {exc}") from None


def _stream_arrays(outputs: Any, target: Any, segment_id: Any | None = None,
                   is_target: Any | None = None) -> tuple[np.ndarray, ...]:
    out = as_numpy(outputs, "outputs").astype(np.float64, copy=False)
    if out.ndim != 3:
        raise ValueError(f"outputs must be [T, B, C] (time-major, per-step), got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError("outputs contain NaN/inf values; expected finite logits")
    arrays = [out]
    for name, value in (("target", target), ("segment_id", segment_id), ("is_target", is_target)):
        if value is None:
            arrays.append(None)
            continue
        arr = as_numpy(value, name)
        if arr.shape != out.shape[:2]:
            raise ValueError(f"{name} must have shape [T, B] = {out.shape[:2]}, got {arr.shape}")
        arrays.append(arr)
    tgt = arrays[1]
    if tgt is not None:
        if tgt.dtype.kind not in "iub":
            raise TypeError(f"target must hold integer class indices (-1 = none), got {tgt.dtype}")
        if tgt.size and (tgt.min() < -1 or tgt.max() >= out.shape[2]):
            raise ValueError(f"target values must be in [-1, {out.shape[2] - 1}] (-1 = no class), "
                             f"got range [{tgt.min()}, {tgt.max()}]")
    return tuple(arrays)


def softmax(logits: Any, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (float64)."""
    z = as_numpy(logits, "logits").astype(np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def entropy(probabilities: Any, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats of distributions along ``axis`` (``log C`` for the uniform one)."""
    p = as_numpy(probabilities, "probabilities").astype(np.float64)
    return -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=axis)


@dataclass(frozen=True)
class SegmentScores:
    """One entry per run of equal ``segment_id`` (samples and gaps; all lanes, lane-major order).

    ``label`` (-1 = no class), ``prediction`` (decision rule), ``confidence`` (max of the mean
    softmax), ``entropy`` (of the mean softmax, nats), ``position`` (index of the sample segment
    within its lane, 0-based, counting target and distractor samples but not gaps; -1 for gaps),
    ``target_position`` (index among the lane's target segments; -1 for others), ``lane``,
    ``is_target``, ``is_gap``, ``n_steps`` (length in steps), ``start``/``end`` (first step, one
    past the last step), ``at_edge`` (touches the first or last step of the recording, so it may
    be cut).
    """

    label: np.ndarray
    prediction: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    position: np.ndarray
    lane: np.ndarray
    is_target: np.ndarray
    n_steps: np.ndarray
    start: np.ndarray
    end: np.ndarray
    at_edge: np.ndarray
    is_gap: np.ndarray
    target_position: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    @property
    def is_distractor(self) -> np.ndarray:
        """Per run: a distractor segment (a sample that is not a target)."""
        return ~self.is_target & ~self.is_gap

    @property
    def correct(self) -> np.ndarray:
        """Per segment: target segment decided correctly (False for non-target segments)."""
        return self.is_target & (self.prediction == self.label)

    @property
    def accuracy(self) -> float:
        """Accuracy over target segments (nan if there are none)."""
        t = self.is_target
        return float(self.correct[t].mean()) if t.any() else float("nan")

    def select(self, mask: np.ndarray) -> SegmentScores:
        """The segments where ``mask`` (bool, one per segment) is True."""
        mask = np.asarray(mask, bool)
        if mask.shape != self.label.shape:
            raise ValueError(f"mask must have one entry per segment ({len(self)}), "
                             f"got shape {mask.shape}")
        return SegmentScores(*(getattr(self, f.name)[mask] for f in fields(self)))


def _lane_index(flag: np.ndarray, lane: np.ndarray) -> np.ndarray:
    """Running index of the True entries of ``flag`` within each lane (lane-major), -1 elsewhere."""
    count = np.cumsum(flag)
    lane_start = np.r_[True, lane[1:] != lane[:-1]]
    before = np.maximum.accumulate(np.where(lane_start, count - flag, 0))
    return np.where(flag, count - before - 1, -1).astype(np.int64)


def segment_scores(outputs: Any, segment_id: Any, target: Any, is_target: Any | None = None,
                   last_k: int | None = 10, rule: str = "mean_softmax",
                   is_gap: Any | None = None) -> SegmentScores:
    """Score every run of ``outputs [T, B, C]`` (see the module docstring for the rule).

    A run is a maximal stretch of equal ``segment_id`` within a lane: a sample segment or a gap.
    Its label, ``is_target`` (default ``label >= 0``) and ``is_gap [T, B]`` (default: no gaps,
    every run is a sample) are read at its first step.
    """
    if rule not in DECISION_RULES:
        raise ValueError(f"rule must be one of {DECISION_RULES}, got {rule!r}")
    if last_k is not None and (not isinstance(last_k, (int, np.integer)) or last_k <= 0):
        raise ValueError(f"last_k must be a positive number of steps or None, got {last_k!r}")
    out, tgt, seg, is_tgt = _stream_arrays(outputs, target, segment_id, is_target)
    gap = _step_mask(is_gap, "is_gap", out.shape[:2])
    n_t, n_b, n_c = out.shape
    if n_t == 0:
        raise ValueError("outputs have no steps (T = 0)")
    if rule == "last":
        last_k = 1
    # Lane-major flattening: one vectorised pass over all lanes with np.add.reduceat.
    flat = np.moveaxis(out, 1, 0).reshape(n_b * n_t, n_c)
    seg_flat = seg.T.reshape(-1)
    lane_flat = np.repeat(np.arange(n_b), n_t)
    new = np.ones(n_b * n_t, bool)
    new[1:] = (seg_flat[1:] != seg_flat[:-1]) | (lane_flat[1:] != lane_flat[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n_b * n_t)
    owner = np.cumsum(new) - 1  # segment index of every step
    first = starts if last_k is None else np.maximum(starts, ends - last_k)
    include = (np.arange(n_b * n_t) >= first[owner]).astype(np.float64)[:, None]
    counts = ends - first
    probs = softmax(flat)
    mean_p = np.add.reduceat(probs * include, starts, axis=0) / counts[:, None]
    if rule in ("mean_softmax", "last"):
        prediction = mean_p.argmax(axis=1)
    elif rule == "mean_logits":
        prediction = (np.add.reduceat(flat * include, starts, axis=0) / counts[:, None]).argmax(1)
    else:  # vote
        onehot = np.eye(n_c)[flat.argmax(axis=1)] * include
        prediction = np.add.reduceat(onehot, starts, axis=0).argmax(axis=1)
    step_in_lane = starts - lane_flat[starts] * n_t
    lane_of = lane_flat[starts]
    label = tgt.T.reshape(-1)[starts].astype(np.int64)
    target_flag = (label >= 0) if is_tgt is None else is_tgt.T.reshape(-1)[starts].astype(bool)
    gap_flag = (np.zeros(len(starts), bool) if gap is None
                else gap.T.reshape(-1)[starts] & ~target_flag)
    n_steps = ends - starts
    end_in_lane = step_in_lane + n_steps
    return SegmentScores(
        label=label, prediction=prediction.astype(np.int64), confidence=mean_p.max(axis=1),
        entropy=entropy(mean_p), position=_lane_index(~gap_flag, lane_of),
        lane=lane_of.astype(np.int64), is_target=target_flag, n_steps=n_steps.astype(np.int64),
        start=step_in_lane.astype(np.int64), end=end_in_lane.astype(np.int64),
        at_edge=(step_in_lane == 0) | (end_in_lane == n_t), is_gap=gap_flag,
        target_position=_lane_index(target_flag, lane_of))


def _step_mask(value: Any | None, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """A ``[T, B]`` bool mask (None stays None); a wrong shape or type is a clear error."""
    if value is None:
        return None
    arr = as_numpy(value, name)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must be a [T, B] = {tuple(shape)} mask, got shape {arr.shape}")
    if arr.dtype != bool and (arr.dtype.kind not in "iu"
                              or (arr.size and (arr.min() < 0 or arr.max() > 1))):
        raise TypeError(f"{name} must be a boolean [T, B] mask, got dtype {arr.dtype}")
    return arr.astype(bool)


def auroc(positive: Any, negative: Any) -> float:
    """Probability that a ``positive`` score ranks above a ``negative`` one (ties count 1/2).

    Equals the area under the ROC curve (Mann-Whitney U / (n_pos n_neg)); nan if either is empty.
    """
    pos = as_numpy(positive, "positive").astype(np.float64).ravel()
    neg = as_numpy(negative, "negative").astype(np.float64).ravel()
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    if np.isnan(scores).any():
        raise ValueError("auroc scores contain NaN")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Tied scores share the mean of the 1-based ranks they occupy.
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = mean_rank[inverse[: len(pos)]].sum()
    return float((rank_sum - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def confusion_matrix(label: Any, prediction: Any, n_classes: int) -> np.ndarray:
    """``[n_classes, n_classes]`` counts, rows = true label, columns = prediction."""
    y = as_numpy(label, "label").astype(np.int64).ravel()
    p = as_numpy(prediction, "prediction").astype(np.int64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"label and prediction differ in length: {y.shape} vs {p.shape}")
    for name, v in (("label", y), ("prediction", p)):
        if v.size and (v.min() < 0 or v.max() >= n_classes):
            raise ValueError(f"{name} values must be in [0, {n_classes - 1}], got range "
                             f"[{v.min()}, {v.max()}]")
    return np.bincount(y * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes,
                                                                                   n_classes)


def macro_f1(label: Any, prediction: Any, n_classes: int) -> float:
    """Unweighted mean over classes of F1 = 2TP / (2TP + FP + FN); a class never seen nor
    predicted scores 0 (so absent classes pull the mean down: pass only the classes you have)."""
    cm = confusion_matrix(label, prediction, n_classes)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)  # = 2TP + FP + FN
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)
    return float(f1.mean())


def position_bins(n_segments: int) -> np.ndarray:
    """Bin edges 0, 1, 10, 100... below ``n_segments``, closed by ``n_segments``."""
    edges = [0] + [10**k for k in range(int(np.log10(max(n_segments, 1))) + 1)]
    return np.array([b for b in edges if b < n_segments] + [n_segments])


def accuracy_by_position(scores: SegmentScores, bins: Sequence[int] | np.ndarray) -> np.ndarray:
    """Target-segment accuracy of segments with ``bins[i] <= position < bins[i+1]`` (nan: none)."""
    bins = np.asarray(bins)
    if bins.ndim != 1 or len(bins) < 2 or np.any(np.diff(bins) <= 0):
        raise ValueError(f"bins must be increasing edges, at least two, got {bins.tolist()}")
    idx = np.searchsorted(bins, scores.position, side="right") - 1
    return _grouped_accuracy(scores, idx, len(bins) - 1)[0]


def accuracy_on_stream_lengths(scores: SegmentScores, lengths: Sequence[int]) -> np.ndarray:
    """Accuracy over each lane's first ``lengths[i]`` target segments (pooled over lanes).

    Equals evaluating fresh streams that hold n target segments (every lane starts at rest),
    without running them separately; nan where no target segment falls inside. Counted in target
    segments (``target_position``), so "a stream of 1" is each lane's first target segment."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.size == 0 or np.any(lengths < 1):
        raise ValueError(f"lengths must be positive segment counts, got {lengths.tolist()}")
    out = np.full(len(lengths), np.nan)
    for i, n in enumerate(lengths):
        inside = scores.is_target & (scores.target_position < n)
        if inside.any():
            out[i] = float(scores.correct[inside].mean())
    return out


def accuracy_by_segment_index(scores: SegmentScores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(position, accuracy, n)``: target-segment accuracy at every segment index of the lanes
    (pooled over lanes), only for indices that hold at least one target segment."""
    if len(scores) == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    n_pos = int(scores.position.max()) + 1
    acc, n = _grouped_accuracy(scores, scores.position, n_pos)
    keep = n > 0
    return np.flatnonzero(keep), acc[keep], n[keep]


def accuracy_by_window(scores: SegmentScores, window: int,
                       n_steps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(window_start, accuracy, n)``: target segments grouped by the window of ``window`` steps
    in which they end (their decision is made there). ``n_steps`` = recording length (default:
    the last segment end)."""
    if window <= 0:
        raise ValueError(f"window must be a positive number of steps, got {window}")
    total = int(scores.end.max()) if n_steps is None and len(scores) else int(n_steps or 0)
    n_windows = max(1, -(-total // window))
    acc, n = _grouped_accuracy(scores, (scores.end - 1) // window, n_windows)
    return np.arange(n_windows) * window, acc, n


def _grouped_accuracy(scores: SegmentScores, group: np.ndarray,
                      n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    valid = scores.is_target & (group >= 0) & (group < n_groups)
    n = np.bincount(group[valid], minlength=n_groups)[:n_groups]
    hits = np.bincount(group[valid], weights=scores.correct[valid].astype(np.float64),
                       minlength=n_groups)[:n_groups]
    acc = np.divide(hits, n, out=np.full(n_groups, np.nan), where=n > 0)
    return acc, n


def step_accuracy(outputs: Any, target: Any, informative: Any | None = None) -> float:
    """Fraction of steps with a class (``target >= 0``, and ``informative`` if given) whose
    per-step argmax equals the target; nan if there is no such step."""
    out, tgt, inf, _ = _stream_arrays(outputs, target, informative)
    scored = tgt >= 0 if inf is None else (tgt >= 0) & inf.astype(bool)
    if not scored.any():
        return float("nan")
    return float((out.argmax(-1) == tgt)[scored].mean())


def step_accuracy_by_window(outputs: Any, target: Any, window: int,
                            informative: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(window_start, accuracy)``: per-step accuracy in consecutive windows of ``window`` steps
    (the last window may be shorter; nan where a window has no scored step)."""
    if window <= 0:
        raise ValueError(f"window must be a positive number of steps, got {window}")
    out, tgt, inf, _ = _stream_arrays(outputs, target, informative)
    scored = tgt >= 0 if inf is None else (tgt >= 0) & inf.astype(bool)
    hits = ((out.argmax(-1) == tgt) & scored).sum(axis=1).astype(np.float64)
    count = scored.sum(axis=1).astype(np.float64)
    starts = np.arange(0, len(out), window)
    hits_w, count_w = np.add.reduceat(hits, starts), np.add.reduceat(count, starts)
    return starts, np.divide(hits_w, count_w, out=np.full(len(starts), np.nan), where=count_w > 0)


def _negatives(is_target: np.ndarray, is_gap: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray | None, dict[str, str]]:
    """(distractor, gap or None, reasons) masks of the non-target entries."""
    if is_gap is None:
        return ~is_target, None, {"gap": "no is_gap given: gaps cannot be told from distractors, "
                                         "every non-target run counts as a distractor"}
    return ~is_target & ~is_gap, ~is_target & is_gap, {}


def distractor_rejection(outputs: Any, target: Any, segment_id: Any, is_target: Any | None = None,
                         is_gap: Any | None = None, last_k: int | None = 10,
                         level: str = "segment") -> dict[str, Any]:
    """How well the network tells targets from distractors, and from gaps, by its confidence.

    ``level="segment"``: one score per run (confidence over its last ``last_k`` steps);
    ``"step"``: one per step (that step's max softmax). Targets are positive; negatives are the
    distractor segments (``auroc``, ``entropy_distractor``) and, separately, the gaps
    (``gap_auroc``, ``entropy_gap``), told apart by ``is_gap [T, B]``. Entropies are means in nats
    (``*_normalised``: / log C, 1.0 = uniform output). ``n_target``, ``n_distractor``, ``n_gap``
    count what was scored; ``reasons`` says why a value is NaN.
    """
    if level not in ("segment", "step"):
        raise ValueError(f"level must be 'segment' or 'step', got {level!r}")
    out, tgt, seg, is_tgt = _stream_arrays(outputs, target, segment_id, is_target)
    is_tgt = tgt >= 0 if is_tgt is None else is_tgt.astype(bool)
    gap = _step_mask(is_gap, "is_gap", out.shape[:2])
    if level == "segment":
        s = segment_scores(out, seg, tgt, is_tgt, last_k, is_gap=gap)
        pos, conf, ent = s.is_target, s.confidence, s.entropy
        neg_d, neg_g, reasons = _negatives(s.is_target, None if gap is None else s.is_gap)
    else:
        p = softmax(out)
        conf, ent, pos = p.max(-1).ravel(), entropy(p).ravel(), is_tgt.ravel()
        neg_d, neg_g, reasons = _negatives(pos, None if gap is None else gap.ravel())
    unit = "segments" if level == "segment" else "steps"
    log_c = float(np.log(out.shape[2]))
    result: dict[str, Any] = {"n_target": int(pos.sum())}
    for kind, neg in (("distractor", neg_d), ("gap", neg_g)):
        n = 0 if neg is None else int(neg.sum())
        result[f"n_{kind}"] = n
        if neg is not None and n == 0:
            reasons[kind] = f"no {kind} {unit} in the evaluated stream"
        if not pos.any():
            reasons.setdefault(kind, f"no target {unit} in the evaluated stream")
        value = ent[neg].mean() if n else np.nan
        result[f"entropy_{kind}"] = float(value)
        result[f"entropy_{kind}_normalised"] = float(value) / log_c
        result["auroc" if kind == "distractor" else "gap_auroc"] = (
            auroc(conf[pos], conf[neg]) if n and pos.any() else float("nan"))
    result["entropy_target"] = float(ent[pos].mean()) if pos.any() else float("nan")
    result["reasons"] = reasons
    return result


def stream_report(outputs: Any, chunk_target: Any, segment_id: Any, is_target: Any | None,
                  n_classes: int, last_k: int | None = 10, rule: str = "mean_softmax",
                  informative: Any | None = None, is_gap: Any | None = None) -> dict[str, Any]:
    """Headline continual-inference numbers for one evaluated stream ``[T, B, C]``.

    Keys: ``segment_accuracy``, ``macro_f1`` (target segments), ``step_accuracy`` (steps with a
    class, or ``informative`` ones); segment level against distractor segments only:
    ``distractor_auroc``, ``distractor_entropy`` (nats) and ``distractor_entropy_normalised``;
    against gaps only: ``gap_auroc``, ``gap_entropy``, ``gap_entropy_normalised``; step level:
    ``distractor_auroc_steps``, ``gap_auroc_steps``; counts ``n_target_segments``,
    ``n_distractor_segments``, ``n_gaps``; ``reasons``: why a value is NaN (empty when none is).
    Pass ``is_gap`` (a stream chunk's ``is_gap``) to separate gaps from distractors.
    """
    s = segment_scores(outputs, segment_id, chunk_target, is_target, last_k, rule, is_gap)
    t = s.is_target
    seg = distractor_rejection(outputs, chunk_target, segment_id, is_target, is_gap, last_k)
    steps = distractor_rejection(outputs, chunk_target, segment_id, is_target, is_gap,
                                 level="step")
    reasons = {f"{k}_auroc": v for k, v in seg["reasons"].items()}
    reasons.update({f"{k}_auroc_steps": v for k, v in steps["reasons"].items()})
    if not t.any():
        reasons["segment_accuracy"] = "no target segment in the evaluated stream"
    return {
        "segment_accuracy": s.accuracy,
        "macro_f1": macro_f1(s.label[t], s.prediction[t], n_classes) if t.any() else float("nan"),
        "step_accuracy": step_accuracy(outputs, chunk_target, informative),
        "distractor_auroc": seg["auroc"],
        "distractor_entropy": seg["entropy_distractor"],
        "distractor_entropy_normalised": seg["entropy_distractor_normalised"],
        "gap_auroc": seg["gap_auroc"],
        "gap_entropy": seg["entropy_gap"],
        "gap_entropy_normalised": seg["entropy_gap_normalised"],
        "distractor_auroc_steps": steps["auroc"],
        "gap_auroc_steps": steps["gap_auroc"],
        "n_target_segments": int(t.sum()),
        "n_distractor_segments": seg["n_distractor"],
        "n_gaps": seg["n_gap"],
        "reasons": reasons,
    }


# ---- spiking activity and state drift ------------------------------------------------------------
def firing_rates(spikes: Any) -> np.ndarray:
    """Mean spikes per step for each neuron of ``spikes [T, B, N]`` or ``[T, N]`` -> ``[N]``."""
    s = as_numpy(spikes, "spikes").astype(np.float64)
    if s.ndim not in (2, 3) or s.shape[0] == 0:
        raise ValueError(f"spikes must be [T, N] or [T, B, N] with T > 0, got shape {s.shape}")
    return s.reshape(s.shape[0], -1, s.shape[-1]).mean(axis=(0, 1))


def firing_rates_by_window(spikes: Any, window: int) -> np.ndarray:
    """``[n_windows, N]`` mean spikes per step per window of ``window`` steps (lanes pooled; a
    trailing partial window is dropped)."""
    s = as_numpy(spikes, "spikes").astype(np.float64)
    if s.ndim not in (2, 3):
        raise ValueError(f"spikes must be [T, N] or [T, B, N], got shape {s.shape}")
    if window <= 0 or window > s.shape[0]:
        raise ValueError(f"window must be in [1, T = {s.shape[0]}] steps, got {window}")
    s = s.reshape(s.shape[0], -1, s.shape[-1])
    n = s.shape[0] // window
    return s[: n * window].reshape(n, window, s.shape[1], s.shape[2]).mean(axis=(1, 2))


def activity_summary(spikes: Sequence[Any] | Any, saturated_rate: float = 0.5) -> list[dict]:
    """Per layer: ``mean_rate``/``max_rate`` (spikes per step per neuron), ``silent_fraction``
    (neurons that never fire), ``saturated_fraction`` (rate >= ``saturated_rate``) and
    ``spikes_per_step`` (whole layer, per lane). ``spikes``: one ``[T, (B,) N]`` array or a list."""
    layers = list(spikes) if isinstance(spikes, (list, tuple)) else [spikes]
    rows = []
    for layer in layers:
        rates = firing_rates(layer)
        rows.append({"neurons": int(len(rates)), "mean_rate": float(rates.mean()),
                     "max_rate": float(rates.max()), "silent_fraction": float((rates == 0).mean()),
                     "saturated_fraction": float((rates >= saturated_rate).mean()),
                     "spikes_per_step": float(rates.sum())})
    return rows


def window_statistics(values: Any, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` per window of ``window`` steps of ``values [T, ...]`` (all other axes
    pooled; a trailing partial window is dropped)."""
    v = as_numpy(values, "values").astype(np.float64)
    if v.ndim == 0 or v.shape[0] == 0:
        raise ValueError(f"values must be [T, ...] with T > 0, got shape {v.shape}")
    if window <= 0:
        raise ValueError(f"window must be a positive number of steps, got {window}")
    v = v.reshape(len(v), -1)
    n = len(v) // window
    if n == 0:
        raise ValueError(f"need at least one window of {window} steps, got {len(v)} steps")
    blocks = v[: n * window].reshape(n, -1)
    return blocks.mean(axis=1), blocks.std(axis=1)


def saturation(values: Any, window: int) -> dict[str, float]:
    """Drift of a hidden quantity ``[T, ...]`` over time, per window of ``window`` steps.

    Returns the first/last window mean and std and the least-squares slopes of the per-window mean
    and std against window index (units of the quantity per window). A state that neither
    saturates nor decays has both slopes ~0 over a long stream.
    """
    means, stds = window_statistics(values, window)
    if len(means) < 2:
        raise ValueError(f"need at least 2 windows of {window} steps, got {len(means)}")
    x = np.arange(len(means))
    return {"first_window_mean": float(means[0]), "last_window_mean": float(means[-1]),
            "slope_per_window": float(np.polyfit(x, means, 1)[0]),
            "first_window_std": float(stds[0]), "last_window_std": float(stds[-1]),
            "std_slope_per_window": float(np.polyfit(x, stds, 1)[0]), "windows": int(len(means))}


def state_drift(voltage: Any, threshold: Any | None, window: int,
                spikes: Any | None = None) -> dict[str, dict[str, float]]:
    """:func:`saturation` of one layer's membrane potential, adaptive threshold and (optionally)
    population firing rate, each ``[T, N]`` or ``[T, B, N]`` (steps first)."""
    report = {"voltage": saturation(voltage, window)}
    if threshold is not None:
        report["threshold"] = saturation(threshold, window)
    if spikes is not None:
        report["rate"] = saturation(spikes, window)
    return report
