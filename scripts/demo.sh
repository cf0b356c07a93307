#!/usr/bin/env bash
# Set up the environment (idempotent), then score the bundled sample end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec .venv/bin/cnlab demo --outdir "${1:-out/demo}"
