"""Fused CPU training path: an ALIF layer and the leaky readout, each one autograd node per sequence.

The reference path (:meth:`SpikingLayer.forward` step loop) records ~10 autograd nodes per step
and saves every intermediate. Here each layer is one :class:`torch.autograd.Function`:

* forward: a numba kernel, run on blocks of batch lanes at once (lanes are independent), builds
  each step's input from the rows of ``W_in^T`` and ``W_rec^T`` of the inputs and neurons that
  spiked (binary and sparse; analog inputs get one dense GEMM instead);
* saved for backward: ``u`` and ``b`` per step (float), spikes and binary inputs as uint8;
* backward: the surrogate derivatives for all steps at once (a vectorised exponential), then one
  reverse loop of the adjoint equations on blocks of lanes at once (element-wise work in numba,
  the recurrent product ``da_t W_rec`` as small BLAS GEMMs per step), weight gradients as masked
  row sums over the active inputs (one dense product for analog inputs).

Same equations as :func:`spiking_nr.neurons.alif_step` (``v = u - B``, ``s = H(v)``, surrogate
``sigma'(v)``); per step ``t``, with ``g_s_t = dL/ds_t`` from the layer's outputs and step ``t+1``::

    dv_t  = g_s_t * sigma'(v_t)
    du_t  = dv_t + alpha * du_{t+1}
    dB_t  = -dv_t - s_{t-1} * du_t
    db_t  = beta * dB_t + rho * db_{t+1}
    g_s_{t-1} += W_rec^T (1 - alpha) du_t + (1 - rho) * db_t - B_t * du_t
    drho += db_t * (b_{t-1} - s_{t-1})
    dalpha += du_t * (u_{t-1} - a_t)                     a_t = x_t W_in^T + bias + W_rec s_{t-1}

``a_t`` is not stored: ``sum_t du_t a_t = (sum_j W_in * G_in + bias * sum du + sum_j W_rec * G_rec)``
row by row, where ``G = du^T x`` are the products the weight gradients need anyway. Gradients flow
into the initial state, so truncated BPTT across chunks is exact. The leaky readout
``y_t = alpha y_{t-1} + (1 - alpha) d_t`` uses the same projection and adjoint, without spikes.

CPU tensors in float32/float64 only; elsewhere :class:`~spiking_nr.network.SRNN` runs the reference
step loop (which is also what the tests compare against).
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from numba import njit, types
from numba.extending import overload
from threadpoolctl import ThreadpoolController

from spiking_nr.surrogate import Surrogate

__all__ = ["fused_supported", "alif_layer_sequence", "leaky_readout_sequence"]

# Surrogate pseudo-derivatives compiled for the kernels: name -> (id, parameter names). Equal to
# spiking_nr.surrogate's torch definitions (tests/test_fast.py checks each).
_SURROGATE_KERNELS = {
    "multi_gaussian": (0, ("s", "h", "k", "gamma")),
    "fast_sigmoid": (1, ("slope",)),
    "triangle": (2, ("width",)),
    "arctan": (3, ("alpha",)),
}
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# The reverse loop's per-step product ``da W_rec`` (OpenBLAS via numba's np.dot), per lane block:
# for small recurrent matrices in blocks of 8 lanes, which OpenBLAS's small-matrix path (no
# packing; M N K <= 2^20) takes; else one product per block. Measured, float32, one thread:
# N = 256, 16 lanes as 8 + 8 rows 18 us, as 16 rows 40 us; N = 1024 training step (T = 50) 3.6 ms
# per step in 8-row products, 2.6 ms in 16-row ones.
_GEMM_ROWS = 8
_SMALL_GEMM = 2**20
# Element-wise kernels split across threads only above this many elements per thread.
_ELEMENT_GRAIN = 2**18


def fused_supported(x: torch.Tensor, spike_fn: Surrogate | None = None) -> bool:
    """Whether the fused kernels can run ``x``: a CPU float32/float64 tensor, built-in surrogate."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and (spike_fn is None or spike_fn.name in _SURROGATE_KERNELS))


def _surrogate_params(spike_fn: Surrogate, dtype=np.float64) -> tuple[int, np.ndarray]:
    """Kernel id and coefficients, precomputed in ``dtype`` so float32 tensors get float32 math
    (as in torch) instead of being promoted by float64 literals."""
    kind, order = _SURROGATE_KERNELS[spike_fn.name]
    p = spike_fn.resolved_params
    if kind == 0:
        s, h, gamma, wide = p["s"], p["h"], p["gamma"], p["k"] * p["s"]
        coefficients = [gamma * _INV_SQRT_2PI * (1.0 + h) / s, 1.0 / (2.0 * s * s),
                        gamma * _INV_SQRT_2PI * h / wide, 1.0 / (2.0 * wide * wide),
                        s / (wide * wide), s * s / (2.0 * wide * wide)]
    elif kind == 1:
        coefficients = [p["slope"]]
    elif kind == 2:
        coefficients = [p["width"], 1.0 / p["width"]]
    else:
        coefficients = [p["alpha"] / 2.0, math.pi / 2.0 * p["alpha"]]
    return kind, np.array(coefficients + [0.0] * (7 - len(coefficients)) + [1.0], dtype)


