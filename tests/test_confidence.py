"""Tier-1 (hand-computed) and tier-2 tests of the supervised confidence models: pflip (spec 06 §A)
and PCRH (spec 06 §B), and their pipeline glue (spec 04 §10.1). Parity with the official run:
``tests/test_confidence_parity.py``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab._compat.numpy1_argpartition import np1_argpartition
from cnlab._compat.numpy126_argsort import np1_avx512_argsort
from cnlab._compat.pandas22_skew import group_skew
from cnlab._compat.sklearn102_kbins import LegacyKMeansBins
from cnlab._compat.sklearn102_kmeans import lloyd_1d
from cnlab.models import pcrh, pflip
from cnlab import schema as S
from cnlab.pipeline import confidence as pconf

MIN = 60_000
HOUR = 60 * MIN
NID, RID, T = S.NOTE_ID, S.RATER_ID, S.CREATED_AT


def _nsh(rows: list[dict]) -> pd.DataFrame:
    base = {c: np.nan for c in S.NOTE_STATUS_HISTORY_COLUMNS}
    out = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("lockedStatus", "firstNonNMRStatus", "currentDecidedBy", "currentStatus"):
        out[c] = out[c].astype(object)
    return out


def _ratings(rows: list[tuple], tags: dict[int, list[str]] | None = None) -> pd.DataFrame:
    """rows: (noteId, rater, createdAt, level[, factor])."""
    df = pd.DataFrame({NID: [r[0] for r in rows], RID: [r[1] for r in rows], T: [r[2] for r in rows],
                       S.HELPFULNESS_LEVEL: [r[3] for r in rows]})
    for t in S.ALL_TAGS:
        df[t] = np.zeros(len(df), dtype=np.int8)
    for i, ts in (tags or {}).items():
        for t in ts:
            df.loc[i, t] = 1
    if rows and len(rows[0]) > 4:
        df[pflip.RATER_FACTOR] = [r[4] for r in rows]
    return df


# ================================================================== pflip: notes and labels
def test_tweet_creation_millis_is_the_snowflake_time():
    tid = (1_000 << 22) | 12345
    assert pflip.tweet_creation_millis(np.array([tid]))[0] == 1_000 + 1288834974657


def test_candidate_notes_need_a_post_and_a_classification():
    notes = pd.DataFrame({NID: [1, 2, 3, 4], S.TWEET_ID: ["8388608", "-1", "8388608", "8388608"],
                          S.CLASSIFICATION: [S.MISLEADING, S.MISLEADING, None, S.NOT_MISLEADING]})
    nsh = _nsh([{NID: i, T: 100 * i} for i in (1, 2, 3, 4, 5)])
    c = pflip.candidate_notes(notes, nsh)
    assert c[NID].tolist() == [1, 4]  # 2: no post, 3: no classification, 5: not in notes
    assert c["noteCreationMillis"].tolist() == [100, 400]
    assert c["tweetCreationMillis"].tolist() == [2 + 1288834974657] * 2  # 8388608 >> 22 = 2


def test_label_rules_spec_06_A4():
    nsh = _nsh([
        {NID: 1, "lockedStatus": S.CRH, "currentDecidedBy": "CoreModel (v1.1)"},          # CRH
        {NID: 2, "lockedStatus": S.CRH, "currentDecidedBy": "ScoringDriftGuard (v1.0)"},  # dropped
        {NID: 3, "lockedStatus": S.NMR, "firstNonNMRStatus": S.CRH},                      # FLIP
        {NID: 4, "lockedStatus": S.CRNH, "firstNonNMRStatus": S.CRH},                     # FLIP
        {NID: 5, "lockedStatus": S.NMR, "timestampMillisOfFirstNmrDueToMinStableCrhTime": 7.0},  # FLIP
        {NID: 6, "lockedStatus": S.NMR, "firstNonNMRStatus": S.CRNH,
         "timestampMillisOfFirstNmrDueToMinStableCrhTime": 7.0},                          # none
        {NID: 7, "firstNonNMRStatus": S.CRH},                                             # unlocked
        {NID: 8, "lockedStatus": S.NMR},                                                  # none
    ])
    labels, counts = pflip.label_notes(nsh)
    assert dict(zip(labels[NID], labels[pflip.LABEL])) == {1: "CRH", 3: "FLIP", 4: "FLIP", 5: "FLIP"}
    assert counts == {"crh_before_drift_guard": 2, "flip": 3, "crh_dropped_drift_guard": 1, "crh": 1}


def test_scoring_cutoffs_min_max_recency_and_rating_floor():
    nsh = _nsh([
        {NID: 1, "timestampMillisOfFirstNmrDueToMinStableCrhTime": 10e6,
         "timestampMillisOfFirstNonNMRStatus": 12e6, "firstNonNMRStatus": S.CRH},
        {NID: 2, "timestampMillisOfFirstNonNMRStatus": 3e6, "firstNonNMRStatus": S.CRH},
        {NID: 3, "timestampMillisOfFirstNonNMRStatus": 3e6, "firstNonNMRStatus": S.CRNH},  # out of scope
        {NID: 4, "timestampMillisOfFirstNmrDueToMinStableCrhTime": 5e6},                    # no ratings
    ])
    r = pd.DataFrame({NID: [1] * 7 + [2] * 3,
                      T: [7e6, 1e6, 2e6, 3e6, 4e6, 5e6, 20e6, 1e6, 2.5e6, 2.8e6]}).astype({T: np.int64})
    lo = pflip.scoring_cutoffs(nsh, r, "MIN").set_index(NID)[pflip.CUTOFF].to_dict()
    hi = pflip.scoring_cutoffs(nsh, r, "MAX").set_index(NID)[pflip.CUTOFF].to_dict()
    # note 1: base 10e6 / 12e6 − 15 min; the 5th rating (5e6) is earlier, so it does not bind
    assert lo == {1: 10_000_000 - 15 * MIN, 2: 2_800_000}
    assert hi == {1: 12_000_000 - 15 * MIN, 2: 2_800_000}  # note 2: < 5 ratings → last rating binds


def test_rater_factor_priority_core_then_expansion_then_expansion_plus():
    pro = pd.DataFrame({
        RID: [1, 2, 1, 2, 3, 3, 4],
        S.RATER_FACTOR1: [np.nan, 0.2, 0.5, 0.6, 0.7, np.nan, 0.9],
        "scorerName": ["MFCoreScorer", "MFCoreScorer", "MFExpansionScorer", "MFExpansionScorer",
                       "MFExpansionPlusScorer", "MFCoreScorer", "MFGroupScorer_1"]})
    f = pflip.rater_factors(pro).set_index(RID)[pflip.RATER_FACTOR]
    assert f.to_dict() == {1: 0.5, 2: 0.2, 3: 0.7}  # 4: only a group scorer


# ================================================================== pflip: rating timing
def _timing_case():
    notes = pd.DataFrame({NID: [1, 2], "noteCreationMillis": [0, 0]})
    t = [30_000, 90_000, 240_000, 600_000, 3_540_000, 3_660_000]
    r = pd.DataFrame({NID: [1] * 6, T: np.array(t, dtype=np.int64)})
    return notes, r


def test_quick_rating_stats():
    notes, r = _timing_case()
    q = pflip.quick_rating_stats(notes, r).set_index(NID)
    assert q.loc[1, ["FIRST_1_TOTAL", "FIRST_5_TOTAL", "FIRST_15_TOTAL", "FIRST_60_TOTAL"]].tolist() == [1, 3, 4, 5]
    assert q.loc[1, "FIRST_5_RATIO"] == pytest.approx(3 / 6)
    assert q.loc[2].tolist() == [0] * 8  # no ratings: totals 0, ratios 0 / max(0, 1)


def test_burst_rating_stats_max_over_aligned_windows():
    notes, r = _timing_case()
    b = pflip.burst_rating_stats(notes, r).set_index(NID)
    assert b.loc[1, ["BURST_1_TOTAL", "BURST_5_TOTAL", "BURST_15_TOTAL", "BURST_60_TOTAL"]].tolist() == [1, 3, 4, 5]
    assert b.loc[1, "BURST_60_RATIO"] == pytest.approx(5 / 6)
    # a 5-minute window straddling a 5-minute boundary is found through the minute offsets
    r2 = pd.DataFrame({NID: [1, 1], T: np.array([290_000, 310_000], dtype=np.int64)})
    assert pflip.burst_rating_stats(notes, r2).set_index(NID).loc[1, "BURST_5_TOTAL"] == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 200 * 60_000)), max_size=40))
def test_burst_equals_the_shifted_window_definition(rows):
    """BURST_w by one binary search per rating equals the spec's definition: the largest bucket
    over the w minute offsets of ⌊(t + o·1 min) / w min⌋ (which copies the ratings w times)."""
    notes = pd.DataFrame({NID: [1, 2, 3, 4]})
    r = pd.DataFrame({NID: [n for n, _ in rows], T: np.array([t for _, t in rows], dtype=np.int64)})
    got = pflip.burst_rating_stats(notes, r).set_index(NID)
    for w in (1, 5, 15, 60):
        for nid in (1, 2, 3, 4):
            t = r.loc[r[NID] == nid, T].to_numpy()
            want = max((pd.Series((t + o * 60_000) // (w * 60_000)).value_counts().max() for o in range(w)),
                       default=0) if len(t) else 0
            assert got.loc[nid, f"BURST_{w}_TOTAL"] == want, (w, nid)


def test_recent_rating_stats_prediction_uses_the_latest_rating():
    notes, r = _timing_case()
    rec = pflip.recent_rating_stats(notes, r, int(r[T].max())).set_index(NID)
    assert rec.loc[1, ["RECENT_1_TOTAL", "RECENT_5_TOTAL", "RECENT_15_TOTAL", "RECENT_60_TOTAL"]].tolist() == [1, 2, 2, 5]
    per_note = pd.Series({1: 300_000, 2: 0})  # training: the note's cutoff is "now"
    with pytest.raises(ValueError):
        pflip.recent_rating_stats(notes, r, per_note)  # ratings after the cutoff are a bug upstream
    ok = pflip.recent_rating_stats(notes, r[r[T] <= 300_000], per_note).set_index(NID)
    assert ok.loc[1, ["RECENT_1_TOTAL", "RECENT_5_TOTAL"]].tolist() == [0, 3]  # t > now − w, strict


def test_peer_note_counts_training_hides_the_future():
    scored = pd.DataFrame({NID: [1], S.TWEET_ID: [7], pflip.CUTOFF: [1000]})
    notes = pd.DataFrame({NID: [1, 2, 3, 4], S.TWEET_ID: [7, 7, 7, 7],
                          S.CLASSIFICATION: [S.MISLEADING, S.MISLEADING, S.NOT_MISLEADING, S.MISLEADING]})
    nsh = _nsh([{NID: 1, T: 100}, {NID: 2, T: 500, "timestampMillisOfFirstNmrDueToMinStableCrhTime": 800,
                                   "timestampMillisOfFirstNonNMRStatus": 1500, "firstNonNMRStatus": S.CRH},
                {NID: 3, T: 900}, {NID: 4, T: 2000}])
    tr = pflip.peer_note_counts(scored, notes, nsh, training=True).iloc[0]
    assert tr[list(pflip.PEER_COUNT_COLUMNS)].tolist() == [2, 1, 1, 0, 1]  # note 4 later; CRH after cutoff
    pr = pflip.peer_note_counts(scored.drop(columns=[pflip.CUTOFF]), notes, nsh, training=False).iloc[0]
    assert pr[list(pflip.PEER_COUNT_COLUMNS)].tolist() == [3, 2, 1, 1, 1]


def test_peer_ratings_exclude_the_note_itself():
    notes = pd.DataFrame({NID: [1, 2, 3], S.TWEET_ID: [7, 7, 8],
                          S.CLASSIFICATION: [S.MISLEADING, S.NOT_MISLEADING, S.MISLEADING]})
    r = pd.DataFrame({NID: [1, 2, 2, 3], RID: [10, 11, 12, 13]})
    p = pflip.peer_ratings(r, notes, notes[notes[NID] == 1])
    assert p[RID].tolist() == [11, 12] and set(p[NID]) == {1} and set(p["ratedOnNoteId"]) == {2}


def _tokens(cell, kind):
    """The token strings of a pflip token cell (integer codes, :mod:`cnlab.models.pflip_tokens`)."""
    from cnlab.models.pflip_tokens import decode

    return decode(cell, kind)


# ================================================================== pflip: per-set features
def test_rating_set_features_hand_computed():
    r = _ratings([(1, 10, 0, S.HELPFUL, 0.5), (1, 11, 0, S.HELPFUL, -0.4), (1, 12, 0, S.NOT_HELPFUL, 0.1),
                  (1, 13, 0, S.SOMEWHAT_HELPFUL, np.nan), (1, 14, 0, S.HELPFUL, 0.2)],
                 tags={0: ["helpfulClear"], 2: ["notHelpfulIncorrect"]})
    f = pflip.rating_set_features(np.array([1, 2]), r).set_index(NID)
    a, b = f.loc[1], f.loc[2]
    assert _tokens(a[pflip.USER_HELPFULNESS], "helpfulness") == ["10:HELPFUL", "11:HELPFUL", "12:NOT_HELPFUL",
                                         "13:SOMEWHAT_HELPFUL", "14:HELPFUL"]
    assert _tokens(a[pflip.USER_HELPFUL_TAGS], "helpful_tags") == ["10:helpfulClear"]
    assert _tokens(a[pflip.USER_NOT_HELPFUL_TAGS], "not_helpful_tags") == ["12:notHelpfulIncorrect"]
    counts = {c: a[c] for c in pflip.BUCKET_COUNT_COLUMNS if a[c]}
    assert counts == {"POSITIVE_HELPFUL": 1, "NEGATIVE_HELPFUL": 1, "NEUTRAL_HELPFUL": 1,
                      "NEUTRAL_NOT_HELPFUL": 1}  # rater 13 has no factor: not counted
    assert a["MAX_POS_HELPFUL"] == pytest.approx(0.5) and a["MEAN_POS_HELPFUL"] == pytest.approx(0.35)
    assert a["MAX_NEG_HELPFUL"] == pytest.approx(0.4) and a["MEAN_NEG_HELPFUL"] == pytest.approx(0.4)
    assert a["STD_HELPFUL"] == pytest.approx(math.sqrt(0.21))  # (0.5, −0.4, 0.2), ddof 1
    assert a["MAX_DIFF"] == pytest.approx(0.9) and a["MEAN_DIFF"] == pytest.approx(0.75)
    assert a["helpfulClear"] == pytest.approx(0.2) and a["notHelpfulIncorrect"] == pytest.approx(0.2)
    assert a["helpfulOther"] == 0
    assert _tokens(b[pflip.USER_HELPFULNESS], "helpfulness") == [] and b["POSITIVE_HELPFUL"] == 0
    assert np.isnan(b["STD_HELPFUL"]) and np.isnan(b["helpfulClear"])


def test_rating_set_features_keep_float32_factors():
    r = _ratings([(1, 10, 0, S.HELPFUL, 0.5), (1, 11, 0, S.HELPFUL, 0.25)])
    r[pflip.RATER_FACTOR] = r[pflip.RATER_FACTOR].astype(np.float32)
    f = pflip.rating_set_features(np.array([1]), r)
    assert f["MEAN_POS_HELPFUL"].dtype == np.float32  # binned in float32, as the official run


def test_pre_transform_clips_fills_and_logs():
    cfg = pflip.PFlipConfig()
    cols = {c: [0.0, 3.0] for cols in cfg.timing_columns() for c in cols}
    ratio = {c: [np.nan, 0.9] for c in pflip._ratio_columns()}
    frame = pd.DataFrame({**cols, **ratio, pflip.LATENCY: [8.0, 4096.0],
                          **{c: [0.0, 7.0] for c in pflip.PEER_COUNT_COLUMNS}})
    th = {c: 0.5 for c in pflip._ratio_columns()}
    th.update({c: 1.0 for cols in cfg.timing_columns() for c in cols})
    th.update({pflip.LATENCY: 1024.0, **{c: 3.0 for c in pflip.PEER_COUNT_COLUMNS}})
    out = pflip.pre_transform(frame, th, cfg)
    assert out["LOCAL_helpfulClear"].tolist() == [-0.25, 0.5]
    assert out["FIRST_5_RATIO"].tolist() == [0.0, 1.0]
    assert out["FIRST_5_TOTAL"].tolist() == [0.0, 1.0]          # log2(1 + min(3, 1))
    assert out[pflip.LATENCY].tolist() == [3.0, 10.0]           # log2(min(4096, 1024))
    assert out["TOTAL_PEER_NOTES"].tolist() == [0.0, 2.0]       # log2(1 + min(7, 3))


def test_roc_threshold_picks_the_fpr_closest_to_the_target():
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.5, 0.6, 0.7, 0.8, 0.95])
    thr, tpr, fpr, auc = pflip.roc_threshold(y, s, 0.2)
    assert (thr, tpr, fpr) == (0.9, 0.2, 0.2) and auc == pytest.approx(21 / 25)


# ================================================================== pflip: scikit-learn 1.0.2 replicas
def test_np1_argpartition_special_cases():
    v = np.array([3.0, 1.0, 3.0, 2.0, 3.0], dtype=np.float32)
    assert np1_argpartition(v, -1)[-1] == 4            # the *last* maximum
    assert np1_argpartition(v, 0)[0] == 1
    big = np.array([5, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4], dtype=np.float64)
    p = np1_argpartition(big, -4)
    assert sorted(big[p[-4:]]) == [8, 9, 9, 9] and (big[p[:-4]] <= 8).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=60), st.integers(0, 59))
def test_np1_argpartition_is_a_valid_partition(values, k):
    v = np.array(values, dtype=np.float32)
    k = k % len(v)
    p = np1_argpartition(v, k)
    assert sorted(p.tolist()) == list(range(len(v)))
    assert v[p[k]] == np.sort(v)[k] and (v[p[:k]] <= v[p[k]]).all() and (v[p[k + 1:]] >= v[p[k]]).all()



#: numpy 1.26.4 ``np.argsort(x, kind="quicksort")`` on an AVX-512 CPU (recorded in that
#: environment): the tie order the official run's unstable ``sort_values`` produces.
NP126_X = [4, 1, 3, 3, 4, 1, 0, 1, 2, 2, 0, 4, 0, 4, 0, 3, 2, 3, 4, 4, 5, 0, 0, 5, 0, 3, 5, 0, 2, 0, 1, 4,
           1, 3, 3, 0, 3, 0, 1, 0, 0, 5, 4, 4, 4, 2, 1, 3, 0, 5, 4, 0, 5, 4, 3, 1, 3, 3, 3, 1, 3, 3, 4, 3,
           1, 3, 1, 5, 1, 5]
NP126_ORDER = [10, 12, 14, 48, 51, 40, 35, 37, 39, 21, 22, 24, 27, 29, 6, 59, 7, 1, 64, 5, 38, 32, 30, 66,
               68, 55, 46, 28, 16, 45, 9, 8, 36, 2, 25, 60, 17, 33, 15, 54, 34, 61, 63, 3, 56, 57, 58, 47,
               65, 0, 44, 18, 31, 19, 4, 62, 13, 53, 42, 11, 50, 43, 26, 41, 20, 23, 49, 52, 67, 69]
NP126_PAIRS = [40, 0, 1, 41, 2, 42, 43, 3, 4, 44, 5, 45, 46, 6, 7, 47, 8, 48, 49, 9, 10, 50, 51, 11, 12,
               52, 53, 13, 14, 54, 15, 55, 16, 56, 17, 57, 58, 18, 19, 59, 60, 20, 21, 61, 62, 22, 63, 23,
               64, 24, 65, 25, 26, 66, 67, 27, 28, 68, 69, 29, 70, 30, 71, 31, 32, 72, 73, 33, 34, 74, 75,
               35, 76, 36, 37, 77, 78, 38, 79, 39]


def test_np1_avx512_argsort_reproduces_numpy_1_26_tie_order():
    assert np1_avx512_argsort(np.array(NP126_X)).tolist() == NP126_ORDER
    # the pflip training layout: the same sorted ids twice (MIN copies, then MAX copies)
    ids = np.arange(100, 140)
    assert np1_avx512_argsort(np.concatenate([ids, ids])).tolist() == NP126_PAIRS


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=0, max_size=400))
def test_np1_avx512_argsort_sorts(values):
    x = np.array(values, dtype=np.int64)
    order = np1_avx512_argsort(x)
    assert sorted(order.tolist()) == list(range(len(x))) and (np.diff(x[order]) >= 0).all()


def test_lloyd_1d_matches_kmeans_on_well_separated_data():
    from sklearn.cluster import KMeans

    x = np.array([0.0, 0.1, 0.2, 5.0, 5.1, 9.0, 9.3, 9.6])
    init = np.array([1.0, 4.0, 8.0])
    c, labels = lloyd_1d(x, init)
    km = KMeans(3, init=init[:, None], n_init=1).fit(x[:, None])
    np.testing.assert_allclose(np.sort(c), np.sort(km.cluster_centers_[:, 0]), atol=1e-12)
    assert labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]


def test_lloyd_1d_relocates_empty_clusters_and_keeps_float32():
    from sklearn.cluster import KMeans

    x = np.array([-1, -1, -1, 0.2, 0.3, 0.9], dtype=np.float32)
    init = np.linspace(-0.9, 0.8, 4)
    c, labels = lloyd_1d(x, init)
    # the empty centre (0.0667) takes the farthest point (0.3); like scikit-learn, the labels then
    # stop changing before they reflect the relocated centre
    assert c.dtype == np.float32 and c.tolist() == pytest.approx([-1, 0.3, 0.2, 0.9], abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fewer distinct clusters than n_clusters"
        km = KMeans(4, init=init[:, None], n_init=1).fit(x[:, None])
    assert c.tolist() == km.cluster_centers_[:, 0].tolist() and labels.tolist() == km.labels_.tolist()


def test_legacy_bins_transform_adds_the_old_epsilon():
    bins = LegacyKMeansBins(2).fit(np.array([[0.0], [0.0], [1.0], [1.0]]))
    edge = bins.bin_edges_[0][1]  # 0.5
    x = np.array([[edge - 1e-9]])
    old = bins.transform(x).toarray()[0].tolist()
    new = LegacyKMeansBins(2, legacy_transform=False).fit(np.array([[0.0], [0.0], [1.0], [1.0]]))
    assert old == [0.0, 1.0] and new.transform(x).toarray()[0].tolist() == [1.0, 0.0]


# ================================================================== pflip: model on the bundled sample
@pytest.fixture(scope="module")
def sample_inputs():
    import cnlab
    from cnlab.preprocess import preprocess

    ds = cnlab.load_sample()
    pre = preprocess(ds)
    rs = np.random.RandomState(0)
    ids = np.unique(pre.ratings[RID])
    pro = pd.DataFrame({RID: ids, S.RATER_FACTOR1: (rs.randn(len(ids)) * 0.5).astype(np.float32),
                        "internalFirstRoundRaterFactor1": np.nan, "scorerName": "MFCoreScorer"})
    return ds, pre, pro


def test_pflip_fit_predict_is_deterministic_with_a_seed(sample_inputs):
    ds, pre, pro = sample_inputs
    a = pflip.PFlipModel().fit(pre.notes, pre.ratings, pre.status_history, pro, seed=3)
    b = pflip.PFlipModel().fit(pre.notes, pre.ratings, pre.status_history, pro, seed=3)
    assert a.fitted and a.threshold == b.threshold and a.metrics["rows"] == 2 * a.report["MIN"]["labeled"]
    pa = a.predict(pre.notes, pre.ratings, pre.status_history, pro)
    pd.testing.assert_frame_equal(pa, b.predict(pre.notes, pre.ratings, pre.status_history, pro))
    assert set(pa[pflip.LABEL]) <= {"CRH", "FLIP"} and pa[pflip.PFLIP_PROBA].between(0, 1).all()
    assert "PFlipModel" in a.summary() and pflip.PFlipModel().predict(pre.notes, pre.ratings,
                                                                      pre.status_history, pro).empty


def test_pcrh_fit_predict_is_deterministic_with_a_seed(sample_inputs):
    ds, pre, pro = sample_inputs
    kw = dict(enrollment=ds.enrollment)
    a = pcrh.PCRHModel().fit(pre.notes, pre.ratings, pre.status_history, pro, seed=3, **kw)
    b = pcrh.PCRHModel().fit(pre.notes, pre.ratings, pre.status_history, pro, seed=3, **kw)
    pa = a.predict(pre.notes, pre.ratings, pre.status_history, pro, **kw)
    pd.testing.assert_frame_equal(pa, b.predict(pre.notes, pre.ratings, pre.status_history, pro, **kw))
    assert pa["pcrhExitN"].between(8, 100).all() and "PCRHModel" in a.summary()
    assert a.feature_columns[-1] == "N" and a.feature_columns[0] == "pcrh_all_h_factor1_mean"


# ================================================================== PCRH building blocks
def test_threshold_for_nearest_n_smaller_on_ties():
    per_n = dict(pcrh.PCRHConfig().per_n_thresholds)
    assert pcrh.threshold_for(10, per_n) == 0.78 and pcrh.threshold_for(12, per_n) == 0.78
    assert pcrh.threshold_for(9, per_n) == 0.77 and pcrh.threshold_for(40, per_n) == 0.70
    assert pcrh.threshold_for(97, per_n) == 0.67


def test_skew_matches_pandas_in_float64():
    rs = np.random.RandomState(0)
    v = rs.randn(40)
    keys = np.repeat([1, 2, 3, 4], [10, 2, 3, 25])
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    got = group_skew(v, starts, counts)
    want = [pd.Series(v[keys == k]).skew() if (keys == k).sum() >= 3 else 0.0 for k in (1, 2, 3, 4)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert group_skew(np.ones(4), np.array([0]), np.array([4]))[0] == 0.0  # no variance → 0


def test_factor_stats_and_rating_features():
    r = pd.DataFrame({NID: [1, 1, 1, 1, 2], RID: [1, 2, 3, 4, 1],
                      S.HELPFULNESS_LEVEL: [S.HELPFUL] * 3 + [S.NOT_HELPFUL, S.HELPFUL],
                      "helpfulClear": [1, 0, 1, 0, 0], "notHelpfulIncorrect": [0, 0, 0, 1, 0]})
    lookup = pd.DataFrame({RID: [1, 2, 3], pcrh.FACTOR: [0.1, 0.2, 0.6]})
    f = pcrh.rating_features(r, lookup, "x_").set_index(NID)
    assert f.loc[1, "x_h_factor1_mean"] == pytest.approx(0.3) and f.loc[1, "x_h_factor1_count"] == 3
    assert f.loc[1, "x_h_p50"] == pytest.approx(0.2) and f.loc[1, "x_h_p25"] == pytest.approx(0.15)
    assert f.loc[1, "x_h_iqr"] == pytest.approx(0.4 - 0.15)
    assert f.loc[1, "x_nh_factor1_count"] == 0  # rater 4 has no factor; NaN → 0
    assert f.loc[1, "x_tag_helpfulClear"] == 2 and f.loc[1, "x_tag_notHelpfulIncorrect"] == 1
    assert f.loc[2, "x_h_factor1_std"] == 0  # one value: NaN std filled with 0


def test_author_stats_windows_and_strict_reference():
    nsh = _nsh([
        {NID: 1, S.AUTHOR_ID: 7, "currentStatus": S.NMR, "timestampMillisOfCurrentStatus": 100 * HOUR},
        {NID: 2, S.AUTHOR_ID: 7, "currentStatus": S.CRH, "timestampMillisOfCurrentStatus": 90 * HOUR},
        {NID: 3, S.AUTHOR_ID: 7, "currentStatus": S.CRH, "timestampMillisOfCurrentStatus": 100 * HOUR - 20 * 24 * HOUR},
        {NID: 4, S.AUTHOR_ID: 7, "currentStatus": S.CRNH, "timestampMillisOfCurrentStatus": 100 * HOUR},
        {NID: 5, S.AUTHOR_ID: 8, "currentStatus": S.CRH, "timestampMillisOfCurrentStatus": 99 * HOUR},
    ])
    a = pcrh.author_stats(np.array([1]), nsh, float(100 * HOUR)).iloc[0]
    # note 2 in both windows, note 3 only in 90 d, note 4 not before the reference, note 5 other author
    assert (a["pcrh_author_crh_14d"], a["pcrh_author_crh_90d"], a["pcrh_author_crnh_14d"]) == (1, 2, 0)


def _author_stats_by_merge(note_ids, nsh, ref):
    """The definition, pair by pair: every (query note, other note of its author) row."""
    authors = nsh[[NID, S.AUTHOR_ID]].drop_duplicates(NID)
    q = pd.DataFrame({NID: note_ids}).merge(authors, on=NID, how="left")
    q["_ref"] = ref.reindex(q[NID].to_numpy()).to_numpy(dtype=float) if isinstance(ref, pd.Series) else ref
    m = q.merge(nsh.rename(columns={NID: "_o", "currentStatus": "_s", "timestampMillisOfCurrentStatus": "_t"}),
                on=S.AUTHOR_ID, how="inner")
    t, r = m["_t"].to_numpy(float), m["_ref"].to_numpy(float)
    ok = (m[NID] != m["_o"]).to_numpy() & ~np.isnan(t) & (t < r)
    out = {}
    for days, suf in ((14, "14d"), (90, "90d")):
        for st_, lab in ((S.CRH, "crh"), (S.CRNH, "crnh"), (S.NMR, "nmr")):
            sel = m[NID].to_numpy()[ok & (r - t <= days * 24 * HOUR) & (m["_s"].astype(object) == st_).to_numpy()]
            out[f"pcrh_author_{lab}_{suf}"] = pd.Series(sel).value_counts().reindex(note_ids, fill_value=0).to_numpy(float)
    return pd.DataFrame(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([S.CRH, S.CRNH, S.NMR]),
                          st.one_of(st.none(), st.integers(0, 200))), min_size=1, max_size=30),
       st.integers(0, 200), st.booleans())
def test_author_stats_equal_the_pairwise_definition(rows, ref_days, per_note):
    """The window-query counts equal the author × notes merge they replace (which is quadratic in a
    prolific author's notes)."""
    nsh = _nsh([{NID: i + 1, S.AUTHOR_ID: a, "currentStatus": s,
                 "timestampMillisOfCurrentStatus": np.nan if d is None else d * 24 * HOUR}
                for i, (a, s, d) in enumerate(rows)])
    ids = np.arange(1, len(rows) + 2)  # one id without an NSH row
    ref = (pd.Series((ids * 37 % 200) * 24 * HOUR, index=ids, dtype=float) if per_note
           else float(ref_days * 24 * HOUR))
    got = pcrh.author_stats(ids, nsh, ref)
    want = _author_stats_by_merge(ids, nsh, ref)
    for c in want.columns:
        np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy(), err_msg=c)


