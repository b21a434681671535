import json
import shutil

import numpy as np
import pytest
import soundfile

from spiking_nr.data import synthetic_keywords as sk
from spiking_nr.data.synthetic_keywords import (
    SynthConfig,
    ToolMissingError,
    generate_synthetic_keywords,
    load_synthetic_keywords,
    plan_clips,
    speaker_split,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed")
TINY = SynthConfig(words=("yes", "no"), clips_per_word=4, validation_percent=30.0,
                   testing_percent=30.0, seed=1)


def test_plan_is_deterministic_and_varied():
    a, b = plan_clips(TINY), plan_clips(TINY)
    assert a == b and len(a) == 8
    assert plan_clips(SynthConfig(words=("yes",), clips_per_word=4, seed=2)) != a[:4]
    big = plan_clips(SynthConfig(clips_per_word=50))
    assert len({p.speaker for p in big}) > 30 and len({p.speed for p in big}) > 30
    parts = {speaker_split(p.speaker, 10.0, 10.0) for p in big}
    assert parts == {"train", "validation", "testing"}


@needs_espeak
def test_generate_tiny_set(tmp_path):
    root = generate_synthetic_keywords(tmp_path / "kw", TINY, workers=2, progress=False)
    wavs = sorted(root.glob("*/*.wav"))
    assert len(wavs) == 8
    wave, rate = soundfile.read(wavs[0])
    assert rate == 16000 and wave.shape == (16000,) and 0.05 < np.abs(wave).max() <= 1.0
    meta = json.loads((root / "metadata.json").read_text())
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["description"]
    assert "NOT real speech" in (root / "SYNTHETIC_README.txt").read_text()
    # splits are by speaker: no speaker in two lists
    lists = {p: (root / f"{p}_list.txt").read_text().split() for p in ("validation", "testing")}
    speakers = {p: {r.split("/")[1].split("_nohash_")[0] for r in rels} for p, rels in lists.items()}
    assert not speakers["validation"] & speakers["testing"]
    # cached: a second call rewrites nothing
    stamp = {w: w.stat().st_mtime_ns for w in wavs}
    generate_synthetic_keywords(root, TINY, progress=False)
    assert {w: w.stat().st_mtime_ns for w in wavs} == stamp
    # deterministic: a second folder gets the same audio
    other = generate_synthetic_keywords(tmp_path / "kw2", TINY, workers=1, progress=False)
    np.testing.assert_array_equal(soundfile.read(wavs[0])[0],
                                  soundfile.read(other / wavs[0].relative_to(root))[0])
    data = load_synthetic_keywords(root, "all")
    assert len(data) == 8 and data.synthetic and "SYNTHETIC" in data.name
    assert data.class_names == ("yes (SYNTHETIC)", "no (SYNTHETIC)")
    assert data[0][0].shape == (98, 40)
    with pytest.raises(FileExistsError, match="other settings"):
        generate_synthetic_keywords(root, SynthConfig(words=("yes",), clips_per_word=2))


def test_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="generate=True"):
        load_synthetic_keywords(tmp_path)
    monkeypatch.setattr(sk.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="apt-get install espeak-ng"):
        generate_synthetic_keywords(tmp_path / "x", TINY)
    with pytest.raises(ValueError, match="clips_per_word"):
        SynthConfig(clips_per_word=0)
    with pytest.raises(ValueError, match="speeds"):
        SynthConfig(speeds=(200, 100))
