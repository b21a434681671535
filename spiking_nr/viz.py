"""Plots researchers look at: rasters, membrane/threshold traces, stream outputs, agreement.

Every function takes plain numpy arrays (torch tensors and ``Recording`` fields work too, so do
CPU-backend and Lava results), draws on a new :class:`matplotlib.figure.Figure` (not registered
with pyplot, so nothing piles up in long scripts) or, with ``ax=``, on axes you give (one
``Axes``, or a sequence of them for the functions that draw several panels: multi-panel paper
figures), saves it when ``path`` is given (PNG/PDF/SVG by extension, written atomically) and
returns the figure so callers and tests can inspect the artists. :func:`stream_figure` stacks
input raster, hidden rasters and readout on one time axis.

Shading: distractor segments light red, gaps light grey (``is_gap``; without it every non-target
segment is grey), target segments white with their label above.

Spikes may be ``[T, N]`` or ``[T, B, N]``; with a batch axis one lane (``lane=``) is drawn.
Per-step stream annotations (``segment_start``, ``is_target``, ``labels``) are ``[T]`` or
``[T, B]`` and follow the same lane.

Raster rendering: a layer with at most ``max_points`` spikes (default :data:`MAX_RASTER_POINTS` =
200,000) is drawn as one marker per spike (``fig.points_drawn`` counts them; the markers are
rasterised inside PDF/SVG so the files stay small). Above that a layer is binned into an image of
at most :data:`RASTER_IMAGE_BINS` (2000 time bins x 1000 neuron bins) whose colour is the firing
rate in spikes per neuron per step, so thousands of neurons over tens of thousands of steps stay
fast (~1 s) and legible.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from spiking_nr.io import atomic_path  # noqa: E402
from spiking_nr.metrics import as_numpy  # noqa: E402

MAX_RASTER_POINTS = 200_000
RASTER_IMAGE_BINS = (2000, 1000)  # (time bins, neuron bins) of the density image
MAX_SEGMENT_LABELS = 60  # more target segments than this: shading only, no per-segment text
MAX_BOUNDARY_LINES = 400
FORMATS = ("png", "pdf", "svg")
PathLike = str | os.PathLike[str] | None
DISTRACTOR_SHADE = "#f6d5d0"  # light red
GAP_SHADE = "0.90"
SORTS = (None, "rate", "first_spike")


def _axes(ax: Any, n: int, figsize: tuple[float, float], sharex: bool = True,
          **grid: Any) -> tuple[Any, list[Any]]:
    """(figure, ``n`` axes): new ones stacked vertically, or the ``ax`` given (one Axes or a
    sequence of ``n``)."""
    if ax is None:
        fig = Figure(figsize=figsize)
        axes = fig.subplots(n, 1, sharex=sharex, squeeze=False, **grid)[:, 0]
        return fig, list(axes)
    axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != n:
        raise ValueError(f"this plot draws {n} panel(s); ax has {len(axes)} axes")
    return axes[0].figure, axes


def wilson_interval(accuracy: Any, n: Any, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) Wilson score interval of a binomial proportion ``accuracy`` from ``n`` trials
    (95 % for ``z`` = 1.96); nan where ``n`` is 0. Honest for the small bins at a stream's start."""
    p, n = np.asarray(accuracy, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = centre - half, centre + half
    bad = ~(n > 0)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def neuron_order(spikes: Any, sort: str | None) -> np.ndarray:
    """Neuron order for a raster of ``spikes [T, N]``: ``rate`` (most active first, at the top),
    ``first_spike`` (earliest first spike at the bottom; silent neurons on top), or None."""
    s = np.asarray(spikes)
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
    if sort is None:
        return np.arange(s.shape[1])
    if sort == "rate":
        return np.argsort(s.sum(axis=0), kind="stable")
    fired = s.any(axis=0)
    first = np.where(fired, s.argmax(axis=0), s.shape[0])
    return np.argsort(first, kind="stable")


def save_figure(fig: Any, path: PathLike, dpi: int = 120) -> None:
    """Save ``fig`` to ``path`` (format from the extension: .png, .pdf or .svg), atomically."""
    if path is None:
        return
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"cannot save a figure as {path.suffix or 'a file without extension'!r}; "
                         "use .png, .pdf or .svg")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")


