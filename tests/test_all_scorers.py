"""Tier-1 tests of the multi-scorer plumbing: roster presets, group / topic slicing and
post-processing, merging and coalescing of all scorers' outputs (spec 02 §1–§6, 04 §9)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cnlab import schema
from cnlab.pipeline import ScoringConfig
from cnlab.scorers import mf_config as pc
from cnlab.pipeline.combine import (
    CoalesceError,
    coalesce_columns,
    combine_final_results,
    combine_helpfulness,
)
from cnlab.scorers.slicing import (
    filter_input,
    postprocess_family,
    postprocess_output,
    restrict_to_group_members,
    topic_note_confident,
)

NID, RID = schema.NOTE_ID, schema.RATER_ID


# ----------------------------------------------------------------------------------------------
# roster
# ----------------------------------------------------------------------------------------------
def test_default_config_stays_core_only():
    cfg = ScoringConfig()
    assert [s.name for s in cfg.scorers] == ["MFCoreScorer"]
    assert cfg.enabled_meta_scorers == ("MFCoreScorer",)


def test_all_mf_scorers_in_official_order():
    names = [s.name for s in pc.ALL_MF_SCORERS]
    assert names == [
        "MFCoreWithTopicsScorer", "MFCoreScorer", "MFExpansionScorer", "MFExpansionPlusScorer",
        *(f"MFGroupScorer_{g}" for g in range(13, 0, -1)),
        "MFGroupScorer_14", "MFGroupScorer_33", "MFGroupScorer_18", "MFGroupScorer_15",
        "MFTopicScorer_UkraineConflict", "MFTopicScorer_GazaConflict", "MFTopicScorer_MessiRonaldo",
        "MFTopicScorer_Scams", "MFTopicScorer_InDimensionTwo", "MFMultiGroupScorer_1",
    ]
    assert len(set(names)) == len(names)
    assert set(pc.SCORERS) == set(names)
    prescoring_only = [s.name for s in pc.ALL_MF_SCORERS if not s.final_scoring]
    assert prescoring_only == ["MFGroupScorer_15", "MFTopicScorer_InDimensionTwo"]


def test_official_mf_enables_the_meta_rules_of_every_scorer_that_runs():
    cfg = ScoringConfig.official_mf(seed=7)
    assert cfg.seed == 7 and cfg.scorers == pc.ALL_MF_SCORERS
    assert cfg.enabled_meta_scorers == (
        "MFCoreWithTopicsScorer", "MFCoreScorer", "MFExpansionScorer", "MFExpansionPlusScorer",
        "MFGroupScorer", "MFTopicScorer", "MFMultiGroupScorer",
    )
    from cnlab.scoring.meta import meta_rules

    names = [r.name for r in meta_rules(epoch_millis=0, scorers=cfg.enabled_meta_scorers)]
    assert "GroupModel14 (v1.1)" in names and "MultiGroupModel01 (v1.0)" in names
    assert "TopicModel01 (v1.0)" in names and "GroupModel33NMR (v1.1)" in names
    assert not any(n.startswith(("Gaussian", "GroupModel15NMR")) for n in names)


def test_group_and_topic_presets_thresholds_and_mf():
    g14, g18, g33, g1 = pc.GROUP_14, pc.GROUP_18, pc.GROUP_33, pc.GROUPS[1]
    assert (g14.capture_threshold, g18.capture_threshold, g33.capture_threshold, g1.capture_threshold) == \
        (0.51, 0.51, 0.8, 0.8)
    assert g33.strict_inclusion and not g1.strict_inclusion
    assert g14.rules().crh_threshold == 0.15 and g18.rules().crh_threshold == 0.20
    assert g1.rules().crh_threshold == 0.40 and g1.rules().firm_reject_threshold is None
    assert g14.mf_config().normalized_loss is not None and g14.mf_config().note_intercept_lambda == 0.9
    assert g18.mf_config().global_intercept_lambda == 0.0
    assert pc.GROUP_15.mf_config().note_intercept_lambda == 0.09
    assert pc.TOPIC_IN_DIMENSION_TWO.mf_config().use_global_intercept is False
    assert g1.mf_config().normalized_loss is None
    for s in (g1, g14, g18, g33, pc.MULTI_GROUP_1):
        assert not s.include_unassigned and not s.use_stable_init and not s.pseudoraters
    t = pc.TOPIC_SCORERS["Scams"]
    assert not t.use_reputation and t.capture_threshold is None and t.included_groups is None
    assert t.rules().min_minority_net_helpful_ratings is None and t.num_confidence_ratings == 4
    assert pc.MULTI_GROUP_1.included_groups == frozenset({4, 5, 7, 12, 26})


def test_suffixed_column_names():
    g = pc.GROUPS[13]
    assert g.note_column_map()[schema.NOTE_INTERCEPT] == "groupNoteIntercept_13"
    assert set(g.scored_note_columns()) == {
        "groupNoteIntercept_13", "groupNoteFactor1_13", "groupRatingStatus_13", "groupActiveRules_13",
        "modelingGroup_13", "groupNumFinalRoundRatings_13", "groupNoteInterceptNoHighVol_13",
        "groupNoteInterceptNoCorrelated_13"}
    assert g.helpfulness_columns() == ["groupRaterIntercept_13", "groupRaterFactor1_13", "modelingGroup_13"]
    assert "modelingMultiGroup_1" in pc.MULTI_GROUP_1.scored_note_columns()
    assert "multiGroupRatingStatus_1" in pc.MULTI_GROUP_1.scored_note_columns()
    t = pc.TOPIC_SCORERS["GazaConflict"]
    assert {"topicNoteIntercept_GazaConflict", "noteTopic_GazaConflict",
            "topicNoteConfident_GazaConflict"} <= set(t.scored_note_columns())
    assert t.helpfulness_columns() == []
    # the one-instance scorers keep their unsuffixed names
    assert pc.CORE.note_column_map()[schema.RATING_STATUS] == "coreRatingStatus"


# ----------------------------------------------------------------------------------------------
# slicing and post-processing
# ----------------------------------------------------------------------------------------------
def _enrollment(groups: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame({schema.PARTICIPANT_ID: np.array(list(groups), dtype=np.int32),
                         schema.MODELING_GROUP: np.array(list(groups.values()), dtype=np.float64)})


def test_topic_scorer_keeps_only_its_topic_notes():
    r = pd.DataFrame({NID: [1, 1, 2, 3], RID: [10, 11, 10, 12]})
    nsh = pd.DataFrame({NID: [1, 2, 3, 4]})
    topics = pd.DataFrame({NID: [1, 3], "noteTopic": ["Scams", "GazaConflict"]})
    rr, nn, rep = filter_input(r, nsh, _enrollment({}), pc.TOPIC_SCORERS["Scams"], note_topics=topics)
    assert rr[NID].tolist() == [1, 1] and nn[NID].tolist() == [1]
    assert rep.after_topic_filter == 2 and rep.after_group_filter == 2


def test_group_scorer_excludes_unenrolled_and_other_groups():
    r = pd.DataFrame({NID: [1, 1, 1, 2], RID: [10, 11, 12, 10]})
    nsh = pd.DataFrame({NID: [1, 2]})
    enr = _enrollment({10: 3, 11: 4})  # 12 is not enrolled
    rr, nn, _ = filter_input(r, nsh, enr, pc.GROUPS[3])
    assert rr[RID].tolist() == [10, 10] and len(nn) == 2  # NSH is not filtered by groups


def test_group_capture_threshold_and_helpfulness_restriction():
    # note 1: 4/5 ratings from group 3 (0.8 → kept); note 2: 1/2 (dropped)
    raw = pd.DataFrame({NID: [1, 1, 1, 1, 1, 2, 2], RID: [10, 13, 14, 15, 11, 10, 11]})
    enr = _enrollment({10: 3, 11: 4, 13: 3, 14: 3, 15: 3, 20: 7})
    sc = pc.GROUPS[3]
    sn = pd.DataFrame({NID: [1, 2], schema.NOTE_INTERCEPT: [0.1, 0.2]})
    post = postprocess_output(sn, raw, enr, sc)
    assert post[NID].tolist() == [1]
    hs = pd.DataFrame({RID: [10, 11, 20, 99], schema.RATER_INTERCEPT: [0.0, 0.1, 0.2, 0.3]})
    post, hs2 = postprocess_family(post, hs, raw, enr, sc)
    assert post["modelingGroup_3"].tolist() == [3]
    assert hs2[RID].tolist() == [10] and hs2["modelingGroup_3"].tolist() == [3]
    assert restrict_to_group_members(hs, enr, pc.MULTI_GROUP_1)[RID].tolist() == [11, 20]


def test_topic_confidence_bit_hand_computed():
    # raters 0..5 factor ≥ 0, raters 10..15 factor < 0, rater 99 has no factor
    hs = pd.DataFrame({RID: [*range(6), *range(10, 16), 99],
                       schema.RATER_FACTOR1: [0.0, .1, .2, .3, .4, .5, -.1, -.2, -.3, -.4, -.5, -.6, np.nan]})
    rows = []
    rows += [(1, r) for r in range(5)] + [(1, r) for r in range(10, 15)]   # 5 / 5 → confident
    rows += [(2, r) for r in range(4)] + [(2, r) for r in range(10, 16)]   # 4 / 6 → not
    rows += [(3, r) for r in range(6)] + [(3, r) for r in range(10, 16)]   # NaN intercept → not
    rows += [(4, 99)] * 20                                                  # no factor → not
    raw = pd.DataFrame(rows, columns=[NID, RID])
    sn = pd.DataFrame({NID: [1, 2, 3, 4], schema.NOTE_INTERCEPT: [0.1, 0.2, np.nan, 0.3]})
    assert topic_note_confident(sn, hs, raw, 4).tolist() == [True, False, False, False]
    assert topic_note_confident(sn, hs, raw, 3).tolist() == [True, True, False, False]
    post, hs2 = postprocess_family(sn, hs, raw, _enrollment({}), pc.TOPIC_SCORERS["Scams"])
    assert post["noteTopic_Scams"].tolist() == ["Scams"] * 4
    assert post["topicNoteConfident_Scams"].tolist() == [True, False, False, False]
    assert hs2 is hs


# ----------------------------------------------------------------------------------------------
# merging and coalescing
# ----------------------------------------------------------------------------------------------
def test_coalesce_columns_takes_the_single_value_and_drops_suffixed():
    f = pd.DataFrame({NID: [1, 2, 3], "groupNoteIntercept_1": [0.5, np.nan, np.nan],
                      "groupNoteIntercept_2": [np.nan, 0.7, np.nan],
                      "groupNoteInterceptNoHighVol_1": [0.4, np.nan, np.nan]})
    out = coalesce_columns(f, "groupNoteIntercept")
    assert np.allclose(out["groupNoteIntercept"].to_numpy(), [0.5, 0.7, np.nan], equal_nan=True)
    assert out["groupNoteIntercept"].dtype == np.float64
    assert "groupNoteIntercept_1" not in out.columns
    assert "groupNoteInterceptNoHighVol_1" in out.columns  # a different prefix, untouched
    # no suffixed column: an all-NaN column
    assert coalesce_columns(pd.DataFrame({NID: [1]}), "topicNoteIntercept")["topicNoteIntercept"].isna().all()


def test_coalesce_keeps_strings_and_booleans():
    f = pd.DataFrame({NID: [1, 2, 3],
                      "topicNoteConfident_A": pd.Series([True, None, None], dtype=object),
                      "topicNoteConfident_B": pd.Series([None, False, None], dtype=object),
                      "noteTopic_A": ["A", None, None], "noteTopic_B": [None, "B", None]})
    out = coalesce_columns(coalesce_columns(f, "topicNoteConfident"), "noteTopic")
    assert out["topicNoteConfident"].tolist()[:2] == [True, False] and pd.isna(out["topicNoteConfident"][2])
    assert out["noteTopic"].tolist()[:2] == ["A", "B"]


def test_coalesce_conflict_raises_a_clear_error():
    f = pd.DataFrame({NID: [11, 12], "groupRatingStatus_1": ["CRH", None],
                      "groupRatingStatus_2": ["NMR", None]})
    with pytest.raises(CoalesceError, match=r"groupRatingStatus.*groupRatingStatus_1, groupRatingStatus_2.*\[11\]"):
        coalesce_columns(f, "groupRatingStatus")


def _final(name, sn, aux=None, hs=None):
    return SimpleNamespace(scorer=SimpleNamespace(name=name), scored_notes=sn,
                           aux_note_info=aux if aux is not None else pd.DataFrame({NID: []}),
                           helpfulness_scores=hs if hs is not None else pd.DataFrame({RID: []}))


def test_combine_final_results_one_row_per_nsh_note():
    nsh = pd.DataFrame({NID: np.array([3, 1, 2, 2], dtype=np.int64)})
    core = _final("MFCoreScorer", pd.DataFrame({NID: [1, 2], "coreRatingStatus": ["NMR", "CRH"]}),
                  aux=pd.DataFrame({NID: [1, 2], "ratingWeight": [1.0, 2.0]}))
    g1 = _final("MFGroupScorer_1", pd.DataFrame({NID: [3], "groupRatingStatus_1": ["CRH"], "modelingGroup_1": [1]}))
    g2 = _final("MFGroupScorer_2", pd.DataFrame({NID: [1], "groupRatingStatus_2": ["NMR"], "modelingGroup_2": [2]}))
    sn, aux = combine_final_results([core, g1, g2], nsh)
    assert sn[NID].tolist() == [1, 2, 3]
    assert sn["groupRatingStatus"].tolist()[0] == "NMR" and sn["groupRatingStatus"].tolist()[2] == "CRH"
    assert np.allclose(sn["modelingGroup"].to_numpy(), [2, np.nan, 1], equal_nan=True)
    assert "modelingGroup_1" not in sn.columns and "topicRatingStatus" in sn.columns
    assert aux.columns.tolist() == [NID, "ratingWeight"] and len(aux) == 3


def test_combine_rejects_duplicate_columns_and_extra_notes():
    nsh = pd.DataFrame({NID: np.array([1], dtype=np.int64)})
    a = _final("A", pd.DataFrame({NID: [1], "x": [1]}))
    with pytest.raises(ValueError, match="globally unique"):
        combine_final_results([a, _final("B", pd.DataFrame({NID: [1], "x": [2]}))], nsh)
    with pytest.raises(ValueError, match="add 1 row"):
        combine_final_results([_final("C", pd.DataFrame({NID: [1, 9], "y": [1, 2]}))], nsh)


def test_combine_helpfulness_coalesces_group_rater_columns():
    core = _final("MFCoreScorer", None, hs=pd.DataFrame({RID: np.array([1, 2, 3], dtype=np.int32),
                                                         "coreRaterIntercept": [.1, .2, .3]}))
    g = _final("MFGroupScorer_4", None, hs=pd.DataFrame({RID: np.array([2], dtype=np.int32),
                                                         "groupRaterIntercept_4": [.5], "modelingGroup_4": [4]}))
    out = combine_helpfulness([core, g])
    assert out[RID].tolist() == [1, 2, 3]
    assert np.allclose(out["groupRaterIntercept"].to_numpy(), [np.nan, .5, np.nan], equal_nan=True)
    assert np.allclose(out["modelingGroup"].to_numpy(), [np.nan, 4, np.nan], equal_nan=True)


def test_cli_scorers_select_meta_families():
    import argparse

    from cnlab.cli import _scoring_config

    ns = argparse.Namespace(seed=None, epoch_millis=None, scorers="all-mf", pseudoraters=True)
    cfg = _scoring_config(ns)
    assert cfg.scorers == pc.ALL_MF_SCORERS
    assert cfg.enabled_meta_scorers == ScoringConfig.official_mf().enabled_meta_scorers
    ns.scorers = "MFCoreScorer,MFGroupScorer_13,MFGroupScorer_15"
    cfg = _scoring_config(ns)
    assert [s.name for s in cfg.scorers] == ["MFCoreScorer", "MFGroupScorer_13", "MFGroupScorer_15"]
    assert cfg.enabled_meta_scorers == ("MFCoreScorer", "MFGroupScorer")
