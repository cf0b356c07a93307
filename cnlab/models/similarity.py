"""Rater clustering: post-selection similarity and rating coalescing (spec 05 §B), phase 1 (spec 04 §7).

Two detectors of raters who behave as one:

* **Post-selection similarity (PSS)** (:func:`post_selection_similarity`,
  §B.1–B.3, this module) links (a) a writer and a rater when the rater's fast
  helpful ratings concentrate on that writer's notes (affinity / coverage at 1,
  5 and 20 minutes), and (b) two raters who repeatedly rate the same post within
  20 minutes of each other (smoothed NPMI or min-similarity).  Raters are
  grouped into the connected components of the union of those links.
* **Quasi-cliques** (:func:`quasi_cliques`, §C) greedily grow groups of raters
  that rated the same recent misleading notes the same way; they live in
  :mod:`cnlab.models.quasi_cliques` and are re-exported here.

:func:`rater_clustering` is the phase-1 output (spec 04 §7): the outer merge
``[raterParticipantId, postSelectionValue, quasiCliqueValue]``.
:func:`apply_post_selection_similarity` (§B.4) then coalesces ratings: one
rating per (note, PSS component), none from a component on its own members'
notes, and flags ``correlatedRater`` for quasi-clique members.

Participant ids may be of any orderable dtype (int32 codes from the loader,
or the original strings); "sorted pair" means sorted by that order, which for
loader codes equals the official lexicographic order (spec 04 §3).

Complexity
----------
With ``n`` ratings, the co-rating count (§B.2) sorts once (``O(n log n)``),
finds each rating's 20-minute window start with one ``searchsorted`` and then
materialises the ``P`` in-window rating pairs in chunks of at most
``PssConfig.max_pairs_per_chunk`` (``O(P log P)`` for the per-tweet
de-duplication; :mod:`cnlab.models._rating_pairs`).  ``P`` is what the
official nested loop visits too; no Python loop runs per rating or per pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnlab._arrays import run_lengths, unique
from cnlab import schema
from cnlab.models._rating_pairs import (
    _chunks_by_group,
    _not_missing_tweet,
    _range_pairs,
    check_note_id_kinds,
    count_pairs,
)
from cnlab.models.quasi_cliques import (
    QUASI_CLIQUE_VALUE,
    QuasiCliqueConfig,
    quasi_clique_pair_counts,
    quasi_cliques,
)

__all__ = [
    "CLUSTERING_COLUMNS",
    "PssConfig",
    "QuasiCliqueConfig",
    "PssApplyReport",
    "MIN_NOTES_FOR_COALESCING",
    "affinity_and_coverage",
    "writer_rater_suspect_pairs",
    "co_rating_counts",
    "co_rating_suspect_pairs",
    "min_edge_count",
    "connected_components",
    "post_selection_similarity",
    "quasi_clique_pair_counts",
    "quasi_cliques",
    "rater_clustering",
    "apply_post_selection_similarity",
    "plan_post_selection_similarity",
    "PssPlan",
]

POST_SELECTION_VALUE = "postSelectionValue"
NOTE_AUTHOR_SUFFIX = "_note_author"

#: Official ``constants.minNumNotesForProdData``: below this many notes,
#: :func:`apply_post_selection_similarity` returns the ratings un-coalesced.
MIN_NOTES_FOR_COALESCING = 200


@dataclass(frozen=True)
class PssConfig:
    """Post-selection-similarity constants (spec 05 §B; ``PostSelectionSimilarity`` defaults).

    Attributes
    ----------
    pmi_regularization
        Official ``pmiRegularization=500``: pseudo-count added to each rater's
        post total in the NPMI denominator.
    smoothed_npmi_threshold
        Official ``smoothedNpmiThreshold=0.55``: edge if NPMI ≥ this.
    min_rating_proportion
        Official ``minimumRatingProportionThreshold=0.4``: edge if minSim ≥ this.
    min_unique_posts
        Official ``minUniquePosts=10``: raters need this many distinct posts.
    min_sim_pseudocounts
        Official ``minSimPseudocounts=10``: added to the smaller total in minSim.
    window_millis
        Official ``windowMillis=20·60·1000``: co-rating window (inclusive ``≤``).
    affinity_latencies_min
        Official ``compute_affinity_and_coverage(..., [1, 5, 20])`` latencies (minutes).
    writer_coverage_thresholds
        Official ``get_suspect_pairs`` thresholds ``writerCoverage{1,5,20}m ≥ 0.2/0.3/0.4``.
    rater_affinity_thresholds
        Official ``raterAffinity{1,5,20}m ≥ 0.2/0.45/0.7``.
    min_denominator
        Official ``minDenom=10``: affinity (coverage) is NA when the rater's
        (writer's) total is below this.
    max_pairs_per_chunk
        cnlab memory bound (no official counterpart): in-window pairs
        materialised at once.
    pair_memory_bytes
        cnlab memory bound (no official counterpart): memory for counting the
        pairs; above it they are counted in partitions, same result.
    """

    pmi_regularization: int = 500
    smoothed_npmi_threshold: float = 0.55
    min_rating_proportion: float = 0.4
    min_unique_posts: int = 10
    min_sim_pseudocounts: int = 10
    window_millis: int = 20 * 60 * 1000
    affinity_latencies_min: tuple[int, ...] = (20, 5, 1)
    writer_coverage_thresholds: tuple[tuple[int, float], ...] = ((1, 0.2), (5, 0.3), (20, 0.4))
    rater_affinity_thresholds: tuple[tuple[int, float], ...] = ((1, 0.2), (5, 0.45), (20, 0.7))
    min_denominator: int = 10
    max_pairs_per_chunk: int = 20_000_000
    pair_memory_bytes: int = 2 * 2**30


# ---------------------------------------------------------------------------
# B.1 writer → rater affinity and coverage
# ---------------------------------------------------------------------------


def _require_affinity_columns(notes: pd.DataFrame, ratings: pd.DataFrame) -> None:
    schema.require_columns(
        notes, [schema.NOTE_ID, schema.AUTHOR_ID, schema.CREATED_AT], where="affinity_and_coverage(notes)"
    )
    schema.require_columns(
        ratings,
        [schema.NOTE_ID, schema.RATER_ID, schema.CREATED_AT, schema.HELPFULNESS_LEVEL],
        where="affinity_and_coverage(ratings)",
    )


def affinity_and_coverage(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: PssConfig = PssConfig()
) -> pd.DataFrame:
    """Writer coverage and rater affinity per (author, rater) (spec 05 §B.1).

    Uses ratings with ``helpfulnessLevel == "HELPFUL"`` only.  For latency L::

        r_L            = helpful ratings joined to their note, with rating − note time ≤ L min
        writerTotal(a) = notes authored by a (all notes)
        raterAffinityL = pairTotalL(a, u) / raterTotalL(u)     (NA if raterTotalL < 10)
        writerCoverageL = pairTotalL(a, u) / writerTotal(a)    (NA if writerTotal < 10)

    Returns one row per (author, rater) pair present at the largest latency,
    columns ``noteAuthorParticipantId, raterParticipantId, writerTotal`` then
    ``raterTotal{L}m, pairTotal{L}m, raterAffinity{L}m, writerCoverage{L}m``
    for L ascending (float64, NaN where NA or absent).
    """
    _require_affinity_columns(notes, ratings)
    A, U = schema.AUTHOR_ID, schema.RATER_ID
    helpful = ratings.loc[
        schema.equals_value(ratings[schema.HELPFULNESS_LEVEL], schema.HELPFUL),
        [U, schema.NOTE_ID, schema.CREATED_AT],
    ]
    note_part = notes[[A, schema.NOTE_ID, schema.CREATED_AT]].rename(columns={schema.CREATED_AT: "noteMillis"})
    joined = helpful.merge(note_part, on=schema.NOTE_ID, how="inner")
    latency = joined[schema.CREATED_AT].to_numpy(np.int64) - joined["noteMillis"].to_numpy(np.int64)
    writer_total = notes[A].value_counts()

    latencies = sorted(config.affinity_latencies_min, reverse=True)
    base = None
    for L in latencies:
        sub = joined.loc[latency <= L * 60_000, [A, U]]
        pair = sub.value_counts().rename(f"pairTotal{L}m").reset_index()
        rater_total = sub[U].value_counts().rename(f"raterTotal{L}m")
        pair[f"raterTotal{L}m"] = pair[U].map(rater_total).to_numpy(np.float64)
        pair["writerTotal"] = pair[A].map(writer_total).to_numpy(np.float64)
        pt = pair[f"pairTotal{L}m"].to_numpy(np.float64)
        rt = pair[f"raterTotal{L}m"].to_numpy()
        wt = pair["writerTotal"].to_numpy()
        pair[f"pairTotal{L}m"] = pt
        pair[f"raterAffinity{L}m"] = np.where(rt < config.min_denominator, np.nan, pt / rt)
        pair[f"writerCoverage{L}m"] = np.where(wt < config.min_denominator, np.nan, pt / wt)
        if base is None:
            base = pair
        else:
            base = base.merge(pair.drop(columns="writerTotal"), on=[A, U], how="left")
    cols = [A, U, "writerTotal"]
    for L in sorted(latencies):
        cols += [f"raterTotal{L}m", f"pairTotal{L}m", f"raterAffinity{L}m", f"writerCoverage{L}m"]
    if base is None:
        return pd.DataFrame(columns=cols)
    return base[cols]


def writer_rater_suspect_pairs(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: PssConfig = PssConfig()
) -> pd.DataFrame:
    """(author, rater) pairs over any affinity / coverage threshold, as sorted ``[left, right]`` (§B.1).

    A rater rating their own note can yield a self-pair (left == right); it is
    kept (the official union-merge turns it into a one-member clique).
    """
    if notes[schema.NOTE_ID].is_unique:
        a, b = _writer_rater_hits(notes, ratings, config)
        return _sorted_pairs(a, b)
    ac = affinity_and_coverage(notes, ratings, config=config)  # duplicated notes: the merge's rows
    hit = np.zeros(len(ac), dtype=bool)
    for L, thr in config.writer_coverage_thresholds:
        hit |= (ac[f"writerCoverage{L}m"] >= thr).to_numpy()
    for L, thr in config.rater_affinity_thresholds:
        hit |= (ac[f"raterAffinity{L}m"] >= thr).to_numpy()
    return _sorted_pairs(ac.loc[hit, schema.AUTHOR_ID], ac.loc[hit, schema.RATER_ID])


#: Ratings looked up per note at once in :func:`_writer_rater_hits`.
_AFFINITY_CHUNK_ROWS = 1 << 24


def _writer_rater_hits(notes: pd.DataFrame, ratings: pd.DataFrame, config: PssConfig):
    """(author, rater) id arrays of the pairs over any threshold of :func:`writer_rater_suspect_pairs`.

    The same counts as :func:`affinity_and_coverage` (notes with unique ids), from one int64
    (author, rater) key and one latency per helpful rating instead of the merged frame: each
    latency's pair totals are the runs of one sorted copy of the keys within it. Pairs absent at
    a latency are never over its thresholds (the frame holds NaN there).
    """
    _require_affinity_columns(notes, ratings)
    check_note_id_kinds(notes, ratings, "affinity_and_coverage")
    author_code, author_ids = pd.factorize(notes[schema.AUTHOR_ID], sort=False)
    writer_total = np.bincount(author_code[author_code >= 0], minlength=len(author_ids))
    note_millis = notes[schema.CREATED_AT].to_numpy(np.int64)
    note_index = pd.Index(notes[schema.NOTE_ID].to_numpy())
    # by the level's codes: no object array of every rating (206M ratings: 1.6 GiB)
    helpful = np.flatnonzero(schema.equals_value(ratings[schema.HELPFULNESS_LEVEL], schema.HELPFUL))
    rater_code, rater_ids = pd.factorize(ratings[schema.RATER_ID].iloc[helpful], sort=False)
    n_r = max(len(rater_ids), 1)
    rating_notes = ratings[schema.NOTE_ID].to_numpy()
    rating_millis = ratings[schema.CREATED_AT].to_numpy()
    # filled in place, chunk after chunk (no list of pieces joined beside them)
    key = np.empty(len(helpful), np.int64)
    lat = np.empty(len(helpful), np.int64)
    m = 0
    for lo in range(0, len(helpful), _AFFINITY_CHUNK_ROWS):
        rows = helpful[lo:lo + _AFFINITY_CHUNK_ROWS]
        pos = note_index.get_indexer(rating_notes[rows])
        r = rater_code[lo:lo + _AFFINITY_CHUNK_ROWS]
        ok = (pos >= 0) & (r >= 0)  # the inner merge; value_counts drops a missing rater id
        k = int(np.count_nonzero(ok))
        # a missing author (code -1) gives a negative key: in its rater's total, in no pair
        key[m:m + k] = author_code[pos[ok]].astype(np.int64) * n_r + r[ok]
        lat[m:m + k] = rating_millis[rows[ok]].astype(np.int64) - note_millis[pos[ok]]
        m += k
    del helpful, rater_code
    key, lat = key[:m], lat[:m]
    coverage = dict(config.writer_coverage_thresholds)
    affinity = dict(config.rater_affinity_thresholds)
    hits = []
    for L in sorted(set(coverage) | set(affinity)):
        within = lat <= L * 60_000
        rater_total = np.bincount(key[within] % n_r, minlength=n_r)
        k = key[within & (key >= 0)]
        del within
        k.sort()
        pair_key, pair_total = run_lengths(k)
        pair_total = pair_total.astype(np.float64)
        del k
        hit = np.zeros(len(pair_key), dtype=bool)
        if L in coverage:
            wt = writer_total[pair_key // n_r].astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                hit |= (wt >= config.min_denominator) & (pair_total / wt >= coverage[L])
        if L in affinity:
            rt = rater_total[pair_key % n_r].astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                hit |= (rt >= config.min_denominator) & (pair_total / rt >= affinity[L])
        hits.append(pair_key[hit])
    hit_keys = unique(np.concatenate(hits)) if hits else np.empty(0, np.int64)
    return np.asarray(author_ids)[hit_keys // n_r], np.asarray(rater_ids)[hit_keys % n_r]


def _sorted_pairs(a: pd.Series, b: pd.Series) -> pd.DataFrame:
    a = np.asarray(a)
    b = np.asarray(b)
    swap = b < a
    left = np.where(swap, b, a)
    right = np.where(swap, a, b)
    return pd.DataFrame({"left": left, "right": right}).drop_duplicates(ignore_index=True)


# ---------------------------------------------------------------------------
# B.2 co-rating counts within the window
# ---------------------------------------------------------------------------


#: Rows whose window start is searched at once in :func:`co_rating_counts`.
_WINDOW_CHUNK_ROWS = 1 << 24


def _co_rating_arrays(notes: pd.DataFrame, ratings: pd.DataFrame):
    """Per rating of a note with a post (spec 05 §B.2): time, post code, post-is-NaN flag, note
    code, rater code (int32 codes, raters in sorted id order) and the rater ids.

    Looked up per note rather than merged per rating, and the ``tweetId != -1`` test (official
    ``"-1"`` too) made on the notes, so no per-rating strings or merged frame are built.
    """
    nid = schema.NOTE_ID
    note_ids = notes[nid]
    if not note_ids.is_unique:  # duplicated notes multiply ratings, as the official merge does
        m = notes[[nid, schema.TWEET_ID]].merge(ratings[[schema.RATER_ID, nid, schema.CREATED_AT]], on=nid)
        m = m.loc[_not_missing_tweet(m[schema.TWEET_ID])]
        tweet_codes, _ = pd.factorize(m[schema.TWEET_ID], sort=False, use_na_sentinel=False)
        note_codes, _ = pd.factorize(m[nid], sort=False)
        rater_codes, rater_ids = pd.factorize(m[schema.RATER_ID], sort=True)
        return (m[schema.CREATED_AT].to_numpy(np.int64), tweet_codes.astype(np.int32),
                m[schema.TWEET_ID].isna().to_numpy(), note_codes.astype(np.int32),
                rater_codes.astype(np.int32), np.asarray(rater_ids))
    check_note_id_kinds(notes, ratings, "co_rating_counts")
    tweet = notes[schema.TWEET_ID]
    note_ok = _not_missing_tweet(tweet)
    tweet_code_of_note, _ = pd.factorize(tweet, sort=False, use_na_sentinel=False)
    pos = pd.Index(note_ids).get_indexer(ratings[nid])
    rows = pos >= 0
    rows[rows] = note_ok[pos[rows]]
    pos = pos[rows].astype(np.int32)
    rater_codes, rater_ids = pd.factorize(ratings[schema.RATER_ID].to_numpy()[rows], sort=True)
    return (ratings[schema.CREATED_AT].to_numpy(np.int64)[rows],
            tweet_code_of_note[pos].astype(np.int32),
            tweet.isna().to_numpy()[pos],
            pos,
            rater_codes.astype(np.int32),
            np.asarray(rater_ids))


def _distinct_pairs_per_rater(posts: np.ndarray, raters: np.ndarray, n_raters: int) -> tuple[int, np.ndarray]:
    """The number of distinct (post, rater) pairs and, per rater code, its distinct posts."""
    n = max(n_raters, 1)
    key = posts.astype(np.int64)
    key *= n
    key += raters
    key.sort()
    first = np.empty(len(key), dtype=bool)
    if len(key):
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
    per_rater = np.zeros(n_raters, dtype=np.int64)
    for a in range(0, len(key), _WINDOW_CHUNK_ROWS):
        part = key[a:a + _WINDOW_CHUNK_ROWS][first[a:a + _WINDOW_CHUNK_ROWS]]
        per_rater += np.bincount(part % n, minlength=n_raters)[:n_raters]
    return int(np.count_nonzero(first)), per_rater


def co_rating_counts(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: PssConfig = PssConfig(),
    min_count: int | Callable[[int], int] = 1,
) -> tuple[pd.DataFrame, pd.Series, int]:
    """Windowed co-rating counts (spec 05 §B.2).

    For each note, ratings sorted by time; rating *i* pairs with each earlier
    rating *j* of another rater on the same note with ``t_i − t_j ≤ window``
    (inclusive).  A pair is counted at most once per tweet.  Pairs counted fewer
    than ``min_count`` times are left out (a callable receives ``N`` and returns
    the floor: :func:`co_rating_suspect_pairs` passes the count below which no
    pair can become an edge).

    Returns
    -------
    pairs
        ``[left, right, coCount]`` with ``left < right`` (rater ids).
    totals
        Distinct tweets rated per rater (Series indexed by rater id).
    N
        Number of distinct (tweet, rater) pairs.
    """
    schema.require_columns(notes, [schema.NOTE_ID, schema.TWEET_ID], where="co_rating_counts(notes)")
    schema.require_columns(
        ratings, [schema.NOTE_ID, schema.RATER_ID, schema.CREATED_AT], where="co_rating_counts(ratings)"
    )
    t_all, tweet_codes, tweet_na, note_codes, rater_codes, rater_ids = _co_rating_arrays(notes, ratings)
    n_raters = len(rater_ids)

    # distinct (tweet, rater) pairs: N and each rater's post total, from one key a rating sorted in
    # place (no sorted copy nor array of the distinct keys: 206M ratings, ~3 GiB less at the peak)
    N, per_rater = _distinct_pairs_per_rater(tweet_codes, rater_codes, n_raters)
    totals = pd.Series(per_rater, index=pd.Index(rater_ids, name=schema.RATER_ID))

    # one array at a time: each is released as its filtered / sorted copy is made
    if tweet_na.any():
        keep = ~tweet_na
        t_all, tweet_codes = t_all[keep], tweet_codes[keep]
        note_codes, rater_codes = note_codes[keep], rater_codes[keep]
        del keep
    del tweet_na
    order = np.lexsort((t_all, note_codes, tweet_codes))  # by tweet, note, time
    t = t_all[order]
    del t_all
    tw = tweet_codes[order]
    del tweet_codes
    nt = note_codes[order]
    del note_codes
    rc = rater_codes[order]
    del rater_codes, order
    n = len(t)
    empty = pd.DataFrame({"left": rater_ids[:0], "right": rater_ids[:0], "coCount": np.empty(0, np.int64)})
    if n == 0:
        return empty, totals, N

    # Window start per rating: first row of the same note with t >= t_i - window; kept as the
    # number of earlier rows in the window (int32: a note's ratings, far below 2³¹)
    note_start_flag = np.ones(n, dtype=bool)
    note_start_flag[1:] = (nt[1:] != nt[:-1]) | (tw[1:] != tw[:-1])
    del nt
    per_row = np.empty(n, dtype=np.int32)
    span = int(t.max() - t.min()) + config.window_millis + 1
    n_runs = int(np.count_nonzero(note_start_flag))
    if n_runs * span < 2**62:
        key = np.cumsum(note_start_flag, dtype=np.int64)
        key -= 1
        key *= np.int64(span)
        key += t - t.min()
        for a in range(0, n, _WINDOW_CHUNK_ROWS):
            b = min(a + _WINDOW_CHUNK_ROWS, n)
            per_row[a:b] = np.arange(a, b) - np.searchsorted(key, key[a:b] - config.window_millis, side="left")
        del key
    else:  # extremely wide data: per-note searchsorted (still vectorised within notes)
        starts = np.flatnonzero(note_start_flag)
        ends = np.append(starts[1:], n)
        for s, e in zip(starts, ends):
            per_row[s:e] = np.arange(e - s) - np.searchsorted(t[s:e], t[s:e] - config.window_millis, side="left")
    del t, note_start_flag
    tweet_start_flag = np.ones(n, dtype=bool)
    tweet_start_flag[1:] = tw[1:] != tw[:-1]

    def chunks():
        for a, b in _chunks_by_group(tweet_start_flag, per_row, config.max_pairs_per_chunk):
            here = np.arange(a, b, dtype=np.int64)
            i, j = _range_pairs(here - per_row[a:b], here)
            i += a
            ri, rj = rc[i], rc[j]
            diff = ri != rj
            yield tw[i[diff]], ri[diff], rj[diff]

    floor = min_count(N) if callable(min_count) else min_count
    codes, counts = count_pairs(chunks, n_raters, int(per_row.sum()), min_count=floor,
                                memory_bytes=config.pair_memory_bytes)
    left = codes // n_raters
    right = codes % n_raters
    pairs = pd.DataFrame(
        {"left": rater_ids[left], "right": rater_ids[right], "coCount": counts.astype(np.int64)}
    )
    return pairs, totals, N


def _edge_tests(co: np.ndarray, tl: np.ndarray, tr: np.ndarray, N: int, config: PssConfig) -> np.ndarray:
    """NPMI and minSim of pairs, and whether each is kept (spec 05 §B.2)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(co * N / ((tl + config.pmi_regularization) * (tr + config.pmi_regularization)))
        npmi = pmi / -np.log(co / N)
    min_sim = co / (np.minimum(tl, tr) + config.min_sim_pseudocounts)
    keep = (npmi >= config.smoothed_npmi_threshold) | (min_sim >= config.min_rating_proportion)
    return npmi, min_sim, keep


def min_edge_count(N: int, config: PssConfig = PssConfig()) -> int:
    """The smallest co-rating count with which a pair can pass NPMI or minSim (spec 05 §B.2).

    Both scores fall as a rater's post total ``T`` grows (``T`` sits in their denominators) and,
    at the smallest total ``T = min_unique_posts``, rise with the count ``co`` (NPMI's derivative
    in ``ln co`` is ``ln(N² / (T + 500)²) / (ln N − ln co)²``, positive wherever its numerator is
    positive; where not, PMI is negative and NPMI fails). So a pair whose count fails both tests at
    ``T = min_unique_posts`` fails them for every ``T``, and pairs below this count need not be
    kept: an exact pruning that bounds the pair table by edges, not by co-ratings.
    """
    if N <= 1:
        return 1
    t = float(config.min_unique_posts)
    co = np.arange(1, min(N, 1_000_000) + 1, dtype=np.float64)
    _, _, keep = _edge_tests(co, np.full_like(co, t), np.full_like(co, t), N, config)
    first = np.flatnonzero(keep)
    if len(first) == 0:
        return int(co[-1]) + 1
    if not keep[first[0]:].all():  # not monotone (cannot happen by the argument above): keep all
        return 1
    return int(first[0]) + 1


def co_rating_suspect_pairs(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: PssConfig = PssConfig()
) -> pd.DataFrame:
    """Co-rating edges kept by NPMI or minSim (spec 05 §B.2).

    With ``co`` the pair's count, ``T_l, T_r`` distinct posts per rater (both
    ≥ ``min_unique_posts``) and ``N`` distinct (post, rater) pairs::

        npmi   = ln(co·N / ((T_l + 500)(T_r + 500))) / (−ln(co / N))
        minSim = co / (min(T_l, T_r) + 10)
        keep if npmi ≥ 0.55 or minSim ≥ 0.4

    Returns ``[left, right, coCount, npmi, minSim]``.
    """
    pairs, totals, N = co_rating_counts(notes, ratings, config=config,
                                        min_count=lambda n: min_edge_count(n, config))
    eligible = totals[totals >= config.min_unique_posts]
    tl = pairs["left"].map(eligible).to_numpy(np.float64)
    tr = pairs["right"].map(eligible).to_numpy(np.float64)
    ok = ~(np.isnan(tl) | np.isnan(tr))
    pairs, tl, tr = pairs.loc[ok].reset_index(drop=True), tl[ok], tr[ok]
    co = pairs["coCount"].to_numpy(np.float64)
    npmi, min_sim, keep = _edge_tests(co, tl, tr, N, config)
    out = pairs.loc[keep].reset_index(drop=True)
    out["npmi"] = npmi[keep]
    out["minSim"] = min_sim[keep]
    return out


# ---------------------------------------------------------------------------
# B.3 components
# ---------------------------------------------------------------------------


def connected_components(left, right) -> pd.DataFrame:
    """Connected components of an undirected edge list (spec 05 §B.3).

    Equivalent to the official union-merge over suspect pairs.  Component ids
    are 1.. in order of each component's smallest member (the official ids are
    arbitrary).  A self-loop makes a one-member component.

    Returns ``[raterParticipantId, postSelectionValue]`` (int64 ids), one row per member.

    >>> connected_components([1, 2, 7], [2, 3, 8]).postSelectionValue.tolist()
    [1, 1, 1, 2, 2]
    """
    left = np.asarray(left)
    right = np.asarray(right)
    if len(left) == 0:
        return pd.DataFrame(
            {schema.RATER_ID: left[:0], POST_SELECTION_VALUE: np.empty(0, np.int64)}
        )
    codes, ids = pd.factorize(np.concatenate([left, right]), sort=True)
    u, v = codes[: len(left)].astype(np.int64), codes[len(left) :].astype(np.int64)
    label = np.arange(len(ids), dtype=np.int64)
    # Min-label propagation with pointer jumping: converges in O(log diameter) rounds.
    while True:
        m = np.minimum(label[u], label[v])
        new = label.copy()
        np.minimum.at(new, u, m)
        np.minimum.at(new, v, m)
        new = new[new]
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            break
        label = new
    # label = smallest code in the component; ids sorted → smallest member order.
    _, comp = np.unique(label, return_inverse=True)
    return pd.DataFrame({schema.RATER_ID: ids, POST_SELECTION_VALUE: comp.astype(np.int64) + 1})


def post_selection_similarity(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: PssConfig = PssConfig()
) -> pd.DataFrame:
    """PSS clusters: ``[raterParticipantId, postSelectionValue]`` (spec 05 §B).

    Union of writer→rater suspect pairs (§B.1) and co-rating edges (§B.2),
    grouped into connected components (§B.3).  ``notes`` need noteId,
    noteAuthorParticipantId, createdAtMillis, tweetId; ``ratings`` need
    noteId, raterParticipantId, createdAtMillis, helpfulnessLevel.
    """
    wr = writer_rater_suspect_pairs(notes, ratings, config=config)
    co = co_rating_suspect_pairs(notes, ratings, config=config)
    edges = pd.concat([wr, co[["left", "right"]]], ignore_index=True)
    return connected_components(edges["left"].to_numpy(), edges["right"].to_numpy())


# ---------------------------------------------------------------------------
# Phase 1 and application
# ---------------------------------------------------------------------------


#: The rating columns :func:`rater_clustering` reads (a run may hold only these meanwhile).
CLUSTERING_COLUMNS: tuple[str, ...] = (schema.NOTE_ID, schema.RATER_ID, schema.CREATED_AT,
                                       schema.HELPFULNESS_LEVEL, schema.HELPFUL_NUM)


def rater_clustering(
    notes: pd.DataFrame,
    ratings: pd.DataFrame,
    *,
    pss_config: PssConfig = PssConfig(),
    quasi_clique_config: QuasiCliqueConfig = QuasiCliqueConfig(),
) -> pd.DataFrame:
    """Phase 1 (spec 04 §7): outer merge of PSS and quasi-clique membership.

    Returns ``[raterParticipantId, postSelectionValue, quasiCliqueValue]``
    (values float64; NaN where a rater is in only one of the two).
    """
    pss = post_selection_similarity(notes, ratings, config=pss_config)
    qc = quasi_cliques(notes, ratings, config=quasi_clique_config)
    out = pss.merge(qc, on=schema.RATER_ID, how="outer")
    out[POST_SELECTION_VALUE] = out[POST_SELECTION_VALUE].astype(np.float64)
    out[QUASI_CLIQUE_VALUE] = out[QUASI_CLIQUE_VALUE].astype(np.float64)
    return out[[schema.RATER_ID, POST_SELECTION_VALUE, QUASI_CLIQUE_VALUE]]


@dataclass(frozen=True)
class PssApplyReport:
    """What :func:`apply_post_selection_similarity` did (every dropped rating counted).

    Attributes
    ----------
    ratings_in, ratings_out
        Row counts before and after.
    n_notes
        Notes passed (coalescing is skipped below ``min_notes``).
    skipped
        True when fewer than ``min_notes`` notes were passed: nothing dropped.
    dropped_same_clique_as_author
        Ratings by a PSS member on a note whose author is in the same component
        (would-be count when ``skipped``).
    dropped_duplicate_in_clique
        Later ratings of a component on a note it already rated (would-be count
        when ``skipped``).
    dropped_pss_na_rows
        Rows of the PSS frame removed by ``dropna=True`` (rows, not ratings).
    correlated_raters, correlated_ratings
        Raters with ``quasiCliqueValue ≥ 1`` and their ratings (flagged, kept).
    pss_raters
        Distinct raters with a ``postSelectionValue`` used for coalescing.
    """

    ratings_in: int
    ratings_out: int
    n_notes: int
    skipped: bool
    dropped_same_clique_as_author: int
    dropped_duplicate_in_clique: int
    dropped_pss_na_rows: int
    correlated_raters: int
    correlated_ratings: int
    pss_raters: int

    @property
    def dropped(self) -> int:
        return self.ratings_in - self.ratings_out

    def summary(self) -> str:
        verb = "would drop" if self.skipped else "dropped"
        s = (
            f"PSS: {self.ratings_in} -> {self.ratings_out} ratings ({self.pss_raters} PSS raters); "
            f"{verb} {self.dropped_same_clique_as_author} same-clique-as-author and "
            f"{self.dropped_duplicate_in_clique} repeat-in-clique ratings; "
            f"correlatedRater on {self.correlated_ratings} ratings from {self.correlated_raters} raters"
        )
        if self.skipped:
            s += f"; coalescing skipped ({self.n_notes} notes < {MIN_NOTES_FOR_COALESCING})"
        if self.dropped_pss_na_rows:
            s += f"; dropna removed {self.dropped_pss_na_rows} PSS rows"
        return s


def apply_post_selection_similarity(
    notes: pd.DataFrame,
    ratings: pd.DataFrame,
    pss: pd.DataFrame,
    *,
    dropna: bool = False,
    min_notes: int = MIN_NOTES_FOR_COALESCING,
    keep_values: bool = True,
) -> tuple[pd.DataFrame, PssApplyReport]:
    """Coalesce ratings of PSS components and flag correlated raters (spec 05 §B.4).

    * ``correlatedRater`` = rater has ``quasiCliqueValue ≥ 1`` (all ratings).
    * Ratings of raters without a ``postSelectionValue`` are kept.
    * Ratings by a member of the note author's component are dropped.
    * Other member ratings: sorted by (noteId, createdAtMillis) (stable), the
      first per (noteId, component) is kept.
    * Fewer than ``min_notes`` notes: ratings are returned un-coalesced (only
      ``correlatedRater`` added), as the official code does for test data.

    Output order (official): kept member ratings in (noteId, time) order,
    then non-member ratings in input order; fresh RangeIndex.  Helper columns
    ``postSelectionValue`` and ``postSelectionValue_note_author`` remain (as in
    the official frame) unless coalescing was skipped.

    Parameters
    ----------
    pss
        ``[raterParticipantId, postSelectionValue, quasiCliqueValue]``
        (:func:`rater_clustering` or the official ``pss_output``).
    dropna
        Reproduce the final-scoring call (spec 05 §B.4 pitfall): rows with any
        NaN are removed first, so only raters in *both* a PSS component and a
        quasi-clique are coalesced / flagged.
    keep_values
        Keep the helper columns ``postSelectionValue`` and
        ``postSelectionValue_note_author`` in the result, as the official frame does. No
        scorer reads them; the pipeline passes False (16 bytes a rating less, 3.3 GB of the
        full public download).
    """
    schema.require_columns(ratings, [schema.NOTE_ID, schema.RATER_ID, schema.CREATED_AT], where="apply_pss(ratings)")
    schema.require_columns(notes, [schema.NOTE_ID, schema.AUTHOR_ID], where="apply_pss(notes)")
    schema.require_columns(
        pss, [schema.RATER_ID, POST_SELECTION_VALUE, QUASI_CLIQUE_VALUE], where="apply_pss(pss)"
    )
    plan = plan_post_selection_similarity(notes, ratings, pss, dropna=dropna, min_notes=min_notes)
    if plan.skipped:
        result = ratings.assign(**{schema.CORRELATED_RATER: plan.correlated})
    else:
        result = plan.rows_of(ratings, plan.take(), keep_values=keep_values)
    return result, plan.report


@dataclass(frozen=True)
class PssPlan:
    """Which ratings PSS coalescing keeps, in which order (spec 05 §B.4), without the ratings.

    The coalesced frame is ``ratings.take(take())`` with ``correlatedRater`` added: first the kept
    member ratings in (noteId, time) order, then the non-member ratings in input order.
    :meth:`chunks` yields the same positions in pieces, so that a caller can write the coalesced
    ratings out without ever holding all of them (:meth:`Checkpoint.save_coalesced_inputs
    <cnlab.pipeline.checkpoint.Checkpoint.save_coalesced_inputs>`).

    Attributes
    ----------
    kept_members
        Positions of the member ratings kept, in (noteId, createdAtMillis) order.
    member
        Per rating: the rater has a ``postSelectionValue``.
    correlated
        Per rating: the rater has ``quasiCliqueValue ≥ 1`` (``correlatedRater``).
    member_values, member_author_values
        ``postSelectionValue`` of the rater / of the note's author (NaN: none) for the member
        ratings, in position order (what ``keep_values`` adds as columns).
    skipped
        Fewer notes than ``min_notes``: nothing is coalesced.
    report
        The :class:`PssApplyReport`.
    """

    kept_members: np.ndarray
    member: np.ndarray
    correlated: np.ndarray
    member_values: np.ndarray
    member_author_values: np.ndarray
    skipped: bool
    report: "PssApplyReport"

    def take(self) -> np.ndarray:
        """All positions of the coalesced ratings, in their order."""
        return np.concatenate([self.kept_members, np.flatnonzero(~self.member)])

    def chunks(self, size: int = 1 << 23):
        """:meth:`take` in consecutive pieces of at most ~``size`` positions (each an array)."""
        if len(self.kept_members):
            yield self.kept_members
        for lo in range(0, len(self.member), size):
            part = np.flatnonzero(~self.member[lo:lo + size])
            if len(part):
                yield part + lo

    def rows_of(self, ratings: pd.DataFrame, take: np.ndarray, *, keep_values: bool = False) -> pd.DataFrame:
        """The coalesced rows at positions ``take`` (a piece of :meth:`take`), with
        ``correlatedRater`` (and the helper value columns with ``keep_values``); a fresh RangeIndex."""
        out = ratings.take(take)
        out[schema.CORRELATED_RATER] = self.correlated[take]
        if keep_values:
            rows = self._member_rows
            at = np.searchsorted(rows, take)
            hit = np.zeros(len(take), bool)
            if len(rows):
                hit = (at < len(rows)) & (rows[np.minimum(at, len(rows) - 1)] == take)
            for col, vals in ((POST_SELECTION_VALUE, self.member_values),
                              (POST_SELECTION_VALUE + NOTE_AUTHOR_SUFFIX, self.member_author_values)):
                v = np.full(len(take), np.nan)
                v[hit] = vals[at[hit]]
                out[col] = v
        out.index = pd.RangeIndex(len(out))
        return out

    @property
    def _member_rows(self) -> np.ndarray:
        return np.flatnonzero(self.member)


def plan_post_selection_similarity(
    notes: pd.DataFrame,
    ratings: pd.DataFrame,
    pss: pd.DataFrame,
    *,
    dropna: bool = False,
    min_notes: int = MIN_NOTES_FOR_COALESCING,
) -> PssPlan:
    """:func:`apply_post_selection_similarity` up to the choice of rows (its parameters): a
    :class:`PssPlan`. Per rating it keeps two booleans; the values are looked up for the member
    ratings only (the raters of some PSS component, a small share of the ratings), so its memory
    is ~2 bytes a rating, not the ~40 of rating-length value and position arrays."""
    schema.require_columns(ratings, [schema.NOTE_ID, schema.RATER_ID, schema.CREATED_AT], where="apply_pss(ratings)")
    schema.require_columns(notes, [schema.NOTE_ID, schema.AUTHOR_ID], where="apply_pss(notes)")
    schema.require_columns(
        pss, [schema.RATER_ID, POST_SELECTION_VALUE, QUASI_CLIQUE_VALUE], where="apply_pss(pss)"
    )
    frame = pss[[schema.RATER_ID, POST_SELECTION_VALUE, QUASI_CLIQUE_VALUE]]
    n_frame = len(frame)
    if dropna:
        frame = frame.dropna()
    dropped_na = n_frame - len(frame)

    correlated = frame.loc[(frame[QUASI_CLIQUE_VALUE] >= 1).to_numpy(), schema.RATER_ID].unique()
    correlated_flag = ratings[schema.RATER_ID].isin(correlated).to_numpy()

    psv = frame[[schema.RATER_ID, POST_SELECTION_VALUE]].dropna().drop_duplicates()
    # A rater with two different values would duplicate ratings in the official
    # merge; we use the first value (never happens for component output).
    value_of = psv.drop_duplicates(schema.RATER_ID).set_index(schema.RATER_ID)[POST_SELECTION_VALUE]
    author_of = notes.drop_duplicates(schema.NOTE_ID).set_index(schema.NOTE_ID)[schema.AUTHOR_ID]
    member = ratings[schema.RATER_ID].isin(value_of.index).to_numpy()
    rows = np.flatnonzero(member)
    rater_val = value_of.reindex(ratings[schema.RATER_ID].to_numpy()[rows]).to_numpy(np.float64)
    author_val = pd.Series(ratings[schema.NOTE_ID].to_numpy()[rows]).map(author_of).map(value_of).to_numpy(np.float64)

    same = rater_val == author_val
    candidates = rows[~same]
    cand = pd.DataFrame(
        {
            "note": ratings[schema.NOTE_ID].to_numpy()[candidates],
            "time": ratings[schema.CREATED_AT].to_numpy()[candidates],
            "val": rater_val[~same],
        }
    )
    cand = cand.sort_values(["note", "time"], kind="stable")
    first = ~cand.duplicated(["note", "val"], keep="first")
    kept_rows = candidates[cand.index.to_numpy()[first.to_numpy()]]  # in (note, time) order
    n_dup = len(candidates) - len(kept_rows)

    skipped = len(notes) < min_notes
    n_out = len(ratings) if skipped else len(kept_rows) + int(len(ratings) - len(rows))
    report = PssApplyReport(
        ratings_in=len(ratings),
        ratings_out=n_out,
        n_notes=len(notes),
        skipped=skipped,
        dropped_same_clique_as_author=int(same.sum()),
        dropped_duplicate_in_clique=int(n_dup),
        dropped_pss_na_rows=int(dropped_na),
        correlated_raters=int(len(correlated)),
        correlated_ratings=int(correlated_flag.sum()),
        pss_raters=int(len(value_of)),
    )
    return PssPlan(kept_rows, member, correlated_flag, rater_val, author_val, skipped, report)
