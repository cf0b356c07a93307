"""Property tests (tier 2): malformed files either raise CnlabInputError naming where,
or load with every data line accounted for (never a silent drop, never a bare exception)."""

from __future__ import annotations

import gzip
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
    if kind == "truncate":
        cut = draw(st.integers(0, len(VALID)))
        text = VALID[:cut]
    elif kind == "cell":
        line = draw(st.integers(2, len(lines)))
        col = draw(st.integers(0, len(HEADER) - 1))
        fields = lines[line - 1].split("\t")
        fields[col] = draw(BAD_TOKENS)
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
        return kind, data[: draw(st.integers(0, len(data)))], False
    return kind, text.encode(), expect_same


def _data_lines(raw: bytes) -> int:
    lines = [ln for ln in raw.decode().split("\n") if ln.strip("\r") != ""]
    return max(len(lines) - 1, 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_malformed_ratings_error_or_accounted(mut):
    kind, raw, expect_same = mut
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("ratings.tsv.gz" if kind == "gzip_truncate" else "ratings.tsv")
        path.write_bytes(raw)
        try:
            df = read_ratings(path)
        except CnlabInputError as e:
            assert e.path is not None and str(path) in e.path
            assert e.line is not None or e.column is not None or "empty" in str(e) or "corrupt" in str(e) \
                or "cannot" in str(e), str(e)
            return
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
        import csv, io
        rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
        rows[line - 1][list(S.NOTES_FILE_COLUMNS).index(column)] = token
        buf = io.StringIO()
        csv.writer(buf, delimiter="\t", lineterminator="\n").writerows(rows)
        p.write_text(buf.getvalue())
        try:
            df = read_notes(p)
        except CnlabInputError as e:
            assert e.path == str(p) and (e.line is not None or e.column is not None)
            return
        assert len(df) == 3
