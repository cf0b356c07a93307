"""A parsed copy of a dataset on disk, read instead of the TSVs: ``cnlab.load(..., cache=DIR)``.

The first load parses the TSVs and writes the compact :class:`~cnlab.io.Dataset` (its four
frames with their dtypes: categoricals with ``int8`` codes, ``int32`` participant codes, the
packed tag bits, nullable integers; the participants table; the load report) to ``DIR``; a later
load of the same inputs with the same options reads that instead.

Format
------
One Arrow IPC file (Feather v2) per table, **uncompressed**, so that it is memory-mapped and
read without a decoding pass: a column is its bytes on disk, and reading one is a copy into
pandas, not a parse.  Parquet was the other candidate; it is smaller on disk, but every read
decodes and decompresses each column (CPU time and a transient copy), which is what a cache is
meant to save, and its dictionary encoding is a storage detail rather than the categorical dtype
itself.  Column dtypes come back through the pandas metadata Arrow stores with each table (plain
JSON naming the dtypes).

Safety
------
Nothing is unpickled or evaluated: the manifest is JSON; the Arrow schema of every table is
checked against an allow-list (integers, floats, booleans, strings, dictionaries of strings,
no extension types: pyarrow's pickled ``PyExtensionType``, CVE-2023-47248, can never be reached)
before any data is read; and a data file is only read when its size and SHA-256 equal what the
manifest recorded when it was written, so a truncated or damaged file is detected and the
cache rebuilt, with a warning, never read as data.

Manifest and key
----------------
``DIR/cnlab-cache.json`` holds the cache format version (:data:`CACHE_FORMAT_VERSION`), the
*key* of what was cached, the data folder's name and each data file's size and SHA-256, and the
load report.  The key is: the cache format version; a digest of the loader's own source
(``cnlab/io`` and ``cnlab/schema.py``, so a changed loader never reads an old cache); the pandas
and pyarrow versions; the load options (``columns``, ``legacy_nsh_official``); and for every
input file its absolute path, size, modification time (ns) and SHA-256 of its first and last MiB
(``cache_hash="edges"``, the default: a file edited in the middle without a change of size or
mtime is not noticed) or of every byte (``cache_hash="full"``, reads each input once).  Any
difference rebuilds the cache (``Dataset.report.cache`` says why).  Warnings that depend on the
wall clock (timestamps in the future) are recomputed on every load.

Writes are atomic: the tables go into a fresh temporary folder inside ``DIR``, which is renamed
to ``data-<key>-<random>`` when complete; the manifest is then replaced in one ``os.replace``
and older data folders are removed.  A reader therefore sees the old complete cache or the new
complete one; a run killed while writing leaves at most a ``.tmp-*`` folder, removed by the next
write.  A cache that cannot be written (read-only, disk full) leaves the load intact and is
reported (a warning).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa

from ._tsv import ReportBuilder
from ._fs import fsync_dir

#: bump when what the cache holds or how it is laid out changes (older caches are rebuilt)
CACHE_FORMAT_VERSION = 1
#: the manifest's file name inside the cache folder
MANIFEST = "cnlab-cache.json"
#: bytes hashed at each end of an input file for the default (``"edges"``) key
EDGE_BYTES = 1 << 20
#: the tables of a cached dataset (one ``<name>.arrow`` each)
TABLES = ("notes", "ratings", "status_history", "enrollment", "participants")
HASH_MODES = ("edges", "full")

_DATA_NAME = re.compile(r"^data-[0-9a-f]{16}-[0-9a-f]{12}$")
_CHUNK = 1 << 20
#: modules whose source is part of the key (their behaviour is what the cache holds)
_LOADER_SOURCES = ("_layouts.py", "_tsv.py", "readers.py", "dataset.py", "cache.py")


# ---------------------------------------------------------------------------
# the key
# ---------------------------------------------------------------------------
def _sha256_file(path: Path, *, edges: bool) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if edges and size > 2 * EDGE_BYTES:
            h.update(fh.read(EDGE_BYTES))
            fh.seek(size - EDGE_BYTES)
            h.update(fh.read(EDGE_BYTES))
        else:  # the whole file, streamed
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
    return h.hexdigest()


def _fingerprint(path: Path, hash_mode: str) -> dict:
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": _sha256_file(p, edges=hash_mode == "edges")}


def loader_digest() -> str:
    """SHA-256 of the loader's source (``cnlab/io`` modules and ``cnlab/schema.py``)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in [here / n for n in _LOADER_SOURCES] + [here.parent / "schema.py"]:
        h.update(p.name.encode() + b"\0")
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()


