"""Merging every final scorer's outputs and coalescing the multi-instance families
(spec 04 §9.4, §10.1 step 9; official ``combine_final_scorer_results``, ``coalesce_columns``).

Each scorer's scored notes / aux / helpfulness use globally unique column names (group,
multi-group and topic scorers suffix theirs with ``_<id>``). They are outer-merged on the key
(noteId, or raterParticipantId for helpfulness); then, for every family column ``P``, the
suffixed columns ``P_<id>`` are folded into one unsuffixed column ``P`` — each row may hold at
most one non-missing value among them (each note is scored by at most one group scorer, one
multi-group scorer and one topic scorer: groups are disjoint and capture thresholds > 0.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema

__all__ = [
    "CoalesceError",
    "GROUP_NOTE_COLUMNS",
    "MULTI_GROUP_NOTE_COLUMNS",
    "TOPIC_NOTE_COLUMNS",
    "GROUP_HELPFULNESS_COLUMNS",
    "MULTI_GROUP_HELPFULNESS_COLUMNS",
    "coalesce_columns",
    "coalesce_families",
    "merge_unique",
    "combine_final_results",
    "combine_helpfulness",
]

#: Scored-notes columns coalesced over ``MFGroupScorer_<i>`` (and ``GaussianGroupScorer_15``).
GROUP_NOTE_COLUMNS: tuple[str, ...] = (
    "groupNoteIntercept", "groupNoteFactor1", "groupRatingStatus", schema.MODELING_GROUP,
    "groupActiveRules", "groupNumFinalRoundRatings", "groupNoteInterceptNoHighVol",
    "groupNoteInterceptNoCorrelated",
)
#: Scored-notes columns coalesced over ``MFMultiGroupScorer_<i>``.
MULTI_GROUP_NOTE_COLUMNS: tuple[str, ...] = (
    "multiGroupNoteIntercept", "multiGroupNoteFactor1", "multiGroupRatingStatus", "modelingMultiGroup",
    "multiGroupActiveRules", "multiGroupNumFinalRoundRatings", "multiGroupNoteInterceptNoHighVol",
    "multiGroupNoteInterceptNoCorrelated",
)
#: Scored-notes columns coalesced over ``MFTopicScorer_<t>`` (and the Gaussian topic scorer).
TOPIC_NOTE_COLUMNS: tuple[str, ...] = (
    "topicNoteIntercept", "topicNoteFactor1", "topicRatingStatus", "topicNoteConfident", "noteTopic",
    "topicActiveRules", "topicNumFinalRoundRatings", "topicNoteInterceptNoHighVol",
    "topicNoteInterceptNoCorrelated",
)
#: Helpfulness columns coalesced over the group / multi-group scorers.
GROUP_HELPFULNESS_COLUMNS: tuple[str, ...] = ("groupRaterIntercept", "groupRaterFactor1", schema.MODELING_GROUP)
MULTI_GROUP_HELPFULNESS_COLUMNS: tuple[str, ...] = (
    "multiGroupRaterIntercept", "multiGroupRaterFactor1", "modelingMultiGroup",
)


class CoalesceError(ValueError):
    """More than one scorer of a family produced a value for the same row (spec 04 §9.4)."""


def _suffixed(frame: pd.DataFrame, prefix: str) -> list[str]:
    return [c for c in frame.columns if isinstance(c, str) and c.startswith(prefix + "_")]


def coalesce_columns(frame: pd.DataFrame, prefix: str, *, key: str = schema.NOTE_ID) -> pd.DataFrame:
    """Fold the columns ``<prefix>_<suffix>`` of ``frame`` into one column ``<prefix>``.

    Every row must have at most one non-missing value among them; otherwise
    :class:`CoalesceError` names the columns and the first offending ``key`` values. The
    suffixed columns are dropped; with none present ``<prefix>`` is an all-NaN column (unless it
    already exists).
    """
    cols = _suffixed(frame, prefix)
    if not cols:
        if prefix in frame.columns:
            return frame
        return pd.concat([frame, pd.Series(np.nan, index=frame.index, name=prefix)], axis=1)
    if prefix in frame.columns:
        raise CoalesceError(f"cannot coalesce {cols} into {prefix!r}: the column already exists")
    present = frame[cols].notna()
    n = present.sum(axis=1).to_numpy()
    if (n > 1).any():
        bad = frame.loc[n > 1]
        sample = bad[key].head(5).tolist() if key in bad.columns else bad.index[:5].tolist()
        which = sorted({c for c in cols if present.loc[n > 1, c].any()})
        raise CoalesceError(
            f"coalescing {prefix!r}: {int((n > 1).sum())} row(s) have values from more than one "
            f"scorer ({', '.join(which)}); first {key}s: {sample}. Each row must be scored by at "
            "most one scorer of a family (spec 04 §9.4)."
        )
    values = np.full(len(frame), np.nan, dtype=object)
    for c in cols:
        m = present[c].to_numpy()
        values[m] = frame[c].to_numpy(dtype=object)[m]
    # float result when every column that holds a value is numeric (bool stays object, as the
    # official topicNoteConfident); all-missing columns (empty scorers) do not count.
    numeric = all((pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]))
                  or not present[c].any() for c in cols)
    col = pd.Series(values.astype(np.float64) if numeric else values, index=frame.index, name=prefix)
    return pd.concat([frame.drop(columns=cols), col], axis=1)


def coalesce_families(frame: pd.DataFrame, families: Iterable[Sequence[str]], *,
                      key: str = schema.NOTE_ID) -> pd.DataFrame:
    """:func:`coalesce_columns` for every column of every family, in order (with the axes
    2..k of a k-factor run's ``…Factor1`` columns, :func:`_factor_axes`)."""
    for fam in families:
        for prefix in _factor_axes(fam, frame):
            frame = coalesce_columns(frame, prefix, key=key)
    return frame


def _factor_axes(family: Sequence[str], frame: pd.DataFrame) -> list[str]:
    """``family`` plus ``<stem>Factor2``, ``<stem>Factor3`` … after each ``<stem>Factor1`` whose
    suffixed axis-j columns are in ``frame`` (k-factor runs; nothing added when k = 1)."""
    out: list[str] = []
    for prefix in family:
        out.append(prefix)
        if prefix.endswith("Factor1"):
            j = 2
            while _suffixed(frame, f"{prefix[:-1]}{j}"):
                out.append(f"{prefix[:-1]}{j}")
                j += 1
    return out


def merge_unique(base: pd.DataFrame, part: pd.DataFrame, *, key: str, what: str,
                 expand: bool = False) -> pd.DataFrame:
    """Outer-merge ``part`` into ``base`` on ``key``: column names other than ``key`` must be
    unique, and (unless ``expand``) the merge may not add rows (official ``_merge_results``)."""
    dup = (set(part.columns) & set(base.columns)) - {key}
    if dup:
        raise ValueError(f"{what}: column names must be globally unique; duplicated {sorted(dup)}")
    if key not in part.columns:
        raise ValueError(f"{what}: missing key column {key!r}")
    p = part
    if p[key].dtype != base[key].dtype:  # e.g. an empty scorer output with an object key column
        p = p.assign(**{key: p[key].astype(base[key].dtype)})
    out = base.merge(p, on=key, how="outer")
    if not expand and len(out) != len(base):
        extra = sorted(set(p[key]) - set(base[key]))[:5]
        raise ValueError(f"{what}: merging would add {len(out) - len(base)} row(s) with keys not in "
                         f"the base frame (first: {extra})")
    return out


def combine_final_results(finals: Iterable[Any], status_history: pd.DataFrame
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All final scorers' scored notes and aux, one row per NSH note (spec 04 §10.1 step 9).

    Starts from the distinct NSH noteIds, outer-merges each :class:`~cnlab.scorers.mf_final.FinalOutput`'s
    ``scored_notes`` and (non-empty) ``aux_note_info`` on noteId, then coalesces the group,
    multi-group and topic families (:data:`GROUP_NOTE_COLUMNS` …). Returns ``(scored_notes, aux)``
    sorted by noteId.
    """
    nid = schema.NOTE_ID
    ids = pd.DataFrame({nid: pd.unique(status_history[nid].to_numpy())})
    sn, aux = ids, ids.copy()
    for f in finals:
        name = getattr(getattr(f, "scorer", None), "name", "scorer")
        sn = merge_unique(sn, f.scored_notes, key=nid, what=f"{name} scored_notes")
        a = f.aux_note_info
        if a is not None and len(a.columns) > 1:
            aux = merge_unique(aux, a, key=nid, what=f"{name} aux_note_info")
    sn = coalesce_families(sn, (GROUP_NOTE_COLUMNS, MULTI_GROUP_NOTE_COLUMNS, TOPIC_NOTE_COLUMNS))
    return (sn.sort_values(nid).reset_index(drop=True), aux.sort_values(nid).reset_index(drop=True))


def combine_helpfulness(finals: Iterable[Any]) -> pd.DataFrame:
    """All final scorers' helpfulness rows outer-merged on raterParticipantId, group and
    multi-group families coalesced (``groupRaterIntercept``, ``modelingGroup`` …).

    This is the per-scorer *final-scoring* view (frozen prescoring rater parameters of the raters
    each scorer used); the published ``helpfulness_scores`` are built from the prescoring rater
    output by :func:`cnlab.contributors.contributor_scores` (spec 04 §14.4).
    """
    rid = schema.RATER_ID
    frames = [f.helpfulness_scores for f in finals if f.helpfulness_scores is not None
              and len(f.helpfulness_scores.columns) > 1]
    if not frames:
        return pd.DataFrame({rid: pd.Series(dtype=np.int32)})
    ids = pd.DataFrame({rid: pd.unique(np.concatenate([f[rid].to_numpy() for f in frames]))})
    if len(ids):
        ids[rid] = ids[rid].astype(frames[0][rid].dtype)
    out = ids
    for f in frames:
        out = merge_unique(out, f, key=rid, what="helpfulness_scores")
    out = coalesce_families(out, (GROUP_HELPFULNESS_COLUMNS, MULTI_GROUP_HELPFULNESS_COLUMNS), key=rid)
    return out.sort_values(rid).reset_index(drop=True)
