"""The fused ALIF recurrence equals the reference step loop: outputs and every gradient."""

import dataclasses

import numpy as np
import pytest
import torch
from numba import njit

from spiking_nr import SRNN, LayerConfig, SRNNConfig
from spiking_nr.fast import (
    _alif_surrogates,
    _compact,
    _exp,
    _surrogate_params,
    alif_layer_sequence,
    fused_supported,
    leaky_readout_sequence,
)
from spiking_nr.state import detach_state
from spiking_nr.surrogate import SURROGATES, Surrogate


def _pair(surrogate="multi_gaussian", recurrent=True, seed=0, dtype=torch.float64, neuron="alif"):
    config = SRNNConfig(input_size=7, output_size=3, surrogate=surrogate, seed=seed,
                        layers=(LayerConfig(13, recurrent, neuron), LayerConfig(9, True, neuron)))
    fast = SRNN(config).to(dtype)
    ref = SRNN(dataclasses.replace(config, impl="reference")).to(dtype)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


@pytest.mark.parametrize("surrogate", ["multi_gaussian", "fast_sigmoid", "triangle", "arctan"])
@pytest.mark.parametrize("recurrent", [True, False])
@pytest.mark.parametrize("neuron", ["alif", "lif"])
def test_fused_equals_reference_forward_and_gradients(surrogate, recurrent, neuron):
    fast, ref = _pair(surrogate, recurrent, neuron=neuron)
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


def test_binary_spike_input_gives_reference_gradients():
    """Binary inputs and hidden spikes are kept as uint8 for backward: same gradients."""
    fast, ref = _pair(seed=5)
    x = (torch.rand(60, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
         < 0.3).double()
    for model in (fast, ref):
        model(x).output.square().sum().backward()
    for (name, a), (_, b) in zip(fast.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)


@njit
def _exp_all(x, out):
    for i in range(x.size):
        out[i] = _exp(x[i])


@pytest.mark.parametrize("dtype, rtol, lowest", [(np.float32, 3e-7, -87.0), (np.float64, 1e-15, -708.0)])
def test_vectorised_exp_is_accurate_and_flushes_to_zero(dtype, rtol, lowest):
    x = np.concatenate([np.linspace(-87.0, 88.0, 200001), [-0.0, 1e-30, -1e-30]]).astype(dtype)
    out = np.empty_like(x)
    _exp_all(x, out)
    expected = np.exp(x.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=0)
    below = np.array([lowest - 0.5, lowest - 100.0, -1e30, -np.inf], dtype)  # denormal or 0: 0
    _exp_all(below, out[:4])
    assert np.all(out[:4] == 0)
    _exp_all(np.array([np.nan], dtype), out[:1])
    assert np.isnan(out[0])


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_compiled_pseudo_derivatives_equal_the_torch_definitions(name):
    spike_fn = Surrogate(name)
    far = torch.tensor([-1e4, -200.0, 150.0, 1e5], dtype=torch.float64)  # underflow / overflow
    x = torch.cat([torch.linspace(-3, 3, 1001, dtype=torch.float64), far])
    out = np.empty(x.shape)
    kind, params = _surrogate_params(spike_fn)
    # With b = 0, b0 = 0, beta = 0 the kernel's argument u - B is x itself.
    _alif_surrogates(0, x.numel(), x.numpy(), np.zeros(x.shape), 0.0, 0.0, kind, params, out)
    np.testing.assert_allclose(out, spike_fn.grad(x).numpy(), rtol=1e-12, atol=1e-15)


def test_dispatch_uses_the_fused_path_only_where_it_applies():
    fast, ref = _pair()
    x = torch.rand(5, 2, 7, dtype=torch.float64)
    assert type(fast(x).output.grad_fn).__name__ == "_LeakyReadoutBackward"
    spikes_node = fast.layers[0](x, fast.layers[0].initial_state(2, x))[0].grad_fn
    assert type(spikes_node).__name__ == "_ALIFLayerBackward"
    assert type(ref(x).output.grad_fn).__name__ != "_LeakyReadoutBackward"
    reset = torch.zeros(5, 2, dtype=torch.bool)
    reset[2, 0] = True  # resets and recording run fused too
    out = fast(x, reset_mask=reset, record=True)
    assert type(out.output.grad_fn).__name__ == "_LeakyReadoutBackward"
    assert type(out.record.spikes[0].grad_fn).__name__ == "_ALIFLayerBackward"
    assert not fused_supported(x.half()) and fused_supported(x.float())
    with pytest.raises(ValueError, match="impl"):
        SRNNConfig(input_size=2, output_size=2, impl="turbo")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2.0, 0.5, -1.0, 1e-30])
