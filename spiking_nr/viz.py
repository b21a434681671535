"""Plots researchers look at: rasters, membrane/threshold traces, stream accuracy, agreement.

All functions take numpy arrays (torch recordings, CPU-backend and Lava results alike), draw on a
new figure, optionally save it (PNG/PDF/SVG by extension, atomically) and return the figure.
Rasters draw one point per spike up to ``max_points`` spikes; beyond that they draw a binned
density image so tens of thousands of steps x thousands of neurons stay fast and legible.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuromorphic_export.fileio import atomic_path  # noqa: E402

MAX_RASTER_POINTS = 200_000


def save_figure(fig: plt.Figure, path: str | os.PathLike[str] | None, dpi: int = 120) -> None:
    if path is None:
        return
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "pdf", "svg"):
        raise ValueError(f"cannot save a figure as {path.suffix!r}; use .png, .pdf or .svg")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")


def _shade_segments(ax, segment_start: np.ndarray | None, is_target: np.ndarray | None,
                    labels: np.ndarray | None = None) -> None:
    if segment_start is None or is_target is None:
        return
    starts = np.flatnonzero(segment_start)
    ends = np.concatenate([starts[1:], [len(segment_start)]])
    for a, e in zip(starts, ends):
        if not is_target[a]:
            ax.axvspan(a, e, color="0.85", lw=0, zorder=0)
        elif labels is not None:
            ax.text((a + e) / 2, 1.0, str(labels[a]), transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=7)


def raster(spikes: list[np.ndarray] | np.ndarray, path=None, segment_start=None, is_target=None,
           labels=None, title: str = "spike raster", max_points: int = MAX_RASTER_POINTS) -> plt.Figure:
    """Raster per layer of ``spikes [T, N]`` (one lane); distractor/gap segments shaded grey."""
    if not isinstance(spikes, (list, tuple)):
        spikes = [spikes]
    layers = [np.asarray(s) for s in spikes]
    fig, axes = plt.subplots(len(layers), 1, figsize=(10, 2.2 * len(layers) + 0.5), sharex=True,
                             squeeze=False)
    fig.points_drawn = 0  # type: ignore[attr-defined]
    for i, (ax, s) in enumerate(zip(axes[:, 0], layers)):
        if s.ndim != 2:
            raise ValueError(f"layer {i}: spikes must be [T, N] (one lane), got shape {s.shape}")
        _shade_segments(ax, segment_start, is_target, labels if i == 0 else None)
        t, n = np.nonzero(s)
        if len(t) <= max_points:
            ax.scatter(t, n, s=1.5, marker="|", color="k", linewidths=0.6, rasterized=True)
            fig.points_drawn += len(t)  # type: ignore[attr-defined]
        else:
            bins_t = min(s.shape[0], 2000)
            bins_n = min(s.shape[1], 500)
            hist, _, _ = np.histogram2d(t, n, bins=(bins_t, bins_n),
                                        range=((0, s.shape[0]), (0, s.shape[1])))
            ax.imshow(hist.T, aspect="auto", origin="lower", cmap="Greys",
                      extent=(0, s.shape[0], 0, s.shape[1]))
        ax.set_ylabel(f"layer {i}\nneuron")
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(title, pad=12)
    save_figure(fig, path)
    return fig


def traces(voltage: np.ndarray, threshold: np.ndarray, spikes: np.ndarray | None = None,
           neurons: tuple[int, ...] = (0, 1, 2), path=None,
           title: str = "membrane potential and adaptive threshold") -> plt.Figure:
    """``voltage``/``threshold [T, N]`` of a few neurons, spikes marked."""
    fig, axes = plt.subplots(len(neurons), 1, figsize=(10, 1.8 * len(neurons)), sharex=True,
                             squeeze=False)
    for ax, n in zip(axes[:, 0], neurons):
        ax.plot(voltage[:, n], lw=0.8, label="u (membrane)")
        ax.plot(threshold[:, n], lw=0.8, color="C3", label="B (threshold)")
        if spikes is not None:
            ts = np.flatnonzero(spikes[:, n])
            ax.plot(ts, threshold[ts, n], "k|", ms=6, label="spike")
        ax.set_ylabel(f"neuron {n}")
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=3)
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("step")
    save_figure(fig, path)
    return fig


def stream_outputs(probabilities: np.ndarray, target: np.ndarray, segment_start=None,
                   is_target=None, path=None, title: str = "output over the stream") -> plt.Figure:
    """Class probabilities ``[T, C]`` over a stream (one lane) and per-step correctness."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    _shade_segments(ax1, segment_start, is_target, target)
    for c in range(probabilities.shape[1]):
        ax1.plot(probabilities[:, c], lw=0.8, label=f"class {c}")
    ax1.axhline(1.0 / probabilities.shape[1], color="0.5", ls=":", lw=0.8, label="uniform")
    ax1.set_ylabel("p(class)")
    ax1.legend(fontsize=6, ncol=probabilities.shape[1] + 1, loc="upper right")
    ax1.set_title(title, pad=12)
    correct = (probabilities.argmax(1) == target).astype(float)
    correct[target < 0] = np.nan
    ax2.plot(correct, ".", ms=2)
    ax2.set_ylabel("correct")
    ax2.set_xlabel("step")
    save_figure(fig, path)
    return fig