def test_first_n_ratings_and_scored_raters_up_to_the_nth_time():
    r = pd.DataFrame({NID: [1, 1, 1, 2], RID: [1, 2, 3, 1], T: [10, 20, 20, 5],
                      S.HELPFULNESS_LEVEL: [S.HELPFUL] * 4})
    r = r.assign(_rank=r.groupby(NID).cumcount().to_numpy() + 1)
    first, scored, nth = pcrh.first_n_ratings(r, np.array([3]), 2)
    assert first[RID].tolist() == [1, 2] and nth.to_dict("list") == {NID: [1], pcrh._NTH: [20]}
    assert scored[RID].tolist() == [3]  # rank 3 but at the same time as the 2nd rating


def test_to_timestamps_spec_06_B6():
    now = 100.0 * HOUR
    p = pd.DataFrame({NID: [1, 2, 3, 4, 5, 6], pcrh.ABOVE: [True, True, True, False, False, True]})
    prev = {1: 95.0 * HOUR, 2: 80.0 * HOUR, 4: -90.0 * HOUR, 6: -1.0}
    out = pcrh.to_timestamps(p, prev, now)[pcrh.ABOVE].tolist()
    assert out[:4] == [95 * HOUR, -80 * HOUR, now, -90 * HOUR]
    assert np.isnan(out[4]) and out[5] == now  # −1 is "no history": a new positive is allowed


