"""The pflip fit without ``Pipeline.fit`` (spec 06 §A.8–§A.9): the one-allocation column stack
(``stack_csr``, ``LeanColumnTransformer``), the in-place variance-filter selection
(``drop_columns_inplace``) and ``fit_pipeline`` must give scikit-learn's matrices and decision values
bit for bit.

Tier 1: hand-built matrices with a known answer; tier 2: hypothesis against scipy; and the fitted
model on the bundled sample against a plain ``Pipeline.fit`` with scikit-learn's ColumnTransformer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.models import pflip, pflip_bag
from cnlab.models.pflip_bag import LeanColumnTransformer, drop_columns_inplace, stack_csc, stack_csr


#: Largest decision-value difference between two working-set fits of one problem whose matrices
#: differ only in storage (CSC vs CSR: the gradient's sums in another order). Both stop at a
#: relative optimality violation of 1e-6, i.e. within ~1e-4 of the optimal margins; 1e-3 admits
#: that and no other solution (decision values are O(1)).
WS_ORDER_TOL = 1e-3


def _csr(data, indices, indptr, n_cols, dtype=np.float64):
    """A CSR matrix with exactly these arrays (entries in this order, duplicates kept)."""
    return sp.csr_matrix((np.asarray(data, dtype=dtype), np.asarray(indices, dtype=np.int32),
                          np.asarray(indptr, dtype=np.int32)), shape=(len(indptr) - 1, n_cols))


def _same(a, b) -> None:
    """Same shape, entries and entry order (values compared as float64)."""
    assert a.shape == b.shape
    assert a.indptr.tolist() == b.indptr.tolist()
    assert a.indices.tolist() == b.indices.tolist()
    assert np.array_equal(a.data.astype(np.float64), b.data.astype(np.float64))


# ================================================================== tier 1: by hand
def test_stack_keeps_each_rows_entry_order_block_by_block():
    # row 0 of `a` lists column 2 before column 0 (unsorted, as TokenBag rows are); b has a duplicate
    a = _csr([5, 7, 1], [2, 0, 1], [0, 2, 3], 3, dtype=np.int64)
    b = _csr([1.0, 1.0, 1.0], [1, 1, 0], [0, 0, 3], 2)
    x = stack_csr([a, b])
    assert x.indptr.tolist() == [0, 2, 6]
    assert x.indices.tolist() == [2, 0, 1, 4, 4, 3]          # b's columns shifted by a's width 3
    assert x.data.tolist() == [5.0, 7.0, 1.0, 1.0, 1.0, 1.0]
    assert x.dtype == np.float32 and x.indices.dtype == np.int32 and x.shape == (2, 5)
    _same(x, sp.hstack([a, b]).tocsr())


def test_stack_keeps_float64_when_a_value_is_not_a_float32_number():
    a = _csr([0.1], [0], [0, 1, 1], 1)
    b = _csr([3], [0], [0, 0, 1], 1, dtype=np.int64)
    assert stack_csr([a, b]).dtype == np.float64
    assert stack_csr([a, b]).data.tolist() == [0.1, 3.0]
    assert stack_csr([b, b], compact=False).dtype == np.int64   # the blocks' common dtype, as scipy


def test_stack_of_one_block_is_a_new_matrix():
    a = _csr([1.0, 2.0], [1, 0], [0, 2], 2)
    x = stack_csr([a])
    _same(x, a)
    assert not np.shares_memory(x.data, a.data) and not np.shares_memory(x.indices, a.indices)


def test_stack_rejects_blocks_of_different_heights():
    with pytest.raises(ValueError, match="rows"):
        stack_csr([_csr([1.0], [0], [0, 1], 1), _csr([1.0], [0], [0, 1, 1], 1)])


def test_drop_columns_inplace_by_hand():
    # rows: [c3, c1, c0], [], [c1, c2]; drop column 1
    m = _csr([1, 2, 3, 4, 5], [3, 1, 0, 1, 2], [0, 3, 3, 5], 4)
    out = drop_columns_inplace(m, np.array([True, False, True, True]))
    assert out.shape == (3, 3)
    assert out.indptr.tolist() == [0, 2, 2, 3]
    assert out.indices.tolist() == [2, 0, 1]                  # old 3 → 2, old 0 → 0, old 2 → 1
    assert out.data.tolist() == [1.0, 3.0, 5.0]


def test_csc_stack_by_hand_releases_each_block():
    # a: row 0 lists column 2 before column 0 (unsorted); b holds a duplicate (1, 1), kept as scipy does
    a = _csr([5, 7, 1], [2, 0, 1], [0, 2, 3], 3, dtype=np.int64)
    b = _csr([1.0, 1.0, 1.0], [1, 1, 0], [0, 0, 3], 2)
    x = stack_csc([a, b], consume=True)
    assert x.format == "csc" and x.shape == (2, 5) and x.dtype == np.float32
    assert x.indptr.tolist() == [0, 1, 2, 3, 4, 6]
    assert x.indices.tolist() == [0, 1, 0, 1, 1, 1]         # column by column, rows ascending
    assert x.data.tolist() == [7.0, 1.0, 5.0, 1.0, 1.0, 1.0]  # b's duplicate (row 1, column 1) kept
    assert a.shape == (0, 0) and a.nnz == 0 and b.shape == (0, 0)   # released
    with pytest.raises(ValueError, match="rows"):
        stack_csc([_csr([1.0], [0], [0, 1], 1), _csr([1.0], [0], [0, 1, 1], 1)])


def test_drop_columns_inplace_csc_by_hand():
    m = sp.csc_matrix(np.array([[1.0, 0.0, 2.0, 0.0], [3.0, 4.0, 0.0, 5.0]]))
    out = drop_columns_inplace(m, np.array([True, False, True, True]))
    assert out.format == "csc" and out.shape == (2, 3)
    assert out.toarray().tolist() == [[1.0, 2.0, 0.0], [3.0, 0.0, 5.0]]


def test_fit_pipeline_drops_a_constant_column_like_pipeline_fit():
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    x = pd.DataFrame({"a": [0, 1, 2, 0, 1, 2, 2, 0], "b": [5] * 8, "c": [1, 1, 0, 0, 1, 0, 1, 1]})
    y = np.array([0, 1, 1, 0, 1, 0, 1, 0])

    def make(cls):
        return Pipeline([("features", cls([("ab", OneHotEncoder(), ["a", "b"]),
                                           ("c", OneHotEncoder(), ["c"])])),
                         ("drop_constants", VarianceThreshold()),
                         ("lr", LogisticRegression(solver="liblinear", C=10.0, random_state=0))])

    from sklearn.compose import ColumnTransformer

    lean = make(LeanColumnTransformer)
    d = pflip.fit_pipeline(lean, x, y)
    ref = make(ColumnTransformer).fit(x, y)
    assert lean.named_steps["drop_constants"].get_support().tolist() == [True] * 3 + [False] + [True] * 2
    assert d.tobytes() == ref.decision_function(x).tobytes()
    assert np.array_equal(lean.named_steps["lr"].coef_, ref.named_steps["lr"].coef_)
    assert lean.decision_function(x).tobytes() == d.tobytes()   # the assembled pipeline predicts


# ================================================================== tier 2: against scipy
@st.composite
def _blocks(draw):
    n_rows = draw(st.integers(1, 6))
    out = []
    for _ in range(draw(st.integers(1, 4))):
        n_cols = draw(st.integers(0, 5))
        rows = []
        for _ in range(n_rows):
            k = draw(st.integers(0, 4)) if n_cols else 0
            rows.append([(draw(st.integers(0, n_cols - 1)), draw(st.sampled_from([1.0, 2.0, -3.0, 0.5, 0.1])))
                         for _ in range(k)])
        indptr = np.cumsum([0] + [len(r) for r in rows])
        out.append(_csr([v for r in rows for _, v in r], [c for r in rows for c, _ in r], indptr, n_cols,
                        dtype=draw(st.sampled_from([np.float64, np.int64])) if n_cols else np.float64))
    return out


@settings(max_examples=150, deadline=None)
@given(_blocks(), st.sampled_from([1, 2, 3, 1 << 20]))
def test_stack_equals_scipy_hstack(blocks, chunk):
    old, pflip_bag._CHUNK = pflip_bag._CHUNK, chunk   # small chunks cross row boundaries
    try:
        x = stack_csr(blocks)
    finally:
        pflip_bag._CHUNK = old
    ref = sp.hstack(blocks).tocsr()
    _same(x, ref)
    exact = all(np.array_equal(b.data.astype(np.float32), b.data) for b in blocks)
    assert x.dtype == (np.float32 if exact else ref.dtype)


@settings(max_examples=150, deadline=None)
@given(_blocks(), st.booleans(), st.sampled_from([1, 2, 3, 1 << 20]))
def test_csc_stack_equals_scipy_hstack(blocks, consume, chunk):
    ref = sp.hstack(blocks).tocsc()
    exact = all(np.array_equal(b.data.astype(np.float32), b.data) for b in blocks)
    copies = [b.copy() for b in blocks]
    old, pflip_bag._CHUNK = pflip_bag._CHUNK, chunk   # small chunks split rows' runs of a column
    try:
        x = stack_csc(copies, consume=consume)
    finally:
        pflip_bag._CHUNK = old
    _same(x, ref)
    assert x.format == "csc"
    assert x.dtype == (np.float32 if exact else ref.dtype)
    assert all((c.nnz == 0) == consume or b.nnz == 0 for b, c in zip(blocks, copies))


@settings(max_examples=150, deadline=None)
@given(_blocks(), st.data(), st.sampled_from([1, 2, 3, 1 << 20]))
def test_drop_columns_inplace_csc_equals_scipy_selection(blocks, data, chunk):
    m = sp.hstack(blocks).tocsc().astype(np.float64)
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=m.shape[1], max_size=m.shape[1])), dtype=bool)
    ref = m[:, np.flatnonzero(keep)]
    old, pflip_bag._CHUNK = pflip_bag._CHUNK, chunk   # small chunks split and join columns
    try:
        got = drop_columns_inplace(m.copy(), keep)
    finally:
        pflip_bag._CHUNK = old
    _same(got, ref)


@settings(max_examples=150, deadline=None)
@given(_blocks(), st.data(), st.sampled_from([1, 2, 3, 1 << 20]))
def test_drop_columns_inplace_equals_scipy_selection(blocks, data, chunk):
    m = sp.hstack(blocks).tocsr().astype(np.float64)
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=m.shape[1], max_size=m.shape[1])), dtype=bool)
    ref = m[:, np.flatnonzero(keep)]   # what VarianceThreshold.transform does
    old, pflip_bag._CHUNK = pflip_bag._CHUNK, chunk
    try:
        got = drop_columns_inplace(m.copy(), keep)
    finally:
        pflip_bag._CHUNK = old
    _same(got, ref)


# ================================================================== the model: against Pipeline.fit
@pytest.fixture(scope="module")
def sample_frame():
    import cnlab
    from cnlab.preprocess import preprocess

    pre = preprocess(cnlab.load_sample())
    rs = np.random.RandomState(0)
    ids = np.unique(pre.ratings[S.RATER_ID])
    pro = pd.DataFrame({S.RATER_ID: ids, S.RATER_FACTOR1: (rs.randn(len(ids)) * 0.5).astype(np.float32),
                        "internalFirstRoundRaterFactor1": np.nan, "scorerName": "MFCoreScorer"})
    # C = 1: the official C = 0.04 leaves no non-zero coefficient on the small sample
    cfg = dataclasses.replace(pflip.PFlipConfig(), C=1.0)
    frame = pflip.training_frame(pre.notes, pre.ratings, pre.status_history, pflip.rater_factors(pro),
                                 config=cfg)
    return pre, pro, cfg, frame


def _split(frame, cfg, seed):
    from sklearn.model_selection import train_test_split

    rng = np.random.RandomState(seed)
    train, valid = train_test_split(frame, train_size=cfg.train_size, random_state=rng)
    clip = pflip.clip_thresholds(train, cfg)
    y = (train[pflip.LABEL] == pflip.FLIP_LABEL).to_numpy().astype(np.int8)
    return rng, train, valid, clip, y


def test_fit_pipeline_equals_plain_pipeline_fit_on_the_sample(sample_frame):
    _, _, cfg, frame = sample_frame
    rng, train, valid, clip, y = _split(frame, cfg, seed=3)
    lean, _ = pflip.build_pipeline(train, cfg, rng)
    with pflip._quiet_single_thread():
        d = pflip.fit_pipeline(lean, pflip.pre_transform(train, clip, cfg), y)

    rng2, train2, _, _, y2 = _split(frame, cfg, seed=3)
    stock, _ = pflip.build_pipeline(train2, cfg, rng2, lean=False)
    xt, xv = pflip.pre_transform(train2, clip, cfg), pflip.pre_transform(valid, clip, cfg)
    with pflip._quiet_single_thread():
        stock.fit(xt, y2)
        ref = stock.decision_function(xt)
        assert type(stock.named_steps["features"]).__name__ == "ColumnTransformer"
        vt, vt_ref = lean.named_steps["drop_constants"], stock.named_steps["drop_constants"]
        assert not vt.get_support().all()        # the sample drops columns: the in-place path ran
        assert np.array_equal(vt.variances_, vt_ref.variances_)
        assert (lean.named_steps["lr"].coef_ != 0).sum() > 0
        assert np.array_equal(lean.named_steps["lr"].coef_, stock.named_steps["lr"].coef_)
        assert d.tobytes() == ref.tobytes()
        # the assembled pipeline predicts as the stock one (float32 features, same values)
        assert lean.decision_function(xv).tobytes() == stock.decision_function(xv).tobytes()
        assert lean.predict_proba(xv).tobytes() == stock.predict_proba(xv).tobytes()
        assert lean.decision_function(xt).tobytes() == ref.tobytes()


def test_csc_stack_fits_the_same_working_set_model(sample_frame):
    """Above ``csc_above`` the features are stacked CSC and the blocks released: the working-set fit
    on it lands where the same fit on the CSR stack lands (same objective; sums in another order)."""
    _, _, cfg, frame = sample_frame
    ws = dataclasses.replace(cfg, solver="working_set")
    fits = {}
    for above in (0.0, float("inf")):
        rng, train, _, clip, y = _split(frame, ws, seed=3)
        pipe, _ = pflip.build_pipeline(train, ws, rng)
        features = pipe.named_steps["features"]
        original = features.fit_transform_stacked
        features.fit_transform_stacked = lambda x, y=None, **kw: original(x, y, csc_above=above)
        with pflip._quiet_single_thread():
            d = pflip.fit_pipeline(pipe, pflip.pre_transform(train, clip, ws), y)
        fits[above] = (d, pipe)
    (d_csc, p_csc), (d_csr, p_csr) = fits[0.0], fits[float("inf")]
    assert p_csc.named_steps["lr"].solver_ == "working_set"
    assert np.array_equal(p_csc.named_steps["drop_constants"].get_support(),
                          p_csr.named_steps["drop_constants"].get_support())
    assert np.array_equal(p_csc.named_steps["drop_constants"].variances_,
                          p_csr.named_steps["drop_constants"].variances_)
    assert np.max(np.abs(d_csc - d_csr)) < WS_ORDER_TOL


def test_model_threshold_is_that_of_the_plain_pipeline(sample_frame):
    pre, pro, cfg, frame = sample_frame
    m = pflip.PFlipModel(cfg).fit(pre.notes, pre.ratings, pre.status_history, pro, seed=5)
    rng, train, _, clip, y = _split(frame, cfg, seed=5)
    stock, _ = pflip.build_pipeline(train, cfg, rng, lean=False)
    xt = pflip.pre_transform(train, clip, cfg)
    with pflip._quiet_single_thread():
        ref = stock.fit(xt, y).decision_function(xt)
    assert m.threshold == pflip.roc_threshold(y, ref, cfg.crh_fp_rate)[0]
    assert m.metrics["nonzero_coefficients"] == int((stock.named_steps["lr"].coef_ != 0).sum()) > 0
    assert m.metrics["features"] == int(stock.named_steps["drop_constants"].get_support().sum())
    assert isinstance(m.pipeline.named_steps["features"], LeanColumnTransformer)


def test_predict_transforms_once_with_the_pipelines_values(sample_frame):
    pre, pro, cfg, _ = sample_frame
    m = pflip.PFlipModel(cfg).fit(pre.notes, pre.ratings, pre.status_history, pro, seed=5)
    got = m.predict(pre.notes, pre.ratings, pre.status_history, pro)
    # one batch on the sample: the reference is the pipeline's own two calls on the same rows
    info = pflip.note_info(pre.notes, pre.ratings, pre.status_history, pflip.rater_factors(pro), config=cfg)
    x = pflip.pre_transform(info, m.clip, cfg)
    with pflip._quiet_single_thread():
        d, p = m.pipeline.decision_function(x), m.pipeline.predict_proba(x)[:, 1]
    assert got[S.NOTE_ID].tolist() == info[S.NOTE_ID].tolist() and len(got) > 0
    assert got[pflip.PFLIP_PROBA].to_numpy().tobytes() == p.tobytes()
    assert got[pflip.LABEL].tolist() == np.where(d > m.threshold, "FLIP", "CRH").tolist()
    assert got[pflip.LABEL].nunique() == 2


def test_lean_fit_is_the_same_model(sample_frame):
    pre, pro, cfg, _ = sample_frame
    args = (pre.notes, pre.ratings, pre.status_history, pro)
    full = pflip.PFlipModel(cfg).fit(*args, seed=5)
    lean = pflip.PFlipModel(cfg).fit(*args, seed=5, keep_frame=False)
    assert lean.train_frame is None and full.train_frame is not None
    assert lean.threshold == full.threshold and lean.metrics == full.metrics
    assert np.array_equal(lean.pipeline.named_steps["lr"].coef_, full.pipeline.named_steps["lr"].coef_)
    pd.testing.assert_frame_equal(lean.predict(*args), full.predict(*args), check_exact=True)


# ================================================================== implicit crossed blocks
def _fit_crossed(frame, cfg, crossed: str, seed: int = 3):
    c = dataclasses.replace(cfg, solver="working_set", crossed=crossed)
    rng, train, valid, clip, y = _split(frame, c, seed=seed)
    pipe, _ = pflip.build_pipeline(train, c, rng)
    with pflip._quiet_single_thread():
        d = pflip.fit_pipeline(pipe, pflip.pre_transform(train, clip, c), y)
        dv = pipe.decision_function(pflip.pre_transform(valid, clip, c))
    return pipe, d, dv


def test_implicit_crossed_blocks_fit_the_explicit_models_columns(sample_frame):
    """The crossed blocks kept as active bins: the same columns (variance filter bit for bit), the
    same working sets (coefficients equal), the decision values up to the gradient's summation order."""
    from cnlab.models.pflip_design import CrossedFreeFeatures, DesignMatrix, _Implicit

    _, _, cfg, frame = sample_frame
    ex, d_ex, dv_ex = _fit_crossed(frame, cfg, "explicit")
    im, d_im, dv_im = _fit_crossed(frame, cfg, "implicit")
    assert isinstance(im.named_steps["features"], CrossedFreeFeatures)
    rng, train, _, clip, y = _split(frame, cfg, seed=3)
    design = im.named_steps["features"].transform(pflip.pre_transform(train, clip, cfg))
    assert isinstance(design, DesignMatrix) and sum(isinstance(p, _Implicit) for p in design.parts) == 6
    vt_ex, vt_im = ex.named_steps["drop_constants"], im.named_steps["drop_constants"]
    assert np.array_equal(vt_ex.variances_, vt_im.variances_)
    assert np.array_equal(vt_ex.get_support(), vt_im.get_support())
    assert (ex.named_steps["lr"].coef_ != 0).sum() > 0
    assert np.array_equal(ex.named_steps["lr"].coef_, im.named_steps["lr"].coef_)
    assert np.max(np.abs(d_ex - d_im)) < WS_ORDER_TOL and np.max(np.abs(dv_ex - dv_im)) < WS_ORDER_TOL


