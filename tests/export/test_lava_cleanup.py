"""A Lava run never leaves processes or shared memory behind, and a failure inside it never hangs.

``spiking-nr simulate --backend lava`` is started in its own session, signalled mid-run, and every
process of that session plus every ``/dev/shm`` segment its processes had mapped is counted
afterwards (both must be 0). Failures inside a process model run in a subprocess with a timeout,
so a regression shows up as a failed test, not as a hung suite.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neuromorphic_export.io import save_network
from neuromorphic_export.lava import lava_available
from spiking_nr import SRNN, SRNNConfig
from spiking_nr.export import to_network_spec

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
              pytest.mark.skipif(not lava_available(), reason="lava-nc is not installed")]
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry))
    return pids


def _shm_segments(pids: list[int]) -> set[str]:
    names = set()
    for pid in pids:
        try:
            names |= set(re.findall(r"/dev/shm/(\S+)", Path(f"/proc/{pid}/maps").read_text()))
        except OSError:
            continue
    return names


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("lava")
    torch.manual_seed(0)
    save_network(to_network_spec(SRNN(SRNNConfig.simple(28, (16,), 5)), "fixed"), tmp / "n.h5")
    spikes = (np.random.default_rng(0).random((200_000, 28)) < 0.1).astype(np.uint8)
    np.save(tmp / "x.npy", spikes)
    return tmp / "n.h5", tmp / "x.npy"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_lava_run_leaves_no_process_and_no_shared_memory(sig, network, tmp_path):
    net, spikes = network
    with open(tmp_path / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "spiking_nr.cli", "simulate", str(net), "--backend", "lava",
             "--steps", "200000", "--input", str(spikes)],
            env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr)
    sid, seen, running_since = proc.pid, set(), None
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            pids = _session_pids(sid)
            seen |= _shm_segments(pids)
            if len(pids) > 5 and running_since is None:
                running_since = time.monotonic()  # Lava's processes are up: the run is under way
            if running_since is not None and time.monotonic() - running_since > 2.0:
                break
            time.sleep(0.1)
        assert running_since is not None and proc.poll() is None, "the Lava run never started"
        assert seen, "no shared memory seen: the count below would prove nothing"
        proc.send_signal(sig)
        proc.wait(60)
        deadline = time.monotonic() + 30  # children and the resource tracker need a moment
        while time.monotonic() < deadline and (
                _session_pids(sid) or any(Path(f"/dev/shm/{n}").exists() for n in seen)):
            time.sleep(0.2)
        left = _session_pids(sid)
        shm_left = [n for n in seen if Path(f"/dev/shm/{n}").exists()]
    finally:
        for pid in _session_pids(sid):  # never leave them to the next test
            os.kill(pid, signal.SIGKILL)
    assert (len(left), len(shm_left)) == (0, 0), (left, shm_left)
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM  # stopped by the handler, then exited


FAILING_RUN = """
import os, sys, time, numpy as np
from neuromorphic_export.lava import LavaRunError, ensure_lava_importable, run_lava
from neuromorphic_export.io import load_network
ensure_lava_importable()
from neuromorphic_export.lava.processes import models
how = sys.argv[1]
step = models.PyYinALIFFixed.run_spk
def failing(self):
    if self.time_step == 20:
        if how == "exit":
            os._exit(3)
        raise ValueError("boom in the model")
    return step(self)
models.PyYinALIFFixed.run_spk = failing
start = time.monotonic()
try:
    run_lava(load_network(sys.argv[2]), np.zeros((2000, 28), np.uint8))
except LavaRunError as exc:
    print(f"LavaRunError after {time.monotonic() - start:.1f} s: {exc}")
"""


@pytest.mark.parametrize("how, needle", [("raise", "ValueError: boom in the model"),
                                         ("exit", "exit codes [3]")])
def test_failure_inside_a_process_model_surfaces_within_seconds(how, needle, network):
    run = subprocess.run([sys.executable, "-c", FAILING_RUN, how, str(network[0])], env=ENV,
                         capture_output=True, text=True, timeout=180)
    assert "LavaRunError after" in run.stdout and needle in run.stdout, run.stdout + run.stderr
    seconds = float(run.stdout.split("after ")[1].split(" s")[0])
    assert seconds < 60, run.stdout


def test_failed_recording_write_is_an_error_not_a_hang(network, monkeypatch):
    import contextlib

    from neuromorphic_export.io import load_network
    from neuromorphic_export.lava import LavaRunError, runner

    @contextlib.contextmanager
    def nowhere(prefix=""):
        yield "/nonexistent/spiking-nr-lava"

    monkeypatch.setattr(runner.tempfile, "TemporaryDirectory", nowhere)
    # the recorder's own error, or (when the watchdog sees the recorder exit first) the exit
    with pytest.raises(LavaRunError, match="No such file or directory|exited during the run"):
        runner.run_lava(load_network(network[0]), np.zeros((50, 28), np.uint8))
