"""Tests for cnlab.models.similarity (spec 05 §B, §C): tier 1 hand cases, tier 2 properties, tier 3 parity."""

from __future__ import annotations

import gzip
import re
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab.models.similarity import (
    PssConfig,
    QuasiCliqueConfig,
    affinity_and_coverage,
    apply_post_selection_similarity,
    co_rating_counts,
    co_rating_suspect_pairs,
    connected_components,
    min_edge_count,
    post_selection_similarity,
    quasi_clique_pair_counts,
    quasi_cliques,
    rater_clustering,
    writer_rater_suspect_pairs,
)

MIN = 60_000
MISL = "MISINFORMED_OR_POTENTIALLY_MISLEADING"


def _frames(rows, *, authors=None, note_time=0):
    """rows: (tweet, note, rater, time[, level]) → (notes, ratings)."""
    r = pd.DataFrame(
        [(n, u, t, (lvl[0] if lvl else "HELPFUL")) for tw, n, u, t, *lvl in rows],
        columns=["noteId", "raterParticipantId", "createdAtMillis", "helpfulnessLevel"],
    )
    r["helpfulNum"] = r["helpfulnessLevel"].map({"HELPFUL": 1.0, "SOMEWHAT_HELPFUL": 0.5, "NOT_HELPFUL": 0.0})
    tweet_of = {n: tw for tw, n, *_ in rows}
    notes = pd.DataFrame(
        {
            "noteId": list(tweet_of),
            "tweetId": list(tweet_of.values()),
            "noteAuthorParticipantId": [(authors or {}).get(n, 10_000 + n) for n in tweet_of],
            "createdAtMillis": note_time,
            "classification": MISL,
        }
    )
    return notes, r


def _counts(notes, ratings, **kw):
    pairs, totals, N = co_rating_counts(notes, ratings, config=PssConfig(**kw))
    return {(a, b): c for a, b, c in pairs.itertuples(index=False)}, totals.to_dict(), N


# ---------------------------------------------------------------------------
# Tier 1: co-rating counts (§B.2)
# ---------------------------------------------------------------------------


def test_window_is_inclusive_and_per_note():
    rows = [(1, 1, "A", 0), (1, 1, "B", 20 * MIN), (1, 1, "C", 20 * MIN + 1)]
    counts, totals, N = _counts(*_frames(rows))
    # A–B exactly 20 min apart: counted; A–C 20 min + 1 ms: not; B–C 1 ms: counted.
    assert counts == {("A", "B"): 1, ("B", "C"): 1}
    assert totals == {"A": 1, "B": 1, "C": 1} and N == 3


def test_pairs_counted_once_per_tweet_and_not_across_notes():
    rows = [
        (1, 1, "A", 0), (1, 1, "B", MIN),          # note 1 of tweet 1
        (1, 2, "A", 0), (1, 2, "B", MIN),          # note 2, same tweet: not counted again
        (1, 3, "C", 0), (1, 4, "D", 0),            # different notes, same tweet: no pair
        (2, 5, "B", 0), (2, 5, "A", 5 * MIN),      # another tweet: second count
        (-1, 6, "A", 0), (-1, 6, "B", 0),          # tweetId -1 ignored
    ]
    counts, totals, N = _counts(*_frames(rows))
    assert counts == {("A", "B"): 2}
    assert totals == {"A": 2, "B": 2, "C": 1, "D": 1} and N == 6


def test_window_parameter_and_chunking_do_not_change_counts():
    rows = [(t, t, u, (i * 7 + t) * MIN) for t in range(5) for i, u in enumerate("ABCDE")]
    base, _, _ = _counts(*_frames(rows))
    small, _, _ = _counts(*_frames(rows), max_pairs_per_chunk=1)
    assert base == small
    narrow, _, _ = _counts(*_frames(rows), window_millis=7 * MIN)
    assert set(narrow) < set(base)


def _co_rating_rows(co: int, total: int):
    """Raters A and B each rate ``total`` tweets, together (1 min apart) on ``co`` of them."""
    rows = []
    for k in range(total):
        rows.append((k, k, "A", 0))
        rows.append((k if k < co else 1000 + k, k if k < co else 1000 + k, "B", MIN))
    return rows


@pytest.mark.parametrize(
    "co,total,kept",
    [(8, 10, True), (7, 10, False), (10, 9, False)],  # minSim = 8/20 = 0.4 ≥ 0.4; 7/20 < 0.4; totals < 10
)
def test_min_sim_threshold_and_eligibility(co, total, kept):
    notes, ratings = _frames(_co_rating_rows(co, total))
    out = co_rating_suspect_pairs(notes, ratings)
    assert (len(out) == 1) is kept
    if kept:
        assert out.loc[0, "minSim"] == pytest.approx(co / (total + 10))
        # N = 2·total distinct (tweet, rater); npmi < 0 here, so only minSim keeps the edge
        N = 2 * total
        npmi = np.log(co * N / (total + 500) ** 2) / -np.log(co / N)
        assert out.loc[0, "npmi"] == pytest.approx(npmi)


