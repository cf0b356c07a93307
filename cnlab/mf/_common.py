"""Shared NumPy helpers of the MF engine: index maps, initialisation, regulariser scales,
the objective in float64, normalized-loss weights.  No TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab._arrays import aligned_copy, aligned_empty, isin
from cnlab.errors import CnlabInputError

from .config import MFConfig, NormalizedLossConfig

NOTE_ID = schema.NOTE_ID
RATER_ID = schema.RATER_ID


def note_cols(k: int) -> list[str]:
    return [schema.note_factor_col(i + 1) for i in range(k)]


def rater_cols(k: int) -> list[str]:
    return [schema.rater_factor_col(i + 1) for i in range(k)]


@dataclass(frozen=True)
class TrainData:
    """Training ratings as index arrays (spec 01 §4): indices = order of first appearance."""

    note_ids: np.ndarray  # (M,) ids, position = note index
    rater_ids: np.ndarray  # (U,) ids, position = rater index
    n_idx: np.ndarray  # (N,) int32
    u_idx: np.ndarray  # (N,) int32
    y: np.ndarray  # (N,) float32 labels
    w: np.ndarray | None  # (N,) float32 per-rating weights or None
    #: Input row of each rating when the arrays were put in tile order (:func:`tile_order`), else None.
    order: np.ndarray | None = None

    @property
    def N(self) -> int:
        return int(self.y.shape[0])

    @property
    def M(self) -> int:
        return int(self.note_ids.shape[0])

    @property
    def U(self) -> int:
        return int(self.rater_ids.shape[0])

    def with_weights(self, w: np.ndarray | None) -> "TrainData":
        return TrainData(self.note_ids, self.rater_ids, self.n_idx, self.u_idx, self.y, w, self.order)

    def in_input_order(self, per_rating: np.ndarray) -> np.ndarray:
        """A per-rating array of this data's order, in the order of the input rows."""
        if self.order is None:
            return per_rating
        out = np.empty_like(per_rating)
        out[self.order] = per_rating
        return out


#: Ratings above which :func:`prepare` puts the training arrays in tile order: the size above
#: which the TensorFlow loop sums a step in chunks (``cnlab.mf._tf_loop.CHUNK``). At or below it
#: (every fixture) the arrays keep the input order and the sums their bits.
TILE_ABOVE = 1 << 20
#: Notes (and raters) per tile side: a tile's parameter rows (k = 1: 8 bytes a row, 1 MiB a side)
#: stay in the core's cache while its ratings are summed.
TILE = 1 << 17


