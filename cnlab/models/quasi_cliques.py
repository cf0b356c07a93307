"""Quasi-clique detection ("rater independence", spec 05 §C).

Greedily grows groups of raters that rated the same recent misleading notes the same way: seeded
with the pair of raters with the most aligned ratings, a group takes the outside rater with the
most distinct posts among its shared events while it still shares enough posts and every member
matches enough of them. Membership feeds ``correlatedRater`` (spec 05 §B.4) through
:func:`cnlab.models.similarity.rater_clustering`.

Complexity
----------
Pair counts (§C.1) are sparse products over blocks of raters (the raters × events matrix with its
transpose, less a per-tweet surplus from a (rater, tweet) × events product), each block holding at
most ``max_pairs_per_chunk`` partial products; the greedy search keeps only the seed pairs
(count > ``min_rater_pair_count``) and a mask of the raters in some pair, so its memory is the
input rows (int32 codes) and one block, whatever the number of pairs. Each greedy growth step is
``O(rows of candidate raters)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnlab._arrays import run_lengths, unique
from cnlab import schema
from cnlab.models._rating_pairs import _not_missing_tweet, check_note_id_kinds

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

    rater: np.ndarray  # int32 code into rater_ids
    tweet: np.ndarray  # int32
    event: np.ndarray  # int32 (tweet, note, helpfulNum)
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
    return order.astype(np.int64, copy=False), ptr


#: Rows whose duplicate flag is looked up at once in :func:`_several_on_tweet`.
_LOOKUP_CHUNK_ROWS = 1 << 24


def _several_on_tweet(rater: np.ndarray, tweet: np.ndarray, n_tweets: int) -> np.ndarray:
    """Rows whose rater has other rows on the same tweet (rated several of its notes).

    One sorted copy of the (rater, tweet) keys gives the repeated keys; the rows are then flagged
    a chunk at a time (no per-row inverse or count arrays).
    """
    if len(rater) == 0:
        return np.zeros(0, dtype=bool)
    width = np.int64(max(n_tweets, 1))
    s = rater.astype(np.int64) * width + tweet
    s.sort()
    repeated = unique(s[1:][s[1:] == s[:-1]])
    del s
    out = np.zeros(len(rater), dtype=bool)
    if len(repeated) == 0:
        return out
    for lo in range(0, len(rater), _LOOKUP_CHUNK_ROWS):
        key = rater[lo:lo + _LOOKUP_CHUNK_ROWS].astype(np.int64) * width + tweet[lo:lo + _LOOKUP_CHUNK_ROWS]
        pos = np.minimum(np.searchsorted(repeated, key), len(repeated) - 1)
        out[lo:lo + _LOOKUP_CHUNK_ROWS] = repeated[pos] == key
    return out


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


#: Column groups of the pair-count product (:func:`_aligned_pair_blocks`): a block of rows skips the
#: groups before its own, so the product computes about ``(G + 1) / 2G`` of ``A·Aᵀ``.
_COLUMN_GROUPS = 8

#: Rating rows mapped to their note per chunk while the quasi-clique inputs are selected.
_INPUT_CHUNK_ROWS = 1 << 24


def _presence_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..n-1 (int32) of non-negative integers in ascending order of value, and the values:
    a presence table over their range, with no hash table and no sort over the rows."""
    present = np.zeros(int(values.max()) + 1 if len(values) else 0, dtype=bool)
    present[values] = True
    code_of = np.cumsum(present, dtype=np.int64) - 1
    return code_of[values].astype(np.int32), np.flatnonzero(present).astype(values.dtype)


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=True)`` as (int32 codes, sorted uniques); non-negative integer ids
    of moderate range (cnlab's compact rater codes) through :func:`_presence_codes`."""
    if (values.dtype.kind in "iu" and len(values)
            and int(values.min()) >= 0 and int(values.max()) < 4 * len(values) + 1024):
        return _presence_codes(values)
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int32), np.asarray(uniques)


