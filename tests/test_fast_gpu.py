"""The fused Triton layers (spiking_nr.fast_gpu) equal the reference step loop.

Without a GPU the same kernels run on CPU tensors through Triton's interpreter: triton picks it
when it is first imported with ``TRITON_INTERPRET=1``, which tests/conftest.py sets where no GPU is
present (on a GPU machine: ``TRITON_INTERPRET=1 pytest tests/test_fast_gpu.py``). The interpreter
is slow per operation: tiny networks, few steps. Tests that need a real GPU (compiled kernels) are
marked ``gpu``; one process runs either kind, never both.
"""

import dataclasses

import pytest
import torch

pytest.importorskip("triton")

from spiking_nr import SRNN, LayerConfig, SRNNConfig, fast_gpu, network  # noqa: E402
from spiking_nr.surrogate import Surrogate  # noqa: E402


@pytest.fixture
def interpreter(monkeypatch):
    """Run SRNN's fused layers through the Triton kernels (interpreted) on CPU tensors."""
    if not fast_gpu._interpreting():
        pytest.skip("triton was imported without TRITON_INTERPRET=1 (a GPU is present)")
    monkeypatch.setattr(network, "_fused_module", lambda x, spike_fn=None: fast_gpu)


@pytest.fixture
def compiled():
    if fast_gpu._interpreting():
        pytest.skip("triton runs in interpreter mode in this process (TRITON_INTERPRET=1)")


def _pair(surrogate, recurrent, neuron, sizes=(6, 5), seed=0, dtype=torch.float64):
    config = SRNNConfig(input_size=4, output_size=3, surrogate=surrogate, seed=seed,
                        layers=(LayerConfig(sizes[0], recurrent, neuron),
                                LayerConfig(sizes[1], True, neuron)))
    fused = SRNN(config).to(dtype)
    ref = SRNN(dataclasses.replace(config, impl="reference")).to(dtype)
    ref.load_state_dict(fused.state_dict())
    return fused, ref


def _run(model, x, mask, chunks, record=True):
    """Chunks with carried state, a loss on outputs, final state and recorded traces."""
    state, total, traces = None, 0, []
    for lo, hi in chunks:
        out = model(x[lo:hi], state, reset_mask=None if mask is None else mask[lo:hi],
                    record=record)
        total = total + out.output.pow(2).sum() + out.state.layers[0].u.sum()
        traces.append(out.output.flatten())
        if record:
            rec = out.record
            total = (total + rec.voltage[1].pow(2).sum() * 0.1 + rec.threshold[0].sum() * 0.1
                     + rec.spikes[0].sum() * 0.01)
            traces += [t.flatten() for t in (*rec.spikes, *rec.voltage, *rec.threshold)]
        state = out.state
    total.backward()
    return torch.cat(traces)