def test_previous_state_preferences():
    prev_sn = pd.DataFrame({NID: [1, 2, 3], pcrh.ABOVE: [-1.0, -7.0, -4.0]})
    nsh = pd.DataFrame({NID: [1, 2, 3, 4], pcrh.ABOVE: [5.0, 9.0, -2.0, np.nan]})
    pos, times = pcrh.previous_state(prev_sn, nsh)
    assert times == {1: 5.0, 2: 9.0, 3: -2.0} and pos == {1, 2}


def test_suppress_ineligible():
    now = 100.0 * HOUR
    sn = pd.DataFrame({
        NID: [1, 2, 3, 4, 5, 6],
        "decidedBy": ["CoreModel (v1.1)", "ExpansionModel (v1.1)", "CoreModel (v1.1)", "CoreModel (v1.1)",
                      "ExpansionModel (v1.1)", "CoreModel (v1.1)"],
        "coreRatingStatus": [S.CRH, S.NMR, S.CRNH, S.CRH, S.NMR, S.CRH],
        S.CLASSIFICATION: [S.MISLEADING] * 6,
        pcrh.ABOVE: [95 * HOUR, 96 * HOUR, 97 * HOUR, 80 * HOUR, np.nan, -50 * HOUR]})
    a = pcrh.suppress_ineligible(sn)[pcrh.ABOVE].tolist()
    assert a[0] == 95 * HOUR and a[1] == -96 * HOUR and a[2] == -97 * HOUR and a[3] == 80 * HOUR
    b = pcrh.suppress_ineligible(sn, previous_positive={5}, previous_times={5: 90 * HOUR}, now=now)
    b = b[pcrh.ABOVE].tolist()
    assert b[3] == -80 * HOUR            # positive for more than 12 h
    assert b[4] == -90 * HOUR            # was positive, not Core-decided: −T0 from the previous run
    assert b[5] == -50 * HOUR            # historical negative kept


