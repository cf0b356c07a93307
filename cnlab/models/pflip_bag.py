"""scikit-learn pieces of the pflip pipeline (spec 06 §A.8): ``TokenBag``, the bag of rater tokens on
integer codes, and ``LeanColumnTransformer``, a ``ColumnTransformer`` whose sparse column stack
costs one output matrix instead of three.

``TokenBag`` is a drop-in for ``CountVectorizer(analyzer=identity, min_df=…)`` on the integer
documents of :func:`cnlab.models.pflip_tokens.token_lists`; see that module for the encoding.
Imported only when a pflip pipeline is built (it imports scikit-learn).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer

from cnlab._arrays import lexsort2, unique
from cnlab.models.pflip_tokens import decode, string_order_key

__all__ = ["TokenBag", "LeanColumnTransformer", "stack_csr", "stack_csc", "drop_columns_inplace",
           "column_ranges", "fit_variance_filter"]


def _sparse_interface(x):
    """The sparse type ``CountVectorizer`` returns in this scikit-learn version."""
    try:
        from sklearn.utils._sparse import _align_api_if_sparse
    except ImportError:  # scikit-learn < 1.8 returns csr_matrix
        return x
    return _align_api_if_sparse(x)


class TokenBag(TransformerMixin, BaseEstimator):
    """Bag of integer tokens: ``CountVectorizer(analyzer=identity, min_df=min_df)`` on
    :func:`token_lists` documents, vocabulary in token-string order (spec 06 §A.8).

    Parameters
    ----------
    kind
        Token kind (a key of :data:`TOKEN_LABELS`).
    min_df
        Keep tokens present in at least this many documents (official ``min_df``).
    dtype
        Type of the counts (``CountVectorizer``'s ``dtype``, int64 by default). float32 holds every
        count below 2²⁴ exactly in 8 bytes a non-zero instead of 12; the pflip pipeline uses it for
        the bags that go straight into its float32 column stack.
    """

    def __init__(self, kind: str = "helpfulness", min_df: int = 1, dtype: Any = np.int64):
        self.kind = kind
        self.min_df = min_df
        self.dtype = dtype

    #: Tokens read at a time (whole documents; at least one): bounds the fit's int64 temporaries
    #: (~60 bytes a token) whatever the corpus (206M ratings: ~10⁸ tokens in one bag).
    chunk_tokens: int = 1 << 23

    def _chunks(self, docs: Any) -> tuple[list, np.ndarray, list[tuple[int, int]]]:
        docs = list(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        bounds, a, total = [], 0, 0
        for j, n in enumerate(lengths.tolist()):
            if total and total + n > self.chunk_tokens:
                bounds.append((a, j))
                a, total = j, 0
            total += n
        bounds.append((a, len(docs)))
        return docs, lengths, bounds

    @staticmethod
    def _flat(docs: list, lengths: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of documents ``a:b`` (int64) and their document numbers."""
        flat = (np.concatenate(docs[a:b]).astype(np.int64, copy=False) if b > a and lengths[a:b].sum()
                else np.zeros(0, np.int64))
        return flat, np.repeat(np.arange(a, b, dtype=np.int64), lengths[a:b])

    @staticmethod
    def _entries(rows: np.ndarray, cols: np.ndarray, order_key: np.ndarray):
        """Distinct (row, column) entries and their counts, each row's entries in ``order_key``
        order (rows ascending); a token repeated in a document counts (as in ``CountVectorizer``).
        ``order_key`` is one value per column (a token's first position, or the column itself)."""
        order = lexsort2(order_key, rows)
        rows, cols = rows[order], cols[order]
        first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])] if len(rows) else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        counts = np.diff(np.r_[starts, len(rows)]).astype(np.int64)
        return rows[starts], cols[starts], counts

    def _csr(self, parts: list, n_docs: int):
        """The CSR of the entries of consecutive row ranges (:meth:`_entries` of each chunk)."""
        import scipy.sparse as sp

        rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
        del rows
        idx_dtype = np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64
        top = max((int(p[2].max()) for p in parts if len(p[2])), default=0)
        if np.dtype(self.dtype).kind == "f" and top >= 1 << 24:
            raise ValueError(f"TokenBag: a count of {top} is not exact in {np.dtype(self.dtype)}")
        data = np.concatenate([p[2].astype(self.dtype, copy=False) for p in parts]) if parts \
            else np.zeros(0, self.dtype)
        cols = np.concatenate([p[1].astype(idx_dtype, copy=False) for p in parts]) if parts \
            else np.zeros(0, idx_dtype)
        x = sp.csr_matrix((data, cols, indptr.astype(idx_dtype)), shape=(n_docs, len(self.vocabulary_codes_)))
        return _sparse_interface(x)

    def fit_transform(self, docs: Any, y: Any = None):
        docs, lengths, bounds = self._chunks(docs)
        n_docs = len(docs)
        if lengths.sum() == 0:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        if n_docs < self.min_df:
            raise ValueError("max_df corresponds to < documents than min_df")
        # pass 1, a chunk of documents at a time: each token's first position in the corpus and
        # the number of documents holding it (each (document, token) pair once)
        toks, firsts, dfs, offset = [], [], [], 0
        for a, b in bounds:
            flat, rows = self._flat(docs, lengths, a, b)
            # each token's place among the chunk's distinct tokens from the sort's permutation, not
            # a binary search of every token (a cache miss a step once the vocabulary is large)
            u, first, pos = np.unique(flat, return_index=True, return_inverse=True)
            pairs = unique((rows - a) * max(len(u), 1) + pos)
            dfs.append(np.bincount(pairs % max(len(u), 1), minlength=len(u)))
            toks.append(u)
            firsts.append(first + offset)
            offset += len(flat)
            del flat, rows, pos, pairs
        tok, first, dfc = np.concatenate(toks), np.concatenate(firsts), np.concatenate(dfs)
        del toks, firsts, dfs
        order = lexsort2(first, tok)
        tok, first, dfc = tok[order], first[order], dfc[order]
        head = np.flatnonzero(np.r_[True, tok[1:] != tok[:-1]])
        uniq, first, df = tok[head], first[head], np.add.reduceat(dfc, head)
        del tok, dfc, order
        kept = df >= self.min_df
        if not kept.any():
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        vocab = uniq[kept]
        # vocabulary in token-string order (the sorted feature names of CountVectorizer)
        by_string = np.argsort(string_order_key(vocab, self.kind), kind="stable")
        self.vocabulary_codes_ = vocab[by_string]
        column = np.empty(len(vocab), dtype=np.int64)
        column[by_string] = np.arange(len(vocab))
        vpos = np.cumsum(kept) - 1  # position among kept uniques
        # pass 2: the matrix, a chunk of rows at a time. Within a row CountVectorizer.fit_transform
        # orders entries by first appearance of the token in the corpus (its provisional id), not
        # by column: keep that order.
        parts = []
        for a, b in bounds:
            flat, rows = self._flat(docs, lengths, a, b)
            # the chunk's distinct tokens searched (in order: cache-friendly), then spread back
            u, inv = np.unique(flat, return_inverse=True)
            pos = np.searchsorted(uniq, u)[inv]
            del u, inv
            keep_entry = kept[pos]
            pos = pos[keep_entry]
            parts.append(self._entries(rows[keep_entry], column[vpos[pos]], first[pos]))
            del flat, rows, pos, keep_entry
        return self._csr(parts, n_docs)

    def fit(self, docs: Any, y: Any = None) -> "TokenBag":
        self.fit_transform(docs)
        return self

    def transform(self, docs: Any):
        docs, lengths, bounds = self._chunks(docs)
        voc = self.vocabulary_codes_
        sorter = np.argsort(voc)
        parts = []
        for a, b in bounds:
            flat, rows = self._flat(docs, lengths, a, b)
            u, inv = np.unique(flat, return_inverse=True)
            at = np.minimum(np.searchsorted(voc, u, sorter=sorter), len(voc) - 1)[inv]
            del u, inv
            known = voc[sorter[at]] == flat
            cols = sorter[at[known]]
            parts.append(self._entries(rows[known], cols, cols))
        return self._csr(parts, len(docs))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(decode(self.vocabulary_codes_, self.kind), dtype=object)


