"""What a scoring run keeps: ``score(keep="all" | "outputs")``.

A full result (``keep="all"``, the default) holds every rating-sized frame of the run so that
:meth:`~cnlab.pipeline.run.ScoringResult.explain` and :meth:`~cnlab.pipeline.run.ScoringResult.rescore`
can read them: the preprocessed and PSS-coalesced ratings, each MF scorer's prescoring training
frames, the ratings of each final MF call, the confidence models' training frames and the
dataset. At scale these cost several times the outputs (``docs/scaling.md``, memory model).

A lean run (``keep="outputs"``, what ``cnlab score`` uses) drops each of them as soon as the run
no longer reads it, so the resident memory stops growing with every stage; the four output frames
are the same. The helpers here strip one object at a time; the runner calls them at the right
points (:func:`cnlab.pipeline.run.score`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from cnlab import schema
from cnlab.errors import CnlabInputError

__all__ = ["KEEP_CHOICES", "ResultNotKeptError", "check_keep", "require_full", "lean_prescoring",
           "lean_final", "lean_confidence"]

#: Values of ``score(keep=...)``.
KEEP_CHOICES = ("all", "outputs")


class ResultNotKeptError(CnlabInputError):
    """A method needs the rating-level frames that a ``keep="outputs"`` run released."""


def check_keep(keep: str) -> str:
    """``keep`` if it is one of :data:`KEEP_CHOICES`, else a ``ValueError`` naming them."""
    if keep not in KEEP_CHOICES:
        raise ValueError(f"keep={keep!r}: expected one of {', '.join(map(repr, KEEP_CHOICES))}")
    return keep


def require_full(result: Any, what: str) -> None:
    """Raise :class:`ResultNotKeptError` when ``result`` comes from a lean run.

    >>> from types import SimpleNamespace
    >>> require_full(SimpleNamespace(keep="all"), "explain()")
    >>> try:
    ...     require_full(SimpleNamespace(keep="outputs"), "explain()")
    ... except ResultNotKeptError as e:
    ...     print(str(e)[:42])
    explain() needs the run's rating-level fra
    """
    keep = getattr(result, "keep", "all")
    if keep == "all":
        return
    raise ResultNotKeptError(
        f"{what} needs the run's rating-level frames, which this ScoringResult does not hold: it "
        f"was scored with keep={keep!r} (as `cnlab score` does), which keeps the four outputs only. "
        f"Score with keep=\"all\" (the default of cnlab.score / cnlab.pipeline.score) for a full result.")


def _is_rating_frame(value: Any) -> bool:
    # one row per (note, rater): a rating-level frame; params and helpfulness have one id only
    return isinstance(value, pd.DataFrame) and schema.NOTE_ID in value.columns \
        and schema.RATER_ID in value.columns


def _strip(value: Any, depth: int = 0) -> Any:
    """``value`` without its rating-level frames and per-rating arrays (``weights``), rebuilt
    only where something was dropped (the other objects are shared, not copied)."""
    if depth > 6:
        return value
    if _is_rating_frame(value):
        return None
    if isinstance(value, dict):
        out = {k: _strip(v, depth + 1) for k, v in value.items()}
        return out if any(out[k] is not value[k] for k in value) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            v = getattr(value, f.name)
            # MF fits keep their normalized-loss weights: one float per training rating
            new = None if (f.name == "weights" and v is not None) else _strip(v, depth + 1)
            if new is not v:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


def lean_prescoring(out: Any) -> Any:
    """A scorer's :class:`~cnlab.scorers.outputs.PrescoringOutput` without the rating-level
    intermediates (``ratings_for_training``, ``valid_ratings``, ``final_round_ratings``, the MF
    fits' per-rating weights); final scoring reads none of them. Anything else passes through."""
    inter = getattr(out, "intermediates", None)
    if not inter:
        return out
    lean = _strip(inter if isinstance(inter, dict) else dict(inter))
    return out if lean is inter else dataclasses.replace(out, intermediates=lean)


def lean_final(out: Any) -> Any:
    """A scorer's :class:`~cnlab.scorers.mf_final.FinalOutput` whose MF calls have no
    ``training_ratings`` (None) and no per-rating weights; the scored notes, note parameters,
    helpfulness and counts stay."""
    calls = getattr(out, "calls", None)
    if not calls:
        return out
    lean = {name: _strip(call) for name, call in calls.items()}
    return dataclasses.replace(out, calls=lean)


def lean_confidence(conf: Any) -> Any:
    """The :class:`~cnlab.pipeline.confidence.ConfidenceModels` without the models' training
    frames (pflip ``train_frame``, PCRH ``training``): prediction and the meta rules read the fitted
    pipelines, thresholds and predictions only."""
    if conf is None:
        return None
    changes = {}
    for name, attr in (("pflip", "train_frame"), ("pcrh", "training")):
        model = getattr(conf, name, None)
        if model is not None and getattr(model, attr, None) is not None:
            changes[name] = dataclasses.replace(model, **{attr: None})
    return dataclasses.replace(conf, **changes) if changes else conf
