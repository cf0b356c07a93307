"""Per-file readers: arrow tables -> compact pandas frames.

Internally each file becomes a :class:`Part`: a frame whose participant-id
column holds *local* ``int32`` codes into ``vocab`` (the distinct id strings of
that file).  :func:`cnlab.io.load` unions the vocabularies of all four files and
re-codes jointly (spec 04 §3); the public ``read_*`` functions decode the
codes back into strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cnlab import schema as S
from cnlab._memory import release_freed_memory
from cnlab.errors import CnlabInputError

from . import _layouts as L
from . import _tsv
from ._tsv import (
    Header,
    ReportBuilder,
    Source,
    _first_index,
    file_size,
    lines_of_rows,
    read_arrow_pieces,
    resolve_header,
    sniff_sources,
)

#: official behaviour for 23-column (legacy) note status history files: the
#: fallback reader also nulls ``timestampMillisOfFirstNmrDueToMinStableCrhTime``
#: even though the legacy file has it (spec 04 §2.5, parity pitfall 8).
OFFICIAL_LEGACY_NSH = True

_NULLABLE_SMALL = ("helpful", "notHelpful", "version", "agree", "disagree")

#: a participant id of the public data: 64 hexadecimal characters
PUBLIC_ID_PATTERN = "^[0-9A-Fa-f]{64}$"


@dataclass
class Part:
    """One file kind, read: frame with local pid codes + the vocabulary.

    ``origin`` lists the sources the rows came from, in order, as (source, header, rows), so
    that a row can be traced back to its file and line (:func:`row_lines`).
    """

    kind: str
    frame: pd.DataFrame
    vocab: pa.Array  # distinct participant id strings; local code = position
    origin: tuple = ()


def row_lines(part: Part, rows) -> dict[int, tuple[str, int | None]]:
    """(file label, line) of rows of ``part`` (0-based positions in its frame); re-scans the files."""
    out: dict[int, tuple[str, int | None]] = {}
    start = 0
    for src, header, n in part.origin:
        local = {int(r) - start: int(r) for r in rows if start <= int(r) < start + n}
        lines = lines_of_rows(src, header, local) if local else {}
        for k, r in local.items():
            out[r] = (src.label, lines.get(k))
        start += n
    return out


# ---------------------------------------------------------------------------
# column conversion
# ---------------------------------------------------------------------------
def _int_array(arr: pa.ChunkedArray, np_dtype, nullable_dtype, *, force_nullable=False):
    if arr.null_count == 0 and not force_nullable:
        return arr.to_numpy().astype(np_dtype, copy=False)
    values = pc.fill_null(arr, 0).to_numpy().astype(np_dtype, copy=False)
    mask = pc.is_null(arr).to_numpy(zero_copy_only=False).astype(bool, copy=False)
    return pd.arrays.IntegerArray(values, mask)


def _enum_codes(arr: pa.ChunkedArray, categories: Sequence[str]) -> pd.Categorical:
    """Dictionary column -> categorical with fixed ``categories`` (int8 codes)."""
    cats = pa.array(list(categories), pa.string())
    out = np.empty(len(arr), dtype=np.int8)
    pos = 0
    for chunk in arr.chunks:
        n = len(chunk)
        lut = pc.index_in(chunk.dictionary, value_set=cats).to_numpy(zero_copy_only=False)
        lut = np.nan_to_num(lut.astype(np.float64), nan=-1).astype(np.int8)
        idx = pc.fill_null(chunk.indices, -1).to_numpy()
        res = np.full(n, -1, dtype=np.int8)
        ok = idx >= 0
        res[ok] = lut[idx[ok]] if len(lut) else -1
        out[pos : pos + n] = res
        pos += n
    return pd.Categorical.from_codes(out, categories=list(categories))


def _pid_codes(arr: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Unified dictionary column -> (int32 local codes, -1 for missing; vocab)."""
    if arr.num_chunks == 0:
        return np.empty(0, dtype=np.int32), pa.array([], pa.string())
    vocab = arr.chunks[0].dictionary
    codes = np.empty(len(arr), dtype=np.int32)
    pos = 0
    for chunk in arr.chunks:
        n = len(chunk)
        codes[pos : pos + n] = pc.fill_null(chunk.indices, -1).to_numpy()
        pos += n
    return codes, vocab


