import pytest
import torch

from spiking_nr import SRNN, LayerConfig, SRNNConfig, detach_state


def _net(**kw):
    config = SRNNConfig(input_size=6, output_size=3,
                        layers=(LayerConfig(12, True, "alif"), LayerConfig(8, False, "lif"),
                                LayerConfig(10, True, "alif")), **kw)
    return SRNN(config).double()


def _drive(T=120, B=3, N=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, N, generator=g, dtype=torch.float64) * 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunked_equals_one_shot(seed):
    net = _net()
    x = _drive(seed=seed)
    whole = net(x, record=True)
    assert sum(float(s.detach().sum()) for s in whole.record.spikes) > 100, "network must be active"
    g = torch.Generator().manual_seed(100 + seed)
    cuts = sorted(torch.randperm(x.shape[0] - 1, generator=g)[:7].add(1).tolist())
    state, outs = None, []
    for a, b in zip([0, *cuts], [*cuts, x.shape[0]]):
        out = net(x[a:b], state)
        outs.append(out.output)
        state = out.state
    torch.testing.assert_close(torch.cat(outs), whole.output, rtol=0, atol=1e-12)
    for mine, ref in zip(state.layers, whole.state.layers):
        torch.testing.assert_close(mine.u, ref.u, rtol=0, atol=1e-12)


def test_gradients_reach_every_parameter_including_time_constants():
    net = _net()
    out = net(_drive(T=60))
    out.output.pow(2).sum().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert float(param.grad.abs().sum()) > 0, f"zero gradient for {name}"
    assert any("log_tau" in n for n, _ in net.named_parameters())


def test_time_constants_are_positive_by_construction():
    net = _net()
    with torch.no_grad():
        for layer in net.layers:
            layer.tau_mem.log_tau.fill_(-50.0)
    assert all(bool((layer.tau_mem.tau > 0).all()) for layer in net.layers)
    assert torch.isfinite(net(_drive(T=10)).output).all()


def test_reset_mask_equals_fresh_start():
    net = _net()
    x = _drive(T=40)
    first = net(x[:20])
    reset = torch.zeros(20, 3, dtype=torch.bool)
    reset[0, 1] = True
    continued = net(x[20:], first.state, reset_mask=reset)
    fresh = net(x[20:])
    torch.testing.assert_close(continued.output[:, 1], fresh.output[:, 1], rtol=0, atol=0)
    assert not torch.allclose(continued.output[:, 0], fresh.output[:, 0])


def test_record_shapes():
    net = _net()
    out = net(_drive(T=15, B=2), record=True)
    assert [tuple(s.shape) for s in out.record.spikes] == [(15, 2, 12), (15, 2, 8), (15, 2, 10)]
    assert out.record.voltage[0].shape == out.record.threshold[0].shape == (15, 2, 12)
    assert float(out.record.threshold[1].min()) == pytest.approx(0.01)


def test_seed_makes_construction_reproducible():
    a, b = _net(seed=3), _net(seed=3)
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), na
    c = _net(seed=4)
    assert not torch.equal(a.layers[0].fc.weight, c.layers[0].fc.weight)


def test_detach_state_cuts_graph_only():
    net = _net()
    out = net(_drive(T=5))
    det = detach_state(out.state)
    assert all(not t.requires_grad for t in det.layers[0])
    torch.testing.assert_close(det.layers[0].u, out.state.layers[0].u)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.zeros(5, 6), ValueError, "rank 3"),
        (torch.zeros(5, 2, 7, dtype=torch.float64), ValueError, "expected 6"),
        (torch.zeros(5, 2, 6, dtype=torch.int64), TypeError, "floating"),
        (torch.full((5, 2, 6), float("nan"), dtype=torch.float64), ValueError, "NaN"),
        ([[1.0]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_rejected(bad, error, match):
    with pytest.raises(error, match=match):
        _net()(bad)


def test_state_batch_mismatch_rejected():
    net = _net()
    state = net(_drive(T=3, B=3)).state
    with pytest.raises(ValueError, match="batch size 3 but the input has batch size 2"):
        net(_drive(T=3, B=2), state)


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="unknown neuron model"):
        LayerConfig(4, neuron="izhikevich")
    with pytest.raises(ValueError, match="unknown surrogate"):
        SRNNConfig(input_size=2, output_size=2, surrogate="nope")
    with pytest.raises(ValueError, match="b0"):
        SRNNConfig(input_size=2, output_size=2, b0=0.0)


def test_config_round_trip():
    config = _net().config
    assert SRNNConfig.from_dict(config.to_dict()) == config
