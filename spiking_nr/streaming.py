"""Low-latency streaming inference: an :class:`SRNN` advanced one time step per call.

``model(x[t:t + 1, None], state)`` pays for the general path (validation, module calls, stacking,
state tuples) on every step: a few hundred microseconds at batch 1. :class:`SRNNStepper` snapshots
the parameters once (decays from the time constants, thresholds, weights transposed) and then runs
each step on preallocated buffers::

    stepper = model.stepper(batch=1)            # or SRNNStepper(model, batch=1)
    for x_t in stream:                          # x_t: [B, N_in]
        y_t = stepper.step(x_t)                 # [B, C] readout values (logits)

Two paths, same equations as :func:`spiking_nr.neurons.alif_step`, :func:`~spiking_nr.neurons.lif_step`
and :func:`~spiking_nr.neurons.readout_step`:

* ``sparse`` (the default at batch 1 for CPU float32/float64 models): each step is one call per
  layer of the fused CPU kernels that :mod:`spiking_nr.fast` trains with, at ``T = 1``: the rows of
  ``W_in^T`` and ``W_rec^T`` of the inputs and neurons that are nonzero are gathered and summed
  (spikes and event inputs are mostly zero, so this reads a few dozen rows, not the matrices),
  and the readout likewise. On spike inputs the outputs equal ``model.forward``'s fused path
  bit for bit (analog inputs: up to float rounding, as the forward uses one dense product).
* dense (``sparse=False``; any device or dtype): per layer, one ``torch.mm`` of
  ``z = [x_t, s_{t-1}, 1]`` with ``W = [W_in^T; W_rec^T; bias]`` and a handful of in-place ops;
  equal to ``model.forward`` up to float rounding (sums in another order, ``alpha u + (1 - alpha) I``
  as one ``torch.lerp``).

``stepper.state`` is an :class:`~spiking_nr.network.SRNNState`: read it to continue the stream with
``model.forward``, assign one (e.g. ``model(x).state``) to continue a forward's stream step by step.
The stepper reads the parameters when it is created: after training (or any change of weights,
time constants or dtype) create a new one, e.g. ``model.stepper(old.batch, old.state)``.
Measured at batch 1, 700 Bernoulli(0.05) inputs -> 256 ALIF -> 20, two threads: see
``experiments/benchmarks`` (sparse ~10 us per step, dense ~40 us, ``model(x[t:t + 1, None], s)``
~500 us).
"""

from __future__ import annotations

import numpy as np
import torch

from spiking_nr.fast import _NO_RESET, _alif_forward, _leaky_forward, fused_supported
from spiking_nr.network import SRNN, SRNNState
from spiking_nr.neurons.alif import ALIFState
from spiking_nr.neurons.lif import LIFState
from spiking_nr.neurons.readout import ReadoutState

__all__ = ["SRNNStepper"]


