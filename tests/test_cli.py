import json
import subprocess
import sys

import pytest
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.train import save_model


def run(*args):
    return subprocess.run([sys.executable, "-m", "spiking_nr.cli", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_export_info_simulate_end_to_end(tmp_path):
    torch.manual_seed(0)
    save_model(SRNN(SRNNConfig.simple(28, (16,), 5)), tmp_path / "m.pt")
    r = run("export", str(tmp_path / "m.pt"), str(tmp_path / "n.h5"))
    assert r.returncode == 0, r.stderr
    r = run("info", str(tmp_path / "n.h5"))
    assert "alif_yin, 16 neurons" in r.stdout
    assert "non-zero synapses" in r.stdout and "Davies et al. 2018" in r.stdout
    r = run("simulate", str(tmp_path / "n.h5"), "--steps", "300", "--plot", str(tmp_path / "r.png"))
    assert r.returncode == 0, r.stderr
    assert "segment accuracy" in r.stdout and (tmp_path / "r.png").stat().st_size > 0
    assert "synaptic ops" in r.stdout and "nJ per inference" in r.stdout and "segments/s" in r.stdout
    r = run("simulate", str(tmp_path / "n.h5"), "--steps", "100", "--backend", "lava")
    assert r.returncode == 0 and "lava:" in r.stdout and "nJ per step" in r.stdout, r.stderr


def test_user_errors_are_one_line(tmp_path):
    (tmp_path / "bad.h5").write_text("not hdf5")
    for args in (["info", str(tmp_path / "missing.h5")], ["info", str(tmp_path / "bad.h5")],
                 ["export", str(tmp_path / "nope.pt"), str(tmp_path / "x.h5")]):
        r = run(*args)
        assert r.returncode == 2
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_help_is_enough():
    r = run("simulate", "--help")
    assert r.returncode == 0 and "--backend" in r.stdout and "SUBSTITUTE" in r.stdout


@pytest.mark.slow
def test_train_eval_plot_data_end_to_end(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[train]\nchunks = 3\ntbptt_window = 28\n[model]\nhidden = [16]\n"
                      "[data]\nbatch = 4\nchunk_len = 56\n[eval]\nsteps = 300\nlanes = 2\n")
    run_dir = tmp_path / "run"
    r = run("train", "--config", str(config), "--out", str(run_dir), "--log-every", "2",
            "--tensorboard")
    assert r.returncode == 0, r.stderr
    assert "segment accuracy" in r.stdout
    # not a terminal: one progress line per 2 chunks and one at the end
    assert "chunk 2/3: loss" in r.stdout and "chunk 3/3: loss" in r.stdout and "chunk 1/3" not in r.stdout
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and '"position": 3' in lines[-1] and '"elapsed_s"' in lines[-1]
    try:
        import tensorboard  # noqa: F401  (the optional [tensorboard] extra)
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    except ImportError:
        assert "tensorboard is not installed" in r.stdout
    assert "hidden = [16]" in (run_dir / "config.toml").read_text()
    assert (run_dir / "training.png").stat().st_size > 1000
    r = run("train", "--out", str(run_dir), "--resume",
            "--set", "train.chunks=4")
    assert r.returncode == 0 and "resumed at chunk 3" in r.stdout, r.stderr
    r = run("eval", str(run_dir / "checkpoint.pt"), "--steps", "200", "--lanes", "2")
    assert r.returncode == 0 and "segment accuracy" in r.stdout and "2 lanes x 200 steps" in r.stdout
    # by default eval scores the run's own evaluation stream: the numbers of summary.json
    r = run("eval", str(run_dir / "checkpoint.pt"), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads((run_dir / "summary.json").read_text())["evaluation"]
    report = json.loads(r.stdout)
    assert report.pop("reasons", {}) == summary.pop("reasons", {})
    assert report == pytest.approx(summary, nan_ok=True)
    r = run("export", str(run_dir / "checkpoint.pt"), str(tmp_path / "n.h5"))
    assert r.returncode == 0, r.stderr
    r = run("plot", str(tmp_path / "n.h5"), "--out", str(tmp_path / "plots"), "--steps", "200")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "plots" / "raster.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "firing_rates.png").stat().st_size > 1000
    r = run("data")
    assert r.returncode == 0 and "SUBSTITUTE" in r.stdout


def test_bad_config_key_is_one_line_and_exit_2(tmp_path):
    r = run("train", "--set", "train.lrr=1", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "unknown config key 'train.lrr'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "c.yaml").write_text("model: [1, 2\n")
    r = run("train", "--config", str(tmp_path / "c.yaml"))
    assert r.returncode == 2 and "cannot parse" in r.stderr
