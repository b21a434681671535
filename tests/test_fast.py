"""The fused ALIF recurrence equals the reference step loop: outputs and every gradient."""

import dataclasses

import pytest
import torch

from spiking_nr import SRNN, LayerConfig, SRNNConfig
from spiking_nr.state import detach_state


def _pair(surrogate="multi_gaussian", recurrent=True, seed=0, dtype=torch.float64):
    config = SRNNConfig(input_size=7, output_size=3, surrogate=surrogate, seed=seed,
                        layers=(LayerConfig(13, recurrent), LayerConfig(9, True)))
    fast = SRNN(config).to(dtype)
    ref = SRNN(dataclasses.replace(config, impl="reference")).to(dtype)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


@pytest.mark.parametrize("surrogate", ["multi_gaussian", "fast_sigmoid", "triangle", "arctan"])
@pytest.mark.parametrize("recurrent", [True, False])
def test_fused_equals_reference_forward_and_gradients(surrogate, recurrent):
    fast, ref = _pair(surrogate, recurrent)
    x = torch.rand(80, 4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    outs = []
    for model in (fast, ref):
        state = None
        total = 0
        for chunk in (x[:30], x[30:]):  # carried state: gradients must cross the chunk boundary
            out = model(chunk, state)
            total = total + out.output.pow(2).sum() + out.state.layers[1].u.sum()
            state = out.state
        total.backward()
        outs.append(torch.cat([model(x).output]))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-12)
    for (name, a), (_, b) in zip(fast.named_parameters(), ref.named_parameters()):
        assert b.grad is not None and b.grad.abs().sum() > 0, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)


def test_float32_tbptt_gradients_match():
    fast, ref = _pair(seed=3, dtype=torch.float32)
    x = (torch.rand(120, 8, 7, generator=torch.Generator().manual_seed(2)) < 0.3).float() * 2
    for model in (fast, ref):
        state = None
        for t0 in range(0, 120, 40):
            out = model(x[t0:t0 + 40], state)
            out.output.sum().backward()
            state = detach_state(out.state)
    for (name, a), (_, b) in zip(fast.named_parameters(), ref.named_parameters()):
        rel = (a.grad - b.grad).norm() / b.grad.norm().clamp(min=1e-12)
        assert rel < 1e-5, (name, float(rel))


def test_dispatch_uses_the_fused_path_only_where_it_applies():
    fast, _ = _pair()
    x = torch.rand(5, 2, 7, dtype=torch.float64)
    out = fast(x)
    assert "ALIFSequence" in type(out.output.grad_fn).__name__ or out.output.grad_fn is not None
    spikes_node = fast.layers[0](fast.layers[0].fc.weight.new_zeros(3, 2, 7),
                                 fast.layers[0].initial_state(2, x))[0].grad_fn
    assert "ALIFSequence" in type(spikes_node).__name__
    recorded = fast(x, record=True)  # recording needs the per-step traces: reference loop
    assert recorded.record is not None
    with pytest.raises(ValueError, match="impl"):
        SRNNConfig(input_size=2, output_size=2, impl="turbo")
