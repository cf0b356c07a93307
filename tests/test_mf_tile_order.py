"""Tile order of large fits (``cnlab.mf._common.tile_order``): above ``TILE_ABOVE`` ratings a fit
trains on its ratings sorted by (note block, rater block), so that a step's gathers and sums stay
in cache and each chunk's sums cover a narrow index range. The indices, the initial draws and
every per-rating output keep the input's meaning; only the order of the float sums changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _mf_helpers import planted

#: Two fits that differ only in the order of their float32 sums (3,000 ratings, chunks of 700):
#: measured at most 2.4e-7 apart here (a few float32 ulps, the same number of steps); Adam can
#: amplify such differences, so 40× that is allowed.
REORDERED_FIT_ATOL = 1e-5


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=0, max_size=200),
       st.integers(1, 8))
def test_tile_order_is_a_stable_sort_by_tile(index_pairs, tile):
    from cnlab.mf import _common

    pairs = np.array(index_pairs, dtype=np.int32).reshape(-1, 2)
    n_idx, u_idx = pairs[:, 0], pairs[:, 1]
    old = _common.TILE
    _common.TILE = tile
    try:
        order = _common.tile_order(n_idx, u_idx, 41)
    finally:
        _common.TILE = old
    assert sorted(order.tolist()) == list(range(len(pairs)))  # a permutation
    key = [(n // tile, u // tile, i) for i, (n, u) in enumerate(pairs.tolist())]
    assert [key[i][2] for i in order] == [k[2] for k in sorted(key)]  # by tile, then input order


def _tiny_tiles(monkeypatch, *, chunk=700):
    from cnlab.mf import _common, _tf_loop

    monkeypatch.setattr(_common, "TILE_ABOVE", 500)
    monkeypatch.setattr(_common, "TILE", 16)
    monkeypatch.setattr(_tf_loop, "_CACHE", {})  # CHUNK is read when the graph is traced
    monkeypatch.setattr(_tf_loop, "CHUNK", chunk)


def test_prepare_puts_large_fits_in_tile_order(monkeypatch):
    from cnlab.mf import _common

    df, _ = planted(n_notes=120, n_raters=150, n_ratings=3000, seed=2)
    w = np.random.default_rng(0).random(len(df)).astype(np.float32)
    plain = _common.prepare(df, "helpfulNum", w)
    assert plain.order is None
    _tiny_tiles(monkeypatch)
    tiled = _common.prepare(df, "helpfulNum", w)
    np.testing.assert_array_equal(tiled.note_ids, plain.note_ids)  # same indices: same initial draws
    np.testing.assert_array_equal(tiled.rater_ids, plain.rater_ids)
    for name in ("n_idx", "u_idx", "y", "w"):
        np.testing.assert_array_equal(getattr(tiled, name), getattr(plain, name)[tiled.order], err_msg=name)
    keys = (tiled.n_idx // 16) * 10 + tiled.u_idx // 16
    assert np.all(np.diff(keys) >= 0) and not np.array_equal(tiled.order, np.arange(len(df)))
    np.testing.assert_array_equal(tiled.in_input_order(tiled.y), plain.y)


@pytest.mark.parametrize("variant", ["core", "normalized_loss"])
def test_a_tiled_fit_is_the_input_order_fit(monkeypatch, variant):
    """The same fit in tile order and in input order (both chunked): the same parameters up to
    the order of float sums, and the per-rating weights come back in the input's row order."""
    from cnlab.mf import _common, fit
    from cnlab.mf.config import CORE_MF, GROUP14_MF

    cfg = GROUP14_MF if variant == "normalized_loss" else dataclasses.replace(CORE_MF, max_steps=300)
    df, _ = planted(n_notes=120, n_raters=150, n_ratings=3000, seed=5)
    _tiny_tiles(monkeypatch)
    tiled = fit(df, cfg, seed=0)
    monkeypatch.setattr(_common, "TILE_ABOVE", 10**9)
    plain = fit(df, cfg, seed=0)
    for a, b in ((tiled.note_params, plain.note_params), (tiled.rater_params, plain.rater_params)):
        assert a.iloc[:, 0].equals(b.iloc[:, 0])  # the same rows in the same order
        np.testing.assert_allclose(a.iloc[:, 1:].to_numpy(), b.iloc[:, 1:].to_numpy(), atol=REORDERED_FIT_ATOL)
    assert abs(tiled.n_steps - plain.n_steps) <= max(2, plain.n_steps // 20)
    if variant == "normalized_loss":
        assert tiled.weights is not None and len(tiled.weights) == len(df)
        np.testing.assert_allclose(tiled.weights, plain.weights, rtol=1e-4)
        assert not np.allclose(tiled.weights, plain.weights[::-1], rtol=1e-4)  # not order-blind


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 60), st.integers(0, 2))
def test_range_sums_add_what_whole_side_sums_add(seed, width, k):
    """A chunk's sums over its index range, added into the accumulator, give the whole-side sums'
    bits (each row one addition; rows outside the range unchanged), narrow range or wide."""
    from cnlab.mf import _tf_loop

    tf = _tf_loop.tf
    rng = np.random.default_rng(seed)
    size = 100
    lo = int(rng.integers(0, size - width + 1))
    idx = rng.integers(lo, lo + width, 500).astype(np.int32)
    d = rng.normal(size=500).astype(np.float32)
    g_other = rng.normal(size=(500, k + 1)).astype(np.float32)
    acc = rng.normal(size=(size, k + 1)).astype(np.float32)
    got = _tf_loop._add_in_range(tf.constant(acc), tf.constant(idx),
                                 _tf_loop._side_columns(tf.constant(d), tf.constant(g_other), k)).numpy()
    want = acc + _tf_loop._side_sums(tf.constant(idx), tf.constant(d), tf.constant(g_other), size, k).numpy()
    np.testing.assert_array_equal(got, want)
    untouched = np.setdiff1d(np.arange(size), idx)
    np.testing.assert_array_equal(got[untouched], acc[untouched])