def test_inputs_are_kept_as_uint8_only_when_binary(bad):
    x = (torch.rand(20, 3, 9, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    kept = _compact(x)
    assert kept.dtype == torch.uint8 and torch.equal(kept.float(), x)
    x[5, 1, 2] = bad
    assert _compact(x) is x


def test_single_thread_path_gives_the_same_gradients():
    """With one torch thread the kernels run unsplit (no worker threads); same result."""
    fast, ref = _pair(seed=7)
    x = torch.rand(70, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        fast(x).output.square().sum().backward()
    finally:
        torch.set_num_threads(threads)
    ref(x).output.square().sum().backward()
    for (name, a), (_, b) in zip(fast.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)


def test_fused_functions_reject_wrong_shapes_and_dtypes():
    """The kernels index without bounds checks, so bad shapes must fail before them."""
    n_in, n, batch = 5, 4, 2
    x = torch.zeros(6, batch, n_in)
    w, w_rec, vec, state = torch.zeros(n, n_in), torch.zeros(n, n), torch.full((n,), 0.9), \
        torch.zeros(batch, n)
    args = dict(bias=vec, w_rec=w_rec, alpha=vec, rho=vec, u0=state, b_state0=state, s0=state,
                b0=0.01, beta=1.8, spike_fn=Surrogate())
    spikes, _, _ = alif_layer_sequence(x, w, **args)
    assert spikes.shape == (6, batch, n)
    with pytest.raises(ValueError, match="u0 must have shape"):
        alif_layer_sequence(x, w, **{**args, "u0": torch.zeros(batch + 1, n)})
    with pytest.raises(ValueError, match="w_rec must have shape"):
        alif_layer_sequence(x, w, **{**args, "w_rec": torch.zeros(n, n + 1)})
    with pytest.raises(ValueError, match="weight must have shape"):
        alif_layer_sequence(torch.zeros(6, batch, n_in + 1), w, **args)
    with pytest.raises(ValueError, match="T >= 1"):
        alif_layer_sequence(torch.zeros(0, batch, n_in), w, **args)
    with pytest.raises(ValueError, match="dtype"):
        alif_layer_sequence(x.double(), w, **args)
    with pytest.raises(ValueError, match="alpha is torch.float64"):
        alif_layer_sequence(x, w, **{**args, "alpha": vec.double()})
    with pytest.raises(ValueError, match="y0 must have shape"):
        leaky_readout_sequence(x, torch.zeros(3, n_in), torch.zeros(3), torch.zeros(3),
                               torch.zeros(batch, 4))


def test_large_recurrent_layer_matches():
    """Above the small-GEMM size each lane block's reverse loop takes one product per step."""
    config = SRNNConfig(input_size=5, output_size=2, seed=4, layers=(LayerConfig(400, True, "alif"),))
    fast = SRNN(config).to(torch.float64)
    ref = SRNN(dataclasses.replace(config, impl="reference")).to(torch.float64)
    ref.load_state_dict(fast.state_dict())
    x = torch.rand(12, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 4
    for model in (fast, ref):
        model(x).output.square().sum().backward()
    for (name, a), (_, b) in zip(fast.named_parameters(), ref.named_parameters()):
        assert b.grad.abs().sum() > 0, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)


def _reset_mask(steps, batch, seed):
    """Resets at random steps of random lanes, including step 0 and the first step of a chunk."""
    mask = torch.rand(steps, batch, generator=torch.Generator().manual_seed(seed)) < 0.06
    mask[0, 0] = mask[30, 1] = mask[29, 2] = True
    return mask


@pytest.mark.parametrize("neuron, recurrent, surrogate", [
    ("alif", True, "multi_gaussian"), ("alif", False, "triangle"), ("lif", True, "fast_sigmoid"),
    ("lif", False, "arctan")])
def test_resets_and_recording_fused_equal_reference_across_chunks(neuron, recurrent, surrogate):
    """``reset_mask`` (the segment reset policy) and ``record`` run fused: outputs, traces and
    every gradient equal the step loop's in float64, with state carried across a chunk boundary
    and losses on the recorded traces."""
    fast, ref = _pair(surrogate, recurrent, seed=11, neuron=neuron)
    x = torch.rand(70, 4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 3
    mask = _reset_mask(70, 4, seed=12)
    results = []
    for model in (fast, ref):
        state, total, traces = None, 0, []
        for lo, hi in ((0, 30), (30, 70)):
            out = model(x[lo:hi], state, reset_mask=mask[lo:hi], record=True)
            rec = out.record
            total = (total + out.output.pow(2).sum() + out.state.layers[0].u.sum()
                     + rec.voltage[1].pow(2).sum() * 0.1 + rec.threshold[0].sum() * 0.1
                     + rec.spikes[0].sum() * 0.01)
            traces.append(torch.cat([out.output.flatten(), *(t.flatten() for t in rec.spikes),
                                     *(t.flatten() for t in rec.voltage),
                                     *(t.flatten() for t in rec.threshold)]))
            state = out.state
        total.backward()
        results.append(torch.cat(traces))
    assert results[1].abs().sum() > 0
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=1e-12)
    for (name, a), (_, b) in zip(fast.named_parameters(), ref.named_parameters()):
        assert b.grad is not None and b.grad.abs().sum() > 0, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)


def test_reset_gradients_to_the_initial_state_and_inputs():
    """A reset at step 0 cuts the gradient to the carried-in state; lanes without one keep it."""
    fast, ref = _pair(seed=2)
    x = torch.rand(40, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(9)) * 3
    mask = torch.zeros(40, 3, dtype=torch.bool)
    mask[0, 0] = mask[17, 1] = True
    grads = []
    for model in (fast, ref):
        warm = model(x[:20]).state
        state = type(warm)(tuple(type(layer)(*(t.detach().requires_grad_() for t in layer))
                                  for layer in warm.layers),
                            type(warm.readout)(warm.readout.y.detach().requires_grad_()))
        xin = x.clone().requires_grad_()
        model(xin, state, reset_mask=mask).output.pow(2).sum().backward()
        leaves = [t for layer in state.layers for t in layer] + [state.readout.y, xin]
        grads.append([t.grad for t in leaves])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert grads[0][0][0].abs().sum() == 0 and grads[0][0][1].abs().sum() > 0


def test_reset_mask_is_checked():
    n_in, n, batch = 5, 4, 2
    x = torch.zeros(6, batch, n_in)
    vec, state = torch.full((n,), 0.9), torch.zeros(batch, n)
    with pytest.raises(ValueError, match="reset_mask must have shape"):
        alif_layer_sequence(x, torch.zeros(n, n_in), vec, None, vec, vec, state, state, state,
                            0.01, 1.8, Surrogate(), reset_mask=torch.zeros(6, batch + 1))
