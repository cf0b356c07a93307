"""Gaussian scorers (spec 06 §E): hand-computed kernel cases (tier 1) and properties (tier 2).

Parity with the official outputs is in ``tests/test_parity_gaussian.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab.scorers import gaussian as G
from cnlab import schema
from cnlab.scorers.outputs import PrescoringOutput

#: Kernel sums are float32 (official dtypes): hand-computed float64 values agree to ~1e-7.
F32_TOL = 1e-6


def _pass(h, f, grid=G.QUANTILE_RANGE, params=G.CRH_PARAMS, notes=None):
    h = np.asarray(h, dtype=np.float32)
    f = np.asarray(f, dtype=np.float32)
    ids = np.zeros(len(h), dtype=np.int64) if notes is None else np.asarray(notes, dtype=np.int64)
    return G.kernel_pass(ids, h, f, grid, params)


def _intercept(h, f) -> float:
    """Combined intercept of one note (no author rows)."""
    crh, crnh = _pass(h, f), _pass(h, f, G.SMOOTHED_RANGE, G.CRNH_PARAMS)
    return float(G.combine_passes(crh, crnh)[schema.NOTE_INTERCEPT].iloc[0])


# ------------------------------------------------------------------------------ presets (E.2)
def test_grids_are_the_official_constants():
    assert len(G.QUANTILE_RANGE) == 50 and len(G.SMOOTHED_RANGE) == 26
    assert G.QUANTILE_RANGE[:3] == (-0.92, -0.65, -0.61) and G.QUANTILE_RANGE[-1] == 0.92
    assert G.SMOOTHED_RANGE[:4] == (-0.92, -0.61, -0.55, -0.49)
    assert G.SMOOTHED_RANGE[12:14] == (-0.01, 0.01) and G.SMOOTHED_RANGE[-2:] == (0.61, 0.92)
    assert G.grid_column_names((-0.01, 0.92)) == ["-0.010", "0.920"]


def test_kernel_parameter_sets_match_spec():
    c, n = G.CRH_PARAMS, G.CRNH_PARAMS
    assert (c.bandwidth, c.smoothing_weight, c.neg_weight, c.min_prior, c.weight_lim) == (0.1, 0.4, 1.75, 0.2, 1e-9)
    assert (c.clip_lower, c.clip_upper, c.flip, c.normalize) == (0.05, 0.8, False, True)
    assert (n.bandwidth, n.smoothing_weight, n.neg_weight, n.min_prior, n.weight_lim) == (0.2, 5.0, 1.25, 0.3, 5e-4)
    assert (n.clip_lower, n.clip_upper, n.flip, n.normalize) == (0.25, 0.65, True, False)
    assert G.GAUSSIAN_TOPIC_IN_DIMENSION_TWO.crh_params.bandwidth == 0.05


def test_scorer_presets_match_spec_table():
    g, cwt, grp, top = (G.GAUSSIAN, G.GAUSSIAN_CORE_WITH_TOPICS, G.GAUSSIAN_GROUP_15,
                        G.GAUSSIAN_TOPIC_IN_DIMENSION_TWO)
    assert g.prescoring_name == cwt.prescoring_name == "MFCoreScorer"  # pitfall F.6
    assert grp.prescoring_name == "MFGroupScorer_15" and top.prescoring_name == "MFTopicScorer_InDimensionTwo"
    assert g.included_groups == schema.CORE_GROUPS - {21} and g.topic_scope == "exclude_all"
    assert cwt.topic_scope == "all" and cwt.capture_threshold == 0.5
    assert grp.included_groups == {15} and not grp.include_unassigned and grp.capture_threshold == 0.8
    assert not top.use_reputation and top.num_confidence_ratings == 0 and top.capture_threshold is None
    r = g.rules()
    assert (r.crh_threshold, r.crnh_threshold_intercept, r.crnh_threshold_note_factor_multiplier) == (0.51, -0.5, 0)
    assert (r.crnh_threshold_nm_intercept, r.crnh_threshold_ucb_intercept) == (-0.6, -0.5)
    assert (r.crh_threshold_no_high_vol, r.crh_threshold_no_correlated, r.factor_threshold) == (0.45, 0.45, 1.0)
    assert r.firm_reject_threshold is None and r.min_minority_net_helpful_ratings is None
    assert r.low_diligence_threshold == 0.263 and r.crh_super_threshold is None
    gr, tr = grp.rules(), top.rules()
    assert (gr.crh_threshold, gr.crnh_threshold_intercept, gr.crnh_threshold_note_factor_multiplier) == (0.25, -0.05, -0.8)
    assert (gr.crh_threshold_no_high_vol, gr.factor_threshold, gr.crnh_threshold_nm_intercept) == (0.37, 0.5, -0.15)
    assert tr.crh_threshold == 0.40 and tr.crnh_threshold_ucb_intercept == -0.5
    assert [s.meta_scorer for s in G.GAUSSIAN_SCORERS.values()] == [
        "GaussianScorer", "GaussianCoreWithTopicsScorer", "GaussianGroupScorer", "MFTopicScorer"]


def test_output_column_names_are_official():
    assert set(G.GAUSSIAN.scored_note_columns()) == {
        c for c in schema.SCORED_NOTES_COLUMNS
        if c.startswith("gaussian") and not c.startswith("gaussianCoreWithTopics")}
    assert set(G.GAUSSIAN_CORE_WITH_TOPICS.scored_note_columns()) == {
        c for c in schema.SCORED_NOTES_COLUMNS if c.startswith("gaussianCoreWithTopics")}
    assert "modelingGroup_15" in G.GAUSSIAN_GROUP_15.scored_note_columns()
    assert all(c.endswith("_15") for c in G.GAUSSIAN_GROUP_15.scored_note_columns())
    t = G.GAUSSIAN_TOPIC_IN_DIMENSION_TWO.scored_note_columns()
    assert {"noteTopic_InDimensionTwo", "topicNoteConfident_InDimensionTwo",
            "topicNoteIntercept_InDimensionTwo"} <= set(t)
    assert not any("PopulationSampled" in c for c in t)


def test_scoring_config_default_runs_no_gaussian_scorer():
    from cnlab.pipeline import ScoringConfig

    assert ScoringConfig().gaussian == ()


# ------------------------------------------------------------------------------ kernel (E.4)
def test_kernel_weights_hand_computed():
    # one rating at f = 0, grid {−0.1, 0, 0.1}, σ = 0.1: K = φ(±1)/σ, φ(0)/σ
    k = G.kernel_weights(np.array([0.0]), np.array([-0.1, 0.0, 0.1]), bandwidth=0.1, normalize=False)
    peak = 1 / (0.1 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(k[0], [peak * math.exp(-0.5), peak, peak * math.exp(-0.5)], rtol=1e-6)
    kn = G.kernel_weights(np.array([0.0]), np.array([-0.1, 0.0, 0.1]), bandwidth=0.1, normalize=True)
    s = 1 + 2 * math.exp(-0.5)
    np.testing.assert_allclose(kn[0], [math.exp(-0.5) / s, 1 / s, math.exp(-0.5) / s], rtol=1e-6)
    assert k.dtype == np.float32


def test_surprise_multiplier_hand_computed():
    idx = np.zeros(4, dtype=np.int64)
    # two NOT_HELPFUL at 0.0 and 0.28: mean 0.14, |f − m| = 0.14 → s = σ(0) = 1/2 each;
    # 4 rows → 1/4 · 3 + 1 = 1.75
    m = G.surprise_multiplier(idx, np.array([0, 0, 1, 1]), np.array([0.0, 0.28, 0.5, -0.5]), 1, flip=False)
    assert m[0] == pytest.approx(1.75, abs=1e-5)
    # far apart (|f − m| = 0.5 ≫ 0.14): s ≈ 1 each → 2/4·3 + 1 = 2.5 → capped at 2
    m = G.surprise_multiplier(idx, np.array([0, 0, 1, 1]), np.array([-0.5, 0.5, 0.1, 0.2]), 1, flip=False)
    assert m[0] == pytest.approx(2.0)
    # flipped pass: the negative ratings are the HELPFUL ones, scale 4, cap 4 → 2/4·4 + 1 = 3
    m = G.surprise_multiplier(idx, np.array([1, 1, 0, 0]), np.array([-0.5, 0.5, 0.1, 0.2]), 1, flip=True)
    assert m[0] == pytest.approx(3.0, abs=1e-6)
    # identical factors: s = σ(−28) ≈ 7e-13 → 1; a note without negatives → exactly 1
    m = G.surprise_multiplier(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), np.array([0.3, 0.3, 0.1, 0.2]), 2,
                              flip=False)
    assert m[0] == pytest.approx(1.0, abs=1e-9) and m[1] == 1.0


def test_note_prior_hand_computed():
    idx = np.zeros(6, dtype=np.int64)
    h = np.array([0, 0, 0, 1, 1, 1])
    f = np.array([-0.5, -0.5, -0.5, 0.5, 0.5, 0.5])
    # φ = Σ 2(h − ½) f / 6 = (3·0.5 + 3·0.5)/6 = 0.5
    prior, w, phi = G.note_prior(idx, h, f, 1, np.array([-0.92, -0.4, 0.4]), G.CRH_PARAMS)
    assert phi[0] == pytest.approx(0.5)
    # g = −0.92: 0.5·(−0.92)/2 + 0.35 = 0.12 → min prior 0.2; g = −0.4: 0.25; g = 0.4: capped 0.35
    np.testing.assert_allclose(prior[0], [0.2, 0.25, 0.35], atol=F32_TOL)
    assert w[0] == pytest.approx(0.4)  # w₀ · log(max(6, 9)) / log 9
    # 81 rows → weight w₀ · log 81 / log 9 = 0.8; fewer than 3 rows on a side → flat 0.1
    idx81 = np.zeros(81, dtype=np.int64)
    _, w81, _ = G.note_prior(idx81, np.ones(81), np.linspace(-0.5, 0.5, 81), 1, np.array([0.0]), G.CRH_PARAMS)
    assert w81[0] == pytest.approx(0.8, rel=1e-6)
    p2, _, _ = G.note_prior(idx[:4], h[:4], np.array([-0.5, -0.5, 0.5, 0.5]), 1, np.array([0.0]), G.CRH_PARAMS)
    assert p2[0, 0] == pytest.approx(0.1)


def test_kernel_pass_hand_computed_single_grid_point():
    # One grid point + row normalisation ⇒ every kernel weight is 1.
    # y = [1, 1, 0.7, 1, 0, 1]; the NOT_HELPFUL rating is alone → surprise s = σ(−28) ≈ 0 →
    # mult 1, weight 1.75: T = 5 + 1.75, V = 4.7; φ = −0.3/6 → prior(0) = 0.35, w = 0.4:
    # ŷ = (4.7 + 0.35·0.4) / (6.75 + 0.4) = 4.84 / 7.15
    h = [1, 1, 0.5, 1, 0, 1]
    f = [-0.3, -0.2, -0.1, 0.1, 0.2, 0.3]
    kp = _pass(h, f, grid=(0.0,))
    assert kp.values[0, 0] == pytest.approx(4.84 / 7.15, abs=F32_TOL)
    assert kp.intercept[0] == pytest.approx(4.84 / 7.15, abs=F32_TOL)  # geometric mean of one point
    assert kp.note_factor[0] == pytest.approx(-0.05, abs=F32_TOL)
    assert not kp.insufficient[0]
    frame = kp.to_frame()
    assert list(frame.columns) == ["noteId", "0.000", "internalNoteIntercept", "internalNoteFactor1"]


def test_kernel_pass_insufficient_note_scores_zero():
    # All raters at f = 0.9; unnormalised σ = 0.1 kernel at g = −0.92 is ~e^−166 < weightLim.
    p = G.CRH_PARAMS.replace(normalize=False)
    kp = _pass([1, 1, 1, 1, 1], [0.9] * 5, grid=(-0.92, 0.9), params=p)
    assert kp.insufficient[0] and (kp.values[0] == -1).all() and kp.intercept[0] == 0.0


def test_geometric_mean_and_combination():
    np.testing.assert_allclose(G.geometric_mean_intercept(np.array([[0.2, 0.8], [-1, -1]])), [0.4, 0.0], rtol=1e-6)
    crh = G.KernelPass(np.array([1, 2, 3, 4]), np.zeros(1), np.zeros((4, 1)), np.array([0.3, 0.5, 0.4, 0.0]),
                       np.array([0.1, 0.2, 0.3, 0.4]), np.zeros(4, bool))
    crnh = G.KernelPass(np.array([1, 2, 3, 4]), np.zeros(1), np.zeros((4, 1)), np.array([0.4, 0.4, 0.4, 0.3]),
                        np.zeros(4), np.zeros(4, bool))
    out = G.combine_passes(crh, crnh)
    # |0.3| < |−0.4| → −0.4; 0.5 wins; a tie keeps the CRH value; insufficient CRH (0) → CRNH
    np.testing.assert_allclose(out[schema.NOTE_INTERCEPT], [-0.4, 0.5, 0.4, -0.3])
    np.testing.assert_allclose(out[schema.NOTE_FACTOR1], [0.1, 0.2, 0.3, 0.4])


# ------------------------------------------------------------------------------ selection, authors (E.3, E.6)
def _prescoring_raters(rows):
    return pd.DataFrame(rows, columns=["raterParticipantId", "internalRaterIntercept", "internalRaterFactor1",
                                       "aboveHelpfulnessThreshold"]).astype({"raterParticipantId": np.int32})


def test_author_rows_only_for_authors_with_factor_who_did_not_rate():
    ratings = pd.DataFrame({"noteId": [1, 1, 2, 3, 4], "raterParticipantId": np.array([10, 11, 12, 10, 10], np.int32),
                            "helpfulNum": np.ones(5, np.float32), "internalRaterFactor1": np.zeros(5, np.float32)})
    nsh = pd.DataFrame({"noteId": [1, 2, 3, 4, 5],
                        "noteAuthorParticipantId": pd.array([20, 12, 21, -1, 20], dtype="Int32")})
    pr = _prescoring_raters([(20, 0.1, -0.3, True), (12, 0.1, 0.2, True), (21, 0.1, np.nan, True)])
    out = G.author_helpful_rows(ratings, nsh, pr)
    # note 1: author 20 (factor −0.3) adds a row; note 2: author 12 rated it; note 3: author without
    # factor; note 4: author unknown; note 5: not in the ratings
    assert out["noteId"].tolist() == [1] and out["raterParticipantId"].tolist() == [20]
    assert out["helpfulNum"].tolist() == [1.0] and out["internalRaterFactor1"].tolist() == [pytest.approx(-0.3)]


def test_select_ratings_reputation_and_params():
    ratings = pd.DataFrame({"noteId": np.repeat([1, 2], 5), "raterParticipantId": np.array(
        [1, 2, 3, 4, 5, 1, 2, 3, 4, 6], np.int32), "helpfulNum": np.ones(10, np.float32)})
    pr = _prescoring_raters([(1, 0.1, 0.1, True), (2, 0.1, 0.2, True), (3, 0.1, -0.1, False),
                             (4, np.nan, 0.1, True), (5, 0.1, 0.3, None), (6, 0.1, 0.4, True)])
    sel = G.select_ratings(ratings, pr, G.GAUSSIAN)
    # note 2 has only 5 raters → kept; rater 4 lacks an intercept; 3 and 5 are not helpful raters
    assert sel.counts["with_prescoring_params"] == 8
    assert sorted(sel.final_round["raterParticipantId"].unique().tolist()) == [1, 2, 6]
    np.testing.assert_allclose(sel.final_round.sort_values(["noteId", "raterParticipantId"])[
        "internalRaterFactor1"], [0.1, 0.2, 0.1, 0.2, 0.4], atol=F32_TOL)
    no_rep = G.select_ratings(ratings, pr, G.GAUSSIAN_TOPIC_IN_DIMENSION_TWO)
    assert no_rep.counts["final_round_ratings"] == 8


def test_score_final_without_source_prescoring_is_empty_with_official_columns():
    empty = PrescoringOutput(pd.DataFrame(columns=["noteId", "scorerName"]),
                             pd.DataFrame(columns=["raterParticipantId", "scorerName"]), {}, None, {})
    r = pd.DataFrame({"noteId": [1], "raterParticipantId": np.array([1], np.int32), "helpfulNum": [1.0],
                      "createdAtMillis": [0]})
    for cfg in G.GAUSSIAN_SCORERS.values():
        out = G.gaussian_score_final(r, pd.DataFrame({"noteId": [1]}), pd.DataFrame(), cfg, empty)
        assert list(out.scored_notes.columns) == ["noteId", *cfg.scored_note_columns()] and out.scored_notes.empty


# ------------------------------------------------------------------------------ properties (tier 2)
_levels = st.sampled_from([0.0, 0.5, 1.0])
_factor = st.floats(-1.0, 1.0, allow_nan=False, width=32)
_note = st.lists(st.tuples(_levels, _factor), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(a=_note, b=_note)
def test_notes_are_scored_independently(a, b):
    """The kernel pass has no coupling between notes: scoring two notes together gives bitwise
    the same per-note values as scoring each alone (all sums are per-note bincounts)."""
    for grid, params in ((G.QUANTILE_RANGE, G.CRH_PARAMS), (G.SMOOTHED_RANGE, G.CRNH_PARAMS)):
        both = _pass([x[0] for x in a + b], [x[1] for x in a + b], grid, params,
                     notes=[1] * len(a) + [2] * len(b))
        alone = [_pass([x[0] for x in n], [x[1] for x in n], grid, params) for n in (a, b)]
        for i in range(2):
            np.testing.assert_array_equal(both.values[i], alone[i].values[0])
            assert both.intercept[i] == alone[i].intercept[0]


@settings(max_examples=60, deadline=None)
@given(a=_note, seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter_and_range(a, seed):
    h = np.array([x[0] for x in a])
    f = np.array([x[1] for x in a])
    perm = np.random.default_rng(seed).permutation(len(a))
    i1, i2 = _intercept(h, f), _intercept(h[perm], f[perm])
    assert i1 == pytest.approx(i2, abs=F32_TOL)
    # E.5: a CRH value in [0.05, 0.8], a negated CRNH value in [−0.65, −0.25], or 0
    assert i1 == 0 or 0.05 - F32_TOL <= i1 <= 0.8 + F32_TOL or -0.65 - F32_TOL <= i1 <= -0.25 + F32_TOL


#: Constant prior (no factor slope, no adaptive weight): only the 0.1 side-count prior remains.
_FLAT = G.CRH_PARAMS.replace(prior_factor=False, adaptive_weight_base=None)


@settings(max_examples=80, deadline=None)
@given(a=st.lists(st.tuples(st.sampled_from([0.5, 1.0]), _factor), min_size=1, max_size=20), x=_factor)
def test_flat_prior_pass_is_monotone_in_added_helpful_ratings(a, x):
    """Holds by construction when the prior is constant and no rating is NOT_HELPFUL: an added
    HELPFUL rating adds w to both V and T at every grid point (ŷ moves towards 1), can only lift
    the side-count prior 0.1 → v and can only make an insufficient note sufficient."""
    h = [p[0] for p in a]
    f = [p[1] for p in a]
    before = _pass(h, f, params=_FLAT).intercept[0]
    after = _pass(h + [1.0], f + [x], params=_FLAT).intercept[0]
    assert after >= before - F32_TOL


def test_default_intercept_is_not_monotone_in_added_helpful_ratings():
    """No monotonicity by construction with the official parameters (found by search, kept as a
    documented fact): the prior slopes with the note factor φ (E.4), so a HELPFUL rating from the
    positive side raises φ, lowers the prior at the negative grid points (where this note has
    little kernel mass) and lowers the geometric mean."""
    h = [0.5, 1, 1, 1, 1, 1]
    f = [-0.5, -0.4, -0.2, 0.8, 0.5, 0.5]
    before, after = _intercept(h, f), _intercept(h + [1], f + [0.8])
    assert before == pytest.approx(0.44817, abs=1e-4) and after == pytest.approx(0.44614, abs=1e-4)
    assert after < before
    # and via the CRNH pass: a third positive-factor rater lifts that pass's prior from 0.1 to ≥ 0.3
    h2, f2 = [0, 0, 1, 1, 1], [-0.22, -0.73, -0.77, 0.04, 0.14]
    assert _intercept(h2 + [1], f2 + [0.04]) < _intercept(h2, f2) < 0


@settings(max_examples=30, deadline=None)
@given(a=_note, b=_note, block=st.integers(1, 7))
def test_block_size_does_not_change_the_pass(a, b, block):
    """The kernel matrix is built in row blocks with float64 sums: any block size gives the same
    curve as one block (up to float32 rounding of the final cast)."""
    h = [x[0] for x in a + b]
    f = [x[1] for x in a + b]
    notes = np.array([1] * len(a) + [2] * len(b), dtype=np.int64)
    for grid, params in ((G.QUANTILE_RANGE, G.CRH_PARAMS), (G.SMOOTHED_RANGE, G.CRNH_PARAMS)):
        one = G.kernel_pass(notes, np.float32(h), np.float32(f), grid, params)
        many = G.kernel_pass(notes, np.float32(h), np.float32(f), grid, params, block_rows=block)
        np.testing.assert_allclose(many.values, one.values, atol=F32_TOL)
        np.testing.assert_array_equal(many.insufficient, one.insufficient)
