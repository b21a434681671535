"""torch fixed-point evaluation (QAT path) == CPU backend, bit for bit, shifted by the latency."""

import numpy as np
import pytest
import torch

from neuromorphic_export.cpu import CPUSimulator
from spiking_nr import SRNN, LayerConfig, SRNNConfig
from spiking_nr.export import to_network_spec
from spiking_nr.quant import FixedPointSRNN


def _model(seed, sizes=(30, 20), neurons=("alif", "lif")):
    layers = tuple(LayerConfig(n, True, kind) for n, kind in zip(sizes, neurons))
    return SRNN(SRNNConfig(input_size=40, output_size=5, layers=layers, seed=seed))


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_fixed_point_equals_cpu_backend_bit_for_bit(seed):
    model = _model(seed)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(250, 2, 40, generator=g) < 0.1).double()
    torch_out = FixedPointSRNN(model)(x, record=True)
    spec = to_network_spec(model, "fixed")
    latency = spec.latency
    padded = np.concatenate([x.numpy(), np.zeros((latency, 2, 40))])
    cpu = CPUSimulator(spec).run(padded, record=("spikes", "voltage"))
    for depth, (spikes, voltage) in enumerate(zip(torch_out.record.spikes, torch_out.record.voltage)):
        window = slice(depth + 1, depth + 1 + 250)
        np.testing.assert_array_equal(spikes.detach().numpy(), cpu.spikes[depth][window])
        np.testing.assert_array_equal(voltage.detach().numpy(), cpu.voltage[depth][window])
        assert spikes.sum() > 10
    np.testing.assert_array_equal(torch_out.output.detach().numpy(),
                                  cpu.output_float(spec)[latency:latency + 250])


def test_fixed_point_chunked_equals_one_shot_and_trains():
    model = _model(2)
    fixed = FixedPointSRNN(model)
    x = (torch.rand(60, 3, 40) < 0.2).double()
    whole = fixed(x)
    first = fixed(x[:25])
    second = fixed(x[25:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output]), whole.output, rtol=0, atol=0)
    whole.output.pow(2).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "layers.0" in n), grads


def test_float_export_matches_torch_dynamics():
    model = _model(3, neurons=("alif", "alif"))
    x = (torch.rand(100, 1, 40) < 0.1).float()
    torch_out = model(x.double().float(), record=True)
    spec = to_network_spec(model, "float")
    cpu = CPUSimulator(spec).run(np.concatenate([x.numpy(), np.zeros((3, 1, 40))]), record=("spikes",))
    agree = np.mean(torch_out.record.spikes[0].detach().numpy() == cpu.spikes[0][1:101])
    assert agree > 0.99  # float32 torch vs float64 simulator: near-threshold steps may differ
