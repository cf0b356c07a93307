"""cnlab._compat.sklearn102_kmeans: the reworked steps of lloyd_1d (the assignment a centre at a
time, the vectorized chunk sums) give what their plain statements give, bit for bit; the whole
iteration is compared with scikit-learn in tests/test_confidence.py."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab._compat.sklearn102_kmeans import chunk_sums, lloyd_1d, nearest_centre


def _column(seed: int, n: int, float32: bool, distinct: int) -> np.ndarray:
    # few distinct values (ties, empty clusters) on a skewed scale, as the binned pflip columns
    # (counts, rater-factor statistics) have
    rng = np.random.default_rng(seed)
    values = np.round(rng.standard_normal(distinct) ** 3 * 10, 3)
    return rng.choice(values, n).astype(np.float32 if float32 else np.float64)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000), k=st.integers(1, 12),
       float32=st.booleans(), distinct=st.integers(1, 40), repeated=st.booleans())
def test_nearest_centre_is_the_tables_argmin(seed, n, k, float32, distinct, repeated):
    x = _column(seed, n, float32, distinct)
    dt = x.dtype.type
    rng = np.random.default_rng(seed + 1)
    centres = rng.choice(x, k).astype(dt) if repeated else rng.standard_normal(k).astype(dt)  # ties
    m2x = (dt(-2.0) * x).astype(dt)
    table = (centres * centres).astype(dt)[None, :] + m2x[:, None] * centres[None, :]
    assert nearest_centre(m2x, centres).tolist() == np.argmin(table, axis=1).tolist()


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000), k=st.integers(1, 12),
       float32=st.booleans(), chunk=st.sampled_from([1, 7, 256]))
def test_chunk_sums_are_the_loop_over_chunks(seed, n, k, float32, chunk):
    x = _column(seed, n, float32, 1000)
    dt = x.dtype.type
    labels = np.random.default_rng(seed).integers(0, k, n).astype(np.int32)
    chunk_of = np.arange(n) // chunk
    want = np.zeros(k, dtype=dt)
    for start in range(0, n, chunk):
        part = np.zeros(k, dtype=dt)
        np.add.at(part, labels[start:start + chunk], x[start:start + chunk])
        want = (want + part).astype(dt)
    got = chunk_sums(x, labels, k, chunk_of, int(chunk_of[-1]) + 1)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_lloyd_1d_ties_go_to_the_first_centre():
    # 0.5 is as close to 0 as to 1: argmin's first index (centre 0)
    x = np.array([0.0, 0.5, 1.0, 0.5], dtype=np.float32)
    _, labels = lloyd_1d(x, np.array([0.0, 1.0]), max_iter=1)
    assert labels.tolist() == [0, 0, 1, 0]