def test_npmi_threshold_keeps_rare_pairs():
    # With the default 500 pseudo-counts NPMI ≥ 0.55 needs N ~ 1e8; without them a
    # 12-of-40 overlap among N = 5080 (tweet, rater) pairs clears it while minSim = 12/50 < 0.4:
    # npmi = ln(12·5080 / 40²) / −ln(12 / 5080) = 0.602.
    rows = _co_rating_rows(12, 40)
    rows += [(5000 + k, 5000 + k, f"Z{k % 97}", 0) for k in range(5000)]
    notes, ratings = _frames(rows)
    out = co_rating_suspect_pairs(notes, ratings, config=PssConfig(pmi_regularization=0))
    assert len(out) == 1 and out.loc[0, "minSim"] == pytest.approx(12 / 50)
    assert out.loc[0, "npmi"] == pytest.approx(np.log(12 * 5080 / 40**2) / -np.log(12 / 5080))
    assert co_rating_suspect_pairs(notes, ratings).empty  # default pseudo-counts


# ---------------------------------------------------------------------------
# Tier 1: affinity and coverage (§B.1)
# ---------------------------------------------------------------------------


def _writer_frames(n_notes: int, rated: int, latency_min: float, extra_other: int = 0, level="HELPFUL"):
    authors = {n: "W" for n in range(n_notes)}
    rows = [(n, n, "U", int(latency_min * MIN), level) for n in range(rated)]
    rows += [(n, n, "V", 0) for n in range(rated, n_notes)]  # keep every note present
    for k in range(extra_other):
        authors[100 + k] = f"X{k}"
        rows.append((100 + k, 100 + k, "U", int(latency_min * MIN), level))
    return _frames(rows, authors=authors)


@pytest.mark.parametrize(
    "n_notes,rated,latency,suspect",
    [
        (10, 4, 10, True),   # writerCoverage20m = 0.4 ≥ 0.4
        (10, 3, 10, False),  # 0.3 < 0.4 at 20m; latency 10 min is outside 5m
        (10, 3, 4, True),    # writerCoverage5m = 0.3 ≥ 0.3
        (10, 2, 0.5, True),  # writerCoverage1m = 0.2 ≥ 0.2
        (9, 9, 10, False),   # writerTotal 9 < 10: coverage NA; raterTotal 9 < 10: affinity NA
        (10, 4, -30, True),  # negative latency is kept
        (10, 4, 21, False),  # too slow for every latency
    ],
)
def test_writer_coverage_thresholds(n_notes, rated, latency, suspect):
    notes, ratings = _writer_frames(n_notes, rated, latency)
    pairs = writer_rater_suspect_pairs(notes, ratings)
    assert (("U", "W") in set(map(tuple, pairs.to_numpy()))) is suspect


@pytest.mark.parametrize("own,other,suspect", [(7, 3, True), (6, 4, False)])
def test_rater_affinity_20m_threshold(own, other, suspect):
    # Writer has 9 notes (coverage NA) so only affinity20m = own / (own + other) decides.
    notes, ratings = _writer_frames(9, own, 10, extra_other=other)
    ac = affinity_and_coverage(notes, ratings)
    row = ac[(ac.noteAuthorParticipantId == "W") & (ac.raterParticipantId == "U")].iloc[0]
    assert row["raterAffinity20m"] == pytest.approx(own / (own + other))
    assert np.isnan(row["writerCoverage20m"]) and np.isnan(row["raterAffinity5m"])
    pairs = writer_rater_suspect_pairs(notes, ratings)
    assert (("U", "W") in set(map(tuple, pairs.to_numpy()))) is suspect


def test_affinity_uses_only_helpful_level():
    notes, ratings = _writer_frames(10, 10, 1, level="SOMEWHAT_HELPFUL")
    assert writer_rater_suspect_pairs(notes, ratings).empty


# ---------------------------------------------------------------------------
# Tier 1: components and the PSS frame (§B.3)
# ---------------------------------------------------------------------------


def test_connected_components_hand_case():
    cc = connected_components(np.array([5, 2, 9, 4]), np.array([2, 3, 9, 3]))
    groups = cc.groupby("postSelectionValue")["raterParticipantId"].apply(frozenset)
    assert set(groups) == {frozenset({2, 3, 4, 5}), frozenset({9})}  # self-loop → singleton
    assert connected_components(np.array([], dtype=int), np.array([], dtype=int)).empty


def test_pss_links_co_raters_into_one_component():
    notes, ratings = _frames(_co_rating_rows(10, 10))
    pss = post_selection_similarity(notes, ratings)
    assert sorted(pss["raterParticipantId"]) == ["A", "B"]
    assert pss["postSelectionValue"].nunique() == 1


# ---------------------------------------------------------------------------
# Tier 1: quasi-cliques (§C)
# ---------------------------------------------------------------------------


