"""Property tests (tier 2): malformed files either raise CnlabInputError naming where,
or load with every data line accounted for (never a silent drop, never a bare exception),
and a bad cell that loads must hold what its token means (never a silent NaN or a wrong number)."""

from __future__ import annotations

import csv
import gzip
import io
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.errors import CnlabInputError
from cnlab.io import read_notes, read_ratings

N_ROWS = 15

# ---------------------------------------------------------------------------
# What a cell token means, per column: written from spec 04 §2.2–§2.4 (the official dtypes)
# and the "Bad values" section of the cnlab.io docstring, not from cnlab's reader.
# ---------------------------------------------------------------------------
#: tokens that pandas (the official reader, spec 04 §2.2: NA kept) and cnlab read as missing;
#: of BAD_TOKENS only these two are in pandas' default ``na_values``
NULL_TOKENS = frozenset({"", "NaN"})
#: numpy int64 in the official reader, so a missing or non-integer cell is an error there;
#: cnlab documents "a missing noteId/createdAtMillis" as a CnlabInputError
REQUIRED_INT64 = frozenset({S.NOTE_ID, S.CREATED_AT})
#: optional int64 columns: cnlab documents "missing values in other integer columns stay <NA>
#: with a warning"
OPTIONAL_INT64 = frozenset({S.TWEET_ID, "ratedOnTweetId", "suggestionId"})
#: Int8 (nullable) in the official reader: a missing cell stays <NA>
INT8_RANGE = (-128, 127)
INT64_RANGE = (-(2**63), 2**63 - 1)
RATING_INT8 = frozenset({"version", "agree", "disagree", "helpful", "notHelpful"})
NOTE_INT8 = frozenset(S.NOTES_FILE_COLUMNS[8:21]) | {"isMediaNote", "isCollaborativeNote"}
#: participant ids are opaque strings (spec 04 §3): any token is an id; missing -> missing
PID_COLUMNS = frozenset({S.RATER_ID, S.AUTHOR_ID})
#: closed sets (cnlab documents unknown strings as errors); a missing level is a v1-form rating
#: (helpful/notHelpful only, spec 01 §2 / spec 05 "v1-form helpful ratings with NaN level")
ENUMS = {S.HELPFULNESS_LEVEL: set(S.HELPFULNESS_LEVELS), S.RATING_SOURCE: set(S.RATING_SOURCES),
         S.CLASSIFICATION: {S.MISLEADING, S.NOT_MISLEADING}}
#: free text / open categories (object / category in spec 04): the token itself, missing -> NaN
TEXT_COLUMNS = frozenset({"believable", "harmful", "validationDifficulty", S.SUMMARY, "suggestion"})


def _int_token(tok: str, lo: int, hi: int):
    """The integer a token denotes for pandas' int parser (decimal, optional sign), or None."""
    t = tok.strip()
    if not re.fullmatch(r"[+-]?\d+", t):
        return None
    v = int(t)
    return v if lo <= v <= hi else None


def _token_meaning(column: str, tok: str, *, unquoted: bool = False):
    """("missing", None) / ("value", v) when the token is valid in ``column``, else ("error", why).

    ``unquoted``: the token was pasted into the line as is, so a tab in it splits the field.

    Tags (Int8 in spec 04 §2.4) are loaded bit-packed: a missing tag cell means "tag not given"
    (0; the official scorer only ever sums tags or compares them with 1, where <NA> counts as 0)."""
    if "\t" in tok and (unquoted or column not in PID_COLUMNS | TEXT_COLUMNS):
        return "error", "a tab splits the field" if unquoted else "a tab inside a non-text field"
    if tok in NULL_TOKENS:
        if column in REQUIRED_INT64:
            return "error", "missing value in a required int64 column"
        return ("value", 0) if column in S.ALL_TAGS else ("missing", None)
    if column in PID_COLUMNS | TEXT_COLUMNS:
        return "value", tok
    if column in ENUMS:
        return ("value", tok) if tok in ENUMS[column] else ("error", "unknown enum value")
    lo, hi = INT8_RANGE if column in RATING_INT8 | NOTE_INT8 | set(S.ALL_TAGS) else INT64_RANGE
    v = _int_token(tok, lo, hi)
    if v is None:
        return "error", "not a decimal integer in range"
    if column in S.ALL_TAGS:
        v = int(v > 0)  # a tag is set when its cell is > 0
    return "value", v


