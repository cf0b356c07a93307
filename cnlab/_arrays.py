"""Array helpers for the hot paths.

``np.unique(a)`` without ``return_*`` arguments takes numpy's hash-table path in numpy 2.3 and
later, which is two orders of magnitude slower than sorting on millions of distinct integers
(4.6M int64: 3.6 s against 0.03 s for a sort, numpy 2.4); :func:`unique` sorts instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unique", "run_lengths"]


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
