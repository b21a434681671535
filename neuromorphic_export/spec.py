"""The network description shared by the exporter, the CPU backend and the Lava backend.

Timing is Lava's: every dense connection (input -> layer, layer -> layer, recurrent) delivers at
step ``t + 1`` what its source emitted at step ``t``. A layer therefore runs the trained model's
dynamics shifted by its depth, and the readout at step ``t`` reflects the input of step
``t - latency`` (``latency`` = number of layers).

Neuron models (``I`` below already contains the ``(1 - alpha)`` factor: the exporter folds it into
each row of ``weight``, ``weight_rec`` and ``bias``):

``alif_yin`` (Yin, Corradi & Bohte 2021), float::

    b = rho*b + (1-rho)*s_prev;   B = b0 + beta*b
    u = alpha*u + a + on*bias - B*s_prev;   s = u > B          a = W x_delayed + W_rec s_prev

``alif_yin``, fixed point (integers; ``rtz`` rounds toward zero; ``alpha`` in units of 1/4096;
``rho`` in units of 2**-24; ``u``, ``b0``, ``beta`` in state units, i.e. ``scale`` per float unit;
``b`` in units of ``2**-F``, ``F = trace_bits`` fractional bits, a per-layer field)::

    b = (b*rho >> 24) + s_prev*inc          inc = (2**24 - rho) * 2**(F - 24)   (exact, see below)
    B = b0 + (beta*b >> F)
    u = clip24(rtz(u*alpha / 4096) + (a << 6) + on*(bias << 6) - B*s_prev);   s = u > B

``b`` and ``beta`` are never negative, so ``>>`` rounds toward zero here. Why two decay units: a
trace that one spike raises by ``(1 - rho)`` and that must keep its exponential shape for
``5*tau_adapt`` steps needs far more than 12 bits (with ``b`` in units of 1/4096 and ``tau = 150``
one spike's 27/4096 fell by one unit per step and was gone after 27 steps; with ``F = 23``,
i.e. a 24-bit word, ``tau = 2000`` still loses 22 % of one spike's peak to the truncation) and a
decay closer to 1 than 12 bits resolve (``rho = 4094/4096`` means ``tau = 2048``, not 2000).
The quantiser uses ``F = TRACE_BITS = 39`` and a 24-bit ``rho``: one spike's adaptation then
follows the float trace within 0.1 % up to ``5*tau_adapt`` for ``tau_adapt <= 2000``
(``tests/export/test_adaptation_precision.py``). On hardware ``b`` takes two 24-bit state words
(a custom microcode neuron, as ``YinALIF`` needs anyway). Products stay below ``2**63``:
``b < 2**39`` and ``rho <= 2**24``, ``beta < 2**23``. ``F`` may be 12..39; below 24, ``rho``
must be a multiple of ``2**(24 - F)`` so that ``inc`` is exact: ``F = 12`` with ``rho = r << 12``
is exactly the old 12-bit trace (``b = rtz(b*r / 4096) + s_prev*(4096 - r)``), which is how
version-1/2 files load.

``on`` (every model with a bias; ``readout`` too) is 0 during the first ``bias_delay`` steps of a
stream and 1 afterwards. The deployed timing delivers the input to layer ``k`` (0-based) at step
``k + 1``; an exported network sets ``bias_delay = k + 1`` so that each layer stays at rest until
its input arrives, exactly like the trained model, which starts all layers at step 0. lava's own
``LIF``/``ATRLIF`` have no such gate: ``cuba_lif``/``atrlif`` layers with a non-zero bias need
``bias_delay = 0``.

``readout`` (non-spiking leaky integrator; output = ``y``): float ``y = alpha*y + a + on*bias``;
fixed ``y = clip24(rtz(y*alpha / 4096) + (a << 6) + on*(bias << 6))``.

``cuba_lif`` (Loihi CUBA LIF, lava-nc ``lava.proc.lif.LIF``; hard reset, no refractory period),
float (``du``, ``dv`` are decay *amounts* in [0, 1])::

    i = (1-du)*i + a;   v = (1-dv)*v + i + bias;   s = v > vth;   v = 0 where s

fixed (``du`` in [1, 4096], ``dv`` in [0, 4096], units of 1/4096; ``vth`` a 17-bit mantissa,
compared as ``vth << 6``; ``bias`` a 13-bit mantissa, added as ``bias << 6``)::

    i = wrap24(rtz(i*(4096-du) / 4096) + (a << 6))
    v = clip23(rtz(v*(4096-dv) / 4096) + i + (bias << 6));   s = v > vth << 6;   v = 0 where s

``du`` here is the *effective* current decay: lava's ``LIF(du=...)`` fixed model adds a 1-bit
offset (``du_lava = du - 1``, which is also lava-dl netx's ``du = iDecay - 1``), so ``du`` equals
netx's ``iDecay`` and a current decay of zero cannot be expressed in fixed point.

``atrlif`` (Loihi ALIF with adaptive threshold and refractory state, lava-nc
``lava.proc.atrlif.ATRLIF``; v is NOT reset), float::

    i = (1-di)*i + a;   v = (1-dv)*v + i + bias
    th = (1-dth)*(th - th0) + th0;   r = (1-dr)*r;   s = (v - r) >= th
    where s: r += 2*th;  th += th_step                  (th starts at th0)

fixed (``di`` in [1, 4096] effective like ``du`` above; ``dv``, ``dth``, ``dr`` in [0, 4096];
``th0``, ``th_step`` 12-bit mantissas used as ``<< 6``; ``bias`` as for ``cuba_lif``)::

    i  = wrap24(rtz(i*(4096-di) / 4096) + (a << 6))
    v  = clip23(rtz(v*(4096-dv) / 4096) + i + (bias << 6))
    th = rtz((th - (th0 << 6))*(4096-dth) / 4096) + (th0 << 6);   r = rtz(r*(4096-dr) / 4096)
    s  = (v - r) >= th;   where s: r += 2*th;  th += th_step << 6     (th starts at th0 << 6)

``th`` and ``r`` are not saturated (neither are they in lava): keep ``dth``, ``dr`` > 0 on long
streams. lava's ATRLIF holds one value per population for all six parameters, and LIF for
``du``, ``dv``, ``vth``: those must be the same for every neuron of a layer (``LAYER_WIDE``).

``clip24`` saturates to ``[-2**23, 2**23 - 1]`` like Loihi's 24-bit state; ``clip23`` to the
symmetric ``[-(2**23 - 1), 2**23 - 1]`` (lava's LIF/ATRLIF voltage limits); ``wrap24`` wraps a
current once by ``2**24`` when it leaves ``(-2**23, 2**23]`` (lava's current overflow rule).
Weights in fixed mode are 8-bit mantissas in ``[-256, 254]`` (weight exponent 0) that Lava runs
unchanged, and validation refuses any that it would not: a matrix that mixes signs needs even
values (lava's ``Dense`` drops the lowest bit), an all-negative one values >= -255 (it clips);
``cuba_lif`` layers, which the file writes in lava-dl netx's schema, must also survive netx's
joint bit sizing of ``weight`` and ``weight_rec`` (:func:`netx_dense_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODES = ("float", "fixed")
NEURON_PARAMS = {
    "alif_yin": ("alpha", "rho", "b0", "beta"),
    "cuba_lif": ("du", "dv", "vth"),
    "atrlif": ("di", "dv", "dth", "dr", "th0", "th_step"),
    "readout": ("alpha",),
}
SPIKING_MODELS = ("alif_yin", "cuba_lif", "atrlif")
# Parameters that lava's processes hold once per population (Var of shape (1,)), not per neuron.
LAYER_WIDE = {"cuba_lif": NEURON_PARAMS["cuba_lif"], "atrlif": NEURON_PARAMS["atrlif"]}
STATE_MIN, STATE_MAX = -(2**23), 2**23 - 1
DECAY_ONE = 4096
RHO_ONE = 2**24  # alif_yin's adaptation decay rho is a 24-bit fraction (units of 2**-24)
TRACE_BITS = 39  # fractional bits of alif_yin's adaptation trace b written by the quantiser
TRACE_BITS_RANGE = (12, 39)  # 12: the version-1/2 trace; 39: the most that keeps b*rho < 2**63
BIAS_DELAY_MODELS = ("alif_yin", "readout")  # models whose (package) process gates the bias
WEIGHT_MIN, WEIGHT_MAX = -256, 254
BIAS_MANTISSA_MAX = 4095  # lava's LIF/ATRLIF bias_mant is a signed 13-bit integer


@dataclass(frozen=True)
class ParamRule:
    """Units and valid range of one neuron parameter, in float and in fixed mode.

    ``unit`` says how the quantiser maps a float value to fixed point: ``"decay"`` -> units of
    1/4096; ``"fine_decay"`` -> units of 2**-24; ``"state"`` -> state units (``scale`` per float
    unit); ``"mantissa"`` -> threshold
    mantissa, compared as ``value << 6`` (state units / 64). Ranges are closed unless
    ``float_open_hi`` / ``float_open_lo`` say otherwise (fixed ranges are always closed).
    """

    what: str
    unit: str
    float_range: tuple[float, float]
    fixed_range: tuple[int, int]
    float_open_lo: bool = False
    float_open_hi: bool = False


_RETAIN = ParamRule("decay", "decay", (0.0, 1.0), (0, DECAY_ONE), float_open_hi=True)
_DECAY = ParamRule("decay", "decay", (0.0, 1.0), (0, DECAY_ONE))
# Loihi adds a 1-bit offset to the current decay, so its effective value is at least 1/4096.
_CURRENT_DECAY = ParamRule("current decay", "decay", (0.0, 1.0), (1, DECAY_ONE))
PARAM_RULES = {
    "alpha": _RETAIN,  # retained fractions (the state is multiplied by them)
    "rho": ParamRule("adaptation decay", "fine_decay", (0.0, 1.0), (0, RHO_ONE), float_open_hi=True),
    "b0": ParamRule("base threshold", "state", (0.0, np.inf), (0, STATE_MAX), float_open_lo=True),
    "beta": ParamRule("adaptation strength", "state", (0.0, np.inf), (0, STATE_MAX)),
    "du": _CURRENT_DECAY, "di": _CURRENT_DECAY,  # decayed fractions (state * (1 - d))
    "dv": _DECAY, "dth": _DECAY, "dr": _DECAY,
    "vth": ParamRule("threshold", "mantissa", (0.0, np.inf), (0, 2**17 - 1)),
    "th0": ParamRule("base threshold", "mantissa", (0.0, np.inf), (0, 4095)),
    "th_step": ParamRule("threshold step", "mantissa", (0.0, np.inf), (0, 4095)),
}


def bias_limit(model: str) -> int:
    """Largest fixed-point |bias| of a model (in weight units, i.e. before the ``<< 6``)."""
    return BIAS_MANTISSA_MAX if model in LAYER_WIDE else STATE_MAX >> 6


def _interval(lo, hi, open_lo: bool = False, open_hi: bool = False) -> str:
    return f"{'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"


def _as_array(value: Any, name: str, dtype: type) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if dtype is np.int64 and array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise ValueError(f"{name} must hold integers in fixed mode")
    return np.ascontiguousarray(array, dtype=dtype)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: ``weight [N, N_in]``, optional ``weight_rec [N, N]``, ``bias [N]``, neuron params.

    ``params`` maps each name in ``NEURON_PARAMS[model]`` to a ``[N]`` array (float mode: decays in
    [0, 1], thresholds in float units; fixed mode: integers as in the module docstring; units and
    ranges per name in ``PARAM_RULES``).
    ``scale`` is the number of state units per float unit (1.0 in float mode).
    ``trace_bits`` (``alif_yin``, fixed mode) the fractional bits of the adaptation trace ``b``;
    ``bias_delay`` the steps at the start of a stream during which the bias is not added.
    """

    name: str
    model: str
    weight: np.ndarray
    bias: np.ndarray
    params: dict[str, np.ndarray]
    weight_rec: np.ndarray | None = None
    scale: float = 1.0
    trace_bits: int = TRACE_BITS
    bias_delay: int = 0

    @property
    def size(self) -> int:
        return int(self.weight.shape[0])

    @property
    def input_size(self) -> int:
        return int(self.weight.shape[1])

    @property
    def spiking(self) -> bool:
        return self.model in SPIKING_MODELS

    def validate(self, mode: str) -> LayerSpec:
        """Return a copy with normalised dtypes, or raise ``ValueError`` naming the problem."""
        where = f"layer {self.name!r}"
        if self.model not in NEURON_PARAMS:
            raise ValueError(f"{where}: unknown neuron model {self.model!r}; expected one of "
                             f"{sorted(NEURON_PARAMS)}")
        dtype = np.float64 if mode == "float" else np.int64
        weight = _as_array(self.weight, f"{where} weight", dtype)
        if weight.ndim != 2 or 0 in weight.shape:
            raise ValueError(f"{where}: weight must be a non-empty [N_out, N_in] matrix, "
                             f"got shape {weight.shape}")
        n = weight.shape[0]
        weight_rec = None
        if self.weight_rec is not None:
            if self.model == "readout":
                raise ValueError(f"{where}: a readout layer cannot be recurrent")
            weight_rec = _as_array(self.weight_rec, f"{where} weight_rec", dtype)
            if weight_rec.shape != (n, n):
                raise ValueError(f"{where}: weight_rec must be [{n}, {n}], got {weight_rec.shape}")
        bias = _as_array(self.bias, f"{where} bias", dtype)
        if bias.shape != (n,):
            raise ValueError(f"{where}: bias must have shape ({n},), got {bias.shape}")
        expected = set(NEURON_PARAMS[self.model])
        if set(self.params) != expected:
            raise ValueError(f"{where}: {self.model} needs parameters {sorted(expected)}, "
                             f"got {sorted(self.params)}")
        params = {}
        for key in NEURON_PARAMS[self.model]:
            value = _as_array(self.params[key], f"{where} {key}", dtype)
            if value.shape != (n,):
                raise ValueError(f"{where}: {key} must have shape ({n},), got {value.shape}")
            params[key] = value
        for name, array in [("weight", weight), ("bias", bias), *params.items()] + (
            [("weight_rec", weight_rec)] if weight_rec is not None else []
        ):
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{where}: {name} contains NaN/inf")
        self._check_params(where, mode, params)
        if mode == "fixed":
            self._check_fixed(where, weight, weight_rec, bias)
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"{where}: scale must be finite and > 0, got {self.scale}")
        trace_bits, bias_delay = self._check_timing(where, mode, params, bias)
        return LayerSpec(self.name, self.model, weight, bias, params, weight_rec, float(self.scale),
                         trace_bits, bias_delay)

    def _check_timing(self, where: str, mode: str, params: dict[str, np.ndarray],
                      bias: np.ndarray) -> tuple[int, int]:
        """Validated ``(trace_bits, bias_delay)``."""
        for name in ("trace_bits", "bias_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{where}: {name} must be an int, got {value!r}")
        trace_bits, bias_delay = int(self.trace_bits), int(self.bias_delay)
        if not 0 <= bias_delay <= 2**31 - 1:
            raise ValueError(f"{where}: bias_delay must be in [0, 2147483647] steps, got {bias_delay}")
        if bias_delay and self.model not in BIAS_DELAY_MODELS and np.any(bias != 0):
            raise ValueError(f"{where}: bias_delay must be 0 for a {self.model} layer with a bias "
                             f"(lava's process adds its bias from step 0), got {bias_delay}")
        if self.model == "alif_yin" and mode == "fixed":
            lo, hi = TRACE_BITS_RANGE
            if not lo <= trace_bits <= hi:
                raise ValueError(f"{where}: trace_bits must be in [{lo}, {hi}], got {trace_bits}")
            step = 1 << max(0, 24 - trace_bits)
            if np.any(params["rho"] % step):
                raise ValueError(f"{where}: with trace_bits {trace_bits}, rho must be a multiple of "
                                 f"{step} (units of 2**-24) so that the spike increment is exact")
        return trace_bits, bias_delay

    def _check_params(self, where: str, mode: str, params: dict[str, np.ndarray]) -> None:
        for key, value in params.items():
            rule = PARAM_RULES[key]
            if mode == "float":
                lo, hi = rule.float_range
                bad = ((value <= lo) if rule.float_open_lo else (value < lo)) | (
                    (value >= hi) if rule.float_open_hi else (value > hi))
                interval = _interval(lo, hi, rule.float_open_lo, rule.float_open_hi)
                units = ""
            else:
                lo, hi = rule.fixed_range
                bad = (value < lo) | (value > hi)
                interval = _interval(lo, hi)
                units = {"decay": " (units of 1/4096)", "fine_decay": " (units of 2**-24)",
                         "state": " (state units)",
                         "mantissa": " (mantissa, used as << 6)"}[rule.unit]
                units = f" fixed-point{units}"
            if np.any(bad):
                raise ValueError(f"{where}: {rule.what} {key} must be in {interval}{units}, got "
                                 f"[{value.min():g}, {value.max():g}]")
            if key in LAYER_WIDE.get(self.model, ()) and np.any(value != value[0]):
                raise ValueError(f"{where}: {self.model} {key} must be the same for every neuron "
                                 "(lava holds one value per population)")

    def _check_fixed(self, where, weight, weight_rec, bias) -> None:
        for name, w in (("weight", weight), ("weight_rec", weight_rec)):
            if w is None:
                continue
            if w.min() < WEIGHT_MIN or w.max() > WEIGHT_MAX:
                raise ValueError(f"{where}: fixed-point {name} must lie in [{WEIGHT_MIN}, "
                                 f"{WEIGHT_MAX}] (8-bit mantissa), got [{w.min()}, {w.max()}]")
            _require_unchanged(where, name, w, lava_dense_weights(w), "lava's Dense",
                               "a matrix that mixes signs needs even values in [-256, 254], an "
                               "all-negative one values in [-255, 0]")
        if self.model == "cuba_lif":  # may be written in netx's schema (neuromorphic_export.io)
            if not np.any(weight) and (weight_rec is None or not np.any(weight_rec)):
                raise ValueError(f"{where}: a fixed-point cuba_lif layer needs a non-zero weight "
                                 "(netx cannot size an all-zero weight matrix)")
            for name, w, got in zip(("weight", "weight_rec"), (weight, weight_rec),
                                    netx_dense_weights(weight, weight_rec)):
                _require_unchanged(where, name, w, got, "netx's bit sizing (weight and weight_rec "
                                   "sized together)", "when the two matrices together mix signs, "
                                   "every value must be even")
        limit = bias_limit(self.model)
        if np.any(np.abs(bias) > limit):
            raise ValueError(f"{where}: fixed-point bias of a {self.model} layer must be in "
                             f"[-{limit}, {limit}] (applied as bias << 6), got "
                             f"[{bias.min()}, {bias.max()}]")


