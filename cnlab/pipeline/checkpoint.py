"""Checkpoints of a scoring run, so that an interrupted run resumes where it stopped.

A run is a sequence of phases: rater clustering (PSS + quasi-cliques), then each scorer's
prescoring, then the confidence models (pflip, PCRH) and their predictions with each scorer's
final scoring, then the rest (meta rules, status history, contributors, writing: minutes).
:class:`Checkpoint` stores each finished phase of the first two kinds in a folder, in the
official prescoring file layout (:func:`~cnlab.scorers.outputs.write_prescoring`, readable by
``--prescoring-dir``), the fitted confidence models beside them, and, in a lean run
(``keep="outputs"``, what ``cnlab score`` does), the outputs of the third phase, each file renamed
into place when complete. A resumed run (``resume=True``) reads what is there and recomputes the
rest: after a failure in contributor scoring or writing, only those (at 206M ratings, a Core
run's final scoring is ~45 minutes not run again).

So that a resumed run gives the same bytes as an uninterrupted one, every run that checkpoints
reads its phase outputs back from the files (a fresh phase is written, then read), instead of
mixing in-memory frames with read-back ones.

A checkpoint belongs to one run: ``run.json`` holds a key made of the inputs (names, sizes and
modification times of the input files), the configuration, the seed and the cnlab version; a
resume against another key is refused with a message, never silently mixed.
"""

from __future__ import annotations

import hashlib
import logging
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from cnlab.errors import CnlabInputError
from cnlab.scorers.outputs import PrescoringOutput, load_official_prescoring, map_participant_ids, write_prescoring

__all__ = ["Checkpoint", "NO_PRESCORING", "run_key"]

#: Bumped when the checkpoint layout or the meaning of its files changes.
CHECKPOINT_FORMAT = 1
#: :meth:`Checkpoint.read_scorer` of a scorer that has no prescoring phase (Gaussian scorers).
NO_PRESCORING = "no prescoring phase"
_PSS_FILE = "pss.parquet"
_TOPICS_FILE = "topics.parquet"


