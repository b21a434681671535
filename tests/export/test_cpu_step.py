"""CPU backend streaming one step at a time: step() / step_events() are bit-exact with run()."""

import numpy as np
import pytest

from neuromorphic_export.build import random_network
from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.cpu.kernels import STATE_VARS
from neuromorphic_export.spec import NetworkSpec

MODELS = ("alif_yin", "cuba_lif", "atrlif")
MODES = ("fixed", "float")
N_IN, SIZES, N_OUT = 12, (10, 8), 3


def network(model, mode, seed=0):
    """Recurrent ``N_IN -> 10 -> 8 -> readout`` network of ``model`` layers."""
    return random_network(model, N_IN, SIZES, N_OUT, mode=mode, seed=seed)


def spikes(steps, batch, seed=1, density=0.3):
    shape = (steps, N_IN) if batch is None else (steps, batch, N_IN)
    return np.random.default_rng(seed).random(shape) < density


def state_arrays(sim):
    """Every state array of the simulator, named ``layer.field``."""
    return {f"{index}.{name}": getattr(state, name)
            for index, (layer, state) in enumerate(zip(sim.spec.layers, sim.states))
            for name in ("pending", *STATE_VARS[layer.model])}


def assert_same_state(sim, other):
    mine, theirs = state_arrays(sim), state_arrays(other)
    assert mine.keys() == theirs.keys()
    for key in mine:
        np.testing.assert_array_equal(mine[key], theirs[key], err_msg=key)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch", [None, 3])
def test_stepping_equals_one_run(model, mode, batch):
    spec = network(model, mode)
    x = spikes(200, batch)
    whole = CPUSimulator(spec)
    reference = whole.run(x, record=("spikes",))
    assert all(s.sum() > 20 for s in reference.spikes), "every layer must be active for the test"
    sim = CPUSimulator(spec)
    out = np.stack([sim.step(x_t) for x_t in x])
    expected = reference.output
    assert out.shape == expected.shape == (200, batch or 1, N_OUT)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    assert_same_state(sim, whole)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mode", MODES)
def test_interleaving_steps_and_runs_equals_one_run(model, mode):
    spec = network(model, mode, seed=2)
    x = spikes(200, 3, seed=4)
    whole = CPUSimulator(spec)
    expected = whole.run(x, record=()).output
    sim = CPUSimulator(spec)
    parts, t = [], 0
    for kind, n in [("step", 3), ("run", 40), ("events", 5), ("run", 1), ("step", 1), ("run", 0),
                    ("run", 70), ("events", 20), ("step", 60)]:
        if kind == "run":
            parts.append(sim.run(x[t:t + n], record=("spikes",)).output)
        elif kind == "step":
            parts.extend(sim.step(x[s])[None] for s in range(t, t + n))
        else:
            parts.extend(sim.step_events([np.flatnonzero(lane) for lane in x[s]])[None]
                         for s in range(t, t + n))
        t += n
    assert t == len(x)
    np.testing.assert_array_equal(np.concatenate(parts), expected)
    assert_same_state(sim, whole)


@pytest.mark.parametrize("mode", MODES)
def test_step_events_equals_step(mode):
    spec = network("atrlif", mode, seed=5)
    x = spikes(120, None, seed=6)
    dense, events = CPUSimulator(spec), CPUSimulator(spec)
    for x_t in x:
        active = np.flatnonzero(x_t)
        # repeats count once; a list works like an array
        indices = list(np.concatenate([active, active[:1]])) if len(active) % 2 else active
        np.testing.assert_array_equal(events.step_events(indices), dense.step(x_t))
    assert_same_state(events, dense)
    batch = spikes(30, 2, seed=7)
    for sim in (dense, events):
        sim.reset()
    lanes = np.array([[0, 3, 3], [11, 0, 5]])  # a [B, k] array: one row of indices per lane
    for x_t in batch:
        np.testing.assert_array_equal(events.step_events([np.flatnonzero(lane) for lane in x_t]),
                                      dense.step(x_t))
    dense_row = np.zeros((2, N_IN), bool)
    dense_row[0, [0, 3]] = dense_row[1, [11, 0, 5]] = True
    np.testing.assert_array_equal(events.step_events(lanes), dense.step(dense_row))
    np.testing.assert_array_equal(events.step_events([[], np.array([], float)]),
                                  dense.step(np.zeros((2, N_IN))))


