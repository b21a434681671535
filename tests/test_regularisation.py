import numpy as np
import pytest
import torch

from spiking_nr import SRNN, SRNNConfig
from spiking_nr.regularisation import ActivityConfig, ActivityRegulariser, rate_penalty
from spiking_nr.streams import StreamChunk
from spiking_nr.train import TrainConfig, Trainer


def _source(T=40, B=8, n_in=6, seed=0):
    def source():
        rng = np.random.default_rng(seed)
        while True:
            x = (rng.random((T, B, n_in)) < 0.4).astype(np.float32)
            target = np.where(rng.random((T, B)) < 0.5, rng.integers(0, 3, (T, B)), -1)
            start = np.zeros((T, B), bool)
            start[0] = True
            yield StreamChunk(x, target, target >= 0, np.zeros((T, B), np.int64), start, target >= 0)
    return source


def _net(seed=0):
    return SRNN(SRNNConfig.simple(6, (24,), 3, seed=seed))


def test_rate_penalty_bounds_and_target():
    rates = torch.tensor([0.0, 0.1, 0.5])
    cfg = ActivityConfig(weight=1.0, lower=0.05, upper=0.2)
    assert float(rate_penalty(rates, cfg)) == pytest.approx((0.05 ** 2 + 0.3 ** 2) / 3)
    cfg = ActivityConfig(weight=1.0, target=0.1)
    assert float(rate_penalty(rates, cfg)) == pytest.approx((0.01 + 0.0 + 0.16) / 3)
    for bad in (dict(weight=-1.0), dict(lower=0.3, upper=0.2), dict(target=2.0), dict(dropout=1.0)):
        with pytest.raises(ValueError):
            ActivityConfig(**bad)


def test_rate_regularisation_lowers_the_firing_rate():
    rates = {}
    for weight in (0.0, 50.0):
        cfg = TrainConfig(tbptt_window=20, seed=0, lr=1e-2,
                          activity=ActivityConfig(weight=weight, target=0.0, upper=0.02))
        trainer = Trainer(_net(), _source(), cfg)
        history = trainer.fit(15, progress=False)
        if weight:
            assert np.isfinite(history[-1]["rate"])
        with torch.no_grad():
            x = torch.from_numpy(next(iter(_source(seed=1)())).inputs)
            out = SRNN.forward(trainer.model, x, record=True)
        rates[weight] = float(out.record.spikes[0].mean())
    assert rates[50.0] < 0.5 * rates[0.0], rates


def test_dropout_mask_is_fixed_across_time_and_off_in_eval():
    net = _net()
    reg = ActivityRegulariser(net, ActivityConfig(dropout=0.5))
    x = torch.from_numpy(next(iter(_source()())).inputs)
    net.train()
    reg.new_chunk()
    seen = []
    handle = net.readout.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    net(x)
    h = seen[-1]  # what the readout saw [T, B, N]
    silent = (h == 0).all(dim=0)  # neurons dropped for the whole chunk, per lane
    assert 0.2 < float(silent.float().mean()) < 0.9
    assert set(torch.unique(h).tolist()) <= {0.0, 2.0}  # kept spikes scaled by 1 / (1 - p)
    net(x)  # same chunk, next window: the same mask
    assert torch.equal((seen[-1] == 0).all(dim=0) | silent, (seen[-1] == 0).all(dim=0))
    net.eval()
    with torch.no_grad():
        net(x)
    assert set(torch.unique(seen[-1]).tolist()) <= {0.0, 1.0}
    handle.remove()
    reg.remove()
    with pytest.raises(TypeError, match="no hidden layers"):
        ActivityRegulariser(torch.nn.Linear(2, 2), ActivityConfig(dropout=0.1))


def test_dropout_training_resumes_exactly(tmp_path):
    cfg = TrainConfig(tbptt_window=20, seed=3, activity=ActivityConfig(dropout=0.3, weight=1.0,
                                                                       upper=0.1))
    straight = Trainer(_net(), _source(), cfg)
    straight.fit(4, progress=False)
    first = Trainer(_net(), _source(), cfg)
    first.fit(2, progress=False)
    first.save(tmp_path / "c.pt")
    resumed = Trainer(_net(), _source(), cfg)
    resumed.load(tmp_path / "c.pt")
    resumed.fit(2, progress=False)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b)
