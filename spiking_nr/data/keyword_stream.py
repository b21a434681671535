"""The continual keyword stream of experiment E2 (speech), on SYNTHETIC or real Speech Commands data.

Targets are the ten Speech Commands command words (labels 0-9 in ``TARGET_WORDS`` order); the
distractors are five other words (``DISTRACTOR_WORDS``) that carry no class. Each clip is a 1 s
log-mel sequence ``[98 frames, 40 bands]`` (10 ms hop). Gaps between segments are low Gaussian
background noise, so nothing but the words themselves marks where a segment starts.

Offline there is no real speech: by default the clips are the SYNTHETIC espeak-ng set of
:mod:`spiking_nr.data.synthetic_keywords` (speakers disjoint between train and test). Every number
measured on it must say SYNTHETIC (:data:`SYNTHETIC_NOTE`). With a real Speech Commands folder
(``synthetic=False``) the same words are read from its own layout and split lists.

Features are scaled once, from the training clips, by :class:`FeatureScale`: the network sees
per-band standardised log-mel frames; the input-driven masks (``spiking_nr.masks.MASK_PRESETS``
``["keywords"]``) see the same frames in intensity units (background near 0, speech around 0.2-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from spiking_nr.data.base import LabelledSequences
from spiking_nr.data.speech_commands import SPEECH_COMMANDS_WORDS, load_speech_commands
from spiking_nr.data.synthetic_keywords import SynthConfig, load_synthetic_keywords
from spiking_nr.streams import ContinualStream, StreamConfig, split_classes

TARGET_WORDS = SPEECH_COMMANDS_WORDS
DISTRACTOR_WORDS = ("bed", "bird", "cat", "dog", "house")
N_CLASSES = len(TARGET_WORDS)
N_FEATURES = 40  # log-mel bands of the default FrontEnd
SYNTHETIC_NOTE = ("SYNTHETIC: espeak-ng keyword clips (not real speech, not Google Speech Commands); "
                  "10 command words as targets, bed/bird/cat/dog/house as distractors, "
                  "speakers disjoint between train and test")
MASK_PRESET = "keywords"  # its mask settings (intensity units): spiking_nr.masks.MASK_PRESETS
GAP_FRAMES = (0, 50)  # background-noise gaps, 10 ms frames, at the training floor (network units)
GAP_NOISE = 0.1  # std of the gap noise, in standardised network-input units


@dataclass(frozen=True, eq=False)
class FeatureScale:
    """Two views of log-mel frames, both fitted on the training clips.

    * network input (:meth:`__call__`): per-band standardisation ``(x - mean) / std`` (``mean``,
      ``std`` ``[F]``), the usual cepstral mean/variance normalisation: raw log-mel values share a
      large positive offset that swamps the word-specific part of the drive.
    * intensity (:meth:`intensity`): ``max(x - floor, 0) / (peak - floor)`` with ``floor``/``peak``
      the 10th/99th percentile of all training values, so background sits near 0 and speech around
      0.2-1; the input-driven masks threshold this.
    """

    floor: float
    peak: float
    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        if not np.isfinite(self.floor) or not np.isfinite(self.peak) or not self.peak > self.floor:
            raise ValueError(f"need finite floor < peak, got floor={self.floor}, peak={self.peak}")
        mean, std = np.asarray(self.mean, np.float64), np.asarray(self.std, np.float64)
        if mean.ndim != 1 or mean.shape != std.shape or not np.all(std > 0):
            raise ValueError(f"mean and std must be [F] arrays with std > 0, got {mean.shape}, "
                             f"{std.shape}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def fit(cls, datasets: Sequence[LabelledSequences], floor_percentile: float = 10.0,
            peak_percentile: float = 99.0) -> FeatureScale:
        """Statistics of every frame of every sequence in ``datasets`` (the training data only)."""
        if not 0 <= floor_percentile < peak_percentile <= 100:
            raise ValueError("need 0 <= floor_percentile < peak_percentile <= 100, got "
                             f"{floor_percentile}, {peak_percentile}")
        frames = np.concatenate([ds.sequence(i) for ds in datasets for i in range(len(ds))])
        floor, peak = np.percentile(frames, [floor_percentile, peak_percentile])
        return cls(float(floor), float(peak), frames.mean(0), np.maximum(frames.std(0), 1e-6))

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Log-mel ``[T, F]`` -> network input ``[T, F]`` float32 (standardised per band)."""
        return ((np.asarray(frames, np.float64) - self.mean) / self.std).astype(np.float32)

    def intensity(self, network_input: np.ndarray) -> np.ndarray:
        """Network input ``[..., F]`` (as made by ``__call__``) -> intensity units, float32."""
        x = np.asarray(network_input, np.float64) * self.std + self.mean
        return np.maximum((x - self.floor) / (self.peak - self.floor), 0.0).astype(np.float32)

    def apply(self, dataset: LabelledSequences) -> LabelledSequences:
        """``dataset`` as network input, held in memory."""
        return LabelledSequences([self(dataset.sequence(i)) for i in range(len(dataset))],
                                 dataset.labels, None, dataset.name, dataset.class_names,
                                 dataset.metadata)


