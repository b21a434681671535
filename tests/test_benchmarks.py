"""The benchmark suite's helpers (the timings themselves are not asserted: machines are noisy)."""

import json

import torch

import spiking_nr.fast as fast
from spiking_nr.benchmarks import (
    activation_mib,
    bench_gpu,
    gpu_markdown,
    kernel_breakdown,
    ours,
    write_gpu_results,
)


def test_kernel_breakdown_sees_every_fused_kernel_and_restores_the_dispatcher():
    split = fast._split
    step = ours(20, 16, 3, 2, 10)
    step()
    breakdown = kernel_breakdown(step, repeats=2)
    assert fast._split is split
    for name in ("_alif_forward", "_alif_surrogates", "_alif_backward", "_masked_outer",
                 "_leaky_forward", "total"):
        assert breakdown[name] > 0, name
    assert sum(v for k, v in breakdown.items() if k != "total") <= breakdown["total"] * 1.05


def test_activation_memory_counts_saved_tensors():
    assert activation_mib(ours(20, 16, 3, 2, 10)) > 0


def test_bench_works_from_an_installed_package_without_experiments(tmp_path):
    """``spiking-nr bench`` must not need the source checkout's ``experiments/`` folder."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    site = tmp_path / "site"
    for package in ("spiking_nr", "neuromorphic_export"):
        shutil.copytree(root / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    code = ("import sys; import spiking_nr.benchmarks as b; from spiking_nr.cli import build_parser; "
            "a = build_parser().parse_args(['bench', '--quick', '--out', 'x']); "
            "assert a.func.__name__ == 'cmd_bench' and a.out == 'x'; "
            "assert not any(m.startswith('experiments') for m in sys.modules), 'imports experiments'; "
            "print(b.RESULTS)")
    done = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(site)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "benchmark-results"


def test_gpu_benchmark_result_structure_on_a_tiny_cpu_run(tmp_path, capsys):
    """The GPU part's code path, run on CPU tensors at a tiny size: every implementation is
    timed per configuration and the result files carry the fields the README reads."""
    results = bench_gpu(quick=True, device="cpu", configs={"reference": (20, 16, 3, 2, 6)})
    results["command"] = "test"
    row = results["configs"]["reference"]
    assert results["device"] == "cpu (no GPU)"
    for key in ("spiking_nr_s", "norse_s", "plain_s"):
        assert row[key] is not None and row[key] > 0, key
        assert key.replace("_s", "_peak_mib") in row
    write_gpu_results(results, tmp_path)
    assert json.loads((tmp_path / "benchmarks_gpu.json").read_text())["configs"]["reference"] == row
    assert "| reference (B 2, N 16, T 6) |" in gpu_markdown(results)
    if not torch.cuda.is_available():  # without CUDA the GPU part says so and writes nothing
        assert bench_gpu(quick=True, device="cuda") is None
        assert "GPU benchmark skipped: no CUDA device" in capsys.readouterr().out
