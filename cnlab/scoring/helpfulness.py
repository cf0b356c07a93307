"""Contributor helpfulness scores and the final-round rater filter (spec 01 §3, 03 §3)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._columns import take_columns
from cnlab.errors import CnlabInputError
from cnlab.scoring.config import RuleThresholds

__all__ = [
    "valid_ratings",
    "valid_rating_rows",
    "valid_rating_blocks",
    "valid_rating_indicators",
    "author_helpfulness",
    "rater_helpfulness",
    "valid_rater_sums",
    "RaterCodes",
    "general_helpfulness_scores",
    "filter_ratings_by_helpfulness",
    "helpful_rater_rows",
    "PUBLIC_TSV_DELAY_MILLIS",
    "OLD_NOTE_MAX_VALID_RATINGS",
    "DELETED_NOTE_TOMBSTONES_LAUNCH_MILLIS",
    "HELPFULNESS_OUTPUT_COLUMNS",
]

PUBLIC_TSV_DELAY_MILLIS = 48 * 3600 * 1000  # ratings within 48 h of note creation
OLD_NOTE_MAX_VALID_RATINGS = 5  # old notes: first 5 ratings only
DELETED_NOTE_TOMBSTONES_LAUNCH_MILLIS = 1652918400000  # 2022-05-19 UTC
#: Ratings looked up at a time in :func:`valid_rating_rows` (a memory bound only: the rows and
#: their order do not depend on it).
ROW_BLOCK = 1 << 24

_COUNT_COLS = (*S.VALID_RATING_COUNT_COLUMNS, "ratingAgreesWithNoteStatus")

HELPFULNESS_OUTPUT_COLUMNS = (
    S.RATER_ID,
    "crhCrnhRatioDifference",
    "meanNoteScore",
    "raterAgreeRatio",
    "successfulRatingNotHelpfulCount",
    "successfulRatingHelpfulCount",
    "unsuccessfulRatingNotHelpfulCount",
    "unsuccessfulRatingHelpfulCount",
    "totalHelpfulHarassmentPenalty",
    "raterAgreeRatioKeyWithHarassmentAbusePenalty",
    "aboveHelpfulnessThreshold",
)


def _bool_col(frame: pd.DataFrame, name: str, status: str) -> np.ndarray:
    if name in frame.columns:
        return frame[name].fillna(False).to_numpy(dtype=bool)
    return S.equals_value(frame[S.RATING_STATUS], status)


def valid_ratings(ratings: pd.DataFrame, status_history: pd.DataFrame, scored_notes: pd.DataFrame) -> pd.DataFrame:
    """Ratings that count for rater helpfulness (spec 01 §3).

    A rating is valid if it was made < 48 h after the note was created and (for notes created
    since 2022-05-19) before ``timestampMillisOfLatestNonNMRStatus`` (or that is NaN); for older
    notes only the first 5 such ratings count.  Only notes whose intermediate status is CRH or
    CRNH and ratings with helpfulNum ∈ {0, 1} remain.  Adds the success/failure indicator
    columns and ``ratingCount`` (= 1).
    """
    rows, crh, crnh, h = valid_rating_rows(ratings, status_history, scored_notes)
    df = pd.DataFrame({c: ratings[c].iloc[rows].reset_index(drop=True)  # dtypes as given
                       for c in (S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM, S.CREATED_AT)})
    df["ratingCount"] = np.int64(1)
    for col, values in valid_rating_indicators(crh, crnh, h).items():
        df[col] = values.astype(np.int64)
    return df


def valid_rating_indicators(crh: np.ndarray, crnh: np.ndarray, h: np.ndarray) -> dict[str, np.ndarray]:
    """The success / failure indicators of valid ratings (spec 01 §3), 0/1 as int8 (one byte a
    rating; :func:`valid_ratings` widens them to int64), in their column order: successful = the
    rating agrees with the note's status (helpful on CRH, not helpful on CRNH), unsuccessful = it
    disagrees."""
    out = {"successfulRatingHelpfulCount": (crh & (h == 1.0)).astype(np.int8),
           "successfulRatingNotHelpfulCount": (crnh & (h == 0.0)).astype(np.int8)}
    out["successfulRatingTotal"] = out["successfulRatingHelpfulCount"] + out["successfulRatingNotHelpfulCount"]
    # Official naming: "unsuccessful helpful count" counts NOT-helpful ratings on CRH notes.
    out["unsuccessfulRatingHelpfulCount"] = (crh & (h == 0.0)).astype(np.int8)
    out["unsuccessfulRatingNotHelpfulCount"] = (crnh & (h == 1.0)).astype(np.int8)
    out["unsuccessfulRatingTotal"] = out["unsuccessfulRatingHelpfulCount"] + out["unsuccessfulRatingNotHelpfulCount"]
    out["ratingAgreesWithNoteStatus"] = out["successfulRatingTotal"]
    return out


def numeric_values(col: pd.Series) -> np.ndarray:
    """A column's values without a copy when they are plain numbers, else as float64."""
    v = col.to_numpy()
    return v if v.dtype.kind in "iuf" else col.to_numpy(dtype=np.float64)


