import numpy as np
import pytest
import torch

from spiking_nr.baselines import GRUConfig, GRUNetwork
from spiking_nr.losses import AdaptiveLossConfig
from spiking_nr.train import TrainConfig, Trainer
from spiking_nr.warmup import WarmupConfig, warm_up


def _label_source():
    """Chunks of 8 lanes x 10 steps whose class is the active input channel."""
    from spiking_nr.streams import StreamChunk

    rng = np.random.default_rng(0)
    while True:
        label = rng.integers(0, 3, size=8)
        x = np.zeros((10, 8, 5), np.float32)
        x[:, np.arange(8), label] = 1.0
        target = np.broadcast_to(label, (10, 8)).astype(np.int64)
        ones = np.ones((10, 8), bool)
        yield StreamChunk(x, target, ones, np.zeros((10, 8), np.int64), ~ones, ones)


def _model(seed=0, hidden=(12,)):
    return GRUNetwork(GRUConfig(5, hidden, 3, seed=seed)).double()


def test_gru_matches_a_step_by_step_reference_and_chunks():
    model = _model(hidden=(8, 6))
    x = torch.randn(30, 4, 5, dtype=torch.float64)
    full = model(x)
    # independent reference: the GRU equations step by step
    h = [torch.zeros(4, 8, dtype=torch.float64), torch.zeros(4, 6, dtype=torch.float64)]
    outs = []
    for t in range(30):
        inp = x[t]
        for i, layer in enumerate(model.layers):
            g = layer.gru
            gi = inp @ g.weight_ih_l0.T + g.bias_ih_l0
            gh = h[i] @ g.weight_hh_l0.T + g.bias_hh_l0
            r = torch.sigmoid(gi[:, :layer.size] + gh[:, :layer.size])
            z = torch.sigmoid(gi[:, layer.size:2 * layer.size] + gh[:, layer.size:2 * layer.size])
            n = torch.tanh(gi[:, 2 * layer.size:] + r * gh[:, 2 * layer.size:])
            h[i] = (1 - z) * n + z * h[i]
            inp = h[i]
        outs.append(model.readout(inp))
    torch.testing.assert_close(full.output, torch.stack(outs), rtol=1e-10, atol=1e-12)
    # carrying the state across chunks equals one call
    first = model(x[:11])
    second = model(x[11:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output]), full.output)


