"""Deployment side of spiking-nr: a backend-neutral network description and its runners.

Never imports torch. The training side meets this package only through :class:`NetworkSpec`
(and its HDF5 file, :mod:`neuromorphic_export.io`).
"""

from neuromorphic_export.spec import LayerSpec, NetworkSpec

__all__ = ["LayerSpec", "NetworkSpec"]
