"""Informativeness masks ``[T, B]`` (True = informative step) for the adaptive loss.

* ``oracle``: the stream's own labels (``chunk.informative``), the upper reference.
* ``temporal_intensity``: causal, from the input alone. Per-step intensity ``i_t = mean_n |x_t|``
  is smoothed by an exponential moving average with time constant ``tau`` steps; a step is
  informative when the smoothed intensity exceeds ``threshold`` (absolute). Works on analog and
  spike input (for spikes, ``i_t`` is the fraction of active channels).
* ``energy``: causal frame energy ``e_t = mean_n x_t^2`` against ``threshold`` (no smoothing), the
  audio-style rule.

The stateful :class:`IntensityMask` carries the moving average across chunks, so a stream masked in
chunks equals one masked at once.
"""

from __future__ import annotations

import numpy as np


class IntensityMask:
    """Streaming temporal-intensity mask; ``tau`` in steps, ``threshold`` in input units."""

    def __init__(self, tau: float = 3.0, threshold: float = 0.05) -> None:
        if tau <= 0:
            raise ValueError(f"tau must be > 0 steps, got {tau}")
        self.decay = float(np.exp(-1.0 / tau))
        self.threshold = float(threshold)
        self.level: np.ndarray | None = None

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        x = np.asarray(inputs)
        if x.ndim != 3:
            raise ValueError(f"inputs must be [T, B, N], got shape {x.shape}")
        intensity = np.abs(x).mean(axis=2)
        level = np.zeros(x.shape[1]) if self.level is None else self.level
        out = np.empty(intensity.shape, bool)
        for t in range(len(intensity)):
            level = self.decay * level + (1.0 - self.decay) * intensity[t]
            out[t] = level > self.threshold
        self.level = level
        return out


def temporal_intensity_mask(inputs: np.ndarray, tau: float = 3.0, threshold: float = 0.05) -> np.ndarray:
    """One-shot temporal-intensity mask (see :class:`IntensityMask`)."""
    return IntensityMask(tau, threshold)(inputs)


def energy_mask(inputs: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Frame-energy mask: ``mean_n x_t^2 > threshold`` per step."""
    x = np.asarray(inputs)
    if x.ndim != 3:
        raise ValueError(f"inputs must be [T, B, N], got shape {x.shape}")
    return (x.astype(np.float64) ** 2).mean(axis=2) > threshold


MASKS = ("oracle", "temporal_intensity", "energy")
