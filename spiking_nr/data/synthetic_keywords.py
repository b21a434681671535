"""SYNTHETIC keyword clips (espeak-ng speech) in the Speech Commands layout, for offline work.

NOT REAL SPEECH. Real recordings cannot be had offline, so this module synthesises the 10 Speech
Commands words (yes no up down left right on off stop go) with Debian's ``espeak-ng`` over many
voices (accents x voice variants), speaking rates, pitches and amplitudes; if ``sox`` is present
each clip is also tempo- and pitch-shifted. Clips are resampled to 16 kHz, placed at a random offset
in a 1 s clip and mixed with white noise at a random SNR. The folder gets ``metadata.json``
(``"synthetic": true``), ``SYNTHETIC_README.txt`` and split lists; readers label the dataset and its
classes SYNTHETIC. Any number measured on it must say so.

Splits are by *speaker* (accent + variant), like the real set: a stable hash of the speaker name
puts all of its clips in train, validation or testing. Everything is drawn from ``seed``; generation
runs in parallel subprocesses with a progress bar, is resumable (finished clips are kept) and is
cached: calling it again with the same settings only checks the folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spiking_nr.data.audio import FrontEnd
from spiking_nr.data.base import LabelledSequences
from spiking_nr.data.speech_commands import SPEECH_COMMANDS_WORDS, load_speech_commands
from spiking_nr.io import atomic_write

INSTALL_HINT = ("install it with `sudo apt-get install espeak-ng sox` (Debian/Ubuntu; "
                "scripts/setup_env.sh does this) or `brew install espeak-ng sox` (macOS)")
FORMAT_VERSION = 1


class ToolMissingError(RuntimeError):
    """A required external program (espeak-ng) is not installed."""


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise. Speeds in words per minute, pitches 0-99 (espeak-ng), ``amplitudes`` in
    espeak-ng units (100 = default), ``tempo`` factor and ``pitch_cents`` ranges (uniform, sox
    only), ``snr_db`` range of added white noise (None: clean), percentages of speakers held out."""

    words: tuple[str, ...] = SPEECH_COMMANDS_WORDS
    clips_per_word: int = 100
    accents: tuple[str, ...] = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                                "en-gb-x-gbcwmd", "en-029")
    variants: tuple[str, ...] = ("", "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4",
                                 "f5", "klatt", "klatt2", "whisper")
    speeds: tuple[int, int] = (120, 220)
    pitches: tuple[int, int] = (20, 80)
    amplitudes: tuple[int, int] = (60, 140)
    tempo: tuple[float, float] = (0.85, 1.15)
    pitch_cents: tuple[float, float] = (-200.0, 200.0)
    snr_db: tuple[float, float] | None = (10.0, 40.0)
    sample_rate: int = 16000
    clip_samples: int = 16000
    validation_percent: float = 10.0
    testing_percent: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.words or any(not w.strip() for w in self.words):
            raise ValueError(f"words must be non-empty strings, got {self.words}")
        if self.clips_per_word < 1:
            raise ValueError(f"clips_per_word must be >= 1, got {self.clips_per_word}")
        if not self.accents or not self.variants:
            raise ValueError("accents and variants must not be empty")
        for name in ("speeds", "pitches", "amplitudes", "tempo", "pitch_cents", "snr_db"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"{name} must be a (low, high) range, got {value}")
        if not 0 <= self.validation_percent + self.testing_percent < 100:
            raise ValueError("validation_percent + testing_percent must be in [0, 100)")


def speaker_split(speaker: str, validation_percent: float, testing_percent: float) -> str:
    """``train``/``validation``/``testing`` from a stable hash of the speaker name."""
    percent = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 10000 / 100.0
    if percent < validation_percent:
        return "validation"
    if percent < validation_percent + testing_percent:
        return "testing"
    return "train"


@dataclass(frozen=True)
class ClipPlan:
    """Every parameter of one clip (drawn from the seed before anything runs)."""

    word: str
    index: int
    voice: str
    speaker: str
    speed: int
    pitch: int
    amplitude: int
    tempo: float
    pitch_cents: float
    snr_db: float | None
    offset_fraction: float
    noise_seed: int

    @property
    def relpath(self) -> str:
        return f"{self.word}/{self.speaker}_nohash_{self.index}.wav"


