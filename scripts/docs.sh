#!/usr/bin/env bash
# Build the documentation site into out/site/ (strict: any warning fails the build), or serve it
# with live reload: bash scripts/docs.sh --serve [mkdocs serve options].
# Installs the "docs" extra of pyproject.toml into .venv first if it is missing; the build needs
# neither TensorFlow nor cnlab itself (the API reference is read from the source files).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CNLAB_VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import material, mkdocstrings_handlers.python, pymdownx" 2>/dev/null; then
  # the docs extra's requirements, read from pyproject.toml (one list to maintain)
  mapfile -t REQS < <("$VENV/bin/python" -c 'import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["docs"]))')
  "$VENV/bin/python" -m pip install -q "${REQS[@]}"
fi
export NO_MKDOCS_2_WARNING=1  # silence mkdocs-material's banner about MkDocs 2.0
if [ "${1:-}" = "--serve" ]; then
  shift
  exec "$VENV/bin/python" -m mkdocs serve --strict "$@"
fi
exec "$VENV/bin/python" -m mkdocs build --strict -d out/site "$@"
