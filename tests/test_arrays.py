"""cnlab._arrays: the set helpers equal numpy's (which they replace for speed: numpy >= 2.3 takes a
hash-table path for ``np.unique(a)`` and ``np.isin``'s second argument)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab._arrays import isin, unique

_INTS = st.sampled_from([np.int8, np.int32, np.int64, np.uint16, np.uint64])


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 6000), dtype=_INTS, spread=st.integers(1, 62))
def test_unique_is_numpys(seed, n, dtype, spread):
    rng = np.random.default_rng(seed)
    hi = min(2**spread, np.iinfo(dtype).max)
    a = rng.integers(0, hi, n, endpoint=True).astype(dtype)
    got = unique(a)
    assert got.dtype == a.dtype and np.array_equal(got, np.unique(a))


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000), m=st.sampled_from([0, 1, 17, 4096, 4097, 9000]),
       spread=st.integers(1, 62), a_type=_INTS, b_type=_INTS, shift=st.integers(-5, 5))
def test_isin_is_numpys(seed, n, m, spread, a_type, b_type, shift):
    """Every branch: short b (numpy), a small range (numpy's table), a wide range (the search);
    mixed integer types, values outside b's range on both sides, repeated values."""
    rng = np.random.default_rng(seed)
    lo = 0 if np.iinfo(a_type).min == 0 or np.iinfo(b_type).min == 0 else -2**min(spread, 6)
    hi = min(2**spread, np.iinfo(a_type).max, np.iinfo(b_type).max)
    b = rng.integers(lo, hi, m, endpoint=True).astype(b_type)
    a = rng.integers(lo, hi, n, endpoint=True).astype(a_type)
    if n and m:  # some hits for sure
        a[: n // 3] = b[rng.integers(0, m, n // 3)].astype(a_type)
    got = isin(a, b)
    assert got.dtype == bool and got.shape == a.shape
    assert np.array_equal(got, np.isin(a, b))


def test_isin_of_floats_and_wide_ids():
    a = np.array([0.5, 1.0, np.nan])
    assert isin(a, np.array([1.0, np.nan])).tolist() == np.isin(a, np.array([1.0, np.nan])).tolist()
    ids = np.arange(10**18, 10**18 + 10_000, 3, dtype=np.int64)  # snowflake-sized note ids
    q = np.array([10**18, 10**18 + 1, 10**18 + 9_999, 10**18 + 9_998, 5], dtype=np.int64)
    assert isin(q, ids).tolist() == [True, False, True, False, False]


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000), minor_type=_INTS, major_type=_INTS,
       minor_bits=st.integers(1, 63), major_bits=st.integers(1, 63), grouped=st.booleans())
def test_lexsort2_is_lexsort(seed, n, minor_type, major_type, minor_bits, major_bits, grouped):
    """Every branch: a key that fits, a wide major (grouped: run numbers; else ranks), a key that
    cannot fit (lexsort); ties (few distinct values) keep the input order."""
    from cnlab._arrays import lexsort2

    rng = np.random.default_rng(seed)

    def draw(dtype, bits, size):
        info = np.iinfo(dtype)
        hi = min(info.max, 2**bits)
        lo = max(info.min, -(2**bits)) if info.min < 0 else 0
        values = rng.integers(lo, hi, max(1, size // 3), endpoint=True, dtype=np.int64 if info.min < 0 or hi < 2**63
                              else np.uint64)
        return rng.choice(values, size).astype(dtype)

    minor = draw(minor_type, minor_bits, n)
    major = draw(major_type, major_bits, n)
    if grouped:
        major = np.sort(major)
    got = lexsort2(minor, major)
    assert np.array_equal(got, np.lexsort((minor, major)))
