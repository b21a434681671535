"""Encoders: images ``[H, W]`` or feature sequences ``[T, N]`` -> sequences ``[T', N']`` float32.

* :func:`rows_analog` — an image read row by row: one step per row, one channel per column
  (``[28, 28]`` for MNIST), pixel values unchanged.
* :func:`rows_threshold` — the same as spikes: a channel fires where the pixel exceeds a threshold.
* :func:`delta` (alias :func:`rows_delta`) — ON/OFF spikes of the change from the previous step:
  ``[T, 2N]``, channels ``0..N-1`` ON (rise > threshold), ``N..2N-1`` OFF (fall > threshold).
* :func:`threshold_crossing` — send-on-delta: a per-channel reference follows the signal in steps
  of ``threshold``; every step the reference moves, an ON/OFF event is emitted (``[T, 2N]``).
* :func:`rate` / :class:`RateEncoder` — Bernoulli spikes with probability ``clip(x, 0, 1) *
  max_rate`` per step and channel, from a seeded generator.
* :func:`passthrough` — audio features (log-mel/MFCC ``[T, N]``) unchanged, validated.

Every encoder validates its input and returns a new float32 array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _matrix(x: np.ndarray, what: str = "input") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D {what} ([H, W] image or [T, N] sequence), "
                         f"got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"expected a numeric {what}, got dtype {x.dtype}")
    return x.astype(np.float32)


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def rows_analog(image: np.ndarray) -> np.ndarray:
    """Row by row: one step per row, one channel per column (``[H, W]``, values as given)."""
    return _matrix(image, "image").copy()


def rows_threshold(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Row by row as spikes: a channel fires where the pixel exceeds ``threshold`` (``[H, W]``,
    pixels in [0, 1]: raw 0..255 images are rejected, they would fire on every non-zero pixel)."""
    x = _matrix(image, "image")
    if x.size and x.max() > 1.0:
        raise ValueError(f"rows_threshold expects pixels in [0, 1], got values up to {x.max():g} "
                         "(raw uint8 images? divide by 255 first)")
    return (x > threshold).astype(np.float32)


def delta(sequence: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """ON/OFF spikes of the change from the previous step (the step before the first is 0).

    ``[T, N] -> [T, 2N]``: ON where ``x_t - x_{t-1} > threshold``, OFF where it is ``< -threshold``.
    """
    x = _matrix(sequence)
    _positive(threshold, "threshold")
    diff = np.diff(x, axis=0, prepend=np.zeros((1, x.shape[1]), np.float32))
    return np.concatenate([diff > threshold, diff < -threshold], axis=1).astype(np.float32)


rows_delta = delta


def threshold_crossing(sequence: np.ndarray, threshold: float = 0.25,
                       max_events: int | None = 1) -> np.ndarray:
    """Send-on-delta (level-crossing) encoding with a tracked reference (starts at 0).

    Per step and channel, ``n_t = trunc((x_t - r_{t-1}) / threshold)`` clipped to ``[-max_events,
    max_events]`` (None: unclipped), then ``r_t = r_{t-1} + n_t * threshold``. Output ``[T, 2N]``:
    ``max(n_t, 0)`` on the ON channels ``0..N-1`` and ``max(-n_t, 0)`` on the OFF channels. With
    ``max_events=1`` the output is binary spikes and large jumps spread over several steps; unlike
    :func:`delta`, slow drifts still produce events once they add up to ``threshold``.
    """
    x = _matrix(sequence).astype(np.float64)
    thr = _positive(threshold, "threshold")
    if max_events is not None and int(max_events) < 1:
        raise ValueError(f"max_events must be >= 1 or None, got {max_events}")
    ref = np.zeros(x.shape[1])
    events = np.zeros(x.shape)
    for t in range(x.shape[0]):
        # a small tolerance so exact multiples of the threshold do not lose an event to rounding
        n = np.trunc((x[t] - ref) / thr + np.sign(x[t] - ref) * 1e-9)
        if max_events is not None:
            n = np.clip(n, -max_events, max_events)
        ref += n * thr
        events[t] = n
    on_off = np.concatenate([np.maximum(events, 0), np.maximum(-events, 0)], axis=1)
    return on_off.astype(np.float32)


def rate(sequence: np.ndarray, rng: np.random.Generator, max_rate: float = 1.0,
         repeat: int = 1) -> np.ndarray:
    """Bernoulli spikes: ``P(spike) = clip(x, 0, 1) * max_rate`` per step and channel.

    ``[T, N] -> [T * repeat, N]``: each input step is presented for ``repeat`` steps, each with
    fresh draws from ``rng``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator (np.random.default_rng(seed)), "
                        f"got {type(rng)}")
    if not 0.0 < max_rate <= 1.0:
        raise ValueError(f"max_rate must be in (0, 1], got {max_rate}")
    if int(repeat) < 1:
        raise ValueError(f"repeat must be >= 1 step, got {repeat}")
    x = np.clip(_matrix(sequence), 0.0, 1.0)
    if repeat > 1:
        x = np.repeat(x, int(repeat), axis=0)
    return (rng.random(x.shape) < x * max_rate).astype(np.float32)


@dataclass(frozen=True)
class RateEncoder:
    """Stochastic encoder for :class:`~spiking_nr.data.base.LabelledSequences`: ``base`` (an
    encoder name from :data:`ENCODERS`, default rows_analog) then :func:`rate`.

    Streams pass their per-lane generator; plain indexing uses ``default_rng([seed, index])``.
    """

    max_rate: float = 1.0
    repeat: int = 1
    seed: int = 0
    base: str = "rows_analog"
    stochastic: bool = True

    def __post_init__(self) -> None:
        if self.base not in ENCODERS:
            raise ValueError(f"unknown base encoding {self.base!r}; "
                             f"expected one of {sorted(ENCODERS)}")

    def __call__(self, sample: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rate(ENCODERS[self.base](sample), rng, self.max_rate, self.repeat)


def passthrough(features: np.ndarray) -> np.ndarray:
    """Audio features ``[T, N]`` (log-mel, MFCC) as the network input, unchanged (validated)."""
    x = _matrix(features, "feature sequence")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or inf; check the front end (log of 0?)")
    return x.copy()


ENCODERS = {"rows_analog": rows_analog, "rows_threshold": rows_threshold, "rows_delta": rows_delta,
            "threshold_crossing": threshold_crossing, "passthrough": passthrough}


def encoded_width(name: str, width: int) -> int:
    """Channels produced by encoder ``name`` for inputs ``width`` channels (pixels) wide."""
    if name not in ENCODERS and name != "rate":
        raise ValueError(f"unknown encoding {name!r}; "
                         f"expected one of {sorted([*ENCODERS, 'rate'])}")
    return 2 * width if name in ("rows_delta", "threshold_crossing") else width
