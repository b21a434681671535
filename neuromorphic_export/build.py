"""Build network specs directly (without the torch side): given or random layers of any model.

:func:`make_layer` turns given weights and parameters into a :class:`LayerSpec` (scalars are
broadcast to one value per neuron). :func:`random_network` draws a float network of ``alif_yin``,
``cuba_lif`` or ``atrlif`` layers with a readout, active enough to test backends against each
other, and quantises it to Loihi fixed point with :func:`~neuromorphic_export.quantize.quantize_network`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuromorphic_export.quantize import quantize_network
from neuromorphic_export.spec import (
    MODES,
    NEURON_PARAMS,
    SPIKING_MODELS,
    TRACE_BITS,
    LayerSpec,
    NetworkSpec,
)


def make_layer(model: str, name: str, weight: np.ndarray, *, bias: float | np.ndarray = 0,
               weight_rec: np.ndarray | None = None, scale: float = 1.0,
               trace_bits: int = TRACE_BITS, bias_delay: int = 0,
               **params: float | np.ndarray) -> LayerSpec:
    """A layer of ``model`` with ``weight [N, N_in]``; ``bias`` and each parameter scalar or ``[N]``.

    Units are the spec's (see :mod:`neuromorphic_export.spec`): in fixed point, e.g.
    ``make_layer("cuba_lif", "h0", w, du=1024, dv=256, vth=200)`` is a CUBA LIF layer whose current
    keeps 3/4 and voltage 15/16 per step and that fires when ``v > 200 << 6``. The spec checks
    everything when the layer is put into a :class:`NetworkSpec`.
    """
    if model not in NEURON_PARAMS:
        raise ValueError(f"unknown neuron model {model!r}; expected one of {sorted(NEURON_PARAMS)}")
    missing = set(NEURON_PARAMS[model]) - set(params)
    extra = set(params) - set(NEURON_PARAMS[model])
    if missing or extra:
        raise ValueError(f"{model} needs parameters {list(NEURON_PARAMS[model])}; missing "
                         f"{sorted(missing)}, unexpected {sorted(extra)}")
    weight = np.asarray(weight)
    if weight.ndim != 2:
        raise ValueError(f"weight must be a [N, N_in] matrix, got shape {weight.shape}")
    n = weight.shape[0]

    def per_neuron(value: float | np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        return np.full(n, value) if value.ndim == 0 else value

    return LayerSpec(name, model, weight, per_neuron(bias),
                     {key: per_neuron(params[key]) for key in NEURON_PARAMS[model]},
                     weight_rec=weight_rec, scale=scale, trace_bits=trace_bits,
                     bias_delay=bias_delay)


def _random_params(model: str, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Float parameters of one layer; lava's layer-wide ones drawn once for the whole layer."""
    if model == "alif_yin":
        return {"alpha": rng.uniform(0.8, 0.97, n), "rho": rng.uniform(0.98, 0.998, n),
                "b0": np.full(n, 0.01), "beta": np.full(n, 1.8)}
    if model == "cuba_lif":
        return {"du": np.full(n, rng.uniform(0.1, 0.5)), "dv": np.full(n, rng.uniform(0.05, 0.3)),
                "vth": np.full(n, 1.0)}
    return {"di": np.full(n, rng.uniform(0.1, 0.5)), "dv": np.full(n, rng.uniform(0.05, 0.3)),
            "dth": np.full(n, rng.uniform(0.02, 0.1)), "dr": np.full(n, rng.uniform(0.1, 0.3)),
            "th0": np.full(n, 1.0), "th_step": np.full(n, rng.uniform(0.1, 0.4))}


# Float weight statistics per model (mean, std, recurrent std, bias std), times 1/sqrt(fan-in):
# chosen so that random binary input at 20-30 % density keeps every layer firing.
_WEIGHT_STATS = {"alif_yin": (0.07, 0.2, 0.1, 0.002), "cuba_lif": (0.1, 0.8, 0.6, 0.02),
                 "atrlif": (0.3, 1.2, 0.6, 0.02)}


def random_network(model: str, input_size: int, sizes: Sequence[int], output_size: int, *,
                   mode: str = "fixed", seed: int = 0, recurrent: bool = True) -> NetworkSpec:
    """Random ``input_size -> sizes... -> output_size`` network of ``model`` layers + a readout.

    ``mode="fixed"`` quantises the float network (8-bit weights, 12-bit decays, thresholds as
    mantissas); the same ``seed`` gives the float network and its fixed-point version.
    """
    if model not in SPIKING_MODELS:
        raise ValueError(f"model must be a spiking model {SPIKING_MODELS}, got {model!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if len(sizes) == 0 or min(sizes) <= 0:
        raise ValueError(f"need at least one hidden layer of positive size, got {tuple(sizes)}")
    rng = np.random.default_rng(seed)
    mean, std, rec_std, bias_std = _WEIGHT_STATS[model]
    layers, fan_in = [], input_size
    for index, n in enumerate(sizes):
        gain = 1.0 / np.sqrt(fan_in)
        layers.append(LayerSpec(
            f"hidden{index}", model, rng.normal(mean, std, (n, fan_in)) * gain,
            rng.normal(0.0, bias_std, n), _random_params(model, rng, n),
            weight_rec=rng.normal(0.0, rec_std, (n, n)) / np.sqrt(n) if recurrent else None))
        fan_in = n
    readout = rng.normal(0.0, 0.3, (output_size, fan_in)) / np.sqrt(fan_in)
    layers.append(LayerSpec("readout", "readout", readout, np.zeros(output_size),
                            {"alpha": rng.uniform(0.8, 0.97, output_size)}))
    spec = NetworkSpec(input_size, tuple(layers), "float",
                       metadata={"built_by": "neuromorphic_export.build.random_network", "seed": seed})
    return quantize_network(spec) if mode == "fixed" else spec