def _clique_frames(n_members=6, n_tweets=60, noise_overlap=10):
    rows = []
    for k in range(n_tweets):
        for m in range(n_members):
            rows.append((k, k, f"M{m}", 0, "HELPFUL"))
        rows.append((k, k, "Disagrees", 0, "NOT_HELPFUL"))  # different event
        if k < noise_overlap:
            rows.append((k, k, "Partial", 0, "HELPFUL"))
    return _frames(rows)


def test_quasi_clique_hand_case():
    notes, ratings = _clique_frames()
    pc = quasi_clique_pair_counts(notes, ratings)
    members = {f"M{m}" for m in range(6)}
    assert set(pc.loc[pc["count"] == 60, ["left", "right"]].apply(tuple, axis=1)) == set(combinations(sorted(members), 2))
    assert (pc.loc[(pc.left == "Partial") | (pc.right == "Partial"), "count"] == 10).all()
    qc = quasi_cliques(notes, ratings)
    # "Partial" matches 10 of 60 tweets < 25 %: rejected; growth stops.
    assert set(qc["raterParticipantId"]) == members and set(qc["quasiCliqueValue"]) == {1}


def test_quasi_clique_size_and_strict_pair_threshold():
    notes, ratings = _clique_frames(n_members=4)
    assert quasi_cliques(notes, ratings).empty  # 4 < minCliqueRaters
    notes, ratings = _clique_frames(n_tweets=50)
    assert quasi_cliques(notes, ratings).empty  # count 50 is not > 50
    assert len(quasi_cliques(notes, ratings, config=QuasiCliqueConfig(min_rater_pair_count=49))) == 6


def test_quasi_clique_ignores_old_and_not_misleading_notes():
    notes, ratings = _clique_frames()
    nm = notes.assign(classification="NOT_MISLEADING")
    assert quasi_cliques(nm, ratings).empty
    old = notes.assign(createdAtMillis=np.where(notes.noteId < 40, 0, QuasiCliqueConfig().recency_cutoff_millis + 1))
    assert quasi_cliques(old, ratings).empty  # only 20 recent tweets remain


def test_degenerate_inputs_give_empty_frames():
    notes, ratings = _frames([(1, 1, "A", 0)])
    qc = quasi_cliques(notes, ratings)
    assert qc.empty and list(qc.columns) == ["raterParticipantId", "quasiCliqueValue"]
    rc = rater_clustering(notes.iloc[:0], ratings.iloc[:0])
    assert rc.empty and list(rc.columns) == ["raterParticipantId", "postSelectionValue", "quasiCliqueValue"]


# ---------------------------------------------------------------------------
# Tier 1: application (§B.4)
# ---------------------------------------------------------------------------


def _apply_case():
    notes = pd.DataFrame({"noteId": [1, 2, 3], "noteAuthorParticipantId": [99, 11, 12]})
    ratings = pd.DataFrame(
        {
            "noteId": [1, 1, 1, 2, 2, 3, 3],
            "raterParticipantId": [10, 11, 20, 10, 20, 10, 11],
            "createdAtMillis": [5, 3, 1, 1, 2, 7, 7],
        }
    )
    pss = pd.DataFrame(
        {
            "raterParticipantId": [10, 11, 12],
            "postSelectionValue": [1.0, 1.0, np.nan],
            "quasiCliqueValue": [np.nan, 3.0, 2.0],
        }
    )
    return notes, ratings, pss


def test_apply_coalesces_and_drops_same_clique_author():
    notes, ratings, pss = _apply_case()
    out, rep = apply_post_selection_similarity(notes, ratings, pss, min_notes=1)
    got = list(zip(out.noteId, out.raterParticipantId))
    # note 1: clique {10, 11} keeps only its earliest rating (11 at t=3); note 2 is by 11: 10's rating
    # dropped; note 3: tie at t=7 keeps input order (10); non-members (20) appended in input order.
    assert got == [(1, 11), (3, 10), (1, 20), (2, 20)]
    assert rep.dropped_same_clique_as_author == 1 and rep.dropped_duplicate_in_clique == 2
    assert rep.ratings_in - rep.ratings_out == rep.dropped == 3
    assert out.set_index(["noteId", "raterParticipantId"])["correlatedRater"].to_dict() == {
        (1, 11): True, (3, 10): False, (1, 20): False, (2, 20): False,
    }
    assert "postSelectionValue_note_author" in out.columns


def test_apply_skips_coalescing_below_200_notes():
    notes, ratings, pss = _apply_case()
    out, rep = apply_post_selection_similarity(notes, ratings, pss)
    assert rep.skipped and len(out) == len(ratings) and rep.dropped == 0
    assert rep.dropped_duplicate_in_clique == 2  # what would have been dropped
    assert out["correlatedRater"].tolist() == [False, True, False, False, False, False, True]
    pd.testing.assert_frame_equal(out.drop(columns="correlatedRater"), ratings)


