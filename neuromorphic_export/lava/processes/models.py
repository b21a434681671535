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

    def run_spk(self) -> None:
        a = self.a_in.recv()
        self.b[:] = self.rho * self.b + (1.0 - self.rho) * self.s_prev
        threshold = self.b0 + self.beta * self.b
        self.u[:] = self.alpha * self.u + a + self.bias - threshold * self.s_prev
        self.s_prev[:] = (self.u > threshold).astype(float)
        self.s_out.send(self.s_prev.copy())


@implements(proc=YinALIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyYinALIFFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    b: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    s_prev: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    rho: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    b0: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    beta: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        self.b[:] = _rtz_div4096(self.b * self.rho) + self.s_prev * (4096 - self.rho)
        threshold = self.b0 + _rtz_div4096(self.beta * self.b)
        u = _rtz_div4096(self.u * self.alpha) + (a << 6) + (self.bias << 6) - threshold * self.s_prev
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

    def run_spk(self) -> None:
        self.y[:] = self.alpha * self.y + self.a_in.recv() + self.bias
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

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        y = _rtz_div4096(self.y * self.alpha) + (a << 6) + (self.bias << 6)
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
