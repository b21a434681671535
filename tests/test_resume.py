"""`spiking-nr train --resume` continues the run recorded in its folder, and nothing else does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spiking_nr.checkpoint import load_checkpoint
from spiking_nr.cli import main as cli_main
from spiking_nr.rundir import run_lock, truncate_metrics

SMALL = ("[model]\nhidden = [12]\nneuron = \"lif\"\n[train]\nchunks = 3\ntbptt_window = 28\n"
         "lr = 0.01\n[data]\nbatch = 2\nchunk_len = 28\n[eval]\nsteps = 60\nlanes = 1\n")


def _config(tmp_path: Path, text: str = SMALL) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    out = tmp / "run"
    assert cli_main(["train", "--config", str(_config(tmp)), "--out", str(out), "--threads", "1"]) == 0
    return out


def test_resume_uses_the_runs_own_config(finished_run, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for name, data in _snapshot(finished_run).items():
        (out / name).write_bytes(data)
    recorded = (out / "config.toml").read_text()
    # A 12-neuron LIF model, not the default 128 ALIF: the old CLI crashed here (size mismatch).
    assert cli_main(["train", "--out", str(out), "--resume", "--set", "train.chunks=5",
                     "--threads", "1"]) == 0
    assert "resumed at chunk 3" in capsys.readouterr().out
    assert (out / "config.toml").read_text() == recorded.replace("chunks = 3", "chunks = 5")
    data = load_checkpoint(out / "checkpoint.pt")
    assert data["position"] == 5 and data["model"]["layers.0.fc.weight"].shape == (12, 28)
    assert [g["lr"] for g in data["optimizer"]["param_groups"]][0] == 0.01  # the run's own lr
    positions = [json.loads(line)["position"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert positions == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("override, needle", [
    ("model.hidden=[8]", "model.hidden changes the model's shape"),
    ("model.neuron=\"alif\"", "model.neuron"),
    ("train.lr=0.1", "train.lr is part of the recorded run"),
    ("data.batch=4", "data.batch"),
])
def test_resume_refuses_overrides_that_change_the_run(finished_run, override, needle, capsys):
    before = _snapshot(finished_run)
    assert cli_main(["train", "--out", str(finished_run), "--resume", "--set", override]) == 2
    _one_line_error(capsys, needle)
    assert _snapshot(finished_run) == before  # nothing rewritten


def test_resume_refusals_write_nothing(finished_run, tmp_path, capsys):
    before = _snapshot(finished_run)
    cases = [(["--config", str(_config(tmp_path))], "drop --config"),
             (["--overwrite"], "contradict"),
             (["--set", "train.chunks=0"], "train.chunks must be >= 1")]
    for extra, needle in cases:
        assert cli_main(["train", "--out", str(finished_run), "--resume", *extra]) == 2
        _one_line_error(capsys, needle)
    assert cli_main(["train", "--out", str(tmp_path / "empty"), "--resume"]) == 2
    _one_line_error(capsys, "not a run folder")
    assert not (tmp_path / "empty").exists()
    assert _snapshot(finished_run) == before


def test_train_onto_an_existing_run_needs_overwrite(finished_run, tmp_path, capsys):
    before = _snapshot(finished_run)
    assert cli_main(["train", "--config", str(_config(tmp_path)), "--out", str(finished_run)]) == 2
    _one_line_error(capsys, "already holds a run", "--overwrite")
    assert _snapshot(finished_run) == before
    out = tmp_path / "copy"
    out.mkdir()
    for name, data in before.items():
        (out / name).write_bytes(data)
    (out / "metrics.jsonl").write_text('{"position": 99}\n')
    assert cli_main(["train", "--config", str(_config(tmp_path)), "--out", str(out), "--overwrite",
                     "--threads", "1"]) == 0
    positions = [json.loads(line)["position"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert positions == [1, 2, 3]  # the old log went with the old run


def test_second_trainer_into_the_same_folder_refuses(finished_run, capsys):
    before = _snapshot(finished_run)
    with run_lock(finished_run):
        assert cli_main(["train", "--out", str(finished_run), "--resume",
                         "--set", "train.chunks=4"]) == 2
        _one_line_error(capsys, "in use by another trainer")
    assert _snapshot(finished_run) == before


def test_bad_config_values_refused_before_anything_is_written(tmp_path, capsys):
    cases = {"data.batch=0": "data.batch must be >= 1", "eval.steps=0": "eval.steps must be >= 1",
             "train.mask=\"temporal_intensty\"": "train.mask 'temporal_intensty' is not a mask",
             "model.hidden=[0]": "model.hidden", "train.chunks=-1": "train.chunks",
             "data.chunk_len=0": "data.chunk_len", "train.lr=0": "train.lr"}
    for override, needle in cases.items():
        assert cli_main(["train", "--out", str(tmp_path / "x"), "--set", override]) == 2
        _one_line_error(capsys, needle)
    assert cli_main(["train", "--out", str(tmp_path / "x"), "--checkpoint-every", "0"]) == 2
    _one_line_error(capsys, "--checkpoint-every", "expected an integer >= 1")
    assert not (tmp_path / "x").exists()


def test_truncate_metrics_drops_positions_after_the_checkpoint_and_torn_lines(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(f'{{"position": {i}}}\n' for i in range(1, 8)) + '{"posit')
    assert truncate_metrics(log, 4) == 4
    assert [json.loads(line)["position"] for line in log.read_text().splitlines()] == [1, 2, 3, 4]


def _train_cmd(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "spiking_nr.cli", "train", "--config", str(config), "--out",
            str(out), "--threads", "1", "--checkpoint-every", "2", *extra]


@pytest.mark.slow
def test_resume_after_sigkill_equals_the_uninterrupted_run(tmp_path):
    config = _config(tmp_path, SMALL.replace("chunks = 3", "chunks = 8"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    straight = tmp_path / "straight"
    assert subprocess.run(_train_cmd(config, straight), env=env, capture_output=True,
                          timeout=600).returncode == 0

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(config, killed), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill between checkpoints: after position 3 is logged
        log = killed / "metrics.jsonl"
        if log.is_file() and log.read_text().count("\n") >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(killed / "checkpoint.pt")["position"] in (2, 4)
    resumed = subprocess.run([sys.executable, "-m", "spiking_nr.cli", "train", "--out", str(killed),
                              "--resume", "--threads", "1"], env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr

    a, b = load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(killed / "checkpoint.pt")
    assert a["position"] == b["position"] == 8
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=0, atol=0, msg=name)
    for x, y in zip(a["carried_state"].layers, b["carried_state"].layers):
        torch.testing.assert_close(x.u, y.u, rtol=0, atol=0)
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["position"] for line in lines] == list(range(1, 9))
    for x, y in zip((straight / "metrics.jsonl").read_text().splitlines(), lines):
        assert json.loads(x)["loss"] == json.loads(y)["loss"]
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in straight.iterdir())
