"""Tier 1 tests: note stats, helpfulness, tag & incorrect filters, compute_scored_notes (spec 03 §2–§6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.scoring import config as C
from cnlab.scoring.helpfulness import (
    author_helpfulness,
    filter_ratings_by_helpfulness,
    general_helpfulness_scores,
    rater_helpfulness,
    valid_rater_sums,
    valid_rating_blocks,
    valid_rating_rows,
    valid_ratings,
)
from cnlab.scoring.incorrect_filter import incorrect_aggregates, user_incorrect_ratio
from cnlab.scoring.note_stats import (
    compute_note_stats,
    note_counts_by_rater_sign,
    population_sampled_counts_by_rater_sign,
)
from cnlab.scoring.scored_notes import compute_scored_notes
from cnlab.scoring.tag_filter import note_tag_aggregates, tag_thresholds

NOW = 1_800_000_000_000
DAY = 86_400_000


def ratings(rows, **extra):
    df = pd.DataFrame(rows, columns=[S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM])
    df[S.HELPFUL_NUM] = df[S.HELPFUL_NUM].astype(np.float32)
    df[S.CREATED_AT] = extra.pop("created", NOW - DAY)
    df[S.HELPFUL_TAG_BITS] = np.uint16(0)
    df[S.NOT_HELPFUL_TAG_BITS] = np.uint16(0)
    for k, v in extra.items():
        df[k] = v
    return df


def nsh(note_ids, **extra):
    df = pd.DataFrame({S.NOTE_ID: note_ids, S.CREATED_AT: NOW - 10 * DAY, S.AUTHOR_ID: 0,
                       S.CLASSIFICATION: S.MISLEADING, "currentStatus": S.NMR, "lockedStatus": np.nan,
                       "timestampMillisOfLatestNonNMRStatus": np.nan})
    for k, v in extra.items():
        df[k] = v
    return df


def test_note_stats_counts_tags_and_unrated_notes():
    r = ratings([(1, 0, 1.0), (1, 1, 0.0), (2, 0, 0.5)], created=[NOW - 30 * DAY, NOW - DAY, NOW - DAY],
                ratingSourceBucketed=["DEFAULT", "POPULATION_SAMPLED", "DEFAULT"])
    r[S.HELPFUL_TAG_BITS] = np.array([0b10, 0b10, 0], dtype=np.uint16)  # helpfulInformative
    out = compute_note_stats(r, nsh([1, 2, 3]), epoch_millis=NOW).set_index(S.NOTE_ID)
    assert out.loc[1, S.NUM_RATINGS] == 2 and out.loc[3, S.NUM_RATINGS] == 0
    assert out.loc[1, "helpfulInformative"] == 2 and out.loc[1, "numRatingsLast28"] == 1
    assert out.loc[1, "numPopulationSampledRatings"] == 1
    assert out[S.NUM_RATINGS].dtype == np.int64
    with pytest.raises(ValueError):
        compute_note_stats(r, nsh([1]), epoch_millis=NOW)


def test_counts_by_rater_sign_float32_and_zero_factor_positive():
    rp = pd.DataFrame({S.RATER_ID: range(8), S.RATER_FACTOR1: [-1, -1, -1, -1, -1, 0.0, 1, np.nan]})
    # neg side: 5 raters, 1 helpful → mean 0.2; pos side (0.0 counts positive): 2 raters.
    rows = [(1, u, 1.0 if u == 0 else 0.0) for u in range(5)] + [(1, 5, 1.0), (1, 6, 0.5), (1, 7, 1.0)]
    out = note_counts_by_rater_sign(ratings(rows), rp).iloc[0]
    assert out["negFactor_ratingCount"] == 5 and out["posFactor_ratingCount"] == 2
    assert out["minSignCount"] == 2
    assert out["negFactor_meanHelpfulNum"] == np.float32(0.2)
    assert out["posFactor_meanHelpfulNum"] == np.float32(0.75)
    assert out["netMinHelpful"] == 0  # neg net = 1 - 4 < 0
    for c, dt in (("minSignCount", np.int32), ("netMinHelpful", np.int32),
                  ("negFactor_meanHelpfulNum", np.float32), ("netMinHelpfulRatio", np.float32)):
        assert note_counts_by_rater_sign(ratings(rows), rp)[c].dtype == dt


def test_net_min_helpful_ratio():
    rp = pd.DataFrame({S.RATER_ID: range(10), S.RATER_FACTOR1: [-1] * 5 + [1] * 5})
    rows = [(1, u, 1.0) for u in range(10)]
    out = note_counts_by_rater_sign(ratings(rows), rp).iloc[0]
    assert out["netMinHelpful"] == 5 and out["netMinHelpfulRatio"] == np.float32(0.5)


def test_population_sampled_counts():
    rp = pd.DataFrame({S.RATER_ID: range(3), S.RATER_FACTOR1: [-1, 1, 1]})
    r = ratings([(1, 0, 1), (1, 1, 1), (1, 2, 1), (2, 0, 1)],
                ratingSourceBucketed=["POPULATION_SAMPLED", "POPULATION_SAMPLED", "DEFAULT", "DEFAULT"])
    out = population_sampled_counts_by_rater_sign(r, rp)
    assert out[S.NOTE_ID].tolist() == [1]
    assert out.iloc[0]["negFactor_populationSampledRatingCount"] == 1
    assert out.iloc[0]["posFactor_populationSampledRatingCount"] == 1


def test_valid_ratings_48h_and_latest_non_nmr():
    h = nsh([1, 2], timestampMillisOfLatestNonNMRStatus=[NOW - 9 * DAY, np.nan])
    created = NOW - 10 * DAY
    r = ratings([(1, 0, 1.0), (1, 1, 0.0), (1, 2, 0.5), (2, 3, 1.0), (2, 4, 1.0)],
                created=[created + 1000, created + 1.5 * DAY, created + 1000, created + 3 * DAY, created])
    sn = pd.DataFrame({S.NOTE_ID: [1, 2], "crhBool": [True, False], "crnhBool": [False, True]})
    v = valid_ratings(r, h, sn).set_index(S.RATER_ID)
    # rater 1 rated after T (latest non-NMR), rater 2 is somewhat-helpful, rater 3 after 48 h.
    assert sorted(v.index) == [0, 4]
    assert v.loc[0, "successfulRatingHelpfulCount"] == 1
    assert v.loc[4, "unsuccessfulRatingNotHelpfulCount"] == 1


def test_valid_ratings_old_notes_first_five():
    h = nsh([1], createdAtMillis=1_600_000_000_000)
    r = ratings([(1, u, 1.0) for u in range(7)], created=[1_600_000_000_000 + 1000 * (7 - u) for u in range(7)])
    sn = pd.DataFrame({S.NOTE_ID: [1], "crhBool": [True], "crnhBool": [False]})
    assert sorted(valid_ratings(r, h, sn)[S.RATER_ID]) == [2, 3, 4, 5, 6]


def _valid_ratings_by_merges(ratings, status_history, scored_notes):
    """Spec 01 §3 written as the merges and concatenation of the official frame code."""
    from cnlab.scoring.helpfulness import (DELETED_NOTE_TOMBSTONES_LAUNCH_MILLIS, OLD_NOTE_MAX_VALID_RATINGS,
                                           PUBLIC_TSV_DELAY_MILLIS)
    r = ratings[[S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM, S.CREATED_AT]]
    n = status_history[[S.NOTE_ID, S.CREATED_AT, "timestampMillisOfLatestNonNMRStatus"]].rename(
        columns={S.CREATED_AT: "_c", "timestampMillisOfLatestNonNMRStatus": "_l"})
    df = r.merge(n, on=S.NOTE_ID, how="inner")
    t, c, lt = (df[k].to_numpy(dtype=np.float64) for k in (S.CREATED_AT, "_c", "_l"))
    pub, old = (t - c) < PUBLIC_TSV_DELAY_MILLIS, c < DELETED_NOTE_TOMBSTONES_LAUNCH_MILLIS
    o = df[old & pub].sort_values(S.CREATED_AT, kind="mergesort")
    o = o[o.groupby(S.NOTE_ID).cumcount() < OLD_NOTE_MAX_VALID_RATINGS]
    df = pd.concat([o, df[~old & pub & (np.isnan(lt) | (t < lt))]]).drop(columns=["_c", "_l"])
    df = df.merge(scored_notes[[S.NOTE_ID, "crhBool", "crnhBool"]], on=S.NOTE_ID, how="inner")
    h = df[S.HELPFUL_NUM].to_numpy(dtype=np.float64)
    df = df[(df["crhBool"] | df["crnhBool"]).to_numpy() & ((h == 0) | (h == 1))]
    return df.drop(columns=["crhBool", "crnhBool"]).reset_index(drop=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6), st.sampled_from([0.0, 0.5, 1.0]),
                          st.integers(-3, 60)), min_size=0, max_size=60)
       | st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6), st.sampled_from([0.0, 1.0]),
                            st.integers(0, 3)), min_size=12, max_size=40),  # crowded: > 5 per old note
       st.lists(st.tuples(st.booleans(), st.booleans(), st.one_of(st.none(), st.integers(0, 60))),
                min_size=5, max_size=5),
       st.sets(st.integers(0, 5)) | st.just(set(range(6))),
       st.sampled_from([1, 4, 1 << 24]))
@example(rows=[(1, u % 3, 1.0, (7 * u) % 4) for u in range(9)] + [(0, 1, 0.0, 2)],
         notes=[(True, False, None)] * 5, in_nsh={0, 1}, block=1 << 24)  # 9 on one old note, ties in time
def test_valid_ratings_rows_and_order_match_the_merges(rows, notes, in_nsh, block):
    """The position-based selection gives the rows, order, columns and dtypes of the frame merges:
    old notes (created before the tombstone launch) by time with the first 5 each, then the others;
    whatever the block of ratings looked up at a time."""
    import cnlab.scoring.helpfulness as hp

    saved, hp.ROW_BLOCK = hp.ROW_BLOCK, block
    try:
        _check_valid_ratings(rows, notes, in_nsh)
    finally:
        hp.ROW_BLOCK = saved


def _check_valid_ratings(rows, notes, in_nsh):
    old_t, new_t = 1_600_000_000_000, NOW - 10 * DAY
    ids = sorted(in_nsh)
    created = {k: (old_t if k % 2 else new_t) for k in range(6)}
    r = ratings([(n, u, h) for n, u, h, _ in rows],
                created=np.array([created[n] + m * 3_600_000 for n, _, _, m in rows], dtype=np.int64))
    h = nsh(ids, createdAtMillis=[created[k] for k in ids],
            timestampMillisOfLatestNonNMRStatus=[np.nan if notes[k % 5][2] is None
                                                 else created[k] + notes[k % 5][2] * 3_600_000.0 for k in ids])
    r = r.astype({S.NOTE_ID: np.int64, S.RATER_ID: np.int64})  # typed even when empty
    h = h.astype({S.NOTE_ID: np.int64, "timestampMillisOfLatestNonNMRStatus": np.float64})
    sn = pd.DataFrame({S.NOTE_ID: range(5), "crhBool": [x[0] for x in notes], "crnhBool": [x[1] for x in notes]})
    got = valid_ratings(r, h, sn)
    want = _valid_ratings_by_merges(r, h, sn)
    pd.testing.assert_frame_equal(got[list(want.columns)], want, check_exact=True)
    # the same rows a block of ratings at a time, in input order, with the same flags and values
    rows, crh, crnh, hv = valid_rating_rows(r, h, sn)
    order = np.argsort(rows, kind="stable")
    parts = list(valid_rating_blocks(r, h, sn))
    assert all(len(p[0]) and np.all(np.diff(p[0]) > 0) for p in parts)
    for i, (want_part, dtype) in enumerate(((rows, np.int64), (crh, bool), (crnh, bool), (hv, np.float64))):
        got_part = np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype)
        np.testing.assert_array_equal(got_part, want_part[order])
        assert got_part.dtype == want_part.dtype
    # the per-rater sums without the frame: the groupby's table, for each id type the run uses
    for ids in (np.int64, np.int32, str):
        ri = r.astype({S.RATER_ID: ids})
        pd.testing.assert_frame_equal(valid_rater_sums(ri, h, sn),
                                      rater_helpfulness(valid_ratings(ri, h, sn)), check_exact=True)


def test_author_and_rater_helpfulness_and_threshold():
    sn = pd.DataFrame({S.NOTE_ID: [1, 2, 3, 4], S.AUTHOR_ID: [7, 7, 8, 8],
                       S.NOTE_INTERCEPT: [0.5, 0.1, -0.2, np.nan],
                       "crhBool": [True, False, False, True], "crnhBool": [False, False, True, False]})
    a = author_helpfulness(sn).set_index(S.RATER_ID)
    assert a.loc[7, "crhCrnhRatioDifference"] == pytest.approx(0.5)
    assert a.loc[8, "crhCrnhRatioDifference"] == pytest.approx(-5.0)  # NaN-intercept note excluded
    assert a.loc[7, "meanNoteScore"] == pytest.approx(0.3)
    valid = pd.DataFrame({S.RATER_ID: [7, 9, 9, 9], "ratingCount": 1,
                          "successfulRatingHelpfulCount": [1, 1, 1, 0], "successfulRatingNotHelpfulCount": 0,
                          "successfulRatingTotal": [1, 1, 1, 0], "unsuccessfulRatingHelpfulCount": [0, 0, 0, 1],
                          "unsuccessfulRatingNotHelpfulCount": 0, "unsuccessfulRatingTotal": [0, 0, 0, 1],
                          "ratingAgreesWithNoteStatus": [1, 1, 1, 0]})
    rh = rater_helpfulness(valid).set_index(S.RATER_ID)
    assert rh.loc[9, "raterAgreeRatio"] == pytest.approx(2 / 3)
    h = general_helpfulness_scores(sn, valid, thresholds=C.CORE).set_index(S.RATER_ID)
    # 7: good author, agree 1.0 → above; 8: bad author, no valid ratings → not; 9: non-author, 0.667 ≥ 0.66.
    assert h["aboveHelpfulnessThreshold"].to_dict() == {7: True, 8: False, 9: True}
    r = pd.DataFrame({S.RATER_ID: [7, 8, 9, 10], S.NOTE_ID: 1})
    assert filter_ratings_by_helpfulness(r, h.reset_index())[S.RATER_ID].tolist() == [7, 9]


def test_harassment_penalty_uses_training_ratings():
    sn = pd.DataFrame({S.NOTE_ID: [1], S.AUTHOR_ID: [50], S.NOTE_INTERCEPT: [0.5], "crhBool": [True], "crnhBool": [False]})
    valid = pd.DataFrame({S.RATER_ID: [9] * 20, "ratingCount": 1, "successfulRatingHelpfulCount": 1,
                          "successfulRatingNotHelpfulCount": 0, "successfulRatingTotal": 1,
                          "unsuccessfulRatingHelpfulCount": 0, "unsuccessfulRatingNotHelpfulCount": 0,
                          "unsuccessfulRatingTotal": 0, "ratingAgreesWithNoteStatus": 1})
    train = pd.DataFrame({S.NOTE_ID: [2, 3], S.RATER_ID: [9, 9], S.HELPFUL_NUM: [1.0, 1.0]})
    har = pd.DataFrame({S.NOTE_ID: [2, 3], "harassmentNoteIntercept": [2.0, 1.9]})
    h = general_helpfulness_scores(sn, valid, thresholds=C.CORE, ratings_for_training=train,
                                   harassment_note_params=har).set_index(S.RATER_ID)
    assert h.loc[9, "totalHelpfulHarassmentPenalty"] == pytest.approx(10.0)  # 10 × 2.0/2.0; 1.9 < 2 not bad
    assert h.loc[9, "raterAgreeRatioKeyWithHarassmentAbusePenalty"] == pytest.approx(0.5)
    assert not h.loc[9, "aboveHelpfulnessThreshold"]


def _weights_setup():
    note_params = pd.DataFrame({S.NOTE_ID: [1, 2], S.NOTE_FACTOR1: [-1.0, 1.0]})
    rater_params = pd.DataFrame({S.RATER_ID: [0, 1], S.RATER_FACTOR1: [-1.0, 1.0]})
    r = ratings([(1, 0, 0.0), (1, 1, 0.0), (2, 0, 0.0), (2, 1, 1.0)])
    r[S.NOT_HELPFUL_TAG_BITS] = np.array([0b10, 0b10, 0b10, 0], dtype=np.uint16)  # Incorrect
    return r, note_params, rater_params


def test_note_tag_aggregates_weights():
    r, npar, rpar = _weights_setup()
    agg = note_tag_aggregates(r, npar, rpar).set_index(S.NOTE_ID)
    # z-factors ±1; distances 0 and 2 → p40 = nanpercentile([0,2,2,0], 40) = 0.4; w = 1 and 1/(1+5^5).
    w_far = 1 / (1 + 5.0 ** 5)
    assert agg.loc[1, "ratingWeight"] == pytest.approx(1 + w_far)
    assert agg.loc[1, "notHelpfulIncorrectAdjusted"] == pytest.approx(1 + w_far)
    assert agg.loc[2, "notHelpfulIncorrectAdjusted"] == pytest.approx(w_far)
    assert agg.loc[2, "notHelpfulIncorrectAdjustedRatio"] == pytest.approx(w_far / (1 + w_far))


def test_tag_thresholds_quantile_quirk_and_empty():
    vals = np.linspace(0, 1, 21)
    agg = pd.DataFrame({S.NOTE_ID: range(21), **{f"{t}AdjustedRatio": vals for t in S.NOT_HELPFUL_TAGS}})
    th = tag_thresholds(agg, range(21), percentile=95)
    q = np.arange(0, 1, 0.01)[95]
    assert q != 0.95 and th["notHelpfulOtherAdjustedRatio"] == pytest.approx(np.quantile(vals, q))
    assert set(tag_thresholds(agg, [], percentile=95).values()) == {0.0}
    assert len(th) == 13


def test_incorrect_filter_aggregates():
    r = ratings([(1, 0, 0.0), (1, 1, 0.0), (1, 2, 0.0), (1, 3, 0.0)])
    r[S.NOT_HELPFUL_TAG_BITS] = np.array([0b10, 0b10, 0b1, 0b10], dtype=np.uint16)
    inc = user_incorrect_ratio(r).set_index(S.RATER_ID)
    assert inc.loc[0, "incorrectTagRatingsMadeByRater"] == 1 and inc.loc[2, "incorrectTagRatingsMadeByRater"] == 0
    rp = pd.DataFrame({S.RATER_ID: [0, 1, 2, 3], S.RATER_FACTOR1: [0.1, 5.0, -0.1, -0.5]}).merge(
        inc.reset_index(), on=S.RATER_ID)
    npar = pd.DataFrame({S.NOTE_ID: [1], S.NOTE_FACTOR1: [0.2]})
    agg = incorrect_aggregates(r, npar, rp).iloc[0]
    # Clipped: note 0.2; raters 0.1, 0.4, -0.1, -0.4 → |d| < 0.3 keeps raters 0, 1 (0.2) — rater 2 at 0.3 excluded.
    assert agg["num_voters_interval"] == 2 and agg["notHelpfulIncorrect_interval"] == 2
    assert agg["p_incorrect_user_interval"] == pytest.approx(2.0)
    assert agg["tf_idf_incorrect_interval"] == pytest.approx(2 / np.log(3))


def test_compute_scored_notes_end_to_end_small():
    rp = pd.DataFrame({S.RATER_ID: range(10), S.RATER_FACTOR1: [-1.0] * 5 + [1.0] * 5})
    rows = [(1, u, 1.0) for u in range(10)] + [(2, u, 0.0) for u in range(10)] + [(3, u, 1.0) for u in range(3)]
    r = ratings(rows)
    npar = pd.DataFrame({S.NOTE_ID: [1, 2], S.NOTE_INTERCEPT: [0.5, -0.3], S.NOTE_FACTOR1: [0.1, 0.0],
                         "lowDiligenceNoteIntercept": [0.0, 0.0]})
    h = nsh([1, 2, 3, 4])
    out = compute_scored_notes(r, npar, rp, h, thresholds=C.CORE, final_round=True, epoch_millis=NOW,
                               tag_thresholds={f"{t}AdjustedRatio": 0.0 for t in S.NOT_HELPFUL_TAGS},
                               no_high_vol=npar, no_correlated=npar)
    assert out[S.NOTE_ID].tolist() == [1, 2, 3, 4]
    assert out[S.RATING_STATUS].tolist() == [S.CRH, S.CRNH, S.NMR, S.NMR]
    assert out[S.ACTIVE_RULES].iloc[1] == "InitialNMR (v1.0),GeneralCRNH (v1.0),RatioCRNH (v1.0)"
    assert out["crhBool"].tolist() == [True, False, False, False]
    for dropped in ("minSignCount", "netMinHelpful", "lockedStatus"):
        assert dropped not in out.columns
    pre = compute_scored_notes(r, npar, rp, h, thresholds=C.CORE, final_round=False, epoch_millis=NOW)
    assert pre[S.RATING_STATUS].tolist() == [S.CRH, S.CRNH, S.NMR, S.NMR]
