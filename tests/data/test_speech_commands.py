import json

import numpy as np
import pytest
import soundfile

from spiking_nr.data.speech_commands import load_speech_commands


def _layout(root, words=("yes", "no", "up"), per_word=4, extra=("bed",)):
    rng = np.random.default_rng(0)
    for w, word in enumerate([*words, *extra]):
        (root / word).mkdir(parents=True)
        for k in range(per_word):
            freq = 300.0 + 500.0 * w
            n = 16000 if k % 2 == 0 else 12000  # some clips shorter than 1 s
            wave = 0.3 * np.sin(2 * np.pi * freq * np.arange(n) / 16000) + 0.01 * rng.normal(size=n)
            soundfile.write(root / word / f"spk{k}_nohash_0.wav", wave, 16000, subtype="PCM_16")
    (root / "validation_list.txt").write_text("yes/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk2_nohash_0.wav\nbed/spk2_nohash_0.wav\n")
    noise = root / "_background_noise_"
    noise.mkdir()
    soundfile.write(noise / "white.wav", 0.1 * rng.normal(size=48000), 16000)


def test_splits_follow_the_lists(tmp_path):
    _layout(tmp_path)
    train = load_speech_commands(tmp_path, "train", words=("yes", "no", "up"))
    val = load_speech_commands(tmp_path, "validation", words=("yes", "no", "up"))
    test = load_speech_commands(tmp_path, "testing", words=("yes", "no", "up"))
    assert (len(train), len(val), len(test)) == (9, 2, 1)
    assert sorted(val.labels.tolist()) == [0, 1] and test.labels.tolist() == [0]
    assert not set(map(str, train.samples)) & set(map(str, val.samples))
    x, y = train[0]
    assert x.shape == (98, 40) and x.dtype == np.float32
    assert train.class_names == ("yes", "no", "up") and not train.synthetic
    # the tone of each word sits in a different mel band
    peaks = [int(train.sequence(i)[50].argmax()) for i in range(len(train))]
    by_label = {lab: {p for p, q in zip(peaks, train.labels) if q == lab} for lab in range(3)}
    assert len(by_label[0] | by_label[1] | by_label[2]) >= 3
    frozen = load_speech_commands(tmp_path, "train", words=("yes", "no", "up"), materialize=True)
    np.testing.assert_array_equal(frozen[3][0], train[3][0])


def test_unknown_and_silence_classes(tmp_path):
    _layout(tmp_path)
    data = load_speech_commands(tmp_path, "train", words=("yes", "no"), unknown=True, n_silence=5)
    assert data.class_names == ("yes", "no", "_unknown_", "_silence_")
    counts = np.bincount(data.labels)
    assert counts.tolist() == [2, 3, 7, 5]  # unknown: 'up' (4) + 'bed' (3 not in testing)
    silence = data.sequence(int(np.flatnonzero(data.labels == 3)[0]))
    assert silence.shape == (98, 40)
    again = load_speech_commands(tmp_path, "train", words=("yes", "no"), unknown=True, n_silence=5)
    np.testing.assert_array_equal(again.sequence(len(again) - 1), data.sequence(len(data) - 1))


def test_synthetic_folder_is_labelled(tmp_path):
    _layout(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps({"synthetic": True, "generator": "test"}))
    data = load_speech_commands(tmp_path, "all", words=("yes", "no"))
    assert data.synthetic and "SYNTHETIC" in data.name
    assert all("SYNTHETIC" in c for c in data.class_names)


def test_missing_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="speech_commands_v0.02"):
        load_speech_commands(tmp_path / "nowhere")
    _layout(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"\['left'\]"):
        load_speech_commands(tmp_path, words=("yes", "left"))
    (tmp_path / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing_list.txt"):
        load_speech_commands(tmp_path, words=("yes",))
    with pytest.raises(ValueError, match="split"):
        load_speech_commands(tmp_path, "dev", words=("yes",))
