"""The Gaussian kernel model of the Gaussian scorers (spec 06 §E.2, §E.4, §E.5).

For each note, the helpfulness rate is estimated at grid points g_j along the rater-factor axis
from Gaussian-kernel weighted ratings plus a note-specific prior; the note intercept is the
**geometric mean** of those rates. One pass (:func:`kernel_pass`, official ``_return_all_pts``)
with parameter set p (:class:`GaussianParams`) on the rows r of note n (helpfulNum h_r, rater
factor f_r, c_n rows)::

    y_r      = h_r (0.5 → p.somewhatHelpfulValue); 1 − y_r if p.flip
    K_rj     = exp(−½ ((f_r − g_j) / σ)²) / (σ √(2π))                     (σ = p.bandwidth)
    W        = K / rowsum(K) if p.normalize else K
    insufficient_n = any_j Σ_{r∈n} W_rj < p.weightLim                      (values −1, intercept 0)
    neg      = rows whose original h_r = 0 (= 1 if p.flip);  m_n = mean f over neg rows of n
    s_r      = 1 / (1 + exp(−200 (|f_r − m_n| − 0.14)))                     (surprise, r ∈ neg)
    mult_n   = min(a Σ s_r / c_n + 1, cap)      ((a, cap) = (3, 2), (4, 4) if p.flip; 1 without neg)
    W_r·    ×= mult_n · p.negWeight                                         for rows with y_r = 0
    φ_n      = Σ_{r∈n} 2 (h'_r − ½) f_r / c_n                  (h' = 1 − h if p.flip; note factor)
    prior_nj = max(min(φ_n g_j / 2 + v, v), p.minPrior)       (v = p.smoothingValue; v if not
               p.priorFactor; 0.1 if the note has < 3 rows with f < 0 or < 3 with f > 0)
    w_n      = w₀ · log(max(c_n, b)) / log b                (w₀ smoothingWeight, b adaptiveWeightBase)
    ŷ_nj     = clip((Σ_r W_rj y_r + prior_nj w_n) / (Σ_r W_rj + w_n), p.clipLower, p.clipUpper)
               (p.clipLower where the denominator is 0)
    i_n      = exp(mean_j ln ŷ_nj)                                          (geometric mean)

The CRH pass (:data:`CRH_PARAMS` on the 50 points :data:`QUANTILE_RANGE`) and the CRNH pass
(:data:`CRNH_PARAMS`, flipped, on the 26 points :data:`SMOOTHED_RANGE`) are combined
(:func:`combine_passes`, official ``_calculate_gaussian_scores``, §E.5)::

    intercept_n = −crnh_n  if |crh_n| < |crnh_n|  else  crh_n       ∈ [0.05, 0.8] ∪ [−0.65, −0.25]
                                                              (0 when both passes are insufficient)
    factor_n    = φ_n of the CRH pass

Arithmetic follows the official dtypes (float32 weights/values, float64 bincount sums). The scorer
glue (configs, presets, rating selection, author rows, final scoring) is in
:mod:`cnlab.scorers.gaussian`, which re-exports every name of this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema

__all__ = [
    "GaussianParams", "KernelPass",
    "CRH_PARAMS", "CRNH_PARAMS", "QUANTILE_RANGE", "SMOOTHED_RANGE",
    "kernel_weights", "surprise_multiplier", "note_prior", "kernel_pass", "geometric_mean_intercept",
    "combine_passes", "grid_column_names",
]

# ---------------------------------------------------------------------------------------------
# Parameters (06 §E.2)
# ---------------------------------------------------------------------------------------------

_HALF = (0.01, 0.04, 0.07, 0.09, 0.12, 0.14, 0.17, 0.2, 0.22, 0.25, 0.28, 0.3, 0.33, 0.35, 0.38,
         0.41, 0.43, 0.46, 0.49, 0.52, 0.55, 0.58, 0.61, 0.65, 0.92)

#: The 50 fixed CRH-pass grid points (official ``constants.quantileRange``): ±the 25 values above,
#: ascending. The docs call them population quantiles; at HEAD they are constants
#: (``calculateBins=False``, 06 §E.2/§E.9).
QUANTILE_RANGE: tuple[float, ...] = tuple(sorted(-x for x in _HALF)) + _HALF

#: The 26 CRNH-pass grid points (official ``constants.smoothedRange`` =
#: ``concat(quantileRange[0::2][:13], quantileRange[25::2])``).
SMOOTHED_RANGE: tuple[float, ...] = QUANTILE_RANGE[0::2][:13] + QUANTILE_RANGE[25::2]


@dataclass(frozen=True)
class GaussianParams:
    """One kernel pass's parameter set (official ``constants.GaussianParams``, 06 §E.2).

    The defaults are the CRH pass (official ``gaussianCrhParams``).
    """

    bandwidth: float = 0.1
    """``bandwidth``: σ of the Gaussian kernel on the rater-factor axis."""
    smoothing_weight: float = 0.4
    """``smoothingWeight``: base weight w₀ of the prior pseudo-observation."""
    smoothing_value: float = 0.35
    """``smoothingValue``: upper cap (and intercept) of the prior value."""
    adaptive_weight_base: float | None = 9
    """``adaptiveWeightBase`` b: prior weight = w₀·log(max(n, b))/log b; None = constant w₀."""
    prior_factor: bool = True
    """``priorFactor``: prior slopes with the note's rating-weighted factor (else constant)."""
    neg_weight: float = 1.75
    """``negWeight``: extra weight of "negative" ratings (y = 0) in the kernel sums."""
    min_prior: float | None = 0.2
    """``minPrior``: lower clip of the prior value (None = no clip)."""
    weight_lim: float = 1e-9
    """``weightLim``: a note whose kernel weight at any grid point is below this is insufficient."""
    somewhat_helpful_value: float = 0.7
    """``somewhatHelpfulValue``: value of a SOMEWHAT_HELPFUL rating (helpfulNum 0.5)."""
    clip_lower: float = 0.05
    """``clipLower``: lower clip of the smoothed rate (and its value where the denominator is 0)."""
    clip_upper: float = 0.8
    """``clipUpper``: upper clip of the smoothed rate."""
    flip: bool = False
    """``flip``: estimate *un*helpfulness, y = 1 − y (CRNH pass)."""
    normalize: bool = True
    """``normalize``: divide each rating's kernel row by its sum over the grid."""

    def replace(self, **changes: Any) -> "GaussianParams":
        return dataclasses.replace(self, **changes)


