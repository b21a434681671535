"""Lava backend: Python 3.11 compatibility, custom processes, and the runner.

Importing this package does not import lava; :func:`run_lava` does (after the 3.11 fixes).
"""

from neuromorphic_export.lava.compat import ensure_lava_importable, lava_available
from neuromorphic_export.lava.runner import LavaResult, LavaRunError, LavaTerminated, run_lava

__all__ = ["LavaResult", "LavaRunError", "LavaTerminated", "ensure_lava_importable",
           "lava_available", "run_lava"]
