"""Tag-outlier filter: distance-weighted tag aggregates and thresholds (spec 03 §5)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.scoring import factors as FX

__all__ = ["note_tag_aggregates", "tag_thresholds", "rating_weights", "TAG_DISTANCE_PERCENTILE", "WEIGHT_EXPONENT"]

TAG_DISTANCE_PERCENTILE = 40  # tagPercentileForNormalization
WEIGHT_EXPONENT = 5  # w = 1 / (1 + (d / p40)^5)


def _znorm(x: pd.Series) -> pd.Series:
    # Population std (ddof=0), as numpy's default in the official code.
    v = x.to_numpy(dtype=np.float64)
    return pd.Series((v - np.nanmean(v)) / np.nanstd(v), index=x.index)


def rating_weights(
    ratings: pd.DataFrame, note_params: pd.DataFrame, rater_params: pd.DataFrame,
    *, percentile: float = TAG_DISTANCE_PERCENTILE, factor_rule: str = "norm",
) -> pd.DataFrame:
    """Ratings joined to z-normalised factors with their weight (spec 03 §5 steps 1–4).

    ``d = |f̃_u − f̃_n|``, ``p40 = nanpercentile(d, 40)``, ``w = 1 / (1 + (d / p40)^5)``.
    Ratings whose note or rater lacks params are dropped (inner joins).

    With k factors (``internal{Note,Rater}Factor2..k`` in both frames):

    * ``factor_rule="norm"``: ``f̃ = (f − f̄) / s`` with the mean vector ``f̄`` and one scale
      ``s = (mean ‖f − f̄‖₂² / k)^½`` per table (the 1-D population std when k = 1), and
      ``d = ‖f̃_u − f̃_n‖₂`` — unchanged by a rotation of the factor space;
    * ``"axis"``: every axis z-normalised on its own and ``d = max_j |f̃_u,j − f̃_n,j|`` (a
      rating is near the note only when it is near on every axis).
    """
    ncols = FX.factor_columns(note_params, S.NOTE_FACTOR1)
    ucols = FX.factor_columns(rater_params, S.RATER_FACTOR1)
    if len(ncols) > 1 and len(ncols) == len(ucols):
        return _rating_weights_k(ratings, note_params, rater_params, ncols, ucols, percentile, factor_rule)
    n = note_params[[S.NOTE_ID, S.NOTE_FACTOR1]].copy()
    n["_fn"] = _znorm(n[S.NOTE_FACTOR1])
    u = rater_params[[S.RATER_ID, S.RATER_FACTOR1]].copy()
    u["_fu"] = _znorm(u[S.RATER_FACTOR1])
    df = ratings.merge(n[[S.NOTE_ID, "_fn"]], on=S.NOTE_ID, how="inner")
    df = df.merge(u[[S.RATER_ID, "_fu"]], on=S.RATER_ID, how="inner")
    d = np.abs(df["_fu"].to_numpy() - df["_fn"].to_numpy())
    p = np.nanpercentile(d, percentile) if len(d) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):  # p40 == 0: NaN/1 weights, as numpy gives
        df["ratingWeight"] = 1.0 / (1.0 + (d / p) ** WEIGHT_EXPONENT)
    return df


def _znorm_k(F: np.ndarray, rule: str) -> np.ndarray:
    """k-D z-normalisation: per axis (``"axis"``) or isotropic (``"norm"``: mean vector, one
    scale ``(mean ‖f − f̄‖² / k)^½``, NaN rows ignored)."""
    centred = F - np.nanmean(F, axis=0)
    if rule == "axis":
        return centred / np.nanstd(F, axis=0)
    ok = ~np.isnan(centred).any(axis=1)
    scale = np.sqrt(np.mean(np.sum(centred[ok] ** 2, axis=1)) / F.shape[1]) if ok.any() else np.nan
    return centred / scale


def _rating_weights_k(ratings, note_params, rater_params, ncols, ucols, percentile, rule):
    n = note_params[[S.NOTE_ID]].copy()
    u = rater_params[[S.RATER_ID]].copy()
    zn = [f"_fn{j}" for j in range(len(ncols))]
    zu = [f"_fu{j}" for j in range(len(ucols))]
    nz = _znorm_k(note_params[ncols].to_numpy(np.float64), rule)
    uz = _znorm_k(rater_params[ucols].to_numpy(np.float64), rule)
    for j in range(len(ncols)):
        n[zn[j]] = nz[:, j]
        u[zu[j]] = uz[:, j]
    df = ratings.merge(n, on=S.NOTE_ID, how="inner").merge(u, on=S.RATER_ID, how="inner")
    d = FX.factor_distance(df[zu].to_numpy(), df[zn].to_numpy(), rule)
    p = np.nanpercentile(d, percentile) if len(d) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        df["ratingWeight"] = 1.0 / (1.0 + (d / p) ** WEIGHT_EXPONENT)
    return df.drop(columns=zn + zu)


#: Ratings joined to the params at a time in the one-factor path (a memory bound only).
ROW_BLOCK = 1 << 22


def _weights_1d(ratings: pd.DataFrame, note_params: pd.DataFrame, rater_params: pd.DataFrame,
                percentile: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.dtype] | None:
    """:func:`rating_weights` for one factor without building the joined frame: the positions
    of the ratings whose note and rater have params (in rating order, as the inner joins keep
    them), their note's row in ``note_params`` (int32), their weights and the ratings' noteId
    dtype. ``None`` when the joins could repeat rows (duplicate or missing ids in the params) or
    there are several factors: the caller takes the frame path.

    The joins are lookups a block of :data:`ROW_BLOCK` ratings at a time, and the weights are
    computed in the distances' array (the same operations in the same order: the same floats)."""
    ncols = FX.factor_columns(note_params, S.NOTE_FACTOR1)
    if len(ncols) > 1 and len(ncols) == len(FX.factor_columns(rater_params, S.RATER_FACTOR1)):
        return None
    indexes = FX.param_indexes(note_params, rater_params)
    if indexes is None:
        return None
    note_index, rater_index = indexes
    fn_all = _znorm(note_params[S.NOTE_FACTOR1]).to_numpy()
    fu_all = _znorm(rater_params[S.RATER_FACTOR1]).to_numpy()
    note_ids, rater_ids = ratings[S.NOTE_ID].to_numpy(), ratings[S.RATER_ID].to_numpy()
    note_dtype = note_ids.dtype
    small = len(note_ids) < 2**31
    pos_parts, jn_parts, d_parts = [], [], []
    for lo in range(0, len(note_ids), ROW_BLOCK):
        jn = note_index.get_indexer(note_ids[lo:lo + ROW_BLOCK])
        ju = rater_index.get_indexer(rater_ids[lo:lo + ROW_BLOCK])
        at = np.flatnonzero((jn >= 0) & (ju >= 0))
        jn, ju = jn[at], ju[at]
        d_parts.append(np.abs(fu_all[ju] - fn_all[jn]))
        jn_parts.append(jn.astype(np.int32))
        pos_parts.append((at + lo).astype(np.int32) if small else at + lo)
        del jn, ju, at
    del note_ids, rater_ids

    def joined(parts, dtype):
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    pos, jn = joined(pos_parts, np.int32 if small else np.int64), joined(jn_parts, np.int32)
    del pos_parts, jn_parts
    d = joined(d_parts, np.float64)
    del d_parts
    p = np.nanpercentile(d, percentile) if len(d) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):  # as rating_weights: 1 / (1 + (d / p)^5)
        np.divide(d, p, out=d)
        np.power(d, WEIGHT_EXPONENT, out=d)
        np.add(1.0, d, out=d)
        np.divide(1.0, d, out=d)
    return pos, jn, d, note_dtype


