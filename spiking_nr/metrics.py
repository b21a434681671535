"""Continual-inference metrics on per-step outputs (numpy in, numbers out).

Decision rule for a segment: the argmax of the mean softmax output over the segment's last
``last_k`` steps (``last_k=None`` = the whole segment). A target segment is correct when that class
is its label. Distractor rejection uses the confidence ``max_c p_c`` averaged over the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class SegmentScores:
    """One row per segment (all lanes): label (-1 = distractor/gap), prediction, confidence,
    position (segment index within its lane), lane, entropy, ``n_steps``."""

    label: np.ndarray
    prediction: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    position: np.ndarray
    lane: np.ndarray
    is_target: np.ndarray
    n_steps: np.ndarray

    @property
    def accuracy(self) -> float:
        """Accuracy over target segments."""
        t = self.is_target
        return float((self.prediction[t] == self.label[t]).mean()) if t.any() else float("nan")


def segment_scores(outputs: np.ndarray, segment_id: np.ndarray, target: np.ndarray,
                   is_target: np.ndarray, last_k: int | None = 10) -> SegmentScores:
    """Score every complete-or-partial segment of ``outputs [T, B, C]``."""
    probs = softmax(outputs)
    rows = []
    n_steps_total, batch = segment_id.shape
    for b in range(batch):
        seg = segment_id[:, b]
        bounds = np.flatnonzero(np.diff(seg)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [n_steps_total]])
        for position, (a, e) in enumerate(zip(starts, ends)):
            window = probs[a:e, b] if last_k is None else probs[max(a, e - last_k):e, b]
            mean = window.mean(axis=0)
            rows.append((target[a, b], int(mean.argmax()), float(mean.max()),
                         float(-(mean * np.log(mean + 1e-12)).sum()), position, b,
                         bool(is_target[a, b]), e - a))
    cols = list(zip(*rows))
    return SegmentScores(*(np.array(c) for c in cols))


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve that ``positive`` scores rank above ``negative`` (ties count 1/2)."""
    pos, neg = np.asarray(positive, float), np.asarray(negative, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def macro_f1(label: np.ndarray, prediction: np.ndarray, n_classes: int) -> float:
    scores = []
    for c in range(n_classes):
        tp = np.sum((prediction == c) & (label == c))
        fp = np.sum((prediction == c) & (label != c))
        fn = np.sum((prediction != c) & (label == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def accuracy_by_position(scores: SegmentScores, bins: np.ndarray) -> np.ndarray:
    """Target-segment accuracy for segments whose position falls in each ``[bins[i], bins[i+1])``."""
    out = np.full(len(bins) - 1, np.nan)
    for i in range(len(bins) - 1):
        sel = scores.is_target & (scores.position >= bins[i]) & (scores.position < bins[i + 1])
        if sel.any():
            out[i] = float((scores.prediction[sel] == scores.label[sel]).mean())
    return out


def stream_report(outputs: np.ndarray, chunk_target: np.ndarray, segment_id: np.ndarray,
                  is_target: np.ndarray, n_classes: int, last_k: int | None = 10) -> dict[str, float]:
    """Headline continual-inference numbers for one evaluated stream."""
    s = segment_scores(outputs, segment_id, chunk_target, is_target, last_k)
    distractor = (~s.is_target) & (s.label == -1) & (s.n_steps > 0)
    t = s.is_target
    return {
        "segment_accuracy": s.accuracy,
        "macro_f1": macro_f1(s.label[t], s.prediction[t], n_classes),
        "distractor_auroc": auroc(s.confidence[t], s.confidence[distractor]),
        "distractor_entropy": float(s.entropy[distractor].mean()) if distractor.any() else float("nan"),
        "n_target_segments": int(t.sum()),
    }


def firing_rates(spikes: np.ndarray) -> np.ndarray:
    """Mean spikes per step for each neuron of ``spikes [T, B, N]`` or ``[T, N]``."""
    s = np.asarray(spikes, dtype=np.float64)
    return s.reshape(s.shape[0], -1, s.shape[-1]).mean(axis=(0, 1))


def saturation(values: np.ndarray, window: int) -> dict[str, float]:
    """Drift of a hidden quantity ``[T, ...]`` over time: per-window mean, and the slope of the
    per-window mean against window index (per window); a flat stream has slope ~0."""
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    n = len(v) // window
    if n < 2:
        raise ValueError(f"need at least 2 windows of {window} steps, got {len(v)} steps")
    means = v[: n * window].reshape(n, window, -1).mean(axis=(1, 2))
    slope = float(np.polyfit(np.arange(n), means, 1)[0])
    return {"first_window_mean": float(means[0]), "last_window_mean": float(means[-1]),
            "slope_per_window": slope}
