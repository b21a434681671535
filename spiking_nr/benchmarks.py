"""Benchmarks against peers, in one run, reported as ratios (machines are noisy).

Reference configuration (issue "Performance"): 700 Bernoulli(0.05) input spikes -> 256 recurrent
ALIF -> 20 readout, batch 32, T = 250, 2 threads, learnable per-neuron time constants.

* training step (forward + backward): spiking-nr SRNN, norse LSNNRecurrent, snntorch RLeaky (no
  adaptation), a hand-written plain torch ALIF step loop; median of repeats; activation memory =
  bytes of the distinct storages autograd saves for backward in one step;
* streaming at batch 1, one step per call: the torch SRNN (``forward`` per step and the
  ``stepper``), the CPU backend (``step``), and Lava (``Loihi2SimCfg`` fixed_pt, marginal cost per
  step of one long run) on the same exported network, with a check that the spikes are identical;
* truncated BPTT memory against stream length (window 100), in fresh subprocesses;
* scaling: training time per step against hidden size and against T.

    spiking-nr bench --quick                    # ~30 s (= python -m spiking_nr.benchmarks --quick)
    spiking-nr bench                            # ~1-2 min; writes benchmarks.{json,md}

Results go to ``experiments/benchmarks/results`` when this runs from a source checkout, else to
``./benchmark-results``; ``--out DIR`` chooses another folder. ``python -m experiments.benchmarks``
is the same suite.

Nothing is installed by this script; peers that are missing are reported as such.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.io import atomic_write, write_json

_CHECKOUT_RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "benchmarks" / "results"
# In a source checkout the committed results folder; from an installed package the working directory.
RESULTS = _CHECKOUT_RESULTS if _CHECKOUT_RESULTS.parent.is_dir() else Path("benchmark-results")


def _median_seconds(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---- training-step workloads (each returns a zero-argument closure doing fwd + bwd) ----------
def _spike_input(steps, batch, n_in, seed, device="cpu"):
    """Bernoulli(0.05) input spikes ``[T, B, N_in]`` (drawn on the CPU: same on every device)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, n_in, generator=g) < 0.05).float().to(device)


def ours(n_in, n_hidden, n_out, batch, steps, seed=0, reset_every=None, device="cpu"):
    """spiking-nr's training step; ``reset_every``: the ``segment`` reset policy, each lane's
    state zeroed at the start of every segment of that many steps (lanes at staggered offsets)."""
    model = SRNN(SRNNConfig.simple(n_in, (n_hidden,), n_out, seed=seed)).to(device)
    x = _spike_input(steps, batch, n_in, seed, device)
    reset = None
    if reset_every is not None:
        offsets = torch.arange(batch) * 7 % reset_every
        reset = ((torch.arange(steps).unsqueeze(1) + offsets) % reset_every == 0).to(device)

    def step():
        model.zero_grad(set_to_none=True)
        model(x, reset_mask=reset).output.sum().backward()
    return step


def ours_with_resets(n_in, n_hidden, n_out, batch, steps, seed=0):
    """The same step with segment resets every 50 steps (a reset-based baseline's training)."""
    return ours(n_in, n_hidden, n_out, batch, steps, seed, reset_every=50)