class _DenseLayer:
    """Snapshot and buffers of one hidden layer for the dense torch path (mutable on purpose: it
    is the stepper's storage)."""

    __slots__ = ("alif", "size", "w", "z", "x_slot", "a", "u", "b", "s", "thr", "alpha", "rho",
                 "b0", "beta", "v_th", "copy_to")

    def __init__(self, layer, batch: int, dtype: torch.dtype, device: torch.device,
                 spikes_out: torch.Tensor | None) -> None:
        kw = {"dtype": dtype, "device": device}
        self.alif = layer.neuron == "alif"
        self.size = n = layer.size
        n_in = layer.input_size
        params = layer.neuron_parameters()
        blocks = [layer.fc.weight.t()]
        if layer.rec is not None:
            blocks.append(layer.rec.weight.t())
        blocks.append(layer.fc.bias.unsqueeze(0))
        w = torch.cat([blk.detach().to(**kw) for blk in blocks])  # [M, N]
        self.w = w.t().contiguous().t()  # the product is faster with W^T's rows in memory
        # z = [x_t | s_{t-1} (recurrent layers) | 1]: one product gives input + recurrence + bias.
        self.z = torch.zeros(batch, w.shape[0], **kw)
        self.z[:, -1] = 1.0
        self.x_slot = self.z[:, :n_in]
        self.a = torch.empty(batch, n, **kw)
        self.u = torch.zeros(batch, n, **kw)
        if layer.rec is not None:
            self.s = self.z[:, n_in:n_in + n]
        elif spikes_out is not None:
            self.s = spikes_out  # a non-recurrent layer writes its spikes straight into the next z
        else:
            self.s = torch.zeros(batch, n, **kw)
        self.copy_to = spikes_out if layer.rec is not None else None
        self.alpha = params.alpha.detach().to(**kw).contiguous()
        if self.alif:
            self.rho = params.rho.detach().to(**kw).contiguous()
            self.b0 = torch.tensor(float(params.b0), **kw)
            self.beta = float(params.beta)
            self.b = torch.zeros(batch, n, **kw)
            self.thr = torch.empty(batch, n, **kw)
            self.v_th = None
        else:
            self.rho = self.b0 = self.beta = self.b = self.thr = None
            self.v_th = float(params.v_th)

    def step(self) -> None:
        """Advance on ``x_slot``; the spikes land in ``s`` (and in the next layer's input)."""
        torch.mm(self.z, self.w, out=self.a)
        u, s = self.u, self.s
        torch.lerp(self.a, u, self.alpha, out=u)  # alpha * u + (1 - alpha) * I
        if self.alif:
            b, thr = self.b, self.thr
            torch.lerp(s, b, self.rho, out=b)  # rho * b + (1 - rho) * s
            torch.add(self.b0, b, alpha=self.beta, out=thr)  # b0 + beta * b
            u.addcmul_(thr, s, value=-1.0)  # soft reset by the threshold
            torch.gt(u, thr, out=s)
        else:
            u.sub_(s, alpha=self.v_th)
            torch.gt(u, self.v_th, out=s)
        if self.copy_to is not None:
            self.copy_to.copy_(s)


