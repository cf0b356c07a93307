"""Per-scorer input slicing and output capture filter (spec 02 §2, §5; 04 §9.1–9.2).

Pure functions: nothing is modified in place, every dropped row is counted in
the returned :class:`SliceReport`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab._arrays import isin
from cnlab.scorers.mf_config import ScorerConfig


@dataclass(frozen=True)
class SliceReport:
    """Row counts of :func:`filter_input` (mirrors the official log lines)."""

    ratings_in: int
    after_topic_filter: int
    unassigned_ratings: int
    after_group_filter: int
    nsh_in: int
    nsh_out: int


def _topic_note_ids(note_topics: pd.DataFrame | None) -> np.ndarray:
    if note_topics is None or len(note_topics) == 0:
        return np.array([], dtype=np.int64)
    nt = note_topics
    if "noteTopic" in nt.columns:  # the table only lists assigned notes; be defensive
        nt = nt[nt["noteTopic"].notna() & (nt["noteTopic"].astype(str) != "Unassigned")]
    return nt[schema.NOTE_ID].to_numpy()


def notes_of_topic(note_topics: pd.DataFrame | None, topic: str) -> np.ndarray:
    """Note ids the noteTopics table assigns to ``topic`` (official ``includedTopics``)."""
    if note_topics is None or len(note_topics) == 0:
        return np.array([], dtype=np.int64)
    nt = note_topics[note_topics["noteTopic"].astype(object) == topic]
    return nt[schema.NOTE_ID].to_numpy()


def in_group(
    rater_ids: pd.Series,
    enrollment: pd.DataFrame,
    groups: frozenset[int] | set[int],
    include_unassigned: bool,
) -> np.ndarray:
    """Boolean per rating: the rater's modelingGroup ∈ ``groups`` (spec 02 §2.4).

    Raters with no enrollment row get ``include_unassigned``; enrolled raters whose
    modelingGroup is NaN are *not* in group.
    """
    enr = enrollment[[schema.PARTICIPANT_ID, schema.MODELING_GROUP]].drop_duplicates(
        schema.PARTICIPANT_ID
    )
    grp = pd.Series(
        enr[schema.MODELING_GROUP].to_numpy(dtype=np.float64, na_value=np.nan),
        index=enr[schema.PARTICIPANT_ID].to_numpy(),
    )
    rid = rater_ids.to_numpy()
    enrolled = isin(rid, grp.index.to_numpy())
    g = grp.reindex(rid).to_numpy()
    member = np.isin(g, np.array(sorted(groups), dtype=np.float64))
    return np.where(enrolled, member, include_unassigned)


def filter_input_rows(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
    *,
    note_topics: pd.DataFrame | None = None,
) -> tuple[np.ndarray | None, pd.DataFrame, SliceReport]:
    """The rows :func:`filter_input` keeps, as positions into ``ratings`` (spec 02 §2).

    Reads only ``noteId`` and ``raterParticipantId``, so a caller can select (and narrow)
    the scorer's slice in one copy instead of copying the full frame at each step.

    Returns ``(positions, status_history, report)``: ``positions`` is an increasing int64
    array, or ``None`` when no restriction applies (every row kept, the frame unchanged).

    Examples
    --------
    >>> import pandas as pd
    >>> from cnlab.scorers.mf_config import CORE
    >>> r = pd.DataFrame({"noteId": [1, 2, 1], "raterParticipantId": [7, 8, 9]})
    >>> nsh = pd.DataFrame({"noteId": [1, 2]})
    >>> enr = pd.DataFrame({"participantId": [7, 8], "modelingGroup": [1.0, 0.0]})
    >>> pos, _, rep = filter_input_rows(r, nsh, enr, CORE)
    >>> pos.tolist(), rep.after_group_filter   # rater 8: group 0; rater 9: not enrolled
    ([0, 2], 2)
    """
    n_in, nsh_in = len(ratings), len(status_history)
    nsh = status_history
    pos: np.ndarray | None = None  # None: every row so far
    notes = ratings[schema.NOTE_ID]

    def narrow(keep: np.ndarray) -> None:
        nonlocal pos
        pos = np.flatnonzero(keep) if pos is None else pos[keep]

    def current(col: pd.Series) -> pd.Series:
        return col if pos is None else col.iloc[pos]

    if scorer.topic is not None:
        ids = notes_of_topic(note_topics, scorer.topic)
        narrow(current(notes).isin(ids).to_numpy())
        nsh = nsh[nsh[schema.NOTE_ID].isin(ids)]
    if scorer.topic_scope == "exclude_all":
        topic_ids = _topic_note_ids(note_topics)
        if len(topic_ids):
            narrow(~current(notes).isin(topic_ids).to_numpy())
            nsh = nsh[~nsh[schema.NOTE_ID].isin(topic_ids)]
    n_topic = n_in if pos is None else len(pos)
    n_unassigned = 0
    n_out = n_topic
    if scorer.included_groups is not None:
        raters = current(ratings[schema.RATER_ID])
        enrolled = raters.isin(enrollment[schema.PARTICIPANT_ID])
        n_unassigned = int((~enrolled).sum())
        mask = in_group(raters, enrollment, scorer.included_groups, scorer.include_unassigned)
        if scorer.strict_inclusion and scorer.capture_threshold is not None:
            share = pd.Series(mask).groupby(current(notes).to_numpy()).transform("mean")
            mask = mask & (share.to_numpy() >= scorer.capture_threshold)
        narrow(np.asarray(mask, dtype=bool))
        n_out = len(pos)
    report = SliceReport(n_in, n_topic, n_unassigned, n_out, nsh_in, len(nsh))
    return (None if pos is None else pos.astype(np.int64, copy=False)), nsh, report


def filter_input(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
    *,
    note_topics: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, SliceReport]:
    """Restrict ratings and note status history to a scorer's scope (spec 02 §2).

    1. no group / topic restriction → inputs unchanged;
    2. ``scorer.topic`` set (topic scorers): keep only ratings and NSH rows of notes assigned
       to that topic; ``topic_scope == "exclude_all"``: drop ratings and NSH rows of every
       note in ``note_topics``;
    3. groups: keep ratings whose rater is in group (unenrolled → include_unassigned);
       with ``strict_inclusion`` first keep only notes whose in-group share ≥ the
       capture threshold. NSH is not filtered by groups.

    Returns ``(ratings, status_history, report)``; the kept rows keep their index labels
    (:func:`filter_input_rows` gives their positions).
    """
    pos, nsh, report = filter_input_rows(ratings, status_history, enrollment, scorer,
                                         note_topics=note_topics)
    return (ratings if pos is None else ratings.iloc[pos]), nsh, report


def capture_share(
    raw_ratings: pd.DataFrame, enrollment: pd.DataFrame, scorer: ScorerConfig
) -> pd.Series:
    """Per note, the share of its raw ratings from in-group raters (spec 02 §5)."""
    groups = scorer.included_groups if scorer.included_groups is not None else frozenset()
    mask = in_group(raw_ratings[schema.RATER_ID], enrollment, groups, scorer.include_unassigned)
    return pd.Series(mask.astype(np.float64), index=raw_ratings.index).groupby(
        raw_ratings[schema.NOTE_ID].to_numpy()
    ).mean()


def postprocess_output(
    scored_notes: pd.DataFrame,
    raw_ratings: pd.DataFrame,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
) -> pd.DataFrame:
    """Capture-threshold filter of a scorer's final scored notes (spec 02 §5, 04 §9.2).

    Keeps rows whose note has ≥ ``capture_threshold`` of its **raw** (unscoped)
    final-scoring ratings from in-group raters; notes without ratings are dropped.
    ``capture_threshold is None`` returns the input unchanged.
    """
    if scorer.capture_threshold is None or scorer.included_groups is None:
        return scored_notes
    share = capture_share(raw_ratings, enrollment, scorer)
    keep = share.index[share.to_numpy() >= scorer.capture_threshold]
    return scored_notes[scored_notes[schema.NOTE_ID].isin(keep)].reset_index(drop=True)


def restrict_to_group_members(
    helpfulness: pd.DataFrame, enrollment: pd.DataFrame, scorer: ScorerConfig
) -> pd.DataFrame:
    """Group / multi-group helpfulness rows: only raters whose enrollment modelingGroup is in
    the scorer's groups (spec 02 §5; authors outside the group can appear through the outer
    join with the prescoring rows), stamped ``modelingGroup_<i>`` / ``modelingMultiGroup_<i>``."""
    rid = schema.RATER_ID
    enr = enrollment[[schema.PARTICIPANT_ID, schema.MODELING_GROUP]].drop_duplicates(schema.PARTICIPANT_ID)
    grp = pd.Series(enr[schema.MODELING_GROUP].to_numpy(dtype=np.float64, na_value=np.nan),
                    index=enr[schema.PARTICIPANT_ID].to_numpy())
    g = grp.reindex(helpfulness[rid].to_numpy()).to_numpy()
    keep = np.isin(g, np.array(sorted(scorer.included_groups or ()), dtype=np.float64))
    out = helpfulness[keep].reset_index(drop=True)
    return out.assign(**{scorer.modeling_column: scorer.group_id})


def topic_note_confident(
    scored_notes: pd.DataFrame,
    helpfulness: pd.DataFrame,
    raw_ratings: pd.DataFrame,
    n: int,
    factor_rule: str = "norm",
) -> np.ndarray:
    """Topic confidence bit per scored-note row (spec 05 A.9, 02 §5).

    Over the raw final-scoring ratings of notes with a non-NaN intercept, count ratings from
    raters whose returned factor is ≥ 0 and < 0 (raters without a factor are ignored; every
    helpfulness level counts)::

        confident = (#ratings with f_u ≥ 0 > n) ∧ (#ratings with f_u < 0 > n)

    With k factors (``internalRaterFactor2..k`` in ``helpfulness``): ``"norm"`` reads the sign
    of axis 1; ``"axis"`` requires the condition on every axis (both sides of every axis
    represented).
    """
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    axes = schema.factor_axis_columns(schema.RATER_FACTOR1, helpfulness.columns)
    if factor_rule == "axis" and len(axes) > 1:
        ok = np.ones(len(scored_notes), dtype=bool)
        for c in axes:
            one = helpfulness[[rid, c]].rename(columns={c: schema.RATER_FACTOR1})
            ok &= topic_note_confident(scored_notes, one, raw_ratings, n)
        return ok
    scored_ids = scored_notes.loc[scored_notes[schema.NOTE_INTERCEPT].notna(), nid].to_numpy()
    fac = helpfulness[[rid, schema.RATER_FACTOR1]].dropna().drop_duplicates(rid)
    f = pd.Series(fac[schema.RATER_FACTOR1].to_numpy(dtype=np.float64), index=fac[rid].to_numpy())
    notes = raw_ratings[nid].to_numpy()
    keep = isin(notes, scored_ids)  # whole columns read, not rows: the ratings can be a column view
    notes = notes[keep]
    rf = f.reindex(raw_ratings[rid].to_numpy()[keep]).to_numpy()
    del keep
    pos = pd.Series(rf >= 0).groupby(notes).sum()
    neg = pd.Series(rf < 0).groupby(notes).sum()
    ok = (pos > n) & (neg > n)
    return ok.reindex(scored_notes[nid].to_numpy(), fill_value=False).to_numpy(dtype=bool)


def postprocess_family(
    scored_notes: pd.DataFrame,
    helpfulness: pd.DataFrame,
    raw_ratings: pd.DataFrame,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group / multi-group / topic post-processing after the capture filter (spec 02 §5, 04 §9.2).

    * group, multi-group: helpfulness rows only for in-group raters
      (:func:`restrict_to_group_members`); ``modelingGroup_<i>`` / ``modelingMultiGroup_<i>`` =
      group id on every (capture-filtered) note row and helpfulness row;
    * topic: ``noteTopic_<t>`` = topic on every row; ``topicNoteConfident_<t>`` =
      :func:`topic_note_confident` with ``num_confidence_ratings``;
    * other scorers: inputs unchanged.

    ``scored_notes`` / ``helpfulness`` carry internal column names; the added columns already
    have their external (suffixed) names.
    """
    if scorer.family in ("group", "multi_group"):
        sn = scored_notes.assign(**{scorer.modeling_column: scorer.group_id})
        return sn, restrict_to_group_members(helpfulness, enrollment, scorer)
    if scorer.family == "topic":
        conf = topic_note_confident(scored_notes, helpfulness, raw_ratings, scorer.num_confidence_ratings,
                                    factor_rule=scorer.factor_rule)
        sn = scored_notes.assign(**{f"noteTopic{scorer.suffix}": scorer.topic,
                                    f"topicNoteConfident{scorer.suffix}": conf})
        return sn, helpfulness
    return scored_notes, helpfulness
