"""Input faults (issue 10, item 3): each broken input either raises CnlabInputError naming file,
line (1-based, header = 1) and column, or loads with its recovery counted in ``Dataset.report``.
Never a traceback, never a silently lost row.

Every case starts from a small valid synthetic dataset (``cnlab.synthetic.generate``) copied into
``tmp_path`` and breaks one thing; the expected line is computed from the broken file itself.
``docs/input-faults.md`` lists each case with the official behaviour and its test here.
"""

from __future__ import annotations

import gzip
import re
import shutil
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.errors import CnlabInputError
from cnlab.io import _tsv, load
from cnlab.io import dataset as dataset_module
from cnlab.synthetic import generate

FILES = {
    "notes": "notes-00000.tsv",
    "ratings": "ratings-00000.tsv",
    "status": "noteStatusHistory-00000.tsv",
    "enrollment": "userEnrollment-00000.tsv",
}
DOC = Path(__file__).resolve().parents[1] / "docs" / "input-faults.md"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A valid public-format dataset: 60 notes, 40 raters, ~1,500 ratings."""
    d = tmp_path_factory.mktemp("base")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "wrote N ratings instead of M" at this size
        generate(d, n_notes=60, n_raters=40, n_ratings=1500, seed=5)
    return d


@pytest.fixture
def data(base, tmp_path) -> dict[str, Path]:
    """A fresh copy of the four files in ``tmp_path``; returns their paths."""
    out = {}
    for key, name in FILES.items():
        out[key] = Path(shutil.copy(base / name, tmp_path / name))
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1]


def _set_cell(path: Path, line: int, column: str, value: str) -> str:
    """Replace one cell (``line`` 1-based, header = 1) of a TSV without quoted newlines; returns the old value."""
    lines = _lines(path)
    header = lines[0].split("\t")
    fields = lines[line - 1].split("\t")
    old = fields[header.index(column)]
    fields[header.index(column)] = value
    lines[line - 1] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return old


def _column(path: Path, column: str) -> list[str]:
    lines = _lines(path)
    pos = lines[0].split("\t").index(column)
    return [ln.split("\t")[pos] for ln in lines[1:]]


def _zip_bytes(name: str, raw: bytes, payload: bytes, method: int, crc: int | None = None) -> bytes:
    """A one-member zip archive written byte by byte, so that the member's data can be anything
    (``payload``: the stored or deflated bytes; ``crc`` defaults to the CRC-32 of ``raw``)."""
    crc = zlib.crc32(raw) if crc is None else crc
    n = name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 33, crc, len(payload), len(raw), len(n), 0) + n
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 33, crc, len(payload), len(raw),
                          len(n), 0, 0, 0, 0, 0, 0) + n
    offset = len(local) + len(payload)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)
    return local + payload + central + end


def _load_error(tmp_path, **kw) -> CnlabInputError:
    with pytest.raises(CnlabInputError) as ei:
        load(tmp_path, **kw)
    return ei.value


# ---------------------------------------------------------------------------
# compressed streams
# ---------------------------------------------------------------------------
def test_gzip_truncated_mid_stream_names_the_line(data, tmp_path):
    raw = data["ratings"].read_bytes()
    packed = gzip.compress(raw)
    data["ratings"].unlink()
    gz = tmp_path / "ratings-00000.tsv.gz"
    gz.write_bytes(packed[: len(packed) * 3 // 5])
    # what survives the cut, decompressed independently of cnlab: the stream breaks off in its last line
    survived = zlib.decompressobj(31).decompress(gz.read_bytes())
    expected = survived.count(b"\n") + 1
    assert 10 < expected < raw.count(b"\n")  # mid-stream, not in the header
    e = _load_error(tmp_path)
    assert e.path == str(gz) and e.line == expected, str(e)
    assert "truncated" in str(e) and f"line {expected}" in str(e)


def test_zip_member_bad_crc(data, tmp_path):
    raw = data["ratings"].read_bytes()
    data["ratings"].unlink()
    z = tmp_path / "ratings-00000.zip"
    z.write_bytes(_zip_bytes("ratings-00000.tsv", raw, raw, zipfile.ZIP_STORED, crc=zlib.crc32(raw) ^ 1))
    e = _load_error(tmp_path)
    assert e.path == f"{z}!ratings-00000.tsv", str(e)
    assert "CRC-32" in str(e) and e.line is not None
    # found where the member ends: after every (valid) row had been read
    assert e.line > raw.count(b"\n") // 2, str(e)


def test_zip_member_damaged_deflate_data(data, tmp_path):
    raw = data["ratings"].read_bytes()
    data["ratings"].unlink()
    cut = raw.index(b"\n", len(raw) // 2) + 1
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(raw[:cut]) + comp.flush(zlib.Z_FULL_FLUSH)  # byte-aligned: the next block starts here
    tail = comp.compress(raw[cut:]) + comp.flush()
    tail = bytes([tail[0] | 0b110]) + tail[1:]  # block type 3: reserved, an invalid block
    z = tmp_path / "ratings-00000.zip"
    z.write_bytes(_zip_bytes("ratings-00000.tsv", raw, head + tail, zipfile.ZIP_DEFLATED))
    e = _load_error(tmp_path)
    assert e.path == f"{z}!ratings-00000.tsv" and "corrupt" in str(e), str(e)
    damaged_line = raw[:cut].count(b"\n") + 1
    # exact to within one read of decompressed data (_tsv._Salvage.CHUNK bytes)
    lines_per_read = raw[cut - _tsv._Salvage.CHUNK:cut].count(b"\n") + 1
    assert damaged_line - lines_per_read <= e.line <= damaged_line, str(e)


def test_zip_unexpected_and_unsafe_members_are_not_read(data, tmp_path, monkeypatch):
    good = data["notes"].read_bytes()
    other = good.replace(b"MISINFORMED_OR_POTENTIALLY_MISLEADING", b"NOT_A_CLASSIFICATION")  # would fail if read
    data["notes"].unlink()
    archive = tmp_path / "notes-00000.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("notes-00000.tsv", good)
        zf.writestr("../evil.tsv", other)
        zf.writestr("/abs/notes-00000.tsv", other)
        zf.writestr("a/b/notes-00000.tsv", other)
        zf.writestr("README.txt", "hello")
        zf.writestr("__MACOSX/._notes-00000.tsv", b"\x00\x05")
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy_open(self, name, *a, **k):
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *a, **k)

    def no_extract(*a, **k):
        raise AssertionError("a zip member was extracted")

    monkeypatch.setattr(zipfile.ZipFile, "open", spy_open)
    monkeypatch.setattr(zipfile.ZipFile, "extract", no_extract)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", no_extract)
    before = set(tmp_path.parent.rglob("*"))
    ds = load(tmp_path)
    assert set(opened) == {"notes-00000.tsv"}
    assert set(tmp_path.parent.rglob("*")) == before  # nothing written anywhere
    data["notes"].write_bytes(good)
    archive.unlink()
    pd.testing.assert_frame_equal(ds.notes, load(tmp_path).notes)
    assert ds.report.count("unsafe_zip_members") == 2 and ds.report.count("ignored_zip_members") == 2
    unsafe = next(w for w in ds.report.warnings if "unsafe path" in w)
    assert "'../evil.tsv'" in unsafe and "'/abs/notes-00000.tsv'" in unsafe and str(archive) in unsafe
    ignored = next(w for w in ds.report.warnings if "unexpected zip member" in w)
    assert "'a/b/notes-00000.tsv'" in ignored and "'README.txt'" in ignored


def test_zip_member_in_a_folder_is_read_with_a_recovery(data, tmp_path):
    good = data["ratings"].read_bytes()
    ref = load(tmp_path)
    data["ratings"].unlink()
    archive = tmp_path / "ratings-00000.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("download/ratings-00000.tsv", good)
    ds = load(tmp_path)
    pd.testing.assert_frame_equal(ds.ratings, ref.ratings)
    rec = [r for r in ds.report.recoveries if "folder download/" in r[1]]
    assert rec == [(str(archive), "ratings member(s) read from folder download/ of the archive", 1)]


def test_zip_without_an_expected_member_is_an_error(data, tmp_path):
    good = data["notes"].read_bytes()
    data["notes"].unlink()
    archive = tmp_path / "notes-00000.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/a.tsv", good)
        zf.writestr("export/b.tsv", good)
    e = _load_error(tmp_path)
    assert e.path == str(archive) and "no notes member" in str(e) and "export/a.tsv" in str(e)


# ---------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------
def test_invalid_utf8_in_summary_names_line_and_column(data, tmp_path):
    notes = data["notes"]
    lines = notes.read_bytes().split(b"\n")
    pos = lines[0].split(b"\t").index(b"summary")
    # a quoted newline in line 2's summary: the bad record below starts one physical line later
    f = lines[1].split(b"\t")
    f[pos] = b'"first line\nsecond line"'
    lines[1] = b"\t".join(f)
    f = lines[4].split(b"\t")
    f[pos] = f[pos][:5] + b"\xff\xfe" + f[pos][5:]  # not UTF-8
    lines[4] = b"\t".join(f)
    notes.write_bytes(b"\n".join(lines))
    e = _load_error(tmp_path)
    assert (e.path, e.line, e.column) == (str(notes), 6, "summary"), str(e)
    assert "UTF-8" in str(e) and "0xff" in str(e)


# ---------------------------------------------------------------------------
# numeric cells
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key, column, token",
    [
        ("ratings", "noteId", "NaN"),  # a null token in a required column
        ("ratings", "noteId", "inf"),
        ("notes", "noteId", "-inf"),
        ("ratings", "createdAtMillis", "nan"),
        ("notes", "createdAtMillis", "1.7e12"),
        ("ratings", "noteId", "+5"),  # pandas would read 5
        ("ratings", "helpful", "+1"),
        ("ratings", "notHelpfulIncorrect", "inf"),
        ("notes", "misleadingOther", "+0"),
        ("ratings", "noteId", "99999999999999999999"),  # beyond int64
        ("ratings", "helpful", "300"),  # beyond int8
        ("enrollment", "successfulRatingNeededToEarnIn", "5.0"),
    ],
)
def test_bad_numeric_cell_names_file_line_column(data, tmp_path, key, column, token):
    line = 7
    _set_cell(data[key], line, column, token)
    e = _load_error(tmp_path)
    assert (e.path, e.line, e.column) == (str(data[key]), line, column), str(e)
    assert repr(token) in str(e) or "missing value" in str(e)
    if token.startswith("+"):
        assert "leading '+'" in str(e)


@pytest.mark.parametrize("key, column, frame", [("ratings", "helpful", "ratings"),
                                                ("notes", "misleadingOther", "notes"),
                                                ("notes", "tweetId", "notes")])
def test_empty_integer_cell_warns_and_stays_missing(data, tmp_path, key, column, frame):
    _set_cell(data[key], 4, column, "")
    ds = load(tmp_path)
    values = getattr(ds, frame)[column]
    assert pd.isna(values.iloc[2]) and int(values.isna().sum()) == 1
    w = [w for w in ds.report.warnings if repr(column) in w]
    assert len(w) == 1 and str(data[key]) in w[0] and "1 missing value" in w[0] and "line 4" in w[0], w
    assert ds.report.count("missing_integer_values") == 1


def test_empty_tag_cell_is_counted(data, tmp_path):
    tag = "helpfulClear"
    cells = _column(data["ratings"], tag)
    line = cells.index("1") + 2  # a rating that has the tag
    ref = load(tmp_path)
    bit = np.uint16(1 << S.HELPFUL_TAGS.index(tag))
    assert ref.ratings[S.HELPFUL_TAG_BITS].iloc[line - 2] & bit
    _set_cell(data["ratings"], line, tag, "")
    ds = load(tmp_path)
    assert not ds.ratings[S.HELPFUL_TAG_BITS].iloc[line - 2] & bit  # read as "tag not given" ...
    assert ds.report.count("empty_tag_cells") == 1  # ... and counted
    w = [w for w in ds.report.warnings if repr(tag) in w]
    assert len(w) == 1 and "empty tag cell" in w[0] and f"line {line}" in w[0], w
    assert len(ds.ratings) == len(ref.ratings)


def test_infinite_float_is_counted(data, tmp_path):
    _set_cell(data["enrollment"], 5, "modelingGroup", "-inf")
    ds = load(tmp_path)
    assert np.isneginf(ds.enrollment["modelingGroup"].iloc[3])
    assert ds.report.count("infinite_values") == 1
    assert any("'modelingGroup'" in w and "line 5" in w for w in ds.report.warnings), ds.report.warnings


# ---------------------------------------------------------------------------
# duplicates, orphans, clocks, ids
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("column", [S.AUTHOR_ID, S.CREATED_AT, S.SUMMARY])
def test_duplicate_note_with_conflicting_values_names_both_lines(data, tmp_path, column):
    lines = _lines(data["notes"])
    header = lines[0].split("\t")
    copy = lines[3].split("\t")  # the note of line 4
    pos = header.index(column)
    copy[pos] = str(int(copy[pos]) + 1) if column == S.CREATED_AT else ("F" * 64 if column == S.AUTHOR_ID else "other")
    lines.append("\t".join(copy))
    data["notes"].write_text("\n".join(lines) + "\n")
    e = _load_error(tmp_path)
    assert (e.path, e.line, e.column) == (str(data["notes"]), len(lines), column), str(e)
    assert "line 4" in str(e) and f"noteId {copy[0]}" in str(e)


def test_duplicate_note_across_shards_names_the_other_file(data, tmp_path):
    lines = _lines(data["notes"])
    other = tmp_path / "more" / "notes-00001.tsv"
    other.parent.mkdir()
    row = lines[2].split("\t")
    row[2] = str(int(row[2]) - 5)
    other.write_text(lines[0] + "\n" + "\t".join(row) + "\n")
    with pytest.raises(CnlabInputError) as ei:
        load(tmp_path, notes=[data["notes"], other])
    e = ei.value
    assert (e.path, e.line, e.column) == (str(other), 2, S.CREATED_AT), str(e)
    assert f"file {data['notes']}, line 3" in str(e)


def test_identical_duplicate_note_rows_are_counted(data, tmp_path):
    from cnlab.preprocess import preprocess

    lines = _lines(data["notes"])
    data["notes"].write_text("\n".join(lines + [lines[5], lines[5]]) + "\n")
    ds = load(tmp_path)
    assert len(ds.notes) == len(lines) + 1  # nothing dropped by the loader
    assert ds.report.count("duplicate_note_rows") == 2
    assert any("repeat an earlier row exactly" in w for w in ds.report.warnings)
    assert len(preprocess(ds).notes) == len(lines) - 1  # preprocessing drops them, as officially


def test_ratings_of_deleted_and_unknown_notes_are_counted(data, tmp_path):
    ratings_ids = pd.Series(_column(data["ratings"], "noteId")).astype(int)
    # delete one rated note from the notes file (it stays in the status history: a deleted note)
    lines = _lines(data["notes"])
    victim = next(ln for ln in lines[1:] if int(ln.split("\t")[0]) in set(ratings_ids))
    data["notes"].write_text("\n".join(ln for ln in lines if ln != victim) + "\n")
    deleted = int((ratings_ids == int(victim.split("\t")[0])).sum())
    # three ratings of a note nobody knows
    for line in (3, 4, 9):
        _set_cell(data["ratings"], line, "noteId", "123456789")
    n_ratings = len(ratings_ids)
    ds = load(tmp_path)
    assert len(ds.ratings) == n_ratings  # kept: nothing dropped, nothing raised
    deleted -= int((ratings_ids.iloc[[1, 2, 7]] == int(victim.split("\t")[0])).sum())
    assert ds.report.count("ratings_of_deleted_notes") == deleted > 0
    assert ds.report.count("ratings_of_unknown_notes") == 3
    assert f"{deleted:,} of deleted notes" in ds.summary() and "3 of unknown notes" in ds.summary()
    assert "counted 3: ratings of notes in neither" in ds.report.summary()
    assert any("3 rating(s) of 1 note(s) in neither" in w for w in ds.report.warnings)


def test_timestamps_after_now_are_counted(data, tmp_path, monkeypatch):
    created = pd.Series(_column(data["ratings"], "createdAtMillis")).astype(np.int64)
    # a clock after every timestamp (the synthetic data is dated 2026), then one before a tenth of them
    monkeypatch.setattr(dataset_module, "wall_clock_millis", lambda: int(created.max()) + 10**10)
    ok = load(tmp_path)
    assert ok.report.count("future_timestamps") == 0 and not ok.report.warnings
    now = int(created.quantile(0.9))
    monkeypatch.setattr(dataset_module, "wall_clock_millis", lambda: now)
    ds = load(tmp_path)
    later = int((created > now).sum())
    for key in ("notes", "status"):
        later += int((pd.Series(_column(data[key], "createdAtMillis")).astype(np.int64) > now).sum())
    assert later > 0 and ds.report.count("future_timestamps") == later
    assert any(w.startswith("ratings: ") and "after the wall clock" in w for w in ds.report.warnings)
    assert len(ds.ratings) == len(created)


def test_participant_id_of_wrong_length_is_kept_and_counted(data, tmp_path):
    _set_cell(data["ratings"], 6, S.RATER_ID, "ABC")
    _set_cell(data["ratings"], 9, S.RATER_ID, "A" * 65)
    _set_cell(data["enrollment"], 3, S.PARTICIPANT_ID, "G" * 64)  # right length, not hexadecimal
    ds = load(tmp_path)
    back = ds.restore_ids(ds.ratings)[S.RATER_ID]
    assert back.iloc[4] == "ABC" and back.iloc[7] == "A" * 65
    assert "G" * 64 in set(ds.participants)
    assert ds.report.count("nonstandard_participant_ids") == 3
    w = [w for w in ds.report.warnings if "64 hexadecimal" in w]
    assert len(w) == 2 and "'ABC'" in w[0] and "line 6" in w[0] and "2 distinct" in w[0], w


# ---------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------
class _Recorder:
    """A binary stream that records the size of every read."""

    def __init__(self, raw, sizes: list):
        self._raw, self.sizes = raw, sizes

    def read(self, n=-1):
        assert n is not None and n >= 0, f"read({n}): a whole-file read"
        data = self._raw.read(n)
        self.sizes.append(len(data))
        return data

    def close(self):
        self._raw.close()

    @property
    def closed(self):
        return self._raw.closed


def test_large_file_is_streamed_in_blocks(tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        generate(tmp_path, n_notes=300, n_raters=200, n_ratings=12_000, seed=1)
    path = tmp_path / "ratings-00000.tsv"
    size = path.stat().st_size
    block = 1 << 16
    assert size > 20 * block
    monkeypatch.setattr(_tsv, "BLOCK_SIZE", block)
    for name in ("read_bytes", "read_text"):
        monkeypatch.setattr(Path, name, lambda *a, **k: pytest.fail("a file was read whole"))
    sizes: dict[str, list[int]] = {}
    real = _tsv.Source.open_binary
    monkeypatch.setattr(_tsv.Source, "open_binary", lambda self: _Recorder(real(self), sizes.setdefault(self.label, [])))
    ref = load(tmp_path)
    # the fast path: pyarrow pulled the file block by block
    got = sizes[str(path)]
    assert sum(got) == size and max(got) <= block and len(got) >= size // block
    # the slow re-scan (a bad value in the last line): line by line through small reads
    monkeypatch.undo()
    lines = path.read_text().split("\n")[:-1]
    _set_cell(path, len(lines), "createdAtMillis", "soon")
    monkeypatch.setattr(Path, "read_bytes", lambda *a, **k: pytest.fail("a file was read whole"))
    reads: list[int] = []
    real_into = _tsv._Salvage.readinto

    def spy(self, buf):
        n = real_into(self, buf)
        reads.append(n)
        return n

    monkeypatch.setattr(_tsv._Salvage, "readinto", spy)
    with pytest.raises(CnlabInputError) as ei:
        load(tmp_path)
    assert ei.value.line == len(lines) and ei.value.column == "createdAtMillis"
    assert max(reads) <= _tsv._Salvage.CHUNK and sum(reads) >= size
    assert len(ref.ratings) == len(lines) - 1


# ---------------------------------------------------------------------------
# the documentation page lists every test here, and only those
# ---------------------------------------------------------------------------
def test_input_faults_page_lists_these_tests():
    documented = set(re.findall(r"`(test_[a-z0-9_]+)`", DOC.read_text()))
    here = {name for name in globals() if name.startswith("test_")}
    assert documented - here == set(), "docs/input-faults.md names tests that do not exist"
    assert here - documented == {"test_input_faults_page_lists_these_tests"}, "tests missing from the docs page"
