"""Prescoring of independent scorers in parallel worker processes (``score(..., jobs=N)``).

Each scorer's prescoring reads only the run's prescoring ratings and context and writes only its
own outputs, so scorers can run side by side. The workers are fresh interpreters (the ``spawn``
start method: TensorFlow's runtime does not survive a ``fork``), started by
:class:`concurrent.futures.ProcessPoolExecutor` when the run starts, so that their start-up
(Python, TensorFlow) overlaps the run's first stages. They share the inputs through the run's
checkpoint (:mod:`cnlab.pipeline.checkpoint`): uncompressed Arrow files, memory-mapped, so the
operating system's page cache holds one copy, read once per worker; and each worker writes its
scorer's outputs there, as a sequential run does. The parent reads every scorer back from those
files in roster order, so the outputs are byte-identical to a sequential run whatever ``jobs`` is.

Final scoring stays in the parent: run in the workers beside the confidence models' fit, it held
one more copy of the final ratings per worker and went past 22 GiB on 10M ratings (whole roster,
``--jobs 2``; 19.8 GiB in the parent alone), and saved nothing measurable on small data.

``concurrent.futures`` is the standard library's executor; a cluster backend with the same
interface (e.g. ``dask.distributed``'s ``Client.get_executor()``) can stand in for it, see the
scaling page of the documentation.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterable

__all__ = ["WorkerPool"]

#: What a worker process last read: (folder, stamp of the files) -> (ratings, context,
#: participants). A worker prescores many scorers of one run; it reads and converts the inputs once
#: (a sequential run also hands every scorer the same frames, which scorers never modify).
_INPUTS: dict[tuple, Any] = {}


def _inputs(directory: str) -> Any:
    from cnlab.pipeline.checkpoint import Checkpoint

    # files are replaced atomically when a run writes them: a new inode is a new run
    d = Path(directory) / "inputs"
    stamp = tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in ((d / f).stat() for f in ("context.json", "ratings.arrow")))
    key = (str(Path(directory).resolve()), stamp)
    if key not in _INPUTS:
        _INPUTS.clear()  # one run's inputs at a time
        _INPUTS[key] = Checkpoint.read_inputs(directory)
    return _INPUTS[key]


def _warm_up() -> int:
    """Import what a scoring task needs (TensorFlow first), so that the first task does not wait."""
    from cnlab.mf._tf_setup import import_tensorflow
    import cnlab.scorers.base  # noqa: F401

    import_tensorflow()
    return os.getpid()


def _prescore_worker(directory: str, scorer_config: Any) -> list[dict]:
    """Prescore one scorer from the checkpoint's inputs and store its outputs there."""
    from cnlab._timing import StageTimer
    from cnlab.pipeline.checkpoint import Checkpoint
    from cnlab.scorers.base import family_for

    ratings, context, participants = _inputs(directory)
    ckpt = Checkpoint(Path(directory), {}, participants)
    timer = StageTimer(prefix=f"{scorer_config.name} prescoring: ")
    out = family_for(scorer_config).prescore(scorer_config, ratings, context, timer=timer)
    ckpt.save_scorer(scorer_config.name, out)
    if out is None:
        return []
    timings = out.intermediates.get(scorer_config.name, {}).get("timings")
    return [] if timings is None else timings.to_dict("records")


def _log_records(log: Any, records: list[dict]) -> None:
    for r in records:
        log.info("%s: rows in=%s out=%s (%.2f s; %.2f GiB, peak %.2f GiB)%s", r["stage"], r["rows_in"],
                 r["rows_out"], r["seconds"], r.get("rss_gib", float("nan")),
                 r.get("peak_gib", float("nan")), f" — {r['note']}" if r.get("note") else "")


class WorkerPool:
    """The worker processes of one run (``jobs`` of them, or a given executor).

    Created when the run starts; :meth:`warm_up` starts every worker at once so that their
    start-up overlaps the parent's first stages; :meth:`prescore` runs scorers' prescoring. Use as
    a context manager (a pool of its own is shut down on exit;
    a given executor is left running).
    """

    def __init__(self, jobs: int, executor: Executor | None = None, *, log: Any = None):
        self.jobs = jobs
        self.own = executor is None
        self.executor = executor or ProcessPoolExecutor(max_workers=jobs,
                                                        mp_context=multiprocessing.get_context("spawn"))
        self.log = log

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop a pool of its own (idempotent); a given executor is left running."""
        if self.own:
            self.executor.shutdown(cancel_futures=True)

    def warm_up(self) -> None:
        """Start the workers now (their Python and TensorFlow start-up runs in the background)."""
        if self.own:
            for _ in range(self.jobs):
                self.executor.submit(_warm_up)

    def prescore(self, checkpoint: Any, scorers: Iterable[Any], ratings: Any, context: Any) -> list[dict]:
        """Prescore ``scorers`` in the workers; their outputs land in ``checkpoint``. Returns the
        workers' stage records (in completion order). Raises the first worker's exception (the
        other scorers' finished outputs stay in the checkpoint, so ``resume`` picks them up)."""
        scorers = list(scorers)
        checkpoint.save_inputs(ratings, context)
        records: list[dict] = []
        env_threads = os.environ.get("CNLAB_TF_THREADS")
        futures = {self.executor.submit(_prescore_worker, str(checkpoint.directory), sc): sc for sc in scorers}
        try:
            for fut in as_completed(futures):
                sc = futures[fut]
                recs = fut.result()
                records.extend(recs)
                if self.log is not None:
                    _log_records(self.log, recs)
                    self.log.info("%s prescoring: done in a worker process (jobs=%d, CNLAB_TF_THREADS=%s)",
                                  sc.name, self.jobs, env_threads or "1")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return records
