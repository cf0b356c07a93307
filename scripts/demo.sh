#!/usr/bin/env bash
# Set up the environment (idempotent), then score the bundled sample end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[notebooks,dev]"
export MPLBACKEND=Agg TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/cnlab demo --outdir "${1:-out/demo}"
