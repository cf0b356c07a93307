"""cnlab._compat.sklearn102_kmeans.lloyd_1d: the centre-at-a-time assignment and the vectorized
chunk sums give the iterations of the whole-table statement (below) bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab._compat.sklearn102_kmeans import centres_from_sums, lloyd_1d


def _table_lloyd(x, init, *, max_iter=300, tol=1e-4, chunk=256):
    """The docstring's algorithm as written: the (n, k) distance table and its argmin, each
    chunk's sums by its own np.add.at, the chunks added in a loop (the update from the sums is the
    module's own: the part not reworked)."""
    dt = x.dtype.type
    k, n = len(init), len(x)
    mean = x.mean(dtype=dt)
    x = (x - mean).astype(dt)
    c = (np.asarray(init).astype(dt) - mean).astype(dt)
    threshold = float(np.mean(np.var(x[:, None], axis=0))) * tol

    def assign(cs):
        return np.argmin((cs * cs).astype(dt)[None, :] + (dt(-2.0) * x)[:, None] * cs[None, :], axis=1)

    labels_old = np.full(n, -1)
    strict = False
    for _ in range(max_iter):
        labels = assign(c)
        counts = np.bincount(labels, minlength=k).astype(dt)
        sums = np.zeros(k, dtype=dt)
        for start in range(0, n, chunk):
            part = np.zeros(k, dtype=dt)
            np.add.at(part, labels[start:start + chunk], x[start:start + chunk])
            sums = (sums + part).astype(dt)
        new_c = centres_from_sums(x, c, labels, counts, sums)
        shift = np.abs(new_c - c).astype(dt)
        c = new_c
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if float((shift ** 2).sum(dtype=dt)) <= threshold:
            break
        labels_old = labels
    if not strict:
        labels = assign(c)
    return (c + mean).astype(dt), labels


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 3000), k=st.integers(2, 12),
       float32=st.booleans(), distinct=st.integers(1, 40), chunk=st.sampled_from([1, 7, 256]))
def test_lloyd_1d_equals_the_whole_table_statement(seed, n, k, float32, distinct, chunk):
    rng = np.random.default_rng(seed)
    # few distinct values (ties, empty clusters, relocations) on a skewed scale, as the binned
    # pflip columns (counts, rater-factor statistics) have
    values = np.round(rng.standard_normal(distinct) ** 3 * 10, 3)
    x = rng.choice(values, n).astype(np.float32 if float32 else np.float64)
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        x[0] += 1
        lo, hi = float(x.min()), float(x.max())
    grid = np.linspace(lo, hi, k + 1)
    init = (grid[1:] + grid[:-1]) * 0.5
    c, labels = lloyd_1d(x, init, chunk=chunk)
    want_c, want_labels = _table_lloyd(x, init, chunk=chunk)
    assert c.dtype == want_c.dtype
    assert c.tobytes() == want_c.tobytes()
    assert labels.tolist() == want_labels.tolist()


def test_lloyd_1d_ties_go_to_the_first_centre():
    # 0.5 is as close to 0 as to 1: argmin's first index (centre 0), as the table's
    x = np.array([0.0, 0.5, 1.0, 0.5], dtype=np.float32)
    c, labels = lloyd_1d(x, np.array([0.0, 1.0]), max_iter=1)
    assert labels.tolist() == _table_lloyd(x, np.array([0.0, 1.0]), max_iter=1)[1].tolist()
    assert labels[1] == labels[0]
