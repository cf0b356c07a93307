"""Incorrect-tag filter aggregates (spec 03 §6)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.scoring import factors as FX

__all__ = ["user_incorrect_ratio", "incorrect_aggregates", "INTERVAL_HALF_WIDTH", "FACTOR_CLIP"]

INTERVAL_HALF_WIDTH = 0.3  # intervalHalfWidth
FACTOR_CLIP = 0.4  # factors clipped to [-0.4, 0.4] before the interval test


def _nh_tagged(ratings: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in ratings.columns if c in (S.NOTE_ID, S.RATER_ID, S.NOT_HELPFUL_TAG_BITS, *S.NOT_HELPFUL_TAGS)]
    r = S.unpack_tags(ratings[keep], S.NOT_HELPFUL_TAGS)
    total = sum(r[t].to_numpy(dtype=np.int64, na_value=0) for t in S.NOT_HELPFUL_TAGS)
    return r[total > 0]


def user_incorrect_ratio(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rater, over ratings with ≥1 not-helpful tag (spec 03 §6, prescoring).

    Returns raterParticipantId, ``incorrectTagRatingsMadeByRater`` (# with notHelpfulIncorrect)
    and ``totalRatingsMadeByRater`` (# NH-tagged ratings).
    """
    # the tag total one column at a time, then only the tagged rows' two columns (the frame
    # version copied and unpacked the 13 tags of every rating first)
    total = np.zeros(len(ratings), dtype=np.int64)
    for tag in S.NOT_HELPFUL_TAGS:
        total += S.tag_values(ratings, tag, dtype=np.int64, na_value=0)
    tagged = total > 0
    del total
    df = pd.DataFrame({S.RATER_ID: ratings[S.RATER_ID].to_numpy()[tagged],
                       "incorrectTagRatingsMadeByRater": S.tag_values(ratings, S.INCORRECT_TAG, dtype=np.int64, na_value=0)[tagged],
                       "totalRatingsMadeByRater": 1})
    return df.groupby(S.RATER_ID, sort=True).sum().reset_index()


def incorrect_aggregates(
    ratings: pd.DataFrame, note_params: pd.DataFrame, rater_params_with_counts: pd.DataFrame,
    *, interval_half_width: float = INTERVAL_HALF_WIDTH, factor_clip: float = FACTOR_CLIP,
    factor_rule: str = "norm",
) -> pd.DataFrame:
    """Per-note incorrect-tag tf-idf within a factor interval (spec 03 §6, final scoring).

    Keep NH-tagged ratings with ``|clip(f_u) − clip(f_n)| < 0.3``; ``p_u = incorrect_u / total_u``
    (NaN → 0); per note::

        num_voters_interval          = #kept
        notHelpfulIncorrect_interval = Σ incorrect
        p_incorrect_user_interval    = Σ p_u
        tf_idf_incorrect_interval    = notHelpfulIncorrect_interval / ln(1 + p_incorrect_user_interval)

    Notes with no kept rating are absent (NaN after the caller's join).

    With k factors (axes 2..k in both frames): ``factor_rule="norm"`` clips radially,
    ``c(f) = f · min(1, 0.4 / ‖f‖₂)``, and keeps ``‖c(f_u) − c(f_n)‖₂ < 0.3`` (unchanged by a
    rotation of the factor space); ``"axis"`` clips every axis to [−0.4, 0.4] and keeps
    ``∀j: |clip(f_u,j) − clip(f_n,j)| < 0.3``. Both are the 1-D test when k = 1.
    """
    ncols = FX.factor_columns(note_params, S.NOTE_FACTOR1)
    ucols = FX.factor_columns(rater_params_with_counts, S.RATER_FACTOR1)
    lean = _lean_1d(ratings, note_params, rater_params_with_counts, interval_half_width, factor_clip,
                    several_axes=len(ncols) > 1 and len(ncols) == len(ucols))
    if lean is not None:
        return lean
    r = _nh_tagged(ratings)
    if len(ncols) > 1 and len(ncols) == len(ucols):
        # rater axes renamed apart from the note axes (both are "...Factor<j>" of their own frame)
        ren = {c: f"_u{c}" for c in ucols}
        u = rater_params_with_counts[[S.RATER_ID, *ucols, "incorrectTagRatingsMadeByRater",
                                      "totalRatingsMadeByRater"]].rename(columns=ren)
        df = r.merge(note_params[[S.NOTE_ID, *ncols]], on=S.NOTE_ID, how="inner").merge(
            u, on=S.RATER_ID, how="inner")
        fu = _clip_k(df[list(ren.values())].to_numpy(dtype=np.float64), factor_clip, factor_rule)
        fn = _clip_k(df[ncols].to_numpy(dtype=np.float64), factor_clip, factor_rule)
        kept = df[FX.factor_distance(fu, fn, factor_rule) < interval_half_width]
        return _incorrect_sums(kept)
    n = note_params[[S.NOTE_ID, S.NOTE_FACTOR1]]
    u = rater_params_with_counts[[S.RATER_ID, S.RATER_FACTOR1, "incorrectTagRatingsMadeByRater", "totalRatingsMadeByRater"]]
    df = r.merge(n, on=S.NOTE_ID, how="inner").merge(u, on=S.RATER_ID, how="inner")
    fu = np.clip(df[S.RATER_FACTOR1].to_numpy(dtype=np.float64), -factor_clip, factor_clip)
    fn = np.clip(df[S.NOTE_FACTOR1].to_numpy(dtype=np.float64), -factor_clip, factor_clip)
    kept = df[np.abs(fu - fn) < interval_half_width]
    return _incorrect_sums(kept)


