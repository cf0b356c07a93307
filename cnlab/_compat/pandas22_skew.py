"""Replica of pandas 2.2 / numpy 1.26 ``Series.skew()`` on float32 values, per group.

pandas takes the mean of float32 values in float64 and subtracts it from the values; under numpy
1.x value-based casting the scalar mean joins the float32 dtype, so the deviations stay float32
(numpy 2, NEP 50, promotes them to float64). PCRH's ``_skewness`` features (spec 06 §B.3) are
computed on float32 prescoring factors, so cnlab reproduces the arithmetic of the pinned
environment.

Used by :func:`cnlab.models.pcrh.factor_stats`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["group_skew"]


def group_skew(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-group bias-corrected skewness as pandas 2.2 / numpy 1.26 compute it for float32 values
    (0 for groups with < 3 values or zero variance):

        m = Σx / n (float64);  a = x − m (in the values' precision);
        G1 = n √(n−1) / (n−2) · Σa³ / (Σa²)^1.5
    """
    dt = values.dtype if values.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    v = values.astype(dt, copy=False)
    n = counts.astype(np.float64)
    if len(v) == 0:
        return np.zeros(0, dtype=dt)
    sums = np.add.reduceat(v.astype(np.float64), starts)
    mean = (sums / n).astype(dt)  # numpy 1.x value-based casting: the scalar mean joins the dtype
    a = v - np.repeat(mean, counts)
    a2 = a * a
    m2 = np.add.reduceat(a2.astype(np.float64), starts)
    m3 = np.add.reduceat((a2 * a).astype(np.float64), starts)
    m2 = np.where(np.abs(m2) < 1e-14, 0.0, m2)
    m3 = np.where(np.abs(m3) < 1e-14, 0.0, m3)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (n * (n - 1) ** 0.5 / (n - 2)) * (m3 / m2 ** 1.5)
    g = np.where(m2 == 0, 0.0, g).astype(dt)
    return np.where(counts < 3, 0.0, g).astype(dt)
