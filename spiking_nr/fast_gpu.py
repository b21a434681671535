"""Fused GPU training path: an ALIF/LIF layer and the leaky readout, each one autograd node per
sequence, with the time loop inside one Triton kernel launch (forward) and the adjoint loop inside
another (backward).

The step loop on a GPU is launch bound (DESIGN: ~24,000 kernel launches per reference training
step). Here, per layer and sequence:

* the input projection ``x W_in^T + bias`` is one large GEMM (cuBLAS through torch) before the
  loop;
* forward kernel: one program per block of batch lanes runs all ``T`` steps; each step adds the
  recurrent drive ``s_{t-1} W_rec^T`` in-kernel (``W_rec`` read from L2, in neuron tiles; a
  ``tl.dot`` in IEEE float32 for blocks of >= 16 lanes, a broadcast product below that), updates
  ``u, b, s`` tile by tile and stores them; a barrier ends each step, because the next step's
  recurrent product reads every neuron's spike;
* backward kernel: the same program layout runs the adjoint equations of
  :mod:`spiking_nr.fast` in reverse (surrogate derivative computed in-kernel, the recurrent term
  ``da_{t+1} W_rec`` from the stored ``du_{t+1}``), storing ``du_t`` and ``db_t``;
* weight gradients, the input gradient and the time-constant gradients are large torch products
  and reductions over the stored ``du, db`` after the loop.

Resets (``reset_mask [T, B]``) zero a lane's state before a step and cut its gradient there;
``record=True`` returns every step's ``u`` and ``b`` (gradients flow into them too).

Supported: CUDA float32 tensors (compiled kernels). When triton was imported with
``TRITON_INTERPRET=1``, float32/float64 tensors (CPU included) run the SAME kernels through
Triton's interpreter: how CI, which has no GPU, checks them against the reference step loop
(tests/conftest.py sets the variable where no GPU is present). Anything else raises
``ValueError``.
"""

from __future__ import annotations

import functools

import torch

from spiking_nr.fast import _SURROGATE_KERNELS, _flat, _projection_backward, _surrogate_params
from spiking_nr.surrogate import Surrogate

try:  # optional on CPU-only machines: the kernels need it, the CPU path does not
    import triton.language as tl
    from triton.language import constexpr
except ImportError:  # pragma: no cover - CI installs triton
    tl = constexpr = None

__all__ = ["gpu_supported", "triton_available", "alif_layer_sequence", "leaky_readout_sequence"]

_CUDA_DTYPES = (torch.float32,)
_INTERPRETER_DTYPES = (torch.float32, torch.float64)


def triton_available() -> bool:
    return tl is not None


def _interpreting() -> bool:
    """Whether triton was imported with ``TRITON_INTERPRET=1``: its language functions are then
    interpreted, and so are these kernels (on CPU tensors). Triton reads the variable once, when
    it is imported, so it has to be set before anything imports triton."""
    if tl is None:
        return False
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(tl.standard.sum, InterpretedFunction)


def gpu_supported(x: torch.Tensor, spike_fn: Surrogate | None = None) -> bool:
    """Whether the fused GPU layers run ``x``: a CUDA float32 tensor, triton installed, a
    built-in surrogate. (Other CUDA dtypes use the reference step loop in :class:`SRNN`.)"""
    return (x.device.type == "cuda" and x.dtype in _CUDA_DTYPES and triton_available()
            and (spike_fn is None or spike_fn.name in _SURROGATE_KERNELS))


