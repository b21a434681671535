"""Float -> Loihi fixed point (see :mod:`neuromorphic_export.spec` for the integer dynamics).

Per layer, input and recurrent weights share one scale ``s_w`` (both add into ``u``), chosen so the
largest magnitude maps to the top of Loihi's 8-bit mantissa; the state scale is ``64 * s_w``
because Loihi adds ``a << 6`` to the state. Decays become 12-bit integers (units of 1/4096),
except ``alif_yin``'s adaptation decay ``rho`` (24 bits, units of 2**-24; its trace gets
``TRACE_BITS`` fractional bits);
thresholds become state units (``alif_yin``) or mantissas compared as ``<< 6`` (``cuba_lif``,
``atrlif``). A float current decay of 0 becomes 1/4096, the smallest Loihi can express.
"""

from __future__ import annotations

import numpy as np

from neuromorphic_export.spec import (
    DECAY_ONE,
    PARAM_RULES,
    RHO_ONE,
    TRACE_BITS,
    WEIGHT_MAX,
    WEIGHT_MIN,
    LayerSpec,
    NetworkSpec,
    bias_limit,
    netx_dense_weights,
)


def quantize_weights(weights: np.ndarray, scale: float, mixed: bool | None = None) -> np.ndarray:
    """Loihi 8-bit weights of ``weights * scale``.

    Mantissas are clipped to ``[-256, 254]``; when the matrix mixes signs Loihi drops the lowest
    bit (lava ``weightutils.truncate_weights``: ``(w >> 1) << 1``), so values are rounded to the
    nearest even integer here and Lava's truncation becomes a no-op. ``mixed`` overrides the
    matrix's own sign test (netx sizes a layer's two matrices together).
    """
    scaled = np.asarray(weights, dtype=np.float64) * scale
    if mixed is None:
        mixed = bool((scaled > 0).any() and (scaled < 0).any())
    q = 2.0 * np.round(scaled / 2.0) if mixed else np.round(scaled)
    return np.clip(q, WEIGHT_MIN, WEIGHT_MAX).astype(np.int64)


def quantize_decay(decay: np.ndarray) -> np.ndarray:
    """Decay factor in [0, 1] -> integer in units of 1/4096."""
    return np.clip(np.round(np.asarray(decay, dtype=np.float64) * DECAY_ONE), 0, DECAY_ONE).astype(
        np.int64
    )


def weight_scale(layer: LayerSpec) -> float:
    """Float -> integer weight scale of a layer: its largest |weight| maps to 254.

    The bias shares the scale; it may use half of its fixed-point range (``bias_limit``), so a
    layer whose bias dominates gets a smaller scale instead of an out-of-range bias.
    """
    largest = float(np.abs(layer.weight).max())
    if layer.weight_rec is not None:
        largest = max(largest, float(np.abs(layer.weight_rec).max()))
    largest = max(largest, float(np.abs(layer.bias).max()) * WEIGHT_MAX / (bias_limit(layer.model) // 2))
    if largest == 0.0:
        return 1.0
    return WEIGHT_MAX / largest


def quantize_param(key: str, value: np.ndarray, weight_scale: float) -> np.ndarray:
    """One neuron parameter in fixed point, by its unit in ``PARAM_RULES`` (clipped to its range)."""
    rule = PARAM_RULES[key]
    if rule.unit == "decay":
        q = quantize_decay(value)
    elif rule.unit == "fine_decay":
        q = np.round(np.asarray(value, dtype=np.float64) * RHO_ONE)
    else:  # thresholds: state units (scale 64 * s_w) or mantissas compared as << 6 (scale s_w)
        q = np.round(np.asarray(value, dtype=np.float64) * weight_scale
                     * (64.0 if rule.unit == "state" else 1.0))
    return np.clip(q, *rule.fixed_range).astype(np.int64)


def _mixed(*matrices: np.ndarray | None) -> bool:
    both = np.concatenate([np.ravel(m) for m in matrices if m is not None])
    return bool((both > 0).any() and (both < 0).any())


def quantize_layer(layer: LayerSpec) -> LayerSpec:
    """Fixed-point version of one float layer (scale chosen by :func:`weight_scale`).

    ``cuba_lif`` layers round both matrices to even values when the two together mix signs, so
    netx's joint bit sizing leaves them unchanged (``neuromorphic_export.spec.netx_dense_weights``);
    in the rare case it still would not (an all-negative matrix reaching -256 after netx's shift)
    the scale shrinks by 2 % until it does.
    """
    s_w = weight_scale(layer)
    for _ in range(64):
        fixed = _quantize_at(layer, s_w)
        if layer.model != "cuba_lif" or not np.any(fixed.weight) or _netx_keeps(fixed):
            return fixed
        s_w *= 0.98
    raise ValueError(f"layer {layer.name!r}: found no weight scale that netx's bit sizing keeps")


def _netx_keeps(layer: LayerSpec) -> bool:
    kept = netx_dense_weights(layer.weight, layer.weight_rec)
    return all(got is None or np.array_equal(got, want)
               for got, want in zip(kept, (layer.weight, layer.weight_rec)))


def _quantize_at(layer: LayerSpec, s_w: float) -> LayerSpec:
    joint = _mixed(layer.weight, layer.weight_rec) if layer.model == "cuba_lif" else None
    params = {key: quantize_param(key, value, s_w) for key, value in layer.params.items()}
    if "b0" in params:
        params["b0"] = np.maximum(params["b0"], 1)  # a zero base threshold would fire on any input
    limit = bias_limit(layer.model)
    return LayerSpec(
        name=layer.name,
        model=layer.model,
        weight=quantize_weights(layer.weight, s_w, joint),
        weight_rec=None if layer.weight_rec is None else quantize_weights(layer.weight_rec, s_w, joint),
        bias=np.clip(np.round(layer.bias * s_w), -limit, limit).astype(np.int64),
        params=params,
        scale=64.0 * s_w,
        trace_bits=TRACE_BITS,
        bias_delay=layer.bias_delay,
    )


def quantize_network(spec: NetworkSpec) -> NetworkSpec:
    """Fixed-point version of a float network (outputs are ``y_int / layers[-1].scale``)."""
    if spec.mode != "float":
        raise ValueError(f"quantize_network needs a float network, got mode {spec.mode!r}")
    return NetworkSpec(spec.input_size, tuple(quantize_layer(layer) for layer in spec.layers),
                       mode="fixed", metadata={**spec.metadata, "quantized_from": "float"})
