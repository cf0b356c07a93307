"""One scorer's note statuses from its MF parameters (spec 03 §4, 02 §4.3)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.scoring import rules as R
from cnlab.scoring.config import RuleThresholds
from cnlab.scoring.factors import factor_columns
from cnlab.scoring.incorrect_filter import incorrect_aggregates
from cnlab.scoring.note_stats import (
    compute_note_stats,
    note_counts_by_rater_sign,
    population_sampled_counts_by_rater_sign,
)
from cnlab.scoring.tag_filter import note_tag_aggregates

__all__ = ["compute_scored_notes", "DROPPED_AFTER_RULES"]

# Columns the official code drops after the rules ran (spec 03 §4).
DROPPED_AFTER_RULES = (
    R.LOCKED_STATUS, R.MIN_SIGN_COUNT, R.NEG_MEAN, R.POS_MEAN, R.NET_MIN_HELPFUL,
    R.NET_MIN_HELPFUL_RATIO, "numPopulationSampledRatings",
)

_PARAM_EXTRAS = (R.NOTE_INTERCEPT_MIN, R.NOTE_INTERCEPT_MAX)
_UNCERTAINTY_PREFIX = "internalNoteIntercept_"


def _intercept_frame(frame: pd.DataFrame | None, target: str) -> pd.DataFrame | None:
    """noteId + ``target`` from a frame holding either ``target`` or ``internalNoteIntercept``."""
    if frame is None:
        return None
    src = target if target in frame.columns else S.NOTE_INTERCEPT
    return frame[[S.NOTE_ID, src]].rename(columns={src: target})


def _fill_sides(stats: pd.DataFrame) -> pd.DataFrame:
    """Notes without sign counts: 0 for counts/ratio, means stay NaN (spec 03 §2.2)."""
    stats[R.MIN_SIGN_COUNT] = stats[R.MIN_SIGN_COUNT].fillna(0).astype(np.int32)
    stats[R.NET_MIN_HELPFUL] = stats[R.NET_MIN_HELPFUL].fillna(0).astype(np.int32)
    stats[R.NET_MIN_HELPFUL_RATIO] = stats[R.NET_MIN_HELPFUL_RATIO].fillna(0).astype(np.float32)
    for c in ("negFactor_ratingCount", "posFactor_ratingCount"):
        stats[c] = stats[c].fillna(0).astype(np.int64)
    return stats


def compute_scored_notes(
    ratings: pd.DataFrame,
    note_params: pd.DataFrame,
    rater_params: pd.DataFrame,
    status_history: pd.DataFrame,
    *,
    thresholds: RuleThresholds,
    final_round: bool,
    epoch_millis: int,
    tag_thresholds: Mapping[str, float] | None = None,
    no_high_vol: pd.DataFrame | None = None,
    no_correlated: pd.DataFrame | None = None,
    population_sampled: pd.DataFrame | None = None,
    on_violation: str = "warn",
    factor_rule: str = "norm",
) -> pd.DataFrame:
    """Statuses of one scorer's notes: statistics + ordered rules (spec 03 §4).

    noteStats = note stats (§2.1) ⟕ counts by rater sign (§2.2) ⟕ note params ⟕
    population-sampled counts (§2.3) [⟕ tag aggregates (§5) ⟕ incorrect aggregates (§6) in the
    final round], then :func:`cnlab.scoring.rules.scorer_rules` applied with
    :func:`~cnlab.scoring.rules.apply_rules`.

    Parameters
    ----------
    ratings
        The scorer's full scoped ratings (noteId, raterParticipantId, helpfulNum, createdAtMillis,
        tag columns or tag bits, ratingSourceBucketed).
    note_params
        noteId, internalNoteIntercept, internalNoteFactor1 [, lowDiligenceNoteIntercept,
        internalNoteIntercept_min/_max, …].
    rater_params
        raterParticipantId, internalRaterFactor1 [, incorrectTagRatingsMadeByRater,
        totalRatingsMadeByRater for the incorrect filter].
    status_history
        NSH in scope (with ``classification``); defines the output rows.
    thresholds
        The scorer's :class:`RuleThresholds`.
    final_round
        Prescoring intermediate labels (False) or final scoring (True).
    epoch_millis
        "Now" for ``numRatingsLast28``.
    tag_thresholds
        Prescoring tag thresholds (``"<tag>AdjustedRatio"`` keys); TagFilter runs only if given.
    no_high_vol, no_correlated, population_sampled
        Frames from the extra MF calls (noteId + ``internalNoteIntercept`` or the renamed column);
        NoHighVolIntercept / NoCorrelatedIntercept run only when their frame is given.
    on_violation
        ``"warn"`` or ``"raise"`` when the inertia rule's official assertion fails.
    factor_rule
        ``"norm"`` or ``"axis"``: the k-D form of the rules that read the factor when
        ``note_params`` / ``rater_params`` hold ``internal{Note,Rater}Factor2..k``
        (:mod:`cnlab.scoring.factors`); the axis-2..k note factors are kept in the output. The
        per-side statistics (rater factor < 0 / ≥ 0) read the sign of axis 1; with ``"axis"``
        those of axes 2..k are added for RatioCRNH, MinMinorityRaters and RaterBalance (and
        dropped after the rules).

    Returns
    -------
    DataFrame
        One row per NSH note: NSH columns (author, classification, currentStatus), counts and tags,
        params, per-sign and population-sampled counts, aggregates (final round),
        ``internalRatingStatus``, ``internalActiveRules``, ``activeFilterTags``, crh/crnh/awaitingBool.
    """
    stats = compute_note_stats(ratings, status_history, epoch_millis=epoch_millis)
    stats = stats.drop(columns=[c for c in ("numRatingsLast28", S.CREATED_AT) if c in stats.columns])

    signs = note_counts_by_rater_sign(ratings, rater_params)
    stats = stats.merge(signs, on=S.NOTE_ID, how="left")
    # Notes without sign counts: 0 for counts/ratio, means stay NaN (spec 03 §2.2).
    stats = _fill_sides(stats)
    axis_cols: list[str] = []
    if factor_rule == "axis":
        # k-factor "axis" rule: the side statistics of every axis j ≥ 2 as "<col>@<j>" columns;
        # RatioCRNH / MinMinorityRaters / RaterBalance combine them (rules.SIDE_AXIS_SEP)
        for j, col in enumerate(factor_columns(rater_params, S.RATER_FACTOR1)[1:], start=2):
            one = rater_params[[S.RATER_ID, col]].rename(columns={col: S.RATER_FACTOR1})
            sj = _fill_sides(stats[[S.NOTE_ID]].merge(note_counts_by_rater_sign(ratings, one), on=S.NOTE_ID,
                                                      how="left"))
            sj = sj[[S.NOTE_ID, *R.SIDE_COLUMNS]].rename(columns={c: R.side_axis_column(c, j) for c in R.SIDE_COLUMNS})
            axis_cols += [c for c in sj.columns if c != S.NOTE_ID]
            stats = stats.merge(sj, on=S.NOTE_ID, how="left")

    pcols = [S.NOTE_ID, S.NOTE_INTERCEPT, *factor_columns(note_params, S.NOTE_FACTOR1)]
    if final_round and R.LOW_DILIGENCE_INTERCEPT in note_params.columns:
        pcols.append(R.LOW_DILIGENCE_INTERCEPT)
    pcols += [c for c in note_params.columns if c.startswith(_UNCERTAINTY_PREFIX) and c not in pcols]
    pcols += [c for c in (R.NOTE_INTERCEPT_NO_HIGH_VOL, R.NOTE_INTERCEPT_NO_CORRELATED,
                          R.NOTE_INTERCEPT_POPULATION_SAMPLED) if c in note_params.columns and c not in pcols]
    stats = stats.merge(note_params[pcols], on=S.NOTE_ID, how="left")
    for frame, col in ((no_high_vol, R.NOTE_INTERCEPT_NO_HIGH_VOL), (no_correlated, R.NOTE_INTERCEPT_NO_CORRELATED),
                       (population_sampled, R.NOTE_INTERCEPT_POPULATION_SAMPLED)):
        f = _intercept_frame(frame, col)
        if f is not None:
            stats = stats.drop(columns=[col], errors="ignore").merge(f, on=S.NOTE_ID, how="left")

    pop = population_sampled_counts_by_rater_sign(ratings, rater_params)
    stats = stats.merge(pop, on=S.NOTE_ID, how="left")
    for c in ("negFactor_populationSampledRatingCount", "posFactor_populationSampledRatingCount"):
        stats[c] = stats[c].fillna(0).astype(np.int64)

    if final_round:
        # Left joins keep one row per NSH note (the official outer join can only add notes
        # that have params but no NSH row, which compute_note_stats already rules out).
        tags = note_tag_aggregates(ratings, note_params, rater_params, factor_rule=factor_rule)
        stats = stats.merge(tags, on=S.NOTE_ID, how="left")
        if {"incorrectTagRatingsMadeByRater", "totalRatingsMadeByRater"} <= set(rater_params.columns):
            inc = incorrect_aggregates(ratings, note_params, rater_params, factor_rule=factor_rule)
            stats = stats.merge(inc, on=S.NOTE_ID, how="left")

    rule_list = R.scorer_rules(
        thresholds, final_round=final_round,
        has_no_high_vol=final_round and (no_high_vol is not None or R.NOTE_INTERCEPT_NO_HIGH_VOL in note_params.columns),
        has_no_correlated=final_round and (no_correlated is not None or R.NOTE_INTERCEPT_NO_CORRELATED in note_params.columns),
        tag_thresholds=tag_thresholds if final_round else None, on_violation=on_violation,
        factor_rule=factor_rule,
    )
    outcome = R.apply_rules(stats, rule_list).to_frame()
    if S.ACTIVE_FILTER_TAGS not in outcome.columns:
        outcome[S.ACTIVE_FILTER_TAGS] = pd.Series(np.nan, index=outcome.index, dtype=object)
    out = stats.drop(columns=[c for c in (*DROPPED_AFTER_RULES, *axis_cols) if c in stats.columns]
                     ).reset_index(drop=True)
    for c in outcome.columns:
        if c != S.NOTE_ID:
            out[c] = outcome[c].to_numpy()
    return out