#: CRH pass (official ``gaussianCrhParams``).
CRH_PARAMS = GaussianParams()
#: CRNH pass (official ``gaussianCrnhParams``).
CRNH_PARAMS = GaussianParams(
    bandwidth=0.2, smoothing_weight=5.0, smoothing_value=0.35, adaptive_weight_base=9,
    prior_factor=True, neg_weight=1.25, min_prior=0.3, weight_lim=5e-4, somewhat_helpful_value=0.7,
    clip_lower=0.25, clip_upper=0.65, flip=True, normalize=False,
)

#: Surprise multiplier constants of ``_return_all_pts`` (06 §E.4): sigmoid steepness, the
#: window (half of ``stdWindow`` 0.28), and (scale, cap) for the non-flipped / flipped pass.
SURPRISE_STEEPNESS = 200.0
SURPRISE_WINDOW = 0.14
SURPRISE_SCALE_CAP = {False: (3.0, 2.0), True: (4.0, 4.0)}
#: A note with fewer than this many rows on either factor side gets the flat prior below.
MIN_SIDE_ROWS = 3
INSUFFICIENT_SIDE_PRIOR = 0.1


def grid_column_names(grid: tuple[float, ...] | np.ndarray) -> list[str]:
    """Official grid column labels (``"%5.3f"`` of each point, 06 §E.4)."""
    return [f"{x:5.3f}" for x in grid]


# ---------------------------------------------------------------------------------------------
# Kernel pass (06 §E.4)
# ---------------------------------------------------------------------------------------------

