"""Contributor scoring phase: ``helpfulness_scores.tsv`` (spec 07 A, spec 04 §14.4).

After final note scoring the official scorer builds one row per contributor (rater
and/or author) with

* the **rater parameters** of the prescoring scorers, renamed per scorer and with the
  group / multi-group families coalesced (A.2, :func:`rater_parameter_columns`);
* **valid-rating counts** (A.4, :func:`rating_counts`) and **note counts** (A.5,
  :func:`note_counts`, :func:`recent_note_counts`);
* the **enrollment state machine** (A.6, :func:`contributor_state`) followed by the
  single-trigger earn-out and the rating impact needed to earn back in (A.7,
  :func:`single_trigger_earn_out`, :func:`rating_impact_to_earn_in`);
* the author's top not-helpful tags (A.8, :func:`top_not_helpful_tags_per_author`),
  the emerging-writer flag (A.9, :func:`emerging_writers`) and the 14/90-day status
  totals (A.7.5, :func:`recent_status_totals`).

:func:`contributor_scores` runs the whole phase and returns exactly
:data:`cnlab.schema.HELPFULNESS_SCORES_COLUMNS`.  Everything is pure pandas; participant
ids may be of any orderable dtype (the loader's ``int32`` codes, or strings), the caller
restores strings.

Enrollment-state codes (the "thrift" codes written to the output)::

    earnedIn 0, atRisk 1, earnedOutNoAcknowledge 2, earnedOutAcknowledged 3, newUser 4,
    removed 5, apiTestUser 6, apiEarnedIn 7, apiEarnedOut 8
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.errors import CnlabInputError
from cnlab.scoring.explanation_tags import NOT_HELPFUL_TIE_BREAK_RANK, top_two_tags
from cnlab.scoring.helpfulness import (ROW_BLOCK, RaterCodes, code_sums, numeric_values, valid_rating_blocks,
                                       valid_rating_indicators)

__all__ = [
    "ContributorConfig",
    "ENROLLMENT_STATE_CODES",
    "RATER_PARAMETER_COLUMNS",
    "RATING_COUNT_COLUMNS",
    "NOTE_COUNT_COLUMNS",
    "rater_parameter_columns",
    "scored_notes_with_stats",
    "rating_counts",
    "note_counts",
    "recent_note_counts",
    "top_not_helpful_tags_per_author",
    "emerging_writers",
    "contributor_state",
    "single_trigger_earn_out",
    "rating_impact_to_earn_in",
    "recent_status_totals",
    "contributor_scores",
]

# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------
ENROLLMENT_STATE_CODES: dict[str, int] = {
    "earnedIn": 0,
    "atRisk": 1,
    "earnedOutNoAcknowledge": 2,
    "earnedOutAcknowledged": 3,
    "newUser": 4,
    "removed": 5,
    "apiTestUser": 6,
    "apiEarnedIn": 7,
    "apiEarnedOut": 8,
}
"""Official ``enrollmentStateToThrift``."""

_API_STATES = ("apiTestUser", "apiEarnedIn", "apiEarnedOut")

TIMESTAMP_OF_LAST_EARN_OUT = "timestampOfLastEarnOut"
TIMESTAMP_OF_LAST_STATE_CHANGE = "timestampOfLastStateChange"
NEEDED_TO_EARN_IN = "successfulRatingNeededToEarnIn"
TIMES_EARNED_OUT = "numberOfTimesEarnedOut"
RATING_IMPACT = "ratingImpact"
HAS_CRNH_SINCE_EARN_OUT = "hasCrnhSinceEarnOut"
TOP_TAGS = "authorTopNotHelpfulTagValues"
EMERGING = "isEmergingWriter"
LATEST_NON_NMR = "timestampMillisOfLatestNonNMRStatus"
CRH_BOOL, CRNH_BOOL, AWAITING_BOOL = "crhBool", "crnhBool", "awaitingBool"

RATING_COUNT_COLUMNS: tuple[str, ...] = S.VALID_RATING_COUNT_COLUMNS
"""Per-rater sums over valid ratings (spec 07 A.4)."""

NOTE_COUNT_COLUMNS: tuple[str, ...] = (
    "notesCurrentlyRatedHelpful",
    "notesCurrentlyRatedNotHelpful",
    "notesAwaitingMoreRatings",
    "aggregateRatingReceivedTotal",
)
"""Per-author sums of crhBool, crnhBool, awaitingBool, numRatings (spec 07 A.5)."""

# Per-scorer internal → external rater columns (spec 07 A.2, 04 §14.4).
_CORE_FIRST_ROUND = {
    "internalFirstRoundRaterIntercept": "coreFirstRoundRaterIntercept",
    "internalFirstRoundRaterFactor1": "coreFirstRoundRaterFactor1",
}


def _mf(prefix: str) -> dict[str, str]:
    return {S.RATER_INTERCEPT: f"{prefix}RaterIntercept", S.RATER_FACTOR1: f"{prefix}RaterFactor1"}


_SCORER_COLUMN_MAPS: dict[str, dict[str, str]] = {
    "MFCoreScorer": {
        **_mf("core"),
        "crhCrnhRatioDifference": "crhCrnhRatioDifference",
        "meanNoteScore": "meanNoteScore",
        "raterAgreeRatio": "raterAgreeRatio",
        "aboveHelpfulnessThreshold": "aboveHelpfulnessThreshold",
        **_CORE_FIRST_ROUND,
    },
    "MFCoreWithTopicsScorer": _mf("coreWithTopics"),
    "MFExpansionScorer": _mf("expansion"),
    "MFExpansionPlusScorer": _mf("expansionPlus"),
    "ReputationScorer": {"internalRaterReputation": "raterHelpfulnessReputation"},
}
_GROUP_RE = re.compile(r"^MFGroupScorer_(\d+)$")
_MULTI_GROUP_RE = re.compile(r"^MFMultiGroupScorer_(\d+)$")

RATER_PARAMETER_COLUMNS: tuple[str, ...] = tuple(
    c for c in S.HELPFULNESS_SCORES_COLUMNS
    if c in {v for m in _SCORER_COLUMN_MAPS.values() for v in m.values()}
    or c in {"groupRaterIntercept", "groupRaterFactor1", S.MODELING_GROUP,
             "multiGroupRaterIntercept", "multiGroupRaterFactor1", "modelingMultiGroup"}
)
"""The helpfulness columns that come from prescoring rater output (spec 04 §14.4)."""


def _default_multi_groups() -> dict[int, frozenset[int]]:
    return {1: frozenset({4, 5, 7, 12, 26})}


@dataclass(frozen=True)
class ContributorConfig:
    """Constants of the contributor scoring phase (spec 07 A)."""

    rating_impact_for_earn_in: int = 5
    """``ratingImpactForEarnIn``: default rating impact needed to earn in (fills a missing
    ``successfulRatingNeededToEarnIn``) and base of the earn-back target (A.7.3)."""
    max_history_earn_out: int = 5
    """``maxHistoryEarnOut``: size of the "last N notes since last earn-out" window (A.5)."""
    is_at_risk_crnh_count: int = 2
    """``isAtRiskCRNHCount``: CRNH notes in the window that make a writer at risk (``==``);
    more (``>``) earns out, fewer (``<``) returns an at-risk writer to earnedIn (A.6)."""
    top_writer_writing_impact: int = 10
    """``topWriterWritingImpact``: CRH − CRNH (all notes) ``≥`` this for a top writer (A.7.3)."""
    top_writer_hit_rate: float = 0.04
    """``topWriterHitRate``: writing impact / max(notes, 1) ``≥`` this for a top writer."""
    emerging_mean_note_score: float = 0.3
    """``emergingMeanNoteScore``: mean coreNoteIntercept ``>`` this for an emerging writer (A.9)."""
    emerging_rating_count: int = 10
    """``emergingRatingCount``: Σ numRatingsLast28 ``≥`` this for an emerging writer (A.9)."""
    min_ratings_to_get_tag: int = 2
    """``minRatingsToGetTag``: a not-helpful tag needs this many ratings on a note (A.8)."""
    default_timestamp_of_last_earn_out: int = 1
    """Value used when ``timestampOfLastEarnOut`` is absent (window filter and output, A.5/A.7.4)."""
    short_window_days: int = 14
    """Days of the ``crhTotal14d / crnhTotal14d / nmrTotal14d`` window (``_compute_past_n_days_stats``)."""
    long_window_days: int = 90
    """Days of the ``…Total90d`` window."""
    short_window_min_ratings: int = 10
    """14-day window: a note without CRH/CRNH status needs at least this many ratings (A.7.5)."""
    multi_groups: Mapping[int, frozenset[int]] = field(default_factory=_default_multi_groups)
    """``MFMultiGroupScorer_k`` → enrollment modelingGroups it covers (``includedGroups``)."""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def _require(frame: pd.DataFrame, cols, where: str) -> None:
    S.require_columns(frame, cols, where=f"contributor scoring: {where}")


def _as_bool(s: pd.Series) -> np.ndarray:
    """0/1/bool/NA → bool (NA counts as False)."""
    return s.astype(object).where(s.notna(), False).astype(bool).to_numpy()


def _float(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


# ---------------------------------------------------------------------------
# A.2 rater parameters from prescoring
# ---------------------------------------------------------------------------

def rater_parameter_columns(
    prescoring_rater_output: pd.DataFrame,
    enrollment: pd.DataFrame | None,
    *,
    config: ContributorConfig = ContributorConfig(),
) -> pd.DataFrame:
    """Rename and coalesce prescoring rater rows into helpfulness columns (spec 07 A.2).

    Rows: every distinct ``raterParticipantId`` of ``prescoring_rater_output`` (PSS-only
    rows with a NaN ``scorerName`` included).  Columns: :data:`RATER_PARAMETER_COLUMNS`
    (NaN where the scorer did not run or did not score the rater).

    * MFCoreScorer → coreRater{Intercept,Factor1}, crhCrnhRatioDifference, meanNoteScore,
      raterAgreeRatio, aboveHelpfulnessThreshold, coreFirstRoundRater{Intercept,Factor1};
      MFCoreWithTopics / MFExpansion / MFExpansionPlus → ``<prefix>Rater{Intercept,Factor1}``;
      ReputationScorer → raterHelpfulnessReputation (``internalRaterReputation``).
    * ``MFGroupScorer_g`` → groupRater{Intercept,Factor1} and ``modelingGroup = g``, kept only
      for raters whose enrollment modelingGroup is g (a rater can appear in another group's
      rows as an author); ``MFMultiGroupScorer_k`` likewise → multiGroupRater… and
      ``modelingMultiGroup = k`` for enrollment groups ``config.multi_groups[k]``.  Each
      family must then hold at most one row per rater (the official coalesce assertion).
    * Topic scorers contribute ids only.
    """
    _require(prescoring_rater_output, [S.RATER_ID, "scorerName"], "prescoring rater output")
    pro = prescoring_rater_output
    out = pro[[S.RATER_ID]].drop_duplicates().reset_index(drop=True)
    names = pro["scorerName"].astype(object)
    if enrollment is not None and len(enrollment):
        groups = enrollment[[S.PARTICIPANT_ID, S.MODELING_GROUP]].drop_duplicates(S.PARTICIPANT_ID)
        group_of = pd.Series(_float(groups[S.MODELING_GROUP]), index=groups[S.PARTICIPANT_ID].to_numpy())
    else:
        group_of = pd.Series(dtype=np.float64)

    def renamed(mask, mapping: Mapping[str, str]) -> pd.DataFrame:
        rows = pro.loc[np.asarray(mask, dtype=bool)]
        if S.RATER_FACTOR1 in mapping:  # axes 2..k of a k-factor run, named like axis 1
            fcol = mapping[S.RATER_FACTOR1]
            axes = S.factor_axis_columns(S.RATER_FACTOR1, rows.columns)[1:]
            mapping = {**mapping, **{c: S.factor_axis_column(fcol, j) for j, c in enumerate(axes, start=2)}}
        cols = {k: v for k, v in mapping.items() if k in rows.columns}
        frame = rows[[S.RATER_ID, *cols]].rename(columns=cols)
        for v in mapping.values():  # a scorer run without some export: NaN column
            if v not in frame.columns:
                frame[v] = np.nan
        if frame[S.RATER_ID].duplicated().any():
            raise CnlabInputError("prescoring rater output has duplicate raterParticipantId rows for one scorer",
                                  column=S.RATER_ID)
        return frame

    for scorer, mapping in _SCORER_COLUMN_MAPS.items():
        mask = (names == scorer).to_numpy()
        if mask.any():
            out = out.merge(renamed(mask, mapping), on=S.RATER_ID, how="left")

    families = (
        (_GROUP_RE, ("groupRaterIntercept", "groupRaterFactor1"), S.MODELING_GROUP, lambda g: {g}),
        (_MULTI_GROUP_RE, ("multiGroupRaterIntercept", "multiGroupRaterFactor1"), "modelingMultiGroup",
         lambda k: set(config.multi_groups.get(k, ()))),
    )
    for regex, (icol, fcol), key, included in families:
        parts = []
        for name in pd.unique(names.dropna()):
            m = regex.match(str(name))
            if not m:
                continue
            gid = int(m.group(1))
            part = renamed((names == name).to_numpy(), {S.RATER_INTERCEPT: icol, S.RATER_FACTOR1: fcol})
            enrolled = part[S.RATER_ID].map(group_of).to_numpy(dtype=np.float64)
            part = part.loc[np.isin(enrolled, list(included(gid)))]
            parts.append(part.assign(**{key: np.float64(gid)}))
        if parts:
            fam = pd.concat(parts, ignore_index=True)
            if fam[S.RATER_ID].duplicated().any():
                raise CnlabInputError(f"a rater is scored by more than one {key} family scorer "
                                      "(coalescing needs at most one)", column=S.RATER_ID)
            out = out.merge(fam, on=S.RATER_ID, how="left")

    cols = S.with_extra_factor_columns(RATER_PARAMETER_COLUMNS, out.columns)
    for c in cols:
        if c not in out.columns:
            out[c] = np.nan
        elif c != "aboveHelpfulnessThreshold":
            out[c] = _float(out[c])
    out["aboveHelpfulnessThreshold"] = out["aboveHelpfulnessThreshold"].astype("boolean")
    return out[[S.RATER_ID, *cols]]


# ---------------------------------------------------------------------------
# A.3 per-note view
# ---------------------------------------------------------------------------

def scored_notes_with_stats(scored_notes: pd.DataFrame, aux_note_info: pd.DataFrame) -> pd.DataFrame:
    """``scored_notes ⋈ aux_note_info`` on (noteId, createdAtMillis) (spec 07 A.3).

    Returns noteId, finalRatingStatus, coreNoteIntercept (NaN if Core did not run), crhBool,
    crnhBool, awaitingBool (bool; NA → False), createdAtMillis, noteAuthorParticipantId,
    numRatings, numRatingsLast28.  Every note of ``scored_notes`` must match one aux row.
    """
    _require(scored_notes, [S.NOTE_ID, "finalRatingStatus", S.CREATED_AT, S.NUM_RATINGS], "scored_notes")
    _require(aux_note_info, [S.NOTE_ID, S.CREATED_AT, S.AUTHOR_ID, CRH_BOOL, CRNH_BOOL, AWAITING_BOOL,
                             "numRatingsLast28"], "aux_note_info")
    if len(scored_notes) != len(aux_note_info):
        raise CnlabInputError(f"scored_notes ({len(scored_notes)}) and aux_note_info ({len(aux_note_info)}) "
                              "must hold the same notes")
    sn_cols = [S.NOTE_ID, S.CREATED_AT, "finalRatingStatus", S.NUM_RATINGS]
    sn = scored_notes[sn_cols].copy()
    sn["coreNoteIntercept"] = (_float(scored_notes["coreNoteIntercept"]) if "coreNoteIntercept" in scored_notes
                               else np.nan)
    aux = aux_note_info[[S.NOTE_ID, S.CREATED_AT, S.AUTHOR_ID, CRH_BOOL, CRNH_BOOL, AWAITING_BOOL,
                         "numRatingsLast28"]]
    df = sn.merge(aux, on=[S.NOTE_ID, S.CREATED_AT], how="inner")
    if len(df) != len(scored_notes):
        raise CnlabInputError("scored_notes and aux_note_info disagree on (noteId, createdAtMillis)",
                              column=S.CREATED_AT)
    for c in (CRH_BOOL, CRNH_BOOL, AWAITING_BOOL):
        df[c] = _as_bool(df[c])
    df["finalRatingStatus"] = df["finalRatingStatus"].astype(object)
    return df[[S.NOTE_ID, "finalRatingStatus", "coreNoteIntercept", CRH_BOOL, CRNH_BOOL, AWAITING_BOOL,
               S.CREATED_AT, S.AUTHOR_ID, S.NUM_RATINGS, "numRatingsLast28"]]


# ---------------------------------------------------------------------------
# A.4 rating counts
# ---------------------------------------------------------------------------

def rating_counts(ratings: pd.DataFrame, status_history: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    """Per-rater valid-rating counts, awaiting and after-decision counts (spec 07 A.4, 01 §3).

    Parameters
    ----------
    ratings
        Contributor-phase ratings (noteId, raterParticipantId, helpfulNum, createdAtMillis).
    status_history
        The *new* NSH (noteId, createdAtMillis, timestampMillisOfLatestNonNMRStatus); every
        rated note must be in it.
    notes
        :func:`scored_notes_with_stats` (noteId, crhBool, crnhBool, awaitingBool).

    Returns
    -------
    One row per rater with at least one *candidate* rating (made < 48 h after note creation
    and, for notes since 2022-05-19, before the latest non-NMR status; first 5 for older
    notes) on a scored note: the six :data:`RATING_COUNT_COLUMNS` (valid ratings only:
    CRH/CRNH notes, helpfulNum ∈ {0, 1}), ``ratingsAwaitingMoreRatings`` (candidate ratings on
    notes with awaitingBool) and ``ratedAfterDecision`` (any rating created strictly after the
    note's latest non-NMR status), all float64 like the official output.
    """
    _require(ratings, [S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM, S.CREATED_AT], "ratings")
    _require(status_history, [S.NOTE_ID, S.CREATED_AT, LATEST_NON_NMR], "status_history")
    r = ratings[[S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM, S.CREATED_AT]]
    flags = notes[[S.NOTE_ID, CRH_BOOL, CRNH_BOOL]]

    # Per-rater sums a block of ratings at a time (valid_rating_blocks) on rater codes, not a
    # frame of the valid ratings with its indicator columns grouped (~150 bytes a rating at once)
    # nor arrays a valid rating (206M ratings: ~4 GiB): integer counts and sums of 0/1, so the
    # groupby's values whatever the blocks.
    raters = RaterCodes(r[S.RATER_ID].to_numpy())
    counts = raters.block_sums(((rows, valid_rating_indicators(crh, crnh, h))
                                for rows, crh, crnh, h in valid_rating_blocks(r, status_history, flags)),
                               list(RATING_COUNT_COLUMNS), np.int64)

    # Candidate ratings (valid before the status / label filter): reuse valid_ratings' window
    # and first-5 selection by presenting every scored note as "CRH" and every rating as binary.
    all_crh = notes[[S.NOTE_ID]].assign(**{CRH_BOOL: True, CRNH_BOOL: False})
    # the two columns the window reads besides helpfulNum, not a copy of the four (206M: 4.6 GB)
    binary = pd.DataFrame({S.NOTE_ID: r[S.NOTE_ID].to_numpy(), S.CREATED_AT: r[S.CREATED_AT],
                           S.HELPFUL_NUM: np.broadcast_to(np.float32(1.0), len(r))}, copy=False)
    note_index = pd.Index(notes[S.NOTE_ID])
    awaiting_all = np.nan_to_num(notes[AWAITING_BOOL].astype(np.float64).to_numpy(), nan=0.0)
    if np.isin(awaiting_all, (0.0, 1.0)).all():  # flags (as always): counted, one byte a candidate
        awaiting_all = awaiting_all.astype(bool)
    note_ids = r[S.NOTE_ID].to_numpy()

    def awaiting_blocks():
        # every candidate is on a scored note (the window's lookup drops the others), so each
        # block's join to the notes finds its note
        for cand, *_ in valid_rating_blocks(binary, status_history, all_crh):
            yield cand, {"ratingsAwaitingMoreRatings": awaiting_all[note_index.get_indexer(note_ids[cand])]}

    hist = raters.block_sums(awaiting_blocks(), ["ratingsAwaitingMoreRatings"], np.float64)
    del binary, note_ids

    # ratedAfterDecision over all ratings (strictly after the latest non-NMR status): the note's
    # time looked up per rating, a block of ratings at a time, not a join of every rating to the
    # status history (at 206M ratings a ~10 GiB frame; whole-length lookups ~3.5 GiB).
    # valid_ratings refused a status history with repeated notes.
    nsh_notes = pd.Index(status_history[S.NOTE_ID])
    latest_all = _float(status_history[LATEST_NON_NMR])
    note_ids, times = r[S.NOTE_ID].to_numpy(), numeric_values(r[S.CREATED_AT])
    missing = 0

    def after_blocks():
        nonlocal missing
        for lo in range(0, len(note_ids), ROW_BLOCK):
            at = nsh_notes.get_indexer(note_ids[lo:lo + ROW_BLOCK])
            unknown = at < 0
            if unknown.any():
                missing += int(unknown.sum())
                continue
            latest = latest_all[at]
            del at
            with np.errstate(invalid="ignore"):  # int64 times against float64
                after = np.flatnonzero(~np.isnan(latest) & (times[lo:lo + ROW_BLOCK] > latest)) + lo
            del latest
            yield after, {"ratedAfterDecision": np.ones(len(after), dtype=bool)}

    rad = raters.block_sums(after_blocks(), ["ratedAfterDecision"], np.float64)
    if missing:
        raise CnlabInputError(f"{missing} rating(s) are on notes missing from the note status history",
                              column=S.NOTE_ID)
    del note_ids, times, raters
    hist = hist.join(rad, how="left").fillna({"ratedAfterDecision": 0.0})

    out = counts.join(hist, how="outer")
    out[list(RATING_COUNT_COLUMNS)] = out[list(RATING_COUNT_COLUMNS)].astype(np.float64).fillna(0.0)
    out.index.name = S.RATER_ID
    return out.reset_index()[[S.RATER_ID, *RATING_COUNT_COLUMNS, "ratingsAwaitingMoreRatings",
                              "ratedAfterDecision"]]


# ---------------------------------------------------------------------------
# A.5 note counts
# ---------------------------------------------------------------------------

def _author_sums(df: pd.DataFrame) -> pd.DataFrame:
    vals = pd.DataFrame({
        S.RATER_ID: df[S.AUTHOR_ID].to_numpy(),
        "notesCurrentlyRatedHelpful": df[CRH_BOOL].to_numpy(dtype=np.float64),
        "notesCurrentlyRatedNotHelpful": df[CRNH_BOOL].to_numpy(dtype=np.float64),
        "notesAwaitingMoreRatings": df[AWAITING_BOOL].to_numpy(dtype=np.float64),
        "aggregateRatingReceivedTotal": _float(df[S.NUM_RATINGS]),
    })
    return vals.groupby(S.RATER_ID, sort=True).sum().reset_index()  # NaN numRatings count as 0


def note_counts(notes: pd.DataFrame) -> pd.DataFrame:
    """Per-author counts over all notes (spec 07 A.5): raterParticipantId + :data:`NOTE_COUNT_COLUMNS`.

    ``notesCurrentlyRatedHelpful = Σ crhBool``, ``…NotHelpful = Σ crnhBool``,
    ``notesAwaitingMoreRatings = Σ awaitingBool``, ``aggregateRatingReceivedTotal = Σ numRatings``.
    """
    return _author_sums(notes)


def recent_note_counts(
    notes: pd.DataFrame, last_earn_out: pd.Series | np.ndarray, *, n: int = 5,
) -> pd.DataFrame:
    """Counts over each author's last ``n`` notes since their last earn-out (spec 07 A.5).

    Keeps notes with ``createdAtMillis > last_earn_out`` (aligned with ``notes``), orders each
    author's notes by (decided first: CRH/CRNH → 1, NMR and anything else → 0; then noteId)
    descending and sums the first ``n``: the most recent decided notes, padded with the most
    recent undecided ones.
    """
    t = np.asarray(last_earn_out, dtype=np.float64)
    keep = notes[S.CREATED_AT].to_numpy(dtype=np.float64) > t
    df = notes.loc[keep]
    status = df["finalRatingStatus"].astype(object).to_numpy()
    decided = np.isin(status, [S.CRH, S.CRNH]).astype(np.int8)
    df = df.assign(_decided=decided).sort_values([S.AUTHOR_ID, "_decided", S.NOTE_ID],
                                                 ascending=[True, False, False], kind="mergesort")
    df = df[(df.groupby(S.AUTHOR_ID, sort=False).cumcount() < n).to_numpy()]
    return _author_sums(df)


# ---------------------------------------------------------------------------
# A.8 top not-helpful tags per author
# ---------------------------------------------------------------------------

def top_not_helpful_tags_per_author(
    status_history: pd.DataFrame, ratings: pd.DataFrame, *, config: ContributorConfig = ContributorConfig(),
) -> pd.DataFrame:
    """``authorTopNotHelpfulTagValues`` per NSH author (spec 07 A.8).

    Per note: sum each not-helpful tag over ``ratings``, keep tags with ≥ 2 ratings, notes with
    ≥ 2 such tags, and take the top two by (count, tie-break rank) (see
    :func:`cnlab.scoring.explanation_tags.top_two_tags`).  Per author: count how often each
    tag is a note's first or second tag and keep the two best by (count, tie-break rank);
    output their TSV indices (position in :data:`cnlab.schema.NOT_HELPFUL_TAGS`) joined by
    ``","`` — ``""`` for an author without tagged notes.

    Returns one row per NSH author: raterParticipantId (= the author), authorTopNotHelpfulTagValues.
    """
    _require(status_history, [S.NOTE_ID, S.AUTHOR_ID], "status_history")
    tags = list(S.NOT_HELPFUL_TAGS)
    # per-note tag sums a tag at a time on note codes (the unpacked frame grouped at once held
    # ~40 bytes a rating); integer counts, so the same sums as the groupby
    codes, notes = pd.factorize(ratings[S.NOTE_ID], sort=True)
    keep = None if len(codes) == 0 or codes.min() >= 0 else codes >= 0  # a groupby drops missing ids
    codes = codes[keep] if keep is not None else codes
    if len(notes) < 2**31:
        codes = codes.astype(np.int32)

    def per_tag(tag: str) -> np.ndarray:
        v = S.tag_values(ratings, tag, dtype=np.int32, na_value=0)
        return code_sums(codes, v[keep] if keep is not None else v, len(notes)).astype(np.int64)

    per_note = pd.DataFrame({t: per_tag(t) for t in tags}, index=pd.Index(notes, name=S.NOTE_ID))
    del codes, keep
    status = pd.Series(S.CRNH, index=per_note.index, dtype=object)
    top = top_two_tags(per_note, status, min_ratings_to_get_tag=config.min_ratings_to_get_tag)
    top = top[top["firstTag"].notna().to_numpy()]
    long = pd.concat([top["firstTag"], top["secondTag"]]).rename("tag").reset_index()

    authors = status_history[[S.NOTE_ID, S.AUTHOR_ID]]
    long = authors.merge(long, on=S.NOTE_ID, how="inner")
    counts = long.groupby([S.AUTHOR_ID, "tag"], sort=False).size().rename("n").reset_index()
    counts["rank"] = counts["tag"].map(NOT_HELPFUL_TIE_BREAK_RANK).astype(np.int64)
    counts["tsv"] = counts["tag"].map({t: i for i, t in enumerate(tags)}).astype(str)
    counts = counts.sort_values([S.AUTHOR_ID, "n", "rank"], ascending=[True, False, False], kind="mergesort")
    counts = counts[(counts.groupby(S.AUTHOR_ID, sort=False).cumcount() < 2).to_numpy()]
    joined = counts.groupby(S.AUTHOR_ID, sort=True)["tsv"].agg(",".join)

    out = authors[[S.AUTHOR_ID]].drop_duplicates().sort_values(S.AUTHOR_ID).reset_index(drop=True)
    vals = out[S.AUTHOR_ID].map(joined)
    out[TOP_TAGS] = vals.astype(object).where(vals.notna(), "")
    return out.rename(columns={S.AUTHOR_ID: S.RATER_ID})


# ---------------------------------------------------------------------------
# A.9 emerging writers
# ---------------------------------------------------------------------------

def emerging_writers(notes: pd.DataFrame, *, config: ContributorConfig = ContributorConfig()) -> pd.DataFrame:
    """``isEmergingWriter`` per author (spec 07 A.9).

    ::

        meanNoteScore = Σ coreNoteIntercept (NaN as 0) / #notes
        emerging      = meanNoteScore > 0.3  ∧  Σ numRatingsLast28 ≥ 10
    """
    df = pd.DataFrame({
        S.RATER_ID: notes[S.AUTHOR_ID].to_numpy(),
        "n": 1.0,
        "s": np.nan_to_num(_float(notes["coreNoteIntercept"]), nan=0.0),
        "r28": np.nan_to_num(_float(notes["numRatingsLast28"]), nan=0.0),
    })
    g = df.groupby(S.RATER_ID, sort=True).sum()
    flag = ((g["s"] / g["n"]) > config.emerging_mean_note_score) & (g["r28"] >= config.emerging_rating_count)
    return pd.DataFrame({S.RATER_ID: g.index.to_numpy(), EMERGING: flag.to_numpy(dtype=bool)})


# ---------------------------------------------------------------------------
# A.6 state machine
# ---------------------------------------------------------------------------

def _code(v):
    """String state → code; codes and unknown strings pass through (official ``_transform_to_thrift_code``)."""
    if isinstance(v, str):
        return ENROLLMENT_STATE_CODES.get(v, v)
    return v


def _not_in(state: np.ndarray, names) -> np.ndarray:
    # Elementwise ``!=`` against *string* names on an object array: integer codes written by
    # earlier steps never match, which reproduces the official mixed-type comparisons literally.
    out = np.ones(len(state), dtype=bool)
    for nm in names:
        out &= np.asarray(state != nm, dtype=bool)
    return out


def _enrollment_frame(enrollment: pd.DataFrame | None) -> pd.DataFrame:
    cols = [S.PARTICIPANT_ID, S.ENROLLMENT_STATE, NEEDED_TO_EARN_IN, TIMESTAMP_OF_LAST_STATE_CHANGE,
            TIMESTAMP_OF_LAST_EARN_OUT, TIMES_EARNED_OUT]
    if enrollment is None:
        return pd.DataFrame({c: pd.Series(dtype=object if c == S.ENROLLMENT_STATE else np.float64)
                             for c in cols})
    _require(enrollment, cols, "enrollment")
    e = enrollment[cols].copy()
    e[S.ENROLLMENT_STATE] = e[S.ENROLLMENT_STATE].astype(object)
    e[S.ENROLLMENT_STATE] = e[S.ENROLLMENT_STATE].where(e[S.ENROLLMENT_STATE].notna(), None)
    for c in cols[2:]:
        e[c] = _float(e[c])
    return e


def contributor_state(
    notes: pd.DataFrame,
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame | None,
    *,
    epoch_millis: int,
    config: ContributorConfig = ContributorConfig(),
    counts: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Enrollment state transitions (spec 07 A.6).

    Per contributor (rater with a candidate rating, or author with a note since their last
    earn-out): rating counts (all time) + last-5 note counts (NaN → 0),
    ``hasCrnhSinceEarnOut = CRNH₅ > 0``, top NH tags, emerging flag, and the enrollment row
    (missing: state ``newUser``, ``successfulRatingNeededToEarnIn = 5``).  With
    ``ratingImpact = successfulRatingTotal − unsuccessfulRatingTotal −
    unsuccessfulRatingNotHelpfulCount`` the transitions, in order, are

    1. earn in: state ∉ {removed, earnedIn, atRisk, api*} ∧ ratingImpact ≥ needed → 0;
    2. at risk: state ∉ {removed, newUser, earnedOut*, atRisk, api*} ∧ CRNH₅ == 2 → 1;
    3. earned out: state ∉ {removed, newUser, earnedOutAcknowledged, api*} ∧ CRNH₅ > 2 →
       ``numberOfTimesEarnedOut += 1``, → 2;
    4. back in: state ∉ {removed, newUser, earnedOut*, earnedIn, api*} ∧ CRNH₅ < 2 → 0;

    each stamping ``timestampOfLastStateChange = epoch_millis``.  Exclusions compare with the
    *string* names, so a user moved to a code by an earlier step is never excluded later
    (literal reproduction).  Remaining names are then mapped to codes.  Input
    ``earnedOutAcknowledged`` users first get ``timestampOfLastEarnOut = epoch_millis``.

    Parameters
    ----------
    counts
        Precomputed :func:`rating_counts` (computed here if omitted).

    Returns
    -------
    (state, prev_state): ``state`` has raterParticipantId, timestampOfLastStateChange,
    enrollmentState, successfulRatingNeededToEarnIn, authorTopNotHelpfulTagValues,
    isEmergingWriter, numberOfTimesEarnedOut, ratingImpact, hasCrnhSinceEarnOut;
    ``prev_state`` is the enrollment's participantId, timestampOfLastEarnOut (after the
    overwrite) and ``enrollmentState_prev`` (codes).
    """
    enr = _enrollment_frame(enrollment)
    acked = (enr[S.ENROLLMENT_STATE] == "earnedOutAcknowledged").to_numpy(dtype=bool)
    enr.loc[acked, TIMESTAMP_OF_LAST_EARN_OUT] = float(epoch_millis)

    leo = notes[[S.AUTHOR_ID]].merge(
        enr[[S.PARTICIPANT_ID, TIMESTAMP_OF_LAST_EARN_OUT]].drop_duplicates(S.PARTICIPANT_ID),
        left_on=S.AUTHOR_ID, right_on=S.PARTICIPANT_ID, how="left")
    last_earn_out = _float(leo[TIMESTAMP_OF_LAST_EARN_OUT])
    last_earn_out = np.where(np.isnan(last_earn_out), float(config.default_timestamp_of_last_earn_out),
                             last_earn_out)

    if counts is None:
        counts = rating_counts(ratings, status_history, notes)
    recent = recent_note_counts(notes, last_earn_out, n=config.max_history_earn_out)
    cs = counts.merge(recent, on=S.RATER_ID, how="outer")
    num = [c for c in cs.columns if c != S.RATER_ID]
    cs[num] = cs[num].fillna(0.0)
    cs[HAS_CRNH_SINCE_EARN_OUT] = (cs["notesCurrentlyRatedNotHelpful"] > 0).to_numpy()

    # Author-only rows of the tag / emerging frames lose their id in the official outer merges
    # and are dropped at the end, so a left merge is equivalent.
    cs = cs.merge(top_not_helpful_tags_per_author(status_history, ratings, config=config),
                  on=S.RATER_ID, how="left")
    cs = cs.merge(emerging_writers(notes, config=config), on=S.RATER_ID, how="left")
    cs = cs.merge(enr.drop_duplicates(S.PARTICIPANT_ID), left_on=S.RATER_ID, right_on=S.PARTICIPANT_ID,
                  how="left").drop(columns=[S.PARTICIPANT_ID])

    state = cs[S.ENROLLMENT_STATE].astype(object).to_numpy(copy=True)
    state[pd.isna(state)] = "newUser"
    needed = cs[NEEDED_TO_EARN_IN].fillna(float(config.rating_impact_for_earn_in)).to_numpy(dtype=np.float64)
    cs[EMERGING] = _as_bool(cs[EMERGING])
    ts = cs[TIMESTAMP_OF_LAST_STATE_CHANGE].to_numpy(dtype=np.float64, copy=True)
    times = cs[TIMES_EARNED_OUT].to_numpy(dtype=np.float64, copy=True)
    impact = (cs["successfulRatingTotal"] - cs["unsuccessfulRatingTotal"]
              - cs["unsuccessfulRatingNotHelpfulCount"]).to_numpy(dtype=np.float64)
    crnh5 = cs["notesCurrentlyRatedNotHelpful"].to_numpy(dtype=np.float64)
    k = config.is_at_risk_crnh_count
    epoch = float(epoch_millis)

    with np.errstate(invalid="ignore"):
        m = _not_in(state, ("removed", "earnedIn", "atRisk", *_API_STATES)) & (impact >= needed)
        state[m], ts[m] = ENROLLMENT_STATE_CODES["earnedIn"], epoch
        m = _not_in(state, ("removed", "newUser", "earnedOutNoAcknowledge", "earnedOutAcknowledged", "atRisk",
                            *_API_STATES)) & (crnh5 == k)
        state[m], ts[m] = ENROLLMENT_STATE_CODES["atRisk"], epoch
        m = _not_in(state, ("removed", "newUser", "earnedOutAcknowledged", *_API_STATES)) & (crnh5 > k)
        times[m] += 1
        state[m], ts[m] = ENROLLMENT_STATE_CODES["earnedOutNoAcknowledge"], epoch
        m = _not_in(state, ("removed", "newUser", "earnedOutAcknowledged", "earnedOutNoAcknowledge", "earnedIn",
                            *_API_STATES)) & (crnh5 < k)
        state[m], ts[m] = ENROLLMENT_STATE_CODES["earnedIn"], epoch

    out = pd.DataFrame({
        S.RATER_ID: cs[S.RATER_ID].to_numpy(),
        TIMESTAMP_OF_LAST_STATE_CHANGE: ts,
        S.ENROLLMENT_STATE: np.array([_code(v) for v in state], dtype=object),
        NEEDED_TO_EARN_IN: needed,
        TOP_TAGS: cs[TOP_TAGS].astype(object).to_numpy(),
        EMERGING: cs[EMERGING].to_numpy(dtype=bool),
        TIMES_EARNED_OUT: times,
        RATING_IMPACT: impact,
        HAS_CRNH_SINCE_EARN_OUT: cs[HAS_CRNH_SINCE_EARN_OUT].to_numpy(dtype=bool),
    })
    out = out[pd.notna(out[S.RATER_ID]).to_numpy()].reset_index(drop=True)

    prev = enr[[S.PARTICIPANT_ID, TIMESTAMP_OF_LAST_EARN_OUT]].copy()
    prev[S.ENROLLMENT_STATE + "_prev"] = np.array([_code(v) for v in enr[S.ENROLLMENT_STATE]], dtype=object)
    return out, prev


# ---------------------------------------------------------------------------
# A.7 post-processing
# ---------------------------------------------------------------------------

def single_trigger_earn_out(frame: pd.DataFrame, *, epoch_millis: int) -> pd.DataFrame:
    """Earn out writers with negative writing impact and a recent CRNH (spec 07 A.7.2).

    Users with (all-notes) CRNH > CRH (NaN → 0), ``hasCrnhSinceEarnOut`` and state ∉ {2, 3, 4, 5}
    get ``numberOfTimesEarnedOut += 1``, state 2 and ``timestampOfLastStateChange = epoch``.
    (Code requires a *negative* writing impact; API states are not excluded.)  Drops
    ``hasCrnhSinceEarnOut``.
    """
    df = frame.copy()
    crnh = df["notesCurrentlyRatedNotHelpful"].fillna(0).to_numpy(dtype=np.float64)
    crh = df["notesCurrentlyRatedHelpful"].fillna(0).to_numpy(dtype=np.float64)
    has = (df[HAS_CRNH_SINCE_EARN_OUT].astype(object) == True).to_numpy(dtype=bool)  # noqa: E712 (NaN → False)
    state = df[S.ENROLLMENT_STATE].astype(object).to_numpy(copy=True)
    excluded = _is_code(state, (2, 3, 4, 5))
    m = (crnh > crh) & has & ~excluded
    times = df[TIMES_EARNED_OUT].to_numpy(dtype=np.float64, copy=True)
    ts = df[TIMESTAMP_OF_LAST_STATE_CHANGE].to_numpy(dtype=np.float64, copy=True)
    times[m] += 1
    state[m] = ENROLLMENT_STATE_CODES["earnedOutNoAcknowledge"]
    ts[m] = float(epoch_millis)
    df[TIMES_EARNED_OUT], df[TIMESTAMP_OF_LAST_STATE_CHANGE], df[S.ENROLLMENT_STATE] = times, ts, state
    return df.drop(columns=[HAS_CRNH_SINCE_EARN_OUT])


def _is_code(state: np.ndarray, codes) -> np.ndarray:
    """Elementwise: is the value one of the integer ``codes`` (strings and NaN never are)."""
    num = pd.to_numeric(pd.Series(state, dtype=object).where(~_is_str(state), np.nan), errors="coerce")
    return np.isin(num.to_numpy(dtype=np.float64, na_value=np.nan), np.asarray(codes, dtype=np.float64))


def _is_str(state: np.ndarray) -> np.ndarray:
    return np.fromiter((isinstance(v, str) for v in state), dtype=bool, count=len(state))


def rating_impact_to_earn_in(frame: pd.DataFrame, *, config: ContributorConfig = ContributorConfig()) -> pd.DataFrame:
    """Rating impact needed to earn back in for earned-out users (spec 07 A.7.3).

    For state 2 (newly earned out, or input earnedOutNoAcknowledge not earned in)::

        needed = 5 + max(ratingImpact, 0) + 5·max(numberOfTimesEarnedOut − 1, 0)
        top writer (CRH − CRNH ≥ 10 ∧ (CRH − CRNH) / max(CRH + CRNH + NMR, 1) ≥ 0.04):
        needed = 5 + max(ratingImpact, 0)

    (NaN ratingImpact / count → 0; counts are all-notes), then state 2 → 3.  Drops ``ratingImpact``.
    """
    df = frame.copy()
    state = df[S.ENROLLMENT_STATE].astype(object).to_numpy(copy=True)
    out_mask = _is_code(state, (2,))
    base = float(config.rating_impact_for_earn_in)
    ri = np.nan_to_num(df[RATING_IMPACT].to_numpy(dtype=np.float64), nan=0.0)
    times = np.nan_to_num(df[TIMES_EARNED_OUT].to_numpy(dtype=np.float64), nan=0.0)
    escalating = base + np.maximum(ri, 0.0) + base * np.maximum(times - 1.0, 0.0)
    flat = base + np.maximum(ri, 0.0)
    crh = df["notesCurrentlyRatedHelpful"].to_numpy(dtype=np.float64)
    crnh = df["notesCurrentlyRatedNotHelpful"].to_numpy(dtype=np.float64)
    nmr = df["notesAwaitingMoreRatings"].to_numpy(dtype=np.float64)
    total = crh + crnh + nmr
    total = np.where(np.isnan(total), np.nan, np.maximum(total, 1.0))  # official max([NaN, 1]) is NaN
    wi = crh - crnh
    with np.errstate(invalid="ignore"):
        top = (wi >= config.top_writer_writing_impact) & ((wi / total) >= config.top_writer_hit_rate)
    needed = df[NEEDED_TO_EARN_IN].to_numpy(dtype=np.float64, copy=True)
    needed[out_mask] = np.where(top[out_mask], flat[out_mask], escalating[out_mask])
    state[out_mask] = ENROLLMENT_STATE_CODES["earnedOutAcknowledged"]
    df[NEEDED_TO_EARN_IN], df[S.ENROLLMENT_STATE] = needed, state
    return df.drop(columns=[RATING_IMPACT])


def recent_status_totals(
    status_history: pd.DataFrame, ratings: pd.DataFrame, *, days: int, require_status_or_ratings: bool,
    min_ratings: int = 10, suffix: str | None = None,
) -> pd.DataFrame:
    """Per-author CRH / CRNH / NMR counts of recently created notes (spec 07 A.7.5).

    Notes of the (new) NSH with ``createdAtMillis > max(NSH createdAtMillis) − days``; with
    ``require_status_or_ratings`` only those with ≥ 1 rating in ``ratings`` and (≥ ``min_ratings``
    ratings or currentStatus ∈ {CRH, CRNH}).  Counts currentStatus per author into
    ``crhTotal<suffix>, crnhTotal<suffix>, nmrTotal<suffix>`` (suffix defaults to ``f"{days}d"``).
    """
    _require(status_history, [S.NOTE_ID, S.AUTHOR_ID, S.CREATED_AT, "currentStatus"], "status_history")
    sfx = suffix or f"{days}d"
    cols = [f"crhTotal{sfx}", f"crnhTotal{sfx}", f"nmrTotal{sfx}"]
    nsh = status_history
    created = nsh[S.CREATED_AT].to_numpy(dtype=np.float64)
    if len(nsh) == 0:
        return pd.DataFrame({S.RATER_ID: nsh[S.AUTHOR_ID].to_numpy(), **{c: np.zeros(0, np.int64) for c in cols}})
    keep = created > np.nanmax(created) - days * 86_400_000
    status = nsh["currentStatus"].astype(object).to_numpy()
    if require_status_or_ratings:
        n = nsh[S.NOTE_ID].map(ratings[S.NOTE_ID].value_counts()).fillna(0).to_numpy(dtype=np.int64)
        keep &= (n >= 1) & ((n >= min_ratings) | np.isin(status, [S.CRH, S.CRNH]))
    df = pd.DataFrame({
        S.RATER_ID: nsh[S.AUTHOR_ID].to_numpy()[keep],
        cols[0]: (status[keep] == S.CRH).astype(np.int64),
        cols[1]: (status[keep] == S.CRNH).astype(np.int64),
        cols[2]: (status[keep] == S.NMR).astype(np.int64),
    })
    return df.groupby(S.RATER_ID, sort=True).sum().reset_index()


# ---------------------------------------------------------------------------
# Top level
# ---------------------------------------------------------------------------

_INT_COLUMNS = (S.ENROLLMENT_STATE, NEEDED_TO_EARN_IN, TIMESTAMP_OF_LAST_STATE_CHANGE, TIMES_EARNED_OUT)
_TOTAL_COLUMNS = ("crhTotal14d", "crnhTotal14d", "nmrTotal14d", "crhTotal90d", "crnhTotal90d", "nmrTotal90d")


def _to_int(s: pd.Series) -> pd.Series:
    vals = s.astype(object)
    if _is_str(vals.to_numpy()).any():
        return vals  # unknown enrollment strings are kept (official behaviour)
    return pd.to_numeric(vals, errors="coerce").astype("Int64")


def contributor_scores(
    scored_notes: pd.DataFrame,
    aux_note_info: pd.DataFrame,
    new_status_history: pd.DataFrame,
    ratings: pd.DataFrame,
    notes: pd.DataFrame | None,
    enrollment: pd.DataFrame | None,
    prescoring_rater_output: pd.DataFrame,
    *,
    epoch_millis: int,
    config: ContributorConfig = ContributorConfig(),
) -> pd.DataFrame:
    """Run the contributor scoring phase (spec 07 A) → ``helpfulness_scores`` frame.

    Parameters
    ----------
    scored_notes
        Final scored notes: noteId, createdAtMillis, finalRatingStatus, numRatings (post-PSS),
        coreNoteIntercept (optional).
    aux_note_info
        Final aux: noteId, createdAtMillis, noteAuthorParticipantId, crhBool, crnhBool,
        awaitingBool, numRatingsLast28.  Same notes as ``scored_notes``.
    new_status_history
        The NSH written by this run (noteId, noteAuthorParticipantId, createdAtMillis,
        currentStatus, timestampMillisOfLatestNonNMRStatus).
    ratings
        Preprocessed, **not** PSS-coalesced ratings: noteId, raterParticipantId, createdAtMillis,
        helpfulNum, and the 13 not-helpful tags (0/1 columns or ``notHelpfulTagBits``).
    notes
        Unused (kept for the official signature; the author comes from aux / NSH).
    enrollment
        userEnrollment: participantId, enrollmentState, successfulRatingNeededToEarnIn,
        timestampOfLastStateChange, timestampOfLastEarnOut, modelingGroup,
        numberOfTimesEarnedOut (``None`` = nobody enrolled).
    prescoring_rater_output
        All prescorers' rater rows with ``scorerName`` (+ PSS rows with NaN scorerName).
    epoch_millis
        The run's "now".

    Returns
    -------
    DataFrame with exactly :data:`cnlab.schema.HELPFULNESS_SCORES_COLUMNS`, one row per
    contributor, sorted by raterParticipantId.  Counts are float64 (NaN = not a rater / not an
    author, as officially), state columns nullable ``Int64``, flags nullable ``boolean``.
    """
    del notes
    nws = scored_notes_with_stats(scored_notes, aux_note_info)
    counts = rating_counts(ratings, new_status_history, nws)
    all_counts = counts.merge(note_counts(nws), on=S.RATER_ID, how="outer")
    state, prev = contributor_state(nws, ratings, new_status_history, enrollment, epoch_millis=epoch_millis,
                                    config=config, counts=counts)

    cs = all_counts.merge(state, on=S.RATER_ID, how="outer")
    cs = single_trigger_earn_out(cs, epoch_millis=epoch_millis)
    cs = rating_impact_to_earn_in(cs, config=config)

    params = rater_parameter_columns(prescoring_rater_output, enrollment, config=config)
    out = params.merge(cs, on=S.RATER_ID, how="outer")
    out = out.merge(prev.drop_duplicates(S.PARTICIPANT_ID), left_on=S.RATER_ID, right_on=S.PARTICIPANT_ID,
                    how="left").drop(columns=[S.PARTICIPANT_ID])
    st = out[S.ENROLLMENT_STATE].astype(object)
    out[S.ENROLLMENT_STATE] = st.where(st.notna(), out[S.ENROLLMENT_STATE + "_prev"].astype(object))
    out = out.drop(columns=[S.ENROLLMENT_STATE + "_prev"])
    out[TIMESTAMP_OF_LAST_EARN_OUT] = _float(out[TIMESTAMP_OF_LAST_EARN_OUT])
    out[TIMESTAMP_OF_LAST_EARN_OUT] = out[TIMESTAMP_OF_LAST_EARN_OUT].fillna(
        float(config.default_timestamp_of_last_earn_out))

    for days, strict in ((config.short_window_days, True), (config.long_window_days, False)):
        tot = recent_status_totals(new_status_history, ratings, days=days, require_status_or_ratings=strict,
                                   min_ratings=config.short_window_min_ratings)
        out = out.merge(tot, on=S.RATER_ID, how="left")
    for c in _TOTAL_COLUMNS:
        out[c] = out[c].fillna(0).astype(np.int64)

    for c in _INT_COLUMNS:
        out[c] = _to_int(out[c])
    out[EMERGING] = out[EMERGING].astype("boolean")
    out = out.sort_values(S.RATER_ID, kind="mergesort").reset_index(drop=True)
    # k-factor runs (ScoringConfig.n_factors): rater axes 2..k after their axis-1 column
    cols = S.with_extra_factor_columns(S.HELPFULNESS_SCORES_COLUMNS, out.columns)
    out = out[cols]
    S.check_output_columns(out, cols, where="contributor_scores")
    return out
