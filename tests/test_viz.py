"""Plots render to PNG/PDF/SVG, and draw what they say they draw."""

import numpy as np
import pytest
import torch

from spiking_nr import SRNN, SRNNConfig, viz


def _stream(n_steps=300, seg_len=50):
    start = np.zeros(n_steps, bool)
    start[::seg_len] = True
    is_target = (np.arange(n_steps) // seg_len) % 2 == 0
    labels = np.where(is_target, (np.arange(n_steps) // seg_len) % 5, -1)
    return start, is_target, labels


def _raster_points(fig):
    """Markers actually drawn: data points of the Line2D artists of every axes."""
    return sum(len(line.get_xdata()) for ax in fig.axes for line in ax.get_lines())


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_raster_draws_one_point_per_spike(tmp_path, suffix):
    rng = np.random.default_rng(0)
    spikes = [rng.random((300, 40)) < 0.05, rng.random((300, 10)) < 0.1]
    start, is_target, labels = _stream()
    path = tmp_path / f"r.{suffix}"
    fig = viz.raster(spikes, path=path, segment_start=start, is_target=is_target, labels=labels)
    n_spikes = sum(int(s.sum()) for s in spikes)
    assert fig.points_drawn == n_spikes == _raster_points(fig)
    assert fig.raster_modes == ["points", "points"]
    assert path.stat().st_size > 1000
    # three target segments labelled above the first layer, non-target runs shaded
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0", "2", "4"]
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temp file


def test_raster_accepts_batched_arrays_and_recordings(tmp_path):
    net = SRNN(SRNNConfig.simple(5, (12, 6), 3))
    with torch.no_grad():
        rec = net(torch.rand(80, 2, 5) * 3, record=True).record
    fig = viz.raster(rec, lane=1, path=tmp_path / "rec.png")
    expected = sum(int(s[:, 1].sum()) for s in rec.spikes)
    assert fig.points_drawn == expected == _raster_points(fig)
    start, is_target, labels = _stream(80, 20)
    both = np.stack([start, start], 1), np.stack([is_target, is_target], 1)
    fig = viz.raster(rec.spikes[0], lane=0, segment_start=both[0], is_target=both[1])
    assert fig.points_drawn == int(rec.spikes[0][:, 0].sum())
    with pytest.raises(ValueError, match="lane 2 out of range"):
        viz.raster(rec, lane=2)
    with pytest.raises(ValueError, match=r"\[T, N\] or \[T, B, N\]"):
        viz.raster(np.zeros(10))


def test_large_raster_switches_to_density_image(tmp_path):
    spikes = np.random.default_rng(1).random((20_000, 1000)) < 0.02
    fig = viz.raster(spikes, path=tmp_path / "big.png", max_points=100_000)
    assert fig.points_drawn == 0 and fig.raster_modes == ["image"]
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (viz.RASTER_IMAGE_BINS[1], viz.RASTER_IMAGE_BINS[0])
    # colour = spikes per neuron per step: the mean over bins equals the firing rate
    assert float(image.mean()) == pytest.approx(spikes.mean(), rel=1e-6)
    assert (tmp_path / "big.png").stat().st_size > 1000


def test_traces_and_heatmap(tmp_path):
    rng = np.random.default_rng(2)
    v, th = rng.normal(size=(100, 2, 4)), np.abs(rng.normal(size=(100, 2, 4)))
    v[:, 1, 3] -= 8.0  # a membrane far below zero must not squash the threshold
    fig = viz.traces(v, th, v > th, neurons=(0, 3), lane=1, path=tmp_path / "t.svg")
    assert len(fig.axes) == 4  # two panels, each with its own threshold scale (right axis)
    panel, threshold_axis = fig.axes[1], fig.axes[3]
    spike_marks = threshold_axis.get_lines()[-1]
    assert len(spike_marks.get_xdata()) == int((v[:, 1, 3] > th[:, 1, 3]).sum())
    low, high = threshold_axis.get_ylim()
    assert low > -1 and high - low < 5 and panel.get_ylim()[0] < -8
    fig = viz.traces(v, th, v > th, neurons=(0,), lane=1, normalise=True)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), v[:, 1, 0] / th[:, 1, 0])
    with pytest.raises(ValueError, match="pass threshold"):
        viz.traces(v, None, normalise=True)
    with pytest.raises(ValueError, match=r"neurons must be indices in \[0, 3\]"):
        viz.traces(v, th, neurons=(4,))
    fig = viz.firing_rate_heatmap(rng.random((1000, 30)) < 0.1, window=100, path=tmp_path / "f.png")
    assert fig.axes[0].images[0].get_array().shape == (30, 10)
    batched = np.zeros((1000, 2, 5))
    batched[:, 0, 2] = 1  # lane 0 neuron 2 always fires; lanes averaged -> 0.5
    image = viz.firing_rate_heatmap(batched, window=250, sort=True).axes[0].images[0].get_array()
    assert image.shape == (5, 4) and float(image[0].max()) == 0.5  # sorted: busiest row first


def test_stream_outputs_accuracy_over_stream_and_reset_comparison(tmp_path):
    rng = np.random.default_rng(3)
    start, is_target, labels = _stream(400, 40)
    p = rng.dirichlet(np.ones(5), size=400)
    fig = viz.stream_outputs(p, labels, start, is_target, path=tmp_path / "s.png",
                             accuracy_window=2)
    # one decision per whole target segment (mean p over its last 10 steps); the first segment
    # touches the window's edge and is not scored
    expected = [p[s + 30:s + 40].mean(0).argmax() == labels[s] for s in (80, 160, 240, 320)]
    np.testing.assert_array_equal(fig.segment_correct, np.array(expected, float))
    running = fig.axes[1].get_lines()[-1].get_ydata()
    assert running[-1] == pytest.approx(np.mean(expected[-2:]))
    fig = viz.accuracy_over_stream({"reset-free": (np.array([1, 10, 100]), np.array([.5, .6, .7]))},
                                   path=tmp_path / "a.pdf", chance=0.2)
    assert fig.axes[0].get_xscale() == "log"
    low, high = viz.wilson_interval([0.5, 1.0, 0.5], [4, 8, 0])
    np.testing.assert_allclose(low[:2], [0.1500, 0.6756], atol=1e-4)  # Wilson 95 %, by hand
    np.testing.assert_allclose(high[:2], [0.8500, 1.0], atol=1e-4)
    assert np.isnan(low[2]) and np.isnan(high[2])
    fig = viz.accuracy_over_stream({"a": ([1, 10], [0.5, 1.0], [4, 8])})
    bars = fig.axes[0].containers[0]  # errorbar container: (line, caps, bar lines)
    segments = bars.lines[2][0].get_segments()
    assert segments[0][0][1] == pytest.approx(0.15, abs=1e-4)
    fig = viz.reset_comparison([100, 1000, 10000], {"reset-free": [0.8, 0.8, 0.79],
                                                   "no reset": [0.8, 0.5, 0.3]},
                               path=tmp_path / "rc.png", chance=0.2,
                               spread={"reset-free": [0.01, 0.02, 0.01]})
    assert len(fig.axes[0].get_lines()) == 3  # two curves + chance
    with pytest.raises(ValueError, match="2 accuracies for 3 stream lengths"):
        viz.reset_comparison([1, 2, 3], {"x": [0.1, 0.2]})
    for name in ("s.png", "a.pdf", "rc.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_agreement_counts_mismatches(tmp_path):
    rng = np.random.default_rng(4)
    ref = [rng.random((200, 20)) < 0.1, rng.random((200, 8)) < 0.1]
    lava = [ref[0].copy(), ref[1].copy()]
    lava[0][5, 3] ^= True
    lava[0][7, 0] ^= True
    fig = viz.agreement(ref, {"cpu": [r.copy() for r in ref], "lava": lava},
                        path=tmp_path / "g.png", reference_name="torch")
    assert fig.agreement["cpu"] == [1.0, 1.0]
    assert fig.agreement["lava"] == [pytest.approx(1 - 2 / 4000), 1.0]
    mismatch = fig.axes[1].get_lines()[1].get_ydata()
    assert mismatch.sum() == 2 and mismatch[5] == 1 and mismatch[7] == 1
    with pytest.raises(ValueError, match="expected equal"):
        viz.agreement(ref, {"bad": [ref[0][:10], ref[1]]})


def test_training_curves_and_bad_paths(tmp_path):
    rows = [{"position": i, "loss": 1 / i, "step_accuracy": 0.1 * i} for i in range(1, 6)]
    viz.training_curves(rows, path=tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="lack"):
        viz.training_curves([{"position": 1}])
    with pytest.raises(ValueError, match=".png, .pdf or .svg"):
        viz.traces(np.zeros((5, 3)), None, path=tmp_path / "t.jpg")
    assert not (tmp_path / "t.jpg").exists()


def test_grouped_bars_draws_one_bar_per_task_and_row(tmp_path):
    values = {"copy L=100": {"none": 0.3, "full": 0.9}, "sMNIST": {"none": 0.5, "full": 0.6}}
    fig = viz.grouped_bars(values, path=tmp_path / "bars.png", chance={"copy L=100": 0.25})
    heights = sorted(round(p.get_height(), 3) for p in fig.axes[0].patches)
    assert heights == [0.3, 0.5, 0.6, 0.9]
    assert (tmp_path / "bars.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="non-empty"):
        viz.grouped_bars({"copy": {}})


def test_every_plot_draws_on_given_axes_and_the_stacked_stream_figure(tmp_path):
    from matplotlib.figure import Figure

    rng = np.random.default_rng(5)
    start, is_target, labels = _stream(200, 20)
    is_gap = ~is_target & ((np.arange(200) // 20) % 4 == 3)
    spikes = (rng.random((200, 12)) < 0.1).astype(np.uint8)
    spikes[:, 5] = 1  # the busiest neuron
    spikes[:, 7] = 0
    spikes[30, 7] = 1  # fires once, late; neuron 2 fires first
    spikes[:, 2] = 0
    spikes[3, 2] = 1
    fig = Figure(figsize=(8, 9))
    axes = fig.subplots(6, 1)
    viz.raster(spikes, ax=axes[0])
    viz.traces(rng.normal(size=(200, 3)), np.abs(rng.normal(size=(200, 3))), ax=axes[1], neurons=(0,))
    viz.firing_rate_heatmap(spikes, window=20, ax=axes[2])
    viz.accuracy_over_stream({"a": ([1, 10], [0.5, 0.9], [4, 30])}, ax=axes[3])
    viz.reset_comparison([10, 100], {"a": [0.5, 0.6]}, ax=axes[4])
    viz.grouped_bars({"task": {"x": 0.5}}, ax=axes[5])
    viz.save_figure(fig, tmp_path / "panels.png")
    assert all(ax.has_data() for ax in axes)
    with pytest.raises(ValueError, match="draws 2 panel"):
        viz.stream_outputs(np.full((200, 3), 1 / 3), labels, ax=axes[0])
    assert viz.neuron_order(spikes, "rate")[-1] == 5  # busiest on top
    order = list(viz.neuron_order(spikes, "first_spike"))
    assert order.index(2) < order.index(7)  # first spike at step 3 before step 30
    p = rng.dirichlet(np.ones(3), size=200)
    fig = viz.stream_figure(spikes[:, :6], [spikes, spikes[:, :4]], p, labels, start, is_target,
                            is_gap=is_gap, path=tmp_path / "stream.png", offset=1000, sort="rate")
    assert fig.panels == ["input", "hidden 0", "hidden 1", "readout"] and len(fig.axes) == 4
    assert all(ax.get_xlim() == (1000, 1200) for ax in fig.axes)
    # distractors and gaps are shaded apart
    from matplotlib.collections import PolyCollection

    colours = {tuple(np.round(c.get_facecolor()[0], 3)) for c in fig.axes[-1].collections
               if isinstance(c, PolyCollection)}
    assert len(colours) == 2
    assert (tmp_path / "stream.png").stat().st_size > 5000
