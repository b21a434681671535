import shutil

import numpy as np
import pytest

from experiments.e2_speech_stream import VARIANTS, main
from spiking_nr.data.keyword_stream import FeatureScale
from spiking_nr.masks import masked_chunks
from spiking_nr.streams import StreamChunk

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed (scripts/setup_env.sh installs it)")


def test_feature_scale_standardises_for_the_network_and_floors_for_the_masks():
    rng = np.random.default_rng(0)
    frames = rng.normal(-5, 2, (500, 40)).astype(np.float32) + np.arange(40, dtype=np.float32)
    from spiking_nr.data.base import LabelledSequences

    scale = FeatureScale.fit([LabelledSequences([frames], np.array([0]))])
    network_input = scale(frames)
    assert network_input.dtype == np.float32
    np.testing.assert_allclose(network_input.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(network_input.std(0), 1.0, atol=1e-4)
    intensity = scale.intensity(network_input)
    assert intensity.min() == 0.0 and intensity.dtype == np.float32
    assert np.mean(intensity == 0.0) == pytest.approx(0.1, abs=0.01)  # everything below the floor
    assert np.mean(intensity > 1.0) == pytest.approx(0.01, abs=0.005)  # above the 99th percentile
    with pytest.raises(ValueError, match="std > 0"):
        FeatureScale(0.0, 1.0, np.zeros(3), np.zeros(3))


def test_masks_mark_loud_frames_only():
    quiet, loud = np.full((10, 1, 40), 0.02, np.float32), np.full((10, 1, 40), 0.5, np.float32)
    x = np.concatenate([quiet, loud, quiet])
    zeros = np.zeros((30, 1), np.int64)
    chunk = StreamChunk(x, zeros, zeros.astype(bool), zeros, zeros.astype(bool), zeros.astype(bool))
    for mask in ("temporal_intensity", "energy"):
        informative = next(masked_chunks(iter([chunk]), mask, "keywords")).informative[:, 0]
        assert not informative[:10].any() and informative[12:20].all(), mask
        assert not informative[25:].any(), mask
    with pytest.raises(ValueError, match="unknown mask"):
        next(masked_chunks(iter([chunk]), "loudness", "keywords"))
    # the same frames as standardised network input: the masks undo the scale first
    scale = FeatureScale(0.0, 1.0, np.full(40, 0.2), np.full(40, 0.1))
    standardised = chunk._replace(inputs=scale(x[:, 0])[:, None])
    for mask in ("temporal_intensity", "energy"):
        masked = masked_chunks(iter([standardised]), mask, "keywords", scale.intensity)
        informative = next(masked).informative[:, 0]
        assert not informative[:10].any() and informative[12:20].all(), mask


@pytest.mark.slow
@needs_espeak
def test_e2_quick_runs_every_row(tmp_path):
    result = main(["--quick", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "kw")])
    assert list(result["rows"]) == [v.name for v in VARIANTS]
    assert result["data"].startswith("SYNTHETIC")
    for name, row in result["rows"].items():
        assert 0.0 <= row["segment_accuracy"] <= 1.0, name
        assert row["accuracy_on_stream_of_n_segments"], name
    agreement = result["masks_vs_oracle"]
    for mask in ("temporal_intensity", "energy"):  # a word fills part of its clip: some, not all
        assert 0.2 < agreement[mask]["on_target_steps"] < 0.95, agreement
    assert (tmp_path / "out" / "e2_quick_accuracy_vs_position.png").stat().st_size > 1000
