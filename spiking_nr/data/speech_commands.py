"""Google Speech Commands (v0.01/v0.02) from its on-disk layout, read with ``soundfile``.

Layout (as extracted from ``speech_commands_v0.02.tar.gz``)::

    <root>/<word>/<speaker>_nohash_<n>.wav     16 kHz mono clips of about 1 s
    <root>/validation_list.txt                 paths relative to root, one per line
    <root>/testing_list.txt
    <root>/_background_noise_/*.wav            long noise recordings (for "silence" clips)

The training split is every clip of a word folder that is in neither list. A folder written by
:mod:`spiking_nr.data.synthetic_keywords` (``metadata.json`` with ``"synthetic": true``) is read the
same way but its dataset name, class names and metadata say SYNTHETIC.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spiking_nr.data.audio import FrontEnd, fit_length, read_wav
from spiking_nr.data.base import LabelledSequences

SPEECH_COMMANDS_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
BACKGROUND = "_background_noise_"
SPLITS = ("train", "validation", "testing", "all")
DOWNLOAD_HINT = ("Download http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz and "
                 "extract it there (word folders yes/, no/, ..., validation_list.txt, "
                 "testing_list.txt), "
                 "or generate the offline SYNTHETIC substitute with "
                 "spiking_nr.data.synthetic_keywords.generate_synthetic_keywords(root)")


@dataclass(frozen=True)
class NoiseSlice:
    """A ``_silence_`` sample: one clip of a background-noise file from ``start``, scaled."""

    path: str
    start: int
    gain: float


@functools.lru_cache(maxsize=8)
def _noise_wave(path: str, sample_rate: int) -> np.ndarray:
    return read_wav(path, sample_rate)


@dataclass(frozen=True)
class ClipFeatures:
    """Encoder for Speech Commands samples (wav paths or :class:`NoiseSlice`) -> ``[frames, F]``."""

    front_end: FrontEnd = FrontEnd()
    clip_samples: int = 16000

    def __call__(self, item: str | Path | NoiseSlice) -> np.ndarray:
        rate = self.front_end.sample_rate
        if isinstance(item, NoiseSlice):
            noise = _noise_wave(item.path, rate)
            wave = noise[item.start:item.start + self.clip_samples] * item.gain
        else:
            wave = read_wav(item, rate)
        return self.front_end(fit_length(wave, self.clip_samples))


def read_metadata(root: str | Path) -> dict:
    """``<root>/metadata.json`` if present (synthetic sets write one), else ``{}``."""
    path = Path(root) / "metadata.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split list {path} not found; the Speech Commands layout has "
                                "validation_list.txt and testing_list.txt next to the word "
                                "folders. "
                                f"{DOWNLOAD_HINT}")
    lines = path.read_text().splitlines()
    return {line.strip().replace("\\", "/") for line in lines if line.strip()}


def load_speech_commands(root: str | Path, split: str = "train",
                         words: Sequence[str] = SPEECH_COMMANDS_WORDS, unknown: bool = False,
                         n_silence: int = 0, front_end: FrontEnd = FrontEnd(),
                         clip_samples: int = 16000, seed: int = 0,
                         materialize: bool = False, progress: bool = False) -> LabelledSequences:
    """One split of a Speech Commands folder as :class:`LabelledSequences` of features.

    ``split``: ``train``, ``validation``, ``testing`` or ``all``. ``words``: the classes (labels in
    that order). ``unknown``: add class ``_unknown_`` with the clips of every other word folder.
    ``n_silence``: add class ``_silence_`` with that many 1 s slices of ``_background_noise_``
    (random offsets and gains in [0.1, 1] from ``seed``). Clips are padded/cropped to
    ``clip_samples`` and encoded with ``front_end`` (log-mel ``[98, 40]`` by default) on access,
    or all at once with
    ``materialize=True`` (``progress`` shows a bar).
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"Speech Commands folder {root} does not exist. {DOWNLOAD_HINT}")
    words = [str(w) for w in words]
    if not words or len(set(words)) != len(words):
        raise ValueError(f"words must be a non-empty list of distinct words, got {words}")
    missing = [w for w in words if not (root / w).is_dir()]
    if missing:
        raise FileNotFoundError(f"word folders {missing} not found in {root}. {DOWNLOAD_HINT}")
    if split != "all":
        validation = _read_list(root / "validation_list.txt")
        testing = _read_list(root / "testing_list.txt")

    def in_split(rel: str) -> bool:
        if split == "all":
            return True
        if split == "validation":
            return rel in validation
        if split == "testing":
            return rel in testing
        return rel not in validation and rel not in testing

    folders = list(words)
    if unknown:
        folders += sorted(p.name for p in root.iterdir()
                          if p.is_dir() and p.name not in words and not p.name.startswith("_"))
    paths: list[str | NoiseSlice] = []
    labels: list[int] = []
    for folder in folders:
        label = words.index(folder) if folder in words else len(words)
        for wav in sorted((root / folder).glob("*.wav")):
            if in_split(f"{folder}/{wav.name}"):
                paths.append(str(wav))
                labels.append(label)
    class_names = [*words, *([UNKNOWN] if unknown else [])]
    if n_silence:
        noise_files = sorted((root / BACKGROUND).glob("*.wav"))
        if not noise_files:
            raise FileNotFoundError(f"n_silence={n_silence} needs noise recordings in "
                                    f"{root / BACKGROUND}")
        rng = np.random.default_rng([seed, SPLITS.index(split)])
        for _ in range(n_silence):
            path = str(noise_files[int(rng.integers(len(noise_files)))])
            length = len(_noise_wave(path, front_end.sample_rate))
            start = int(rng.integers(max(1, length - clip_samples + 1)))
            paths.append(NoiseSlice(path, start, float(rng.uniform(0.1, 1.0))))
            labels.append(len(class_names))
        class_names.append(SILENCE)
    if not paths:
        raise FileNotFoundError(f"no .wav clips of {words} in the {split!r} split of {root}. "
                                f"{DOWNLOAD_HINT}")
    meta = read_metadata(root)
    synthetic = bool(meta.get("synthetic", False))
    name = f"speech-commands {split}"
    if synthetic:
        name = f"SYNTHETIC keywords (espeak-ng, not real recordings) {split}"
        class_names = [f"{c} (SYNTHETIC)" for c in class_names]
    metadata = {"root": str(root), "split": split, "synthetic": synthetic, "front_end": front_end,
                "clip_samples": clip_samples}
    if synthetic:
        metadata["generator"] = meta.get("generator", "espeak-ng")
    dataset = LabelledSequences(paths, np.array(labels, np.int64),
                                ClipFeatures(front_end, clip_samples), name, tuple(class_names),
                                metadata)
    return dataset.materialize(progress=progress) if materialize else dataset
