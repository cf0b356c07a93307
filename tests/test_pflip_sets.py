"""The pflip rating sets built a chunk of scored notes at a time (``pflip_features.rating_set_chunks``)
against the merge-based construction of spec 06 §A.6 (every rating on the scored notes' posts ⋈
rater factor, :func:`peer_ratings`, the training cutoff by a merge), and ``note_info`` /
``training_frame`` unchanged by the chunk size. Parity of the whole model with the official run:
``tests/test_confidence_parity.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.models import pflip
from cnlab.models import pflip_features as F

NID, RID, T = S.NOTE_ID, S.RATER_ID, S.CREATED_AT
LEVELS = [S.HELPFUL, S.SOMEWHAT_HELPFUL, S.NOT_HELPFUL]


def _data(rng: np.random.Generator, n_notes: int, n_ratings: int, n_posts: int):
    notes = pd.DataFrame({
        NID: rng.permutation(np.arange(100, 100 + n_notes)).astype(np.int64),
        S.TWEET_ID: rng.integers(1, n_posts + 1, n_notes).astype(np.int64),
        S.CLASSIFICATION: rng.choice(np.array([S.MISLEADING, S.NOT_MISLEADING, None], dtype=object), n_notes,
                                     p=[0.5, 0.4, 0.1]),
    })
    # ratings also on notes missing from the notes table (ids ≥ 100 + n_notes)
    ratings = pd.DataFrame({
        NID: rng.integers(100, 100 + n_notes + 3, n_ratings).astype(np.int64),
        RID: rng.integers(0, 40, n_ratings).astype(np.int32),
        T: rng.integers(0, 10_000, n_ratings).astype(np.int64),
        S.HELPFULNESS_LEVEL: pd.Categorical(rng.choice(LEVELS, n_ratings), categories=LEVELS),
        S.HELPFUL_TAG_BITS: rng.integers(0, 2**10, n_ratings).astype(np.uint16),
        S.NOT_HELPFUL_TAG_BITS: rng.integers(0, 2**12, n_ratings).astype(np.uint16),
    })
    factors = pd.DataFrame({RID: np.arange(0, 40, 2, dtype=np.int32)})  # odd raters: no factor
    factors[F.RATER_FACTOR] = rng.normal(0, 0.5, len(factors)).astype(np.float32)
    return notes, ratings, factors


def _merged_sets(ratings, notes, scored, factors, cutoff):
    """The construction the chunks replace: whole-frame merges."""
    adjacent = notes.loc[notes[S.TWEET_ID].isin(scored[S.TWEET_ID]), NID]
    r = S.unpack_tags(ratings[ratings[NID].isin(adjacent)])
    r = r[[NID, RID, T, S.HELPFULNESS_LEVEL, *S.ALL_TAGS]].merge(factors, on=RID, how="left")
    local = r[r[NID].isin(scored[NID])].reset_index(drop=True)
    peer = pflip.peer_ratings(r, notes, scored)
    sets = {F.LOCAL: local,
            F.PEER_MISLEADING: peer[peer[S.CLASSIFICATION] == S.MISLEADING],
            F.PEER_NON_MISLEADING: peer[peer[S.CLASSIFICATION] == S.NOT_MISLEADING]}
    if cutoff is not None:
        cut = cutoff.rename(F.CUTOFF).rename_axis(NID).reset_index()
        for k, v in sets.items():
            m = v.merge(cut, on=NID, how="inner")
            sets[k] = m[m[T] <= m[F.CUTOFF]]
    cols = [NID, RID, T, S.HELPFULNESS_LEVEL, *S.ALL_TAGS, F.RATER_FACTOR]
    # a scored note's rows in the merge's order: a stable sort by the scored note
    return {k: v[cols].sort_values(NID, kind="stable").reset_index(drop=True) for k, v in sets.items()}


def _chunked_sets(ratings, notes, scored, factors, cutoff, chunk_entries):
    got = {k: [] for k in (F.LOCAL, F.PEER_MISLEADING, F.PEER_NON_MISLEADING)}
    seen = []
    for ids, sets in F.rating_set_chunks(ratings, notes, scored, factors, cutoff=cutoff,
                                         chunk_entries=chunk_entries):
        seen.append(ids)
        for k, v in sets.items():
            assert set(v[NID]) <= set(ids)  # a chunk's rows are its own notes'
            got[k].append(v)
    return np.concatenate(seen), {k: pd.concat(v, ignore_index=True).sort_values(NID, kind="stable")
                                  .reset_index(drop=True) for k, v in got.items()}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_notes=st.integers(1, 30), n_ratings=st.integers(0, 300),
       n_posts=st.integers(1, 12), chunk=st.sampled_from([1, 7, 50, 1 << 22]),
       training=st.booleans())
def test_chunked_sets_equal_the_merged_ones(seed, n_notes, n_ratings, n_posts, chunk, training):
    rng = np.random.default_rng(seed)
    notes, ratings, factors = _data(rng, n_notes, n_ratings, n_posts)
    scored = notes.sample(frac=0.6, random_state=int(rng.integers(2**31)))[[NID, S.TWEET_ID]]
    cutoff = (pd.Series(rng.integers(0, 10_000, len(scored)), index=scored[NID].to_numpy())
              if training else None)
    expected = _merged_sets(ratings, notes, scored, factors, cutoff)
    ids, got = _chunked_sets(ratings, notes, scored, factors, cutoff, chunk)
    assert ids.tolist() == scored[NID].tolist()  # every scored note once, in order
    for k in expected:
        pd.testing.assert_frame_equal(got[k], expected[k], check_dtype=False, check_categorical=False)
        assert got[k][F.RATER_FACTOR].dtype == np.float32  # the prescoring dtype is kept


def test_a_chunk_is_bounded_by_its_entries():
    rng = np.random.default_rng(3)
    notes, ratings, factors = _data(rng, 40, 2_000, 15)
    scored = notes[[NID, S.TWEET_ID]]
    sizes = []
    for ids, sets in F.rating_set_chunks(ratings, notes, scored, factors, chunk_entries=300):
        n = sum(len(v) for v in sets.values())
        sizes.append((len(ids), n))
    assert len(sizes) > 3
    # above the bound only with one note (a note is never split)
    assert all(n <= 300 or k == 1 for k, n in sizes)


def test_no_scored_note_gives_one_empty_chunk():
    rng = np.random.default_rng(4)
    notes, ratings, factors = _data(rng, 5, 20, 2)
    chunks = list(F.rating_set_chunks(ratings, notes, notes.iloc[:0][[NID, S.TWEET_ID]], factors))
    assert len(chunks) == 1 and len(chunks[0][0]) == 0
    assert all(v.empty and F.RATER_FACTOR in v.columns for v in chunks[0][1].values())


def test_rows_by_note_groups_in_row_order(monkeypatch):
    monkeypatch.setattr(F, "_GROUP_PIECE", 5)  # several pieces: the counting sort's cursors
    rng = np.random.default_rng(5)
    col = rng.integers(0, 9, 57)
    wanted = np.array([7, 2, 4, 11])
    g = F._RowsByNote(col, wanted)
    for i, n in enumerate(wanted):
        assert g.rows[g.start[i]:g.start[i + 1]].tolist() == np.flatnonzero(col == n).tolist()
    rows, owner = g.gather(np.array([2, 0, 2]))
    assert rows.tolist() == [*np.flatnonzero(col == 4), *np.flatnonzero(col == 7), *np.flatnonzero(col == 4)]
    assert owner.tolist() == [0] * (col == 4).sum() + [1] * (col == 7).sum() + [2] * (col == 4).sum()


@pytest.fixture(scope="module")
def sample_inputs():
    """The bundled sample's inputs of a pflip fit (notes, ratings, status history, rater factors)."""
    import cnlab.io as cio

    ds = cio.load_sample()
    rng = np.random.default_rng(0)
    raters = pd.unique(ds.ratings[RID].to_numpy())
    factors = pd.DataFrame({RID: raters, F.RATER_FACTOR: rng.normal(0, 0.5, len(raters)).astype(np.float32)})
    return ds.notes, ds.ratings, ds.status_history, factors