def kernel_weights(factors: np.ndarray, grid: np.ndarray, *, bandwidth: float,
                   normalize: bool) -> np.ndarray:
    r"""Kernel weight of every rating at every grid point (06 §E.4), float32 (n_ratings, n_grid).

    .. math::
        K_{rj} = \frac{1}{\sigma\sqrt{2\pi}} \exp\!\Big(-\tfrac12\big(\tfrac{f_r - g_j}{\sigma}\big)^2\Big),
        \qquad W_{rj} = K_{rj} / \textstyle\sum_{j'} K_{rj'} \ \text{if normalize else } K_{rj}
    """
    f = np.asarray(factors, dtype=np.float32)[:, None]
    g = np.asarray(grid, dtype=np.float32)[None, :]
    d = np.abs(f - g)
    norm = 1.0 / (bandwidth * np.sqrt(2 * np.pi))
    k = (norm * np.exp(-0.5 * (d / np.float32(bandwidth)) ** 2)).astype(np.float32)
    if normalize:
        k = k / k.sum(axis=1, keepdims=True)
    return k


def surprise_multiplier(note_idx: np.ndarray, helpful_num: np.ndarray, factors: np.ndarray,
                        n_notes: int, *, flip: bool) -> np.ndarray:
    r"""Per-note weight multiplier of the "negative" ratings (06 §E.4), float64 (n_notes,).

    Negative ratings are those with original helpfulNum 0 (1 when ``flip``). With m_n the mean
    factor of note n's negative ratings and c_n the number of all its rows:

    .. math::
        s_r = \sigma\big(200\,(|f_r - m_n| - 0.14)\big), \qquad
        \text{mult}_n = \min\Big(\frac{\sum_{r \in neg(n)} s_r}{c_n}\, a + 1,\ cap\Big)

    with (a, cap) = (3, 2), or (4, 4) when flipped. Notes without negative ratings get 1.
    """
    target = 1.0 if flip else 0.0
    h = np.asarray(helpful_num, dtype=np.float64)
    f = np.asarray(factors, dtype=np.float32)
    neg = h == target
    counts = np.bincount(note_idx, minlength=n_notes).astype(np.float64)
    out = np.ones(n_notes, dtype=np.float64)
    if not neg.any():
        return out
    ni = note_idx[neg]
    fn = f[neg]
    n_neg = np.bincount(ni, minlength=n_notes)
    mean = (np.bincount(ni, weights=fn.astype(np.float64), minlength=n_notes)
            / np.maximum(n_neg, 1)).astype(np.float32)
    dist = np.abs(fn - mean[ni])
    with np.errstate(over="ignore"):
        s = (1.0 / (1.0 + np.exp(np.float32(-SURPRISE_STEEPNESS) * (dist - np.float32(SURPRISE_WINDOW)))))
    total = np.bincount(ni, weights=s.astype(np.float64), minlength=n_notes)
    scale, cap = SURPRISE_SCALE_CAP[bool(flip)]
    has = n_neg > 0
    out[has] = np.minimum(total[has] / counts[has] * scale + 1.0, cap)
    return out


