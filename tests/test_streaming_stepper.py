"""SRNNStepper (one step per call) equals SRNN.forward and interoperates with its state."""

import pytest
import torch

from spiking_nr import SRNN, LayerConfig, SRNNConfig, SRNNState, SRNNStepper
from spiking_nr.neurons import ALIFState, LIFState, ReadoutState

T = 300
N_IN, N_OUT = 24, 5


def _net(layers, dtype, seed=0):
    return SRNN(SRNNConfig(input_size=N_IN, output_size=N_OUT, layers=layers, seed=seed)).to(dtype)


def _inputs(batch, dtype, binary, steps=T, seed=1):
    g = torch.Generator().manual_seed(seed)
    if binary:
        return (torch.rand(steps, batch, N_IN, generator=g) < 0.2).to(dtype)
    return (torch.rand(steps, batch, N_IN, generator=g, dtype=dtype) * 2.5).to(dtype)


def _run(stepper, x):
    """Outputs [T, B, C] and per-layer spikes [T, B, N] of a stepper fed x step by step."""
    outputs, spikes = [], []
    for t in range(x.shape[0]):
        outputs.append(stepper.step(x[t]))
        spikes.append([layer.s for layer in stepper.state.layers])
    return torch.stack(outputs), [torch.stack(per_layer) for per_layer in zip(*spikes)]


def _close(a, b, dtype=torch.float64):
    """Float tolerance: float32 sums taken in another order differ by a few ulps (rtol 1e-5 is
    torch.allclose's default); float64 agrees to ~1e-16."""
    if dtype == torch.float32:
        return torch.allclose(a, b, atol=1e-6)
    return torch.allclose(a, b, rtol=0, atol=1e-12)


def _assert_state_close(mine, ref, dtype=torch.float64):
    for a, b in zip(mine.layers, ref.layers):
        assert type(a) is type(b)
        for name, ta, tb in zip(a._fields, a, b):
            if name == "s":
                assert torch.equal(ta, tb)
            else:
                assert _close(ta, tb, dtype), name
    assert _close(mine.readout.y, ref.readout.y, dtype)


LAYOUTS = {
    "alif_rec": lambda: (LayerConfig(32, True, "alif"), LayerConfig(20, True, "alif")),
    "alif_ff": lambda: (LayerConfig(32, False, "alif"), LayerConfig(20, False, "alif")),
    "lif_rec": lambda: (LayerConfig(32, True, "lif"), LayerConfig(20, True, "lif")),
    "lif_ff": lambda: (LayerConfig(32, False, "lif"), LayerConfig(20, False, "lif")),
    "mixed3": lambda: (LayerConfig(32, True, "alif"), LayerConfig(16, False, "lif"),
                       LayerConfig(20, True, "alif")),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_stepper_equals_forward(layout, batch, dtype):
    net = _net(LAYOUTS[layout](), dtype)
    for binary in (True, False):
        x = _inputs(batch, dtype, binary)
        with torch.no_grad():
            ref = net(x, record=True)  # reference step loop, with the spikes of every layer
            fused = net(x)  # default path
        stepper = net.stepper(batch=batch, binary_input=binary)
        assert stepper.sparse == (batch == 1)
        out, spikes = _run(stepper, x)
        assert out.shape == (T, batch, N_OUT) and out.dtype == dtype
        assert _close(out, ref.output, dtype)
        assert _close(out, fused.output, dtype)
        for mine, theirs in zip(spikes, ref.record.spikes):
            assert torch.equal(mine, theirs)
        assert sum(float(s.sum()) for s in spikes) > 50, "the network must be active"
        _assert_state_close(stepper.state, ref.state, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_sparse_and_dense_paths_agree_at_batch_1(dtype):
    net = _net(LAYOUTS["mixed3"](), dtype)
    x = _inputs(1, dtype, binary=False)
    dense, dense_spikes = _run(net.stepper(sparse=False), x)
    sparse, sparse_spikes = _run(net.stepper(sparse=True), x)
    assert _close(dense, sparse, dtype)
    for a, b in zip(dense_spikes, sparse_spikes):
        assert torch.equal(a, b)


@pytest.mark.parametrize("batch", [1, 3])
def test_sparse_path_equals_the_fused_forward_exactly_on_spike_inputs(batch):
    """The sparse path runs the training kernels at T = 1: bit-equal outputs and state."""
    net = _net(LAYOUTS["mixed3"](), torch.float32)
    x = _inputs(batch, torch.float32, binary=True)
    with torch.no_grad():
        whole = net(x)
    stepper = net.stepper(batch=batch, sparse=True)
    out, _ = _run(stepper, x)
    assert torch.equal(out, whole.output)
    for mine, theirs in zip(stepper.state.layers, whole.state.layers):
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs))


def test_continue_a_forward_stream_and_back():
    net = _net(LAYOUTS["mixed3"](), torch.float64)
    x = _inputs(3, torch.float64, binary=False)
    with torch.no_grad():
        whole = net(x)
        first = net(x[:100])
    stepper = SRNNStepper(net, batch=3, state=first.state)  # forward -> stepper
    middle = torch.stack([stepper.step(x[t]) for t in range(100, 200)])
    with torch.no_grad():
        last = net(x[200:], stepper.state)  # stepper -> forward
    out = torch.cat([first.output, middle, last.output])
    assert _close(out, whole.output)
    _assert_state_close(last.state, whole.state)