def test_apply_dropna_keeps_only_raters_in_both():
    notes, ratings, pss = _apply_case()
    out, rep = apply_post_selection_similarity(notes, ratings, pss, min_notes=1, dropna=True)
    # only rater 11 has both values → a one-member clique: nothing coalesced, 12 no longer flagged
    assert rep.dropped == 0 and rep.dropped_pss_na_rows == 2 and rep.correlated_raters == 1
    assert len(out) == len(ratings)


# ---------------------------------------------------------------------------
# Tier 2: properties
# ---------------------------------------------------------------------------


def _brute_force_counts(rows, window):
    counts = {}
    by_tweet = {}
    for tw, n, u, t in rows:
        if tw != -1:
            by_tweet.setdefault(tw, {}).setdefault(n, []).append((t, u))
    for notes_ in by_tweet.values():
        seen = set()
        for rs in notes_.values():
            for (ti, ui), (tj, uj) in combinations(rs, 2):
                if ui != uj and abs(ti - tj) <= window:
                    seen.add(tuple(sorted((ui, uj))))
        for p in seen:
            counts[p] = counts.get(p, 0) + 1
    return counts


_rating_rows = st.lists(
    st.tuples(st.integers(-1, 3), st.integers(0, 6), st.integers(0, 7), st.integers(0, 50)),
    max_size=60,
).map(lambda rows: list({(n, u): (tw, n, u, t) for tw, n, u, t in rows}.values()))  # one rating per (note, rater)


def _consistent(rows):
    tweet_of = {}
    return [(tweet_of.setdefault(n, tw), n, u, t) for tw, n, u, t in rows]


@settings(max_examples=80, deadline=None)
@given(_rating_rows, st.sampled_from([0, 5, 20]), st.integers(1, 50), st.sampled_from([2**40, 64, 1]))
def test_co_rating_counts_match_definition(rows, window, chunk, memory):
    # memory=1 byte forces one partition per raw pair: the bounded-memory path must count the same
    rows = _consistent(rows)
    if not rows:
        return
    notes, ratings = _frames([(tw, n, u, t * MIN) for tw, n, u, t in rows])
    counts, _, _ = _counts(notes, ratings, window_millis=window * MIN, max_pairs_per_chunk=chunk,
                           pair_memory_bytes=memory)
    assert counts == _brute_force_counts([(tw, n, u, t * MIN) for tw, n, u, t in rows], window * MIN)


def test_duplicated_note_rows_count_as_the_merge_does():
    """A note listed twice (same post) gives the counts of the official merge, which pairs each
    rating with itself too (dropped: same rater) and counts a pair once per post."""
    rows = [(1, 1, "a", 0), (1, 1, "b", MIN), (1, 1, "c", 2 * MIN), (2, 2, "a", 0), (2, 2, "b", 0)]
    notes, ratings = _frames(rows)
    want = _counts(notes, ratings)
    twice = pd.concat([notes, notes.iloc[:1]], ignore_index=True)
    assert _counts(twice, ratings) == want
    assert want[0] == {("a", "b"): 2, ("a", "c"): 1, ("b", "c"): 1}


def test_partitioned_quasi_clique_counts_equal_one_pass():
    notes, ratings = _clique_frames()
    one = quasi_clique_pair_counts(notes, ratings)
    parts = quasi_clique_pair_counts(notes, ratings, config=QuasiCliqueConfig(pair_memory_bytes=1000))
    pd.testing.assert_frame_equal(one, parts)
    assert len(one) == 15 + 6 and sorted(one["count"].unique()) == [10, 60]


@pytest.mark.parametrize("N", [2, 30, 600, 10_000, 10**6, 10**8, 10**10])
def test_min_edge_count_is_the_exact_floor(N):
    """Below the floor no pair passes NPMI or minSim for any totals; at it, the most favourable does."""
    cfg = PssConfig()
    floor = min_edge_count(N, cfg)
    co = np.arange(1, floor, dtype=np.float64)
    for t in (cfg.min_unique_posts, cfg.min_unique_posts + 1, 40, 1000, 10**5):
        tl = np.full_like(co, t)
        for tr in (tl, tl * 3):
            with np.errstate(divide="ignore", invalid="ignore"):
                npmi = np.log(co * N / ((tl + 500) * (tr + 500))) / -np.log(co / N)
            min_sim = co / (np.minimum(tl, tr) + 10)
            assert not ((npmi >= 0.55) | (min_sim >= 0.4)).any()
    if floor <= N:
        t = cfg.min_unique_posts
        with np.errstate(divide="ignore"):
            npmi = np.log(floor * N / (t + 500) ** 2) / -np.log(floor / N)
        assert npmi >= 0.55 or floor / (t + 10) >= 0.4


