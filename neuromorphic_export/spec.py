"""The network description shared by the exporter, the CPU backend and the Lava backend.

Timing is Lava's: every dense connection (input -> layer, layer -> layer, recurrent) delivers at
step ``t + 1`` what its source emitted at step ``t``. A layer therefore runs the trained model's
dynamics shifted by its depth, and the readout at step ``t`` reflects the input of step
``t - latency`` (``latency`` = number of layers).

Neuron models (``I`` below already contains the ``(1 - alpha)`` factor: the exporter folds it into
each row of ``weight``, ``weight_rec`` and ``bias``):

``alif_yin`` (Yin, Corradi & Bohte 2021), float::

    b = rho*b + (1-rho)*s_prev;   B = b0 + beta*b
    u = alpha*u + a + bias - B*s_prev;   s = u > B          a = W x_delayed + W_rec s_prev

``alif_yin``, fixed point (integers; ``rtz`` rounds toward zero; decays in units of 1/4096; ``u``,
``b0``, ``beta`` in state units, i.e. ``scale`` per float unit; ``b`` in units of 1/4096)::

    b = rtz(b*rho / 4096) + s_prev*(4096 - rho)
    B = b0 + rtz(beta*b / 4096)
    u = clip24(rtz(u*alpha / 4096) + (a << 6) + (bias << 6) - B*s_prev);   s = u > B

``readout`` (non-spiking leaky integrator; output = ``y``): float ``y = alpha*y + a + bias``;
fixed ``y = clip24(rtz(y*alpha / 4096) + (a << 6) + (bias << 6))``.

``clip24`` saturates to ``[-2**23, 2**23 - 1]`` like Loihi's 24-bit state. Weights in fixed mode
follow Loihi's rule (8-bit mantissa in ``[-256, 254]``, even values when signs are mixed;
weight exponent 0) so Lava's ``Dense`` leaves them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODES = ("float", "fixed")
NEURON_PARAMS = {
    "alif_yin": ("alpha", "rho", "b0", "beta"),
    "readout": ("alpha",),
}
SPIKING_MODELS = ("alif_yin",)
STATE_MIN, STATE_MAX = -(2**23), 2**23 - 1
DECAY_ONE = 4096
WEIGHT_MIN, WEIGHT_MAX = -256, 254


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
    (0, 1), thresholds in float units; fixed mode: integers as in the module docstring).
    ``scale`` is the number of state units per float unit (1.0 in float mode).
    """

    name: str
    model: str
    weight: np.ndarray
    bias: np.ndarray
    params: dict[str, np.ndarray]
    weight_rec: np.ndarray | None = None
    scale: float = 1.0

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
        if mode == "float":
            self._check_float(where, params)
        else:
            self._check_fixed(where, weight, weight_rec, bias, params)
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"{where}: scale must be finite and > 0, got {self.scale}")
        return LayerSpec(self.name, self.model, weight, bias, params, weight_rec, float(self.scale))

    def _check_float(self, where: str, params: dict[str, np.ndarray]) -> None:
        for key in ("alpha", "rho"):
            if key in params and np.any((params[key] < 0) | (params[key] >= 1)):
                raise ValueError(f"{where}: decay {key} must be in [0, 1)")
        if "b0" in params and np.any(params["b0"] <= 0):
            raise ValueError(f"{where}: b0 (base threshold) must be > 0")
        if "beta" in params and np.any(params["beta"] < 0):
            raise ValueError(f"{where}: beta must be >= 0")

    def _check_fixed(self, where, weight, weight_rec, bias, params) -> None:
        for name, w in (("weight", weight), ("weight_rec", weight_rec)):
            if w is None:
                continue
            if w.min() < WEIGHT_MIN or w.max() > WEIGHT_MAX:
                raise ValueError(f"{where}: fixed-point {name} must lie in [{WEIGHT_MIN}, "
                                 f"{WEIGHT_MAX}] (8-bit mantissa), got [{w.min()}, {w.max()}]")
        for key in ("alpha", "rho"):
            if key in params and np.any((params[key] < 0) | (params[key] > DECAY_ONE)):
                raise ValueError(f"{where}: fixed-point decay {key} must be in [0, 4096] "
                                 "(units of 1/4096)")
        for key in ("b0", "beta"):
            if key in params and np.any((params[key] < 0) | (params[key] > STATE_MAX)):
                raise ValueError(f"{where}: fixed-point {key} must be in [0, 2**23)")
        if np.any(np.abs(bias) > STATE_MAX >> 6):
            raise ValueError(f"{where}: fixed-point bias out of the 24-bit range after << 6")


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
