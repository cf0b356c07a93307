"""A source read piece by piece (``cnlab.io._tsv.PIECE_BYTES``) loads exactly as when read whole.

Large rating files are parsed a piece at a time so that one piece's parsed table is held at a time
(the whole file's table is ~52 bytes a rating beside the 28 of the frame built from it). These
tests read the same files with pieces of a few hundred bytes (dozens of pieces) and whole, and
compare everything a user sees: the frames, the participant ids, the warnings with their lines and
counts, the errors with their lines and columns; and the cutter itself on random text.
"""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab.errors import CnlabInputError
from cnlab.io import _tsv, load
from cnlab.synthetic import generate

#: a piece of a few ratings' text: every test file is cut into dozens of pieces
SMALL_PIECE = 700
WHOLE = 1 << 40


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pieces")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        generate(d, n_notes=40, n_raters=30, n_ratings=600, seed=11)
    return d


@pytest.fixture
def data(base, tmp_path) -> Path:
    for f in base.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _load(directory: Path, piece: int, monkeypatch):
    monkeypatch.setattr(_tsv, "PIECE_BYTES", piece)
    return load(directory)


def _pieces_of(path: Path) -> int:
    return -(-path.stat().st_size // SMALL_PIECE)


def _edit(path: Path, edits: dict[tuple[int, str], str]) -> None:
    """Set cells: {(line 1-based with the header as 1, column): value}."""
    lines = path.read_text().split("\n")[:-1]
    header = lines[0].split("\t")
    for (line, column), value in edits.items():
        fields = lines[line - 1].split("\t")
        fields[header.index(column)] = value
        lines[line - 1] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")


def _same_load(a, b) -> None:
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    pd.testing.assert_index_equal(a.participants, b.participants)
    assert a.report.warnings == b.report.warnings
    assert a.report.recoveries == b.report.recoveries
    assert dict(a.report.counts) == dict(b.report.counts)


def test_many_pieces_load_as_one(data, monkeypatch):
    assert _pieces_of(data / "ratings-00000.tsv") > 20
    _same_load(_load(data, SMALL_PIECE, monkeypatch), _load(data, WHOLE, monkeypatch))


def test_anomalies_across_pieces_are_summed_with_the_first_line(data, monkeypatch):
    """Missing values, empty tag cells, odd participant ids and an open categorical whose values
    differ from piece to piece (one piece with none at all): the same warnings, counts and first
    lines as a whole read."""
    path = data / "ratings-00000.tsv"
    n = len(path.read_text().split("\n")) - 2
    edits = {}
    for line in (40, 41, n - 5):
        edits[(line, "helpful")] = ""
    for line in (60, n - 2):
        edits[(line, "helpfulClear")] = ""
    edits[(n - 30, "raterParticipantId")] = "not-a-public-id"
    for line in range(2, n + 2):
        edits[(line, "ratingSourceBucketed")] = "" if line < 80 else ("POPULATION_SAMPLED" if line % 3 else "DEFAULT")
    _edit(path, edits)
    piece, whole = _load(data, SMALL_PIECE, monkeypatch), _load(data, WHOLE, monkeypatch)
    _same_load(piece, whole)
    assert piece.ratings["helpful"].isna().sum() == 3
    assert piece.report.count("missing_integer_values") == 3
    assert piece.report.count("empty_tag_cells") == 2
    assert piece.report.count("nonstandard_participant_ids") == 1
    assert any("'helpful' has 3 missing" in w and "first in line 40" in w for w in piece.report.warnings)
    assert list(piece.ratings["ratingSourceBucketed"].cat.categories) == ["DEFAULT", "POPULATION_SAMPLED"]


@pytest.mark.parametrize("where", ["first", "late"])
def test_a_bad_value_in_any_piece_names_its_line(data, monkeypatch, where):
    path = data / "ratings-00000.tsv"
    n = len(path.read_text().split("\n")) - 2
    line = 3 if where == "first" else n - 3
    _edit(path, {(line, "createdAtMillis"): "12x4"})
    errors = []
    for piece in (SMALL_PIECE, WHOLE):
        with pytest.raises(CnlabInputError) as e:
            _load(data, piece, monkeypatch)
        errors.append(e.value)
    assert errors[0].line == errors[1].line == line
    assert errors[0].column == errors[1].column == "createdAtMillis"
    assert str(errors[0]) == str(errors[1])


def test_a_hex_token_in_a_late_piece_is_found(data, monkeypatch):
    path = data / "ratings-00000.tsv"
    n = len(path.read_text().split("\n")) - 2
    _edit(path, {(n - 1, "noteId"): "0x1F"})
    with pytest.raises(CnlabInputError) as e:
        _load(data, SMALL_PIECE, monkeypatch)
    assert e.value.line == n - 1 and e.value.column == "noteId"


def test_shards_merge_as_one_file(data, monkeypatch, tmp_path_factory):
    """Ratings in three shards (a folder) load as the one file does: ids, codes, order."""
    path = data / "ratings-00000.tsv"
    lines = path.read_text().split("\n")[:-1]
    header, rows = lines[0], lines[1:]
    shards = tmp_path_factory.mktemp("shards")
    for f in data.iterdir():
        if f.is_file() and f.name != path.name:
            shutil.copy(f, shards / f.name)
    (shards / "ratings").mkdir()
    cut = [0, len(rows) // 3, 2 * len(rows) // 3, len(rows)]
    for k in range(3):
        (shards / "ratings" / f"ratings-0000{k}.tsv").write_text("\n".join([header, *rows[cut[k]:cut[k + 1]]]) + "\n")
    one = _load(data, WHOLE, monkeypatch)
    for piece in (SMALL_PIECE, WHOLE):
        three = _load(shards, piece, monkeypatch)
        pd.testing.assert_frame_equal(three.ratings, one.ratings)
        pd.testing.assert_index_equal(three.participants, one.participants)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.binary(min_size=0, max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60),
       last_newline=st.booleans(), size=st.integers(1, 120))
def test_cutter_keeps_every_byte_and_cuts_at_line_ends(lines, last_newline, size):
    text = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    cut = _tsv._Segments(io.BytesIO(text), size)
    pieces = []
    while not pieces or cut.more():
        piece = cut.piece()
        data = b""
        while True:
            chunk = piece.read(7)
            if not chunk:
                break
            data += chunk
        pieces.append(data)
    assert b"".join(pieces) == text
    for p in pieces[:-1]:
        assert p.endswith(b"\n") and len(p) >= size
    for p in pieces[1:]:
        assert p  # no empty piece after the first


def test_a_piece_reads_like_a_file():
    """pyarrow takes a short read as the end: a piece hands out all it is asked for."""
    text = b"".join(b"%d\tabc\n" % i for i in range(1000))
    piece = _tsv._Segments(io.BytesIO(text), 1 << 20).piece()
    assert len(piece.read(100)) == 100
    assert np.frombuffer(piece.read(-1) + b"", dtype=np.uint8).size == len(text) - 100
