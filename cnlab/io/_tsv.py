"""Low-level TSV reading: sources (plain / gzip / zip), headers, pyarrow fast path,
and the slow re-scan that pinpoints the line of a bad value.

The fast path parses with :func:`pyarrow.csv.read_csv` (multi-threaded) and only
the columns that are asked for.  It validates cheaply (null counts, dictionary
values of enum columns).  Only when something is wrong does
:func:`locate_problem` re-read the file line by line in Python to report the
exact line (1-based, header = line 1) and column.
"""

from __future__ import annotations

import csv
import gzip
import io
import lzma
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cnlab.errors import CnlabInputError

from . import _layouts as L

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"

#: tokens read as missing (pyarrow's defaults, which equal pandas' defaults
#: except pandas' extra "None" and "<NA>")
NULL_VALUES = tuple(pacsv.ConvertOptions().null_values)
_NULLS = frozenset(NULL_VALUES)

#: decimal integers as pyarrow parses them: an optional minus and ASCII digits, blanks around
#: (no hex, no "+": pyarrow rejects "+5", so it is reported with its line; pandas would read 5)
_INT_RE = re.compile(r"^[ \t]*-?[0-9]+[ \t]*\Z")
#: floats as pyarrow parses them (Python's float() also takes "1_000" and non-ASCII digits)
_FLOAT_RE = re.compile(r"^[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)[ \t]*\Z", re.I)
_INT_RANGE = {L.INT64: (-(2**63), 2**63 - 1), L.INT8: (-128, 127), L.TAG: (-128, 127)}

#: bytes pyarrow asks for per read: a file is parsed block by block, never read whole
BLOCK_SIZE = 1 << 22
#: text per piece of a source read piece by piece (:func:`read_arrow_pieces`): one piece's table
#: is held at a time (public ratings: ~2.6M ratings, ~140 MB parsed) and each piece costs one
#: start of pyarrow's parser and one look-up of its participant ids, a few ms at this size
PIECE_BYTES = 1 << 29
#: what a damaged compressed stream raises while being read (gzip, zip deflate / bzip2 / lzma)
STREAM_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError)


# ---------------------------------------------------------------------------
# report builder (mutable while loading; frozen into cnlab.io.LoadReport)
# ---------------------------------------------------------------------------
@dataclass
class ReportBuilder:
    files: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    recoveries: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

    def recover(self, path, what: str, count: int = 1) -> None:
        self.recoveries.append((str(path), what, int(count)))

    def count(self, key: str, n: int) -> None:
        """Add ``n`` to the named count (see ``LoadReport.counts``); zero counts are not kept."""
        if n:
            self.counts[key] = self.counts.get(key, 0) + int(n)


# ---------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """One readable stream: a plain / gzip file or one member of a zip archive."""

    path: Path
    compression: str  # "none" | "gzip" | "zip"
    member: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    def _zip_member(self):
        zf = zipfile.ZipFile(self.path)
        try:
            return zf.open(self.member)
        finally:
            zf.close()  # the member keeps the archive's file open until it is closed itself

    def open_binary(self):
        """Decompressed binary stream (pyarrow native for plain / gzip)."""
        if self.compression == "gzip":
            return pa.CompressedInputStream(pa.OSFile(str(self.path)), "gzip")
        if self.compression == "zip":
            return self._zip_member()
        return pa.OSFile(str(self.path))

    def open_python_binary(self):
        if self.compression == "gzip":
            return gzip.open(self.path, "rb")
        if self.compression == "zip":
            return self._zip_member()
        return open(self.path, "rb")


class _Salvage(io.RawIOBase):
    """Binary stream that ends, instead of raising, where its decompression fails.

    The error is kept in :attr:`error`, and :attr:`newlines` counts the line ends delivered
    before it, so a truncated or damaged stream is reported in the line where its data ends
    (``newlines + 1``), after every complete line before it has been checked.  Reads go through
    ``read1`` (one decompression step) so that data decompressed before the failure is kept.
    """

    #: bytes per read: the line of a decompression error is exact to within one read
    CHUNK = 1 << 13

    def __init__(self, raw):
        super().__init__()
        self._raw = raw
        self._read = getattr(raw, "read1", raw.read)
        self.error: BaseException | None = None
        self.newlines = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.error is not None:
            return 0
        try:
            data = self._read(min(len(buf), self.CHUNK))
        except STREAM_ERRORS as e:
            self.error = e
            return 0
        n = len(data)
        buf[:n] = data
        self.newlines += data.count(b"\n")
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def _stream_error(src: "Source", err: BaseException, line: int) -> CnlabInputError:
    if isinstance(err, EOFError):
        what = f"compressed data is truncated: the stream ends in this line, before its end marker ({err})"
    elif isinstance(err, zipfile.BadZipFile) and "CRC" in str(err):
        what = ("the zip member fails its CRC-32 check: its data is corrupt (found where the member ends, "
                "in this line; the damage may be anywhere before)")
    else:
        what = f"compressed data is corrupt: decompression fails in or shortly after this line ({type(err).__name__}: {err})"
    return CnlabInputError(what, path=src.label, line=line)