@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_reputation_round_in_tile_order_is_the_input_order_round(monkeypatch, loss):
    """Above ``TILE_ABOVE`` ratings a reputation round trains in tile order too: the same
    parameters and losses up to the order of the float32 sums, weights taken and predictions
    given in input order."""
    import cnlab.scorers.diligence as dg
    from _mf_helpers import DILIGENCE_ROUNDS, reputation_problem
    from cnlab.mf import reputation_mf
    from cnlab.mf.reputation_mf import ReputationMF

    ni, ri, y, params, w = reputation_problem(5, 300, 200, 3000)
    trainable, reg_kw = DILIGENCE_ROUNDS[sorted(DILIGENCE_ROUNDS)[0]]
    cfg = dg.DiligenceConfig()
    reg = dg.regularization(cfg, **reg_kw)
    monkeypatch.setattr(reputation_mf, "CHUNK", 700)  # chunked either way: only the order differs

    def run(tile_above):
        monkeypatch.setattr(reputation_mf, "_ROUND_CACHE", {})
        monkeypatch.setattr(reputation_mf, "TILE_ABOVE", tile_above)
        m = ReputationMF(ni, ri, y, params, loss=loss)
        lv, hist = m.train_round(w, reg, trainable, cfg)
        return m, lv, hist

    monkeypatch.setattr(_common_module(), "TILE", 64)  # several tiles on 300 notes, 200 raters
    tiled, lv_t, hist_t = run(1000)
    plain, lv_p, hist_p = run(10**9)
    assert tiled._order is not None and plain._order is None
    assert not np.array_equal(tiled._order, np.arange(len(y)))  # the order did change
    assert len(hist_t) == len(hist_p)
    np.testing.assert_allclose(hist_t, hist_p, rtol=0, atol=REORDERED_FIT_ATOL)
    for name in ("note_emb", "rater_emb", "note_bias", "rater_bias", "reputation", "global_bias"):
        np.testing.assert_allclose(tiled.get(name), plain.get(name), rtol=0, atol=REORDERED_FIT_ATOL, err_msg=name)
    np.testing.assert_allclose(tiled.predict(), plain.predict(), rtol=0, atol=REORDERED_FIT_ATOL)  # measured 7e-7
    assert tiled.loss(w, reg) == pytest.approx(plain.loss(w, reg), abs=REORDERED_FIT_ATOL)


def _common_module():
    from cnlab.mf import _common

    return _common