# ================================================================== the column stack
#: Entries copied per step of :func:`stack_csr` (bounds its temporary index arrays to ~16 MiB).
_CHUNK = 1 << 20


def _float32_exact(data: np.ndarray) -> bool:
    """Every value of ``data`` is a float32 number (counts, one-hot ones: the pflip blocks)."""
    for lo in range(0, len(data), _CHUNK):
        part = data[lo:lo + _CHUNK]
        if not np.array_equal(part.astype(np.float32), part):
            return False
    return True


def _runs(indptr: np.ndarray, n: int):
    """Consecutive runs ``[i0, i1)`` of the ``n`` rows (or columns) of a compressed matrix, each at
    least one long and holding at most ~:data:`_CHUNK` entries: yields ``(i0, i1, lo, hi)`` with
    ``[lo, hi)`` the run's entries."""
    i0 = 0
    while i0 < n:
        i1 = int(np.searchsorted(indptr, indptr[i0] + _CHUNK, side="right")) - 1
        i1 = min(max(i1, i0 + 1), n)
        yield i0, i1, int(indptr[i0]), int(indptr[i1])
        i0 = i1


def _common_height(blocks: list, who: str) -> int:
    """The blocks' common number of rows (ValueError naming ``who`` if none or they differ)."""
    if not blocks:
        raise ValueError(f"{who}: no blocks")
    n_rows = blocks[0].shape[0]
    if any(b.shape[0] != n_rows for b in blocks):
        raise ValueError(f"{who}: blocks with different numbers of rows")
    return n_rows


