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


@pytest.mark.parametrize("seed", [3, 4])
def test_float_export_equals_the_trained_model_with_biases(seed):
    """Deployed layer k runs the trained layer k delayed by k + 1 steps, biases included: identical
    spikes, and the readout within 1e-6 after ``spec.latency`` steps; a zero or shifted output fails."""
    model = _model(seed, neurons=("alif", "alif")).double()
    with torch.no_grad():
        for layer in [*model.layers, model.readout]:  # biases large enough to matter at once
            layer.fc.bias.normal_(0.0, 0.2, generator=torch.Generator().manual_seed(seed))
    x = (torch.rand(150, 1, 40, generator=torch.Generator().manual_seed(seed)) < 0.1).double()
    with torch.no_grad():
        trained = model(x, record=True)
    spec = to_network_spec(model, "float")
    assert [layer.bias_delay for layer in spec.layers] == [1, 2, 3] and spec.latency == 3
    padded = np.concatenate([x.numpy(), np.zeros((spec.latency, 1, 40))])
    cpu = CPUSimulator(spec).run(padded, record=("spikes",))
    for depth in range(2):
        mine = trained.record.spikes[depth].numpy()
        np.testing.assert_array_equal(cpu.spikes[depth][depth + 1:depth + 1 + len(x)], mine)
        assert cpu.spikes[depth][:depth + 1].sum() == 0, "at rest until the input arrives"
        assert 50 < mine.sum() < 0.9 * mine.size
    out = trained.output.numpy()

    def deviation(shift):
        return np.abs(cpu.output[spec.latency + shift:spec.latency + shift + len(x) - 1]
                      - out[:len(x) - 1]).max()

    assert deviation(0) < 1e-6
    assert np.abs(out).max() > 0.05  # an all-zero deployed output would be 0.05 or more off
    assert min(deviation(-1), deviation(1)) > 1e-2  # ... and so would one shifted by a step
