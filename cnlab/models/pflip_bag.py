"""``TokenBag``: the pflip bag of rater tokens on integer codes (spec 06 §A.8).

A drop-in for ``CountVectorizer(analyzer=identity, min_df=…)`` on the integer documents of
:func:`cnlab.models.pflip_tokens.token_lists`; see that module for the encoding. Imported only when a
pflip pipeline is built (it imports scikit-learn).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from cnlab.models.pflip_tokens import decode, string_order_key

__all__ = ["TokenBag"]


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
    """

    def __init__(self, kind: str = "helpfulness", min_df: int = 1):
        self.kind = kind
        self.min_df = min_df

    @staticmethod
    def _flatten(docs: Any) -> tuple[np.ndarray, np.ndarray]:
        docs = list(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        flat = np.concatenate([np.asarray(d, dtype=np.int64) for d in docs]) if len(docs) else np.zeros(0, np.int64)
        return flat, lengths

    def _matrix(self, rows: np.ndarray, cols: np.ndarray, n_docs: int, order_key: np.ndarray):
        """CSR of the (row, column) entries, each row's entries in ``order_key`` order; a token
        repeated in a document counts (as in ``CountVectorizer``)."""
        import scipy.sparse as sp

        order = np.lexsort((order_key, rows))
        rows, cols = rows[order], cols[order]
        first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])] if len(rows) else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        counts = np.diff(np.r_[starts, len(rows)]).astype(np.int64)
        rows, cols = rows[starts], cols[starts]
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
        idx_dtype = np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64
        x = sp.csr_matrix((counts, cols.astype(idx_dtype), indptr.astype(idx_dtype)),
                          shape=(n_docs, len(self.vocabulary_codes_)))
        return _sparse_interface(x)

    def fit_transform(self, docs: Any, y: Any = None):
        flat, lengths = self._flatten(docs)
        n_docs = len(lengths)
        if len(flat) == 0:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        if n_docs < self.min_df:
            raise ValueError("max_df corresponds to < documents than min_df")
        rows = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        uniq, first = np.unique(flat, return_index=True)
        # document frequency: each (document, token) pair once
        o = np.lexsort((flat, rows))
        fo, ro = flat[o], rows[o]
        distinct = np.r_[True, (fo[1:] != fo[:-1]) | (ro[1:] != ro[:-1])]
        df = np.bincount(np.searchsorted(uniq, fo[distinct]), minlength=len(uniq))
        kept = df >= self.min_df
        if not kept.any():
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        vocab = uniq[kept]
        # vocabulary in token-string order (the sorted feature names of CountVectorizer)
        by_string = np.argsort(string_order_key(vocab, self.kind), kind="stable")
        self.vocabulary_codes_ = vocab[by_string]
        column = np.empty(len(vocab), dtype=np.int64)
        column[by_string] = np.arange(len(vocab))
        pos = np.searchsorted(uniq, flat)
        keep_entry = kept[pos]
        vpos = np.cumsum(kept) - 1  # position among kept uniques
        cols = column[vpos[pos[keep_entry]]]
        # Within a row CountVectorizer.fit_transform orders entries by first appearance of the
        # token in the corpus (its provisional id), not by column: keep that order.
        first_seen = first[pos[keep_entry]]
        return self._matrix(rows[keep_entry], cols, n_docs, first_seen)

    def fit(self, docs: Any, y: Any = None) -> "TokenBag":
        self.fit_transform(docs)
        return self

    def transform(self, docs: Any):
        flat, lengths = self._flatten(docs)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        voc = self.vocabulary_codes_
        sorter = np.argsort(voc)
        at = np.searchsorted(voc, flat, sorter=sorter)
        at = np.minimum(at, len(voc) - 1)
        known = voc[sorter[at]] == flat
        cols = sorter[at[known]]
        return self._matrix(rows[known], cols, len(lengths), cols)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(decode(self.vocabulary_codes_, self.kind), dtype=object)
