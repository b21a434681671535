"""A numpy log-mel / MFCC front end for keyword audio, and wav reading with ``soundfile``.

Defaults (the usual Speech Commands setup): 16 kHz audio, 25 ms Hann windows (400 samples) every
10 ms (160 samples), 512-point FFT, pre-emphasis 0.97, 40 triangular mel filters (HTK mel scale,
``mel = 2595 log10(1 + f / 700)``) between 20 Hz and 8 kHz with unit peak, power spectrum, natural
log of the mel power (waveform full scale 1) floored at 1e-6, and optionally an orthonormal DCT-II
keeping the first ``n_mfcc`` coefficients (MFCC). A 1 s clip gives ``1 + (16000 - 400) // 160 =
98`` frames: ``[98, 40]`` features. Frames are not centred (no look-ahead), so frame t depends on
audio up to sample ``t * hop + win`` only: the features are causal, as streaming deployment needs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                   fmax: float) -> np.ndarray:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]`` with unit peak (read-only, cached)."""
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={fmin}, fmax={fmax}, "
                         f"sample_rate={sample_rate}")
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    bank = np.maximum(0.0, np.minimum(rising, falling))
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=16)
def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II ``[n_out, n_in]``: ``y_k = sum_n C[k, n] x_n``."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    c = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
    c[0] /= np.sqrt(2.0)
    c.setflags(write=False)
    return c


@dataclass(frozen=True)
class FrontEnd:
    """Waveform ``[samples]`` (float, full scale 1) -> features ``[frames, n_features]`` float32.

    ``win_ms``/``hop_ms`` in milliseconds; ``n_mfcc=None`` gives log-mel (``n_mels`` features),
    otherwise the first ``n_mfcc`` DCT coefficients of the log-mel frame.
    """

    sample_rate: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float | None = None
    n_mfcc: int | None = None
    preemphasis: float = 0.97
    log_floor: float = 1e-6

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.win_ms <= 0 or self.hop_ms <= 0:
            raise ValueError("sample_rate, win_ms and hop_ms must be > 0")
        if self.win_samples > self.n_fft:
            raise ValueError(f"window of {self.win_samples} samples exceeds n_fft={self.n_fft}")
        if self.n_mfcc is not None and not 1 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be in [1, n_mels={self.n_mels}], got {self.n_mfcc}")
        if not 0.0 <= self.preemphasis < 1.0:
            raise ValueError(f"preemphasis must be in [0, 1), got {self.preemphasis}")
        if not self.log_floor > 0:
            raise ValueError(f"log_floor must be > 0, got {self.log_floor}")
        mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self._fmax)

    @property
    def win_samples(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000.0))

    @property
    def hop_samples(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000.0))

    @property
    def _fmax(self) -> float:
        return float(self.sample_rate / 2 if self.fmax is None else self.fmax)

    @property
    def n_features(self) -> int:
        return self.n_mels if self.n_mfcc is None else self.n_mfcc

    def n_frames(self, n_samples: int) -> int:
        """Frames for ``n_samples`` of audio (shorter signals are zero-padded to one window)."""
        return 1 + max(0, (n_samples - self.win_samples) // self.hop_samples)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        x = np.asarray(wave, dtype=np.float64)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"expected a mono waveform [samples], got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("waveform contains NaN or inf")
        if self.preemphasis:
            x = np.concatenate([x[:1], x[1:] - self.preemphasis * x[:-1]])
        win, hop = self.win_samples, self.hop_samples
        if len(x) < win:
            x = np.pad(x, (0, win - len(x)))
        frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
        spectrum = np.fft.rfft(frames * np.hanning(win), n=self.n_fft, axis=1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        bank = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self._fmax)
        logmel = np.log(np.maximum(power @ bank.T, self.log_floor))
        if self.n_mfcc is not None:
            logmel = logmel @ dct_matrix(self.n_mfcc, self.n_mels).T
        return logmel.astype(np.float32)


def read_wav(path: str | Path, sample_rate: int | None = None) -> np.ndarray:
    """Mono float64 waveform in [-1, 1] from a sound file (``soundfile``); multi-channel audio is
    averaged. If ``sample_rate`` is given the file is resampled to it (polyphase, scipy)."""
    try:
        import soundfile
    except ImportError:
        raise ImportError("reading audio needs soundfile: pip install soundfile") from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file {path} does not exist")
    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except RuntimeError as exc:  # libsndfile reports unreadable files as RuntimeError
        raise ValueError(f"{path}: not a readable sound file ({exc})") from None
    wave = data.mean(axis=1)
    if sample_rate is not None and rate != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(rate), int(sample_rate))
        wave = resample_poly(wave, int(sample_rate) // g, int(rate) // g)
    return wave


def fit_length(wave: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad at the end or crop a waveform to ``n_samples``."""
    if len(wave) >= n_samples:
        return wave[:n_samples]
    return np.pad(wave, (0, n_samples - len(wave)))


@dataclass(frozen=True)
class WavFeatures:
    """Encoder for datasets of wav paths: read, resample to the front end's rate, pad/crop to
    ``clip_samples`` (None: keep the length), then :class:`FrontEnd` -> ``[frames, features]``."""

    front_end: FrontEnd = FrontEnd()
    clip_samples: int | None = 16000

    def __call__(self, path: str | Path) -> np.ndarray:
        wave = read_wav(path, self.front_end.sample_rate)
        if self.clip_samples is not None:
            wave = fit_length(wave, self.clip_samples)
        return self.front_end(wave)
