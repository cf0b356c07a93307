"""The pflip design matrix with its crossed blocks kept implicit (spec 06 §A.8, blocks 7–9 and 12).

Most of the pflip matrix (89 % of its non-zeros; ~2.3 billion at the full public size, 18 GB as
float32 CSR) is crossed one-hot blocks: ``PolynomialFeatures(degree=(d, d), interaction_only=True)``
over the binned count columns, then a rarity filter ``VarianceThreshold(0.001)``. A row's crossed
columns are a function of its ≤ 27 active bins (:mod:`cnlab.models.pflip_crossed`), so
:class:`CrossedFreeFeatures` keeps only those bins per row and :class:`DesignMatrix` computes, a
chunk of rows at a time, what the working-set classifier
(:class:`~cnlab.models.l1_logistic.L1Logistic`) needs:

* ``X^T r`` over every column (the optimality check), by ``bincount`` of the rows' columns;
* the margins ``X w + b`` from the columns with a non-zero coefficient;
* the working set's columns ``X[:, S]`` as an ordinary sparse matrix.

The columns are numbered as scikit-learn's ``ColumnTransformer`` numbers them (blocks in order,
a crossed block's kept columns ascending), so ``X[:, S]`` equals the materialised matrix's columns
``S`` and a working-set fit on the implicit design fits liblinear on the same matrices as one on
the explicit design; only the summation order of ``X^T r`` differs (a few ulps).

The other blocks (author one-hot, rater bags, single bins, the small ``stat_cols`` crossing) are
fitted and stored as the explicit pipeline does.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import VarianceThreshold

from .pflip_crossed import binary_variance_support, padded_active_columns, ragged_crossed_codes, unrank_codes

__all__ = ["CrossedBlock", "CrossedFreeFeatures", "DesignMatrix", "DesignVarianceThreshold",
           "crossed_steps"]

#: Rows per chunk when a crossed block's codes are enumerated (C(27, 3) = 2,925 a row: 24 MB of
#: int32 codes and 48 MB of float64 weights a chunk; larger chunks spread the pass over the
#: block's ``width``-sized sums over more rows).
CHUNK_ROWS = 2048

#: Column ANDs of the membership matrix that cost what enumerating one code does (a contiguous
#: bool AND over the rows vs a gather, a subtraction and a scattered read or add per code): the
#: columns of a product (margins, a working set) are read by membership below this ratio.
MEMBERS_PER_CODE = 8


def crossed_steps(transformer: Any) -> tuple[int, tuple[int, ...]] | None:
    """For a block pipeline ``prefix → PolynomialFeatures(d, d) … → VarianceThreshold``, the number
    of prefix steps and the crossing degrees; None for any other transformer.

    Only interaction-only crossings of one degree without a bias qualify (the products of one-hot
    bins are then 0/1 and a row's columns are subsets of its bins); ``degree=(1, 2)`` does not.
    """
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures

    if not isinstance(transformer, Pipeline) or len(transformer.steps) < 3:
        return None
    steps = [s for _, s in transformer.steps]
    if not isinstance(steps[-1], VarianceThreshold):
        return None
    first = next((i for i, s in enumerate(steps) if isinstance(s, PolynomialFeatures)), None)
    if first is None or first == 0:
        return None
    degrees = []
    for s in steps[first:-1]:
        if not isinstance(s, PolynomialFeatures):
            return None
        d = s.degree
        lo, hi = (d, d) if isinstance(d, int) else d
        if lo != hi or not s.interaction_only or s.include_bias:
            return None
        degrees.append(int(lo))
    return first, tuple(degrees)


class CrossedBlock:
    """A fitted crossed block: its one-hot prefix (fitted scikit-learn steps), the crossing degrees
    and the output columns the rarity filter kept (``kept``: codes among ``width``, ascending).

    Products with the block read and write arrays over all ``width + 1`` codes (the last one the
    padding of ragged rows), indexed by the rows' codes directly, then narrowed to ``kept``: at
    most C(C(63, 2), 2) ≈ 1.9M codes (15 MB of float64), cheaper than mapping every code.
    """

    def __init__(self, prefix: Any, m: int, degrees: tuple[int, ...], kept: np.ndarray, width: int,
                 counts: np.ndarray | None = None):
        self.prefix = prefix
        self.m = int(m)
        self.degrees = tuple(degrees)
        self.kept = np.asarray(kept, dtype=np.int64)
        self.width = int(width)
        self.counts = counts  # training rows per kept column (the variance filter's input)

    @property
    def n_columns(self) -> int:
        return len(self.kept)

    def codes(self, active: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Rows' crossed codes, ``width`` where padded (:func:`ragged_crossed_codes` composed)."""
        codes, c, w = active, counts, self.m
        for d in self.degrees:
            codes, c = ragged_crossed_codes(codes, c, w, d)
            w = comb(w, d)
        return codes

    def spread(self, values: np.ndarray, fill: float = 0) -> np.ndarray:
        """``values`` (one per kept column) at their codes in a ``width + 1`` array, ``fill`` elsewhere."""
        out = np.full(self.width + 1, fill, dtype=np.asarray(values).dtype)
        out[self.kept] = values
        return out

    def members(self, columns: np.ndarray) -> np.ndarray:
        """The input bins whose product is each of the kept ``columns`` (local indices): an
        ``(len(columns), Π d)`` int64 array (a bin may repeat in a pair of pairs: the product of
        0/1 values is the same)."""
        codes = self.kept[np.asarray(columns, dtype=np.int64)][:, None]
        widths = [self.m]
        for d in self.degrees[:-1]:
            widths.append(comb(widths[-1], d))
        for w, d in zip(reversed(widths), reversed(self.degrees)):
            codes = unrank_codes(codes.ravel(), w, d).reshape(len(codes), -1)
        return codes

    def restricted(self, keep: np.ndarray) -> "CrossedBlock":
        """The block with only the kept columns ``keep`` (a mask over :attr:`kept`)."""
        keep = np.asarray(keep, dtype=bool)
        return CrossedBlock(self.prefix, self.m, self.degrees, self.kept[keep], self.width,
                            None if self.counts is None else self.counts[keep])


class _Explicit:
    """An explicit run of columns: a CSC matrix (float32 when exact, as the stacked blocks are)."""

    def __init__(self, matrix: Any):
        self.matrix = matrix

    @property
    def n_columns(self) -> int:
        return self.matrix.shape[1]


class _Implicit:
    """A crossed block's rows: each row's active bins (padded) and counts."""

    def __init__(self, block: CrossedBlock, active: np.ndarray, counts: np.ndarray):
        self.block, self.active, self.counts = block, active, counts

    @property
    def n_columns(self) -> int:
        return self.block.n_columns

    def by_members(self, n_columns: int) -> bool:
        """Whether ``n_columns`` columns are cheaper read from :meth:`membership` (``n_columns`` × Π d
        column ANDs a row) than by enumerating every row's codes (C(k, d) codes a row)."""
        per_row = 1
        k = self.active.shape[1]
        factors = 1
        for d in self.block.degrees:
            per_row = comb(k, d)
            k = per_row
            factors *= d
        return n_columns * factors < MEMBERS_PER_CODE * per_row

    def membership(self) -> np.ndarray:
        """``H[i, b]``: row ``i`` has bin ``b`` active (bool, column-major so that a bin's rows are
        contiguous; the padding bin ``m`` included), built once."""
        h = getattr(self, "_membership", None)
        if h is None:
            n, k = self.active.shape
            h = np.zeros((n, self.block.m + 1), dtype=bool, order="F")
            h[np.repeat(np.arange(n), k), self.active.ravel().astype(np.int64)] = True
            self._membership = h
        return h

    def column_rows(self, columns: np.ndarray):
        """The rows of each of ``columns`` (local indices), ascending, from :meth:`membership`."""
        h = self.membership()
        for bins in self.block.members(columns):
            hit = h[:, bins[0]].copy()
            for b in bins[1:]:
                hit &= h[:, b]
            yield np.flatnonzero(hit)

    def chunks(self):
        """``(lo, hi, codes)`` for each chunk of rows (codes: see :meth:`CrossedBlock.codes`)."""
        n = len(self.counts)
        for lo in range(0, n, CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, n)
            yield lo, hi, self.block.codes(self.active[lo:hi], self.counts[lo:hi])


class DesignMatrix:
    """An ``n × p`` design matrix of explicit sparse column runs and implicit crossed blocks.

    It offers what the working-set classifier reads (:func:`cnlab.models.l1_logistic.l1_gradient`
    and ``L1Logistic`` dispatch on :meth:`rmatvec`): ``shape``, ``nnz``, ``dtype``, ``X[:, cols]``
    (CSC), :meth:`rmatvec` and :meth:`margins`.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> x = DesignMatrix([_Explicit(sp.csc_matrix(np.eye(3, dtype=np.float32)))], n_rows=3)
    >>> x.shape, x.rmatvec(np.array([1.0, 2.0, 3.0])).tolist()
    ((3, 3), [1.0, 2.0, 3.0])
    """

    def __init__(self, parts: Sequence[Any], *, n_rows: int, dtype: Any = np.float32):
        self.parts = list(parts)
        self.n_rows = int(n_rows)
        self.dtype = np.dtype(dtype)
        self._offsets = np.cumsum([0] + [p.n_columns for p in self.parts])

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_rows, int(self._offsets[-1])

    @property
    def nnz(self) -> int:
        """Stored entries had the matrix been materialised (a crossed row's kept columns)."""
        total = 0
        for p in self.parts:
            if isinstance(p, _Explicit):
                total += int(p.matrix.nnz)
            else:
                kept = p.block.spread(np.ones(p.n_columns, dtype=bool), False)
                total += sum(int(kept[codes].sum()) for _, _, codes in p.chunks())
        return total

    def _local(self, i: int, cols: np.ndarray) -> np.ndarray:
        a, b = self._offsets[i], self._offsets[i + 1]
        sel = cols[(cols >= a) & (cols < b)]
        return sel - a

    def rmatvec(self, r: np.ndarray) -> np.ndarray:
        """``X^T r`` (float64): the explicit runs a block of rows at a time (widened there only),
        the crossed blocks by a ``bincount`` of each chunk's columns."""
        from .l1_logistic import transposed_dot

        r = np.asarray(r, dtype=np.float64)
        out = np.zeros(self.shape[1], dtype=np.float64)
        for i, p in enumerate(self.parts):
            a, b = self._offsets[i], self._offsets[i + 1]
            if isinstance(p, _Explicit):
                out[a:b] = transposed_dot(p.matrix, r)
                continue
            full = np.zeros(p.block.width + 1, dtype=np.float64)
            for lo, hi, codes in p.chunks():
                full += np.bincount(codes.ravel(), weights=np.repeat(r[lo:hi], codes.shape[1]),
                                    minlength=p.block.width + 1)
            out[a:b] = full[p.block.kept]
        return out

    def margins(self, coef: np.ndarray, intercept: float) -> np.ndarray:
        """``X coef + intercept`` from the columns whose coefficient is not zero (float64)."""
        coef = np.asarray(coef, dtype=np.float64).ravel()
        out = np.full(self.n_rows, float(intercept), dtype=np.float64)
        for i, p in enumerate(self.parts):
            a, b = self._offsets[i], self._offsets[i + 1]
            local = coef[a:b]
            support = np.flatnonzero(local)
            if support.size == 0:
                continue
            if isinstance(p, _Explicit):
                out += np.asarray(p.matrix[:, support] @ local[support]).ravel()
                continue
            if p.by_members(support.size):
                for j, rows in zip(support, p.column_rows(support)):
                    out[rows] += local[j]
                continue
            full = p.block.spread(local)  # dropped codes and the padding read 0
            for lo, hi, codes in p.chunks():
                out[lo:hi] += full[codes].sum(axis=1)
        return out

    def columns(self, cols: np.ndarray, *, dtype: Any = None, ones_column: bool = False):
        """``X[:, cols]`` as CSC (``cols`` ascending global column indices), in ``dtype`` (the
        design's by default), with a last column of ones when ``ones_column`` (a penalised
        intercept's).

        The result's arrays are allocated once at their final size (int32 row indices while they
        fit): a crossed block's entries are counted in one pass over its chunks and placed in a
        second, so the only other memory is a chunk's codes, not a list of every entry's row and
        column (which a coordinate-format build would sort).
        """
        import scipy.sparse as sp

        cols = np.asarray(cols, dtype=np.int64)
        if cols.size and np.any(np.diff(cols) <= 0):
            raise ValueError("DesignMatrix.columns: ascending, distinct column indices")
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        n, k = self.n_rows, cols.size
        counts = np.zeros(k + int(ones_column), dtype=np.int64)
        plans, first = [], 0
        for i, p in enumerate(self.parts):  # pass 1: each output column's entry count
            local = self._local(i, cols)
            if local.size == 0:
                continue
            span = slice(first, first + local.size)
            if isinstance(p, _Explicit):
                sub = p.matrix[:, local].tocsc()
                if not sub.has_sorted_indices:
                    sub.sort_indices()
                counts[span] = np.diff(sub.indptr)
                plans.append(("explicit", span, sub))
            elif p.by_members(local.size):
                rows = list(p.column_rows(local))
                counts[span] = [r.size for r in rows]
                plans.append(("rows", span, rows))
            else:
                where = np.full(p.block.width + 1, -1, dtype=np.int64)
                where[p.block.kept[local]] = np.arange(local.size)
                c = np.zeros(local.size, dtype=np.int64)
                for _, _, codes in p.chunks():
                    o = where[codes]
                    c += np.bincount(o[o >= 0], minlength=local.size)
                counts[span] = c
                plans.append(("codes", span, (p, where)))
            first += local.size
        if ones_column:
            counts[-1] = n
        indptr = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        index_type = np.int32 if max(nnz, n) < 2**31 else np.int64
        indices = np.empty(nnz, dtype=index_type)
        data = np.ones(nnz, dtype=dtype)
        for kind, span, what in plans:  # pass 2: the rows, each column's ascending
            a = int(indptr[span.start])
            if kind == "explicit":
                b = int(indptr[span.stop])
                indices[a:b] = what.indices
                data[a:b] = what.data
            elif kind == "rows":
                for j, rows in enumerate(what):
                    start = int(indptr[span.start + j])
                    indices[start:start + rows.size] = rows
            else:
                p, where = what
                cursor = indptr[span.start:span.stop].copy()
                m = span.stop - span.start
                for lo, _, codes in p.chunks():
                    o = where[codes]
                    r, j = np.nonzero(o >= 0)  # row-major: rows ascending
                    local = o[r, j]
                    order = np.argsort(local, kind="stable")  # by column, rows still ascending
                    local, r = local[order], r[order]
                    cnt = np.bincount(local, minlength=m)
                    begin = np.cumsum(cnt) - cnt
                    indices[cursor[local] + np.arange(local.size) - begin[local]] = r + lo
                    cursor += cnt
        if ones_column:
            indices[nnz - n:] = np.arange(n)
        return sp.csc_matrix((data, indices, indptr.astype(index_type, copy=False)),
                             shape=(n, counts.size), copy=False)

    def __getitem__(self, key):
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)):
            raise TypeError("DesignMatrix supports X[:, columns] only")
        cols = key[1]
        if isinstance(cols, np.ndarray) and cols.dtype == bool:
            cols = np.flatnonzero(cols)
        return self.columns(np.asarray(cols))

    def keep_columns(self, keep: np.ndarray, *, inplace: bool = False) -> "DesignMatrix":
        """The design with the columns of the mask ``keep`` (a variance filter's support).

        ``inplace`` compacts the explicit runs in their own arrays
        (:func:`~cnlab.models.pflip_bag.drop_columns_inplace`: no second copy of them; this design
        is invalid afterwards), as the fit does with the stacks it made."""
        from .pflip_bag import drop_columns_inplace

        keep = np.asarray(keep, dtype=bool)
        parts = []
        for i, p in enumerate(self.parts):
            k = keep[self._offsets[i]:self._offsets[i + 1]]
            if k.all():
                parts.append(p)
            elif isinstance(p, _Explicit):
                parts.append(_Explicit(drop_columns_inplace(p.matrix, k) if inplace
                                       else p.matrix[:, np.flatnonzero(k)]))
            else:
                parts.append(_Implicit(p.block.restricted(k), p.active, p.counts))
        return DesignMatrix(parts, n_rows=self.n_rows, dtype=self.dtype)

    def toarray(self) -> np.ndarray:
        """The dense matrix (tests and small data only)."""
        return self.columns(np.arange(self.shape[1])).toarray()