def _note_codes(note_ids: np.ndarray, jn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(note_ids[jn], sort=True)`` for unique ``note_ids`` (a params table's) and
    row numbers ``jn`` into it: codes (int32) and the sorted ids of the notes with a row, from
    the notes' ranks instead of hashing every rating's id."""
    order = np.argsort(note_ids, kind="stable")
    rank = np.empty(len(note_ids), np.int64)
    rank[order] = np.arange(len(note_ids))
    present = np.bincount(rank[jn], minlength=len(note_ids)) > 0
    compact = (np.cumsum(present) - 1).astype(np.int32)
    return compact[rank[jn]], note_ids[order][present]


def _tag_reader(ratings: pd.DataFrame, pos: np.ndarray):
    """Each not-helpful tag's values (float64 0/1) at the increasing positions ``pos``, as
    :func:`cnlab.schema.tag_values` gives them, with each packed field read once at ``pos`` (2
    bytes a rating) rather than whole once a tag. Returns the reader and whether it still needs
    ``pos`` (a tag kept in its own column)."""
    sources = {t: S.tag_source(ratings.columns, t) for t in S.NOT_HELPFUL_TAGS}
    packed = {src: (ratings.take_rows(src, pos) if hasattr(ratings, "take_rows") else ratings[src].to_numpy()[pos])
              for t, src in sources.items() if src != t}

    def values(tag: str) -> np.ndarray:
        src = sources[tag]
        if src == tag:
            return S.tag_values(ratings, tag)[pos]
        k = S.NOT_HELPFUL_TAGS.index(tag)
        return ((packed[src] >> k) & 1).astype(np.int8).astype(np.float64)

    return values, any(src == t for t, src in sources.items())


def note_tag_aggregates(
    ratings: pd.DataFrame, note_params: pd.DataFrame, rater_params: pd.DataFrame,
    *, percentile: float = TAG_DISTANCE_PERCENTILE, factor_rule: str = "norm",
) -> pd.DataFrame:
    """Weighted not-helpful tag totals per note (spec 03 §5 step 5).

    ``<tag>Adjusted = Σ tag·w``; ``ratingWeight = Σ w`` over all the note's ratings;
    ``<tag>AdjustedRatio = <tag>Adjusted / ratingWeight``.

    Returns noteId, ratingWeight, 13 ``<tag>Adjusted``, 13 ``<tag>AdjustedRatio``.
    """
    lean = _weights_1d(ratings, note_params, rater_params, percentile)
    if lean is not None:
        # one factor: weights on index arrays, tags read at the rows from the packed fields;
        # beside the weights, a note code and the packed tags a rating (the positions go unless
        # a tag has its own column)
        pos, jn, w, note_dtype = lean
        tag_values, needs_pos = _tag_reader(ratings, pos)
        if not needs_pos:
            del pos
        codes, uniq = _note_codes(note_params[S.NOTE_ID].to_numpy(), jn)
        uniq = uniq.astype(note_dtype, copy=False)  # the ratings' ids, as a factorisation of them gives
        del jn
    else:
        r = S.unpack_tags(ratings[[c for c in ratings.columns if c in
                                   (S.NOTE_ID, S.RATER_ID, S.NOT_HELPFUL_TAG_BITS, *S.NOT_HELPFUL_TAGS)]],
                          S.NOT_HELPFUL_TAGS)
        df = rating_weights(r, note_params, rater_params, percentile=percentile, factor_rule=factor_rule)
        w = df["ratingWeight"].to_numpy()
        codes, uniq = pd.factorize(pd.Series(df[S.NOTE_ID].to_numpy()), sort=True)

        def tag_values(tag: str) -> np.ndarray:
            return df[tag].to_numpy(dtype=np.float64, na_value=0.0, copy=True)  # multiplied in place
    # One column at a time (grouping a frame of the 14 weighted columns at once held two
    # 112 B-per-rating copies); the same grouped sum per column, in the same row order, so the
    # same floats.
    keep = codes >= 0
    all_kept = bool(keep.all())
    codes = codes if all_kept else codes[keep]
    # categorical keys from the codes: each column's groupby skips re-hashing the note ids
    keys = pd.Categorical.from_codes(codes, categories=np.arange(len(uniq)))
    del codes

    def per_note(values: np.ndarray) -> np.ndarray:
        v = values if all_kept else values[keep]
        return pd.Series(v).groupby(keys, sort=True, observed=True).sum().to_numpy()

    sums = pd.DataFrame({"ratingWeight": per_note(w)},
                        index=pd.Index(np.asarray(uniq), name=S.NOTE_ID))
    for tag in S.NOT_HELPFUL_TAGS:
        v = tag_values(tag)
        np.multiply(v, w, out=v)
        sums[f"{tag}Adjusted"] = per_note(v)
        del v
    for tag in S.NOT_HELPFUL_TAGS:
        sums[f"{tag}AdjustedRatio"] = sums[f"{tag}Adjusted"] / sums["ratingWeight"]
    return sums.reset_index()


def tag_thresholds(aggregates: pd.DataFrame, crh_note_ids: Iterable[int], *, percentile: int) -> dict[str, float]:
    """Per-tag ratio thresholds over CRH notes (spec 02 §3.2, 03 §5).

    ``threshold[t] = quantile(<t>AdjustedRatio over CRH notes, q)`` with the official quirk
    ``q = np.arange(0, 1, 0.01)[P]`` (P = 95 → 0.9500000000000001), linear interpolation;
    0.0 for every tag when there are no CRH notes.
    """
    q = np.arange(0, 1, 0.01)[percentile]
    crh = aggregates[aggregates[S.NOTE_ID].isin(list(crh_note_ids))]
    out: dict[str, float] = {}
    for tag in S.NOT_HELPFUL_TAGS:
        col = f"{tag}AdjustedRatio"
        out[col] = float(crh[col].quantile(q)) if len(crh) else 0.0
    return out