def run_key(dataset: Any, config: Any) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: inputs, configuration, seed, cnlab version."""
    import cnlab

    files = []
    report_files = getattr(getattr(dataset, "report", None), "files", None) or ()
    for path in sorted(str(f.get("path", "")) for f in report_files):
        p = Path(path)
        try:
            st = p.stat()
            files.append([p.name, st.st_size, st.st_mtime_ns])
        except OSError:
            files.append([p.name, None, None])
    shape = {"notes": len(dataset.notes), "ratings": len(dataset.ratings),
             "status": len(dataset.status_history), "enrollment": len(dataset.enrollment)}
    cfg = hashlib.sha256(repr(config).encode()).hexdigest()[:16]
    return {"format": CHECKPOINT_FORMAT, "cnlab": cnlab.__version__, "files": files, "rows": shape,
            "config": cfg, "seed": getattr(config, "seed", None)}

log = logging.getLogger("cnlab")


@dataclass(frozen=True)
class Checkpoint:
    """A run's checkpoint folder.

    Parameters
    ----------
    directory
        Folder of the checkpoint (``cnlab score`` uses ``OUTDIR/.cnlab-checkpoint``).
    key
        :func:`run_key` of the run.
    participants
        The dataset's participant ids (written files carry the original id strings).
    resume
        Read finished phases; without it an existing checkpoint is cleared first.
    """

    directory: Path
    key: dict[str, Any]
    participants: Any
    resume: bool = False

    @classmethod
    def open(cls, directory: str | Path, key: dict[str, Any], participants: Any, *,
             resume: bool) -> "Checkpoint":
        d = Path(directory)
        run = d / "run.json"
        if resume and run.exists():
            found = json.loads(run.read_text())
            if found != key:
                diff = sorted(k for k in set(found) | set(key) if found.get(k) != key.get(k))
                raise CnlabInputError(
                    f"--resume: the checkpoint in {d} is from another run (differs in: {', '.join(diff)}); "
                    "run without --resume to start afresh", path=str(d))
        elif d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        if not run.exists():
            _atomic_text(run, json.dumps(key, indent=1))
        return cls(d, key, participants, resume)

    # -- rater clustering -------------------------------------------------------------------
    def load_pss(self) -> pd.DataFrame | None:
        p = self.directory / _PSS_FILE
        return pd.read_parquet(p) if self.resume and p.exists() else None

    def save_pss(self, pss: pd.DataFrame) -> pd.DataFrame:
        return self._save_table(_PSS_FILE, pss)

    # -- topic model (notes → topic; minutes at the full size) ---------------------------------
    def load_topics(self) -> pd.DataFrame | None:
        p = self.directory / _TOPICS_FILE
        return pd.read_parquet(p) if self.resume and p.exists() else None

    def save_topics(self, topics: pd.DataFrame) -> pd.DataFrame:
        return self._save_table(_TOPICS_FILE, topics)

    def _save_table(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` as ``name`` (parquet, written whole or not at all); returns it as read back,
        so that a run and its resumption continue from the same values and dtypes."""
        p = self.directory / name
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            frame.reset_index(drop=True).to_parquet(tmp, index=False)
            os.replace(tmp, p)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return pd.read_parquet(p)

    # -- prescoring, one scorer at a time -----------------------------------------------------
    def _scorer_dir(self, name: str) -> Path:
        return self.directory / "prescoring" / name

    def load_scorer(self, name: str) -> PrescoringOutput | None | str:
        """This scorer's finished prescoring when resuming: a :class:`PrescoringOutput`,
        :data:`NO_PRESCORING` for a scorer without that phase, or None (not finished / not resuming)."""
        return self.read_scorer(name) if self.resume else None

    def read_scorer(self, name: str) -> PrescoringOutput | None | str:
        """As :meth:`load_scorer`, whether resuming or not (phases written by worker processes)."""
        d = self._scorer_dir(name)
        if (d / "none").exists():
            return NO_PRESCORING
        if not (d / "done").exists():
            return None
        return self._read(d)

    def save_scorer(self, name: str, out: PrescoringOutput | None) -> PrescoringOutput | None:
        """Write one scorer's prescoring, then return it as read back (intermediates kept);
        ``None`` (no prescoring phase) is recorded as such."""
        d = self._scorer_dir(name)
        if d.exists():
            shutil.rmtree(d)
        if out is None:
            d.mkdir(parents=True)
            _atomic_text(d / "none", "")
            return None
        write_prescoring(replace(out, pss=None), d, self.participants)
        _atomic_text(d / "done", "")
        return replace(self._read(d), intermediates=out.intermediates, source="cnlab")

    def _read(self, d: Path) -> PrescoringOutput:
        out = load_official_prescoring(d, self.participants)
        return replace(map_participant_ids(out, self.participants), source=f"checkpoint:{d.name}")

    # -- confidence models (pflip, PCRH: each tens of minutes at the full size) -----------------
    def _model_path(self, name: str) -> Path:
        return self.directory / "confidence" / f"{name}.pkl"

    def load_model(self, name: str) -> Any:
        """The fitted confidence model ``name`` ("pflip" / "pcrh") when resuming, else None.

        Models are pickled (scikit-learn's own persistence): read only with ``resume``, from the
        checkpoint folder an earlier try of this run wrote (:func:`_read_pickle`: the file's
        SHA-256, recorded beside it, is checked first; a file that does not match, or no longer
        unpickles, is refitted with a warning).
        """
        return _read_pickle(self._model_path(name), "refitting") if self.resume else None

    def save_model(self, name: str, model: Any) -> None:
        """Store a fitted confidence model: pickled, its SHA-256 beside it (both atomically)."""
        _write_pickle(self._model_path(name), model)

    # -- confidence predictions and final scoring (~45 minutes of a 206M Core run) -------------
    def _final_path(self, key: str | None) -> Path:
        return self.directory / "final" / ("confidence.pkl" if key is None else f"{key}.pkl")

    def load_final(self, key: str | None, *, resuming: bool = True) -> tuple | None:
        """``(value,)``, what :meth:`save_final` stored for ``key``: with ``resuming`` (a resumed run looking
        for finished tasks) only when the run resumes; otherwise whenever it is there (a lean run
        reading its scorers' outputs back after letting them go). None when there is none, or
        for a file that fails its SHA-256 check or no longer unpickles."""
        if resuming and not self.resume:
            return None
        # stored as a 1-tuple: a task whose value is None (no confidence model) is still stored
        return _read_pickle(self._final_path(key), "scoring it again" if resuming else "left out")

    def save_final(self, key: str | None, value: Any) -> None:
        """Store one task of the final phase as soon as it ends: key None, the
        :class:`~cnlab.pipeline.confidence.ConfidenceModels`; a scorer's name, its lean
        :class:`~cnlab.scorers.mf_final.FinalOutput` and stage records. Pickled exactly, so a
        resumed run continues from the same values as the run that wrote them, and redoes only
        the tasks not stored (at 206M ratings a large scorer's final scoring takes ~30 minutes,
        the whole roster's hours)."""
        _write_pickle(self._final_path(key), (value,))


    # -- inputs shared with worker processes (cnlab.pipeline.parallel) -----------------------
    def save_inputs(self, ratings: pd.DataFrame, context: Any) -> None:
        """Write what a prescoring worker reads: the prescoring ratings and the run context, as
        uncompressed Arrow files (memory-mapped by the workers; pandas dtypes kept exactly)."""
        self._save_context(context)
        self._save_frames({"ratings": ratings})

    def save_inputs_in_pieces(self, pieces, context: Any) -> None:
        """:meth:`save_inputs` with the ratings given as consecutive row pieces (frames of the
        same columns and dtypes), written one at a time: the whole frame is never held."""
        import pyarrow as pa

        self._save_context(context)
        d = self.directory / "inputs"
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / ".ratings.arrow.tmp"
        writer = None
        try:
            for piece in pieces:
                table = pa.Table.from_pandas(piece.reset_index(drop=True), preserve_index=False)
                if writer is None:
                    writer = pa.ipc.new_file(str(tmp), table.schema)
                writer.write_table(table)
                del table, piece
            if writer is None:
                raise ValueError("save_inputs_in_pieces: no piece of ratings")
        finally:
            if writer is not None:
                writer.close()
        os.replace(tmp, d / "ratings.arrow")

    def _save_frames(self, frames: dict[str, pd.DataFrame]) -> None:
        import pyarrow.feather as feather

        d = self.directory / "inputs"
        d.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            tmp = d / f".{name}.arrow.tmp"
            feather.write_feather(frame.reset_index(drop=True), tmp, compression="uncompressed")
            os.replace(tmp, d / f"{name}.arrow")

    def _save_context(self, context: Any) -> None:
        frames = {"status_history": context.status_history, "enrollment": context.enrollment}
        if context.note_topics is not None:
            frames["note_topics"] = context.note_topics
        if self.participants is not None:
            frames["participants"] = pd.DataFrame({"id": pd.Index(self.participants).astype(str)})
        self._save_frames(frames)
        scalars = {k: getattr(context, k) for k in ("seed", "epoch_millis", "pseudoraters", "check_train_error",
                                                    "keep_ratings")}
        _atomic_text(self.directory / "inputs" / "context.json", json.dumps(scalars))

    def has_inputs(self) -> bool:
        """Whether the prescoring workers' inputs (:meth:`save_inputs`) are in this checkpoint."""
        d = self.directory / "inputs"
        return (d / "ratings.arrow").exists() and (d / "context.json").exists()

    @staticmethod
    def read_inputs(directory: str | Path, *, lazy: bool = False) -> tuple[Any, Any, pd.Index | None]:
        """(ratings, ScoringContext, participants) written by :meth:`save_inputs`; with ``lazy``
        the ratings are an :class:`~cnlab.pipeline.spill.ArrowColumns` (each column read when
        asked for) instead of a frame."""
        import pyarrow.feather as feather

        from cnlab.scorers.base import ScoringContext

        d = Path(directory) / "inputs"

        def read(name: str) -> pd.DataFrame | None:
            p = d / f"{name}.arrow"
            return feather.read_table(p, memory_map=True).to_pandas() if p.exists() else None

        scalars = json.loads((d / "context.json").read_text())
        context = ScoringContext(status_history=read("status_history"), enrollment=read("enrollment"),
                                 note_topics=read("note_topics"), **scalars)
        parts = read("participants")
        if lazy:
            from cnlab.pipeline.spill import ArrowColumns

            ratings = ArrowColumns(d / "ratings.arrow")
        else:
            from cnlab.pipeline.spill import read_frame

            # a record batch at a time: a whole-table read held the 206M ratings' Arrow copy
            # beside the frame until the last column was converted (+4.2 GiB at the peak)
            ratings = read_frame(d / "ratings.arrow")
        return ratings, context, (None if parts is None else pd.Index(parts["id"]))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