def test_gru_reset_mask_equals_fresh_starts():
    model = _model()
    x = torch.randn(20, 2, 5, dtype=torch.float64)
    reset = torch.zeros(20, 2, dtype=torch.bool)
    reset[7, 0] = True
    out = model(x, reset_mask=reset).output
    fresh = model(x[7:, :1]).output
    torch.testing.assert_close(out[7:, 0], fresh[:, 0])
    torch.testing.assert_close(out[:, 1], model(x[:, 1:]).output[:, 0])  # lane 1 never reset
    with pytest.raises(ValueError, match="reset_mask"):
        model(x, reset_mask=torch.zeros(20, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="record"):
        model(x, record=True)


def test_gru_trains_with_the_trainer_and_adaptive_loss():
    torch.manual_seed(0)
    model = GRUNetwork(GRUConfig(5, (16,), 3, seed=0))

    trainer = Trainer(model, _label_source, TrainConfig(tbptt_window=5, lr=1e-2, loss=AdaptiveLossConfig()))
    history = trainer.fit(60)
    losses = [h["loss"] if isinstance(h, dict) else h for h in history]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def _sampler(rng, batch):
    return torch.from_numpy(rng.standard_normal((15, batch, 5)).astype(np.float32))


def test_gru_warm_up_moves_vaa_star_and_partial_keeps_the_second_half():
    model = GRUNetwork(GRUConfig(5, (16,), 3, seed=3))
    # a fresh GRU settles into few attractors (VAA* well below 1): warm-up raises it to the target
    report = warm_up(model, _sampler, WarmupConfig(steps=30, batch=12, max_horizon=40, lr=5e-2),
                     progress=False)
    first = np.mean([h[0] for h in report.vaa_star_history[:5]])
    last = np.mean([h[0] for h in report.vaa_star_history[-5:]])
    assert abs(last - 0.95) < abs(first - 0.95) - 0.1, (first, last)
    assert report.vaa_after[0] > report.vaa_before[0]

    model = GRUNetwork(GRUConfig(5, (16,), 3, seed=4))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    warm_up(model, _sampler, WarmupConfig(steps=5, batch=8, max_horizon=20, fraction=0.5), progress=False)
    params = dict(model.named_parameters())
    cold = torch.tensor([r for r in range(48) if r % 16 >= 8])
    warm = torch.tensor([r for r in range(48) if r % 16 < 8])
    for name in ("layers.0.gru.weight_ih_l0", "layers.0.gru.weight_hh_l0", "layers.0.gru.bias_ih_l0",
                 "layers.0.gru.bias_hh_l0"):
        assert torch.equal(params[name][cold], before[name][cold]), name
        assert not torch.equal(params[name][warm], before[name][warm]), name
    assert torch.equal(params["readout.weight"], before["readout.weight"])


def test_gru_checkpoint_round_trip(tmp_path):
    from spiking_nr.train import model_from_checkpoint, save_model

    model = _model(hidden=(7, 5)).float()
    save_model(model, tmp_path / "gru.pt")
    loaded = model_from_checkpoint(tmp_path / "gru.pt")
    x = torch.randn(6, 2, 5)
    assert isinstance(loaded, GRUNetwork)
    torch.testing.assert_close(loaded(x).output, model(x).output, rtol=0, atol=0)


@pytest.mark.parametrize("cell", ["rnn", "lru"])
def test_tanh_rnn_and_lru_stream_reset_and_train(cell):
    model = GRUNetwork(GRUConfig(5, (8, 6), 3, seed=1, cell=cell)).double()
    x = torch.randn(20, 3, 5, dtype=torch.float64)
    full = model(x)
    first = model(x[:9])  # carrying the state across chunks equals one call
    torch.testing.assert_close(torch.cat([first.output, model(x[9:], first.state).output]), full.output)
    reset = torch.zeros(20, 3, dtype=torch.bool)
    reset[6, 1] = True
    out = model(x, reset_mask=reset).output
    torch.testing.assert_close(out[6:, 1], model(x[6:, 1:2]).output[:, 0])
    torch.testing.assert_close(out[:, 0], full.output[:, 0])
    if cell == "rnn":  # independent reference: h_t = tanh(W_ih x + b_ih + W_hh h + b_hh)
        g = model.layers[0].gru
        h = torch.zeros(3, 8, dtype=torch.float64)
        for t in range(5):
            h = torch.tanh(x[t] @ g.weight_ih_l0.T + g.bias_ih_l0 + h @ g.weight_hh_l0.T + g.bias_hh_l0)
        torch.testing.assert_close(model.layers[0](x[:5], torch.zeros(3, 8, dtype=torch.float64))[1], h)
    else:  # stable by construction: the state of a silent input decays
        layer = model.layers[0]
        modulus = torch.exp(-torch.exp(layer.nu_log))
        assert bool((modulus < 1).all()) and bool((modulus > 0.89).all())
    # trainable through the Trainer with the adaptive loss
    net = GRUNetwork(GRUConfig(5, (16,), 3, seed=0, cell=cell))
    history = Trainer(net, _label_source, TrainConfig(tbptt_window=5, lr=1e-2)).fit(40, progress=False)
    assert np.mean([h["loss"] for h in history[-5:]]) < 0.5 * np.mean([h["loss"] for h in history[:5]])
    with pytest.raises(ValueError, match="cell must be one of"):
        GRUConfig(5, (4,), 3, cell="lstm")