def plain_torch(n_in, n_hidden, n_out, batch, steps, seed=0, device="cpu"):
    """A hand-written ALIF step loop in plain torch (the usual research-code baseline)."""
    w_in = torch.nn.Linear(n_in, n_hidden, device=device)
    w_rec = torch.nn.Linear(n_hidden, n_hidden, bias=False, device=device)
    w_out = torch.nn.Linear(n_hidden, n_out, device=device)
    tau_m = torch.nn.Parameter(torch.full((n_hidden,), 20.0, device=device))
    tau_a = torch.nn.Parameter(torch.full((n_hidden,), 150.0, device=device))
    x = _spike_input(steps, batch, n_in, seed, device)
    params = [*w_in.parameters(), *w_rec.parameters(), *w_out.parameters(), tau_m, tau_a]

    def spike(v):
        s = (v > 0).float()
        return s.detach() + (v - v.detach()) * torch.exp(-2 * v.detach() ** 2)

    def step():
        for p in params:
            p.grad = None
        alpha, rho = torch.exp(-1 / tau_m), torch.exp(-1 / tau_a)
        u = b = s = torch.zeros(batch, n_hidden, device=device)
        outs = []
        for t in range(steps):
            b = rho * b + (1 - rho) * s
            th = 0.01 + 1.8 * b
            u = alpha * u + (1 - alpha) * (w_in(x[t]) + w_rec(s)) - th * s
            s = spike(u - th)
            outs.append(w_out(s))
        torch.stack(outs).sum().backward()
    return step


def norse_lsnn(n_in, n_hidden, n_out, batch, steps, seed=0, device="cpu"):
    import norse.torch as norse

    torch.manual_seed(seed)
    p = norse.LSNNParameters(
        tau_mem_inv=torch.nn.Parameter(torch.full((n_hidden,), 1 / 20.0, device=device)),
        tau_adapt_inv=torch.nn.Parameter(torch.full((n_hidden,), 1 / 150.0, device=device)))
    layer = norse.LSNNRecurrent(n_in, n_hidden, p=p, dt=1.0).to(device)
    readout = torch.nn.Linear(n_hidden, n_out, device=device)
    x = _spike_input(steps, batch, n_in, seed, device)

    def step():
        layer.zero_grad(set_to_none=True)
        readout(layer(x)[0]).sum().backward()
    return step


def snntorch_rleaky(n_in, n_hidden, n_out, batch, steps, seed=0):
    import snntorch as snn

    torch.manual_seed(seed)
    fc = torch.nn.Linear(n_in, n_hidden)
    lif = snn.RLeaky(beta=torch.full((n_hidden,), 0.95), linear_features=n_hidden, learn_beta=True)
    readout = torch.nn.Linear(n_hidden, n_out)
    x = (torch.rand(steps, batch, n_in) < 0.05).float()

    def step():
        for module in (fc, lif, readout):
            module.zero_grad(set_to_none=True)
        spk, mem = lif.reset_mem()
        drive = fc(x)
        outs = []
        for t in range(steps):
            spk, mem = lif(drive[t], spk, mem)
            outs.append(spk)
        readout(torch.stack(outs)).sum().backward()
    return step


WORKLOADS = {"spiking-nr SRNN": ours,
             "spiking-nr SRNN, segment resets every 50 steps": ours_with_resets,
             "plain torch ALIF loop": plain_torch,
             "norse LSNNRecurrent": norse_lsnn, "snntorch RLeaky (no adaptation)": snntorch_rleaky}


def activation_mib(step) -> float:
    """Bytes autograd saves for backward during one training step (distinct storages), in MiB."""
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(seen.values()) / 2**20


