"""Preprocessing tests: hand-computed cases, properties, and counts parsed from the official log."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.errors import CnlabInputError
from cnlab.io import load
from cnlab.preprocess import (
    Funnel,
    PreprocessConfig,
    compute_helpful_num,
    filter_misleading_notes,
    filter_ratings,
    high_volume_raters,
    merge_note_info,
    preprocess,
    drop_duplicate_notes,
    drop_duplicate_ratings,
    tag_high_volume_raters,
)

#: the official log prints thresholds with full float64 precision; numpy's and pandas'
#: linear-interpolation formulas differ in the last bits
THRESHOLD_RTOL = 1e-12

DAY = 86_400_000


def _r(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {
        S.NOTE_ID: np.arange(n, dtype=np.int64),
        S.RATER_ID: np.arange(n, dtype=np.int32),
        S.CREATED_AT: np.full(n, 10**12, dtype=np.int64),
        "helpful": np.zeros(n, np.int8),
        "notHelpful": np.zeros(n, np.int8),
        S.HELPFULNESS_LEVEL: pd.Categorical([S.HELPFUL] * n, categories=list(S.HELPFULNESS_LEVELS)),
    }
    base.update(cols)
    return pd.DataFrame(base)


# ---------------------------------------------------------------------------
# tier 1
# ---------------------------------------------------------------------------
def test_helpful_num_order_of_assignment():
    levels = pd.Categorical([None, None, None, S.NOT_HELPFUL, S.SOMEWHAT_HELPFUL, S.HELPFUL, S.NOT_HELPFUL, None],
                            categories=list(S.HELPFULNESS_LEVELS))
    r = _r(helpful=np.array([1, 0, 1, 1, 0, 0, 0, 0], np.int8),
           notHelpful=np.array([0, 1, 1, 0, 1, 1, 0, 0], np.int8),
           helpfulnessLevel=levels)
    out = compute_helpful_num(r)
    # row 2: helpful then notHelpful -> 0; row 3: level NOT_HELPFUL overrides helpful=1; row 7 dropped
    assert out[S.HELPFUL_NUM].tolist() == [1.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.0]
    assert out[S.HELPFUL_NUM].dtype == np.float32
    assert out[S.NOTE_ID].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert len(compute_helpful_num(r, drop_unlabeled=False)) == 8


def test_helpful_num_nullable_flags():
    r = _r(helpful=pd.array([1, None], dtype="Int8"), notHelpful=pd.array([None, None], dtype="Int8"),
           helpfulnessLevel=pd.Categorical([None, None], categories=list(S.HELPFULNESS_LEVELS)))
    assert compute_helpful_num(r)[S.HELPFUL_NUM].tolist() == [1.0]


def test_drop_duplicate_ratings():
    r = _r(noteId=np.array([1, 1, 2], np.int64), raterParticipantId=np.array([5, 5, 5], np.int32))
    out = drop_duplicate_ratings(r)
    assert len(out) == 2 and out.index.tolist() == [0, 1]
    r2 = r.copy()
    r2.loc[1, S.CREATED_AT] = 5
    with pytest.raises(CnlabInputError, match="conflicting") as ei:
        drop_duplicate_ratings(r2)
    assert "noteId=1" in str(ei.value)


def test_high_volume_small_data_all_false():
    r = _r(noteId=np.arange(10, dtype=np.int64))
    assert not tag_high_volume_raters(r)[S.HIGH_VOLUME_RATER].any()
    assert not high_volume_raters(r).applied


def test_high_volume_hand_computed():
    # 300 notes; rater 0 rates 50 in the last 7 days; raters 1..299 rate 1 each
    n_other = 299
    notes = np.concatenate([np.arange(50), np.arange(n_other)]).astype(np.int64)
    raters = np.concatenate([np.zeros(50), np.arange(1, n_other + 1)]).astype(np.int32)
    t0 = 100 * DAY
    times = np.concatenate([np.full(50, t0), np.full(n_other, t0 - 10 * DAY)]).astype(np.int64)
    r = _r(noteId=notes, raterParticipantId=raters, createdAtMillis=times)
    info = high_volume_raters(r)
    # 7d window: only rater 0 has ratings (count 50) -> quantile 50 -> nobody is strictly above
    assert info.thresholds[7] == 50.0 and len(info.raters_per_window[7]) == 0
    # 28d window: counts = [50] + [1]*299 -> 0.999 quantile = 1 + 0.999*... interpolation
    counts = np.array([50] + [1] * n_other, dtype=float)
    assert info.thresholds[28] == pytest.approx(np.quantile(counts, 0.999))
    assert info.raters.tolist() == [0]
    flags = tag_high_volume_raters(r)[S.HIGH_VOLUME_RATER]
    assert flags.sum() == 50 and flags.iloc[:50].all()


def test_high_volume_window_is_strict():
    # a rating exactly at the cutoff is outside the window
    t_max = 100 * DAY
    r = _r(noteId=np.arange(300, dtype=np.int64), raterParticipantId=np.zeros(300, np.int32),
           createdAtMillis=np.full(300, t_max - 28 * DAY, dtype=np.int64))
    r.loc[0, S.CREATED_AT] = t_max
    info = high_volume_raters(r)
    assert info.thresholds[28] == 1.0


def _nsh(note_ids, created, authors):
    h = pd.DataFrame({c: np.nan for c in S.NOTE_STATUS_HISTORY_COLUMNS}, index=range(len(note_ids)))
    h[S.NOTE_ID] = np.asarray(note_ids, np.int64)
    h[S.CREATED_AT] = np.asarray(created, np.int64)
    h[S.AUTHOR_ID] = np.asarray(authors, np.int32)
    return h


def _notes(note_ids, created, authors, classes):
    return pd.DataFrame({S.NOTE_ID: np.asarray(note_ids, np.int64), S.CREATED_AT: np.asarray(created, np.int64),
                         S.AUTHOR_ID: np.asarray(authors, np.int32),
                         S.CLASSIFICATION: pd.Categorical(classes, categories=list(S.CLASSIFICATIONS)),
                         S.TWEET_ID: np.zeros(len(note_ids), np.int64)})


LAUNCH = PreprocessConfig().not_misleading_ui_launch_millis


def test_merge_note_info_outer_sorted():
    nsh = _nsh([30, 10], [3, 1], [3, 1])  # 30 deleted (not in notes)
    notes = _notes([20, 10], [2, 1], [2, 1], [S.MISLEADING, S.NOT_MISLEADING])
    m = merge_note_info(nsh, notes)
    assert m[S.NOTE_ID].tolist() == [10, 20, 30]
    assert m[S.CREATED_AT].tolist() == [1, 2, 3] and m[S.AUTHOR_ID].tolist() == [1, 2, 3]
    assert m[S.CLASSIFICATION].astype(object).tolist()[:2] == [S.NOT_MISLEADING, S.MISLEADING]
    assert pd.isna(m[S.CLASSIFICATION].iloc[2]) and m.attrs["notes_added"] == 1
    assert m[S.AUTHOR_ID].dtype == np.int32 and m[S.CREATED_AT].dtype == np.int64


def test_merge_note_info_mismatch_raises():
    with pytest.raises(CnlabInputError, match="createdAtMillis"):
        merge_note_info(_nsh([1], [5], [1]), _notes([1], [6], [1], [S.MISLEADING]))


def test_filter_misleading_notes_cases():
    notes = _notes([1, 2, 3], [LAUNCH, LAUNCH + 1, 0], [1, 1, 1], [S.NOT_MISLEADING, S.NOT_MISLEADING, S.MISLEADING])
    nsh = merge_note_info(_nsh([1, 2, 3, 4], [LAUNCH, LAUNCH + 1, 0, 0], [1, 1, 1, 1]), notes)
    r = _r(noteId=np.array([1, 2, 3, 4, 5], np.int64))
    out = filter_misleading_notes(r, nsh)
    # 1: old not-misleading (created == launch) dropped; 2 kept; 3 misleading; 4 deleted in NSH; 5 unknown dropped
    assert out[S.NOTE_ID].tolist() == [2, 3, 4]


def test_drop_duplicate_notes():
    n = _notes([1, 1, 2], [1, 1, 2], [1, 1, 1], [S.MISLEADING] * 3)
    assert drop_duplicate_notes(n)[S.NOTE_ID].tolist() == [1, 2]
    n.loc[1, S.CREATED_AT] = 9
    with pytest.raises(CnlabInputError):
        drop_duplicate_notes(n)


def test_filter_ratings_three_passes_not_converged():
    # N1{r1,r2,r3}, N2{r1,r4}, N3{r2,r3}; min 2 / 2.  pass 2 drops r4, pass 3 drops N2,
    # leaving r1 with one rating: the official filter does not iterate, so r1 stays.
    rows = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 4), (3, 2), (3, 3)]
    r = pd.DataFrame(rows, columns=[S.NOTE_ID, S.RATER_ID])
    out = filter_ratings(r, min_ratings_per_rater=2, min_raters_per_note=2)
    assert list(map(tuple, out[[S.NOTE_ID, S.RATER_ID]].to_numpy())) == [(1, 1), (1, 2), (1, 3), (3, 2), (3, 3)]
    assert out.index.tolist() == list(range(5))
    # final-scoring form: no rater rule
    out = filter_ratings(r, min_ratings_per_rater=0, min_raters_per_note=3)
    assert out[S.NOTE_ID].tolist() == [1, 1, 1]
    assert filter_ratings(r, min_ratings_per_rater=0, min_raters_per_note=0) is r


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=60), st.integers(0, 4), st.integers(0, 4))
def test_filter_ratings_properties(pairs, min_rater, min_note):
    r = pd.DataFrame(pairs, columns=[S.NOTE_ID, S.RATER_ID])
    out = filter_ratings(r, min_ratings_per_rater=min_rater, min_raters_per_note=min_note)
    assert len(out) <= len(r)
    if len(out):
        assert out[S.NOTE_ID].value_counts().min() >= min_note  # pass 3 guarantees the note rule
    # idempotent on the note rule alone
    again = filter_ratings(out, min_ratings_per_rater=0, min_raters_per_note=min_note)
    assert len(again) == len(out)


def test_funnel_rendering():
    f = Funnel().add("s", "a", 10, 8, "two gone").add("s", "b", 8, 8, table="notes")
    assert f.to_frame()["dropped"].tolist() == [2, 0]
    assert "two gone" in str(f) and len(f) == 2 and f.step("b").table == "notes"


# ---------------------------------------------------------------------------
# tier 3: counts parsed from the official prescoring log
# ---------------------------------------------------------------------------
def _log(small_dir) -> str:
    with gzip.open(small_dir / "official-all" / "log_prescoring.txt.gz", "rt") as fh:
        return fh.read()


def _num(pattern, text, cast=int):
    m = re.search(pattern, text)
    assert m, pattern
    return [cast(g) for g in m.groups()] if len(m.groups()) > 1 else cast(m.group(1))


@pytest.mark.parity
def test_preprocess_counts_match_official_log(small_dir):
    log = _log(small_dir)
    # the log is that of pass 2: the status input is pass2_status
    ds = load(small_dir / "inputs", status=small_dir / "pass2_status.tsv.gz")
    pre = preprocess(ds)
    f = pre.funnel

    assert len(ds.participants) == _num(r"Factorized (\d+) unique participant IDs", log)
    hv = f.step("tag_high_volume_raters")
    assert hv.details["total_raters"] == _num(r"Total raters: (\d+)", log)
    assert hv.rows_in == _num(r"Identifying high volume raters\n.*Total ratings: (\d+)", log)
    for days in (7, 28):
        thr = _num(rf"High volume threshold for {days} days: ([\d.]+)", log, float)
        assert hv.details["thresholds"][days] == pytest.approx(thr, rel=THRESHOLD_RTOL)
        assert hv.details["raters_per_window"][days] == _num(rf"High volume raters for {days} days: (\d+)", log)
    assert hv.details["n_raters"] == _num(r"Total high volume raters: (\d+)", log)
    assert hv.details["n_ratings"] == _num(r"Total ratings from high volume raters: (\d+)", log)
    assert f.step("merge_note_info").details["notes_added"] == _num(r"total notes added to noteStatusHistory: (\d+)", log)

    mis = f.step("filter_misleading_notes")
    b = mis.details["breakdown"]
    assert [b.ratings_in, b.notes_in] == _num(r"Filter misleading notes, starting with (\d+) ratings on (\d+) notes", log)
    assert list(b.misleading) == _num(r"Keeping (\d+) ratings on (\d+) misleading notes", log)
    assert list(b.deleted_in_nsh) == _num(r"Keeping (\d+) ratings on (\d+) deleted notes", log)
    assert list(b.not_misleading_old) == _num(r"Removing (\d+) ratings on (\d+) older notes", log)
    assert list(b.deleted_not_in_nsh) == _num(r"Removing (\d+) ratings on (\d+) notes that were deleted", log)
    n, notes, raters = _num(r"Num Ratings: (\d+), Num Unique Notes Rated: (\d+), Num Unique Raters: (\d+)", log)
    assert [mis.rows_out, mis.details["notes_out"], mis.details["raters_out"]] == [n, notes, raters]
    assert len(pre.ratings) == n


@pytest.mark.parity
def test_preprocess_outputs_contract(small_dir):
    ds = load(small_dir / "inputs", status=small_dir / "pass2_status.tsv.gz")
    pre = preprocess(ds)
    assert pre.ratings[S.HELPFUL_NUM].dtype == np.float32 and pre.ratings[S.HIGH_VOLUME_RATER].dtype == bool
    assert S.CLASSIFICATION in pre.status_history and pre.status_history[S.NOTE_ID].is_monotonic_increasing
    assert pre.notes[S.TWEET_ID].map(type).eq(str).all()
    assert ds.ratings.shape[1] == pre.ratings.shape[1] - 2  # input untouched
    assert "filter_misleading_notes" in pre.summary()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.sampled_from([3, 5, 10**18 + 7, 2 * 10**18]),
                          st.booleans()), max_size=60))
def test_rows_sharing_a_key_is_pandas_duplicated(rows):
    """The sort-based key check = ``DataFrame.duplicated(subset, keep=False)``, for participant
    codes (small ints), note ids (huge ints) and string ids with missing values."""
    from cnlab.preprocess import rows_sharing_a_key

    codes = np.array([r[0] for r in rows], dtype=np.int32)
    notes = np.array([r[1] for r in rows], dtype=np.int64)
    strings = pd.Series([None if r[2] else f"id{r[0]}" for r in rows], dtype="str")
    for a in (pd.Series(codes), strings):
        frame = pd.DataFrame({"a": a, "b": notes})
        expected = frame.duplicated(subset=["a", "b"], keep=False).to_numpy()
        np.testing.assert_array_equal(rows_sharing_a_key(frame["a"], frame["b"]), expected)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([None, S.MISLEADING, S.NOT_MISLEADING]),
                          st.sampled_from([None, 1_600_000_000_000, 1_700_000_000_000])), max_size=6),
       st.lists(st.tuples(st.integers(0, 8), st.integers(0, 4)), max_size=40))
def test_misleading_breakdown_is_the_merge_oracle(history, ratings):
    """Every count of the breakdown, the kept rows and the funnel's distinct notes equal a plain
    merge of each rating with its note's row (notes 6..8 are absent from the history)."""
    from cnlab.preprocess import misleading_breakdown, n_distinct

    launch = 1664755200000
    nsh = pd.DataFrame({S.NOTE_ID: np.arange(len(history), dtype=np.int64),
                        S.CLASSIFICATION: pd.Series([h[0] for h in history], dtype="str"),
                        S.CREATED_AT: pd.array([h[1] for h in history], dtype="Int64")})
    r = pd.DataFrame({S.NOTE_ID: np.array([x[0] for x in ratings], dtype=np.int64),
                      S.RATER_ID: np.array([x[1] for x in ratings], dtype=np.int32)})
    m = r.merge(nsh, on=S.NOTE_ID, how="left", indicator=True)
    found = (m["_merge"] == "both").to_numpy()
    cls = m[S.CLASSIFICATION].to_numpy(dtype=object)
    created = m[S.CREATED_AT].to_numpy(dtype=np.float64, na_value=np.nan)
    mis = found & (cls == S.MISLEADING)
    nm = found & (cls == S.NOT_MISLEADING)
    deleted = ~(mis | nm)
    in_nsh = found & ~np.isnan(created)
    expected = {"misleading": mis, "deleted_in_nsh": deleted & in_nsh, "not_misleading_new": nm & (created > launch),
                "not_misleading_old": nm & ~(created > launch), "deleted_not_in_nsh": deleted & ~in_nsh}
    b = misleading_breakdown(r, nsh, not_misleading_ui_launch_millis=launch)
    notes = r[S.NOTE_ID].to_numpy()
    assert b.ratings_in == len(r) and b.notes_in == len(set(notes))
    for key, mask in expected.items():
        assert getattr(b, key) == (int(mask.sum()), len(set(notes[mask]))), key
    keep = expected["misleading"] | expected["deleted_in_nsh"] | expected["not_misleading_new"]
    out = filter_misleading_notes(r, nsh, not_misleading_ui_launch_millis=launch)
    pd.testing.assert_frame_equal(out, r.loc[keep].reset_index(drop=True))
    assert n_distinct(out[S.RATER_ID]) == len(set(out[S.RATER_ID]))