def _column_data(x: pd.DataFrame, cols: Any):
    return x[cols]


class CrossedFreeFeatures(TransformerMixin, BaseEstimator):
    """The pflip feature step (the blocks of :func:`cnlab.models.pflip.build_pipeline`) with its
    crossed blocks (:func:`crossed_steps`) kept implicit: ``fit_transform`` and ``transform``
    return a :class:`DesignMatrix` whose columns are those of the ``ColumnTransformer`` on the
    same blocks, in the same order, with the same values.

    Parameters
    ----------
    blocks
        ``(name, transformer, columns)`` as given to the ``ColumnTransformer`` (unfitted; cloned).
    """

    def __init__(self, blocks: Sequence[tuple[str, Any, Any]]):
        self.blocks = list(blocks)

    def _fit_block(self, transformer: Any, data: Any, y: Any):
        from sklearn.base import clone
        from sklearn.pipeline import Pipeline

        est = clone(transformer)
        shape = crossed_steps(est)
        if shape is None:
            return est, est.fit_transform(data, y)
        first, degrees = shape
        prefix = Pipeline(est.steps[:first])
        onehot = prefix.fit_transform(data, y)
        active, counts = padded_active_columns(onehot)
        m = onehot.shape[1]
        del onehot
        width = m
        for d in degrees:
            width = comb(width, d)
        probe = CrossedBlock(prefix, m, degrees, np.zeros(0, np.int64), width)
        column_counts = np.zeros(width + 1, dtype=np.int64)
        for lo in range(0, len(counts), CHUNK_ROWS):
            column_counts += np.bincount(probe.codes(active[lo:lo + CHUNK_ROWS], counts[lo:lo + CHUNK_ROWS]).ravel(),
                                         minlength=width + 1)
        column_counts = column_counts[:width]  # the padding's count goes
        threshold = est.steps[-1][1].threshold
        kept = np.flatnonzero(binary_variance_support(column_counts, len(counts), threshold))
        if kept.size == 0:
            raise ValueError(f"No feature in X meets the variance threshold {threshold:.5f}")
        block = CrossedBlock(prefix, m, degrees, kept, width, column_counts[kept])
        return block, _Implicit(block, active, counts)

    def _assemble(self, outputs: list, n_rows: int) -> DesignMatrix:
        from .pflip_bag import stack_csc

        parts, run = [], []
        for out in outputs:
            if isinstance(out, _Implicit):
                if run:
                    parts.append(_Explicit(stack_csc(run, consume=True)))
                    run = []
                parts.append(out)
            else:
                run.append(out.tocsr())
        if run:
            parts.append(_Explicit(stack_csc(run, consume=True)))
        dtype = next((p.matrix.dtype for p in parts if isinstance(p, _Explicit)), np.float32)
        return DesignMatrix(parts, n_rows=n_rows, dtype=dtype)

    def fit_transform(self, x: pd.DataFrame, y: Any = None) -> DesignMatrix:
        self.fitted_ = []
        outputs = []
        for name, transformer, cols in self.blocks:
            est, out = self._fit_block(transformer, _column_data(x, cols), y)
            self.fitted_.append((name, est, cols))
            outputs.append(out)
        return self._assemble(outputs, len(x))

    def fit(self, x: pd.DataFrame, y: Any = None) -> "CrossedFreeFeatures":
        self.fit_transform(x, y)
        return self

    def transform(self, x: pd.DataFrame) -> DesignMatrix:
        outputs = []
        for _, est, cols in self.fitted_:
            data = _column_data(x, cols)
            if isinstance(est, CrossedBlock):
                active, counts = padded_active_columns(est.prefix.transform(data))
                outputs.append(_Implicit(est, active, counts))
            else:
                outputs.append(est.transform(data))
        return self._assemble(outputs, len(x))