def _exp(x):
    """``exp(x)`` that LLVM can vectorise (numba's ``math.exp`` is a scalar libm call per element,
    most of the surrogate pass's time): Cody-Waite reduction ``x = k ln2 + r``, a Taylor polynomial
    for ``exp(r)`` on ``|r| <= ln2 / 2`` (degree 7 in float32, 13 in float64: within 1e-7 / 4e-16
    relative), and ``2^k`` from the exponent bits. Results below the smallest normal number are 0
    (no denormals reach the reverse loop); inputs above 88 / 709 are clamped."""
    return math.exp(x)


@overload(_exp)
def _exp_overload(x):
    if x == types.float32:
        def exp32(x):
            clamped = min(max(x, np.float32(-87.0)), np.float32(88.0))
            k = np.floor(clamped * np.float32(1.4426950408889634) + np.float32(0.5))
            r = clamped - k * np.float32(0.693359375) - k * np.float32(-2.12194440e-4)
            p = np.float32(1.0 / 5040.0) * r + np.float32(1.0 / 720.0)
            p = p * r + np.float32(1.0 / 120.0)
            p = p * r + np.float32(1.0 / 24.0)
            p = p * r + np.float32(1.0 / 6.0)
            p = p * r + np.float32(0.5)
            p = (p * r + np.float32(1.0)) * r + np.float32(1.0)
            scale = np.int32((np.int32(k) + np.int32(127)) << np.int32(23)).view(np.float32)
            return np.float32(0.0) if x < np.float32(-87.0) else p * scale
        return exp32
    if x == types.float64:
        def exp64(x):
            clamped = min(max(x, -708.0), 709.0)
            k = np.floor(clamped * 1.4426950408889634 + 0.5)
            r = clamped - k * 6.93147180369123816490e-01 - k * 1.90821492927058770002e-10
            p = r / 6227020800.0 + 1.0 / 479001600.0
            p = p * r + 1.0 / 39916800.0
            p = p * r + 1.0 / 3628800.0
            p = p * r + 1.0 / 362880.0
            p = p * r + 1.0 / 40320.0
            p = p * r + 1.0 / 5040.0
            p = p * r + 1.0 / 720.0
            p = p * r + 1.0 / 120.0
            p = p * r + 1.0 / 24.0
            p = p * r + 1.0 / 6.0
            p = p * r + 0.5
            p = (p * r + 1.0) * r + 1.0
            scale = np.int64((np.int64(k) + np.int64(1023)) << np.int64(52)).view(np.float64)
            return 0.0 if x < -708.0 else p * scale
        return exp64
    return None


@njit(cache=True, inline="always")
def _pseudo_derivative(x, kind, p):
    """Surrogate ``kind`` at ``x`` with coefficients ``p`` from :func:`_surrogate_params`
    (``p[7] = 1`` in the working dtype)."""
    one = p[7]
    if kind == 0:
        x2 = x * x
        sides = _exp(-x2 * p[3] - p[5] + x * p[4]) + _exp(-x2 * p[3] - p[5] - x * p[4])
        return p[0] * _exp(-x2 * p[1]) - p[2] * sides
    if kind == 1:
        d = one + p[0] * abs(x)
        return one / (d * d)
    if kind == 2:
        return max(x * 0, one - abs(x) * p[1]) * p[1]
    z = p[1] * x
    return p[0] / (one + z * z)


@njit(cache=True, inline="always")
def _active(mask_row, out):
    """Indices of the non-zero entries of ``mask_row`` (uint8) into ``out``; returns their count.
    Branch-free (sparse spikes make a per-entry branch mispredict)."""
    count = 0
    for j in range(mask_row.size):
        out[count] = j
        count += mask_row[j] != 0
    return count


@njit(cache=True, inline="always")
def _add_rows(acc, rows, active, count, scale):
    """``acc += sum_k scale[active[k]] * rows[active[k]]``, or unscaled when ``scale`` is empty."""
    for k in range(count):
        row = rows[active[k]]
        if scale.size:
            weight = scale[active[k]]
            for i in range(acc.size):
                acc[i] += weight * row[i]
        else:
            for i in range(acc.size):
                acc[i] += row[i]


