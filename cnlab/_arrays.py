"""Array helpers for the hot paths.

``np.unique(a)`` without ``return_*`` arguments takes numpy's hash-table path in numpy 2.3 and
later, which is two orders of magnitude slower than sorting on millions of distinct integers
(4.6M int64: 3.6 s against 0.03 s for a sort, numpy 2.4; 8.4M (row, token) pairs of a pflip
token bag: 10.1 s against 0.16 s); :func:`unique` sorts instead. ``np.isin`` and the ``*1d`` set
functions take that path for their second argument: :func:`isin` does not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unique", "isin", "lexsort2", "run_lengths", "aligned_copy", "aligned_empty", "ALIGNMENT"]

#: Byte alignment of :func:`aligned_copy` (TensorFlow requires 64 for a tensor it does not copy).
ALIGNMENT = 64


def unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer (or NaN-free) array, as ``np.unique(a)``.

    >>> unique(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    s = np.sort(np.asarray(a).ravel())
    if len(s) < 2:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def isin(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.isin(a, b)`` without numpy's hash-table ``unique`` of ``b`` (see the module docstring).

    Integer arrays: numpy's lookup table where ``b``'s range is small (numpy's own rule), else
    pandas' hash table (klib's: 8.4M wide int64 in 1M, 0.3 s where ``np.isin`` took 2.2-8.6 s and
    a sorted search 2.4 s). Anything else, or a short ``b``: ``np.isin`` itself.

    >>> isin(np.array([5, 10**12, 7]), np.arange(10**12, 10**12 + 5000)).tolist()
    [False, True, False]
    """
    a, b = np.asarray(a), np.asarray(b).ravel()
    if (a.dtype.kind not in "iu" or b.dtype.kind not in "iu" or len(b) <= 4096
            or int(b.max()) - int(b.min()) <= 6 * (a.size + b.size)):  # small range: numpy's table
        return np.isin(a, b)
    import pandas as pd

    return pd.Series(a.ravel(), copy=False).isin(b).to_numpy().reshape(a.shape)


def lexsort2(minor: np.ndarray, major: np.ndarray) -> np.ndarray:
    """``np.lexsort((minor, major))`` (by ``major``, then ``minor``, ties in input order) of two
    integer arrays, as one stable ``argsort`` of a single int64 key where it fits: the same
    permutation, 3-7x faster on millions of rows (lexsort sorts indirectly, key by key).

    A ``major`` whose range is too wide for the key (note ids, times) is replaced by its rank:
    its run number when it is already non-decreasing (rows grouped by note), else its rank among
    its distinct values. Anything else: ``np.lexsort``.

    >>> lexsort2(np.array([3, 1, 2, 1]), np.array([10**18, 5, 10**18, 5])).tolist()
    [1, 3, 2, 0]
    """
    minor, major = np.asarray(minor), np.asarray(major)
    n = len(minor)
    if n < 2 or minor.dtype.kind not in "iu" or major.dtype.kind not in "iu":
        return np.lexsort((minor, major))
    lo, hi = int(minor.min()), int(minor.max())
    span = hi - lo + 1
    m_lo, m_hi = int(major.min()), int(major.max())
    if (m_hi - m_lo + 1) * span < 2**63:
        rank = _offset(major, m_lo)
    elif np.all(major[1:] >= major[:-1]):
        rank = np.zeros(n, dtype=np.int64)
        np.cumsum(major[1:] != major[:-1], out=rank[1:])
    else:
        rank = np.unique(major, return_inverse=True)[1].astype(np.int64, copy=False)
    if (int(rank.max()) + 1) * span >= 2**63:
        return np.lexsort((minor, major))
    rank *= span
    rank += _offset(minor, lo)
    return np.argsort(rank, kind="stable")


def _offset(a: np.ndarray, lo: int) -> np.ndarray:
    """``a - lo`` as int64 (its range below 2⁶³): uint64 subtracted in its own type, the rest in
    int64 (a narrow type would wrap)."""
    if a.dtype == np.uint64:
        return (a - np.uint64(lo)).astype(np.int64)
    return a.astype(np.int64) - lo


def run_lengths(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a *sorted* array and how often each occurs (no copy of ``s`` is sorted).

    >>> [x.tolist() for x in run_lengths(np.array([1, 1, 2, 5, 5, 5]))]
    [[1, 2, 5], [2, 1, 3]]
    """
    if len(s) == 0:
        return s, np.empty(0, np.int64)
    start = np.ones(len(s), dtype=bool)
    np.not_equal(s[1:], s[:-1], out=start[1:])
    first = np.flatnonzero(start)
    return s[first], np.diff(np.append(first, len(s)))


def aligned_copy(a, dtype) -> np.ndarray:
    """A C-contiguous copy of ``a`` as ``dtype`` whose data start on an :data:`ALIGNMENT`-byte
    boundary (a view of a slightly larger buffer, which it keeps alive).

    TensorFlow can wrap such an array without copying it (``cnlab.mf``'s training arrays), so the
    array stays NumPy's memory: freed to the system with the array, not kept in TensorFlow's pool.

    >>> b = aligned_copy([1, 2, 3], np.int32)
    >>> b.tolist(), b.ctypes.data % ALIGNMENT
    ([1, 2, 3], 0)
    """
    a = np.asarray(a)
    out = aligned_empty(a.shape, dtype)
    np.copyto(out, a, casting="unsafe")
    return out


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array aligned as :func:`aligned_copy`'s (for ``out=``).

    >>> aligned_empty((3,), np.float32).ctypes.data % ALIGNMENT
    0
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    buf = np.empty(size * dtype.itemsize + ALIGNMENT, dtype=np.uint8)
    off = (-buf.ctypes.data) % ALIGNMENT
    return buf[off:off + size * dtype.itemsize].view(dtype).reshape(shape)
