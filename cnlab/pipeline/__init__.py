"""Orchestration: one scoring run from a dataset to the four official output frames.

Submodules: ``config`` (:class:`ScoringConfig`: which scorers run and the runner's switches),
``run`` (:func:`score` → :class:`ScoringResult`), ``combine`` (merging the scorers' outputs),
``confidence`` (pflip / PCRH glue). The scorers themselves live in :mod:`cnlab.scorers`; this
package imports them, never the reverse. ``import cnlab.pipeline`` stays light: the stages are
imported on first use of :func:`score`.
"""

from __future__ import annotations

from cnlab.pipeline.config import CORE, CORE_WITH_TOPICS, EXPANSION, EXPANSION_PLUS, ScorerConfig, ScoringConfig
from cnlab.scorers.outputs import PrescoringMeta, PrescoringOutput, load_official_prescoring

__all__ = [
    "score", "ScoringResult", "ScoringConfig", "ScorerConfig", "load_official_prescoring",
    "PrescoringOutput", "PrescoringMeta", "prescore", "score_final",
    "CORE", "CORE_WITH_TOPICS", "EXPANSION", "EXPANSION_PLUS",
]

_LAZY = {
    "score": ("cnlab.pipeline.run", "score"),
    "ScoringResult": ("cnlab.pipeline.run", "ScoringResult"),
    "prescore": ("cnlab.scorers.mf_prescoring", "prescore"),
    "score_final": ("cnlab.scorers.mf_final", "score_final"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnlab.pipeline' has no attribute {name!r}")
