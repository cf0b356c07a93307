"""Row accounting as an invariant (issue 10, item 2).

Every funnel record satisfies ``rows_in = rows_out + dropped``; the records of one table chain
(each step starts with the rows the previous step of that table kept, the first with the rows
loaded), the last record of each table has as many rows as the frame preprocessing kept, and the
number each step drops is the number derived here, independently, from the mutations injected into
small synthetic datasets (exact duplicates, unlabeled ratings, duplicate note rows, notes missing
from the status history or from the notes file, old not-misleading notes, ratings of unknown
notes).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.io import load
from cnlab.preprocess import PreprocessConfig, preprocess
from cnlab.synthetic import generate

LAUNCH = PreprocessConfig().not_misleading_ui_launch_millis
TABLES = {"ratings": "ratings", "notes": "notes", "status_history": "status_history"}


def _synthetic(n_notes, n_raters, n_ratings, seed):
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "wrote N ratings instead of M" at tiny sizes
        generate(d, n_notes=n_notes, n_raters=n_raters, n_ratings=n_ratings, seed=seed)
        return load(d)


def check_funnel(funnel, dataset, kept) -> dict:
    """The invariants of every funnel record; returns table -> records (in order)."""
    by_table: dict[str, list] = {}
    for rec in funnel:
        assert rec.rows_in == rec.rows_out + rec.dropped, rec
        assert rec.rows_in >= 0 and rec.rows_out >= 0, rec
        by_table.setdefault(rec.table, []).append(rec)
    assert set(by_table) == set(TABLES)
    for table, recs in by_table.items():
        assert recs[0].rows_in == len(getattr(dataset, TABLES[table])), (table, recs[0])
        for prev, cur in zip(recs, recs[1:]):
            assert cur.rows_in == prev.rows_out, (table, prev.step, cur.step)
        assert recs[-1].rows_out == len(getattr(kept, TABLES[table])), (table, recs[-1])
    # the funnel's to_frame (what cnlab score writes as funnel.tsv) says the same
    fr = funnel.to_frame()
    assert (fr["rows_in"] == fr["rows_out"] + fr["dropped"]).all()
    return by_table


@st.composite
def mutated_dataset(draw):
    ds = _synthetic(draw(st.integers(8, 30)), draw(st.integers(5, 25)), draw(st.integers(0, 300)),
                    draw(st.integers(0, 10_000)))
    r, n, h = ds.ratings.copy(), ds.notes.copy(), ds.status_history.copy()
    assert not r.duplicated().any() and not n.duplicated().any()  # the generator's, before mutation
    idx = st.lists(st.integers(0, max(len(r) - 1, 0)), max_size=8) if len(r) else st.just([])
    note_pos = st.lists(st.integers(0, len(n) - 1), max_size=4, unique=True)

    unlabeled = sorted(set(draw(idx)))
    r.loc[unlabeled, "helpful"] = 0
    r.loc[unlabeled, "notHelpful"] = 0
    r.loc[unlabeled, S.HELPFULNESS_LEVEL] = np.nan
    orphan = sorted(set(draw(idx)) - set(unlabeled))  # ratings of notes nobody knows
    r.loc[orphan, S.NOTE_ID] = 10**15 + np.arange(len(orphan))

    old_nm = n[S.NOTE_ID].iloc[draw(note_pos)].tolist()  # NOT_MISLEADING, created before the launch
    m = n[S.NOTE_ID].isin(old_nm)
    n.loc[m, S.CREATED_AT] = LAUNCH - 1000 * (1 + np.arange(int(m.sum())))
    n.loc[m, S.CLASSIFICATION] = S.NOT_MISLEADING
    hm = h[S.NOTE_ID].isin(old_nm)  # the status history agrees with the notes file
    h.loc[hm, S.CREATED_AT] = n.set_index(S.NOTE_ID).loc[h.loc[hm, S.NOTE_ID], S.CREATED_AT].to_numpy()

    no_nsh = n[S.NOTE_ID].iloc[draw(note_pos)].tolist()  # new notes: not yet in the status history
    h = h[~h[S.NOTE_ID].isin(no_nsh)].reset_index(drop=True)
    deleted = n[S.NOTE_ID].iloc[draw(note_pos)].tolist()  # deleted notes: gone from the notes file
    n = n[~n[S.NOTE_ID].isin(deleted)].reset_index(drop=True)

    dup_r = draw(idx)  # exact duplicate rating rows (copies of mutated rows)
    dup_n = draw(st.lists(st.integers(0, max(len(n) - 1, 0)), max_size=4)) if len(n) else []
    r = pd.concat([r, r.iloc[dup_r]], ignore_index=True)
    n = pd.concat([n, n.iloc[dup_n]], ignore_index=True)
    mutated = dataclasses.replace(ds, ratings=r, notes=n, status_history=h)
    plan = dict(unlabeled=unlabeled, orphan=orphan, old_nm=set(old_nm) - set(deleted), no_nsh=set(no_nsh),
                deleted=set(deleted), dup_r=len(dup_r), dup_n=len(dup_n), base=ds)
    return mutated, plan


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_dataset())
def test_preprocess_funnel_accounts_for_every_row(case):
    ds, plan = case
    pre = preprocess(ds)
    by_table = check_funnel(pre.funnel, ds, pre)
    f = pre.funnel
    # each step drops what was injected, derived from the plan rather than from the code's masks
    assert f.step("drop_duplicate_ratings").dropped == plan["dup_r"]
    assert f.step("compute_helpful_num").dropped == len(plan["unlabeled"])
    assert f.step("drop_duplicate_notes").dropped == plan["dup_n"]
    base = plan["base"]
    notes_ids = set(base.notes[S.NOTE_ID]) - plan["deleted"]
    nsh_ids = set(base.status_history[S.NOTE_ID]) - plan["no_nsh"]
    assert f.step("merge_note_info").rows_out == len(notes_ids | nsh_ids)
    assert f.step("merge_note_info").details["notes_added"] == len(notes_ids - nsh_ids) == -f.step(
        "merge_note_info").dropped
    # ratings kept after the labels are known: the misleading filter drops those on old
    # not-misleading notes of the notes file and on notes in neither table
    labeled = base.ratings.drop(index=plan["unlabeled"])
    note = labeled[S.NOTE_ID].where(~labeled.index.isin(plan["orphan"]), -1)
    info = ds.notes.drop_duplicates(S.NOTE_ID).set_index(S.NOTE_ID)
    old_nm = set(info.index[(info[S.CLASSIFICATION] == S.NOT_MISLEADING) & (info[S.CREATED_AT] <= LAUNCH)])
    assert plan["old_nm"] <= old_nm
    gone = note.isin(old_nm) | ~note.isin(notes_ids | nsh_ids)
    assert f.step("filter_misleading_notes").dropped == int(gone.sum())
    assert len(pre.ratings) == len(labeled) - int(gone.sum())
    assert [r.step for r in by_table["ratings"]] == [
        "load", "drop_duplicate_ratings", "compute_helpful_num", "tag_high_volume_raters", "filter_misleading_notes"]


def test_empty_ratings_still_account():
    # no ratings at all: every ratings step is still recorded (0 in, 0 out)
    base = _synthetic(10, 5, 20, 1)
    ds = dataclasses.replace(base, ratings=base.ratings.iloc[:0])
    pre = preprocess(ds)
    recs = check_funnel(pre.funnel, ds, pre)["ratings"]
    assert [r.step for r in recs][3] == "tag_high_volume_raters"
    assert all(r.rows_in == r.rows_out == 0 for r in recs)


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1000), dup=st.integers(0, 40))
def test_pipeline_row_accounting(seed, dup):
    from cnlab.pipeline import ScoringConfig, score

    from cnlab.io import load_sample

    base = load_sample()  # tiny synthetic sets can lack the notes the stable MF init needs
    ds = dataclasses.replace(base, ratings=pd.concat([base.ratings, base.ratings.iloc[:dup]], ignore_index=True))
    res = score(ds, ScoringConfig(seed=seed, pflip="none", pcrh="none", topics="none"))
    check_funnel(res.funnel, ds, res.preprocessed)
    assert res.funnel.step("drop_duplicate_ratings").dropped == dup
    t = res.timings.set_index("stage")
    pre_rec = t.loc["preprocess"]
    assert pre_rec.rows_in == len(ds.ratings) == res.funnel.records[0].rows_in
    assert pre_rec.rows_out == len(res.preprocessed.ratings)
    assert t.loc["PSS coalescing (prescoring)"].rows_in == len(res.preprocessed.ratings)
    assert t.loc["PSS coalescing (prescoring)"].rows_out == len(res.prescoring_ratings)
    assert t.loc["PSS coalescing (final, dropna'd rows)"].rows_out == len(res.final_ratings)
    assert t.loc["combine scorers (merge + coalesce group/topic columns)"].rows_in == len(res.preprocessed.status_history)
    assert t.loc["combine scorers (merge + coalesce group/topic columns)"].rows_out == len(res.frames["scored_notes"])
    assert len(res.frames["aux_note_info"]) == len(res.frames["scored_notes"])
    assert t.loc["note status history"].rows_out == len(res.frames["note_status_history"])
    assert t.loc["contributor scoring"].rows_out == len(res.frames["helpfulness_scores"])
    # every stage that hands rows on is recorded with both counts
    assert t["rows_in"].notna().all() and t["rows_out"].notna().all()