class KeywordStreams(NamedTuple):
    train: ContinualStream
    test: ContinualStream
    scale: FeatureScale


def _join(parts: Sequence[LabelledSequences], name: str) -> LabelledSequences:
    sequences = [ds.sequence(i) for ds in parts for i in range(len(ds))]
    labels = np.concatenate([ds.labels for ds in parts])
    return LabelledSequences(sequences, labels, None, name, parts[0].class_names, parts[0].metadata)


def _cap_per_class(dataset: LabelledSequences, per_class: int, seed: int) -> LabelledSequences:
    """At most ``per_class`` samples of each label (a random subset from ``seed``)."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(dataset.labels == c))[:per_class]
            for c in np.unique(dataset.labels)]
    return dataset.subset(np.sort(np.concatenate(keep)))


def _require_all_classes(dataset: LabelledSequences, words: Sequence[str], what: str) -> None:
    missing = [w for k, w in enumerate(words) if not np.any(dataset.labels == k)]
    if missing:
        raise ValueError(f"the {what} split has no clips of {missing}; use more clips per word "
                         "(a held-out speaker split needs enough speakers)")


def keyword_datasets(root: str | Path, seed: int = 0, clips_per_word: int = 150,
                     synthetic: bool = True, progress: bool = True
                     ) -> tuple[LabelledSequences, LabelledSequences, FeatureScale]:
    """(train, test, scale): clips of the 15 words, labels in ``TARGET_WORDS + DISTRACTOR_WORDS``
    order, as network input of the :class:`FeatureScale` fitted on the training clips.

    ``synthetic``: generate (or reuse) the SYNTHETIC espeak-ng set under ``root`` with
    ``clips_per_word`` clips per word; test = its validation + testing speakers. Otherwise ``root``
    is a real Speech Commands folder: train capped at ``clips_per_word`` clips per word, test =
    ``testing_list.txt``.
    """
    words = (*TARGET_WORDS, *DISTRACTOR_WORDS)
    if synthetic:
        config = SynthConfig(words=words, clips_per_word=clips_per_word, seed=seed)
        load = [load_synthetic_keywords(root, split, generate=True, config=config, materialize=True,
                                        progress=progress)
                for split in ("train", "validation", "testing")]
        train, test = load[0], _join(load[1:], load[2].name.replace("testing", "held-out"))
    else:
        train = _cap_per_class(load_speech_commands(root, "train", words=words), clips_per_word, seed)
        train = train.materialize(progress=progress)
        test = load_speech_commands(root, "testing", words=words, materialize=True, progress=progress)
    _require_all_classes(train, words, "training")
    _require_all_classes(test, words, "test")
    scale = FeatureScale.fit([train])
    return scale.apply(train), scale.apply(test), scale


def keyword_streams(root: str | Path, seed: int = 0, clips_per_word: int = 150, synthetic: bool = True,
                    progress: bool = True) -> KeywordStreams:
    """Train and test streams of the keyword task and their feature scale (see the module doc and
    :func:`keyword_datasets`); half of the segments are distractor words, and a gap of 0-50
    background frames follows a clip with probability 0.5."""
    train, test, scale = keyword_datasets(root, seed, clips_per_word, synthetic, progress)
    gap_level = float(scale(np.full((1, len(scale.mean)), scale.floor))[0].mean())
    streams = []
    for k, dataset in enumerate((train, test)):
        targets, distractors = split_classes(dataset, range(N_CLASSES),
                                             range(N_CLASSES, N_CLASSES + len(DISTRACTOR_WORDS)))
        config = StreamConfig(seed=seed + 1000 * k, gap_range=GAP_FRAMES, gap_kind="gaussian",
                              gap_value=gap_level, noise_std=GAP_NOISE)
        streams.append(ContinualStream(targets, distractors, config))
    return KeywordStreams(streams[0], streams[1], scale)
