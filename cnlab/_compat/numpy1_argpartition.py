"""Replica of numpy 1.x ``argpartition`` of a 1-D float array (introselect).

numpy ≥ 2 uses other selection algorithms on some CPUs, which order ties differently. scikit-learn
1.0.2's k-means relocates empty clusters to the points ``argpartition`` puts last, so the bins of
pflip (spec 06 §A.8) depend on that order: :func:`cnlab._compat.sklearn102_kmeans.lloyd_1d` uses
this replica.
"""

from __future__ import annotations

import numpy as np

__all__ = ["np1_argpartition"]


def _less(a: float, b: float) -> bool:
    """numpy's float ordering: NaN sorts last."""
    return a < b or (b != b and a == a)


def np1_argpartition(values: np.ndarray, kth: int) -> np.ndarray:
    """``np.argpartition(values, kth)`` as numpy 1.x computes it for a 1-D float array (introselect:
    median-of-3 quickselect, a small-kth selection scan, and a last-maximum scan for the largest
    element). numpy ≥ 2 uses other algorithms on some CPUs, which order ties differently; k-means
    relocation of empty clusters depends on that order."""
    v = np.asarray(values).tolist()
    n = len(v)
    t = list(range(n))
    if kth < 0:
        kth += n
    low, high = 0, n - 1

    def val(i: int) -> float:
        return v[t[i]]

    if kth - low < 3:  # selection scan for the first kth + 1 positions
        for i in range(kth + 1):
            m, mv = i, val(i)
            for k in range(i + 1, n):
                if _less(val(k), mv):
                    m, mv = k, val(k)
            t[i], t[m] = t[m], t[i]
        return np.array(t)
    if kth == n - 1:  # the last of the maxima goes to the end
        m, mv = 0, val(0)
        for k in range(1, n):
            if not _less(val(k), mv):
                m, mv = k, val(k)
        t[kth], t[m] = t[m], t[kth]
        return np.array(t)
    depth = 2 * (n.bit_length() - 1)
    while low + 1 < high:
        ll, hh = low + 1, high
        if depth <= 0 and hh - ll >= 5:
            # median-of-medians fallback (pathological inputs): not replicated, sort the window
            t[low:high + 1] = sorted(t[low:high + 1], key=lambda i: (v[i] != v[i], v[i]))
            return np.array(t)
        mid = low + (high - low) // 2
        if _less(val(high), val(mid)):
            t[high], t[mid] = t[mid], t[high]
        if _less(val(high), val(low)):
            t[high], t[low] = t[low], t[high]
        if _less(val(low), val(mid)):
            t[low], t[mid] = t[mid], t[low]
        t[mid], t[low + 1] = t[low + 1], t[mid]
        depth -= 1
        pivot = val(low)
        while True:
            ll += 1
            while _less(val(ll), pivot):
                ll += 1
            hh -= 1
            while _less(pivot, val(hh)):
                hh -= 1
            if hh < ll:
                break
            t[ll], t[hh] = t[hh], t[ll]
        t[low], t[hh] = t[hh], t[low]
        if hh >= kth:
            high = hh - 1
        if hh <= kth:
            low = ll
    if high == low + 1 and _less(val(high), val(low)):
        t[high], t[low] = t[low], t[high]
    return np.array(t)
