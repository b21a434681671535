#!/usr/bin/env bash
# Set up .venv from nothing (idempotent) and run the linter and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/ruff check spiking_nr neuromorphic_export experiments tests
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