def test_input_dtypes_reset_and_restored_state():
    spec = network("alif_yin", "fixed", seed=8)
    x = spikes(80, None, seed=9)
    expected = CPUSimulator(spec).run(x, record=()).output
    sim = CPUSimulator(spec)
    for dtype in (bool, np.uint8, np.int32, np.float32, np.float64):
        sim.reset()
        out = np.stack([sim.step(x_t.astype(dtype)) for x_t in x])
        np.testing.assert_array_equal(out, expected, err_msg=str(dtype))
    sim.reset()
    np.testing.assert_array_equal(sim.step(x[0].tolist()), expected[0])
    # a saved state restores the stream: assigning sim.states swaps the arrays step() works on
    snapshot = sim.state_copy()
    first = np.stack([sim.step(x_t) for x_t in x[1:40]])
    np.testing.assert_array_equal(first, expected[1:40])
    sim.states = snapshot
    again = np.stack([sim.step(x_t) for x_t in x[1:40]])
    np.testing.assert_array_equal(again, first)
    # step() returns a fresh array each time (the internal buffer is not exposed)
    a = sim.step(x[40])
    b = sim.step(x[41])
    np.testing.assert_array_equal(a, expected[40])
    np.testing.assert_array_equal(b, expected[41])
    # a new stream may use another batch after reset()
    sim.reset()
    assert sim.step(np.zeros((4, N_IN))).shape == (4, N_OUT)


@pytest.mark.parametrize("mode", MODES)
def test_spiking_last_layer_steps_give_its_spikes(mode):
    full = network("cuba_lif", mode, seed=10)
    spec = NetworkSpec(N_IN, full.layers[:-1], mode=mode)
    x = spikes(100, 2, seed=11)
    expected = CPUSimulator(spec).run(x).output
    assert expected.sum() > 0
    sim = CPUSimulator(spec)
    np.testing.assert_array_equal(np.stack([sim.step(x_t) for x_t in x]), expected)


def test_bad_step_input_rejected_and_state_untouched():
    spec = network("alif_yin", "fixed", seed=12)
    x = spikes(60, 2, seed=13)
    expected = CPUSimulator(spec).run(x, record=()).output
    sim = CPUSimulator(spec)
    # a rejected first call does not fix the batch
    with pytest.raises(ValueError, match="binary spikes"):
        sim.step(np.full(N_IN, 0.5))
    assert sim.states == []
    with pytest.raises(ValueError, match="event indices"):
        sim.step_events([N_IN])
    assert sim.states == []
    outputs = [sim.step(x[0])]
    bad_rows = {
        "binary spikes": [np.full((2, N_IN), 2), np.where(x[1], -1, 0)],
        "NaN/inf": [np.where(x[1], np.nan, 0.0), np.where(x[1], np.inf, 0.0)],
        f"{N_IN - 1} channels": [np.zeros((2, N_IN - 1))],
        "must be .N_in. or .B, N_in.": [np.zeros((1, 2, N_IN)), np.float64(1.0)],
        "numeric": [np.array([["a"] * N_IN] * 2)],
        "batch 2": [np.zeros((3, N_IN)), np.zeros(N_IN)],
    }
    for message, rows in bad_rows.items():
        for row in rows:
            with pytest.raises(ValueError, match=message):
                sim.step(row)
    bad_events = [[[0], [N_IN]], [[0], [-1]], [[0.0], [1.0]], [[[0]], [1]], [[0]], [[0], [1], [2]]]
    for lanes in bad_events:
        with pytest.raises(ValueError, match="event indices|batch 2"):
            sim.step_events(lanes)
    outputs += [sim.step(x_t) for x_t in x[1:]]
    np.testing.assert_array_equal(np.stack(outputs), expected)


def test_assigned_states_are_checked():
    spec = network("cuba_lif", "fixed", seed=14)
    sim = CPUSimulator(spec)
    sim.step(np.zeros(N_IN))
    other = CPUSimulator(network("cuba_lif", "fixed", seed=14))
    other.run(np.zeros((1, 2, N_IN)))
    sim.states = sim.states[:1] + other.states[1:]  # batch 1 and batch 2 layers mixed
    with pytest.raises(ValueError, match="shape"):
        sim.step(np.zeros(N_IN))
    with pytest.raises(ValueError, match="shape"):
        sim.run(np.zeros((2, N_IN)))
    sim.states = sim.states[:2]
    with pytest.raises(ValueError, match="states has 2 layers"):
        sim.run(np.zeros((2, N_IN)))
    sim.states = other.states  # a whole stream of another batch is fine
    assert sim.step(np.zeros((2, N_IN))).shape == (2, N_OUT)
