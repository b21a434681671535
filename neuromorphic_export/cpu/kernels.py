"""Numba kernels: one layer over a chunk of steps, Lava timing, fixed or float arithmetic.

``spikes_in [T, B, N_in]`` are the source's outputs (undelayed); the dense connection delivers
``spikes_in[t-1]`` at step ``t`` (``pending`` holds the last source step of the previous chunk).
Binary inputs are gathered sparsely: only active input rows are added.
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
def _dense_input(a, spikes_in, pending, bi, t, w_t):
    """a += W x_delayed: the dense connection delivers the source's previous step (sparse gather)."""
    a[:] = 0
    for j in range(spikes_in.shape[2]):
        src = pending[bi, j] if t == 0 else spikes_in[t - 1, bi, j]
        if src != 0:
            for i in range(a.shape[0]):
                a[i] += w_t[j, i] * src


@numba.njit(cache=True, inline="always")
def _recurrent_input(a, s, bi, w_rec_t):
    """a += W_rec s_prev (binary spikes: add the rows of the active neurons)."""
    for j in range(s.shape[1]):
        if s[bi, j] != 0:
            for i in range(a.shape[0]):
                a[i] += w_rec_t[j, i]


@numba.njit(cache=True)
def alif_fixed_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, alpha, rho, b0, beta,
                     u, b, s, out_s, out_u, out_th):
    """Fixed-point Yin ALIF; state ``u, b, s [B, N]`` updated in place; traces written to out_*."""
    n_steps, batch, _ = spikes_in.shape
    n = u.shape[1]
    a = np.zeros(n, np.int64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            for i in range(n):
                s_prev = s[bi, i]
                bb = _rtz_shift12(b[bi, i] * rho[i]) + s_prev * (4096 - rho[i])
                th = b0[i] + _rtz_shift12(beta[i] * bb)
                uu = _clip24(_rtz_shift12(u[bi, i] * alpha[i]) + (a[i] << 6) + (bias[i] << 6)
                             - th * s_prev)
                spike = 1 if uu > th else 0
                u[bi, i] = uu
                b[bi, i] = bb
                s[bi, i] = spike
                out_s[t, bi, i] = spike
                out_u[t, bi, i] = uu
                out_th[t, bi, i] = th


@numba.njit(cache=True)
def readout_fixed_layer(spikes_in, pending, w_t, bias, alpha, y, out_y):
    n_steps, batch, _ = spikes_in.shape
    n = y.shape[1]
    a = np.zeros(n, np.int64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            for i in range(n):
                yy = _clip24(_rtz_shift12(y[bi, i] * alpha[i]) + (a[i] << 6) + (bias[i] << 6))
                y[bi, i] = yy
                out_y[t, bi, i] = yy


@numba.njit(cache=True)
def alif_float_layer(spikes_in, pending, w_t, w_rec_t, has_rec, bias, alpha, rho, b0, beta,
                     u, b, s, out_s, out_u, out_th):
    n_steps, batch, _ = spikes_in.shape
    n = u.shape[1]
    a = np.zeros(n, np.float64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            if has_rec:
                _recurrent_input(a, s, bi, w_rec_t)
            for i in range(n):
                s_prev = s[bi, i]
                bb = rho[i] * b[bi, i] + (1.0 - rho[i]) * s_prev
                th = b0[i] + beta[i] * bb
                uu = alpha[i] * u[bi, i] + a[i] + bias[i] - th * s_prev
                spike = 1.0 if uu > th else 0.0
                u[bi, i] = uu
                b[bi, i] = bb
                s[bi, i] = spike
                out_s[t, bi, i] = spike
                out_u[t, bi, i] = uu
                out_th[t, bi, i] = th


@numba.njit(cache=True)
def readout_float_layer(spikes_in, pending, w_t, bias, alpha, y, out_y):
    n_steps, batch, _ = spikes_in.shape
    n = y.shape[1]
    a = np.zeros(n, np.float64)
    for bi in range(batch):
        for t in range(n_steps):
            _dense_input(a, spikes_in, pending, bi, t, w_t)
            for i in range(n):
                yy = alpha[i] * y[bi, i] + a[i] + bias[i]
                y[bi, i] = yy
                out_y[t, bi, i] = yy
