"""The checkpoint file: plain data only, so that loading one never runs code from it.

A checkpoint is a ``torch.save`` of a dict that ``torch.load(..., weights_only=True)`` reads with no
allow-list: tensors, dicts, lists, tuples, strings, numbers, booleans and ``None``. Format 2::

    format          2
    kind            "spiking-nr-checkpoint"
    model_config    JSON string (SRNNConfig / GRUConfig ``to_dict``)
    model           the model's state_dict (str -> tensor)
    train_config    JSON string (TrainConfig ``to_dict``)              } Trainer checkpoints only
    optimizer       the optimiser's state_dict                          }
    position, optimizer_steps                                           }
    carried_state   None or {"type": class name, "fields": [...]}       }
    rng             {"torch": uint8 tensor, "python_version": int,      }
                     "python_state": int64 tensor, "python_gauss": None|float}
    sha256          hex SHA-256 over every other entry (tensors by dtype, shape and bytes)

:func:`load_checkpoint` refuses anything else with one ``ValueError`` naming the file: a pickle
that needs any class or function (``torch.load`` raises before constructing it), a truncated or
foreign file, a wrong format, missing entries or a checksum mismatch. Format 1 files (spiking-nr
0.1, the network state pickled as NamedTuples) still load, through the same weights-only
unpickler with only the package's own state NamedTuples allowed; they have no checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

import torch

from spiking_nr.io import atomic_write

CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)
KIND = "spiking-nr-checkpoint"


def _state_classes() -> dict[str, type]:
    """The NamedTuple state types a checkpoint may carry, by class name."""
    from spiking_nr.baselines import GRUState
    from spiking_nr.network import SRNNState
    from spiking_nr.neurons.alif import ALIFState
    from spiking_nr.neurons.lif import LIFState
    from spiking_nr.neurons.readout import ReadoutState

    return {cls.__name__: cls for cls in (SRNNState, ALIFState, LIFState, ReadoutState, GRUState)}


def encode_state(state: Any) -> Any:
    """A (nested NamedTuple) network state as plain data: tensors, lists and dicts."""
    if state is None or isinstance(state, torch.Tensor):
        return state
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        if type(state).__name__ not in _state_classes():
            raise TypeError(f"cannot checkpoint a state of type {type(state).__name__}")
        return {"type": type(state).__name__, "fields": [encode_state(v) for v in state]}
    if isinstance(state, (tuple, list)):
        return [encode_state(v) for v in state]
    raise TypeError(f"state leaves must be tensors or (named) tuples, got {type(state).__name__}")


def decode_state(data: Any, where: str = "checkpoint") -> Any:
    """Inverse of :func:`encode_state`; ``ValueError`` for anything it did not write."""
    if data is None or isinstance(data, torch.Tensor):
        return data
    if isinstance(data, dict):
        cls = _state_classes().get(data.get("type"))  # type: ignore[arg-type]
        fields = data.get("fields")
        if cls is None or not isinstance(fields, list) or len(fields) != len(cls._fields):
            raise ValueError(f"{where}: carried_state has an unknown entry {data.get('type')!r}")
        return cls(*(decode_state(v, where) for v in fields))
    if isinstance(data, (list, tuple)):
        return tuple(decode_state(v, where) for v in data)
    raise ValueError(f"{where}: carried_state holds a {type(data).__name__}; expected tensors")


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Leaves in a fixed order (dict keys sorted by repr), each with its path."""
    if isinstance(value, dict):
        for key in sorted(value, key=repr):
            yield from _walk(value[key], f"{path}/{key!r}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}/{index}")
    else:
        yield path, value


