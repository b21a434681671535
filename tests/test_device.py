"""``--device`` on the CLI and the experiments: a device that is not there is one clear error."""

import pytest
import torch

from spiking_nr._checks import resolve_device
from spiking_nr.cli import EXIT_USER_ERROR, main


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu0'; expected cpu, cuda or cuda:N"):
        resolve_device("tpu0")
    with pytest.raises(ValueError, match="unsupported device 'meta'"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device is available here"):
            resolve_device("cuda")
    else:
        with pytest.raises(ValueError, match="CUDA device\\(s\\) here"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("command", [["train", "--out", "{tmp}/run"], ["eval", "{tmp}/missing.pt"]])
def test_cli_rejects_an_unknown_device_in_one_line(command, tmp_path, capsys):
    argv = [part.format(tmp=tmp_path) for part in command] + ["--device", "tpu0"]
    assert main(argv) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err == "spiking-nr: error: --device: unknown device 'tpu0'; expected cpu, cuda or cuda:N"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("experiment", ["e1_image_stream", "e2_speech_stream"])
def test_experiments_reject_an_unknown_device(experiment, capsys):
    module = __import__(f"experiments.{experiment}", fromlist=["main"])
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--quick", "--device", "tpu0"])
    assert exit_info.value.code == 2
    assert "--device: unknown device 'tpu0'" in capsys.readouterr().err
