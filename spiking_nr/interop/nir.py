"""NIR export/import of :class:`~spiking_nr.network.SRNN` models (nir 1.0.8).

Time-step convention (see docs/interop.md). One of our steps lasts ``dt`` NIR time units
(``dt=1``: NIR times are in steps; snntorch writes/reads with ``dt=1e-4``, norse ``dt=1e-3``).
NIR's LIF ``tau dv/dt = (v_leak - v) + r I`` is discretised, like snntorch and norse do, by
forward Euler (``discretisation="euler"``)::

    v_t = (1 - dt/tau) v_{t-1} + (dt/tau) (r I_t + v_leak)

which is our ``u_t = alpha u_{t-1} + (1 - alpha) I'_t`` exactly with ``alpha = 1 - dt/tau`` and
``I' = r I + v_leak``. So ``tau_nir = dt / (1 - alpha)`` (about ``dt * (tau_steps + 1/2)``, *not*
``dt * tau_steps``; ``discretisation="exact"`` writes ``tau_nir = dt * tau_steps``, the
zero-order-hold solution, which no peer reads that way). ``r`` and ``v_leak`` are folded into
the weights and bias on import. On export, ``resistance="unit"`` writes ``r = 1`` and our weights
(norse's convention: norse ignores ``r``); ``resistance="tau"`` writes ``r = tau/dt`` and weights
times ``dt/tau = 1 - alpha`` (snntorch's convention: snntorch requires it). Recurrence is a graph
cycle ``lif -> rec -> lif``, read with a one-step delay (``s_{t-1}``), as all peers do; feed-forward
edges have no delay. The leaky readout is an ``LI`` node with the same mapping.

Reset: NIR's LIF resets to ``v_reset`` in the step it spikes ("zero" here). Our LIF subtracts the
threshold one step later, undecayed (``u_t = alpha u_{t-1} + (1-alpha) I_t - v_th s_{t-1}``,
"subtract"; identical to snntorch's ``Leaky(reset_mechanism="subtract")`` with its default
``reset_delay=True``). NIR cannot express "subtract", so a "subtract" model is written with
``v_reset = 0`` and ``metadata["spiking_nr.reset"] = "subtract"``; peers simulate it with a zero
reset. :func:`set_reset_mode` switches an SRNN's LIF layers to NIR's zero reset, which then
round-trips exactly. NIR has no adaptive-threshold neuron: ALIF layers cannot be exported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import nir
import numpy as np
import torch

from spiking_nr.network import SRNN, LayerConfig, SpikingLayer, SRNNConfig
from spiking_nr.neurons.lif import LIFParameters, LIFState

RESET_MODES = ("subtract", "zero")
DISCRETISATIONS = ("euler", "exact")
RESISTANCES = ("unit", "tau")
RESET_KEY = "spiking_nr.reset"
# Readout for graphs that end in a spiking layer: identity weights and alpha = exp(-1/1e-3) = 0
# exactly in float32/64, so y_t = s_t: the SRNN's output is the last layer's spikes.
PASSTHROUGH_TAU = 1e-3


# ---- zero-reset LIF layer (NIR semantics) ----------------------------------------------------
def lif_zero_reset_step(current: torch.Tensor, state: LIFState, params: LIFParameters,
                        spike_fn) -> tuple[torch.Tensor, LIFState]:
    """NIR LIF step with reset to 0 in the spiking step; ``state.u`` is the post-reset value.

    ``u = alpha*u + (1-alpha)*I;  s = H(u - v_th);  u <- u*(1 - s)``  (``[B, N]`` tensors)
    """
    u = params.alpha * state.u + (1.0 - params.alpha) * current
    s = spike_fn(u - params.v_th)
    return s, LIFState(u * (1.0 - s), s)


class ZeroResetLIFLayer(SpikingLayer):
    """A LIF :class:`SpikingLayer` that resets to zero when it spikes (NIR/norse/Lava LIF).

    Same parameters and state as the subtractive layer; only the reset differs. Made by
    :func:`set_reset_mode`, never constructed directly.
    """

    def forward(self, x: torch.Tensor, state: LIFState, reset_mask: torch.Tensor | None = None,
                record: bool = False):
        params = self.neuron_parameters()
        drive = self.fc(x)
        spikes, voltages = [], []
        for t in range(x.shape[0]):
            if reset_mask is not None:
                keep = (~reset_mask[t]).to(state.u.dtype).unsqueeze(-1)
                state = LIFState(state.u * keep, state.s * keep)
            current = drive[t] if self.rec is None else drive[t] + self.rec(state.s)
            s, state = lif_zero_reset_step(current, state, params, self.spike_fn)
            spikes.append(s)
            if record:
                voltages.append(state.u)
        trace = None
        if record:
            voltage = torch.stack(voltages)
            trace = (voltage, torch.full_like(voltage, params.v_th))
        return torch.stack(spikes), state, trace


def set_reset_mode(model: SRNN, mode: str) -> SRNN:
    """Switch every LIF layer of ``model`` to ``"subtract"`` (ours) or ``"zero"`` (NIR), in place.

    Parameters (and optimiser references to them) are kept. Checkpoints store only parameters:
    a model rebuilt from one is "subtract" until switched again.
    """
    if mode not in RESET_MODES:
        raise ValueError(f"reset mode must be one of {RESET_MODES}, got {mode!r}")
    for i, layer in enumerate(model.layers):
        if layer.neuron != "lif":
            if mode == "zero":
                raise ValueError(f"layer {i} is {layer.neuron.upper()}: only LIF layers have a "
                                 "zero-reset variant")
            continue
        # Swapping the class keeps the very same parameter tensors; only forward() changes.
        layer.__class__ = ZeroResetLIFLayer if mode == "zero" else SpikingLayer
    return model


def get_reset_mode(model: SRNN) -> str:
    """``"zero"`` if any LIF layer resets to zero, else ``"subtract"``."""
    return "zero" if any(isinstance(layer, ZeroResetLIFLayer) for layer in model.layers) \
        else "subtract"


# ---- time constants --------------------------------------------------------------------------
def _check_dt(dt: float, discretisation: str) -> None:
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt (duration of one step in NIR time units) must be > 0, got {dt!r}")
    if discretisation not in DISCRETISATIONS:
        raise ValueError(f"discretisation must be one of {DISCRETISATIONS}, got {discretisation!r}")


def _tau_nir_from_alpha(alpha: np.ndarray, dt: float, discretisation: str) -> np.ndarray:
    if discretisation == "euler":
        return dt / (1.0 - alpha)
    return -dt / np.log(alpha)


def _tau_steps_from_nir(tau: np.ndarray, dt: float, discretisation: str, where: str) -> np.ndarray:
    """Our time constant in steps (``alpha = exp(-1/tau_steps)``) for a NIR ``tau``."""
    tau = np.asarray(tau, dtype=np.float64)
    if discretisation == "exact":
        if not np.all(tau > 0):
            raise ValueError(f"{where}: tau must be > 0, got min {tau.min()}")
        return tau / dt
    alpha = 1.0 - dt / tau
    if not np.all((alpha > 0) & (alpha < 1)):
        raise ValueError(
            f"{where}: forward Euler needs tau > dt (decay 1 - dt/tau in (0, 1)); got tau min "
            f"{tau.min():.4g} with dt={dt}. Pass the dt the graph was written with "
            "(snntorch 1e-4, norse 1e-3)"
        )
    return -1.0 / np.log(alpha)


# ---- export ----------------------------------------------------------------------------------
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def to_nir(model: SRNN, dt: float = 1.0, resistance: str = "unit", readout: bool = True,
           discretisation: str = "euler") -> nir.NIRGraph:
    """Export ``model`` to a flat NIR graph (float64 parameters).

    Nodes: ``input``, per layer ``fc{i}`` (Affine), ``lif{i}.lif`` (LIF), ``lif{i}.w_rec``
    (Linear, in a cycle with ``lif{i}.lif``; snntorch's layout, which its importer relies on),
    then ``readout_fc`` (Affine) + ``readout`` (LI) when ``readout``, and ``output``.
    ``readout=False`` ends the graph at the last spiking layer (snntorch and norse cannot import
    LI). Raises ValueError for ALIF layers (NIR has no adaptive threshold).
    """
    if not isinstance(model, SRNN):
        raise TypeError(f"model must be an SRNN, got {type(model).__name__}")
    _check_dt(dt, discretisation)
    if resistance not in RESISTANCES:
        raise ValueError(f"resistance must be one of {RESISTANCES}, got {resistance!r}")
    alif = [i for i, layer in enumerate(model.layers) if layer.neuron == "alif"]
    if alif:
        raise ValueError(
            f"cannot export layer(s) {alif} to NIR: they are ALIF (adaptive threshold), and NIR "
            "has no adaptive-threshold neuron. "
            "Train with neuron='lif' for NIR, or export ALIF models to Lava (spiking_nr.export)"
        )
    mode = get_reset_mode(model)
    nodes: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type=np.array([model.config.input_size]))}
    edges: list[tuple[str, str]] = []
    prev = "input"

    def scaled(weight: np.ndarray, bias: np.ndarray | None, tau: np.ndarray, alpha: np.ndarray):
        if resistance == "unit":
            return np.ones_like(tau), weight, bias
        r = tau / dt  # snntorch: input enters the membrane unscaled, so W_nir = W * dt/tau
        return r, weight / r[:, None], None if bias is None else bias / r

    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            alpha = _np(layer.tau_mem.decay())
            tau = _tau_nir_from_alpha(alpha, dt, discretisation)
            r, w_in, b_in = scaled(_np(layer.fc.weight), _np(layer.fc.bias), tau, alpha)
            threshold = np.full(layer.size, float(layer.b0))
            nodes[f"fc{i}"] = nir.Affine(weight=w_in, bias=b_in)
            lif = f"lif{i}.lif"
            nodes[lif] = nir.LIF(tau=tau, r=r, v_leak=np.zeros(layer.size),
                                       v_threshold=threshold, v_reset=np.zeros(layer.size),
                                       metadata={RESET_KEY: mode})
            edges += [(prev, f"fc{i}"), (f"fc{i}", lif)]
            if layer.rec is not None:
                _, w_rec, _ = scaled(_np(layer.rec.weight), None, tau, alpha)
                nodes[f"lif{i}.w_rec"] = nir.Linear(weight=w_rec)
                edges += [(lif, f"lif{i}.w_rec"), (f"lif{i}.w_rec", lif)]
            prev = lif
        size = model.layers[-1].size
        if readout:
            alpha = _np(model.readout.tau.decay())
            tau = _tau_nir_from_alpha(alpha, dt, discretisation)
            r, w, b = scaled(_np(model.readout.fc.weight), _np(model.readout.fc.bias), tau, alpha)
            nodes["readout_fc"] = nir.Affine(weight=w, bias=b)
            nodes["readout"] = nir.LI(tau=tau, r=r, v_leak=np.zeros_like(tau))
            edges += [(prev, "readout_fc"), ("readout_fc", "readout")]
            prev, size = "readout", model.config.output_size
    nodes["output"] = nir.Output(output_type=np.array([size]))
    edges.append((prev, "output"))
    meta = {"spiking_nr.dt": float(dt), "spiking_nr.discretisation": discretisation,
            RESET_KEY: mode, "spiking_nr.resistance": resistance}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


# ---- import ----------------------------------------------------------------------------------
def _flatten(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, Any], list]:
    """Inline nested NIRGraph nodes; inner Input/Output nodes become pass-through ``"port"``s."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    inner: dict[str, tuple[list[str], list[str]]] = {}  # subgraph -> (its inputs, its outputs)
    for name, node in graph.nodes.items():
        key = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, key + "/")
            for sub_key, sub_node in sub_nodes.items():
                nodes[sub_key] = "port" if isinstance(sub_node, (nir.Input, nir.Output)) \
                    else sub_node
            edges += sub_edges
            inner[key] = (
                [key + "/" + k for k, v in node.nodes.items() if isinstance(v, nir.Input)],
                [key + "/" + k for k, v in node.nodes.items() if isinstance(v, nir.Output)])
        else:
            nodes[key] = node
    for src, dst in graph.edges:
        src, dst = prefix + src, prefix + dst
        sources = inner[src][1] if src in inner else [src]
        targets = inner[dst][0] if dst in inner else [dst]
        edges += [(s, d) for s in sources for d in targets]
    return nodes, edges


