"""One way in for every data source, shared by the CLI (``--data SPEC``) and the Python API.

    open_source("npz:my_data.npz")       # your arrays (.npz file or folder of .npy; data.arrays)
    open_source("shd:DIR")               # Spiking Heidelberg Digits (shd_train.h5, shd_test.h5)
    open_source("speech:DIR")            # a Speech Commands folder: log-mel, standardised
    open_source("tonic:NMNIST:DIR")      # a tonic dataset already under DIR (never downloads)
    open_source("mnist-substitute-stream")  # offline MNIST 0-4 targets / 5-9 distractors (SUBSTITUTE)

Each returns :class:`DataSplits` (train, test, default distractor classes, provenance note);
:func:`continual_streams` turns it into (train, test) :class:`ContinualStream` s with the chosen
target and distractor classes (``"0,1,2"``, class names such as ``"yes,no"``, or lists). Problems
raise ``ValueError`` naming the file or class and what was expected (the CLI prints them as one
line and exits with code 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spiking_nr.data.base import DataSplits, LabelledSequences
from spiking_nr.streams import ContinualStream, StreamConfig

SOURCE_KINDS = ("npz", "npy", "shd", "speech", "tonic", "mnist-substitute-stream")
DEFAULT_SOURCE = "mnist-substitute-stream"


def source_kind(spec: str) -> str:
    """The kind of a source spec (``npz:PATH`` -> ``npz``), or ``ValueError`` listing the kinds."""
    kind = spec.split(":", 1)[0]
    if kind not in SOURCE_KINDS:
        raise ValueError(f"unknown data source {spec!r} (data.dataset / --data); expected one of "
                         f"npz:PATH, npy:DIR, shd:DIR, speech:DIR, tonic:NAME[:DIR], {DEFAULT_SOURCE}")
    if kind != DEFAULT_SOURCE and not spec[len(kind) + 1:]:
        raise ValueError(f"data source {spec!r} needs a location after '{kind}:'")
    return kind


def open_source(spec: str, seed: int = 0, test_fraction: float = 0.2,
                classes: Sequence[str] | None = None, time_bins: int = 100) -> DataSplits:
    """Read a data source (see the module doc). ``test_fraction``/``seed``: the held-out split of
    arrays without ``x_test``. ``classes``: the Speech Commands words to read (default: every word
    folder). ``time_bins``: frames per sample of event data from tonic."""
    kind = source_kind(spec)
    where = spec[len(kind) + 1:]
    if kind in ("npz", "npy"):
        from spiking_nr.data.arrays import load_arrays

        return load_arrays(where, test_fraction, seed)
    if kind == "shd":
        from spiking_nr.data.shd import load_shd

        try:
            train, test = load_shd(where, "train"), load_shd(where, "test")
        except FileNotFoundError as exc:
            raise ValueError(str(exc)) from None
        return DataSplits(train, test, None, f"SHD from {where} (real spike data, 250 x 5.6 ms bins)")
    if kind == "speech":
        return _speech(Path(where), classes, seed)
    if kind == "tonic":
        name, _, root = where.partition(":")
        return DataSplits(*(tonic_dataset(name, root or "data", part == "train", time_bins)
                            for part in ("train", "test")), None, f"tonic {name} from {root or 'data'}")
    return _mnist_substitute(seed)


def _mnist_substitute(seed: int) -> DataSplits:
    from spiking_nr.data.image_stream import DATA_NOTE
    from spiking_nr.data.mnist import load_mnist_5k
    from spiking_nr.encoding import rows_threshold

    data = load_mnist_5k(seed=seed)
    names = tuple(str(d) for d in range(10))
    meta = {"substitute": True}
    return DataSplits(
        LabelledSequences(data.train_images, data.train_labels, rows_threshold,
                          "MNIST-5k train (SUBSTITUTE for FMNIST/MNIST)", names, meta),
        LabelledSequences(data.test_images, data.test_labels, rows_threshold,
                          "MNIST-5k test (SUBSTITUTE for FMNIST/MNIST)", names, meta),
        tuple(range(5, 10)), DATA_NOTE, mask_preset="image_rows")


def _speech(root: Path, classes: Sequence[str] | None, seed: int) -> DataSplits:
    from spiking_nr.data.keyword_stream import GAP_NOISE, FeatureScale
    from spiking_nr.data.speech_commands import load_speech_commands, read_metadata

    if not root.is_dir():
        raise ValueError(f"Speech Commands folder {root} does not exist")
    words = list(classes) if classes else sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    try:
        train = load_speech_commands(root, "train", words=words, materialize=True)
        test = load_speech_commands(root, "testing", words=words, materialize=True)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    scale = FeatureScale.fit([train])
    gap_level = float(scale(np.full((1, len(scale.mean)), scale.floor))[0].mean())
    synthetic = bool(read_metadata(root).get("synthetic", False))
    note = (f"{'SYNTHETIC espeak-ng keywords' if synthetic else 'Speech Commands'} from {root} "
            "(40 log-mel bands per 10 ms, standardised on the training clips)")
    return DataSplits(scale.apply(train), scale.apply(test), None, note,
                      {"gap_kind": "gaussian", "gap_value": gap_level, "noise_std": GAP_NOISE},
                      scale.intensity, "keywords")


# ---- tonic ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TonicFrames:
    """Encoder for tonic samples: events (a structured array with ``t``, ``x``, ``p``...) -> frames
    ``[time_bins, channels]`` through ``tonic.transforms.ToFrame(sensor_size, n_time_bins)``, every
    sensor pixel and polarity one channel; counts clipped to ``max_count`` (1: binary spikes).
    Samples that are already frames ``[T, ...]`` (a dataset with its own transform) are flattened."""

    sensor_size: tuple[int, ...]
    time_bins: int = 100
    max_count: int | None = 1

    def __call__(self, sample: np.ndarray) -> np.ndarray:
        sample = np.asarray(sample)
        if sample.dtype.names:
            from tonic.transforms import ToFrame

            sample = ToFrame(sensor_size=self.sensor_size, n_time_bins=self.time_bins)(sample)
        frames = sample.reshape(len(sample), -1).astype(np.float32)
        return np.minimum(frames, self.max_count) if self.max_count is not None else frames


class _Events:
    """``dataset[i][0]`` on access: a tonic dataset as a lazy list of samples."""

    def __init__(self, dataset: Any, indices: Sequence[int] | None = None) -> None:
        self.dataset = dataset
        self.indices = list(range(len(dataset))) if indices is None else list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[self.indices[i]][0]


def from_tonic(dataset: Any, sensor_size: tuple[int, ...] | None = None, time_bins: int = 100,
               name: str | None = None, max_count: int | None = 1) -> LabelledSequences:
    """Any tonic-style dataset (``dataset[i] -> (events, label)``, e.g. ``tonic.datasets.NMNIST``
    or your own list) as :class:`LabelledSequences` of frames ``[time_bins, channels]``.
    ``sensor_size`` defaults to ``dataset.sensor_size``."""
    sensor_size = sensor_size or getattr(dataset, "sensor_size", None)
    if sensor_size is None:
        raise ValueError("give sensor_size (the dataset has no sensor_size attribute)")
    targets = getattr(dataset, "targets", None)
    if targets is None or len(targets) != len(dataset):
        targets = [dataset[i][1] for i in range(len(dataset))]
    labels = np.asarray(targets).reshape(len(dataset))
    classes = getattr(dataset, "classes", None)
    names = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in classes) \
        if classes is not None and len(classes) > labels.max() else None
    return LabelledSequences(_Events(dataset), labels, TonicFrames(tuple(sensor_size), time_bins,
                                                                   max_count),
                             name or type(dataset).__name__, names, {"tonic": type(dataset).__name__})


def _no_download(self) -> None:
    raise FileNotFoundError(f"tonic dataset {type(self).__name__} is not in {self.location_on_system}; "
                            "this package never downloads: fetch it with tonic first "
                            f"(tonic.datasets.{type(self).__name__}(save_to=...))")


def tonic_dataset(name: str, root: str | Path, train: bool = True,
                  time_bins: int = 100) -> LabelledSequences:
    """``tonic.datasets.<name>`` already on disk under ``root`` (tonic's own layout) as frames."""
    try:
        import tonic.datasets
    except ImportError:
        raise ValueError("tonic:NAME needs tonic (pip install tonic)") from None
    cls = getattr(tonic.datasets, name, None)
    if not isinstance(cls, type):
        known = sorted(n for n in dir(tonic.datasets) if isinstance(getattr(tonic.datasets, n), type))
        raise ValueError(f"tonic has no dataset {name!r}; known: {', '.join(known)}")
    offline = type(name, (cls,), {"download": _no_download})  # tonic downloads when files are missing
    try:
        try:
            dataset = offline(save_to=str(root), train=train)
        except TypeError:
            dataset = offline(save_to=str(root), split="train" if train else "test")
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    return from_tonic(dataset, time_bins=time_bins, name=f"tonic {name} {'train' if train else 'test'}")


# ---- streams -------------------------------------------------------------------------------------
def resolve_classes(classes: str | Sequence[int | str] | None, dataset: LabelledSequences,
                    what: str) -> list[int] | None:
    """``"0,1,2"``, ``"yes,no"`` (class names) or a list -> labels of ``dataset``; every class must
    occur in it. None stays None."""
    if classes is None:
        return None
    items = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
    items = [c for c in items if c != ""]
    names = dataset.class_names or ()
    present = set(np.unique(dataset.labels).tolist())
    out = []
    # synthetic speech names its classes "yes (SYNTHETIC)": the plain word names them too
    plain = [n.split(" (")[0] for n in names]
    for item in items:
        text = str(item)
        if text in names or text in plain:
            label = names.index(text) if text in names else plain.index(text)
        elif text.lstrip("-").isdigit():
            label = int(text)
        else:
            raise ValueError(f"{what}: class {text!r} is neither a label nor a class name of "
                             f"{dataset.name} (names: {', '.join(names) or 'none'})")
        if label not in present:
            raise ValueError(f"{what}: class {text} does not occur in {dataset.name} "
                             f"(labels present: {sorted(present)})")
        out.append(label)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: classes are repeated in {classes!r}")
    return out


def continual_streams(splits: DataSplits, targets: str | Sequence[int | str] | None = None,
                      distractors: str | Sequence[int | str] | None = None, seed: int = 0,
                      gap_range: tuple[int, int] = (0, 10),
                      **stream_options: Any) -> tuple[ContinualStream, ContinualStream]:
    """(train, test) streams of ``targets`` (relabelled ``0..k-1`` in the order given) with
    ``distractors`` segments between them. Defaults: distractors = the source's own list (or none);
    targets = every other class. ``stream_options``: more :class:`StreamConfig` fields (the source's
    own gap settings are the defaults)."""
    d = resolve_classes(distractors, splits.train, "--distractors")
    if d is None:
        d = list(splits.distractors or ())
    t = resolve_classes(targets, splits.train, "--targets")
    if t is None:
        t = sorted(set(np.unique(splits.train.labels).tolist()) - set(d))
    if not t:
        raise ValueError(f"no target classes left in {splits.train.name} (all are distractors)")
    overlap = sorted(set(t) & set(d))
    if overlap:
        raise ValueError(f"classes {overlap} are both targets and distractors")
    options = {**splits.stream_options, **stream_options}
    streams = []
    for k, dataset in enumerate((splits.train, splits.test)):
        missing = sorted(set(t + d) - set(np.unique(dataset.labels).tolist()))
        if missing:
            raise ValueError(f"classes {missing} have no samples in {dataset.name}")
        targets_ds = dataset.select_classes(t, relabel=True, name=f"{dataset.name} targets {t}")
        distractors_ds = dataset.select_classes(d, relabel=True, name=f"{dataset.name} distractors "
                                                f"{d}") if d else None
        streams.append(ContinualStream(targets_ds, distractors_ds,
                                       StreamConfig(seed=seed + 1000 * k, gap_range=gap_range,
                                                    **options)))
    return streams[0], streams[1]



def streams_for(data: Any) -> tuple[DataSplits, ContinualStream, ContinualStream]:
    """(source, train stream, test stream) of a run config's ``[data]`` section (``dataset``,
    ``targets``, ``distractors``, ``test_fraction``, ``time_bins``, ``gap_max``, ``seed``): what
    ``spiking-nr train``, ``eval``, ``simulate`` and ``plot`` all use."""
    words = None
    if source_kind(data.dataset) == "speech":  # read only the named words' clips
        words = [w.strip() for w in f"{data.targets},{data.distractors}".split(",") if w.strip()]
        words = words if words and not any(w.isdigit() for w in words) else None
    splits = open_source(data.dataset, data.seed, data.test_fraction, words, data.time_bins)
    train, test = continual_streams(splits, data.targets or None, data.distractors or None,
                                    data.seed, (0, data.gap_max))
    return splits, train, test
