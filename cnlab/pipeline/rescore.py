"""Re-run a scoring run with a changed configuration, reusing what the change leaves valid.

``ScoringResult.rescore(config, dataset=...)`` delegates here. Stages that can be reused, in run
order, and the settings that invalidate each (compared between the old and the new
:class:`~cnlab.pipeline.config.ScoringConfig`; a ``dataset`` that is not the run's own object
invalidates all of them):

* ``topics``: recomputed when ``dataset``, ``topics``, or ``seed`` while ``topics == "model"``
  changed;
* ``pss`` (rater clustering): when prescoring is recomputed and ``use_pss`` is on;
* ``prescoring``: when ``dataset``, ``scorers`` (except a change of final-only thresholds,
  :data:`FINAL_ONLY_THRESHOLDS`), ``reputation``, ``use_pss``, ``seed``, ``epoch_millis``,
  ``extra`` or ``fidelity`` changed, or the topics were recomputed;
* ``confidence_models``: when prescoring is recomputed, or ``pflip`` / ``pcrh`` changed (each
  model separately; a fitted model given in the new config is used as is).

Final scoring, meta-scoring, the status history and contributor scoring always run again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

__all__ = ["rescore", "PRESCORING_SETTINGS", "FINAL_ONLY_THRESHOLDS", "STAGES"]

#: Stages a rescore can reuse, in run order.
STAGES = ("topics", "pss", "prescoring", "confidence_models")
#: ScoringConfig fields whose change invalidates the prescoring outputs (``scorers``: see
#: :data:`FINAL_ONLY_THRESHOLDS`).
PRESCORING_SETTINGS = ("scorers", "reputation", "use_pss", "seed", "epoch_millis", "extra", "fidelity",
                       "n_factors", "factor_rule")
#: :class:`~cnlab.scoring.config.RuleThresholds` fields that only final-round rules read: changing
#: them keeps the prescoring outputs. Every other field (``crh_threshold`` and the CRNH bounds label
#: the round-1 notes behind the helpfulness filter, ``tag_filter_percentile`` sets the tag
#: thresholds, the helpfulness and harassment fields …) is read in prescoring.
FINAL_ONLY_THRESHOLDS = frozenset({
    "inertia_delta", "crh_super_threshold", "crh_threshold_no_high_vol", "crh_threshold_no_correlated",
    "low_diligence_threshold", "factor_threshold", "tag_min_adjusted_total", "incorrect_filter_threshold",
    "incorrect_tag_threshold", "incorrect_vote_threshold", "firm_reject_threshold",
    "min_minority_net_helpful_ratings", "min_minority_net_helpful_ratio", "rater_balance_min_net",
    "rater_balance_max_net", "ratio_crnh_min_sign_count", "ratio_crnh_max_side_mean", "ratio_crnh_max_mean",
})


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, (pd.DataFrame, pd.Series)) or isinstance(b, (pd.DataFrame, pd.Series)):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - objects without a usable ==: treat as changed
        return False


def _scorer_changes(old: tuple, new: tuple) -> list[str]:
    """Why a change of ``ScoringConfig.scorers`` invalidates prescoring ([] when it does not).

    A scorer whose config differs only in :data:`FINAL_ONLY_THRESHOLDS` fields of its
    ``RuleThresholds`` keeps its prescoring; any other difference recomputes it.
    """
    if len(old) != len(new):
        return ["scorers"]
    out: list[str] = []
    for a, b in zip(old, new):
        if _same(a, b):
            continue
        if type(a) is not type(b) or not dataclasses.is_dataclass(a) or not hasattr(a, "rules"):
            return ["scorers"]
        rest = [f.name for f in dataclasses.fields(a) if f.name != "thresholds"
                and not _same(getattr(a, f.name), getattr(b, f.name))]
        if rest:
            return [f"scorers ({getattr(a, 'name', '?')}: {', '.join(rest)})"]
        ta, tb = a.rules(), b.rules()
        pre = [f.name for f in dataclasses.fields(ta) if f.name not in FINAL_ONLY_THRESHOLDS
               and not _same(getattr(ta, f.name), getattr(tb, f.name))]
        if pre:
            out.append(f"scorers ({a.name} thresholds read in prescoring: {', '.join(pre)})")
    return out


def _is_model(spec: Any) -> bool:
    return hasattr(spec, "fitted") and bool(getattr(spec, "fitted"))


def rescore(result: Any, config: Any = None, *, dataset: Any = None, score: Any) -> Any:
    """Score again with ``config``, reusing what the change does not invalidate.

    See ``ScoringResult.rescore``, which delegates here and passes :func:`cnlab.pipeline.score`
    as ``score`` (so this module does not import the runner back). A lean result
    (``keep="outputs"``) raises :class:`cnlab.pipeline.keep.ResultNotKeptError`.
    """
    from cnlab.pipeline.keep import require_full

    require_full(result, "rescore()")
    old = result.config
    new = old if config is None else config
    ds = result.dataset if dataset is None else dataset
    if ds is None:
        raise ValueError("rescore: this ScoringResult does not hold its dataset; pass dataset=")
    new_data = dataset is not None and dataset is not result.dataset

    reasons: dict[str, tuple[str, ...]] = {}
    why = (["dataset"] if new_data else []) + (["topics"] if not _same(old.topics, new.topics) else [])
    if isinstance(new.topics, str) and new.topics == "model" and not _same(old.seed, new.seed):
        why.append("seed")
    if why:
        reasons["topics"] = tuple(why)
    why = (["dataset"] if new_data else []) + [f for f in PRESCORING_SETTINGS if f != "scorers"
                                                and not _same(getattr(old, f), getattr(new, f))]
    why += _scorer_changes(tuple(old.scorers), tuple(new.scorers))
    if "topics" in reasons:
        why.append("topics (recomputed)")
    if why:
        reasons["prescoring"] = tuple(why)
        if new.use_pss:
            reasons["pss"] = tuple(why)

    changes: dict[str, Any] = {}
    conf_why: list[str] = []
    for name in ("pflip", "pcrh"):
        spec = getattr(new, name)
        if isinstance(spec, str) and spec == "none":
            continue
        if _is_model(spec):
            continue  # a fitted model given by the caller is used as is
        if "prescoring" in reasons:
            conf_why.append(f"{name} (prescoring recomputed)")
            continue
        fitted = getattr(result.confidence, name, None)
        if _same(getattr(old, name), spec) and _is_model(fitted):
            changes[name] = fitted
        else:
            conf_why.append(name)
    if conf_why:
        reasons["confidence_models"] = tuple(conf_why)

    run_config = dataclasses.replace(new, **changes) if changes else new
    res = score(ds, run_config,
                prescoring=None if "prescoring" in reasons else result.prescoring,
                note_topics=None if "topics" in reasons else result.note_topics)
    keep: dict[str, Any] = {}
    if "prescoring" not in reasons:
        # score() given prescoring outputs keeps the raw ratings as prescoring_ratings; the
        # PSS-coalesced prescoring ratings of the reused prescoring are the original run's
        keep.update(prescoring_ratings=result.prescoring_ratings, pss=result.pss)
    recomputed = tuple(s for s in STAGES if s in reasons)
    used = {"topics": "topics" not in reasons,
            "pss": "prescoring" not in reasons and bool(new.use_pss) and result.pss is not None,
            "prescoring": "prescoring" not in reasons, "confidence_models": bool(changes)}
    reused = tuple(s for s in STAGES if used[s])
    return dataclasses.replace(res, config=new, dataset=ds, recomputed=recomputed, reused=reused,
                               rescore_reasons=reasons, **keep)