def _remove_ports(nodes: dict[str, Any], edges: list) -> list:
    for port in [k for k, v in nodes.items() if v == "port"]:
        preds = [s for s, d in edges if d == port]
        succs = [d for s, d in edges if s == port]
        edges = [e for e in edges if port not in e] + [(p, s) for p in preds for s in succs]
        del nodes[port]
    return list(dict.fromkeys(edges))  # drop duplicates, keep order


def _weights(node: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(node, nir.Affine):
        return np.asarray(node.weight, np.float64), np.asarray(node.bias, np.float64)
    if isinstance(node, nir.Linear):
        return np.asarray(node.weight, np.float64), None
    raise ValueError(
        f"node {name!r} is {type(node).__name__}; an SRNN needs an Affine or Linear projection "
        "here (supported chain: Input -> [Affine/Linear -> LIF (+ Linear/Affine cycle)]+ -> "
        "optional Affine/Linear -> LI -> Output)"
    )


def _per_neuron(value: Any, size: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(arr.reshape(-1) if arr.size == size else arr, (size,)).copy()
    except ValueError:
        raise ValueError(f"{what} has shape {arr.shape}, expected {size} values") from None


def _unsupported_neuron(node: Any, name: str) -> ValueError:
    kind = type(node).__name__
    if kind in ("CubaLIF", "CubaLI"):
        why = ("it has a synaptic current (snntorch Synaptic, norse LIFCell); an SRNN layer has "
               "none. Use current-free LIF (snntorch Leaky/RLeaky, norse LIFBoxCell)")
    else:
        why = "only LIF (spiking layers) and LI (readout) neurons are supported"
    return ValueError(f"node {name!r} is {kind}: {why}")


def _layer_from_nir(weight: np.ndarray, bias: np.ndarray | None, rec: tuple | None,
                    neuron: Any, name: str, b0: float | None, dt: float, discretisation: str):
    size = weight.shape[0]
    tau_steps = _tau_steps_from_nir(_per_neuron(neuron.tau, size, f"{name}.tau"), dt,
                                    discretisation, name)
    r = _per_neuron(neuron.r, size, f"{name}.r")
    v_leak = _per_neuron(neuron.v_leak, size, f"{name}.v_leak")
    # Euler/ZOH: v += (1-alpha)(r I + v_leak) -> our input I' = r I + v_leak, folded into W, bias.
    scale = r
    if isinstance(neuron, nir.LIF):
        threshold = _per_neuron(neuron.v_threshold, size, f"{name}.v_threshold")
        if not np.all(threshold > 0):
            raise ValueError(f"{name}: v_threshold must be > 0, got min {threshold.min()}")
        b0 = float(threshold[0]) if b0 is None else b0
        # LIF dynamics are linear in v below threshold: scaling a neuron's voltage by b0/theta
        # gives the same spikes with the common threshold b0 (resets scale along).
        scale = r * (b0 / threshold)
        v_leak = v_leak * (b0 / threshold)
    w = weight * scale[:, None]
    b = (np.zeros(size) if bias is None else bias * scale) + v_leak
    w_rec = None
    if rec is not None:
        w_rec = rec[0] * scale[:, None]
        if rec[1] is not None:
            b = b + rec[1] * scale
    return w, b, w_rec, tau_steps, b0


def from_nir(graph: nir.NIRNode | str | os.PathLike[str], dt: float = 1.0,
             reset: str | None = None, discretisation: str = "euler",
             **config: Any) -> SRNN:
    """Build an SRNN of LIF layers from a NIR graph (or a ``.nir`` file).

    ``dt``: NIR time units per step, the one the graph was written with (snntorch 1e-4, norse
    1e-3, ours as written). ``reset``: "zero" (NIR's reset to ``v_reset = 0``, what snntorch's and
    norse's own importers simulate), "subtract" (ours; exact for snntorch models trained with the
    default subtractive reset, which their NIR export does not record), None = the mode recorded
    by :func:`to_nir` else "zero". Graphs that end in a spiking layer get a pass-through readout
    (output = last layer's spikes). Extra ``config`` goes to :class:`SRNNConfig` (e.g. surrogate).
    """
    if isinstance(graph, (str, os.PathLike)):
        graph = nir.read(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"expected a nir.NIRGraph or a path to a .nir file, got {type(graph)}")
    _check_dt(dt, discretisation)
    if reset is None:
        reset = graph.metadata.get(RESET_KEY, "zero") if isinstance(graph.metadata, dict) \
            else "zero"
    if reset not in RESET_MODES:
        raise ValueError(f"reset must be one of {RESET_MODES} or None, got {reset!r}")
    for node in graph.nodes.values():
        if isinstance(node, nir.LIF) and not np.allclose(node.v_reset, 0):
            raise ValueError("LIF nodes with v_reset != 0 are not supported (ours reset to 0)")
    nodes, edges = _flatten(graph)
    edges = _remove_ports(nodes, edges)
    succ = {k: [d for s, d in edges if s == k] for k in nodes}
    pred = {k: [s for s, d in edges if d == k] for k in nodes}
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"the graph must have exactly one Input node, found {len(inputs)}")

    def single(names: Sequence[str], what: str) -> str:
        if len(names) != 1:
            raise ValueError(f"{what}: expected exactly one edge, found {list(names)} (an SRNN is "
                             "a chain of layers; branches and skip connections are not supported)")
        return names[0]

    layers, readout, b0 = [], None, None
    current = single(succ[inputs[0]], f"after {inputs[0]!r}")
    while True:
        weight, bias = _weights(nodes[current], current)
        neuron_name = single(succ[current], f"after {current!r}")
        neuron = nodes[neuron_name]
        if isinstance(neuron, nir.LIF):
            recs = [p for p in pred[neuron_name] if p != current]
            rec = None
            if recs:
                rec_name = single(recs, f"into {neuron_name!r} besides {current!r}")
                if pred[rec_name] != [neuron_name] or succ[rec_name] != [neuron_name]:
                    raise ValueError(f"{rec_name!r} feeds {neuron_name!r} but is not a recurrent "
                                     f"projection {neuron_name} -> {rec_name} -> {neuron_name}")
                rec = _weights(nodes[rec_name], rec_name)
            w, b, w_rec, tau, b0 = _layer_from_nir(weight, bias, rec, neuron, neuron_name, b0, dt,
                                                   discretisation)
            layers.append((w, b, w_rec, tau))
            nxt = single([s for s in succ[neuron_name] if not (recs and s == recs[0])],
                         f"after {neuron_name!r}")
            if isinstance(nodes[nxt], nir.Output):
                break
            current = nxt
        elif isinstance(neuron, nir.LI):
            if not layers:
                raise ValueError(f"{neuron_name!r}: an LI readout needs a spiking layer before it")
            w, b, _, tau, _ = _layer_from_nir(weight, bias, None, neuron, neuron_name, b0, dt,
                                              discretisation)
            readout = (w, b, tau)
            end = single(succ[neuron_name], f"after {neuron_name!r}")
            if not isinstance(nodes[end], nir.Output):
                raise ValueError(f"the LI readout {neuron_name!r} must feed the Output node")
            break
        else:
            raise _unsupported_neuron(neuron, neuron_name)

    input_size = layers[0][0].shape[1]
    out_size = readout[0].shape[0] if readout else layers[-1][0].shape[0]
    cfg = SRNNConfig(input_size=int(input_size), output_size=int(out_size),
                     layers=tuple(LayerConfig(int(w.shape[0]), w_rec is not None, "lif")
                                  for w, _, w_rec, _ in layers),
                     b0=float(b0), **config)
    model = SRNN(cfg)
    dtype = model.readout.fc.weight.dtype
    with torch.no_grad():
        for layer, (w, b, w_rec, tau) in zip(model.layers, layers):
            layer.fc.weight.copy_(torch.as_tensor(w, dtype=dtype))
            layer.fc.bias.copy_(torch.as_tensor(b, dtype=dtype))
            if w_rec is not None:
                layer.rec.weight.copy_(torch.as_tensor(w_rec, dtype=dtype))
            layer.tau_mem.set_tau(torch.as_tensor(tau))
        if readout is None:
            model.readout.fc.weight.copy_(torch.eye(out_size, dtype=dtype))
            model.readout.fc.bias.zero_()
            model.readout.tau.set_tau(torch.full((out_size,), PASSTHROUGH_TAU))
        else:
            model.readout.fc.weight.copy_(torch.as_tensor(readout[0], dtype=dtype))
            model.readout.fc.bias.copy_(torch.as_tensor(readout[1], dtype=dtype))
            model.readout.tau.set_tau(torch.as_tensor(readout[2]))
    return set_reset_mode(model, reset)
