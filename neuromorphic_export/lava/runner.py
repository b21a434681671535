"""Run a :class:`NetworkSpec` in Lava (``Loihi2SimCfg``), batch 1.

Graph: ``RingBuffer`` source -> ``Dense`` -> spiking layer (+ recurrent ``Dense``) -> ... ->
``Dense`` -> ``LeakyReadout``; the spiking layer is the package's ``YinALIF`` (``alif_yin``) or
lava-nc's own ``LIF`` (``cuba_lif``) or ``ATRLIF`` (``atrlif``). Every ``Dense`` delays by one
step, exactly as the spec's timing.
Fixed-point networks run with ``select_tag="fixed_pt"``, float ones with ``"floating_pt"``.
Spikes and readout values come back through :class:`ArrayRecorder` processes that write one
``.npy`` file each at the last step (``Var.get`` costs ~14 us per value). The runtime is always
stopped, also on errors.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuromorphic_export.lava.compat import ensure_lava_importable
from neuromorphic_export.spec import DECAY_ONE, LayerSpec, NetworkSpec


@dataclass
class LavaResult:
    """``output [T, C]`` raw readout values (int state units in fixed mode); ``spikes`` per hidden
    layer ``[T, N]``; final voltages. :attr:`values`: the readout in physical units ``[T, C]``
    (the same as the CPU backend's ``SimulationResult.values`` for an unbatched input)."""

    output: np.ndarray
    spikes: list[np.ndarray] = field(default_factory=list)
    final_voltage: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    scale: float = 1.0  # the readout's state units per physical unit

    @property
    def values(self) -> np.ndarray:
        """Readout in physical units ``[T, C]``, float64."""
        return self.output / self.scale

    def output_float(self, spec: NetworkSpec) -> np.ndarray:
        return self.output / spec.layers[-1].scale


def _spiking_process(layer: LayerSpec, fixed: bool):
    """The Lava process of one spiking layer: the package's ``YinALIF`` or lava-nc's own ``LIF`` /
    ``ATRLIF`` with the spec's parameters translated to lava's conventions.

    lava's fixed LIF/ATRLIF add 1 to the current decay (``du_lava = du - 1``) and take the bias as
    ``bias_mant << bias_exp`` (``bias_exp = 6``); ATRLIF's fixed model multiplies its decays by 4096,
    so they are passed as fractions ``d / 4096`` (exact in float64).
    """
    shape = (layer.size,)
    p = layer.params
    if layer.model == "alif_yin":
        from neuromorphic_export.lava.processes.process import YinALIF

        dtype = np.int64 if fixed else np.float64
        return YinALIF(shape=shape, bias=layer.bias.astype(dtype), trace_bits=layer.trace_bits,
                       bias_delay=layer.bias_delay, **{k: v.astype(dtype) for k, v in p.items()})
    one = {key: value[0].item() for key, value in p.items()}  # layer-wide (validated uniform)
    bias = {"bias_mant": layer.bias.astype(np.int32), "bias_exp": np.full(shape, 6)} if fixed else {
        "bias_mant": layer.bias.astype(np.float64)}
    if layer.model == "cuba_lif":
        from lava.proc.lif.process import LIF

        if fixed:
            return LIF(shape=shape, du=int(one["du"]) - 1, dv=int(one["dv"]), vth=int(one["vth"]), **bias)
        return LIF(shape=shape, du=float(one["du"]), dv=float(one["dv"]), vth=float(one["vth"]), **bias)
    from lava.proc.atrlif.process import ATRLIF

    if fixed:
        unit = float(DECAY_ONE)
        return ATRLIF(shape=shape, delta_i=(one["di"] - 1) / unit, delta_v=one["dv"] / unit,
                      delta_theta=one["dth"] / unit, delta_r=one["dr"] / unit,
                      theta_0=int(one["th0"]), theta_step=int(one["th_step"]),
                      theta=np.full(shape, int(one["th0"]) << 6), **bias)
    return ATRLIF(shape=shape, delta_i=float(one["di"]), delta_v=float(one["dv"]),
                  delta_theta=float(one["dth"]), delta_r=float(one["dr"]), theta_0=float(one["th0"]),
                  theta_step=float(one["th_step"]), theta=np.full(shape, float(one["th0"])), **bias)


def _voltage(process):
    """The membrane-voltage Var: ``u`` of the package's processes, ``v`` of lava's LIF/ATRLIF."""
    return process.v if hasattr(process, "v") else process.u


def run_lava(spec: NetworkSpec, spikes: np.ndarray, record_spikes: bool = True) -> LavaResult:
    """Run ``spikes [T, N_in]`` (binary) through ``spec`` in Lava's CPU simulator from rest."""
    ensure_lava_importable()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer as SpikeSource

    from neuromorphic_export.lava.processes.process import ArrayRecorder, LeakyReadout

    x = np.asarray(spikes)
    if x.ndim != 2 or x.shape[1] != spec.input_size:
        raise ValueError(f"Lava runs batch 1: spikes must be [T, {spec.input_size}], got {x.shape}")
    if x.size and not np.all((x == 0) | (x == 1)):
        raise ValueError("inputs must be binary spikes (0/1)")
    n_steps = int(x.shape[0])
    if n_steps == 0:
        raise ValueError("need at least one step")
    fixed = spec.mode == "fixed"
    dtype = np.int64 if fixed else np.float64

    with tempfile.TemporaryDirectory(prefix="spiking-nr-lava-") as tmp:
        source = SpikeSource(data=x.T.astype(np.int32 if fixed else float))
        previous_port = source.s_out
        neurons, recorders = [], []
        for index, layer in enumerate(spec.layers):
            dense = Dense(weights=layer.weight.astype(dtype), num_message_bits=0)
            previous_port.connect(dense.s_in)
            if layer.spiking:
                neuron = _spiking_process(layer, fixed)
                if layer.weight_rec is not None:
                    rec = Dense(weights=layer.weight_rec.astype(dtype), num_message_bits=0)
                    neuron.s_out.connect(rec.s_in)
                    rec.a_out.connect(neuron.a_in)
                out_port = neuron.s_out
            else:
                p = {k: v.astype(dtype) for k, v in layer.params.items()}
                neuron = LeakyReadout(shape=(layer.size,), bias=layer.bias.astype(dtype),
                                      bias_delay=layer.bias_delay, **p)
                out_port = neuron.y_out
            dense.a_out.connect(neuron.a_in)
            if record_spikes or not layer.spiking:
                recorder = ArrayRecorder(shape=(layer.size,), num_steps=n_steps,
                                         path=str(Path(tmp) / f"layer{index}.npy"))
                out_port.connect(recorder.in_port)
                recorders.append((index, recorder))
            neurons.append(neuron)
            previous_port = out_port

        run_cfg = Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt")
        start = time.perf_counter()
        try:
            source.run(condition=RunSteps(num_steps=n_steps), run_cfg=run_cfg)
            final_voltage = [np.asarray(_voltage(n).get()) for n in neurons[:-1]]
        finally:
            source.stop()
        seconds = time.perf_counter() - start
        traces = {index: np.load(Path(tmp) / f"layer{index}.npy") for index, _ in recorders}

    last = len(spec.layers) - 1
    return LavaResult(
        output=traces[last].astype(dtype),
        spikes=[traces[i].astype(np.uint8) for i in range(last) if i in traces],
        final_voltage=[v.astype(dtype) for v in final_voltage],
        seconds=seconds,
        scale=float(spec.layers[-1].scale),
    )
