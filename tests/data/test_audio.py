import numpy as np
import pytest
import soundfile

from spiking_nr.data.audio import (
    FrontEnd,
    WavFeatures,
    dct_matrix,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    read_wav,
)


def _tone(freq, seconds=1.0, rate=16000, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def test_log_mel_shape_and_tone_location():
    fe = FrontEnd()
    assert (fe.win_samples, fe.hop_samples) == (400, 160)
    feats = fe(_tone(1000.0))
    assert feats.shape == (98, 40) and feats.dtype == np.float32 and fe.n_frames(16000) == 98
    centres = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(8000.0), 42))[1:-1]
    assert abs(centres[int(feats[50].argmax())] - 1000.0) < 150.0
    high = fe(_tone(4000.0))
    assert centres[int(high[50].argmax())] > 3000.0
    mfcc = FrontEnd(n_mfcc=13)(_tone(1000.0))
    assert mfcc.shape == (98, 13)
    np.testing.assert_allclose(mfcc, feats.astype(np.float64) @ dct_matrix(13, 40).T, rtol=1e-4,
                               atol=1e-3)


def test_front_end_is_causal_and_handles_short_clips():
    fe = FrontEnd()
    wave = np.random.default_rng(0).normal(size=16000) * 0.1
    full = fe(wave)
    prefix = fe(wave[:8000])
    np.testing.assert_allclose(full[:len(prefix)], prefix, rtol=1e-6)
    assert fe(wave[:100]).shape == (1, 40)
    silence = fe(np.zeros(16000))
    np.testing.assert_allclose(silence, np.log(1e-6), rtol=1e-6)


def test_filterbank_and_dct_properties():
    bank = mel_filterbank(16000, 512, 40, 20.0, 8000.0)
    assert bank.shape == (40, 257) and np.all(bank >= 0) and np.all(bank.max(axis=1) <= 1.0)
    assert np.all(bank.max(axis=1) > 0.5)
    c = dct_matrix(40, 40)
    np.testing.assert_allclose(c @ c.T, np.eye(40), atol=1e-12)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(np.array([100.0, 4000.0]))), [100.0, 4000.0])
    with pytest.raises(ValueError, match="fmin"):
        mel_filterbank(16000, 512, 40, 9000.0, 8000.0)


def test_wav_reading_and_resampling(tmp_path):
    tone = _tone(440.0, rate=8000)
    soundfile.write(tmp_path / "a.wav", tone, 8000, subtype="PCM_16")
    raw = read_wav(tmp_path / "a.wav")
    assert len(raw) == 8000 and np.abs(raw - tone).max() < 1e-3
    up = read_wav(tmp_path / "a.wav", 16000)
    assert len(up) == 16000
    np.testing.assert_allclose(up[2000:14000], _tone(440.0)[2000:14000], atol=0.01)
    stereo = np.stack([tone, -tone], axis=1)
    soundfile.write(tmp_path / "s.wav", stereo, 8000)
    assert np.abs(read_wav(tmp_path / "s.wav")).max() < 1e-4  # channels averaged
    feats = WavFeatures()(tmp_path / "a.wav")
    assert feats.shape == (98, 40)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="not a readable sound file"):
        read_wav(tmp_path / "bad.wav")
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")


def test_front_end_validation():
    with pytest.raises(ValueError, match="n_fft"):
        FrontEnd(win_ms=40.0, n_fft=512)
    with pytest.raises(ValueError, match="n_mfcc"):
        FrontEnd(n_mfcc=41)
    with pytest.raises(ValueError, match="mono"):
        FrontEnd()(np.zeros((100, 2)))
    with pytest.raises(ValueError, match="NaN"):
        FrontEnd()(np.full(400, np.nan))