class DesignVarianceThreshold(VarianceThreshold):
    """``VarianceThreshold`` that also filters a :class:`DesignMatrix` (the pflip pipeline's
    ``"drop_constants"`` step on an implicit design; fitted by :func:`fit_design_variance`)."""

    def transform(self, X):
        if isinstance(X, DesignMatrix):
            keep = self.get_support()
            return X if keep.all() else X.keep_columns(keep)
        return super().transform(X)


def _binary_variances(counts: np.ndarray, n_rows: int) -> np.ndarray:
    """scikit-learn's variances of 0/1 columns with ``counts`` ones among ``n_rows`` rows, one
    computation per distinct count (a column's variance depends on its count alone)."""
    from .pflip_crossed import _sklearn_binary_variance

    values, inverse = np.unique(np.asarray(counts, dtype=np.int64), return_inverse=True)
    return np.array([_sklearn_binary_variance(int(c), n_rows) for c in values])[inverse.ravel()]


def fit_design_variance(selector: Any, x: DesignMatrix) -> Any:
    """Fit the variance filter ``selector`` on ``x``: each explicit run by
    :func:`~cnlab.models.pflip_bag.fit_variance_filter` (scikit-learn's variances, bit for bit), a
    crossed block's 0/1 columns from their counts (``c/n · (1 − c/n)``), which the block's own
    rarity filter already put above 0.001 (so none is constant): scikit-learn's values, computed
    once per distinct count."""
    from sklearn.base import clone

    from .pflip_bag import fit_variance_filter

    variances = []
    for p in x.parts:
        if isinstance(p, _Explicit):
            try:
                variances.append(fit_variance_filter(clone(selector), p.matrix).variances_)
            except ValueError:  # this run alone has no variable column: the whole may still
                variances.append(np.zeros(p.n_columns))
        else:
            variances.append(_binary_variances(p.block.counts, x.n_rows))
    v = np.concatenate(variances) if variances else np.zeros(0)
    if np.all(~np.isfinite(v) | (v <= selector.threshold)):
        raise ValueError(f"No feature in X meets the variance threshold {selector.threshold:.5f}")
    selector.variances_ = v
    selector.n_features_in_ = x.shape[1]
    return selector