def input_key(files: dict[str, list[Path]], options: dict, hash_mode: str = "edges") -> dict:
    """The key of a load: what must be equal for a cache to be used (see the module docstring)."""
    if hash_mode not in HASH_MODES:
        raise ValueError(f"cache_hash must be one of {', '.join(HASH_MODES)}, not {hash_mode!r}")
    return {
        "format": CACHE_FORMAT_VERSION,
        "loader": loader_digest(),
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "options": options,
        "hash": hash_mode,
        "inputs": {kind: [_fingerprint(f, hash_mode) for f in paths] for kind, paths in files.items()},
    }


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _key_change(old: dict, new: dict) -> str | None:
    """Why ``old`` does not match ``new`` (None when it does), in words."""
    if old == new:
        return None
    if old.get("format") != new["format"]:
        return f"cache format {old.get('format')} (this cnlab reads {new['format']})"
    if old.get("loader") != new["loader"]:
        return "the loader's code changed"
    for lib in ("pandas", "pyarrow"):
        if old.get(lib) != new[lib]:
            return f"{lib} {old.get(lib)} -> {new[lib]}"
    if old.get("options") != new["options"] or old.get("hash") != new["hash"]:
        return "other load options"
    before, after = old.get("inputs", {}), new["inputs"]
    for kind, files in after.items():
        prev = {f["path"]: f for f in before.get(kind, [])}
        if set(prev) != {f["path"] for f in files}:
            return f"other {kind} files"
        for f in files:
            what = [k for k in ("bytes", "mtime_ns", "sha256") if prev[f["path"]].get(k) != f[k]]
            if what:
                return f"inputs changed: {Path(f['path']).name} ({', '.join(what)})"
    return "the key differs"


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
class CorruptCache(Exception):
    """A cache file is missing, truncated, altered or not what cnlab writes."""


def _allowed(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return pa.types.is_integer(t.index_type) and (_allowed(t.value_type))
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)
            or pa.types.is_string(t) or pa.types.is_large_string(t))