@settings(max_examples=60, deadline=None)
@given(_rating_rows, st.integers(0, 4))
def test_pruned_suspect_pairs_equal_unpruned(rows, extra_posts):
    """co_rating_suspect_pairs prunes pairs below min_edge_count; the edges must be those of the
    full count table."""
    rows = _consistent(rows)
    if not rows:
        return
    # small thresholds so that some pairs pass on tiny data
    cfg = PssConfig(min_unique_posts=1 + extra_posts, window_millis=60 * MIN)
    notes, ratings = _frames([(tw, n, u, t * MIN) for tw, n, u, t in rows])
    got = co_rating_suspect_pairs(notes, ratings, config=cfg)
    full, totals, N = co_rating_counts(notes, ratings, config=cfg)
    eligible = totals[totals >= cfg.min_unique_posts]
    tl, tr = full["left"].map(eligible), full["right"].map(eligible)
    ok = tl.notna() & tr.notna()
    co, tl, tr = full["coCount"][ok].to_numpy(float), tl[ok].to_numpy(float), tr[ok].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        npmi = np.log(co * N / ((tl + 500) * (tr + 500))) / -np.log(co / N)
    keep = (npmi >= cfg.smoothed_npmi_threshold) | (co / (np.minimum(tl, tr) + 10) >= 0.4)
    want = full[ok][keep]
    assert sorted(zip(got["left"], got["right"])) == sorted(zip(want["left"], want["right"]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=25))
def test_components_are_a_partition(edges):
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    cc = connected_components(left, right)
    assert cc["raterParticipantId"].is_unique
    assert set(cc["raterParticipantId"]) == set(left) | set(right)
    comp = dict(zip(cc.raterParticipantId, cc.postSelectionValue))
    assert all(comp[a] == comp[b] for a, b in edges)
    # number of components equals a reference union-find
    parent = {x: x for x in comp}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    assert cc["postSelectionValue"].nunique() == len({find(x) for x in comp})


@settings(max_examples=80, deadline=None)
@given(
    _rating_rows,
    st.dictionaries(st.integers(0, 7), st.integers(1, 3), max_size=6),
    st.dictionaries(st.integers(0, 6), st.integers(0, 9), max_size=7),
    st.booleans(),
)
def test_apply_never_adds_and_keeps_one_rating_per_note_and_clique(rows, clique_of, author_of, dropna):
    rows = _consistent(rows)
    notes, ratings = _frames([(tw, n, u, t) for tw, n, u, t in rows])
    notes["noteAuthorParticipantId"] = [author_of.get(n, 100 + n) for n in notes.noteId]
    pss = pd.DataFrame(
        {
            "raterParticipantId": list(clique_of),
            "postSelectionValue": np.array(list(clique_of.values()), dtype=float),
            "quasiCliqueValue": [1.0 if u % 2 else np.nan for u in clique_of],
        }
    )
    out, rep = apply_post_selection_similarity(notes, ratings, pss, min_notes=0, dropna=dropna)
    assert len(out) <= len(ratings) and rep.dropped == len(ratings) - len(out)
    assert rep.dropped == rep.dropped_same_clique_as_author + rep.dropped_duplicate_in_clique
    before = set(zip(ratings.noteId, ratings.raterParticipantId))
    after = list(zip(out.noteId, out.raterParticipantId))
    assert set(after) <= before and len(after) == len(set(after))
    used = pss.dropna() if dropna else pss
    value = dict(zip(used.raterParticipantId, used.postSelectionValue))
    members = out[out.raterParticipantId.isin(list(value))]
    clique = members.raterParticipantId.map(value)
    assert not pd.DataFrame({"n": members.noteId, "c": clique}).duplicated().any()
    author = out.noteId.map(dict(zip(notes.noteId, notes.noteAuthorParticipantId)))
    assert not (out.raterParticipantId.map(value) == author.map(value)).any()


# ---------------------------------------------------------------------------
# Tier 3: parity with the official run
# ---------------------------------------------------------------------------

#: PSS components and quasi-cliques must equal the official member sets exactly
#: (ids are arbitrary; the fixture has no ties in the greedy quasi-clique order).
ALLOWED_PARTITION_DIFFERENCES = 0
#: The number of ratings removed by applying the official PSS frame must equal the logged count.
ALLOWED_REMOVED_COUNT_DIFFERENCE = 0


def _helpful_num(r: pd.DataFrame) -> pd.Series:
    """spec 04 §4.2 (the loader's job; repeated here so this test stands alone)."""
    hn = pd.Series(np.nan, index=r.index)
    hn[r["helpful"] == 1] = 1.0
    hn[r["notHelpful"] == 1] = 0.0
    level = r["helpfulnessLevel"].map({"NOT_HELPFUL": 0.0, "SOMEWHAT_HELPFUL": 0.5, "HELPFUL": 1.0})
    return level.fillna(hn)


