import numpy as np
import pytest

from spiking_nr.masks import (
    EnergyMask,
    IntensityMask,
    OracleMask,
    apply_mask,
    energy_mask,
    make_mask,
    oracle_mask,
    temporal_intensity_mask,
)
from spiking_nr.streams import ContinualStream, LabelledSequences, StreamConfig, concat_chunks


def _bursts(t_len=400, batch=3, n=6, seed=0):
    """Random-length bursts of activity on a quiet background, [T, B, N]."""
    rng = np.random.default_rng(seed)
    x = rng.random((t_len, batch, n)) * 0.05
    for b in range(batch):
        t = 0
        while t < t_len:
            quiet, loud = rng.integers(5, 30, size=2)
            x[t + quiet:t + quiet + loud, b] += 1.0
            t += quiet + loud
    return x.astype(np.float32)


def test_intensity_mask_follows_bursts():
    x = np.zeros((30, 2, 4), np.float32)
    x[10:20, 0] = 1.0
    mask = temporal_intensity_mask(x, tau=2.0, threshold=0.3)
    assert not mask[:10, 0].any() and mask[12:20, 0].all() and not mask[:, 1].any()
    # causal: the smoothed level decays after the burst, so the mask lags by a few steps
    assert mask[20, 0] and not mask[25:, 0].any()
    # the EMA with tau=2 reaches 1 - exp(-k/2) after k steps: > 0.3 from the first step on
    assert mask[10, 0] == (1 - np.exp(-0.5) > 0.3)


@pytest.mark.parametrize("make", [
    lambda: IntensityMask(tau=3.0, threshold=0.3),
    lambda: IntensityMask(tau=5.0, threshold=1.5, relative=True, stat_tau=50.0, warm_in=3),
    lambda: EnergyMask(threshold=0.2),
    lambda: EnergyMask(threshold=0.5, relative=True, stat_tau=20.0, tau=2.0, warm_in=2),
    lambda: EnergyMask(threshold=0.5, features="log"),
    lambda: EnergyMask(threshold=0.2, features="log", relative=True, stat_tau=30.0),
])
def test_chunked_equals_one_shot(make):
    x = _bursts()
    whole = make()(x)
    for cuts in ([1, 2, 50, 133, 399], [200], list(range(0, 400, 7))):
        mask = make()
        pieces = [mask(p) for p in np.split(x, cuts)]
        np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert whole.any() and not whole.all()


def test_warm_in_skips_the_start_of_each_run():
    x = np.zeros((40, 1, 2), np.float32)
    x[5:15] = 1.0
    x[25:35] = 1.0
    plain = energy_mask(x, 0.5)
    warm = energy_mask(x, 0.5, warm_in=3)
    t = np.arange(40)
    np.testing.assert_array_equal(plain[:, 0], ((t >= 5) & (t < 15)) | ((t >= 25) & (t < 35)))
    expect = np.zeros(40, bool)
    expect[8:15] = expect[28:35] = True
    np.testing.assert_array_equal(warm[:, 0], expect)
    # a run that crosses a chunk boundary keeps counting
    mask = EnergyMask(0.5, warm_in=3)
    np.testing.assert_array_equal(np.concatenate([mask(x[:6]), mask(x[6:])]), warm)


def test_relative_threshold_is_scale_free():
    x = _bursts(seed=3)
    a = temporal_intensity_mask(x, tau=3.0, threshold=1.2, relative=True, stat_tau=100.0)
    b = temporal_intensity_mask(x * 37.0, tau=3.0, threshold=1.2, relative=True, stat_tau=100.0)
    np.testing.assert_array_equal(a, b)
    absolute = temporal_intensity_mask(x * 37.0, tau=3.0, threshold=0.3)
    assert absolute.mean() > a.mean()  # the absolute threshold is crossed by the scaled noise