def _stack_dtype(blocks: list, compact: bool) -> np.dtype:
    """float32 when ``compact`` and every value is a float32 number, else the blocks' common type."""
    if compact and all(_float32_exact(b.data) for b in blocks):
        return np.dtype(np.float32)
    return np.result_type(*(b.data.dtype for b in blocks))


def stack_csr(blocks: Any, *, compact: bool = True):
    """Horizontal stack of CSR blocks: the matrix ``scipy.sparse.hstack(blocks).tocsr()`` returns,
    entry for entry and in the same order within each row, built in one output allocation.

    scipy concatenates every block's data and indices first and then stacks them: with the blocks
    still alive that is three copies of the entries at once (~36 bytes a non-zero in float64);
    here the output is filled block by block, a bounded chunk of rows at a time.

    Parameters
    ----------
    blocks
        CSR matrices with the same number of rows.
    compact
        Store the values as float32 when every value is a float32 number (the pflip features are
        counts and one-hot ones): 8 bytes a non-zero instead of 12. liblinear reads float32 input
        as is and widens each value to the same double, and a float32 matrix times a float64
        vector is computed in float64, so fits and decision values are unchanged bit for bit.
        Otherwise (or with ``compact=False``) the values have the blocks' common dtype, as in scipy.

    Returns
    -------
    CSR matrix (a sparse array if any block is one) with int32 indices when they fit.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> a = sp.csr_matrix(np.array([[1, 0], [0, 2]]))
    >>> b = sp.csr_matrix(np.array([[0.0, 3.0], [0.0, 0.0]]))
    >>> x = stack_csr([a, b])
    >>> x.toarray().tolist(), x.dtype.name
    ([[1.0, 0.0, 0.0, 3.0], [0.0, 2.0, 0.0, 0.0]], 'float32')
    """
    import scipy.sparse as sp

    blocks = list(blocks)
    n_rows = _common_height(blocks, "stack_csr")
    widths = np.array([b.shape[1] for b in blocks], dtype=np.int64)
    offsets = np.r_[0, np.cumsum(widths)[:-1]]
    per_row = np.zeros(n_rows, dtype=np.int64)
    for b in blocks:
        per_row += np.diff(b.indptr)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    nnz, n_cols = int(indptr[-1]), int(widths.sum())
    idx_dtype = np.int32 if max(nnz, n_cols - 1) <= np.iinfo(np.int32).max else np.int64
    data = np.empty(nnz, dtype=_stack_dtype(blocks, compact))
    indices = np.empty(nnz, dtype=idx_dtype)
    cursor = indptr[:-1].copy()  # next free slot of each output row
    for b, off in zip(blocks, offsets):
        bp = b.indptr.astype(np.int64, copy=False)
        for r0, r1, lo, hi in _runs(bp, n_rows):
            if hi > lo:
                cnt = np.diff(bp[r0:r1 + 1])
                dest = np.repeat(cursor[r0:r1] - bp[r0:r1], cnt)
                dest += np.arange(lo, hi, dtype=np.int64)
                data[dest] = b.data[lo:hi]
                indices[dest] = b.indices[lo:hi].astype(idx_dtype) + idx_dtype(off)
                cursor[r0:r1] += cnt
    container = sp.csr_array if any(isinstance(b, sp.sparray) for b in blocks) else sp.csr_matrix
    return container((data, indices, indptr.astype(idx_dtype)), shape=(n_rows, n_cols))