@pytest.fixture(scope="module")
def official(small_dir):
    inp = small_dir / "inputs"
    notes = pd.read_csv(inp / "notes-00000.tsv.gz", sep="\t")
    ratings = pd.read_csv(
        inp / "ratings-00000.tsv.gz",
        sep="\t",
        usecols=["noteId", "raterParticipantId", "createdAtMillis", "helpful", "notHelpful", "helpfulnessLevel"],
    )
    ratings["helpfulNum"] = _helpful_num(ratings)
    ratings = ratings[ratings["helpfulNum"].notna()].reset_index(drop=True)
    nsh = pd.read_csv(inp / "noteStatusHistory-00000.tsv.gz", sep="\t", usecols=["noteAuthorParticipantId"])
    enr = pd.read_csv(inp / "userEnrollment-00000.tsv.gz", sep="\t", usecols=["participantId"])
    # spec 04 §3: official codes = position in the sorted union of the four id columns
    ids = np.sort(
        pd.unique(
            pd.concat(
                [notes.noteAuthorParticipantId, ratings.raterParticipantId, nsh.noteAuthorParticipantId, enr.participantId]
            ).dropna().astype(str)
        )
    )
    pss = pd.read_parquet(small_dir / "official-all" / "prescoring" / "pss_output.parquet")
    pss["raterParticipantId"] = ids[pss["raterParticipantId"].to_numpy()]
    logs = {}
    for name in ("log_prescoring", "log_final"):
        with gzip.open(small_dir / "official-all" / f"{name}.txt.gz", "rt") as fh:
            logs[name] = fh.read()
    return notes, ratings, pss, logs


def _partition(frame, col):
    f = frame.dropna(subset=[col])
    return sorted(sorted(g) for g in f.groupby(col)["raterParticipantId"].apply(set))


def _mismatch(a, b):
    return len({tuple(x) for x in a} ^ {tuple(x) for x in b})


@pytest.fixture(scope="module")
def ours(official):
    notes, ratings, _, _ = official
    return rater_clustering(notes, ratings)


@pytest.mark.parity
def test_pss_components_match_official(official, ours):
    _, _, pss, _ = official
    assert _mismatch(_partition(ours, "postSelectionValue"), _partition(pss, "postSelectionValue")) <= ALLOWED_PARTITION_DIFFERENCES


@pytest.mark.parity
def test_quasi_cliques_match_official(official, ours):
    _, _, pss, _ = official
    assert _mismatch(_partition(ours, "quasiCliqueValue"), _partition(pss, "quasiCliqueValue")) <= ALLOWED_PARTITION_DIFFERENCES


def _log_counts(log: str, phase: str):
    block = log[log.index(f"Post Selection Similarity {phase}: begin") :]
    before = int(re.search(r"Total ratings prior to applying post selection similarity: (\d+)", block).group(1))
    after = int(re.search(r"Post Selection Similarity [A-Za-z ]+: (\d+) ratings remaining", block).group(1))
    corr = int(re.search(r"correlatedRater set on (\d+) ratings from (\d+) unique raters", block).group(1))
    return before, after, corr


@pytest.mark.parity
@pytest.mark.parametrize("which", ["official", "ours"])
def test_prescoring_removal_count_matches_log(official, ours, which):
    notes, ratings, pss, logs = official
    frame = pss if which == "official" else ours
    before, after, corr = _log_counts(logs["log_prescoring"], "Prescoring")
    assert len(ratings) == before
    out, rep = apply_post_selection_similarity(notes, ratings, frame)
    assert abs(rep.dropped - (before - after)) <= ALLOWED_REMOVED_COUNT_DIFFERENCE, rep.summary()
    assert rep.correlated_ratings == corr


@pytest.mark.parity
def test_final_scoring_dropna_quirk_matches_log(official):
    notes, ratings, pss, logs = official
    before, after, corr = _log_counts(logs["log_final"], "Final Scoring")
    out, rep = apply_post_selection_similarity(notes, ratings, pss, dropna=True)
    assert len(ratings) == before
    assert abs(rep.dropped - (before - after)) <= ALLOWED_REMOVED_COUNT_DIFFERENCE
    assert rep.correlated_ratings == corr


_qc_rows = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 6), st.sampled_from(
        ["HELPFUL", "NOT_HELPFUL", "SOMEWHAT_HELPFUL"])),
    max_size=80,
).map(lambda rows: list({(n, u): (tw, n, u, lvl) for tw, n, u, lvl in rows}.values()))


def _qc_frames(rows):
    """``_qc_rows`` rows with one tweet per note (the first drawn), and their (notes, ratings)."""
    tweet_of = {}
    rows = [(tweet_of.setdefault(n, tw), n, u, lvl) for tw, n, u, lvl in rows]
    return rows, *_frames([(tw, n, f"u{u}", 0, lvl) for tw, n, u, lvl in rows])


