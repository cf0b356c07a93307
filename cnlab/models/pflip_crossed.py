"""Crossed one-hot features without the crossed matrix (spec 06 §A.8, blocks 7–9 and 12).

The pflip design matrix is mostly products of one-hot bins: ``PolynomialFeatures(degree=(d, d),
interaction_only=True)`` over the binned bucket counts, then a rarity filter
``VarianceThreshold(0.001)``. Every value is 1.0 and a training note has one active bin per binned
column, so a note's crossed columns are the ``d``-subsets of its ≤ 27 active bins: ~4,900 stored
non-zeros a note (89 % of the matrix; 2.3 billion at the full public size) that are a function of
27 small integers. This module computes what the fit needs from those integers, a chunk of rows at
a time, without the product matrix:

* :func:`crossed_codes`: each row's active output columns, in the order scikit-learn numbers them
  (``PolynomialFeatures.powers_``: the ``d``-subsets of the input columns in lexicographic order);
* :func:`crossed_column_counts`: how many rows have each output column set;
* :func:`binary_variance_support`: ``VarianceThreshold(threshold).fit(X).get_support()`` of a 0/1
  matrix from its column counts alone, bit for bit.

The lexicographic rank of a subset ``c_0 < … < c_{d-1}`` of ``range(m)`` is

.. math::

    \\operatorname{rank}(c) = \\binom{m}{d} - 1 - \\sum_{t=0}^{d-1} \\binom{m - 1 - c_{d-1-t}}{t + 1}

(the complement ``m − 1 − c`` reversed, ranked in colexicographic order, counted from the end).

Examples
--------
>>> import numpy as np
>>> active = np.array([[0, 2, 3], [1, 2, 4]])          # two rows, m = 5 inputs
>>> crossed_codes(active, 5, 3).tolist()              # (0,2,3) and (1,2,4) among C(5, 3) = 10
[[3], [7]]
>>> crossed_column_counts(active, 5, 2).tolist()      # pairs: (0,2) (0,3) (2,3) | (1,2) (1,4) (2,4)
[0, 1, 1, 0, 1, 0, 1, 1, 1, 0]
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

__all__ = ["active_columns", "binary_variance_support", "crossed_codes", "crossed_column_counts"]

#: Rows per chunk when a chunk's subsets are enumerated at once (C(27, 3) = 2,925 subsets a row:
#: ~70 KB of int64 codes a row, so ~140 MB a chunk).
CHUNK_ROWS = 2048

#: Relative distance from the threshold below which a column's closed-form variance is not trusted
#: to decide (float64 rounding of c/n − (c/n)² is ~1e-16 relative; scikit-learn's own sums differ
#: from it by a few ulps); those columns get scikit-learn's own computation.
_BORDER = 1e-9


def active_columns(x) -> np.ndarray:
    """The active input columns of each row of a 0/1 CSR matrix with the same number ``k`` of
    ones in every row, as an ``(n, k)`` array sorted within rows (a one-hot block: one bin per
    binned column). Rows with another count raise ``ValueError``; padded rows are not needed by
    the pflip blocks, whose bins cover every value."""
    x = x.tocsr()
    lengths = np.diff(x.indptr)
    if len(lengths) and (lengths != lengths[0]).any():
        raise ValueError("active_columns: rows with different numbers of active columns")
    if x.nnz and not np.all(x.data == 1):
        raise ValueError("active_columns: a 0/1 matrix is needed")
    k = int(lengths[0]) if len(lengths) else 0
    return np.sort(x.indices.reshape(len(lengths), k), axis=1)


def _rank_table(m: int, d: int) -> np.ndarray:
    """``T[t, v] = C(m − 1 − v, t + 1)`` as int64 (the terms of the rank formula)."""
    table = np.zeros((d, m), dtype=np.int64)
    for t in range(d):
        for v in range(m):
            table[t, v] = comb(m - 1 - v, t + 1)
    return table


def crossed_codes(active: np.ndarray, m: int, d: int) -> np.ndarray:
    """Output column of every ``d``-subset of each row's active inputs: ``(n, C(k, d))`` int64,
    ascending within a row (``active`` sorted within rows, values in ``range(m)``).

    Composable: the degree-4 blocks (``PolynomialFeatures(2)`` twice) are
    ``crossed_codes(crossed_codes(active, m, 2), comb(m, 2), 2)``.
    """
    active = np.asarray(active, dtype=np.int64)
    n, k = active.shape
    total = comb(m, d)
    if total >= 2**62:
        raise ValueError(f"crossed_codes: C({m}, {d}) columns do not fit int64")
    subsets = np.array(list(combinations(range(k), d)), dtype=np.int64).reshape(-1, d)
    table = _rank_table(m, d)
    out = np.full((n, len(subsets)), total - 1, dtype=np.int64)
    for t in range(d):
        # the t-th term uses the (d − 1 − t)-th member of each subset
        out -= table[t][active[:, subsets[:, d - 1 - t]]]
    return out


def crossed_column_counts(active: np.ndarray, m: int, d: int | tuple[int, ...], *,
                          chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Rows with each output column set, over all ``C(m, d)`` columns (a tuple of degrees composes:
    ``(2, 2)`` is ``PolynomialFeatures(2)`` applied twice), a chunk of rows at a time."""
    degrees = (d,) if isinstance(d, int) else tuple(d)
    width = m
    for deg in degrees:
        width = comb(width, deg)
    counts = np.zeros(width, dtype=np.int64)
    active = np.asarray(active)
    for lo in range(0, len(active), chunk_rows):
        codes, w = active[lo:lo + chunk_rows], m
        for deg in degrees:
            codes, w = crossed_codes(codes, w, deg), comb(w, deg)
        counts += np.bincount(codes.ravel(), minlength=width)
    return counts


def _sklearn_binary_variance(count: int, n: int) -> float:
    """scikit-learn's variance of a float64 0/1 column with ``count`` ones among ``n`` rows (its
    sums over a column's non-zeros are sequences of equal terms: the positions do not matter)."""
    import scipy.sparse as sp
    from sklearn.utils.sparsefuncs import mean_variance_axis

    col = sp.csc_matrix((np.ones(count), np.arange(count), np.array([0, count])), shape=(n, 1))
    return float(mean_variance_axis(col, axis=0)[1][0])


def binary_variance_support(counts: np.ndarray, n_rows: int, threshold: float) -> np.ndarray:
    """``VarianceThreshold(threshold).fit(X).get_support()`` for a 0/1 matrix ``X`` with ``n_rows``
    rows and ``counts`` ones per column, without ``X``.

    .. math::

        \\operatorname{Var}_j = \\frac{c_j}{n}\\Bigl(1 - \\frac{c_j}{n}\\Bigr), \\qquad
        \\text{kept} \\iff \\operatorname{Var}_j > \\text{threshold}

    (for ``threshold = 0``, scikit-learn keeps the columns whose range is not zero: ``0 < c < n``).
    Columns whose closed form lies within ``_BORDER`` (relative) of the threshold are decided by
    scikit-learn's own computation on a column with the same count, so the support is the one
    scikit-learn gives, bit for bit.
    """
    c = np.asarray(counts, dtype=np.int64)
    if threshold == 0:
        return (c > 0) & (c < n_rows)
    p = c / float(n_rows)
    var = p * (1.0 - p)
    keep = var > threshold
    border = np.flatnonzero(np.abs(var - threshold) <= _BORDER * threshold)
    for j in border:
        keep[j] = _sklearn_binary_variance(int(c[j]), n_rows) > threshold
    return keep
