"""Exchange with other SNN tools through NIR (the Neuromorphic Intermediate Representation)."""

from spiking_nr.interop.nir import (
    RESET_MODES,
    ZeroResetLIFLayer,
    from_nir,
    get_reset_mode,
    set_reset_mode,
    to_nir,
)

__all__ = ["RESET_MODES", "ZeroResetLIFLayer", "from_nir", "get_reset_mode", "set_reset_mode",
           "to_nir"]
