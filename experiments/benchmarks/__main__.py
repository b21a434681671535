"""``python -m experiments.benchmarks [--quick]``: the benchmark suite (``spiking_nr.benchmarks``),
the same as ``spiking-nr bench``; results in ``experiments/benchmarks/results``."""

from spiking_nr.benchmarks import main

if __name__ == "__main__":
    main()