@settings(max_examples=100, deadline=None)
@given(_qc_rows, st.integers(1, 40))
def test_quasi_clique_pair_counts_match_definition(rows, budget):
    """The sparse-product count, with its per-tweet surplus correction and its row blocks, equals
    the definition: the number of tweets on which two raters rated some note with the same level."""
    if not rows:
        return
    rows, notes, ratings = _qc_frames(rows)
    cfg = QuasiCliqueConfig(min_aligned_ratings=1, max_pairs_per_chunk=budget)
    got = {(a, b): c for a, b, c in quasi_clique_pair_counts(notes, ratings, config=cfg).itertuples(index=False)}
    events = {}
    for tw, n, u, lvl in rows:
        events.setdefault((tw, n, lvl), set()).add(f"u{u}")
    per_tweet = {}
    for (tw, _n, _lvl), raters in events.items():
        per_tweet.setdefault(tw, set()).update(combinations(sorted(raters), 2))
    want = {}
    for pairs in per_tweet.values():
        for p in pairs:
            want[p] = want.get(p, 0) + 1
    assert got == want
    # the codes come out strictly ascending (per-block sorts; later steps search them)
    from cnlab.models import quasi_cliques as Q

    rater, tweet, event, ids, n_events, n_tweets = Q._quasi_clique_inputs(notes, ratings, cfg)
    blocks = Q._aligned_pair_blocks(rater, tweet, event, Q._several_on_tweet(rater, tweet, n_tweets),
                                    len(ids), n_events, cfg)
    codes = np.concatenate([np.empty(0, np.int64), *(c for c, _ in blocks)])
    assert np.all(np.diff(codes) > 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 5)), max_size=60))
def test_several_on_tweet_flags_exactly_the_repeated_rater_tweet_rows(rows):
    """Each row whose (rater, tweet) occurs more than once is flagged, and no other."""
    from cnlab.models import quasi_cliques as Q

    rater = np.array([r for r, _ in rows], dtype=np.int32)
    tweet = np.array([t for _, t in rows], dtype=np.int32)
    want = np.array([rows.count(x) >= 2 for x in rows], dtype=bool)
    assert Q._several_on_tweet(rater, tweet, 6).tolist() == want.tolist()


@settings(max_examples=60, deadline=None)
@given(_qc_rows, st.integers(1, 40), st.integers(0, 3))
def test_seed_pairs_only_keep_the_same_pairs_and_rows(rows, budget, above):
    """What the greedy search reads (pairs above the seed count, the event table of the raters in
    some pair ≥ the minimum) is the same whether or not the weaker pairs are kept."""
    from cnlab.models import quasi_cliques as Q

    if not rows:
        return
    rows, notes, ratings = _qc_frames(rows)
    cfg = QuasiCliqueConfig(min_aligned_ratings=1, max_pairs_per_chunk=budget)
    full, t_full = Q._quasi_clique_pairs(notes, ratings, cfg)
    seeds, t_seeds = Q._quasi_clique_pairs(notes, ratings, cfg, above=above)
    pd.testing.assert_frame_equal(seeds.reset_index(drop=True),
                                  full.loc[full["count"] > above].reset_index(drop=True),
                                  check_dtype=False)  # an empty id column's dtype is pandas' guess
    for field in ("rater", "tweet", "event", "event_ptr", "by_rater", "rater_ptr", "multi_row"):
        assert np.array_equal(getattr(t_full, field), getattr(t_seeds, field)), field


def test_duplicated_note_ids_are_refused_by_quasi_cliques():
    notes, ratings = _frames([(1, 1, "a", 0), (1, 2, "b", 0)])
    notes = pd.concat([notes, notes.iloc[[1]]], ignore_index=True)
    with pytest.raises(ValueError, match="noteId 2 appears more than once"):
        quasi_cliques(notes, ratings)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 14), st.integers(0, 25 * 60_000),
                          st.sampled_from(["HELPFUL", "HELPFUL", "NOT_HELPFUL"])), max_size=80),
       st.dictionaries(st.integers(0, 14), st.integers(0, 3)), st.integers(1, 4))
def test_writer_rater_pairs_equal_the_affinity_frame(rows, author_of, min_den):
    """The array path of the writer→rater pairs gives exactly the pairs over a threshold in
    :func:`affinity_and_coverage`'s frame (self-pairs and raters' other authors included)."""
    rows = list({(n, u): (n % 7, n, u, t, lvl) for u, n, t, lvl in rows}.values())
    if not rows:
        return
    notes, ratings = _frames(rows, authors={n: a for n, a in author_of.items()})
    cfg = PssConfig(min_denominator=min_den)
    ac = affinity_and_coverage(notes, ratings, config=cfg)
    hit = np.zeros(len(ac), dtype=bool)
    for L, thr in cfg.writer_coverage_thresholds:
        hit |= (ac[f"writerCoverage{L}m"] >= thr).to_numpy()
    for L, thr in cfg.rater_affinity_thresholds:
        hit |= (ac[f"raterAffinity{L}m"] >= thr).to_numpy()
    want = {tuple(sorted(p)) for p in zip(ac.loc[hit, "noteAuthorParticipantId"], ac.loc[hit, "raterParticipantId"])}
    got = writer_rater_suspect_pairs(notes, ratings, config=cfg)
    assert set(zip(got["left"], got["right"])) == want
    assert not got.duplicated().any()


