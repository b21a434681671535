"""Nothing validates that Lava's Dense or netx's bit sizing would alter (fast part: no Lava run)."""

import h5py
import numpy as np
import pytest

from neuromorphic_export.build import make_layer, random_network
from neuromorphic_export.io import load_network, save_network
from neuromorphic_export.quantize import quantize_network
from neuromorphic_export.spec import LayerSpec, NetworkSpec, lava_dense_weights, netx_dense_weights

CUBA = {"du": 1024, "dv": 256, "vth": 300}
ALIF = {"alpha": 3900, "rho": 2**24 - 2**15, "b0": 500, "beta": 20000}


def readout(n_in):
    return make_layer("readout", "out", np.full((2, n_in), 4), alpha=3800)


def odd_one_signed_input(rng, n=7, n_in=9):
    """The netx trap: one-signed input weights with odd values above 127, mixed even recurrent."""
    weight = rng.integers(64, 127, (n, n_in)) * 2 + 1
    return weight, 2 * rng.integers(-40, 40, (n, n))


BAD_LAYERS = {  # name -> (layer, what the error names)
    "mixed odd (Lava's Dense drops the lowest bit)": (
        lambda rng: make_layer("alif_yin", "h0", np.array([[3, -4], [6, 8]] * 1), **ALIF),
        r"layer 'h0': fixed-point weight would be changed by lava's Dense .*\[0, 0\]: 3 -> 2"),
    "mixed odd recurrent": (
        lambda rng: make_layer("atrlif", "h0", np.full((2, 2), 10), weight_rec=np.array([[1, -2], [0, 0]]),
                               di=1, dv=0, dth=64, dr=512, th0=100, th_step=10),
        r"layer 'h0': fixed-point weight_rec would be changed by lava's Dense"),
    "all-negative -256 (Lava clips to -255)": (
        lambda rng: make_layer("alif_yin", "h0", np.array([[-256, -4], [-6, 0]]), **ALIF),
        r"layer .h0.: fixed-point weight would be changed by lava.s Dense .*-256 -> -255.*\[-255, 0\]"),
    "netx joint sizing zeroes odd one-signed input": (
        lambda rng: make_layer("cuba_lif", "h0", *odd_one_signed_input(rng)[:1],
                               weight_rec=odd_one_signed_input(rng)[1], **CUBA),
        r"layer 'h0': fixed-point weight would be changed by netx's bit sizing .* -> 0\); when the "
        r"two matrices together mix signs, every value must be even"),
    "netx all-zero matrix": (
        lambda rng: make_layer("cuba_lif", "h0", np.zeros((2, 2), int), **CUBA),
        r"netx cannot size an all-zero weight matrix"),
}


@pytest.mark.parametrize("case", list(BAD_LAYERS))
def test_validator_refuses_what_lava_or_netx_would_alter(case, tmp_path):
    build, match = BAD_LAYERS[case]
    layer = build(np.random.default_rng(0))
    with pytest.raises(ValueError, match=match) as error:
        NetworkSpec(layer.input_size, (layer, readout(layer.size)), "fixed")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("case", list(BAD_LAYERS)[:4])
def test_load_network_refuses_a_file_holding_it(case, tmp_path):
    """The same weights written into a valid file by hand: the reader names layer and field."""
    bad = BAD_LAYERS[case][0](np.random.default_rng(0))
    rec = None if bad.weight_rec is None else np.full(bad.weight_rec.shape, 2)
    good = make_layer(bad.model, "h0", np.full(bad.weight.shape, 2), weight_rec=rec,
                      **{k: v[0] for k, v in bad.params.items()})
    path = save_network(NetworkSpec(bad.input_size, (good, readout(bad.size)), "fixed"), tmp_path / "n.h5")
    with h5py.File(path, "r+") as f:
        for key in ("weight", "weight_rec"):
            if getattr(bad, key) is not None:
                del f[f"layer/1/{key}"]
                f["layer/1"].create_dataset(key, data=getattr(bad, key))
    with pytest.raises(ValueError, match=f"n.h5: {BAD_LAYERS[case][1]}"):
        load_network(path)


def test_lava_and_netx_rules():
    """The emulated rules on small cases (checked against real Lava/netx in test_lava_backend)."""
    np.testing.assert_array_equal(lava_dense_weights(np.array([[3, -5, 254]])), [[2, -6, 254]])
    np.testing.assert_array_equal(lava_dense_weights(np.array([[3, 255, 0]])), [[3, 255, 0]])
    np.testing.assert_array_equal(lava_dense_weights(np.array([[-3, -256]])), [[-3, -255]])
    weight, weight_rec = odd_one_signed_input(np.random.default_rng(1))
    got, got_rec = netx_dense_weights(weight, weight_rec)
    assert not got.any() and np.array_equal(got_rec, weight_rec)  # every input weight becomes 0
    small = weight // 2 | 1  # odd but <= 127: netx shifts by one bit and keeps them
    kept = netx_dense_weights(small, weight_rec)
    assert np.array_equal(kept[0], small) and np.array_equal(kept[1], weight_rec)
    assert np.array_equal(netx_dense_weights(weight, None)[0], weight)  # one matrix, one sign: kept


@pytest.mark.parametrize("model", ["alif_yin", "cuba_lif", "atrlif"])
@pytest.mark.parametrize("seed", range(6))
def test_quantiser_never_produces_altered_weights(model, seed):
    """Float layers with one-signed input and mixed recurrent weights (the netx trap), any scale."""
    rng = np.random.default_rng(seed)
    spec = random_network(model, 9, (7, 5), 3, mode="float", seed=seed)
    layers = list(spec.layers)
    layers[0] = LayerSpec(**{**layers[0].__dict__, "weight": np.abs(layers[0].weight) * rng.uniform(0.2, 5)})
    fixed = quantize_network(NetworkSpec(9, tuple(layers), "float"))  # validates every rule
    for layer in fixed.layers:
        for w in (layer.weight, layer.weight_rec):
            if w is not None:
                np.testing.assert_array_equal(lava_dense_weights(w), w)
        if layer.model == "cuba_lif":
            for got, want in zip(netx_dense_weights(layer.weight, layer.weight_rec),
                                 (layer.weight, layer.weight_rec)):
                np.testing.assert_array_equal(got, want)