def _check(x: torch.Tensor, n_out: int, **tensors: torch.Tensor | None) -> None:
    """Shapes, dtypes and devices, checked before any kernel indexes memory."""
    if x.dim() != 3 or x.shape[0] == 0:
        raise ValueError(f"input must be [T, B, N_in] with T >= 1, got shape {tuple(x.shape)}")
    if x.device.type == "cuda" and not _interpreting():
        if x.dtype not in _CUDA_DTYPES:
            raise ValueError(f"the fused GPU layers support CUDA tensors of dtype torch.float32, "
                             f"got {x.dtype}")
    elif x.device.type in ("cpu", "cuda") and _interpreting():
        if x.dtype not in _INTERPRETER_DTYPES:
            raise ValueError(f"Triton's interpreter runs tensors of dtype torch.float32 or "
                             f"torch.float64, got {x.dtype}")
    else:
        raise ValueError(f"the fused GPU layers support CUDA float32 tensors (or CPU float32/"
                         f"float64 through Triton's interpreter: TRITON_INTERPRET=1 set before "
                         f"triton is imported); got {x.dtype} on {x.device}")
    if not triton_available():
        raise ValueError("the fused GPU layers need the 'triton' package (pip install triton)")
    n_steps, batch, n_in = x.shape
    expected = {"weight": (n_out, n_in), "w_rec": (n_out, n_out), "bias": (n_out,),
                "alpha": (n_out,), "rho": (n_out,), "u0": (batch, n_out),
                "b_state0": (batch, n_out), "s0": (batch, n_out), "y0": (batch, n_out),
                "reset_mask": (n_steps, batch)}
    for name, tensor in tensors.items():
        if tensor is None:
            continue
        if tensor.device != x.device:
            raise ValueError(f"{name} is on {tensor.device} but the input is on {x.device}; "
                             "put every tensor on the same device")
        if tuple(tensor.shape) != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]} for input "
                             f"{tuple(x.shape)}, got {tuple(tensor.shape)}")
        if name != "reset_mask" and tensor.dtype != x.dtype:
            raise ValueError(f"{name} is {tensor.dtype}; every tensor must have the input's "
                             f"dtype {x.dtype}")