def _convert(name: str, col: L.Col, arr: pa.ChunkedArray, kind: str):
    if col.kind == L.INT64:
        return _int_array(arr, np.int64, "Int64")
    if col.kind == L.INT8:
        compact = kind == "ratings" and name in _NULLABLE_SMALL
        return _int_array(arr, np.int8, "Int8", force_nullable=not compact)
    if col.kind == L.FLOAT:
        return arr.to_numpy().astype(np.float64, copy=False) if arr.null_count == 0 else pc.fill_null(
            pc.cast(arr, pa.float64()), float("nan")
        ).to_numpy()
    if col.kind == L.ENUM:
        return _enum_codes(arr, col.enum)
    if col.kind == L.CAT:
        values = pc.cast(arr, pa.string()) if pa.types.is_dictionary(arr.type) else arr
        ser = pd.Series(values.to_pandas(), dtype="str")
        return pd.Categorical(ser, categories=sorted(ser.dropna().unique()))
    if col.kind == L.STR:
        return pd.Series(arr.to_pandas(), dtype="str").array
    raise AssertionError(col.kind)


def _piece_columns(table: pa.Table, kind: str, wanted: list[str], include: list[str], notes: "_Anomalies",
                   *, offset: int) -> tuple[dict[str, object], pa.Array | None]:
    """One parsed piece (rows ``offset`` on of its source) -> its columns, converted (participant
    ids as codes into the piece's own vocabulary, returned beside)."""
    layout = L.LAYOUTS[kind]
    table = table.unify_dictionaries()
    n = table.num_rows
    data: dict[str, object] = {}
    vocab = None
    if kind == "ratings":
        for bits_name, tags in ((S.HELPFUL_TAG_BITS, S.HELPFUL_TAGS), (S.NOT_HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAGS)):
            bits = np.zeros(n, dtype=np.uint16)
            for k, tag in enumerate(tags):
                if tag in include:
                    notes.nulls(tag, table.column(tag), "empty_tag_cells", offset)
                    vals = pc.fill_null(table.column(tag), 0).to_numpy()
                    bits |= (vals > 0).astype(np.uint16) << np.uint16(k)
                    table = table.drop_columns([tag])
            data[bits_name] = bits
    for name in wanted:
        col = layout[name]
        if name not in include or col.kind == L.TAG or (kind == "ratings" and name in L.RATINGS_DROPPED):
            continue
        arr = table.column(name)
        if col.kind == L.PID:
            data[name], vocab = _pid_codes(arr)
        else:
            if col.kind in (L.INT64, L.INT8):
                notes.nulls(name, arr, "missing_integer_values", offset)
            elif col.kind == L.FLOAT:
                notes.infinite(name, arr, offset)
            data[name] = _convert(name, col, arr, kind)
        table = table.drop_columns([name])
    return data, vocab


