"""The common dataset abstraction: labelled sequences ``[T_i, N]`` float32 (numpy only).

Every reader in :mod:`spiking_nr.data` returns a :class:`LabelledSequences`: a list of raw
samples (images, wav paths, event records, feature arrays) plus an ``encode`` callable that turns
one sample into a time-major sequence ``[T_i, N]``. Encoding happens on access, so a dataset of
file paths stays small in memory; :meth:`LabelledSequences.materialize` precomputes everything when
the samples are read many times (continual streams revisit them endlessly).

Encoders that need randomness (rate coding) set the attribute ``stochastic = True`` and take
``encode(sample, rng)``; streams pass their per-lane generator, and plain indexing uses a generator
seeded by ``(encoder.seed, index)`` so ``dataset[i]`` is reproducible.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

Encoder = Callable[..., np.ndarray]


def _take(samples: Any, indices: np.ndarray) -> Any:
    if isinstance(samples, np.ndarray):
        return samples[indices]
    return [samples[int(i)] for i in indices]


@dataclass(frozen=True, eq=False)
class LabelledSequences:
    """Labelled samples read as sequences: ``dataset[i] -> (sequence [T_i, N] float32, label)``.

    ``samples``: anything indexable by an int with ``len`` (array ``[n, ...]``, list of paths...).
    ``labels``: ``[n]`` non-negative ints. ``encode``: ``sample -> [T_i, N]`` (None: the samples are
    already sequences). ``class_names[k]`` names label ``k``; ``metadata`` records provenance (for
    example ``{"synthetic": True}``).
    """

    samples: Any
    labels: np.ndarray
    encode: Encoder | None = None
    name: str = ""
    class_names: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 1:
            raise ValueError(f"labels must be a 1-D array [n], got shape {labels.shape}")
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            if not np.all(labels == np.round(labels)):
                raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
        if len(self.samples) != len(labels):
            raise ValueError(f"{len(self.samples)} samples but {len(labels)} labels")
        if len(labels) == 0:
            raise ValueError(f"dataset {self.name!r} is empty")
        if labels.min() < 0:
            raise ValueError(f"labels must be >= 0 (-1 is reserved for 'no class'), "
                             f"got {labels.min()}")
        object.__setattr__(self, "labels", labels)
        if self.class_names is not None:
            names = tuple(str(n) for n in self.class_names)
            if len(names) <= labels.max():
                raise ValueError(f"{len(names)} class names but labels go up to {labels.max()}")
            object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "metadata", dict(self.metadata))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.sequence(index), int(self.labels[index])

    def sequence(self, index: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Sample ``index`` encoded as ``[T_i, N]`` float32. ``rng`` feeds stochastic encoders."""
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        sample = self.samples[index]
        if self.encode is None:
            x = sample
        elif getattr(self.encode, "stochastic", False):
            if rng is None:
                seed = int(getattr(self.encode, "seed", 0))
                rng = np.random.default_rng([seed, index % len(self)])
            x = self.encode(sample, rng)
        else:
            x = self.encode(sample)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"{self.name or 'dataset'}[{index}]: encoder must return a non-empty "
                             f"[T, N] sequence, got shape {x.shape}")
        return x

    @functools.cached_property
    def n_features(self) -> int:
        """Channels per step ``N`` (read from the first sample)."""
        return int(self.sequence(0).shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes: ``len(class_names)`` if named, else ``max(label) + 1``."""
        return len(self.class_names) if self.class_names is not None else int(self.labels.max()) + 1

    @property
    def synthetic(self) -> bool:
        return bool(self.metadata.get("synthetic", False))

    def subset(self, indices: Iterable[int] | np.ndarray,
               name: str | None = None) -> LabelledSequences:
        """The samples at ``indices`` (same encoder, class names and metadata)."""
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"boolean mask must have shape ({len(self)},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        return LabelledSequences(_take(self.samples, idx), self.labels[idx], self.encode,
                                 self.name if name is None else name, self.class_names,
                                 self.metadata)

    def select_classes(self, classes: Sequence[int], relabel: bool = True,
                       name: str | None = None) -> LabelledSequences:
        """Only the samples of ``classes``; with ``relabel``, ``classes[k]`` becomes label ``k``."""
        classes = [int(c) for c in classes]
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be a non-empty list of distinct labels, got {classes}")
        unknown = sorted(set(classes) - set(np.unique(self.labels).tolist()))
        if unknown:
            raise ValueError(f"classes {unknown} do not occur in dataset {self.name!r}")
        keep = np.isin(self.labels, classes)
        idx = np.flatnonzero(keep)
        labels = self.labels[idx]
        names = self.class_names
        if relabel:
            lookup = {c: k for k, c in enumerate(classes)}
            labels = np.array([lookup[int(c)] for c in labels], np.int64)
            names = tuple(self.class_names[c] for c in classes) if self.class_names else None
        label_text = ",".join(str(c) for c in classes)
        return LabelledSequences(_take(self.samples, idx), labels, self.encode,
                                 name if name is not None else f"{self.name} classes {label_text}",
                                 names, self.metadata)

    def materialize(self, progress: bool = False) -> LabelledSequences:
        """Encode every sample once and keep the sequences in memory (deterministic encoders only;
        a stochastic encoder must stay lazy so every presentation draws fresh spikes)."""
        if getattr(self.encode, "stochastic", False):
            raise ValueError("materialize() would freeze a stochastic encoder's noise; keep the "
                             "dataset lazy or materialize the deterministic part first")
        indices: Iterable[int] = range(len(self))
        if progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc=f"encoding {self.name or 'dataset'}", unit="sample")
        sequences = [self.sequence(i) for i in indices]
        return LabelledSequences(sequences, self.labels, None, self.name, self.class_names,
                                 self.metadata)


class DataSplits(NamedTuple):
    """A data source's training and held-out sets, its default distractor classes (labels in
    ``train``'s numbering, or None) and a provenance note (what the data is, said plainly)."""

    train: LabelledSequences
    test: LabelledSequences
    distractors: tuple[int, ...] | None = None
    note: str = ""
    stream_options: Mapping[str, Any] = MappingProxyType({})  # StreamConfig fields (gap kind...)
    intensity: Callable[[np.ndarray], np.ndarray] | None = None  # input -> mask units (None: as is)
    mask_preset: str = "default"  # the key of its mask settings in spiking_nr.masks.MASK_PRESETS


def require_file(path: Any, what: str, hint: str) -> None:
    """Raise ``FileNotFoundError`` naming ``what`` was expected at ``path`` and how to get it."""
    from pathlib import Path

    if not Path(path).exists():
        raise FileNotFoundError(f"{what} not found at {path}. {hint}")