@pytest.mark.parametrize("fn", [quasi_cliques, writer_rater_suspect_pairs, co_rating_counts])
def test_note_ids_of_different_kinds_are_refused(fn):
    """Text note ids in the ratings against numeric ones in the notes would match nothing: an error
    naming the column, not an empty result."""
    from cnlab.errors import CnlabInputError

    notes, ratings = _frames([(1, 1, "a", 0), (1, 1, "b", 0)])
    ratings = ratings.assign(noteId=ratings["noteId"].astype(str))
    with pytest.raises(CnlabInputError, match="noteId is int64 in the notes"):
        fn(notes, ratings)


def test_pss_plan_in_pieces_gives_the_coalesced_frame(tmp_path):
    """The coalesced ratings built piece by piece from a :class:`PssPlan` (as a lean run writes
    the workers' input) equal the whole-frame coalescing, row for row, also through the
    checkpoint's piecewise Arrow file."""
    from cnlab.io import load_sample
    from cnlab.models.similarity import plan_post_selection_similarity, rater_clustering
    from cnlab.pipeline.checkpoint import Checkpoint
    from cnlab.scorers.base import ScoringContext
    from cnlab.preprocess import preprocess

    pre = preprocess(load_sample())
    pss = rater_clustering(pre.notes, pre.ratings)
    want, rep = apply_post_selection_similarity(pre.notes, pre.ratings, pss, keep_values=True)
    assert rep.dropped > 0, "the sample must coalesce something for this test to mean anything"
    plan = plan_post_selection_similarity(pre.notes, pre.ratings, pss)
    assert plan.report == rep
    pieces = list(plan.chunks(size=5000))
    assert len(pieces) > 3
    np.testing.assert_array_equal(np.concatenate(pieces), plan.take())
    got = pd.concat([plan.rows_of(pre.ratings, p, keep_values=True) for p in pieces], ignore_index=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    ckpt = Checkpoint(tmp_path, {}, None)
    context = ScoringContext(status_history=pre.status_history, enrollment=load_sample().enrollment,
                             note_topics=None, seed=1, epoch_millis=0)
    ckpt.save_inputs_in_pieces((plan.rows_of(pre.ratings, p) for p in plan.chunks(size=5000)), context)
    back = Checkpoint.read_inputs(tmp_path)[0]
    pd.testing.assert_frame_equal(back, want.drop(columns=["postSelectionValue", "postSelectionValue_note_author"]),
                                  check_exact=True)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 9), st.integers(0, 9)), max_size=80),
       chunk=st.integers(1, 7), min_count=st.sampled_from([1, 2, 3]))
def test_partitioned_pair_counts_list_the_chunks_once_and_equal_one_pass(tmp_path_factory, rows, chunk, min_count):
    """Above the memory budget the pairs are counted in partitions spilled to one temporary file:
    the same codes and counts as one in-memory pass, from one listing of the chunks, and no file
    is left behind (also when the listing fails)."""
    from cnlab.models._rating_pairs import count_pairs

    rows = sorted((p, a, b) for p, a, b in rows if a != b)
    post = np.array([r[0] for r in rows], np.int64)
    a = np.array([r[1] for r in rows], np.int32)
    b = np.array([r[2] for r in rows], np.int32)
    starts = [0] + [i for i in range(1, len(rows)) if post[i] != post[i - 1]] + [len(rows)]
    calls = []

    def chunks():  # posts never split: chunk boundaries at post starts only
        calls.append(1)
        cuts = starts[::chunk] + ([starts[-1]] if starts[::chunk][-1] != starts[-1] else [])
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            yield post[lo:hi], a[lo:hi], b[lo:hi]

    spill = tmp_path_factory.mktemp("spill")
    one = count_pairs(chunks, 10, len(rows), min_count=min_count, memory_bytes=2**40)
    calls.clear()
    parts = count_pairs(chunks, 10, len(rows), min_count=min_count, memory_bytes=24, spill_dir=str(spill))
    assert len(calls) == 1
    assert np.array_equal(one[0], parts[0]) and np.array_equal(one[1], parts[1])
    assert parts[1].dtype == np.int64
    assert list(spill.iterdir()) == []

    def failing():
        yield post, a, b
        raise RuntimeError("listing failed")

    with pytest.raises(RuntimeError):
        count_pairs(failing, 10, max(len(rows), 1), memory_bytes=1, spill_dir=str(spill))
    assert list(spill.iterdir()) == []


def test_partitioned_pair_counts_by_hand(tmp_path):
    """Posts 1 and 2 both pair raters 0 and 1 (count 2; listed twice on post 1, counted once),
    rater pair (2, 3) occurs on post 2 only; with three partitions as with one."""
    from cnlab.models._rating_pairs import count_pairs

    post = np.array([1, 1, 2, 2], np.int64)
    a, b = np.array([0, 1, 1, 3], np.int32), np.array([1, 0, 0, 2], np.int32)
    for memory in (2**40, 8 * 24 // 3):  # one partition; three
        codes, counts = count_pairs(lambda: iter([(post, a, b)]), 4, 8, memory_bytes=memory,
                                    spill_dir=str(tmp_path))
        assert codes.tolist() == [0 * 4 + 1, 2 * 4 + 3] and counts.tolist() == [2, 1]