def _joined_codes(codes: np.ndarray, piece_vocab: pa.Array, vocab: pa.Array | None) -> tuple[np.ndarray, pa.Array]:
    """A piece's participant codes re-coded into the source's vocabulary so far, which grows by the
    piece's new ids (in the order the piece has them)."""
    if vocab is None:
        return codes, piece_vocab
    pos = pc.index_in(piece_vocab, value_set=vocab)
    new = pc.is_null(pos).to_numpy(zero_copy_only=False)
    lut = pc.fill_null(pos, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    if new.any():
        lut[new] = len(vocab) + np.arange(int(new.sum()), dtype=np.int32)
        vocab = pa.concat_arrays([vocab, piece_vocab.filter(pa.array(new))])
    if len(lut):
        codes = np.where(codes >= 0, lut[np.maximum(codes, 0)], np.int32(-1)).astype(np.int32, copy=False)
    return codes, vocab


def _joined(pieces: list):
    """Consecutive pieces of one column -> one array of the same kind (the list is emptied)."""
    if len(pieces) == 1:
        return pieces.pop()
    masked = [p for p in pieces if isinstance(p, pd.arrays.IntegerArray)]
    if masked:  # a column with a missing value in some piece is nullable as a whole
        dtype = masked[0].dtype.numpy_dtype
        pieces[:] = [p if isinstance(p, pd.arrays.IntegerArray)
                     else pd.arrays.IntegerArray(p.astype(dtype, copy=False), np.zeros(len(p), bool)) for p in pieces]
    first = pieces[0]
    if isinstance(first, np.ndarray):
        out = np.concatenate(pieces)
    elif isinstance(first, pd.Categorical):
        if all(p.categories.equals(first.categories) for p in pieces):
            out = pd.Categorical.from_codes(np.concatenate([p.codes for p in pieces]), dtype=first.dtype)
        else:  # an open set (read as the sorted values it has): the union, sorted as a whole read
            union = sorted(set().union(*(p.categories for p in pieces)))
            codes = [p.set_categories(union).codes for p in pieces]
            out = pd.Categorical.from_codes(np.concatenate(codes), categories=union)
    else:
        out = type(first)._concat_same_type(pieces)
    pieces.clear()
    return out


def _fill(col: L.Col, n: int, kind: str):
    """Array for an absent optional column (see the table in :mod:`cnlab.io`)."""
    if col.kind == L.INT64:
        if col.fill is None:
            return pd.array([pd.NA] * n, dtype="Int64")
        return np.full(n, col.fill, dtype=np.int64)
    if col.kind == L.INT8:
        if col.fill is None:
            return pd.arrays.IntegerArray(np.zeros(n, np.int8), np.ones(n, bool))
        if kind == "ratings":
            return np.full(n, col.fill, dtype=np.int8)
        return pd.arrays.IntegerArray(np.full(n, col.fill, np.int8), np.zeros(n, bool))
    if col.kind == L.FLOAT:
        return np.full(n, np.nan)
    if col.kind == L.ENUM:
        codes = np.full(n, -1 if col.fill is None else col.enum.index(col.fill), dtype=np.int8)
        return pd.Categorical.from_codes(codes, categories=list(col.enum))
    if col.kind == L.CAT:
        return pd.Categorical([np.nan] * n)
    return pd.array([np.nan] * n, dtype="str")


# ---------------------------------------------------------------------------
# one source -> Part
# ---------------------------------------------------------------------------
def _wanted(kind: str, columns: Iterable[str] | None) -> list[str]:
    layout = L.LAYOUTS[kind]
    if kind != "ratings":
        return list(layout)
    extra: list[str] = []
    if columns == "all":
        extra = list(L.RATINGS_OPTIONAL)
    elif columns is not None:
        for c in columns:
            if c in L.RATINGS_DEFAULT:
                continue
            if c not in L.RATINGS_OPTIONAL:
                raise ValueError(
                    f"columns: {c!r} is not an optional rating column "
                    f"(choose from {', '.join(L.RATINGS_OPTIONAL)})"
                )
            extra.append(c)
    return list(L.RATINGS_DEFAULT) + extra


def read_source(
    src: Source,
    kind: str,
    report: ReportBuilder,
    *,
    columns=None,
    legacy_nsh_official: bool = OFFICIAL_LEGACY_NSH,
) -> Part:
    """Read one source of ``kind`` into a :class:`Part` (local pid codes)."""
    t0 = time.perf_counter()
    layout = L.LAYOUTS[kind]
    header = resolve_header(src, kind, report)
    if header is None:
        raise CnlabInputError("empty file (no header row)", path=src.label)
    names = header.names
    unknown = [c for c in names if c not in layout]
    if unknown:
        report.warn(
            f"{src.label}: ignored {len(unknown)} unknown column(s): {', '.join(unknown[:8])}"
            + (" ..." if len(unknown) > 8 else "")
        )
    for c in layout.values():
        if c.required and c.name not in names:
            raise CnlabInputError(f"required {kind} column is missing from the header", path=src.label, line=1, column=c.name)
    wanted = _wanted(kind, columns)
    include = [c for c in wanted if c in names]
    absent = [c for c in wanted if c not in names and not (kind == "ratings" and c in L.RATINGS_DROPPED)]
    if absent:
        report.recover(src.label, f"absent optional column(s) filled: {', '.join(absent)}")
    tags_first = [t for t in (*S.HELPFUL_TAGS, *S.NOT_HELPFUL_TAGS) if t in include] if kind == "ratings" else []
    notes = _Anomalies(src, header, report, order=tags_first + [c for c in wanted if c not in tags_first])
    chunks: dict[str, list] = {}
    vocab = None
    n = 0
    for table in read_arrow_pieces(src, kind, header, include, newlines_in_values=(kind == "notes"),
                                   piece_bytes=_tsv.PIECE_BYTES):
        piece, piece_vocab = _piece_columns(table, kind, wanted, include, notes, offset=n)
        n += table.num_rows
        del table
        pid = L.PID_COLUMN[kind]
        if pid in include:
            piece[pid], vocab = _joined_codes(piece[pid], piece_vocab, vocab)
        for name, values in piece.items():
            chunks.setdefault(name, []).append(values)
        del piece
        release_freed_memory()  # the piece's parsed table and temporaries
    if vocab is None:
        vocab = pa.array([], pa.string())
    if n == 0:
        report.warn(f"{src.label}: header only, no data rows")
    data: dict[str, object] = {}
    for name in wanted + ([S.HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAG_BITS] if kind == "ratings" else []):
        if name in chunks:  # one column's pieces joined at a time, then let go
            data[name] = _joined(chunks.pop(name))
        elif name in (S.HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAG_BITS):
            data[name] = np.zeros(n, dtype=np.uint16)
        elif not (layout[name].kind == L.TAG or (kind == "ratings" and name in L.RATINGS_DROPPED)):
            data[name] = _fill(layout[name], n, kind) if layout[name].kind != L.PID else np.full(n, -1, np.int32)
        release_freed_memory()
    if L.PID_COLUMN[kind] in include:
        notes.participant_ids(L.PID_COLUMN[kind], data[L.PID_COLUMN[kind]], vocab)

    if kind == "status_history" and "abovePcrhThresholdTime" not in names:
        if legacy_nsh_official:
            data["timestampMillisOfFirstNmrDueToMinStableCrhTime"] = np.full(n, np.nan)
            report.recover(
                src.label,
                "legacy 23-column note status history: abovePcrhThresholdTime and (official quirk) "
                "timestampMillisOfFirstNmrDueToMinStableCrhTime set to NaN",
            )
        else:
            report.recover(src.label, "legacy 23-column note status history: abovePcrhThresholdTime set to NaN")

    notes.report_all()
    frame = pd.DataFrame(data, copy=False)
    if kind == "ratings":
        order = [c for c in _ratings_order(wanted) if c in frame.columns]
        frame = frame[order]
    report.files.append(
        dict(
            kind=kind,
            path=src.label,
            rows=n,
            bytes=file_size(src.path) if src.member is None else None,
            compression=src.compression,
            seconds=round(time.perf_counter() - t0, 3),
        )
    )
    return Part(kind, frame, vocab, ((src, header, n),))


class _Anomalies:
    """Values of one source that load, but not as the public data has them: each becomes one
    warning naming the column, the count and the line of the first (one re-scan of the file for
    all of them, up to the last first line, and only when there is something to report), and
    a named count in the report."""

    def __init__(self, src: Source, header: Header, report: ReportBuilder, order: Sequence[str] = ()):
        self.src, self.header, self.report = src, header, report
        # (count key, column) -> [n, first row, what], summed over the pieces of the source;
        # reported in the order the columns are read (``order``)
        self.found: dict[tuple[str, str], list] = {}
        self.order = {name: i for i, name in enumerate(order)}

    def _first(self, mask: pa.ChunkedArray | np.ndarray) -> int:
        if isinstance(mask, np.ndarray):
            return int(np.argmax(mask))
        i = _first_index(mask)
        return 0 if i is None else i

    def _add(self, key: str, name: str, n: int, first: int, what: str) -> None:
        seen = self.found.get((key, name))
        if seen is None:
            self.found[(key, name)] = [n, first, what]
        else:  # a later piece: its first row comes after the earlier piece's
            seen[0] += n

    def nulls(self, name: str, arr: pa.ChunkedArray, key: str, offset: int = 0) -> None:
        if arr.null_count:
            what = ("empty tag cell(s) read as 0 (tag not given)" if key == "empty_tag_cells"
                    else "missing value(s) kept as <NA>")
            self._add(key, name, arr.null_count, offset + self._first(pc.is_null(arr)), what)

    def infinite(self, name: str, arr: pa.ChunkedArray, offset: int = 0) -> None:
        mask = pc.fill_null(pc.is_inf(arr), False)
        n = pc.sum(mask).as_py() or 0
        if n:
            self._add("infinite_values", name, n, offset + self._first(mask), "infinite value(s) kept as ±inf")

    def participant_ids(self, name: str, codes: np.ndarray, vocab: pa.Array) -> None:
        if not len(vocab):
            return
        odd = np.flatnonzero(~pc.match_substring_regex(vocab, PUBLIC_ID_PATTERN).to_numpy(zero_copy_only=False))
        if not len(odd):
            return
        mask = np.isin(codes, odd)
        first = self._first(mask)
        value = vocab[int(codes[first])].as_py()
        self._add("nonstandard_participant_ids", name, int(mask.sum()), first,
                  f"id(s) that are not 64 hexadecimal characters (kept as opaque strings; "
                  f"{len(odd)} distinct; first {value!r})")

    def report_all(self) -> None:
        if not self.found:
            return
        items = sorted(self.found.items(), key=lambda kv: self.order.get(kv[0][1], len(self.order)))
        lines = lines_of_rows(self.src, self.header, {first for (_k, _c), (_n, first, _w) in items})
        for (key, name), (n, first, what) in items:
            self.report.warn(f"{self.src.label}: column {name!r} has {n} {what}, first in line {lines.get(first)}")
            self.report.count(key, n)


def _ratings_order(wanted: list[str]) -> list[str]:
    out = []
    for c in wanted:
        if c in S.ALL_TAGS:
            continue
        out.append(c)
        if c == S.HELPFULNESS_LEVEL:
            out += [S.HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAG_BITS]
    return out


def merge_parts(parts: list[Part]) -> Part:
    """Concatenate parts of one kind, re-coding participant ids to a joint vocab.

    Column by column, each part's column let go once joined: the parts and the result are not
    held whole side by side (206M ratings in 20 files: ~6 GiB each).
    """
    if len(parts) == 1:
        return parts[0]
    kind = parts[0].kind
    pid_col = L.PID_COLUMN[kind]
    vocab = pc.unique(pa.concat_arrays([p.vocab for p in parts]))
    luts = [pc.index_in(p.vocab, value_set=vocab).to_numpy(zero_copy_only=False).astype(np.int32) for p in parts]
    columns = list(parts[0].frame.columns)
    data: dict[str, object] = {}
    for name in columns:
        pieces = []
        for p, lut in zip(parts, luts):
            values = _values(p.frame[name])
            if name == pid_col:
                values = np.where(values >= 0, lut[np.maximum(values, 0)] if len(lut) else -1, -1).astype(np.int32)
            pieces.append(values)
            p.frame = p.frame.drop(columns=[name])
        data[name] = _joined(pieces)
    frame = pd.DataFrame(data, copy=False)
    origin = tuple(o for p in parts for o in p.origin)
    return Part(kind, frame, vocab, origin)


def _values(column: pd.Series):
    """A column's array: numpy for numpy dtypes, else pandas' own array (categorical, nullable)."""
    return column.array if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) else column.to_numpy()


