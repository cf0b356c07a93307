"""Byte-level TSV writing of the synthetic generator: vectorised field formatting and streaming sinks.

Rows are built as fixed-width uint8 matrices padded with NUL, then the NULs are dropped, so no
per-row Python runs even for hundreds of millions of ratings; sinks stream plain or gzip files
(mtime 0: the bytes depend on the data only). Also the Arrow helpers that build the truth tables.
Output layout: the public download's files (spec 04 §2).
"""

from __future__ import annotations

import gzip as _gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv


# ---------------------------------------------------------------------------
# Byte formatting (rows are built as fixed-width uint8 matrices padded with NUL,
# then the NULs are dropped — vectorised, no per-row Python)
# ---------------------------------------------------------------------------
_TAB = 9
_NL = 10
_LUT4 = np.frombuffer(
    "".join(f"{i:04d}" for i in range(10_000)).encode(), dtype=np.uint8
).reshape(10_000, 4)
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_POW10 = np.array([10**i for i in range(1, 19)], dtype=np.int64)


def _int_field(x, valid=None) -> np.ndarray:
    """Decimal text of int64 ``x`` as an (n, w) uint8 matrix, right aligned, NUL padded.

    Rows where ``valid`` is False become empty fields.
    """
    x = np.asarray(x, dtype=np.int64)
    n = len(x)
    neg = x < 0
    v = np.abs(x)
    nd = np.searchsorted(_POW10, v, side="right") + 1  # digits
    width = int(nd.max(initial=1)) + int(neg.any())
    groups = -(-width // 4)
    buf = np.empty((n, groups * 4), dtype=np.uint8)
    rem = v.copy()
    for g in range(groups - 1, -1, -1):
        buf[:, g * 4:(g + 1) * 4] = _LUT4[rem % 10_000]
        rem //= 10_000
    buf = buf[:, groups * 4 - width:]
    start = width - nd  # first digit position
    cols = np.arange(width)[None, :]
    buf[cols < start[:, None]] = 0
    if neg.any():
        rows = np.flatnonzero(neg)
        buf[rows, start[rows] - 1] = ord("-")
    if valid is not None:
        buf[~np.asarray(valid, dtype=bool)] = 0
    return buf


def _str_table(values) -> np.ndarray:
    """(len, w) NUL-padded uint8 matrix of UTF-8 strings ("" → empty field)."""
    enc = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
    w = max([len(e) for e in enc] + [1])
    arr = np.array(enc, dtype=f"S{w}")
    return arr.view(np.uint8).reshape(len(enc), w)


def _flag_field(x) -> np.ndarray:
    """0/1 flags as one ASCII digit."""
    return (np.asarray(x, dtype=np.uint8) + 48)[:, None]


def _assemble(parts, n: int, rowlen: bool = False) -> tuple[bytes, np.ndarray | None]:
    """Concatenate fields into TSV rows.

    ``parts`` is a list of ``bytes`` (constant text, e.g. tabs) and (n, w) uint8
    matrices.  Returns the bytes and (if ``rowlen``) the byte length of every row.
    """
    widths = [len(p) if isinstance(p, bytes) else p.shape[1] for p in parts]
    m = np.empty((n, sum(widths)), dtype=np.uint8)  # every byte is written below
    off = 0
    for p, w in zip(parts, widths):
        if isinstance(p, bytes):
            m[:, off:off + w] = np.frombuffer(p, dtype=np.uint8)
        else:
            m[:, off:off + w] = p
        off += w
    mask = m != 0
    lens = mask.sum(axis=1) if rowlen else None
    return m[mask].tobytes(), lens


def _tsv_parts(fields) -> list:
    """Interleave fields with tabs and end with a newline."""
    parts = []
    for i, f in enumerate(fields):
        if i:
            parts.append(b"\t")
        if f is not None and not (isinstance(f, bytes) and f == b""):
            parts.append(f)
    parts.append(b"\n")
    return parts


def _hex_ids(rng, n: int) -> np.ndarray:
    """(n, 64) uint8 upper-case hex participant ids, unique."""
    while True:
        raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
        out = np.empty((n, 64), dtype=np.uint8)
        out[:, 0::2] = _HEX[raw >> 4]
        out[:, 1::2] = _HEX[raw & 15]
        if len(np.unique(out.view("S64").ravel())) == n:
            return out


# ---------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------
class _Sink:
    """A file (plain or gzip) that closes both layers."""

    def __init__(self, path: Path, level: int | None):
        self.path = path
        self._raw = open(path, "wb")
        self._f = (
            self._raw if level is None
            else _gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=level, mtime=0)
        )

    def write(self, b: bytes):
        self._f.write(b)

    def close(self):
        if self._f is not self._raw:
            self._f.close()
        self._raw.close()


