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
from cnlab.errors import CnlabInputError

from . import _layouts as L
from ._tsv import (
    Header,
    ReportBuilder,
    Source,
    _first_index,
    file_size,
    lines_of_rows,
    read_arrow,
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
    table = read_arrow(src, kind, header, include, newlines_in_values=(kind == "notes"))
    table = table.unify_dictionaries()
    n = table.num_rows
    if n == 0:
        report.warn(f"{src.label}: header only, no data rows")

    data: dict[str, object] = {}
    vocab = pa.array([], pa.string())
    tag_bits = {}
    notes = _Anomalies(src, header, report)
    if kind == "ratings":
        for bits_name, tags in ((S.HELPFUL_TAG_BITS, S.HELPFUL_TAGS), (S.NOT_HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAGS)):
            bits = np.zeros(n, dtype=np.uint16)
            for k, tag in enumerate(tags):
                if tag in include:
                    notes.nulls(tag, table.column(tag), "empty_tag_cells")
                    vals = pc.fill_null(table.column(tag), 0).to_numpy()
                    bits |= (vals > 0).astype(np.uint16) << np.uint16(k)
                    table = table.drop_columns([tag])
            tag_bits[bits_name] = bits

    for name in wanted:
        col = layout[name]
        if col.kind == L.TAG or (kind == "ratings" and name in L.RATINGS_DROPPED):
            continue
        if name not in include:
            data[name] = _fill(col, n, kind) if col.kind != L.PID else np.full(n, -1, np.int32)
            continue
        arr = table.column(name)
        if col.kind == L.PID:
            codes, vocab = _pid_codes(arr)
            data[name] = codes
            notes.participant_ids(name, codes, vocab)
        else:
            if col.kind in (L.INT64, L.INT8):
                notes.nulls(name, arr, "missing_integer_values")
            elif col.kind == L.FLOAT:
                notes.infinite(name, arr)
            data[name] = _convert(name, col, arr, kind)
        table = table.drop_columns([name])
        if kind == "ratings" and name == S.HELPFULNESS_LEVEL:
            data.update(tag_bits)
    if kind == "ratings" and S.HELPFUL_TAG_BITS not in data:
        data.update(tag_bits)

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

    def __init__(self, src: Source, header: Header, report: ReportBuilder):
        self.src, self.header, self.report = src, header, report
        self.found: list[tuple[str, str, int, int, str]] = []  # (count key, column, n, first row, what)

    def _first(self, mask: pa.ChunkedArray | np.ndarray) -> int:
        if isinstance(mask, np.ndarray):
            return int(np.argmax(mask))
        i = _first_index(mask)
        return 0 if i is None else i

    def nulls(self, name: str, arr: pa.ChunkedArray, key: str) -> None:
        if arr.null_count:
            what = ("empty tag cell(s) read as 0 (tag not given)" if key == "empty_tag_cells"
                    else "missing value(s) kept as <NA>")
            self.found.append((key, name, arr.null_count, self._first(pc.is_null(arr)), what))

    def infinite(self, name: str, arr: pa.ChunkedArray) -> None:
        mask = pc.fill_null(pc.is_inf(arr), False)
        n = pc.sum(mask).as_py() or 0
        if n:
            self.found.append(("infinite_values", name, n, self._first(mask), "infinite value(s) kept as ±inf"))

    def participant_ids(self, name: str, codes: np.ndarray, vocab: pa.Array) -> None:
        if not len(vocab):
            return
        odd = np.flatnonzero(~pc.match_substring_regex(vocab, PUBLIC_ID_PATTERN).to_numpy(zero_copy_only=False))
        if not len(odd):
            return
        mask = np.isin(codes, odd)
        first = self._first(mask)
        value = vocab[int(codes[first])].as_py()
        self.found.append(("nonstandard_participant_ids", name, int(mask.sum()), first,
                           f"id(s) that are not 64 hexadecimal characters (kept as opaque strings; "
                           f"{len(odd)} distinct; first {value!r})"))

    def report_all(self) -> None:
        if not self.found:
            return
        lines = lines_of_rows(self.src, self.header, {f[3] for f in self.found})
        for key, name, n, first, what in self.found:
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
    """Concatenate parts of one kind, re-coding participant ids to a joint vocab."""
    if len(parts) == 1:
        return parts[0]
    kind = parts[0].kind
    pid_col = L.PID_COLUMN[kind]
    vocab = pc.unique(pa.concat_arrays([p.vocab for p in parts]))
    frames = []
    for p in parts:
        lut = pc.index_in(p.vocab, value_set=vocab).to_numpy(zero_copy_only=False).astype(np.int32)
        f = p.frame
        codes = f[pid_col].to_numpy()
        f = f.assign(**{pid_col: np.where(codes >= 0, lut[np.maximum(codes, 0)] if len(lut) else -1, -1).astype(np.int32)})
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    origin = tuple(o for p in parts for o in p.origin)
    # concat of categoricals with identical categories stays categorical; open-set ones may not
    for name, col in L.LAYOUTS[kind].items():
        if name in frame.columns and col.kind == L.CAT and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype("category")
    return Part(kind, frame, vocab, origin)


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
    pa.default_memory_pool().release_unused()
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
