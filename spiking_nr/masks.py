"""Informativeness masks ``[T, B]`` (True = informative step) for the adaptive loss.

The paper (Yin & Corradi 2024) names two input-driven strategies without publishing their exact
definitions; these are the package's documented choices (DESIGN.md section 4). Both are *causal*:
the mask at step t uses inputs up to t only, so they can run online next to the network. Both work
on analog input and on spikes/events (for binary spikes, ``mean |x|`` is the fraction of active
channels and ``mean x^2`` equals it).

* **temporal-intensity** (:class:`IntensityMask`): intensity ``i_t = mean_n |x_tn|`` smoothed by an
  exponential moving average ``l_t = a l_{t-1} + (1 - a) i_t``, ``a = exp(-1/tau)`` (``tau`` in
  steps, ``l_{-1} = 0``). Informative where ``l_t > threshold`` (absolute) or, with
  ``relative=True``, ``l_t > threshold * m_t`` with ``m_t`` the bias-corrected running mean of
  ``i`` over time constant ``stat_tau`` steps. The first ``warm_in`` steps of every run of
  above-threshold steps are not informative (the network first has to see some evidence).
* **energy-based** (:class:`EnergyMask`): frame energy ``e_t = mean_n x_tn^2``
  (``features="linear"``) or, for log features such as log-mel, ``e_t = log(mean_n exp(x_tn))``
  (the log of the mean mel power, ``features="log"``). Informative where ``e_t > threshold`` or,
  relative, where
  ``e_t > threshold * m_t`` (linear) / ``e_t > m_t + threshold`` (log: ``threshold`` in log units
  above the running mean). No smoothing unless ``tau`` is given; same ``warm_in`` rule.
* **oracle** (:class:`OracleMask`, :func:`oracle_mask`): the stream's own labels: target segments,
  optionally after their first ``skip_first`` steps. The upper reference.

The classes are stateful streaming versions: they carry the moving averages and run lengths across
chunks, so masking a stream chunk by chunk gives exactly the one-shot result. ``reset()`` forgets.
The functions are one-shot conveniences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
from scipy.signal import lfilter

from spiking_nr.streams import StreamChunk

MASKS = ("oracle", "temporal_intensity", "energy")
ENERGY_FEATURES = ("linear", "log")
# Mask settings per data set (the input-driven masks' thresholds are in the units the mask sees).
# "default": the classes' own defaults. "image_rows": images read row by row as binary spikes (28
# channels; E1 and the demo): mean |x| of 0.03 is about one lit pixel in 28, smoothed over 2 rows;
# energy = mean x^2 = the same fraction for spikes. "keywords": the E2 log-mel keyword stream, seen
# in intensity units (FeatureScale.intensity: background near 0, speech around 0.2-1), smoothed
# over 3 frames; energy unsmoothed.
MASK_PRESETS: dict[str, dict[str, dict[str, float]]] = {
    "default": {},
    "image_rows": {"temporal_intensity": {"tau": 2.0, "threshold": 0.03},
                   "energy": {"threshold": 0.03}},
    "keywords": {"temporal_intensity": {"tau": 3.0, "threshold": 0.2},
                 "energy": {"threshold": 0.06}},
}


def _inputs(inputs: np.ndarray) -> np.ndarray:
    x = np.asarray(inputs)
    if x.ndim != 3:
        raise ValueError(f"inputs must be [T, B, N], got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"inputs must be numeric (analog or spikes), got dtype {x.dtype}")
    return x


def _ema(values: np.ndarray, decay: float, prev: np.ndarray) -> np.ndarray:
    """``y_t = decay * y_{t-1} + (1 - decay) * v_t`` along axis 0, starting from ``prev`` [B]."""
    y, _ = lfilter([1.0 - decay], [1.0, -decay], values, axis=0, zi=(decay * prev)[None])
    return y


class _ThresholdMask:
    """Shared machinery: per-step statistic -> optional EMA -> threshold -> warm-in."""

    log_domain = False

    def __init__(self, threshold: float, tau: float | None, relative: bool, stat_tau: float,
                 warm_in: int) -> None:
        if tau is not None and not tau > 0:
            raise ValueError(f"tau must be > 0 steps (or None for no smoothing), got {tau}")
        if not stat_tau > 0:
            raise ValueError(f"stat_tau must be > 0 steps, got {stat_tau}")
        if int(warm_in) != warm_in or warm_in < 0:
            raise ValueError(f"warm_in must be an integer >= 0 steps, got {warm_in}")
        if relative and not self.log_domain and not threshold > 0:
            raise ValueError(f"a relative threshold is a factor on the running mean; must be > 0, "
                             f"got {threshold}")
        self.threshold = float(threshold)
        self.tau = tau
        self.decay = None if tau is None else float(np.exp(-1.0 / tau))
        self.relative = bool(relative)
        self.stat_tau = float(stat_tau)
        self.stat_decay = float(np.exp(-1.0 / stat_tau))
        self.warm_in = int(warm_in)
        self.reset()

    def reset(self) -> None:
        """Forget the running state (a fresh stream starts)."""
        self.level: np.ndarray | None = None  # EMA of the statistic [B]
        self.mean_sum: np.ndarray | None = None  # running mean numerator [B]
        self.mean_weight: np.ndarray | None = None  # its bias-correction weight [B]
        self.run: np.ndarray | None = None  # length of the current above-threshold run [B]

    def statistic(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """Mask ``[T, B]`` bool for the next ``inputs [T, B, N]`` of the stream."""
        x = _inputs(inputs)
        t_len, batch = x.shape[:2]
        if self.run is not None and len(self.run) != batch:
            raise ValueError(f"this mask has state for {len(self.run)} lanes, got {batch}; "
                             "call reset() for a new stream")
        zeros = np.zeros(batch)
        if t_len == 0:
            return np.zeros((0, batch), bool)
        stat = self.statistic(x)
        if self.decay is not None:
            level = _ema(stat, self.decay, zeros if self.level is None else self.level)
            self.level = level[-1].copy()
        else:
            level = stat
        if self.relative:
            mean_sum = _ema(stat, self.stat_decay,
                            zeros if self.mean_sum is None else self.mean_sum)
            weight = _ema(np.ones_like(stat), self.stat_decay,
                          zeros if self.mean_weight is None else self.mean_weight)
            self.mean_sum, self.mean_weight = mean_sum[-1].copy(), weight[-1].copy()
            mean = mean_sum / weight
            above = level > (mean + self.threshold if self.log_domain else self.threshold * mean)
        else:
            above = level > self.threshold
        # run length of consecutive above-threshold steps, carried across chunks
        prev_run = np.zeros(batch, np.int64) if self.run is None else self.run
        count = np.cumsum(above, axis=0) + prev_run[None]
        base = np.maximum.accumulate(np.where(above, 0, count), axis=0)
        run = count - base
        self.run = run[-1].copy()
        return above & (run > self.warm_in)


class IntensityMask(_ThresholdMask):
    """Streaming temporal-intensity mask (see the module docstring).

    ``tau`` smoothing time constant (steps), ``threshold`` in input units (absolute) or as a factor
    on the running mean (``relative=True``, over ``stat_tau`` steps), ``warm_in`` steps skipped at
    the start of each above-threshold run.
    """

    def __init__(self, tau: float = 3.0, threshold: float = 0.05, relative: bool = False,
                 stat_tau: float = 1000.0, warm_in: int = 0) -> None:
        if tau is None:
            raise ValueError("tau must be > 0 steps: the temporal-intensity mask always smooths")
        super().__init__(threshold, tau, relative, stat_tau, warm_in)

    def statistic(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x.astype(np.float64)).mean(axis=2)


class EnergyMask(_ThresholdMask):
    """Streaming energy-based mask (see the module docstring).

    ``features``: ``linear`` (``e_t = mean x^2``) or ``log`` (inputs are log energies, e.g. log-mel;
    ``e_t = log mean exp x``). ``threshold`` absolute, or relative to the running mean over
    ``stat_tau`` steps (a factor for linear, an offset in log units for log). ``tau``: optional
    smoothing (steps). ``warm_in`` as for :class:`IntensityMask`.
    """

    def __init__(self, threshold: float = 0.05, features: str = "linear", relative: bool = False,
                 stat_tau: float = 1000.0, tau: float | None = None, warm_in: int = 0) -> None:
        if features not in ENERGY_FEATURES:
            raise ValueError(f"features must be one of {ENERGY_FEATURES}, got {features!r}")
        self.features = features
        self.log_domain = features == "log"
        super().__init__(threshold, tau, relative, stat_tau, warm_in)

    def statistic(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        if self.features == "linear":
            return (x ** 2).mean(axis=2)
        top = x.max(axis=2, keepdims=True)
        return top[..., 0] + np.log(np.exp(x - top).mean(axis=2))


class OracleMask:
    """Streaming oracle: ``is_target`` steps at least ``skip_first`` steps into their segment
    (counted across chunk boundaries). ``skip_first=0`` returns the stream's ``is_target``."""

    def __init__(self, skip_first: int = 0) -> None:
        if int(skip_first) != skip_first or skip_first < 0:
            raise ValueError(f"skip_first must be an integer >= 0 steps, got {skip_first}")
        self.skip_first = int(skip_first)
        self.reset()

    def reset(self) -> None:
        self.since_start: np.ndarray | None = None  # steps since the last segment start [B]

    def __call__(self, chunk: StreamChunk) -> np.ndarray:
        start, is_target = np.asarray(chunk.segment_start, bool), np.asarray(chunk.is_target, bool)
        if start.ndim != 2 or start.shape != is_target.shape:
            raise ValueError(f"segment_start and is_target must both be [T, B], got {start.shape} "
                             f"and {is_target.shape}")
        t_len, batch = start.shape
        prev = np.full(batch, 10**12, np.int64) if self.since_start is None else self.since_start
        steps = np.arange(t_len)[:, None]
        last_start = np.maximum.accumulate(np.where(start, steps, -1), axis=0)
        since = np.where(last_start >= 0, steps - last_start, prev[None] + 1 + steps)
        if t_len:
            self.since_start = since[-1].copy()
        return is_target & (since >= self.skip_first)


