# Sourced by demo.sh and test.sh: create .venv if needed and install cnlab with its extras.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[notebooks,dev]"
export MPLBACKEND=Agg TF_CPP_MIN_LOG_LEVEL=2