def test_filter_ratings_by_group_excludes_unenrolled():
    enr = pd.DataFrame({S.PARTICIPANT_ID: [1, 2, 3], S.MODELING_GROUP: [1.0, 4.0, np.nan]})
    r = pd.DataFrame({RID: [1, 2, 3, 4]})
    assert pcrh.filter_ratings_by_group(r, enr, S.CORE_GROUPS)[RID].tolist() == [1]


def test_merge_predictions_types():
    p = pd.DataFrame({NID: [1], pcrh.ABOVE: [5.0], "pcrhExitN": [9.0], "pcrhExitProba": [0.1],
                      "pcrhRevoked": [False], "pcrhRevokeN": [np.nan], "pcrhFinalPred": [False]})
    sn, aux = pcrh.merge_predictions(p, pd.DataFrame({NID: [1, 2]}), pd.DataFrame({NID: [1, 2]}))
    assert sn[pcrh.ABOVE].tolist()[0] == 5.0 and np.isnan(sn[pcrh.ABOVE].tolist()[1])
    assert str(aux["pcrhRevoked"].dtype) == "boolean" and aux["pcrhRevoked"].isna().tolist() == [False, True]


# ================================================================== pipeline glue
def test_pflip_targets_spec_04_10_1_step_2():
    now = 1000 * HOUR
    nsh = _nsh([
        {NID: 1, "timestampMillisOfNmrDueToMinStableCrhTime": 5.0, "currentStatus": S.NMR},
        {NID: 2, "timestampMillisOfNmrDueToMinStableCrhTime": -1.0, "currentStatus": S.CRH,
         "timestampMillisOfFirstNonNMRStatus": now - 2 * HOUR},
        {NID: 3, "currentStatus": S.CRH, "timestampMillisOfFirstNonNMRStatus": now - 48 * HOUR,
         "timestampMillisOfLatestNonNMRStatus": now - 23 * HOUR},
        {NID: 4, "currentStatus": S.CRH, "timestampMillisOfFirstNonNMRStatus": now - 48 * HOUR},
    ])
    ids, counts = pconf.pflip_targets(nsh, now)
    assert ids.tolist() == [1, 2, 3]
    assert counts == {"total": 3, "in_stabilization": 1, "currently_crh": 3, "recently_crh_within_24h": 2,
                      "overlap": 0}


def test_models_off_keep_the_previous_behaviour():
    assert pconf._resolve("none", pflip.PFlipModel, pflip.PFlipConfig) is None
    assert not pconf._resolve("fit", pflip.PFlipModel, pflip.PFlipConfig).fitted
    assert pconf._resolve(pcrh.PCRHConfig(max_depth=3), pcrh.PCRHModel, pcrh.PCRHConfig).config.max_depth == 3
    with pytest.raises(ValueError):
        pconf._resolve("yes", pflip.PFlipModel, pflip.PFlipConfig)
    sn = pd.DataFrame({NID: [1, 2], "decidedBy": ["CoreModel (v1.1)"] * 2})
    out, aux, labels = pconf.apply_predictions(None, sn, pd.DataFrame({NID: [1, 2]}))
    assert labels is None and out["pflipProba"].isna().all() and pcrh.ABOVE not in out.columns
    assert pconf.finalize_pcrh(None, out, epoch_millis=0) is out