def plan_clips(config: SynthConfig) -> list[ClipPlan]:
    """The deterministic list of clips for ``config``."""
    plans = []
    for w, word in enumerate(config.words):
        rng = np.random.default_rng([config.seed, w])
        for k in range(config.clips_per_word):
            accent = config.accents[int(rng.integers(len(config.accents)))]
            variant = config.variants[int(rng.integers(len(config.variants)))]
            voice = accent + (f"+{variant}" if variant else "")
            speaker = (accent + (f"-{variant}" if variant else "")).replace("+", "-")
            plans.append(ClipPlan(
                word, k, voice, speaker,
                int(rng.integers(config.speeds[0], config.speeds[1] + 1)),
                int(rng.integers(config.pitches[0], config.pitches[1] + 1)),
                int(rng.integers(config.amplitudes[0], config.amplitudes[1] + 1)),
                float(rng.uniform(*config.tempo)), float(rng.uniform(*config.pitch_cents)),
                None if config.snr_db is None else float(rng.uniform(*config.snr_db)),
                float(rng.random()), int(rng.integers(2**31))))
    return plans


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def synthesise(plan: ClipPlan, config: SynthConfig, use_sox: bool) -> np.ndarray:
    """One clip ``[clip_samples]`` float32 in [-1, 1] (speech at a random offset, plus noise)."""
    import soundfile
    from scipy.signal import resample_poly

    wav = _run(["espeak-ng", "-v", plan.voice, "-s", str(plan.speed), "-p", str(plan.pitch),
                "-a", str(plan.amplitude), "--stdout", plan.word])
    data, rate = soundfile.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    speech = data.mean(axis=1)
    if use_sox:
        raw = _run(["sox", "-V1", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
                    "-r", str(rate), "-",
                    "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-",
                    "tempo", f"{plan.tempo:.4f}", "pitch", f"{plan.pitch_cents:.1f}"],
                   speech.astype("<f4").tobytes())
        speech = np.frombuffer(raw, "<f4").astype(np.float64)
    g = np.gcd(int(rate), config.sample_rate)
    speech = resample_poly(speech, config.sample_rate // g, int(rate) // g)
    # trim espeak's leading/trailing silence so the random offset moves the word itself
    loud = np.flatnonzero(np.abs(speech) > 0.02 * max(np.abs(speech).max(), 1e-9))
    if loud.size:
        speech = speech[loud[0]:loud[-1] + 1]
    speech = speech[:config.clip_samples]
    clip = np.zeros(config.clip_samples)
    start = int(plan.offset_fraction * (config.clip_samples - len(speech)))
    clip[start:start + len(speech)] = speech
    if plan.snr_db is not None:
        rms = np.sqrt(np.mean(speech ** 2)) if speech.size else 0.0
        noise = np.random.default_rng(plan.noise_seed).standard_normal(config.clip_samples)
        clip += noise * rms / 10.0 ** (plan.snr_db / 20.0)
    peak = np.abs(clip).max()
    if peak > 0.99:
        clip *= 0.99 / peak
    return clip.astype(np.float32)


def _atomic_bytes(path: Path, data: bytes) -> None:
    with atomic_write(path) as handle:
        handle.write(data)


def _write_clip(root: Path, plan: ClipPlan, config: SynthConfig, use_sox: bool) -> None:
    import soundfile

    target = root / plan.relpath
    if target.is_file():
        return  # resumable: clips are written atomically, so an existing one is complete
    buffer = io.BytesIO()
    soundfile.write(buffer, synthesise(plan, config, use_sox), config.sample_rate, subtype="PCM_16",
                    format="WAV")
    _atomic_bytes(target, buffer.getvalue())


def generate_synthetic_keywords(root: str | Path, config: SynthConfig = SynthConfig(),
                                workers: int | None = None, progress: bool = True,
                                overwrite: bool = False) -> Path:
    """Write (or find cached) the SYNTHETIC keyword set for ``config`` under ``root``; returns root.

    ``workers``: parallel espeak-ng/sox subprocesses (default: CPU count, at most 8). A folder that
    holds a set made with other settings is refused unless ``overwrite`` (which deletes it).
    """
    root = Path(root)
    if shutil.which("espeak-ng") is None:
        raise ToolMissingError("espeak-ng is needed to synthesise keyword clips but is not on "
                               f"PATH; {INSTALL_HINT}")
    use_sox = shutil.which("sox") is not None
    wanted = {"format_version": FORMAT_VERSION, "synthetic": True, "config": asdict(config),
              "generator": "espeak-ng" + (" + sox (tempo, pitch)" if use_sox else ""),
              "description": "SYNTHETIC speech (espeak-ng), not real recordings; "
                             "Speech Commands layout"}
    meta_path = root / "metadata.json"
    if meta_path.is_file():
        existing = json.loads(meta_path.read_text())
        same = existing.get("config") == json.loads(json.dumps(asdict(config)))
        if same and existing.get("format_version") == FORMAT_VERSION:
            if existing.get("generator") != wanted["generator"]:
                raise RuntimeError(f"{root} was generated with {existing.get('generator')!r} "
                                   f"but this machine has {wanted['generator']!r}; "
                                   "use another folder")
            plans = plan_clips(config)
            if all((root / p.relpath).is_file() for p in plans):
                return root
        elif not overwrite:
            raise FileExistsError(f"{root} holds a synthetic set made with other settings; "
                                  "use another folder or overwrite=True")
        else:
            shutil.rmtree(root)
    elif root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} exists and is not a synthetic keyword folder; "
                              "pick an empty one")
    plans = plan_clips(config)
    for word in config.words:
        (root / word).mkdir(parents=True, exist_ok=True)
    workers = workers or min(8, os.cpu_count() or 1)
    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(lambda p: _write_clip(root, p, config, use_sox), plans)
        for _ in tqdm(jobs, total=len(plans), desc="SYNTHETIC keywords (espeak-ng)", unit="clip",
                      disable=not progress):
            pass
    lists = {"validation": [], "testing": []}
    for p in plans:
        part = speaker_split(p.speaker, config.validation_percent, config.testing_percent)
        if part in lists:
            lists[part].append(p.relpath)
    for part, rels in lists.items():
        _atomic_bytes(root / f"{part}_list.txt", "".join(f"{r}\n" for r in rels).encode())
    _atomic_bytes(root / "SYNTHETIC_README.txt", (
        b"SYNTHETIC keyword clips generated by spiking_nr.data.synthetic_keywords with espeak-ng.\n"
        b"These are NOT real speech recordings and NOT Google Speech Commands; results on them\n"
        b"must be reported as synthetic.\n"))
    # metadata last: its presence marks a complete set
    _atomic_bytes(meta_path, json.dumps(wanted, indent=2).encode())
    return root


