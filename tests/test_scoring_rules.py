"""Tier 1 + tier 2 tests of per-scorer rules and the applier (spec 03 §4, §7, §8)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.scoring import config as C
from cnlab.scoring import rules as R

MIS, NM = S.MISLEADING, S.NOT_MISLEADING


def frame(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {S.NOTE_ID: np.arange(1, n + 1), S.NUM_RATINGS: [10] * n, S.CLASSIFICATION: [MIS] * n,
            "currentStatus": [S.NMR] * n}
    base.update(cols)
    return pd.DataFrame(base)


def nolabels(df):
    return pd.Series([S.NMR] * len(df), index=df.index, dtype=object)


def fired(upd) -> list[bool]:
    if isinstance(upd, tuple):
        upd = upd[0]
    return upd.notna().tolist()


def test_general_crh_threshold_inclusive_and_needs_misleading_and_ratings():
    df = frame(internalNoteIntercept=[0.40, 0.3999, 0.5, 0.5, np.nan],
               classification=[MIS, MIS, NM, np.nan, MIS], numRatings=[5, 5, 5, 5, 5])
    got = fired(R.general_crh(df, nolabels(df), min_ratings_needed=5, crh_threshold=0.4))
    assert got == [True, False, False, True, False]  # NaN classification = deleted counts as misleading
    df2 = frame(internalNoteIntercept=[0.5], numRatings=[4])
    assert fired(R.general_crh(df2, nolabels(df2), min_ratings_needed=5, crh_threshold=0.4)) == [False]


def test_general_crnh_uses_le_and_abs_factor():
    # bound = -0.05 - 0.8*|f|: f=±0.5 → -0.45
    df = frame(internalNoteIntercept=[-0.45, -0.449, -0.45, -0.05], internalNoteFactor1=[0.5, 0.5, -0.5, 0.0])
    got = fired(R.general_crnh(df, nolabels(df), min_ratings_needed=5, crnh_threshold_intercept=-0.05,
                               crnh_threshold_note_factor_multiplier=-0.8))
    assert got == [True, False, True, True]


def test_ucb_crnh_inactive_without_column_and_strict():
    df = frame(internalNoteIntercept=[-1.0, -1.0])
    assert fired(R.ucb_crnh(df, nolabels(df), min_ratings_needed=5, crnh_threshold_ucb_intercept=-0.04)) == [False, False]
    df["internalNoteIntercept_max"] = [-0.04, -0.0401]
    assert fired(R.ucb_crnh(df, nolabels(df), min_ratings_needed=5, crnh_threshold_ucb_intercept=-0.04)) == [False, True]


def test_ratio_crnh_float32_boundary():
    # 0.2 and 0.4 → float32 average == float32(0.3) → "≤ 0.3" True (float64 would say False).
    assert (0.2 + 0.4) / 2 > 0.3
    df = frame(negFactor_meanHelpfulNum=np.array([0.2, 0.2, np.nan, 0.41], dtype=np.float32),
               posFactor_meanHelpfulNum=np.array([0.4, 0.4, 0.1, 0.1], dtype=np.float32),
               minSignCount=[3, 2, 3, 3])
    got = fired(R.ratio_crnh(df, nolabels(df), min_ratings_needed=5))
    assert got == [True, False, False, False]


def test_nm_crnh_strict_and_only_not_misleading():
    df = frame(internalNoteIntercept=[-0.15, -0.16, -0.16], classification=[NM, NM, MIS], numRatings=[0, 0, 0])
    assert fired(R.nm_crnh(df, nolabels(df), crnh_threshold_nm_intercept=-0.15)) == [False, True, False]


def test_inertia_overrides_crnh_and_requires_previous_crh():
    df = frame(internalNoteIntercept=[0.395, 0.395, 0.385], currentStatus=[S.CRH, S.NMR, S.CRH])
    labels = pd.Series([S.CRNH, S.NMR, S.NMR], dtype=object)
    got = fired(R.general_crh_inertia(df, labels, min_ratings_needed=5, crh_threshold=0.4, inertia_delta=0.01))
    assert got == [True, False, False]


def test_inertia_expected_max_violation():
    df = frame(internalNoteIntercept=[0.45], currentStatus=[S.CRH])
    labels = pd.Series([S.CRNH], dtype=object)
    with pytest.raises(R.RuleInvariantError):
        R.general_crh_inertia(df, labels, min_ratings_needed=5, crh_threshold=0.4, inertia_delta=0.01,
                              on_violation="raise")
    assert fired(R.general_crh_inertia(df, labels, min_ratings_needed=5, crh_threshold=0.4,
                                       inertia_delta=0.01)) == [True]


def test_tag_filter_acts_on_nmr_notes_and_skips_hard_to_understand():
    df = frame(notHelpfulMissingKeyPointsAdjusted=[3.0, 3.0, 2.5, 3.0],
               notHelpfulMissingKeyPointsAdjustedRatio=[0.5, 0.5, 0.5, 0.1],
               notHelpfulHardToUnderstandAdjusted=[9.0, 9.0, 9.0, 9.0],
               notHelpfulHardToUnderstandAdjustedRatio=[0.9, 0.9, 0.9, 0.9])
    thr = {f"{t}AdjustedRatio": 0.2 for t in S.NOT_HELPFUL_TAGS}
    labels = pd.Series([S.NMR, S.CRNH, S.CRH, S.CRH], dtype=object)
    upd, extra = R.tag_filter(df, labels, thresholds=thr, status=S.FIRM_REJECT)
    assert upd.tolist() == [S.FIRM_REJECT, None, None, None]
    assert extra[S.ACTIVE_FILTER_TAGS].iloc[0] == "notHelpfulMissingKeyPoints"
    assert pd.isna(extra[S.ACTIVE_FILTER_TAGS].iloc[3])


def test_tag_filter_tags_joined_in_tsv_order():
    df = frame(notHelpfulNoteNotNeededAdjusted=[3.0], notHelpfulNoteNotNeededAdjustedRatio=[0.5],
               notHelpfulOtherAdjusted=[3.0], notHelpfulOtherAdjustedRatio=[0.5])
    thr = {f"{t}AdjustedRatio": 0.2 for t in S.NOT_HELPFUL_TAGS}
    _, extra = R.tag_filter(df, nolabels(df), thresholds=thr)
    assert extra[S.ACTIVE_FILTER_TAGS].iloc[0] == "notHelpfulOther,notHelpfulNoteNotNeeded"


def test_filters_boundaries():
    df = frame(notHelpfulIncorrect_interval=[2, 2, 1], num_voters_interval=[3, 3, 3],
               tf_idf_incorrect_interval=[2.5, np.inf, 9.0])
    assert fired(R.filter_incorrect(df, nolabels(df))) == [True, True, False]
    df = frame(lowDiligenceNoteIntercept=[0.263, 0.2631, np.nan])
    assert fired(R.filter_low_diligence(df, nolabels(df), low_diligence_threshold=0.263)) == [False, True, False]
    df = frame(internalNoteFactor1=[0.5, -0.51, 0.9])
    labels = pd.Series([S.CRH, S.CRH, S.NMR], dtype=object)
    assert fired(R.filter_large_factor(df, labels, factor_threshold=0.5)) == [False, True, False]
    df = frame(internalNoteIntercept=[0.3, 0.29, np.nan, 0.1])
    labels = pd.Series([S.NMR, S.NMR, S.NMR, S.CRNH], dtype=object)
    assert fired(R.reject_low_intercept(df, labels, firm_reject_threshold=0.3)) == [False, True, False, False]


def test_net_helpful_rules():
    df = frame(netMinHelpful=np.array([3, 4, 4, 10, 9], dtype=np.int32),
               netMinHelpfulRatio=np.array([0.9, 0.05, 0.0499, 0.0, 0.01], dtype=np.float32))
    crh = pd.Series([S.CRH] * 5, dtype=object)
    assert fired(R.min_minority_raters(df, crh, min_minority_net_helpful_ratings=4)) == [True, False, False, False, False]
    assert fired(R.rater_balance(df, crh, min_minority_net_helpful_ratio=0.05)) == [False, False, True, False, True]


def test_rater_balance_float32_ratio():
    # 1/20 computed in float32 equals float32(0.05) → not "< 0.05".
    df = frame(netMinHelpful=np.array([4], dtype=np.int32), netMinHelpfulRatio=np.array([1 / 20], dtype=np.float32))
    assert fired(R.rater_balance(df, pd.Series([S.CRH], dtype=object), min_minority_net_helpful_ratio=0.05)) == [False]


def test_no_high_vol_and_no_correlated():
    df = frame(internalNoteInterceptNoHighVol=[0.36, 0.37, np.nan], internalNoteInterceptNoCorrelated=[0.5, 0.1, 0.1])
    crh = pd.Series([S.CRH] * 3, dtype=object)
    assert fired(R.no_high_vol_intercept(df, crh, crh_threshold_no_high_vol=0.37)) == [True, False, False]
    assert fired(R.no_correlated_intercept(df, crh, crh_threshold_no_correlated=0.37)) == [False, True, True]


def test_applier_last_rule_wins_and_active_rules():
    df = frame(internalNoteIntercept=[0.5, 0.1, np.nan], internalNoteFactor1=[0.0, 0.0, 0.0],
               netMinHelpful=np.array([2, 20, 0], dtype=np.int32))
    rules = [
        R.Rule("InitialNMR (v1.0)", R.initial_nmr),
        R.Rule("GeneralCRH (v1.0)", R.general_crh, {"min_ratings_needed": 5, "crh_threshold": 0.4}),
        R.Rule("MinMinorityRaters (v1.0)", R.min_minority_raters, {"min_minority_net_helpful_ratings": 4}),
    ]
    out = R.apply_rules(df, rules).to_frame(decided_by_col="decidedBy")
    assert out[S.RATING_STATUS].tolist() == [S.NYH, S.NMR, S.NMR]
    assert out[S.ACTIVE_RULES].iloc[0] == "InitialNMR (v1.0),GeneralCRH (v1.0),MinMinorityRaters (v1.0)"
    assert out["decidedBy"].tolist() == ["MinMinorityRaters (v1.0)", "InitialNMR (v1.0)", "InitialNMR (v1.0)"]
    assert out["awaitingBool"].tolist() == [False, True, True]


def test_applier_reasserting_rule_is_recorded():
    df = frame(internalNoteIntercept=[0.1])
    rules = [R.Rule("A (v1)", R.initial_nmr), R.Rule("B (v1)", R.initial_nmr)]
    out = R.apply_rules(df, rules)
    assert out.active_rules.iloc[0] == "A (v1),B (v1)" and out.decided_by.iloc[0] == "B (v1)"


def test_applier_rejects_duplicate_names_and_unlabelled():
    df = frame(internalNoteIntercept=[0.1])
    with pytest.raises(ValueError):
        R.apply_rules(df, [R.Rule("A", R.initial_nmr), R.Rule("A", R.initial_nmr)])
    with pytest.raises(ValueError):
        R.apply_rules(df, [R.Rule("G", R.general_crh, {"min_ratings_needed": 5, "crh_threshold": 0.4})])


def test_scorer_rules_lists():
    pre = [r.name for r in R.scorer_rules(C.CORE, final_round=False)]
    assert pre == ["InitialNMR (v1.0)", "GeneralCRH (v1.0)", "GeneralCRNH (v1.0)", "UcbCRNH (v1.0)", "NmCRNH (v1.0)"]
    final = [r.name.split(" ")[0] for r in R.scorer_rules(C.CORE, final_round=True, has_no_high_vol=True,
                                                          has_no_correlated=True, tag_thresholds={})]
    assert final == ["InitialNMR", "GeneralCRH", "GeneralCRNH", "UcbCRNH", "RatioCRNH", "NmCRNH",
                     "GeneralCRHInertia", "TagFilter", "FilterIncorrect", "FilterLowDiligence",
                     "FilterLargeFactor", "RejectLowIntercept", "MinMinorityRaters", "RaterBalance",
                     "NoHighVolIntercept", "NoCorrelatedIntercept"]
    topic = [r.name.split(" ")[0] for r in R.scorer_rules(C.TOPIC, final_round=True)]
    assert "MinMinorityRaters" not in topic and "RejectLowIntercept" not in topic
    # Filters give FIRM_REJECT only for scorers with a firm-reject threshold.
    assert C.CORE.filter_status == S.FIRM_REJECT and C.CORE_WITH_TOPICS.filter_status == S.NMR


def test_presets():
    assert C.GROUP14.crh_threshold == 0.15 and C.GROUP14.tag_filter_percentile == 90
    assert C.GROUP14.multiply_penalty_by_harassment_score is False
    assert C.EXPANSION.firm_reject_threshold == 0.3 and C.EXPANSION_PLUS.firm_reject_threshold is None
    assert C.GROUP18.crh_threshold_no_high_vol == 0.18 and C.GROUP15.crh_threshold == 0.25
    with pytest.raises(dataclasses.FrozenInstanceError):
        C.CORE.crh_threshold = 0.1  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Tier 2 properties
# ---------------------------------------------------------------------------

finite = st.floats(-1.5, 1.5, allow_nan=False)
maybe = st.one_of(st.just(np.nan), finite)
note_rows = st.lists(
    st.tuples(maybe, maybe, st.integers(0, 12), st.sampled_from([MIS, NM, None]),
              st.sampled_from([S.CRH, S.NMR, S.CRNH]), st.integers(0, 15), maybe, maybe),
    min_size=1, max_size=25,
)


def _stats(rows):
    i, f, k, cls, cur, net, ld, nhv = zip(*rows)
    return pd.DataFrame({
        S.NOTE_ID: np.arange(len(rows)), S.NOTE_INTERCEPT: i, S.NOTE_FACTOR1: f, S.NUM_RATINGS: k,
        S.CLASSIFICATION: cls, "currentStatus": cur, "netMinHelpful": np.array(net, dtype=np.int32),
        "netMinHelpfulRatio": np.array(net, dtype=np.float32) / 20, "lowDiligenceNoteIntercept": ld,
        "internalNoteInterceptNoHighVol": nhv, "negFactor_meanHelpfulNum": np.float32(0.2),
        "posFactor_meanHelpfulNum": np.float32(0.3), "minSignCount": 3,
    })


@settings(max_examples=60, deadline=None)
@given(note_rows)
def test_property_one_status_per_note_and_decided_by_last(rows):
    stats = _stats(rows)
    rules = R.scorer_rules(C.CORE, final_round=True, has_no_high_vol=True)
    out = R.apply_rules(stats, rules).to_frame(decided_by_col="decidedBy")
    assert len(out) == len(stats) and out[S.NOTE_ID].tolist() == stats[S.NOTE_ID].tolist()
    assert out[S.RATING_STATUS].isin(S.STATUSES).all()
    assert (out["decidedBy"] == out[S.ACTIVE_RULES].str.split(",").str[-1]).all()
    assert out[S.ACTIVE_RULES].str.startswith("InitialNMR (v1.0)").all()
    assert (out[["crhBool", "crnhBool"]].sum(axis=1) <= 1).all()


@settings(max_examples=60, deadline=None)
@given(note_rows, st.floats(0.0, 0.6), st.floats(0.0, 0.5))
def test_property_raising_crh_threshold_never_creates_crh(rows, lo, delta):
    stats = _stats(rows)
    hi = lo + delta
    def crh(th):
        t = dataclasses.replace(C.CORE, crh_threshold=th)
        out = R.apply_rules(stats, R.scorer_rules(t, final_round=True, has_no_high_vol=True)).to_frame()
        return out["crhBool"].to_numpy()
    assert not (crh(hi) & ~crh(lo)).any()
