"""k factors through the pipeline (``ScoringConfig.n_factors`` / ``factor_rule``).

Tier 1: hand-computed k = 2 rule cases (a note with factor (0.3, 0.4) has norm 0.5 and max-axis
0.4 …). Tier 2: properties — k = 1 through the knob is the official path bit for bit, a rotation
of the factor space leaves every "norm" decision unchanged, "axis" and "norm" agree when k = 1.
End to end: ``score()`` on the bundled sample with ``n_factors=2`` writes Factor2 columns and
statuses.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.mf.pseudo_raters import pseudo_rater_factors
from cnlab.pipeline.config import ScoringConfig
from cnlab.scorers.mf_config import ALL_MF_SCORERS, CORE, GROUPS, TOPIC_SCORERS, ScorerConfig
from cnlab.scoring import factors as FX
from cnlab.scoring import rules as R
from cnlab.scoring.incorrect_filter import incorrect_aggregates
from cnlab.scoring.meta import apply_topic_model_result
from cnlab.scoring.tag_filter import rating_weights

F1, F2 = S.NOTE_FACTOR1, S.note_factor_col(2)
U1, U2 = S.RATER_FACTOR1, S.rater_factor_col(2)


def _stats(intercepts, factors, n_ratings=10):
    """A rule-statistics frame with k-factor note columns (factors: rows × k)."""
    F = np.asarray(factors, dtype=np.float64)
    d = {S.NOTE_ID: np.arange(len(F)), S.NUM_RATINGS: n_ratings,
         S.NOTE_INTERCEPT: np.asarray(intercepts, dtype=np.float64)}
    for j in range(F.shape[1]):
        d[S.note_factor_col(j + 1)] = F[:, j]
    return pd.DataFrame(d)


def _fired(updates) -> np.ndarray:
    return updates.notna().to_numpy()


def _rotation(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


# ---------------------------------------------------------------------------------------------
# Tier 1: hand-computed k = 2 cases
# ---------------------------------------------------------------------------------------------

def test_magnitude_of_a_3_4_5_note():
    F = np.array([[0.3, 0.4], [-0.6, 0.0], [0.0, -0.2]])
    np.testing.assert_allclose(FX.factor_magnitude(F, "norm"), [0.5, 0.6, 0.2])
    np.testing.assert_allclose(FX.factor_magnitude(F, "axis"), [0.4, 0.6, 0.2])
    with pytest.raises(ValueError, match="factor_rule"):
        FX.factor_magnitude(F, "l1")


def test_crnh_wedge_norm_vs_axis():
    # i = −0.40, f = (0.3, 0.4): norm bound −0.05 − 0.8·0.5 = −0.45 (not CRNH);
    # axis bounds −0.29 and −0.37, both ≥ −0.40 (CRNH on every axis → CRNH)
    # i = −0.60, f = (0.3, 0.4): below every bound → CRNH under both rules
    # i = −0.30, f = (0.0, 0.0): bound −0.05 → CRNH under both rules
    stats = _stats([-0.40, -0.60, -0.30, -0.01], [[0.3, 0.4], [0.3, 0.4], [0.0, 0.0], [0.0, 0.0]])
    kw = dict(min_ratings_needed=5, crnh_threshold_intercept=-0.05, crnh_threshold_note_factor_multiplier=-0.8)
    labels = pd.Series([S.NMR] * 4)
    assert _fired(R.general_crnh(stats, labels, **kw)).tolist() == [False, True, True, False]
    assert _fired(R.general_crnh(stats, labels, **kw, factor_rule="axis")).tolist() == [True, True, True, False]


def test_large_factor_norm_vs_axis():
    # (0.3, 0.45): norm 0.541 > 0.5 → NMR; every axis ≤ 0.5 → stays CRH under "axis"
    # (0.6, 0.0): both rules → NMR; (0.2, 0.2): norm 0.283 → stays under both; NMR label untouched
    stats = _stats([0.5] * 4, [[0.3, 0.45], [0.6, 0.0], [0.2, 0.2], [0.9, 0.9]])
    labels = pd.Series([S.CRH, S.CRH, S.CRH, S.NMR])
    assert _fired(R.filter_large_factor(stats, labels, factor_threshold=0.5)).tolist() == [True, True, False, False]
    assert _fired(R.filter_large_factor(stats, labels, factor_threshold=0.5, factor_rule="axis")).tolist() == \
        [False, True, False, False]


def test_scorer_rules_pass_axis_only_when_asked():
    from cnlab.scoring.config import CORE as CORE_T

    norm = {r.name: r.kwargs for r in R.scorer_rules(CORE_T, final_round=True)}
    axis = {r.name: r.kwargs for r in R.scorer_rules(CORE_T, final_round=True, factor_rule="axis")}
    assert not any("factor_rule" in p for p in norm.values())
    assert sorted(n for n, p in axis.items() if p.get("factor_rule") == "axis") == \
        sorted(R.display_name(n, "1.0") for n in ("GeneralCRNH", "FilterLargeFactor", "RatioCRNH",
                                                    "MinMinorityRaters", "RaterBalance"))


def _sides(**axes):
    """Side statistics per axis: axes = {1: (minSignCount, μ₋, μ₊, netMin, ratio), 2: (…)}."""
    d = {S.NOTE_ID: [0], S.NUM_RATINGS: [20]}
    for j, values in axes.items():
        for c, v in zip(R.SIDE_COLUMNS, values):
            d[R.side_axis_column(c, int(j[1:]))] = [v]
    return pd.DataFrame(d)


def test_side_rules_per_axis():
    crh = pd.Series([S.CRH])
    # axis 1 has 5 net helpful minority ratings, axis 2 only 2: "axis" demotes, axis 1 alone does not
    st = _sides(a1=(6, 0.8, 0.9, 5, 0.25), a2=(6, 0.8, 0.9, 2, 0.1))
    kw = dict(min_minority_net_helpful_ratings=4)
    assert _fired(R.min_minority_raters(st, crh, **kw)).tolist() == [False]
    assert _fired(R.min_minority_raters(st, crh, **kw, factor_rule="axis")).tolist() == [True]
    # RaterBalance: 4 ≤ net < 10 and ratio < 0.05 on axis 2 only
    st = _sides(a1=(6, 0.8, 0.9, 12, 0.3), a2=(6, 0.8, 0.9, 5, 0.04))
    kw = dict(min_minority_net_helpful_ratio=0.05)
    assert _fired(R.rater_balance(st, crh, **kw)).tolist() == [False]
    assert _fired(R.rater_balance(st, crh, **kw, factor_rule="axis")).tolist() == [True]
    # RatioCRNH: low means on both sides of axis 1 but not of axis 2 → CRNH needs every axis
    nmr = pd.Series([S.NMR])
    kw = dict(min_ratings_needed=5)
    st = _sides(a1=(4, 0.2, 0.3, 0, 0.0), a2=(4, 0.2, 0.6, 0, 0.0))
    assert _fired(R.ratio_crnh(st, nmr, **kw)).tolist() == [True]
    assert _fired(R.ratio_crnh(st, nmr, **kw, factor_rule="axis")).tolist() == [False]
    st = _sides(a1=(4, 0.2, 0.3, 0, 0.0), a2=(3, 0.1, 0.2, 0, 0.0))
    assert _fired(R.ratio_crnh(st, nmr, **kw, factor_rule="axis")).tolist() == [True]


def _incorrect_case(rater_factor):
    """One note at f = (0, 0), one rater with an incorrect-tagged rating on it."""
    ratings = pd.DataFrame({S.NOTE_ID: [1], S.RATER_ID: [7],
                            **{t: [1 if t == S.INCORRECT_TAG else 0] for t in S.NOT_HELPFUL_TAGS}})
    notes = pd.DataFrame({S.NOTE_ID: [1], F1: [0.0], F2: [0.0]})
    raters = pd.DataFrame({S.RATER_ID: [7], U1: [rater_factor[0]], U2: [rater_factor[1]],
                           "incorrectTagRatingsMadeByRater": [2], "totalRatingsMadeByRater": [4]})
    return ratings, notes, raters


def test_incorrect_interval_norm_vs_axis():
    # rater at (0.2, 0.25): ‖Δ‖₂ = 0.320 ≥ 0.3 (not a voter); every |Δ_j| < 0.3 (a voter)
    ratings, notes, raters = _incorrect_case((0.2, 0.25))
    assert len(incorrect_aggregates(ratings, notes, raters)) == 0
    axis = incorrect_aggregates(ratings, notes, raters, factor_rule="axis")
    assert axis["num_voters_interval"].tolist() == [1.0]
    assert axis["p_incorrect_user_interval"].tolist() == [0.5]
    # radial clip: a rater at (3, 4) is clipped to (0.24, 0.32) (norm 0.4), still ≥ 0.3 away
    ratings, notes, raters = _incorrect_case((3.0, 4.0))
    assert len(incorrect_aggregates(ratings, notes, raters)) == 0
    # a rater at (0.1, 0.1): ‖Δ‖₂ = 0.141 → a voter under both rules
    ratings, notes, raters = _incorrect_case((0.1, 0.1))
    assert len(incorrect_aggregates(ratings, notes, raters)) == 1


def test_pseudo_rater_extremes():
    F = np.array([[-0.2, 0.9], [-0.5, 0.0], [0.3, -0.4]])
    # signed norms: −0.922, −0.5, +0.5 → most negative = rater 0, most positive = rater 2
    lo, hi = pseudo_rater_factors(F, "norm")
    np.testing.assert_array_equal(lo, F[0])
    np.testing.assert_array_equal(hi, F[2])
    lo, hi = pseudo_rater_factors(F, "axis")
    np.testing.assert_array_equal(lo, [-0.5, -0.4])
    np.testing.assert_array_equal(hi, [0.3, 0.9])


def test_topic_veto_norm_vs_axis():
    stats = pd.DataFrame({S.NOTE_ID: [1, 2], "noteTopic": ["Scams", "Scams"], "topicNoteConfident": [True, True],
                          "topicNoteIntercept": [0.4, 0.4], "topicNoteFactor1": [0.4, 0.6],
                          "topicNoteFactor2": [0.4, 0.0]})
    labels = pd.Series([S.CRH, S.CRH])
    # (0.4, 0.4): norm 0.566 > 0.51 → vetoed; max axis 0.4 → kept. (0.6, 0): vetoed by both.
    assert _fired(apply_topic_model_result(stats, labels, topic="Scams")).tolist() == [True, True]
    assert _fired(apply_topic_model_result(stats, labels, topic="Scams", factor_rule="axis")).tolist() == \
        [False, True]


@pytest.mark.parametrize("solver", ["official", "exact"])
@pytest.mark.parametrize("rule", ["norm", "axis"])
def test_pseudo_rater_bounds_with_two_factors(solver, rule):
    from _mf_helpers import planted

    from cnlab.mf import PSEUDO_RATER_COLUMNS, fit, pseudo_rater_bounds
    from cnlab.mf.config import CORE_MF

    df, _ = planted(n_notes=60, n_raters=80, n_ratings=2500, seed=3, k=2)
    base = fit(df, CORE_MF.replace(n_factors=2), seed=0, solver="exact")
    cfg = CORE_MF.replace(n_factors=2, rating_per_note_loss_ratio=12.0, flip_factors=False)
    r = fit(df, cfg, note_init=base.note_params, rater_init=base.rater_params,
            global_init=base.global_intercept, freeze=("raters", "global"), solver="exact")
    b = pseudo_rater_bounds(df, r, cfg, solver=solver, factor_rule=rule)
    assert list(b.columns) == ["noteId", *PSEUDO_RATER_COLUMNS]
    assert b[list(PSEUDO_RATER_COLUMNS)].notna().all().all()
    assert (b.internalNoteIntercept_max >= b.internalNoteIntercept_refit_orig - 1e-6).all()
    # a helpful pseudo-rating raises the upper bound of the intercept
    assert (b.internalNoteIntercept_max - b.internalNoteIntercept_refit_orig).mean() > 0.01


def test_factor_column_names():
    assert S.factor_axis_column("groupNoteFactor1_13", 2) == "groupNoteFactor2_13"
    assert S.is_extra_factor_column("topicNoteFactor3_Scams")
    assert not S.is_extra_factor_column("internalNoteFactor1_max")
    assert not S.is_extra_factor_column("coreNoteFactor1")
    assert S.with_extra_factor_columns(S.SCORED_NOTES_COLUMNS, ["noteId"]) == list(S.SCORED_NOTES_COLUMNS)
    cols = S.with_extra_factor_columns(S.SCORED_NOTES_COLUMNS, ["coreNoteFactor3", "coreNoteFactor2"])
    i = cols.index("coreNoteFactor1")
    assert cols[i:i + 3] == ["coreNoteFactor1", "coreNoteFactor2", "coreNoteFactor3"]


def test_config_knob_sets_every_mf_scorer():
    cfg = ScoringConfig.official(n_factors=3, factor_rule="axis")
    roster = cfg.roster()
    mf = [s for s in roster if isinstance(s, ScorerConfig)]
    assert len(mf) == len(ALL_MF_SCORERS)
    assert all(s.n_factors == 3 and s.factor_rule == "axis" for s in mf)
    # per-scorer MF presets are kept (group 14's normalized loss, InDimensionTwo's μ off)
    by_name = {s.name: s for s in mf}
    assert by_name["MFGroupScorer_14"].mf_config().normalized_loss is not None
    assert by_name["MFTopicScorer_InDimensionTwo"].mf_config().use_global_intercept is False
    # the equivalent per-scorer form of the brief
    from cnlab.mf.config import MFConfig

    assert ScoringConfig(n_factors=2).roster()[0] == dataclasses.replace(CORE, mf=MFConfig(n_factors=2))
    # None leaves the roster untouched (the official path)
    assert ScoringConfig.official().roster() == ScoringConfig.official(n_factors=None).roster()
    assert CORE.with_factors(None) is CORE and CORE.with_factors(1) is CORE


def test_config_rejects_bad_factor_settings():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_factors"):
            ScoringConfig(n_factors=bad)
    with pytest.raises(ValueError, match="factor_rule"):
        ScoringConfig(factor_rule="l1")
    assert ScoringConfig(n_factors=np.int64(2)).roster()[0].n_factors == 2


def test_output_column_maps():
    assert "coreNoteFactor2" in CORE.with_factors(2).scored_note_columns()
    assert "coreNoteFactor2" not in CORE.scored_note_columns()
    assert GROUPS[3].with_factors(2).helpfulness_columns()[:3] == \
        ["groupRaterIntercept_3", "groupRaterFactor1_3", "groupRaterFactor2_3"]
    assert "topicNoteFactor2_Scams" in TOPIC_SCORERS["Scams"].with_factors(2).scored_note_columns()


# ---------------------------------------------------------------------------------------------
# Tier 2: properties
# ---------------------------------------------------------------------------------------------

_coord = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)


def _away_from(x: np.ndarray, thresholds, eps=1e-7) -> bool:
    return all(np.all(np.abs(x - t) > eps) for t in thresholds)


@settings(max_examples=60, deadline=None)
@given(f=st.lists(st.tuples(_coord, _coord), min_size=1, max_size=8),
       i=st.lists(st.floats(-1, 1, allow_nan=False), min_size=8, max_size=8),
       theta=st.floats(0, 2 * np.pi))
def test_norm_decisions_are_rotation_invariant(f, i, theta):
    F = np.array(f)
    icp = np.array(i[:len(F)])
    G = F @ _rotation(theta).T
    mag = FX.factor_magnitude(F, "norm")
    np.testing.assert_allclose(FX.factor_magnitude(G, "norm"), mag, atol=1e-12)
    # decisions far from a threshold (ties are float noise, not rule semantics)
    if not (_away_from(mag, [0.5]) and _away_from(icp - (-0.05 - 0.8 * mag), [0.0])):
        return
    labels = pd.Series([S.CRH] * len(F))
    kw = dict(min_ratings_needed=5, crnh_threshold_intercept=-0.05, crnh_threshold_note_factor_multiplier=-0.8)
    a, b = _stats(icp, F), _stats(icp, G)
    assert _fired(R.general_crnh(a, labels, **kw)).tolist() == _fired(R.general_crnh(b, labels, **kw)).tolist()
    assert _fired(R.filter_large_factor(a, labels, factor_threshold=0.5)).tolist() == \
        _fired(R.filter_large_factor(b, labels, factor_threshold=0.5)).tolist()


@settings(max_examples=25, deadline=None)
@given(theta=st.floats(0, 2 * np.pi), seed=st.integers(0, 2**16))
def test_tag_and_incorrect_distances_are_rotation_invariant_under_norm(theta, seed):
    rng = np.random.default_rng(seed)
    n_notes, n_raters = 12, 15
    Fn, Fu = rng.normal(0, 0.4, (n_notes, 2)), rng.normal(0, 0.4, (n_raters, 2))
    ratings = pd.DataFrame({S.NOTE_ID: rng.integers(0, n_notes, 80), S.RATER_ID: rng.integers(0, n_raters, 80)})
    for t in S.NOT_HELPFUL_TAGS:
        ratings[t] = (t == S.INCORRECT_TAG) * 1
    Q = _rotation(theta)

    def frames(A, B):
        notes = pd.DataFrame({S.NOTE_ID: np.arange(n_notes), F1: A[:, 0], F2: A[:, 1]})
        raters = pd.DataFrame({S.RATER_ID: np.arange(n_raters), U1: B[:, 0], U2: B[:, 1],
                               "incorrectTagRatingsMadeByRater": 1, "totalRatingsMadeByRater": 2})
        return notes, raters

    n0, r0 = frames(Fn, Fu)
    n1, r1 = frames(Fn @ Q.T, Fu @ Q.T)
    w0 = rating_weights(ratings, n0, r0)["ratingWeight"].to_numpy()
    w1 = rating_weights(ratings, n1, r1)["ratingWeight"].to_numpy()
    np.testing.assert_allclose(w1, w0, rtol=1e-9, atol=1e-12)
    # incorrect-tag voters: same set unless a distance sits within float noise of 0.3
    a = incorrect_aggregates(ratings, n0, r0)
    b = incorrect_aggregates(ratings, n1, r1)
    if len(a) == len(b):
        np.testing.assert_allclose(b["num_voters_interval"].to_numpy(), a["num_voters_interval"].to_numpy())


@settings(max_examples=60, deadline=None)
@given(f=st.lists(_coord, min_size=1, max_size=10), i=st.lists(st.floats(-1, 1, allow_nan=False),
                                                               min_size=10, max_size=10))
def test_axis_equals_norm_with_one_factor(f, i):
    F = np.array(f)[:, None]
    icp = np.array(i[:len(F)])
    np.testing.assert_array_equal(FX.factor_magnitude(F, "axis"), FX.factor_magnitude(F, "norm"))
    np.testing.assert_array_equal(FX.factor_magnitude(F, "norm"), np.abs(F[:, 0]))
    for rule in ("norm", "axis"):
        np.testing.assert_array_equal(
            FX.crnh_wedge(icp, F, offset=-0.05, slope=-0.8, rule=rule), icp <= -0.05 - 0.8 * np.abs(F[:, 0]))
    lo_n, hi_n = pseudo_rater_factors(F, "norm")
    lo_a, hi_a = pseudo_rater_factors(F, "axis")
    np.testing.assert_array_equal(lo_n, lo_a)
    np.testing.assert_array_equal(hi_n, hi_a)
    np.testing.assert_array_equal(lo_n, [F.min()])


# ---------------------------------------------------------------------------------------------
# End to end on the bundled sample (Core only: fast)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    import cnlab

    return cnlab.load_sample()


@pytest.fixture(scope="module")
def core_default(sample):
    from cnlab.pipeline import score

    return score(sample, ScoringConfig())


def test_k1_knob_is_the_official_path_byte_for_byte(sample, core_default, tmp_path):
    from cnlab.io.writers import write_outputs
    from cnlab.pipeline import score

    k1 = score(sample, ScoringConfig(n_factors=1, factor_rule="axis"))
    for key, frame in core_default.frames.items():
        pd.testing.assert_frame_equal(k1.frames[key], frame, check_exact=True)
    write_outputs(core_default.frames, tmp_path / "a")
    write_outputs(k1.frames, tmp_path / "b")
    for f in sorted((tmp_path / "a").glob("*.tsv")):
        assert (tmp_path / "b" / f.name).read_bytes() == f.read_bytes(), f.name


@pytest.mark.parametrize("rule", ["norm", "axis"])
def test_score_with_two_factors(sample, core_default, tmp_path, rule):
    from cnlab.io.writers import write_outputs
    from cnlab.pipeline import score

    res = score(sample, ScoringConfig(n_factors=2, factor_rule=rule))
    sn, hs = res.frames["scored_notes"], res.frames["helpfulness_scores"]
    i = list(sn.columns).index("coreNoteFactor1")
    assert list(sn.columns)[i + 1] == "coreNoteFactor2"
    assert list(sn.columns) == S.with_extra_factor_columns(S.SCORED_NOTES_COLUMNS, ["coreNoteFactor2"])
    assert "coreRaterFactor2" in hs.columns
    scored = sn["coreNoteIntercept"].notna()
    assert scored.sum() == core_default.frames["scored_notes"]["coreNoteIntercept"].notna().sum()
    # every scored note has both axes, and the second axis carries signal
    assert sn.loc[scored, ["coreNoteFactor1", "coreNoteFactor2"]].notna().all().all()
    assert sn.loc[scored, "coreNoteFactor2"].std() > 0.01
    assert set(sn["coreRatingStatus"].dropna()) <= {S.CRH, S.CRNH, S.NMR, S.NYH, S.FIRM_REJECT}
    assert sn.loc[scored, "coreRatingStatus"].notna().all()
    assert sn["finalRatingStatus"].notna().all()
    # prescoring outputs carry the axes (they initialise final scoring and survive a checkpoint)
    assert S.note_factor_col(2) in res.prescoring.note_model_output.columns
    assert S.rater_factor_col(2) in res.prescoring.rater_model_output.columns
    rep = write_outputs(res.frames, tmp_path / "out")
    header = (tmp_path / "out" / "scored_notes.tsv").read_text().split("\n", 1)[0].split("\t")
    assert "coreNoteFactor2" in header and "coreNoteFactor2" not in rep.absent_columns.get("scored_notes", [])
    # a written prescoring keeps the axes, and final scoring from it gives the same statuses
    from cnlab.scorers.outputs import load_official_prescoring, write_prescoring

    write_prescoring(res.prescoring, tmp_path / "pre", sample.participants)
    again = load_official_prescoring(tmp_path / "pre", sample.participants)
    np.testing.assert_array_equal(again.note_model_output[S.note_factor_col(2)].to_numpy(),
                                  res.prescoring.note_model_output[S.note_factor_col(2)].to_numpy())
    np.testing.assert_array_equal(again.rater_model_output[S.rater_factor_col(2)].to_numpy(),
                                  res.prescoring.rater_model_output[S.rater_factor_col(2)].to_numpy())


def test_factor_settings_invalidate_prescoring_on_rescore():
    from cnlab.pipeline.rescore import PRESCORING_SETTINGS

    assert {"n_factors", "factor_rule"} <= set(PRESCORING_SETTINGS)


def test_final_scoring_needs_the_prescored_axes():
    from cnlab.scorers.mf_final import _require_axes

    notes = pd.DataFrame(columns=[S.NOTE_ID, S.NOTE_INTERCEPT, F1])
    raters = pd.DataFrame(columns=[S.RATER_ID, S.RATER_INTERCEPT, U1, U2])
    with pytest.raises(ValueError, match="prescore with the same n_factors"):
        _require_axes(notes, raters, [F1, F2], [U1, U2], CORE.with_factors(2))
    _require_axes(notes.assign(**{F2: []}), raters, [F1, F2], [U1, U2], CORE.with_factors(2))


def test_cli_factors_flags():
    from cnlab import cli
    from cnlab.errors import CnlabInputError

    parser = cli.build_parser()
    args = parser.parse_args(["score", "--sample", "--scorers", "MFCoreScorer", "--factors", "2",
                              "--factor-rule", "axis"])
    cfg = cli._scoring_config(args)
    assert (cfg.n_factors, cfg.factor_rule) == (2, "axis")
    default = cli._scoring_config(parser.parse_args(["score", "--sample", "--scorers", "MFCoreScorer"]))
    assert (default.n_factors, default.factor_rule) == (None, "norm")
    with pytest.raises(CnlabInputError, match="--factors 0"):
        cli._scoring_config(parser.parse_args(["score", "--sample", "--factors", "0"]))
