"""Writers for the four official output files (spec 04 §14) and a reader for them."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from cnlab import schema as S
from cnlab.errors import CnlabInputError

from .dataset import LoadReport, restore_ids

#: output key -> (file stem, official column order)
OUTPUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scored_notes": ("scored_notes", S.SCORED_NOTES_COLUMNS),
    "helpfulness_scores": ("helpfulness_scores", S.HELPFULNESS_SCORES_COLUMNS),
    "note_status_history": ("note_status_history", S.NOTE_STATUS_HISTORY_COLUMNS),
    "aux_note_info": ("aux_note_info", S.AUX_NOTE_INFO_COLUMNS),
}


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


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def conform(frame: pd.DataFrame, columns, *, where: str = "") -> tuple[pd.DataFrame, list[str], list[str]]:
    """Reindex ``frame`` to ``columns`` (absent -> empty); returns (frame, absent, extra)."""
    columns = list(columns)
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
) -> WriteReport:
    """Write the official output files into ``outdir``.

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

    Notes
    -----
    Written like the official runner (``to_csv(sep="\\t", index=False)``): NaN
    -> empty field, floats in shortest round-trip repr, booleans ``True`` /
    ``False``.  Each file goes to a temporary file in ``outdir`` first and is
    then renamed over the target, so readers never see a half-written file.
    """
    unknown = [k for k in frames if k not in OUTPUTS]
    if unknown:
        raise KeyError(f"unknown output key(s) {unknown}; expected {list(OUTPUTS)}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files, pq, absent_all, extra_all, rows = {}, {}, {}, {}, {}
    for key, frame in frames.items():
        stem, columns = OUTPUTS[key]
        if participants is not None:
            frame = restore_ids(frame, participants)
        conformed, absent, extra = conform(frame, columns, where=key)
        path = out / f"{stem}.tsv"
        _atomic_write(path, lambda tmp, f=conformed: f.to_csv(tmp, sep="\t", index=False, header=True))
        files[key], absent_all[key], extra_all[key], rows[key] = path, absent, extra, len(conformed)
        if parquet:
            ppath = out / f"{stem}.parquet"
            try:
                _atomic_write(ppath, lambda tmp, f=conformed: _to_parquet(f, tmp))
                pq[key] = ppath
            except Exception as e:  # parquet copy is a convenience; the TSV is the contract
                pq[key] = f"not written: {type(e).__name__}: {e}"
    return WriteReport(files, pq, absent_all, extra_all, rows)


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