@njit(cache=True, nogil=True)
def _alif_forward(lo, hi, drive, x_mask, x_scale, w_in_t, bias, use_mask, w_rec_t, has_rec, alpha,
                  gain, rho, rho_gain, b0, beta, u0, b_init, s0, reset, s_out, u_out, b_out):
    """Lanes ``lo:hi`` (lanes are independent: :func:`_split` runs blocks at once). The drive
    is ``drive[t, lane]``, or (``use_mask``) ``bias`` plus the rows of ``W_in^T`` of the inputs
    that are nonzero in ``x_mask [T, B, N_in]``, each weighted by ``x_scale`` (same shape) or,
    when ``x_scale`` is empty, taken as 1 (binary inputs). The state arrays ``u0, b_init, s0``
    may be the outputs' memory (``T = 1`` streaming): each lane reads its row before writing.
    ``reset [T, B]`` (uint8, or ``[0, 0]`` for none) zeroes a lane's state before step ``t``.
    Loops run over row views indexed from 0 (a ``range(lo, hi)`` index may be negative to numba,
    which keeps LLVM from vectorising)."""
    n_steps, _, n = s_out.shape
    active_in = np.empty(w_in_t.shape[0], np.int64)
    active_rec = np.empty(n, np.int64)
    unscaled = np.empty(0, s_out.dtype)
    a = np.empty(n, s_out.dtype)
    for lane in range(lo, hi):
        u = u0[lane].copy()
        b = b_init[lane].copy()
        s = s0[lane].copy()
        for t in range(n_steps):
            if reset.shape[0] and reset[t, lane]:
                u[:] = 0
                b[:] = 0
                s[:] = 0
            if use_mask:
                a[:] = bias
                scale = x_scale[t, lane] if x_scale.shape[0] else unscaled
                _add_rows(a, w_in_t, active_in, _active(x_mask[t, lane], active_in), scale)
            else:
                a[:] = drive[t, lane]
            if has_rec:
                count = 0
                for j in range(n):  # s0 may be any float, so the recurrent rows are scaled
                    active_rec[count] = j
                    count += s[j] != 0.0
                _add_rows(a, w_rec_t, active_rec, count, s)
            u_row, b_row, s_row = u_out[t, lane], b_out[t, lane], s_out[t, lane]
            for i in range(n):
                b_new = rho[i] * b[i] + rho_gain[i] * s[i]
                threshold = b0 + beta * b_new
                u_new = alpha[i] * u[i] + gain[i] * a[i] - threshold * s[i]
                spike = 1.0 if u_new - threshold > 0.0 else 0.0
                u[i], b[i], s[i] = u_new, b_new, spike
                u_row[i], b_row[i], s_row[i] = u_new, b_new, spike


@njit(cache=True, nogil=True)
def _masked_outer(lo, hi, g, mask, out):
    """``out[j] = sum of g[r] over rows r with mask[r, j]`` for columns ``j`` in ``lo:hi``:
    ``G^T = mask^T g`` for binary ``mask [R, M]`` (uint8) and ``g [R, N]``, no dense product."""
    block = out[lo:hi]
    block[:] = 0
    active = np.empty(hi - lo, np.int64)
    for r in range(mask.shape[0]):
        g_row = g[r]
        count = _active(mask[r, lo:hi], active)
        for k in range(count):
            out_row = block[active[k]]
            for i in range(g_row.size):
                out_row[i] += g_row[i]


@njit(cache=True, nogil=True)
def _alif_surrogates(lo, hi, u_flat, b_flat, b0, beta, kind, p, out_flat):
    """``sigma'(u_t - B_t)`` for flat elements ``lo:hi``: no dependence on the reverse recursion,
    so it runs in parallel before it. One loop per kind over slices (a ``range(lo, hi)`` index
    may be negative to numba, which stops LLVM from vectorising), so each body vectorises."""
    u, b, out = u_flat[lo:hi], b_flat[lo:hi], out_flat[lo:hi]
    if kind == 0:
        for i in range(out.size):
            out[i] = _pseudo_derivative(u[i] - (b0 + beta * b[i]), 0, p)
    elif kind == 1:
        for i in range(out.size):
            out[i] = _pseudo_derivative(u[i] - (b0 + beta * b[i]), 1, p)
    elif kind == 2:
        for i in range(out.size):
            out[i] = _pseudo_derivative(u[i] - (b0 + beta * b[i]), 2, p)
    else:
        for i in range(out.size):
            out[i] = _pseudo_derivative(u[i] - (b0 + beta * b[i]), 3, p)


