"""Float vs fixed point on random ALIF networks: decisions and spike counts, 12-bit vs wide trace.

Random recurrent ``alif_yin`` networks (``neuromorphic_export.build.random_network``: tau_m from
alpha in [0.8, 0.97], biases N(0, 0.002^2)) with adaptation time constants drawn log-uniformly from
a range, driven by random binary input (density 0.2, batch 4, SYNTHETIC input: Bernoulli spikes)
on the CPU backend. Per network: the fraction of steps at which the fixed-point readout's argmax
equals the float readout's, and the first layer's spike count, for the fixed point written by
this version (24-bit rho, 39-bit adaptation trace) and for the version-2 representation (12-bit
rho and trace: the same network with ``trace_bits = 12``, ``rho`` rounded to 12 bits). To separate
the integer dynamics from the 8-bit weights, the wide-trace fixed network is also compared with
the float network that has exactly its weights, biases and parameters (``dequantized``).

    python -m experiments.fixed_point_agreement          # ~1 min on 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from neuromorphic_export.build import random_network
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.quantize import quantize_network
from neuromorphic_export.spec import DECAY_ONE, RHO_ONE, NetworkSpec
from spiking_nr.io import write_json

CONFIGS = [  # (input, hidden sizes, output, tau_adapt range)
    (40, (32,), 8, (20, 200)),
    (40, (32,), 8, (150, 2000)),
    (40, (64, 64), 8, (150, 2000)),
    (100, (128,), 10, (600, 2000)),
]


def with_taus(spec: NetworkSpec, low: float, high: float, seed: int) -> NetworkSpec:
    """``spec`` (float) with every hidden neuron's rho = exp(-1/tau), tau log-uniform in [low, high]."""
    rng = np.random.default_rng(seed + 1000)
    layers = []
    for layer in spec.layers:
        if layer.model == "alif_yin":
            tau = np.exp(rng.uniform(np.log(low), np.log(high), layer.size))
            layer = dataclasses.replace(layer, params={**layer.params, "rho": np.exp(-1.0 / tau)})
        layers.append(layer)
    return NetworkSpec(spec.input_size, tuple(layers), "float", spec.metadata)


def twelve_bit(fixed: NetworkSpec) -> NetworkSpec:
    """The version-2 representation of a fixed-point network: 12-bit rho and adaptation trace."""
    layers = tuple(
        dataclasses.replace(layer, trace_bits=12, params={
            **layer.params, "rho": np.minimum((layer.params["rho"] + 2048) >> 12, 4096) << 12})
        if layer.model == "alif_yin" else layer for layer in fixed.layers)
    return NetworkSpec(fixed.input_size, layers, "fixed", fixed.metadata)


def dequantized(fixed: NetworkSpec) -> NetworkSpec:
    """The float network with exactly the fixed network's weights, biases and parameters."""
    layers = []
    for layer in fixed.layers:
        s_w = layer.scale / 64.0
        p = layer.params
        params = {"alpha": p["alpha"] / DECAY_ONE}
        if layer.model == "alif_yin":
            params.update(rho=p["rho"] / RHO_ONE, b0=p["b0"] / layer.scale, beta=p["beta"] / layer.scale)
        layers.append(dataclasses.replace(
            layer, weight=layer.weight / s_w, bias=layer.bias / s_w, params=params, scale=1.0,
            weight_rec=None if layer.weight_rec is None else layer.weight_rec / s_w))
    return NetworkSpec(fixed.input_size, tuple(layers), "float", fixed.metadata)


def compare(float_spec: NetworkSpec, fixed_spec: NetworkSpec, x: np.ndarray) -> dict:
    ref = CPUSimulator(float_spec).run(x, record=("spikes",))
    got = CPUSimulator(fixed_spec).run(x, record=("spikes",))
    skip = float_spec.latency  # before the input reaches the readout both are at rest
    agree = np.mean(ref.output[skip:].argmax(-1) == got.output[skip:].argmax(-1))
    return {"argmax_agreement": float(agree), "float_spikes_layer0": int(ref.spikes[0].sum()),
            "fixed_spikes_layer0": int(got.spikes[0].sum()),
            "identical_spike_entries_layer0": float(np.mean(ref.spikes[0] == got.spikes[0]))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="experiments/results/fixed_point")
    args = parser.parse_args(argv)
    rows = []
    for n_in, sizes, n_out, (low, high) in CONFIGS:
        for seed in range(args.seeds):
            spec = with_taus(random_network("alif_yin", n_in, sizes, n_out, mode="float", seed=seed),
                             low, high, seed)
            x = (np.random.default_rng(seed).random((args.steps, 4, n_in)) < 0.2).astype(np.uint8)
            fixed = quantize_network(spec)
            row = {"network": f"{n_in}->{'->'.join(map(str, sizes))}->{n_out}", "seed": seed,
                   "tau_adapt_range": [low, high], "wide_trace": compare(spec, fixed, x),
                   "twelve_bit_trace": compare(spec, twelve_bit(fixed), x),
                   "wide_trace_vs_dequantized": compare(dequantized(fixed), fixed, x)}
            rows.append(row)
            print(f"{row['network']:>16} tau {low}-{high} seed {seed}: argmax agreement "
                  f"{row['twelve_bit_trace']['argmax_agreement']:.3f} (12-bit trace) -> "
                  f"{row['wide_trace']['argmax_agreement']:.3f} (39-bit); layer-0 spikes float "
                  f"{row['wide_trace']['float_spikes_layer0']}, fixed "
                  f"{row['twelve_bit_trace']['fixed_spikes_layer0']} -> "
                  f"{row['wide_trace']['fixed_spikes_layer0']}; vs the float network with the "
                  f"same 8-bit weights: {row['wide_trace_vs_dequantized']['argmax_agreement']:.3f}")
    summary = {key: [min(r[key]["argmax_agreement"] for r in rows),
                     max(r[key]["argmax_agreement"] for r in rows)]
               for key in ("twelve_bit_trace", "wide_trace", "wide_trace_vs_dequantized")}
    result = {"data": "SYNTHETIC: Bernoulli(0.2) input spikes, batch 4", "steps": args.steps,
              "rows": rows, "argmax_agreement_range": summary}
    write_json(f"{args.out}/agreement.json", result)
    print(f"argmax agreement range: 12-bit trace {summary['twelve_bit_trace']}, "
          f"39-bit trace {summary['wide_trace']}, 39-bit trace vs float with the same weights "
          f"{summary['wide_trace_vs_dequantized']}")
    return result


if __name__ == "__main__":
    main()
