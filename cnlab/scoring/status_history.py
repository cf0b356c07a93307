"""New note status history after meta scoring (spec 03 §10, 04 §13)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.scoring.config import MetaConfig
from cnlab.scoring.rules import LOCKING_RULE_NAMES

__all__ = ["update_status_history", "SCORED_NOTES_INPUT_COLUMNS"]

# Columns of the new scored notes that the update reads (spec 04 §13).
SCORED_NOTES_INPUT_COLUMNS = (
    S.NOTE_ID, S.CREATED_AT, "finalRatingStatus", "decidedBy", "coreRatingStatus", "expansionRatingStatus",
    "groupRatingStatus", S.MODELING_GROUP, "updatedTimestampMillisOfNmrDueToMinStableCrhTime",
    "abovePcrhThresholdTime", "multiGroupRatingStatus", "modelingMultiGroup",
)
_CURRENT_FIELDS = {
    "currentCoreStatus": "coreRatingStatus",
    "currentExpansionStatus": "expansionRatingStatus",
    "currentGroupStatus": "groupRatingStatus",
    "currentDecidedBy": "decidedBy",
    "currentModelingGroup": S.MODELING_GROUP,
    "currentMultiGroupStatus": "multiGroupRatingStatus",
    "currentModelingMultiGroup": "modelingMultiGroup",
}


def _obj(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=object)
    return frame[name].astype(object).where(frame[name].notna(), np.nan)


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return np.array(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64), copy=True)


def update_status_history(
    old_nsh: pd.DataFrame, scored_notes: pd.DataFrame, *, now: int, config: MetaConfig = MetaConfig(),
    copy_pcrh_from_scored_notes: bool = True,
) -> pd.DataFrame:
    """Merge the input NSH with the new statuses (spec 04 §13; 03 §10).

    Per note, with ``final`` = finalRatingStatus:

    1. ``timestampMinuteOfFinalScoringOutput`` = NaN.
    2. ``final ≠ old currentStatus`` → ``timestampMillisOfMostRecentStatusChange = now``; else NaN → −1.
    3. current fields ← new columns; ``timestampMillisOfCurrentStatus = now``.
    4. Lock if unlocked ∧ ``now − createdAtMillis > 14 d`` (strict) ∧ decidedBy is lock-enabled:
       ``lockedStatus = final``, ``timestampMillisOfStatusLock = now``.
    5. Locked → stabilization timestamp and ``abovePcrhThresholdTime`` = −1; else copy the non-NaN
       updated stabilization timestamp (also into the "first" field if that is NaN) and the
       non-NaN new pcrh time.
    6. Notes created before 2022-05-19 (or without createdAt in ``scored_notes``) stop here.
    7. ``final ≠ NMR``: set first/latest non-NMR fields when first is NaN; move the latest
       fields when ``final ≠ mostRecentNonNMRStatus``.

    With ``copy_pcrh_from_scored_notes`` (spec 04 §10.1 step 13) ``abovePcrhThresholdTime`` is
    finally overwritten from ``scored_notes`` for every note (undoing the −1 of locked notes).

    Raises
    ------
    ValueError
        If an NSH note is missing from ``scored_notes``.
    """
    cols = [c for c in SCORED_NOTES_INPUT_COLUMNS if c in scored_notes.columns]
    sn = scored_notes[cols].rename(columns={S.CREATED_AT: "_createdSn", "abovePcrhThresholdTime": "_pcrhSn"})
    df = old_nsh.reset_index(drop=True).merge(sn, on=S.NOTE_ID, how="inner")
    if len(df) != len(old_nsh):
        raise ValueError(f"update_status_history: {len(old_nsh) - len(df)} NSH note(s) have no new status")
    out = df.copy()
    for c in S.NOTE_STATUS_HISTORY_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    final = _obj(df, "finalRatingStatus")
    now_f = float(now)

    out["timestampMinuteOfFinalScoringOutput"] = np.nan
    prev = _obj(df, "currentStatus")
    changed = ~(final == prev).fillna(False).to_numpy(dtype=bool) | prev.isna().to_numpy()
    change_ts = _num(df, "timestampMillisOfMostRecentStatusChange")
    change_ts = np.where(changed, now_f, np.where(np.isnan(change_ts), -1.0, change_ts))
    out["timestampMillisOfMostRecentStatusChange"] = change_ts

    out["currentStatus"] = final
    for dst, src in _CURRENT_FIELDS.items():
        out[dst] = _obj(df, src) if df.get(src) is None or df[src].dtype == object or \
            pd.api.types.is_string_dtype(df[src]) else _num(df, src)
    out["timestampMillisOfCurrentStatus"] = now_f

    created = _num(df, S.CREATED_AT)
    locked_before = _obj(df, "lockedStatus").notna().to_numpy()
    decided = _obj(df, "decidedBy")
    lock_now = (~locked_before & ((now_f - created) > config.lock_age_millis)
                & decided.isin(list(LOCKING_RULE_NAMES)).to_numpy())
    locked_status = _obj(df, "lockedStatus").to_numpy(dtype=object).copy()
    locked_status[lock_now] = final.to_numpy(dtype=object)[lock_now]
    out["lockedStatus"] = locked_status
    lock_ts = _num(df, "timestampMillisOfStatusLock")
    lock_ts[lock_now] = now_f
    out["timestampMillisOfStatusLock"] = lock_ts
    locked = locked_before | lock_now

    stab = _num(df, "timestampMillisOfNmrDueToMinStableCrhTime")
    upd = _num(df, "updatedTimestampMillisOfNmrDueToMinStableCrhTime")
    first_stab = _num(df, "timestampMillisOfFirstNmrDueToMinStableCrhTime")
    pcrh = _num(df, "abovePcrhThresholdTime")
    pcrh_new = _num(df, "_pcrhSn")
    has_upd = ~locked & ~np.isnan(upd)
    stab = np.where(locked, -1.0, np.where(has_upd, upd, stab))
    first_stab = np.where(has_upd & np.isnan(first_stab), upd, first_stab)
    pcrh = np.where(locked, -1.0, np.where(~np.isnan(pcrh_new), pcrh_new, pcrh))
    out["timestampMillisOfNmrDueToMinStableCrhTime"] = stab
    out["timestampMillisOfFirstNmrDueToMinStableCrhTime"] = first_stab
    out["abovePcrhThresholdTime"] = pcrh

    created_sn = _num(df, "_createdSn") if "_createdSn" in df.columns else np.full(len(df), np.nan)
    eligible = ~np.isnan(created_sn) & (created_sn >= config.deleted_note_tombstones_launch_millis)
    non_nmr = ~(final == S.NMR).fillna(False).to_numpy(dtype=bool) & final.notna().to_numpy()
    first = _obj(df, "firstNonNMRStatus").to_numpy(dtype=object).copy()
    first_ts = _num(df, "timestampMillisOfFirstNonNMRStatus")
    recent = _obj(df, "mostRecentNonNMRStatus").to_numpy(dtype=object).copy()
    recent_ts = _num(df, "timestampMillisOfLatestNonNMRStatus")
    fin = final.to_numpy(dtype=object)
    set_first = eligible & non_nmr & pd.isna(first)
    first[set_first], first_ts[set_first] = fin[set_first], now_f
    recent[set_first], recent_ts[set_first] = fin[set_first], now_f
    move = eligible & non_nmr & ~set_first & (recent != fin)
    recent[move], recent_ts[move] = fin[move], now_f
    out["firstNonNMRStatus"], out["timestampMillisOfFirstNonNMRStatus"] = first, first_ts
    out["mostRecentNonNMRStatus"], out["timestampMillisOfLatestNonNMRStatus"] = recent, recent_ts

    if copy_pcrh_from_scored_notes and "_pcrhSn" in df.columns:
        out["abovePcrhThresholdTime"] = _num(df, "_pcrhSn")
    return out[list(S.NOTE_STATUS_HISTORY_COLUMNS)]
