#!/usr/bin/env bash
# Set up the environment (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# pytest exits 5 when it collects no test; that non-zero exit fails CI, as it should.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
