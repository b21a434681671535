"""Neuron models: immutable parameters and state, pure step functions."""

from spiking_nr.neurons.alif import (
    ALIFParameters,
    ALIFState,
    TimeConstants,
    alif_initial_state,
    alif_step,
    alif_threshold,
)
from spiking_nr.neurons.lif import LIFParameters, LIFState, lif_initial_state, lif_step
from spiking_nr.neurons.readout import (
    ReadoutParameters,
    ReadoutState,
    readout_initial_state,
    readout_step,
)

__all__ = [
    "ALIFParameters", "ALIFState", "TimeConstants", "alif_initial_state", "alif_step",
    "alif_threshold", "LIFParameters", "LIFState", "lif_initial_state", "lif_step",
    "ReadoutParameters", "ReadoutState", "readout_initial_state", "readout_step",
]
