"""Crossed one-hot features from the active bins (cnlab.models.pflip_crossed): scikit-learn's
PolynomialFeatures column numbering and VarianceThreshold support, without the product matrix.

Tier 1: hand-checked codes; tier 2: hypothesis against scikit-learn on materialised matrices.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_selection import VarianceThreshold
from sklearn.preprocessing import PolynomialFeatures

from cnlab.models.pflip_crossed import (
    active_columns,
    binary_variance_support,
    crossed_codes,
    crossed_column_counts,
)


def _one_hot(rows: list[list[int]], m: int) -> sp.csr_matrix:
    k = len(rows[0])
    return sp.csr_matrix((np.ones(len(rows) * k), np.array(rows).ravel(), np.arange(0, len(rows) * k + 1, k)),
                         shape=(len(rows), m))


def _sk_support(x, threshold: float) -> list[bool]:
    """scikit-learn's support; its 'no feature meets the threshold' error read as none kept."""
    try:
        return VarianceThreshold(threshold).fit(x).get_support().tolist()
    except ValueError as e:
        assert "meets the variance threshold" in str(e)
        return [False] * x.shape[1]


def _pf(d):
    return PolynomialFeatures(degree=(d, d), interaction_only=True, include_bias=False)


# ================================================================== tier 1: by hand
def test_codes_are_lexicographic_subset_ranks():
    m = 6
    for d in (1, 2, 3):
        for rank, subset in enumerate(combinations(range(m), d)):
            assert crossed_codes(np.array([subset]), m, d).tolist() == [[rank]]


def test_active_columns_refuses_ragged_or_weighted_rows():
    assert active_columns(_one_hot([[3, 1], [0, 2]], 4)).tolist() == [[1, 3], [0, 2]]
    with pytest.raises(ValueError, match="different numbers"):
        active_columns(sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 1.0]])))
    with pytest.raises(ValueError, match="0/1"):
        active_columns(sp.csr_matrix(np.array([[2.0, 0.0], [0.0, 1.0]])))


def test_support_at_the_threshold_is_scikit_learns():
    # thresholds equal to a column's closed-form variance: the border path decides as sklearn does
    n = 1000
    for c in (1, 7, 50, 333, 999):
        thr = (c / n) * (1 - c / n)
        col = sp.csr_matrix((np.ones(c), np.arange(c), np.array([0, c])), shape=(1, n)).T.tocsr()
        for t in (thr, np.nextafter(thr, 0), np.nextafter(thr, 1)):
            assert binary_variance_support(np.array([c]), n, t).tolist() == _sk_support(col, t)


# ================================================================== tier 2: against scikit-learn
@st.composite
def _binned(draw):
    """A one-hot matrix: ``f`` binned columns of ``b`` bins each, one active bin per column."""
    f, b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    n = draw(st.integers(2, 40))
    bins = draw(st.lists(st.lists(st.integers(0, b - 1), min_size=f, max_size=f), min_size=n, max_size=n))
    return _one_hot([[j * b + v for j, v in enumerate(row)] for row in bins], f * b)


@settings(max_examples=60, deadline=None)
@given(x=_binned(), d=st.sampled_from([1, 2, 3]), chunk=st.integers(1, 9),
       threshold=st.sampled_from([0.0, 0.001, 0.05, 0.2]))
def test_counts_and_support_equal_the_materialised_block(x, d, chunk, threshold):
    m = x.shape[1]
    active = active_columns(x)
    if active.shape[1] < d:
        return
    product = _pf(d).fit_transform(x).tocsr()
    assert product.shape[1] == comb(m, d)
    # each row's codes are the product's column indices, in its order
    codes = crossed_codes(active, m, d)
    assert codes.tolist() == [sorted(product.indices[product.indptr[i]:product.indptr[i + 1]].tolist())
                              for i in range(x.shape[0])]
    counts = crossed_column_counts(active, m, d, chunk_rows=chunk)
    assert counts.tolist() == np.bincount(product.indices, minlength=product.shape[1]).tolist()
    assert binary_variance_support(counts, x.shape[0], threshold).tolist() == _sk_support(product, threshold)


@settings(max_examples=30, deadline=None)
@given(x=_binned(), chunk=st.integers(1, 9))
def test_degree_four_block_is_pairs_of_pairs(x, chunk):
    """The degree-4 blocks apply PolynomialFeatures(2) twice: codes compose."""
    m = x.shape[1]
    active = active_columns(x)
    if active.shape[1] < 2:
        return
    product = _pf(2).fit_transform(_pf(2).fit_transform(x)).tocsr()
    counts = crossed_column_counts(active, m, (2, 2), chunk_rows=chunk)
    assert counts.tolist() == np.bincount(product.indices, minlength=product.shape[1]).tolist()


def test_docstring_examples_run():
    import doctest

    import cnlab.models.pflip_crossed as module

    failures, attempted = doctest.testmod(module)
    assert attempted >= 2 and failures == 0
