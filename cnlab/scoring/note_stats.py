"""Per-note rating statistics (spec 03 §2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cnlab import schema as S

__all__ = [
    "compute_note_stats",
    "note_counts_by_rater_sign",
    "population_sampled_counts_by_rater_sign",
    "NSH_STAT_COLUMNS",
    "MILLIS_PER_DAY",
]

MILLIS_PER_DAY = 24 * 3600 * 1000
RECENT_WINDOW_DAYS = 28  # numRatingsLast28 window (spec 03 §2.1)
NSH_STAT_COLUMNS = (S.NOTE_ID, S.CREATED_AT, S.AUTHOR_ID, S.CLASSIFICATION, "currentStatus", "lockedStatus")


def compute_note_stats(ratings: pd.DataFrame, status_history: pd.DataFrame, *, epoch_millis: int) -> pd.DataFrame:
    """Rating counts and tag counts per note, outer-joined with the NSH (spec 03 §2.1).

    Per note: ``numRatings``, the 22 tag counts, ``numPopulationSampledRatings`` and
    ``numRatingsLast28`` (``createdAtMillis > now − 28 days``); joined with NSH columns
    noteId, createdAtMillis, noteAuthorParticipantId, classification, currentStatus, lockedStatus
    (those present).  Notes in NSH without ratings get 0 counts (int64).

    Raises
    ------
    ValueError
        If a rated note is missing from the NSH (the official code asserts this).
    """
    # Per-column counts on note codes: one rating-length column alive at a time (a frame of the
    # 25 int64 count columns grouped at once took ~250 B per rating); integer sums are exact.
    # Whole columns read, no row selection of the frame: ``ratings`` may be a column view
    # (:class:`cnlab.pipeline.spill.TakenColumns`), each bit field read once for its tags.
    codes, uniq = pd.factorize(ratings[S.NOTE_ID], sort=True)
    keep = None
    if (codes < 0).any():  # NaN note ids: groupby drops them
        keep = codes >= 0
        codes = codes[keep]
    n_notes = len(uniq)

    def column(values: np.ndarray) -> np.ndarray:
        return values if keep is None else values[keep]

    def per_note(values: np.ndarray | None = None) -> np.ndarray:
        if values is None:
            return np.bincount(codes, minlength=n_notes).astype(np.int64)
        return np.bincount(codes, weights=values, minlength=n_notes).astype(np.int64)

    sums = pd.DataFrame({S.NOTE_ID: np.asarray(uniq)})
    sums[S.NUM_RATINGS] = per_note()
    by_source: dict[str, list[str]] = {}
    for tag in S.ALL_TAGS:
        by_source.setdefault(S.tag_source(ratings.columns, tag), []).append(tag)
    for src, tags in by_source.items():
        one = pd.DataFrame({src: column(ratings[src].to_numpy())}, copy=False)
        for tag in tags:
            sums[tag] = per_note(S.tag_values(one, tag))
        del one
    sums = sums[[S.NOTE_ID, S.NUM_RATINGS, *S.ALL_TAGS]]
    if S.RATING_SOURCE in ratings.columns:
        sampled = column((ratings[S.RATING_SOURCE] == S.SOURCE_POPULATION_SAMPLED)
                         .to_numpy(dtype=bool, na_value=False))
        sums["numPopulationSampledRatings"] = np.bincount(codes[sampled], minlength=n_notes).astype(np.int64)
        del sampled
    else:
        sums["numPopulationSampledRatings"] = np.zeros(n_notes, dtype=np.int64)
    recent_cut = epoch_millis - RECENT_WINDOW_DAYS * MILLIS_PER_DAY
    sums["numRatingsLast28"] = np.bincount(codes[column(ratings[S.CREATED_AT].to_numpy()) > recent_cut],
                                           minlength=n_notes).astype(np.int64)
    count_cols = [c for c in sums.columns if c != S.NOTE_ID]

    nsh_cols = [c for c in NSH_STAT_COLUMNS if c in status_history.columns]
    nsh = status_history[nsh_cols]
    missing = ~sums[S.NOTE_ID].isin(nsh[S.NOTE_ID])
    if missing.any():
        raise ValueError(f"compute_note_stats: {int(missing.sum())} rated note(s) absent from the status history")
    out = nsh.merge(sums, on=S.NOTE_ID, how="left")
    for c in count_cols:
        out[c] = out[c].fillna(0).astype(np.int64)
    return out.sort_values(S.NOTE_ID, kind="mergesort").reset_index(drop=True)


def _signed(ratings: pd.DataFrame, rater_params: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, neg)``: the positions of the ratings whose rater has a factor (in input order, as
    an inner merge on the rater keeps them) and whether that factor is negative.

    A lookup per rating instead of the merge, which copied the ratings with the factor column."""
    rp = rater_params[[S.RATER_ID, S.RATER_FACTOR1]].dropna(subset=[S.RATER_FACTOR1])
    raters = pd.Index(rp[S.RATER_ID])
    if not raters.is_unique:
        raise ValueError(f"rater params have repeated {S.RATER_ID}s, e.g. {list(raters[raters.duplicated()][:5])}")
    at = raters.get_indexer(ratings[S.RATER_ID])
    rows = np.flatnonzero(at >= 0)
    # Factor < 0 → negative side; exactly 0 counts as positive (spec 03 §2.2).
    neg = rp[S.RATER_FACTOR1].to_numpy()[at[rows]] < 0
    return rows, neg


