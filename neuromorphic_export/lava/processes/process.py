"""Lava processes for the Yin ALIF, the leaky readout and a file-writing recorder.

Equations: see ``neuromorphic_export.spec`` (the models in ``models.py`` implement them with
Lava's vectorised numpy style; the CPU backend is an independent implementation of the same).
"""

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class YinALIF(AbstractProcess):
    """Adaptive LIF of Yin et al. 2021 with soft reset; input current arrives on ``a_in``.

    ``trace_bits``: fractional bits of the fixed-point adaptation trace; ``bias_delay``: steps
    before the bias is first added (both as in ``neuromorphic_export.spec``).
    """

    def __init__(self, *, shape, alpha, rho, b0, beta, bias, trace_bits=39, bias_delay=0,
                 **kwargs) -> None:
        super().__init__(shape=shape, **kwargs)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.b = Var(shape=shape, init=0)
        self.s_prev = Var(shape=shape, init=0)
        self.alpha = Var(shape=shape, init=alpha)
        self.rho = Var(shape=shape, init=rho)
        self.b0 = Var(shape=shape, init=b0)
        self.beta = Var(shape=shape, init=beta)
        self.bias = Var(shape=shape, init=bias)
        self.trace_bits = Var(shape=(1,), init=trace_bits)
        self.bias_delay = Var(shape=(1,), init=bias_delay)
        self.age = Var(shape=(1,), init=0)  # steps run, counted up to bias_delay


class LeakyReadout(AbstractProcess):
    """Non-spiking leaky integrator; sends its value ``y`` on ``y_out`` every step."""

    def __init__(self, *, shape, alpha, bias, bias_delay=0, **kwargs) -> None:
        super().__init__(shape=shape, **kwargs)
        self.a_in = InPort(shape=shape)
        self.y_out = OutPort(shape=shape)
        self.y = Var(shape=shape, init=0)
        self.alpha = Var(shape=shape, init=alpha)
        self.bias = Var(shape=shape, init=bias)
        self.bias_delay = Var(shape=(1,), init=bias_delay)
        self.age = Var(shape=(1,), init=0)


class ArrayRecorder(AbstractProcess):
    """Collects ``in_port`` every step and writes ``[num_steps, *shape]`` to ``path`` (np.save) at
    the last step: results come back as one file, not one message per value."""

    def __init__(self, *, shape, num_steps: int, path: str, **kwargs) -> None:
        super().__init__(shape=shape, num_steps=num_steps, path=path, **kwargs)
        self.in_port = InPort(shape=shape)
        self.count = Var(shape=(1,), init=np.zeros(1))
