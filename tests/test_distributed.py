import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.distributed import (
    DistContext,
    DistributedTrainer,
    adaptive_loss_terms,
    cue_stream_source,
    global_adaptive_loss,
    merge_lane_states,
    rank_lanes,
    split_lane_state,
)
from spiking_nr.losses import AdaptiveLossConfig, adaptive_loss
from spiking_nr.train import TrainConfig, Trainer, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
LANES, STEPS, INPUTS, CLASSES, HIDDEN = 6, 40, 6, 3, 12
TRAIN = TrainConfig(tbptt_window=20, lr=1e-2, seed=0)


def _model() -> SRNN:
    return SRNN(SRNNConfig.simple(INPUTS, (HIDDEN,), CLASSES, seed=0))


def _source(rank: int, world: int):
    return cue_stream_source(rank_lanes(LANES, rank, world), STEPS, INPUTS, CLASSES, seed=0)


def test_rank_lanes_interleave_and_state_split_merge_round_trip():
    assert rank_lanes(5, 0, 2) == [0, 2, 4] and rank_lanes(5, 1, 2) == [1, 3]
    with pytest.raises(ValueError, match="every rank needs at least one lane"):
        rank_lanes(2, 0, 3)
    with pytest.raises(ValueError, match="rank"):
        rank_lanes(4, 2, 2)
    state = _model().initial_state(5)
    state = type(state)(tuple(type(s)(*(torch.randn_like(t) for t in s)) for s in state.layers),
                        type(state.readout)(torch.randn_like(state.readout.y)))
    for world in (1, 2, 3):
        parts = [split_lane_state(state, r, world) for r in range(world)]
        assert parts[0].layers[0].u.shape[0] == len(rank_lanes(5, 0, world))
        merged = merge_lane_states(parts)
        torch.testing.assert_close(merged.layers[0].u, state.layers[0].u, rtol=0, atol=0)
        torch.testing.assert_close(merged.readout.y, state.readout.y, rtol=0, atol=0)
    with pytest.raises(ValueError, match="lanes"):
        merge_lane_states([split_lane_state(state, 1, 2), split_lane_state(state, 0, 2)])


@pytest.mark.parametrize("normalise", ["steps", "masked"])
@pytest.mark.parametrize("direction", ["uniform_model", "model_uniform"])
def test_two_rank_average_equals_global_batch_loss_and_gradient(normalise, direction):
    torch.manual_seed(0)
    T, B, C = 7, 5, 4  # 5 lanes on 2 ranks: uneven split (3 + 2 lanes)
    logits = torch.randn(T, B, C, dtype=torch.float64, requires_grad=True)
    target = torch.randint(-1, C, (T, B))
    informative = torch.rand(T, B) < 0.6
    informative[:, 0] = True  # rank 0 gets many more informative steps than rank 1
    config = AdaptiveLossConfig(kl_direction=direction, kl_weight=0.7, normalise=normalise)
    reference = adaptive_loss(logits, target, informative, config)
    (grad_ref,) = torch.autograd.grad(reference, logits)

    world = 2
    terms = [adaptive_loss_terms(logits[:, r::world], target[:, r::world],
                                 informative[:, r::world], direction) for r in range(world)]
    n_ce = sum(t.n_ce for t in terms)
    n_kl = sum(t.n_kl for t in terms)
    rank_losses = [global_adaptive_loss(t, n_ce, n_kl, config, world) for t in terms]
    averaged = sum(rank_losses) / world  # what DDP's gradient averaging amounts to
    (grad,) = torch.autograd.grad(averaged, logits)
    torch.testing.assert_close(averaged, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-12, atol=1e-12)
    if normalise == "masked":
        # Averaging per-rank *local* losses is not the global loss: the normalisation matters.
        naive = sum(adaptive_loss(logits[:, r::2], target[:, r::2], informative[:, r::2], config)
                    for r in range(2)) / 2
        assert abs(float((naive - reference).detach())) > 1e-3


def test_one_process_distributed_trainer_is_the_plain_trainer(tmp_path):
    plain = Trainer(_model(), _source(0, 1), TRAIN)
    history = plain.fit(2, progress=False)
    ddp = DistributedTrainer(_model(), _source, TRAIN, DistContext())
    for expected in history:
        got = ddp.train_chunk(ddp._next_chunk())
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-6)
        assert got["correct"] == expected["correct"]
    for a, b in zip(plain.model.parameters(), ddp.network.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    ddp.save(tmp_path / "ckpt.pt")
    assert load_checkpoint(tmp_path / "ckpt.pt")["world_size"] == 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(tmp_path: Path, *args: str) -> dict:
    metrics = tmp_path / f"metrics{_free_port()}.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "-m", "spiking_nr.distributed", "--lanes", str(LANES), "--steps", str(STEPS),
           "--inputs", str(INPUTS), "--classes", str(CLASSES), "--hidden", str(HIDDEN),
           "--tbptt", "20", "--lr", "1e-2", "--metrics", str(metrics), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(metrics.read_text())


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process_with_the_same_global_batch(tmp_path):
    run = _torchrun(tmp_path, "--chunks", "3", "--checkpoint", str(tmp_path / "two.pt"))
    assert run["world_size"] == 2 and run["backend"] == "gloo"
    assert run["replica_divergence"] == 0.0  # replicas bit-identical after 6 optimiser steps

    single = Trainer(_model(), _source(0, 1), TRAIN)
    history = single.fit(3, progress=False)
    for got, expected in zip(run["history"], history):
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
        assert got["correct"] == expected["correct"] and got["scored"] == expected["scored"]
    ckpt = load_checkpoint(tmp_path / "two.pt")
    assert ckpt["position"] == 3 and ckpt["world_size"] == 2
    for name, param in single.model.named_parameters():
        torch.testing.assert_close(ckpt["model"][name], param.detach(), rtol=1e-4, atol=1e-5,
                                   msg=name)
    # The carried state was gathered into global lane order: it is the one-process state.
    torch.testing.assert_close(ckpt["carried_state"].layers[0].u, single.state.layers[0].u,
                               rtol=1e-4, atol=1e-5)

    # 2 ranks -> 1 process: resume and continue; equals 4 uninterrupted chunks.
    resumed = DistributedTrainer(_model(), _source, TRAIN, DistContext())
    resumed.load(tmp_path / "two.pt")
    resumed.train_chunk(resumed._next_chunk())
    single.fit(1, progress=False)
    for a, b in zip(single.model.parameters(), resumed.network.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

    # 1 process -> 2 ranks: a single-process checkpoint resumed on 2 ranks for 2 more chunks.
    single.save(tmp_path / "one.pt")
    run = _torchrun(tmp_path, "--chunks", "2", "--resume", str(tmp_path / "one.pt"),
                    "--checkpoint", str(tmp_path / "two_b.pt"))
    history = single.fit(2, progress=False)
    assert [h["position"] for h in run["history"]] == [5, 6]
    for got, expected in zip(run["history"], history):
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    ckpt = load_checkpoint(tmp_path / "two_b.pt")
    for name, param in single.model.named_parameters():
        torch.testing.assert_close(ckpt["model"][name], param.detach(), rtol=1e-4, atol=1e-5,
                                   msg=name)
