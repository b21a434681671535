"""Process models (floating_pt and fixed_pt) for ``process.py``."""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from neuromorphic_export.lava.processes.process import ArrayRecorder, LeakyReadout, YinALIF

_STATE_MIN, _STATE_MAX = -(2**23), 2**23 - 1


def _rtz_div4096(x: np.ndarray) -> np.ndarray:
    # Loihi rounds the decay product toward zero.
    return np.sign(x) * (np.abs(x) >> 12)


def _bias_gate(model) -> bool:
    """Whether the bias is added this step (after ``bias_delay`` steps); advances ``age``."""
    if model.age[0] >= model.bias_delay[0]:
        return True
    model.age[0] += 1
    return False


@implements(proc=YinALIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyYinALIFFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    b: np.ndarray = LavaPyType(np.ndarray, float)
    s_prev: np.ndarray = LavaPyType(np.ndarray, float)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    rho: np.ndarray = LavaPyType(np.ndarray, float)
    b0: np.ndarray = LavaPyType(np.ndarray, float)
    beta: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    trace_bits: np.ndarray = LavaPyType(np.ndarray, int)
    bias_delay: np.ndarray = LavaPyType(np.ndarray, int)
    age: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self) -> None:
        a = self.a_in.recv()
        if _bias_gate(self):
            a = a + self.bias
        self.b[:] = self.rho * self.b + (1.0 - self.rho) * self.s_prev
        threshold = self.b0 + self.beta * self.b
        self.u[:] = self.alpha * self.u + a - threshold * self.s_prev
        self.s_prev[:] = (self.u > threshold).astype(float)
        self.s_out.send(self.s_prev.copy())


@implements(proc=YinALIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyYinALIFFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    b: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=40)
    s_prev: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    rho: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=25)
    b0: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    beta: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)
    trace_bits: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=6)
    bias_delay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    age: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if _bias_gate(self):
            a = a + self.bias
        bits = int(self.trace_bits[0])
        one_minus = (1 << 24) - self.rho  # the spike increment 1 - rho, in units of 2**-bits
        inc = one_minus << (bits - 24) if bits >= 24 else one_minus >> (24 - bits)
        # b >= 0 and beta >= 0: the shifts round toward zero; b*rho and beta*b stay below 2**63
        self.b[:] = ((self.b * self.rho) >> 24) + self.s_prev * inc
        threshold = self.b0 + ((self.beta * self.b) >> bits)
        u = _rtz_div4096(self.u * self.alpha) + (a << 6) - threshold * self.s_prev
        self.u[:] = np.clip(u, _STATE_MIN, _STATE_MAX)
        self.s_prev[:] = (self.u > threshold).astype(np.int64)
        self.s_out.send(self.s_prev.astype(np.int32))


@implements(proc=LeakyReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLeakyReadoutFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    y: np.ndarray = LavaPyType(np.ndarray, float)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    bias_delay: np.ndarray = LavaPyType(np.ndarray, int)
    age: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self) -> None:
        a = self.a_in.recv()
        self.y[:] = self.alpha * self.y + (a + self.bias if _bias_gate(self) else a)
        self.y_out.send(self.y.copy())


@implements(proc=LeakyReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLeakyReadoutFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    y: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)
    bias_delay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    age: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if _bias_gate(self):
            a = a + self.bias
        y = _rtz_div4096(self.y * self.alpha) + (a << 6)
        self.y[:] = np.clip(y, _STATE_MIN, _STATE_MAX)
        self.y_out.send(self.y.astype(np.int32))


class _AbstractRecorder(PyLoihiProcessModel):
    in_port = None
    count: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._num_steps = int(proc_params["num_steps"])
        self._path = str(proc_params["path"])
        self._rows: list = []

    def run_spk(self) -> None:
        self._rows.append(np.array(self.in_port.recv()))
        self.count[0] = len(self._rows)
        if len(self._rows) == self._num_steps:
            np.save(self._path, np.stack(self._rows))
            self._rows = []


@implements(proc=ArrayRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyArrayRecorderFloat(_AbstractRecorder):
    in_port: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)


@implements(proc=ArrayRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyArrayRecorderFixed(_AbstractRecorder):
    in_port: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
