"""Spiking Heidelberg Digits (SHD) from its HDF5 files, binned to ``[T, 700]`` spike frames.

File layout (Cramer et al. 2020; ``shd_train.h5`` / ``shd_test.h5``)::

    spikes/times    ragged float arrays, spike times in seconds, one array per sample
    spikes/units    ragged uint16 arrays, the cochlea channel (0..699) of each spike
    labels          [n] uint16, classes 0..19 (digits 0-9 in English and German)
    extra/keys      optional, class names (bytes)
    extra/speaker   optional, speaker ids

Files are looked up as ``<root>/shd_<split>.h5`` or ``<root>/SHD/shd_<split>.h5`` (tonic's layout).
``download=True`` fetches them through tonic (optional dependency; needs internet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spiking_nr.data.base import LabelledSequences

SHD_UNITS = 700
SHD_SPLITS = ("train", "test")
SHD_HINT = ("Download shd_train.h5.zip / shd_test.h5.zip from https://zenkelab.org/datasets/ "
            "and unzip them into that folder, or pass download=True with tonic installed "
            "(pip install tonic)")


@dataclass(frozen=True)
class SpikeBinning:
    """Encoder for event records ``(times [s], units)`` -> spike frames ``[n_bins, n_units]``.

    Bin ``k`` covers ``[k dt, (k+1) dt)`` with ``dt = duration / n_bins`` seconds (default 1.4 s /
    250 = 5.6 ms). Events at or after ``duration`` are dropped. Counts are clipped to ``max_count``
    (1: binary spikes, as spike-input hardware takes; None: raw counts). ``duration=None`` makes
    ``ceil(last spike / dt)`` bins of ``dt`` seconds per sample (variable length).
    """

    n_units: int = SHD_UNITS
    n_bins: int = 250
    duration: float | None = 1.4
    dt: float | None = None
    max_count: int | None = 1

    def __post_init__(self) -> None:
        if self.n_units < 1:
            raise ValueError(f"n_units must be >= 1, got {self.n_units}")
        if self.duration is not None:
            if not self.duration > 0 or self.n_bins < 1:
                raise ValueError(f"duration must be > 0 s and n_bins >= 1, got {self.duration}, "
                                 f"{self.n_bins}")
        elif self.dt is None or not self.dt > 0:
            raise ValueError("with duration=None, give the bin width dt > 0 (seconds)")
        if self.max_count is not None and self.max_count < 1:
            raise ValueError(f"max_count must be >= 1 or None, got {self.max_count}")

    @property
    def bin_width(self) -> float:
        """Seconds per bin."""
        return self.duration / self.n_bins if self.duration is not None else float(self.dt)

    def __call__(self, events: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        times, units = (np.asarray(a) for a in events)
        if times.shape != units.shape or times.ndim != 1:
            raise ValueError(f"times and units must be matching 1-D arrays, got {times.shape} and "
                             f"{units.shape}")
        if units.size and (units.min() < 0 or units.max() >= self.n_units):
            raise ValueError(f"unit ids must be in [0, {self.n_units}), "
                             f"got [{units.min()}, {units.max()}]")
        width = self.bin_width
        if self.duration is not None:
            n_bins = self.n_bins
        else:
            n_bins = max(1, math.ceil(float(times.max()) / width) if times.size else 1)
        # bin index by floor(t / dt); the small guard keeps t = k dt in bin k despite rounding
        index = np.floor(times.astype(np.float64) / width + 1e-9).astype(np.int64)
        keep = (index >= 0) & (index < n_bins)
        flat = index[keep] * self.n_units + units[keep].astype(np.int64)
        counts = np.bincount(flat, minlength=n_bins * self.n_units).reshape(n_bins, self.n_units)
        if self.max_count is not None:
            counts = np.minimum(counts, self.max_count)
        return counts.astype(np.float32)


def read_shd_file(path: str | Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray,
                                              tuple[str, ...] | None]:
    """(events ``[(times, units), ...]``, labels ``[n]`` int64, class names or None) of a file."""
    try:
        import h5py
    except ImportError:
        raise ImportError("reading SHD needs h5py: pip install h5py") from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SHD file {path} does not exist. {SHD_HINT}")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path} is not an HDF5 file ({exc})") from None
    with handle:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in handle:
                raise ValueError(f"{path}: dataset {key!r} missing; an SHD file has spikes/times, "
                                 f"spikes/units (ragged arrays) and labels")
        times, units = handle["spikes/times"][()], handle["spikes/units"][()]
        labels = np.asarray(handle["labels"][()]).astype(np.int64)
        names = None
        if "extra/keys" in handle:
            keys = handle["extra/keys"][()]
            names = tuple(k.decode() if isinstance(k, bytes) else str(k) for k in keys)
    if not len(times) == len(units) == len(labels):
        raise ValueError(f"{path}: {len(times)} time arrays, {len(units)} unit arrays and "
                         f"{len(labels)} labels must be equally many")
    events = []
    for i, (t, u) in enumerate(zip(times, units)):
        t, u = np.asarray(t, np.float64), np.asarray(u)
        if t.shape != u.shape:
            raise ValueError(f"{path}: sample {i} has {t.size} times but {u.size} units")
        events.append((t, u.astype(np.int64)))
    return events, labels, names


def shd_path(root: str | Path, split: str) -> Path | None:
    """The SHD file for ``split`` under ``root`` (plain or tonic layout), or None."""
    for candidate in (Path(root) / f"shd_{split}.h5", Path(root) / "SHD" / f"shd_{split}.h5"):
        if candidate.is_file():
            return candidate
    return None


def load_shd(root: str | Path, split: str = "train", binning: SpikeBinning = SpikeBinning(),
             download: bool = False) -> LabelledSequences:
    """One SHD split as :class:`LabelledSequences` of spike frames ``[250, 700]`` (by default)."""
    if split not in SHD_SPLITS:
        raise ValueError(f"split must be one of {SHD_SPLITS}, got {split!r}")
    path = shd_path(root, split)
    if path is None and download:
        try:
            import tonic
        except ImportError:
            raise ImportError(f"download=True needs tonic (pip install tonic). "
                              f"{SHD_HINT}") from None
        tonic.datasets.SHD(save_to=str(root), train=split == "train")
        path = shd_path(root, split)
    if path is None:
        raise FileNotFoundError(f"SHD {split} file shd_{split}.h5 not found in {root} or "
                                f"{Path(root) / 'SHD'}. {SHD_HINT}")
    events, labels, names = read_shd_file(path)
    if names is not None and len(names) <= labels.max():
        names = None  # a file whose key list does not cover its labels: fall back to numbers
    return LabelledSequences(events, labels, binning, f"SHD {split}", names,
                             {"path": str(path), "bin_width_s": binning.bin_width})
