"""ReputationScorer (helpfulness-reputation MF, spec 06 §D.7 with §D.1–D.3): tier 1 (hand-computed
loss, weights, regularization, status rule) and tier 2 (small fits and the pipeline glue)."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
import pytest

from cnlab import schema
from cnlab.scorers import diligence as dg
from cnlab.scorers import reputation as rs

EPS = 2.0**-20
H = rs.HELPFULNESS_REPUTATION_MF


# ---------------------------------------------------------------------------------------------
# configuration (spec 06 §D.7)
# ---------------------------------------------------------------------------------------------
def test_hyper_parameters_are_those_of_spec_d7():
    assert H.loss == "mse" and H.n_dim == 1
    assert (H.num_epochs, H.learning_rate, H.convergence, H.stable_period) == (300, 0.2, 1e-7, 10)
    assert (H.l2_lambda, H.l2_note_bias_multiplier, H.l2_rater_bias_multiplier,
            H.l2_global_bias_multiplier, H.l2_rater_reputation_multiplier) == (0.01, 0.5, 1.0, 0.0, 1.0)
    assert (H.l2_lambda_third_round_multiplier, H.l2_note_bias_third_round_multiplier) == (0.1, 10.0)
    assert H.pos_weight == 0.2
    assert H.pos_weight * H.pos_weight_second_round_multiplier == pytest.approx(1.0)
    assert H.pos_weight * H.pos_weight_third_round_multiplier == pytest.approx(1.0)
    assert (H.note_norm_exp_first_round, H.rater_norm_exp_first_round) == (0.0, -0.5)
    assert (H.note_norm_exp_second_round, H.rater_norm_exp_second_round) == (0.0, 0.0)
    assert (H.note_norm_exp_third_round, H.rater_norm_exp_third_round) == (-0.5, 0.0)
    assert (H.reputation_exp, H.alpha, H.default_reputation, H.final_default_reputation) == (1.0, 0.0, 1.0, 0.0)
    c = rs.REPUTATION_SCORER
    assert c.name == "ReputationScorer" and c.prefix == "coverage"
    assert c.included_groups == schema.CORE_GROUPS and c.include_unassigned and c.capture_threshold == 0.5
    assert c.topic_scope == "all" and c.topic is None and not c.strict_inclusion
    assert (c.min_ratings_per_rater, c.min_raters_per_note, c.crh_threshold) == (10, 5, 0.28)
    assert c.use_stable_init and c.stable_init_group == 13 and c.meta_scorer is None
    assert c.scored_note_columns() == ["coverageNoteIntercept", "coverageNoteFactor1", "coverageRatingStatus"]
    assert c.helpfulness_columns() == ["raterHelpfulnessReputation"] and c.aux_columns() == []


def test_diligence_config_rejects_unknown_loss():
    with pytest.raises(ValueError):
        dg.DiligenceConfig(loss="hinge")
    with pytest.raises(ValueError):
        dg.ReputationMF([0], [0], [1.0], _one_rating_params(), loss="hinge")


# ---------------------------------------------------------------------------------------------
# tier 1: loss and regularization by hand
# ---------------------------------------------------------------------------------------------
def _one_rating_params():
    return {"note_emb": np.array([0.5], np.float32), "rater_emb": np.array([2.0], np.float32),
            "note_bias": np.array([0.3], np.float32), "rater_bias": np.array([-0.1], np.float32),
            "reputation": np.array([0.5], np.float32), "global_bias": np.float32(0.2)}


def test_mse_loss_one_rating_by_hand():
    """One HELPFUL rating, round-1 weights of the ReputationScorer.

    ŷ = 0.5·2/√1 + 0.3·0.5 − 0.1 + 0.2 = 1.25; y = 1 ⇒ (ŷ − y)² = 0.0625.
    w = posWeight 0.2, then × (Σ_rater w + 2⁻²⁰)^−0.5 = 0.2 / √0.2 = √0.2 ≈ 0.447214.
    R = 0.01·(0.5² + 0.5·0.3² + 2² + 1·0.1² + 1·0.5²) + 0.01·0·0.2² = 0.04555.
    L = 0.447214·0.0625 + 0.04555 ≈ 0.073501.
    """
    p = _one_rating_params()
    y = np.array([1.0], np.float32)
    w = dg.rating_weights(y, np.array([0]), np.array([0]), pos_weight=0.2, rater_norm_exp=-0.5)
    assert w[0] == pytest.approx(0.2 * (0.2 + EPS) ** -0.5, rel=1e-6)
    assert w[0] == pytest.approx(math.sqrt(0.2), rel=1e-5)
    model = dg.ReputationMF([0], [0], y, p, loss="mse")
    assert model.predict()[0] == pytest.approx(1.25, rel=1e-6)
    reg = dg.regularization(H, third=False)
    assert reg.l2_lambda == 0.01 and reg.note_bias_mult == 0.5 and reg.rater_bias_mult == 1.0
    assert model.loss(w, reg) == pytest.approx(math.sqrt(0.2) * 0.0625 + 0.04555, rel=1e-5)


def test_third_round_regularization_by_hand():
    """Round 3 / phase B: λ = 0.01·0.1 = 0.001 and note-bias multiplier 0.5·10 = 5, so
    R = 0.001·(0.25 + 5·0.09 + 4 + 0.01 + 0.25) = 0.00496; with unit weight the loss is
    0.0625 + 0.00496."""
    reg = dg.regularization(H, third=True)
    assert reg.l2_lambda == pytest.approx(0.001) and reg.note_bias_mult == pytest.approx(5.0)
    model = dg.ReputationMF([0], [0], np.array([1.0], np.float32), _one_rating_params(), loss="mse")
    assert model.loss(np.ones(1, np.float32), reg) == pytest.approx(0.0625 + 0.00496, rel=1e-5)


def test_mse_differs_from_bce_on_the_same_parameters():
    p = _one_rating_params()
    y = np.array([0.5], np.float32)  # SOMEWHAT_HELPFUL
    w = np.ones(1, np.float32)
    reg = dg.regularization(H.replace(l2_lambda=0.0), third=False)
    mse = dg.ReputationMF([0], [0], y, p, loss="mse").loss(w, reg)
    bce = dg.ReputationMF([0], [0], y, p, loss="bce").loss(w, reg)
    assert mse == pytest.approx((1.25 - 0.5) ** 2, rel=1e-6)
    s = 1 / (1 + math.exp(-1.25))
    assert bce == pytest.approx(-(0.5 * math.log(s) + 0.5 * math.log(1 - s)), rel=1e-6)


def test_round_weights_of_the_reputation_scorer():
    """posWeight applies to helpfulNum == 1 only (0.5 keeps weight 1); round 3 multiplies by the
    clipped reputation (α = 0, exponent 1) and normalises per note with exponent −0.5."""
    targets = np.array([1.0, 0.5, 0.0, 1.0], np.float32)
    note_idx = np.array([0, 0, 1, 1], np.int32)
    rater_idx = np.array([0, 1, 0, 1], np.int32)
    data = dg.RatingData(np.array([10, 11]), np.array([0, 1]), note_idx, rater_idx, targets)
    w1 = dg._weights(data, H, 1.0, H.note_norm_exp_first_round, H.rater_norm_exp_first_round)
    r0, r1 = 0.2 + 1.0, 1.0 + 0.2  # per-rater sums of (0.2, 1, 1, 0.2)
    np.testing.assert_allclose(w1, [0.2 / math.sqrt(r0 + EPS), 1 / math.sqrt(r1 + EPS),
                                    1 / math.sqrt(r0 + EPS), 0.2 / math.sqrt(r1 + EPS)], rtol=1e-6)
    w2 = dg._weights(data, H, H.pos_weight_second_round_multiplier, 0.0, 0.0)
    np.testing.assert_allclose(w2, [1, 1, 1, 1], rtol=1e-6)
    rep = np.array([0.8, -0.3], np.float32)  # rater 1 clipped to 0
    w3 = dg._weights(data, H, H.pos_weight_third_round_multiplier, H.note_norm_exp_third_round,
                     H.rater_norm_exp_third_round, reputation=rep)
    n0 = n1 = 0.8 + 0.0
    np.testing.assert_allclose(w3, [0.8 / math.sqrt(n0 + EPS), 0.0, 0.8 / math.sqrt(n1 + EPS), 0.0], rtol=1e-6)


def test_coverage_status_is_strictly_above_028():
    st = rs.coverage_status(np.array([0.28, 0.2800001, -1.0, np.nan, 0.5]))
    assert st.tolist() == [schema.NMR, schema.CRH, schema.NMR, schema.NMR, schema.CRH]


# ---------------------------------------------------------------------------------------------
# tier 2: small fits
# ---------------------------------------------------------------------------------------------
def _planted(n_notes=24, n_raters=30, seed=0):
    """Every rater rates every note; helpfulNum from a planted 1-D bridging model."""
    rng = np.random.default_rng(seed)
    f_u = rng.choice([-1.0, 1.0], n_raters) * rng.uniform(0.3, 1.0, n_raters)
    f_n = rng.normal(0, 0.8, n_notes)
    i_n = rng.normal(0, 0.3, n_notes)
    rows = []
    for n in range(n_notes):
        for u in range(n_raters):
            x = 0.2 + i_n[n] + f_u[u] * f_n[n] + rng.normal(0, 0.2)
            rows.append((1_000 + n, u, 1.0 if x > 0.5 else (0.5 if x > 0.2 else 0.0)))
    r = pd.DataFrame(rows, columns=[schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM])
    r[schema.NOTE_ID] = r[schema.NOTE_ID].astype(np.int64)
    r[schema.RATER_ID] = r[schema.RATER_ID].astype(np.int32)
    r[schema.HELPFUL_NUM] = r[schema.HELPFUL_NUM].astype(np.float32)
    enr = pd.DataFrame({schema.PARTICIPANT_ID: np.arange(n_raters, dtype=np.int32),
                        schema.MODELING_GROUP: np.where(np.arange(n_raters) < 24, 13.0, 1.0)})
    return r, enr, i_n


@pytest.fixture(scope="module")
def small_fit():
    r, enr, i_n = _planted()
    cfg = rs.REPUTATION_SCORER.replace(model=H.replace(num_epochs=120))
    pre = rs.fit_prescoring(r, enr, config=cfg, seed=3)
    return r, enr, i_n, cfg, pre


def test_prescoring_outputs_and_stable_init(small_fit):
    r, enr, i_n, cfg, pre = small_fit
    assert list(pre.note_params.columns) == [schema.NOTE_ID, "internalNoteIntercept", "internalNoteFactor1",
                                             "lowDiligenceNoteInterceptRound2"]
    assert list(pre.rater_params.columns) == [schema.RATER_ID, "internalRaterReputation", "internalRaterIntercept",
                                              "internalRaterFactor1", "lowDiligenceRaterInterceptRound2"]
    assert len(pre.note_params) == 24 and len(pre.rater_params) == 30
    # stable init (80 % of every note's ratings are from group 13): the 24 group-13 raters start
    # from the subset MF's factors, the others at 0;
    # the note ids 1000..1023 are exact in float64, so every note factor is initialised
    assert pre.init_counts["stable_init_raters"] == 24 and pre.init_counts["raters_initialized"] == 24
    assert pre.init_counts["notes_initialized"] == 24
    assert [len(h) for h in pre.loss_histories] and all(np.isfinite(pre.final_losses))
    g = pre.global_intercepts
    assert np.isfinite([g.first_round, g.second_round, g.final_round]).all()
    # round 3 does not move the round-2 embeddings, only the biases; the intercepts track the plant
    assert np.corrcoef(pre.note_params["internalNoteIntercept"], i_n)[0, 1] > 0.8


def test_prescoring_is_repeatable_for_a_seed(small_fit):
    r, enr, _, cfg, pre = small_fit
    again = rs.fit_prescoring(r, enr, config=cfg, seed=3)
    pd.testing.assert_frame_equal(pre.note_params, again.note_params)


def test_final_is_deterministic_and_keeps_reputation_frozen(small_fit):
    r, enr, _, cfg, pre = small_fit
    pn, pr = pre.note_params, pre.rater_params.copy()
    pr = pr[pr[schema.RATER_ID] != 29]  # a rater without prescoring row: reputation 0, params 0
    a = rs.fit_final(r, pn, pr, pre.global_intercepts, config=cfg)
    b = rs.fit_final(r, pn, pr, pre.global_intercepts, config=cfg)
    pd.testing.assert_frame_equal(a.note_params, b.note_params)
    rep = a.rater_params.set_index(schema.RATER_ID)["internalRaterReputation"]
    expected = pr.set_index(schema.RATER_ID)["internalRaterReputation"]
    np.testing.assert_allclose(rep.loc[expected.index], expected, rtol=0, atol=0)
    assert rep.loc[29] == 0.0
    assert a.init_counts["reputations_initialized"] == 29 and a.init_counts["note_factors_initialized"] == 24
    # phase B starts from the round-2 intercepts and refits them: close to prescoring's round 3
    m = a.note_params.merge(pn, on=schema.NOTE_ID, suffixes=("", "_pre"))
    assert np.corrcoef(m["internalNoteIntercept"], m["internalNoteIntercept_pre"])[0, 1] > 0.95


def test_final_requires_global_intercepts(small_fit):
    r, _, _, cfg, pre = small_fit
    with pytest.raises(ValueError):
        rs.fit_final(r, pre.note_params, pre.rater_params, (np.nan, np.nan, np.nan), config=cfg)


def test_float64_note_id_lookup_as_official():
    """Only note ids exactly representable in float64 find their prescoring values (official
    ``dict(frame[[noteId, value]].values)``); ``official_float_note_id_lookup=False`` finds all."""
    ids = np.array([2**60 + 1, 2**60 + 4096], dtype=np.int64)  # the second one is exact
    frame = pd.DataFrame({schema.NOTE_ID: ids, "internalNoteFactor1": [0.7, 0.9]})
    got = rs._note_values(ids, frame, "internalNoteFactor1", H)
    np.testing.assert_allclose(got, [0.0, 0.9], rtol=1e-6)
    got = rs._note_values(ids, frame, "internalNoteFactor1", H.replace(official_float_note_id_lookup=False))
    np.testing.assert_allclose(got, [0.7, 0.9], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# pipeline glue (PrescoringOutput / FinalOutput)
# ---------------------------------------------------------------------------------------------
def test_prescore_and_score_final_glue(small_fit):
    r, enr, _, cfg, _ = small_fit
    r = r.copy()
    # an out-of-scope rater (modeling group 4 is not a core group) and a note rated by them only
    enr = pd.concat([enr, pd.DataFrame({schema.PARTICIPANT_ID: np.array([99], np.int32),
                                        schema.MODELING_GROUP: [4.0]})], ignore_index=True)
    extra = pd.DataFrame({schema.NOTE_ID: np.full(12, 5_000, np.int64), schema.RATER_ID: np.full(12, 99, np.int32),
                          schema.HELPFUL_NUM: np.ones(12, np.float32)})
    extra[schema.RATER_ID] = extra[schema.RATER_ID].astype(np.int32)
    r = pd.concat([r, extra], ignore_index=True)
    nsh = pd.DataFrame({schema.NOTE_ID: np.r_[np.arange(1_000, 1_024), 5_000, 6_000].astype(np.int64),
                        schema.CREATED_AT: np.int64(0)})
    out = rs.prescore(r, nsh, enr, cfg, seed=1)
    notes, raters, meta = out.for_scorer("ReputationScorer")
    assert len(notes) == 26 and notes["internalNoteIntercept"].notna().sum() == 24  # NSH outer merge
    assert len(raters) == 30 and (raters["scorerName"] == "ReputationScorer").all()
    assert np.isnan(meta.global_intercept) and not meta.tag_filtering_thresholds
    assert np.isfinite(meta.low_diligence_global_intercept).all()
    js = meta.to_json()  # official layout of the ReputationScorer entry: None where it has no value
    assert js["globalIntercept"] is None and js["finalRoundNumRatings"] is None
    assert list(js["lowDiligenceGlobalIntercept"]) == ["firstRound", "secondRound", "finalRound"]
    fo = rs.score_final(r, nsh, enr, cfg, out)
    sn = fo.scored_notes
    assert list(sn.columns) == [schema.NOTE_ID, "coverageNoteIntercept", "coverageNoteFactor1",
                                "coverageRatingStatus"]
    # capture filter 0.5: note 5000 (only out-of-group ratings) and 6000 (no ratings) are dropped
    assert set(sn[schema.NOTE_ID]) == set(range(1_000, 1_024))
    crh = sn["coverageNoteIntercept"] > 0.28
    assert (sn.loc[crh, "coverageRatingStatus"] == schema.CRH).all()
    assert (sn.loc[~crh, "coverageRatingStatus"] == schema.NMR).all()
    assert list(fo.helpfulness_scores.columns) == [schema.RATER_ID, "raterHelpfulnessReputation"]
    assert fo.calls["main"].counts["final_round_raters"] == 30
    assert "ReputationScorer final" in fo.summary()
    # no prescoring rows → empty output with the official columns
    from cnlab.scorers.outputs import PrescoringOutput

    empty = rs.score_final(r, nsh, enr, cfg, PrescoringOutput(notes.iloc[:0], raters.iloc[:0], {}))
    assert empty.scored_notes.empty and list(empty.scored_notes.columns) == list(sn.columns)


# ---------------------------------------------------------------------------------------------
# roster and CLI
# ---------------------------------------------------------------------------------------------
def test_official_configs_include_the_reputation_scorer():
    from cnlab.pipeline import ScoringConfig
    from cnlab.scorers.mf_config import ALL_MF_SCORERS

    assert ScoringConfig().reputation is None
    assert ScoringConfig.official_mf().reputation is rs.REPUTATION_SCORER
    assert ScoringConfig.official().reputation is rs.REPUTATION_SCORER
    # no meta rule reads it, and the MF roster is unchanged
    assert ScoringConfig.official_mf().scorers == ALL_MF_SCORERS
    assert "ReputationScorer" not in ScoringConfig.official_mf().enabled_meta_scorers


@pytest.mark.parametrize("arg, expected", [
    ("ReputationScorer", True), ("MFCoreScorer,ReputationScorer", True), ("all-mf", True), ("all", True),
    ("MFCoreScorer", False),
])
def test_cli_selects_reputation_scorer_by_name(arg, expected):
    from cnlab.cli import _scoring_config

    ns = argparse.Namespace(seed=None, epoch_millis=None, scorers=arg, pseudoraters=True)
    cfg = _scoring_config(ns)
    assert (cfg.reputation is rs.REPUTATION_SCORER) is expected
    if arg == "ReputationScorer":
        assert cfg.scorers == () and cfg.enabled_meta_scorers == ()
