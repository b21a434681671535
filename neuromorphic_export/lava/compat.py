"""Make lava-nc 0.10 / lava-dl 0.6 importable on Python 3.11, from this package's own code.

Nothing in site-packages is edited. An import hook corrects two modules' source in memory while
they load, and fails loudly if the source no longer looks as expected:

* ``lava.magma.compiler.var_model`` declares dataclass fields with an instance default
  (``x: ByteEncoder = ByteEncoder()``); Python 3.11 rejects unhashable (mutable) defaults, so each
  becomes ``field(default_factory=ByteEncoder)``.
* ``lava.magma.runtime.message_infrastructure.multiprocessing`` calls
  ``multiprocessing.set_start_method('fork')`` at import, which raises if anything chose a start
  method first; it is made to set 'fork' only when it is not already the method.

``lava.lib.dl.slayer`` imports ``object_detection`` (needs cv2 + torchvision, unused here): a stub
module stands in for it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types

_VAR_MODEL = "lava.magma.compiler.var_model"
_MP_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"
_OBJECT_DETECTION = "lava.lib.dl.slayer.object_detection"
_BYTE_ENCODER_DEFAULT = re.compile(r"^(\s+\w+: ByteEncoder) = ByteEncoder\(\)$", re.MULTILINE)
_FORK_CALL = "    mp.set_start_method('fork')"


def _fix_var_model(source: str) -> str:
    fixed, count = _BYTE_ENCODER_DEFAULT.subn(r"\1 = field(default_factory=ByteEncoder)", source)
    if count == 0:
        if "field(default_factory=ByteEncoder)" in source:
            return source  # already correct (a newer lava)
        raise ImportError(f"{_VAR_MODEL}: expected 'x: ByteEncoder = ByteEncoder()' fields to fix "
                          "for Python 3.11; this lava version is not supported")
    if "from dataclasses import dataclass, InitVar" not in fixed:
        raise ImportError(f"{_VAR_MODEL}: unexpected dataclasses import; cannot apply the 3.11 fix")
    return fixed.replace("from dataclasses import dataclass, InitVar",
                         "from dataclasses import dataclass, InitVar, field", 1)


def _fix_multiprocessing(source: str) -> str:
    if _FORK_CALL not in source:
        raise ImportError(f"{_MP_MODULE}: expected \"mp.set_start_method('fork')\"; this lava "
                          "version is not supported")
    return source.replace(
        _FORK_CALL,
        "    if mp.get_start_method(allow_none=True) != 'fork':\n"
        "        mp.set_start_method('fork', force=True)", 1)


_FIXES = {_VAR_MODEL: _fix_var_model, _MP_MODULE: _fix_multiprocessing}


class _PatchingLoader(importlib.machinery.SourceFileLoader):
    def get_data(self, path):  # type: ignore[override]
        data = super().get_data(path)
        if path.endswith(".py"):
            return _FIXES[self.name](data.decode("utf-8")).encode("utf-8")
        return data

    def get_code(self, fullname):  # type: ignore[override]
        # Compile from the corrected source (never from a cached .pyc of the original).
        source = self.get_data(self.get_filename(fullname))
        return compile(source, self.get_filename(fullname), "exec", dont_inherit=True)


class _LavaFixFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in _FIXES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        loader = _PatchingLoader(fullname, spec.origin)
        return importlib.util.spec_from_file_location(fullname, spec.origin, loader=loader)


_FINDER = _LavaFixFinder()


def ensure_lava_importable() -> None:
    """Install the import fixes (idempotent). Call before importing anything from ``lava``."""
    if _VAR_MODEL in sys.modules and not isinstance(sys.modules[_VAR_MODEL].__loader__,
                                                    _PatchingLoader):
        return  # imported already, by a lava that needed no fix
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    if _OBJECT_DETECTION not in sys.modules:
        stub = types.ModuleType(_OBJECT_DETECTION)
        stub.__doc__ = "stub installed by neuromorphic_export.lava.compat (needs cv2/torchvision)"
        sys.modules[_OBJECT_DETECTION] = stub


def lava_available() -> bool:
    """True when lava-nc can be imported (after the fixes)."""
    ensure_lava_importable()
    try:
        import lava.magma.core.run_configs  # noqa: F401
    except ImportError:
        return False
    return True
