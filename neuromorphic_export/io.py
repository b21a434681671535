"""The network file (HDF5): save and load a :class:`NetworkSpec`, validated, written atomically.

Layout (format ``spiking-nr-network``, version 1)::

    /                      attrs: format, version, mode ("float"|"fixed"), input_size, metadata (JSON)
    /layers/<i>/           attrs: name, model, scale
        weight  [N, N_in]   bias [N]   weight_rec [N, N] (recurrent layers only)
        params/<name> [N]   per-neuron parameters of the model (see neuromorphic_export.spec)

Everything is checked on load (missing keys, shapes, dtypes, NaN/inf, integer ranges, unknown
format or version); a bad file raises ``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from neuromorphic_export.fileio import atomic_path
from neuromorphic_export.spec import NEURON_PARAMS, LayerSpec, NetworkSpec

FORMAT = "spiking-nr-network"
VERSION = 1


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
        layers = f.create_group("layers")
        for index, layer in enumerate(spec.layers):
            g = layers.create_group(str(index))
            g.attrs["name"] = layer.name
            g.attrs["model"] = layer.model
            g.attrs["scale"] = layer.scale
            g.create_dataset("weight", data=layer.weight)
            g.create_dataset("bias", data=layer.bias)
            if layer.weight_rec is not None:
                g.create_dataset("weight_rec", data=layer.weight_rec)
            params = g.create_group("params")
            for key, value in layer.params.items():
                params.create_dataset(key, data=value)
    return path


def _read(group: h5py.Group, key: str, where: str) -> np.ndarray:
    if key not in group:
        raise ValueError(f"{where}: missing dataset {key!r}")
    data = group[key]
    if not isinstance(data, h5py.Dataset):
        raise ValueError(f"{where}: {key!r} must be a dataset")
    array = data[()]
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {key!r} must be a numeric array")
    return array


def _attr(obj, key: str, where: str):
    if key not in obj.attrs:
        raise ValueError(f"{where}: missing attribute {key!r}")
    value = obj.attrs[key]
    return value.decode() if isinstance(value, bytes) else value


def load_network(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read and validate a network file written by :func:`save_network`."""
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
        if version != VERSION:
            raise ValueError(f"{where}: unknown version {version}; this reader understands {VERSION}")
        mode = str(_attr(f, "mode", where))
        try:
            metadata = json.loads(str(_attr(f, "metadata", where)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: metadata is not valid JSON ({exc})") from None
        if "layers" not in f or len(f["layers"]) == 0:
            raise ValueError(f"{where}: no layers")
        layers = []
        for index in range(len(f["layers"])):
            lw = f"{where} layer {index}"
            if str(index) not in f["layers"]:
                raise ValueError(f"{lw}: missing (layers must be numbered 0..n-1)")
            g = f["layers"][str(index)]
            model = str(_attr(g, "model", lw))
            if model not in NEURON_PARAMS:
                raise ValueError(f"{lw}: unknown neuron model {model!r}")
            if "params" not in g:
                raise ValueError(f"{lw}: missing group 'params'")
            params = {key: _read(g["params"], key, f"{lw} params") for key in NEURON_PARAMS[model]}
            layers.append(LayerSpec(
                name=str(_attr(g, "name", lw)), model=model,
                weight=_read(g, "weight", lw), bias=_read(g, "bias", lw), params=params,
                weight_rec=_read(g, "weight_rec", lw) if "weight_rec" in g else None,
                scale=float(_attr(g, "scale", lw)),
            ))
        try:
            return NetworkSpec(int(_attr(f, "input_size", where)), tuple(layers), mode, metadata)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
