"""E3, soak: a trained reset-free network runs 10^6 steps of the continual stream without a reset.

The reset-free model of E1 row (a) is trained (same settings), exported to Loihi fixed point and to
float, and both run on the CPU backend over one unbroken stream of 10^6 steps (one lane; SUBSTITUTE
data: MNIST 0-4 targets, 5-9 distractors). Reported per window of 10^4 steps: segment accuracy,
firing rate, mean membrane potential and mean adaptive threshold; the drift of each over the run is
the slope of its per-window mean (``spiking_nr.metrics.saturation``). Float mode must stay finite;
fixed mode must stay off the 24-bit saturation limits.

    python -m experiments.e3_soak            # ~3 min on 2 cores
    python -m experiments.e3_soak --quick    # 10^5 steps, smaller model
"""

from __future__ import annotations

import argparse
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from experiments.e1_image_stream import VARIANTS
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.spec import STATE_MAX
from spiking_nr.data.image_stream import DATA_NOTE, N_CLASSES
from spiking_nr.experiment import image_task, train_variant
from spiking_nr.export import to_network_spec
from spiking_nr.io import write_json
from spiking_nr.metrics import saturation, segment_scores
from spiking_nr.viz import save_figure


def soak(spec, stream, total_steps: int, window: int, chunk_steps: int = 10_000) -> dict:
    """Run one lane for ``total_steps``; per-window accuracy and state statistics."""
    sim = CPUSimulator(spec)
    latency = spec.latency
    outputs, targets, segment_ids, is_target = [], [], [], []
    rate, voltage, threshold, extreme = [], [], [], 0
    scale = spec.layers[0].scale
    for chunk in stream.chunks(1, chunk_steps, total_steps=total_steps):
        result = sim.run(chunk.inputs, record=("spikes", "voltage", "threshold"))
        outputs.append(result.output_float(spec)[:, 0])
        targets.append(chunk.target[:, 0])
        segment_ids.append(chunk.segment_id[:, 0])
        is_target.append(chunk.is_target[:, 0])
        v, th, s = result.voltage[0][:, 0], result.threshold[0][:, 0], result.spikes[0][:, 0]
        for start in range(0, len(v), window):
            rate.append(float(s[start:start + window].mean()))
            voltage.append(float(np.abs(v[start:start + window]).mean() / scale))
            threshold.append(float(th[start:start + window].mean() / scale))
        if spec.mode == "fixed":
            extreme = max(extreme, int(np.abs(v).max()))
        elif not np.all(np.isfinite(v)):
            raise FloatingPointError("the float network produced NaN/inf")
    out = np.concatenate(outputs)[latency:, None]  # deployed timing: outputs lag by `latency`
    n = len(out)
    target = np.concatenate(targets)[:n, None]
    seg = np.concatenate(segment_ids)[:n, None]
    tgt = np.concatenate(is_target)[:n, None]
    scores = segment_scores(out, seg, target, tgt)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(seg[:, 0])) + 1])
    window_of_segment = starts // window
    accuracy = []
    for w in range(int(np.ceil(n / window))):
        sel = scores.is_target & (window_of_segment == w)
        accuracy.append(float((scores.prediction[sel] == scores.label[sel]).mean()) if sel.any()
                        else float("nan"))
    per_window = {"accuracy": accuracy, "firing_rate": rate, "mean_abs_voltage": voltage,
                  "mean_threshold": threshold}
    return {
        "steps": total_steps,
        "segment_accuracy": scores.accuracy,
        "n_target_segments": int(scores.is_target.sum()),
        "per_window": per_window,
        "drift": {key: saturation(np.asarray(values, float)[:, None], 1)
                  for key, values in per_window.items() if key != "accuracy"},
        "accuracy_first_last_window": [accuracy[0], accuracy[-1]],
        "max_abs_voltage_fraction_of_24bit": extreme / STATE_MAX if spec.mode == "fixed" else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="experiments/results/e3")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    chunks, hidden, steps, window = (20, 64, 100_000, 10_000) if args.quick else (200, 128, 1_000_000, 10_000)
    started = time.time()
    task = image_task(args.seed)
    test_stream = task.test_stream
    model = train_variant(task, VARIANTS[0], chunks, hidden, args.seed)
    runs = {mode: soak(to_network_spec(model, mode), test_stream, steps, window)
            for mode in ("fixed", "float")}
    for mode, run in runs.items():
        print(f"{mode}: {steps} steps, segment accuracy {run['segment_accuracy']:.3f} over "
              f"{run['n_target_segments']} target segments; first/last window accuracy "
              f"{run['accuracy_first_last_window']}", flush=True)
    result = {"experiment": "E3 soak", "data": DATA_NOTE, "quick": args.quick,
              "model": f"E1 row (a): 28 -> {hidden} ALIF -> {N_CLASSES}, reset-free", "window": window,
              "runs": runs, "seconds": round(time.time() - started, 1)}
    suffix = "_quick" if args.quick else ""
    write_json(f"{args.out}/e3{suffix}.json", result)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for mode, run in runs.items():
        x = np.arange(len(run["per_window"]["accuracy"])) * window
        axes[0].plot(x, run["per_window"]["accuracy"], label=mode)
        axes[1].plot(x, run["per_window"]["firing_rate"], label=mode)
        axes[2].plot(x, run["per_window"]["mean_threshold"], label=mode)
    axes[0].set_ylabel("segment accuracy")
    axes[0].set_ylim(0, 1)
    axes[1].set_ylabel("firing rate")
    axes[2].set_ylabel("mean threshold")
    axes[2].set_xlabel("step (one unbroken stream, never reset)")
    axes[0].legend()
    axes[0].set_title(f"E3 soak: {steps:,} steps without reset (CPU backend)")
    save_figure(fig, f"{args.out}/e3{suffix}.png")
    return result


if __name__ == "__main__":
    main()