def note_prior(note_idx: np.ndarray, helpful_num: np.ndarray, factors: np.ndarray, n_notes: int,
               grid: np.ndarray, params: GaussianParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Prior value per note and grid point, its weight, and the note factor (06 §E.4).

    .. math::
        \phi_n = \frac{1}{c_n}\sum_{r \in n} 2\,(h'_r - \tfrac12)\, f_r \quad (h' = 1-h \text{ if flip}),\qquad
        p_{nj} = \max\big(\min(\phi_n g_j / 2 + v,\ v),\ p_{\min}\big)

    and p_{nj} = 0.1 when note n has fewer than 3 rows with f < 0 or fewer than 3 with f > 0;
    prior weight w_n = w₀ · log(max(c_n, b)) / log b.

    Returns ``(prior (n_notes, n_grid) float32, weight (n_notes,) float32, phi (n_notes,) float64)``.
    """
    h = np.asarray(helpful_num, dtype=np.float32)
    f = np.asarray(factors, dtype=np.float32)
    g = np.asarray(grid, dtype=np.float32)
    counts = np.bincount(note_idx, minlength=n_notes).astype(np.float32)
    hp = (np.float32(1.0) - h) if params.flip else h
    adj = (hp - np.float32(0.5)) * np.float32(2.0) * f
    phi = np.bincount(note_idx, weights=adj, minlength=n_notes) / counts
    v = params.smoothing_value
    if params.prior_factor:
        prior = np.minimum(phi[:, None] * g[None, :] / 2 + v, v).astype(np.float32)
        if params.min_prior is not None:
            prior = np.maximum(prior, params.min_prior).astype(np.float32)
    else:
        prior = np.full((n_notes, len(g)), v, dtype=np.float32)
    n_neg = np.bincount(note_idx, weights=(f < 0), minlength=n_notes)
    n_pos = np.bincount(note_idx, weights=(f > 0), minlength=n_notes)
    prior[(n_neg < MIN_SIDE_ROWS) | (n_pos < MIN_SIDE_ROWS)] = np.float32(INSUFFICIENT_SIDE_PRIOR)
    if params.adaptive_weight_base is not None:
        b = params.adaptive_weight_base
        w = (np.log(np.maximum(counts, b)) / np.log(b) * params.smoothing_weight).astype(np.float32)
    else:
        w = np.full(n_notes, params.smoothing_weight, dtype=np.float32)
    return prior, w, phi


@dataclass(frozen=True)
class KernelPass:
    """Result of one kernel pass: per note the smoothed curve, intercept and note factor."""

    note_ids: np.ndarray
    grid: np.ndarray
    values: np.ndarray
    """(n_notes, n_grid) float32 clipped rates; −1 on every point of an insufficient note."""
    intercept: np.ndarray
    """Geometric mean of ``values`` (0 for insufficient notes), float32."""
    note_factor: np.ndarray
    """φ_n of :func:`note_prior` (float64)."""
    insufficient: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """noteId, the grid columns (``"%5.3f"``), internalNoteIntercept, internalNoteFactor1."""
        out = pd.DataFrame(self.values, columns=grid_column_names(self.grid))
        out.insert(0, schema.NOTE_ID, self.note_ids)
        out[schema.NOTE_INTERCEPT] = self.intercept
        out[schema.NOTE_FACTOR1] = self.note_factor
        return out


def geometric_mean_intercept(values: np.ndarray) -> np.ndarray:
    r"""Note intercept from a pass's curve: :math:`\exp(\frac1J\sum_j \ln v_{nj})` (06 §E.4).

    A row containing −1 (insufficient) has a NaN log-mean, mapped to −∞, so its intercept is 0.
    """
    v = np.asarray(values, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_log = np.mean(np.log(v), axis=1)
    mean_log = np.where(np.isnan(mean_log), -np.inf, mean_log)
    return np.exp(mean_log)


#: Ratings per block of the kernel matrix (n × J float32): bounds memory to ~200 B × J/50 per
#: rating of the block instead of the whole (n_ratings × J) matrix; sums are float64 across blocks.
KERNEL_BLOCK_ROWS = 500_000


def kernel_pass(note_ids: np.ndarray, helpful_num: np.ndarray, factors: np.ndarray,
                grid: tuple[float, ...] | np.ndarray, params: GaussianParams, *,
                block_rows: int = KERNEL_BLOCK_ROWS) -> KernelPass:
    r"""One kernel pass (official ``_return_all_pts`` + geometric mean, 06 §E.4).

    With y_r = h_r (somewhat-helpful → ``somewhat_helpful_value``; 1 − y when ``flip``), kernel
    weights W (:func:`kernel_weights`), negative ratings (y = 0) reweighted by
    mult_n · negWeight (:func:`surprise_multiplier`), T_nj = Σ W, V_nj = Σ W·y, and the prior
    (p, w) of :func:`note_prior`:

    .. math::
        \hat y_{nj} = \mathrm{clip}\Big(\frac{V_{nj} + p_{nj} w_n}{T_{nj} + w_n},\ \ell,\ u\Big)

    A note whose *unadjusted* kernel weight at some grid point is below ``weight_lim`` is
    insufficient: all its values are −1 and its intercept 0. The kernel matrix is built in blocks
    of ``block_rows`` ratings (float64 sums, cast to float32 as the official bincounts).
    """
    note_ids = np.asarray(note_ids)
    h = np.asarray(helpful_num, dtype=np.float32)
    f = np.asarray(factors, dtype=np.float32)
    if np.isnan(f).any():
        raise ValueError("kernel_pass: every rating needs a rater factor")
    g = np.asarray(grid, dtype=np.float32)
    uniq, idx = np.unique(note_ids, return_inverse=True)
    idx = idx.ravel()
    n, J = len(uniq), len(g)
    y = h.copy()
    y[y == np.float32(0.5)] = np.float32(params.somewhat_helpful_value)
    if params.flip:
        y = np.float32(1.0) - y
    neg = y == 0
    mult = surprise_multiplier(idx, h, f, n, flip=params.flip) if neg.any() else None

    base, total_w, total_v = (np.zeros((n, J), dtype=np.float64) for _ in range(3))
    for start in range(0, len(f), max(int(block_rows), 1)):
        sl = slice(start, start + max(int(block_rows), 1))
        ii, ng = idx[sl], neg[sl]
        w = kernel_weights(f[sl], g, bandwidth=params.bandwidth, normalize=params.normalize)
        for j in range(J):
            base[:, j] += np.bincount(ii, weights=w[:, j], minlength=n)
        if mult is not None and ng.any():
            w[ng] *= mult[ii[ng]][:, None]
        w[ng] *= params.neg_weight
        wy = w * y[sl, None]
        for j in range(J):
            total_w[:, j] += np.bincount(ii, weights=w[:, j], minlength=n)
            total_v[:, j] += np.bincount(ii, weights=wy[:, j], minlength=n)
    insufficient = (base.astype(np.float32) < params.weight_lim).any(axis=1)
    total_w, total_v = total_w.astype(np.float32), total_v.astype(np.float32)

    prior, pw, phi = note_prior(idx, h, f, n, g, params)
    den = total_w + pw[:, None]
    num = total_v + prior * pw[:, None]
    vals = np.full_like(num, params.clip_lower, dtype=np.float32)
    np.divide(num, den, out=vals, where=den != 0)
    vals = np.clip(vals, params.clip_lower, params.clip_upper).astype(np.float32)
    vals[insufficient, :] = -1
    return KernelPass(uniq, g, vals, geometric_mean_intercept(vals), phi, insufficient)


def combine_passes(crh: KernelPass, crnh: KernelPass) -> pd.DataFrame:
    r"""Note intercept from the two passes (official ``_calculate_gaussian_scores``, 06 §E.5).

    .. math::
        i_n = \begin{cases} -c_n & |h_n| < |c_n| \\ h_n & \text{otherwise} \end{cases}

    with h the CRH-pass and c the CRNH-pass intercept (so i ∈ [0.05, 0.8] ∪ [−0.65, −0.25], or 0
    when both passes are insufficient). ``internalNoteFactor1`` = φ of the CRH pass.
    Returns noteId, internalNoteIntercept, internalNoteFactor1, crhIntercept, crnhIntercept.
    """
    a = pd.DataFrame({schema.NOTE_ID: crh.note_ids, "crhIntercept": crh.intercept,
                      schema.NOTE_FACTOR1: crh.note_factor})
    b = pd.DataFrame({schema.NOTE_ID: crnh.note_ids, "crnhIntercept": -crnh.intercept})
    m = a.merge(b, on=schema.NOTE_ID, how="outer")
    h, c = m["crhIntercept"].to_numpy(), m["crnhIntercept"].to_numpy()
    with np.errstate(invalid="ignore"):
        m[schema.NOTE_INTERCEPT] = np.where(np.abs(h) < np.abs(c), c, h)
    return m[[schema.NOTE_ID, schema.NOTE_INTERCEPT, schema.NOTE_FACTOR1, "crhIntercept", "crnhIntercept"]]