def _array(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    return tensor.detach().to(dtype).contiguous().numpy()


class _FusedLayer:
    """One hidden layer for the sparse CPU path: its buffers and the prepared kernel call.

    ``x_in [B, N_in]`` is the layer's input buffer (the stepper's input, or the previous layer's
    spikes); ``weighted``: scale each gathered row by its input value (analog inputs) instead of
    taking nonzero inputs as 1. LIF runs as ALIF without adaptation (``beta = 0``, threshold
    ``v_th``), as in the fused training path; its ``b`` is then scratch.
    """

    __slots__ = ("alif", "size", "u", "b", "s", "call")

    def __init__(self, layer, x_in: torch.Tensor, weighted: bool, dtype: torch.dtype) -> None:
        self.alif = layer.neuron == "alif"
        self.size = n = layer.size
        batch = x_in.shape[0]
        params = layer.neuron_parameters()
        self.u, self.b, self.s = (torch.zeros(batch, n, dtype=dtype) for _ in range(3))
        u, b, s = self.u.numpy(), self.b.numpy(), self.s.numpy()
        x3 = x_in.numpy()[None]
        scalar = u.dtype.type
        alpha = _array(params.alpha, dtype)
        if self.alif:
            rho, b0, beta = _array(params.rho, dtype), params.b0, params.beta
        else:
            rho, b0, beta = np.zeros(n, u.dtype), params.v_th, 0.0
        has_rec = layer.rec is not None
        w_rec_t = _array(layer.rec.weight.t(), dtype) if has_rec else np.zeros((0, n), u.dtype)
        empty3 = np.zeros((0, 0, 0), u.dtype)
        self.call = (0, batch, empty3, x3, x3 if weighted else empty3,
                     _array(layer.fc.weight.t(), dtype), _array(layer.fc.bias, dtype), True,
                     w_rec_t, has_rec, alpha, 1 - alpha, rho, 1 - rho, scalar(b0), scalar(beta),
                     u, b, s, _NO_RESET, s[None], u[None], b[None])


class SRNNStepper:
    """Run an :class:`SRNN` one step at a time with carried state (see the module docstring).

    ``batch`` lanes; ``state`` to start from (default: rest); ``sparse`` runs the fused CPU kernels
    that gather the rows of active inputs/spikes (default: at batch 1 for a CPU float32/float64
    model; needs one) instead of dense products; ``binary_input`` promises 0/1 inputs
    (spike/event streams) so the sparse gather can skip the per-entry weights: a nonzero input is
    then taken as 1. ``dtype`` defaults to the model's.

    ``step`` checks only the input shape (no NaN check) and runs without autograd; its output is a
    new tensor each step, never modified by later steps. Not thread-safe: one stepper per stream.
    """

    def __init__(self, model: SRNN, batch: int = 1, state: SRNNState | None = None, *,
                 sparse: bool | None = None, binary_input: bool = False,
                 dtype: torch.dtype | None = None) -> None:
        if not isinstance(model, SRNN):
            raise TypeError(f"model must be an SRNN, got {type(model).__name__}")
        if not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        weight = model.readout.fc.weight
        dtype = weight.dtype if dtype is None else dtype
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        device = weight.device
        fusable = fused_supported(torch.empty(0, dtype=dtype, device=device))
        if sparse is None:
            sparse = batch == 1 and fusable
        if sparse and not fusable:
            raise ValueError(f"sparse=True needs a CPU float32/float64 model (got {dtype} on "
                             f"{device}); use sparse=False")
        self._batch = batch
        self._sparse = bool(sparse)
        self._dtype = dtype
        self._x_shape = torch.Size((batch, model.input_size))
        kw = {"dtype": dtype, "device": device}
        readout = model.readout
        r_weight = readout.fc.weight.detach().to(**kw)  # [C, N]
        r_bias = readout.fc.bias.detach().to(**kw).clone()
        r_alpha = readout.neuron_parameters().alpha.detach().to(**kw).contiguous()
        self._y = torch.zeros(batch, model.output_size, **kw)
        with torch.inference_mode(False), torch.no_grad():
            if self._sparse:
                self._x_in = torch.zeros(batch, model.input_size, dtype=dtype)
                layers, x_in = [], self._x_in
                for i, layer in enumerate(model.layers):
                    layers.append(_FusedLayer(layer, x_in, i == 0 and not binary_input, dtype))
                    x_in = layers[-1].s
                y = self._y.numpy()
                alpha = r_alpha.numpy()
                self._readout_call = (0, batch, np.zeros((0, 0, 0), y.dtype), x_in.numpy()[None],
                                      r_weight.t().contiguous().numpy(), r_bias.numpy(), True,
                                      alpha, 1 - alpha, y, _NO_RESET, y[None])
            else:
                dense: list[_DenseLayer] = []
                nxt: torch.Tensor | None = None
                for layer in reversed(model.layers):  # last first: each writes into the next z
                    dense.insert(0, _DenseLayer(layer, batch, dtype, device, spikes_out=nxt))
                    nxt = dense[0].x_slot
                layers, self._x_in = dense, dense[0].x_slot
                self._r_mat = r_weight.t().contiguous()  # [N, C]
                self._r_bias, self._r_alpha = r_bias, r_alpha
                self._r_one_minus_alpha = 1.0 - r_alpha
            self._layers = tuple(layers)
        if state is not None:
            self.state = state

    # --- properties ---------------------------------------------------------------------------
    @property
    def batch(self) -> int:
        return self._batch

    @property
    def sparse(self) -> bool:
        return self._sparse

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def state(self) -> SRNNState:
        """The current state as an :class:`SRNNState` (copies: later steps leave it unchanged)."""
        layers = []
        for layer in self._layers:
            if layer.alif:
                layers.append(ALIFState(layer.u.clone(), layer.b.clone(), layer.s.clone()))
            else:
                layers.append(LIFState(layer.u.clone(), layer.s.clone()))
        return SRNNState(tuple(layers), ReadoutState(self._y.clone()))

    @state.setter
    def state(self, state: SRNNState | None) -> None:
        """Continue from ``state`` (e.g. ``model(x).state``; values are copied in; None = rest)."""
        if state is None:
            self.reset()
            return
        self._check_state(state)
        with torch.no_grad():
            for layer, layer_state in zip(self._layers, state.layers):
                layer.u.copy_(layer_state.u)
                layer.s.copy_(layer_state.s)
                if layer.alif:
                    layer.b.copy_(layer_state.b)
            self._y.copy_(state.readout.y)

    def reset(self) -> None:
        """Back to rest (all state zero), as ``model.initial_state``."""
        with torch.no_grad():
            for layer in self._layers:
                layer.u.zero_()
                layer.s.zero_()
                if layer.b is not None:
                    layer.b.zero_()
            self._y.zero_()

    def _check_state(self, state: SRNNState) -> None:
        if not isinstance(state, SRNNState) or len(state.layers) != len(self._layers):
            raise ValueError(
                f"state must be an SRNNState with {len(self._layers)} layer states "
                "(as returned by model.forward or stepper.state)"
            )
        shape = (self._batch,)
        for i, (layer, layer_state) in enumerate(zip(self._layers, state.layers)):
            kind, want = (ALIFState, "ALIFState") if layer.alif else (LIFState, "LIFState")
            if not isinstance(layer_state, kind):
                raise ValueError(f"state of layer {i} must be an {want}, got {type(layer_state).__name__}")
            for name, tensor in zip(layer_state._fields, layer_state):
                if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != (*shape, layer.size):
                    got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                    raise ValueError(
                        f"state of layer {i}: {name} must have shape {(*shape, layer.size)}, got {got}"
                    )
        readout = state.readout
        want = (*shape, self._y.shape[1])
        if not isinstance(readout, ReadoutState) or not isinstance(readout.y, torch.Tensor) \
                or tuple(readout.y.shape) != want:
            raise ValueError(f"readout state must be a ReadoutState with y of shape {want}")


    # --- the step -----------------------------------------------------------------------------
    def step(self, x: torch.Tensor) -> torch.Tensor:
        """Advance one step on ``x [B, N_in]``; returns the readout output ``[B, C]``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"step input must be a torch.Tensor [B, N_in], got {type(x).__name__}")
        if x.shape != self._x_shape:
            raise ValueError(
                f"step input must have shape [B, N_in] = {tuple(self._x_shape)}, got "
                f"{tuple(x.shape)}"
            )
        # No buffer requires grad and x is detached: no autograd work, no grad-mode switch needed.
        self._x_in.copy_(x.detach())
        if self._sparse:
            for layer in self._layers:
                _alif_forward(*layer.call)
            _leaky_forward(*self._readout_call)
        else:
            for layer in self._layers:
                layer.step()
            drive = torch.addmm(self._r_bias, self._layers[-1].s, self._r_mat)
            # alpha * y + (1 - alpha) * I in the reference's order: a lerp would differ by a
            # rounding per step, which this integrator accumulates over ~tau steps.
            self._y.mul_(self._r_alpha).add_(drive.mul_(self._r_one_minus_alpha))
        return self._y.clone()

    def __repr__(self) -> str:
        kinds = ", ".join(("alif" if layer.alif else "lif") + str(layer.size) for layer in self._layers)
        return (f"SRNNStepper(batch={self._batch}, layers=[{kinds}], sparse={self._sparse}, "
                f"dtype={self._dtype})")