def check_duplicate_notes(part: Part, report: ReportBuilder) -> None:
    """Repeated ``noteId`` in the notes file(s).

    Rows identical in every column are kept and counted (``duplicate_note_rows``): preprocessing
    drops them, as the official ``remove_duplicate_notes`` does.  Two *different* rows of one
    note (another author, time, text ...) raise, naming both lines and the first column where
    they differ: the official scorer aborts on them too (spec 04 §4.5), after the whole load.
    """
    f = part.frame
    if not f[S.NOTE_ID].duplicated().any():
        return
    exact = f.duplicated(keep="first").to_numpy()
    rest = f.loc[~exact]
    conflict = rest[S.NOTE_ID].duplicated(keep=False).to_numpy()
    if conflict.any():
        note_id = int(rest[S.NOTE_ID].to_numpy()[conflict][0])
        i, j = (int(k) for k in rest.index[(rest[S.NOTE_ID] == note_id).to_numpy()][:2])
        column = next(c for c in f.columns if not _same(f.at[i, c], f.at[j, c]))

        def shown(k):
            v = f.at[k, column]
            return part.vocab[int(v)].as_py() if column == S.AUTHOR_ID and v >= 0 else v

        where = row_lines(part, [i, j])
        (p1, l1), (p2, l2) = where[i], where[j]
        first = f"line {l1}" if p1 == p2 else f"file {p1}, line {l1}"
        raise CnlabInputError(
            f"noteId {note_id} is repeated with a different {column} ({shown(j)!r} here, {shown(i)!r} in {first}); "
            "two different rows of one note are ambiguous (the official scorer aborts on them)",
            path=p2, line=l2, column=column)
    n = int(exact.sum())
    report.warn(f"notes: {n} row(s) repeat an earlier row exactly (kept; preprocessing drops them, as officially)")
    report.count("duplicate_note_rows", n)


