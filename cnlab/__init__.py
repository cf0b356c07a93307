"""cnlab: a research implementation of Community Notes note scoring.

Top-level names are imported lazily so that ``import cnlab`` stays cheap and
never imports TensorFlow (which lives only in :mod:`cnlab.mf`).

Main entry points
-----------------
load, load_sample
    Read the public data download (or the bundled synthetic sample) into a
    :class:`cnlab.io.Dataset`.
score
    Run the scorer end to end and keep every intermediate table.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load": ("cnlab.io", "load"),
    "load_sample": ("cnlab.io", "load_sample"),
    "Dataset": ("cnlab.io", "Dataset"),
    "score": ("cnlab.pipeline", "score"),
    "ScoringResult": ("cnlab.pipeline", "ScoringResult"),
    "ScoringConfig": ("cnlab.pipeline", "ScoringConfig"),
}

_SUBMODULES = {
    "schema", "errors", "io", "preprocess", "synthetic", "scoring", "pipeline", "plotting", "mf",
    "topics", "similarity", "contributors", "gaussian", "post_likes", "cli",
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"cnlab.{name}")
    raise AttributeError(f"module 'cnlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