def _open_salvaged(src: "Source", line: int = 1) -> _Salvage:
    try:
        return _Salvage(src.open_python_binary())
    except STREAM_ERRORS as e:
        raise CnlabInputError(f"cannot read ({e})", path=src.label, line=line) from None


# zip members -------------------------------------------------------------
#: zipfile's methods: stored, deflate, bzip2, lzma
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zip", ".bz2", ".xz", ".zst", ".7z")


def unsafe_member_name(name: str) -> bool:
    """Whether a zip member name would escape the folder it were extracted into (absolute, a
    drive letter, a ``..`` component, a backslash or NUL).  cnlab never extracts: members are
    streamed from the archive; such members are still not read."""
    if "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return True
    return ".." in name.split("/")


def member_matches(kind: str, name: str) -> bool:
    """Whether a member's file name (its last path component) is a public ``kind`` file name:
    ``<stem>``, ``<stem>.tsv`` / ``.txt`` or ``<stem>-<anything>`` (``notes-00000.tsv``), not
    itself compressed; stems: notes, ratings, noteStatusHistory, userEnrollment."""
    base = name.rsplit("/", 1)[-1]
    if base.lower().endswith(_COMPRESSED_SUFFIXES):
        return False
    stem = re.escape(L.FILE_STEMS[kind])
    return re.fullmatch(rf"{stem}(?:-[^/]*|\.tsv|\.txt)?", base) is not None


def _folder(name: str) -> str:
    return name.rsplit("/", 1)[0] if "/" in name else ""


def zip_members(p: Path, zf: zipfile.ZipFile, kind: str | None, report: ReportBuilder | None) -> list[str]:
    """The members of a zip archive that are read as ``kind`` (rules in :mod:`cnlab.io`)."""
    unsafe: list[str] = []
    usable: list[zipfile.ZipInfo] = []
    for info in zf.infolist():
        name = info.filename
        base = name.rsplit("/", 1)[-1]
        if info.is_dir() or name.startswith("__MACOSX/") or base.startswith(".") or not base:
            continue  # archiver metadata (resource forks, .DS_Store), folders
        if unsafe_member_name(name):
            unsafe.append(name)
        else:
            usable.append(info)
    if unsafe and report is not None:
        report.warn(f"{p}: ignored {len(unsafe)} zip member(s) with an unsafe path (absolute or '..'; "
                    f"never extracted, not read): {', '.join(map(repr, unsafe[:5]))}")
        report.count("unsafe_zip_members", len(unsafe))
    if not usable:
        raise CnlabInputError("zip archive has no readable files" + (" (only unsafe paths)" if unsafe else ""), path=p)
    chosen = usable
    if kind is not None:
        expected = [i for i in usable if member_matches(kind, i.filename)]
        if expected:
            # the shallowest folder holding such members: an archive of a folder has them one level down
            folder = min((i.filename.count("/"), _folder(i.filename)) for i in expected)[1]
            chosen = [i for i in expected if _folder(i.filename) == folder]
            if folder and report is not None:
                report.recover(p, f"{kind} member(s) read from folder {folder}/ of the archive", len(chosen))
        elif len(usable) == 1:
            if report is not None:
                report.recover(f"{p}!{usable[0].filename}",
                               f"the archive's only member is read as {kind} (not a public {kind} file name)")
        else:
            raise CnlabInputError(
                f"zip archive holds no {kind} member (expected a name like {L.FILE_STEMS[kind]}-00000.tsv); "
                f"members: {', '.join(i.filename for i in usable[:8])}", path=p)
    others = [i.filename for i in usable if i not in chosen]
    if others and report is not None:
        report.warn(f"{p}: ignored {len(others)} unexpected zip member(s) (not read): "
                    + ", ".join(map(repr, others[:8])) + (" ..." if len(others) > 8 else ""))
        report.count("ignored_zip_members", len(others))
    for info in chosen:
        where = f"{p}!{info.filename}"
        if info.flag_bits & 0x1:
            raise CnlabInputError("zip member is encrypted", path=where)
        if info.compress_type not in _ZIP_METHODS:
            raise CnlabInputError(f"zip member uses an unsupported compression method ({info.compress_type})", path=where)
    return sorted(i.filename for i in chosen)


