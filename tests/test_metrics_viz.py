import numpy as np
import pytest

from spiking_nr import viz
from spiking_nr.metrics import auroc, macro_f1, saturation, segment_scores, stream_report


def test_segment_scores_decision_rule():
    # two segments on one lane: class 1 (correct at the end), then a distractor
    logits = np.zeros((10, 1, 3))
    logits[:5, 0, 2] = 5.0
    logits[3:5, 0, 2] = 0.0
    logits[3:5, 0, 1] = 5.0
    segment_id = np.array([[0]] * 5 + [[1]] * 5)
    target = np.array([[1]] * 5 + [[-1]] * 5)
    is_target = target >= 0
    s = segment_scores(logits, segment_id, target, is_target, last_k=2)
    assert s.prediction.tolist() == [1, 0] and s.accuracy == 1.0
    assert segment_scores(logits, segment_id, target, is_target, last_k=None).prediction[0] == 2
    assert s.entropy[1] == pytest.approx(np.log(3))
    report = stream_report(logits, target, segment_id, is_target, 3, last_k=2)
    assert report["segment_accuracy"] == 1.0 and report["distractor_auroc"] == 1.0


def test_auroc_f1_saturation():
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5
    assert macro_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), 2) == pytest.approx((2 / 3 + 2 / 3) / 2)
    flat = saturation(np.ones((100, 3)), window=10)
    assert flat["slope_per_window"] == pytest.approx(0.0)
    assert saturation(np.arange(100.0)[:, None], 10)["slope_per_window"] == pytest.approx(10.0)


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_raster_draws_one_point_per_spike(tmp_path, suffix):
    rng = np.random.default_rng(0)
    spikes = [(rng.random((300, 40)) < 0.05), (rng.random((300, 10)) < 0.1)]
    start = np.zeros(300, bool)
    start[::50] = True
    is_target = (np.arange(300) // 50) % 2 == 0
    fig = viz.raster(spikes, path=tmp_path / f"r.{suffix}", segment_start=start, is_target=is_target,
                     labels=np.arange(300) // 50)
    assert fig.points_drawn == sum(int(s.sum()) for s in spikes)
    assert (tmp_path / f"r.{suffix}").stat().st_size > 1000


def test_large_raster_switches_to_density_image(tmp_path):
    spikes = np.random.default_rng(1).random((20_000, 1000)) < 0.02
    fig = viz.raster(spikes, path=tmp_path / "big.png", max_points=100_000)
    assert fig.points_drawn == 0 and (tmp_path / "big.png").stat().st_size > 1000


def test_other_plots_render(tmp_path):
    rng = np.random.default_rng(2)
    v, th = rng.normal(size=(100, 4)), np.abs(rng.normal(size=(100, 4)))
    viz.traces(v, th, v > th, path=tmp_path / "t.png")
    p = rng.dirichlet(np.ones(3), size=100)
    viz.stream_outputs(p, rng.integers(-1, 3, 100), path=tmp_path / "s.png")
    viz.accuracy_over_stream({"a": (np.array([1, 10, 100]), np.array([0.5, 0.6, 0.7]))},
                             path=tmp_path / "a.png")
    viz.agreement([np.zeros((5, 3))], {"lava": [np.zeros((5, 3))]}, path=tmp_path / "g.png")
    fig = viz.firing_rate_heatmap(rng.random((1000, 30)) < 0.1, window=100, path=tmp_path / "f.png")
    assert fig.axes[0].images[0].get_array().shape == (30, 10)
    viz.training_curves([{"position": i, "loss": 1 / i, "step_accuracy": 0.1 * i} for i in range(1, 6)],
                        path=tmp_path / "c.png")
    files = ["t.png", "s.png", "a.png", "g.png", "f.png", "c.png"]
    assert all((tmp_path / f).stat().st_size > 1000 for f in files)
    with pytest.raises(ValueError, match=".png, .pdf or .svg"):
        viz.traces(v, th, path=tmp_path / "t.jpg")
