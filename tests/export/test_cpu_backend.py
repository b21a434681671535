"""CPU backend: equations, streaming, quantisation, and bit-exactness with torch fixed point."""

import dataclasses

import numpy as np
import pytest

from neuromorphic_export.build import make_layer, random_network
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.quantize import quantize_network, quantize_weights
from neuromorphic_export.spec import LayerSpec, NetworkSpec


def random_spec(n_in=12, sizes=(10, 8), n_out=3, seed=0, recurrent=True):
    rng = np.random.default_rng(seed)
    layers, size = [], n_in
    for i, n in enumerate(sizes):
        layers.append(LayerSpec(
            f"h{i}", "alif_yin", rng.normal(0.02, 0.06, (n, size)), rng.normal(0, 0.002, n),
            {"alpha": rng.uniform(0.8, 0.97, n), "rho": rng.uniform(0.98, 0.998, n),
             "b0": np.full(n, 0.01), "beta": np.full(n, 1.8)},
            weight_rec=rng.normal(0, 0.03, (n, n)) if recurrent else None))
        size = n
    layers.append(LayerSpec("out", "readout", rng.normal(0, 0.05, (n_out, size)), np.zeros(n_out),
                            {"alpha": rng.uniform(0.8, 0.97, n_out)}))
    return NetworkSpec(n_in, tuple(layers))


def any_network(model, mode, n_in=12, sizes=(10, 8), seed=0):
    """A random recurrent network of ``model`` layers + readout in ``mode`` (alif_yin: random_spec)."""
    if model == "alif_yin":
        spec = random_spec(n_in=n_in, sizes=sizes, seed=seed)
        return quantize_network(spec) if mode == "fixed" else spec
    return random_network(model, n_in, sizes, 3, mode=mode, seed=seed)


def reference_run(spec, x):
    """Plain-python reference of the spec's equations with Lava timing (batch 1)."""
    fixed = spec.mode == "fixed"

    def rtz(v):
        return int(v / 4096) if fixed else v

    h = x.astype(np.int64 if fixed else np.float64)
    rec = []
    for layer in spec.layers:
        n, p = layer.size, layer.params
        u, b, s = np.zeros(n, h.dtype), np.zeros(n, h.dtype), np.zeros(n, h.dtype)
        outs = []
        for t in range(len(h)):
            src = h[t - 1] if t > 0 else np.zeros_like(h[0])
            a = layer.weight @ src + (layer.weight_rec @ s if layer.weight_rec is not None else 0)
            new = np.zeros(n, h.dtype)
            bias = layer.bias if t >= layer.bias_delay else np.zeros_like(layer.bias)
            for i in range(n):
                if fixed:
                    if layer.spiking:
                        f, rho = layer.trace_bits, int(p["rho"][i])
                        b[i] = (int(b[i]) * rho >> 24) + int(s[i]) * (2**24 - rho) * 2**f // 2**24
                        th = p["b0"][i] + (int(p["beta"][i]) * int(b[i]) >> f)
                        u[i] = min(max(rtz(int(u[i]) * int(p["alpha"][i])) + (a[i] << 6)
                                       + (bias[i] << 6) - th * s[i], -2**23), 2**23 - 1)
                        new[i] = u[i] > th
                    else:
                        u[i] = min(max(rtz(int(u[i]) * int(p["alpha"][i])) + (a[i] << 6)
                                       + (bias[i] << 6), -2**23), 2**23 - 1)
                        new[i] = u[i]
                else:
                    if layer.spiking:
                        b[i] = p["rho"][i] * b[i] + (1 - p["rho"][i]) * s[i]
                        th = p["b0"][i] + p["beta"][i] * b[i]
                        u[i] = p["alpha"][i] * u[i] + a[i] + bias[i] - th * s[i]
                        new[i] = u[i] > th
                    else:
                        u[i] = p["alpha"][i] * u[i] + a[i] + bias[i]
                        new[i] = u[i]
            s = new if layer.spiking else s
            outs.append(new.copy())
        h = np.array(outs)
        rec.append(h)
    return rec


@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_matches_reference_equations(mode, delayed):
    spec = random_spec()
    if delayed:  # strong biases that start late, as an exported network has them
        spec = NetworkSpec(spec.input_size, tuple(
            dataclasses.replace(layer, bias=layer.bias * 10 + 0.003, bias_delay=index + 1)
            for index, layer in enumerate(spec.layers)))
    spec = quantize_network(spec) if mode == "fixed" else spec
    x = (np.random.default_rng(1).random((120, 12)) < 0.3).astype(np.uint8)
    result = CPUSimulator(spec).run(x, record=("spikes",))
    ref = reference_run(spec, x)
    for mine, theirs in zip(result.spikes, ref[:-1]):
        np.testing.assert_array_equal(mine[:, 0], theirs)
    np.testing.assert_allclose(result.output[:, 0], ref[-1], rtol=0, atol=1e-12)
    assert sum(s.sum() for s in result.spikes) > 50