def _lean_1d(ratings: pd.DataFrame, note_params: pd.DataFrame, raters: pd.DataFrame,
             half_width: float, clip: float, *, several_axes: bool) -> pd.DataFrame | None:
    """:func:`incorrect_aggregates` of one factor on index arrays: the tagged ratings' positions,
    their note and rater params looked up (the inner joins, in rating order), the kept rows'
    three columns summed per note. No unpacked tag frame and no joined copy of the ratings (at
    206M ratings those were ~80 bytes a rating beside the scorer's slice). ``None`` where the
    joins could repeat rows (duplicate or missing ids) or there are several axes: the caller
    takes the frame path, with the same result."""
    if several_axes:
        return None
    if all(S.tag_source(ratings.columns, t) == S.NOT_HELPFUL_TAG_BITS for t in S.NOT_HELPFUL_TAGS):
        # the packed field read once: a rating has a not-helpful tag when one of their bits is set
        tagged = (ratings[S.NOT_HELPFUL_TAG_BITS].to_numpy() & ((1 << len(S.NOT_HELPFUL_TAGS)) - 1)) != 0
    else:
        tagged = np.zeros(len(ratings), dtype=bool)
        for tag in S.NOT_HELPFUL_TAGS:
            tagged |= S.tag_values(ratings, tag, dtype=np.int64, na_value=0) != 0
    pos = np.flatnonzero(tagged)
    del tagged
    joined = FX.param_rows(ratings[S.NOTE_ID].to_numpy()[pos], ratings[S.RATER_ID].to_numpy()[pos],
                           note_params, raters)
    if joined is None:
        return None
    at, jn, ju = joined
    pos = pos[at]
    fu = np.clip(raters[S.RATER_FACTOR1].to_numpy(dtype=np.float64)[ju], -clip, clip)
    fn = np.clip(note_params[S.NOTE_FACTOR1].to_numpy(dtype=np.float64)[jn], -clip, clip)
    near = np.abs(fu - fn) < half_width
    pos, ju = pos[near], ju[near]
    kept = pd.DataFrame({
        S.NOTE_ID: ratings[S.NOTE_ID].to_numpy()[pos],
        S.INCORRECT_TAG: S.tag_values(ratings, S.INCORRECT_TAG)[pos],
        # the counts' own dtype, as the join carries it
        "incorrectTagRatingsMadeByRater": raters["incorrectTagRatingsMadeByRater"].array.take(ju),
        "totalRatingsMadeByRater": raters["totalRatingsMadeByRater"].array.take(ju),
    })
    return _incorrect_sums(kept)


def _clip_k(F: np.ndarray, clip: float, rule: str) -> np.ndarray:
    """Per-axis clip (``"axis"``) or radial clip to the ball of radius ``clip`` (``"norm"``)."""
    if rule == "axis":
        return np.clip(F, -clip, clip)
    norm = np.sqrt(np.sum(F * F, axis=1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        return F * np.minimum(1.0, clip / norm)


def _incorrect_sums(kept: pd.DataFrame) -> pd.DataFrame:
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (kept["incorrectTagRatingsMadeByRater"].to_numpy(dtype=np.float64)
             / kept["totalRatingsMadeByRater"].to_numpy(dtype=np.float64))
    p = np.nan_to_num(p, nan=0.0)
    agg = pd.DataFrame({
        S.NOTE_ID: kept[S.NOTE_ID].to_numpy(),
        "notHelpfulIncorrect_interval": kept[S.INCORRECT_TAG].to_numpy(dtype=np.float64, na_value=0.0),
        "p_incorrect_user_interval": p,
        "num_voters_interval": 1.0,
    }).groupby(S.NOTE_ID, sort=True).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["tf_idf_incorrect_interval"] = agg["notHelpfulIncorrect_interval"] / np.log1p(agg["p_incorrect_user_interval"])
    return agg.reset_index()[[S.NOTE_ID, "notHelpfulIncorrect_interval", "p_incorrect_user_interval",
                              "num_voters_interval", "tf_idf_incorrect_interval"]]