def tile_order(n_idx: np.ndarray, u_idx: np.ndarray, n_raters: int) -> np.ndarray:
    """The ratings' order by tile: note block (``n_idx // TILE``), then rater block, then input order.

    The step of a fit gathers both sides' parameters by index and sums back by index. In input
    order (random notes and raters) each of those is a cache miss once the tables outgrow the
    cache, and every chunk of the step spans the whole of both tables; in tile order a run of
    ratings touches one block of notes and a few blocks of raters, and the loop sums each chunk
    over those ranges only. At 100M planted ratings (3.3M notes, 1M raters) a step of the official
    loop went from 12.2 to 3.6 s (``bench/mf_large.py``). A stable radix sort on a 16-bit key
    when the tiles fit one (linear time); the order is returned as int32 below 2³¹ ratings.

    >>> tile_order(np.array([0, TILE, 0, 5]), np.array([TILE, 0, 0, 1]), 2 * TILE).tolist()
    [2, 3, 0, 1]
    """
    n_rater_blocks = -(-max(int(n_raters), 1) // TILE)
    key = n_idx // TILE  # built in place: one key array at a time
    key = key.astype(np.int64) if int(key.max(initial=0)) * n_rater_blocks >= 2**31 else key
    key *= n_rater_blocks
    key += u_idx // TILE
    if key.size and int(key.max()) < (1 << 16):
        key = key.astype(np.uint16)  # numpy sorts ≤16-bit integers by radix: linear time
    order = np.argsort(key, kind="stable")
    del key
    # kept for the fit's life (per-rating outputs back in input order): 4 bytes a rating, not 8
    return order.astype(np.int32) if len(order) < 2**31 else order


def _taken(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = aligned_empty(a.shape, a.dtype)
    np.take(a, order, out=out)
    return out


def prepare(
    ratings: pd.DataFrame,
    label_col: str,
    weights=None,
    *,
    extra_rater_ids=None,
) -> TrainData:
    """Build index maps (first appearance, as ``get_note_and_rater_id_maps``) and arrays.

    ``extra_rater_ids`` appends rater rows that have no ratings (pseudo-rater refits keep all three
    pseudo-raters in the user table, spec 01 §10.3)."""
    schema.require_columns(ratings, [NOTE_ID, RATER_ID, label_col], where="cnlab.mf.fit ratings")
    if len(ratings) == 0:
        raise CnlabInputError("cannot fit MF on zero ratings", column=label_col)
    for col in (NOTE_ID, RATER_ID, label_col):
        isna = ratings[col].isna()
        if bool(isna.any()):
            first = int(np.flatnonzero(isna.to_numpy())[0])
            raise CnlabInputError(
                f"NaN/missing value in {col!r} (row position {first}); the official code asserts on this",
                column=col,
            )
    n_idx, note_ids = pd.factorize(ratings[NOTE_ID], sort=False)
    u_idx, rater_ids = pd.factorize(ratings[RATER_ID], sort=False)
    note_ids = np.asarray(note_ids)
    rater_ids = np.asarray(rater_ids)
    if extra_rater_ids is not None and len(extra_rater_ids):
        extra = np.asarray(list(extra_rater_ids), dtype=rater_ids.dtype)
        extra = extra[~isin(extra, rater_ids)]
        rater_ids = np.concatenate([rater_ids, extra])
    y = aligned_copy(ratings[label_col].to_numpy(), np.float32)
    w = None
    if weights is not None:
        w = aligned_copy(weights, np.float32)
        if w.shape != (len(ratings),):
            raise CnlabInputError(f"weights must have one value per rating ({len(ratings)}), got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise CnlabInputError("weights contain NaN/inf")
    n_idx, u_idx = aligned_copy(n_idx, np.int32), aligned_copy(u_idx, np.int32)
    order = None
    if len(y) > TILE_ABOVE:
        # the indices keep their first-appearance meaning (so the initial draws are the same);
        # only the ratings' order changes, hence the order of the step's sums
        order = tile_order(n_idx, u_idx, len(rater_ids))
        # one array at a time, each replaced before the next: a rating-length copy at once
        n_idx = _taken(n_idx, order)
        u_idx = _taken(u_idx, order)
        y = _taken(y, order)
        w = None if w is None else _taken(w, order)
    # aligned: the TensorFlow loop wraps these arrays instead of copying them (``_tf_loop.DeviceData``)
    return TrainData(note_ids, rater_ids, n_idx, u_idx, y, w, order)


# ---------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------
@dataclass
class Params:
    """Float32 parameter tables (index order of :class:`TrainData`)."""

    ni: np.ndarray  # (M,)
    nf: np.ndarray  # (M, k)
    ri: np.ndarray  # (U,)
    rf: np.ndarray  # (U, k)
    mu: np.float32

    def copy(self) -> "Params":
        return Params(self.ni.copy(), self.nf.copy(), self.ri.copy(), self.rf.copy(), np.float32(self.mu))


def xavier(rng: np.random.Generator, rows: int, k: int) -> np.ndarray:
    """Xavier-uniform for a rows×k embedding (PyTorch: fan_in = k, fan_out = rows), spec 01 §5:
    U(−b, b), b = sqrt(6 / (rows + k)).  Drawn from a NumPy Generator, *not* torch's stream."""
    b = np.sqrt(6.0 / (rows + k))
    return rng.uniform(-b, b, size=(rows, k)).astype(np.float32)


def _init_table(ids, frame, id_col, icol, fcols, what):
    schema.require_columns(frame, [id_col, icol, *fcols], where=f"cnlab.mf.fit {what}")
    pos = pd.Index(frame[id_col]).get_indexer(pd.Index(ids))
    if pd.Index(frame[id_col]).has_duplicates:
        raise CnlabInputError(f"{what} has duplicated {id_col}", column=id_col)
    hit = pos >= 0
    inter = np.zeros(len(ids), np.float32)
    fac = np.zeros((len(ids), len(fcols)), np.float32)
    # missing ids → intercept 0 and factor 0 (not random), spec 01 §5.2–3; NaN → 0 (fillna)
    inter[hit] = np.nan_to_num(frame[icol].to_numpy(dtype=np.float64)[pos[hit]], nan=0.0)
    fac[hit] = np.nan_to_num(frame[fcols].to_numpy(dtype=np.float64)[pos[hit]], nan=0.0)
    return inter, fac


def init_params(data: TrainData, k: int, rng, note_init=None, rater_init=None, global_init=None) -> Params:
    """Fresh model (Xavier factors for raters then notes, zero intercepts, μ = 0), then overwrite
    with the given init frames (spec 01 §5)."""
    rf = xavier(rng, data.U, k)
    nf = xavier(rng, data.M, k)
    ri = np.zeros(data.U, np.float32)
    ni = np.zeros(data.M, np.float32)
    if note_init is not None:
        ni, nf = _init_table(data.note_ids, note_init, NOTE_ID, schema.NOTE_INTERCEPT, note_cols(k), "note_init")
    if rater_init is not None:
        ri, rf = _init_table(
            data.rater_ids, rater_init, RATER_ID, schema.RATER_INTERCEPT, rater_cols(k), "rater_init"
        )
    mu = np.float32(0.0 if global_init is None else global_init)
    return Params(ni, nf, ri, rf, mu)


# ---------------------------------------------------------------------------------------
# Objective
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegCoeffs:
    """Loss = data + c_nf Σf_n² + c_ni Σi_n² + c_nd Σ|f_n i_n| + c_uf Σf_u² + c_ui Σi_u² + c_mu μ²."""

    c_nf: float
    c_ni: float
    c_nd: float
    c_uf: float
    c_ui: float
    c_mu: float


def reg_coeffs(cfg: MFConfig, N: int, M: int, U: int) -> RegCoeffs:
    """Spec 01 §6.  Mode A: means over the table's elements (M·k for factors and the diamond term,
    M for intercepts).  Mode B: Σ / (N/ρ)."""
    k = cfg.n_factors
    if cfg.rating_per_note_loss_ratio is None:
        c_nf, c_ni, c_nd = cfg.note_factor_lambda / (M * k), cfg.note_intercept_lambda / M, cfg.diamond_lambda / (M * k)
    else:
        s = cfg.rating_per_note_loss_ratio / N
        c_nf, c_ni, c_nd = cfg.note_factor_lambda * s, cfg.note_intercept_lambda * s, cfg.diamond_lambda * s
    if cfg.rating_per_user_loss_ratio is None:
        c_uf, c_ui = cfg.user_factor_lambda / (U * k), cfg.user_intercept_lambda / U
    else:
        s = cfg.rating_per_user_loss_ratio / N
        c_uf, c_ui = cfg.user_factor_lambda * s, cfg.user_intercept_lambda * s
    return RegCoeffs(c_nf, c_ni, c_nd, c_uf, c_ui, cfg.global_intercept_lambda)


#: Ratings per block of the element-wise float64 computations after a fit: each value depends on
#: its own rating only, so the blocks give the arrays of a whole-array computation exactly, with
#: block-sized temporaries instead of several rating-sized ones.
_BLOCK = 1 << 20


def predict_raw(data: TrainData, p: Params, use_global: bool, *, out: np.ndarray | None = None) -> np.ndarray:
    """Raw prediction per rating in float64: ``i_n + i_u + f_n·f_u (+ μ)`` (spec 01 §6); into
    ``out`` (float64, one value a rating) when given."""
    ni, ri, nf, rf = (a.astype(np.float64) for a in (p.ni, p.ri, p.nf, p.rf))
    pred = np.empty(len(data.n_idx), dtype=np.float64) if out is None else out
    for start in range(0, len(pred), _BLOCK):
        a, b = data.n_idx[start:start + _BLOCK], data.u_idx[start:start + _BLOCK]
        block = ni[a] + ri[b]
        block += np.einsum("ij,ij->i", nf[a], rf[b])
        if use_global:
            block += float(p.mu)
        pred[start:start + _BLOCK] = block
    return pred


def _loss_block(pred: np.ndarray, y: np.ndarray, loss: str, pos_weight: float | None) -> np.ndarray:
    y = y.astype(np.float64)
    if loss == "mse":
        return (pred - y) ** 2
    pw = 1.0 if pos_weight is None else float(pos_weight)
    lw = 1.0 + (pw - 1.0) * y
    return (1.0 - y) * pred + lw * (np.log1p(np.exp(-np.abs(pred))) + np.maximum(-pred, 0.0))


def data_loss_terms(pred: np.ndarray, y: np.ndarray, loss: str, pos_weight: float | None, *,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Per-rating data loss in float64: squared error, or PyTorch's BCE-with-logits with
    ``pos_weight`` (spec 01 §6). ``out`` may be ``pred`` itself (a block is read before it is
    written): the loss then replaces the predictions, with no second rating-sized array."""
    out = np.empty(len(pred), dtype=np.float64) if out is None else out
    for start in range(0, len(pred), _BLOCK):
        end = start + _BLOCK
        out[start:end] = _loss_block(pred[start:end], y[start:end], loss, pos_weight)
    return out


def squared_errors(pred: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """``(pred − y)²`` per rating in float64 (``y`` may be a probability target); ``out`` as in
    :func:`data_loss_terms`."""
    return data_loss_terms(pred, y, "mse", None, out=out)


def objective(data: TrainData, p: Params, cfg: MFConfig) -> float:
    """Regularised loss in float64 (what the optimiser minimises), spec 01 §6."""
    c = reg_coeffs(cfg, data.N, data.M, data.U)
    per = data_loss_terms(predict_raw(data, p, cfg.use_global_intercept), data.y, cfg.loss, cfg.pos_weight)
    if data.w is not None:
        per = per * data.w.astype(np.float64)
    nf, ni, rf, ri = (a.astype(np.float64) for a in (p.nf, p.ni, p.rf, p.ri))
    reg = (
        c.c_nf * np.sum(nf**2)
        + c.c_ni * np.sum(ni**2)
        + c.c_nd * np.sum(np.abs(nf * ni[:, None]))
        + c.c_uf * np.sum(rf**2)
        + c.c_ui * np.sum(ri**2)
        + c.c_mu * float(p.mu) ** 2
    )
    return float(per.mean() + reg)


# ---------------------------------------------------------------------------------------
# Normalized loss weights (spec 01 §9)
# ---------------------------------------------------------------------------------------
def normalized_loss_weights(data: TrainData, rater_factor1: np.ndarray, hp: NormalizedLossConfig) -> np.ndarray:
    """Per-rating weights, steps in the official order: noteSignAlpha → globalSignNorm →
    noteNormExp (skipped when 0: falsy) → raterNormExp.  "Positive" means rater factor > 0.

    globalSignNorm:  w[f_u>0] *= Q/P  (P = #ratings with f_u > 0, Q = #ratings with f_u ≤ 0),
    then w *= N_total_before / Σw.   raterNormExp:  w *= (Σ_{rater} w)^exp.
    """
    w = np.ones(data.N, np.float64)
    pos = rater_factor1[data.u_idx] > 0
    if hp.note_sign_alpha is not None:
        a = float(hp.note_sign_alpha)
        orig_note = np.bincount(data.n_idx, weights=w, minlength=data.M)
        ptot = np.bincount(data.n_idx[pos], weights=w[pos], minlength=data.M)
        ntot = np.bincount(data.n_idx[~pos], weights=w[~pos], minlength=data.M)
        both = (ptot > 0) & (ntot > 0)
        mult = np.where(both, (a + ntot) / (a + np.where(both, ptot, 1.0)), 1.0)
        w = np.where(pos, w * mult[data.n_idx], w)
        new_note = np.bincount(data.n_idx, weights=w, minlength=data.M)
        w = w / new_note[data.n_idx] * orig_note[data.n_idx]
    if hp.global_sign_norm:
        orig = w.sum()
        P = int(pos.sum())
        Q = data.N - P
        if P > 0:
            w = np.where(pos, w * (Q / P), w)
            w = w * (orig / w.sum())
    if hp.note_norm_exp:
        tot = np.bincount(data.n_idx, weights=w, minlength=data.M)
        w = w * tot[data.n_idx] ** hp.note_norm_exp
    if hp.rater_norm_exp:
        tot = np.bincount(data.u_idx, weights=w, minlength=data.U)
        w = w * tot[data.u_idx] ** hp.rater_norm_exp
    return w.astype(np.float32)


def flip_sign(p: Params) -> Params:
    """Spec 01 §8: per dimension, if (#raters f<0)/(#raters f≠0) < 0.5, negate note and rater factors."""
    nf, rf = p.nf.copy(), p.rf.copy()
    for j in range(rf.shape[1]):
        nz = np.count_nonzero(rf[:, j])
        if nz == 0:
            raise RuntimeError(
                f"sign flip: all rater factors of dimension {j + 1} are 0 (official code aborts: p is NaN)"
            )
        if np.count_nonzero(rf[:, j] < 0) / nz < 0.5:
            nf[:, j] = -nf[:, j]
            rf[:, j] = -rf[:, j]
    return Params(p.ni, nf, p.ri, rf, p.mu)
