import numpy as np
import pytest

from spiking_nr.encoding import rows_delta, rows_threshold
from spiking_nr.masks import IntensityMask, energy_mask, temporal_intensity_mask
from spiking_nr.streams import ContinualStream, LabelledSequences, StreamConfig


def _datasets():
    rng = np.random.default_rng(0)
    images = rng.random((40, 6, 5)).astype(np.float32)
    labels = np.arange(40) % 4
    targets = LabelledSequences(images[:20], labels[:20], rows_threshold, "t")
    distractors = LabelledSequences(images[20:], labels[20:], rows_threshold, "d")
    return targets, distractors


def test_chunking_does_not_change_the_stream_and_is_deterministic():
    stream = ContinualStream(*_datasets(), StreamConfig(seed=3, gap_range=(1, 4)))
    a = list(stream.chunks(3, 50, total_steps=500))
    b = list(stream.chunks(3, 17, total_steps=500))
    for field in range(6):
        np.testing.assert_array_equal(np.concatenate([c[field] for c in a]),
                                      np.concatenate([c[field] for c in b]))
    other = next(ContinualStream(*_datasets(), StreamConfig(seed=4)).chunks(3, 500))
    assert not np.array_equal(other.inputs, a[0].inputs)


def test_labels_align_with_segments():
    targets, distractors = _datasets()
    chunk = next(ContinualStream(targets, distractors, StreamConfig(seed=1, p_gap=1.0, gap_range=(2, 2),
                                                                    skip_first=2)).chunks(2, 400))
    for lane in range(2):
        starts = np.flatnonzero(chunk.segment_start[:, lane])
        assert np.array_equal(np.flatnonzero(np.diff(chunk.segment_id[:, lane])) + 1, starts[1:])
        for a, e in zip(starts, [*starts[1:], 400]):
            seg_target = chunk.target[a:e, lane]
            assert len(set(seg_target)) == 1
            if chunk.is_target[a, lane]:
                assert seg_target[0] >= 0 and not chunk.informative[a:a + 2, lane].any()
                assert chunk.informative[a + 2:e, lane].all()
            else:
                assert seg_target[0] == -1 and not chunk.informative[a:e, lane].any()
    assert chunk.is_target.any() and (~chunk.is_target).any()


def test_lanes_can_be_split_across_processes():
    stream = ContinualStream(*_datasets(), StreamConfig(seed=2))
    full = next(stream.chunks(4, 100))
    odd = next(stream.chunks(2, 100, lanes=[1, 3]))
    np.testing.assert_array_equal(full.inputs[:, [1, 3]], odd.inputs)


def test_long_stream_is_lazy():
    stream = ContinualStream(*_datasets(), StreamConfig(seed=0))
    steps = sum(c.inputs.shape[0] for c in stream.chunks(2, 10_000, total_steps=1_000_000))
    assert steps == 1_000_000


def test_masks():
    x = np.zeros((30, 2, 4), np.float32)
    x[10:20, 0] = 1.0
    mask = temporal_intensity_mask(x, tau=2.0, threshold=0.3)
    assert not mask[:10, 0].any() and mask[12:20, 0].all() and not mask[:, 1].any()
    streaming = IntensityMask(tau=2.0, threshold=0.3)
    np.testing.assert_array_equal(np.concatenate([streaming(x[:13]), streaming(x[13:])]), mask)
    np.testing.assert_array_equal(energy_mask(x, 0.5)[:, 0], np.arange(30) // 10 == 1)
    with pytest.raises(ValueError, match="tau"):
        IntensityMask(tau=0)


def test_encoders_and_errors():
    image = np.zeros((4, 3), np.float32)
    image[1:3, 1] = 1.0
    assert rows_threshold(image).sum() == 2
    delta = rows_delta(image)
    assert delta.shape == (4, 6) and delta[1, 1] == 1 and delta[3, 3 + 1] == 1
    with pytest.raises(ValueError, match="2-D"):
        rows_threshold(np.zeros(5))
    with pytest.raises(ValueError, match="p_distractor"):
        StreamConfig(p_distractor=2.0)
    with pytest.raises(ValueError, match="labels"):
        LabelledSequences(np.zeros((3, 2, 2)), np.zeros(2), rows_threshold)
