"""Numba kernels: one layer over a chunk of steps, Lava timing, fixed or float arithmetic.

``spikes_in [T, B, N_in]`` are the source's outputs (undelayed, binary); the dense connection
delivers ``spikes_in[t-1]`` at step ``t``. ``pending [B, N_in]`` holds the last source step of the
previous chunk and is updated in place to ``spikes_in[T-1]``, like the neuron state, so a chunk of
one step (``T = 1``, what :meth:`CPUSimulator.step` runs) continues the stream exactly.
Binary inputs are gathered sparsely: only the weight rows of active inputs are added.
"""

from __future__ import annotations

import numba
import numpy as np

STATE_MIN, STATE_MAX = -(2**23), 2**23 - 1


@numba.njit(cache=True, inline="always")
def _rtz_shift12(x: np.int64) -> np.int64:
    # Round toward zero of x / 4096 (an arithmetic shift would floor negatives).
    return x >> 12 if x >= 0 else -((-x) >> 12)


@numba.njit(cache=True, inline="always")
def _clip24(x: np.int64) -> np.int64:
    return min(max(x, STATE_MIN), STATE_MAX)


@numba.njit(cache=True, inline="always")
def _clip23(x: np.int64) -> np.int64:
    # lava's LIF/ATRLIF voltage limits are symmetric: [-(2**23 - 1), 2**23 - 1].
    return min(max(x, STATE_MIN + 1), STATE_MAX)


@numba.njit(cache=True, inline="always")
def _wrap24(x: np.int64) -> np.int64:
    # lava's LIF/ATRLIF current overflows by wrapping once (not saturating): (2**23, ...) and
    # (..., -2**23] move by 2**24.
    if x > STATE_MAX + 1:
        return x - 2 * (STATE_MAX + 1)
    if x <= STATE_MIN:
        return x + 2 * (STATE_MAX + 1)
    return x


@numba.njit(cache=True, inline="always")
def _dense_input(a, spikes_in, pending, bi, t, w_t):
    """a = W x_delayed: the dense connection delivers the source's previous step (sparse gather).

    At the chunk's last step, ``pending[bi]`` takes the source's current step (for the next chunk).
    """
    a[:] = 0
    src = pending[bi] if t == 0 else spikes_in[t - 1, bi]
    for j in range(src.shape[0]):
        if src[j] != 0:
            for i in range(a.shape[0]):
                a[i] += w_t[j, i]
    if t == spikes_in.shape[0] - 1:
        pending[bi] = spikes_in[t, bi]


@numba.njit(cache=True, inline="always")
def _recurrent_input(a, s, bi, w_rec_t):
    """a += W_rec s_prev (binary spikes: add the rows of the active neurons)."""
    for j in range(s.shape[1]):
        if s[bi, j] != 0:
            for i in range(a.shape[0]):
                a[i] += w_rec_t[j, i]


@numba.njit(cache=True, inline="always")
def _bias_on(age, bi, bias_delay):
    """Whether lane ``bi`` adds its bias this step; advances its step count (saturating)."""
    on = age[bi, 0] >= bias_delay
    if not on:
        age[bi, 0] += 1
    return on


@numba.njit(cache=True)
def alif_fixed_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, bias_delay, alpha, rho, b0,
                     beta, trace_bits, u, b, s, age, out_s, out_u, out_th):
    """Fixed-point Yin ALIF; state ``u, b, s [B, N]``, ``age [B, 1]`` updated in place.

    ``b`` has ``trace_bits`` fractional bits and ``rho`` 24 (spec): ``b*rho < 2**63``.
    """
    n_steps, batch, _ = spikes_in.shape
    n = u.shape[1]
    a = np.zeros(n, np.int64)
    inc = np.empty(n, np.int64)  # one spike's increment of b, (1 - rho) in units of 2**-trace_bits
    for i in range(n):
        one_minus = (1 << 24) - rho[i]
        inc[i] = one_minus << (trace_bits - 24) if trace_bits >= 24 else one_minus >> (24 - trace_bits)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            on = _bias_on(age, bi, bias_delay)
            for i in range(n):
                s_prev = s[bi, i]
                bb = ((b[bi, i] * rho[i]) >> 24) + s_prev * inc[i]
                th = b0[i] + ((beta[i] * bb) >> trace_bits)
                drive = (a[i] + bias[i]) << 6 if on else a[i] << 6
                uu = _clip24(_rtz_shift12(u[bi, i] * alpha[i]) + drive - th * s_prev)
                spike = 1 if uu > th else 0
                u[bi, i] = uu
                b[bi, i] = bb
                s[bi, i] = spike
                out_s[t, bi, i] = spike
                out_u[t, bi, i] = uu
                out_th[t, bi, i] = th


