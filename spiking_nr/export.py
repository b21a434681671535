"""Trained :class:`~spiking_nr.network.SRNN` -> :class:`neuromorphic_export.NetworkSpec`.

The ``(1 - alpha)`` input factor of every neuron is folded into its rows of the weights and bias
(the deployed neuron adds its dense input directly). LIF layers become ``alif_yin`` with
``beta = 0`` (the ALIF without adaptation is exactly the LIF).

Biases start late: layer ``k`` (0-based; the readout is the last) gets ``bias_delay = k + 1``, the
step at which the deployed timing first delivers the input to it. Until then it stays at rest,
as the trained model is before its step 0, so the deployed network's layer ``k`` at step ``t``
equals the trained layer at step ``t - k - 1`` (spikes identical in float mode; the readout lags
by ``spec.latency`` steps).
"""

from __future__ import annotations

import numpy as np
import torch

from neuromorphic_export.quantize import quantize_network
from neuromorphic_export.spec import LayerSpec, NetworkSpec
from spiking_nr.network import SRNN


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


@torch.no_grad()
def to_network_spec(model: SRNN, mode: str = "float") -> NetworkSpec:
    """Describe ``model`` for the deployment backends, in ``"float"`` or ``"fixed"`` point."""
    if mode not in ("float", "fixed"):
        raise ValueError(f"mode must be 'float' or 'fixed', got {mode!r}")
    if not isinstance(model, SRNN):
        raise TypeError(f"expected an SRNN, got {type(model).__name__}")
    layers = []
    for index, layer in enumerate(model.layers):
        params = layer.neuron_parameters()
        alpha = _np(params.alpha)
        gain = (1.0 - alpha)[:, None]
        n = layer.size
        rho = _np(params.rho) if layer.neuron == "alif" else np.zeros(n)
        layers.append(LayerSpec(
            name=f"hidden{index}",
            model="alif_yin",
            weight=gain * _np(layer.fc.weight),
            weight_rec=None if layer.rec is None else gain * _np(layer.rec.weight),
            bias=gain[:, 0] * _np(layer.fc.bias),
            params={"alpha": alpha, "rho": rho, "b0": np.full(n, float(layer.b0)),
                    "beta": np.full(n, float(layer.beta))},
            bias_delay=index + 1,
        ))
    alpha = _np(model.readout.neuron_parameters().alpha)
    layers.append(LayerSpec(
        name="readout", model="readout",
        weight=(1.0 - alpha)[:, None] * _np(model.readout.fc.weight),
        bias=(1.0 - alpha) * _np(model.readout.fc.bias),
        params={"alpha": alpha},
        bias_delay=len(model.layers) + 1,
    ))
    spec = NetworkSpec(model.config.input_size, tuple(layers), "float",
                       metadata={"exported_from": "spiking_nr.SRNN",
                                 "surrogate": model.config.surrogate})
    return quantize_network(spec) if mode == "fixed" else spec
