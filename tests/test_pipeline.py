"""Unit tests of cnlab.pipeline on tiny hand-built frames (tier 1) and properties (tier 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema
from cnlab.scorers import mf_config as pc
from cnlab.scorers.outputs import (
    NOTE_MODEL_OUTPUT_COLUMNS,
    RATER_MODEL_OUTPUT_COLUMNS,
    PrescoringMeta,
    load_official_prescoring,
)
from cnlab.scorers.slicing import capture_share, filter_input, in_group, postprocess_output


def _enrollment(groups: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame({
        "participantId": np.array(list(groups), dtype=np.int32),
        "modelingGroup": np.array(list(groups.values()), dtype=np.float64),
    })


def _ratings(pairs) -> pd.DataFrame:
    return pd.DataFrame({
        "noteId": np.array([p[0] for p in pairs], dtype=np.int64),
        "raterParticipantId": np.array([p[1] for p in pairs], dtype=np.int32),
        "helpfulNum": np.ones(len(pairs), dtype=np.float32),
    })


# ---------------------------------------------------------------------------- config
def test_import_is_light():
    # A fresh interpreter: importing the pipeline API must not pull in TensorFlow (only fits do).
    code = (
        "import sys; import cnlab.pipeline; "
        "from cnlab.pipeline import ScoringConfig, load_official_prescoring, score; "
        "ScoringConfig.official(); "
        "assert 'tensorflow' not in sys.modules, sorted(m for m in sys.modules if 'tensorflow' in m)[:3]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_core_preset_matches_spec_02_table():
    c = pc.CORE
    assert c.name == "MFCoreScorer" and c.decider == "CoreModel (v1.1)"
    assert c.included_groups == schema.CORE_GROUPS and c.include_unassigned
    assert c.capture_threshold == 0.5 and c.topic_scope == "exclude_all"
    assert c.use_stable_init and c.stable_init_group == 13 and c.pseudoraters
    assert c.rules().firm_reject_threshold == 0.3
    assert pc.EXPANSION_PLUS.capture_threshold is None
    assert pc.CORE_WITH_TOPICS.rules().firm_reject_threshold is None


def test_core_column_mapping_spec_02_6():
    m = pc.CORE.note_column_map()
    assert m["internalNoteIntercept"] == "coreNoteIntercept"
    assert m["internalNoteIntercept_max"] == "coreNoteInterceptMax"
    assert m["internalNoteInterceptPopulationSampled"] == "coreNoteInterceptPopulationSampled"
    assert m["lowDiligenceNoteIntercept"] == "lowDiligenceIntercept"
    assert set(pc.CORE.scored_note_columns()) <= set(schema.SCORED_NOTES_COLUMNS)
    assert set(pc.CORE.aux_columns()) <= set(schema.AUX_NOTE_INFO_COLUMNS)
    assert set(pc.CORE.helpfulness_columns()) - {"aboveHelpfulnessThreshold"} <= set(
        schema.HELPFULNESS_SCORES_COLUMNS)
    for sc in (pc.CORE_WITH_TOPICS, pc.EXPANSION, pc.EXPANSION_PLUS):
        assert set(sc.scored_note_columns()) <= set(schema.SCORED_NOTES_COLUMNS), sc.name


# ---------------------------------------------------------------------------- slicing
def test_in_group_unassigned_and_nan_group():
    enr = _enrollment({1: 1.0, 2: 4.0, 3: np.nan})
    ids = pd.Series(np.array([1, 2, 3, 9], dtype=np.int32))
    # 1 core; 2 expansion; 3 enrolled with NaN group → not in group; 9 unenrolled → include_unassigned
    assert in_group(ids, enr, schema.CORE_GROUPS, True).tolist() == [True, False, False, True]
    assert in_group(ids, enr, schema.CORE_GROUPS, False).tolist() == [True, False, False, False]


def test_filter_input_core_drops_topic_notes_and_out_of_group_ratings():
    enr = _enrollment({1: 1.0, 2: 4.0})
    r = _ratings([(10, 1), (10, 2), (10, 9), (20, 1), (30, 2)])
    nsh = pd.DataFrame({"noteId": np.array([10, 20, 30], dtype=np.int64)})
    topics = pd.DataFrame({"noteId": [20], "noteTopic": ["Scams"]})
    out, nsh_out, rep = filter_input(r, nsh, enr, pc.CORE, note_topics=topics)
    assert sorted(zip(out.noteId, out.raterParticipantId)) == [(10, 1), (10, 9)]
    assert nsh_out.noteId.tolist() == [10, 30]  # NSH not filtered by groups
    assert (rep.ratings_in, rep.after_topic_filter, rep.after_group_filter) == (5, 4, 2)
    assert rep.unassigned_ratings == 1
    out2, nsh2, _ = filter_input(r, nsh, enr, pc.CORE_WITH_TOPICS, note_topics=topics)
    assert len(nsh2) == 3 and len(out2) == 3


def test_strict_inclusion_uses_capture_threshold():
    enr = _enrollment({1: 33.0, 2: 33.0, 3: 1.0})
    sc = pc.ScorerConfig(name="MFGroupScorer_33", prefix="group", included_groups=frozenset({33}),
                         include_unassigned=False, capture_threshold=0.8, strict_inclusion=True,
                         topic_scope="all")
    r = _ratings([(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)])
    out, _, _ = filter_input(r, pd.DataFrame({"noteId": [1, 2]}), enr, sc)
    assert sorted(out.noteId.unique()) == [2]  # note 1 has 2/3 < 0.8 in-group


def test_postprocess_capture_threshold_half():
    enr = _enrollment({1: 1.0, 2: 4.0, 3: 4.0})
    raw = _ratings([(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 9)])
    sn = pd.DataFrame({"noteId": [1, 2, 3, 4]})
    out = postprocess_output(sn, raw, enr, pc.CORE)
    # note 1: 1/2 ≥ 0.5 kept; note 2: 1/3 dropped; note 3: unenrolled → in; note 4: no ratings → dropped
    assert out.noteId.tolist() == [1, 3]
    assert postprocess_output(sn, raw, enr, pc.EXPANSION_PLUS).noteId.tolist() == [1, 2, 3, 4]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 8)), min_size=1, max_size=60, unique=True),
       st.floats(0.0, 1.0))
def test_postprocess_property_keeps_exactly_notes_at_or_above_threshold(pairs, thr):
    enr = _enrollment({i: float(g) for i, g in zip(range(6), (1, 4, 2, 5, 3, 0))})
    raw = _ratings(pairs)
    sc = pc.ScorerConfig(capture_threshold=thr)
    sn = pd.DataFrame({"noteId": np.arange(8, dtype=np.int64)})
    out = postprocess_output(sn, raw, enr, sc)
    share = capture_share(raw, enr, sc)
    expected = sorted(int(n) for n, s in share.items() if s >= thr)
    assert out.noteId.tolist() == expected
    # a subset of the input rows, each note at most once
    assert out.noteId.is_unique and set(out.noteId) <= set(sn.noteId)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 10)), min_size=0, max_size=60, unique=True))
def test_filter_input_property_subset_and_group_membership(pairs):
    enr = _enrollment({i: float(g) for i, g in zip(range(8), (1, 4, 2, 5, 3, 0, 13, np.nan))})
    r = _ratings(pairs) if pairs else _ratings([]).astype({"noteId": np.int64})
    nsh = pd.DataFrame({"noteId": np.arange(7, dtype=np.int64)})
    out, nsh_out, rep = filter_input(r, nsh, enr, pc.CORE)
    assert len(out) == rep.after_group_filter <= len(r)
    assert len(nsh_out) == len(nsh)  # no topics → NSH untouched
    ok = in_group(out.raterParticipantId, enr, schema.CORE_GROUPS, True)
    assert ok.all()


# ---------------------------------------------------------------------------- prescoring io
def _write_official_like(tmp_path, participants):
    notes = pd.DataFrame({c: [np.nan] for c in NOTE_MODEL_OUTPUT_COLUMNS})
    notes["noteId"] = [7]
    notes["scorerName"] = ["MFCoreScorer"]
    notes["internalNoteIntercept"] = [0.5]
    raters = pd.DataFrame({c: [np.nan, np.nan] for c in RATER_MODEL_OUTPUT_COLUMNS})
    raters["raterParticipantId"] = [participants[1], participants[0]]
    raters["scorerName"] = ["MFCoreScorer", None]
    raters["aboveHelpfulnessThreshold"] = pd.array([True, None], dtype=object)
    raters.loc[1, ["postSelectionValue", "quasiCliqueValue"]] = [3.0, 1.0]
    notes.to_parquet(tmp_path / "prescoring_note_model_output.parquet")
    raters.to_parquet(tmp_path / "prescoring_rater_model_output.parquet")
    meta = {"metaScorerOutput": {"MFCoreScorer": {
        "globalIntercept": 0.15, "lowDiligenceGlobalIntercept": {
            "firstRound": 1.0, "secondRound": 2.0, "finalRound": 3.0},
        "tagFilteringThresholds": {"notHelpfulOtherAdjustedRatio": 0.1},
        "finalRoundNumRatings": 100, "finalRoundNumNotes": 20, "finalRoundNumUsers": 10},
        "ReputationScorer": {"globalIntercept": None, "lowDiligenceGlobalIntercept": None,
                             "tagFilteringThresholds": None, "finalRoundNumRatings": None,
                             "finalRoundNumNotes": None, "finalRoundNumUsers": None}}}
    (tmp_path / "prescoring_meta.json").write_text(json.dumps(meta))


def test_load_official_prescoring_maps_ids_and_meta(tmp_path):
    participants = pd.Index(["AA", "BB", "CC"])
    _write_official_like(tmp_path, participants)
    p = load_official_prescoring(tmp_path, participants)
    assert p.rater_model_output.raterParticipantId.tolist() == [1, 0]
    m = p.meta["MFCoreScorer"]
    assert m.low_diligence_global_intercept == (1.0, 2.0, 3.0)
    assert m.rating_per_note_ratio == 5.0 and m.rating_per_user_ratio == 10.0
    assert np.isnan(p.meta["ReputationScorer"].global_intercept)
    n, r, meta = p.for_scorer("MFCoreScorer")
    assert len(n) == 1 and len(r) == 1 and meta is m
    fp = p.final_pss()
    assert fp.raterParticipantId.tolist() == [0]  # only rows with both PSS values (spec 05 B.4)
    assert PrescoringMeta.from_json(m.to_json()) == m


def test_load_official_prescoring_missing_file(tmp_path):
    from cnlab.errors import CnlabInputError

    with pytest.raises(CnlabInputError):
        load_official_prescoring(tmp_path)


def test_num_final_round_ratings_counts_raters_in_helpfulness():
    from cnlab.scorers.mf_final import num_final_round_ratings

    r = _ratings([(1, 1), (1, 2), (1, 3), (2, 3)])
    h = pd.DataFrame({"raterParticipantId": np.array([1, 2], dtype=np.int32)})
    out = num_final_round_ratings(r, h)
    assert dict(zip(out.noteId, out.numFinalRoundRatings)) == {1: 2}


def test_known_rater_rows_drops_unknown_participants():
    from cnlab.pipeline.run import known_rater_rows

    pro = pd.DataFrame({"raterParticipantId": np.array([0, -1, 2, -1], dtype=np.int32),
                        "scorerName": ["MFCoreScorer", "MFCoreScorer", None, None]})
    kept, dropped = known_rater_rows(pro)
    assert dropped == 2 and kept.raterParticipantId.tolist() == [0, 2]
    strings = pro.assign(raterParticipantId=["a", "b", "c", "d"])  # string ids: nothing to drop
    assert known_rater_rows(strings)[1] == 0


def test_outputs_restore_ids_as_str():
    import dataclasses

    from cnlab.pipeline.run import OUTPUT_KEYS, ScoringResult

    codes = np.array([1, -1, 0], dtype=np.int32)
    frames = {k: pd.DataFrame({"noteId": np.arange(3, dtype=np.int64)}) for k in OUTPUT_KEYS}
    frames["helpfulness_scores"] = pd.DataFrame({"raterParticipantId": codes})
    frames["aux_note_info"] = frames["aux_note_info"].assign(noteAuthorParticipantId=codes)
    unused = {f.name: None for f in dataclasses.fields(ScoringResult)}
    res = ScoringResult(**{**unused, "frames": frames, "participants": pd.Index(["u0", "u1"])})
    outs = res.outputs()
    for key, col in (("helpfulness_scores", "raterParticipantId"), ("aux_note_info", "noteAuthorParticipantId")):
        assert pd.api.types.is_string_dtype(outs[key][col].dtype)
        assert outs[key][col].tolist()[0::2] == ["u1", "u0"] and pd.isna(outs[key][col][1])
    assert res.frames["helpfulness_scores"]["raterParticipantId"].dtype == np.int32  # frames keep codes
