"""MF scorer pipeline: scorer configs, prescoring, final scoring, ``score()``.

Submodules: ``config`` (scorer / run configs), ``prescoring``, ``final``, ``run``
(:func:`score` → :class:`ScoringResult`), ``prescoring_io``, ``slicing``.
``import cnlab.pipeline`` stays light: the stages are imported on first use of
:func:`score`, :func:`prescore` or :func:`score_final`.
"""

from __future__ import annotations

from cnlab.pipeline.config import CORE, CORE_WITH_TOPICS, EXPANSION, EXPANSION_PLUS, ScorerConfig, ScoringConfig
from cnlab.pipeline.prescoring_io import PrescoringMeta, PrescoringOutput, load_official_prescoring

__all__ = [
    "score", "ScoringResult", "ScoringConfig", "ScorerConfig", "load_official_prescoring",
    "PrescoringOutput", "PrescoringMeta", "prescore", "score_final",
    "CORE", "CORE_WITH_TOPICS", "EXPANSION", "EXPANSION_PLUS",
]

_LAZY = {
    "score": ("cnlab.pipeline.run", "score"),
    "ScoringResult": ("cnlab.pipeline.run", "ScoringResult"),
    "prescore": ("cnlab.pipeline.prescoring", "prescore"),
    "score_final": ("cnlab.pipeline.final", "score_final"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnlab.pipeline' has no attribute {name!r}")