def temporal_intensity_mask(inputs: np.ndarray, tau: float = 3.0, threshold: float = 0.05,
                            relative: bool = False, stat_tau: float = 1000.0,
                            warm_in: int = 0) -> np.ndarray:
    """One-shot temporal-intensity mask ``[T, B, N] -> [T, B]`` (see :class:`IntensityMask`)."""
    return IntensityMask(tau, threshold, relative, stat_tau, warm_in)(inputs)


def energy_mask(inputs: np.ndarray, threshold: float = 0.05, features: str = "linear",
                relative: bool = False, stat_tau: float = 1000.0, tau: float | None = None,
                warm_in: int = 0) -> np.ndarray:
    """One-shot energy mask ``[T, B, N] -> [T, B]`` (see :class:`EnergyMask`); by default
    ``mean_n x_t^2 > threshold`` per step."""
    return EnergyMask(threshold, features, relative, stat_tau, tau, warm_in)(inputs)


def oracle_mask(chunk: StreamChunk, skip_first: int = 0) -> np.ndarray:
    """One-shot oracle mask of a chunk that starts a stream (see :class:`OracleMask`)."""
    return OracleMask(skip_first)(chunk)


def make_mask(name: str, **params) -> IntensityMask | EnergyMask | OracleMask:
    """A fresh streaming mask by name (one of :data:`MASKS`) with its parameters."""
    makers = {"temporal_intensity": IntensityMask, "energy": EnergyMask, "oracle": OracleMask}
    if name not in makers:
        raise ValueError(f"unknown mask {name!r}; expected one of {MASKS}")
    try:
        return makers[name](**params)
    except TypeError as exc:
        raise TypeError(f"bad parameters for mask {name!r}: {exc}") from None