@njit(cache=True, inline="always")
def _adjoint_lane_step(grad_s, surrogate, b_now, u_prev, b_prev, s_prev, carry, rec, du_acc,
                       db_acc, du_out, da, alpha, gain, rho, rho_gain, b0, beta, sums):
    """One lane's step of the reverse loop (rows of ``[N]``); ``rec`` is this step's
    ``da_{t+1} W_rec`` and ``carry`` the rest of ``dL/ds_t`` from step ``t+1``."""
    one = gain.dtype.type(1)
    for i in range(du_out.size):
        s_prev_i = s_prev[i] * one
        threshold = b0 + beta * b_now[i]
        dv = (grad_s[i] + carry[i] + rec[i]) * surrogate[i]
        du = dv + du_acc[i]
        db = db_acc[i] - beta * (dv + s_prev_i * du)
        du_out[i] = du
        da[i] = gain[i] * du
        carry[i] = rho_gain[i] * db - threshold * du
        sums[0, i] += du
        sums[1, i] += du * u_prev[i]
        sums[2, i] += db * (b_prev[i] - s_prev_i)
        du_acc[i] = alpha[i] * du
        db_acc[i] = rho[i] * db


@njit(cache=True, nogil=True)
def _alif_backward(lo, hi, grad_s, grad_u, grad_b, surrogate, u_all, b_all, s_all, u0, b_init, s0,
                   reset, w_rec,
                   has_rec, alpha, gain, rho, rho_gain, b0, beta, du_out, grad_state, gemm_rows):
    """Reverse loop over steps for lanes ``lo:hi`` (lanes are independent, so :func:`_split`
    runs blocks at once; steps are serial). ``grad_state [3, B, N]`` holds the grads of the
    final (s, u, b) on entry and of the initial (s0, u0, b_init) on return; fills
    ``du_out [T, B, N]``; ``grad_u, grad_b [T, B, N]`` (or empty) are gradients of recorded
    per-step ``u_t, b_t``, added where each step starts; returns the block's per-neuron sums
    ``[3, N]`` (float64) of ``du_t``,
    ``du_t u_{t-1}`` and ``db_t (b_{t-1} - s_{t-1})``. Where ``reset[t, lane]`` the previous
    state was zeroed before step ``t``: the step sees a zero state and passes no gradient back."""
    n_steps, _, n = b_all.shape
    lanes = hi - lo
    carry = np.zeros((lanes, n), b_all.dtype)
    rec = np.zeros((lanes, n), b_all.dtype)
    da = np.empty((lanes, n), b_all.dtype)
    du_acc = grad_state[1, lo:hi].copy()
    db_acc = grad_state[2, lo:hi].copy()
    sums = np.zeros((3, n), np.float64)
    zero = np.zeros(n, b_all.dtype)
    for t in range(n_steps - 1, -1, -1):
        for k in range(lanes):
            lane = lo + k
            if grad_u.shape[0]:
                du_acc[k] += grad_u[t, lane]
            if grad_b.shape[0]:
                db_acc[k] += grad_b[t, lane]
            if reset.shape[0] and reset[t, lane]:
                _adjoint_lane_step(grad_s[t, lane], surrogate[t, lane], b_all[t, lane], zero, zero,
                                   zero, carry[k], rec[k], du_acc[k], db_acc[k], du_out[t, lane],
                                   da[k], alpha, gain, rho, rho_gain, b0, beta, sums)
                carry[k] = 0
                da[k] = 0
                du_acc[k] = 0
                db_acc[k] = 0
            elif t > 0:
                _adjoint_lane_step(grad_s[t, lane], surrogate[t, lane], b_all[t, lane],
                                   u_all[t - 1, lane], b_all[t - 1, lane], s_all[t - 1, lane],
                                   carry[k], rec[k], du_acc[k], db_acc[k], du_out[t, lane], da[k],
                                   alpha, gain, rho, rho_gain, b0, beta, sums)
            else:
                _adjoint_lane_step(grad_s[t, lane], surrogate[t, lane], b_all[t, lane], u0[lane],
                                   b_init[lane], s0[lane], carry[k], rec[k], du_acc[k], db_acc[k],
                                   du_out[t, lane], da[k], alpha, gain, rho, rho_gain, b0, beta,
                                   sums)
        if has_rec:
            for c in range(0, lanes, gemm_rows):
                np.dot(da[c:c + gemm_rows], w_rec, rec[c:c + gemm_rows])
    grad_state[0, lo:hi] = carry + rec
    grad_state[1, lo:hi] = du_acc
    grad_state[2, lo:hi] = db_acc
    return sums


