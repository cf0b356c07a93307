"""pflip rater tokens as integers (cnlab.models.pflip_tokens / pflip_bag): the same bag of words as
scikit-learn's ``CountVectorizer`` on the token strings, entry order included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer

from cnlab.models import pflip_tokens as T
from cnlab.models.pflip_bag import TokenBag

KINDS = tuple(T.TOKEN_LABELS)


def _identity(doc):
    return doc


def _strings(docs, kind):
    return [T.decode(d, kind) for d in docs]


def _same_matrix(a, b):
    assert a.shape == b.shape
    assert type(a) is type(b)
    assert a.dtype == b.dtype
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)  # the order inside each row too
    assert np.array_equal(a.data, b.data)


# ------------------------------------------------------------------ tier 1: hand-computed
def test_codes_and_strings_by_hand():
    labels = T.TOKEN_LABELS["helpfulness"]
    assert labels == ("HELPFUL", "NOT_HELPFUL", "SOMEWHAT_HELPFUL", "nan")
    codes = T.encode(np.array([10, 1, 10]), np.array(["nan", "HELPFUL", "HELPFUL"]), "helpfulness")
    assert codes.tolist() == [43, 4, 40]
    assert T.decode(codes, "helpfulness") == ["10:nan", "1:HELPFUL", "10:HELPFUL"]
    # "10:..." sorts before "1:..." (the digit 0 before ":"), and labels break ties
    keys = T.string_order_key(codes, "helpfulness")
    assert [T.decode([c], "helpfulness")[0] for c in codes[np.argsort(keys)]] == ["10:HELPFUL", "10:nan", "1:HELPFUL"]


def test_token_lists_are_distinct_and_in_string_order():
    keys = np.array([7, 7, 7, 5, 7])
    codes = T.encode(np.array([2, 12, 2, 3, 2]), "helpfulClear", "helpful_tags")
    lists = T.token_lists(keys, codes, np.array([5, 7, 9]), "helpful_tags")
    assert [T.decode(x, "helpful_tags") for x in lists] == [
        ["3:helpfulClear"], ["12:helpfulClear", "2:helpfulClear"], []]


def test_unknown_label_is_an_error():
    with pytest.raises(ValueError, match="unexpected helpfulness"):
        T.encode(np.array([1]), np.array(["VERY_HELPFUL"]), "helpfulness")


def test_errors_match_count_vectorizer():
    for docs, min_df in (([np.zeros(0, np.int64)] * 3, 1), ([np.array([4])], 2), ([np.array([4]), np.array([8])], 2)):
        with pytest.raises(ValueError) as ours:
            TokenBag("helpfulness", min_df=min_df).fit_transform(docs)
        with pytest.raises(ValueError) as theirs:
            CountVectorizer(analyzer=_identity, min_df=min_df).fit_transform(_strings(docs, "helpfulness"))
        assert str(ours.value) == str(theirs.value)


def _same_as_count_vectorizer(ours, kind, min_df, docs, other):
    """``ours`` fitted on ``docs`` and applied to ``other``: CountVectorizer's matrices,
    vocabulary and errors."""
    theirs = CountVectorizer(analyzer=_identity, min_df=min_df)
    try:
        expected = theirs.fit_transform(_strings(docs, kind))
    except ValueError as e:
        with pytest.raises(ValueError, match=str(e)[:20]):
            ours.fit_transform(docs)
        return
    _same_matrix(ours.fit_transform(docs), expected)
    assert list(ours.get_feature_names_out()) == list(theirs.get_feature_names_out())
    _same_matrix(ours.transform(other), theirs.transform(_strings(other, kind)))


# ------------------------------------------------------------------ tier 2: properties
raters = st.one_of(st.integers(0, 30), st.integers(0, 10**9))


@st.composite
def corpora(draw):
    kind = draw(st.sampled_from(KINDS))
    n_labels = len(T.TOKEN_LABELS[kind])
    token = st.builds(lambda r, k: r * n_labels + k, raters, st.integers(0, n_labels - 1))
    docs = draw(st.lists(st.lists(token, max_size=8), min_size=1, max_size=12))
    return kind, [np.asarray(d, dtype=np.int64) for d in docs]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(raters, st.integers(0, 21)), min_size=1, max_size=40))
def test_order_key_sorts_as_the_strings(pairs):
    kind = "not_helpful_tags" if len(pairs) % 2 else "helpful_tags"
    n = len(T.TOKEN_LABELS[kind])
    codes = np.array([r * n + (k % n) for r, k in pairs], dtype=np.int64)
    strings = T.decode(codes, kind)
    by_key = [strings[i] for i in np.argsort(T.string_order_key(codes, kind), kind="stable")]
    assert by_key == sorted(strings)


@settings(max_examples=150, deadline=None)
@given(corpora(), st.integers(1, 3), corpora())
def test_token_bag_is_count_vectorizer(train, min_df, test):
    kind, docs = train
    # documents as the features hold them: distinct tokens in string order
    docs = [T.token_lists(np.zeros(len(d)), d, np.array([0.0]), kind)[0] for d in docs]
    # transform of unseen documents (same kind): unknown tokens ignored
    # (any non-negative integer is a code of any kind)
    other = [T.token_lists(np.zeros(len(d)), d, np.array([0.0]), kind)[0] for d in test[1]] + docs[:2]
    _same_as_count_vectorizer(TokenBag(kind, min_df=min_df), kind, min_df, docs, other)


def test_order_key_is_the_documented_sum():
    # "12:<rank 1>" with L = 4: c = 1, 2, 10 (the ":"), then zeros → Σ c_i 11^(10−i), times L, plus rank
    assert T.string_order_key(np.array([12 * 4 + 1]), "helpfulness").tolist() == [
        (1 * 11**10 + 2 * 11**9 + 10 * 11**8) * 4 + 1]
    # rater 0 is the one-digit string "0"; the largest supported rater has ten digits and no zero tail
    assert T.string_order_key(np.array([0]), "helpfulness").tolist() == [10 * 11**9 * 4]
    top = 10**10 - 1
    assert T.string_order_key(np.array([top * 4]), "helpfulness").tolist() == [
        (sum(9 * 11**(10 - i) for i in range(10)) + 10) * 4]
    with pytest.raises(ValueError, match="digits"):
        T.string_order_key(np.array([10**10 * 4]), "helpfulness")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**10 - 1), min_size=1, max_size=30), st.integers(0, 3))
def test_order_key_equals_the_digit_sum(rs, rank):
    codes = np.array([r * 4 + rank for r in rs], dtype=np.int64)
    want = []
    for r in rs:
        c = [int(ch) for ch in str(r)] + [10]
        c += [0] * (11 - len(c))
        want.append(sum(ci * 11**(10 - i) for i, ci in enumerate(c)) * 4 + rank)
    assert T.string_order_key(codes, "helpfulness").tolist() == want


def test_token_lists_do_not_depend_on_the_key_chunk(monkeypatch):
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 30, 500)
    codes = rng.integers(0, 10_000, 500)
    ids = np.arange(-2, 32)
    whole = T.token_lists(keys, codes, ids, "helpful_tags")
    monkeypatch.setattr(T, "_KEY_CHUNK", 7)   # chunks that split the rows anywhere
    chunked = T.token_lists(keys, codes, ids, "helpful_tags")
    assert len(whole) == len(chunked) and all(np.array_equal(a, b) for a, b in zip(whole, chunked))
    assert sum(len(a) for a in whole) > 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["HELPFUL", "SOMEWHAT_HELPFUL", "NOT_HELPFUL", None])),
                max_size=40))
def test_encode_by_categorical_codes_is_encode_by_strings(rows):
    """A categorical level column (missing -> "nan") gives the codes of its strings."""
    from cnlab.models.pflip_tokens import encode

    raters = np.array([r for r, _ in rows], dtype=np.int64)
    level = pd.Series([lv for _, lv in rows], dtype="category")
    strings = level.astype(object).where(level.notna(), "nan").astype(str).to_numpy()
    np.testing.assert_array_equal(encode(raters, level.array, "helpfulness"), encode(raters, strings, "helpfulness"))


@settings(max_examples=150, deadline=None)
@given(corpora(), st.integers(1, 3), corpora(), st.sampled_from([1, 2, 5, 1 << 23]))
def test_token_bag_in_chunks_is_count_vectorizer(train, min_df, test, chunk):
    """Documents read a few tokens at a time (``TokenBag.chunk_tokens``), tokens repeated within a
    document (counts above 1, a document counted once in the document frequency): the matrix,
    entry order and vocabulary of CountVectorizer."""
    kind, docs = train
    ours = TokenBag(kind, min_df=min_df)
    ours.chunk_tokens = chunk
    _same_as_count_vectorizer(ours, kind, min_df, docs, test[1] + docs[:2])


def test_string_order_key_by_table_equals_the_digit_formula():
    """Large inputs look the rater part up in a cached table: the same keys as the formula."""
    rng = np.random.default_rng(3)
    for top in (7, 1000, 1_200_000):
        codes = rng.integers(0, top * 4, 50_000)
        small = np.concatenate([T.string_order_key(codes[i:i + 100], "helpfulness")
                                for i in range(0, len(codes), 100)])  # 100 at a time: the formula
        assert np.array_equal(T.string_order_key(codes, "helpfulness"), small)
