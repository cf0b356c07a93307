"""Writers for the four official output files (spec 04 §14) and a reader for them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from cnlab import schema as S
from cnlab.errors import CnlabInputError

from .dataset import LoadReport, restore_ids
from ._fs import fsync_dir

#: output key -> (file stem, official column order)
OUTPUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scored_notes": ("scored_notes", S.SCORED_NOTES_COLUMNS),
    "helpfulness_scores": ("helpfulness_scores", S.HELPFULNESS_SCORES_COLUMNS),
    "note_status_history": ("note_status_history", S.NOTE_STATUS_HISTORY_COLUMNS),
    "aux_note_info": ("aux_note_info", S.AUX_NOTE_INFO_COLUMNS),
}

#: name of the manifest written last by :func:`write_outputs` (file names, sizes, sha256)
MANIFEST = "cnlab-outputs.json"
#: file name of the preprocessing funnel (``Funnel.to_frame()``) when one is given
FUNNEL_FILE = "funnel.tsv"
MANIFEST_FORMAT = "cnlab-outputs/1"
_STAGING_PREFIX = ".cnlab-staging-"  # being written; discarded if a run dies
_COMMIT_DIR = ".cnlab-commit"  # complete new set, being moved into place; rolled forward
_OBSOLETE = ".obsolete.json"  # in the commit dir: files of the previous set to remove


@dataclass(frozen=True)
class WriteReport:
    """What :func:`write_outputs` wrote.

    ``files``: key -> path of the TSV; ``parquet``: key -> parquet path (or the
    reason it could not be written); ``absent_columns``: key -> official columns
    that the frame lacked and were written empty; ``extra_columns``: key ->
    columns of the frame not in the official layout (not written).
    """

    files: dict
    parquet: dict
    absent_columns: dict
    extra_columns: dict
    rows: dict
    manifest: Path | None = None
    funnel: Path | None = None

    def summary(self) -> str:
        lines = []
        for k, p in self.files.items():
            lines.append(f"{k}: {self.rows[k]:,} rows -> {p}")
            if self.absent_columns.get(k):
                lines.append(f"  {len(self.absent_columns[k])} column(s) written empty: {', '.join(self.absent_columns[k][:10])}"
                             + (" ..." if len(self.absent_columns[k]) > 10 else ""))
        return "\n".join(lines)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def conform(frame: pd.DataFrame, columns, *, where: str = "") -> tuple[pd.DataFrame, list[str], list[str]]:
    """Reindex ``frame`` to ``columns`` (absent -> empty); returns (frame, absent, extra).

    The axis-2..k factor columns of a k-factor run (``coreNoteFactor2`` …,
    :func:`cnlab.schema.with_extra_factor_columns`) are kept next to their axis-1 column; with
    one factor the layout is exactly ``columns``."""
    columns = S.with_extra_factor_columns(columns, frame.columns)
    absent = [c for c in columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    out = frame.reindex(columns=columns)
    S.check_output_columns(out, columns, where=where or "output")
    return out, absent, extra


def write_outputs(
    frames: Mapping[str, pd.DataFrame],
    outdir,
    *,
    parquet: bool = False,
    participants: pd.Index | None = None,
    funnel: pd.DataFrame | None = None,
) -> WriteReport:
    """Write the official output files into ``outdir``, replacing the previous set as a unit.

    Parameters
    ----------
    frames
        Any of the keys ``scored_notes``, ``helpfulness_scores``,
        ``note_status_history``, ``aux_note_info``.  Each is reindexed to the
        official column order (``schema.SCORED_NOTES_COLUMNS`` etc.); absent
        columns are written empty and listed in the report.
    outdir
        Created if needed.
    parquet
        Also write ``<name>.parquet`` (snappy), as the official runner does
        unless ``--no-parquet``.
    participants
        If given, integer participant-id columns are taken as codes into it
        and written as the original strings.
    funnel
        If given (``Funnel.to_frame()``), also written as ``funnel.tsv``.

    Notes
    -----
    Written like the official runner (``to_csv(sep="\\t", index=False)``): NaN
    -> empty field, floats in shortest round-trip repr, booleans ``True`` /
    ``False``.

    **Crash safety.**  The files of one call form a *set*, described by the manifest
    ``cnlab-outputs.json`` (format ``cnlab-outputs/1``: each file's name, size in bytes and
    sha256), and the set replaces the previous one as a unit as far as a POSIX filesystem
    allows:

    1. every file, then the manifest, is written and fsynced into a hidden staging directory
       ``.cnlab-staging-*`` inside ``outdir``; a run killed here leaves the previous set
       untouched (the staging directory is removed by the next call);
    2. the staging directory is renamed to ``.cnlab-commit`` (atomic): the commit point;
    3. the previous manifest is removed, each new file is renamed over its target, files of the
       previous set that the new one lacks are removed, and the new manifest is renamed into
       place **last**; then ``.cnlab-commit`` is removed.

    A reader therefore sees either a complete set whose manifest matches every file
    (:func:`verify_outputs`), or, only after a crash inside step 3, no manifest and a
    ``.cnlab-commit`` directory: :func:`recover_outputs` (run first by every call of
    :func:`write_outputs`) then finishes the interrupted commit, giving the complete new set.
    Single-file renames are atomic, so no file is ever half-written.  Two processes writing
    the same ``outdir`` at once are not supported.
    """
    unknown = [k for k in frames if k not in OUTPUTS]
    if unknown:
        raise KeyError(f"unknown output key(s) {unknown}; expected {list(OUTPUTS)}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    recover_outputs(out)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
    try:
        files, pq, absent_all, extra_all, rows = {}, {}, {}, {}, {}
        names: list[str] = []
        for key, frame in frames.items():
            stem, columns = OUTPUTS[key]
            if participants is not None:
                frame = restore_ids(frame, participants)
            conformed, absent, extra = conform(frame, columns, where=key)
            _write_file(staging / f"{stem}.tsv",
                        lambda tmp, f=conformed: f.to_csv(tmp, sep="\t", index=False, header=True))
            names.append(f"{stem}.tsv")
            files[key], absent_all[key], extra_all[key], rows[key] = out / f"{stem}.tsv", absent, extra, len(conformed)
            if parquet:
                try:
                    _write_file(staging / f"{stem}.parquet", lambda tmp, f=conformed: _to_parquet(f, tmp))
                    names.append(f"{stem}.parquet")
                    pq[key] = out / f"{stem}.parquet"
                except Exception as e:  # parquet copy is a convenience; the TSV is the contract
                    pq[key] = f"not written: {type(e).__name__}: {e}"
        funnel_path = None
        if funnel is not None:
            _write_file(staging / FUNNEL_FILE, lambda tmp: funnel.to_csv(tmp, sep="\t", index=False, header=True))
            names.append(FUNNEL_FILE)
            funnel_path = out / FUNNEL_FILE
        previous = _manifest_names(out)
        obsolete = sorted(n for n in previous if n not in names)
        _write_file(staging / _OBSOLETE, lambda tmp: Path(tmp).write_text(json.dumps(obsolete)))
        manifest = {"format": MANIFEST_FORMAT,
                    "files": [{"name": n, "bytes": (staging / n).stat().st_size, "sha256": _sha256(staging / n)}
                              for n in names]}
        _write_file(staging / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1) + "\n"))
        fsync_dir(staging)
        _rename(staging, out / _COMMIT_DIR)  # the commit point
        fsync_dir(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    recover_outputs(out)
    return WriteReport(files, pq, absent_all, extra_all, rows, manifest=out / MANIFEST, funnel=funnel_path)


def recover_outputs(outdir) -> str:
    """Bring ``outdir`` back to a complete output set after an interrupted :func:`write_outputs`.

    A committed but unfinished replacement (``.cnlab-commit``) is finished: its files are moved
    into place, the files of the previous set it lists as obsolete are removed and its manifest
    is moved in last.  Uncommitted staging directories (``.cnlab-staging-*``) are removed.

    Returns
    -------
    str
        ``"rolled forward"``, ``"cleaned"`` (only staging directories removed) or ``"clean"``.
    """
    out = Path(outdir)
    if not out.is_dir():
        return "clean"
    what = "clean"
    for stale in out.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
        what = "cleaned"
    commit = out / _COMMIT_DIR
    if commit.is_dir():
        # the old manifest goes first: from here on the directory has no manifest until the new
        # one is moved in (each step below is idempotent, so a roll-forward can itself be killed)
        if (commit / MANIFEST).exists():
            _unlink(out / MANIFEST)
        obsolete = json.loads((commit / _OBSOLETE).read_text()) if (commit / _OBSOLETE).exists() else []
        for p in sorted(commit.iterdir()):
            if p.name not in (MANIFEST, _OBSOLETE):
                _rename(p, out / p.name)
        for name in obsolete:
            _unlink(out / name)
        if (commit / MANIFEST).exists():
            _rename(commit / MANIFEST, out / MANIFEST)
        fsync_dir(out)
        shutil.rmtree(commit, ignore_errors=True)
        what = "rolled forward"
    return what


def verify_outputs(outdir) -> dict | None:
    """The manifest of ``outdir`` if it names a complete output set, else ``None``.

    Complete: ``cnlab-outputs.json`` exists and every file it lists exists with the listed
    size and sha256.  A directory without a manifest (never written by :func:`write_outputs`,
    or a replacement interrupted after its commit point: see :func:`recover_outputs`) gives
    ``None``.
    """
    path = Path(outdir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for entry in manifest.get("files", ()):
        f = Path(outdir) / entry["name"]
        if not f.is_file() or f.stat().st_size != entry["bytes"] or _sha256(f) != entry["sha256"]:
            return None
    return manifest


def _manifest_names(out: Path) -> list[str]:
    try:
        return [e["name"] for e in json.loads((out / MANIFEST).read_text()).get("files", ())]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_file(path: Path, write) -> None:
    """Write ``path`` (in a staging directory) with the usual permissions, fsynced."""
    write(str(path))
    os.chmod(path, 0o666 & ~_UMASK)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _rename(src: Path, dst: Path) -> None:
    # one function for every rename of a commit, so that tests can slow it down
    os.replace(src, dst)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _to_parquet(frame: pd.DataFrame, path) -> None:
    f = frame.copy()
    for c in f.columns:
        if f[c].dtype == object:
            f[c] = f[c].astype("str")
    f.to_parquet(path, index=False, compression="snappy")


def read_output(path, *, with_report: bool = False):
    """Read one output TSV (plain or gzip) of any published vintage, ids as strings.

    Files of the single-model scorer (2021–2023: ``scoredNotes.tsv`` with ``noteIntercept``,
    ``noteFactor1``, ``ratingStatus``; ``helpfulnessScores.tsv`` with ``raterIntercept``,
    ``raterFactor1``) come back with the current names (``coreNoteIntercept``,
    ``coreNoteFactor1``, ``coreRatingStatus`` and ``finalRatingStatus``, ``coreRaterIntercept``,
    ``coreRaterFactor1``; :data:`cnlab.schema.LEGACY_OUTPUT_COLUMNS`); each mapping is counted as
    a recovery in the report.  Meant for comparisons, figures and round trips, not for large
    inputs.

    Parameters
    ----------
    path
        ``scored_notes.tsv``, ``helpfulness_scores.tsv``, ... or a legacy file; ``.gz`` or not
        (compression is detected from the magic bytes).
    with_report
        Also return a :class:`~cnlab.io.LoadReport` (the file read, its rows, the recoveries).

    Returns
    -------
    DataFrame, or (DataFrame, LoadReport) with ``with_report=True``.

    Raises
    ------
    CnlabInputError
        The file is missing, empty or not a readable TSV (naming the file and, where pandas
        says, the line).
    """
    t0 = time.perf_counter()
    p = Path(path)
    if not p.exists():
        raise CnlabInputError("file not found", path=p)
    dtypes = {c: "str" for c in (S.AUTHOR_ID, S.RATER_ID, S.PARTICIPANT_ID)}
    with open(p, "rb") as fh:
        magic = fh.read(2)
    compression = "gzip" if magic == b"\x1f\x8b" else None
    try:
        frame = pd.read_csv(p, sep="\t", dtype=dtypes, compression=compression, low_memory=False)
    except pd.errors.EmptyDataError:
        raise CnlabInputError("empty file (no header row)", path=p) from None
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as e:
        raise CnlabInputError(f"not a readable output TSV: {e}", path=p) from None
    frame, mapped = S.current_output_names(frame)
    if not with_report:
        return frame
    recoveries = tuple((str(p), f"legacy output column {m}", 1) for m in mapped)
    info = {"kind": _output_kind(p), "path": str(p), "rows": len(frame), "bytes": p.stat().st_size,
            "compression": compression or "none", "seconds": time.perf_counter() - t0}
    return frame, LoadReport(files=(info,), recoveries=recoveries, seconds=info["seconds"])


def _output_kind(path: Path) -> str:
    stem = path.name.split(".")[0]
    return S.LEGACY_OUTPUT_FILES.get(stem, stem)


def read_outputs(directory, *, with_report: bool = False):
    """Read whichever official outputs exist in ``directory`` (``.tsv`` or ``.tsv.gz``).

    The current names (``scored_notes.tsv`` ...) are looked for first, then the legacy ones
    (``scoredNotes.tsv``, ``helpfulnessScores.tsv``; :data:`cnlab.schema.LEGACY_OUTPUT_FILES`),
    whose columns :func:`read_output` maps to the current names.  A legacy file name is counted
    as a recovery.

    Returns
    -------
    dict
        Output key (``scored_notes`` ...) -> frame; with ``with_report=True`` a
        ``(dict, LoadReport)`` pair covering every file read.
    """
    t0 = time.perf_counter()
    d = Path(directory)
    if not d.is_dir():
        raise CnlabInputError("not a directory", path=d)
    legacy = {key: stem for stem, key in S.LEGACY_OUTPUT_FILES.items()}
    res, files, recoveries = {}, [], []
    for key, (stem, _cols) in OUTPUTS.items():
        names = [f"{stem}.tsv", f"{stem}.tsv.gz"]
        if key in legacy:
            names += [f"{legacy[key]}.tsv", f"{legacy[key]}.tsv.gz"]
        for name in names:
            if (d / name).exists():
                res[key], rep = read_output(d / name, with_report=True)
                files.extend(rep.files)
                recoveries.extend(rep.recoveries)
                if not name.startswith(stem):
                    recoveries.append((str(d / name), f"legacy output file name: read as {stem}.tsv", 1))
                break
    if not with_report:
        return res
    return res, LoadReport(files=tuple(files), recoveries=tuple(recoveries), seconds=time.perf_counter() - t0)