class _ShardWriter:
    """Writes rows to ``ratings-00000.tsv`` or to shards of ``shard_size`` rows."""

    def __init__(self, out_dir: Path, stem: str, header: bytes, shard_size, level, suffix):
        self.out_dir, self.stem, self.header = out_dir, stem, header
        self.shard_size, self.level, self.suffix = shard_size, level, suffix
        self.paths: list[Path] = []
        self._sink = None
        self._rows_in_shard = 0

    def _new(self):
        if self._sink is not None:
            self._sink.close()
        p = self.out_dir / f"{self.stem}-{len(self.paths):05d}{self.suffix}"
        self.paths.append(p)
        self._sink = _Sink(p, self.level)
        self._sink.write(self.header)
        self._rows_in_shard = 0

    def write(self, data: bytes, rowlen):
        if self._sink is None:
            self._new()
        if not self.shard_size:
            self._sink.write(data)
            return
        ends = np.cumsum(rowlen)
        i = 0
        while i < len(rowlen):
            if self._rows_in_shard >= self.shard_size:
                self._new()
            take = min(self.shard_size - self._rows_in_shard, len(rowlen) - i)
            b0 = 0 if i == 0 else int(ends[i - 1])
            b1 = int(ends[i + take - 1])
            self._sink.write(data[b0:b1])
            self._rows_in_shard += take
            i += take

    def close(self):
        if self._sink is None:
            self._new()
        self._sink.close()


def _write_whole(path: Path, header: bytes, chunks, level):
    sink = _Sink(path, level)
    sink.write(header)
    for c in chunks:
        sink.write(c)
    sink.close()


def _frame_tsv(table: pa.Table) -> bytes:
    """TSV bytes of a truth table (floats already rounded to 6 decimals, null → empty)."""
    buf = io.BytesIO()
    buf.write(_header(table.column_names))
    pacsv.write_csv(table, buf, pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False))
    return buf.getvalue()


def _header(columns) -> bytes:
    return ("\t".join(columns) + "\n").encode()


def _write_table(path: Path, columns, rows: np.ndarray, fields, level, step: int = 100_000):
    """Write ``rows`` in slices of ``step``; ``fields(ix)`` returns the field list of a slice."""
    sink = _Sink(path, level)
    sink.write(_header(columns))
    for s in range(0, len(rows), step):
        ix = rows[s:s + step]
        f = fields(ix)
        assert len(f) == len(columns)
        data, _ = _assemble(_tsv_parts(f), len(ix))
        sink.write(data)
    sink.close()


# ---------------------------------------------------------------------------
# Arrow tables (truth files)
# ---------------------------------------------------------------------------
def _categorical(codes, names) -> pa.Array:
    """Plain string array ``names[codes]`` built without Python string objects per row."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int32)),
                                          pa.array(list(names), pa.string())).cast(pa.string())


def _hex_column(pid_hex: np.ndarray, idx: np.ndarray) -> pa.Array:
    """The 64-hex ids of participants ``idx`` as an Arrow string array (no Python strings)."""
    data = np.ascontiguousarray(pid_hex[idx]).ravel()
    offsets = np.arange(0, 64 * (len(idx) + 1), 64, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), len(idx), [None, pa.py_buffer(offsets),
                                                                pa.py_buffer(data)]).cast(pa.string())


def _table(columns: dict) -> pa.Table:
    cols = {}
    for name, v in columns.items():
        if isinstance(v, pa.Array):
            cols[name] = v
        elif isinstance(v, pd.api.extensions.ExtensionArray):
            cols[name] = pa.array(v, from_pandas=True)
        else:
            v = np.asarray(v)
            cols[name] = pa.array(np.round(v, 6) if v.dtype.kind == "f" else v)
    return pa.table(cols)
