"""Prescoring of independent scorers in parallel worker processes (``score(..., jobs=N)``).

Each scorer's prescoring reads only the run's prescoring ratings and context and writes only its
own outputs, so scorers can run side by side. The workers are fresh interpreters (the ``spawn``
start method: TensorFlow's runtime does not survive a ``fork``), started by
:class:`concurrent.futures.ProcessPoolExecutor`. They share the inputs through the run's
checkpoint (:mod:`cnlab.pipeline.checkpoint`): uncompressed Arrow files, memory-mapped, so the
operating system's page cache holds one copy; and each worker writes its scorer's outputs there,
as a sequential run does. The parent reads every scorer back from those files in roster order,
so the outputs are byte-identical to a sequential run whatever ``jobs`` is.

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

__all__ = ["prescore_in_parallel"]


#: The inputs a worker process last read: (folder, stamp of the inputs) -> (ratings, context,
#: participants). A worker prescores many scorers of one run; it reads and converts the inputs once
#: (a sequential run also hands every scorer the same frames, which scorers never modify).
_INPUTS: dict[tuple, tuple[Any, Any, Any]] = {}


def _inputs(directory: str) -> tuple[Any, Any, Any]:
    from cnlab.pipeline.checkpoint import Checkpoint

    # files are replaced atomically when a run writes them: a new inode is a new run
    stamp = tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in
                  ((Path(directory) / "inputs" / f).stat() for f in ("context.json", "ratings.arrow")))
    key = (str(Path(directory).resolve()), stamp)
    if key not in _INPUTS:
        _INPUTS.clear()  # one run's inputs at a time
        _INPUTS[key] = Checkpoint.read_inputs(directory)
    return _INPUTS[key]


def _worker(directory: str, scorer_config: Any) -> list[dict]:
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


def prescore_in_parallel(checkpoint: Any, scorers: Iterable[Any], ratings: Any, context: Any, *,
                         jobs: int, log: Any = None, executor: Executor | None = None) -> list[dict]:
    """Run ``scorers``' prescoring in ``jobs`` worker processes; their outputs land in
    ``checkpoint``. Returns the workers' stage records (in completion order).

    ``executor``: any :class:`concurrent.futures.Executor` to use instead of the local process
    pool, e.g. a cluster's (``dask.distributed.Client(...).get_executor()``); its workers must see
    the checkpoint folder (a shared file system). It is not shut down here.

    Raises the first worker's exception (the other scorers' finished outputs stay in the
    checkpoint, so ``resume`` picks them up).
    """
    scorers = list(scorers)
    checkpoint.save_inputs(ratings, context)
    records: list[dict] = []
    # TensorFlow threads per worker stay as configured (one by default): jobs × threads ≤ cores
    env_threads = os.environ.get("CNLAB_TF_THREADS")
    own = executor is None
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) if own \
        else executor
    try:
        futures = {pool.submit(_worker, str(checkpoint.directory), sc): sc for sc in scorers}
        for fut in as_completed(futures):
            sc = futures[fut]
            recs = fut.result()
            records.extend(recs)
            if log is not None:
                for r in recs:
                    log.info("%s: rows in=%s out=%s (%.2f s; %.2f GiB, peak %.2f GiB)%s", r["stage"], r["rows_in"],
                             r["rows_out"], r["seconds"], r.get("rss_gib", float("nan")),
                             r.get("peak_gib", float("nan")), f" — {r['note']}" if r.get("note") else "")
                log.info("%s prescoring: done in a worker process (jobs=%d, CNLAB_TF_THREADS=%s)", sc.name,
                         jobs, env_threads or "1")
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    return records
