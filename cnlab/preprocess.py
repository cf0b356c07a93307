"""Rating and note preprocessing (spec 01 §1–§2, spec 04 §4).

Every function is pure: it returns a new frame and never mutates its input.
:func:`preprocess` chains them in the official order and records each step's
row counts in a :class:`Funnel`:

1. :func:`drop_duplicate_ratings` – exact duplicates dropped; conflicting
   (rater, note) pairs raise.
2. :func:`compute_helpful_num` – ``helpfulNum`` from the legacy flags and
   ``helpfulnessLevel``; rows left without a label are dropped.
3. :func:`tag_high_volume_raters` – ``highVolumeRater`` (top 0.1 % over 7 or
   28 days).
4. :func:`drop_duplicate_notes`, ``tweetId`` as string.
5. :func:`merge_note_info` – note status history ⟗ notes.
6. :func:`filter_misleading_notes` – keep ratings on misleading notes, on
   deleted notes known to the status history and on post-2022-10-03
   not-misleading notes.

:func:`filter_ratings` is the scorers' 3-pass prefilter (spec 01 §2); it is not
part of :func:`preprocess`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._arrays import isin, unique
from cnlab.errors import CnlabInputError

MILLIS_PER_DAY = 86_400_000


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PreprocessConfig:
    """Constants of the preprocessing step (official names in each docstring)."""

    min_notes_for_high_volume: int = 200
    """``constants.minNumNotesForProdData``: with ratings on fewer distinct notes,
    no rater is flagged high volume (test data guard)."""

    high_volume_quantile: float = 0.999
    """``quantile`` argument of ``process_data.tag_high_volume_raters``: raters whose
    in-window rating count is strictly above this quantile are high volume."""

    high_volume_windows_days: tuple[int, ...] = (7, 28)
    """Windows (days before the latest rating) of ``tag_high_volume_raters``; the
    flag is the union over windows."""

    not_misleading_ui_launch_millis: int = 1664755200000
    """``constants.notMisleadingUILaunchTime`` (2022-10-03 UTC): ratings on
    NOT_MISLEADING notes created at or before it are dropped."""

    filter_misleading_notes: bool = True
    """``filterMisleadingNotes`` argument of ``preprocess_data``; always on in the
    official runner."""

    tweet_id_as_string: bool = True
    """``preprocess_data`` casts ``notes.tweetId`` to ``str`` (spec 04 §4 step 6)."""


# ---------------------------------------------------------------------------
# funnel
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FunnelRecord:
    stage: str
    step: str
    rows_in: int
    rows_out: int
    dropped: int
    note: str = ""
    table: str = "ratings"
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Funnel:
    """Ordered, immutable record of row counts at every filtering step.

    ``add`` returns a new funnel.  ``to_frame()`` gives one row per step;
    ``str(funnel)`` is a fixed-width table for notebooks and logs.
    """

    records: tuple[FunnelRecord, ...] = ()

    def add(self, stage, step, rows_in, rows_out, note="", *, table="ratings", **details) -> "Funnel":
        rec = FunnelRecord(stage, step, int(rows_in), int(rows_out), int(rows_in) - int(rows_out), note, table, dict(details))
        return replace(self, records=self.records + (rec,))

    def extend(self, other: "Funnel") -> "Funnel":
        return replace(self, records=self.records + tuple(other.records))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def step(self, step: str) -> FunnelRecord:
        """The (last) record named ``step``."""
        for rec in reversed(self.records):
            if rec.step == step:
                return rec
        raise KeyError(step)

    def to_frame(self) -> pd.DataFrame:
        cols = ["stage", "step", "table", "rows_in", "rows_out", "dropped", "note"]
        return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in self.records], columns=cols)

    def to_text(self) -> str:
        if not self.records:
            return "(empty funnel)"
        w = max(len(f"{r.stage}/{r.step}") for r in self.records)
        lines = [f"{'step':<{w}}  {'table':<14} {'rows_in':>12} {'rows_out':>12} {'dropped':>10}  note"]
        for r in self.records:
            lines.append(
                f"{r.stage + '/' + r.step:<{w}}  {r.table:<14} {r.rows_in:>12,} {r.rows_out:>12,} {r.dropped:>10,}  {r.note}"
            )
        return "\n".join(lines)

    __str__ = to_text

    def _repr_html_(self) -> str:  # notebooks
        return self.to_frame().to_html(index=False)


@dataclass(frozen=True)
class Preprocessed:
    """Output of :func:`preprocess`."""

    notes: pd.DataFrame
    ratings: pd.DataFrame
    status_history: pd.DataFrame
    funnel: Funnel
    high_volume: "HighVolumeInfo | None" = None

    def summary(self) -> str:
        return (
            f"preprocessed: {'released' if self.ratings is None else f'{len(self.ratings):,}'} ratings, "
            f"{len(self.notes):,} notes, "
            f"{len(self.status_history):,} status-history rows\n{self.funnel.to_text()}"
        )


# ---------------------------------------------------------------------------
# ratings
# ---------------------------------------------------------------------------
def _examples(frame: pd.DataFrame, cols, n=5) -> str:
    return "; ".join(", ".join(f"{c}={row[c]}" for c in cols) for _, row in frame.head(n).iterrows())


def _dense_codes(column: pd.Series) -> tuple[np.ndarray, int]:
    """Codes ``0..k-1`` of a column's values (missing values one code of their own) and ``k``."""
    values = column.to_numpy() if not isinstance(column.dtype, pd.api.extensions.ExtensionDtype) else None
    if values is not None and values.dtype.kind in "iu" and len(values):
        low, high = int(values.min()), int(values.max())
        if high - low < 4 * len(values):  # dense already (participant codes): no hash table needed
            return values.astype(np.int64) - low, high - low + 1
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def rows_sharing_a_key(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Whether each row's ``(a, b)`` pair occurs in another row too (missing values equal).

    ``DataFrame.duplicated(subset=[a, b], keep=False)`` without its hash table of every row: one
    int64 key a row and its sorted copy (~16 bytes a rating at peak against ~50; 206M ratings:
    ~3 GiB less at the preprocessing's peak). The usual answer, no shared key, is known from the
    sorted keys alone.

    >>> rows_sharing_a_key(pd.Series([1, 1, 2, 1]), pd.Series([5, 6, 5, 5])).tolist()
    [True, False, False, True]
    """
    codes_a, _ = _dense_codes(a)
    codes_b, k_b = _dense_codes(b)
    key = codes_a
    del codes_a
    key *= max(k_b, 1)  # k_a · k_b ≤ (4 · rows)²: far below 2^63
    key += codes_b
    del codes_b
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    if not len(repeated):
        return np.zeros(len(key), dtype=bool)
    return isin(key, unique(repeated))


def drop_duplicate_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Drop exact duplicate rows; raise on conflicting (rater, note) duplicates.

    Spec 01 §1 step 1.  "Exact" compares every column of ``ratings`` (with the
    default load that is every scoring column; rows that differ only in a column
    not loaded, e.g. ``version``, count as exact duplicates here but would abort
    the official run).

    Raises
    ------
    CnlabInputError
        If two different rows share (raterParticipantId, noteId); the message
        lists up to five examples.
    """
    key = [S.RATER_ID, S.NOTE_ID]
    # Only rows sharing a (rater, note) key can be exact duplicates: find those few, then compare
    # whole rows among them (hashing every column of every row costs ~135 bytes per rating at peak)
    same_key = rows_sharing_a_key(ratings[S.RATER_ID], ratings[S.NOTE_ID])
    dup = np.zeros(len(ratings), dtype=bool)
    if same_key.any():
        dup[same_key] = ratings.loc[same_key].duplicated(keep="first").to_numpy()
    out = ratings.loc[~dup] if dup.any() else ratings
    if not same_key.any():
        return out
    conflict = out.duplicated(subset=key, keep=False)
    if conflict.any():
        ex = out.loc[conflict].sort_values(key)
        raise CnlabInputError(
            f"{int(out.loc[conflict, key].drop_duplicates().shape[0])} (rater, note) pair(s) have "
            f"conflicting ratings, e.g. {_examples(ex, key + [S.CREATED_AT, S.HELPFULNESS_LEVEL] if S.HELPFULNESS_LEVEL in ex else key)}",
            column=f"{S.RATER_ID}+{S.NOTE_ID}",
        )
    return out.reset_index(drop=True) if dup.any() else out


def helpful_num_values(ratings: pd.DataFrame) -> np.ndarray:
    """``helpfulNum`` per row (float32, NaN when no label), spec 01 §1.2.

    Assigned in this order, later assignments winning::

        NaN; helpful==1 -> 1; notHelpful==1 -> 0;
        level NOT_HELPFUL -> 0; SOMEWHAT_HELPFUL -> 0.5; HELPFUL -> 1
    """
    n = len(ratings)
    out = np.full(n, np.nan, dtype=np.float32)
    if "helpful" in ratings:
        out[ratings["helpful"].to_numpy(dtype=np.float64, na_value=0.0) == 1] = 1.0
    if "notHelpful" in ratings:
        out[ratings["notHelpful"].to_numpy(dtype=np.float64, na_value=0.0) == 1] = 0.0
    level = ratings[S.HELPFULNESS_LEVEL]
    if isinstance(level.dtype, pd.CategoricalDtype):
        cats = list(level.cat.categories)
        codes = level.cat.codes.to_numpy()
        for name, value in ((S.NOT_HELPFUL, 0.0), (S.SOMEWHAT_HELPFUL, 0.5), (S.HELPFUL, 1.0)):
            if name in cats:
                out[codes == cats.index(name)] = value
    else:
        vals = level.to_numpy(dtype=object)
        for name, value in ((S.NOT_HELPFUL, 0.0), (S.SOMEWHAT_HELPFUL, 0.5), (S.HELPFUL, 1.0)):
            out[vals == name] = value
    return out


def compute_helpful_num(ratings: pd.DataFrame, *, drop_unlabeled: bool = True) -> pd.DataFrame:
    """Add ``helpfulNum`` (float32) and drop rows left NaN (spec 01 §1.2).

    The number dropped is ``len(ratings) - len(result)`` (:func:`preprocess`
    records it in the funnel).
    """
    values = helpful_num_values(ratings)
    out = ratings.assign(**{S.HELPFUL_NUM: values})
    if drop_unlabeled:
        keep = ~np.isnan(values)
        if not keep.all():
            out = out.loc[keep].reset_index(drop=True)
    return out


@dataclass(frozen=True)
class HighVolumeInfo:
    """Thresholds and raters of :func:`tag_high_volume_raters`."""

    applied: bool
    thresholds: Mapping[int, float]  # window days -> quantile threshold
    raters_per_window: Mapping[int, np.ndarray]
    raters: np.ndarray  # union, sorted
    n_ratings: int  # ratings by high-volume raters


def high_volume_raters(
    ratings: pd.DataFrame,
    *,
    quantile: float = 0.999,
    windows_days=(7, 28),
    min_notes: int = 200,
) -> HighVolumeInfo:
    """Which raters are high volume (spec 01 §1.3).

    For each window ``W``: ``cutoff = max(createdAtMillis) - W·86 400 000``;
    ``c_r`` = ratings of rater ``r`` with ``createdAtMillis > cutoff`` (raters
    with none are left out); ``thr = quantile_{0.999}(c)`` (linear
    interpolation); high volume iff ``c_r > thr``.  Union over windows.
    Fewer than ``min_notes`` distinct notes -> nobody.
    """
    n_notes = ratings[S.NOTE_ID].nunique()
    if len(ratings) == 0 or n_notes < min_notes:
        return HighVolumeInfo(False, {}, {}, np.empty(0, np.int64), 0)
    rater = ratings[S.RATER_ID].to_numpy()
    t = ratings[S.CREATED_AT].to_numpy()
    latest = t.max()
    thresholds, per = {}, {}
    for days in windows_days:
        cutoff = latest - days * MILLIS_PER_DAY
        ids, counts = np.unique(rater[t > cutoff], return_counts=True)
        thr = float(np.quantile(counts.astype(np.float64), quantile)) if len(counts) else np.inf
        thresholds[days] = thr
        per[days] = ids[counts > thr]
    union = unique(np.concatenate([per[d] for d in windows_days])) if per else np.empty(0, rater.dtype)
    n = int(isin(rater, union).sum())
    return HighVolumeInfo(True, thresholds, per, union, n)


def tag_high_volume_raters(
    ratings: pd.DataFrame,
    *,
    quantile: float = 0.999,
    windows_days=(7, 28),
    min_notes: int = 200,
) -> pd.DataFrame:
    """Add the boolean ``highVolumeRater`` column (see :func:`high_volume_raters`)."""
    info = high_volume_raters(ratings, quantile=quantile, windows_days=windows_days, min_notes=min_notes)
    flag = isin(ratings[S.RATER_ID].to_numpy(), info.raters) if info.applied else np.zeros(len(ratings), bool)
    return ratings.assign(**{S.HIGH_VOLUME_RATER: flag})


# ---------------------------------------------------------------------------
# notes and status history
# ---------------------------------------------------------------------------
def drop_duplicate_notes(notes: pd.DataFrame) -> pd.DataFrame:
    """Drop identical note rows; raise if a noteId is still repeated (spec 04 §4.5)."""
    dup = notes.duplicated(keep="first")
    out = notes.loc[~dup].reset_index(drop=True) if dup.any() else notes
    rep = out[S.NOTE_ID].duplicated(keep=False)
    if rep.any():
        ids = out.loc[rep, S.NOTE_ID].unique()[:5]
        raise CnlabInputError(
            f"{int(out.loc[rep, S.NOTE_ID].nunique())} noteId(s) appear in different note rows, e.g. {list(ids)}",
            column=S.NOTE_ID,
        )
    return out


def merge_note_info(status_history: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    """Outer-merge the note status history with note info (spec 04 §4.7).

    The result has the NSH columns plus ``classification``, one row per note in
    either table, sorted by noteId.  Notes missing from the NSH (new notes) get
    ``createdAtMillis`` and author from ``notes``; NSH rows of deleted notes are
    kept with ``classification`` NaN.

    Raises
    ------
    CnlabInputError
        Duplicate noteIds in the NSH, or a note whose NSH createdAtMillis /
        author differ from the notes file.
    """
    nsh = status_history
    if nsh[S.NOTE_ID].duplicated().any():
        ids = nsh.loc[nsh[S.NOTE_ID].duplicated(), S.NOTE_ID].unique()[:5]
        raise CnlabInputError(f"duplicate noteIds in note status history, e.g. {list(ids)}", column=S.NOTE_ID)
    info = notes[[S.NOTE_ID, S.CREATED_AT, S.AUTHOR_ID, S.CLASSIFICATION]]
    merged = nsh.drop(columns=[S.CLASSIFICATION], errors="ignore").merge(
        info, on=S.NOTE_ID, how="outer", suffixes=("", "_notes"), indicator=True, sort=True
    )
    new = (merged["_merge"] == "right_only").to_numpy()
    both = (merged["_merge"] == "both").to_numpy()
    for col in (S.CREATED_AT, S.AUTHOR_ID):
        mine, theirs = merged[col], merged[f"{col}_notes"]
        differ = both & (mine.to_numpy(dtype=np.float64, na_value=np.nan) != theirs.to_numpy(dtype=np.float64, na_value=np.nan))
        if differ.any():
            ids = merged.loc[differ, S.NOTE_ID].tolist()[:5]
            raise CnlabInputError(
                f"{int(differ.sum())} note(s) have a different {col} in notes and note status history, e.g. noteIds {ids}",
                column=col,
            )
        filled = mine.where(~new, theirs)
        merged[col] = filled.astype(nsh[col].dtype if not new.any() or col != S.AUTHOR_ID else np.int32)
    merged[S.CREATED_AT] = merged[S.CREATED_AT].astype(np.int64)
    out = merged.drop(columns=[f"{S.CREATED_AT}_notes", f"{S.AUTHOR_ID}_notes", "_merge"])
    out = out.reset_index(drop=True)
    out.attrs["notes_added"] = int(new.sum())
    return out


@dataclass(frozen=True)
class MisleadingBreakdown:
    """Counts of :func:`filter_misleading_notes` (the official log lines)."""

    ratings_in: int
    notes_in: int
    misleading: tuple[int, int]  # (ratings, notes) kept
    deleted_in_nsh: tuple[int, int]  # kept
    not_misleading_new: tuple[int, int]  # kept
    not_misleading_old: tuple[int, int]  # removed
    deleted_not_in_nsh: tuple[int, int]  # removed


def _misleading_masks(ratings, status_history, launch):
    """Per rating: its note's row in the status history (int32, -1 if absent) and the five masks
    of :class:`MisleadingBreakdown`. The note-level tests are made once per note and looked up,
    so each rating costs its row and five booleans."""
    nsh = status_history
    idx = pd.Index(nsh[S.NOTE_ID]).get_indexer(ratings[S.NOTE_ID]).astype(np.int32)
    found = idx >= 0
    at = np.maximum(idx, 0)
    cls = pd.Categorical(nsh[S.CLASSIFICATION], categories=list(S.CLASSIFICATIONS)).codes
    created = nsh[S.CREATED_AT].to_numpy(dtype=np.float64, na_value=np.nan)
    if not len(nsh):  # every rating's note is absent
        cls, created, at = np.full(1, -1, np.int8), np.full(1, np.nan), np.zeros(len(idx), np.int32)

    def per_rating(note_flag: np.ndarray) -> np.ndarray:
        return found & note_flag[at]

    deleted = ~found | (cls[at] == -1)
    in_nsh = per_rating(~np.isnan(created))
    new = per_rating(created > launch)
    nm = per_rating(cls == S.CLASSIFICATIONS.index(S.NOT_MISLEADING))
    masks = {
        "misleading": per_rating(cls == S.CLASSIFICATIONS.index(S.MISLEADING)),
        "deleted_in_nsh": deleted & in_nsh,
        "not_misleading_new": nm & new,
        "not_misleading_old": nm & ~new,
        "deleted_not_in_nsh": deleted & ~in_nsh,
    }
    return idx, masks


#: rows per step of :func:`_n_notes` (its temporaries are a few bytes per row of one step)
_CHUNK_ROWS = 1 << 22


def _n_notes(ratings: pd.DataFrame, idx: np.ndarray, n_rows: int, mask: np.ndarray | None = None) -> int:
    """Distinct notes of the ratings in ``mask``: those in the status history counted by their row
    there (no hash table of every rating), the others by id."""
    seen = np.zeros(n_rows, dtype=bool)
    rest = np.zeros(len(idx), dtype=bool)
    for a in range(0, len(idx), _CHUNK_ROWS):  # bounded temporaries
        part = idx[a:a + _CHUNK_ROWS]
        wanted = True if mask is None else mask[a:a + _CHUNK_ROWS]
        found = part >= 0
        seen[part[found & wanted]] = True
        rest[a:a + _CHUNK_ROWS] = ~found & wanted
    n = int(np.count_nonzero(seen))
    if rest.any():
        n += int(pd.unique(ratings[S.NOTE_ID].to_numpy()[rest]).size)
    return n


def n_distinct(values) -> int:
    """Distinct values of a column (missing values count once, as ``pd.unique``): a presence
    array over the range for dense integer codes (participant codes; no hash table sized to the
    rows), ``pd.unique`` otherwise.

    >>> n_distinct(np.array([3, 1, 3, 2], dtype=np.int32)), n_distinct(pd.Series(["a", None, "a"]))
    (3, 2)
    """
    v = values.to_numpy() if isinstance(values, pd.Series) and not isinstance(
        values.dtype, pd.api.extensions.ExtensionDtype) else values
    if isinstance(v, np.ndarray) and v.dtype.kind in "iu" and len(v):
        low, high = int(v.min()), int(v.max())
        if high - low < 4 * len(v) + (1 << 20):
            seen = np.zeros(high - low + 1, dtype=bool)
            seen[v - low if low else v] = True
            return int(np.count_nonzero(seen))
    return int(pd.unique(values).size)


def _breakdown(ratings, status_history, idx, masks) -> MisleadingBreakdown:
    rows = len(status_history)

    def count(key):
        return int(masks[key].sum()), _n_notes(ratings, idx, rows, masks[key])

    return MisleadingBreakdown(
        len(ratings), _n_notes(ratings, idx, rows), *(count(k) for k in (
            "misleading", "deleted_in_nsh", "not_misleading_new", "not_misleading_old", "deleted_not_in_nsh"))
    )


def misleading_breakdown(ratings, status_history, *, not_misleading_ui_launch_millis=1664755200000) -> MisleadingBreakdown:
    idx, masks = _misleading_masks(ratings, status_history, not_misleading_ui_launch_millis)
    return _breakdown(ratings, status_history, idx, masks)


def _kept(ratings, masks) -> tuple[pd.DataFrame, np.ndarray]:
    keep = masks["misleading"] | masks["deleted_in_nsh"] | masks["not_misleading_new"]
    return (ratings if keep.all() else ratings.loc[keep].reset_index(drop=True)), keep


def filter_misleading_notes(
    ratings: pd.DataFrame, status_history: pd.DataFrame, *, not_misleading_ui_launch_millis: int = 1664755200000
) -> pd.DataFrame:
    """Keep ratings the official scorer scores (spec 04 §4.8).

    ``status_history`` must be the output of :func:`merge_note_info` (it needs
    ``classification``).  A rating is kept iff its note is misleading; or it is
    deleted (no classification) but in the status history; or it is
    NOT_MISLEADING and was created after ``not_misleading_ui_launch_millis``.
    """
    S.require_columns(status_history, [S.NOTE_ID, S.CREATED_AT, S.CLASSIFICATION], where="filter_misleading_notes")
    _idx, masks = _misleading_masks(ratings, status_history, not_misleading_ui_launch_millis)
    return _kept(ratings, masks)[0]


# ---------------------------------------------------------------------------
# prefilter (spec 01 §2)
# ---------------------------------------------------------------------------
def _count_filter(ratings: pd.DataFrame, col: str, minimum: int) -> pd.DataFrame:
    if minimum <= 0 or len(ratings) == 0:
        return ratings
    codes, _uniq = pd.factorize(ratings[col], use_na_sentinel=False)
    keep = (np.bincount(codes) >= minimum)[codes]  # a boolean a row, not a count a row
    del codes
    return ratings if keep.all() else ratings.loc[keep]


def filter_ratings(ratings: pd.DataFrame, *, min_ratings_per_rater: int, min_raters_per_note: int) -> pd.DataFrame:
    """Three-pass prefilter of spec 01 §2 (not iterated to convergence).

    1. notes with >= ``min_raters_per_note`` ratings; 2. raters with >=
    ``min_ratings_per_rater`` ratings (counted after 1); 3. pass 1 again.
    Prescoring uses (10, 5), final scoring (0, 5).  Row order is kept; the index
    is reset.
    """
    out = _count_filter(ratings, S.NOTE_ID, min_raters_per_note)
    out = _count_filter(out, S.RATER_ID, min_ratings_per_rater)
    out = _count_filter(out, S.NOTE_ID, min_raters_per_note)
    return out.reset_index(drop=True) if len(out) != len(ratings) else out


# ---------------------------------------------------------------------------
# the chain
# ---------------------------------------------------------------------------
def preprocess(dataset, *, config: PreprocessConfig = PreprocessConfig()) -> Preprocessed:
    """Run the official preprocessing (spec 04 §4) on a :class:`cnlab.io.Dataset`.

    Returns ratings with ``helpfulNum`` (float32) and ``highVolumeRater``
    (bool), deduplicated notes, the merged status history (with
    ``classification``) and the :class:`Funnel` of every step.
    """
    stage = "preprocess"
    f = Funnel()
    r0 = dataset.ratings
    f = f.add(stage, "load", len(r0), len(r0), "ratings as loaded", raters=n_distinct(r0[S.RATER_ID]),
              participants=len(getattr(dataset, "participants", ())))
    r1 = drop_duplicate_ratings(r0)
    f = f.add(stage, "drop_duplicate_ratings", len(r0), len(r1), "exact duplicate rows")
    r2 = compute_helpful_num(r1)
    f = f.add(stage, "compute_helpful_num", len(r1), len(r2), "no helpful/notHelpful/helpfulnessLevel label")
    hv = None
    if len(r2):
        hv = high_volume_raters(
            r2, quantile=config.high_volume_quantile, windows_days=config.high_volume_windows_days,
            min_notes=config.min_notes_for_high_volume,
        )
        flag = isin(r2[S.RATER_ID].to_numpy(), hv.raters) if hv.applied else np.zeros(len(r2), bool)
        r3 = r2.assign(**{S.HIGH_VOLUME_RATER: flag})
        note = (
            "thresholds " + ", ".join(f"{d}d={t:.3f} ({len(hv.raters_per_window[d])} raters)" for d, t in hv.thresholds.items())
            + f"; {len(hv.raters)} high-volume raters, {hv.n_ratings} ratings"
            if hv.applied else f"fewer than {config.min_notes_for_high_volume} notes: none flagged"
        )
        f = f.add(stage, "tag_high_volume_raters", len(r2), len(r3), note,
                  thresholds=dict(hv.thresholds), raters_per_window={d: len(v) for d, v in hv.raters_per_window.items()},
                  n_raters=len(hv.raters), n_ratings=hv.n_ratings, total_raters=n_distinct(r2[S.RATER_ID]))
    else:
        r3 = r2.assign(**{S.HIGH_VOLUME_RATER: np.zeros(0, bool)})
        # recorded too, so that every ratings step appears in the funnel whatever the data
        f = f.add(stage, "tag_high_volume_raters", 0, 0, "no ratings: none flagged")

    n0 = dataset.notes
    n1 = drop_duplicate_notes(n0)
    f = f.add(stage, "drop_duplicate_notes", len(n0), len(n1), "exact duplicate note rows", table="notes")
    if config.tweet_id_as_string and S.TWEET_ID in n1:
        n1 = n1.assign(**{S.TWEET_ID: n1[S.TWEET_ID].astype("str")})
    h0 = dataset.status_history
    h1 = merge_note_info(h0, n1)
    added = h1.attrs.get("notes_added", 0)
    f = f.add(stage, "merge_note_info", len(h0), len(h1), f"{added} new note(s) added to the status history",
              table="status_history", notes_added=added)

    if config.filter_misleading_notes:
        S.require_columns(h1, [S.NOTE_ID, S.CREATED_AT, S.CLASSIFICATION], where="filter_misleading_notes")
        idx, masks = _misleading_masks(r3, h1, config.not_misleading_ui_launch_millis)
        b = _breakdown(r3, h1, idx, masks)
        r4, keep = _kept(r3, masks)
        notes_out = _n_notes(r3, idx, len(h1), keep)  # every kept rating's note is in the history
        del idx, masks, keep
        note = (
            f"kept {b.misleading[0]} on {b.misleading[1]} misleading notes, {b.deleted_in_nsh[0]} on "
            f"{b.deleted_in_nsh[1]} deleted notes in NSH, {b.not_misleading_new[0]} on {b.not_misleading_new[1]} "
            f"new not-misleading notes; removed {b.not_misleading_old[0]} on {b.not_misleading_old[1]} old "
            f"not-misleading notes, {b.deleted_not_in_nsh[0]} on {b.deleted_not_in_nsh[1]} deleted notes not in NSH"
        )
        f = f.add(stage, "filter_misleading_notes", len(r3), len(r4), note, breakdown=b,
                  notes_out=notes_out, raters_out=n_distinct(r4[S.RATER_ID]))
    else:
        r4 = r3
    return Preprocessed(notes=n1, ratings=r4, status_history=h1, funnel=f, high_volume=hv)