def preset_params(name: str, preset: str | Mapping[str, Mapping[str, float]] = "default"
                  ) -> dict[str, float]:
    """The parameters of mask ``name`` in ``preset`` (a :data:`MASK_PRESETS` key, or a mapping
    ``{mask name: params}`` of one's own)."""
    if name not in MASKS:
        raise ValueError(f"unknown mask {name!r}; expected one of {MASKS}")
    if isinstance(preset, str):
        if preset not in MASK_PRESETS:
            raise ValueError(f"unknown mask preset {preset!r}; expected one of "
                             f"{tuple(MASK_PRESETS)} or a mapping {{mask name: parameters}}")
        preset = MASK_PRESETS[preset]
    return dict(preset.get(name, {}))


def apply_mask(chunks: Iterator[StreamChunk], mask: IntensityMask | EnergyMask | OracleMask,
               view: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[StreamChunk]:
    """The chunks with ``informative`` replaced by ``mask`` (stateful: chunks in stream order).

    ``view``: what an input-driven mask sees of ``inputs [T, B, N]`` (for example a feature
    scale's intensity units); the inputs themselves by default."""
    for chunk in chunks:
        if isinstance(mask, OracleMask):
            value = mask(chunk)
        else:
            value = mask(chunk.inputs if view is None else view(chunk.inputs))
        yield chunk._replace(informative=value)


def with_mask(chunks: Iterator[StreamChunk], name: str,
              preset: str | Mapping[str, Mapping[str, float]] = "default",
              view: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[StreamChunk]:
    """The chunks with ``informative`` replaced by a fresh mask ``name`` with the settings of
    ``preset`` (see :data:`MASK_PRESETS`; ``oracle`` keeps the stream's labels)."""
    yield from apply_mask(chunks, make_mask(name, **preset_params(name, preset)), view)