def _assert_same(fused, ref, x, mask, chunks, record=True, rtol=1e-9, atol=1e-12):
    got, want = _run(fused, x, mask, chunks, record), _run(ref, x, mask, chunks, record)
    assert want.abs().sum() > 0
    torch.testing.assert_close(got, want, rtol=0, atol=atol)
    for (name, a), (_, b) in zip(fused.named_parameters(), ref.named_parameters()):
        assert b.grad is not None and b.grad.abs().sum() > 0, name
        torch.testing.assert_close(a.grad, b.grad, rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("neuron, recurrent, surrogate", [
    ("alif", True, "multi_gaussian"), ("alif", False, "fast_sigmoid"), ("lif", True, "triangle"),
    ("lif", False, "arctan")])
def test_triton_layers_equal_reference_with_resets_records_and_chunks(interpreter, neuron,
                                                                        recurrent, surrogate):
    """float64 through the interpreter: outputs, spikes, traces and every gradient (weights,
    biases, time constants) equal the step loop's, across a chunk boundary, with resets."""
    fused, ref = _pair(surrogate, recurrent, neuron)
    x = torch.rand(11, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    mask = torch.zeros(11, 3, dtype=torch.bool)
    mask[0, 0] = mask[5, 1] = mask[8, 2] = True  # step 0, a chunk's first step, mid-chunk
    _assert_same(fused, ref, x, mask, [(0, 5), (5, 11)])
    out = fused(x[:3], record=False)
    assert type(out.output.grad_fn).__name__ == "_LeakyReadoutGPUBackward"


def test_tiled_neurons_and_dot_path_equal_reference(interpreter, monkeypatch):
    """Blocks of 16 lanes take the ``tl.dot`` path; 20 neurons span two 16-neuron tiles (the
    recurrent product sums over tiles, the barrier orders them); no resets, no recording."""
    monkeypatch.setattr(fast_gpu, "_launch_config", lambda batch, n, device: {
        "BLOCK_B": 16, "BLOCK_N": 16, "BLOCK_K": 16, "USE_DOT": True})
    fused, ref = _pair("multi_gaussian", True, "alif", sizes=(20, 5), seed=3)
    x = torch.rand(6, 18, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3
    _assert_same(fused, ref, x, None, [(0, 6)], record=False)


def test_float32_gradients_within_1e5(interpreter):
    fused, ref = _pair("multi_gaussian", True, "alif", seed=5, dtype=torch.float32)
    x = (torch.rand(12, 4, 4, generator=torch.Generator().manual_seed(4)) < 0.4).float() * 2
    mask = torch.zeros(12, 4, dtype=torch.bool)
    mask[6, 1] = True
    outs = [_run(model, x, mask, [(0, 12)], record=False) for model in (fused, ref)]
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    for (name, a), (_, b) in zip(fused.named_parameters(), ref.named_parameters()):
        rel = (a.grad - b.grad).norm() / b.grad.norm()
        assert rel < 1e-5, (name, float(rel))


def test_unsupported_dtypes_and_devices_are_rejected(monkeypatch):
    n_in, n, batch = 3, 4, 2
    x = torch.zeros(5, batch, n_in)
    w, vec, state = torch.zeros(n, n_in), torch.full((n,), 0.9), torch.zeros(batch, n)
    args = dict(bias=vec, w_rec=None, alpha=vec, rho=vec, u0=state, b_state0=state, s0=state,
                b0=0.01, beta=1.8, spike_fn=Surrogate())
    with monkeypatch.context() as patch:
        patch.setattr(fast_gpu, "_interpreting", lambda: False)
        with pytest.raises(ValueError, match="CUDA float32 tensors .*TRITON_INTERPRET=1"):
            fast_gpu.alif_layer_sequence(x, w, **args)
    if not fast_gpu._interpreting():
        return
    with pytest.raises(ValueError, match="float32 or torch.float64, got torch.float16"):
        fast_gpu.alif_layer_sequence(x.half(), w.half(), **args)
    with pytest.raises(ValueError, match="weight is on meta"):
        fast_gpu.alif_layer_sequence(x, w.to("meta"), **args)
    with pytest.raises(ValueError, match="alpha is torch.float64"):
        fast_gpu.alif_layer_sequence(x, w, **{**args, "alpha": vec.double()})
    with pytest.raises(ValueError, match="reset_mask must have shape"):
        fast_gpu.alif_layer_sequence(x, w, **args, reset_mask=torch.zeros(5, batch + 1))
    with pytest.raises(ValueError, match="y0 is on meta"):
        fast_gpu.leaky_readout_sequence(x, torch.zeros(3, n_in), torch.zeros(3), torch.zeros(3),
                                        torch.zeros(batch, 3, device="meta"))
    assert not fast_gpu.gpu_supported(x) and not fast_gpu.gpu_supported(x.to("meta"))


@pytest.mark.gpu
def test_srnn_uses_the_triton_layers_on_cuda_and_matches_the_reference(compiled):
    """On a GPU: impl="auto" runs the compiled kernels; float32 gradients match the step loop's
    where the spikes agree (float32 sums in another order may flip a threshold crossing)."""
    fused, ref = _pair("multi_gaussian", True, "alif", sizes=(64, 32), seed=7,
                       dtype=torch.float32)
    fused, ref = fused.cuda(), ref.cuda()
    x = (torch.rand(40, 8, 4, generator=torch.Generator().manual_seed(6)) < 0.3).float().cuda()
    mask = torch.zeros(40, 8, dtype=torch.bool, device="cuda")
    mask[20, :4] = True
    out = fused(x, reset_mask=mask)
    assert type(out.output.grad_fn).__name__ == "_LeakyReadoutGPUBackward"
    assert type(ref(x).output.grad_fn).__name__ != "_LeakyReadoutGPUBackward"  # impl="reference"
    want = ref(x, reset_mask=mask, record=True).record.spikes
    got = fused(x, reset_mask=mask, record=True).record.spikes
    mismatch = sum(float((a != b).float().mean()) for a, b in zip(got, want)) / len(got)
    assert mismatch < 0.01, mismatch
    if mismatch == 0:
        outs = [_run(model, x, mask, [(0, 20), (20, 40)], record=False) for model in (fused, ref)]
        torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)
        for (name, a), (_, b) in zip(fused.named_parameters(), ref.named_parameters()):
            rel = (a.grad - b.grad).norm() / b.grad.norm()
            assert rel < 1e-4, (name, float(rel))


def test_dispatch_picks_the_fused_module_by_device_and_dtype():
    x = torch.zeros(2, 1, 3, dtype=torch.float64)
    assert network._fused_module(x) is network.fast
    assert network._fused_module(x.half()) is None  # float16 on CPU: the step loop
    assert network._fused_module(x.to("meta")) is None