@njit(cache=True, nogil=True)
def _leaky_forward(lo, hi, drive, h_mask, w_t, bias, use_mask, alpha, gain, y0, reset, y_out):
    """Lanes ``lo:hi`` of ``y_t = alpha y_{t-1} + gain d_t``; ``d_t = drive[t, lane]``, or, for
    binary inputs (``use_mask``), ``bias`` plus the rows of ``W^T`` of the inputs that are on;
    ``y`` is zeroed before the steps where ``reset[t, lane]`` (``reset`` may be ``[0, 0]``)."""
    n_steps, _, n = y_out.shape
    active = np.empty(w_t.shape[0], np.int64)
    unscaled = np.empty(0, y_out.dtype)
    d = np.empty(n, y_out.dtype)
    for lane in range(lo, hi):
        y = y0[lane].copy()
        for t in range(n_steps):
            if reset.shape[0] and reset[t, lane]:
                y[:] = 0
            if use_mask:
                d[:] = bias
                _add_rows(d, w_t, active, _active(h_mask[t, lane], active), unscaled)
            else:
                d[:] = drive[t, lane]
            y_row = y_out[t, lane]
            for i in range(n):
                y[i] = alpha[i] * y[i] + gain[i] * d[i]
                y_row[i] = y[i]


@njit(cache=True)
def _leaky_backward(grad_y, alpha, y_all, y0, reset, g_out):
    """``g_t = dL/dy_t`` accumulated backwards into ``g_out``; returns (grad y0, sum g_t y_{t-1});
    a reset before step ``t`` cuts the gradient to ``y_{t-1}``."""
    n_steps, batch, n = grad_y.shape
    acc = np.zeros((batch, n), y_all.dtype)
    g_y_prev = np.zeros((batch, n), np.float64)
    for lane in range(batch):
        for t in range(n_steps - 1, -1, -1):
            cut = reset.shape[0] and reset[t, lane]
            for i in range(n):
                g = grad_y[t, lane, i] + acc[lane, i]
                g_out[t, lane, i] = g
                if cut:
                    acc[lane, i] = 0
                else:
                    g_y_prev[lane, i] += g * (y_all[t - 1, lane, i] if t > 0 else y0[lane, i])
                    acc[lane, i] = alpha[i] * g
    return acc, g_y_prev.sum(axis=0)


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _binary_to_uint8(lo, hi, x_flat, out_flat):
    """Writes ``x != 0`` as uint8 for flat elements ``lo:hi``; returns whether every value there
    is 0 or 1 (``v (v - 1)`` is 0 exactly there; NaN/inf make the sum non-zero too). Only
    reassociation is allowed, so the loop vectorises and NaN still propagates."""
    x, out = x_flat[lo:hi], out_flat[lo:hi]
    one = x.dtype.type(1)
    total = x.dtype.type(0)
    for i in range(x.size):
        value = x[i]
        total += abs(value * (value - one))
        out[i] = value != 0
    return total == 0


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().contiguous().numpy()


_NO_RESET = np.zeros((0, 0), np.uint8)


def _reset_array(reset: torch.Tensor | None) -> np.ndarray:
    """``reset [T, B]`` (uint8) for the kernels; ``[0, 0]`` means no resets."""
    return _NO_RESET if reset is None else _numpy(reset)


@functools.cache
def _blas_controller() -> ThreadpoolController:
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS numba's np.dot uses, so it is seen)
    return ThreadpoolController()


def _blas_threads(count: int):
    """Limit the BLAS numba's ``np.dot`` calls (scipy's OpenBLAS) to ``count`` threads. The
    reverse loop's small per-step products run on each loop's own thread: with 2 BLAS threads
    the training step was slower and far more variable (idle OpenBLAS workers spin between the
    loop's steps)."""
    return _blas_controller().limit(limits=count, user_api="blas")


@functools.cache
def _workers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="spiking-nr")


