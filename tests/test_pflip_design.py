"""The pflip design with implicit crossed blocks (cnlab.models.pflip_design, pflip_crossed's ragged
codes): every product the working-set classifier reads must equal the one on the materialised
``PolynomialFeatures`` → ``VarianceThreshold`` matrix.

Tier 1: hand-checked codes and the column numbering; tier 2: hypothesis against scikit-learn on
ragged one-hot blocks (rare bins dropped), both read paths (codes and membership).
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import PolynomialFeatures

from cnlab.models import pflip_design
from cnlab.models.pflip_crossed import (
    binary_variance_support,
    crossed_codes,
    padded_active_columns,
    ragged_crossed_codes,
    unrank_codes,
)
from cnlab.models.pflip_design import CrossedBlock, DesignMatrix, _Explicit, _Implicit

#: Margins and X^T r summed in another order than scipy's (by code, by membership): float64
#: sums of at most a few hundred O(1) terms differ by a few ulps; 1e-12 admits that and no error.
SUM_ORDER_ATOL = 1e-12


def _pf(d):
    return PolynomialFeatures(degree=(d, d), interaction_only=True, include_bias=False)


# ================================================================== tier 1: by hand
def test_ragged_rows_keep_their_real_subsets_by_hand():
    # m = 4; row 0 has bins {0, 1, 3}, row 1 has {2} only (padded with 4)
    active, counts = padded_active_columns(sp.csr_matrix(np.array([[1, 1, 0, 1], [0, 0, 1, 0]])))
    assert active.tolist() == [[0, 1, 3], [2, 4, 4]] and counts.tolist() == [3, 1]
    codes, c2 = ragged_crossed_codes(active, counts, 4, 2)
    # pairs of range(4) in order: 01 02 03 12 13 23 → row 0 has 01, 03, 13; row 1 none (pad 6)
    assert codes.tolist() == [[0, 2, 4], [6, 6, 6]] and c2.tolist() == [3, 0]


def test_unrank_inverts_crossed_codes():
    for m, d in ((1, 1), (5, 2), (9, 3), (12, 4)):
        subsets = unrank_codes(np.arange(comb(m, d)), m, d)
        assert crossed_codes(subsets, m, d).ravel().tolist() == list(range(comb(m, d)))
    with pytest.raises(ValueError, match="outside"):
        unrank_codes(np.array([10]), 5, 2)


def test_padded_active_columns_refuses_weighted_rows():
    with pytest.raises(ValueError, match="0/1"):
        padded_active_columns(sp.csr_matrix(np.array([[2.0, 0.0]])))


def test_design_refuses_unsorted_columns_and_other_indexing():
    x = DesignMatrix([_Explicit(sp.csc_matrix(np.eye(3, dtype=np.float32)))], n_rows=3)
    with pytest.raises(ValueError, match="ascending"):
        x.columns(np.array([2, 1]))
    with pytest.raises(TypeError):
        x[0, 1]


# ================================================================== tier 2: against scikit-learn
@st.composite
def _ragged(draw):
    """A one-hot block of ``f`` binned columns with ``b`` bins, some bins dropped (rare bins):
    rows have ≤ f active bins."""
    f, b = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    n = draw(st.integers(2, 30))
    bins = draw(st.lists(st.lists(st.integers(0, b - 1), min_size=f, max_size=f), min_size=n, max_size=n))
    dense = np.zeros((n, f * b))
    for i, row in enumerate(bins):
        dense[i, [j * b + v for j, v in enumerate(row)]] = 1.0
    dropped = draw(st.lists(st.booleans(), min_size=f * b, max_size=f * b))
    keep = ~np.array(dropped)
    if not keep.any():
        keep[0] = True
    return sp.csr_matrix(dense[:, keep])


def _materialised(x, degrees):
    out = x
    for d in degrees:
        out = _pf(d).fit_transform(out)
    return sp.csr_matrix(out)


@settings(max_examples=60, deadline=None)
@given(x=_ragged(), degrees=st.sampled_from([(1,), (2,), (3,), (2, 2)]))
def test_ragged_codes_are_the_products_columns(x, degrees):
    active, counts = padded_active_columns(x)
    if x.shape[1] < max(degrees) or (degrees == (2, 2) and comb(x.shape[1], 2) < 2):
        return
    product = _materialised(x, degrees)
    codes, c, w = active, counts, x.shape[1]
    for d in degrees:
        codes, c = ragged_crossed_codes(codes, c, w, d)
        w = comb(w, d)
    assert w == product.shape[1]
    for i in range(x.shape[0]):
        real = codes[i][codes[i] < w]
        assert real.tolist() == sorted(set(product.indices[product.indptr[i]:product.indptr[i + 1]].tolist()))
        assert c[i] == real.size


def _implicit_and_reference(x, degrees, threshold):
    """A crossed block fitted on ``x`` (kept columns from the counts) and the materialised,
    filtered product it stands for."""
    active, counts = padded_active_columns(x)
    product = _materialised(x, degrees)
    col_counts = np.bincount(product.indices, minlength=product.shape[1])
    kept = np.flatnonzero(binary_variance_support(col_counts, x.shape[0], threshold))
    block = CrossedBlock(None, x.shape[1], degrees, kept, product.shape[1], col_counts[kept])
    return _Implicit(block, active, counts), product[:, kept].tocsc()


@settings(max_examples=50, deadline=None)
@given(x=_ragged(), degrees=st.sampled_from([(2,), (3,), (2, 2)]), threshold=st.sampled_from([0.0, 0.05]),
       members=st.sampled_from([0, 10**9]), chunk=st.integers(1, 7), data=st.data())
def test_design_products_equal_the_materialised_matrix(x, degrees, threshold, members, chunk, data):
    if x.shape[1] < max(degrees) or (degrees == (2, 2) and comb(x.shape[1], 2) < 2):
        return
    part, ref_block = _implicit_and_reference(x, degrees, threshold)
    if part.n_columns == 0:
        return
    n = x.shape[0]
    explicit = sp.random(n, 3, density=0.5, format="csc", random_state=1, dtype=np.float32)
    design = DesignMatrix([_Explicit(explicit), part], n_rows=n)
    ref = sp.hstack([explicit, ref_block], format="csc")
    old = pflip_design.CHUNK_ROWS, pflip_design.MEMBERS_PER_CODE
    # both read paths: every product by codes (0) or by membership (10**9)
    pflip_design.CHUNK_ROWS, pflip_design.MEMBERS_PER_CODE = chunk, members
    try:
        assert design.shape == ref.shape and design.nnz == ref.nnz
        r = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)))
        np.testing.assert_allclose(design.rmatvec(r), ref.T.astype(np.float64) @ r, rtol=0, atol=SUM_ORDER_ATOL)
        coef = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.0, 1.5, -0.25]),
                                           min_size=ref.shape[1], max_size=ref.shape[1])))
        np.testing.assert_allclose(design.margins(coef, 0.5), ref.astype(np.float64) @ coef + 0.5,
                                   rtol=0, atol=SUM_ORDER_ATOL)
        cols = np.flatnonzero(np.array(data.draw(st.lists(st.booleans(), min_size=ref.shape[1],
                                                           max_size=ref.shape[1]))))
        got = design[:, cols]
        assert got.format == "csc" and (got != ref[:, cols]).nnz == 0
        # rows strictly ascending within each column (the arrays themselves, not scipy's flag)
        assert all(np.all(np.diff(got.indices[a:b]) > 0) for a, b in zip(got.indptr[:-1], got.indptr[1:]))
        wide = design.columns(cols, dtype=np.float64, ones_column=True)
        assert wide.dtype == np.float64 and wide.indices.dtype == np.int32
        assert np.array_equal(wide.toarray(), np.hstack([ref[:, cols].toarray(), np.ones((n, 1))]))
        keep = np.array(data.draw(st.lists(st.booleans(), min_size=ref.shape[1], max_size=ref.shape[1])))
        assert np.array_equal(design.keep_columns(keep).toarray(), ref[:, np.flatnonzero(keep)].toarray())
        own = DesignMatrix([_Explicit(explicit.copy()), part], n_rows=n)  # in place: on a copy of ours
        assert np.array_equal(own.keep_columns(keep, inplace=True).toarray(),
                              ref[:, np.flatnonzero(keep)].toarray())
    finally:
        pflip_design.CHUNK_ROWS, pflip_design.MEMBERS_PER_CODE = old


def test_crossed_steps_recognises_the_crossed_blocks_only():
    from sklearn.feature_selection import VarianceThreshold as VT
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer as FT

    assert pflip_design.crossed_steps(Pipeline([("a", FT()), ("c", _pf(3)), ("v", VT(0.001))])) == (1, (3,))
    assert pflip_design.crossed_steps(Pipeline([("a", FT()), ("c0", _pf(2)), ("c1", _pf(2)),
                                                ("v", VT(0.001))])) == (1, (2, 2))
    mixed = PolynomialFeatures(degree=(1, 2), interaction_only=True, include_bias=False)
    assert pflip_design.crossed_steps(Pipeline([("a", FT()), ("c", mixed), ("v", VT(0.001))])) is None
    assert pflip_design.crossed_steps(Pipeline([("a", FT()), ("c", _pf(2))])) is None
    assert pflip_design.crossed_steps(_pf(2)) is None


def test_docstring_examples_run():
    import doctest

    for module in (pflip_design, __import__("cnlab.models.pflip_crossed", fromlist=["x"])):
        failures, attempted = doctest.testmod(module)
        assert attempted > 0 and failures == 0


def test_liblinear_on_the_whole_matrix_refuses_an_implicit_design():
    from cnlab.models.l1_logistic import L1Logistic

    x = DesignMatrix([_Explicit(sp.csc_matrix(np.eye(4, dtype=np.float32)))], n_rows=4)
    with pytest.raises(ValueError, match="materialised"):
        L1Logistic(solver="liblinear").fit(x, np.array([0, 1, 0, 1]))
    model = L1Logistic(C=10.0, solver="auto", initial_size=2).fit(x, np.array([0, 1, 0, 1]))
    assert model.solver_ == "working_set" and model.converged_
