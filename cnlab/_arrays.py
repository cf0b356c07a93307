"""Array helpers for the hot paths.

``np.unique(a)`` without ``return_*`` arguments takes numpy's hash-table path in numpy 2.3 and
later, which is two orders of magnitude slower than sorting on millions of distinct integers
(4.6M int64: 3.6 s against 0.03 s for a sort, numpy 2.4); :func:`unique` sorts instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unique"]


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