def _quasi_clique_inputs(notes: pd.DataFrame, ratings: pd.DataFrame, config: QuasiCliqueConfig):
    """The rows of spec 05 §C.1 as int32 codes: ``(rater, tweet, event, rater_ids, n_events,
    n_tweets)``.

    The rows are the ratings of recent misleading notes on a known tweet (recent: created after
    the latest rated note's time minus ``recency_cutoff_millis``), in ratings order. Raters are
    coded in id order (the greedy growth breaks ties by it); tweet and event codes are labels
    only (every count over them is the same under any relabelling), so they are built per note.
    Each note is looked up once per rating, a chunk of ratings at a time, so no merged copy of the
    ratings exists.
    """
    schema.require_columns(
        notes,
        [schema.NOTE_ID, schema.TWEET_ID, schema.CLASSIFICATION, schema.CREATED_AT],
        where="quasi_cliques(notes)",
    )
    schema.require_columns(
        ratings, [schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM], where="quasi_cliques(ratings)"
    )
    check_note_id_kinds(notes, ratings, "quasi_cliques")
    note_index = pd.Index(notes[schema.NOTE_ID].to_numpy())
    if not note_index.is_unique:
        dup = note_index[note_index.duplicated()][0]
        raise ValueError(f"quasi_cliques(notes): noteId {dup} appears more than once")
    n_notes = len(note_index)
    rating_notes = ratings[schema.NOTE_ID].to_numpy()
    note_pos = np.empty(len(ratings), dtype=np.int32)
    for lo in range(0, len(ratings), _INPUT_CHUNK_ROWS):
        note_pos[lo:lo + _INPUT_CHUNK_ROWS] = note_index.get_indexer(rating_notes[lo:lo + _INPUT_CHUNK_ROWS])
    rated = np.zeros(n_notes + 1, dtype=bool)  # the last slot takes the unmatched (-1)
    rated[note_pos] = True
    rated = rated[:n_notes]
    millis = notes[schema.CREATED_AT].to_numpy()
    tweet_col = notes[schema.TWEET_ID]
    eligible = (
        _not_missing_tweet(tweet_col)
        & (notes[schema.CLASSIFICATION].astype(object) == schema.MISLEADING).to_numpy()
        & tweet_col.notna().to_numpy()
    )
    if rated.any():  # "recent": against the latest note that has a rating (the official merge)
        eligible &= millis > millis[rated].max() - config.recency_cutoff_millis
    eligible &= rated
    keep_note = np.append(eligible, False)
    rows = np.flatnonzero(keep_note[note_pos])
    note_pos = note_pos[rows]
    rater_col = ratings[schema.RATER_ID]
    if isinstance(rater_col.dtype, np.dtype) and rater_col.dtype != object:
        rater, rater_ids = _dense_codes(rater_col.to_numpy()[rows])
    else:  # categoricals & co.: their own order, as the factorisation of the column gives it
        codes, rater_ids = pd.factorize(rater_col.iloc[rows], sort=True)
        rater = codes.astype(np.int32)
    level, levels = pd.factorize(ratings[schema.HELPFUL_NUM].to_numpy()[rows], sort=False,
                                 use_na_sentinel=False)
    del rows
    tweet_of_note = np.full(n_notes, -1, dtype=np.int64)
    tweet_codes, tweet_ids = pd.factorize(tweet_col.to_numpy()[eligible], sort=True)
    tweet_of_note[eligible] = tweet_codes
    tweet = tweet_of_note[note_pos].astype(np.int32)
    # event = (tweet, note, helpfulNum); a note has one tweet, so (note, helpfulNum) identifies it
    key = note_pos.astype(np.int64) * max(len(levels), 1) + level
    del note_pos, level
    event, event_keys = _presence_codes(key)
    return rater, tweet, event, np.asarray(rater_ids), len(event_keys), len(tweet_ids)


