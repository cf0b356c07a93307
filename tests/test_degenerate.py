"""Degenerate data runs with a warning instead of an abort (issue 10): a subset too small for the
topic model, the official scorer's abort kept behind a setting."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import cnlab
from cnlab.models.topics import TopicAccuracyError, seed_label_topics
from cnlab.pipeline import ScoringConfig

REPO = Path(__file__).resolve().parents[1]
#: The first 200 notes (by noteId) of the bundled sample: a subset a user might cut.
SUBSET_NOTES = 200


def _subset(ds, n: int):
    ids = set(ds.notes["noteId"].drop_duplicates().sort_values().iloc[:n])

    def keep(f):
        return f[f["noteId"].isin(ids)].reset_index(drop=True)

    return dataclasses.replace(ds, notes=keep(ds.notes), ratings=keep(ds.ratings),
                               status_history=keep(ds.status_history))


@pytest.fixture(scope="module")
def subset():
    return _subset(cnlab.load_sample(), SUBSET_NOTES)


def test_seed_label_topics_hand_case():
    notes = pd.DataFrame({"noteId": [1, 2, 3, 4], "tweetId": [10, 10, 11, 12],
                          "summary": ["Gaza ceasefire", "more context", "Ukraine and Gaza", "a recipe"]})
    out = seed_label_topics(notes)
    # post 10 matches one topic (its two notes get it); post 11 matches two (conflict: none); 12 none
    assert out.to_dict("list") == {"noteId": [1, 2], "noteTopic": ["GazaConflict", "GazaConflict"]}


def test_small_subset_falls_back_to_seed_labels_with_a_warning(subset, caplog):
    with caplog.at_level("WARNING", logger="cnlab"):
        res = cnlab.score(subset, ScoringConfig(seed=42))
    assert any("falling back to seed-label topics" in r.getMessage() for r in caplog.records)
    expected = seed_label_topics(res.preprocessed.notes)
    assert res.note_topics.reset_index(drop=True).equals(expected.reset_index(drop=True))
    sn = res.outputs()["scored_notes"]
    assert len(sn) == SUBSET_NOTES and sn["finalRatingStatus"].notna().all()


def test_topic_fallback_raise_reproduces_the_official_abort(subset):
    with pytest.raises(TopicAccuracyError, match="official run would abort"):
        cnlab.score(subset, ScoringConfig(seed=42, topic_fallback="raise"))


@pytest.mark.slow
def test_cli_whole_roster_on_a_200_note_subset_writes_every_file(tmp_path, subset):
    """The issue's case: a 200-note cut of the sample through `cnlab score` (whole roster)."""
    data = tmp_path / "data"
    data.mkdir()
    sample = REPO / "cnlab" / "data" / "sample"
    ids = set(subset.notes["noteId"])
    for name in ("notes", "ratings", "noteStatusHistory"):
        f = pd.read_csv(sample / f"{name}-00000.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
        f = f[f["noteId"].astype("int64").isin(ids)]
        f.to_csv(data / f"{name}-00000.tsv", sep="\t", index=False)
    e = pd.read_csv(sample / "userEnrollment-00000.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
    e.to_csv(data / "userEnrollment-00000.tsv", sep="\t", index=False)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "cnlab.cli", "score", str(data), "-o", str(out), "--quiet",
                        "--no-parquet"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    for name in ("scored_notes", "helpfulness_scores", "note_status_history", "aux_note_info"):
        frame = pd.read_csv(out / f"{name}.tsv", sep="\t")
        assert len(frame) > 0, name
    assert len(pd.read_csv(out / "scored_notes.tsv", sep="\t")) == SUBSET_NOTES
    manifest = json.loads((out / "cnlab-outputs.json").read_text())
    assert "funnel.tsv" in json.dumps(manifest)


def _only_notes(ds, ids):
    def keep(f):
        return f[f["noteId"].isin(ids)].reset_index(drop=True)

    return dataclasses.replace(ds, notes=keep(ds.notes), ratings=keep(ds.ratings),
                               status_history=keep(ds.status_history))


@pytest.mark.parametrize("case", ["no ratings", "one note", "no status history"])
def test_degenerate_datasets_are_scored(case):
    """Every scorer's slice empty (no ratings), a single note, no status history: the four frames
    come out with one row per note and a status each, instead of an error."""
    ds = cnlab.load_sample()
    if case == "no ratings":
        d = dataclasses.replace(ds, ratings=ds.ratings.iloc[:0])
    elif case == "one note":
        d = _only_notes(ds, {int(ds.notes["noteId"].iloc[0])})
    else:
        d = dataclasses.replace(ds, status_history=ds.status_history.iloc[:0])
    res = cnlab.score(d, ScoringConfig(seed=42))
    out = res.outputs()
    sn = out["scored_notes"]
    # one row per note of the (preprocessed) status history, which gains a row for every new note
    n_notes = res.preprocessed.status_history["noteId"].nunique()
    assert n_notes >= d.notes["noteId"].nunique() > 0
    assert len(sn) == n_notes and sn["finalRatingStatus"].notna().all()
    assert len(out["note_status_history"]) == n_notes and len(out["aux_note_info"]) == n_notes
    if case != "no status history":
        assert (sn["finalRatingStatus"] == "NEEDS_MORE_RATINGS").all()  # nothing can be rated without ratings
    # no labels for the confidence models (no status history, or nothing rated): pflip and PCRH
    # are left unfitted with a warning where the official fits raise
    assert not res.confidence.pflip.fitted and not res.confidence.pcrh.fitted


def _degenerate(ds, case):
    r = ds.ratings
    if case == "all ratings identical":
        levels = r["helpfulnessLevel"].cat.categories
        same = r.assign(helpfulnessLevel=pd.Categorical(["HELPFUL"] * len(r), categories=levels), helpful=1,
                        notHelpful=0)
        same["helpful"] = same["helpful"].astype(r["helpful"].dtype)
        same["notHelpful"] = same["notHelpful"].astype(r["notHelpful"].dtype)
        return dataclasses.replace(ds, ratings=same)
    if case == "no enrollment rows":
        return dataclasses.replace(ds, enrollment=ds.enrollment.iloc[:0])
    top = r["raterParticipantId"].value_counts().index[0]
    return dataclasses.replace(ds, ratings=r[r["raterParticipantId"] == top].reset_index(drop=True))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["all ratings identical", "no enrollment rows", "one rater"])
def test_degenerate_ratings_are_scored_by_the_whole_roster(case, caplog):
    """Every scorer of the official roster on data the official scorer aborts on (no enrollment:
    no stable-init notes) or cannot learn from (one rater, one rating value): a status per note,
    with a warning where cnlab departs from the official abort."""
    d = _degenerate(cnlab.load_sample(), case)
    with caplog.at_level("WARNING", logger="cnlab"):
        res = cnlab.score(d, ScoringConfig.official(seed=42))
    sn = res.outputs()["scored_notes"]
    assert len(sn) == res.preprocessed.status_history["noteId"].nunique()
    assert sn["finalRatingStatus"].notna().all()
    if case == "one rater":  # one rater can never meet the minimum ratings per note
        assert (sn["finalRatingStatus"] == "NEEDS_MORE_RATINGS").all()
    if case == "no enrollment rows":
        assert any("stable_init_fallback='raise'" in r.message for r in caplog.records)
    if case == "all ratings identical":
        # every rating HELPFUL: no rating can be "valid" against a round-1 status (spec 03), so the
        # helpfulness filter has nothing to learn from; the scorers stop with empty outputs and a
        # warning where the official MF aborts on zero ratings
        assert any(("no valid ratings" in r.message or "no final-round ratings" in r.message)
                   and r.message.startswith("MFCoreScorer") for r in caplog.records)


@pytest.mark.slow
def test_topic_without_a_seed_match_leaves_its_scorer_empty(caplog):
    """No note mentions a topic's seed terms (MessiRonaldo): the topic model assigns it nowhere,
    its scorer's slice is empty, it warns and writes nothing, and the rest of the roster scores."""
    ds = cnlab.load_sample()
    summary = ds.notes["summary"].astype(str)
    assert summary.str.contains(r"messi\b|ronaldo", case=False, regex=True).sum() > 0
    notes = ds.notes.assign(summary=summary.str.replace(r"(?i)messi\b|ronaldo", "player", regex=True))
    with caplog.at_level("WARNING", logger="cnlab"):
        res = cnlab.score(dataclasses.replace(ds, notes=notes), ScoringConfig.official(seed=42))
    assert "MessiRonaldo" not in set(res.note_topics["noteTopic"].astype(str))
    assert any(r.message.startswith("MFTopicScorer_MessiRonaldo: no ratings in scope") for r in caplog.records)
    sn = res.outputs()["scored_notes"]
    assert sn["finalRatingStatus"].notna().all() and sn["topicNoteIntercept"].notna().any()
