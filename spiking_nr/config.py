"""Run configuration: every hyperparameter of a training run, from TOML/YAML/JSON + overrides.

Sections and keys (defaults shown by ``spiking-nr train --print-config``)::

    [model]  hidden, neuron ("alif"|"lif"), recurrent, surrogate, b0, beta, seed
    [train]  chunks, tbptt_window, reset_policy, lr, lr_tau, grad_clip, kl_direction, kl_weight,
             normalise, mask ("temporal_intensity"|"oracle"), seed
    [data]   dataset (a source: "mnist-substitute-stream", "npz:PATH", "shd:DIR", "speech:DIR",
             "tonic:NAME:DIR"; see spiking_nr.data.sources), targets, distractors (comma-separated
             classes, "" = the source's default), test_fraction, time_bins, batch, chunk_len,
             gap_max, seed
    [eval]   lanes, steps

Unknown sections or keys raise ``ValueError`` naming the key and the allowed ones.
Overrides: ``["train.lr=0.01", "model.hidden=[128, 64]"]`` (values parsed as JSON when possible).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class ModelSection:
    hidden: tuple[int, ...] = (128,)
    neuron: str = "alif"
    recurrent: bool = True
    surrogate: str = "multi_gaussian"
    b0: float = 0.01
    beta: float = 1.8
    seed: int = 0


@dataclass(frozen=True)
class TrainSection:
    chunks: int = 200
    tbptt_window: int = 56
    reset_policy: str = "never"
    lr: float = 5e-3
    lr_tau: float = 2e-2
    grad_clip: float = 1.0
    kl_direction: str = "uniform_model"
    kl_weight: float = 1.0
    normalise: str = "steps"
    mask: str = "temporal_intensity"
    seed: int = 0
    loss_mode: str = "labels"  # "labels" or "mask" (label-free; spiking_nr.losses)
    # activity regularisation (spiking_nr.regularisation): rates in spikes per step per neuron,
    # rate_target < 0 = no target rate; dropout with one mask per chunk fixed across time
    rate_weight: float = 0.0
    rate_lower: float = 0.0
    rate_upper: float = 1.0
    rate_target: float = -1.0
    dropout: float = 0.0


@dataclass(frozen=True)
class DataSection:
    dataset: str = "mnist-substitute-stream"
    targets: str = ""
    distractors: str = ""
    test_fraction: float = 0.2
    time_bins: int = 100
    batch: int = 32
    chunk_len: int = 280
    gap_max: int = 10
    seed: int = 0


@dataclass(frozen=True)
class EvalSection:
    lanes: int = 8
    steps: int = 12000


@dataclass(frozen=True)
class RunConfig:
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)
    data: DataSection = field(default_factory=DataSection)
    eval: EvalSection = field(default_factory=EvalSection)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SECTIONS = {f.name: f.type for f in fields(RunConfig)}
_SECTION_TYPES = {"model": ModelSection, "train": TrainSection, "data": DataSection, "eval": EvalSection}


def _coerce(section: str, key: str, value: Any, default: Any) -> Any:
    where = f"{section}.{key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, tuple):
        items = value if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise ValueError(f"{where} must be a list of integers, got {value!r}")
        return tuple(items)
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if key in ("targets", "distractors") and (
            isinstance(value, int) or isinstance(value, list) and all(isinstance(v, (int, str))
                                                                      for v in value)):
        value = ",".join(str(v) for v in (value if isinstance(value, list) else [value]))
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r}")
    return value


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    if not isinstance(data, dict):
        raise ValueError("a config must be a mapping of sections")
    sections = {}
    for name, cls in _SECTION_TYPES.items():
        given = data.get(name, {}) or {}
        if not isinstance(given, dict):
            raise ValueError(f"config section [{name}] must be a table of keys")
        defaults = cls()
        allowed = [f.name for f in fields(cls)]
        for key in given:
            if key not in allowed:
                raise ValueError(f"unknown config key '{name}.{key}'; allowed keys in [{name}]: "
                                 f"{', '.join(allowed)}")
        sections[name] = cls(**{k: _coerce(name, k, v, getattr(defaults, k)) for k, v in given.items()})
    unknown = set(data) - set(_SECTION_TYPES)
    if unknown:
        raise ValueError(f"unknown config section(s) {sorted(unknown)}; allowed: {sorted(_SECTION_TYPES)}")
    config = RunConfig(**sections)
    _check_values(config)
    return config


# (section.key, lowest allowed value): sizes and counts, checked before anything is written.
_MINIMUM = {"train.chunks": 1, "train.tbptt_window": 1, "data.batch": 1, "data.chunk_len": 1,
            "data.gap_max": 0, "eval.lanes": 1, "eval.steps": 1}


def _check_values(config: RunConfig) -> None:
    """Ranges and names the dataclasses cannot express; the model/train/loss constructors check
    the rest (neuron, surrogate, reset policy, learning rates, KL settings)."""
    from spiking_nr.masks import MASKS

    for dotted, lowest in _MINIMUM.items():
        section, key = dotted.split(".")
        value = getattr(getattr(config, section), key)
        if value < lowest:
            raise ValueError(f"{dotted} must be >= {lowest}, got {value}")
    hidden = config.model.hidden
    if not hidden or min(hidden) < 1:
        raise ValueError(f"model.hidden must be a non-empty list of sizes >= 1, got {list(hidden)}")
    for key in ("lr", "lr_tau", "grad_clip"):
        value = getattr(config.train, key)
        if not (math.isfinite(value) and value > 0):
            dotted = f"train.{key}"
            raise ValueError(f"{dotted} must be a finite number > 0, got {value}")
    if config.train.mask not in MASKS:
        raise ValueError(f"train.mask {config.train.mask!r} is not a mask; expected one of {MASKS}")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> RunConfig:
    """Read a TOML (.toml), YAML (.yaml/.yml) or JSON (.json) config and apply ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist")
        text = path.read_text()
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(text)
            elif path.suffix in (".yaml", ".yml"):
                data = yaml.safe_load(text) or {}
            elif path.suffix == ".json":
                data = json.loads(text)
            else:
                raise ValueError(f"config {path} must be .toml, .yaml/.yml or .json")
        except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot parse {path}: {exc}") from None
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        section, key = dotted.split(".", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ValueError(f"config section [{section}] must be a table of keys")
        data[section][key] = value
    return config_from_dict(data)


def to_toml(config: RunConfig) -> str:
    """The resolved config as TOML (recorded in every run folder)."""
    lines = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value)}")
        lines.append("")
    return "\n".join(lines)
