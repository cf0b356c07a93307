"""cnlab.lab.counterfactual: row removal counted exactly (no scoring), then counterfactual runs on
the bundled sample with the Core scorer (``ScoringConfig()``): a known answer, and properties."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import cnlab
from cnlab import schema as S
from cnlab.lab import Counterfactual, counterfactual, reduce_dataset, select_raters
from cnlab.lab.counterfactuals import REUSED_STAGES

#: With reuse="prescoring" the raters and μ are frozen, so a note none of the dropped raters rated
#: moves only through what all notes share in the final fit: its stopping step and the note
#: regularization weight ρ_n = ratings / notes. Measured on the sample: 0.0023 (11 raters dropped);
#: the same drop with reuse="none" (prescoring refit) moves such notes by up to 0.078.
TOL_UNRATED_NOTE_SHIFT = 0.01


@pytest.fixture(scope="session")
def sample():
    return cnlab.load_sample()


@pytest.fixture(scope="session")
def baseline(sample):
    """The Core-only run of the sample that every counterfactual here starts from."""
    return cnlab.score(sample, cnlab.ScoringConfig())


# -- removal, counted (no scoring) -----------------------------------------------------------------

def test_drop_raters_by_id_code_group_and_activity(sample):
    counts = sample.ratings[S.RATER_ID].value_counts()
    # ties (the sample caps four raters at 350 ratings) go to the smaller participant code
    top = counts.rename("n").rename_axis("code").reset_index().sort_values(["n", "code"], ascending=[False, True])
    top = top.set_index("code")["n"]
    assert (top.iloc[:4] == 350).all()
    codes, what = select_raters(sample, {"top_k_active": 2})
    assert what == "the 2 most active raters"
    assert list(codes) == sorted(top.index[:2])
    reduced, rep = reduce_dataset(sample, drop_raters={"top_k_active": 2})
    assert rep[["step", "table", "rows_before", "removed", "rows_after"]].values.tolist() == [
        ["drop_raters", "ratings", 32_000, int(top.iloc[:2].sum()), 32_000 - int(top.iloc[:2].sum())]]
    assert not reduced.ratings[S.RATER_ID].isin(codes).any()
    assert len(reduced.notes) == len(sample.notes) and reduced.enrollment is sample.enrollment
    # original id strings and codes select the same raters; unknown ids are ignored and said so
    ids = list(sample.participants[codes]) + ["not-a-participant"]
    by_id, what = select_raters(sample, ids)
    assert list(by_id) == list(codes) and "1 unknown ids ignored" in what
    grp, what = select_raters(sample, {"modelingGroup": 13})
    enr = sample.enrollment
    assert set(grp) == set(enr.loc[enr["modelingGroup"] == 13, S.PARTICIPANT_ID])
    both, _ = select_raters(sample, {"modelingGroup": [13, 14], "enrollmentState": "earnedIn"})
    want = enr.loc[enr["modelingGroup"].isin([13, 14]) & (enr["enrollmentState"] == "earnedIn"), S.PARTICIPANT_ID]
    assert set(both) == set(want)
    assert list(select_raters(sample, lambda ds: codes)[0]) == list(codes)
    with pytest.raises(KeyError, match="not a userEnrollment column"):
        select_raters(sample, {"noSuchColumn": 1})
    with pytest.raises(ValueError, match="cannot be combined"):
        select_raters(sample, {"top_k_active": 2, "modelingGroup": 13})
    with pytest.raises(TypeError, match="not a mix"):
        select_raters(sample, [1, "abc"])


def test_every_step_counts_the_rows_it_removes(sample):
    """before_millis, drop_notes, drop_raters, drop_ratings in that order; each counts the rows it
    removes of those left, so the counts add up to the rows that are gone."""
    r, n, h = sample.ratings, sample.notes, sample.status_history
    t = int(np.quantile(r[S.CREATED_AT], 0.9))
    deleted = sorted(set(h[S.NOTE_ID]) - set(n[S.NOTE_ID]))[:1]  # a note only in NSH and ratings
    notes = [int(n[S.NOTE_ID].iloc[0]), int(n[S.NOTE_ID].iloc[1]), *deleted, 12345]
    rater = int(r[S.RATER_ID].iloc[0])
    pairs = r.loc[r[S.RATER_ID] != rater].iloc[[0, 1, 2]][[S.NOTE_ID, S.RATER_ID]]
    pairs = pairs.assign(**{S.RATER_ID: sample.participants[pairs[S.RATER_ID].to_numpy()]})  # id strings
    reduced, rep = reduce_dataset(sample, before_millis=t, drop_notes=notes, drop_raters=[rater],
                                  drop_ratings=pairs)
    rep = rep.set_index(["step", "table"])
    late_r = r[S.CREATED_AT] > t
    assert rep.loc[("before_millis", "ratings"), "removed"] == int(late_r.sum())
    assert rep.loc[("before_millis", "notes"), "removed"] == int((n[S.CREATED_AT] > t).sum())
    assert rep.loc[("before_millis", "status_history"), "removed"] == int((h[S.CREATED_AT] > t).sum())
    left = r[~late_r]
    on_notes = left[S.NOTE_ID].isin(notes)
    assert rep.loc[("drop_notes", "ratings"), "removed"] == int(on_notes.sum())
    assert "(1 not in the dataset)" in rep.loc[("drop_notes", "ratings"), "note"]
    left = left[~on_notes]
    by_rater = left[S.RATER_ID] == rater
    assert rep.loc[("drop_raters", "ratings"), "removed"] == int(by_rater.sum())
    left = left[~by_rater]
    assert rep.loc[("drop_ratings", "ratings"), "removed"] == sum(
        int(((left[S.NOTE_ID] == a) & (sample.participants[left[S.RATER_ID]] == b)).sum())
        for a, b in pairs.itertuples(index=False))
    ratings_rows = rep.xs("ratings", level="table")
    assert int(ratings_rows["removed"].sum()) == len(r) - len(reduced.ratings)
    assert (ratings_rows["rows_before"] - ratings_rows["removed"] == ratings_rows["rows_after"]).all()
    assert not reduced.status_history[S.NOTE_ID].isin(notes).any()
    assert not reduced.ratings[S.NOTE_ID].isin(notes).any()
    assert reduced.ratings[S.CREATED_AT].max() <= t and reduced.notes[S.CREATED_AT].max() <= t


def test_before_millis_clears_locks_set_later_and_masks_drop_rows(sample):
    h = sample.status_history
    lock_ts = h["timestampMillisOfStatusLock"]
    t = int(lock_ts.dropna().median())
    reduced, rep = reduce_dataset(sample, before_millis=t)
    row = rep.set_index("table").loc["status_history_locks"]
    kept = h[h[S.CREATED_AT] <= t]
    late = kept["lockedStatus"].notna() & (kept["timestampMillisOfStatusLock"] > t)
    assert row["removed"] == int(late.sum()) > 0 and row["rows_after"] == len(kept)
    assert reduced.status_history["lockedStatus"].notna().sum() == int(kept["lockedStatus"].notna().sum() - late.sum())
    # a boolean mask: by position (array) or by index (Series)
    mask = np.zeros(len(sample.ratings), dtype=bool)
    mask[[0, 5, 9]] = True
    a, rep_a = reduce_dataset(sample, drop_ratings=mask)
    b, _ = reduce_dataset(sample, drop_ratings=pd.Series(mask, index=sample.ratings.index))
    assert rep_a["removed"].tolist() == [3] and len(a.ratings) == len(b.ratings) == len(sample.ratings) - 3
    with pytest.raises(ValueError, match="mask of shape"):
        reduce_dataset(sample, drop_ratings=mask[:-1])
    with pytest.raises(KeyError, match="noteId and raterParticipantId"):
        reduce_dataset(sample, drop_ratings=pd.DataFrame({S.NOTE_ID: [1]}))
    nothing, rep0 = reduce_dataset(sample)
    assert rep0.empty and len(nothing.ratings) == len(sample.ratings)


def test_arguments_are_checked_before_any_scoring(sample):
    with pytest.raises(ValueError, match="reuse must be one of"):
        counterfactual(sample, reuse="everything")
    with pytest.raises(ValueError, match="reuse='none'"):
        counterfactual(sample, before_millis=1, reuse="prescoring")
    with pytest.raises(ValueError, match="pass dataset"):
        counterfactual()


# -- counterfactual runs on the sample --------------------------------------------------------------

def test_dropping_nothing_changes_nothing(sample, baseline):
    """Same data, same seed: reuse="none" recomputes every stage and gets the same run; so does
    reuse="prescoring" (the official final scoring from the same prescoring)."""
    fresh = counterfactual(sample, baseline=baseline, reuse="none", seed=42)
    assert isinstance(fresh, Counterfactual) and fresh.removed.empty and fresh.n_removed == {}
    assert fresh.diff.is_empty and fresh.diff.n_changed == 0
    assert fresh.result.recomputed == REUSED_STAGES and fresh.result.reused == ()
    assert fresh.epoch_millis == baseline.epoch_millis
    kept = counterfactual(sample, baseline=baseline)  # reuse="prescoring" by default
    assert kept.reuse == "prescoring" and kept.diff.is_empty
    assert kept.result.reused == REUSED_STAGES and kept.result.recomputed == ()
    assert kept.result.prescoring is baseline.prescoring
    assert kept.result.confidence.pflip is baseline.confidence.pflip
    assert not any("prescoring:" in s for s in kept.result.timings["stage"])
    text = kept.summary()
    assert "removed:\n  nothing" in text and "finalRatingStatus changed on 0 notes" in text


def test_baseline_must_match_config_and_dataset(sample, baseline):
    with pytest.raises(ValueError, match="rescore"):
        counterfactual(sample, baseline=baseline, seed=7)
    other = dataclasses.replace(sample)
    with pytest.raises(ValueError, match="another Dataset"):
        counterfactual(other, baseline=baseline)


def _crh_note(sample, baseline) -> int:
    """The CRH note decided by the Core model, not locked, with the fewest ratings."""
    sn = baseline.frames["scored_notes"]
    locked = sample.status_history.set_index(S.NOTE_ID)["lockedStatus"]
    crh = sn[(sn["finalRatingStatus"] == S.CRH) & (sn["decidedBy"] == "CoreModel (v1.1)")]
    crh = crh[locked.reindex(crh[S.NOTE_ID]).isna().to_numpy()]
    return int(crh.sort_values([S.NUM_RATINGS, S.NOTE_ID])[S.NOTE_ID].iloc[0])


def test_removing_the_raters_who_made_a_note_helpful_makes_it_nmr(sample, baseline):
    """Known answer: drop every rater who rated the note HELPFUL. The note keeps fewer ratings
    than Core needs (min_ratings_needed = 5), so Core's first rule, InitialNMR, is its last: the
    note is NEEDS_MORE_RATINGS. Notes none of those raters rated keep their ratings and move by
    no more than TOL_UNRATED_NOTE_SHIFT."""
    note = _crh_note(sample, baseline)
    r = sample.ratings
    mine = r[r[S.NOTE_ID] == note]
    helpful = mine.loc[mine["helpfulnessLevel"] == "HELPFUL", S.RATER_ID].unique()
    rest = int((~mine[S.RATER_ID].isin(helpful)).sum())
    assert rest < 5  # the premise of the known answer
    ids = list(sample.participants[helpful])  # original id strings
    cf = counterfactual(sample, baseline=baseline, drop_raters=ids)
    assert cf.n_removed == {"ratings": int(r[S.RATER_ID].isin(helpful).sum())}
    row = cf.diff.notes.set_index(S.NOTE_ID).loc[note]
    assert (row["finalRatingStatus_old"], row["finalRatingStatus_new"]) == (S.CRH, S.NMR)
    assert row["decidingRule_new"] == "InitialNMR (v1.0)" and row["decidedBy_new"] == "CoreModel (v1.1)"
    assert row["numRatings_new"] == rest
    assert note in cf.diff.changed()[S.NOTE_ID].tolist()
    assert cf.diff.transitions().loc[S.CRH, S.NMR] >= 1
    # notes the dropped raters did not rate: same ratings, (almost) the same fit
    rated = set(r.loc[r[S.RATER_ID].isin(helpful), S.NOTE_ID])
    d = cf.diff.notes
    un = d[(d["presence"] == "both") & ~d[S.NOTE_ID].isin(rated)]
    assert len(un) > 100
    assert (un["numRatings_shift"] == 0).all()
    assert un["coreNoteIntercept_shift"].abs().max() < TOL_UNRATED_NOTE_SHIFT
    # the removed raters keep their prescoring parameters: contributor scores still list them
    hs = cf.result.frames["helpfulness_scores"]
    assert set(helpful) <= set(hs[S.RATER_ID])


def test_as_of_an_earlier_time(sample, baseline):
    """before_millis = the published status history's timestamp: what the download held then.
    Notes created later are gone from the run, "now" is that time, every stage is recomputed, and
    the published-status comparison finds no rating the published run could not have seen."""
    from cnlab.lab import compare_with_published

    t = int(sample.status_history["timestampMillisOfCurrentStatus"].max())
    cf = counterfactual(sample, baseline=baseline, before_millis=t)
    assert cf.reuse == "none" and cf.epoch_millis == t and cf.result.epoch_millis == t
    late = set(sample.notes.loc[sample.notes[S.CREATED_AT] > t, S.NOTE_ID])
    assert late and set(cf.diff.notes.loc[cf.diff.notes["presence"] == "old only", S.NOTE_ID]) == late
    assert cf.n_removed["ratings"] == int((sample.ratings[S.CREATED_AT] > t).sum())
    assert cf.result.dataset is cf.dataset and cf.dataset.ratings[S.CREATED_AT].max() <= t
    pub_now = compare_with_published(baseline, sample)
    pub_then = compare_with_published(cf.result, sample)
    assert pub_now.table["ratingsAfterPublished"].sum() > 0
    assert pub_then.table["ratingsAfterPublished"].sum() == 0
    assert pub_then.counts()["time_of_scoring"] == 0
    # the late notes are not scored as of then; the sample publishes no status for them either
    reasons = pub_then.table.set_index(S.NOTE_ID).loc[sorted(late), "reason"]
    assert (reasons == "not_published").all()
