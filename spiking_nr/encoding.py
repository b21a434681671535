"""Encoders: images and feature sequences -> ``[T, N]`` float32 sequences (analog or spikes)."""

from __future__ import annotations

import numpy as np


def _image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image [H, W], got shape {image.shape}")
    return image


def rows_analog(image: np.ndarray) -> np.ndarray:
    """Row by row: one step per row, one channel per column (``[H, W]``, values as given)."""
    return _image(image).copy()


def rows_threshold(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Row by row as spikes: a channel fires where the pixel exceeds ``threshold``."""
    return (_image(image) > threshold).astype(np.float32)


def rows_delta(image: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """Row by row, ON/OFF threshold-crossing spikes of the change from the previous row: ``[H, 2W]``."""
    image = _image(image)
    diff = np.diff(image, axis=0, prepend=np.zeros((1, image.shape[1]), np.float32))
    return np.concatenate([diff > threshold, diff < -threshold], axis=1).astype(np.float32)


def rate(sequence: np.ndarray, rng: np.random.Generator, max_rate: float = 1.0) -> np.ndarray:
    """Bernoulli spikes with probability ``clip(x, 0, 1) * max_rate`` per step and channel."""
    x = np.clip(np.asarray(sequence, dtype=np.float32), 0.0, 1.0)
    return (rng.random(x.shape) < x * max_rate).astype(np.float32)


ENCODERS = {"rows_analog": rows_analog, "rows_threshold": rows_threshold, "rows_delta": rows_delta}


def encoded_width(name: str, width: int) -> int:
    """Channels produced by encoder ``name`` for images ``width`` pixels wide."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoding {name!r}; expected one of {sorted(ENCODERS)}")
    return 2 * width if name == "rows_delta" else width