def _same(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) if (pd.isna(a) or pd.isna(b)) else a == b


def _column_values(frame: pd.DataFrame, column: str) -> list:
    return frame[column].astype(object).tolist()


def _check_loaded_cell(got: pd.DataFrame, ref: pd.DataFrame, row: int, column: str, tok: str, where: str,
                       *, unquoted: bool = False):
    """``got`` = ``ref`` with cell (row, column) replaced by the loaded token: the cell must hold
    what the token means, every other cell must be unchanged, a missing int64 must warn."""
    kind, meaning = _token_meaning(column, tok, unquoted=unquoted)
    assert kind != "error", f"{where}: {column}={tok!r} loaded silently ({meaning}): must raise"
    assert list(got.columns) == list(ref.columns)
    for c in ref.columns:
        g, r = _column_values(got, c), _column_values(ref, c)
        if c == column:
            g, r = g[:row] + g[row + 1:], r[:row] + r[row + 1:]
        assert all(_same(x, y) for x, y in zip(g, r)) and len(g) == len(r), f"{where}: column {c} changed"
    value = got[column].iloc[row]
    if kind == "missing":
        assert pd.isna(value), f"{where}: {column}={tok!r} should load as missing, got {value!r}"
        if column in OPTIONAL_INT64:
            assert any(column in w for w in got.attrs["cnlab_report"]["warnings"]), "missing int64 must warn"
    else:
        assert not pd.isna(value) and value == meaning, f"{where}: {column}={tok!r} loaded as {value!r}"


def _valid_ratings_text() -> str:
    rng = np.random.default_rng(0)
    rows = []
    for k in range(N_ROWS):
        row = {c: int(rng.integers(0, 2)) for c in S.RATINGS_FILE_COLUMNS}
        row.update(noteId=10**18 + k % 4, raterParticipantId=f"{k:064X}", createdAtMillis=1_700_000_000_000 + k,
                   version=2, helpfulnessLevel=S.HELPFULNESS_LEVELS[k % 3], ratedOnTweetId=5,
                   ratingSourceBucketed=S.RATING_SOURCES[k % 2], suggestion="", suggestionId="")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(S.RATINGS_FILE_COLUMNS)).to_csv(sep="\t", index=False)


VALID = _valid_ratings_text()
HEADER = VALID.splitlines()[0].split("\t")
REFERENCE = None


def _reference():
    global REFERENCE
    if REFERENCE is None:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "ratings.tsv"
            p.write_text(VALID)
            REFERENCE = read_ratings(p)
    return REFERENCE


BAD_TOKENS = st.sampled_from(["abc", "1.5", "VERY_HELPFUL", "-", "99999999999999999999", "x\ty", "", "NaN", "0x1F"])


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["truncate", "cell", "shuffle", "extra", "drop", "tab", "gzip_truncate"]))
    lines = VALID.splitlines()
    expect_same = False
    cell = None
    if kind == "truncate":
        cut = draw(st.integers(0, len(VALID)))
        text = VALID[:cut]
    elif kind == "cell":
        line = draw(st.integers(2, len(lines)))
        col = draw(st.integers(0, len(HEADER) - 1))
        fields = lines[line - 1].split("\t")
        token = draw(BAD_TOKENS)
        fields[col] = token
        cell = (line, HEADER[col], token)
        lines[line - 1] = "\t".join(fields)
        text = "\n".join(lines) + "\n"
    elif kind in ("shuffle", "extra", "drop"):
        table = [ln.split("\t") for ln in lines]
        order = list(range(len(HEADER)))
        if kind == "shuffle":
            order = draw(st.permutations(order))
            expect_same = True
        elif kind == "drop":
            order.remove(draw(st.integers(0, len(HEADER) - 1)))
        table = [[r[i] for i in order] for r in table]
        if kind == "extra":
            pos = draw(st.integers(0, len(order)))
            for i, r in enumerate(table):
                r.insert(pos, "extraColumn" if i == 0 else str(i))
            expect_same = True
        text = "\n".join("\t".join(r) for r in table) + "\n"
    elif kind == "tab":
        line = draw(st.integers(1, len(lines)))
        s = lines[line - 1]
        pos = draw(st.integers(0, len(s)))
        lines[line - 1] = s[:pos] + ("\t" if draw(st.booleans()) else "") + s[pos + (0 if pos == len(s) else 1):]
        text = "\n".join(lines) + "\n"
    else:  # gzip_truncate
        data = gzip.compress(VALID.encode())
        return kind, data[: draw(st.integers(0, len(data)))], False, None
    return kind, text.encode(), expect_same, cell