# ---- kernels (plain functions: compiled with triton.jit on CUDA, interpreted on CPU) ----------
def _alif_forward_kernel(drive, w_rec, alpha, gain, rho, rho_gain, consts, reset, u_buf, b_buf,
                         s_buf, n_steps, batch, n, HAS_REC: constexpr, HAS_RESET: constexpr,
                         USE_DOT: constexpr, BLOCK_B: constexpr, BLOCK_N: constexpr,
                         BLOCK_K: constexpr):
    """Lanes ``pid * BLOCK_B ...``: state buffers ``[T + 1, B, N]`` hold the initial state in
    row 0; step ``t`` reads row ``t`` and writes row ``t + 1``. ``drive [T, B, N]`` is the input
    projection plus bias; ``consts = [b0, beta, ...]`` in the working dtype."""
    pid = tl.program_id(0)
    lanes = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    lane_ok = lanes < batch
    b0 = tl.load(consts)
    beta = tl.load(consts + 1)
    plane = batch * n
    dtype = u_buf.dtype.element_ty
    keep = tl.full([BLOCK_B], 1.0, dtype)
    for t in range(n_steps):
        if HAS_RESET:  # the reference zeroes the state by multiplying it with (1 - reset)
            keep = 1.0 - tl.load(reset + t * batch + lanes, mask=lane_ok, other=0).to(dtype)
        for n0 in range(0, n, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            col_ok = cols < n
            ok = lane_ok[:, None] & col_ok[None, :]
            offs = lanes[:, None] * n + cols[None, :]
            a = tl.load(drive + t * plane + offs, mask=ok, other=0.0)
            if HAS_REC:
                acc = tl.zeros([BLOCK_B, BLOCK_N], dtype)
                for k0 in range(0, n, BLOCK_K):
                    ks = k0 + tl.arange(0, BLOCK_K)
                    k_ok = ks < n
                    s_k = tl.load(s_buf + t * plane + lanes[:, None] * n + ks[None, :],
                                  mask=lane_ok[:, None] & k_ok[None, :], other=0.0)
                    s_k = s_k * keep[:, None]
                    # w[k, j] = W_rec[cols[j], ks[k]]: the product is s_{t-1} W_rec^T
                    w = tl.load(w_rec + cols[None, :] * n + ks[:, None],
                                mask=k_ok[:, None] & col_ok[None, :], other=0.0)
                    if USE_DOT:
                        acc += tl.dot(s_k, w, input_precision="ieee")
                    else:
                        acc += tl.sum(s_k[:, :, None] * w[None, :, :], axis=1)
                a = a + acc
            u_prev = tl.load(u_buf + t * plane + offs, mask=ok, other=0.0) * keep[:, None]
            b_prev = tl.load(b_buf + t * plane + offs, mask=ok, other=0.0) * keep[:, None]
            s_prev = tl.load(s_buf + t * plane + offs, mask=ok, other=0.0) * keep[:, None]
            al = tl.load(alpha + cols, mask=col_ok, other=0.0)[None, :]
            ga = tl.load(gain + cols, mask=col_ok, other=0.0)[None, :]
            rh = tl.load(rho + cols, mask=col_ok, other=0.0)[None, :]
            rg = tl.load(rho_gain + cols, mask=col_ok, other=0.0)[None, :]
            b_new = rh * b_prev + rg * s_prev
            threshold = b0 + beta * b_new
            u_new = al * u_prev + ga * a - threshold * s_prev
            s_new = (u_new - threshold > 0).to(dtype)
            tl.store(u_buf + (t + 1) * plane + offs, u_new, mask=ok)
            tl.store(b_buf + (t + 1) * plane + offs, b_new, mask=ok)
            tl.store(s_buf + (t + 1) * plane + offs, s_new, mask=ok)
        tl.debug_barrier()  # step t + 1's recurrent product reads every neuron's s_t


def _alif_backward_kernel(grad_s, grad_u, grad_b, u_buf, b_buf, s_buf, du_out, db_out, w_rec,
                          alpha, gain, rho, rho_gain, consts, reset, carry, du_acc, db_acc,
                          n_steps, batch, n, HAS_REC: constexpr, HAS_RESET: constexpr,
                          HAS_TRACE_GRAD: constexpr, KIND: constexpr, USE_DOT: constexpr,
                          BLOCK_B: constexpr, BLOCK_N: constexpr, BLOCK_K: constexpr):
    """Reverse loop of the adjoint equations (see :mod:`spiking_nr.fast`) for a block of lanes.
    ``carry, du_acc, db_acc [B, N]`` hold, between steps, the part of ``dL/ds_t`` from step
    ``t + 1`` other than the recurrent product, ``alpha du_{t+1}`` and ``rho db_{t+1}`` (on
    entry: 0 and the final state's gradients; on return: what reaches the initial state, except
    the recurrent term of ``s_0``). Fills ``du_out, db_out [T, B, N]``."""
    pid = tl.program_id(0)
    lanes = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    lane_ok = lanes < batch
    b0 = tl.load(consts)
    beta = tl.load(consts + 1)
    p0 = tl.load(consts + 2)
    p1 = tl.load(consts + 3)
    p2 = tl.load(consts + 4)
    p3 = tl.load(consts + 5)
    p4 = tl.load(consts + 6)
    p5 = tl.load(consts + 7)
    plane = batch * n
    dtype = u_buf.dtype.element_ty
    keep = tl.full([BLOCK_B], 1.0, dtype)
    keep_next = tl.full([BLOCK_B], 1.0, dtype)
    for step in range(n_steps):
        t = n_steps - 1 - step
        next_ok = lane_ok & ((tl.zeros([BLOCK_B], tl.int32) + t + 1) < n_steps)  # step t + 1 exists
        if HAS_RESET:
            keep = 1.0 - tl.load(reset + t * batch + lanes, mask=lane_ok, other=0).to(dtype)
            keep_next = 1.0 - tl.load(reset + (t + 1) * batch + lanes, mask=next_ok,
                                      other=0).to(dtype)
        for n0 in range(0, n, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            col_ok = cols < n
            ok = lane_ok[:, None] & col_ok[None, :]
            offs = lanes[:, None] * n + cols[None, :]
            g = tl.load(grad_s + t * plane + offs, mask=ok, other=0.0)
            g += tl.load(carry + offs, mask=ok, other=0.0)
            if HAS_REC:  # + da_{t+1} W_rec, da = (1 - alpha) du (zero after a reset at t + 1)
                acc = tl.zeros([BLOCK_B, BLOCK_N], dtype)
                for k0 in range(0, n, BLOCK_K):
                    ks = k0 + tl.arange(0, BLOCK_K)
                    k_ok = ks < n
                    d_k = tl.load(du_out + (t + 1) * plane + lanes[:, None] * n + ks[None, :],
                                  mask=next_ok[:, None] & k_ok[None, :], other=0.0)
                    d_k = d_k * tl.load(gain + ks, mask=k_ok, other=0.0)[None, :]
                    d_k = d_k * keep_next[:, None]
                    w = tl.load(w_rec + ks[:, None] * n + cols[None, :],
                                mask=k_ok[:, None] & col_ok[None, :], other=0.0)
                    if USE_DOT:
                        acc += tl.dot(d_k, w, input_precision="ieee")
                    else:
                        acc += tl.sum(d_k[:, :, None] * w[None, :, :], axis=1)
                g += acc
            threshold = b0 + beta * tl.load(b_buf + (t + 1) * plane + offs, mask=ok, other=0.0)
            x = tl.load(u_buf + (t + 1) * plane + offs, mask=ok, other=0.0) - threshold
            if KIND == 0:  # multi_gaussian; coefficients from spiking_nr.fast._surrogate_params
                x2 = x * x
                sides = tl.exp(-x2 * p3 - p5 + x * p4) + tl.exp(-x2 * p3 - p5 - x * p4)
                surrogate = p0 * tl.exp(-x2 * p1) - p2 * sides
            elif KIND == 1:  # fast_sigmoid
                d = 1.0 + p0 * tl.abs(x)
                surrogate = 1.0 / (d * d)
            elif KIND == 2:  # triangle
                surrogate = tl.maximum(1.0 - tl.abs(x) * p1, 0.0) * p1
            else:  # arctan
                z = p1 * x
                surrogate = p0 / (1.0 + z * z)
            du_in = tl.load(du_acc + offs, mask=ok, other=0.0)
            db_in = tl.load(db_acc + offs, mask=ok, other=0.0)
            if HAS_TRACE_GRAD:  # recorded u_t, b_t got gradients of their own
                du_in += tl.load(grad_u + t * plane + offs, mask=ok, other=0.0)
                db_in += tl.load(grad_b + t * plane + offs, mask=ok, other=0.0)
            s_prev = tl.load(s_buf + t * plane + offs, mask=ok, other=0.0) * keep[:, None]
            dv = g * surrogate
            du = dv + du_in
            db = db_in - beta * (dv + s_prev * du)
            tl.store(du_out + t * plane + offs, du, mask=ok)
            tl.store(db_out + t * plane + offs, db, mask=ok)
            al = tl.load(alpha + cols, mask=col_ok, other=0.0)[None, :]
            rh = tl.load(rho + cols, mask=col_ok, other=0.0)[None, :]
            rg = tl.load(rho_gain + cols, mask=col_ok, other=0.0)[None, :]
            tl.store(carry + offs, (rg * db - threshold * du) * keep[:, None], mask=ok)
            tl.store(du_acc + offs, al * du * keep[:, None], mask=ok)
            tl.store(db_acc + offs, rh * db * keep[:, None], mask=ok)
        tl.debug_barrier()  # step t - 1's recurrent term reads every neuron's du_t


def _leaky_forward_kernel(drive, alpha, gain, reset, y_buf, n_steps, batch, n, HAS_RESET: constexpr,
                          BLOCK: constexpr):
    """``y_t = alpha y_{t-1} + gain d_t`` element-wise over ``B * C``; ``y_buf [T + 1, B, C]``."""
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = e < batch * n
    cols = e % n
    lanes = e // n
    dtype = y_buf.dtype.element_ty
    al = tl.load(alpha + cols, mask=ok, other=0.0)
    ga = tl.load(gain + cols, mask=ok, other=0.0)
    y = tl.load(y_buf + e, mask=ok, other=0.0)
    for t in range(n_steps):
        if HAS_RESET:
            y = y * (1.0 - tl.load(reset + t * batch + lanes, mask=ok, other=0).to(dtype))
        y = al * y + ga * tl.load(drive + t * batch * n + e, mask=ok, other=0.0)
        tl.store(y_buf + (t + 1) * batch * n + e, y, mask=ok)


def _leaky_backward_kernel(grad_y, alpha, reset, g_out, acc_out, n_steps, batch, n, HAS_RESET: constexpr,
                           BLOCK: constexpr):
    """``g_t = dL/dy_t`` in reverse into ``g_out [T, B, C]``; ``acc_out`` gets ``dL/dy_0``."""
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = e < batch * n
    lanes = e // n
    dtype = g_out.dtype.element_ty
    al = tl.load(alpha + e % n, mask=ok, other=0.0)
    acc = tl.zeros([BLOCK], dtype)
    for step in range(n_steps):
        t = n_steps - 1 - step
        g = tl.load(grad_y + t * batch * n + e, mask=ok, other=0.0) + acc
        tl.store(g_out + t * batch * n + e, g, mask=ok)
        acc = al * g
        if HAS_RESET:
            acc = acc * (1.0 - tl.load(reset + t * batch + lanes, mask=ok, other=0).to(dtype))
    tl.store(acc_out + e, acc, mask=ok)


@functools.cache
def _kernel(fn, interpreted: bool):
    """``fn`` as a Triton kernel, interpreted or compiled (built on first use, so importing this
    module needs no GPU)."""
    if interpreted:
        from triton.runtime.interpreter import InterpretedFunction

        return InterpretedFunction(fn)
    from triton.runtime.jit import JITFunction

    return JITFunction(fn)


def _next_pow2(value: int) -> int:
    return 1 << max(0, int(value) - 1).bit_length()


def _launch_config(batch: int, n: int, device: torch.device) -> dict[str, int | bool]:
    """Blocks of lanes per program and neuron tile sizes. Few lanes per program when the batch is
    small (more programs, more SMs busy; broadcast products), 16 lanes with ``tl.dot`` when the
    batch fills the GPU (each ``W_rec`` tile read from L2 serves 16 lanes). Untuned: no GPU was
    available when this was written (scripts/gpu_check.sh measures it)."""
    programs = 132
    if device.type == "cuda":
        programs = torch.cuda.get_device_properties(device).multi_processor_count
    lanes = min(16, _next_pow2(-(-batch // programs)))
    use_dot = lanes >= 16
    tile = max(16, min(64, _next_pow2(n)))
    k_tile = max(16, min(64 if use_dot else 32, _next_pow2(n)))
    if not use_dot:  # keep the [lanes, K, N] broadcast product within 8192 elements
        while lanes * k_tile * tile > 8192 and k_tile > 16:
            k_tile //= 2
    return {"BLOCK_B": lanes, "BLOCK_N": tile, "BLOCK_K": k_tile, "USE_DOT": use_dot}


def _launch(fn, grid: int, *args, **constexprs):
    interpreted = _interpreting()
    # No fused multiply-adds: the step loop's separate torch ops round after each product, and
    # rounding like it keeps float32 threshold crossings (spikes) closer to the reference's.
    options = {} if interpreted else {"enable_fp_fusion": False}
    _kernel(fn, interpreted)[(grid,)](*args, **constexprs, **options)


def _stacked(first: torch.Tensor, n_steps: int) -> torch.Tensor:
    """A ``[T + 1, B, N]`` buffer whose row 0 is ``first``."""
    buffer = torch.empty((n_steps + 1, *first.shape), dtype=first.dtype, device=first.device)
    buffer[0] = first
    return buffer


class _ALIFLayerGPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_in, bias, w_rec, alpha, rho, u0, b_state0, s0,  # type: ignore[override]
                reset, b0: float, beta: float, spike_fn: Surrogate, record: bool):
        n_steps, batch, _ = x.shape
        n = w_in.shape[0]
        drive = torch.matmul(x, w_in.t())  # one GEMM for all steps
        if bias is not None:
            drive += bias
        kind, params = _surrogate_params(spike_fn)
        consts = torch.tensor([b0, beta, *params[:6].tolist()], dtype=x.dtype, device=x.device)
        u_buf, b_buf, s_buf = (_stacked(state.detach(), n_steps) for state in (u0, b_state0, s0))
        has_rec = w_rec is not None
        config = _launch_config(batch, n, x.device)
        w_rec_c = w_rec.detach().contiguous() if has_rec else drive
        gain, rho_gain = 1.0 - alpha.detach(), 1.0 - rho.detach()
        _launch(_alif_forward_kernel, -(-batch // config["BLOCK_B"]), drive, w_rec_c,
                alpha.detach().contiguous(), gain, rho.detach().contiguous(), rho_gain, consts,
                drive if reset is None else reset, u_buf, b_buf, s_buf, n_steps, batch, n,
                HAS_REC=has_rec, HAS_RESET=reset is not None, **config)
        ctx.save_for_backward(x, w_in, bias, w_rec, alpha, rho, reset, u_buf, b_buf, s_buf)
        ctx.constants = (kind, consts, record, config)
        spikes = s_buf[1:]
        if record:
            return spikes, u_buf[1:], b_buf[1:]
        return spikes, u_buf[-1].clone(), b_buf[-1].clone()

    @staticmethod
    def backward(ctx, grad_spikes, grad_u, grad_b):  # type: ignore[override]
        x, w_in, bias, w_rec, alpha, rho, reset, u_buf, b_buf, s_buf = ctx.saved_tensors
        kind, consts, record, config = ctx.constants
        n_steps, batch, n = s_buf.shape[0] - 1, s_buf.shape[1], s_buf.shape[2]
        zeros = torch.zeros((batch, n), dtype=u_buf.dtype, device=u_buf.device)
        grad_spikes = torch.zeros_like(s_buf[1:]) if grad_spikes is None else grad_spikes
        carry = zeros.clone()
        if record:  # per-step gradients, added in the loop; the final state's are among them
            trace = [torch.zeros_like(s_buf[1:]) if g is None else g.contiguous()
                     for g in (grad_u, grad_b)]
            du_acc, db_acc = zeros.clone(), zeros.clone()
        else:
            trace = [zeros, zeros]
            du_acc, db_acc = (zeros.clone() if g is None else g.clone().contiguous()
                              for g in (grad_u, grad_b))
        du_all, db_all = torch.empty_like(s_buf[1:]), torch.empty_like(s_buf[1:])
        has_rec = w_rec is not None
        w_rec_c = w_rec.detach().contiguous() if has_rec else zeros
        a, r = alpha.detach().contiguous(), rho.detach().contiguous()
        gain = 1.0 - a
        _launch(_alif_backward_kernel, -(-batch // config["BLOCK_B"]),
                grad_spikes.contiguous(), trace[0], trace[1], u_buf, b_buf, s_buf, du_all, db_all,
                w_rec_c, a, gain, r, 1.0 - r, consts, zeros if reset is None else reset, carry,
                du_acc, db_acc, n_steps, batch, n, HAS_REC=has_rec, HAS_RESET=reset is not None,
                HAS_TRACE_GRAD=record, KIND=kind, **config)
        u_prev, b_prev, s_prev = u_buf[:-1], b_buf[:-1], s_buf[:-1]  # views: no copies
        if reset is not None:  # the state each step saw: zero after a reset
            keep = (1 - reset.to(u_buf.dtype)).unsqueeze(-1)
            u_prev, b_prev, s_prev = u_prev * keep, b_prev * keep, s_prev * keep
        du_sum = du_all.sum((0, 1))
        g_x, g_w_in, g_bias, g_drive = _projection_backward(
            du_all, x, w_in, bias, a, ctx.needs_input_grad[:3], du_sum)
        g_s0, g_w_rec = carry, None
        if has_rec:
            da0 = du_all[0] * gain
            if reset is not None:
                da0 = da0 * (1 - reset[0].to(da0.dtype)).unsqueeze(-1)
            g_s0 = carry + da0 @ w_rec_c
            _, g_w_rec, _, g_rec_drive = _projection_backward(
                du_all, s_prev, w_rec, None, a, (False, ctx.needs_input_grad[3], False), du_sum)
            g_drive = g_drive + g_rec_drive
        grad_alpha = (_flat(du_all) * _flat(u_prev)).sum(0) - g_drive
        grad_rho = (_flat(db_all) * _flat(b_prev - s_prev)).sum(0)
        return (g_x, g_w_in, g_bias, g_w_rec, grad_alpha, grad_rho, du_acc, db_acc, g_s0,
                None, None, None, None, None)


class _LeakyReadoutGPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, alpha, y0, reset):  # type: ignore[override]
        n_steps, batch, _ = h.shape
        n = weight.shape[0]
        drive = torch.addmm(bias, _flat(h), weight.t()).reshape(n_steps, batch, n)
        y_buf = _stacked(y0.detach(), n_steps)
        a = alpha.detach().contiguous()
        block = min(1024, _next_pow2(batch * n))
        _launch(_leaky_forward_kernel, -(-(batch * n) // block), drive, a, 1.0 - a,
                drive if reset is None else reset, y_buf, n_steps, batch, n,
                HAS_RESET=reset is not None, BLOCK=block)
        ctx.save_for_backward(h, weight, bias, alpha, reset, y_buf)
        return y_buf[1:]

    @staticmethod
    def backward(ctx, grad_y):  # type: ignore[override]
        h, weight, bias, alpha, reset, y_buf = ctx.saved_tensors
        n_steps, batch, n = grad_y.shape
        g_all = torch.empty_like(grad_y, memory_format=torch.contiguous_format)
        g_y0 = torch.empty((batch, n), dtype=grad_y.dtype, device=grad_y.device)
        a = alpha.detach().contiguous()
        block = min(1024, _next_pow2(batch * n))
        _launch(_leaky_backward_kernel, -(-(batch * n) // block), grad_y.contiguous(), a,
                a if reset is None else reset, g_all, g_y0, n_steps, batch, n,
                HAS_RESET=reset is not None, BLOCK=block)
        y_prev = y_buf[:-1]
        if reset is not None:
            y_prev = y_prev * (1 - reset.to(y_prev.dtype)).unsqueeze(-1)
        g_h, g_w, g_b, g_drive = _projection_backward(g_all, h, weight, bias, a,
                                                      ctx.needs_input_grad[:3])
        grad_alpha = (_flat(g_all) * _flat(y_prev)).sum(0) - g_drive
        return g_h, g_w, g_b, grad_alpha, g_y0, None


def _reset_tensor(reset_mask: torch.Tensor | None) -> torch.Tensor | None:
    return None if reset_mask is None else (reset_mask != 0).to(torch.uint8).contiguous()


def alif_layer_sequence(x: torch.Tensor, w_in: torch.Tensor, bias: torch.Tensor | None,
                        w_rec: torch.Tensor | None, alpha: torch.Tensor, rho: torch.Tensor,
                        u0: torch.Tensor, b_state0: torch.Tensor, s0: torch.Tensor, b0: float,
                        beta: float, spike_fn: Surrogate, reset_mask: torch.Tensor | None = None,
                        record: bool = False):
    """The GPU twin of :func:`spiking_nr.fast.alif_layer_sequence` (same arguments and results):
    ALIF layer over ``x [T, B, N_in]``; returns ``(spikes [T, B, N], u_T, b_T)``, or with
    ``record`` every step's ``u, b [T, B, N]``."""
    if spike_fn.name not in _SURROGATE_KERNELS:
        raise ValueError(f"surrogate {spike_fn.name!r} has no fused kernel; supported: "
                         f"{sorted(_SURROGATE_KERNELS)}")
    _check(x, w_in.shape[0], weight=w_in, bias=bias, w_rec=w_rec, alpha=alpha, rho=rho, u0=u0,
           b_state0=b_state0, s0=s0, reset_mask=reset_mask)
    return _ALIFLayerGPU.apply(x.contiguous(), w_in, bias, w_rec, alpha, rho, u0, b_state0, s0,
                               _reset_tensor(reset_mask), float(b0), float(beta), spike_fn,
                               bool(record))


def leaky_readout_sequence(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                           alpha: torch.Tensor, y0: torch.Tensor,
                           reset_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The GPU twin of :func:`spiking_nr.fast.leaky_readout_sequence`: ``y [T, B, C]``."""
    _check(h, weight.shape[0], weight=weight, bias=bias, alpha=alpha, y0=y0,
           reset_mask=reset_mask)
    return _LeakyReadoutGPU.apply(h.contiguous(), weight, bias, alpha, y0,
                                  _reset_tensor(reset_mask))
