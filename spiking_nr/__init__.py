"""spiking-nr: reset-free recurrent spiking networks (training side, torch)."""

from spiking_nr.network import (
    SRNN,
    LayerConfig,
    Recording,
    SRNNConfig,
    SRNNOutput,
    SRNNState,
)
from spiking_nr.state import detach_state
from spiking_nr.streaming import SRNNStepper
from spiking_nr.surrogate import Surrogate, get_surrogate

__all__ = [
    "SRNN", "SRNNConfig", "LayerConfig", "SRNNOutput", "SRNNState", "Recording", "SRNNStepper",
    "detach_state", "Surrogate", "get_surrogate",
]
__version__ = "0.1.0"