def stack_csc(blocks: Any, *, compact: bool = True, consume: bool = False):
    """Horizontal stack of sparse blocks as one CSC matrix: ``scipy.sparse.hstack(blocks).tocsc()``
    with sorted row indices in each column.

    In CSC a block's columns are one contiguous run of the output, so the blocks are copied one
    after the other. With ``consume=True`` each block's arrays are released as soon as it has been
    copied (the block objects are left empty, 0 × 0): the blocks and the output then never hold
    more than one copy of the entries between them, plus one block's share of the output (each
    block is sorted into place by column a chunk of rows at a time, :func:`_csr_into_csc`). That is what the
    pflip fit needs above liblinear's size (:class:`LeanColumnTransformer`), where the blocks in
    float64 and a CSR stack beside them were the fit's peak.

    Parameters
    ----------
    blocks
        Sparse matrices (any format) with the same number of rows. With ``consume``, blocks that
        nothing else uses: they are emptied.
    compact
        float32 values when every value is a float32 number (see :func:`stack_csr`).
    consume
        Release each block once copied.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> a = sp.csr_matrix(np.array([[1, 0], [0, 2]]))
    >>> b = sp.csr_matrix(np.array([[0.0, 3.0], [4.0, 0.0]]))
    >>> x = stack_csc([a, b], consume=True)
    >>> x.format, x.dtype.name, x.toarray().tolist(), a.shape
    ('csc', 'float32', [[1.0, 0.0, 0.0, 3.0], [0.0, 2.0, 4.0, 0.0]], (0, 0))
    """
    import scipy.sparse as sp

    blocks = list(blocks)
    n_rows = _common_height(blocks, "stack_csc")
    nnz = sum(int(b.nnz) for b in blocks)
    n_cols = sum(int(b.shape[1]) for b in blocks)
    idx_dtype = np.int32 if max(nnz, n_rows - 1, n_cols) <= np.iinfo(np.int32).max else np.int64
    dtype = _stack_dtype(blocks, compact)
    sparse_array = any(isinstance(b, sp.sparray) for b in blocks)
    # np.empty only reserves: pages are touched as each block is written, after the earlier blocks
    # were released
    data = np.empty(nnz, dtype=dtype)
    indices = np.empty(nnz, dtype=idx_dtype)
    indptr = np.empty(n_cols + 1, dtype=np.int64)
    indptr[0] = 0
    pos = col = 0
    for i, b in enumerate(blocks):
        k, w = int(b.nnz), int(b.shape[1])
        _csr_into_csc(b.tocsr(), data[pos:pos + k], indices[pos:pos + k], indptr[col:col + w + 1], pos)
        pos, col = pos + k, col + w
        if consume:
            _empty(b)
            blocks[i] = None
    container = sp.csc_array if sparse_array else sp.csc_matrix
    return container((data, indices, indptr.astype(idx_dtype)), shape=(n_rows, n_cols))


