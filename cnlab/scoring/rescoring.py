"""``rescoringActiveRules`` of a full run (spec 04 §10.2, first bullet; official
``run_final_note_scoring`` "no previous scored notes" branch and ``determine_which_notes_to_rescore``).

A full run scores every note; the note subsets of incremental scoring only label the notes (and
drive the optional flip checks).  Each note gets the comma-joined names, in this order, of the
subsets that contain it:

``ALL_NOTES``
    every note;
``NOTES_CREATED_SOMEWHAT_RECENTLY``
    status-history ``createdAtMillis`` ∈ [now − 13 d, now − 3 d);
``NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH``
    ``createdAtMillis`` > now − 14 d **and** ``timestampMillisOfCurrentStatus`` < now − 1 d
    (strict; a missing timestamp is in neither), minus the notes with ratings newer than the
    previous rating cutoff — an empty set in a full run (no ``--previous-rating-cutoff-millis``).

All comparisons use the *input* note status history.

"now" (a deliberate, documented difference)
-------------------------------------------
The official code reads the wall clock (``time.time()``) here, even when ``--epoch-millis`` is
given, so its column depends on when the run happened.  cnlab uses the run's ``epoch_millis``
(the same "now" as every other clock of the run): the column is reproducible and consistent with
the rest of the outputs.  To reproduce an official file, pass the official run's wall time as
``now`` (:func:`rescoring_active_rules` is a pure function); :func:`consistent_now_intervals` recovers
the wall times consistent with an official column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab._arrays import isin

__all__ = [
    "ALL_NOTES",
    "NOTES_CREATED_SOMEWHAT_RECENTLY",
    "NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH",
    "FULL_RUN_SUBSETS",
    "RescoringConfig",
    "full_run_subsets",
    "consistent_now_intervals",
    "rescoring_active_rules",
]

#: Official ``c.RescoringRuleID`` names used by a full run, in the order they are appended.
ALL_NOTES = "ALL_NOTES"
NOTES_CREATED_SOMEWHAT_RECENTLY = "NOTES_CREATED_SOMEWHAT_RECENTLY"
NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH = "NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH"
FULL_RUN_SUBSETS: tuple[str, ...] = (ALL_NOTES, NOTES_CREATED_SOMEWHAT_RECENTLY,
                                     NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH)

_DAY = 24 * 60 * 60 * 1000
_CURRENT_STATUS_TIME = "timestampMillisOfCurrentStatus"


@dataclass(frozen=True)
class RescoringConfig:
    """Windows of the full-run subsets (official constants, milliseconds)."""

    somewhat_recent_max_age_millis: int = 13 * _DAY
    """``recentNotesAgeTooOldCutoffMillis`` (13 days): created at or after now − this."""
    somewhat_recent_min_age_millis: int = 3 * _DAY
    """``recentNotesAgeTooRecentCutoffMillis`` (3 days; the official comment says 2): created
    strictly before now − this."""
    recent_note_max_age_millis: int = 14 * _DAY
    """``recentNotesAgeCutoffMillis`` of ``determine_which_notes_to_rescore`` (14 days): created
    strictly after now − this."""
    min_rescore_interval_millis: int = 1 * _DAY
    """``scoreRecentNotesMinimumFrequencyMillis`` (1 day): current status strictly older than
    now − this."""


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def full_run_subsets(
    status_history: pd.DataFrame,
    *,
    now: int,
    config: RescoringConfig = RescoringConfig(),
) -> dict[str, np.ndarray]:
    """Note ids of each full-run subset (spec 04 §10.2), from the input status history.

    ``ALL_NOTES`` lists every note of ``status_history``; the windows are evaluated in float64
    milliseconds (NaN → not in the subset), with the official inclusive / strict bounds.
    """
    schema.require_columns(status_history, [schema.NOTE_ID, schema.CREATED_AT], where="note status history")
    ids = status_history[schema.NOTE_ID].to_numpy()
    created = _num(status_history, schema.CREATED_AT)
    current = _num(status_history, _CURRENT_STATUS_TIME)
    now = float(now)
    somewhat = ((created >= now - config.somewhat_recent_max_age_millis)
                & (created < now - config.somewhat_recent_min_age_millis))
    new_not_rescored = ((created > now - config.recent_note_max_age_millis)
                        & (current < now - config.min_rescore_interval_millis))
    return {
        ALL_NOTES: ids,
        NOTES_CREATED_SOMEWHAT_RECENTLY: ids[somewhat],
        NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH: ids[new_not_rescored],
    }


def rescoring_active_rules(
    note_ids: pd.Series | np.ndarray,
    status_history: pd.DataFrame,
    *,
    now: int,
    config: RescoringConfig = RescoringConfig(),
) -> pd.Series:
    """``rescoringActiveRules`` for ``note_ids`` (one string per id, in input order).

    Every note is in ``ALL_NOTES``; the other names are appended, comma-separated, in the order
    of :data:`FULL_RUN_SUBSETS` (official: ``rescoringActiveRules + "," + name``).
    """
    subsets = full_run_subsets(status_history, now=now, config=config)
    ids = np.asarray(note_ids)
    out = np.full(len(ids), ALL_NOTES, dtype=object)
    for name in FULL_RUN_SUBSETS[1:]:
        hit = isin(ids, subsets[name])
        out[hit] = out[hit] + "," + name
    index = note_ids.index if isinstance(note_ids, pd.Series) else None
    return pd.Series(out, index=index, name="rescoringActiveRules", dtype=object)


def _membership_windows(created: float, current: float, config: RescoringConfig) -> dict[str, tuple[int, int] | None]:
    """For one note, the closed integer ranges of "now" (ms) that put it in each window subset."""
    out: dict[str, tuple[int, int] | None] = {NOTES_CREATED_SOMEWHAT_RECENTLY: None,
                                               NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH: None}
    if np.isnan(created):
        return out
    c = int(created)
    # c >= now − 13 d and c < now − 3 d  ⇔  c + 3 d < now <= c + 13 d
    out[NOTES_CREATED_SOMEWHAT_RECENTLY] = (c + config.somewhat_recent_min_age_millis + 1,
                                            c + config.somewhat_recent_max_age_millis)
    if not np.isnan(current):
        # c > now − 14 d and t < now − 1 d  ⇔  t + 1 d < now < c + 14 d
        out[NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH] = (int(current) + config.min_rescore_interval_millis + 1,
                                                       c + config.recent_note_max_age_millis - 1)
    return out


def consistent_now_intervals(
    status_history: pd.DataFrame,
    official_rules: Mapping[int, str] | pd.Series,
    *,
    config: RescoringConfig = RescoringConfig(),
) -> list[tuple[int, int]]:
    """Every "now" (integer ms) for which :func:`rescoring_active_rules` reproduces
    ``official_rules`` (noteId → rescoringActiveRules) on the notes of ``status_history``, as a
    sorted list of closed intervals ``[lo, hi]`` (empty: no single "now" explains the column).

    Used to recover the wall-clock time of an official run (spec 04 §5: the official code reads
    the wall clock here).  Notes missing from ``official_rules`` are ignored.
    """
    rules = pd.Series(official_rules)
    nsh = status_history.drop_duplicates(schema.NOTE_ID)
    created = _num(nsh, schema.CREATED_AT)
    current = _num(nsh, _CURRENT_STATUS_TIME)
    text = rules.reindex(nsh[schema.NOTE_ID].to_numpy())
    big = 2**62
    feasible = [(-big, big)]
    cuts: list[tuple[int, int]] = []
    for c, t, r in zip(created, current, text.to_numpy(dtype=object)):
        if r is None or (isinstance(r, float) and np.isnan(r)):
            continue
        names = set(str(r).split(","))
        for name, window in _membership_windows(c, t, config).items():
            if name in names:
                if window is None:
                    return []
                feasible = [(max(a, window[0]), min(b, window[1])) for a, b in feasible]
                feasible = [(a, b) for a, b in feasible if a <= b]
            elif window is not None:
                cuts.append(window)
    for lo_cut, hi_cut in cuts:
        nxt = []
        for a, b in feasible:
            if hi_cut < a or lo_cut > b:
                nxt.append((a, b))
                continue
            if a < lo_cut:
                nxt.append((a, lo_cut - 1))
            if hi_cut < b:
                nxt.append((hi_cut + 1, b))
        feasible = nxt
    return sorted(feasible)