def sniff_sources(path, report: ReportBuilder | None = None, kind: str | None = None) -> list[Source]:
    """Sources in ``path`` (by magic bytes, not by name).

    A gzip file without a ``.gz`` suffix (or a plain file with one) is read by
    its content and counted as a recovery.  Of a zip archive only the members that
    :func:`zip_members` selects for ``kind`` are read (all safe ones when ``kind`` is None).
    """
    p = Path(path)
    if not p.exists():
        raise CnlabInputError("file not found", path=p)
    if p.is_dir():
        raise CnlabInputError("expected a file, got a directory", path=p)
    with open(p, "rb") as fh:
        head = fh.read(4)
    name = p.name.lower()
    if head[:2] == GZIP_MAGIC:
        if not name.endswith((".gz", ".gzip")) and report is not None:
            report.recover(p, "gzip content without a .gz suffix: decompressed by magic bytes")
        return [Source(p, "gzip")]
    if head == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(p) as zf:
                members = zip_members(p, zf, kind, report)
        except (zipfile.BadZipFile, *STREAM_ERRORS) as e:
            raise CnlabInputError(f"corrupt zip archive ({e})", path=p) from None
        return [Source(p, "zip", m) for m in members]
    if name.endswith((".gz", ".zip")) and report is not None:
        report.recover(p, "file named as compressed but holds plain text: read as plain TSV")
    return [Source(p, "none")]


def read_first_line(src: Source) -> str | None:
    """The first physical line (no newline), or None for an empty stream."""
    raw = _open_salvaged(src)
    with io.BufferedReader(raw, 1 << 16) as fh:
        first = fh.readline()
    if raw.error is not None and not first.endswith(b"\n"):
        raise _stream_error(src, raw.error, 1)
    if not first:
        return None
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise CnlabInputError("header is not valid UTF-8", path=src.label, line=1) from None
    return text.lstrip("\ufeff").rstrip("\r\n")


# ---------------------------------------------------------------------------
# header resolution
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Header:
    names: tuple[str, ...]  # file column names, in file order
    has_header: bool


def resolve_header(src: Source, kind: str, report: ReportBuilder) -> Header | None:
    """Column names of ``src``; ``None`` for an empty (0-byte) source."""
    first = read_first_line(src)
    if first is None:
        return None
    fields = first.split("\t")
    layout = L.LAYOUTS[kind]
    if any(f in layout for f in fields):
        seen = set()
        for f in fields:
            if f in seen:
                raise CnlabInputError("duplicate column in header", path=src.label, line=1, column=f)
            seen.add(f)
        return Header(tuple(fields), True)
    positional = L.POSITIONAL[kind].get(len(fields))
    if positional is not None:
        report.recover(src.label, f"no header row: {len(fields)} columns named by official position")
        return Header(tuple(positional), False)
    raise CnlabInputError(
        f"first line is neither a {kind} header nor a headerless row of a known layout "
        f"({len(fields)} fields; expected a header with e.g. {next(iter(layout))!r})",
        path=src.label,
        line=1,
    )


