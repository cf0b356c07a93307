"""Index-array versions of the final call's joins equal the joined frames they replace: the
incorrect-tag aggregates (spec 03 §6) and the pseudo-raters' rating counts (spec 01 §10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.mf.pseudo_raters import _rating_counts
from cnlab.scoring import incorrect_filter as IF


@st.composite
def tagged_ratings(draw):
    n = draw(st.integers(0, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    r = pd.DataFrame({S.NOTE_ID: rng.integers(100, 108, n).astype(np.int64),
                      S.RATER_ID: rng.integers(0, 12, n).astype(np.int32)})
    bits = (rng.integers(0, 2, (n, len(S.NOT_HELPFUL_TAGS))) * (rng.random((n, 1)) < 0.6)).astype(np.int64)
    packed = (bits << np.arange(len(S.NOT_HELPFUL_TAGS))).sum(axis=1).astype(np.uint16)
    if draw(st.booleans()):
        r[S.NOT_HELPFUL_TAG_BITS] = packed
    else:
        for k, tag in enumerate(S.NOT_HELPFUL_TAGS):
            r[tag] = bits[:, k].astype(np.int8)
    # params for some notes and raters only (the inner joins drop the others)
    notes = np.array(sorted(rng.choice(np.arange(100, 108), draw(st.integers(0, 8)), replace=False)), np.int64)
    raters = np.array(sorted(rng.choice(np.arange(12), draw(st.integers(0, 12)), replace=False)), np.int32)
    npar = pd.DataFrame({S.NOTE_ID: notes, S.NOTE_FACTOR1: rng.normal(0, 0.5, len(notes)).astype(np.float32)})
    total = rng.integers(0, 9, len(raters))
    rp = pd.DataFrame({S.RATER_ID: raters, S.RATER_FACTOR1: rng.normal(0, 0.5, len(raters)).astype(np.float32),
                       "incorrectTagRatingsMadeByRater": rng.integers(0, 9, len(raters)) % (total + 1),
                       "totalRatingsMadeByRater": total})
    return r, npar, rp


@settings(max_examples=150, deadline=None)
@given(tagged_ratings())
def test_incorrect_aggregates_on_index_arrays_equal_the_joined_frame(case):
    r, npar, rp = case
    lean = IF.incorrect_aggregates(r, npar, rp)
    assert IF._lean_1d(r, npar, rp, IF.INTERVAL_HALF_WIDTH, IF.FACTOR_CLIP, several_axes=False) is not None
    original = IF._lean_1d
    IF._lean_1d = lambda *a, **k: None  # the joined-frame path
    try:
        joined = IF.incorrect_aggregates(r, npar, rp)
    finally:
        IF._lean_1d = original
    pd.testing.assert_frame_equal(lean, joined, check_exact=True)


@settings(max_examples=150, deadline=None)
@given(tagged_ratings(), st.booleans())
def test_pseudo_rater_rating_counts_equal_the_joined_frame(case, duplicate_rater):
    r, _npar, rp = case
    rp = rp[[S.RATER_ID, S.RATER_FACTOR1]]
    if duplicate_rater and len(rp):
        rp = pd.concat([rp, rp.iloc[:1]], ignore_index=True)  # a join repeats that rater's ratings
    notes = pd.unique(r[S.NOTE_ID])
    got = _rating_counts(r, rp, notes)
    rf = r[[S.NOTE_ID, S.RATER_ID]].merge(rp, on=S.RATER_ID)
    fac = rf[S.RATER_FACTOR1].to_numpy(np.float64)
    cnt = pd.DataFrame({S.NOTE_ID: rf[S.NOTE_ID].to_numpy(), "all": 1, "neg": (fac < 0).astype(np.int64),
                        "pos": (fac > 0).astype(np.int64)}).groupby(S.NOTE_ID).sum().reindex(notes)
    for col, want in (("ratingCount_all", "all"), ("ratingCount_neg_fac", "neg"), ("ratingCount_pos_fac", "pos")):
        np.testing.assert_array_equal(got[col], cnt[want].to_numpy())
        assert got[col].dtype == cnt[want].dtype, col