def _data_lines(raw: bytes) -> int:
    lines = [ln for ln in raw.decode().split("\n") if ln.strip("\r") != ""]
    return max(len(lines) - 1, 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_malformed_ratings_error_or_accounted(mut):
    kind, raw, expect_same, cell = mut
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("ratings.tsv.gz" if kind == "gzip_truncate" else "ratings.tsv")
        path.write_bytes(raw)
        try:
            df = read_ratings(path)
        except CnlabInputError as e:
            assert e.path is not None and str(path) in e.path
            if cell is not None:
                # one bad cell: the error names its line, and its column unless the row is malformed
                line, column, token = cell
                assert e.line == line, str(e)
                assert e.column == column or (e.column is None and "\t" in token), str(e)
                assert _token_meaning(column, token, unquoted=True)[0] == "error", \
                    f"valid token {token!r} rejected: {e}"
                return
            assert e.line is not None or e.column is not None or "empty" in str(e) or "corrupt" in str(e) \
                or "cannot" in str(e), str(e)
            return
        if cell is not None:
            line, column, token = cell
            ref, got = S.unpack_tags(_reference()), S.unpack_tags(df)
            bits = [S.HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAG_BITS]
            if column in got.columns:
                _check_loaded_cell(got.drop(columns=bits), ref.drop(columns=bits), line - 2, column, token,
                                   f"ratings line {line}", unquoted=True)
            else:  # a column the reader does not load by default: nothing else may change
                assert "\t" not in token, "a tab splits the field: the row has too many fields"
                pd.testing.assert_frame_equal(df, _reference())
        if kind != "gzip_truncate":
            assert len(df) == _data_lines(raw), "rows silently dropped or invented"
        else:
            assert len(df) <= N_ROWS
        if expect_same:
            pd.testing.assert_frame_equal(df, _reference())
        if kind == "extra":
            assert len(df.attrs["cnlab_report"]["warnings"]) == 1
        if kind == "drop":
            dropped = set(HEADER) - set(raw.decode().splitlines()[0].split("\t"))
            assert df.attrs["cnlab_report"]["recoveries"] or dropped <= {"suggestion", "suggestionId", "version",
                                                                         "agree", "disagree", "ratedOnTweetId"}


NOTES_VALID = pd.DataFrame(
    {c: [0, 1, 0] for c in S.NOTES_FILE_COLUMNS}
).assign(noteId=[1, 2, 3], noteAuthorParticipantId=["A" * 64, "B" * 64, "C" * 64],
         classification=[S.MISLEADING, S.NOT_MISLEADING, S.MISLEADING], believable="", harmful="",
         validationDifficulty="", summary=["plain", 'with "quote" and\ttab?', "multi\nline"]).to_csv(sep="\t", index=False)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4), st.sampled_from(list(S.NOTES_FILE_COLUMNS)), BAD_TOKENS)
def test_malformed_notes_cell(line, column, token):
    text = NOTES_VALID
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "notes.tsv"
        p.write_text(text)
        base = read_notes(p)
        assert len(base) == 3  # quoted newline / tab inside summary is one field
        rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
        rows[line - 1][list(S.NOTES_FILE_COLUMNS).index(column)] = token
        buf = io.StringIO()
        csv.writer(buf, delimiter="\t", lineterminator="\n").writerows(rows)
        p.write_text(buf.getvalue())
        try:
            df = read_notes(p)
        except CnlabInputError as e:
            assert e.path == str(p) and (e.line is not None or e.column is not None)
            # csv quotes a token with a tab, so the row keeps its field count: the error names the cell
            assert e.line == line and e.column == column, str(e)
            assert _token_meaning(column, token)[0] == "error", f"valid token {token!r} rejected: {e}"
            return
        assert len(df) == 3
        _check_loaded_cell(df, base, line - 2, column, token, f"notes line {line}")