def _same(a, b) -> bool:
    na, nb = pd.isna(a), pd.isna(b)
    return bool(na and nb) if (na or nb) else bool(a == b)


# ---------------------------------------------------------------------------
# path resolution
# ---------------------------------------------------------------------------
_RATING_SUFFIXES = (".tsv", ".tsv.gz", ".gz", ".zip", ".tsv.zip", ".txt")


def expand_paths(path, kind: str) -> list[Path]:
    """A file, a list of files, or (ratings) a directory of shards -> file list."""
    if isinstance(path, (list, tuple)):
        out: list[Path] = []
        for p in path:
            out += expand_paths(p, kind)
        return out
    p = Path(path)
    if p.is_dir():
        files = sorted(
            f for f in p.iterdir() if f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(_RATING_SUFFIXES)
        )
        if not files:
            raise CnlabInputError(f"directory holds no .tsv/.tsv.gz/.zip {kind} files", path=p)
        return files
    if not p.exists():
        raise CnlabInputError(f"{kind} file not found", path=p)
    return [p]


def read_parts(path, kind: str, report: ReportBuilder, *, columns=None, progress=False, legacy_nsh_official=OFFICIAL_LEGACY_NSH) -> Part:
    files = expand_paths(path, kind)
    sources: list[Source] = []
    for f in files:
        sources += sniff_sources(f, report, kind)
    it = sources
    if progress and len(sources) > 1:
        from tqdm.auto import tqdm

        it = tqdm(sources, desc=f"reading {kind}", unit="file")
    parts = [read_source(s, kind, report, columns=columns, legacy_nsh_official=legacy_nsh_official) for s in it]
    merged = merge_parts(parts)
    # the arrow tables are gone; hand their buffers back to the OS rather than
    # keeping them in the allocator's cache (visible as resident memory)
    release_freed_memory()
    return merged