def _sign_mode(w: np.ndarray) -> str:
    """lava's ``determine_sign_mode``: excitatory if min >= 0, inhibitory if max <= 0, else mixed."""
    return "excitatory" if w.min() >= 0 else "inhibitory" if w.max() <= 0 else "mixed"


def lava_dense_weights(w: np.ndarray, num_weight_bits: int = 8) -> np.ndarray:
    """The integer weights lava-nc 0.10's fixed-point ``Dense`` applies for ``w``.

    Its model clips to 8 bits by sign mode (mixed [-256, 255], excitatory [0, 255], inhibitory
    [-255, 0]) and truncates ``8 - num_weight_bits (+1 if mixed)`` low bits of the magnitude; a
    negative count (possible under netx's sizing) zeroes the matrix in numpy.
    """
    w = np.asarray(w, dtype=np.int64)
    mode = _sign_mode(w)
    sign = -1 if mode == "inhibitory" else 1
    m = sign * w
    m = np.clip(m, -256, 255) if mode == "mixed" else np.clip(m, 0, 255)
    drop = 8 - num_weight_bits + (mode == "mixed")
    m = (m >> drop) << drop if drop >= 0 else np.zeros_like(m)
    return sign * m


def netx_dense_weights(weight: np.ndarray, weight_rec: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """The weights lava-dl 0.6 netx effectively applies for a ``dense`` / ``dense_rec`` layer.

    netx sizes the input and recurrent matrices together (``utils.optimize_weight_bits`` on their
    concatenation: a shift ``k`` and a bit count ``b``), then runs each through a fixed-point
    ``Dense`` with ``num_weight_bits = b`` and exponent ``-k``; the result here is divided back by
    ``2**k`` (exact when nothing changed). Needs a non-zero matrix (netx fails on an all-zero one).
    """
    parts = [np.asarray(w, dtype=np.int64) for w in (weight, weight_rec) if w is not None]
    concat = np.hstack(parts)
    if not concat.any():
        raise ValueError("netx cannot size an all-zero weight matrix")
    top, bottom = concat.max(), concat.min()
    signed = bottom < 0 <= top
    if top < 0:
        scale = -256 / bottom
    elif bottom >= 0:
        scale = 255 / top
    else:
        scale = min(127 / top if top > 0 else np.inf, -128 / bottom)
    shift = int(np.floor(np.log2(scale))) + int(signed)
    n = 8
    while n > 0 and np.any(concat % (2**n)):
        n -= 1
    bits = 8 - shift - (n - int(signed))
    out = [lava_dense_weights(w << shift, bits) >> shift for w in parts]
    return out[0], (out[1] if weight_rec is not None else None)


def _require_unchanged(where: str, name: str, want: np.ndarray, got: np.ndarray, who: str,
                       rule: str) -> None:
    bad = np.argwhere(want != got)
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"{where}: fixed-point {name} would be changed by {who} ({len(bad)} values, "
                         f"e.g. [{i}, {j}]: {want[i, j]} -> {got[i, j]}); {rule}")


