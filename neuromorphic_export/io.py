"""The network file (HDF5): save and load a :class:`NetworkSpec`, validated, written atomically.

Layout (format ``spiking-nr-network``, version 3). Layers use lava-dl netx's schema, so that
``lava.lib.dl.netx.hdf5.Network(net_config=path)`` loads the layers netx can express unchanged::

    /                  attrs: format, version, mode ("float"|"fixed"), input_size, metadata (JSON)
    /layer/0/          type b"input", shape [N_in]      (netx: the input shape, no process)
    /layer/<i>/        i = 1..n, attrs name, model, scale, trace_bits, bias_delay on every layer

netx CUBA layers (fixed-point ``cuba_lif`` layers that follow the input or other netx layers)::

        type b"dense" | b"dense_rec"   shape [N]   weight [N, N_in]   weight_rec [N, N] (dense_rec)
        bias [N] (mantissa, netx applies it as bias << 6)
        neuron/  type b"CUBA", iDecay (= spec du; netx passes du = iDecay - 1 to lava's LIF),
                 vDecay (= dv), vThMant (= vth, compared as << 6), refDelay 1, gradedSpike False

the package's extension (every other layer: ``alif_yin``, ``atrlif``, ``readout``, float mode,
and any ``cuba_lif`` after one of them; netx skips layers of an unknown type, so it loads the
leading run of CUBA layers and never wires across an extension layer)::

        type b"spiking-nr"   weight [N, N_in]   bias [N]   weight_rec [N, N] (recurrent only)
        params/<name> [N]    per-neuron parameters of the model (see neuromorphic_export.spec)

Version 1 files (``/layers/<i>/``, extension layers only, numbered from 0) and version 2 files
(version 3's layout without ``trace_bits``/``bias_delay``) are still read, with the dynamics they
were written for: their fixed-point ``alif_yin`` ``rho`` (12 bits, units of 1/4096) becomes
``rho << 12`` with ``trace_bits = 12``, which is exactly their 12-bit adaptation trace, and
``bias_delay = 0``.
Everything is checked on load (missing keys, shapes, dtypes, NaN/inf, integer ranges, unknown
format, version or layer type); a bad file raises ``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import h5py
import numpy as np

from neuromorphic_export.fileio import atomic_path
from neuromorphic_export.spec import NEURON_PARAMS, TRACE_BITS, LayerSpec, NetworkSpec

FORMAT = "spiking-nr-network"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
LEGACY_TRACE_BITS = 12  # versions 1-2: alif_yin's b and rho in units of 1/4096
EXTENSION_TYPE = "spiking-nr"
NETX_TYPES = ("dense", "dense_rec")
NETX_NEURON_KEYS = ("iDecay", "vDecay", "vThMant")


def _netx_expressible(layer: LayerSpec, mode: str) -> bool:
    return mode == "fixed" and layer.model == "cuba_lif"


def _write_netx_layer(g: h5py.Group, layer: LayerSpec) -> None:
    """A fixed-point ``cuba_lif`` layer in netx's own dense / dense_rec CUBA schema."""
    g.create_dataset("type", data=np.bytes_("dense" if layer.weight_rec is None else "dense_rec"))
    g.create_dataset("shape", data=np.array([layer.size]))
    g.create_dataset("weight", data=layer.weight)
    if layer.weight_rec is not None:
        g.create_dataset("weight_rec", data=layer.weight_rec)
    g.create_dataset("bias", data=layer.bias)
    neuron = g.create_group("neuron")
    neuron.create_dataset("type", data=np.bytes_("CUBA"))
    for key, name in (("iDecay", "du"), ("vDecay", "dv"), ("vThMant", "vth")):
        neuron.create_dataset(key, data=int(layer.params[name][0]))  # layer-wide (validated)
    neuron.create_dataset("refDelay", data=1)
    neuron.create_dataset("gradedSpike", data=False)


def _write_extension_layer(g: h5py.Group, layer: LayerSpec) -> None:
    g.create_dataset("type", data=np.bytes_(EXTENSION_TYPE))
    g.create_dataset("weight", data=layer.weight)
    g.create_dataset("bias", data=layer.bias)
    if layer.weight_rec is not None:
        g.create_dataset("weight_rec", data=layer.weight_rec)
    params = g.create_group("params")
    for key, value in layer.params.items():
        params.create_dataset(key, data=value)


