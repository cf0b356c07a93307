"""Quasi-clique detection ("rater independence", spec 05 §C).

Greedily grows groups of raters that rated the same recent misleading notes the same way: seeded
with the pair of raters with the most aligned ratings, a group takes the outside rater with the
most distinct posts among its shared events while it still shares enough posts and every member
matches enough of them. Membership feeds ``correlatedRater`` (spec 05 §B.4) through
:func:`cnlab.models.similarity.rater_clustering`.

Complexity
----------
Pair counts (§C.1) materialise the ``Σ k(k−1)/2`` rater pairs of each (tweet, note, helpfulNum)
event in chunks (:mod:`cnlab.models._rating_pairs`); each greedy growth step is
``O(rows of candidate raters)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnlab._arrays import unique
from cnlab import schema
from cnlab.models._rating_pairs import _not_missing_tweet, _pair_codes, _range_pairs

__all__ = ["QuasiCliqueConfig", "quasi_clique_pair_counts", "quasi_cliques", "QUASI_CLIQUE_VALUE"]

QUASI_CLIQUE_VALUE = "quasiCliqueValue"


@dataclass(frozen=True)
class QuasiCliqueConfig:
    """Quasi-clique constants (spec 05 §C; ``QuasiCliqueDetection`` defaults).

    Attributes
    ----------
    recency_cutoff_millis
        Official ``recencyCutoff`` = 13 weeks: only notes created after
        ``max(note time) − cutoff`` count.
    note_inclusion_threshold
        Official ``noteInclusionThreshold=0.25``: an event belongs to the
        clique's events when ≥ this share of the clique's raters have it.
    rater_inclusion_threshold
        Official ``raterInclusionThreshold=0.25``: every rater must match ≥ this
        share of the clique's tweets.
    min_clique_tweets
        Official ``minCliqueTweets=25``: growth requires this many tweets.
    min_clique_raters
        Official ``minCliqueRaters=5``: smaller cliques are discarded.
    max_clique_size
        Official ``maxCliqueSize=2000``: growth steps per clique.
    min_inclusion_ratings
        Official ``minInclusionRatings=4``: an event needs ≥ min(|clique|, 4) raters.
    min_rater_pair_count
        Official ``minRaterPairCount=50``: seed pairs need a count strictly above this.
    min_aligned_ratings
        Official ``_get_pair_counts(minAlignedRatings=5)``: pairs kept with count ≥ this.
    max_pairs_per_chunk
        cnlab memory bound (no official counterpart): rating pairs materialised at once.
    pair_memory_bytes
        cnlab memory bound (no official counterpart): memory for counting the pairs; above it
        they are counted in partitions (:func:`cnlab.models._rating_pairs.count_pairs`), same
        result.
    """

    recency_cutoff_millis: int = 13 * 7 * 24 * 60 * 60 * 1000
    note_inclusion_threshold: float = 0.25
    rater_inclusion_threshold: float = 0.25
    min_clique_tweets: int = 25
    min_clique_raters: int = 5
    max_clique_size: int = 2000
    min_inclusion_ratings: int = 4
    min_rater_pair_count: int = 50
    min_aligned_ratings: int = 5
    max_pairs_per_chunk: int = 20_000_000
    pair_memory_bytes: int = 2 * 2**30


@dataclass(frozen=True)
class _EventTable:
    """Rows of ``raterRatings`` as codes (§C.1), indexed by event and by rater.

    A growth step touches only the rows of the clique's shared events and of the one rater it
    adds, so the rows are stored sorted by event (an event's rows are the contiguous range
    ``event_ptr[e]:event_ptr[e + 1]``: reading them touches neighbouring memory) and indexed by
    rater (``by_rater``, ``rater_ptr``), CSR-style.
    """

    rater: np.ndarray  # int64 code into rater_ids
    tweet: np.ndarray  # int64
    event: np.ndarray  # int64 (tweet, note, helpfulNum)
    rater_ids: np.ndarray
    n_events: int
    n_tweets: int
    event_ptr: np.ndarray
    by_rater: np.ndarray
    rater_ptr: np.ndarray
    event_tweet: np.ndarray  # the tweet of each event (an event belongs to one tweet)
    # rows whose rater has other rows on the same tweet (several notes on it): only these can
    # repeat a (rater, tweet) when distinct tweets are counted
    multi_row: np.ndarray

    def rows_of_events(self, events: np.ndarray) -> np.ndarray:
        return _gather(None, self.event_ptr, events)

    def events_of_rater(self, rater: int) -> np.ndarray:
        return self.event[self.by_rater[self.rater_ptr[rater]:self.rater_ptr[rater + 1]]]


def _gather(order: np.ndarray | None, ptr: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Concatenated ``order[ptr[k]:ptr[k + 1]]`` for every k in ``keys``, vectorised (the
    positions themselves when ``order`` is None)."""
    lo, hi = ptr[keys], ptr[keys + 1]
    n = hi - lo
    total = int(n.sum())
    if total == 0:
        return np.empty(0, np.int64)
    positions = np.arange(total, dtype=np.int64) + np.repeat(lo - (np.cumsum(n) - n), n)
    return positions if order is None else order[positions]