# ---------------------------------------------------------------------------
# fast path
# ---------------------------------------------------------------------------
class _HexTokenScan:
    """Pass-through binary reader that notes whether a field may start with ``0x`` / ``0X``.

    pyarrow's integer parser accepts hexadecimal tokens (``0x1F`` -> 31,
    ``0xFFFFFFFFFFFFFFFF`` -> -1) where the official reader (pandas) raises; a hex token
    in an integer column would otherwise load silently as a different number.  When the
    stream holds such a field start, :func:`read_arrow_pieces` re-scans the file with the strict
    decimal check of :func:`locate_problem`, which names line and column (a ``0x`` that
    starts a text field, e.g. a summary, only costs that re-scan).
    """

    _FIELD_START = frozenset(b'\t\n\r"')
    _HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")

    def __init__(self, raw):
        self._raw = raw
        self._tail = b""
        self.seen = False

    @classmethod
    def _hex_field(cls, buf: bytes, at_start: bool) -> bool:
        """Whether ``buf`` holds ``0x``/``0X`` + a hex digit at a field start (possibly after
        spaces).  The start of ``buf`` counts as a field start only when ``at_start``."""
        for needle in (b"0x", b"0X"):
            i = buf.find(needle)
            while i >= 0:
                j = i
                while j > 0 and buf[j - 1] == 0x20:
                    j -= 1
                starts = (j == 0 and at_start) or (j > 0 and buf[j - 1] in cls._FIELD_START)
                if starts and (i + 2 >= len(buf) or buf[i + 2] in cls._HEX_DIGITS):
                    return True
                i = buf.find(needle, i + 1)
        return False

    def read(self, n=-1):
        data = self._raw.read(n)
        if data and not self.seen:
            # a one-byte membership test is memchr-fast: the search runs only when an x is present
            if ((b"x" in data or b"X" in data) and self._hex_field(data, at_start=not self._tail)) \
                    or self._hex_field(self._tail + data[:16], at_start=False):
                self.seen = True
            self._tail = data[-16:]
        return data

    def close(self):
        self._raw.close()

    @property
    def closed(self):
        return getattr(self._raw, "closed", False)


def arrow_type(col: L.Col) -> pa.DataType:
    if col.kind == L.INT64:
        return pa.int64()
    if col.kind in (L.INT8, L.TAG):
        return pa.int8()
    if col.kind == L.FLOAT:
        return pa.float64()
    if col.kind in (L.PID, L.ENUM, L.CAT):
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


class _Segments:
    """Cut a binary stream into consecutive pieces of about ``size`` bytes, each ending at a line
    end (the last at the stream's end), read one after the other without holding any whole.

    Each piece is a file-like object for :func:`pyarrow.csv.read_csv`: it hands out up to
    ``size`` bytes of the stream, then the rest of the line it stopped in.
    """

    def __init__(self, raw, size: int):
        self._raw, self._size = raw, size
        self._left = b""  # read past a piece's end: the next piece starts with it
        self._eof = False

    def _pull(self, n: int) -> bytes:
        if self._left:
            data, self._left = self._left[:n], self._left[n:]
            return data
        if self._eof:
            return b""
        data = self._raw.read(n)
        if not data:
            self._eof = True
        return data

    def more(self) -> bool:
        """Whether a byte is left for another piece."""
        if not self._left and not self._eof:
            self._left = self._raw.read(BLOCK_SIZE)
            self._eof = not self._left
        return bool(self._left)

    def piece(self) -> "_Piece":
        return _Piece(self)


class _Piece:
    def __init__(self, segments: _Segments):
        self._s = segments
        self._quota = segments._size
        self._done = False

    def read(self, n=-1):
        # a file's read: n bytes unless the piece ends first (pyarrow takes a short read as the end)
        n = BLOCK_SIZE if n is None or n < 0 else n
        out = []
        while n > 0 and not self._done:
            data = self._some(n)
            out.append(data)
            n -= len(data)
        return b"".join(out)

    def _some(self, n: int) -> bytes:
        if self._quota > 0:
            data = self._s._pull(min(n, self._quota))
            self._quota -= len(data)
            if not data:
                self._done = True
            return data
        # past the quota: deliver up to the end of the current line, keep the rest
        data = self._s._pull(n)
        i = data.find(b"\n")
        if i >= 0:
            self._s._left = data[i + 1:] + self._s._left
            data = data[: i + 1]
            self._done = True
        elif not data:
            self._done = True
        return data

    def close(self):
        pass

    @property
    def closed(self):
        return False