def _csr_into_csc(b: Any, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, base: int) -> None:
    """Write the CSR matrix ``b`` as CSC into ``data``, ``indices`` (its non-zeros' slices of the
    output) and ``indptr`` (its ``width + 1`` slice, offset by ``base``): a counting sort by
    column, a bounded chunk of rows at a time, so no whole copy of ``b`` is made. Entries keep
    their CSR order within a column (rows ascending, duplicates kept): scipy's ``tocsc``."""
    n_rows, width = b.shape
    bp = b.indptr.astype(np.int64, copy=False)
    counts = np.zeros(width, dtype=np.int64)
    for lo in range(0, int(bp[-1]), _CHUNK):
        counts += np.bincount(b.indices[lo:lo + _CHUNK], minlength=width)
    indptr[0] = base
    np.cumsum(counts, out=indptr[1:])
    indptr[1:] += base
    cursor = indptr[:-1] - base  # next free slot of each column, relative to this block
    for r0, r1, lo, hi in _runs(bp, n_rows):
        if hi > lo:
            cols = b.indices[lo:hi]
            order = np.argsort(cols, kind="stable")  # by column; CSR order within one
            sorted_cols = cols[order]
            starts = np.flatnonzero(np.r_[True, sorted_cols[1:] != sorted_cols[:-1]])
            lengths = np.diff(np.r_[starts, hi - lo])  # entries of each column in this chunk
            dest = cursor[sorted_cols] + np.arange(hi - lo) - np.repeat(starts, lengths)
            rows = np.repeat(np.arange(r0, r1, dtype=np.int64), np.diff(bp[r0:r1 + 1]))
            data[dest] = b.data[lo:hi][order]
            indices[dest] = rows[order]
            cursor[sorted_cols[starts]] += lengths  # the columns are distinct: no ufunc.at needed


def _empty(m: Any) -> None:
    """Release a scipy sparse matrix's arrays in place (it becomes an empty 0 × 0 matrix)."""
    if m.format in ("csr", "csc"):
        m.data, m.indices, m.indptr = np.empty(0, m.data.dtype), np.empty(0, np.int32), np.zeros(1, np.int32)
        m._shape = (0, 0)


def drop_columns_inplace(m: Any, keep: np.ndarray):
    """``m[:, keep]`` for a CSR matrix ``m`` and a boolean column mask, built in ``m``'s own arrays:
    the kept entries move down in place, chunk by chunk (``m`` is invalid afterwards; pass a
    matrix nothing else holds). The same entries in the same order within each row as scipy's
    column selection (which a variance filter's ``transform`` uses), without a second copy of the
    matrix. The result's arrays are views of ``m``'s (the dropped entries' space is not returned).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]]))
    >>> drop_columns_inplace(m, np.array([True, False, True])).toarray().tolist()
    [[1.0, 0.0], [0.0, 4.0]]
    """
    keep = np.asarray(keep, dtype=bool)
    if m.format not in ("csr", "csc") or keep.shape != (m.shape[1],):
        raise ValueError("drop_columns_inplace: a CSR or CSC matrix and one flag per column")
    if m.format == "csc":
        return _drop_csc_columns_inplace(m, keep)
    data, indices = m.data, m.indices
    indptr = m.indptr.astype(np.int64)
    new_col = (np.cumsum(keep) - 1).astype(indices.dtype)
    new_indptr = np.zeros_like(indptr)
    w = 0  # entries written so far; always <= the read position, so a chunk never overwrites unread input
    for lo in range(0, len(indices), _CHUNK):
        hi = min(lo + _CHUNK, len(indices))
        k = keep[indices[lo:hi]]
        kept_before = np.r_[0, np.cumsum(k)]  # kept entries of the chunk before each position
        # row ends inside (lo, hi]: their kept count so far
        a, b = np.searchsorted(indptr, [lo + 1, hi + 1])
        new_indptr[a:b] = w + kept_before[indptr[a:b] - lo]
        n = int(kept_before[-1])
        data[w:w + n] = data[lo:hi][k]
        indices[w:w + n] = new_col[indices[lo:hi][k]]
        w += n
    return type(m)((data[:w], indices[:w], new_indptr.astype(m.indptr.dtype)),
                   shape=(m.shape[0], int(keep.sum())))


