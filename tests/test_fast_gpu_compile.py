"""The fused Triton kernels compile for a Hopper GPU (sm_90: Triton's front end, LLVM and ptxas)
without one: the interpreter tests check what they compute, this checks that the compiled path
builds (loop-carried types, constexpr branches, ``tl.dot`` shapes). It runs in a subprocess:
this test process imported triton in interpreter mode (tests/conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

_TYPES = {"n_steps": "i32", "batch": "i32", "n": "i32", "reset": "*u8"}


def _compile(fn, **constexprs):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction

    kernel = JITFunction(fn)
    signature = {name: "constexpr" if name in constexprs else _TYPES.get(name, "*fp32")
                 for name in kernel.arg_names}
    source = ASTSource(fn=kernel, signature=signature,
                       constexprs={(kernel.arg_names.index(k),): v for k, v in constexprs.items()})
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32),
                              options={"enable_fp_fusion": False})
    assert ".entry" in compiled.asm["ptx"] and len(compiled.asm["cubin"]) > 0, fn.__name__
    return compiled


def compile_all() -> None:
    from spiking_nr import fast_gpu

    for use_dot, lanes in ((False, 2), (True, 16)):
        blocks = dict(USE_DOT=use_dot, BLOCK_B=lanes, BLOCK_N=64, BLOCK_K=32)
        forward = _compile(fast_gpu._alif_forward_kernel, HAS_REC=True, HAS_RESET=True, **blocks)
        backward = _compile(fast_gpu._alif_backward_kernel, HAS_REC=True, HAS_RESET=True,
                            HAS_TRACE_GRAD=True, KIND=0, **blocks)
        for kernel in (forward, backward):
            assert "bar.sync" in kernel.asm["ptx"]  # the per-step barrier is there
    for fn in (fast_gpu._leaky_forward_kernel, fast_gpu._leaky_backward_kernel):
        _compile(fn, HAS_RESET=True, BLOCK=256)
    print("compiled: ALIF forward/backward (broadcast and tl.dot), readout forward/backward")


@pytest.mark.slow
def test_kernels_compile_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "tests.test_fast_gpu_compile"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiled: ALIF forward/backward" in done.stdout


if __name__ == "__main__":
    compile_all()