def test_implicit_model_predicts_as_the_explicit_one(sample_frame):
    pre, pro, cfg, _ = sample_frame
    args = (pre.notes, pre.ratings, pre.status_history, pro)
    models = {c: pflip.PFlipModel(dataclasses.replace(cfg, solver="working_set", crossed=c)).fit(*args, seed=5)
              for c in ("explicit", "implicit")}
    ex, im = models["explicit"], models["implicit"]
    assert im.metrics["features"] == ex.metrics["features"]
    assert im.metrics["nonzero_coefficients"] == ex.metrics["nonzero_coefficients"] > 0
    assert abs(im.threshold - ex.threshold) < WS_ORDER_TOL
    p_ex, p_im = ex.predict(*args), im.predict(*args)
    assert p_ex[S.NOTE_ID].tolist() == p_im[S.NOTE_ID].tolist() and len(p_ex) > 0
    assert np.max(np.abs(p_ex[pflip.PFLIP_PROBA].to_numpy() - p_im[pflip.PFLIP_PROBA].to_numpy())) < WS_ORDER_TOL


def test_crossed_mode_rule():
    from cnlab.models.pflip_features import CROSSED_NONZEROS_PER_ROW

    cfg = pflip.PFlipConfig()
    limit_rows = cfg.liblinear_max_nonzeros // CROSSED_NONZEROS_PER_ROW
    assert not pflip.crossed_implicit(cfg, limit_rows) and pflip.crossed_implicit(cfg, limit_rows + 1)
    assert not pflip.crossed_implicit(dataclasses.replace(cfg, solver="liblinear"), 10**9)
    assert not pflip.crossed_implicit(dataclasses.replace(cfg, crossed="explicit"), 10**9)
    assert pflip.crossed_implicit(dataclasses.replace(cfg, crossed="implicit"), 10)
    with pytest.raises(ValueError, match="working-set"):
        pflip.crossed_implicit(dataclasses.replace(cfg, crossed="implicit", solver="liblinear"), 10)
    with pytest.raises(ValueError, match="crossed must be"):
        pflip.crossed_implicit(dataclasses.replace(cfg, crossed="sparse"), 10)
