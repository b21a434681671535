"""Fused ALIF recurrence: one autograd node for a whole sequence, with a hand-written backward.

The reference path (:meth:`SpikingLayer.forward` step loop) records ~10 autograd nodes per step.
:class:`ALIFSequence` runs the forward loop without autograd, keeps ``u``, ``b``, ``s`` per step, and
back-propagates with one reverse loop of the adjoint equations below; the recurrent-weight gradient
is one batched product at the end. Same equations as :func:`spiking_nr.neurons.alif_step`
(``v = u - B``, ``s = H(v)``, surrogate ``sigma'(v)``), per step ``t``::

    dv_t  = g_s_t * sigma'(v_t)                       g_s_t: dL/ds_t from outputs and step t+1
    du_t  = dv_t + alpha * du_{t+1}
    dB_t  = -dv_t - s_{t-1} * du_t
    db_t  = beta * dB_t + rho * db_{t+1}
    da_t  = (1 - alpha) * du_t                         a_t = drive_t + W_rec s_{t-1}
    g_s_{t-1} += W_rec^T da_t + (1 - rho) * db_t - B_t * du_t
    dalpha += du_t * (u_{t-1} - a_t);   drho += db_t * (b_{t-1} - s_{t-1})

Gradients flow into the initial state too, so truncated BPTT across chunks is exact.
"""

from __future__ import annotations

import torch

from spiking_nr.surrogate import Surrogate


class ALIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, drive, w_rec, alpha, rho, u0, b_state0, s0, b0: float, beta: float,  # type: ignore[override]
                spike_fn: Surrogate):
        n_steps = drive.shape[0]
        u_all = torch.empty_like(drive)
        b_all = torch.empty_like(drive)
        s_all = torch.empty_like(drive)
        a_all = torch.empty_like(drive)
        u, b, s = u0, b_state0, s0
        one_minus_alpha, one_minus_rho = 1.0 - alpha, 1.0 - rho
        for t in range(n_steps):
            a = drive[t] if w_rec is None else torch.addmm(drive[t], s, w_rec.t())
            b = rho * b + one_minus_rho * s
            threshold = b0 + beta * b
            u = alpha * u + one_minus_alpha * a - threshold * s
            s = (u > threshold).to(drive.dtype)
            u_all[t], b_all[t], s_all[t], a_all[t] = u, b, s, a
        ctx.save_for_backward(w_rec, alpha, rho, u0, b_state0, s0, u_all, b_all, s_all, a_all)
        ctx.constants = (b0, beta, spike_fn)
        return s_all, u, b

    @staticmethod
    def backward(ctx, grad_spikes, grad_u_last, grad_b_last):  # type: ignore[override]
        w_rec, alpha, rho, u0, b_state0, s0, u_all, b_all, s_all, a_all = ctx.saved_tensors
        b0, beta, spike_fn = ctx.constants
        n_steps = u_all.shape[0]
        zeros = torch.zeros_like(u0)
        du_acc = zeros if grad_u_last is None else grad_u_last
        db_acc = zeros if grad_b_last is None else grad_b_last
        carry = zeros
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(u_all)
        # Everything that does not depend on the reverse recursion is computed for all steps at once.
        threshold_all = b0 + beta * b_all
        surrogate_all = spike_fn.grad(u_all - threshold_all)
        s_prev_all = torch.cat([s0.unsqueeze(0), s_all[:-1]])
        grad_a = torch.empty_like(u_all)
        du_all = torch.empty_like(u_all)
        db_all = torch.empty_like(u_all)
        one_minus_alpha, one_minus_rho = 1.0 - alpha, 1.0 - rho
        for t in range(n_steps - 1, -1, -1):
            dv = (grad_spikes[t] + carry) * surrogate_all[t]
            du = dv + du_acc
            db = db_acc - beta * (dv + s_prev_all[t] * du)
            da = one_minus_alpha * du
            grad_a[t], du_all[t], db_all[t] = da, du, db
            carry = one_minus_rho * db - threshold_all[t] * du
            if w_rec is not None:
                carry = torch.addmm(carry, da, w_rec)
            du_acc = alpha * du
            db_acc = rho * db
        u_prev_all = torch.cat([u0.unsqueeze(0), u_all[:-1]])
        b_prev_all = torch.cat([b_state0.unsqueeze(0), b_all[:-1]])
        grad_alpha = (du_all * (u_prev_all - a_all)).sum((0, 1))
        grad_rho = (db_all * (b_prev_all - s_prev_all)).sum((0, 1))
        grad_w_rec = None
        if w_rec is not None and ctx.needs_input_grad[1]:
            grad_w_rec = grad_a.reshape(-1, grad_a.shape[-1]).t() @ s_prev_all.reshape(-1, grad_a.shape[-1])
        return grad_a, grad_w_rec, grad_alpha, grad_rho, du_acc, db_acc, carry, None, None, None


def alif_sequence(drive: torch.Tensor, w_rec: torch.Tensor | None, alpha: torch.Tensor,
                  rho: torch.Tensor, u0: torch.Tensor, b_state0: torch.Tensor, s0: torch.Tensor,
                  b0: float, beta: float, spike_fn: Surrogate):
    """Run an ALIF layer over ``drive [T, B, N]`` (= ``W_in x + bias``); returns
    ``(spikes [T, B, N], u_T, b_T)``. Equal to the step loop of ``alif_step``."""
    return ALIFSequence.apply(drive, w_rec, alpha, rho, u0, b_state0, s0, float(b0), float(beta),
                              spike_fn)