def decode_part(part: Part) -> pd.DataFrame:
    """Frame with the participant-id column as strings (missing -> NaN)."""
    pid_col = L.PID_COLUMN[part.kind]
    f = part.frame
    codes = f[pid_col].to_numpy()
    strings = pa.array(part.vocab, pa.string()).take(pa.array(codes, mask=codes < 0)) if len(codes) else pa.array([], pa.string())
    return f.assign(**{pid_col: pd.Series(strings.to_pandas(), dtype="str", index=f.index)})


# ---------------------------------------------------------------------------
# public per-file readers
# ---------------------------------------------------------------------------
def _public(kind, path, columns=None, **kw) -> pd.DataFrame:
    report = ReportBuilder()
    part = read_parts(path, kind, report, columns=columns, **kw)
    df = decode_part(part)
    df.attrs["cnlab_report"] = {"warnings": list(report.warnings), "recoveries": list(report.recoveries),
                                "counts": dict(report.counts)}
    return df


def read_notes(path) -> pd.DataFrame:
    """Read a notes file (spec 04 §2.3); ``noteAuthorParticipantId`` as strings."""
    return _public("notes", path)


def read_ratings(path, *, columns=None, progress: bool = False) -> pd.DataFrame:
    """Read ratings from a file, a list of shards or a directory (spec 04 §2.4).

    Tags come bit-packed (``helpfulTagBits``/``notHelpfulTagBits``);
    ``raterParticipantId`` as strings.  ``columns`` adds optional columns.
    """
    return _public("ratings", path, columns=columns, progress=progress)


def read_status_history(path, *, legacy_nsh_official: bool = OFFICIAL_LEGACY_NSH) -> pd.DataFrame:
    """Read a note status history file, 24 or 23 (legacy) columns (spec 04 §2.5)."""
    return _public("status_history", path, legacy_nsh_official=legacy_nsh_official)


def read_enrollment(path) -> pd.DataFrame:
    """Read a user enrollment file (spec 04 §2.6); ``participantId`` as strings."""
    return _public("enrollment", path)