def test_state_round_trip_and_copies():
    net = _net(LAYOUTS["mixed3"](), torch.float32)
    x = _inputs(1, torch.float32, binary=True, steps=40)
    with torch.no_grad():
        given = net(x).state
    stepper = net.stepper(state=given)
    got = stepper.state
    assert isinstance(got, SRNNState) and isinstance(got.readout, ReadoutState)
    assert [type(s) for s in got.layers] == [ALIFState, LIFState, ALIFState]
    for a, b in zip(got.layers, given.layers):
        for ta, tb in zip(a, b):
            assert torch.equal(ta, tb)
    assert torch.equal(got.readout.y, given.readout.y)
    snapshot = [t.clone() for layer in got.layers for t in layer]
    y = stepper.step(x[0])
    y_copy = y.clone()
    for _ in range(5):
        stepper.step(x[1])
    assert torch.equal(y, y_copy), "a returned output must not change with later steps"
    assert all(torch.equal(a, b) for a, b in zip(snapshot, [t for layer in got.layers for t in layer]))
    # the state read from a stepper is an ordinary tensor: forward can train from it
    net(x[:5], stepper.state).output.sum().backward()
    assert net.readout.fc.weight.grad is not None


def test_reset_and_initial_state_are_rest():
    net = _net(LAYOUTS["alif_rec"](), torch.float64)
    x = _inputs(2, torch.float64, binary=False, steps=30)
    stepper = net.stepper(batch=2)
    fresh = torch.stack([stepper.step(x[t]) for t in range(30)])
    stepper.reset()
    again = torch.stack([stepper.step(x[t]) for t in range(30)])
    stepper.state = None
    third = torch.stack([stepper.step(x[t]) for t in range(30)])
    assert torch.equal(fresh, again) and torch.equal(fresh, third)
    for a, b in zip(net.stepper(batch=2).state.layers, net.initial_state(2).layers):
        assert all(torch.equal(ta, tb) for ta, tb in zip(a, b))


def test_parameters_are_read_at_creation():
    net = _net(LAYOUTS["alif_rec"](), torch.float64)
    x = _inputs(1, torch.float64, binary=False, steps=20)
    stepper = net.stepper()
    before = _run(stepper, x)[0]
    with torch.no_grad():
        net.layers[0].fc.weight.mul_(2.0)
        net.readout.tau.log_tau.add_(0.5)
    stepper.reset()
    assert torch.equal(_run(stepper, x)[0], before)  # the old snapshot
    with torch.no_grad():
        ref = net(x).output
    assert _close(_run(net.stepper(), x)[0], ref)  # a new one


def test_step_accepts_other_dtypes_and_a_dtype_override():
    net = _net(LAYOUTS["lif_rec"](), torch.float32)
    x = _inputs(1, torch.float32, binary=True, steps=20)
    a = _run(net.stepper(binary_input=True), x)[0]
    b = _run(net.stepper(binary_input=True), x.bool())[0]
    assert torch.equal(a, b)
    wide = net.stepper(dtype=torch.float64)
    assert wide.dtype == torch.float64 and wide.step(x[0]).dtype == torch.float64


def test_errors():
    net = _net(LAYOUTS["mixed3"](), torch.float32)
    stepper = net.stepper()
    for bad in (torch.zeros(N_IN), torch.zeros(2, N_IN), torch.zeros(1, N_IN + 1),
                torch.zeros(1, 1, N_IN)):
        with pytest.raises(ValueError, match=r"shape \[B, N_in\]"):
            stepper.step(bad)
    with pytest.raises(TypeError, match="torch.Tensor"):
        stepper.step([[0.0] * N_IN])
    with pytest.raises(ValueError, match="sparse=True needs a CPU float32/float64 model"):
        net.stepper(sparse=True, dtype=torch.bfloat16)
    for batch in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch"):
            SRNNStepper(net, batch=batch)
    with pytest.raises(TypeError, match="SRNN"):
        SRNNStepper(torch.nn.Linear(3, 3))
    with pytest.raises(TypeError, match="floating"):
        net.stepper(dtype=torch.int32)
    good = net.initial_state(1)
    with pytest.raises(ValueError, match="3 layer states"):
        stepper.state = SRNNState(good.layers[:2], good.readout)
    with pytest.raises(ValueError, match="3 layer states"):
        stepper.state = (good.layers, good.readout)
    with pytest.raises(ValueError, match="shape"):
        stepper.state = net.initial_state(2)  # wrong batch
    with pytest.raises(ValueError, match="must be an LIFState"):
        stepper.state = SRNNState((good.layers[0], good.layers[0], good.layers[2]), good.readout)
    with pytest.raises(ValueError, match="readout state"):
        stepper.state = SRNNState(good.layers, ReadoutState(torch.zeros(1, N_OUT + 1)))
    assert "SRNNStepper(batch=1" in repr(stepper)
