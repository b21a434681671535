#!/usr/bin/env bash
# Set up .venv from nothing (idempotent) and run the offline demo into runs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m experiments.demo "$@"