def _lane(value: Any, lane: int, name: str, feature_axis: bool = True) -> np.ndarray:
    """``[T, N]`` (``feature_axis``) or ``[T]`` view of a possibly batched ``value``."""
    arr = as_numpy(value, name)
    base = 2 if feature_axis else 1
    if arr.ndim == base + 1:
        if not 0 <= lane < arr.shape[1]:
            raise ValueError(f"lane {lane} out of range: {name} has {arr.shape[1]} lanes")
        arr = arr[:, lane]
    if arr.ndim != base:
        shape = "[T, N] or [T, B, N]" if feature_axis else "[T] or [T, B]"
        raise ValueError(f"{name} must be {shape} (steps first), got shape {arr.shape}")
    return arr


def _layers(spikes: Any, lane: int) -> list[np.ndarray]:
    if hasattr(spikes, "spikes") and not isinstance(spikes, np.ndarray):
        spikes = spikes.spikes  # a Recording / SimulationResult / LavaResult
    if isinstance(spikes, (list, tuple)):
        return [_lane(s, lane, f"spikes of layer {i}") for i, s in enumerate(spikes)]
    return [_lane(spikes, lane, "spikes")]


def _segments(n_steps: int, lane: int, segment_start: Any | None, is_target: Any | None,
              labels: Any | None, is_gap: Any | None = None) -> tuple | None:
    """(starts, is_target per step, labels per step, is_gap per step or None) cut to
    ``n_steps``, or None."""
    if segment_start is None and is_target is None:
        return None
    if is_target is None and labels is not None:
        is_target = _lane(labels, lane, "labels", False) >= 0
    if is_target is None:
        raise ValueError("pass is_target (or labels) with segment_start to shade segments")
    tgt = _lane(is_target, lane, "is_target", False)[:n_steps].astype(bool)
    if segment_start is None:  # no boundaries given: a segment wherever is_target changes
        start = np.r_[True, tgt[1:] != tgt[:-1]]
    else:
        start = _lane(segment_start, lane, "segment_start", False)[:n_steps].astype(bool).copy()
    if len(tgt) != len(start) or len(start) < n_steps:
        raise ValueError(f"segment annotations cover {min(len(tgt), len(start))} steps, "
                         f"the data {n_steps}")
    start[0] = True
    lab = None if labels is None else _lane(labels, lane, "labels", False)[:n_steps]
    gap = None if is_gap is None else _lane(is_gap, lane, "is_gap", False)[:n_steps].astype(bool)
    return np.flatnonzero(start), tgt, lab, gap


def _shade(ax: Any, segments: tuple | None, n_steps: int, label_segments: bool = True,
           offset: int = 0) -> None:
    """Shade distractor steps (light red) and gap steps (light grey; all non-target steps grey
    when gaps are not known), draw boundaries and target labels."""
    if segments is None:
        return
    starts, tgt, labels, gap = segments
    if gap is None:
        shaded = [(~tgt, "0.88")]
    else:
        shaded = [(~tgt & ~gap, DISTRACTOR_SHADE), (gap & ~tgt, GAP_SHADE)]
    for steps, colour in shaded:
        # Runs of steps as one collection: thousands of axvspans would be slow.
        edges = np.flatnonzero(np.diff(np.r_[0, steps.astype(np.int8), 0]))
        run_start, run_end = edges[::2], edges[1::2]
        if len(run_start):
            ax.broken_barh(list(zip(run_start + offset, run_end - run_start)), (0, 1), color=colour,
                           lw=0, transform=ax.get_xaxis_transform(), zorder=0)
    if len(starts) <= MAX_BOUNDARY_LINES:
        ax.vlines(starts[1:] + offset, 0, 1, transform=ax.get_xaxis_transform(), color="0.6",
                  lw=0.4, zorder=0.5)
    target_starts = starts[tgt[starts]]
    if labels is None or not label_segments or len(target_starts) > MAX_SEGMENT_LABELS:
        return
    ends = np.r_[starts[1:], n_steps]
    for a, e in zip(starts, ends):
        if tgt[a]:
            ax.text((a + e) / 2 + offset, 1.0, str(int(labels[a])), ha="center", va="bottom",
                    transform=ax.get_xaxis_transform(), fontsize=7)