@dataclass(frozen=True)
class NetworkSpec:
    """A feed-forward stack of (optionally recurrent) layers ending in a readout.

    ``input_size`` binary input channels (spikes). ``mode`` is ``"float"`` or ``"fixed"``.
    """

    input_size: int
    layers: tuple[LayerSpec, ...]
    mode: str = "float"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not isinstance(self.input_size, (int, np.integer)) or self.input_size <= 0:
            raise ValueError(f"input_size must be a positive int, got {self.input_size!r}")
        if len(self.layers) == 0:
            raise ValueError("a network needs at least one layer")
        layers = tuple(layer.validate(self.mode) for layer in self.layers)
        size = int(self.input_size)
        for layer in layers:
            if layer.input_size != size:
                raise ValueError(f"layer {layer.name!r} expects {layer.input_size} inputs but the "
                                 f"previous layer has {size} outputs")
            size = layer.size
        for layer in layers[:-1]:
            if not layer.spiking:
                raise ValueError(f"layer {layer.name!r} ({layer.model}) is not spiking; only the "
                                 "last layer may be a readout")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "input_size", int(self.input_size))

    @property
    def latency(self) -> int:
        """Steps from an input to the output it first affects (one per dense connection)."""
        return len(self.layers)

    @property
    def output_size(self) -> int:
        return self.layers[-1].size