def _verified(path: Path, entry: dict) -> pa.Buffer:
    """The bytes of a cache file (memory-mapped), once its size and SHA-256 are those in the manifest."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise CorruptCache(f"{path.name} is missing ({e.strerror})") from None
    if size != entry["bytes"]:
        raise CorruptCache(f"{path.name} has {size} bytes, the manifest says {entry['bytes']} (truncated?)")
    with pa.memory_map(str(path), "r") as source:
        buf = source.read_buffer()  # the mapping outlives the file object while buf is referenced
    if hashlib.sha256(memoryview(buf)).hexdigest() != entry["sha256"]:
        raise CorruptCache(f"{path.name}: SHA-256 differs from the manifest (the file was altered or damaged)")
    return buf


def _frame(name: str, buf: pa.Buffer) -> pd.DataFrame:
    try:
        reader = pa.ipc.open_file(buf)
        bad = [f"{f.name}: {f.type}" for f in reader.schema if not _allowed(f.type)]
        if bad:
            raise CorruptCache(f"{name}: column types cnlab never writes ({'; '.join(bad[:3])})")
        frame = reader.read_all().to_pandas()
    except (pa.ArrowException, ValueError, TypeError, KeyError) as e:
        raise CorruptCache(f"{name}: not a readable Arrow file ({type(e).__name__}: {e})") from None
    for c in frame.columns:  # categorical codes come zero-copy from Arrow (read-only): writable, as parsed
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = pd.Categorical.from_codes(frame[c].cat.codes.to_numpy().copy(), dtype=frame[c].dtype)
    return frame


def _report_from_json(d: dict) -> ReportBuilder:
    return ReportBuilder(
        files=[dict(f) for f in d["files"]],
        warnings=[str(w) for w in d["warnings"]],
        recoveries=[(str(p), str(w), int(n)) for p, w, n in d["recoveries"]],
        counts={str(k): int(v) for k, v in d["counts"].items()},
    )


def read_cache(cache_dir, key: dict):
    """``("hit", (participants, frames, report))``, ``("miss", why)`` or ``("corrupt", why)``."""
    d = Path(cache_dir)
    mpath = d / MANIFEST
    if not mpath.is_file():
        return "miss", "no cache yet"
    try:
        manifest = json.loads(mpath.read_text())
        old_key = manifest["key"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return "corrupt", f"unreadable manifest {MANIFEST} ({type(e).__name__}: {e})"
    if not isinstance(old_key, dict):
        return "corrupt", f"unreadable manifest {MANIFEST} (no key)"
    why = _key_change(old_key, key)
    if why is not None:
        return "miss", why
    try:
        data_name = manifest["data"]
        if not isinstance(data_name, str) or not _DATA_NAME.match(data_name):
            raise CorruptCache(f"the manifest names an unexpected data folder {data_name!r}")
        # every file is verified before any is parsed: nothing damaged is ever read as data
        bufs = {name: _verified(d / data_name / f"{name}.arrow", manifest["files"][f"{name}.arrow"])
                for name in TABLES}
        frames = {name: _frame(f"{name}.arrow", buf) for name, buf in bufs.items()}
        del bufs
        part = frames.pop("participants")
        participants = pd.Index(part["participantId"], dtype="str", name="participantId")
        report = _report_from_json(manifest["report"])
    except CorruptCache as e:
        return "corrupt", str(e)
    except (KeyError, TypeError, ValueError) as e:
        return "corrupt", f"unreadable manifest {MANIFEST} ({type(e).__name__}: {e})"
    return "hit", (participants, frames, report)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def _write_table(frame: pd.DataFrame, path: Path) -> dict:
    table = pa.Table.from_pandas(frame, preserve_index=None)
    with pa.OSFile(str(path), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=None)) as writer:
            writer.write_table(table)
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    return {"bytes": path.stat().st_size, "sha256": _sha256_file(path, edges=False)}


def write_cache(cache_dir, key: dict, participants: pd.Index, frames: dict[str, pd.DataFrame],
                report: ReportBuilder) -> Path:
    """Write a cache atomically (module docstring); returns the data folder."""
    d = Path(cache_dir)
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob(".tmp-*"):  # left by a killed write (an hour old: not a concurrent one)
        if old.is_dir() and time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=d))
    try:
        tables = dict(frames)
        tables["participants"] = pd.DataFrame({"participantId": participants.to_numpy()}).astype({"participantId": participants.dtype})
        files = {f"{name}.arrow": _write_table(tables[name], tmp / f"{name}.arrow") for name in TABLES}
        data_name = f"data-{_digest(key)[:16]}-{uuid.uuid4().hex[:12]}"
        fsync_dir(tmp)
        os.rename(tmp, d / data_name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = {
        "cnlab_cache_format": CACHE_FORMAT_VERSION,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "key": key,
        "data": data_name,
        "files": files,
        "report": {"files": report.files, "warnings": report.warnings,
                   "recoveries": [list(r) for r in report.recoveries], "counts": report.counts},
    }
    fd, mtmp = tempfile.mkstemp(prefix=".tmp-manifest-", suffix=".json", dir=d)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(mtmp, d / MANIFEST)
    except BaseException:
        Path(mtmp).unlink(missing_ok=True)
        raise
    fsync_dir(d)
    for old in d.glob("data-*"):
        if old.name != data_name and old.is_dir() and _DATA_NAME.match(old.name):
            shutil.rmtree(old, ignore_errors=True)
    return d / data_name


# ---------------------------------------------------------------------------
# load through the cache
# ---------------------------------------------------------------------------
def cached_read(cache_dir, files: dict[str, list[Path]], options: dict,
                parse: Callable[[], tuple[pd.Index, dict, ReportBuilder]], *, hash_mode: str = "edges"):
    """(participants, frames, report, what happened) from the cache in ``cache_dir`` or from
    ``parse()``, writing the cache in the latter case."""
    key = input_key(files, options, hash_mode)
    state, payload = read_cache(cache_dir, key)
    if state == "hit":
        participants, frames, report = payload
        return participants, frames, report, f"read from {cache_dir}"
    participants, frames, report = parse()
    try:
        write_cache(cache_dir, key, participants, frames, report)
    except OSError as e:
        report.warn(f"cache {cache_dir} not written ({e.strerror or e}); loaded from the TSV files")
        return participants, frames, report, f"not written to {cache_dir} ({e.strerror or e})"
    if state == "corrupt":
        report.warn(f"cache {cache_dir}: {payload}; rebuilt from the TSV files")
        return participants, frames, report, f"rebuilt in {cache_dir} (corrupt: {payload})"
    what = "written to" if payload == "no cache yet" else f"rebuilt ({payload}) in"
    return participants, frames, report, f"{what} {cache_dir}"