def code_sums(codes: np.ndarray, values: np.ndarray, minlength: int) -> np.ndarray:
    """``np.bincount(codes, weights=values)``; 0/1 values (booleans, flags, tag bits) are counted
    through a mask instead, with no float64 weight a row (the same totals, as int64)."""
    if values.dtype == bool or (values.dtype.kind in "iu"
                                and (len(values) == 0 or (values.min() >= 0 and values.max() <= 1))):
        return np.bincount(codes[values.astype(bool, copy=False)], minlength=minlength)
    return np.bincount(codes, weights=values, minlength=minlength)


class RaterCodes:
    """Every rating's rater as an int32 code into the sorted distinct ids (missing ids −1), built
    once: each per-rater sum then reads the codes of its rows, not a factorisation of its own.

    Examples
    --------
    >>> import numpy as np
    >>> rc = RaterCodes(np.array([30, 10, 30, 20]))
    >>> rc.sums(np.array([0, 1, 2]), {"n": np.ones(3, bool)}, np.int64)["n"].to_dict()
    {10: 1, 30: 2}
    """

    def __init__(self, raters: np.ndarray):
        raters = np.asarray(raters)
        if (raters.dtype.kind in "iu" and len(raters) and raters.min() >= 0
                and int(raters.max()) < min(2**31 - 1, max(4 * len(raters), 1 << 20))):
            # participant codes (a run's int32 ids) are their own codes: no factorisation (206M
            # ratings: an int64 array and a hash table less), the same sorted ids and sums
            self.codes = raters if raters.dtype == np.int32 else raters.astype(np.int32)
            self.ids = np.arange(int(raters.max()) + 1, dtype=raters.dtype)
            return
        codes, self.ids = pd.factorize(raters, sort=True)
        self.codes = codes.astype(np.int32) if len(self.ids) < 2**31 else codes

    def sums(self, rows: np.ndarray | None, values: dict[str, np.ndarray], dtype) -> pd.DataFrame:
        """``DataFrame(values).groupby(raters[rows], sort=True).sum()`` one column at a time
        (``rows`` None: every rating; missing rater ids dropped, as a groupby drops them); index
        named raterParticipantId, only the raters with a row."""
        return self.block_sums([(rows, values)], list(values), dtype)

    def block_sums(self, blocks, columns, dtype) -> pd.DataFrame:
        """:meth:`sums` over the rows of several blocks, ``(rows, values)`` each (an iterable:
        a block's arrays go before the next is made); the totals are exact for integer and 0/1
        values, whatever the blocks."""
        k = len(self.ids)
        n = np.zeros(k, np.int64)
        totals = {c: np.zeros(k, np.int64) for c in columns}
        for rows, values in blocks:
            codes = self.codes if rows is None else self.codes[rows]
            keep = None if len(codes) == 0 or codes.min() >= 0 else codes >= 0
            if keep is not None:
                codes = codes[keep]
            n += np.bincount(codes, minlength=k)
            for c in columns:
                v = values[c]
                totals[c] = totals[c] + code_sums(codes, v if keep is None else v[keep], k)
            del codes, keep, values
        present = np.flatnonzero(n)
        return pd.DataFrame({c: totals[c][present].astype(dtype) for c in columns},
                            index=pd.Index(self.ids[present], name=S.RATER_ID))


