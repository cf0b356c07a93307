"""Vectorised rating-pair helpers shared by post-selection similarity and quasi-cliques (spec 05 §B.2, §C.1).

Both count, per post, the pairs of raters whose ratings fall in a window (PSS: 20 minutes; quasi-cliques:
the same note and ``helpfulNum``). The pairs are materialised in bounded chunks cut at post
boundaries, so no Python loop runs per rating or per pair.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd


def _range_pairs(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j) with ``lo[i] <= j < hi[i]`` as two int64 arrays, vectorised."""
    counts = np.maximum(hi - lo, 0).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    i = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
    # offset of each pair inside its row's block
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    j = np.repeat(lo.astype(np.int64), counts) + (np.arange(total, dtype=np.int64) - starts)
    return i, j


def _chunks_by_group(group_start: np.ndarray, pair_counts: np.ndarray, limit: int) -> Iterator[tuple[int, int]]:
    """Row ranges ``[a, b)`` cut at group starts, each with ≤ ``limit`` pairs.

    A single group with more than ``limit`` pairs forms its own chunk.
    ``group_start[0]`` must be True.
    """
    n = len(pair_counts)
    if n == 0:
        return
    cum = np.concatenate([[0], np.cumsum(pair_counts, dtype=np.int64)])
    bounds = np.append(np.flatnonzero(group_start), n)
    cb = cum[bounds]
    k = 0
    while k < len(bounds) - 1:
        kk = int(np.searchsorted(cb, cb[k] + limit, side="right")) - 1
        kk = max(kk, k + 1)
        yield int(bounds[k]), int(bounds[kk])
        k = kk


def _pair_codes(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    return left.astype(np.int64) * np.int64(n) + right.astype(np.int64)


def _unique_rows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (a, b) rows (int64 arrays)."""
    if len(a) == 0:
        return a, b
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.ones(len(a), dtype=bool)
    keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[keep], b[keep]


def _not_missing_tweet(tweet: pd.Series) -> np.ndarray:
    """Official filter ``tweetId != -1 and != "-1"`` (works for int or str tweet ids)."""
    return (tweet.astype(str) != "-1").to_numpy()
