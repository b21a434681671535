"""The benchmark suite's helpers (the timings themselves are not asserted: machines are noisy)."""

import spiking_nr.fast as fast
from experiments.benchmarks.run import activation_mib, kernel_breakdown, ours


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
