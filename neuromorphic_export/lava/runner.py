"""Run a :class:`NetworkSpec` in Lava (``Loihi2SimCfg``), batch 1.

Graph: ``RingBuffer`` source -> ``Dense`` -> spiking layer (+ recurrent ``Dense``) -> ... ->
``Dense`` -> ``LeakyReadout``; the spiking layer is the package's ``YinALIF`` (``alif_yin``) or
lava-nc's own ``LIF`` (``cuba_lif``) or ``ATRLIF`` (``atrlif``). Every ``Dense`` delays by one
step, exactly as the spec's timing.
Fixed-point networks run with ``select_tag="fixed_pt"``, float ones with ``"floating_pt"``.
Spikes and readout values come back through :class:`ArrayRecorder` processes that write one
``.npy`` file each at the last step (``Var.get`` costs ~14 us per value).

Cleanup: Lava runs each process model, its runtime service and its managers in forked processes
that share ``/dev/shm`` segments. The runtime is always stopped, also on errors; on top of that

* SIGTERM during a run raises :class:`LavaTerminated` (a ``SystemExit``, exit code 143) in the
  caller after every Lava process is stopped and the shared memory released;
* every process forked during a run gets a parent-death signal (Linux ``PR_SET_PDEATHSIG``,
  SIGKILL): if the caller is killed outright, its Lava processes die with it and Python's resource
  tracker unlinks their shared memory;
* a watchdog thread polls the Lava processes: if one exits during the run (an exception in a
  process model, a failed recording write), the run stops with :class:`LavaRunError` within about
  a second instead of waiting forever (lava-nc issue 231).

The signal handling needs the main thread (Python delivers signals there); from another thread
the run has the parent-death signal but no SIGTERM handler or watchdog interruption.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuromorphic_export.lava.compat import ensure_lava_importable
from neuromorphic_export.spec import DECAY_ONE, LayerSpec, NetworkSpec


class LavaRunError(RuntimeError):
    """A Lava process failed during a run (the run was stopped and cleaned up)."""


class LavaTerminated(SystemExit):
    """SIGTERM arrived during a Lava run; raised after the run was stopped and cleaned up."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
_WAKE_SIGNAL = signal.SIGUSR1  # the watchdog interrupts the main thread's blocking wait with it
_active_runs = 0  # > 0 while run_lava runs in this process (inherited by forked children)
_forking_pid = 0


def _before_fork() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _after_fork_in_child() -> None:
    """In a process Lava forks during a run: die with the parent, keep default signal handling."""
    if _active_runs <= 0:
        return
    for sig in (signal.SIGTERM, _WAKE_SIGNAL):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0 \
                and os.getppid() != _forking_pid:
            os._exit(1)  # the parent died before the death signal was armed


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _actors(source) -> list:
    runtime = getattr(source, "_runtime", None)
    infra = getattr(runtime, "_messaging_infrastructure", None)
    return list(getattr(infra, "actors", None) or [])


def _exit_code(actor) -> int | None:
    try:
        return actor.exitcode
    except (ValueError, AssertionError):  # closed, or not our child
        return None


class _Watchdog(threading.Thread):
    """Polls the Lava processes; if one exits mid-run, records why and wakes the main thread."""

    def __init__(self, source, main_thread: int, poll_s: float = 0.2) -> None:
        super().__init__(name="lava-watchdog", daemon=True)
        self.source, self.main_thread, self.poll_s = source, main_thread, poll_s
        self.failure: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.poll_s):
            dead = [a for a in _actors(self.source) if _exit_code(a) is not None]
            if dead:
                self.failure = _describe_failure(dead)
                if not self.done.is_set():
                    signal.pthread_kill(self.main_thread, _WAKE_SIGNAL)
                return


def _actor_error(actor) -> str:
    """``Type: message`` of the exception a Lava process reported, or ''."""
    with contextlib.suppress(Exception):
        error = actor.exception
        if error:
            return f"{type(error[0]).__name__}: {error[0]}"
    return ""


def _describe_failure(dead: list) -> str:
    errors = [e for e in map(_actor_error, dead) if e]
    reason = f": {errors[0]}" if errors else ""
    codes = sorted({_exit_code(a) for a in dead}, key=str)
    return (f"{len(dead)} Lava process(es) exited during the run (exit codes {codes}){reason}; "
            "the run was stopped")


def _force_stop(source, timeout_s: float = 5.0) -> None:
    """Stop every Lava process and release the shared memory without talking to the runtime
    (which may wait forever for a process that is gone)."""
    runtime = getattr(source, "_runtime", None)
    for actor in _actors(source):
        with contextlib.suppress(Exception):
            if _exit_code(actor) is None:
                actor.kill()
            multiprocessing.Process.join(actor, timeout_s)  # lava's own join has no timeout
    infra = getattr(runtime, "_messaging_infrastructure", None)
    with contextlib.suppress(Exception):
        if infra is not None and infra.smm is not None:
            infra.smm.shutdown()  # the manager unlinks its /dev/shm segments
    with contextlib.suppress(Exception):
        if runtime is not None and runtime._watchdog_manager is not None:
            runtime._watchdog_manager.stop()
    if runtime is not None:
        runtime._is_started = runtime._is_running = False


@contextlib.contextmanager
def _guarded_run(source) -> Iterator[_Watchdog | None]:
    """Arm the parent-death signal for Lava's children; in the main thread also a SIGTERM handler
    and the watchdog. Cleans up on every exit path."""
    global _active_runs
    in_main = threading.current_thread() is threading.main_thread()
    watchdog = _Watchdog(source, threading.get_ident()) if in_main else None
    state = {"running": True}

    def on_term(signum, frame):
        if state["running"]:
            raise LavaTerminated()

    def on_wake(signum, frame):
        if state["running"] and watchdog is not None and watchdog.failure:
            raise LavaRunError(watchdog.failure)

    previous = {}
    if in_main:
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_term),
                    _WAKE_SIGNAL: signal.signal(_WAKE_SIGNAL, on_wake)}
    _active_runs += 1
    ok = False
    try:
        if watchdog is not None:
            watchdog.start()
        yield watchdog
        ok = True
    finally:
        state["running"] = False
        if watchdog is not None:
            watchdog.done.set()
            watchdog.join()
        try:
            if ok:
                source.stop()
            else:
                _force_stop(source)
        finally:
            _active_runs -= 1
            for sig, handler in previous.items():
                signal.signal(sig, handler)


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
    if x.dtype.kind not in "biuf":
        raise ValueError(f"input spikes must be numeric (0/1), got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise ValueError(f"input contains {int((~np.isfinite(x)).sum())} NaN/inf value(s); "
                         "expected finite values")
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
        with _guarded_run(source) as watchdog:
            try:
                source.run(condition=RunSteps(num_steps=n_steps), run_cfg=run_cfg)
                final_voltage = [np.asarray(_voltage(n).get()) for n in neurons[:-1]]
            except RuntimeError as exc:  # lava's own report ("N Exception(s) occurred")
                if isinstance(exc, LavaRunError):
                    raise
                failed = [a for a in _actors(source) if _actor_error(a)]
                reason = _actor_error(failed[0]) if failed else str(exc)
                raise LavaRunError(f"the Lava run failed: {reason}") from None
            if watchdog is not None and watchdog.failure:
                raise LavaRunError(watchdog.failure)
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