def _csr(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=ptr[1:])
    return order.astype(np.int64), ptr


def _several_on_tweet(rater: np.ndarray, tweet: np.ndarray, n_tweets: int) -> np.ndarray:
    """Rows whose rater has other rows on the same tweet (rated several of its notes)."""
    if len(rater) == 0:
        return np.zeros(0, dtype=bool)
    _, inv, per_rt = np.unique(rater * np.int64(max(n_tweets, 1)) + tweet, return_inverse=True,
                               return_counts=True)
    return per_rt[inv] >= 2


def _event_table(rater, tweet, event, rater_ids, n_events, n_tweets, multi_row) -> _EventTable:
    # rows sorted by event: the rows of an event are one range (a growth step reads them whole)
    by_event, event_ptr = _csr(event, n_events)
    rater, tweet, event, multi_row = rater[by_event], tweet[by_event], event[by_event], multi_row[by_event]
    del by_event
    by_rater, rater_ptr = _csr(rater, len(rater_ids))
    event_tweet = np.zeros(n_events, dtype=np.int64)
    event_tweet[event] = tweet
    return _EventTable(rater, tweet, event, rater_ids, n_events, n_tweets, event_ptr,
                       by_rater, rater_ptr, event_tweet, multi_row)


def _quasi_clique_inputs(notes: pd.DataFrame, ratings: pd.DataFrame, config: QuasiCliqueConfig):
    schema.require_columns(
        notes,
        [schema.NOTE_ID, schema.TWEET_ID, schema.CLASSIFICATION, schema.CREATED_AT],
        where="quasi_cliques(notes)",
    )
    schema.require_columns(
        ratings, [schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM], where="quasi_cliques(ratings)"
    )
    X = ratings[[schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM]].merge(
        notes[[schema.NOTE_ID, schema.TWEET_ID, schema.CLASSIFICATION, schema.CREATED_AT]].rename(
            columns={schema.CREATED_AT: "noteMillis"}
        ),
        on=schema.NOTE_ID,
        how="inner",
    )
    if len(X):
        cutoff = X["noteMillis"].max() - config.recency_cutoff_millis
        X = X.loc[(X["noteMillis"] > cutoff).to_numpy()]
    X = X.loc[
        _not_missing_tweet(X[schema.TWEET_ID])
        & (X[schema.CLASSIFICATION].astype(object) == schema.MISLEADING).to_numpy()
        & X[schema.TWEET_ID].notna().to_numpy()
    ]
    rater, rater_ids = pd.factorize(X[schema.RATER_ID], sort=True)
    tweet, tweet_ids = pd.factorize(X[schema.TWEET_ID], sort=True)
    # event = (tweet, note, helpfulNum); a note has one tweet, so (note, helpfulNum) identifies it.
    note, _ = pd.factorize(X[schema.NOTE_ID], sort=False)
    level, levels = pd.factorize(X[schema.HELPFUL_NUM], sort=False, use_na_sentinel=False)
    event, event_keys = pd.factorize(note.astype(np.int64) * max(len(levels), 1) + level, sort=False)
    return (
        rater.astype(np.int64),
        tweet.astype(np.int64),
        event.astype(np.int64),
        np.asarray(rater_ids),
        len(event_keys),
        len(tweet_ids),
    )


