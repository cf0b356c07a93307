"""Matrix-factorization engine (spec 01 §4–§12): the only cnlab package that imports TensorFlow.

Names are imported lazily: ``from cnlab.mf.config import MFConfig`` (or ``cnlab.mf.MFConfig``)
does not import TensorFlow; TF is imported on the first ``fit(..., solver="official")``.

Main entry points
-----------------
fit(ratings, config, *, seed, note_init, rater_init, global_init, freeze, label_col, weights, solver)
fit_stable(ratings, enrollment, config, *, seed)        spec 01 §5.1 (subset: stable_init_ratings)
pseudo_rater_bounds(ratings, result, config)           spec 01 §10
check_train_error(result, n_notes, threshold=0.16)     spec 01 §8
MFConfig and presets (CORE_MF, GROUP14_MF, GROUP18_MF, GROUP15_MF, TOPIC_INDIM2_MF, ...)
"""

from __future__ import annotations

import importlib

_LAZY = {
    "fit": ("cnlab.mf.engine", "fit"),
    "fit_stable": ("cnlab.mf.engine", "fit_stable"),
    "stable_init_ratings": ("cnlab.mf.engine", "stable_init_ratings"),
    "MFResult": ("cnlab.mf.result", "MFResult"),
    "MFTrainError": ("cnlab.mf.result", "MFTrainError"),
    "check_train_error": ("cnlab.mf.result", "check_train_error"),
    "pseudo_rater_bounds": ("cnlab.mf.pseudo_raters", "pseudo_rater_bounds"),
    "PSEUDO_RATER_COLUMNS": ("cnlab.mf.pseudo_raters", "PSEUDO_RATER_COLUMNS"),
    "normalized_loss_weights": ("cnlab.mf._common", "normalized_loss_weights"),
}
_CONFIG_NAMES = {
    "MFConfig", "NormalizedLossConfig", "CORE_MF", "CORE_WITH_TOPICS_MF", "EXPANSION_MF",
    "EXPANSION_PLUS_MF", "GROUP_MF", "MULTI_GROUP_MF", "GROUP14_MF", "GROUP18_MF", "GROUP15_MF",
    "TOPIC_MF", "TOPIC_INDIM2_MF", "TAG_CONSENSUS_MF", "PSEUDO_RATER_REFIT_OVERRIDES",
}
for _n in _CONFIG_NAMES:
    _LAZY[_n] = ("cnlab.mf.config", _n)

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnlab.mf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
