"""torch fixed-point evaluation (QAT path) == CPU backend, bit for bit."""

import numpy as np
import pytest
import torch

from neuromorphic_export.cpu import CPUSimulator
from spiking_nr import SRNN, LayerConfig, SRNNConfig
from spiking_nr.export import to_network_spec
from spiking_nr.quant import FixedPointSRNN


def _model(seed, sizes=(30, 20), neurons=("alif", "lif")):
    layers = tuple(LayerConfig(n, True, kind) for n, kind in zip(sizes, neurons))
    model = SRNN(SRNNConfig(input_size=40, output_size=5, layers=layers, seed=seed))
    with torch.no_grad():  # trained networks have biases: they must survive export exactly
        for layer in [*model.layers, model.readout]:
            layer.fc.bias.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(seed))
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_fixed_point_equals_cpu_backend_bit_for_bit(seed):
    model = _model(seed)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(250, 2, 40, generator=g) < 0.1).double()
    fixed = FixedPointSRNN(model)
    with torch.no_grad():
        first = fixed(x[:100], record=True)
        second = fixed(x[100:], first.state, record=True)  # streaming across chunks, too
    spec = to_network_spec(model, "fixed")
    cpu = CPUSimulator(spec).run(x.numpy(), record=("spikes", "voltage"))
    for depth in range(2):
        spikes = torch.cat([first.record.spikes[depth], second.record.spikes[depth]]).numpy()
        voltage = torch.cat([first.record.voltage[depth], second.record.voltage[depth]]).numpy()
        np.testing.assert_array_equal(spikes, cpu.spikes[depth])
        np.testing.assert_array_equal(voltage, cpu.voltage[depth])
        assert spikes.sum() > 10
    out = torch.cat([first.output, second.output]).numpy()
    np.testing.assert_array_equal(out, cpu.output_float(spec))


def test_torch_timing_is_the_float_models_and_trains():
    model = _model(2)
    fixed = FixedPointSRNN(model, timing="torch")
    x = (torch.rand(60, 3, 40) < 0.2).double()
    whole = fixed(x)
    first = fixed(x[:25])
    second = fixed(x[25:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output]), whole.output, rtol=0, atol=0)
    agree = (whole.output.argmax(-1) == model(x.float()).output.argmax(-1)).double().mean()
    assert agree > 0.5  # the same network, 8-bit weights: mostly the same decisions
    whole.output.pow(2).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "layers.0" in n), grads


def test_bad_timing_and_state():
    with pytest.raises(ValueError, match="timing"):
        FixedPointSRNN(_model(0), timing="loihi3")
    fixed = FixedPointSRNN(_model(0))
    with pytest.raises(TypeError, match="FixedPointState"):
        fixed(torch.zeros(3, 2, 40, dtype=torch.float64), _model(0).initial_state(2))


def test_float_export_matches_torch_dynamics():
    model = _model(3, neurons=("alif", "alif"))
    x = (torch.rand(100, 1, 40) < 0.1).float()
    torch_out = model(x, record=True)
    spec = to_network_spec(model, "float")
    cpu = CPUSimulator(spec).run(np.concatenate([x.numpy(), np.zeros((3, 1, 40))]), record=("spikes",))
    # float32 torch vs float64 simulator: near-threshold steps may differ; the bias makes the
    # deployed layer start one step "warm" (its first step sees the bias before any input)
    agree = np.mean(torch_out.record.spikes[0].detach().numpy() == cpu.spikes[0][1:101])
    assert agree > 0.9
