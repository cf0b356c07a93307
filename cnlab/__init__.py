"""cnlab: a research implementation of Community Notes note scoring.

Top-level names are imported lazily so that ``import cnlab`` stays cheap and
never imports TensorFlow (which lives only in :mod:`cnlab.mf`).

Main entry points
-----------------
load, load_sample
    Read the public data download (or the bundled synthetic sample) into a
    :class:`cnlab.io.Dataset`.
score, ScoringConfig, ScoringResult
    Run the scorers end to end (``ScoringConfig.official()``: the whole official roster) and keep
    every intermediate table.

Subpackages, top to bottom (imports only go down; docs/architecture.md):
``pipeline`` (orchestration), ``scorers`` (one module per scorer family), ``models`` (topics,
similarity, pflip, PCRH), ``scoring`` (pure rules, meta-scoring, status history), ``mf`` (the
TensorFlow engine), ``io`` / ``preprocess`` / ``synthetic`` (data), ``schema``; beside them
``plotting``, ``lab`` (research tools), ``contributors``, ``post_likes``. Everything not listed in
a module's ``__all__`` is private.
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
    "schema", "errors", "io", "preprocess", "synthetic", "scoring", "scorers", "models", "pipeline",
    "plotting", "mf", "lab", "contributors", "post_likes", "cli",
}

__all__ = sorted(_LAZY) + sorted(_SUBMODULES)


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