def quasi_clique_pair_counts(
    notes: pd.DataFrame, ratings: pd.DataFrame, *, config: QuasiCliqueConfig = QuasiCliqueConfig()
) -> pd.DataFrame:
    """Aligned-rating pair counts (spec 05 §C.1): ``[left, right, count]``, count ≥ 5.

    ``count`` = number of tweets on which the two raters rated some recent
    misleading note with the same ``helpfulNum``.
    """
    pairs, _ = _quasi_clique_pairs(notes, ratings, config)
    return pairs[["left", "right", "count"]].reset_index(drop=True)


def _aligned_pair_blocks(rater, tweet, event, multi, n_r: int, n_events: int, config: QuasiCliqueConfig):
    """Aligned-rating counts of rater pairs (spec 05 §C.1) as sparse products, block by block.

    With ``A`` the binary raters × events matrix, ``A·Aᵀ`` counts the events two raters share. The
    official count is per tweet: two raters who share two events of one tweet (two notes on it,
    rated alike) count once there. Only rows whose rater has two or more rows on a tweet
    (``multi``) can do that; with ``M`` the binary (rater, tweet) × events matrix of those rows,
    ``M·Mᵀ`` holds the events two raters share on each tweet, and the surplus
    ``Σ_t max(shared_t − 1, 0)`` is subtracted. A block of rows is multiplied only by the column
    groups (``_COLUMN_GROUPS`` rater ranges) at or after its own, since only pairs a < b are
    counted. Both products run over the same blocks of raters,
    sized so that each holds at most ``max_pairs_per_chunk`` partial products: memory is bounded
    whatever the data size, and no pair list is sorted or kept beyond its block.

    Yields, per block, pair codes ``a · n_r + b`` (a < b, ``a`` in the block) ascending and their
    counts, counts ≥ ``min_aligned_ratings``; the blocks' codes ascend from block to block.
    """
    from scipy import sparse  # scikit-learn's dependency; only here

    n = max(n_r, 1)
    if len(rater) == 0:
        return
    A = sparse.csr_matrix((np.ones(len(rater), np.int32), (rater, event)), shape=(n_r, n_events))
    A.sum_duplicates()
    A.data[:] = 1
    # raters cut into contiguous column groups of about equal non-zeros: a block of rows is
    # multiplied only by the groups at or after its own (the pairs a < b), about half the product
    edges = np.searchsorted(A.indptr, np.linspace(0, A.nnz, _COLUMN_GROUPS + 1)[1:-1], side="right") - 1
    bounds = np.unique(np.concatenate([[0], edges, [n_r]])).astype(np.int64)
    groups = [(int(lo), A[lo:hi].T.tocsr()) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    # (rater, tweet) nodes of the multi rows, numbered in (rater, tweet) order: a block of raters
    # owns one contiguous run of nodes
    m_rater, m_tweet, m_event = rater[multi], tweet[multi], event[multi]
    width = np.int64(int(tweet.max()) + 1)
    node_key, node = np.unique(m_rater.astype(np.int64) * width + m_tweet, return_inverse=True)
    node_rater = node_key // width
    del node_key, m_rater, m_tweet
    M = sparse.csr_matrix((np.ones(len(node), np.int32), (node.ravel(), m_event)),
                          shape=(len(node_rater), n_events))
    del node, m_event
    Mt = M.T.tocsr()
    node_ptr = np.searchsorted(node_rater, np.arange(n_r + 1))
    # rows cut so that each block holds at most max_pairs_per_chunk partial products (the surplus
    # product of a block is a sub-product of its main product: the same bound holds for it)
    k = np.bincount(A.indices, minlength=n_events)  # raters per event
    work = np.bincount(np.repeat(np.arange(n_r), np.diff(A.indptr)), weights=k[A.indices], minlength=n_r)
    cum = np.concatenate([[0], np.cumsum(work)])
    del work, k
    r0 = 0
    while r0 < n_r:
        r1 = int(np.searchsorted(cum, cum[r0] + config.max_pairs_per_chunk, side="right")) - 1
        g = int(np.searchsorted(bounds, r0, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n_r, int(bounds[g + 1]))  # a block stays inside its group
        block = A[r0:r1]
        code_parts, count_parts = [], []
        for lo, Bt in groups[g:]:
            C = (block @ Bt).tocsr()  # columns unsorted within a row: the kept codes are sorted below
            rows = np.repeat(np.arange(r0, r1, dtype=np.int64), np.diff(C.indptr))
            cols = C.indices.astype(np.int64) + lo
            # the surplus only lowers a count: a pair below the minimum before it stays below after,
            # so only the (few) pairs at the minimum are coded and looked up
            upper = (cols > rows) & (C.data >= config.min_aligned_ratings)
            code_parts.append(rows[upper] * n + cols[upper])
            count_parts.append(C.data[upper].astype(np.int64))
            del rows, cols, upper, C
        codes, counts = np.concatenate(code_parts), np.concatenate(count_parts)
        del code_parts, count_parts, block
        s_codes, s_extra = _block_surplus(M, Mt, node_rater, int(node_ptr[r0]), int(node_ptr[r1]), n)
        if len(s_codes) and len(codes):
            pos = np.searchsorted(s_codes, codes)
            hit = pos < len(s_codes)
            hit[hit] = s_codes[pos[hit]] == codes[hit]
            counts[hit] -= s_extra[pos[hit]]
        keep = counts >= config.min_aligned_ratings
        # a block's codes all lie above the previous block's (its rows do, and code = row · n + col
        # with col < n): sorting each block sorts the whole, with no global sort or reordered copy
        codes, counts = codes[keep], counts[keep]
        order = np.argsort(codes, kind="stable")
        yield codes[order], counts[order]
        r0 = r1


def _block_surplus(M, Mt, node_rater: np.ndarray, lo: int, hi: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-tweet surplus ``Σ_t (shared_t − 1)`` of the pairs whose lower rater owns nodes
    ``lo:hi`` of ``M`` (shared_t ≥ 2 only), as ascending pair codes and their surplus."""
    if hi <= lo:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    S = (M[lo:hi] @ Mt).tocsr()  # two nodes share events only on one tweet (an event has one)
    left = np.repeat(node_rater[lo:hi], np.diff(S.indptr))
    right = node_rater[S.indices]
    two = (S.data >= 2) & (right > left)
    codes = left[two] * n + right[two]
    extra = S.data[two].astype(np.int64) - 1
    del S, left, right, two
    if len(codes) == 0:
        return codes, extra
    codes, inv = np.unique(codes, return_inverse=True)
    return codes, np.bincount(inv.ravel(), weights=extra, minlength=len(codes)).astype(np.int64)


def _quasi_clique_pairs(notes, ratings, config, *, above: int | None = None):
    """Pair counts and the event table of the raters in some pair.

    ``above``: keep only the pairs counted more than this (the seeds the greedy search reads);
    the raters of every pair ≥ ``min_aligned_ratings`` still define the table's rows.
    """
    rater, tweet, event, rater_ids, n_events, n_tweets = _quasi_clique_inputs(notes, ratings, config)
    n_r = len(rater_ids)
    multi = _several_on_tweet(rater, tweet, n_tweets)
    in_pair = np.zeros(n_r, dtype=bool)
    kept_codes, kept_counts = [], []
    for codes, counts in _aligned_pair_blocks(rater, tweet, event, multi, n_r, n_events, config):
        in_pair[codes // max(n_r, 1)] = True
        in_pair[codes % max(n_r, 1)] = True
        if above is not None:
            strong = counts > above
            codes, counts = codes[strong], counts[strong]
        kept_codes.append(codes)
        kept_counts.append(counts)
    codes = np.concatenate(kept_codes) if kept_codes else np.empty(0, np.int64)
    counts = np.concatenate(kept_counts) if kept_counts else np.empty(0, np.int64)
    del kept_codes, kept_counts
    l_code, r_code = codes // max(n_r, 1), codes % max(n_r, 1)
    pairs = pd.DataFrame(
        {"left": rater_ids[l_code], "right": rater_ids[r_code], "count": counts.astype(np.int64),
         "_l": l_code, "_r": r_code}
    )
    rows = in_pair[rater]  # all rows of a kept rater stay, so each row's multi flag does too
    # each full-length array is released as its kept copy is made
    rater = rater[rows]
    tweet = tweet[rows]
    event = event[rows]
    multi = multi[rows]
    del rows
    table = _event_table(rater, tweet, event, rater_ids, n_events, n_tweets, multi)
    return pairs, table


def _clique_events(counts: np.ndarray, active: np.ndarray, size: int, config: QuasiCliqueConfig) -> np.ndarray:
    """Events shared by enough of a clique of ``size`` raters, from ``counts`` (the clique's raters
    per event), among ``active`` (the events some member has: the only ones with a count)."""
    need = max(config.note_inclusion_threshold * size, 0)
    c = counts[active]
    return active[(c >= need) & (c >= min(size, config.min_inclusion_ratings)) & (c > 0)]


def _distinct_tweets(table: _EventTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raters of ``rows`` (ascending) and each one's distinct tweets among them.

    A rater has one row per event and an event one tweet, so only rows flagged ``multi_row`` can
    repeat a (rater, tweet): those alone are de-duplicated, the rest are counted directly. The
    cost is that of the rows, not of the number of raters.
    """
    multi = table.multi_row[rows]
    parts = [table.rater[rows[~multi]].astype(np.int64)]
    if multi.any():
        m = rows[multi]
        width = np.int64(max(table.n_tweets, 1))
        parts.append(unique(table.rater[m].astype(np.int64) * width + table.tweet[m]) // width)
    r = np.concatenate(parts)
    if len(r) == 0:
        return r, r
    n_r = len(table.rater_ids)
    if 8 * len(r) > n_r:  # many rows: one dense count beats a sort
        dense = np.bincount(r, minlength=n_r)
        raters = np.flatnonzero(dense)
        return raters, dense[raters]
    r.sort()
    return run_lengths(r)


def _grow_clique(table: _EventTable, seed: tuple[int, int], config: QuasiCliqueConfig) -> np.ndarray:
    """Greedy growth from a seed pair (spec 05 §C.2).

    Each step reads only the rows of the clique's shared events and of the rater it tries, and
    keeps the per-event member counts and the members' events (``active``) up to date in place, so
    a step costs O(those rows + the members' events), not O(all events + all raters).
    """
    members = np.zeros(len(table.rater_ids), dtype=bool)
    counts = np.zeros(table.n_events, dtype=np.int64)
    for r in seed:
        members[r] = True
        np.add.at(counts, table.events_of_rater(r), 1)
    is_active = counts > 0
    active = np.flatnonzero(is_active)  # the members' events (order is immaterial to every count)
    size = int(members[list(seed)].sum())
    for _ in range(config.max_clique_size):
        rows = table.rows_of_events(_clique_events(counts, active, size, config))
        cand_rows = rows[~members[table.rater[rows]]]
        if len(cand_rows) == 0:
            break  # official code would fail on `.item()`; stop growing instead
        raters, n_tweets = _distinct_tweets(table, cand_rows)
        candidate = int(raters[np.argmax(n_tweets)])  # raters ascending: ties → smallest id
        events = table.events_of_rater(candidate)
        # tried in place: a refusal ends the growth, and only the candidate's flag is undone
        members[candidate] = True
        np.add.at(counts, events, 1)
        fresh = events[~is_active[events]]
        active_after = np.concatenate([active, fresh]) if len(fresh) else active
        g2 = _clique_events(counts, active_after, size + 1, config)
        satisfied = len(unique(table.event_tweet[g2]))
        rows2 = table.rows_of_events(g2)
        _, per_member = _distinct_tweets(table, rows2[members[table.rater[rows2]]])
        below = int(((per_member > 0) & (per_member < config.rater_inclusion_threshold * satisfied)).sum())
        if satisfied >= config.min_clique_tweets and below == 0:
            size += 1
            active = active_after
            is_active[fresh] = True
        else:
            members[candidate] = False
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
    pairs, table = _quasi_clique_pairs(notes, ratings, config, above=config.min_rater_pair_count)
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