def raster(spikes: Any, path: PathLike = None, segment_start: Any | None = None,
           is_target: Any | None = None, labels: Any | None = None, title: str = "spike raster",
           max_points: int = MAX_RASTER_POINTS, lane: int = 0,
           layer_names: Sequence[str] | None = None, offset: int = 0, ax: Any = None,
           sort: str | None = None, is_gap: Any | None = None) -> Figure:
    """Raster per layer: ``spikes`` = one ``[T, (B,) N]`` array, a list of them (one per layer),
    or anything with a ``.spikes`` list (torch ``Recording``, CPU/Lava results).

    Non-target (distractor/gap) segments are shaded grey, segment boundaries drawn and target
    labels written above the first layer. ``offset`` shifts the step axis (a window of a longer
    stream). ``fig.points_drawn`` = markers drawn; ``fig.raster_modes`` = ``"points"``/``"image"``
    per layer (see the module docstring for the threshold). ``sort``: neuron order per layer
    (:func:`neuron_order`: ``"rate"`` or ``"first_spike"``); ``ax``: one axes per layer.
    """
    layers = _layers(spikes, lane)
    n_steps = layers[0].shape[0]
    if any(s.shape[0] != n_steps for s in layers):
        raise ValueError(f"layers differ in length: {[s.shape[0] for s in layers]} steps")
    segments = _segments(n_steps, lane, segment_start, is_target, labels, is_gap)
    layers = [s[:, neuron_order(s, sort)] for s in layers]
    fig, axes = _axes(ax, len(layers), (10, 1.9 * len(layers) + 0.8))
    fig.points_drawn = getattr(fig, "points_drawn", 0)
    fig.raster_modes = getattr(fig, "raster_modes", [])
    for i, (ax, s) in enumerate(zip(axes, layers)):
        n_neurons = s.shape[1]
        _shade(ax, segments, n_steps, label_segments=i == 0, offset=offset)
        t, n = np.nonzero(s)
        if len(t) <= max_points:
            # '|' markers about one neuron row tall (axes ~1.9 in = 137 pt high)
            size = float(np.clip(120.0 / max(n_neurons, 1), 0.8, 5.0))
            ax.plot(t + offset, n, linestyle="none", marker="|", markersize=size, color="k",
                    markeredgewidth=0.6, rasterized=True)
            fig.points_drawn += len(t)
            fig.raster_modes.append("points")
        else:
            bins_t = min(n_steps, RASTER_IMAGE_BINS[0])
            bins_n = min(n_neurons, RASTER_IMAGE_BINS[1])
            hist, _, _ = np.histogram2d(t, n, bins=(bins_t, bins_n),
                                        range=((0, n_steps), (0, n_neurons)))
            rate = hist / ((n_steps / bins_t) * (n_neurons / bins_n))
            image = ax.imshow(rate.T, aspect="auto", origin="lower", cmap="Greys",
                              interpolation="nearest",
                              extent=(offset, offset + n_steps, -0.5, n_neurons - 0.5))
            fig.colorbar(image, ax=ax, pad=0.01, label="spikes/neuron/step")
            fig.raster_modes.append("image")
        name = layer_names[i] if layer_names is not None else f"layer {i}"
        order = {"rate": " (by rate)", "first_spike": " (by 1st spike)"}.get(sort, "")
        ax.set_ylabel(f"{name}\nneuron{order}")
        ax.set_ylim(-0.5, n_neurons - 0.5)
        ax.set_xlim(offset, offset + n_steps)
    axes[-1].set_xlabel("step")
    if title:
        axes[0].set_title(title, pad=14 if segments is not None and labels is not None else 6)
    save_figure(fig, path)
    return fig


