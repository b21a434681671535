import numpy as np
import pytest

from spiking_nr.data.base import LabelledSequences
from spiking_nr.encoding import (
    RateEncoder,
    delta,
    encoded_width,
    passthrough,
    rate,
    rows_analog,
    rows_delta,
    rows_threshold,
    threshold_crossing,
)


def _images(n=12):
    rng = np.random.default_rng(0)
    return rng.random((n, 5, 4)).astype(np.float32), np.arange(n) % 3


def test_labelled_sequences_interface():
    images, labels = _images()
    data = LabelledSequences(images, labels, rows_threshold, "imgs", ("a", "b", "c"))
    x, y = data[4]
    assert x.shape == (5, 4) and x.dtype == np.float32 and y == 1
    np.testing.assert_array_equal(x, rows_threshold(images[4]))
    assert len(data) == 12 and data.n_features == 4 and data.n_classes == 3
    assert data.class_names == ("a", "b", "c") and not data.synthetic
    sub = data.subset([0, 3, 6])
    assert len(sub) == 3 and set(sub.labels) == {0} and sub.encode is rows_threshold
    mask_sub = data.subset(labels == 2)
    assert len(mask_sub) == 4
    picked = data.select_classes([2, 0])
    assert picked.class_names == ("c", "a") and set(picked.labels) == {0, 1}
    # original order is kept: the first pick is sample 0 (class 0 -> label 1), then sample 2
    np.testing.assert_array_equal(picked.sequence(1), data.sequence(2))
    assert picked.labels[:2].tolist() == [1, 0] and len(picked) == 8
    kept = data.select_classes([2], relabel=False)
    assert set(kept.labels) == {2} and kept.n_classes == 3
    frozen = data.materialize()
    assert frozen.encode is None
    for i in range(len(data)):
        np.testing.assert_array_equal(frozen[i][0], data[i][0])
    lists = LabelledSequences([np.ones((3, 2)), np.ones((7, 2))], [0, 1])
    assert lists.n_classes == 2 and len(lists.sequence(1)) == 7 and len(lists.subset([1])) == 1


def test_labelled_sequences_errors():
    images, labels = _images()
    with pytest.raises(ValueError, match="labels"):
        LabelledSequences(images, labels[:-1])
    with pytest.raises(ValueError, match="empty"):
        LabelledSequences(images[:0], labels[:0])
    with pytest.raises(ValueError, match=">= 0"):
        LabelledSequences(images, labels - 1)
    with pytest.raises(TypeError, match="integers"):
        LabelledSequences(images, labels + 0.5)
    with pytest.raises(ValueError, match="class names"):
        LabelledSequences(images, labels, class_names=("a", "b"))
    data = LabelledSequences(images, labels, lambda im: im.ravel(), "flat")
    with pytest.raises(ValueError, match=r"\[T, N\]"):
        data.sequence(0)
    with pytest.raises(IndexError):
        LabelledSequences(images, labels, rows_analog).sequence(12)
    with pytest.raises(ValueError, match="do not occur"):
        LabelledSequences(images, labels).select_classes([7])
    with pytest.raises(ValueError, match="stochastic"):
        LabelledSequences(images, labels, RateEncoder()).materialize()


def test_row_encoders():
    image = np.zeros((4, 3), np.float32)
    image[1:3, 1] = 1.0
    np.testing.assert_array_equal(rows_analog(image), image)
    assert rows_analog(image) is not image
    assert rows_threshold(image).sum() == 2
    d = rows_delta(image)
    assert d.shape == (4, 6) and d[1, 1] == 1 and d[3, 3 + 1] == 1 and d.sum() == 2
    assert delta is rows_delta
    assert encoded_width("rows_delta", 28) == 56 and encoded_width("rows_analog", 28) == 28
    with pytest.raises(ValueError, match="2-D"):
        rows_threshold(np.zeros(5))
    with pytest.raises(ValueError, match="unknown encoding"):
        encoded_width("morse", 3)


def test_threshold_crossing_tracks_slow_drifts():
    t = np.linspace(0.0, 1.0, 101, dtype=np.float32)[:, None]
    ramp = np.concatenate([t, 1.0 - t], axis=1)  # up on channel 0, down on channel 1
    events = threshold_crossing(ramp, threshold=0.1)
    assert events.shape == (101, 4)
    # the difference encoder never fires on a slow ramp; level crossing fires every 0.1
    assert delta(ramp, threshold=0.1).sum() == 1  # only channel 1's initial jump from 0 to 1
    assert events[:, 0].sum() == 10 and events[:, 2].sum() == 0
    # reconstruction: the reference stays within one threshold of the signal
    ref = 0.1 * np.cumsum(events[:, :2] - events[:, 2:], axis=0)
    assert np.abs(ref - ramp)[15:].max() <= 0.1 + 1e-6
    step = np.zeros((6, 1), np.float32)
    step[1:] = 0.35
    binary = threshold_crossing(step, 0.1)
    np.testing.assert_array_equal(binary[:, 0], [0, 1, 1, 1, 0, 0])  # a jump spreads over steps
    counts = threshold_crossing(step, 0.1, max_events=None)
    np.testing.assert_array_equal(counts[:, 0], [0, 3, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="threshold"):
        threshold_crossing(step, 0.0)


def test_rate_coding():
    x = np.full((2000, 3), 0.25, np.float32)
    x[:, 2] = 2.0  # clipped to 1
    a = rate(x, np.random.default_rng(1))
    b = rate(x, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert abs(a[:, 0].mean() - 0.25) < 0.03 and a[:, 2].all()
    assert rate(x[:5], np.random.default_rng(0), repeat=4).shape == (20, 3)
    assert rate(x, np.random.default_rng(0), max_rate=0.5)[:, 2].mean() < 0.6
    with pytest.raises(TypeError, match="Generator"):
        rate(x, 3)
    with pytest.raises(ValueError, match="max_rate"):
        rate(x, np.random.default_rng(0), max_rate=1.5)
    enc = RateEncoder(seed=3, repeat=2)
    out = enc(np.full((4, 5), 0.5), np.random.default_rng(0))
    assert out.shape == (8, 5) and set(np.unique(out)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="base"):
        RateEncoder(base="nope")


def test_passthrough():
    f = np.random.default_rng(0).normal(size=(98, 40)).astype(np.float32)
    np.testing.assert_array_equal(passthrough(f), f)
    f[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        passthrough(f)