def accuracy_over_stream(curves: dict[str, tuple[np.ndarray, np.ndarray]], path=None,
                         title: str = "accuracy vs position in the stream",
                         xlabel: str = "segment index (log)") -> plt.Figure:
    """``curves[name] = (x, accuracy)``: e.g. reset-free vs reset-based on one long stream."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, (x, y) in curves.items():
        ax.plot(x, y, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("segment accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)
    return fig


def agreement(reference: list[np.ndarray], other: dict[str, list[np.ndarray]], path=None,
              title: str = "spike agreement per layer") -> plt.Figure:
    """Fraction of identical spike entries per layer: ``other[name][layer]`` vs ``reference[layer]``."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / max(1, len(other))
    for k, (name, layers) in enumerate(other.items()):
        values = [float(np.mean(a == b)) for a, b in zip(layers, reference)]
        ax.bar(np.arange(len(values)) + k * width, values, width, label=name)
    ax.set_xticks(np.arange(len(reference)) + width * (len(other) - 1) / 2,
                  [f"layer {i}" for i in range(len(reference))])
    ax.set_ylim(0.9, 1.001)
    ax.set_ylabel("identical spikes")
    ax.set_title(title)
    ax.legend()
    save_figure(fig, path)
    return fig


def firing_rate_heatmap(spikes: np.ndarray, window: int = 100, path=None,
                        title: str = "firing rate (spikes per step)") -> plt.Figure:
    """Firing rate of every neuron of ``spikes [T, N]`` per window of ``window`` steps."""
    s = np.asarray(spikes, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"spikes must be [T, N] (one lane), got shape {s.shape}")
    n_windows = max(1, s.shape[0] // window)
    rates = s[: n_windows * window].reshape(n_windows, -1, s.shape[1]).mean(axis=1)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    image = ax.imshow(rates.T, aspect="auto", origin="lower", cmap="viridis",
                      extent=(0, n_windows * window, 0, s.shape[1]))
    fig.colorbar(image, ax=ax, label="spikes / step")
    ax.set_xlabel("step")
    ax.set_ylabel("neuron")
    ax.set_title(title)
    save_figure(fig, path)
    return fig


def training_curves(history: list[dict], path=None, title: str = "training") -> plt.Figure:
    """Loss and per-step accuracy per chunk, from the trainer's metrics (``metrics.jsonl`` rows)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    position = [h["position"] for h in history]
    ax1.plot(position, [h["loss"] for h in history])
    ax1.set_xlabel("chunk")
    ax1.set_ylabel("adaptive loss")
    ax2.plot(position, [h["step_accuracy"] for h in history])
    ax2.set_xlabel("chunk")
    ax2.set_ylabel("accuracy on informative steps")
    ax2.set_ylim(0, 1)
    fig.suptitle(title)
    save_figure(fig, path)
    return fig