def traces(voltage: Any, threshold: Any | None, spikes: Any | None = None,
           neurons: Sequence[int] = (0, 1, 2), path: PathLike = None,
           title: str = "membrane potential and adaptive threshold", lane: int = 0,
           segment_start: Any | None = None, is_target: Any | None = None,
           offset: int = 0, ax: Any = None, normalise: bool = False,
           is_gap: Any | None = None) -> Figure:
    """Membrane potential ``u`` and adaptive threshold ``B`` (``[T, (B,) N]``, same units) of a few
    ``neurons``, spikes marked, non-target segments shaded; ``ax``: one axes per neuron.

    The threshold has its own y scale (right axis, red), so a membrane that swings far below
    zero does not squash it; ``normalise=True`` instead draws ``u / B`` (the neuron fires above
    the dotted line at 1)."""
    v = _lane(voltage, lane, "voltage")
    th = None if threshold is None else _lane(threshold, lane, "threshold")
    s = None if spikes is None else _lane(spikes, lane, "spikes")
    for name, arr in (("threshold", th), ("spikes", s)):
        if arr is not None and arr.shape != v.shape:
            raise ValueError(f"{name} has shape {arr.shape}, voltage {v.shape}; expected equal")
    neurons = list(neurons)
    if not neurons or min(neurons) < 0 or max(neurons) >= v.shape[1]:
        raise ValueError(f"neurons must be indices in [0, {v.shape[1] - 1}], got {neurons}")
    if normalise and th is None:
        raise ValueError("normalise=True divides by the threshold: pass threshold")
    segments = _segments(len(v), lane, segment_start, is_target, None, is_gap)
    fig, axes = _axes(ax, len(neurons), (10, 1.6 * len(neurons) + 0.6))
    x = np.arange(len(v)) + offset
    for ax, n in zip(axes, neurons):
        _shade(ax, segments, len(v), offset=offset)
        handles = []
        if normalise:
            ratio = v[:, n] / np.where(th[:, n] > 0, th[:, n], np.nan)
            handles += ax.plot(x, ratio, lw=0.8, label="u / B")
            ax.axhline(1.0, color="C3", ls=":", lw=0.8)
            ax.set_ylabel(f"neuron {n}\nu / B")
            marks_axis, marks = ax, np.ones(len(v))
        else:
            handles += ax.plot(x, v[:, n], lw=0.8, label="u (membrane, left)")
            ax.set_ylabel(f"neuron {n}\nu")
            marks_axis, marks = ax, v[:, n]
            if th is not None:
                twin = ax.twinx()
                handles += twin.plot(x, th[:, n], lw=0.8, color="C3", label="B (threshold, right)")
                twin.tick_params(axis="y", colors="C3", labelsize=7)
                twin.set_ylabel("B", color="C3")
                marks_axis, marks = twin, th[:, n]
        if s is not None:
            ts = np.flatnonzero(s[:, n])
            handles += marks_axis.plot(ts + offset, marks[ts], "k|", ms=6, label="spike")
        ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=3)
    if title:
        axes[0].set_title(title)
    axes[-1].set_xlabel("step")
    axes[-1].set_xlim(x[0], x[-1] + 1)
    save_figure(fig, path)
    return fig