def _drop_csc_columns_inplace(m: Any, keep: np.ndarray):
    """:func:`drop_columns_inplace` for CSC: the kept columns' runs of entries move down in place,
    a bounded run of columns at a time."""
    data, indices = m.data, m.indices
    indptr = m.indptr.astype(np.int64)
    lengths = np.diff(indptr)
    n_cols = m.shape[1]
    w = 0
    for c0, c1, lo, hi in _runs(indptr, n_cols):
        k = np.repeat(keep[c0:c1], lengths[c0:c1])
        n = int(k.sum())
        data[w:w + n] = data[lo:hi][k]
        indices[w:w + n] = indices[lo:hi][k]
        w += n
    new_indptr = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(lengths[keep], out=new_indptr[1:])
    return type(m)((data[:w], indices[:w], new_indptr.astype(m.indptr.dtype)),
                   shape=(m.shape[0], int(keep.sum())))


def column_ranges(m: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per column of the CSR matrix ``m``, the minimum and maximum of its values, the implicit
    zeros included (float64): scikit-learn's ``min_max_axis(m, axis=0)`` without its CSC copy of
    the matrix (12 bytes a non-zero). Exact: a minimum does not depend on the order it is taken in.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [1.0, 3.0, 0.0]]))
    >>> [a.tolist() for a in column_ranges(m)]
    [[1.0, 2.0, 0.0], [1.0, 3.0, 0.0]]
    """
    n_rows, n_cols = m.shape
    if m.format == "csc":
        return _csc_column_ranges(m)
    # in the values' own float type: numpy's fast ``ufunc.at`` path needs matching types (10× faster)
    kind = m.data.dtype if m.data.dtype.kind == "f" else np.dtype(np.float64)
    lo = np.full(n_cols, np.inf, dtype=kind)
    hi = np.full(n_cols, -np.inf, dtype=kind)
    for a in range(0, len(m.indices), _CHUNK):
        idx, val = m.indices[a:a + _CHUNK], m.data[a:a + _CHUNK].astype(kind, copy=False)
        np.minimum.at(lo, idx, val)
        np.maximum.at(hi, idx, val)
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    partial = np.bincount(m.indices, minlength=n_cols) < n_rows  # some rows hold an implicit zero
    lo[partial] = np.minimum(lo[partial], 0.0)
    hi[partial] = np.maximum(hi[partial], 0.0)
    return lo, hi


def _csc_column_ranges(m: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`column_ranges` of a CSC matrix: a reduction over each column's run of values."""
    n_rows, n_cols = m.shape
    indptr = m.indptr.astype(np.int64)
    lengths = np.diff(indptr)
    lo = np.zeros(n_cols, dtype=np.float64)
    hi = np.zeros(n_cols, dtype=np.float64)
    filled = np.flatnonzero(lengths > 0)
    if filled.size:
        starts, values = indptr[filled], m.data[:indptr[-1]]
        lo[filled] = np.minimum.reduceat(values, starts).astype(np.float64)
        hi[filled] = np.maximum.reduceat(values, starts).astype(np.float64)
    partial = lengths < n_rows  # some rows hold an implicit zero
    lo[partial] = np.minimum(lo[partial], 0.0)
    hi[partial] = np.maximum(hi[partial], 0.0)
    return lo, hi


