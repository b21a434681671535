"""The ``spiking-nr`` command line.

    spiking-nr export runs/demo/model_reset-free.pt net.h5 --mode fixed
    spiking-nr info net.h5
    spiking-nr simulate net.h5 --backend cpu --steps 5000
    spiking-nr simulate net.h5 --backend lava --steps 1000 --plot raster.png

User errors (missing files, wrong file types, bad arguments) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def _load_spec(path: str):
    from neuromorphic_export.io import load_network

    if not Path(path).is_file():
        raise UserError(f"network file {path} does not exist (create one with `spiking-nr export`)")
    try:
        return load_network(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def cmd_export(args: argparse.Namespace) -> None:
    from neuromorphic_export.io import save_network
    from spiking_nr.export import to_network_spec
    from spiking_nr.train import model_from_checkpoint

    if not Path(args.checkpoint).is_file():
        raise UserError(f"checkpoint {args.checkpoint} does not exist")
    try:
        model = model_from_checkpoint(args.checkpoint)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    spec = to_network_spec(model, args.mode)
    save_network(spec, args.output)
    print(f"wrote {args.output}: {len(spec.layers)} layers, {args.mode} point, latency "
          f"{spec.latency} steps")


def cmd_info(args: argparse.Namespace) -> None:
    spec = _load_spec(args.network)
    print(f"{args.network}: mode {spec.mode}, {spec.input_size} inputs, latency {spec.latency} steps")
    for layer in spec.layers:
        rec = " + recurrent" if layer.weight_rec is not None else ""
        print(f"  {layer.name}: {layer.model}, {layer.size} neurons, dense {layer.input_size}{rec}")


def _stream_inputs(spec, steps: int, seed: int, input_file: str | None):
    if input_file is not None:
        if not Path(input_file).is_file():
            raise UserError(f"input file {input_file} does not exist (expected a .npy array [T, N])")
        try:
            x = np.load(input_file)
        except ValueError as exc:
            raise UserError(f"{input_file} is not a .npy array: {exc}") from None
        return x[:steps], None
    if spec.input_size != 28:
        raise UserError(f"the built-in MNIST row stream has 28 channels, the network expects "
                        f"{spec.input_size}: pass --input spikes.npy")
    from spiking_nr.data import load_mnist_5k
    from spiking_nr.encoding import rows_threshold
    from spiking_nr.streams import ContinualStream, LabelledSequences, StreamConfig

    data = load_mnist_5k(seed=seed)
    is_target = data.test_labels < 5
    stream = ContinualStream(
        LabelledSequences(data.test_images[is_target], data.test_labels[is_target], rows_threshold),
        LabelledSequences(data.test_images[~is_target], data.test_labels[~is_target] - 5,
                          rows_threshold),
        StreamConfig(seed=seed + 1000))
    chunk = next(stream.chunks(1, steps, total_steps=steps))
    return chunk.inputs[:, 0], chunk


def cmd_simulate(args: argparse.Namespace) -> None:
    from neuromorphic_export.cpu import CPUSimulator

    spec = _load_spec(args.network)
    x, chunk = _stream_inputs(spec, args.steps, args.seed, args.input)
    start = time.perf_counter()
    if args.backend == "cpu":
        result = CPUSimulator(spec).run(x.astype(np.uint8), record=("spikes",))
        output = result.output_float(spec)[:, 0]
        spikes = [s[:, 0] for s in result.spikes]
    else:
        from neuromorphic_export.lava import lava_available, run_lava

        if not lava_available():
            raise UserError("lava-nc is not importable; install it with scripts/setup_env.sh")
        lava = run_lava(spec, x.astype(np.uint8))
        output, spikes = lava.output_float(spec), lava.spikes
    seconds = time.perf_counter() - start
    print(f"{args.backend}: {len(x)} steps in {seconds:.2f} s ({len(x) / seconds:.0f} steps/s), "
          f"{int(sum(s.sum() for s in spikes))} hidden spikes")
    if chunk is not None:
        from spiking_nr.metrics import stream_report

        lag = spec.latency
        report = stream_report(output[lag:, None], chunk.target[:-lag or None],
                               chunk.segment_id[:-lag or None], chunk.is_target[:-lag or None],
                               spec.output_size)
        print(f"segment accuracy {report['segment_accuracy']:.3f} over "
              f"{report['n_target_segments']} target segments (MNIST substitute stream)")
    if args.plot:
        from spiking_nr import viz

        window = slice(0, min(len(x), 500))
        viz.raster([s[window] for s in spikes], path=args.plot,
                   title=f"{args.backend} backend: hidden spikes")
        print(f"wrote {args.plot}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spiking-nr", description="Reset-free spiking RNNs: export trained models and run "
        "them on the CPU backend or in Lava (Loihi fixed point).",
        epilog="The offline demo (train, evaluate, export, simulate, plot): bash scripts/demo.sh")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="export a checkpoint to a network file (HDF5)",
                       description="Convert a trained SRNN checkpoint into a validated network file.")
    p.add_argument("checkpoint", help="checkpoint written by the Trainer or save_model (.pt)")
    p.add_argument("output", help="network file to write (.h5), atomically")
    p.add_argument("--mode", choices=("fixed", "float"), default="fixed",
                   help="Loihi fixed point (default) or float")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("info", help="describe a network file")
    p.add_argument("network")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("simulate", help="run a network file on a stream",
                       description="Run a network file on the built-in MNIST row stream (28 "
                       "channels; digits 0-4 targets, 5-9 distractors, a SUBSTITUTE for the "
                       "Fashion-MNIST stream) or on your own binary spikes (--input x.npy [T, N]).")
    p.add_argument("network")
    p.add_argument("--backend", choices=("cpu", "lava"), default="cpu")
    p.add_argument("--steps", type=int, default=2000, help="steps to run (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input", help="binary spikes [T, N] as .npy instead of the built-in stream")
    p.add_argument("--plot", help="write a raster of the hidden spikes here (.png/.pdf/.svg)")
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "steps", 1) <= 0:
        print("spiking-nr: error: --steps must be positive", file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        args.func(args)
    except UserError as exc:
        print(f"spiking-nr: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