@pytest.mark.parametrize("mode", [None, "MIN", "MAX"])
def test_note_info_does_not_depend_on_the_chunk_size(sample_inputs, monkeypatch, mode):
    notes, ratings, nsh, factors = sample_inputs
    rep0: dict = {}
    whole = F.note_info(notes, ratings, nsh, factors, mode=mode, report=rep0)
    entries = sum(v for k, v in rep0.items() if k.startswith("ratings_"))
    # about a dozen chunks (each has a fixed cost: thousands would take minutes)
    monkeypatch.setattr(F, "SET_CHUNK_ENTRIES", max(97, entries // 12))
    chunks = []
    real = F.rating_set_chunks
    monkeypatch.setattr(F, "rating_set_chunks", lambda *a, **k: (chunks.append(c) or c for c in real(*a, **k)))
    rep: dict = {}
    small = F.note_info(notes, ratings, nsh, factors, mode=mode, report=rep)
    assert len(chunks) >= 6
    assert len(whole) > 0 and rep == rep0
    assert list(small.columns) == list(whole.columns)
    for c in whole.columns:
        if whole[c].dtype == object and len(whole) and isinstance(whole[c].iloc[0], np.ndarray):
            assert [x.tolist() for x in small[c]] == [x.tolist() for x in whole[c]], c
        else:
            pd.testing.assert_series_equal(small[c], whole[c], check_exact=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 200), mode=st.sampled_from(["MIN", "MAX"]),
       k=st.integers(1, 6))
def test_scoring_cutoffs_equal_the_groupby_formulation(seed, n, mode, k):
    """The rating floor (min of the k-th and the last rating time) by one sort of two arrays, against
    pandas' sort + groupby max / nth (spec 06 §A.5)."""
    rng = np.random.default_rng(seed)
    notes = np.arange(1, 9)
    nsh = pd.DataFrame({NID: notes,
                        F._NSH_FIRST_STAB: np.where(rng.random(8) < 0.5, rng.integers(0, 5_000_000, 8), np.nan),
                        F._NSH_FIRST_NON_NMR_TS: rng.integers(0, 5_000_000, 8).astype(float),
                        F._NSH_FIRST_NON_NMR: rng.choice(np.array([S.CRH, S.CRNH], dtype=object), 8)})
    r = pd.DataFrame({NID: rng.integers(1, 11, n), T: rng.integers(0, 3_000_000, n)})
    got = F.scoring_cutoffs(nsh, r, mode, min_ratings=k).set_index(NID)[F.CUTOFF]
    # reference
    stab = nsh[F._NSH_FIRST_STAB].to_numpy(float)
    scope = ~np.isnan(stab) | (nsh[F._NSH_FIRST_NON_NMR] == S.CRH).to_numpy()
    both = np.c_[stab, nsh[F._NSH_FIRST_NON_NMR_TS].to_numpy(float)][scope]
    base = (np.nanmin if mode == "MIN" else np.nanmax)(both, axis=1).astype(np.int64) - 15 * 60_000
    cut = pd.Series(base, index=nsh[NID].to_numpy()[scope])
    t = r[r[NID].isin(cut.index)].sort_values([NID, T], kind="stable")
    g = t.groupby(NID)[T]
    nth = g.nth(k - 1)
    nth = pd.Series(nth.to_numpy(), index=t.loc[nth.index, NID].to_numpy())
    floor = pd.concat([g.max(), nth.reindex(g.max().index)], axis=1).min(axis=1).astype(np.int64)
    want = np.maximum(cut.reindex(floor.index), floor).astype(np.int64)
    assert got.sort_index().to_dict() == want.sort_index().to_dict()


def test_no_rater_factor_at_all_gives_missing_factors():
    """No prescoring rater output (a degenerate dataset): every rating's factor is missing, as the
    left merge gave."""
    rng = np.random.default_rng(6)
    notes, ratings, factors = _data(rng, 6, 40, 2)
    empty = factors.iloc[:0]
    expected = _merged_sets(ratings, notes, notes[[NID, S.TWEET_ID]], empty, None)
    _, got = _chunked_sets(ratings, notes, notes[[NID, S.TWEET_ID]], empty, None, 1 << 22)
    for k in expected:
        assert got[k][F.RATER_FACTOR].isna().all() and len(got[k]) == len(expected[k])
        pd.testing.assert_frame_equal(got[k], expected[k], check_dtype=False, check_categorical=False)
