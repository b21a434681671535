"""Your own labelled arrays from a ``.npz`` file or a folder of ``.npy`` files (numpy only).

Keys (a ``.npz`` member or a ``<key>.npy`` file in the folder)::

    x            [N, T, C] dense sequences: spikes (0/1, bool) or analog values; uint8 images
                 (0..255) are rescaled to [0, 1] (and the rescaling is recorded)
      or events  [M, 3] integers (sample, step, channel): one row per spike, with optional
                 n_steps / n_channels (scalars; default: largest index + 1)
    y            [N] integer labels >= 0
    x_test, y_test (or events_test)   optional held-out split; without it a stratified
                 ``test_fraction`` of the samples is held out (from ``seed``)
    distractors  optional [k] class labels that are distractors by default
    class_names  optional [K] strings

Every problem raises ``ValueError`` naming the file and what was expected; nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spiking_nr.data.base import DataSplits, LabelledSequences

ARRAY_KEYS = ("x", "events", "y", "x_test", "events_test", "y_test", "n_steps", "n_channels",
              "distractors", "class_names")


@dataclass(frozen=True)
class EventFrames:
    """Encoder: one sample's events ``[k, 2]`` (step, channel) -> spike frames ``[n_steps, n_channels]``
    (counts clipped to ``max_count``; 1 = binary spikes)."""

    n_steps: int
    n_channels: int
    max_count: int | None = 1

    def __call__(self, events: np.ndarray) -> np.ndarray:
        events = np.asarray(events, np.int64).reshape(-1, 2)
        flat = events[:, 0] * self.n_channels + events[:, 1]
        counts = np.bincount(flat, minlength=self.n_steps * self.n_channels)
        counts = counts.reshape(self.n_steps, self.n_channels)
        if self.max_count is not None:
            counts = np.minimum(counts, self.max_count)
        return counts.astype(np.float32)


def _read(path: Path) -> dict[str, np.ndarray]:
    """The known keys of a ``.npz`` file or a folder of ``<key>.npy`` files."""
    try:
        if path.is_dir():
            found = {key: np.load(path / f"{key}.npy", allow_pickle=False)
                     for key in ARRAY_KEYS if (path / f"{key}.npy").is_file()}
            if not found:
                raise ValueError(f"{path}: no x.npy / y.npy (or events.npy) in this folder")
            return found
        if not path.is_file():
            raise ValueError(f"{path} does not exist (expected a .npz file or a folder of .npy files)")
        if path.suffix == ".npy":
            raise ValueError(f"{path}: a single .npy holds no labels; put x.npy and y.npy in a folder "
                             "and pass the folder, or save both in one .npz (np.savez(path, x=x, y=y))")
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files if key in ARRAY_KEYS}
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        # np.load's messages (object arrays, not a zip/npy file) do not name the file
        raise ValueError(f"{path}: cannot read it as numpy arrays ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it as numpy arrays ({exc})") from None


def _labels(path: Path, y: Any, key: str, n: int) -> np.ndarray:
    if y is None:
        raise ValueError(f"{path}: no labels '{key}' (expected an integer array [N])")
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise ValueError(f"{path}: {key} must be an integer array [N], got {y.dtype} with shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{path}: {key} has {len(y)} labels but there are {n} samples")
    if len(y) and y.min() < 0:
        raise ValueError(f"{path}: {key} must be >= 0, got {y.min()} (-1 is reserved for 'no class')")
    return y.astype(np.int64)


def _dense(path: Path, x: np.ndarray, key: str) -> tuple[np.ndarray, dict]:
    if x.ndim != 3:
        raise ValueError(f"{path}: {key} must be [N, T, C] (samples, steps, channels), got shape "
                         f"{x.shape}" + (" (one channel? use x[..., None])" if x.ndim == 2 else ""))
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {key} must be numeric or bool, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise ValueError(f"{path}: {key} contains NaN or inf")
    note: dict = {}
    if x.dtype == np.uint8 and x.size and x.max() > 1:
        # raw 8-bit images: a threshold or rate encoder would saturate on 0..255
        x = x.astype(np.float32) / 255.0
        note = {"rescaled": f"{key} uint8 0..255 divided by 255 to [0, 1]"}
    elif x.dtype.kind in "iu" and x.size and x.max() > 1:
        raise ValueError(f"{path}: {key} is {x.dtype} with values up to {x.max()}: expected spikes "
                         "(0/1), uint8 images (0..255, rescaled) or floats; convert it first")
    return x.astype(np.float32, copy=False), note


def _events(path: Path, events: np.ndarray, key: str, n_steps: int | None,
            n_channels: int | None) -> tuple[list[np.ndarray], int, int, int]:
    events = np.asarray(events)
    if events.ndim != 2 or events.shape[1] != 3 or events.dtype.kind not in "iu":
        raise ValueError(f"{path}: {key} must be integers [M, 3] (sample, step, channel), got "
                         f"{events.dtype} with shape {events.shape}")
    if events.size and events.min() < 0:
        raise ValueError(f"{path}: {key} has negative indices")
    n_steps = int(n_steps) if n_steps is not None else int(events[:, 1].max()) + 1
    n_channels = int(n_channels) if n_channels is not None else int(events[:, 2].max()) + 1
    if events.size and (events[:, 1].max() >= n_steps or events[:, 2].max() >= n_channels):
        raise ValueError(f"{path}: {key} has steps/channels beyond n_steps={n_steps}, "
                         f"n_channels={n_channels}")
    n = int(events[:, 0].max()) + 1 if events.size else 0
    order = np.argsort(events[:, 0], kind="stable")
    bounds = np.searchsorted(events[order, 0], np.arange(n + 1))
    per_sample = [events[order[a:b], 1:] for a, b in zip(bounds[:-1], bounds[1:])]
    return per_sample, n, n_steps, n_channels


def _split(path: Path, data: dict, suffix: str, n_steps: int | None, n_channels: int | None):
    """(samples, labels, encoder, note) of the ``suffix`` split ('' or '_test'), or None if absent."""
    x, events = data.get("x" + suffix), data.get("events" + suffix)
    if x is None and events is None:
        return None
    if x is not None and events is not None:
        raise ValueError(f"{path}: give x{suffix} or events{suffix}, not both")
    if x is not None:
        samples, note = _dense(path, np.asarray(x), "x" + suffix)
        encoder = None
        n = len(samples)
    else:
        samples, n_ev, n_steps, n_channels = _events(path, events, "events" + suffix, n_steps,
                                                     n_channels)
        encoder, note = EventFrames(n_steps, n_channels), {}
        n = max(n_ev, len(np.asarray(data.get("y" + suffix, []))))
        samples += [np.zeros((0, 2), np.int64)] * (n - len(samples))  # samples without events
    labels = _labels(path, data.get("y" + suffix), "y" + suffix, n)
    if n == 0:
        raise ValueError(f"{path}: the {'test' if suffix else 'training'} split is empty")
    return samples, labels, encoder, note


def _stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out samples: ``fraction`` of every class (at least one if it has 2+)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx)))
        held[idx[:min(max(k, 1 if len(idx) > 1 else 0), len(idx) - 1)]] = True
    return held


def load_arrays(path: str | Path, test_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """Train/test :class:`LabelledSequences` from a ``.npz`` file or ``.npy`` folder (module doc)."""
    path = Path(path)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    data = _read(path)
    n_steps = data.get("n_steps")
    n_channels = data.get("n_channels")
    train = _split(path, data, "", n_steps, n_channels)
    if train is None:
        raise ValueError(f"{path}: no samples: expected x [N, T, C] or events [M, 3] "
                         f"(found keys {sorted(data)})")
    if "y_test" in data and "x_test" not in data and "events_test" not in data:
        raise ValueError(f"{path}: y_test without x_test (or events_test)")
    test = _split(path, data, "_test", n_steps, n_channels)
    names = None
    if "class_names" in data:
        names = tuple(str(v) for v in np.asarray(data["class_names"]).reshape(-1))
    distractors = None
    if "distractors" in data:
        d = np.asarray(data["distractors"]).reshape(-1)
        if d.dtype.kind not in "iu":
            raise ValueError(f"{path}: distractors must be integer class labels, got {d.dtype}")
        distractors = tuple(int(v) for v in d)
    samples, labels, encoder, note = train
    metadata = {"path": str(path), **note}
    if test is None:
        held = _stratified_holdout(labels, test_fraction, seed)
        if not held.any():
            raise ValueError(f"{path}: too few samples to hold out a test split; add x_test/y_test")
        take = (lambda s, m: s[m]) if isinstance(samples, np.ndarray) else \
            (lambda s, m: [s[i] for i in np.flatnonzero(m)])
        test = (take(samples, held), labels[held], encoder, note)
        samples, labels = take(samples, ~held), labels[~held]
        metadata["test_split"] = f"stratified {test_fraction:g} held out (seed {seed})"
    n_classes = int(max(labels.max(), test[1].max())) + 1
    if names is not None and len(names) < n_classes:
        raise ValueError(f"{path}: {len(names)} class_names but labels go up to {n_classes - 1}")
    try:
        train_ds = LabelledSequences(samples, labels, encoder, f"{path.name} train", names, metadata)
        test_ds = LabelledSequences(test[0], test[1], test[2], f"{path.name} test", names,
                                    {**metadata, **test[3]})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if train_ds.n_features != test_ds.n_features:
        raise ValueError(f"{path}: train samples have {train_ds.n_features} channels, test samples "
                         f"{test_ds.n_features}")
    return DataSplits(train_ds, test_ds, distractors, f"{path} (your arrays)")