def firing_rate_heatmap(spikes: Any, window: int = 100, path: PathLike = None,
                        title: str = "firing rate (spikes per step)", lane: int | None = None,
                        sort: bool = False, ax: Any = None) -> Figure:
    """Firing rate of every neuron of ``spikes [T, N]`` (or ``[T, B, N]``: lanes averaged unless
    ``lane`` is given) per window of ``window`` steps; ``sort`` orders neurons by mean rate."""
    s = as_numpy(spikes, "spikes").astype(np.float64)
    if s.ndim == 3:
        s = s.mean(axis=1) if lane is None else _lane(s, lane, "spikes")
    if s.ndim != 2:
        raise ValueError(f"spikes must be [T, N] or [T, B, N], got shape {s.shape}")
    if window <= 0:
        raise ValueError(f"window must be a positive number of steps, got {window}")
    n_windows = max(1, s.shape[0] // window)
    window = min(window, s.shape[0])
    rates = s[: n_windows * window].reshape(n_windows, window, s.shape[1]).mean(axis=1)
    if sort:
        rates = rates[:, np.argsort(-rates.mean(axis=0), kind="stable")]
    fig, (ax,) = _axes(ax, 1, (10, 3.5))
    image = ax.imshow(rates.T, aspect="auto", origin="lower", cmap="viridis",
                      interpolation="nearest", extent=(0, n_windows * window, 0, s.shape[1]))
    fig.colorbar(image, ax=ax, label="spikes / step")
    ax.set_xlabel("step")
    ax.set_ylabel("neuron (sorted by rate)" if sort else "neuron")
    ax.set_title(f"{title}, windows of {window} steps")
    save_figure(fig, path)
    return fig


def _rolling_mean(values: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean of ``values`` over the last ``window`` steps, counting only ``valid`` ones."""
    v = np.where(valid, values, 0.0).cumsum()
    c = valid.astype(np.float64).cumsum()
    v[window:] = v[window:] - v[:-window].copy()
    c[window:] = c[window:] - c[:-window].copy()
    return np.divide(v, c, out=np.full(len(v), np.nan), where=c > 0)


def stream_outputs(probabilities: Any, target: Any, segment_start: Any | None = None,
                   is_target: Any | None = None, path: PathLike = None,
                   title: str = "output over the stream", lane: int = 0,
                   accuracy_window: int = 20, offset: int = 0,
                   class_names: Sequence[str] | None = None, ax: Any = None,
                   is_gap: Any | None = None, decision_steps: int | None = 10) -> Figure:
    """Class probabilities ``[T, (B,) C]`` over a continual stream (top) and the decision on every
    target segment (bottom: mean softmax of its last ``decision_steps`` steps, as
    :func:`spiking_nr.metrics.segment_scores`; a dot at the segment's end, 1 = right, 0 = wrong;
    the line is the accuracy over the last ``accuracy_window`` target segments). Non-target
    segments are shaded, target labels shown; segments cut by the window's edges are not scored.
    ``ax``: two axes. ``fig.segment_correct`` holds the per-segment decisions drawn."""
    from spiking_nr.metrics import segment_scores

    p = _lane(probabilities, lane, "probabilities").astype(np.float64)
    tgt = _lane(target, lane, "target", False)
    if len(tgt) < len(p):
        raise ValueError(f"target covers {len(tgt)} steps, probabilities {len(p)}")
    tgt = tgt[: len(p)]
    n_classes = p.shape[1]
    names = [f"class {c}" for c in range(n_classes)] if class_names is None else list(class_names)
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} class names for {n_classes} classes")
    segments = _segments(len(p), lane, segment_start,
                         is_target if is_target is not None else tgt >= 0, tgt, is_gap)
    fig, (ax1, ax2) = _axes(ax, 2, (10, 4.8), gridspec_kw={"height_ratios": [3, 1.3]})
    x = np.arange(len(p)) + offset
    _shade(ax1, segments, len(p), offset=offset)
    _shade(ax2, segments, len(p), label_segments=False, offset=offset)
    for c in range(n_classes):
        ax1.plot(x, p[:, c], lw=0.8, label=names[c])
    ax1.axhline(1.0 / n_classes, color="0.4", ls=":", lw=0.8, label="uniform")
    ax1.set_ylim(0, 1.02)
    ax1.set_ylabel("p(class)")
    ax1.legend(fontsize=6, ncol=min(n_classes + 1, 8), loc="upper right")
    if title:
        ax1.set_title(title, pad=14)
    starts, tgt_steps = segments[0], segments[1]
    segment_id = np.cumsum(np.isin(np.arange(len(p)), starts)) - 1
    # softmax(log p) = p: the segment decision is the mean of these probabilities
    scores = segment_scores(np.log(np.maximum(p, 1e-300))[:, None], segment_id[:, None],
                            tgt[:, None], tgt_steps[:, None], last_k=decision_steps)
    scored = scores.select(scores.is_target & ~scores.at_edge)  # a segment cut by the window: no decision
    correct = scored.correct.astype(float)
    fig.segment_correct = correct
    ends = scored.end - 1 + offset
    ax2.plot(ends[correct == 1], correct[correct == 1], "o", ms=3, color="C2", label="right")
    ax2.plot(ends[correct == 0], correct[correct == 0], "x", ms=4, color="C3", label="wrong")
    if len(correct):
        window = max(1, accuracy_window)
        running = np.convolve(correct, np.ones(window), "full")[:len(correct)] / np.minimum(
            np.arange(1, len(correct) + 1), window)
        ax2.step(ends, running, where="post", color="C0", lw=1.0,
                 label=f"accuracy, last {window} segments")
    ax2.set_ylim(-0.1, 1.1)
    ax2.set_ylabel("segment\ndecision")
    ax2.set_xlabel("step")
    ax2.set_xlim(x[0], x[-1] + 1)
    ax2.legend(fontsize=6, loc="lower right", ncol=3)
    save_figure(fig, path)
    return fig


def stream_figure(inputs: Any, spikes: Any, probabilities: Any, target: Any | None = None,
                  segment_start: Any | None = None, is_target: Any | None = None,
                  is_gap: Any | None = None, path: PathLike = None, lane: int = 0, offset: int = 0,
                  sort: str | None = "rate", class_names: Sequence[str] | None = None,
                  title: str = "", ax: Any = None, max_points: int = MAX_RASTER_POINTS) -> Figure:
    """One figure, one time axis: input raster ``[T, (B,) N_in]`` (top), the hidden rasters
    (``spikes``: one array or a list per layer; neurons ordered by ``sort``), and the readout's
    class probabilities ``[T, (B,) C]`` (bottom). Distractor segments are shaded light red, gaps
    light grey, target segments carry their label (``target``: class per step, -1 = none). ``ax``:
    ``2 + layers`` axes sharing x. ``fig.panels`` names the panels top to bottom."""
    x_in = _lane(inputs, lane, "inputs")
    layers = _layers(spikes, lane)
    p = _lane(probabilities, lane, "probabilities").astype(np.float64)
    n_steps = len(x_in)
    if any(len(s) != n_steps for s in layers) or len(p) != n_steps:
        raise ValueError(f"inputs ({n_steps} steps), spikes ({[len(s) for s in layers]}) and "
                         f"probabilities ({len(p)}) must cover the same steps")
    tgt = None if target is None else _lane(target, lane, "target", False)[:n_steps]
    if is_target is None and tgt is not None:
        is_target = tgt >= 0
    n_panels = 2 + len(layers)
    heights = [1.0] + [1.4] * len(layers) + [1.1]
    fig, axes = _axes(ax, n_panels, (10, 1.5 * n_panels + 0.6), gridspec_kw={"height_ratios": heights})
    common = dict(segment_start=segment_start, is_target=is_target, is_gap=is_gap, offset=offset,
                  max_points=max_points, title="")
    raster(x_in, ax=[axes[0]], labels=tgt, layer_names=["input"], **common)
    raster(layers, ax=axes[1:-1], sort=sort, layer_names=[f"hidden {i}" for i in range(len(layers))],
           **common)
    readout = axes[-1]
    segments = None if segment_start is None and is_target is None else _segments(
        n_steps, 0, segment_start, is_target, None, is_gap)
    _shade(readout, segments, n_steps, label_segments=False, offset=offset)
    names = [f"class {c}" for c in range(p.shape[1])] if class_names is None else list(class_names)
    steps = np.arange(n_steps) + offset
    for c in range(p.shape[1]):
        readout.plot(steps, p[:, c], lw=0.8, label=names[c])
    readout.set_ylim(0, 1.02)
    readout.set_ylabel("readout\np(class)")
    readout.set_xlabel("step")
    readout.set_xlim(offset, offset + n_steps)
    readout.legend(fontsize=6, ncol=min(p.shape[1], 10), loc="upper right")
    for upper in axes[:-1]:
        upper.set_xlabel("")
    if segments is not None and segments[3] is not None:
        from matplotlib.patches import Patch

        axes[0].legend(handles=[Patch(color="white", ec="0.6", label="target"),
                                Patch(color=DISTRACTOR_SHADE, label="distractor"),
                                Patch(color=GAP_SHADE, label="gap")],
                       fontsize=6, ncol=3, loc="lower right", bbox_to_anchor=(1.0, 1.12),
                       frameon=False)
    if title:
        fig.suptitle(title)
    fig.panels = ["input", *[f"hidden {i}" for i in range(len(layers))], "readout"]
    save_figure(fig, path)
    return fig


def accuracy_over_stream(curves: Mapping[str, tuple[Any, ...]], path: PathLike = None,
                         title: str = "accuracy vs position in the stream",
                         xlabel: str = "segment index (log)", log_x: bool = True,
                         chance: float | None = None, ylabel: str = "segment accuracy",
                         ax: Any = None) -> Figure:
    """``curves[name] = (x, accuracy)`` or ``(x, accuracy, n)``, e.g. accuracy per bin of segment
    positions, one line per model; with ``n`` (segments per point) each point gets a 95 % Wilson
    interval as an error bar (the first bins of a stream rest on few segments). ``chance`` draws
    the chance level."""
    fig, (ax,) = _axes(ax, 1, (6.5, 4))
    for k, (name, curve) in enumerate(curves.items()):
        if len(curve) not in (2, 3):
            raise ValueError(f"curve {name!r} must be (x, accuracy) or (x, accuracy, n)")
        x = as_numpy(curve[0], f"x of {name}").astype(float)
        y = as_numpy(curve[1], f"y of {name}").astype(float)
        if x.shape != y.shape:
            raise ValueError(f"curve {name!r}: x has shape {x.shape}, accuracy {y.shape}")
        if len(curve) == 3:
            n = as_numpy(curve[2], f"n of {name}").astype(float)
            if n.shape != y.shape:
                raise ValueError(f"curve {name!r}: n has shape {n.shape}, accuracy {y.shape}")
            low, high = wilson_interval(y, n)
            ax.errorbar(x, y, yerr=np.vstack([y - low, high - y]), marker="o", ms=3, capsize=2,
                        lw=1, color=f"C{k}", label=f"{name} (95 % Wilson)")
        else:
            ax.plot(x, y, marker="o", ms=3, color=f"C{k}", label=name)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", lw=0.8, label="chance")
    if log_x:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return fig


def reset_comparison(stream_lengths: Any, accuracy: Mapping[str, Any], path: PathLike = None,
                     title: str = "reset-free vs reset-based", chance: float | None = None,
                     spread: Mapping[str, Any] | None = None, ax: Any = None) -> Figure:
    """Accuracy against stream length (steps, log axis): ``accuracy[name]`` has one value per
    entry of ``stream_lengths`` (e.g. "reset-free", "reset at segment starts", "no reset");
    ``spread[name]`` (same shape) draws a +-band, e.g. the std over lanes."""
    lengths = as_numpy(stream_lengths, "stream_lengths").astype(float)
    if lengths.ndim != 1 or len(lengths) == 0 or np.any(lengths <= 0):
        raise ValueError(f"stream_lengths must be positive step counts, got {lengths.tolist()}")
    fig, (ax,) = _axes(ax, 1, (6.5, 4))
    for k, (name, acc) in enumerate(accuracy.items()):
        acc = as_numpy(acc, f"accuracy of {name}").astype(float)
        if acc.shape != lengths.shape:
            raise ValueError(f"{name!r}: {acc.shape[0] if acc.ndim else 0} accuracies for "
                             f"{len(lengths)} stream lengths")
        ax.plot(lengths, acc, marker="o", ms=4, color=f"C{k}", label=name)
        if spread is not None and name in spread:
            band = as_numpy(spread[name], f"spread of {name}").astype(float)
            ax.fill_between(lengths, acc - band, acc + band, color=f"C{k}", alpha=0.2, lw=0)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("stream length without reset (steps, log)")
    ax.set_ylabel("segment accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return fig


def grouped_bars(values: Mapping[str, Mapping[str, float]], path: PathLike = None, title: str = "",
                 ylabel: str = "accuracy", chance: Mapping[str, float] | None = None,
                 ax: Any = None) -> Figure:
    """One group of bars per task: ``values[task][row]`` (e.g. rows "gru / none warm-up", ...);
    ``chance[task]`` draws a dotted line over that group."""
    if not values or not all(values.values()):
        raise ValueError("values must map each task to a non-empty {row: value} mapping")
    rows = list(dict.fromkeys(row for group in values.values() for row in group))
    width = 0.8 / len(rows)
    fig, (ax,) = _axes(ax, 1, (max(6.0, 1.6 * len(values)), 4))
    for k, row in enumerate(rows):
        heights = [float(group.get(row, np.nan)) for group in values.values()]
        ax.bar(np.arange(len(values)) + (k - (len(rows) - 1) / 2) * width, heights, width,
               color=f"C{k}", label=row)
    for i, task in enumerate(values):
        if chance is not None and task in chance:
            ax.hlines(chance[task], i - 0.45, i + 0.45, colors="0.3", linestyles=":", lw=1)
    ax.set_xticks(np.arange(len(values)), list(values), rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)
    return fig


def agreement(reference: Sequence[Any], other: Mapping[str, Sequence[Any]], path: PathLike = None,
              title: str = "spike agreement per layer",
              reference_name: str = "reference", ax: Any = None) -> Figure:
    """Compare spike recordings of several backends with ``reference`` (e.g. torch fixed point vs
    CPU backend vs Lava). ``reference[layer]`` and ``other[name][layer]`` are ``[T, ...]`` arrays
    of equal shape. Top: fraction of identical spike entries per layer; bottom: mismatching
    entries per step (all layers) over time. ``fig.agreement[name]`` = per-layer fractions."""
    ref = [as_numpy(r, f"{reference_name} layer {i}") for i, r in enumerate(reference)]
    if not ref:
        raise ValueError("reference needs at least one layer")
    fig, (ax1, ax2) = _axes(ax, 2, (8, 5.5), sharex=False, gridspec_kw={"height_ratios": [1.2, 1]})
    width = 0.8 / max(1, len(other))
    fig.agreement = {}
    lowest = 1.0
    for k, (name, layers) in enumerate(other.items()):
        if len(layers) != len(ref):
            raise ValueError(f"{name!r} has {len(layers)} layers, {reference_name} {len(ref)}")
        fractions, mismatch = [], np.zeros(ref[0].shape[0])
        for i, (a, r) in enumerate(zip(layers, ref)):
            a = as_numpy(a, f"{name} layer {i}")
            if a.shape != r.shape:
                raise ValueError(f"{name!r} layer {i} has shape {a.shape}, {reference_name} "
                                 f"{r.shape}; expected equal")
            diff = (a != r).reshape(len(a), -1)
            fractions.append(1.0 - float(diff.mean()) if diff.size else 1.0)
            if len(a) == len(mismatch):
                mismatch += diff.sum(axis=1)
        fig.agreement[name] = fractions
        lowest = min(lowest, *fractions)
        bars = ax1.bar(np.arange(len(fractions)) + k * width, fractions, width, label=name)
        ax1.bar_label(bars, labels=[f"{f:.4f}" for f in fractions], fontsize=7)
        ax2.plot(mismatch, lw=0.8, label=f"{name}: {int(mismatch.sum())} total")
    ax1.set_xticks(np.arange(len(ref)) + width * (len(other) - 1) / 2,
                   [f"layer {i}" for i in range(len(ref))])
    ax1.set_ylim(min(0.9, lowest - 0.05), 1.01)
    ax1.set_ylabel(f"identical to {reference_name}")
    ax1.set_title(title)
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax2.set_xlabel("step")
    ax2.set_ylabel("mismatching spikes")
    ax2.legend(fontsize=8, loc="upper right")
    save_figure(fig, path)
    return fig


def training_curves(history: Sequence[Mapping[str, Any]], path: PathLike = None,
                    title: str = "training", ax: Any = None) -> Figure:
    """Loss and per-step accuracy per chunk from the trainer's metrics (``metrics.jsonl`` rows
    with ``position``, ``loss`` and ``step_accuracy``)."""
    if not history:
        raise ValueError("no training metrics to plot (metrics.jsonl is empty)")
    missing = {"position", "loss", "step_accuracy"} - set(history[0])
    if missing:
        raise ValueError(f"metrics rows lack {sorted(missing)}; expected the trainer's metrics")
    if ax is None:
        fig = Figure(figsize=(10, 3.5))
        ax1, ax2 = fig.subplots(1, 2)
    else:
        fig, (ax1, ax2) = _axes(ax, 2, (10, 3.5))
    position = [h["position"] for h in history]
    ax1.plot(position, [h["loss"] for h in history])
    ax1.set_xlabel("chunk")
    ax1.set_ylabel("adaptive loss")
    acc = np.array([np.nan if h["step_accuracy"] is None else h["step_accuracy"] for h in history],
                   dtype=float)
    ax2.plot(position, acc)
    ax2.set_xlabel("chunk")
    ax2.set_ylabel("accuracy on informative steps")
    ax2.set_ylim(0, 1)
    if title:
        (fig.suptitle if ax is None else ax1.set_title)(title)
    save_figure(fig, path)
    return fig