@numba.njit(cache=True)
def readout_fixed_layer(spikes_in, pending, w_t, bias, bias_delay, alpha, y, age, out_y):
    n_steps, batch, _ = spikes_in.shape
    n = y.shape[1]
    a = np.zeros(n, np.int64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            on = _bias_on(age, bi, bias_delay)
            for i in range(n):
                drive = (a[i] + bias[i]) << 6 if on else a[i] << 6
                yy = _clip24(_rtz_shift12(y[bi, i] * alpha[i]) + drive)
                y[bi, i] = yy
                out_y[t, bi, i] = yy


@numba.njit(cache=True)
def alif_float_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, bias_delay, alpha, rho, b0,
                     beta, trace_bits, u, b, s, age, out_s, out_u, out_th):
    n_steps, batch, _ = spikes_in.shape
    n = u.shape[1]
    a = np.zeros(n, np.float64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            on = _bias_on(age, bi, bias_delay)
            for i in range(n):
                s_prev = s[bi, i]
                bb = rho[i] * b[bi, i] + (1.0 - rho[i]) * s_prev
                th = b0[i] + beta[i] * bb
                drive = a[i] + bias[i] if on else a[i]
                uu = alpha[i] * u[bi, i] + drive - th * s_prev
                spike = 1.0 if uu > th else 0.0
                u[bi, i] = uu
                b[bi, i] = bb
                s[bi, i] = spike
                out_s[t, bi, i] = spike
                out_u[t, bi, i] = uu
                out_th[t, bi, i] = th


@numba.njit(cache=True)
def readout_float_layer(spikes_in, pending, w_t, bias, bias_delay, alpha, y, age, out_y):
    n_steps, batch, _ = spikes_in.shape
    n = y.shape[1]
    a = np.zeros(n, np.float64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            on = _bias_on(age, bi, bias_delay)
            for i in range(n):
                yy = alpha[i] * y[bi, i] + (a[i] + bias[i] if on else a[i])
                y[bi, i] = yy
                out_y[t, bi, i] = yy


# Loihi CUBA LIF and ATRLIF (equations: neuromorphic_export.spec). The layer-wide parameters are
# [N] arrays holding one value; ``i`` is the synaptic current, ``v`` the voltage (recorded as
# "voltage" after the reset), ``th`` the threshold the step's spike decision used.


@numba.njit(cache=True)
def cuba_fixed_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, du, dv, vth,
                     i_state, v, s, out_s, out_v, out_th):
    """Fixed-point Loihi CUBA LIF; state ``i, v, s [B, N]`` updated in place."""
    n_steps, batch, _ = spikes_in.shape
    n = v.shape[1]
    a = np.zeros(n, np.int64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            for k in range(n):
                cur = _wrap24(_rtz_shift12(i_state[bi, k] * (4096 - du[k])) + (a[k] << 6))
                vv = _clip23(_rtz_shift12(v[bi, k] * (4096 - dv[k])) + cur + (bias[k] << 6))
                th = vth[k] << 6
                spike = 1 if vv > th else 0
                if spike:
                    vv = 0
                i_state[bi, k] = cur
                v[bi, k] = vv
                s[bi, k] = spike
                out_s[t, bi, k] = spike
                out_v[t, bi, k] = vv
                out_th[t, bi, k] = th


@numba.njit(cache=True)
def cuba_float_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, du, dv, vth,
                     i_state, v, s, out_s, out_v, out_th):
    """Float CUBA LIF (lava's floating_pt LIF); state ``i, v, s [B, N]`` updated in place."""
    n_steps, batch, _ = spikes_in.shape
    n = v.shape[1]
    a = np.zeros(n, np.float64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            for k in range(n):
                cur = i_state[bi, k] * (1.0 - du[k]) + a[k]
                vv = v[bi, k] * (1.0 - dv[k]) + cur + bias[k]
                spike = 1.0 if vv > vth[k] else 0.0
                if spike:
                    vv = 0.0
                i_state[bi, k] = cur
                v[bi, k] = vv
                s[bi, k] = spike
                out_s[t, bi, k] = spike
                out_v[t, bi, k] = vv
                out_th[t, bi, k] = vth[k]


@numba.njit(cache=True)
def atrlif_fixed_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, di, dv, dth, dr, th0,
                       th_step, i_state, v, th, r, s, out_s, out_v, out_th):
    """Fixed-point Loihi ATRLIF; state ``i, v, th, r, s [B, N]`` (``th`` starts at ``th0 << 6``)."""
    n_steps, batch, _ = spikes_in.shape
    n = v.shape[1]
    a = np.zeros(n, np.int64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            for k in range(n):
                base = th0[k] << 6
                cur = _wrap24(_rtz_shift12(i_state[bi, k] * (4096 - di[k])) + (a[k] << 6))
                vv = _clip23(_rtz_shift12(v[bi, k] * (4096 - dv[k])) + cur + (bias[k] << 6))
                tt = _rtz_shift12((th[bi, k] - base) * (4096 - dth[k])) + base
                rr = _rtz_shift12(r[bi, k] * (4096 - dr[k]))
                spike = 1 if vv - rr >= tt else 0
                out_th[t, bi, k] = tt
                if spike:
                    rr += 2 * tt
                    tt += th_step[k] << 6
                i_state[bi, k] = cur
                v[bi, k] = vv
                th[bi, k] = tt
                r[bi, k] = rr
                s[bi, k] = spike
                out_s[t, bi, k] = spike
                out_v[t, bi, k] = vv


@numba.njit(cache=True)
def atrlif_float_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, di, dv, dth, dr, th0,
                       th_step, i_state, v, th, r, s, out_s, out_v, out_th):
    """Float ATRLIF (lava's floating_pt model); state ``i, v, th, r, s [B, N]`` (``th`` starts at ``th0``)."""
    n_steps, batch, _ = spikes_in.shape
    n = v.shape[1]
    a = np.zeros(n, np.float64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            for k in range(n):
                cur = (1.0 - di[k]) * i_state[bi, k] + a[k]
                vv = (1.0 - dv[k]) * v[bi, k] + cur + bias[k]
                tt = (1.0 - dth[k]) * (th[bi, k] - th0[k]) + th0[k]
                rr = (1.0 - dr[k]) * r[bi, k]
                spike = 1.0 if vv - rr >= tt else 0.0
                out_th[t, bi, k] = tt
                if spike:
                    rr += 2.0 * tt
                    tt += th_step[k]
                i_state[bi, k] = cur
                v[bi, k] = vv
                th[bi, k] = tt
                r[bi, k] = rr
                s[bi, k] = spike
                out_s[t, bi, k] = spike
                out_v[t, bi, k] = vv


@numba.njit(cache=True)
def load_binary(x, out):
    """Copy spikes ``x`` (any shape, layout, numeric dtype) into C-contiguous ``out`` of the same size.

    Returns whether every value is 0 or 1 (False also for NaN/inf); ``out`` is scratch then.
    """
    flat = out.reshape(-1)
    bad = False
    k = 0
    for v in x.flat:
        bad |= (v != 0) & (v != 1)
        flat[k] = v
        k += 1
    return not bad


@numba.njit(cache=True)
def load_events(indices, out):
    """Write the binary row ``out [N]``: 1 at ``indices`` (repeats allowed), 0 elsewhere.

    Returns whether every index lies in ``[0, N)``; ``out`` is scratch otherwise.
    """
    out[:] = 0
    for k in indices:
        if k < 0 or k >= out.shape[0]:
            return False
        out[k] = 1
    return True


# Layer dispatch: (model, mode) -> kernel. Every kernel takes ``(spikes_in, pending, w_t, ...)``:
# spiking ones ``w_rec_t, has_rec, bias``, then ``bias_delay`` (BIAS_DELAY_MODELS), the parameters
# (NEURON_PARAMS order), ``trace_bits`` (alif_yin), the state arrays (STATE_VARS order), then
# ``out_s, out_v, out_th``; the readout ``bias, bias_delay, alpha, y, age, out_y``. ``age [B, 1]``
# counts a lane's steps up to ``bias_delay`` (the bias gate, see the spec).
SPIKING_KERNELS = {
    ("alif_yin", "fixed"): alif_fixed_layer, ("alif_yin", "float"): alif_float_layer,
    ("cuba_lif", "fixed"): cuba_fixed_layer, ("cuba_lif", "float"): cuba_float_layer,
    ("atrlif", "fixed"): atrlif_fixed_layer, ("atrlif", "float"): atrlif_float_layer,
}
LAYER_KERNELS = {**SPIKING_KERNELS, ("readout", "fixed"): readout_fixed_layer,
                 ("readout", "float"): readout_float_layer}
STATE_VARS = {"alif_yin": ("u", "b", "s", "age"), "cuba_lif": ("i", "u", "s"),
              "atrlif": ("i", "u", "b", "r", "s"), "readout": ("u", "age")}


def initial_state(model: str, params: dict[str, np.ndarray], mode: str, batch: int) -> dict[str, np.ndarray]:
    """State at rest, ``[B, N]`` per name in ``STATE_VARS[model]`` (ATRLIF's threshold starts at th0)."""
    dtype = np.int64 if mode == "fixed" else np.float64
    n = next(iter(params.values())).shape[0]
    state = {name: np.zeros((batch, 1 if name == "age" else n), dtype) for name in STATE_VARS[model]}
    if model == "atrlif":
        state["b"][:] = params["th0"] << 6 if mode == "fixed" else params["th0"]
    return state
