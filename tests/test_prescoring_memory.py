"""The prescoring's memory-lean steps give the same frames as the straightforward ones.

Each reference below is the plain frame computation the lean step replaced (copy the whole frame,
unpack every tag, group a frame of all count columns at once); the lean step must equal it
exactly (values, dtypes, column order, index).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.scorers import mf_config
from cnlab.preprocess import filter_ratings
from cnlab.scorers.mf_prescoring import PRESCORING_RATING_COLUMNS, prefilter, prepare_ratings
from cnlab.scorers.slicing import filter_input, filter_input_rows
from cnlab.scoring.note_stats import MILLIS_PER_DAY, compute_note_stats
from cnlab.scoring.tag_filter import note_tag_aggregates, rating_weights

NOW = 100 * MILLIS_PER_DAY


# ---------------------------------------------------------------------------------------------
# references: the frame computations the lean code replaced
# ---------------------------------------------------------------------------------------------
def ref_prepare(ratings: pd.DataFrame) -> pd.DataFrame:
    r = S.unpack_tags(ratings, S.ALL_TAGS) if (
        S.HELPFUL_TAG_BITS in ratings.columns or S.NOT_HELPFUL_TAG_BITS in ratings.columns) else ratings
    cols = [c for c in PRESCORING_RATING_COLUMNS if c in r.columns]
    extra = [c for c in (S.HIGH_VOLUME_RATER, S.CORRELATED_RATER) if c in r.columns]
    return r[cols + extra]


def ref_filter(ratings, nsh, enrollment, scorer, note_topics):
    """Successive boolean-mask copies of the whole frame."""
    from cnlab.scorers.slicing import _topic_note_ids, in_group, notes_of_topic

    r = ratings
    if scorer.topic is not None:
        ids = notes_of_topic(note_topics, scorer.topic)
        r = r[r[S.NOTE_ID].isin(ids)]
        nsh = nsh[nsh[S.NOTE_ID].isin(ids)]
    if scorer.topic_scope == "exclude_all":
        ids = _topic_note_ids(note_topics)
        if len(ids):
            r = r[~r[S.NOTE_ID].isin(ids)]
            nsh = nsh[~nsh[S.NOTE_ID].isin(ids)]
    if scorer.included_groups is not None:
        mask = in_group(r[S.RATER_ID], enrollment, scorer.included_groups, scorer.include_unassigned)
        if scorer.strict_inclusion and scorer.capture_threshold is not None:
            share = pd.Series(mask, index=r.index).groupby(r[S.NOTE_ID]).transform("mean")
            mask = mask & (share.to_numpy() >= scorer.capture_threshold)
        r = r[mask]
    return r, nsh


def ref_note_sums(ratings: pd.DataFrame, epoch_millis: int) -> pd.DataFrame:
    r = S.unpack_tags(ratings, S.ALL_TAGS)
    g = pd.DataFrame({S.NOTE_ID: r[S.NOTE_ID].to_numpy()})
    g[S.NUM_RATINGS] = 1
    for tag in S.ALL_TAGS:
        g[tag] = r[tag].to_numpy(dtype=np.int64, na_value=0)
    if S.RATING_SOURCE in r.columns:
        g["numPopulationSampledRatings"] = (
            r[S.RATING_SOURCE].astype(object) == S.SOURCE_POPULATION_SAMPLED).to_numpy(dtype=np.int64)
    else:
        g["numPopulationSampledRatings"] = 0
    g["numRatingsLast28"] = (r[S.CREATED_AT].to_numpy() > epoch_millis - 28 * MILLIS_PER_DAY).astype(np.int64)
    return g.groupby(S.NOTE_ID, sort=True).sum().reset_index()


def ref_tag_aggregates(ratings, note_params, rater_params, factor_rule="norm") -> pd.DataFrame:
    r = S.unpack_tags(ratings[[c for c in ratings.columns if c in
                               (S.NOTE_ID, S.RATER_ID, S.NOT_HELPFUL_TAG_BITS, *S.NOT_HELPFUL_TAGS)]],
                      S.NOT_HELPFUL_TAGS)
    df = rating_weights(r, note_params, rater_params, factor_rule=factor_rule)
    w = df["ratingWeight"].to_numpy()
    data = {S.NOTE_ID: df[S.NOTE_ID].to_numpy(), "ratingWeight": w}
    for tag in S.NOT_HELPFUL_TAGS:
        data[f"{tag}Adjusted"] = df[tag].to_numpy(dtype=np.float64, na_value=0.0) * w
    sums = pd.DataFrame(data).groupby(S.NOTE_ID, sort=True).sum()
    for tag in S.NOT_HELPFUL_TAGS:
        sums[f"{tag}AdjustedRatio"] = sums[f"{tag}Adjusted"] / sums["ratingWeight"]
    return sums.reset_index()


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def make_ratings(n: int, n_notes: int, n_raters: int, seed: int, *, packed: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = pd.DataFrame({
        S.NOTE_ID: rng.integers(1000, 1000 + n_notes, n).astype(np.int64),
        S.RATER_ID: rng.integers(0, n_raters, n).astype(np.int32),
        S.CREATED_AT: rng.integers(60, 100, n).astype(np.int64) * MILLIS_PER_DAY,
        S.HELPFULNESS_LEVEL: pd.Categorical(rng.choice(["HELPFUL", "NOT_HELPFUL", "SOMEWHAT_HELPFUL"], n)),
        S.RATING_SOURCE: pd.Categorical(rng.choice(["DEFAULT", S.SOURCE_POPULATION_SAMPLED], n)),
        S.HELPFUL_NUM: rng.choice(np.array([0.0, 0.5, 1.0], dtype=np.float32), n),
        S.HIGH_VOLUME_RATER: rng.random(n) < 0.1,
        "postSelectionValue": rng.random(n),  # a column prescoring does not keep
    })
    if packed:
        r[S.HELPFUL_TAG_BITS] = rng.integers(0, 2 ** len(S.HELPFUL_TAGS), n).astype(np.uint16)
        r[S.NOT_HELPFUL_TAG_BITS] = rng.integers(0, 2 ** len(S.NOT_HELPFUL_TAGS), n).astype(np.uint16)
    else:
        for tag in S.ALL_TAGS:
            r[tag] = (rng.random(n) < 0.2).astype(np.int8)
    r.index = pd.RangeIndex(n) * 3 + 7  # index labels that are not positions
    return r


def make_enrollment(n_raters: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(n_raters - 3)  # the last 3 raters are not enrolled
    groups = rng.choice(np.array([1.0, 2.0, 13.0, 33.0, np.nan]), len(ids))
    groups[:10] = 33.0  # raters 0..9: the only raters of notes 1050.. (make_slice_ratings)
    return pd.DataFrame({S.PARTICIPANT_ID: ids.astype(np.int32), S.MODELING_GROUP: groups})


# ---------------------------------------------------------------------------------------------
# tier 1: hand-built cases with a known answer
# ---------------------------------------------------------------------------------------------
def test_prepare_rows_known_answer():
    r = pd.DataFrame({S.NOTE_ID: [5, 6, 7], S.RATER_ID: [1, 2, 3],
                      S.HELPFUL_TAG_BITS: np.array([0, 1, 3], np.uint16),
                      S.NOT_HELPFUL_TAG_BITS: np.array([2, 0, 0], np.uint16), "other": [0.1, 0.2, 0.3]},
                     index=[10, 20, 30])
    out = prepare_ratings(r, np.array([0, 2]))
    assert out.index.tolist() == [10, 30]
    assert "other" not in out.columns
    assert out[S.HELPFUL_TAGS[0]].tolist() == [0, 1] and out[S.HELPFUL_TAGS[1]].tolist() == [0, 1]
    assert out[S.NOT_HELPFUL_TAGS[1]].tolist() == [1, 0]
    assert out[S.NOT_HELPFUL_TAGS[0]].dtype == np.int8


def test_filter_rows_known_answer():
    r = pd.DataFrame({S.NOTE_ID: [1, 1, 2, 2, 3], S.RATER_ID: [10, 11, 10, 12, 13]})
    enr = pd.DataFrame({S.PARTICIPANT_ID: [10, 11, 12], S.MODELING_GROUP: [1.0, 2.0, 0.0]})
    nsh = pd.DataFrame({S.NOTE_ID: [1, 2, 3]})
    pos, nsh_out, rep = filter_input_rows(r, nsh, enr, mf_config.CORE)
    # core groups keep raters 10 (1) and 11 (2); 12 is in group 0; 13 is unenrolled (kept by Core)
    assert pos.tolist() == [0, 1, 2, 4]
    assert (rep.ratings_in, rep.unassigned_ratings, rep.after_group_filter) == (5, 1, 4)
    assert len(nsh_out) == 3


def test_note_stats_known_answer():
    r = pd.DataFrame({S.NOTE_ID: [2, 1, 2, 2], S.RATER_ID: [1, 2, 3, 4],
                      S.CREATED_AT: np.array([99, 10, 99, 50]) * MILLIS_PER_DAY,
                      S.HELPFUL_TAG_BITS: np.array([1, 1, 0, 1], np.uint16),
                      S.NOT_HELPFUL_TAG_BITS: np.array([0, 0, 0, 0], np.uint16),
                      S.RATING_SOURCE: [S.SOURCE_POPULATION_SAMPLED, "DEFAULT", "DEFAULT",
                                        S.SOURCE_POPULATION_SAMPLED]})
    nsh = pd.DataFrame({S.NOTE_ID: [1, 2, 3], S.CREATED_AT: [0, 0, 0]})
    out = compute_note_stats(r, nsh, epoch_millis=NOW).set_index(S.NOTE_ID)
    assert out[S.NUM_RATINGS].tolist() == [1, 3, 0]
    assert out[S.HELPFUL_TAGS[0]].tolist() == [1, 2, 0]
    assert out["numPopulationSampledRatings"].tolist() == [0, 2, 0]
    assert out["numRatingsLast28"].tolist() == [0, 2, 0]
    assert out[S.NUM_RATINGS].dtype == np.int64


# ---------------------------------------------------------------------------------------------
# equal to the frame computations
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scorer", [mf_config.CORE, mf_config.EXPANSION, mf_config.GROUP_33,
                                    mf_config.GROUPS[1], mf_config.TOPIC_SCORERS["UkraineConflict"]],
                         ids=lambda s: s.name)
@pytest.mark.parametrize("packed", [True, False])
def test_slice_equals_filter_of_prepared(scorer, packed):
    r = make_ratings(3000, 60, 80, seed=1, packed=packed)
    late = (r[S.NOTE_ID] >= 1050).to_numpy()  # notes that pass MFGroupScorer_33's strict inclusion
    r.loc[late, S.RATER_ID] = (r.loc[late, S.RATER_ID] % 10).astype(np.int32)
    enr = make_enrollment(80, seed=2)
    nsh = pd.DataFrame({S.NOTE_ID: np.arange(1000, 1060, dtype=np.int64)})
    topics = pd.DataFrame({S.NOTE_ID: np.arange(1000, 1020, dtype=np.int64),
                           "noteTopic": ["UkraineConflict", "Scams"] * 10})
    want, want_nsh = ref_filter(ref_prepare(r), nsh, enr, scorer, topics)
    rows, got_nsh, rep = filter_input_rows(r, nsh, enr, scorer, note_topics=topics)
    got = prepare_ratings(r, rows)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    pd.testing.assert_frame_equal(got_nsh, want_nsh, check_exact=True)
    assert rep.after_group_filter == len(want) and rep.nsh_out == len(want_nsh)
    # the frame-returning wrapper keeps its contract
    via, _, _ = filter_input(ref_prepare(r), nsh, enr, scorer, note_topics=topics)
    pd.testing.assert_frame_equal(via, want, check_exact=True)
    assert 0 < len(want) < len(r) or scorer.included_groups is None


def test_prepare_without_rows_equals_reference():
    r = make_ratings(500, 20, 30, seed=3)
    pd.testing.assert_frame_equal(prepare_ratings(r), ref_prepare(r), check_exact=True)


def _expected_note_stats(r: pd.DataFrame, nsh: pd.DataFrame) -> pd.DataFrame:
    """The grouped-frame computation: per-note sums joined to the NSH notes, 0 where none."""
    sums = ref_note_sums(r, NOW)
    want = nsh.merge(sums, on=S.NOTE_ID, how="left")
    for c in sums.columns[1:]:
        want[c] = want[c].fillna(0).astype(np.int64)
    return want.sort_values(S.NOTE_ID, kind="mergesort").reset_index(drop=True)


@pytest.mark.parametrize("packed", [True, False])
def test_note_stats_equal_grouped_frame(packed):
    r = make_ratings(5000, 120, 300, seed=4, packed=packed)
    if not packed:  # missing tag values count 0
        r[S.NOT_HELPFUL_TAGS[2]] = pd.array(np.where(np.arange(len(r)) % 7 == 0, None, 1), dtype="Int8")
    nsh = pd.DataFrame({S.NOTE_ID: np.arange(1000, 1125, dtype=np.int64), S.CREATED_AT: 0})
    got = compute_note_stats(r, nsh, epoch_millis=NOW)
    pd.testing.assert_frame_equal(got, _expected_note_stats(r, nsh), check_exact=True)
    assert got[S.NUM_RATINGS].sum() == len(r)


def test_tag_aggregates_equal_grouped_frame():
    r = make_ratings(6000, 150, 400, seed=5)
    rng = np.random.default_rng(6)
    notes = pd.DataFrame({S.NOTE_ID: np.arange(1000, 1140, dtype=np.int64),  # 10 notes without params
                          S.NOTE_FACTOR1: rng.normal(size=140).astype(np.float32)})
    raters = pd.DataFrame({S.RATER_ID: np.arange(400, dtype=np.int32),
                           S.RATER_FACTOR1: rng.normal(size=400).astype(np.float32)})
    got = note_tag_aggregates(r, notes, raters)
    want = ref_tag_aggregates(r, notes, raters)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert len(got) == 140


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # 1-note z-score
def test_tag_aggregates_empty():
    r = make_ratings(50, 5, 10, seed=7)
    notes = pd.DataFrame({S.NOTE_ID: np.array([1], np.int64), S.NOTE_FACTOR1: np.float32(0.5)})
    raters = pd.DataFrame({S.RATER_ID: np.array([0], np.int32), S.RATER_FACTOR1: np.float32(0.5)})
    got = note_tag_aggregates(r, notes, raters)
    assert len(got) == 0
    assert list(got.columns) == list(ref_tag_aggregates(r, notes, raters).columns)


# ---------------------------------------------------------------------------------------------
# property: any small rating table
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 200), n_notes=st.integers(1, 12), seed=st.integers(0, 2**31 - 1),
       packed=st.booleans())
def test_note_stats_property(n, n_notes, seed, packed):
    r = make_ratings(n, n_notes, 20, seed=seed, packed=packed)
    nsh = pd.DataFrame({S.NOTE_ID: np.arange(1000, 1000 + n_notes + 2, dtype=np.int64), S.CREATED_AT: 0})
    got = compute_note_stats(r, nsh, epoch_millis=NOW)
    pd.testing.assert_frame_equal(got, _expected_note_stats(r, nsh), check_exact=True)


def _sign_counts_by_merge(ratings, rater_params):
    """Spec 03 §2.2 as the frame code had it: an inner merge with the rater factors, one groupby."""
    rp = rater_params[[S.RATER_ID, S.RATER_FACTOR1]].dropna(subset=[S.RATER_FACTOR1])
    df = ratings[[S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM]].merge(rp, on=S.RATER_ID, how="inner")
    h = df[S.HELPFUL_NUM].to_numpy(dtype=np.float64)
    df = pd.DataFrame({S.NOTE_ID: df[S.NOTE_ID].to_numpy(), "_neg": df[S.RATER_FACTOR1].to_numpy() < 0, "n": 1,
                       "h": h, "net": (h == 1.0).astype(np.int64) - (h == 0.0).astype(np.int64)})
    return df.groupby([S.NOTE_ID, "_neg"]).agg(n=("n", "sum"), h=("h", "mean"), net=("net", "sum"))


def _sign_frame_by_groupby(ratings, rater_params):
    """The whole output of spec 03 §2.2 as the groupby code built it (the oracle of the bincounts)."""
    wide = _sign_counts_by_merge(ratings, rater_params).unstack("_neg")
    notes = wide.index

    def side(col, neg):
        return wide[(col, neg)] if (col, neg) in wide.columns else pd.Series(np.nan, index=notes)

    n_neg, n_pos = side("n", True).fillna(0), side("n", False).fillna(0)
    net_neg, net_pos = side("net", True).fillna(0), side("net", False).fillna(0)
    out = pd.DataFrame(index=notes)
    out["negFactor_ratingCount"] = n_neg.astype(np.int64)
    out["posFactor_ratingCount"] = n_pos.astype(np.int64)
    out["minSignCount"] = np.minimum(n_neg, n_pos).astype(np.int32)
    out["negFactor_meanHelpfulNum"] = side("h", True).astype(np.float32)
    out["posFactor_meanHelpfulNum"] = side("h", False).astype(np.float32)
    net_min = np.maximum(0, np.minimum(net_neg, net_pos)).astype(np.int32)
    out["netMinHelpful"] = net_min
    out["netMinHelpfulRatio"] = (net_min / (n_neg + n_pos)).astype(np.float32)
    return out.reset_index()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), n_notes=st.integers(1, 12), seed=st.integers(0, 2**31 - 1),
       n_params=st.integers(0, 25))
def test_sign_counts_equal_merged_frame(n, n_notes, seed, n_params):
    """The per-side counts and means from a factor lookup per rating equal the merged frame's
    (raters without params or with a NaN factor left out, a zero factor on the positive side)."""
    from cnlab.scoring.note_stats import note_counts_by_rater_sign, population_sampled_counts_by_rater_sign

    r = make_ratings(n, n_notes, 20, seed=seed)
    rng = np.random.default_rng(seed)
    rp = pd.DataFrame({S.RATER_ID: rng.permutation(25)[:n_params].astype(np.int64),
                       S.RATER_FACTOR1: rng.choice(np.array([-0.5, 0.0, 0.3, np.nan]), n_params)})
    full = note_counts_by_rater_sign(r, rp)
    if len(full):
        pd.testing.assert_frame_equal(full, _sign_frame_by_groupby(r, rp), check_exact=True, check_dtype=True)
    else:
        assert len(_sign_counts_by_merge(r, rp)) == 0
    got = full.set_index(S.NOTE_ID)
    want = _sign_counts_by_merge(r, rp).unstack("_neg")
    assert list(got.index) == list(want.index)
    for neg, side in ((True, "neg"), (False, "pos")):
        if ("n", neg) not in want.columns:
            assert (got[f"{side}Factor_ratingCount"] == 0).all()
            continue
        np.testing.assert_array_equal(got[f"{side}Factor_ratingCount"], want[("n", neg)].fillna(0).astype(np.int64))
        np.testing.assert_array_equal(got[f"{side}Factor_meanHelpfulNum"], want[("h", neg)].astype(np.float32))
    ps = population_sampled_counts_by_rater_sign(r, rp)
    sampled = r[(r[S.RATING_SOURCE].astype(object) == S.SOURCE_POPULATION_SAMPLED).to_numpy()]
    assert int(ps[["negFactor_populationSampledRatingCount", "posFactor_populationSampledRatingCount"]].sum().sum()) \
        == int(sampled[S.RATER_ID].isin(rp.dropna()[S.RATER_ID]).sum())


def test_sign_counts_refuse_repeated_rater_params():
    """A rater with two factors would count its ratings twice (the merge repeated them): refused."""
    from cnlab.scoring.note_stats import note_counts_by_rater_sign

    rp = pd.DataFrame({S.RATER_ID: [1, 1], S.RATER_FACTOR1: [0.2, -0.2]})
    with pytest.raises(ValueError, match="repeated raterParticipantId"):
        note_counts_by_rater_sign(make_ratings(10, 2, 3, seed=1), rp)


@pytest.mark.parametrize("case", ["unpacked", "nan_factor", "duplicate_ids", "k2", "blocks_and_view"])
def test_tag_aggregates_edge_cases_equal_frame(case, monkeypatch):
    r = make_ratings(3000, 80, 200, seed=8, packed=case != "unpacked")
    rng = np.random.default_rng(9)
    r = r.sample(frac=1.0, random_state=1)  # rating order is not note order
    notes = pd.DataFrame({S.NOTE_ID: np.arange(1000, 1075, dtype=np.int64),
                          S.NOTE_FACTOR1: rng.normal(size=75).astype(np.float32)})
    raters = pd.DataFrame({S.RATER_ID: np.arange(5, 200, dtype=np.int32),
                           S.RATER_FACTOR1: rng.normal(size=195).astype(np.float32)})
    if case == "nan_factor":
        notes.loc[3, S.NOTE_FACTOR1] = np.nan
        raters.loc[[0, 7], S.RATER_FACTOR1] = np.nan
    if case == "duplicate_ids":  # the joins repeat rows: the frame path
        raters = pd.concat([raters, raters.iloc[:5]], ignore_index=True)
    kw = {}
    if case == "k2":
        notes["internalNoteFactor2"] = rng.normal(size=75).astype(np.float32)
        raters["internalRaterFactor2"] = rng.normal(size=len(raters)).astype(np.float32)
        kw = {"factor_rule": "axis"}
    want = ref_tag_aggregates(r, notes, raters, **kw)
    if case == "blocks_and_view":  # joined a few ratings at a time, read through a column view
        import cnlab.scoring.tag_filter as tf
        from cnlab._columns import TakenColumns

        monkeypatch.setattr(tf, "ROW_BLOCK", 7)
        r = TakenColumns(r.reset_index(drop=True), np.arange(len(r)))
    got = note_tag_aggregates(r, notes, raters, **kw)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert len(got) > 0


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), n_notes=st.integers(1, 40), n_raters=st.integers(1, 40),
       seed=st.integers(0, 2**31 - 1), min_rater=st.integers(0, 12), min_note=st.integers(0, 6))
def test_prefilter_equals_filter_ratings(n, n_notes, n_raters, seed, min_rater, min_note):
    r = make_ratings(n, n_notes, n_raters, seed=seed)
    got = prefilter(r, min_ratings_per_rater=min_rater, min_raters_per_note=min_note)
    want = filter_ratings(r, min_ratings_per_rater=min_rater, min_raters_per_note=min_note)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (got is r) == (want is r)


def test_prefilter_known_answer():
    # pass 1 drops note 2 (1 rating); pass 2 raters 6 and 7 (1 rating each); pass 3 note 3 (1 left)
    r = pd.DataFrame({S.NOTE_ID: [1, 1, 2, 3, 3, 1], S.RATER_ID: [5, 7, 5, 6, 5, 5]}, index=[9, 8, 7, 6, 5, 4])
    got = prefilter(r, min_ratings_per_rater=2, min_raters_per_note=2)
    assert got[S.NOTE_ID].tolist() == [1, 1] and got[S.RATER_ID].tolist() == [5, 5]
    assert got.index.tolist() == [0, 1]


@pytest.mark.parametrize("packed", [True, False])
def test_user_incorrect_ratio_equals_frame(packed):
    from cnlab.scoring.incorrect_filter import _nh_tagged, user_incorrect_ratio

    r = make_ratings(4000, 50, 120, seed=10, packed=packed)
    if not packed:  # sparse tags, so that some ratings carry none
        for tag in S.NOT_HELPFUL_TAGS:
            r[tag] = (np.random.default_rng(11).random(len(r)) < 0.05).astype(np.int8)
    t = _nh_tagged(r)
    want = pd.DataFrame({S.RATER_ID: t[S.RATER_ID].to_numpy(),
                         "incorrectTagRatingsMadeByRater": t[S.INCORRECT_TAG].to_numpy(dtype=np.int64, na_value=0),
                         "totalRatingsMadeByRater": 1}).groupby(S.RATER_ID, sort=True).sum().reset_index()
    got = user_incorrect_ratio(r)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert 0 < got["totalRatingsMadeByRater"].sum() < len(r) or packed


def test_user_incorrect_ratio_known_answer():
    from cnlab.scoring.incorrect_filter import user_incorrect_ratio

    inc = S.NOT_HELPFUL_TAGS.index(S.INCORRECT_TAG)
    other = 0 if inc != 0 else 1
    r = pd.DataFrame({S.NOTE_ID: [1, 1, 2, 2], S.RATER_ID: [7, 8, 7, 9],
                      S.NOT_HELPFUL_TAG_BITS: np.array([1 << inc, 1 << other, 0, (1 << inc) | (1 << other)],
                                                       np.uint16)})
    got = user_incorrect_ratio(r).set_index(S.RATER_ID)
    assert got.index.tolist() == [7, 8, 9]  # rater 7's untagged rating does not count
    assert got["incorrectTagRatingsMadeByRater"].tolist() == [1, 0, 1]
    assert got["totalRatingsMadeByRater"].tolist() == [1, 1, 1]


def test_prescoring_slice_is_handed_over_once():
    """prescore_slice takes the slice's tables (a caller's reference then holds nothing rating-sized);
    a second use is refused instead of prescoring an empty slice."""
    from cnlab.scorers.mf_prescoring import slice_for_prescoring

    r = make_ratings(50, 4, 10, seed=3)
    nsh = pd.DataFrame({S.NOTE_ID: np.arange(1000, 1004, dtype=np.int64), S.CREATED_AT: 0})
    sl = slice_for_prescoring(r, nsh, make_enrollment(10, seed=3), mf_config.CORE)
    assert S.NOT_HELPFUL_TAG_BITS in sl.scoped.columns and S.INCORRECT_TAG not in sl.scoped.columns  # packed
    assert sl.epoch_millis == int(r[S.CREATED_AT].max())
    scoped, _, report, _ = sl.take()
    assert sl.scoped is None and len(scoped) == report.after_group_filter
    with pytest.raises(RuntimeError, match="already used"):
        sl.take()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), n_notes=st.integers(1, 30), n_raters=st.integers(1, 30),
       seed=st.integers(0, 2**31 - 1), min_rater=st.integers(0, 8), min_note=st.integers(0, 5))
def test_training_rows_give_the_prefiltered_frame_columns(n, n_notes, n_raters, seed, min_rater, min_note):
    """A lean prescoring keeps the prefiltered ratings as positions into the slice: every reader's
    columns (and rows under a mask) equal those of the prefiltered frame's copy, dtypes included."""
    from cnlab.scorers.mf_prescoring import _TrainingRows, prefilter_positions

    r = make_ratings(n, n_notes, n_raters, seed=seed).reset_index(drop=True)
    r[S.HELPFULNESS_LEVEL] = pd.Categorical(np.where(r[S.HELPFUL_NUM] > 0.5, S.HELPFUL, "NOT_HELPFUL"))
    frame = prefilter(r, min_ratings_per_rater=min_rater, min_raters_per_note=min_note)
    kept = prefilter_positions(r, min_ratings_per_rater=min_rater, min_raters_per_note=min_note)
    rows = _TrainingRows(r, None if len(kept) == len(r) else kept)
    assert len(rows) == len(frame)
    cols = [S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM, S.HELPFULNESS_LEVEL, "absent"]
    want = frame[cols[:-1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows.columns(cols), want, check_exact=True)
    mask = np.random.default_rng(seed).random(len(frame)) < 0.5
    pd.testing.assert_frame_equal(rows.columns(cols, mask=mask), want[mask].reset_index(drop=True),
                                  check_exact=True)
    # the same rows as a mask over the slice (the tag model's ``rows``)
    assert r[rows.frame_mask(mask)].reset_index(drop=True).equals(frame[mask].reset_index(drop=True))
