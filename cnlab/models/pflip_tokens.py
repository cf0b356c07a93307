"""Rater tokens of the pflip model as integers (spec 06 §A.7, §A.8).

The pflip features ``USER_HELPFULNESS_RATINGS``, ``USER_HELPFUL_TAGS`` and
``USER_NOT_HELPFUL_TAGS`` are, per note, the distinct strings ``"<rater>:<level>"`` and
``"<rater>:<tag>"``, turned into a bag of words (scikit-learn ``CountVectorizer``, documents sorted
by token string). One Python string per rating costs ~70 bytes and dominates the memory of a pflip
fit at scale (+6 GiB at 10M ratings). Here a token is one ``int64``::

    code = rater * L + rank(label)        (labels of the kind sorted as strings, L of them)

and :class:`cnlab.models.pflip_bag.TokenBag` is a drop-in for ``CountVectorizer(analyzer=identity, min_df=…)`` on such
codes: the same vocabulary (sorted by the token *string*), the same pruning and errors, and the same
sparse matrix, entry order within each row included, so the fitted model and every decision value
are bit for bit those of the string version (``tests/test_pflip_tokens.py`` compares the two).

The string order is computed without building strings: ``"<r>:<label>"`` compares first by the
decimal digits of ``r``, where the end of a shorter number (the ``":"``, which sorts after every
digit) is larger than any digit, then by the label. :func:`string_order_key` encodes the digits in
base 11 with ``":"`` as the eleventh symbol.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._arrays import lexsort2

__all__ = ["TOKEN_LABELS", "encode", "decode", "string_order_key", "token_lists"]

#: Labels of each token kind, sorted as strings (their rank is the low part of a code).
TOKEN_LABELS: dict[str, tuple[str, ...]] = {
    "helpfulness": tuple(sorted((S.HELPFUL, S.SOMEWHAT_HELPFUL, S.NOT_HELPFUL, "nan"))),
    "helpful_tags": tuple(sorted(S.HELPFUL_TAGS)),
    "not_helpful_tags": tuple(sorted(S.NOT_HELPFUL_TAGS)),
}
#: Decimal digits of the largest rater code the order key supports (codes < 10**10).
_MAX_DIGITS = 10
_POW11 = 11 ** np.arange(_MAX_DIGITS, -1, -1, dtype=np.int64)  # 11**10 … 11**0


def _labels(kind: str) -> tuple[str, ...]:
    try:
        return TOKEN_LABELS[kind]
    except KeyError:
        raise ValueError(f"unknown token kind {kind!r}; expected one of {sorted(TOKEN_LABELS)}") from None


def encode(raters: np.ndarray, labels: Any, kind: str) -> np.ndarray:
    """Codes of the tokens ``"<rater>:<label>"`` (``labels`` one string per rater, a categorical
    with a missing label read as ``"nan"``, or one string).

    >>> encode(np.array([10, 2]), np.array(["NOT_HELPFUL", "HELPFUL"]), "helpfulness").tolist()
    [41, 8]
    """
    names = _labels(kind)
    r = np.asarray(raters, dtype=np.int64)
    if len(r) and r.min() < 0:
        raise ValueError("pflip tokens: negative rater code")
    if np.isscalar(labels) or isinstance(labels, str):
        rank = np.full(len(r), names.index(labels), dtype=np.int64)
    elif isinstance(labels, pd.Categorical):
        # by the codes (a missing label is "nan"): no string a rating
        lut = pd.Index(names).get_indexer([str(c) for c in labels.categories] + ["nan"]).astype(np.int64)
        rank = lut[labels.codes]  # code -1 (missing) takes the last entry, "nan"
        if (rank < 0).any():
            bad = sorted({str(x) for x in np.asarray(labels)[rank < 0]})[:5]
            raise ValueError(f"pflip tokens: unexpected {kind} value(s) {bad}")
    else:
        lab = np.asarray(labels, dtype=object)
        rank = pd.Index(names).get_indexer(lab).astype(np.int64)
        if (rank < 0).any():
            bad = sorted({str(x) for x in lab[rank < 0]})[:5]
            raise ValueError(f"pflip tokens: unexpected {kind} value(s) {bad}")
    return r * len(names) + rank


def decode(codes: Any, kind: str) -> list[str]:
    """The token strings of ``codes``.

    >>> decode([41, 8], "helpfulness")
    ['10:NOT_HELPFUL', '2:HELPFUL']
    """
    names = _labels(kind)
    c = np.asarray(codes, dtype=np.int64)
    return [f"{r}:{names[k]}" for r, k in zip((c // len(names)).tolist(), (c % len(names)).tolist())]


def string_order_key(codes: np.ndarray, kind: str) -> np.ndarray:
    """An ``int64`` key that sorts ``codes`` as their token strings sort.

    .. math::

        \\text{key} = \\Big(\\sum_{i=0}^{10} c_i\\,11^{10-i}\\Big)\\,L + \\text{rank}(label),
        \\qquad c_i = \\begin{cases} d_i & i < n \\\\ 10 & i = n \\ (\\text{the ":"}) \\\\ 0 & i > n
        \\end{cases}

    for a rater with decimal digits :math:`d_0 … d_{n-1}`.
    """
    L = len(_labels(kind))
    c = np.asarray(codes, dtype=np.int64)
    r, rank = np.divmod(c, L)
    if len(r) and r.max() >= 10 ** _MAX_DIGITS:
        raise ValueError(f"pflip tokens: rater codes of more than {_MAX_DIGITS} digits")
    top = int(r.max()) + 1 if len(r) else 0
    if len(r) >= 1 << 12 and top <= 1 << 22:
        # a corpus's tokens (millions, a chunk at a time): the rater part of each key computed once
        # per rater code (a cached table, at most 32 MB) and looked up, not digit by digit
        return _rater_keys(top)[r] * L + rank
    return _rater_part(r) * L + rank


@functools.lru_cache(maxsize=4)
def _rater_keys_table(size: int) -> np.ndarray:
    table = _rater_part(np.arange(size, dtype=np.int64))
    table.flags.writeable = False
    return table


def _rater_keys(top: int) -> np.ndarray:
    """:func:`_rater_part` of every rater code below ``top`` (a cached table; sizes in powers of
    two, so that the chunks of one corpus share it)."""
    return _rater_keys_table(1 << max(top - 1, 1).bit_length())


def _rater_part(r: np.ndarray) -> np.ndarray:
    """The rater's share of :func:`string_order_key`: ``(11·v + 10)·11^(10−n)``."""
    # v = the decimal digits of r read in base 11; n = their count. Then
    # key = (11·v + 10)·11^(10−n): the digits, the ":" (10), zeros — the sum above.
    v = np.zeros(len(r), dtype=np.int64)
    n = np.ones(len(r), dtype=np.int64)
    q, p = r, 1
    for _ in range(_MAX_DIGITS):
        q, d = np.divmod(q, 10)
        v += d * p
        if not q.any():
            break
        n += q > 0
        p *= 11
    return (11 * v + 10) * _POW11[n]


