from typing import NamedTuple

import numpy as np
import pytest
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.train import TrainConfig, Trainer, load_checkpoint, model_from_checkpoint


class ToyChunk(NamedTuple):
    inputs: np.ndarray
    target: np.ndarray
    informative: np.ndarray
    segment_start: np.ndarray


def toy_source(n_chunks=1000, T=40, B=4, N=5, C=3, seed=0):
    """Segments of 10 steps: class c lights up input channel c; -1 segments are blank."""

    def chunks():
        rng = np.random.default_rng(seed)
        for _ in range(n_chunks):
            labels = rng.integers(-1, C, size=(T // 10, B))
            target = np.repeat(labels, 10, axis=0)
            x = rng.random((T, B, N)).astype(np.float32) * 0.2
            for c in range(C):
                x[..., c] += (target == c) * 1.0
            start = np.zeros((T, B), bool)
            start[::10] = True
            yield ToyChunk(x, target, target >= 0, start)

    return chunks


def _model(seed=0):
    return SRNN(SRNNConfig.simple(5, (16,), 3, seed=seed))


def test_tbptt_over_thousands_of_steps_learns_and_never_reuses_a_graph():
    trainer = Trainer(_model(), toy_source(T=200), TrainConfig(tbptt_window=25, lr=1e-2))
    history = trainer.fit(n_chunks=12, progress=False)  # 2400 steps, 96 optimiser steps
    assert trainer.optimizer_steps == 96
    assert all(np.isfinite(h["loss"]) for h in history)
    assert np.mean([h["loss"] for h in history[-3:]]) < np.mean([h["loss"] for h in history[:3]])
    assert trainer.state is not None and not trainer.state.layers[0].u.requires_grad


@pytest.mark.parametrize("policy", ["never", "segment", "sample"])
def test_reset_policies_run(policy):
    trainer = Trainer(_model(), toy_source(), TrainConfig(tbptt_window=20, reset_policy=policy))
    trainer.fit(2, progress=False)
    assert (trainer.state is None) == (policy == "sample")


def test_resume_equals_uninterrupted(tmp_path):
    config = TrainConfig(tbptt_window=10, seed=3)
    straight = Trainer(_model(), toy_source(), config)
    straight.fit(6, progress=False)

    first = Trainer(_model(), toy_source(), config)
    first.fit(3, progress=False)
    first.save(tmp_path / "ckpt.pt")
    resumed = Trainer(_model(seed=99), toy_source(), config)  # different init: all state restored
    resumed.load(tmp_path / "ckpt.pt")
    resumed.fit(3, progress=False)

    assert resumed.position == straight.position == 6
    for (name, a), b in zip(straight.model.named_parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(straight.state.layers[0].u, resumed.state.layers[0].u, rtol=0, atol=0)
    rebuilt = model_from_checkpoint(tmp_path / "ckpt.pt")
    torch.testing.assert_close(rebuilt.layers[0].fc.weight, first.model.layers[0].fc.weight)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    trainer = Trainer(_model(), toy_source(), TrainConfig())
    path = tmp_path / "ckpt.pt"
    trainer.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_bad_checkpoint_rejected(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable spiking-nr checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_optimizer_groups_give_time_constants_their_own_lr():
    trainer = Trainer(_model(), toy_source(), TrainConfig(lr=1e-3, lr_tau=5e-2))
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert groups["time_constants"]["lr"] == 5e-2 and groups["weights"]["lr"] == 1e-3
    n_tau = sum(p.numel() for p in groups["time_constants"]["params"])
    assert n_tau == 16 * 2 + 3


def test_bad_train_config():
    with pytest.raises(ValueError, match="reset_policy"):
        TrainConfig(reset_policy="sometimes")
    with pytest.raises(ValueError, match="tbptt_window"):
        TrainConfig(tbptt_window=0)