def note_counts_by_rater_sign(ratings: pd.DataFrame, rater_params: pd.DataFrame) -> pd.DataFrame:
    """Per-side rating counts, mean helpfulness and net-helpful minimum (spec 03 §2.2).

    For side s ∈ {neg (f_u < 0), pos (f_u ≥ 0)}::

        net_s = #(helpfulNum == 1) − #(helpfulNum == 0)
        netMinHelpful      = max(0, min(net_neg, net_pos))
        netMinHelpfulRatio = netMinHelpful / (n_neg + n_pos)

    ``minSignCount``/``netMinHelpful`` are int32; the side means and the ratio are float32
    (threshold comparisons downstream happen in float32).  Notes without any rating from a
    rater with a factor are absent.
    """
    rows, neg = _signed(ratings, rater_params)
    # per (note, side) sums by bincount over note codes ×2 + side, not a groupby of a rating-level
    # frame (~100 B a rating at once): counts and net counts are integers, and the helpfulness sums
    # add values of {0, ½, 1}, exact in float64, so the means are the groupby's to the bit
    codes, notes = pd.factorize(ratings[S.NOTE_ID].to_numpy()[rows], sort=True)
    if (codes < 0).any():  # NaN note ids: a groupby drops them
        keep = codes >= 0
        rows, neg, codes = rows[keep], neg[keep], codes[keep]
    key = codes * 2 + neg
    del codes
    m = len(notes)
    h = ratings[S.HELPFUL_NUM].to_numpy()[rows]
    del rows, neg
    n = np.bincount(key, minlength=2 * m).reshape(m, 2)
    h_sum = np.bincount(key, weights=h, minlength=2 * m).reshape(m, 2)
    net = (np.bincount(key[h == 1.0], minlength=2 * m) - np.bincount(key[h == 0.0], minlength=2 * m)).reshape(m, 2)
    del key, h
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, h_sum / np.maximum(n, 1), np.nan)
    n_pos, n_neg = n[:, 0], n[:, 1]
    net_pos, net_neg = net[:, 0], net[:, 1]
    out = pd.DataFrame({S.NOTE_ID: np.asarray(notes)})
    out["negFactor_ratingCount"] = n_neg.astype(np.int64)
    out["posFactor_ratingCount"] = n_pos.astype(np.int64)
    out["minSignCount"] = np.minimum(n_neg, n_pos).astype(np.int32)
    out["negFactor_meanHelpfulNum"] = mean[:, 1].astype(np.float32)
    out["posFactor_meanHelpfulNum"] = mean[:, 0].astype(np.float32)
    net_min = np.maximum(0, np.minimum(net_neg, net_pos)).astype(np.int32)
    out["netMinHelpful"] = net_min
    out["netMinHelpfulRatio"] = (net_min / (n_neg + n_pos).astype(np.float64)).astype(np.float32)
    return out


def population_sampled_counts_by_rater_sign(ratings: pd.DataFrame, rater_params: pd.DataFrame) -> pd.DataFrame:
    """Counts of POPULATION_SAMPLED ratings per rater-factor side (spec 03 §2.3).

    Returns noteId, ``negFactor_populationSampledRatingCount``,
    ``posFactor_populationSampledRatingCount`` (int64; 0 when a side has none).  Notes without
    population-sampled ratings from raters with a factor are absent.
    """
    cols = [S.NOTE_ID, S.RATER_ID, S.RATING_SOURCE]
    if S.RATING_SOURCE not in ratings.columns:
        return pd.DataFrame({S.NOTE_ID: pd.Series(dtype=np.int64),
                             "negFactor_populationSampledRatingCount": pd.Series(dtype=np.int64),
                             "posFactor_populationSampledRatingCount": pd.Series(dtype=np.int64)})
    r = ratings[cols]
    r = r[S.equals_value(r[S.RATING_SOURCE], S.SOURCE_POPULATION_SAMPLED)]  # by codes: no object array
    rows, neg = _signed(r, rater_params)
    out = pd.DataFrame({S.NOTE_ID: r[S.NOTE_ID].to_numpy()[rows],
                        "negFactor_populationSampledRatingCount": neg.astype(np.int64),
                        "posFactor_populationSampledRatingCount": (~neg).astype(np.int64)})
    return out.groupby(S.NOTE_ID, sort=True).sum().reset_index()