def gradient_error_vs_reference(args) -> float:
    """Largest relative gradient error (norm) of the fused layers against the autograd step loop."""
    n_in, n_hidden, n_out, batch, steps = args
    fused = SRNN(SRNNConfig.simple(n_in, (n_hidden,), n_out, seed=0))
    reference = SRNN(SRNNConfig.simple(n_in, (n_hidden,), n_out, seed=0, impl="reference"))
    reference.load_state_dict(fused.state_dict())
    x = (torch.rand(steps, batch, n_in, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    for model in (fused, reference):
        model(x).output.square().mean().backward()
    return max(float((a.grad - b.grad).norm() / b.grad.norm())
               for a, b in zip(fused.parameters(), reference.parameters()))


def kernel_breakdown(step, repeats: int) -> dict[str, float]:
    """Wall ms per training step in each fused kernel (every kernel runs through
    ``spiking_nr.fast._split``, wrapped here for the measurement and restored after)."""
    import spiking_nr.fast as fast

    totals: dict[str, float] = {}
    split = fast._split

    def timed_split(kernel, n, *args, **options):
        start = time.perf_counter()
        result = split(kernel, n, *args, **options)
        totals[kernel.__name__] = totals.get(kernel.__name__, 0.0) + time.perf_counter() - start
        return result

    fast._split = timed_split
    try:
        total = sum(_median_seconds(step, 1, warmup=0) for _ in range(repeats))
    finally:
        fast._split = split
    rows = {name: seconds / repeats * 1e3 for name, seconds in sorted(totals.items())}
    rows["total"] = total / repeats * 1e3
    return rows


def bench_training(quick: bool) -> dict:
    args = [700, 256, 20, 32, 250]
    repeats = 3 if quick else 9
    rows, steps = {}, {}
    for name, make in WORKLOADS.items():
        try:
            steps[name] = make(*args)
        except ImportError as exc:
            rows[name] = {"error": f"not installed: {exc}"}
            continue
        steps[name]()  # warm-up (numba compiles on first use)
    # Round-robin: every workload is timed once per round, so machine drift hits all alike.
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(_median_seconds(step, 1, warmup=0))
    for name in steps:
        rows[name] = {"seconds": statistics.median(times[name]),
                      "activation_mib": activation_mib(steps[name])}
        print(f"  train {name}: {rows[name]['seconds'] * 1e3:.0f} ms", flush=True)
    base = rows["spiking-nr SRNN"]["seconds"]
    for row in rows.values():
        if "seconds" in row:
            row["time_vs_spiking_nr"] = row["seconds"] / base
    error = gradient_error_vs_reference(args)
    print(f"  gradient relative error vs the autograd step loop: {error:.1e}", flush=True)
    breakdown = kernel_breakdown(steps["spiking-nr SRNN"], repeats)
    print(f"  spiking-nr kernels, ms per step: {breakdown}", flush=True)
    return {"config": dict(zip(["inputs", "hidden", "outputs", "batch", "steps"], args)),
            "rows": rows, "gradient_relative_error_vs_step_loop": error,
            "spiking_nr_kernel_ms_per_step": breakdown}


def bench_streaming(quick: bool) -> dict:
    from neuromorphic_export.cpu import CPUSimulator
    from neuromorphic_export.lava import lava_available, run_lava
    from spiking_nr.export import to_network_spec

    model = SRNN(SRNNConfig.simple(700, (256,), 20, seed=0)).eval()
    steps = 300 if quick else 2000
    x = (np.random.default_rng(0).random((steps, 700)) < 0.05).astype(np.float32)
    xt = torch.from_numpy(x)
    out: dict = {"steps": steps}
    with torch.no_grad():
        state = model(xt[:1, None]).state

        def torch_forward_steps():
            s = state
            for t in range(steps):
                s = model(xt[t:t + 1, None], s).state
        out["torch_forward_us_per_step"] = _median_seconds(torch_forward_steps, 3) / steps * 1e6
    stepper = model.stepper(batch=1, state=state)

    def torch_stepper_steps():
        for t in range(steps):
            stepper.step(xt[t:t + 1])
    out["torch_stepper_us_per_step"] = _median_seconds(torch_stepper_steps, 5) / steps * 1e6
    spec = to_network_spec(model, "fixed")
    sim = CPUSimulator(spec)
    sim.run(x[:2])
    x_bool = x.astype(bool)

    def cpu_steps():
        for t in range(steps):
            sim.step(x_bool[t])
    out["cpu_backend_us_per_step"] = _median_seconds(cpu_steps, 5) / steps * 1e6
    out["cpu_backend_us_per_step_in_one_call"] = _median_seconds(
        lambda: sim.run(x, record=()), 5) / steps * 1e6
    if lava_available():
        # Lava's run includes a ~1 s compile/start: the marginal cost per step is the difference
        # between a long and a short run.
        short = run_lava(spec, x[: steps // 10].astype(np.uint8), record_spikes=False)
        lava = run_lava(spec, x.astype(np.uint8))
        fresh = CPUSimulator(spec)
        stepped = np.stack([fresh.step(x_bool[t]) for t in range(steps)])
        reference = CPUSimulator(spec).run(x, record=("spikes",))
        out["lava_seconds_including_start"] = lava.seconds
        out["lava_us_per_step"] = (lava.seconds - short.seconds) / (steps - steps // 10) * 1e6
        out["lava_spikes_identical_to_cpu_backend"] = bool(
            np.array_equal(lava.spikes[0], reference.spikes[0][:, 0])
            and np.array_equal(stepped, reference.output))
        out["cpu_backend_speedup_vs_lava"] = out["lava_us_per_step"] / out["cpu_backend_us_per_step"]
    for key, value in out.items():
        print(f"  stream {key}: {value}", flush=True)
    return out


def _tbptt_child(total_steps: int) -> None:
    from spiking_nr.train import TrainConfig, Trainer

    torch.set_num_threads(2)

    class Chunk:
        def __init__(self, rng):
            self.inputs = (rng.random((1000, 4, 16)) < 0.1).astype(np.float32)
            self.target = rng.integers(-1, 4, (1000, 4))
            self.informative = self.target >= 0
            self.segment_start = np.zeros((1000, 4), bool)

    def source():
        rng = np.random.default_rng(0)
        while True:
            yield Chunk(rng)

    trainer = Trainer(SRNN(SRNNConfig.simple(16, (64,), 4)), source, TrainConfig(tbptt_window=100))
    trainer.fit(total_steps // 1000, progress=False)
    print(json.dumps({"max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_tbptt_memory(quick: bool) -> dict:
    lengths = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    out = {}
    for n in lengths:
        code = f"from spiking_nr.benchmarks import _tbptt_child; _tbptt_child({n})"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1200)
        out[str(n)] = json.loads(done.stdout.strip().splitlines()[-1])["max_rss_mib"]
        print(f"  tbptt {n} steps: max RSS {out[str(n)]:.0f} MiB", flush=True)
    return {"window": 100, "network": "16 -> 64 ALIF -> 4, batch 4", "max_rss_mib_by_steps": out}


def bench_scaling(quick: bool) -> dict:
    sizes = [64, 256, 1024] if quick else [64, 256, 1024, 4096]
    lengths = [50, 250] if quick else [50, 250, 1000]
    by_size = {str(h): _median_seconds(ours(700, h, 20, 32, 50), 2) / 50 * 1e3 for h in sizes}
    by_steps = {str(t): _median_seconds(ours(700, 256, 20, 32, t), 2) / t * 1e3 for t in lengths}
    print(f"  scaling ms/step by hidden {by_size}; by T {by_steps}", flush=True)
    return {"ms_per_step_by_hidden (T=50, B=32)": by_size, "ms_per_step_by_T (H=256, B=32)": by_steps}


# ---- GPU: the same training step on a CUDA device, three sizes, three implementations ---------
GPU_CONFIGS = {  # name -> (inputs, hidden, outputs, batch, steps)
    "reference": (700, 256, 20, 32, 250),
    "wide": (700, 1024, 20, 256, 250),
    "long": (700, 256, 20, 32, 2000),
}
GPU_WORKLOADS = {"spiking_nr": ours, "norse": norse_lsnn, "plain": plain_torch}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_gpu(quick: bool, device: str = "cuda", configs: dict | None = None) -> dict | None:
    """Median seconds of one forward + backward and peak memory per implementation and
    configuration on ``device``, all in this process; None (with a message) without CUDA.
    ``configs`` overrides :data:`GPU_CONFIGS` (tests run a tiny one on the CPU)."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("GPU benchmark skipped: no CUDA device here (torch.cuda.is_available() is False); "
              "scripts/gpu_check.sh runs it on a GPU machine", flush=True)
        return None
    repeats = 3 if quick else 9
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{dev.type} (no GPU)"
    out: dict = {"device": name, "torch": torch.__version__, "repeats": repeats, "configs": {}}
    if dev.type == "cuda":
        from spiking_nr import fast_gpu

        out["spiking_nr_path"] = "fast_gpu (Triton)" if fast_gpu.gpu_supported(
            torch.empty(0, device=dev)) else "reference step loop (triton missing)"
    for config, args in (configs or GPU_CONFIGS).items():
        row: dict = dict(zip(["inputs", "hidden", "outputs", "batch", "steps"], args))
        for label, make in GPU_WORKLOADS.items():
            try:
                step = make(*args, device=dev)
            except ImportError as exc:
                row[f"{label}_s"] = None
                row[f"{label}_error"] = f"not installed: {exc}"
                continue

            def timed(step=step):
                step()
                _synchronize(dev)
            timed()  # warm-up: kernels compile, the allocator fills
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
                base = torch.cuda.memory_allocated(dev)
            row[f"{label}_s"] = _median_seconds(timed, repeats, warmup=1)
            row[f"{label}_peak_mib"] = ((torch.cuda.max_memory_allocated(dev) - base) / 2**20
                                        if dev.type == "cuda" else None)
            print(f"  gpu {config} {label}: {row[f'{label}_s'] * 1e3:.1f} ms", flush=True)
            del step
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        out["configs"][config] = row
    return out


def gpu_markdown(results: dict) -> str:
    lines = [f"Device: {results['device']}, torch {results['torch']}; spiking-nr path: "
             f"{results.get('spiking_nr_path', 'n/a')}. Command: `{results['command']}`. "
             f"Median of {results['repeats']} forward + backward steps after warm-up; peak memory "
             "is the allocator's peak above what was allocated before the step.", "",
             "| configuration | spiking-nr | norse LSNNRecurrent | plain torch loop | peak MiB "
             "(spiking-nr / norse / plain) |", "|---|---:|---:|---:|---:|"]

    def ms(value):
        return "not run" if value is None else f"{value * 1e3:.1f} ms"

    def mib(value):
        return "n/a" if value is None else f"{value:.0f}"

    for config, row in results["configs"].items():
        size = f"{config} (B {row['batch']}, N {row['hidden']}, T {row['steps']})"
        peaks = " / ".join(mib(row.get(f"{k}_peak_mib")) for k in GPU_WORKLOADS)
        lines.append(f"| {size} | {ms(row['spiking_nr_s'])} | {ms(row['norse_s'])} | "
                     f"{ms(row['plain_s'])} | {peaks} |")
    return "\n".join(lines) + "\n"


def write_gpu_results(results: dict, out: Path, suffix: str = "") -> None:
    write_json(out / f"benchmarks_gpu{suffix}.json", results)
    with atomic_write(out / f"benchmarks_gpu{suffix}.md", "w") as handle:
        handle.write(gpu_markdown(results))


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['cpu']}, {m['threads']} torch threads, torch {m['torch']}, "
             f"python {m['python']}. Command: `{results['command']}`.", "",
             "| training step (700 -> 256 ALIF -> 20, B=32, T=250) | median | vs spiking-nr | activations |",
             "|---|---:|---:|---:|"]
    error = results["training"].get("gradient_relative_error_vs_step_loop")
    for name, row in results["training"]["rows"].items():
        if "seconds" not in row:
            lines.append(f"| {name} | {row['error']} | | |")
            continue
        mem = f"{row['activation_mib']:.0f} MiB"
        lines.append(f"| {name} | {row['seconds'] * 1e3:.0f} ms | {row['time_vs_spiking_nr']:.2f}x | {mem} |")
    if error is not None:
        lines += ["", f"Gradients of the fused layers vs the autograd step loop: largest relative "
                      f"error {error:.1e} (float32)."]
    breakdown = results["training"].get("spiking_nr_kernel_ms_per_step")
    if breakdown:
        parts = ", ".join(f"`{name}` {ms:.1f}" for name, ms in breakdown.items() if name != "total")
        lines += ["", f"spiking-nr step ({breakdown['total']:.0f} ms) by kernel, wall ms: {parts}; "
                      "the rest is torch."]
    s = results["streaming"]
    lines += ["", "| streaming, batch 1, one step per call (700 -> 256 -> 20) | us per step |", "|---|---:|",
              f"| torch `SRNN.forward` per step (no autograd) | {s['torch_forward_us_per_step']:.1f} |",
              f"| torch `SRNN.stepper().step` | {s['torch_stepper_us_per_step']:.1f} |",
              f"| CPU backend `CPUSimulator.step` (fixed point) | {s['cpu_backend_us_per_step']:.1f} |",
              f"| CPU backend, whole stream in one call | {s['cpu_backend_us_per_step_in_one_call']:.1f} |"]
    if "lava_us_per_step" in s:
        lines.append(f"| Lava Loihi2SimCfg fixed_pt, marginal per step (identical spikes: "
                     f"{s['lava_spikes_identical_to_cpu_backend']}) | {s['lava_us_per_step']:.0f} |")
        lines.append(f"| CPU backend `step` speed-up over Lava | {s['cpu_backend_speedup_vs_lava']:.0f}x |")
    tb = results["tbptt_memory"]["max_rss_mib_by_steps"]
    lines += ["", "| TBPTT (window 100) stream length | max RSS |", "|---|---:|"]
    lines += [f"| {int(k):,} steps | {v:.0f} MiB |" for k, v in tb.items()]
    sc = results["scaling"]
    lines += ["", "| hidden size (T=50, B=32) | ms per step (fwd+bwd) |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in sc["ms_per_step_by_hidden (T=50, B=32)"].items()]
    lines += ["", "| T (H=256, B=32) | ms per step (fwd+bwd) |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in sc["ms_per_step_by_T (H=256, B=32)"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    parser.add_argument("--out", default=str(RESULTS), help="folder for benchmarks.json/.md")
    parser.add_argument("--gpu-only", action="store_true",
                        help="only the GPU part (benchmarks_gpu.json/.md; needs CUDA)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.gpu_only:
        gpu = bench_gpu(args.quick)
        if gpu is None:
            raise SystemExit("error: --gpu-only needs a CUDA device; none is available here")
        gpu["command"] = "spiking-nr bench --gpu-only" + (
            " --quick" if args.quick else "")
        write_gpu_results(gpu, out, "_quick" if args.quick else "")
        print(gpu_markdown(gpu))
        return gpu
    torch.set_num_threads(2)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    results = {"command": "spiking-nr bench" + (" --quick" if args.quick else ""),
               "machine": {"cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__,
                           "python": platform.python_version()}}
    print("training step ...", flush=True)
    results["training"] = bench_training(args.quick)
    print("streaming ...", flush=True)
    results["streaming"] = bench_streaming(args.quick)
    print("truncated BPTT memory ...", flush=True)
    results["tbptt_memory"] = bench_tbptt_memory(args.quick)
    print("scaling ...", flush=True)
    results["scaling"] = bench_scaling(args.quick)
    suffix = "_quick" if args.quick else ""
    write_json(out / f"benchmarks{suffix}.json", results)
    table = markdown(results)
    with atomic_write(out / f"benchmarks{suffix}.md", "w") as handle:
        handle.write(table)
    print(table)
    print("GPU ...", flush=True)
    gpu = bench_gpu(args.quick)
    if gpu is not None:
        gpu["command"] = results["command"]
        write_gpu_results(gpu, out, suffix)
        print(gpu_markdown(gpu))
    return results


if __name__ == "__main__":
    main()