def save_network(spec: NetworkSpec, path: str | os.PathLike[str]) -> Path:
    """Write ``spec`` to ``path`` atomically (an existing file survives a failed export)."""
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"expected a NetworkSpec, got {type(spec).__name__}")
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["mode"] = spec.mode
        f.attrs["input_size"] = spec.input_size
        f.attrs["metadata"] = json.dumps(spec.metadata, sort_keys=True, default=str)
        layers = f.create_group("layer")
        source = layers.create_group("0")
        source.create_dataset("type", data=np.bytes_("input"))
        source.create_dataset("shape", data=np.array([spec.input_size]))
        netx_run = True  # still in the leading run of netx layers
        for index, layer in enumerate(spec.layers, start=1):
            g = layers.create_group(str(index))
            g.attrs["name"] = layer.name
            g.attrs["model"] = layer.model
            g.attrs["scale"] = layer.scale
            g.attrs["trace_bits"] = layer.trace_bits
            g.attrs["bias_delay"] = layer.bias_delay
            netx_run = netx_run and _netx_expressible(layer, spec.mode)
            (_write_netx_layer if netx_run else _write_extension_layer)(g, layer)
    return path


def _dataset(group: h5py.Group, key: str, where: str):
    if key not in group:
        raise ValueError(f"{where}: missing dataset {key!r}")
    data = group[key]
    if not isinstance(data, h5py.Dataset):
        raise ValueError(f"{where}: {key!r} must be a dataset")
    return data[()]


def _read(group: h5py.Group, key: str, where: str) -> np.ndarray:
    array = _dataset(group, key, where)
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {key!r} must be a numeric array")
    return array


def _read_scalar(group: h5py.Group, key: str, where: str) -> float | int:
    """A netx scalar (stored as a scalar or a one-element dataset)."""
    value = np.asarray(_dataset(group, key, where))
    if value.dtype.kind not in "biuf" or value.size != 1:
        raise ValueError(f"{where}: {key!r} must be one number, got {value.dtype} of shape {value.shape}")
    return value.reshape(()).item()


def _read_text(group: h5py.Group, key: str, where: str) -> str:
    """A netx string (bytes, scalar or one-element, as lava-dl writes ``type``)."""
    value = np.asarray(_dataset(group, key, where))
    if value.dtype.kind not in "SUO" or value.size != 1:
        raise ValueError(f"{where}: {key!r} must be a string")
    value = value.reshape(()).item()
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def _attr(obj, key: str, where: str):
    if key not in obj.attrs:
        raise ValueError(f"{where}: missing attribute {key!r}")
    value = obj.attrs[key]
    return value.decode() if isinstance(value, bytes) else value


def _timing(g: h5py.Group, where: str) -> dict[str, int]:
    """A version-3 layer's ``trace_bits`` and ``bias_delay`` (defaults where a netx file has none)."""
    out = {}
    for key, default in (("trace_bits", TRACE_BITS), ("bias_delay", 0)):
        value = g.attrs.get(key, default)
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))):
            raise ValueError(f"{where}: attribute {key!r} must be an integer, got {value!r}")
        out[key] = int(value)
    return out


def _legacy_layer(layer: LayerSpec, mode: str) -> LayerSpec:
    """A version-1/2 layer in version-3 terms, with the same dynamics (see the module docstring)."""
    if layer.model != "alif_yin" or mode != "fixed":
        return dataclasses.replace(layer, bias_delay=0)
    rho = np.asarray(layer.params["rho"])
    if rho.dtype.kind not in "iu" and not np.all(np.isfinite(rho)):
        return layer  # NetworkSpec's validation names the problem
    shift = 24 - LEGACY_TRACE_BITS
    return dataclasses.replace(layer, params={**layer.params, "rho": rho * 2**shift},
                               trace_bits=LEGACY_TRACE_BITS, bias_delay=0)


def _read_extension_layer(g: h5py.Group, where: str) -> LayerSpec:
    model = str(_attr(g, "model", where))
    if model not in NEURON_PARAMS:
        raise ValueError(f"{where}: unknown neuron model {model!r}")
    if "params" not in g:
        raise ValueError(f"{where}: missing group 'params'")
    params = {key: _read(g["params"], key, f"{where} params") for key in NEURON_PARAMS[model]}
    return LayerSpec(
        name=str(_attr(g, "name", where)), model=model,
        weight=_read(g, "weight", where), bias=_read(g, "bias", where), params=params,
        weight_rec=_read(g, "weight_rec", where) if "weight_rec" in g else None,
        scale=float(_attr(g, "scale", where)), **_timing(g, where),
    )