def test_log_energy_on_log_features():
    quiet = np.full((10, 1, 8), np.log(1e-6), np.float32)
    loud = np.full((10, 1, 8), np.log(1.0), np.float32)
    loud[..., 0] = np.log(100.0)
    x = np.concatenate([quiet, loud, quiet])
    mask = energy_mask(x, threshold=0.0, features="log")
    np.testing.assert_array_equal(mask[:, 0], np.arange(30) // 10 == 1)
    # log mean exp: log((100 + 7) / 8)
    np.testing.assert_allclose(EnergyMask(features="log").statistic(x[10:11]), np.log(107 / 8))
    # on log features a linear energy is fooled by the large negative values of silence
    assert energy_mask(x, threshold=1.0)[:10, 0].all()


def test_masks_work_on_spike_input():
    rng = np.random.default_rng(0)
    spikes = rng.random((200, 2, 50)) < 0.02
    spikes[50:100, 0] |= rng.random((50, 50)) < 0.5
    for kind in (np.uint8, bool):
        m = temporal_intensity_mask(spikes.astype(kind), tau=3.0, threshold=0.2)
        assert m[60:100, 0].all() and not m[:45, 0].any() and not m[:, 1].any()


def _stream_chunks():
    rng = np.random.default_rng(0)
    data = LabelledSequences(rng.random((20, 7, 4)).astype(np.float32), np.arange(20) % 2)
    other = LabelledSequences(rng.random((20, 5, 4)).astype(np.float32) * 0.1, np.zeros(20, int))
    return ContinualStream(data, other, StreamConfig(seed=2, gap_range=(1, 5)))


def test_oracle_mask_matches_the_stream_labels():
    stream = _stream_chunks()
    chunk = concat_chunks(stream.chunks(2, 300, total_steps=300))
    np.testing.assert_array_equal(oracle_mask(chunk), chunk.informative)
    skipping = ContinualStream(stream.targets, stream.distractors,
                               StreamConfig(seed=2, gap_range=(1, 5), skip_first=3))
    ref = concat_chunks(skipping.chunks(2, 300, total_steps=300)).informative
    np.testing.assert_array_equal(oracle_mask(chunk, skip_first=3), ref)
    mask = OracleMask(skip_first=3)
    pieces = [mask(c) for c in stream.chunks(2, 4, total_steps=300)]
    np.testing.assert_array_equal(np.concatenate(pieces), ref)


def test_make_and_apply_mask_in_a_stream():
    stream = _stream_chunks()
    one_shot = temporal_intensity_mask(concat_chunks(stream.chunks(2, 240, total_steps=240)).inputs,
                                       tau=2.0, threshold=0.25)
    streamed = [c.informative for c in apply_mask(stream.chunks(2, 13, total_steps=240),
                                                  make_mask("temporal_intensity", tau=2.0,
                                                            threshold=0.25))]
    np.testing.assert_array_equal(np.concatenate(streamed), one_shot)
    oracle = [c.informative for c in apply_mask(stream.chunks(2, 13, total_steps=240),
                                                make_mask("oracle"))]
    np.testing.assert_array_equal(np.concatenate(oracle),
                                  concat_chunks(stream.chunks(2, 240, total_steps=240)).informative)
    with pytest.raises(ValueError, match="unknown mask"):
        make_mask("psychic")
    with pytest.raises(TypeError, match="bad parameters"):
        make_mask("energy", tau_m=3)


def test_bad_parameters_rejected():
    with pytest.raises(ValueError, match="tau"):
        IntensityMask(tau=0)
    with pytest.raises(ValueError, match="warm_in"):
        IntensityMask(warm_in=-1)
    with pytest.raises(ValueError, match="factor"):
        IntensityMask(threshold=0.0, relative=True)
    with pytest.raises(ValueError, match="features"):
        EnergyMask(features="db")
    with pytest.raises(ValueError, match=r"\[T, B, N\]"):
        energy_mask(np.zeros((5, 3)))
    with pytest.raises(TypeError, match="numeric"):
        energy_mask(np.array([[["a"]]]))
    mask = IntensityMask()
    mask(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="reset"):
        mask(np.zeros((3, 5, 4)))
    mask.reset()
    assert mask(np.zeros((3, 5, 4))).shape == (3, 5)
