"""Low-latency streaming inference: an :class:`SRNN` advanced one time step per call.

``model(x[t:t + 1, None], state)`` pays for the general path (validation, module calls, stacking,
state tuples) on every step: a few hundred microseconds at batch 1. :class:`SRNNStepper` snapshots
the parameters once (decays from the time constants, thresholds, weights transposed and
concatenated) and then runs each step as a handful of in-place torch ops on preallocated buffers::

    stepper = model.stepper(batch=1)            # or SRNNStepper(model, batch=1)
    for x_t in stream:                          # x_t: [B, N_in]
        y_t = stepper.step(x_t)                 # [B, C] readout values (logits)

Same equations as :func:`spiking_nr.neurons.alif_step`, :func:`~spiking_nr.neurons.lif_step` and
:func:`~spiking_nr.neurons.readout_step`, so the outputs equal ``model.forward`` up to float rounding
(the sums are taken in another order, and the hidden layers evaluate ``alpha * u + (1 - alpha) * I``
as one ``torch.lerp``; the readout integrator keeps the reference's order, as it would accumulate
the extra rounding). ``stepper.state`` is an :class:`~spiking_nr.network.SRNNState`: read it to continue
the stream with ``model.forward``, assign one (e.g. ``model(x).state``) to continue a forward's
stream step by step.

The stepper reads the parameters when it is created: after training (or any change of weights,
time constants or dtype) create a new one, e.g. ``model.stepper(old.batch, old.state)``.

Per layer the input projection, the recurrence and the bias are one matrix ``W = [W_in^T; W_rec^T;
bias]`` applied to ``z = [x_t, s_{t-1}, 1]``. With ``sparse`` (the default at batch 1 on the CPU)
only the rows of ``W`` where ``z`` is nonzero are gathered and summed (``torch.embedding_bag``):
spikes and event inputs are mostly zero, so this reads a few dozen rows instead of the whole matrix.
``sparse=False`` is one dense ``torch.mm`` (the path for batch > 1). Measured at batch 1, 700 inputs
-> 256 ALIF -> 20, two threads: ~23 us per step sparse at 5 % input density (~27 us at 20 %,
~38 us for a fully dense real input), ~37-42 us dense, vs ~330 us for ``model(x[t:t + 1, None], s)``.
"""

from __future__ import annotations

import torch

from spiking_nr.network import SRNN, SRNNState
from spiking_nr.neurons.alif import ALIFState
from spiking_nr.neurons.lif import LIFState
from spiking_nr.neurons.readout import ReadoutState

__all__ = ["SRNNStepper"]


class _Layer:
    """Snapshot and buffers of one hidden layer (mutable on purpose: it is the stepper's storage)."""

    __slots__ = ("alif", "size", "weighted", "w", "z", "z_flat", "x_slot", "a", "u", "b", "s",
                 "thr", "alpha", "rho", "b0", "beta", "v_th", "copy_to")

    def __init__(self, layer, batch: int, dtype: torch.dtype, device: torch.device, sparse: bool,
                 weighted: bool, spikes_out: torch.Tensor | None) -> None:
        kw = {"dtype": dtype, "device": device}
        self.alif = layer.neuron == "alif"
        self.size = n = layer.size
        self.weighted = weighted
        n_in = layer.input_size
        params = layer.neuron_parameters()
        blocks = [layer.fc.weight.t()]
        if layer.rec is not None:
            blocks.append(layer.rec.weight.t())
        blocks.append(layer.fc.bias.unsqueeze(0))
        w = torch.cat([blk.detach().to(**kw) for blk in blocks])  # [M, N]
        # The sparse gather reads rows of W; the dense product is faster with W^T's rows in memory.
        self.w = w.contiguous() if sparse else w.t().contiguous().t()
        m = w.shape[0]
        # z = [x_t | s_{t-1} (recurrent layers) | 1]: one product gives input + recurrence + bias.
        self.z = torch.zeros(batch, m, **kw)
        self.z[:, -1] = 1.0
        self.z_flat = self.z[0]
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