def read_arrow_pieces(
    src: Source,
    kind: str,
    header: Header,
    include: list[str],
    *,
    newlines_in_values: bool,
    use_threads: bool = True,
    piece_bytes: int | None,
):
    """Parse ``include`` columns of ``src`` as consecutive tables of about ``piece_bytes`` of text
    each (None: one table); bad input -> :class:`CnlabInputError`, wherever it is.

    A source with quoted line ends in values (``newlines_in_values``: the notes' text) is read
    whole: a piece cannot end inside a record it does not see the end of. Every other source is
    read piece by piece, so that the parsed text of one piece is held at a time (a table of the
    public ratings is ~52 bytes a rating; the compact frame built from it, 28).
    """
    layout = L.LAYOUTS[kind]

    def options(first: bool):
        return pacsv.ReadOptions(use_threads=use_threads, block_size=BLOCK_SIZE,
                                 column_names=None if (first and header.has_header) else list(header.names))

    parse_opts = pacsv.ParseOptions(
        delimiter="\t",
        quote_char='"',
        double_quote=True,
        newlines_in_values=newlines_in_values,
        ignore_empty_lines=True,
    )
    conv_opts = pacsv.ConvertOptions(
        column_types={c: arrow_type(layout[c]) for c in include},
        include_columns=include,
        null_values=list(NULL_VALUES),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    # quoted newlines force pyarrow to parse serially: try without first
    fast = pacsv.ParseOptions(delimiter="\t", quote_char='"', double_quote=True,
                              newlines_in_values=False, ignore_empty_lines=True)
    errors = (pa.ArrowInvalid, pa.ArrowException, *STREAM_ERRORS)

    def failed(e: BaseException) -> CnlabInputError:
        problem = locate_problem(src, kind, header, include)
        return problem if problem is not None else CnlabInputError(f"cannot parse ({e})", path=src.label)

    whole = piece_bytes is None or newlines_in_values
    scan = _HexTokenScan(src.open_binary())
    rows = 0
    try:
        if whole:
            try:
                try:
                    table = pacsv.read_csv(pa.PythonFile(scan, mode="r"), options(True), fast, conv_opts)
                except errors:
                    if not newlines_in_values:
                        raise
                    scan.close()
                    scan = _HexTokenScan(src.open_binary())
                    table = pacsv.read_csv(pa.PythonFile(scan, mode="r"), options(True), parse_opts, conv_opts)
            except errors as e:
                raise failed(e) from None
            validate_table(src, kind, header, table, include)
            tables = iter((table,))
            del table
        else:
            tables = _pieces(src, kind, header, include, scan, piece_bytes, options, fast, conv_opts, errors, failed)
        for table in tables:
            rows += table.num_rows
            yield table
            del table
    finally:
        scan.close()
    if scan.seen and any(layout[c].kind in _INT_RANGE for c in include):
        # pyarrow read a hex token as an integer: find it with the strict decimal check
        problem = locate_problem(src, kind, header, include)
        if problem is not None:
            raise problem from None


def _pieces(src, kind, header, include, scan, piece_bytes, options, parse_opts, conv_opts, errors, failed):
    segments = _Segments(scan, piece_bytes)
    first, offset = True, 0
    while first or segments.more():
        try:
            table = pacsv.read_csv(pa.PythonFile(segments.piece(), mode="r"), options(first), parse_opts, conv_opts)
        except errors as e:
            raise failed(e) from None
        validate_table(src, kind, header, table, include, offset=offset)
        first = False
        offset += table.num_rows
        yield table
        del table


def validate_table(src: Source, kind: str, header: Header, table: pa.Table, include: list[str], *,
                   offset: int = 0) -> None:
    """Cheap checks on the parsed table (rows ``offset`` on of its source): required non-nulls and
    enum values."""
    layout = L.LAYOUTS[kind]
    for name in include:
        col = layout[name]
        arr = table.column(name)
        if col.non_null and arr.null_count:
            idx = offset + _first_index(pc.is_null(arr))
            raise _pinpoint(
                src, header, name, lambda v: v in _NULLS, "missing value in a required column", idx
            )
        if col.kind == L.ENUM:
            allowed = set(col.enum)
            bad = set()
            for chunk in arr.chunks:
                bad |= {v for v in chunk.dictionary.to_pylist() if v is not None and v not in allowed}
            if bad:
                value = sorted(bad)[0]
                raise _pinpoint(
                    src,
                    header,
                    name,
                    lambda v, _b=bad: v in _b,
                    f"unknown value {value!r} (allowed: {', '.join(col.enum)})",
                    None,
                )


def _first_index(mask: pa.ChunkedArray) -> int | None:
    offset = 0
    for chunk in mask.chunks:
        idx = pc.index(chunk, True).as_py()
        if idx >= 0:
            return offset + idx
        offset += len(chunk)
    return None


def _pinpoint(src, header, column, predicate: Callable[[str], bool], message, row_index) -> CnlabInputError:
    """Find the line whose ``column`` satisfies ``predicate`` (slow re-scan)."""
    try:
        pos = header.names.index(column)
    except ValueError:
        pos = None
    if pos is not None:
        for line, row in _iter_rows(src, header):
            if len(row) > pos and predicate(row[pos]):
                return CnlabInputError(message, path=src.label, line=line, column=column)
    line = None if row_index is None else row_index + (2 if header.has_header else 1)
    return CnlabInputError(message + " (line approximate)", path=src.label, line=line, column=column)


# ---------------------------------------------------------------------------
# slow path: line-by-line scan
# ---------------------------------------------------------------------------
_SURROGATE = re.compile("[\udc80-\udcff]")


def _iter_rows(src: Source, header: Header, check_utf8: Sequence[int] = ()):
    """Yield (line number of the record's first line, fields) for every data record.

    Bytes that are not UTF-8 are kept as surrogate escapes; in the fields at positions
    ``check_utf8`` they raise :class:`CnlabInputError` naming line and column.  A stream whose
    decompression fails raises naming the line where its data ends, once the complete
    records before it have been yielded (the last, possibly cut, record is not).
    """
    raw = _open_salvaged(src)
    text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 16), encoding="utf-8", errors="surrogateescape", newline="")
    checks = [(pos, header.names[pos]) for pos in check_utf8]
    with text:
        reader = csv.reader(text, delimiter="\t", quotechar='"', doublequote=True, strict=False)
        prev = 0
        first = True
        pending = None
        try:
            for row in reader:
                start = prev + 1
                prev = reader.line_num
                if first and header.has_header:
                    first = False
                    continue
                first = False
                if not row:
                    continue
                if pending is not None:
                    yield _checked_utf8(src, pending, checks)
                pending = (start, row)
        except csv.Error as e:
            raise CnlabInputError(f"malformed record ({e})", path=src.label, line=prev + 1) from None
        if raw.error is not None:
            raise _stream_error(src, raw.error, raw.newlines + 1)
        if pending is not None:
            yield _checked_utf8(src, pending, checks)