def _split(kernel, n: int, *args, grain: int = 1) -> list:
    """Run ``kernel(lo, hi, *args)`` over ``[0, n)`` in up to ``torch.get_num_threads()`` blocks
    of at least ``grain`` items at once (the kernels release the GIL; handing a block to a worker
    can take milliseconds on a loaded VM, so small jobs stay on the calling thread). Plain threads,
    not numba's ``parallel=True``: its OpenMP pool (a second libgomp beside torch's) made torch's
    own 2-thread ops ~10x slower afterwards (measured: a 280-step reference loop 0.3 s -> 2.7 s)."""
    parts = max(1, min(torch.get_num_threads(), n // grain))
    edges = [n * k // parts for k in range(parts + 1)]
    futures = [_workers().submit(kernel, edges[k], edges[k + 1], *args) for k in range(1, parts)]
    return [kernel(edges[0], edges[1], *args)] + [future.result() for future in futures]


def _compact(x: torch.Tensor) -> torch.Tensor:
    """A uint8 copy of ``x`` when it is binary (spikes: 8x smaller to keep), else ``x`` itself."""
    kept = torch.empty(x.shape, dtype=torch.uint8)
    binary = _split(_binary_to_uint8, x.numel(), _numpy(x).reshape(-1), kept.numpy().reshape(-1),
                    grain=_ELEMENT_GRAIN)
    return kept if all(binary) else x


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


def _projection_backward(g: torch.Tensor, x_kept: torch.Tensor, weight: torch.Tensor,
                         bias: torch.Tensor | None, decay: torch.Tensor,
                         needs: tuple[bool, bool, bool], g_sum: torch.Tensor | None = None):
    """Gradients of ``drive = x W^T + bias`` fed through ``(1 - decay) * drive``, given
    ``g = dL/d(state) [T, B, N]`` and the inputs as kept by :func:`_compact`; ``needs``: which of
    (x, W, bias) need gradients. Returns (grad x, grad W, grad bias, sum_t g_t drive_t [N])."""
    g2 = _flat(g)
    gain = 1.0 - decay
    g_x = g_w = g_b = None
    if x_kept.dtype == torch.uint8:
        product_t = torch.empty(x_kept.shape[-1], g2.shape[1], dtype=g.dtype)
        _split(_masked_outer, product_t.shape[0], g2.numpy(), _flat(x_kept).numpy(),
               product_t.numpy())
        product = product_t.t()                              # G = g^T x   [N, N_in]
    else:
        product = g2.t() @ _flat(x_kept)
    g_sum = g2.sum(0) if g_sum is None else g_sum
    g_drive = (weight * product).sum(1) + (0.0 if bias is None else bias * g_sum)
    if needs[1]:
        g_w = gain.unsqueeze(1) * product
    if bias is not None and needs[2]:
        g_b = gain * g_sum
    if needs[0]:
        g_x = ((g2 * gain) @ weight).reshape(*g.shape[:-1], weight.shape[1])
    return g_x, g_w, g_b, g_drive


class _ALIFLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_in, bias, w_rec, alpha, rho, u0, b_state0, s0,  # type: ignore[override]
                reset, b0: float, beta: float, spike_fn: Surrogate, record: bool):
        n_steps, batch, _ = x.shape
        n = w_in.shape[0]
        dtype = w_in.dtype
        bias = torch.zeros(n, dtype=dtype) if bias is None else bias
        x_kept = _compact(x)
        use_mask = x_kept.dtype == torch.uint8
        if use_mask:  # binary input: gather rows of W_in^T in the kernel, no dense product
            drive, x_mask = np.zeros((0, 0, 0), _numpy(w_in).dtype), x_kept.numpy()
        else:
            drive = torch.addmm(bias, _flat(x), w_in.t()).reshape(n_steps, batch, n).numpy()
            x_mask = np.zeros((0, 0, 0), np.uint8)
        w_in_t = _numpy(w_in.t())
        has_rec = w_rec is not None
        w_rec_t = _numpy(w_rec.t()) if has_rec else np.zeros((0, n), w_in_t.dtype)
        s_all, u_all, b_all = (torch.empty(n_steps, batch, n, dtype=dtype) for _ in range(3))
        scalar = w_in_t.dtype.type
        _split(_alif_forward, batch, drive, x_mask, np.zeros((0, 0, 0), w_in_t.dtype), w_in_t,
               _numpy(bias), use_mask, w_rec_t,
               has_rec, _numpy(alpha), _numpy(1.0 - alpha), _numpy(rho), _numpy(1.0 - rho),
               scalar(b0), scalar(beta), _numpy(u0), _numpy(b_state0), _numpy(s0), _reset_array(reset),
               s_all.numpy(), u_all.numpy(), b_all.numpy())
        ctx.save_for_backward(x_kept, w_in, bias, w_rec, alpha, rho, u0, b_state0, s0, reset,
                              u_all, b_all, s_all.to(torch.uint8))
        ctx.constants = (b0, beta, spike_fn, record)
        if record:
            return s_all, u_all, b_all
        return s_all, u_all[-1].clone(), b_all[-1].clone()

    @staticmethod
    def backward(ctx, grad_spikes, grad_u, grad_b):  # type: ignore[override]
        x_kept, w_in, bias, w_rec, alpha, rho, u0, b_state0, s0, reset, u_all, b_all, s_kept = \
            ctx.saved_tensors
        b0, beta, spike_fn, record = ctx.constants
        scalar = u_all.numpy().dtype.type
        kind, params = _surrogate_params(spike_fn, u_all.numpy().dtype)
        b0, beta = scalar(b0), scalar(beta)
        grad_spikes = torch.zeros_like(u_all) if grad_spikes is None else grad_spikes
        du_all = torch.empty_like(u_all)
        has_rec = w_rec is not None
        surrogate = torch.empty_like(u_all)
        _split(_alif_surrogates, u_all.numel(), u_all.numpy().reshape(-1), b_all.numpy().reshape(-1),
               b0, beta, kind, params, surrogate.numpy().reshape(-1), grain=_ELEMENT_GRAIN)
        # dL/ds_T is already in grad_spikes[-1]: the spike slot starts at zero. Recorded traces
        # bring gradients for every step (added in the loop); else only for the final state.
        no_trace = np.zeros((0, 0, 0), u_all.numpy().dtype)
        g_u_steps, g_b_steps = (
            no_trace if not record or g is None else _numpy(g) for g in (grad_u, grad_b))
        grad_state = torch.stack([torch.zeros_like(u0) if g is None or record else g
                                  for g in (None, grad_u, grad_b)]).numpy()
        batch, n = u0.shape
        args = (_numpy(grad_spikes), g_u_steps, g_b_steps, surrogate.numpy(), u_all.numpy(),
                b_all.numpy(), s_kept.numpy(), _numpy(u0), _numpy(b_state0), _numpy(s0),
                _reset_array(reset),
                _numpy(w_rec) if has_rec else np.zeros((1, 1), u_all.numpy().dtype), has_rec,
                _numpy(alpha), _numpy(1.0 - alpha), _numpy(rho), _numpy(1.0 - rho), b0, beta,
                du_all.numpy(), grad_state)
        gemm_rows = _GEMM_ROWS if _GEMM_ROWS * n * n <= _SMALL_GEMM else batch
        with _blas_threads(1):
            sums = sum(_split(_alif_backward, batch, *args, gemm_rows))
        del surrogate
        du_sum, du_u_prev, db_b_prev = sums
        g_s0, g_u0, g_b0 = grad_state
        as_tensor = torch.from_numpy
        du_sum = as_tensor(du_sum).to(u_all.dtype)
        g_x, g_w_in, g_bias, g_drive = _projection_backward(
            du_all, x_kept, w_in, bias, alpha, ctx.needs_input_grad[:3], du_sum)
        g_w_rec = None
        if has_rec:
            s0_kept = _compact(s0)
            s_prev = torch.cat([s0_kept.unsqueeze(0), s_kept[:-1].to(s0_kept.dtype)])
            if reset is not None:  # a reset zeroes s_{t-1} before the recurrent product
                s_prev = s_prev.masked_fill(reset.bool().unsqueeze(-1), 0)
            _, g_w_rec, _, g_rec_drive = _projection_backward(
                du_all, s_prev, w_rec, None, alpha, (False, ctx.needs_input_grad[3], False), du_sum)
            g_drive = g_drive + g_rec_drive
        grad_alpha = as_tensor(du_u_prev).to(u_all.dtype) - g_drive
        grad_rho = as_tensor(db_b_prev).to(u_all.dtype)
        return (g_x, g_w_in, g_bias, g_w_rec, grad_alpha, grad_rho, as_tensor(g_u0),
                as_tensor(g_b0), as_tensor(g_s0), None, None, None, None, None)


class _LeakyReadout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, alpha, y0, reset):  # type: ignore[override]
        n_steps, batch, _ = h.shape
        h_kept = _compact(h)
        use_mask = h_kept.dtype == torch.uint8
        empty = np.zeros((0, 0, 0), _numpy(weight).dtype)
        if use_mask:  # binary (spikes): gather rows of W^T, no dense product
            drive, h_mask = empty, h_kept.numpy()
        else:
            drive = torch.addmm(bias, _flat(h), weight.t()).reshape(n_steps, batch, -1).numpy()
            h_mask = np.zeros((0, 0, 0), np.uint8)
        y_all = torch.empty(n_steps, batch, weight.shape[0], dtype=weight.dtype)
        _split(_leaky_forward, batch, drive, h_mask, _numpy(weight.t()), _numpy(bias), use_mask,
               _numpy(alpha), _numpy(1.0 - alpha), _numpy(y0), _reset_array(reset), y_all.numpy())
        ctx.save_for_backward(h_kept, weight, bias, alpha, y0, reset, y_all)
        return y_all

    @staticmethod
    def backward(ctx, grad_y):  # type: ignore[override]
        h_kept, weight, bias, alpha, y0, reset, y_all = ctx.saved_tensors
        g_all = torch.empty_like(y_all)
        g_y0, g_y_prev = _leaky_backward(_numpy(grad_y), _numpy(alpha), y_all.numpy(), _numpy(y0),
                                         _reset_array(reset), g_all.numpy())
        g_h, g_w, g_b, g_drive = _projection_backward(g_all, h_kept, weight, bias, alpha,
                                                      ctx.needs_input_grad[:3])
        grad_alpha = torch.from_numpy(g_y_prev).to(y_all.dtype) - g_drive
        return g_h, g_w, g_b, grad_alpha, torch.from_numpy(g_y0), None


def _check_shapes(x: torch.Tensor, n_out: int, **tensors: torch.Tensor | None) -> None:
    """The kernels index without bounds checks: reject wrong shapes, dtypes and devices here."""
    if x.dim() != 3 or x.shape[0] == 0:
        raise ValueError(f"input must be [T, B, N_in] with T >= 1, got shape {tuple(x.shape)}")
    n_steps, batch, n_in = x.shape
    expected = {"weight": (n_out, n_in), "w_rec": (n_out, n_out), "bias": (n_out,),
                "alpha": (n_out,), "rho": (n_out,), "u0": (batch, n_out),
                "b_state0": (batch, n_out), "s0": (batch, n_out), "y0": (batch, n_out)}
    dtype = tensors["weight"].dtype
    for name, tensor in tensors.items():
        if tensor is None:
            continue
        if tuple(tensor.shape) != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]} for input "
                             f"{tuple(x.shape)}, got {tuple(tensor.shape)}")
        if tensor.dtype != dtype or tensor.device.type != "cpu":
            raise ValueError(f"{name} is {tensor.dtype} on {tensor.device}; the fused layers need "
                             f"every tensor on the CPU in the weights' dtype {dtype}")
    if not fused_supported(x) or x.dtype != dtype:
        raise ValueError(f"input must be a CPU tensor in the weights' dtype {dtype}, got "
                         f"{x.dtype} on {x.device}")