def _read_netx_layer(g: h5py.Group, kind: str, index: int, where: str) -> LayerSpec:
    """A netx dense / dense_rec CUBA layer -> fixed-point ``cuba_lif`` (also from lava-dl's files,
    which carry no name/model/scale attributes)."""
    model = str(g.attrs.get("model", "cuba_lif"))
    if model != "cuba_lif":
        raise ValueError(f"{where}: a netx {kind} layer must be model 'cuba_lif', got {model!r}")
    if "delay" in g:
        raise ValueError(f"{where}: synaptic delays are not supported")
    recurrent = kind == "dense_rec"
    if not recurrent and "weight_rec" in g:
        raise ValueError(f"{where}: a 'dense' layer has 'weight_rec'; its type must be 'dense_rec'")
    if "neuron" not in g or not isinstance(g["neuron"], h5py.Group):
        raise ValueError(f"{where}: missing group 'neuron'")
    neuron, nw = g["neuron"], f"{where} neuron"
    neuron_type = _read_text(neuron, "type", nw)
    if neuron_type not in ("CUBA", "LOIHI"):
        raise ValueError(f"{nw}: type {neuron_type!r} is not supported here (only CUBA/LOIHI)")
    if "gradedSpike" in neuron and bool(_read_scalar(neuron, "gradedSpike", nw)):
        raise ValueError(f"{nw}: graded spikes are not supported")
    weight = _read(g, "weight", where)
    shape = _read(g, "shape", where)
    if weight.ndim != 2 or shape.size == 0 or int(np.prod(shape)) != weight.shape[0]:
        raise ValueError(f"{where}: shape {shape.tolist()} does not match weight {weight.shape}")
    n = weight.shape[0]
    decays = {name: _read_scalar(neuron, key, nw)
              for key, name in (("iDecay", "du"), ("vDecay", "dv"), ("vThMant", "vth"))}
    return LayerSpec(
        name=str(g.attrs.get("name", f"layer{index}")), model="cuba_lif", weight=weight,
        bias=_read(g, "bias", where) if "bias" in g else np.zeros(n, np.int64),
        params={name: np.full(n, value) for name, value in decays.items()},
        weight_rec=_read(g, "weight_rec", where) if recurrent else None,
        scale=float(g.attrs.get("scale", 64.0)), **_timing(g, where),
    )


def _read_layers_v2(f: h5py.File, input_size: int, mode: str, where: str) -> list[LayerSpec]:
    if "layer" not in f or not isinstance(f["layer"], h5py.Group) or len(f["layer"]) < 2:
        raise ValueError(f"{where}: no layers (expected group 'layer' with an input and >= 1 layer)")
    group = f["layer"]
    for index in range(len(group)):
        if str(index) not in group:
            raise ValueError(f"{where} layer {index}: missing (layers must be numbered 0..n-1)")
    source = group["0"]
    kind = _read_text(source, "type", f"{where} layer 0")
    shape = _read(source, "shape", f"{where} layer 0")
    if kind != "input" or int(np.prod(shape)) != input_size:
        raise ValueError(f"{where} layer 0: must be type 'input' of shape [{input_size}], got "
                         f"{kind!r} of shape {shape.tolist()}")
    layers = []
    for index in range(1, len(group)):
        lw = f"{where} layer {index}"
        kind = _read_text(group[str(index)], "type", lw)
        if kind in NETX_TYPES:
            if mode != "fixed":
                raise ValueError(f"{lw}: a netx {kind!r} layer holds Loihi integers, but the file's "
                                 f"mode is {mode!r}")
            layers.append(_read_netx_layer(group[str(index)], kind, index, lw))
        elif kind == EXTENSION_TYPE:
            layers.append(_read_extension_layer(group[str(index)], lw))
        else:
            raise ValueError(f"{lw}: unsupported layer type {kind!r}; expected one of "
                             f"{[*NETX_TYPES, EXTENSION_TYPE]}")
    return layers


def _read_layers_v1(f: h5py.File, where: str) -> list[LayerSpec]:
    if "layers" not in f or len(f["layers"]) == 0:
        raise ValueError(f"{where}: no layers")
    layers = []
    for index in range(len(f["layers"])):
        if str(index) not in f["layers"]:
            raise ValueError(f"{where} layer {index}: missing (layers must be numbered 0..n-1)")
        layers.append(_read_extension_layer(f["layers"][str(index)], f"{where} layer {index}"))
    return layers


def load_network(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read and validate a network file written by :func:`save_network` (version 1 or 2)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"network file {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path} is not an HDF5 file ({exc}); expected a spiking-nr network "
                         "file written by `spiking-nr export`") from None
    with f:
        where = str(path)
        fmt = _attr(f, "format", where)
        if fmt != FORMAT:
            raise ValueError(f"{where}: format {fmt!r} is not {FORMAT!r}")
        version = int(_attr(f, "version", where))
        if version not in READABLE_VERSIONS:
            raise ValueError(f"{where}: unknown version {version}; this reader understands "
                             f"{READABLE_VERSIONS}")
        mode = str(_attr(f, "mode", where))
        try:
            metadata = json.loads(str(_attr(f, "metadata", where)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: metadata is not valid JSON ({exc})") from None
        input_size = int(_attr(f, "input_size", where))
        layers = (_read_layers_v2(f, input_size, mode, where) if version >= 2
                  else _read_layers_v1(f, where))
        if version < 3:
            layers = [_legacy_layer(layer, mode) for layer in layers]
        try:
            return NetworkSpec(input_size, tuple(layers), mode, metadata)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
