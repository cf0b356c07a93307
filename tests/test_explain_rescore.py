"""ScoringResult.explain / decisions (cnlab.pipeline.explain) and ScoringResult.rescore
(cnlab.pipeline.rescore): hand-built runs with known answers, then the bundled sample."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.pipeline import config as pc
from cnlab.pipeline import score
from cnlab.pipeline.explain import decisions, explain, rule_thresholds
from cnlab.pipeline.rescore import FINAL_ONLY_THRESHOLDS, _scorer_changes
from cnlab.scoring import config as rc

CRH, CRNH, NMR, FR = S.CRH, S.CRNH, S.NMR, S.FIRM_REJECT
META0, CORE_RULE = "MetaInitialNMR (v1.0)", "CoreModel (v1.1)"
STAB, SDG = "NmrDueToMinStableCrhTime (v1.0)", "ScoringDriftGuard (v1.0)"


# -- a hand-built run -------------------------------------------------------------------------------

def _fake_run(with_core_helpfulness: bool = True) -> SimpleNamespace:
    """Five notes; Core scored 1–4 (note 5 was not scored by any model).

    1: Core CRH by GeneralCRH, applied → CRH.
    2: Core CRH, held at NMR by stabilization (NSH timestamp 12345).
    3: Core FIRM_REJECT by RejectLowIntercept → shown as NMR.
    4: Core CRNH, NSH lockedStatus CRH → ScoringDriftGuard makes it CRH.
    5: MetaInitialNMR only.
    """
    ids = [1, 2, 3, 4, 5]
    sn = pd.DataFrame({
        S.NOTE_ID: ids,
        "finalRatingStatus": [CRH, NMR, NMR, CRH, NMR],
        "decidedBy": [CORE_RULE, STAB, CORE_RULE, SDG, META0],
        "metaScorerActiveRules": [f"{META0},{CORE_RULE}", f"{META0},{CORE_RULE},{STAB}",
                                  f"{META0},{CORE_RULE}", f"{META0},{CORE_RULE},{SDG}", META0],
        S.NUM_RATINGS: [7, 9, 6, 12, 2],
    })
    core_sn = pd.DataFrame({
        S.NOTE_ID: [1, 2, 3, 4],
        "coreNoteIntercept": [0.45, 0.41, 0.20, -0.20],
        "coreNoteFactor1": [0.1, -0.2, 0.3, 0.05],
        "coreRatingStatus": [CRH, CRH, FR, CRNH],
        "coreActiveRules": ["InitialNMR (v1.0),GeneralCRH (v1.0)", "InitialNMR (v1.0),GeneralCRH (v1.0)",
                            "InitialNMR (v1.0),RejectLowIntercept (v1.0)",
                            "InitialNMR (v1.0),GeneralCRNH (v1.0),UcbCRNH (v1.0)"],
    })
    # raters 10, 11: factor < 0; 12, 13: factor > 0; 14: factor 0; 15: no factor
    helpfulness = pd.DataFrame({S.RATER_ID: [10, 11, 12, 13, 14],
                                "coreRaterFactor1": [-0.5, -0.1, 0.3, 0.7, 0.0]})
    if not with_core_helpfulness:
        helpfulness = pd.DataFrame({S.RATER_ID: [10]})
    ratings = pd.DataFrame({
        S.NOTE_ID: [1] * 7 + [2, 2],
        S.RATER_ID: [10, 11, 12, 13, 14, 15, 10, 10, 12],
        S.HELPFUL_NUM: np.array([1.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0], dtype=np.float32),
    })
    nsh_in = pd.DataFrame({S.NOTE_ID: ids, "lockedStatus": [None, None, None, CRH, None],
                           "timestampMillisOfStatusLock": [np.nan, np.nan, np.nan, 777.0, np.nan],
                           "currentStatus": [CRH, NMR, NMR, CRH, NMR]})
    nsh_out = pd.DataFrame({S.NOTE_ID: ids,
                            "timestampMillisOfNmrDueToMinStableCrhTime": [-1, 12345, -1, -1, -1]})
    rater_out = pd.DataFrame({S.RATER_ID: [10, 11, 12, 13, 14, 10],
                              "internalRaterFactor1": [-0.5, -0.1, 0.3, 0.7, 0.0, 9.0],
                              "scorerName": ["MFCoreScorer"] * 5 + ["MFExpansionScorer"]})
    final = {"MFCoreScorer": SimpleNamespace(scorer=pc.CORE, scored_notes=core_sn,
                                             helpfulness_scores=helpfulness)}
    return SimpleNamespace(
        final=final, final_ratings=ratings,
        frames={"scored_notes": sn, "note_status_history": nsh_out},
        preprocessed=SimpleNamespace(status_history=nsh_in),
        prescoring=SimpleNamespace(rater_model_output=rater_out))


def test_explain_model_decided_note_lists_rules_thresholds_and_counts():
    e = explain(_fake_run(), 1)
    assert (e.final_status, e.decided_by, e.deciding_model) == (CRH, CORE_RULE, CORE_RULE)
    assert e.meta_rules == (META0, CORE_RULE)
    assert e.deciding_model_status == CRH
    assert e.deciding_rule == "GeneralCRH (v1.0)"          # last of coreActiveRules
    assert e.held_back is None
    f = e.frame
    assert f["scorer"].tolist() == ["MFCoreScorer"] and f["status"].tolist() == [CRH]
    assert f.loc[0, "intercept"] == pytest.approx(0.45) and f.loc[0, "factor"] == pytest.approx(0.1)
    assert f.loc[0, "rules"] == ("InitialNMR (v1.0)", "GeneralCRH (v1.0)")
    assert f.loc[0, "thresholds"] == ({}, {"crh_threshold": 0.40, "min_ratings_needed": 5})
    assert bool(f.loc[0, "applied"]) is True
    assert e.rules_frame["order"].tolist() == [0, 1]
    assert e.num_ratings == 7
    # rater 10 (−) helpful, 11 (−) not helpful, 12 and 13 (+) helpful, 14 (factor 0) and 15 (no
    # factor) → no_factor; the SOMEWHAT_HELPFUL rating of 15 is in no helpful / not-helpful count
    assert dict(e.rating_counts) == {"neg_helpful": 1, "neg_not_helpful": 1, "pos_helpful": 2,
                                     "pos_not_helpful": 0, "no_factor": 2,
                                     "neg_net_helpful": 0, "pos_net_helpful": 2}


def test_explain_held_back_reasons():
    run = _fake_run()
    stab = explain(run, 2)
    assert stab.deciding_model_status == CRH and stab.final_status == NMR
    assert stab.held_back == STAB and stab.deciding_rule == STAB
    assert "stabilization" in stab.reason and "12345" in stab.reason
    assert dict(stab.rating_counts)["neg_not_helpful"] == 1 and dict(stab.rating_counts)["pos_not_helpful"] == 1

    fr = explain(run, 3)
    assert fr.deciding_rule == "RejectLowIntercept (v1.0)"
    assert fr.held_back == "CoreModel (v1.1): FIRM_REJECT shown as NEEDS_MORE_RATINGS"
    assert fr.frame.loc[0, "thresholds"][1] == {"firm_reject_threshold": 0.3}

    locked = explain(run, 4)
    assert locked.held_back == SDG and locked.deciding_model_status == CRNH
    assert "lockedStatus=CURRENTLY_RATED_HELPFUL" in locked.reason and "777" in locked.reason
    assert locked.frame.loc[0, "thresholds"][1]["bound"] == "intercept <= -0.05 - 0.8*|factor|"

    none = explain(run, 5)
    assert none.scorers == () and none.frame.empty and list(none.frame.columns)[:4] == [
        "scorer", "intercept", "factor", "status"]
    assert none.deciding_model is None and none.held_back is None and none.deciding_rule == META0


def test_explanation_is_frozen_and_renders():
    e = explain(_fake_run(), 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.final_status = CRH
    text = repr(e)
    assert text.splitlines()[0] == f"note 2: {NMR} (decided by {STAB})"
    assert "GeneralCRH (v1.0) [crh_threshold=0.4, min_ratings_needed=5]" in text
    assert "<table" in e._repr_html_()
    with pytest.raises(KeyError):
        explain(_fake_run(), 99)


def test_rater_factors_fall_back_to_prescoring_core_rows():
    # no coreRaterFactor1 in the final helpfulness rows: the MFCoreScorer prescoring rows are used
    # (the MFExpansionScorer row of rater 10, factor 9.0, must be ignored)
    e = explain(_fake_run(with_core_helpfulness=False), 1)
    assert dict(e.rating_counts)["neg_helpful"] == 1 and dict(e.rating_counts)["pos_helpful"] == 2


def test_decisions_agree_with_explain_note_by_note():
    run = _fake_run()
    d = decisions(run)
    assert d[S.NOTE_ID].tolist() == [1, 2, 3, 4, 5]
    assert d["decidingRule"].tolist() == ["GeneralCRH (v1.0)", STAB, "RejectLowIntercept (v1.0)", SDG, META0]
    held = [None if pd.isna(x) else x for x in d["heldBack"]]
    assert held == [None, STAB, "CoreModel (v1.1): FIRM_REJECT shown as NEEDS_MORE_RATINGS", SDG, None]
    for row in d.itertuples(index=False):
        e = explain(run, row.noteId)
        assert (row.decidingRule, row.decidedBy, row.finalRatingStatus) == (
            e.deciding_rule, e.decided_by, e.final_status)
        assert (None if pd.isna(row.heldBack) else row.heldBack) == e.held_back


def test_rule_thresholds_names_config_fields():
    g14 = rc.GROUP14
    assert rule_thresholds("GeneralCRH (v1.0)", g14) == {"crh_threshold": 0.15, "min_ratings_needed": 5}
    assert rule_thresholds("GeneralCRHInertia", rc.CORE)["effective_threshold"] == pytest.approx(0.39)
    assert rule_thresholds("NoHighVolIntercept", rc.GROUP18) == {"crh_threshold_no_high_vol": 0.18}
    assert rule_thresholds("InitialNMR (v1.0)", rc.CORE) == {}
    # every field named is a RuleThresholds field
    fields = {f.name for f in dataclasses.fields(rc.RuleThresholds)}
    for rule in ("GeneralCRH", "GeneralCRNH", "UcbCRNH", "RatioCRNH", "NmCRNH", "GeneralCRHInertia",
                 "TagFilter", "FilterIncorrect", "FilterLowDiligence", "FilterLargeFactor",
                 "RejectLowIntercept", "MinMinorityRaters", "RaterBalance", "NoHighVolIntercept",
                 "NoCorrelatedIntercept"):
        named = set(rule_thresholds(rule, rc.CORE)) - {"bound", "effective_threshold"}
        assert named and named <= fields, rule


def test_scorer_changes_final_only_thresholds_keep_prescoring():
    def with_t(**kw):
        return dataclasses.replace(pc.CORE, thresholds=dataclasses.replace(pc.CORE.rules(), **kw))

    assert _scorer_changes((pc.CORE,), (pc.CORE,)) == []
    assert _scorer_changes((pc.CORE,), (with_t(firm_reject_threshold=0.35),)) == []
    assert _scorer_changes((pc.CORE,), (with_t(min_minority_net_helpful_ratings=6),)) == []
    why = _scorer_changes((pc.CORE,), (with_t(crh_threshold=0.35),))
    assert len(why) == 1 and "crh_threshold" in why[0]
    assert _scorer_changes((pc.CORE,), (pc.CORE, pc.EXPANSION)) == ["scorers"]
    assert "capture_threshold" in _scorer_changes(
        (pc.CORE,), (dataclasses.replace(pc.CORE, capture_threshold=0.6),))[0]
    assert "crh_threshold" not in FINAL_ONLY_THRESHOLDS


# -- the bundled sample ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    import cnlab

    ds = cnlab.load_sample()
    return ds, cnlab.score(ds, cnlab.ScoringConfig(seed=42))


def _assert_same_outputs(a, b):
    oa, ob = a.outputs(), b.outputs()
    for key in oa:
        pd.testing.assert_frame_equal(oa[key], ob[key], obj=key)


def test_sample_decisions_are_consistent(sample):
    _ds, res = sample
    d = res.decisions()
    sn = res.frames["scored_notes"]
    assert d[S.NOTE_ID].tolist() == sn[S.NOTE_ID].tolist()
    assert d["decidedBy"].tolist() == sn["decidedBy"].tolist()
    known = d["decidingModelStatus"].notna()
    differs = known & (d["decidingModelStatus"] != d["finalRatingStatus"])
    assert (d["heldBack"].notna() == differs).all()
    # notes held back by stabilization: Core said CRH or NEEDS_YOUR_HELP (never shown)
    stab = d[d["decidedBy"] == STAB]
    assert len(stab) and stab["decidingModelStatus"].isin([CRH, S.NYH]).all()
    assert (stab["heldBack"] == STAB).all()
    # Core-decided notes: the deciding rule is the last rule of coreActiveRules
    core = sn[sn["decidedBy"] == CORE_RULE].set_index(S.NOTE_ID)["coreActiveRules"].str.split(",").str[-1]
    dc = d.set_index(S.NOTE_ID).loc[core.index, "decidingRule"]
    assert (dc == core).all()
    e = res.explain(int(stab[S.NOTE_ID].iloc[0]))
    c = e.rating_counts
    ratings = res.final_ratings[res.final_ratings[S.NOTE_ID] == e.note_id]
    n_somewhat = int((ratings[S.HELPFUL_NUM] == 0.5).sum())
    assert (c["neg_helpful"] + c["neg_not_helpful"] + c["pos_helpful"] + c["pos_not_helpful"]
            + c["no_factor"] + n_somewhat) >= len(ratings) - n_somewhat
    assert c["neg_helpful"] + c["pos_helpful"] <= int((ratings[S.HELPFUL_NUM] == 1.0).sum())


def test_rescore_unchanged_config_reuses_everything(sample):
    _ds, res = sample
    again = res.rescore()
    _assert_same_outputs(res, again)
    assert again.recomputed == ()
    assert again.reused == ("topics", "pss", "prescoring", "confidence_models")
    pd.testing.assert_frame_equal(again.note_topics, res.note_topics)
    pd.testing.assert_frame_equal(again.prescoring.note_model_output, res.prescoring.note_model_output)
    assert again.confidence.pflip is res.confidence.pflip and again.confidence.pcrh is res.confidence.pcrh
    stages = " ".join(again.timings["stage"])
    assert "prescoring" not in stages and "topic model" not in stages and " fit " not in stages
    assert again.config == res.config


def test_rescore_final_only_threshold_equals_fresh_score_with_reused_inputs(sample):
    import cnlab

    ds, res = sample
    strict = dataclasses.replace(pc.CORE, thresholds=dataclasses.replace(
        pc.CORE.rules(), firm_reject_threshold=0.35))
    cfg = res.config.with_(scorers=(strict,))
    new = res.rescore(cfg)
    assert new.recomputed == () and "prescoring" in new.reused
    fresh = cnlab.score(ds, cfg.with_(pflip=res.confidence.pflip, pcrh=res.confidence.pcrh),
                        prescoring=res.prescoring, note_topics=res.note_topics)
    _assert_same_outputs(new, fresh)
    # the change acted: notes newly FIRM_REJECT have a Core intercept in [0.30, 0.35)
    a = res.frames["scored_notes"].set_index(S.NOTE_ID)
    b = new.frames["scored_notes"].set_index(S.NOTE_ID)
    newly = (b["coreRatingStatus"] == FR) & (a["coreRatingStatus"] != FR)
    assert newly.sum() > 0
    i = b.loc[newly, "coreNoteIntercept"]
    assert ((i >= 0.30 - 1e-9) & (i < 0.35)).all()


def test_rescore_seed_change_recomputes_prescoring(sample):
    _ds, res = sample
    new = res.rescore(res.config.with_(seed=7))
    assert set(new.recomputed) == {"topics", "pss", "prescoring", "confidence_models"}
    assert new.reused == ()
    assert "seed" in new.rescore_reasons["prescoring"] and "seed" in new.rescore_reasons["topics"]
    assert new.prescoring is not res.prescoring and new.config.seed == 7
    assert any("prescoring" in s for s in new.timings["stage"])


def test_rescore_crh_threshold_recomputes_prescoring_like_fresh_score(sample):
    import cnlab

    ds, res = sample
    loose = dataclasses.replace(pc.CORE, thresholds=dataclasses.replace(pc.CORE.rules(), crh_threshold=0.35))
    cfg = res.config.with_(scorers=(loose,))
    new = res.rescore(cfg)
    assert new.recomputed == ("pss", "prescoring", "confidence_models") and new.reused == ("topics",)
    assert any("crh_threshold" in r for r in new.rescore_reasons["prescoring"])
    _assert_same_outputs(new, cnlab.score(ds, cfg, note_topics=res.note_topics))


def test_rescore_needs_a_dataset(sample):
    _ds, res = sample
    with pytest.raises(ValueError, match="dataset="):
        dataclasses.replace(res, dataset=None).rescore()


def test_score_progress_prints_the_stage_lines(sample, capsys):
    """score(progress=True) shows one line per stage as it finishes (through tqdm.auto), and the
    result is the same run as without it."""
    ds, res = sample[0], sample[1]
    again = score(ds, res.config, note_topics=res.note_topics, prescoring=res.prescoring, progress=True)
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "rows in=" in ln]
    stages = set(again.timings["stage"])
    assert len(lines) >= len(stages) - 1 and any("meta scoring" in ln for ln in lines)
    assert all(ln.split(": rows in=")[0] in stages for ln in lines)
    pd.testing.assert_frame_equal(again.outputs()["scored_notes"], res.outputs()["scored_notes"])
