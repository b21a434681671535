#!/usr/bin/env bash
# The GPU checks of the fused Triton layers (spiking_nr.fast_gpu), in one run on a CUDA machine:
#   1. the gpu-marked tests (compiled kernels, SRNN's default path on CUDA, --device),
#   2. the interpreter tests of the same kernels (TRITON_INTERPRET=1, a separate process),
#   3. the GPU benchmark: spiking-nr, norse and a plain torch loop at the reference, wide and long
#      configurations -> experiments/benchmarks/results/benchmarks_gpu.{json,md} (and $OUT, if set).
#
# The GPU machine has python3 with torch, triton, numba, h5py, scipy and matplotlib but no norse,
# nir or nirtorch and no internet. Pure-Python wheels for those travel in .whl/ (git-ignored):
#   here (a machine that reaches PyPI):  bash scripts/gpu_check.sh --fetch-wheels
#   there:                               bash scripts/gpu_check.sh
# Without .whl/ the benchmark reports norse as "not installed" and runs the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "${1:-}" = "--fetch-wheels" ]; then
    mkdir -p .whl  # git-ignored (.gitignore); the device tool carries it: carry [".whl"]
    # norse 1.1.0 is published as an sdist of pure Python: build its wheel here, no dependencies.
    "$PY" -m pip wheel -q --no-deps -w .whl "norse==1.1.0" "nir" "nirtorch" || exit 1
    ls -l .whl
    exit 0
fi

status=0
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/spiking-nr-site .whl/*.whl || exit 1
    export PYTHONPATH="$PWD:/tmp/spiking-nr-site"
else
    echo "[gpu_check] no .whl/ folder: norse will be reported as not installed"
    export PYTHONPATH="$PWD"
fi
export PYTHONUNBUFFERED=1
"$PY" - <<'EOF' || exit 1
import torch, triton
print(f"[gpu_check] torch {torch.__version__}, triton {triton.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}")
if not torch.cuda.is_available():
    raise SystemExit("[gpu_check] error: no CUDA device here; this script is for a GPU machine")
print(f"[gpu_check] device: {torch.cuda.get_device_name(0)}")
EOF
LOG=${OUT:-/tmp}/gpu_check_tests.log
echo "[gpu_check] 1/3 gpu-marked tests (compiled kernels)"
"$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_fast_gpu.py tests/test_device.py 2>&1 | tee "$LOG" || status=1
echo "[gpu_check] 2/3 interpreter tests of the same kernels"
TRITON_INTERPRET=1 "$PY" -m pytest -q -p no:cacheprovider -m "not gpu" tests/test_fast_gpu.py 2>&1 | tee -a "$LOG" || status=1
echo "[gpu_check] 3/3 GPU benchmark"
"$PY" -m spiking_nr.benchmarks --gpu-only || status=1
if [ -n "${OUT:-}" ]; then
    cp experiments/benchmarks/results/benchmarks_gpu.json experiments/benchmarks/results/benchmarks_gpu.md "$OUT"/ 2>/dev/null
fi
exit $status