#: Codes per chunk of :func:`token_lists`' order key (its temporaries: ~7 int64 arrays of a chunk).
_KEY_CHUNK = 1 << 20


def token_lists(keys: np.ndarray, codes: np.ndarray, ids: np.ndarray, kind: str) -> list[np.ndarray]:
    """Per id of ``ids``: the distinct codes of its rows (``keys`` = the row's id), in token-string
    order (views of one buffer, int32 where every code fits); an empty array for ids without
    tokens."""
    ids = np.asarray(ids)
    empty = np.zeros(0, dtype=np.int64)
    if len(codes) == 0:
        return [empty for _ in ids]
    keys = np.asarray(keys)
    codes = np.asarray(codes, dtype=np.int64)
    # the key is elementwise: computed a bounded chunk at a time, its int64 temporaries stay small
    skey = np.empty(len(codes), dtype=np.int64)
    for a in range(0, len(codes), _KEY_CHUNK):
        skey[a:a + _KEY_CHUNK] = string_order_key(codes[a:a + _KEY_CHUNK], kind)
    order = lexsort2(skey, keys)
    del skey
    k, c = keys[order], codes[order]
    keep = np.r_[True, (k[1:] != k[:-1]) | (c[1:] != c[:-1])]
    k, c = k[keep], c[keep]
    if len(c) and c.max() < 2**31:
        c = c.astype(np.int32)  # the lists are kept (a training frame): half the bytes
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    bounds = np.r_[starts, len(k)]
    where = pd.Index(k[starts]).get_indexer(ids)
    return [c[bounds[j]:bounds[j + 1]] if j >= 0 else empty for j in where]
