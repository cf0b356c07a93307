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

from cnlab import schema
from cnlab.models._rating_pairs import (
    _chunks_by_group,
    _not_missing_tweet,
    _pair_codes,
    _range_pairs,
    _unique_rows,
)

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


@dataclass(frozen=True)
class _EventTable:
    """Rows of ``raterRatings`` as codes (§C.1)."""

    rater: np.ndarray  # int64 code into rater_ids
    tweet: np.ndarray  # int64
    event: np.ndarray  # int64 (tweet, note, helpfulNum)
    rater_ids: np.ndarray
    n_events: int
    n_tweets: int


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


def _quasi_clique_pairs(notes, ratings, config):
    rater, tweet, event, rater_ids, n_events, n_tweets = _quasi_clique_inputs(notes, ratings, config)
    n_r = len(rater_ids)
    order = np.lexsort((rater, event, tweet))  # tweets contiguous, events contiguous inside
    r_s, t_s, e_s = rater[order], tweet[order], event[order]
    n = len(r_s)
    start = np.ones(n, dtype=bool)
    tweet_start = np.ones(n, dtype=bool)
    if n:
        start[1:] = e_s[1:] != e_s[:-1]
        tweet_start[1:] = t_s[1:] != t_s[:-1]
    run_start = np.maximum.accumulate(np.where(start, np.arange(n), 0)) if n else np.empty(0, np.int64)
    run_id = np.cumsum(start) - 1
    run_len = np.bincount(run_id) if n else np.empty(0, np.int64)
    hi = (run_start + run_len[run_id]) if n else np.empty(0, np.int64)
    idx = np.arange(n, dtype=np.int64)
    lo = idx + 1
    collected = []
    for a, b in _chunks_by_group(tweet_start, np.maximum(hi - lo, 0), config.max_pairs_per_chunk):
        i, j = _range_pairs(lo[a:b], hi[a:b])
        i += a
        codes = _pair_codes(np.minimum(r_s[i], r_s[j]), np.maximum(r_s[i], r_s[j]), max(n_r, 1))
        _, uc = _unique_rows(t_s[i], codes)  # once per tweet
        collected.append(uc)
    all_codes = np.concatenate(collected) if collected else np.empty(0, np.int64)
    codes, counts = np.unique(all_codes, return_counts=True)
    keep = counts >= config.min_aligned_ratings
    codes, counts = codes[keep], counts[keep]
    l_code, r_code = codes // max(n_r, 1), codes % max(n_r, 1)
    pairs = pd.DataFrame(
        {"left": rater_ids[l_code], "right": rater_ids[r_code], "count": counts.astype(np.int64),
         "_l": l_code, "_r": r_code}
    )
    in_pair = np.zeros(n_r, dtype=bool)
    in_pair[l_code] = True
    in_pair[r_code] = True
    rows = in_pair[rater]
    table = _EventTable(rater[rows], tweet[rows], event[rows], rater_ids, n_events, n_tweets)
    return pairs, table


def _clique_events(table: _EventTable, members: np.ndarray, size: int, config: QuasiCliqueConfig) -> np.ndarray:
    """Boolean mask over events shared by enough of ``members`` (rows: raterRatings)."""
    rows = members[table.rater]
    counts = np.bincount(table.event[rows], minlength=table.n_events)
    need = max(config.note_inclusion_threshold * size, 0)
    return (counts >= need) & (counts >= min(size, config.min_inclusion_ratings)) & (counts > 0)


def _distinct_tweets_per_rater(table: _EventTable, rows: np.ndarray) -> np.ndarray:
    r, _ = _unique_rows(table.rater[rows], table.tweet[rows])
    return np.bincount(r, minlength=len(table.rater_ids))


def _grow_clique(table: _EventTable, seed: tuple[int, int], config: QuasiCliqueConfig) -> np.ndarray:
    members = np.zeros(len(table.rater_ids), dtype=bool)
    members[list(seed)] = True
    for _ in range(config.max_clique_size):
        size = int(members.sum())
        g = _clique_events(table, members, size, config)
        matching = g[table.event]
        cand_rows = matching & ~members[table.rater]
        if not cand_rows.any():
            break  # official code would fail on `.item()`; stop growing instead
        per_rater = _distinct_tweets_per_rater(table, cand_rows)
        candidate = int(np.argmax(per_rater))  # ties → smallest id (official order unspecified)
        trial = members.copy()
        trial[candidate] = True
        g2 = _clique_events(table, trial, size + 1, config)
        rows2 = g2[table.event]
        satisfied = len(np.unique(table.tweet[rows2]))
        per_member = _distinct_tweets_per_rater(table, rows2 & trial[table.rater])[trial]
        below = int(((per_member > 0) & (per_member < config.rater_inclusion_threshold * satisfied)).sum())
        if satisfied >= config.min_clique_tweets and below == 0:
            members = trial
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
