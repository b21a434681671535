"""Float -> Loihi fixed point (see :mod:`neuromorphic_export.spec` for the integer dynamics).

Per layer, input and recurrent weights share one scale ``s_w`` (both add into ``u``), chosen so the
largest magnitude maps to the top of Loihi's 8-bit mantissa; the state scale is ``64 * s_w``
because Loihi adds ``a << 6`` to the state. Decays become 12-bit integers (units of 1/4096).
"""

from __future__ import annotations

import numpy as np

from neuromorphic_export.spec import (
    DECAY_ONE,
    STATE_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
    LayerSpec,
    NetworkSpec,
)


def quantize_weights(weights: np.ndarray, scale: float) -> np.ndarray:
    """Loihi 8-bit weights of ``weights * scale``.

    Mantissas are clipped to ``[-256, 254]``; when the matrix mixes signs Loihi drops the lowest
    bit (lava ``weightutils.truncate_weights``: ``(w >> 1) << 1``), so values are rounded to the
    nearest even integer here and Lava's truncation becomes a no-op.
    """
    scaled = np.asarray(weights, dtype=np.float64) * scale
    mixed = bool((scaled > 0).any() and (scaled < 0).any())
    q = 2.0 * np.round(scaled / 2.0) if mixed else np.round(scaled)
    return np.clip(q, WEIGHT_MIN, WEIGHT_MAX).astype(np.int64)


def quantize_decay(decay: np.ndarray) -> np.ndarray:
    """Decay factor in [0, 1) -> integer in units of 1/4096."""
    return np.clip(np.round(np.asarray(decay, dtype=np.float64) * DECAY_ONE), 0, DECAY_ONE).astype(
        np.int64
    )


def weight_scale(layer: LayerSpec) -> float:
    """Float -> integer weight scale of a layer: its largest |weight| maps to 254."""
    largest = float(np.abs(layer.weight).max())
    if layer.weight_rec is not None:
        largest = max(largest, float(np.abs(layer.weight_rec).max()))
    largest = max(largest, float(np.abs(layer.bias).max()) / (STATE_MAX >> 7))
    if largest == 0.0:
        return 1.0
    return WEIGHT_MAX / largest


def quantize_layer(layer: LayerSpec) -> LayerSpec:
    s_w = weight_scale(layer)
    state_scale = 64.0 * s_w
    params = {}
    for key, value in layer.params.items():
        if key in ("alpha", "rho"):
            params[key] = quantize_decay(value)
        else:  # thresholds: state units
            params[key] = np.clip(np.round(value * state_scale), 0, STATE_MAX).astype(np.int64)
    if "b0" in params:
        params["b0"] = np.maximum(params["b0"], 1)  # a zero base threshold would fire on any input
    return LayerSpec(
        name=layer.name,
        model=layer.model,
        weight=quantize_weights(layer.weight, s_w),
        weight_rec=None if layer.weight_rec is None else quantize_weights(layer.weight_rec, s_w),
        bias=np.round(layer.bias * s_w).astype(np.int64),
        params=params,
        scale=state_scale,
    )


def quantize_network(spec: NetworkSpec) -> NetworkSpec:
    """Fixed-point version of a float network (outputs are ``y_int / layers[-1].scale``)."""
    if spec.mode != "float":
        raise ValueError(f"quantize_network needs a float network, got mode {spec.mode!r}")
    return NetworkSpec(spec.input_size, tuple(quantize_layer(layer) for layer in spec.layers),
                       mode="fixed", metadata={**spec.metadata, "quantized_from": "float"})