def quasi_clique_pair_counts(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: QuasiCliqueConfig = QuasiCliqueConfig()
) -> pd.DataFrame:
    """Aligned-rating pair counts (spec 05 §C.1): ``[left, right, count]``, count ≥ 5.

    ``count`` = number of tweets on which the two raters rated some recent
    misleading note with the same ``helpfulNum``.
    """
    pairs, _ = _quasi_clique_pairs(notes, ratings, config)
    return pairs[["left", "right", "count"]].reset_index(drop=True)


def _event_pairs(rater: np.ndarray, tweet: np.ndarray, event: np.ndarray):
    """Rater pairs sharing an event, as ``(tweet, a, b)`` per chunk-sized piece (enumerated)."""
    order = np.lexsort((rater, event))
    r_s, t_s, e_s = rater[order], tweet[order], event[order]
    n = len(r_s)
    if n == 0:
        return
    start = np.ones(n, dtype=bool)
    start[1:] = e_s[1:] != e_s[:-1]
    run_start = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    run_id = np.cumsum(start) - 1
    hi = run_start + np.bincount(run_id)[run_id]
    lo = np.arange(n, dtype=np.int64) + 1
    i, j = _range_pairs(lo, hi)
    yield t_s[i], r_s[i], r_s[j]


def _aligned_pair_counts(rater, tweet, event, multi, n_r: int, n_events: int, config: QuasiCliqueConfig):
    """Aligned-rating counts of rater pairs (spec 05 §C.1) as sparse products, in row blocks.

    With ``A`` the binary raters × events matrix, ``A·Aᵀ`` counts the events two raters share. The
    official count is per tweet: two raters who share two events of one tweet (two notes on it,
    rated alike) count once there. Only raters with two or more events on a tweet can do that, so
    those rows alone are enumerated pair by pair and the surplus ``Σ_t (shared events on t − 1)``
    subtracted. The product runs over blocks of rows sized so that each holds at most
    ``max_pairs_per_chunk`` partial products: memory is bounded and no pair list is sorted.

    Returns pair codes ``a · n_r + b`` (a < b) ascending and their counts, counts ≥
    ``min_aligned_ratings``.
    """
    from scipy import sparse  # scikit-learn's dependency; only here

    n = max(n_r, 1)
    if len(rater) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    A = sparse.csr_matrix((np.ones(len(rater), np.int32), (rater, event)), shape=(n_r, n_events))
    A.sum_duplicates()
    A.data[:] = 1
    At = A.T.tocsr()
    # surplus of raters with several events on one tweet (``multi``: :func:`_several_on_tweet`)
    surplus_codes = np.empty(0, np.int64)
    surplus = np.empty(0, np.int64)
    if multi.any():
        coll_t, coll_c = [], []
        for t, a, b in _event_pairs(rater[multi], tweet[multi], event[multi]):
            coll_t.append(t)
            coll_c.append(_pair_codes(np.minimum(a, b), np.maximum(a, b), n))
        if coll_t:
            t, c = np.concatenate(coll_t), np.concatenate(coll_c)
            if len(t) == 0 or (int(t.max()) + 1) * n * n < 2**63:  # one int64 key: a plain sort
                key = np.sort(t * np.int64(n * n) + c)
                t, c = key // np.int64(n * n), key % np.int64(n * n)
            else:
                order = np.lexsort((c, t))
                t, c = t[order], c[order]
            new = np.ones(len(t), dtype=bool)
            new[1:] = (t[1:] != t[:-1]) | (c[1:] != c[:-1])
            shared = np.diff(np.append(np.flatnonzero(new), len(t)))  # events shared on that tweet
            c = c[new][shared >= 2]
            extra = shared[shared >= 2] - 1
            surplus_codes, inv = np.unique(c, return_inverse=True)
            surplus = np.bincount(inv, weights=extra).astype(np.int64)
    # rows cut so that each block holds at most max_pairs_per_chunk partial products
    k = np.diff(At.indptr)  # raters per event
    work = np.bincount(np.repeat(np.arange(n_r), np.diff(A.indptr)), weights=k[A.indices], minlength=n_r)
    cum = np.concatenate([[0], np.cumsum(work)])
    out_codes, out_counts = [], []
    r0 = 0
    while r0 < n_r:
        r1 = int(np.searchsorted(cum, cum[r0] + config.max_pairs_per_chunk, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n_r)
        C = (A[r0:r1] @ At).tocsr()  # columns unsorted within a row: the kept codes are sorted below
        rows = np.repeat(np.arange(r0, r1, dtype=np.int64), np.diff(C.indptr))
        # the surplus only lowers a count: a pair below the minimum before it stays below after, so
        # only the (few) pairs at the minimum are coded and looked up
        upper = (C.indices > rows) & (C.data >= config.min_aligned_ratings)
        codes = rows[upper] * n + C.indices[upper].astype(np.int64)
        counts = C.data[upper].astype(np.int64)
        del rows, upper
        if len(surplus_codes):
            pos = np.searchsorted(surplus_codes, codes)
            hit = pos < len(surplus_codes)
            hit[hit] = surplus_codes[pos[hit]] == codes[hit]
            counts[hit] -= surplus[pos[hit]]
        keep = counts >= config.min_aligned_ratings
        # a block's codes all lie above the previous block's (its rows do, and code = row · n + col
        # with col < n): sorting each block sorts the whole, with no global sort or reordered copy
        order = np.argsort(codes[keep], kind="stable")
        out_codes.append(codes[keep][order])
        out_counts.append(counts[keep][order])
        r0 = r1
    return np.concatenate(out_codes), np.concatenate(out_counts)


def _quasi_clique_pairs(notes, ratings, config):
    rater, tweet, event, rater_ids, n_events, n_tweets = _quasi_clique_inputs(notes, ratings, config)
    n_r = len(rater_ids)
    multi = _several_on_tweet(rater, tweet, n_tweets)
    codes, counts = _aligned_pair_counts(rater, tweet, event, multi, n_r, n_events, config)
    l_code, r_code = codes // max(n_r, 1), codes % max(n_r, 1)
    pairs = pd.DataFrame(
        {"left": rater_ids[l_code], "right": rater_ids[r_code], "count": counts.astype(np.int64),
         "_l": l_code, "_r": r_code}
    )
    in_pair = np.zeros(n_r, dtype=bool)
    in_pair[l_code] = True
    in_pair[r_code] = True
    rows = in_pair[rater]  # all rows of a kept rater stay, so each row's multi flag does too
    table = _event_table(rater[rows], tweet[rows], event[rows], rater_ids, n_events, n_tweets, multi[rows])
    return pairs, table


def _clique_events(counts: np.ndarray, size: int, config: QuasiCliqueConfig) -> np.ndarray:
    """Events shared by enough of a clique of ``size`` raters, from ``counts`` (the clique's raters
    per event)."""
    need = max(config.note_inclusion_threshold * size, 0)
    return np.flatnonzero((counts >= need) & (counts >= min(size, config.min_inclusion_ratings)) & (counts > 0))


def _distinct_tweets_by_rater(table: _EventTable, rows: np.ndarray) -> np.ndarray:
    """Distinct tweets of each rater (dense over rater codes) among ``rows``.

    A rater has one row per event and an event one tweet, so only rows flagged ``multi_row`` can
    repeat a (rater, tweet): those alone are de-duplicated, the rest are counted directly.
    """
    n_r = len(table.rater_ids)
    multi = table.multi_row[rows]
    counts = np.bincount(table.rater[rows[~multi]], minlength=n_r)
    if multi.any():
        m = rows[multi]
        rt = unique(table.rater[m] * np.int64(max(table.n_tweets, 1)) + table.tweet[m])
        counts += np.bincount(rt // max(table.n_tweets, 1), minlength=n_r)
    return counts


def _grow_clique(table: _EventTable, seed: tuple[int, int], config: QuasiCliqueConfig) -> np.ndarray:
    """Greedy growth from a seed pair (spec 05 §C.2).

    Each step reads only the rows of the clique's shared events and of the rater it tries, and
    keeps the per-event member counts up to date, so a step costs O(those rows + events) instead of
    O(all rows).
    """
    members = np.zeros(len(table.rater_ids), dtype=bool)
    counts = np.zeros(table.n_events, dtype=np.int64)
    for r in seed:
        members[r] = True
        np.add.at(counts, table.events_of_rater(r), 1)
    for _ in range(config.max_clique_size):
        size = int(members.sum())
        rows = table.rows_of_events(_clique_events(counts, size, config))
        cand_rows = rows[~members[table.rater[rows]]]
        if len(cand_rows) == 0:
            break  # official code would fail on `.item()`; stop growing instead
        candidate = int(np.argmax(_distinct_tweets_by_rater(table, cand_rows)))  # ties → smallest id
        trial = members.copy()
        trial[candidate] = True
        counts2 = counts.copy()
        np.add.at(counts2, table.events_of_rater(candidate), 1)
        g2 = _clique_events(counts2, size + 1, config)
        satisfied = len(unique(table.event_tweet[g2]))
        rows2 = table.rows_of_events(g2)
        per_member = _distinct_tweets_by_rater(table, rows2[trial[table.rater[rows2]]])[trial]
        below = int(((per_member > 0) & (per_member < config.rater_inclusion_threshold * satisfied)).sum())
        if satisfied >= config.min_clique_tweets and below == 0:
            members, counts = trial, counts2
        else:
            break
    return np.flatnonzero(members)


def quasi_cliques(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: QuasiCliqueConfig = QuasiCliqueConfig()
) -> pd.DataFrame:
    """Quasi-clique membership ``[raterParticipantId, quasiCliqueValue]`` (spec 05 §C).

    Greedy: seed with the remaining pair of largest count (> 50; ties → the
    smallest (left, right) ids — the official tie order is unspecified); add
    the outside rater with the most distinct tweets among the clique's shared
    events while the enlarged clique still shares ≥ 25 tweets and each member
    matches ≥ 25 % of them; drop all pairs touching the clique; keep cliques
    of ≥ 5 raters.  Cliques are numbered 1.. by size ascending (official
    order; equal sizes keep discovery order).  A rater may appear in two
    cliques.  Degenerate data (no pair reaches 5) gives an empty frame.
    """
    pairs, table = _quasi_clique_pairs(notes, ratings, config)
    empty = pd.DataFrame(
        {schema.RATER_ID: np.asarray(table.rater_ids)[:0], QUASI_CLIQUE_VALUE: np.empty(0, np.int64)}
    )
    strong = pairs.loc[pairs["count"] > config.min_rater_pair_count]
    if strong.empty:
        return empty
    strong = strong.sort_values(["count", "_l", "_r"], ascending=[False, True, True], kind="stable")
    pl, pr = strong["_l"].to_numpy(), strong["_r"].to_numpy()
    alive = np.ones(len(strong), dtype=bool)
    cliques: list[np.ndarray] = []
    while alive.any():
        k = int(np.flatnonzero(alive)[0])
        clique = _grow_clique(table, (int(pl[k]), int(pr[k])), config)
        in_clique = np.zeros(len(table.rater_ids), dtype=bool)
        in_clique[clique] = True
        alive &= ~(in_clique[pl] | in_clique[pr])
        if len(clique) >= config.min_clique_raters:
            cliques.append(clique)
    if not cliques:
        return empty
    order = sorted(range(len(cliques)), key=lambda c: len(cliques[c]))  # stable, ascending
    ids, vals = [], []
    for value, c in enumerate(order, start=1):
        ids.append(table.rater_ids[cliques[c]])
        vals.append(np.full(len(cliques[c]), value, dtype=np.int64))
    return pd.DataFrame({schema.RATER_ID: np.concatenate(ids), QUASI_CLIQUE_VALUE: np.concatenate(vals)})