@pytest.mark.parametrize("model", ["alif_yin", "cuba_lif", "atrlif"])
@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_chunked_equals_one_shot(mode, model):
    spec = any_network(model, mode, seed=3)
    x = (np.random.default_rng(2).random((200, 3, 12)) < 0.3).astype(np.uint8)
    whole = CPUSimulator(spec).run(x, record=("spikes", "voltage"))
    sim = CPUSimulator(spec)
    parts = [sim.run(x[a:b], record=("spikes", "voltage"))
             for a, b in [(0, 1), (1, 57), (57, 58), (58, 200)]]
    np.testing.assert_array_equal(np.concatenate([p.output for p in parts]), whole.output)
    np.testing.assert_array_equal(np.concatenate([p.spikes[1] for p in parts]), whole.spikes[1])


def test_quantize_weights_follow_loihi_rule():
    w = np.array([[0.5, -1.0, 0.013], [0.3, 0.2, -0.999]])
    q = quantize_weights(w, 254.0)
    assert q.min() >= -256 and q.max() <= 254
    assert np.all(q % 2 == 0), "mixed signs: Loihi keeps even mantissas only"
    positive = quantize_weights(np.abs(w), 254.0)
    assert np.any(positive % 2 == 1), "single sign: full 8-bit resolution"
    assert quantize_weights(np.array([[10.0]]), 254.0).item() == 254


def test_spec_validation_errors():
    good = random_spec()
    layer = good.layers[0]
    with pytest.raises(ValueError, match="unknown neuron model"):
        NetworkSpec(12, (LayerSpec("x", "izh", layer.weight, layer.bias, layer.params),))
    with pytest.raises(ValueError, match="NaN"):
        bad = layer.weight.copy()
        bad[0, 0] = np.nan
        NetworkSpec(12, (LayerSpec("x", "alif_yin", bad, layer.bias, layer.params),
                         good.layers[1], good.layers[2]))
    with pytest.raises(ValueError, match="expects 8 inputs but the previous layer has 10"):
        NetworkSpec(12, (layer, good.layers[2]))
    with pytest.raises(ValueError, match="decay alpha"):
        NetworkSpec(12, (LayerSpec("x", "alif_yin", layer.weight, layer.bias,
                                   {**layer.params, "alpha": np.full(10, 1.5)}),))
    fixed = quantize_network(good)
    with pytest.raises(ValueError, match=r"\[-256, 254\]"):
        NetworkSpec(12, (LayerSpec("x", "alif_yin", fixed.layers[0].weight * 4, fixed.layers[0].bias,
                                   fixed.layers[0].params),), mode="fixed")


def test_bad_input_rejected():
    sim = CPUSimulator(random_spec())
    with pytest.raises(ValueError, match="binary spikes"):
        sim.run(np.full((3, 12), 0.5))
    with pytest.raises(ValueError, match="12"):
        sim.run(np.zeros((3, 11)))
    sim.run(np.zeros((3, 2, 12)))
    with pytest.raises(ValueError, match="batch 2"):
        sim.run(np.zeros((3, 4, 12)))


def test_loihi_model_validation_errors():
    w = np.full((4, 3), 10)
    cuba = {"du": 1024, "dv": 256, "vth": 100}

    def network(layer):
        return NetworkSpec(3, (layer,), mode="fixed")

    network(make_layer("cuba_lif", "ok", w, **cuba))
    with pytest.raises(ValueError, match="du must be the same for every neuron"):
        network(make_layer("cuba_lif", "x", w, **{**cuba, "du": np.array([1, 2, 3, 4])}))
    with pytest.raises(ValueError, match=r"current decay du must be in \[1, 4096\]"):
        network(make_layer("cuba_lif", "x", w, **{**cuba, "du": 0}))
    with pytest.raises(ValueError, match=r"bias of a cuba_lif layer must be in \[-4095, 4095\]"):
        network(make_layer("cuba_lif", "x", w, bias=5000, **cuba))
    with pytest.raises(ValueError, match=r"th_step must be in \[0, 4095\]"):
        network(make_layer("atrlif", "x", w, di=1, dv=0, dth=1, dr=1, th0=10, th_step=5000))
    with pytest.raises(ValueError, match=r"decay dv must be in \[0, 1\]"):
        NetworkSpec(3, (make_layer("cuba_lif", "x", w * 0.1, du=0.5, dv=1.5, vth=1.0),))
    with pytest.raises(ValueError, match=r"missing \['vth'\]"):
        make_layer("cuba_lif", "x", w, du=1, dv=0)
    with pytest.raises(ValueError, match="spiking model"):
        random_network("readout", 3, (4,), 2)


def test_quantized_loihi_models_keep_float_dynamics_close():
    """Quantisation maps decays to 1/4096 units and thresholds to mantissas << 6: the fixed network
    fires like the float one."""
    for model in ("cuba_lif", "atrlif"):
        x = (np.random.default_rng(0).random((300, 12)) < 0.25).astype(np.uint8)
        rates = [CPUSimulator(any_network(model, mode)).run(x).spikes[0].mean()
                 for mode in ("float", "fixed")]
        assert rates[0] > 0.05 and abs(rates[0] - rates[1]) < 0.1 * rates[0], (model, rates)
