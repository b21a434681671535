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
    r = run("simulate", str(tmp_path / "n.h5"), "--steps", "300", "--plot", str(tmp_path / "r.png"))
    assert r.returncode == 0, r.stderr
    assert "segment accuracy" in r.stdout and (tmp_path / "r.png").stat().st_size > 0
    r = run("simulate", str(tmp_path / "n.h5"), "--steps", "100", "--backend", "lava")
    assert r.returncode == 0 and "lava:" in r.stdout, r.stderr


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