class _ValidWindow:
    """What :func:`valid_rating_rows` and :func:`valid_rating_blocks` look up per rating: each
    rating's note in the status history, the note's creation and latest non-NMR times (spec 01
    §3's window), and the note flags and helpfulNum that keep a windowed rating."""

    def __init__(self, ratings: pd.DataFrame, status_history: pd.DataFrame, scored_notes: pd.DataFrame):
        self.nsh_notes = pd.Index(status_history[S.NOTE_ID])
        if not self.nsh_notes.is_unique:
            raise CnlabInputError("valid ratings: note status history has repeated noteIds, e.g. "
                                  f"{list(self.nsh_notes[self.nsh_notes.duplicated()].unique()[:5])}",
                                  column=S.NOTE_ID)
        self.sn_notes = pd.Index(scored_notes[S.NOTE_ID])
        if not self.sn_notes.is_unique:
            raise CnlabInputError("valid ratings: scored notes have repeated noteIds", column=S.NOTE_ID)
        self.ratings = ratings
        self.note_ids = ratings[S.NOTE_ID].to_numpy()
        self.n = len(self.note_ids)
        self.t_all = numeric_values(ratings[S.CREATED_AT])
        self.created_all = status_history[S.CREATED_AT].to_numpy(dtype=np.float64)
        self.latest_all = status_history["timestampMillisOfLatestNonNMRStatus"].to_numpy(dtype=np.float64)
        self.crh_all = _bool_col(scored_notes, "crhBool", S.CRH)
        self.crnh_all = _bool_col(scored_notes, "crnhBool", S.CRNH)
        self._h_all = None

    def blocks(self):
        """``(lo, hi)`` of each block of ratings looked up at a time (none without a history)."""
        step = ROW_BLOCK
        return [(lo, min(lo + step, self.n)) for lo in range(0, self.n if len(self.nsh_notes) else 0, step)]

    def window(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Masks over ratings ``lo:hi``: in the window on an old note (created before the tombstone
        launch: only its first 5 such ratings count), and valid by time on a newer note."""
        at = self.nsh_notes.get_indexer(self.note_ids[lo:hi])
        known = at >= 0  # a note missing from the history: none of its ratings is valid
        all_known = bool(known.all())
        if not all_known:
            at = np.where(known, at, 0)
        t = self.t_all[lo:hi]
        created = self.created_all[at]
        before_public = (t - created) < PUBLIC_TSV_DELAY_MILLIS
        if not all_known:
            before_public &= known
        old = created < DELETED_NOTE_TOMBSTONES_LAUNCH_MILLIS
        del created
        latest = self.latest_all[at]
        del at
        with np.errstate(invalid="ignore"):  # int64 times against float64
            new_ok = before_public & ~old & (np.isnan(latest) | (t < latest))
        return old & before_public, new_ok

    def first_of_old_notes(self, old_ok: np.ndarray) -> np.ndarray:
        """Of the windowed ratings ``old_ok`` on old notes, the first 5 per note by rating time
        (positions, by time). A stable sort keeps ties in input order (official tie-break
        unknown), then a stable sort by note numbers each note's ratings in that order."""
        by_time = old_ok[np.argsort(self.t_all[old_ok], kind="stable")]
        note_of = self.nsh_notes.get_indexer(self.note_ids[by_time])
        by_note = np.argsort(note_of, kind="stable")
        grouped = note_of[by_note]
        del note_of
        starts = np.r_[0, np.flatnonzero(grouped[1:] != grouped[:-1]) + 1]
        rank = np.empty(len(by_time), dtype=np.int64)
        rank[by_note] = np.arange(len(by_time)) - np.repeat(starts, np.diff(np.r_[starts, len(by_time)]))
        return by_time[rank < OLD_NOTE_MAX_VALID_RATINGS]

    def flagged(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Of the windowed ratings ``rows``, those on CRH or CRNH notes with helpfulNum 0 or 1:
        ``(rows, crh, crnh, h)`` (h float64)."""
        if self._h_all is None:
            self._h_all = numeric_values(self.ratings[S.HELPFUL_NUM])  # float32 as stored
        if not len(self.sn_notes):
            rows = rows[:0]
        at = self.sn_notes.get_indexer(self.note_ids[rows])
        known = at >= 0
        at[~known] = 0
        crh, crnh = self.crh_all[at], self.crnh_all[at]
        del at
        h = self._h_all[rows].astype(np.float64)
        keep = known & (crh | crnh) & ((h == 0.0) | (h == 1.0))
        if keep.all():
            return rows, crh, crnh, h
        return rows[keep], crh[keep], crnh[keep], h[keep]


def valid_rating_rows(ratings: pd.DataFrame, status_history: pd.DataFrame,
                      scored_notes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`valid_ratings` as positions: ``(rows, crh, crnh, h)``, the valid ratings' positions
    in ``ratings`` (in :func:`valid_ratings`' row order), their note's CRH / CRNH flags and their
    helpfulNum (float64), without a copy of the rows. A reader of per-rater sums only needs
    :func:`valid_rating_blocks` (no array a valid rating)."""
    # Row positions first (lookups of the note's times and status per rating), then one copy of
    # the valid rows: the merges this replaces held several rating-sized frames at once. Same rows
    # in the same order: old notes' ratings by time (the first 5 per note), then the others in
    # input order, as the merges and the concatenation gave them. The per-rating lookups run a
    # block of ratings at a time (206M ratings: their float64 and index temporaries were ~5 GiB at
    # once); the ratings' times are compared as stored (int64 milliseconds, exact in float64).
    w = _ValidWindow(ratings, status_history, scored_notes)
    old_parts, new_parts = [], []
    for lo, hi in w.blocks():
        old_ok, new_ok = w.window(lo, hi)
        old_parts.append(np.flatnonzero(old_ok) + lo)
        new_parts.append(np.flatnonzero(new_ok) + lo)
        del old_ok, new_ok
    old_ok = np.concatenate(old_parts) if old_parts else np.zeros(0, np.int64)
    new_rows = np.concatenate(new_parts) if new_parts else np.zeros(0, np.int64)
    del old_parts, new_parts
    rows = np.concatenate([w.first_of_old_notes(old_ok), new_rows])
    del old_ok, new_rows
    # each row's note flags and helpfulNum a block at a time
    parts = [w.flagged(rows[lo:lo + ROW_BLOCK]) for lo in range(0, len(rows), ROW_BLOCK)]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return (rows[:0], np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, np.float64))
    del rows
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def valid_rating_blocks(ratings: pd.DataFrame, status_history: pd.DataFrame, scored_notes: pd.DataFrame):
    """:func:`valid_rating_rows`' ratings a block of ratings at a time, in input order: yields
    ``(rows, crh, crnh, h)`` for each block of :data:`ROW_BLOCK` ratings with a valid one.

    The union of the blocks' rows is the set :func:`valid_rating_rows` gives, with the same
    flags; only their order differs (input order here). For per-rater sums (contributor
    scoring's counts, :func:`valid_rater_sums`), which do not depend on the order: beside the
    ratings' columns this holds one block's arrays, one bit a rating and the windowed ratings of
    old notes, not arrays a valid rating (206M ratings: ~20 bytes each, ~4 GiB).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"noteId": [1, 1, 2], "raterParticipantId": [7, 8, 7],
    ...                   "helpfulNum": [1.0, 0.5, 0.0], "createdAtMillis": [1_700_000_000_000] * 3})
    >>> nsh = pd.DataFrame({"noteId": [1, 2], "createdAtMillis": [1_699_999_999_000] * 2,
    ...                     "timestampMillisOfLatestNonNMRStatus": [float("nan")] * 2})
    >>> sn = pd.DataFrame({"noteId": [1, 2], "crhBool": [True, False], "crnhBool": [False, True]})
    >>> [rows.tolist() for rows, crh, crnh, h in valid_rating_blocks(r, nsh, sn)]
    [[0, 2]]
    """
    w = _ValidWindow(ratings, status_history, scored_notes)
    spans = w.blocks()
    old_parts, new_bits = [], []
    for lo, hi in spans:
        old_ok, new_ok = w.window(lo, hi)
        old_parts.append(np.flatnonzero(old_ok) + lo)
        new_bits.append(np.packbits(new_ok))  # a bit a rating until the second pass
        del old_ok, new_ok
    old_ok = np.concatenate(old_parts) if old_parts else np.zeros(0, np.int64)
    del old_parts
    old_rows = np.sort(w.first_of_old_notes(old_ok))
    del old_ok
    for (lo, hi), bits in zip(spans, new_bits):
        new_rows = np.flatnonzero(np.unpackbits(bits, count=hi - lo).view(bool)) + lo
        old = old_rows[np.searchsorted(old_rows, lo):np.searchsorted(old_rows, hi)]
        rows = np.sort(np.concatenate([old, new_rows])) if len(old) else new_rows
        del new_rows, old
        out = w.flagged(rows)
        if len(out[0]):
            yield out
        del rows, out


def author_helpfulness(scored_notes: pd.DataFrame, status_history_or_notes: pd.DataFrame | None = None,
                       *, crnh_multiplier: float = 5.0) -> pd.DataFrame:
    """Author scores over notes in the round-1 MF (spec 03 §3.1).

    ``crhCrnhRatioDifference = CRH/n − 5·CRNH/n``; ``meanNoteScore = Σ intercept / n`` where n =
    the author's notes with a non-NaN ``internalNoteIntercept``.  The author id is taken from
    ``scored_notes`` or, if absent there, from ``status_history_or_notes``.

    Returns raterParticipantId (= author), crhCrnhRatioDifference, meanNoteScore.
    """
    sn = scored_notes
    if S.AUTHOR_ID not in sn.columns:
        sn = sn.merge(status_history_or_notes[[S.NOTE_ID, S.AUTHOR_ID]], on=S.NOTE_ID, how="left")
    sn = sn[sn[S.NOTE_INTERCEPT].notna()]
    df = pd.DataFrame({
        S.RATER_ID: sn[S.AUTHOR_ID].to_numpy(), "n": 1.0,
        "crh": _bool_col(sn, "crhBool", S.CRH).astype(np.float64),
        "crnh": _bool_col(sn, "crnhBool", S.CRNH).astype(np.float64),
        "i": sn[S.NOTE_INTERCEPT].to_numpy(dtype=np.float64),
    })
    g = df.groupby(S.RATER_ID, sort=True).sum()
    out = pd.DataFrame(index=g.index)
    out["crhCrnhRatioDifference"] = g["crh"] / g["n"] - crnh_multiplier * g["crnh"] / g["n"]
    out["meanNoteScore"] = g["i"] / g["n"]
    return out.reset_index()


def rater_helpfulness(valid: pd.DataFrame) -> pd.DataFrame:
    """Per-rater sums over valid ratings and ``raterAgreeRatio = agrees / ratingCount`` (spec 03 §3.2)."""
    cols = [S.RATER_ID, "ratingCount", *_COUNT_COLS]
    g = valid[cols].groupby(S.RATER_ID, sort=True).sum()
    g["raterAgreeRatio"] = g["ratingAgreesWithNoteStatus"] / g["ratingCount"]
    return g.reset_index()


def valid_rater_sums(ratings: pd.DataFrame, status_history: pd.DataFrame,
                     scored_notes: pd.DataFrame) -> pd.DataFrame:
    """``rater_helpfulness(valid_ratings(ratings, status_history, scored_notes))`` without the
    valid ratings' frame (spec 03 §3.2).

    The frame holds 88 bytes a valid rating (ids, time and eight int64 indicator columns); the
    helpfulness rule reads only their per-rater sums. Here the valid ratings come a block of
    ratings at a time (:func:`valid_rating_blocks`) and each block's indicators are counted per
    rater code (exact integers, int64): nothing is kept a valid rating. Same table: columns,
    order, dtypes and values (``tests/test_scoring_stats.py``).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"noteId": [1, 1, 2], "raterParticipantId": [7, 8, 7],
    ...                   "helpfulNum": [1.0, 0.0, 0.0], "createdAtMillis": [1_700_000_000_000] * 3})
    >>> nsh = pd.DataFrame({"noteId": [1, 2], "createdAtMillis": [1_699_999_999_000] * 2,
    ...                     "timestampMillisOfLatestNonNMRStatus": [float("nan")] * 2})
    >>> sn = pd.DataFrame({"noteId": [1, 2], "internalRatingStatus": ["CURRENTLY_RATED_HELPFUL",
    ...                                                               "CURRENTLY_RATED_NOT_HELPFUL"]})
    >>> valid_rater_sums(r, nsh, sn)[["raterParticipantId", "ratingCount", "raterAgreeRatio"]]
       raterParticipantId  ratingCount  raterAgreeRatio
    0                   7            2              1.0
    1                   8            1              0.0
    """
    key = ratings[S.RATER_ID]
    if not isinstance(key.dtype, np.dtype) or key.dtype == object:
        # ids kept as objects, strings or extension types: the groupby gives their key dtype
        return rater_helpfulness(valid_ratings(ratings, status_history, scored_notes))
    # per-rater counts a block of ratings at a time (valid_rating_blocks): no array a valid rating
    raters = RaterCodes(key.to_numpy())

    def blocks():
        for rows, crh, crnh, h in valid_rating_blocks(ratings, status_history, scored_notes):
            yield rows, {"ratingCount": np.ones(len(rows), bool),
                         **valid_rating_indicators(crh, crnh, h)}

    cols = ["ratingCount", *_COUNT_COLS]
    g = raters.block_sums(blocks(), cols, np.int64)
    g.index = pd.Index(np.asarray(g.index, dtype=key.dtype), name=S.RATER_ID)
    g = g.reset_index()
    g["raterAgreeRatio"] = g["ratingAgreesWithNoteStatus"] / g["ratingCount"]
    return g


def _harassment_penalty(ratings_for_training, harassment_note_params, thresholds: RuleThresholds) -> pd.DataFrame:
    m = thresholds.minimum_harassment_score_to_penalize
    bad = harassment_note_params[[S.NOTE_ID, "harassmentNoteIntercept"]]
    bad = bad[(bad["harassmentNoteIntercept"] >= m).fillna(False).to_numpy(dtype=bool)]
    r = ratings_for_training[[S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM]]
    r = r[(r[S.HELPFUL_NUM].to_numpy(dtype=np.float64) == 1.0)].merge(bad, on=S.NOTE_ID, how="inner")
    pen = np.full(len(r), thresholds.tag_consensus_harassment_helpful_rating_penalty, dtype=np.float64)
    if thresholds.multiply_penalty_by_harassment_score:
        pen = pen * r["harassmentNoteIntercept"].to_numpy(dtype=np.float64) / m
    return (pd.DataFrame({S.RATER_ID: r[S.RATER_ID].to_numpy(), "totalHelpfulHarassmentPenalty": pen})
            .groupby(S.RATER_ID, sort=True).sum().reset_index())


def general_helpfulness_scores(
    scored_notes: pd.DataFrame, valid: pd.DataFrame, *, thresholds: RuleThresholds,
    ratings_for_training: pd.DataFrame | None = None, harassment_note_params: pd.DataFrame | None = None,
    status_history: pd.DataFrame | None = None, rater_sums: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Combine author and rater scores into ``aboveHelpfulnessThreshold`` (spec 03 §3.3).

    ::

        penalty_u = Σ_{helpful ratings of u on notes with h ≥ m} 10·(h / m)   (m = 2.0; flat 10 if not multiplied)
        keyRatio  = (agrees − penalty) / ratingCount
        above     = AUTHOR_OK ∧ raterAgreeRatio ≥ 0.66 ∧ keyRatio ≥ 0.66
        AUTHOR_OK = (crhCrnhRatioDifference ≥ 0 ∧ meanNoteScore ≥ 0.05) ∨ (not an author)

    The penalty is only computed when both ``ratings_for_training`` and
    ``harassment_note_params`` are given.  NaN comparisons are False, so contributors without
    valid ratings are never above the threshold. ``rater_sums`` (:func:`valid_rater_sums` or
    :func:`rater_helpfulness`) stands for the valid ratings' per-rater sums; ``valid`` is then
    not read (None).
    """
    authors = author_helpfulness(scored_notes, status_history, crnh_multiplier=thresholds.crnh_multiplier)
    raters = rater_helpfulness(valid) if rater_sums is None else rater_sums
    df = authors.merge(raters, on=S.RATER_ID, how="outer")
    if ratings_for_training is not None and harassment_note_params is not None:
        pen = _harassment_penalty(ratings_for_training, harassment_note_params, thresholds)
        df = df.merge(pen, on=S.RATER_ID, how="left")
        df["totalHelpfulHarassmentPenalty"] = df["totalHelpfulHarassmentPenalty"].fillna(0.0)
    else:
        df["totalHelpfulHarassmentPenalty"] = 0.0
    df["raterAgreeRatioKeyWithHarassmentAbusePenalty"] = (
        (df["ratingAgreesWithNoteStatus"] - df["totalHelpfulHarassmentPenalty"]) / df["ratingCount"]
    )
    diff, mean = df["crhCrnhRatioDifference"], df["meanNoteScore"]
    author_ok = ((diff >= thresholds.min_crh_vs_crnh_ratio) & (mean >= thresholds.min_mean_note_score)).fillna(False)
    author_ok |= diff.isna() & mean.isna()
    above = (
        author_ok
        & (df["raterAgreeRatio"] >= thresholds.min_rater_agree_ratio).fillna(False)
        & (df["raterAgreeRatioKeyWithHarassmentAbusePenalty"] >= thresholds.min_rater_agree_ratio).fillna(False)
    )
    df["aboveHelpfulnessThreshold"] = above.to_numpy(dtype=bool)
    return df[list(HELPFULNESS_OUTPUT_COLUMNS)].reset_index(drop=True)


def helpful_rater_rows(ratings: pd.DataFrame, scores: pd.DataFrame) -> np.ndarray:
    """Bool mask of the ratings whose rater has ``aboveHelpfulnessThreshold`` True (NaN → False;
    spec 03 §3.4): the rows :func:`filter_ratings_by_helpfulness` keeps, without their copy.

    >>> r = pd.DataFrame({"raterParticipantId": [1, 2, 1]})
    >>> h = pd.DataFrame({"raterParticipantId": [1, 2], "aboveHelpfulnessThreshold": [True, None]})
    >>> helpful_rater_rows(r, h).tolist()
    [True, False, True]
    """
    ok = scores.loc[scores["aboveHelpfulnessThreshold"].fillna(False).to_numpy(dtype=bool), S.RATER_ID]
    return ratings[S.RATER_ID].isin(ok).to_numpy()


def filter_ratings_by_helpfulness(ratings: pd.DataFrame, scores: pd.DataFrame, *,
                                  columns: list[str] | None = None) -> pd.DataFrame:
    """Keep ratings whose rater has ``aboveHelpfulnessThreshold`` True (NaN → False; spec 03 §3.4).

    ``columns`` (those present) narrows the result in the same copy (what the next step reads).

    >>> r = pd.DataFrame({"raterParticipantId": [1, 2, 1], "noteId": [5, 5, 6], "x": [0, 1, 2]})
    >>> h = pd.DataFrame({"raterParticipantId": [1, 2], "aboveHelpfulnessThreshold": [True, None]})
    >>> filter_ratings_by_helpfulness(r, h, columns=["noteId", "raterParticipantId"]).to_dict("list")
    {'noteId': [5, 6], 'raterParticipantId': [1, 1]}
    """
    keep = helpful_rater_rows(ratings, scores)
    if columns is None:
        return ratings[keep].reset_index(drop=True)
    return take_columns(ratings, keep, columns)