def _reset_tensor(reset_mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """``reset_mask [T, B]`` as a contiguous uint8 CPU tensor (None stays None)."""
    if reset_mask is None:
        return None
    if reset_mask.device != x.device:
        raise ValueError(f"reset_mask is on {reset_mask.device} but the input is on {x.device}; "
                         "put both on the same device")
    if tuple(reset_mask.shape) != tuple(x.shape[:2]):
        raise ValueError(f"reset_mask must have shape [T, B] = {tuple(x.shape[:2])}, got "
                         f"{tuple(reset_mask.shape)}")
    return (reset_mask != 0).to(torch.uint8).contiguous()


def alif_layer_sequence(x: torch.Tensor, w_in: torch.Tensor, bias: torch.Tensor | None,
                        w_rec: torch.Tensor | None, alpha: torch.Tensor, rho: torch.Tensor,
                        u0: torch.Tensor, b_state0: torch.Tensor, s0: torch.Tensor, b0: float,
                        beta: float, spike_fn: Surrogate, reset_mask: torch.Tensor | None = None,
                        record: bool = False):
    """ALIF layer over ``x [T, B, N_in]``: drive ``x W_in^T + bias``, optional recurrence
    ``W_rec [N, N]``, decays ``alpha, rho [N]``, state ``[B, N]``; ``reset_mask [T, B]`` (bool)
    zeroes a lane's state just before the steps where it is True. Returns
    ``(spikes [T, B, N], u_T, b_T)``, or with ``record`` ``(spikes, u [T, B, N], b [T, B, N])``
    (every step's state); equal to the step loop of ``alif_step``."""
    _check_shapes(x, n_out=w_in.shape[0], weight=w_in, bias=bias, w_rec=w_rec, alpha=alpha,
                  rho=rho, u0=u0, b_state0=b_state0, s0=s0)
    return _ALIFLayer.apply(x, w_in, bias, w_rec, alpha, rho, u0, b_state0, s0,
                            _reset_tensor(reset_mask, x), float(b0), float(beta), spike_fn,
                            bool(record))


def leaky_readout_sequence(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                           alpha: torch.Tensor, y0: torch.Tensor,
                           reset_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Leaky readout ``y_t = alpha y_{t-1} + (1 - alpha)(h_t W^T + bias)`` over ``h [T, B, N]``
    (``y`` zeroed before the steps where ``reset_mask [T, B]`` is True); returns ``y [T, B, C]``
    (the final state is ``y[-1]``)."""
    _check_shapes(h, n_out=weight.shape[0], weight=weight, bias=bias, alpha=alpha, y0=y0)
    return _LeakyReadout.apply(h, weight, bias, alpha, y0, _reset_tensor(reset_mask, h))