def checksum(data: dict[str, Any]) -> str:
    """SHA-256 over every entry but ``sha256``: tensors by dtype, shape and raw bytes, other
    leaves by ``repr`` (numbers, strings, None), each with its path."""
    digest = hashlib.sha256()
    for path, leaf in _walk({k: v for k, v in data.items() if k != "sha256"}, ""):
        digest.update(path.encode())
        if isinstance(leaf, torch.Tensor):
            flat = leaf.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{leaf.dtype}{tuple(leaf.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        else:
            digest.update(f"{type(leaf).__name__}:{leaf!r}".encode())
    return digest.hexdigest()


def python_rng_state() -> dict[str, Any]:
    """``random.getstate()`` as plain data (the Mersenne Twister words as an int64 tensor)."""
    version, words, gauss = random.getstate()
    return {"python_version": version, "python_state": torch.tensor(words, dtype=torch.int64),
            "python_gauss": gauss}


def set_python_rng_state(rng: dict[str, Any]) -> None:
    if "python" in rng:  # format 1: the tuple itself
        random.setstate(rng["python"])
        return
    words = tuple(int(w) for w in rng["python_state"].tolist())
    random.setstate((int(rng["python_version"]), words, rng["python_gauss"]))


def save_checkpoint(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``data`` (configs as dicts, ``carried_state`` as NamedTuples) atomically in format 2."""
    plain = dict(data)
    plain["format"] = CHECKPOINT_FORMAT
    plain["kind"] = KIND
    for key in ("model_config", "train_config"):
        if key in plain:
            plain[key] = json.dumps(plain[key], sort_keys=True)
    if "carried_state" in plain:
        plain["carried_state"] = encode_state(plain["carried_state"])
    plain["sha256"] = checksum(plain)
    with atomic_write(path, "wb") as handle:
        torch.save(plain, handle)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _unpickling_reason(exc: BaseException) -> str:
    """The informative line of torch's weights-only refusal (the rest is boilerplate)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or line.startswith("Unsupported"):
            return line[:200]
    return _short(exc)


def _torch_load(path: str | os.PathLike[str]) -> Any:
    # Only the package's own state NamedTuples are allowed, for format 1 files; nothing else that
    # names a class or function is ever constructed or called.
    with warnings.catch_warnings(), \
            torch.serialization.safe_globals(list(_state_classes().values())):
        warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": the error says enough
        return torch.load(path, map_location="cpu", weights_only=True)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a checkpoint; never runs code from the file.

    Returns the dict with ``model_config`` / ``train_config`` as dicts and ``carried_state`` as
    the network's state NamedTuples. Raises ``FileNotFoundError`` or one-line ``ValueError``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        data = _torch_load(path)
    except pickle.UnpicklingError as exc:
        reason = _unpickling_reason(exc)
        if "GLOBAL" in reason:
            raise ValueError(
                f"{path}: refused to load: it holds objects other than tensors and plain data "
                f"({reason}); a spiking-nr checkpoint is plain data, and loading never runs code "
                "from a file") from None
        raise ValueError(f"{path} is not a readable spiking-nr checkpoint (truncated or not a "
                         f"torch file: {reason})") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError,
            IndexError, TypeError, AttributeError, MemoryError) as exc:
        raise ValueError(f"{path} is not a readable spiking-nr checkpoint (truncated or not a "
                         f"torch file: {_short(exc)})") from None
    where = str(path)
    if not isinstance(data, dict) or "format" not in data:
        got = f"a dict with keys {sorted(map(str, data))[:6]}" if isinstance(data, dict) \
            else f"a {type(data).__name__}"
        raise ValueError(f"{where} is not a spiking-nr checkpoint: expected a dict with 'format', "
                         f"'model_config' and 'model', got {got}")
    if data["format"] not in READABLE_FORMATS:
        raise ValueError(f"{where}: checkpoint format {data['format']!r} is not one this version "
                         f"reads {READABLE_FORMATS}")
    if data["format"] >= 2:
        stored = data.get("sha256")
        if not isinstance(stored, str) or stored != checksum(data):
            raise ValueError(f"{where}: checksum mismatch: the file is corrupt or was modified "
                             "after it was written")
        for key in ("model_config", "train_config"):
            if key in data:
                try:
                    data[key] = json.loads(data[key])
                except (TypeError, json.JSONDecodeError) as exc:
                    raise ValueError(f"{where}: {key!r} is not a JSON object ({_short(exc)})"
                                     ) from None
        if "carried_state" in data:
            data["carried_state"] = decode_state(data["carried_state"], where)
    _validate(data, where)
    return data


def _validate(data: dict[str, Any], where: str) -> None:
    if not isinstance(data.get("model_config"), dict):
        raise ValueError(f"{where}: missing or invalid 'model_config' (expected a mapping)")
    model = data.get("model")
    if not isinstance(model, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        raise ValueError(f"{where}: missing or invalid 'model' (expected name -> tensor)")
    if "optimizer" not in data:
        return  # a model-only checkpoint (save_model)
    for key in ("position", "optimizer_steps"):
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: {key!r} must be an integer >= 0, got {value!r}")
    if not isinstance(data.get("train_config"), dict) or not isinstance(data.get("optimizer"), dict):
        raise ValueError(f"{where}: a training checkpoint needs 'train_config' and 'optimizer'")
    rng = data.get("rng")
    if not isinstance(rng, dict) or not isinstance(rng.get("torch"), torch.Tensor):
        raise ValueError(f"{where}: missing or invalid 'rng'")