def load_synthetic_keywords(root: str | Path, split: str = "train",
                            front_end: FrontEnd = FrontEnd(), generate: bool = False,
                            config: SynthConfig = SynthConfig(),
                            words: Sequence[str] | None = None, materialize: bool = False,
                            progress: bool = False,
                            workers: int | None = None) -> LabelledSequences:
    """A split of the SYNTHETIC keyword set as features (``[98, 40]`` log-mel by default).

    With ``generate=True`` the set is generated (or found cached) first; otherwise a missing set
    raises ``FileNotFoundError`` saying how to make it.
    """
    root = Path(root)
    if generate:
        generate_synthetic_keywords(root, config, workers=workers, progress=progress)
    meta = root / "metadata.json"
    if not meta.is_file():
        raise FileNotFoundError(
            f"no SYNTHETIC keyword set at {root} (metadata.json missing). Generate it with "
            f"load_synthetic_keywords({str(root)!r}, generate=True) or "
            f"spiking_nr.data.synthetic_keywords.generate_synthetic_keywords({str(root)!r}); "
            f"espeak-ng is required ({INSTALL_HINT})")
    info = json.loads(meta.read_text())
    if not info.get("synthetic"):
        raise ValueError(f"{meta} does not mark a synthetic set")
    words = tuple(words) if words is not None else tuple(info["config"]["words"])
    return load_speech_commands(root, split, words=words, front_end=front_end,
                                clip_samples=int(info["config"]["clip_samples"]),
                                materialize=materialize, progress=progress)
