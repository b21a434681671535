"""Loading a checkpoint never runs code from it; every loader refuses a malicious pickle.

Each loader path below is tried on three malicious files (a ``torch.save`` zip whose pickle calls
``exec``, the same inside an otherwise valid checkpoint dict, and a bare legacy pickle); the test
asserts a one-line refusal naming the file and that the marker file the payload would write never
appears.
"""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from spiking_nr.cli import main as cli_main
from spiking_nr.config import RunConfig, to_toml
from spiking_nr.train import TrainConfig, Trainer, model_from_checkpoint, save_model
from tests.test_train import toy_source


class Payload:
    """Unpickling this runs ``exec``: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def _malicious_files(tmp_path, marker):
    files = {}
    files["zip"] = tmp_path / "zip.pt"
    torch.save(Payload(marker), files["zip"])
    files["dict"] = tmp_path / "dict.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model_config": {}, "model": {}, "x": Payload(marker)},
               files["dict"])
    files["legacy"] = tmp_path / "legacy.pt"
    with open(files["legacy"], "wb") as handle:
        pickle.dump({"format": 1, "model": Payload(marker)}, handle, protocol=2)
    return files


def _model():
    return SRNN(SRNNConfig.simple(5, (16,), 3))


def _api_loaders():
    def trainer_load(path):
        Trainer(_model(), toy_source(), TrainConfig()).load(path)

    def distributed_load(path):
        from spiking_nr.distributed import DistributedTrainer

        DistributedTrainer(_model(), lambda rank, world: toy_source(), TrainConfig()).load(path)

    return {"load_checkpoint": load_checkpoint, "model_from_checkpoint": model_from_checkpoint,
            "Trainer.load": trainer_load, "DistributedTrainer.load": distributed_load}


def _cli_loaders(tmp_path):
    def run(path, *args):
        return cli_main([*args])

    def resume(path):
        out = tmp_path / "resume_run"
        out.mkdir(exist_ok=True)
        (out / "config.toml").write_text(to_toml(RunConfig()))
        (out / "checkpoint.pt").write_bytes(path.read_bytes())
        return cli_main(["train", "--out", str(out), "--resume"])

    return {"cli eval": lambda p: cli_main(["eval", str(p)]),
            "cli export": lambda p: cli_main(["export", str(p), str(tmp_path / "n.h5")]),
            "cli train --resume": resume}


def test_no_loader_runs_code_from_a_checkpoint(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    files = _malicious_files(tmp_path, marker)
    refusals = 0
    for name, loader in _api_loaders().items():
        for kind, path in files.items():
            with pytest.raises(ValueError, match=r"refused to load|not a readable") as info:
                loader(path)
            message = str(info.value)
            assert str(path) in message and "\n" not in message, (name, kind, message)
            assert not marker.exists(), (name, kind)
            refusals += 1
    for name, loader in _cli_loaders(tmp_path).items():
        for kind, path in files.items():
            assert loader(path) == 2, (name, kind)
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, kind, err)
            assert "refused to load" in err or "not a readable" in err, (name, kind, err)
            assert not marker.exists(), (name, kind)
            refusals += 1
    assert refusals == 7 * len(files)
    assert not marker.exists()


def test_npy_input_with_objects_is_refused(tmp_path, capsys):
    """``simulate --input`` reads .npy without pickle: an object array is refused."""
    from neuromorphic_export.io import save_network
    from spiking_nr.export import to_network_spec

    marker = tmp_path / "MARKER"
    save_network(to_network_spec(_model(), "fixed"), tmp_path / "n.h5")
    np.save(tmp_path / "x.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    assert cli_main(["simulate", str(tmp_path / "n.h5"), "--input", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "x.npy" in err, err
    assert not marker.exists()


def test_checkpoints_load_with_torch_weights_only_and_no_allowlist(tmp_path):
    trainer = Trainer(_model(), toy_source(), TrainConfig(tbptt_window=10))
    trainer.fit(2, progress=False)
    trainer.save(tmp_path / "t.pt")
    save_model(trainer.model, tmp_path / "m.pt")
    for name in ("t.pt", "m.pt"):
        data = torch.load(tmp_path / name, weights_only=True)  # plain data: no allow-list needed
        assert data["format"] == CHECKPOINT_FORMAT and isinstance(data["model_config"], str)
        assert len(data["sha256"]) == 64


def test_format_1_checkpoints_still_load(tmp_path):
    """spiking-nr 0.1 pickled the carried state as NamedTuples and the python RNG as a tuple."""
    trainer = Trainer(_model(), toy_source(), TrainConfig(tbptt_window=10))
    trainer.fit(2, progress=False)
    old = trainer.state_dict()
    old.update(format=1, rng={"torch": torch.get_rng_state(), "python": random.getstate()})
    torch.save(old, tmp_path / "old.pt")
    resumed = Trainer(_model(), toy_source(), TrainConfig(tbptt_window=10))
    resumed.load(tmp_path / "old.pt")
    assert resumed.position == 2
    torch.testing.assert_close(resumed.state.layers[0].u, trainer.state.layers[0].u, rtol=0, atol=0)


def test_flipped_weight_byte_is_detected(tmp_path):
    save_model(_model(), tmp_path / "m.pt")
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    data["model"]["layers.0.fc.weight"].view(-1)[3] += 1e-6  # one changed weight
    torch.save(data, tmp_path / "flipped.pt")
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_checkpoint(tmp_path / "flipped.pt")