def _checked_utf8(src: Source, record, checks):
    line, row = record
    for pos, name in checks:
        if pos < len(row) and not row[pos].isascii():
            m = _SURROGATE.search(row[pos])
            if m is not None:
                byte = ord(m.group()) - 0xDC00
                raise CnlabInputError(f"invalid UTF-8 (byte 0x{byte:02x} at character {m.start() + 1})",
                                      path=src.label, line=line, column=name)
    return record


def lines_of_rows(src: Source, header: Header, rows) -> dict[int, int]:
    """Line numbers (1-based, header = 1) of the data records with 0-based indices ``rows``,
    as pyarrow counts records (blank lines skipped, a quoted newline inside a record).
    A slow streaming re-scan that stops at the last index asked for."""
    want = set(int(r) for r in rows)
    out: dict[int, int] = {}
    if not want:
        return out
    last = max(want)
    for k, (line, _row) in enumerate(_iter_rows(src, header)):
        if k in want:
            out[k] = line
        if k >= last:
            break
    return out


def _value_error(col: L.Col, v: str) -> str | None:
    if v in _NULLS:
        return "missing value in a required column" if col.non_null else None
    if col.kind in _INT_RANGE:
        if not _INT_RE.match(v):
            plus = " (a leading '+' is not accepted)" if v.strip()[:1] == "+" else ""
            return f"not an integer: {v!r}{plus}"
        lo, hi = _INT_RANGE[col.kind]
        if not lo <= int(v) <= hi:
            return f"integer out of range: {v!r}"
    elif col.kind == L.FLOAT:
        if not _FLOAT_RE.match(v):
            return f"not a number: {v!r}"
    elif col.kind == L.ENUM and v not in col.enum:
        return f"unknown value {v!r} (allowed: {', '.join(col.enum)})"
    return None


def locate_problem(src: Source, kind: str, header: Header, include: list[str]) -> CnlabInputError | None:
    """Re-scan ``src`` and return an error for the first bad line, or None."""
    layout = L.LAYOUTS[kind]
    n = len(header.names)
    checks = [(header.names.index(c), layout[c]) for c in include]
    for line, row in _iter_rows(src, header, check_utf8=[pos for pos, _c in checks]):
        if len(row) != n:
            return CnlabInputError(
                f"expected {n} tab-separated fields, got {len(row)} (truncated or malformed row)",
                path=src.label,
                line=line,
            )
        for pos, col in checks:
            msg = _value_error(col, row[pos])
            if msg is not None:
                return CnlabInputError(msg, path=src.label, line=line, column=col.name)
    return None


def file_size(path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
