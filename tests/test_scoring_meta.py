"""Tier 1 tests: meta rules, stabilization branches, explanation tags, status history (spec 03 §7–§10, 04 §11, §13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.scoring import meta as M
from cnlab.scoring.explanation_tags import top_two_tags
from cnlab.scoring.status_history import update_status_history

NOW = 1_800_000_000_000
MIN = 60_000
DAY = 86_400_000
CRH, CRNH, NMR, NYH, FR = S.CRH, S.CRNH, S.NMR, S.NYH, S.FIRM_REJECT


def stab(S_, t, prev=NMR, **extra):
    """Run the stabilization rule on one note with label S_ and NSH timestamp t."""
    df = pd.DataFrame({S.NOTE_ID: [1], "currentStatus": [prev], M.NMR_TS: [t], **{k: [v] for k, v in extra.items()}})
    upd, ext = M.nmr_due_to_min_stable_crh_time(df, pd.Series([S_], dtype=object), epoch_millis=NOW)
    return upd.iloc[0], ext[M.UPDATED_NMR_TS].iloc[0]


def test_stabilization_step0_prev_crh():
    status, ts = stab(NYH, np.nan, prev=CRH)
    assert status == CRH and np.isnan(ts)  # keep showing CRH, no timestamp change
    status, ts = stab(CRH, np.nan, prev=CRH)
    assert status is None and np.isnan(ts)  # previously-CRH notes otherwise untouched


def test_stabilization_enter_and_reenter():
    assert stab(CRH, np.nan) == (NMR, NOW)
    assert stab(NYH, np.nan) == (NMR, NOW)
    assert stab(CRH, -1.0) == (NMR, NOW)
    assert stab(NYH, -1.0) == (NMR, -1.0)


def test_stabilization_time_caps_and_min_delay():
    ok = {"LABEL": "CRH", "firstNonNMRStatus": np.nan}
    assert stab(CRH, NOW - 61 * MIN) == (None, -1.0)  # released (label already CRH → no update)
    assert stab(CRH, NOW - 60 * MIN, **ok) == (None, -1.0)  # not over; all checks pass → CRH
    assert stab(CRH, NOW - 60 * MIN) == (NMR, NOW - 60 * MIN)  # missing LABEL = predicted flip
    assert stab(NYH, NOW - 361 * MIN) == (NMR, -1.0)
    assert stab(NYH, NOW - 360 * MIN, **ok) == (NMR, NOW - 360 * MIN)
    assert stab(CRH, NOW - 29 * MIN, **ok) == (NMR, NOW - 29 * MIN)
    assert stab(CRH, NOW - 30 * MIN, **ok) == (None, -1.0)  # E ≥ 30 passes (strict <)


def test_stabilization_topic_confidence_and_flip():
    ok = {"LABEL": "CRH", "firstNonNMRStatus": np.nan}
    t = NOW - 45 * MIN
    assert stab(CRH, t, noteTopic="Scams", topicNoteConfident=False, **ok)[0] == NMR
    assert stab(CRH, t, noteTopic="Scams", topicNoteConfident=True, **ok)[0] is None
    assert stab(CRH, t, noteTopic=np.nan, topicNoteConfident=False, **ok)[0] is None
    assert stab(CRH, t, LABEL="FLIP", firstNonNMRStatus=np.nan)[0] == NMR
    assert stab(CRH, t, LABEL="CRH", firstNonNMRStatus=CRH)[0] == NMR


def test_stabilization_exit_and_zero_edge():
    assert stab(NMR, NOW - 10 * MIN) == (None, -1.0)
    assert stab(CRNH, NOW - 10 * MIN) == (None, -1.0)
    assert stab(CRH, 0.0) == (None, 0.0)  # t == 0: no branch matches
    status, ts = stab(NMR, np.nan)
    assert status is None and np.isnan(ts)


def _meta_frame(**cols):
    n = len(next(iter(cols.values())))
    base = {S.NOTE_ID: np.arange(1, n + 1)}
    base.update(cols)
    return pd.DataFrame(base)


def test_apply_model_result_firm_reject_and_blocking():
    df = _meta_frame(coreRatingStatus=[FR, CRNH, np.nan, np.nan], expansionRatingStatus=[CRH, CRH, FR, CRH],
                     multiGroupRatingStatus=[CRH, NMR, CRH, CRH], modelingMultiGroup=[1.0, 1.0, 1.0, 2.0])
    lab = pd.Series([NMR] * 4, dtype=object)
    assert M.apply_model_result(df, lab, source_col="coreRatingStatus").tolist() == [NMR, CRNH, None, None]
    got = M.apply_model_result(df, lab, source_col="multiGroupRatingStatus", check_firm_reject=True,
                               filter_pairs=(("modelingMultiGroup", 1),))
    assert got.tolist() == [None, NMR, None, None]  # blocked CRH dropped, demotion kept, group 2 filtered
    assert M.apply_model_result(df, lab, source_col="absentColumn").isna().all()


def test_group_promotion_open_interval():
    df = _meta_frame(groupRatingStatus=[CRH] * 5 + [NYH], modelingGroup=[3.0] * 6,
                     coreNoteIntercept=[0.3, 0.35, 0.40, np.nan, np.nan, 0.35],
                     expansionNoteIntercept=[np.nan, np.nan, np.nan, 0.35, np.nan, np.nan],
                     coreRatingStatus=[NMR] * 6)
    lab = pd.Series([NMR] * 5 + [NYH], dtype=object)
    got = M.apply_group_model_result(df, lab, group=3, min_safeguard=0.3, core_cap=0.4, expansion_cap=0.4)
    assert got.tolist() == [None, CRH, None, CRH, None, None]  # NYH→NYH dropped
    got14 = M.apply_group_model_result(df.assign(modelingGroup=14.0), lab, group=14, min_safeguard=0.25,
                                       core_cap=None, expansion_cap=None)
    assert got14.tolist() == [CRH, CRH, CRH, CRH, None, None]


def test_nmr_veto_coverage_and_topic():
    df = _meta_frame(groupRatingStatus=[CRNH, NMR, CRH], modelingGroup=[33.0, 33.0, 33.0],
                     gaussianRatingStatus=[CRNH, NYH, CRH], coreRatingStatus=[np.nan, np.nan, FR],
                     noteTopic=["Scams", "Scams", "GazaConflict"], topicNoteConfident=[True, "True", True],
                     topicNoteIntercept=[0.3, 0.2, 0.1], topicNoteFactor1=[0.6, 0.0, 0.0])
    lab = pd.Series([CRH, NYH, NMR], dtype=object)
    assert M.apply_nmr_group_model_result(df, lab, group=33).tolist() == [NMR, NMR, None]
    lab2 = pd.Series([NMR, NYH, NMR], dtype=object)
    assert M.apply_coverage_model_result(df, lab2, source_col="gaussianRatingStatus").tolist() == [CRNH, None, None]
    assert M.apply_topic_model_result(df, lab, topic="Scams").tolist() == [NMR, NMR, None]


def test_population_sampled_intercept():
    df = _meta_frame(coreNoteIntercept=[0.45, 0.45, 0.45, 0.43],
                     coreNoteInterceptPopulationSampled=[0.29, 0.30, 0.29, 0.29],
                     coreNegFactor_populationSampledRatingCount=[4, 4, 1, 4],
                     corePosFactor_populationSampledRatingCount=[4, 4, 7, 4])
    lab = pd.Series([CRH] * 4, dtype=object)
    assert M.population_sampled_intercept(df, lab).tolist() == [NMR, None, None, None]
    assert M.population_sampled_intercept(df.drop(columns=["coreNoteInterceptPopulationSampled"]), lab).isna().all()


def test_drift_guard_and_insufficient_explanation_after_it():
    df = _meta_frame(lockedStatus=[CRH, np.nan, NMR], helpfulInformative=[0, 3, 0])
    lab = pd.Series([NMR, CRH, NMR], dtype=object)
    upd, ext = M.scoring_drift_guard(df, lab)
    assert upd.tolist() == [CRH, None, None] and ext["unlockedRatingStatus"].iloc[0] == NMR
    upd2, tags = M.insufficient_explanation(df, pd.Series([CRH, CRH, NMR], dtype=object))
    assert upd2.tolist() == [NMR, NMR, None]  # a locked CRH without tags still becomes NMR


def test_explanation_tag_tie_breaks():
    counts = pd.DataFrame({t: [5] for t in S.ALL_TAGS})
    got = top_two_tags(counts, pd.Series([CRH]))
    assert got.iloc[0].tolist() == ["helpfulInformative", "helpfulClear"]
    got = top_two_tags(counts, pd.Series([CRNH]))
    assert got.iloc[0].tolist() == ["notHelpfulOutdated", "notHelpfulSpamHarassmentOrAbuse"]
    c = pd.DataFrame({t: [0] for t in S.ALL_TAGS}).assign(helpfulOther=[9], helpfulUnbiasedLanguage=[2],
                                                          helpfulClear=[1])
    assert top_two_tags(c, pd.Series([CRH])).iloc[0].tolist() == ["helpfulOther", "helpfulUnbiasedLanguage"]
    c1 = c.assign(helpfulUnbiasedLanguage=[1])  # only one tag with ≥ 2 ratings → no tags
    assert top_two_tags(c1, pd.Series([CRH])).iloc[0].isna().all()
    assert top_two_tags(counts, pd.Series([NMR])).iloc[0].isna().all()


def test_meta_score_end_to_end_and_scorers_filter():
    sn = _meta_frame(coreRatingStatus=[CRH, NMR], expansionRatingStatus=[NMR, CRH],
                     gaussianRatingStatus=[np.nan, CRNH])
    aux = pd.DataFrame({S.NOTE_ID: [1, 2], "currentStatus": [CRH, NMR], "helpfulInformative": [3, 3],
                        "helpfulClear": [2, 2], "notHelpfulOutdated": [0, 0]})
    h = pd.DataFrame({S.NOTE_ID: [1, 2], M.NMR_TS: [-1.0, np.nan], "firstNonNMRStatus": [CRH, np.nan],
                      "lockedStatus": [np.nan, np.nan]})
    out = M.meta_score(sn, aux, h, epoch_millis=NOW)
    assert out["finalRatingStatus"].tolist() == [CRH, NMR]
    assert out["firstTag"].iloc[0] == "helpfulInformative" and pd.isna(out["firstTag"].iloc[1])
    # note 2: GaussianModel proposes CRNH, which has no not-helpful tags → InsufficientExplanation.
    assert out["decidedBy"].tolist() == ["CoreModel (v1.1)", "InsufficientExplanation (v1.0)"]
    only_exp = M.meta_score(sn, aux, h, epoch_millis=NOW, scorers=["MFExpansionScorer"])
    assert only_exp["metaScorerActiveRules"].iloc[1] == (
        "MetaInitialNMR (v1.0),ExpansionModel (v1.1),NmrDueToMinStableCrhTime (v1.0)")
    assert only_exp[M.UPDATED_NMR_TS].iloc[1] == NOW


def _nsh_row(**kw):
    base = {c: np.nan for c in S.NOTE_STATUS_HISTORY_COLUMNS}
    base.update({S.NOTE_ID: 1, S.AUTHOR_ID: "a", S.CREATED_AT: NOW - 20 * DAY, "currentStatus": NMR})
    base.update(kw)
    return pd.DataFrame([base])


def _sn_row(**kw):
    base = {S.NOTE_ID: 1, S.CREATED_AT: NOW - 20 * DAY, "finalRatingStatus": CRH, "decidedBy": "CoreModel (v1.1)",
            "coreRatingStatus": CRH, "expansionRatingStatus": CRH, "groupRatingStatus": np.nan,
            "modelingGroup": np.nan, M.UPDATED_NMR_TS: np.nan, "abovePcrhThresholdTime": np.nan,
            "multiGroupRatingStatus": np.nan, "modelingMultiGroup": np.nan}
    base.update(kw)
    return pd.DataFrame([base])


def test_locking_age_is_strict_and_rule_must_lock():
    exact = NOW - 14 * DAY
    out = update_status_history(_nsh_row(createdAtMillis=exact), _sn_row(createdAtMillis=exact), now=NOW)
    assert pd.isna(out["lockedStatus"].iloc[0])
    out = update_status_history(_nsh_row(createdAtMillis=exact - 1), _sn_row(createdAtMillis=exact - 1), now=NOW)
    assert out["lockedStatus"].iloc[0] == CRH and out["timestampMillisOfStatusLock"].iloc[0] == NOW
    assert out["timestampMillisOfNmrDueToMinStableCrhTime"].iloc[0] == -1
    out = update_status_history(_nsh_row(), _sn_row(decidedBy="NmrDueToMinStableCrhTime (v1.0)"), now=NOW)
    assert pd.isna(out["lockedStatus"].iloc[0])
    out = update_status_history(_nsh_row(), _sn_row(decidedBy="InsufficientExplanation (v1.0)",
                                                    finalRatingStatus=NMR), now=NOW)
    assert out["lockedStatus"].iloc[0] == NMR


def test_status_history_first_latest_and_change_times():
    young = NOW - DAY
    out = update_status_history(_nsh_row(createdAtMillis=young),
                                _sn_row(createdAtMillis=young, **{M.UPDATED_NMR_TS: -1.0}), now=NOW).iloc[0]
    assert out["firstNonNMRStatus"] == CRH and out["timestampMillisOfFirstNonNMRStatus"] == NOW
    assert out["timestampMillisOfMostRecentStatusChange"] == NOW
    assert out["timestampMillisOfNmrDueToMinStableCrhTime"] == -1
    assert out["timestampMillisOfFirstNmrDueToMinStableCrhTime"] == -1
    prev = _nsh_row(createdAtMillis=young, currentStatus=CRH, firstNonNMRStatus=CRH, mostRecentNonNMRStatus=CRH,
                    timestampMillisOfLatestNonNMRStatus=5.0, timestampMillisOfFirstNonNMRStatus=5.0)
    out = update_status_history(prev, _sn_row(createdAtMillis=young, finalRatingStatus=CRNH), now=NOW).iloc[0]
    assert out["mostRecentNonNMRStatus"] == CRNH and out["timestampMillisOfLatestNonNMRStatus"] == NOW
    assert out["timestampMillisOfFirstNonNMRStatus"] == 5.0
    out = update_status_history(prev, _sn_row(createdAtMillis=young, finalRatingStatus=CRH), now=NOW).iloc[0]
    assert out["timestampMillisOfMostRecentStatusChange"] == -1  # unchanged and NaN before → −1
    old = 1_600_000_000_000
    out = update_status_history(_nsh_row(createdAtMillis=old), _sn_row(createdAtMillis=old,
                                decidedBy="TopicModel01 (v1.0)"), now=NOW).iloc[0]
    assert pd.isna(out["firstNonNMRStatus"]) and out["currentStatus"] == CRH
    with pytest.raises(ValueError):
        update_status_history(_nsh_row(), _sn_row(noteId=2), now=NOW)