class SRNNStepper:
    """Run an :class:`SRNN` one step at a time with carried state (see the module docstring).

    ``batch`` lanes; ``state`` to start from (default: rest); ``sparse`` gathers the rows of active
    inputs/spikes instead of dense products (default: at batch 1 on the CPU; needs batch 1);
    ``binary_input`` promises 0/1 inputs (spike/event streams) so the sparse gather can skip the
    per-entry weights: a nonzero input is then taken as 1. ``dtype`` defaults to the model's.

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
        if sparse is None:
            sparse = batch == 1 and device.type == "cpu"
        if sparse and batch != 1:
            raise ValueError(f"sparse=True needs batch=1 (got batch={batch}); use sparse=False")
        self._batch = batch
        self._sparse = bool(sparse)
        self._dtype = dtype
        self._x_shape = torch.Size((batch, model.input_size))
        with torch.inference_mode():
            layers: list[_Layer] = []
            nxt: torch.Tensor | None = None
            for i in range(len(model.layers) - 1, -1, -1):  # last first: each layer writes into the next z
                layer = _Layer(model.layers[i], batch, dtype, device, self._sparse,
                               weighted=(i == 0 and not binary_input), spikes_out=nxt)
                layers.insert(0, layer)
                nxt = layer.x_slot
            self._layers = tuple(layers)
            self._x_slot = layers[0].x_slot
            self._spikes = layers[-1].s
            readout = model.readout
            r_weight = readout.fc.weight.detach().to(dtype=dtype, device=device)  # [C, N]
            # batch 1: matrix-vector product with W [C, N] (a cheaper call; its [C] result
            # broadcasts against the [1, C] state in the lerp); else s [B, N] @ W^T [N, C].
            self._r_mat = (r_weight.clone() if batch == 1 else r_weight.t()).contiguous()
            self._r_bias = readout.fc.bias.detach().to(dtype=dtype, device=device).clone()
            self._r_alpha = readout.neuron_parameters().alpha.detach().to(dtype=dtype, device=device)
            self._r_alpha = self._r_alpha.contiguous()
            self._r_one_minus_alpha = 1.0 - self._r_alpha
            self._y = torch.zeros(batch, model.output_size, dtype=dtype, device=device)
            self._offsets = torch.zeros(1, dtype=torch.long, device=device)
            self._r_in = self._spikes[0] if batch == 1 else self._spikes
        # One reusable context manager: entering it is about half the cost of a fresh one.
        self._inference = torch.inference_mode()
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
        with torch.inference_mode():
            for layer, layer_state in zip(self._layers, state.layers):
                layer.u.copy_(layer_state.u)
                layer.s.copy_(layer_state.s)
                if layer.alif:
                    layer.b.copy_(layer_state.b)
            self._y = state.readout.y.detach().to(dtype=self._dtype, device=self._y.device).clone()

    def reset(self) -> None:
        """Back to rest (all state zero), as ``model.initial_state``."""
        with torch.inference_mode():
            for layer in self._layers:
                layer.u.zero_()
                layer.s.zero_()
                if layer.alif:
                    layer.b.zero_()
            self._y = torch.zeros_like(self._y)

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
        with self._inference:
            self._x_slot.copy_(x)
            sparse, offsets = self._sparse, self._offsets
            for layer in self._layers:
                if sparse:
                    idx = layer.z_flat.nonzero().view(-1)
                    if layer.weighted:
                        a = torch.embedding_bag(layer.w, idx, offsets, False, 0, False,
                                                layer.z_flat.index_select(0, idx))[0]
                    else:
                        a = torch.embedding_bag(layer.w, idx, offsets)[0]
                else:
                    a = torch.mm(layer.z, layer.w, out=layer.a)
                u, s = layer.u, layer.s
                torch.lerp(a, u, layer.alpha, out=u)  # alpha * u + (1 - alpha) * I
                if layer.alif:
                    b, thr = layer.b, layer.thr
                    torch.lerp(s, b, layer.rho, out=b)  # rho * b + (1 - rho) * s
                    torch.add(layer.b0, b, alpha=layer.beta, out=thr)  # b0 + beta * b
                    u.addcmul_(thr, s, value=-1.0)  # soft reset by the threshold
                    torch.gt(u, thr, out=s)
                else:
                    u.sub_(s, alpha=layer.v_th)
                    torch.gt(u, layer.v_th, out=s)
                if layer.copy_to is not None:
                    layer.copy_to.copy_(s)
            if self._batch == 1:
                drive = torch.addmv(self._r_bias, self._r_mat, self._r_in)
            else:
                drive = torch.addmm(self._r_bias, self._r_in, self._r_mat)
            drive.mul_(self._r_one_minus_alpha)
        # Outside inference mode, so the output is an ordinary tensor (no graph: nothing requires grad).
        # alpha * y + (1 - alpha) * I as the reference computes it: a lerp would differ by a rounding
        # per step, which this integrator accumulates over ~tau steps (1e-6 in float32 at |y| ~ 1).
        y = torch.mul(self._y, self._r_alpha).add_(drive)
        self._y = y
        return y

    def __repr__(self) -> str:
        kinds = ", ".join(("alif" if layer.alif else "lif") + str(layer.size) for layer in self._layers)
        return (f"SRNNStepper(batch={self._batch}, layers=[{kinds}], sparse={self._sparse}, "
                f"dtype={self._dtype})")