def fit_variance_filter(selector: Any, m: Any) -> Any:
    """Fit scikit-learn's ``VarianceThreshold`` ``selector`` on the CSR matrix ``m`` (float32 or
    float64) in place, with the fitted ``variances_`` of ``selector.fit(m)`` bit for bit, in a
    third of its memory.

    ``selector.fit`` copies the matrix to float64 (12 bytes a non-zero from float32) and, for a
    zero threshold, to CSC for the column ranges (12 more). Here the variances come from the same
    scikit-learn function on a float64 copy of the values alone (8 bytes a non-zero, sharing the
    indices; for a CSC matrix one bounded run of columns at a time), and the ranges from
    :func:`column_ranges` (no copy).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from sklearn.feature_selection import VarianceThreshold
    >>> m = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [1.0, 3.0, 5.0]], dtype=np.float32))
    >>> fit_variance_filter(VarianceThreshold(), m).get_support().tolist()
    [False, True, True]
    """
    import scipy.sparse as sp
    from sklearn.utils.sparsefuncs import mean_variance_axis

    if not (sp.issparse(m) and m.format in ("csr", "csc")):
        raise ValueError("fit_variance_filter: a CSR or CSC matrix")
    if m.format == "csc":
        # columns are independent: the same function on runs of columns, widened one run at a
        # time, gives the same bits as on the whole matrix
        variances = np.empty(m.shape[1], dtype=np.float64)
        indptr = m.indptr.astype(np.int64)
        for c0, c1, a, b in _runs(indptr, m.shape[1]):
            part = sp.csc_matrix((m.data[a:b].astype(np.float64), m.indices[a:b], indptr[c0:c1 + 1] - a),
                                 shape=(m.shape[0], c1 - c0))
            variances[c0:c1] = mean_variance_axis(part, axis=0)[1]
    else:
        wide = type(m)((m.data.astype(np.float64), m.indices, m.indptr), shape=m.shape)
        _, variances = mean_variance_axis(wide, axis=0)
        del wide
    if selector.threshold == 0:
        lo, hi = column_ranges(m)
        # what scikit-learn does for a zero threshold: the range decides constant columns
        variances = np.nanmin(np.array([variances, hi - lo]), axis=0)
    if np.all(~np.isfinite(variances) | (variances <= selector.threshold)):
        raise ValueError(f"No feature in X meets the variance threshold {selector.threshold:.5f}")
    selector.variances_ = variances
    selector.n_features_in_ = m.shape[1]
    return selector


class LeanColumnTransformer(ColumnTransformer):
    """``ColumnTransformer`` whose sparse output is :func:`stack_csr` of the blocks (float32 when
    exact): the same entries in the same order as scikit-learn's stack, without its two
    intermediate copies of every entry; or, for a large fit (:meth:`fit_transform_stacked`),
    :func:`stack_csc` of them, releasing each block as it goes. Everything else (fitting, dense output, parameters) is
    scikit-learn's; a non-CSR block falls back to scikit-learn's stack. A stacked output is always
    a new matrix that shares no array with anything (even of one block), so a caller may modify it
    in place (:func:`drop_columns_inplace`).
    """

    def fit_transform_stacked(self, X, y=None, *, csc_above: float = float("inf")):
        """``fit_transform`` whose sparse output is CSC (:func:`stack_csc`, each block released as
        it is copied) when the blocks hold more than ``csc_above`` non-zeros, CSR
        (:func:`stack_csr`) otherwise. For the fit alone: ``transform`` always stacks CSR."""
        self._csc_above = csc_above
        try:
            return self.fit_transform(X, y)
        finally:
            del self._csc_above

    def _hstack(self, Xs, *args, **kwargs):  # scikit-learn's documented hook for the stack
        import scipy.sparse as sp

        if (getattr(self, "sparse_output_", False) and len(Xs) >= 1
                and all(sp.issparse(b) and b.format == "csr"
                        and b.dtype.kind in "biuf" for b in Xs)):
            if sum(int(b.nnz) for b in Xs) > getattr(self, "_csc_above", float("inf")):
                # the blocks are the fit's own (fit_transform's outputs): release them as copied
                return stack_csc(Xs, consume=True)
            return stack_csr(Xs)
        return super()._hstack(Xs, *args, **kwargs)
