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

import functools
from itertools import combinations
from math import comb

import numpy as np

__all__ = ["active_columns", "binary_variance_support", "crossed_codes", "crossed_column_counts",
           "padded_active_columns", "ragged_crossed_codes", "unrank_codes"]

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


@functools.lru_cache(maxsize=64)
def _rank_table(m: int, d: int, dtype: str = "int64") -> np.ndarray:
    """``T[t, v] = C(m − 1 − v, t + 1)`` as ``dtype`` (the terms of the rank formula), with a zero
    column at ``v = m`` for the padding of ragged rows (whose subsets are discarded)."""
    table = np.zeros((d, m + 1), dtype=np.int64)
    for t in range(d):
        for v in range(m):
            table[t, v] = comb(m - 1 - v, t + 1)
    table = table.astype(dtype)
    table.flags.writeable = False  # shared by the cache
    return table


@functools.lru_cache(maxsize=64)
def _subsets(k: int, d: int) -> np.ndarray:
    """The ``d``-subsets of ``range(k)`` in lexicographic order, ``(C(k, d), d)`` int64."""
    return np.array(list(combinations(range(k), d)), dtype=np.int64).reshape(-1, d)


def crossed_codes(active: np.ndarray, m: int, d: int) -> np.ndarray:
    """Output column of every ``d``-subset of each row's active inputs: ``(n, C(k, d))`` int64,
    ascending within a row (``active`` sorted within rows, values in ``range(m)``).

    Composable: the degree-4 blocks (``PolynomialFeatures(2)`` twice) are
    ``crossed_codes(crossed_codes(active, m, 2), comb(m, 2), 2)``.
    """
    active = np.asarray(active)
    if comb(m, d) >= 2**62:
        raise ValueError(f"crossed_codes: C({m}, {d}) columns do not fit int64")
    # every row has all k inputs: the ragged form with nothing padded
    codes, _ = ragged_crossed_codes(active, np.full(len(active), active.shape[1]), m, d)
    return codes.astype(np.int64, copy=False)


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


def padded_active_columns(x) -> tuple[np.ndarray, np.ndarray]:
    """The active input columns of each row of a 0/1 CSR matrix whose rows may hold different
    numbers of ones (a one-hot block after its rare bins were dropped), sorted within rows and
    padded on the right with ``m = x.shape[1]``; and each row's count.

    Returns ``(active, counts)``: ``(n, k_max)`` (int16 when ``m`` allows, else int64) and int64.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> a, c = padded_active_columns(sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0]])))
    >>> a.tolist(), c.tolist()
    ([[1, 2], [0, 3]], [2, 1])
    """
    x = x.tocsr()
    n, m = x.shape
    if x.nnz and not np.all(x.data == 1):
        raise ValueError("padded_active_columns: a 0/1 matrix is needed")
    counts = np.diff(x.indptr).astype(np.int64)
    k = int(counts.max()) if n else 0
    dtype = np.int16 if m < np.iinfo(np.int16).max else np.int64
    active = np.full((n, k), m, dtype=dtype)
    rows = np.repeat(np.arange(n), counts)
    slots = np.arange(x.nnz) - np.repeat(x.indptr[:-1].astype(np.int64), counts)
    active[rows, slots] = x.indices
    active.sort(axis=1)  # the padding (m) sorts last
    return active, counts


def ragged_crossed_codes(active: np.ndarray, counts: np.ndarray, m: int,
                         d: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`crossed_codes` of rows with ``counts[i]`` active inputs each, padded on the right
    with ``m`` (:func:`padded_active_columns`): each row's ``C(counts[i], d)`` codes ascending,
    then the padding ``C(m, d)`` (the next level's ``m``). Returns ``(codes, new_counts)``;
    composable like :func:`crossed_codes` (``(2, 2)`` is two calls).

    A subset of a row's slots is real when its last slot is below the row's count (the padding
    lies on the right), so the padded subsets are the ones replaced.

    Examples
    --------
    >>> a = np.array([[0, 2, 3], [1, 4, 5]])             # m = 5; the second row has 2 inputs
    >>> codes, c = ragged_crossed_codes(a, np.array([3, 2]), 5, 2)
    >>> codes.tolist(), c.tolist()                     # C(5, 2) = 10 pads the second row
    ([[1, 2, 7], [6, 10, 10]], [3, 1])
    """
    active = np.asarray(active)
    counts = np.asarray(counts, dtype=np.int64)
    n, k = active.shape
    total = comb(m, d)
    # int32 codes where they fit (all pflip blocks): half the memory traffic of int64
    dtype = np.int32 if total < np.iinfo(np.int32).max else np.int64
    if k < d:
        return np.full((n, 0), total, dtype=dtype), np.zeros(n, dtype=np.int64)
    subsets = _subsets(k, d)
    table = _rank_table(m, d, np.dtype(dtype).name)
    out = np.full((n, len(subsets)), total - 1, dtype=dtype)
    for t in range(d):
        # the term of each row's inputs first (n × k), then spread over the subsets (n × C(k, d))
        out -= np.take(table[t][active], subsets[:, d - 1 - t], axis=1)
    ragged = counts < k
    if ragged.any():
        padded = subsets[:, d - 1][None, :] >= counts[ragged][:, None]
        part = out[ragged]
        part[padded] = total
        part.sort(axis=1)  # real codes are ascending already; the padding moves right
        out[ragged] = part
    new_counts = np.array([comb(int(c), d) for c in range(k + 1)], dtype=np.int64)[counts]
    return out, new_counts


def unrank_codes(codes: np.ndarray, m: int, d: int) -> np.ndarray:
    """The ``d``-subsets of ``range(m)`` whose lexicographic ranks are ``codes`` (the inverse of
    :func:`crossed_codes`): ``(len(codes), d)`` int64, ascending within rows.

    With :math:`c' = m - 1 - c`, the complement rank ``C(m, d) − 1 − rank`` is
    :math:`\\sum_{i=1}^{d} \\binom{c'_{d-i}}{i}` (the combinatorial number system), read greedily
    from the largest term.

    Examples
    --------
    >>> unrank_codes(np.array([3, 7]), 5, 3).tolist()
    [[0, 2, 3], [1, 2, 4]]
    """
    codes = np.asarray(codes, dtype=np.int64)
    rem = comb(m, d) - 1 - codes
    if np.any(codes < 0) or np.any(rem < 0):
        raise ValueError(f"unrank_codes: codes outside range(C({m}, {d}))")
    out = np.empty((len(codes), d), dtype=np.int64)
    x = np.arange(m, dtype=np.int64)
    for i in range(d, 0, -1):
        terms = np.array([comb(int(v), i) for v in x], dtype=np.int64)  # ascending in x
        c = np.searchsorted(terms, rem, side="right") - 1
        rem = rem - terms[c]
        out[:, d - i] = m - 1 - c
    return out


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
