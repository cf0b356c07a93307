"""Replica of scikit-learn 1.0.2's ``KBinsDiscretizer(strategy="kmeans", encode="onehot")``.

Two behaviours of the pinned 1.0.2 that newer versions changed (spec 06 §A.8, bench/RESULTS.md
"What the pinned versions change"): float32 columns are binned in float32 (1-D k-means of
:func:`cnlab._compat.sklearn102_kmeans.lloyd_1d`), and ``transform`` bins ``x + 1e-8 + 1e-5·|x|``
rather than ``x``.

Used by :func:`cnlab.models.pflip.build_pipeline` for every binned feature block
(``PFlipConfig.kmeans_algorithm``, ``PFlipConfig.legacy_bin_transform``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from cnlab._compat.sklearn102_kmeans import lloyd_1d

__all__ = ["LegacyKMeansBins"]


def _numeric_2d(X: Any) -> np.ndarray:
    """2-D array keeping float32 / float64 (1.0.2 ``dtype="numeric"``); other types → float64."""
    a = np.asarray(X)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return a[:, None] if a.ndim == 1 else a


def _kmeans_algorithms() -> set[str]:
    import sklearn

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    return {"full", "elkan"} if (major, minor) < (1, 1) else {"lloyd", "elkan"}


class LegacyKMeansBins(TransformerMixin, BaseEstimator):
    """One-hot k-means binning of each column as scikit-learn 1.0.2's
    ``KBinsDiscretizer(strategy="kmeans", encode="onehot")`` does (spec 06 §A.8).

    Per column: constant → one bin; else 1-D k-means with ``n_bins`` centres started at the
    midpoints of ``n_bins`` equal-width intervals over [min, max] (``n_init=1``); edges =
    [min, midpoints of the sorted centres, max] with edges closer than 1e-8 removed. With
    ``legacy_transform`` a value x falls in the bin of ``x + 1e-8 + 1e-5·|x|`` (1.0.2).
    """

    def __init__(self, n_bins: int = 5, algorithm: str = "legacy", legacy_transform: bool = True):
        self.n_bins = n_bins
        self.algorithm = algorithm
        self.legacy_transform = legacy_transform

    def fit(self, X, y=None):
        from sklearn.cluster import KMeans
        from sklearn.preprocessing import OneHotEncoder

        X = _numeric_2d(X)
        edges, nb, diag = [], [], []
        for j in range(X.shape[1]):
            col = X[:, j]
            lo, hi = col.min(), col.max()
            if lo == hi:
                edges.append(np.array([-np.inf, np.inf]))
                nb.append(1)
                continue
            # float64 grid even for float32 columns (numpy 1.x promoted the float32 scalars;
            # KMeans then casts the initial centres to the column's dtype)
            uni = np.linspace(np.float64(lo), np.float64(hi), self.n_bins + 1)
            init = ((uni[1:] + uni[:-1]) * 0.5)[:, None]
            if self.algorithm == "legacy":
                centres, labels = lloyd_1d(col, init[:, 0])
            else:
                algo = self.algorithm
                if algo == "lloyd" and "full" in _kmeans_algorithms():  # scikit-learn < 1.1
                    algo = "full"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "fewer distinct clusters": expected
                    km = KMeans(n_clusters=self.n_bins, init=init, n_init=1,
                                algorithm=algo).fit(col[:, None])
                centres, labels = km.cluster_centers_[:, 0], km.labels_
            # float32 input gives float32 centres and edges (as in 1.0.2)
            c = np.sort(centres)
            e = np.r_[lo, (c[1:] + c[:-1]) * 0.5, hi]
            e = e[np.ediff1d(e, to_begin=np.inf) > 1e-8]
            edges.append(e)
            nb.append(len(e) - 1)
            diag.append((j, int(np.count_nonzero(np.bincount(labels, minlength=self.n_bins))), len(e) - 1))
        self.diagnostics_ = diag
        self.bin_edges_ = edges
        self.n_bins_ = np.array(nb)
        self.encoder_ = OneHotEncoder(categories=[np.arange(i) for i in nb], dtype=np.float64)
        self.encoder_.fit(np.zeros((1, len(nb))))
        return self

    def transform(self, X):
        X = np.array(_numeric_2d(X))  # float32 stays float32 (1.0.2 transforms in the input dtype)
        codes = np.empty_like(X)
        for j, e in enumerate(self.bin_edges_):
            x = X[:, j]
            if self.legacy_transform:
                codes[:, j] = np.searchsorted(e[1:], x + (1e-8 + 1e-5 * np.abs(x)), side="right")
            else:
                codes[:, j] = np.searchsorted(e[1:-1], x, side="right")
        np.clip(codes, 0, self.n_bins_ - 1, out=codes)
        self.encoder_.dtype = codes.dtype  # 1.0.2: output dtype follows the input
        try:
            return self.encoder_.transform(codes)
        finally:
            self.encoder_.dtype = np.float64
