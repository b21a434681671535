import math

import pytest
import torch

from spiking_nr.surrogate import SURROGATES, get_surrogate


def _normal(x, mu, sigma):
    return math.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)


FORMULAS = {
    "multi_gaussian": lambda x: 0.5 * (1.15 * _normal(x, 0, 0.5) - 0.15 * _normal(x, 0.5, 3.0)
                                       - 0.15 * _normal(x, -0.5, 3.0)),
    "fast_sigmoid": lambda x: 1 / (1 + 25 * abs(x)) ** 2,
    "triangle": lambda x: max(0.0, 1 - abs(x) / 0.5) / 0.5,
    "arctan": lambda x: 1.0 / (1 + (math.pi / 2 * 2 * x) ** 2),
}


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_forward_is_heaviside_and_backward_matches_formula(name):
    xs = torch.linspace(-2, 2, 81, dtype=torch.float64, requires_grad=True)
    spikes = get_surrogate(name)(xs)
    assert torch.equal(spikes, (xs > 0).double())
    spikes.sum().backward()
    expected = torch.tensor([FORMULAS[name](float(x)) for x in xs.detach()], dtype=torch.float64)
    torch.testing.assert_close(xs.grad, expected, rtol=1e-10, atol=1e-12)


def test_parameters_change_the_gradient():
    x = torch.tensor([0.1], requires_grad=True)
    get_surrogate("fast_sigmoid", slope=5.0)(x).sum().backward()
    assert abs(float(x.grad) - 1 / (1 + 0.5) ** 2) < 1e-6


def test_unknown_surrogate_and_parameter_rejected():
    with pytest.raises(ValueError, match="unknown surrogate 'sigmoidd'.*expected one of"):
        get_surrogate("sigmoidd")
    with pytest.raises(ValueError, match="no parameter"):
        get_surrogate("triangle", slope=3.0)
    with pytest.raises(ValueError, match="positive"):
        get_surrogate("triangle", width=-1.0)
