"""Replica of scikit-learn 1.0.2's 1-D ``KMeans(n_init=1, algorithm="full")`` on numpy 1.x.

The pflip k-means bins (spec 06 §A.8) run hundreds of tiny 1-D k-means fits, many on float32
rater-factor statistics with tied values. Newer scikit-learn versions compute in float64 from a
float32 init grid and relocate empty clusters in another order, so they can end in other local
optima; this replica reproduces 1.0.2's iterations step by step (precision, chunked sums,
relocation order via :func:`cnlab._compat.numpy1_argpartition.np1_argpartition`).

Used by :class:`cnlab._compat.sklearn102_kbins.LegacyKMeansBins` (``PFlipConfig.kmeans_algorithm="legacy"``).
"""

from __future__ import annotations

import numpy as np

from cnlab._compat.numpy1_argpartition import np1_argpartition

__all__ = ["lloyd_1d", "nearest_centre", "chunk_sums", "centres_from_sums"]


def nearest_centre(minus_two_x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``argmin_j (c_j² + (−2x_i)·c_j)`` per sample in the column's precision, a centre at a time:
    the values of the (n, k) table, compared in index order with a strict "<" (argmin's first
    index on ties), without the table (k passes over cache-sized arrays)."""
    dt = minus_two_x.dtype.type
    squares = (centres * centres).astype(dt)
    best = (squares[0] + minus_two_x * centres[0]).astype(dt, copy=False)
    labels = np.zeros(len(minus_two_x), dtype=np.int32)
    d = np.empty_like(best)
    closer = np.empty(len(best), dtype=bool)
    for j in range(1, len(centres)):
        np.multiply(minus_two_x, centres[j], out=d)
        np.add(d, squares[j], out=d)
        np.less(d, best, out=closer)
        np.copyto(best, d, where=closer)
        np.copyto(labels, np.int32(j), where=closer)
    return labels


def chunk_sums(x: np.ndarray, labels: np.ndarray, k: int, chunk_of: np.ndarray, n_chunks: int) -> np.ndarray:
    """Σ x per label, summed per chunk of samples in sample order and the chunks added in order,
    in the column's precision (scikit-learn 1.0.2's chunked Lloyd sums)."""
    dt = x.dtype.type
    if dt is np.float64:  # bincount adds in index order: the same sequential float64 sums
        parts = np.bincount(chunk_of * k + labels, weights=x, minlength=n_chunks * k)
        return np.cumsum(parts.reshape(n_chunks, k), axis=0)[-1]
    # float32: np.add.at is sequential within each (chunk, label) and a float32 cumulative sum
    # adds the chunks in order
    parts = np.zeros(n_chunks * k, dtype=dt)
    np.add.at(parts, chunk_of * k + labels, x)
    return np.cumsum(parts.reshape(n_chunks, k), axis=0, dtype=dt)[-1] if n_chunks else np.zeros(k, dtype=dt)


def centres_from_sums(x: np.ndarray, c: np.ndarray, labels: np.ndarray, counts: np.ndarray,
                      sums: np.ndarray) -> np.ndarray:
    """One Lloyd update from the clusters' sums and counts (both changed in place): each empty
    cluster takes, in turn, the point farthest from its centre (numpy 1.x argpartition order),
    moved out of its cluster; then ``c'_j = s_j · (1 / n_j)`` in the column's precision."""
    dt = x.dtype.type
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        dist = ((x - c[labels]) ** 2).astype(dt)
        if dist.max() != 0:
            far = np1_argpartition(dist, -len(empty))[:-len(empty) - 1:-1]
            for new, f in zip(empty, far):
                old = labels[f]
                sums[old] = dt(sums[old] - x[f])
                sums[new] = x[f]
                counts[new] = 1
                counts[old] -= 1
    new_c = sums.copy()
    for j in range(len(c)):
        if counts[j] > 0:
            new_c[j] = dt(new_c[j] * dt(dt(1.0) / counts[j]))
    return new_c


def lloyd_1d(column: np.ndarray, init: np.ndarray, *, max_iter: int = 300, tol: float = 1e-4,
             chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means (Lloyd) from the centres ``init``, replicating scikit-learn 1.0.2's
    ``KMeans(init=init, n_init=1, algorithm="full")`` on a numpy 1.x machine step by step, in the
    column's precision (float32 stays float32)::

        x ← x − mean(x);  c ← init − mean(x)                 (float32: init cast first)
        repeat ≤ max_iter:
            label_i = argmin_j (c_j² − 2 x_i c_j)             (first index on ties)
            s_j = Σ_{i: label_i = j} x_i   (per chunk of 256 samples, chunks added in order)
            empty clusters take, in turn, the points farthest from their centre
              (numpy 1.x argpartition order), moving them out of their cluster
            c'_j = s_j · (1 / n_j);  stop if the labels did not change, or if
            Σ (c'_j − c_j)² ≤ tol · var(x)
        (labels recomputed from the final centres unless they did not change)
        return c + mean(x), labels

    Returns ``(centres, labels)``.
    """
    x = np.asarray(column)
    dt = x.dtype.type if x.dtype in (np.float32, np.float64) else np.float64
    x = x.astype(dt)
    k = len(init)
    mean = x.mean(dtype=dt)
    x = (x - mean).astype(dt)
    c = (np.asarray(init).astype(dt) - mean).astype(dt)
    threshold = float(np.mean(np.var(x[:, None], axis=0))) * tol
    n = len(x)
    minus_two_x = (dt(-2.0) * x).astype(dt)
    chunk_of = np.arange(n) // chunk
    n_chunks = int(chunk_of[-1]) + 1 if n else 0

    labels_old = np.full(n, -1, dtype=np.int32)
    labels = labels_old
    strict = False
    for _ in range(max_iter):
        labels = nearest_centre(minus_two_x, c)
        counts = np.bincount(labels, minlength=k).astype(dt)
        sums = chunk_sums(x, labels, k, chunk_of, n_chunks)
        new_c = centres_from_sums(x, c, labels, counts, sums)
        shift = np.abs(new_c - c).astype(dt)
        c = new_c
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if float((shift ** 2).sum(dtype=dt)) <= threshold:
            break
        labels_old = labels
    if not strict:
        labels = nearest_centre(minus_two_x, c)
    return (c + mean).astype(dt), labels