_CHUNK = 1 << 24


class _HashingFile:
    """A binary file that hashes what is written to it (pickle streams into it: the pickled bytes
    are never held whole, which at 206M ratings would be another GB in a process near its peak)."""

    def __init__(self, fh):
        self.fh, self.sha = fh, hashlib.sha256()
        self.n = 0

    def write(self, data) -> int:
        view = memoryview(data)  # protocol 5 hands large buffers over as PickleBuffer objects
        self.sha.update(view)
        self.n += view.nbytes
        return self.fh.write(view)


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _write_pickle(path: Path, obj: Any) -> None:
    """``obj`` pickled to ``path``, with ``{"sha256", "bytes"}`` in ``path.json``: the data goes to
    a temporary file, the digest is written, then the data is renamed into place, so that a data
    file that exists always has its digest beside it (a kill in between leaves the old file or
    none, and a stale digest fails the check)."""
    import pickle

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            out = _HashingFile(fh)
            pickle.dump(obj, out, protocol=pickle.HIGHEST_PROTOCOL)
        _atomic_text(path.with_suffix(".json"), json.dumps({"sha256": out.sha.hexdigest(), "bytes": out.n}))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_pickle(path: Path, instead: str) -> Any:
    """What :func:`_write_pickle` stored at ``path``, or None when there is none. A file whose
    SHA-256 differs from its record, or that no longer unpickles (another version of cnlab), is
    reported with a warning (``instead``: what the run does then) and read as None.

    The one kind of pickle a run reads: its own, from the checkpoint folder an earlier try of the
    same run (same :func:`run_key`) wrote, with ``resume``, or this run itself wrote."""
    import pickle

    if not path.exists():
        return None
    try:
        expected = json.loads(path.with_suffix(".json").read_text())["sha256"]
        if _file_sha256(path) != expected:
            raise ValueError("SHA-256 differs from the one recorded when it was written")
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception as exc:  # any failure means "compute it again"
        log.warning("checkpoint: %s could not be read (%s: %s); %s", path, type(exc).__name__, exc, instead)
        return None


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
