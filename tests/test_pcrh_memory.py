"""PCRH in bounded memory (spec 06 §B.4): the fit copies only the ratings its checkpoints read, and
the pinned histogram bins are computed a column at a time — with the same results as the
whole-frame formulation, which these tests keep as the reference.

Tier 1: ``up_to_rank`` by hand (doctests). Tier 2 (hypothesis): the cut keeps every rating any
checkpoint reads; the legacy bins equal the matrix formulation. Tier 3: the training frame on the
bundled sample equals the one built from every rating.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab._compat.sklearn102_hist_binning import LegacyHistBinning
from cnlab.models import pcrh


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6)), min_size=1, max_size=40),
       st.integers(1, 6))
def test_the_cut_keeps_every_rating_a_checkpoint_reads(pairs, n_max):
    df = pd.DataFrame(pairs, columns=["note", "t"]).sort_values(["note", "t"], kind="stable")
    note, t = df["note"].to_numpy(), df["t"].to_numpy()
    rank = df.groupby("note").cumcount().to_numpy() + 1
    keep = pcrh.up_to_rank(note, t, rank, n_max)
    size = df.groupby("note")["t"].transform("size").to_numpy()
    for n in range(1, n_max + 1):
        enough = size >= n
        first = enough & (rank <= n)
        nth = pd.Series(t[first]).groupby(note[first]).max()
        by_time = enough & (t <= nth.reindex(note).to_numpy(dtype=np.float64))
        assert not (first & ~keep).any()          # the first n ratings
        assert not (by_time & ~keep).any()        # every rating up to the n-th one's time (ties)
    # and nothing beyond the n_max-th rating's time of a note that has n_max ratings
    at = pd.Series(t[rank == n_max]).groupby(note[rank == n_max]).max()
    limit = at.reindex(note).to_numpy(dtype=np.float64)
    assert np.array_equal(keep, np.isnan(limit) | (t <= limit))
    # a note keeps at least min(its ratings, n_max): the checkpoints' "enough ratings" test is unchanged
    kept = pd.Series(keep).groupby(note).sum()
    assert (kept >= np.minimum(pd.Series(size).groupby(note).first(), n_max)).all()


def _reference_bins(x, y, seed, fraction):
    """The whole-matrix formulation: split the matrix, stack all codes, unique per column."""
    from sklearn.model_selection import train_test_split

    s = np.random.RandomState(seed).randint(np.iinfo(np.uint32).max, dtype="u8")
    train = train_test_split(x, stratify=y, test_size=fraction, random_state=s)[0] if fraction else x
    pct = np.linspace(0, 100, num=256)[1:-1]
    thr = []
    for j in range(x.shape[1]):
        d = np.unique(train[:, j])
        m = (d[:-1] + d[1:]) * 0.5 if len(d) <= 255 else np.percentile(train[:, j], pct, method="midpoint")
        thr.append(np.minimum(m, np.finfo(np.float64).max))
    codes = np.column_stack([np.searchsorted(t, train[:, j], side="left")
                             for j, t in enumerate(thr)]).astype(np.float64)
    return thr, [np.unique(c) for c in codes.T]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.0, 0.1]), st.sampled_from([3, 300]),
       st.booleans())
def test_legacy_bins_equal_the_matrix_formulation(seed, fraction, distinct, fortran):
    rng = np.random.default_rng(seed)
    n = 400
    x = rng.integers(0, distinct, size=(n, 5)).astype(np.float64) + rng.normal(0, 1e-3, (n, 5)) * (distinct > 3)
    x = np.asfortranarray(x) if fortran else np.ascontiguousarray(x)
    y = (rng.random(n) < 0.3).astype(int)
    b = LegacyHistBinning(x, y, seed, fraction)
    thr, seen = _reference_bins(x, y, seed, fraction)
    assert all(np.array_equal(a, r) for a, r in zip(b.thresholds, thr))
    assert all(np.array_equal(a, r) and a.dtype == r.dtype for a, r in zip(b.seen, seen))
    c = b._codes(x)
    assert np.isfortran(c) == np.isfortran(x)
    ref = np.column_stack([np.searchsorted(t, x[:, j], side="left") for j, t in enumerate(thr)]).astype(np.float64)
    assert np.array_equal(c, ref)


@pytest.fixture(scope="module")
def sample_inputs():
    import cnlab
    from cnlab.preprocess import preprocess

    ds = cnlab.load_sample()
    pre = preprocess(ds)
    rs = np.random.RandomState(1)
    ids = np.unique(pre.ratings[S.RATER_ID])
    pro = pd.DataFrame({S.RATER_ID: ids, S.RATER_FACTOR1: rs.randn(len(ids)) * 0.5,
                        "internalFirstRoundRaterFactor1": np.nan, "scorerName": "MFCoreScorer"})
    return pre, pro, ds.enrollment


def test_training_frame_equals_the_one_from_every_rating(sample_inputs):
    pre, pro, enrollment = sample_inputs
    cfg = pcrh.PCRHConfig(min_notes_per_n=1, training_cutoff_millis=0)
    m = pcrh.PCRHModel(cfg).fit(pre.notes, pre.ratings, pre.status_history, pro, enrollment=enrollment)
    assert m.training is not None and len(m.training) > 0
    assert m.report["training_ratings_read"] < m.report["training_ratings"]  # the cut did cut

    # reference: every rating of the recent notes, tags unpacked, ranked (the formulation before)
    nid = S.NOTE_ID
    r = pcrh.filter_ratings_by_group(pre.ratings, enrollment, cfg.groups())
    r = S.unpack_tags(r, pcrh.TAGS)[[nid, S.RATER_ID, S.CREATED_AT, S.HELPFULNESS_LEVEL, *pcrh.TAGS]]
    recent = pre.notes.loc[pre.notes[S.CREATED_AT].to_numpy() > cfg.training_cutoff_millis, nid]
    rr = r[r[nid].isin(recent)].sort_values([nid, S.CREATED_AT], kind="stable")
    rr = rr.assign(_rank=rr.groupby(nid).cumcount().to_numpy() + 1)
    lookup, scored = pcrh.rater_factor_lookup(pro, cfg.model_name)
    labels = pd.DataFrame({nid: pre.status_history[nid].to_numpy(),
                           "is_crh": (pre.status_history["currentStatus"].astype(object) == S.CRH)
                           .to_numpy().astype(np.int64)})
    frames = [pcrh.training_rows(n, rr, pre.status_history, lookup, scored, labels,
                                 exclude_already_decided=cfg.exclude_already_decided, min_notes=1)
              for n in cfg.cascade]
    ref = pd.concat([f for f in frames if f is not None], ignore_index=True)
    pd.testing.assert_frame_equal(m.training.reset_index(drop=True), ref, check_exact=True)


def test_predict_reads_only_the_eligible_notes(sample_inputs):
    pre, pro, enrollment = sample_inputs
    cfg = pcrh.PCRHConfig(min_notes_per_n=1, training_cutoff_millis=0)
    m = pcrh.PCRHModel(cfg).fit(pre.notes, pre.ratings, pre.status_history, pro, enrollment=enrollment)
    assert m.fitted
    got = m.predict(pre.notes, pre.ratings, pre.status_history, pro, enrollment=enrollment)
    # reference: the features of the eligible notes from the full, unpacked frame
    nid = S.NOTE_ID
    r = pcrh.filter_ratings_by_group(pre.ratings, enrollment, cfg.groups())
    counts = r.groupby(nid).size()
    eligible = counts[(counts >= min(cfg.cascade)) & (counts <= cfg.max_ratings)]
    assert set(got[nid]) <= set(eligible.index) and len(got) > 0
    assert got[nid].is_unique


def test_lean_fit_is_the_same_model(sample_inputs):
    pre, pro, enrollment = sample_inputs
    cfg = pcrh.PCRHConfig(min_notes_per_n=1, training_cutoff_millis=0)
    args = (pre.notes, pre.ratings, pre.status_history, pro)
    full = pcrh.PCRHModel(cfg).fit(*args, enrollment=enrollment, seed=3)
    lean = pcrh.PCRHModel(cfg).fit(*args, enrollment=enrollment, seed=3, keep_training=False)
    assert lean.training is None and full.training is not None
    assert lean.feature_columns == full.feature_columns and lean.report == full.report
    pd.testing.assert_frame_equal(lean.predict(*args, enrollment=enrollment),
                                  full.predict(*args, enrollment=enrollment), check_exact=True)


def test_codes_in_place_equal_the_new_array():
    rng = np.random.default_rng(5)
    x = np.asfortranarray(rng.normal(size=(300, 4)))
    b = LegacyHistBinning(x, (rng.random(300) < 0.4).astype(int), 1, 0.1)
    new = b.transform(x)
    same = x.copy(order="F")
    assert b.transform(same, out=same) is same
    assert np.array_equal(same, new)


# ------------------------------------------------------------------ note chunks (cnlab.models.pcrh_matrix)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=0, max_size=80), st.integers(1, 12), st.integers(0, 2**16))
def test_note_chunks_cover_every_selected_note_in_bounded_chunks(ids, max_rows, mask_seed):
    note = np.array(ids, dtype=np.int64)
    rows = np.random.default_rng(mask_seed).random(len(note)) < 0.8
    chunks = pcrh.note_chunks(note, rows, max_rows)
    sel = note[rows]
    if len(sel) == 0:
        assert chunks == []
        return
    his = [hi for _, hi in chunks]
    assert all(lo <= hi for lo, hi in chunks) and all(a[1] < b[0] for a, b in zip(chunks, chunks[1:]))
    where = [[i for i, (lo, hi) in enumerate(chunks) if lo <= v <= hi] for v in sel]
    assert all(len(w) == 1 for w in where)  # every selected rating in exactly one chunk
    sizes = np.bincount([w[0] for w in where], minlength=len(chunks))
    for i, (lo, hi) in enumerate(chunks):
        one_note = len(np.unique(sel[(sel >= lo) & (sel <= hi)])) == 1
        assert sizes[i] <= max_rows or one_note  # a note with more ratings is a chunk alone
        assert sizes[i] > 0
    assert his[-1] == sel.max() and chunks[0][0] == sel.min()


#: Ratings a chunk in the chunked-fit tests: a few chunks of the bundled sample (a smaller chunk
#: adds fixed costs per chunk and checkpoint, not cases).
CHUNK = 2500


@pytest.mark.parametrize("keep_training", [True, False])
def test_chunked_fit_is_the_whole_frame_fit(sample_inputs, keep_training, tmp_path):
    """Notes taken a few hundred ratings at a time (blocks in memory, or on disk for a lean fit):
    the same pooled frame, columns, counts and predictions as one chunk."""
    pre, pro, enrollment = sample_inputs
    cfg = pcrh.PCRHConfig(min_notes_per_n=1, training_cutoff_millis=0)
    args = (pre.notes, pre.ratings, pre.status_history, pro)
    whole = pcrh.PCRHModel(cfg).fit(*args, enrollment=enrollment, seed=3)
    assert whole.report["note_chunks"] == 1
    small = dataclasses.replace(cfg, chunk_ratings=CHUNK)
    calls = []
    chunked = pcrh.PCRHModel(small).fit(*args, enrollment=enrollment, seed=3, keep_training=keep_training,
                                        spill_dir=tmp_path, ratings_read=lambda: calls.append(1))
    assert chunked.report["note_chunks"] >= 3
    assert calls == [1]  # told once that the ratings are no longer read
    assert list(tmp_path.iterdir()) == []  # the spilled blocks are removed
    assert chunked.feature_columns == whole.feature_columns
    drop = {"note_chunks"}
    assert {k: v for k, v in chunked.report.items() if k not in drop} == \
        {k: v for k, v in whole.report.items() if k not in drop}
    if keep_training:
        pd.testing.assert_frame_equal(chunked.training, whole.training, check_exact=True,
                                      check_dtype=False)
    pd.testing.assert_frame_equal(chunked.predict(*args, enrollment=enrollment),
                                  whole.predict(*args, enrollment=enrollment), check_exact=True)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.1, None]), st.booleans())
def test_featurewise_matrix_fits_the_whole_matrix_model(seed, fraction, legacy):
    """Scaler, bins and boosting fitted a feature at a time with the boosting's split passed in:
    the model of the whole-matrix formulation (scaler on the matrix, the boosting's own split)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import StandardScaler

    from cnlab.models.pcrh_matrix import TrainingBlocks, fit_scaled_boosting

    rng = np.random.default_rng(seed)
    n = 2000
    cols = [c for c in pcrh.feature_template() if c.startswith(pcrh.ALL_PREFIX)][:6]
    frame = pd.DataFrame({c: rng.normal(size=n) * rng.uniform(0.1, 50) for c in cols})
    frame[cols[1]] = rng.integers(0, 4, n).astype(float)
    frame.loc[rng.random(n) < 0.1, cols[2]] = np.nan
    frame["is_crh"] = (frame[cols[0]] + rng.normal(0, 1, n) > 0.5).astype(np.int64)
    frame.insert(0, S.NOTE_ID, np.arange(n))
    blocks = TrainingBlocks(pcrh.feature_template())
    blocks.add(8, frame.iloc[:1000].reset_index(drop=True))
    blocks.add(8, frame.iloc[1000:].reset_index(drop=True))
    make = lambda: HistGradientBoostingClassifier(max_iter=8, max_depth=3, random_state=seed,  # noqa: E731
                                                  early_stopping=True, validation_fraction=fraction)
    model, scaler, binning = fit_scaled_boosting(
        blocks, cols, frame["is_crh"].to_numpy(), random_state=seed, validation_fraction=fraction,
        legacy_binning=legacy, make_model=make, fit_model=lambda m, x, y, **v: m.fit(x, y, **v))
    x = np.asfortranarray(frame[cols].fillna(0).to_numpy(dtype=np.float64))
    ref_scaler = StandardScaler().fit(x)
    xs = ref_scaler.transform(x, copy=True)
    for a in ("mean_", "var_", "scale_"):
        assert np.array_equal(getattr(scaler, a), getattr(ref_scaler, a))
    ref_bins = LegacyHistBinning(xs, frame["is_crh"].to_numpy(), seed, fraction or 0.0) if legacy else None
    xb = xs if ref_bins is None else ref_bins.transform(xs)
    ref = make().fit(xb, frame["is_crh"].to_numpy())
    probe = scaler.transform(x)
    probe = probe if binning is None else binning.transform(probe)
    assert np.array_equal(model.predict_proba(probe), ref.predict_proba(xb))


def test_boosting_threads_give_the_same_model(sample_inputs):
    """The boosting's OpenMP threads (the pipeline gives it the machine's cores when nothing runs
    beside it) do not change the trees: the same predictions, bit for bit, as one thread."""
    pre, pro, enrollment = sample_inputs
    cfg = pcrh.PCRHConfig(min_notes_per_n=1, training_cutoff_millis=0)
    args = (pre.notes, pre.ratings, pre.status_history, pro)
    one = pcrh.PCRHModel(cfg).fit(*args, enrollment=enrollment, seed=3, keep_training=False)
    two = pcrh.PCRHModel(cfg).fit(*args, enrollment=enrollment, seed=3, keep_training=False, threads=2)
    assert one.fitted and one.report == two.report
    pd.testing.assert_frame_equal(two.predict(*args, enrollment=enrollment),
                                  one.predict(*args, enrollment=enrollment), check_exact=True)
    with pytest.raises(ValueError, match="threads=0"):
        pcrh.PCRHModel(cfg).fit(*args, enrollment=enrollment, threads=0)


def test_histogram_boosting_is_the_same_on_any_thread_count():
    """What the claim above rests on, on enough rows for every parallel loop to split (rows,
    features, leaves): scikit-learn's boosting with PCRH's settings and early stopping gives the
    same raw scores on 1 and 3 threads."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(11)
    x = rng.normal(size=(60_000, 24))
    y = (x[:, :4].sum(axis=1) + x[:, 5] * x[:, 6] + rng.normal(size=len(x)) > 0).astype(int)
    cfg = pcrh.PCRHConfig()
    scores = []
    for t in (1, 3):
        m = HistGradientBoostingClassifier(max_iter=25, max_depth=cfg.max_depth, learning_rate=cfg.learning_rate,
                                           random_state=5, early_stopping=True,
                                           n_iter_no_change=cfg.n_iter_no_change,
                                           validation_fraction=cfg.validation_fraction)
        with threadpool_limits(t):
            m.fit(x, y)
            scores.append(m.decision_function(x))
    assert np.array_equal(scores[0], scores[1])
