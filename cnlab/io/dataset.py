"""The :class:`Dataset` container and :func:`load`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cnlab import schema as S
from cnlab.errors import CnlabInputError

from . import _layouts as L
from ._tsv import ReportBuilder
from .readers import OFFICIAL_LEGACY_NSH, Part, check_duplicate_notes, expand_paths, read_parts

PID_COLUMNS = (S.AUTHOR_ID, S.RATER_ID, S.PARTICIPANT_ID)


#: the named counts of :attr:`LoadReport.counts`, with what they count
COUNTS = {
    "ratings_of_deleted_notes": "ratings of notes absent from the notes file but in the status history "
                                "(deleted notes: kept and scored, as officially)",
    "ratings_of_unknown_notes": "ratings of notes in neither the notes file nor the status history "
                                "(kept here; preprocessing drops them, as officially)",
    "duplicate_note_rows": "note rows that repeat an earlier row exactly (kept; preprocessing drops them)",
    "future_timestamps": "createdAtMillis values after the wall clock at load time",
    "missing_integer_values": "empty integer cells kept as <NA>",
    "empty_tag_cells": "empty rating tag cells read as 0 (tag not given)",
    "infinite_values": "±inf in float columns (kept)",
    "nonstandard_participant_ids": "participant ids that are not 64 hexadecimal characters (kept)",
    "ignored_zip_members": "zip members not read (not a file of the expected kind)",
    "unsafe_zip_members": "zip members not read (absolute or '..' paths)",
}


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load` read: files, warnings, counted recoveries and named counts.

    ``files`` holds one dict per file (kind, path, rows, bytes, compression,
    seconds); ``recoveries`` holds ``(path, what, count)`` tuples: every input
    that was not in the official format but was read anyway; ``counts`` holds
    ``(name, count)`` pairs of rows or cells that are legitimate or were read anyway
    but are worth knowing (names in :data:`COUNTS`; zero counts are left out; read
    one with :meth:`count`).  ``cache`` says what a ``load(..., cache=DIR)`` did
    with the cache (None without one).
    """

    files: tuple = ()
    warnings: tuple[str, ...] = ()
    recoveries: tuple[tuple[str, str, int], ...] = ()
    seconds: float = 0.0
    counts: tuple[tuple[str, int], ...] = ()
    cache: str | None = None

    @property
    def n_recoveries(self) -> int:
        return sum(r[2] for r in self.recoveries)

    def count(self, name: str) -> int:
        """The named count (0 when nothing was counted); names in :data:`COUNTS`."""
        return sum(n for k, n in self.counts if k == name)

    def summary(self) -> str:
        lines = [f"read {len(self.files)} file(s) in {self.seconds:.1f} s"]
        if self.cache is not None:
            lines.append(f"  cache: {self.cache}")
        for f in self.files:
            lines.append(f"  {f['kind']:<15} {f['rows']:>12,} rows  {f['path']}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        for path, what, count in self.recoveries:
            lines.append(f"  recovered ({count}x): {path}: {what}")
        for name, count in self.counts:
            lines.append(f"  counted {count:,}: {COUNTS.get(name, name)}")
        return "\n".join(lines)

    __str__ = summary


@dataclass(frozen=True)
class Dataset:
    """The four public input tables, typed and compact (see ``docs/architecture.md``).

    Participant ids are ``int32`` codes into :attr:`participants` (sorted
    lexicographically, spec 04 §3; missing -> -1).  Rating tags are bit-packed
    (:func:`cnlab.schema.unpack_tags`).
    """

    notes: pd.DataFrame
    ratings: pd.DataFrame
    status_history: pd.DataFrame
    enrollment: pd.DataFrame
    participants: pd.Index
    report: LoadReport = field(default_factory=LoadReport)

    def restore_ids(self, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Copy of ``frame`` with participant-id code columns mapped back to strings.

        See :func:`restore_ids` (``columns`` defaults to every participant-id column
        present; code -1 or NaN becomes NaN).
        """
        return restore_ids(frame, self.participants, columns)

    def codes_for(self, ids) -> np.ndarray:
        """int32 codes of participant id strings (-1 if unknown)."""
        return self.participants.get_indexer(pd.Index(ids, dtype="str")).astype(np.int32)

    def summary(self) -> str:
        r = self.ratings
        mem = sum(f.memory_usage(deep=True).sum() for f in (self.notes, r, self.status_history, self.enrollment))
        lines = [
            "cnlab Dataset",
            f"  notes:          {len(self.notes):>12,}",
            f"  ratings:        {len(r):>12,}  ({r.memory_usage(deep=True).sum() / max(len(r), 1):.1f} bytes/rating)",
            f"  status history: {len(self.status_history):>12,}",
            f"  enrollment:     {len(self.enrollment):>12,}",
            f"  participants:   {len(self.participants):>12,}",
            f"  memory:         {mem / 2**20:>12,.1f} MiB",
            f"  warnings: {len(self.report.warnings)}, recoveries: {self.report.n_recoveries}",
        ]
        deleted, unknown = (self.report.count(k) for k in ("ratings_of_deleted_notes", "ratings_of_unknown_notes"))
        if deleted or unknown:
            lines.append(f"  ratings of notes not in the notes file: {deleted:,} of deleted notes (in the status "
                         f"history), {unknown:,} of unknown notes")
        return "\n".join(lines)

    def __repr__(self) -> str:  # keep notebooks from printing four big frames
        return (
            f"Dataset(notes={len(self.notes):,}, ratings={len(self.ratings):,}, "
            f"status_history={len(self.status_history):,}, enrollment={len(self.enrollment):,}, "
            f"participants={len(self.participants):,})"
        )


def restore_ids(frame: pd.DataFrame, participants: pd.Index, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Copy of ``frame`` with participant-id code columns mapped back to id strings.

    ``columns`` defaults to every participant-id column present (noteAuthorParticipantId,
    raterParticipantId, participantId).  Integer/float code columns become ``str`` dtype
    (code -1 or NaN -> missing); columns that are already strings are left alone.

    Raises
    ------
    SchemaError
        A code is beyond ``participants``.
    """
    cols = [c for c in (PID_COLUMNS if columns is None else columns) if c in frame.columns]
    out = frame.copy()
    strings = pa.array(np.asarray(participants, dtype=object), pa.string())
    for c in cols:
        ser = frame[c]
        if not pd.api.types.is_numeric_dtype(ser.dtype):
            continue  # already strings
        vals = ser.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(vals) | (vals < 0)
        codes = np.where(bad, 0, vals).astype(np.int64)
        if len(codes) and codes.max(initial=0) >= len(participants):
            raise S.SchemaError(f"restore_ids: column {c!r} has codes beyond the {len(participants)} participants")
        taken = strings.take(pa.array(codes, mask=bad)) if len(codes) else pa.array([], pa.string())
        out[c] = pd.Series(taken.to_pandas(), dtype="str", index=frame.index)
    return out


# ---------------------------------------------------------------------------
# directory discovery
# ---------------------------------------------------------------------------
_PATTERNS = {
    "notes": ("notes-*", "notes.*", "notes"),
    "ratings": ("ratings-*", "ratings.*", "ratings"),
    "status_history": ("noteStatusHistory-*", "noteStatusHistory.*", "noteStatusHistory"),
    "enrollment": ("userEnrollment-*", "userEnrollment.*", "userEnrollment"),
}


def find_files(directory) -> dict[str, object]:
    """Locate the four files in ``directory`` by their public names.

    ``ratings`` may be one file, several shards (``ratings-00000.tsv`` ...),
    or a ``ratings/`` sub-directory.
    """
    d = Path(directory)
    if not d.is_dir():
        raise CnlabInputError("not a directory", path=d)
    out: dict[str, object] = {}
    for kind, patterns in _PATTERNS.items():
        found: list[Path] = []
        for pat in patterns:
            found += [p for p in d.glob(pat) if not p.name.startswith(".")]
        found = sorted(set(found))
        dirs = [p for p in found if p.is_dir()]
        files = [p for p in found if p.is_file()]
        if kind == "ratings" and dirs and not files:
            out[kind] = dirs[0]
        elif files:
            out[kind] = files if len(files) > 1 else files[0]
        else:
            raise CnlabInputError(f"no {kind} file found (looked for {', '.join(patterns)})", path=d)
    return out


# ---------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------
def load(
    directory=None,
    *,
    notes=None,
    ratings=None,
    status=None,
    enrollment=None,
    columns=None,
    progress: bool = False,
    legacy_nsh_official: bool = OFFICIAL_LEGACY_NSH,
    cache=None,
    cache_hash: str = "edges",
) -> Dataset:
    """Read the four public files into a :class:`Dataset`.

    Parameters
    ----------
    directory
        A folder holding ``notes-*.tsv*``, ``ratings*`` (file(s) or a
        ``ratings/`` folder), ``noteStatusHistory-*`` and ``userEnrollment-*``.
        Explicit paths below override what is found there.
    notes, ratings, status, enrollment
        Paths.  ``ratings`` may be a file, a list of shards or a directory;
        ``.tsv``, ``.tsv.gz`` and ``.zip`` may be mixed.
    columns
        Extra rating columns to keep: any of ``version``, ``agree``,
        ``disagree``, ``ratedOnTweetId``, or ``"all"``.
    progress
        Show a tqdm bar over the files.
    legacy_nsh_official
        For a 23-column note status history, reproduce the official quirk of
        also nulling ``timestampMillisOfFirstNmrDueToMinStableCrhTime``.
    cache
        A folder for a parsed copy of the dataset (:mod:`cnlab.io.cache`): the first load
        parses the TSVs and writes it, later loads of the same inputs with the same options
        read it instead (``Dataset.report.cache`` says which happened).
    cache_hash
        What of each input file the cache key hashes besides its name, size and mtime:
        ``"edges"`` (its first and last MiB, the default) or ``"full"`` (every byte).

    Raises
    ------
    CnlabInputError
        Naming file, line and column of the first bad value (see
        :mod:`cnlab.io` for what is recovered instead).
    """
    t0 = time.perf_counter()
    paths = _resolve_paths(directory, notes, ratings, status, enrollment)

    def parse():
        return _read_tsv(paths, columns=columns, progress=progress, legacy_nsh_official=legacy_nsh_official)

    cache_note = None
    if cache is None:
        participants, frames, report = parse()
    else:
        from .cache import cached_read

        files = {kind: expand_paths(p, kind) for kind, p in paths.items()}
        options = {"columns": columns if columns in (None, "all") else sorted(columns),
                   "legacy_nsh_official": bool(legacy_nsh_official)}
        participants, frames, report, cache_note = cached_read(cache, files, options, parse, hash_mode=cache_hash)
    check_future_timestamps(frames, report, wall_clock_millis())
    return Dataset(
        notes=frames["notes"],
        ratings=frames["ratings"],
        status_history=frames["status_history"],
        enrollment=frames["enrollment"],
        participants=participants,
        report=LoadReport(
            files=tuple(report.files),
            warnings=tuple(report.warnings),
            recoveries=tuple(report.recoveries),
            seconds=time.perf_counter() - t0,
            counts=tuple(sorted(report.counts.items())),
            cache=cache_note,
        ),
    )


def _resolve_paths(directory, notes, ratings, status, enrollment) -> dict[str, object]:
    paths = {"notes": notes, "ratings": ratings, "status_history": status, "enrollment": enrollment}
    if directory is not None:
        found = find_files(directory) if any(v is None for v in paths.values()) else {}
        paths = {k: (v if v is not None else found[k]) for k, v in paths.items()}
    missing = [k for k, v in paths.items() if v is None]
    if missing:
        raise CnlabInputError(f"no path given for: {', '.join(missing)} (pass a directory or all four paths)")
    return paths


def _read_tsv(paths, *, columns, progress, legacy_nsh_official) -> tuple[pd.Index, dict[str, pd.DataFrame], ReportBuilder]:
    """Parse the four inputs: (participants, frames, report), nothing that depends on the clock."""
    report = ReportBuilder()
    order = ["notes", "ratings", "status_history", "enrollment"]
    it = order
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(order, desc="loading", unit="file")
        it = bar
    parts: dict[str, Part] = {}
    for kind in it:
        if bar is not None:
            bar.set_postfix_str(kind)
        parts[kind] = read_parts(
            paths[kind],
            kind,
            report,
            columns=columns if kind == "ratings" else None,
            progress=progress,
            legacy_nsh_official=legacy_nsh_official,
        )
        if kind == "notes":
            check_duplicate_notes(parts[kind], report)
    count_ratings_of_absent_notes(parts, report)
    participants, frames = joint_codes(parts)
    return participants, frames, report


def count_ratings_of_absent_notes(parts: dict[str, Part], report: ReportBuilder) -> None:
    """Count ratings whose note is not in the notes file: of deleted notes (still in the status
    history; the official scorer keeps and scores them, spec 04 §4.8) and of notes in neither
    file (the official preprocessing drops them; a warning).  Nothing is dropped here."""
    ids = pa.array(parts["ratings"].frame[S.NOTE_ID].to_numpy())
    if not len(ids):
        return
    in_notes = pc.is_in(ids, value_set=pa.array(parts["notes"].frame[S.NOTE_ID].to_numpy()))
    absent = pc.invert(in_notes)
    n_absent = pc.sum(absent).as_py() or 0
    if not n_absent:
        return
    in_nsh = pc.is_in(ids.filter(absent), value_set=pa.array(parts["status_history"].frame[S.NOTE_ID].to_numpy()))
    deleted = pc.sum(in_nsh).as_py() or 0
    unknown = n_absent - deleted
    report.count("ratings_of_deleted_notes", deleted)
    report.count("ratings_of_unknown_notes", unknown)
    if unknown:
        notes = len(pc.unique(ids.filter(absent).filter(pc.invert(in_nsh))))
        report.warn(f"ratings: {unknown:,} rating(s) of {notes:,} note(s) in neither the notes file nor the status "
                    "history (kept; preprocessing drops them, as officially)")


def wall_clock_millis() -> int:
    """Now, in milliseconds since the epoch (the wall clock; a function so tests can move it)."""
    return int(time.time() * 1000)


def check_future_timestamps(frames: dict[str, pd.DataFrame], report: ReportBuilder, now_millis: int) -> None:
    """Warn about (and count) ``createdAtMillis`` values after ``now_millis``: no note or rating
    can be created after the data was downloaded, so such values are corrupt or in other units.
    They are kept (scoring takes "now" from ``--epoch-millis`` or the latest timestamp)."""
    for kind in ("notes", "ratings", "status_history"):
        col = frames[kind][S.CREATED_AT].to_numpy()
        later = int((col > now_millis).sum()) if len(col) else 0
        if later:
            report.warn(f"{kind}: {later:,} createdAtMillis value(s) after the wall clock at load time "
                        f"({_iso(now_millis)}), the latest {_iso(int(col.max()))}")
            report.count("future_timestamps", later)


def _iso(millis: int) -> str:
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return f"{millis} ms"


def joint_codes(parts: dict[str, Part]) -> tuple[pd.Index, dict[str, pd.DataFrame]]:
    """Union the participant vocabularies, sort lexicographically, re-code (spec 04 §3)."""
    vocabs = [p.vocab for p in parts.values() if len(p.vocab)]
    union = pc.unique(pa.concat_arrays(vocabs)) if vocabs else pa.array([], pa.string())
    union = union.take(pc.sort_indices(union))  # byte order == lexicographic for ASCII hex ids
    participants = pd.Index(union.to_pandas(), dtype="str", name="participantId")
    frames = {}
    for kind, part in parts.items():
        col = L.PID_COLUMN[kind]
        lut = pc.index_in(part.vocab, value_set=union).to_numpy(zero_copy_only=False)
        lut = np.asarray(lut, dtype=np.float64)
        lut = np.where(np.isnan(lut), -1, lut).astype(np.int32)
        codes = part.frame[col].to_numpy()
        new = np.full(len(codes), -1, dtype=np.int32)
        ok = codes >= 0
        if len(lut):
            new[ok] = lut[codes[ok]]
        frame = part.frame
        frame[col] = new
        frames[kind] = frame
    return participants, frames


def load_sample(**kwargs) -> Dataset:
    """Load the bundled synthetic sample (``cnlab/data/sample/``)."""
    d = Path(__file__).resolve().parents[1] / "data" / "sample"
    if not d.is_dir() or not any(d.iterdir()):
        raise CnlabInputError(
            "the bundled sample is not installed yet (cnlab/data/sample/ is missing or empty); "
            "generate one with `cnlab synth --out DIR ...` and use cnlab.load(DIR)",
            path=d,
        )
    return load(d, **kwargs)
