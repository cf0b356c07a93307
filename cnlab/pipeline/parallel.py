"""Independent scorers side by side: threads in this process (``score(..., threads=N)``, the
default on small data) and worker processes for prescoring (``score(..., jobs=N)``).

Threads
-------
Every scorer's prescoring reads the same prescoring ratings and writes only its own outputs, and
every scorer's final scoring the same final ratings; the pflip and PCRH fits are independent too.
:func:`in_threads` runs such tasks side by side in this process: nothing is copied, and most of a
fit's time is spent in TensorFlow's and scikit-learn's compiled code, which runs outside Python's
global lock. Each task's arithmetic is that of a sequential run (TensorFlow computes each op whole
on one thread, :mod:`cnlab.mf._tf_setup`), and the caller collects the results in roster order,
so the outputs are byte-identical for every thread count (tested). On the 150k-rating set the
whole roster's second ``score()`` call drops from 35 s to 24 s on two cores (bench/RESULTS.md).
Memory grows by what the extra tasks hold at once (one more scorer's working set per thread), so
the default uses the machine's cores only up to :data:`AUTO_THREADS_MAX_RATINGS` ratings.

Processes
---------

Each scorer's prescoring reads only the run's prescoring ratings and context and writes only its
own outputs, so scorers can run side by side. The workers are fresh interpreters (the ``spawn``
start method: TensorFlow's runtime does not survive a ``fork``), started by
:class:`concurrent.futures.ProcessPoolExecutor` when the run starts, so that their start-up
(Python, TensorFlow) overlaps the run's first stages. They share the inputs through the run's
checkpoint (:mod:`cnlab.pipeline.checkpoint`): uncompressed Arrow files, memory-mapped, so the
operating system's page cache holds one copy, read once per worker; and each worker writes its
scorer's outputs there, as a sequential run does. The parent reads every scorer back from those
files in roster order, so the outputs are byte-identical to a sequential run whatever ``jobs`` is.

Final scoring stays in the parent process (in threads there, sharing its one copy of the final
ratings): run in the workers beside the confidence models' fit, it held one more copy of the final
ratings per worker and went past 22 GiB on 10M ratings (whole roster, ``--jobs 2``; 19.8 GiB in
the parent alone).

``concurrent.futures`` is the standard library's executor; a cluster backend with the same
interface (e.g. ``dask.distributed``'s ``Client.get_executor()``) can stand in for it, see the
scaling page of the documentation.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from cnlab._timing import usable_cores

__all__ = ["AUTO_THREADS_MAX_RATINGS", "Once", "WorkerPool", "in_threads", "resolve_threads", "usable_cores"]

T = TypeVar("T")
R = TypeVar("R")

#: ``threads=None`` uses every core up to this many ratings, one thread above. Tasks side by side
#: hold their working sets at once (about 150 bytes a rating of the slice per extra scorer, the
#: Core prescoring's growth measured at 10M ratings): a few hundred MiB here, gigabytes at 10M,
#: where a run's peak is what decides whether it finishes. Pass ``threads`` to choose.
AUTO_THREADS_MAX_RATINGS = 2_000_000


def resolve_threads(threads: int | None, n_ratings: int) -> int:
    """The thread count of a run: ``threads`` as given (≥ 1), or for ``None`` the usable cores up
    to :data:`AUTO_THREADS_MAX_RATINGS` ratings and 1 above.

    >>> resolve_threads(3, 10**9), resolve_threads(None, 10**9)
    (3, 1)
    """
    if threads is None:
        return usable_cores() if n_ratings <= AUTO_THREADS_MAX_RATINGS else 1
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None (automatic), got {threads!r}")
    return threads


def in_threads(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for every item, ``threads`` of them running at a time, each pair as its
    task finishes (in the items' order with one thread, where each task runs in the caller's thread
    when the caller asks for its result).

    If a task raises (or the caller is interrupted), the tasks not started are dropped, the running
    ones stop at their next stage boundary (:class:`cnlab._timing.Cancelled`; also those of batches
    they started in turn), and the first exception is raised once they have.

    >>> sorted(in_threads(lambda x: x * x, [1, 2, 3], threads=2))
    [(1, 1), (2, 4), (3, 9)]
    """
    from cnlab._timing import task_thread

    items = list(items)
    if threads <= 1 or len(items) <= 1:
        for item in items:
            yield item, fn(item)
        return
    cancel = threading.Event()
    run = task_thread(fn, cancel)
    executor = ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="cnlab-task")
    futures = {executor.submit(run, item): item for item in items}
    try:
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    except BaseException:
        cancel.set()
        raise
    finally:
        for fut in futures:
            fut.cancel()
        executor.shutdown(wait=True)


class Once:
    """A value built on first use, by one thread while the others asking for it wait.

    >>> calls = []
    >>> once = Once(lambda: calls.append(1) or 42)
    >>> once.get(), once.get(), len(calls)
    (42, 42, 1)
    """

    def __init__(self, make: Callable[[], R]) -> None:
        self._make: Callable[[], R] | None = make
        self._value: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._make is not None:
                self._value = self._make()
                self._make = None
            return self._value


#: What a worker process last read: (folder, stamp of the files) -> (ratings, context,
#: participants). A worker prescores many scorers of one run and keeps the inputs between them (a
#: sequential run also hands every scorer the same frames, which scorers never modify), except
#: where a family cuts its slice first: the full ratings are then released for the fits and read
#: again for the next scorer (seconds, against minutes of fitting at the sizes where it matters).
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


#: Seconds between a worker's checks that the run's process is still there.
PARENT_CHECK_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker once the run's process is gone.

    A run killed outright (``kill -9``, the OOM killer) does no clean-up, and an idle worker of a
    ``ProcessPoolExecutor`` would wait on its queue for ever (it holds the queue's other end
    itself), keeping its memory. A daemon thread polls the parent id instead.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="cnlab-parent-watch", daemon=True).start()


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

    from cnlab.pipeline.spill import release_arrow_memory

    timer = StageTimer(prefix=f"{scorer_config.name} prescoring: ")
    family = family_for(scorer_config)
    if hasattr(family, "prescore_slice"):
        # the scorer's slice is all its fits read: it is cut from the input file a column at a
        # time (the full ratings are never in memory: at full scale as large as the slice)
        _INPUTS.clear()
        ratings, context, participants = Checkpoint.read_inputs(directory, lazy=True)
        sliced = family.slice_prescoring(scorer_config, ratings, context, timer=timer)
        del ratings
        gc.collect()
        release_arrow_memory()
        out = family.prescore_slice(scorer_config, sliced, context, timer=timer)
        del sliced
    else:
        ratings, context, participants = _inputs(directory)
        out = family.prescore(scorer_config, ratings, context, timer=timer)
    ckpt = Checkpoint(Path(directory), {}, participants)
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
                                                        mp_context=multiprocessing.get_context("spawn"),
                                                        initializer=_exit_with_parent, initargs=(os.getpid(),))
        self.log = log

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        # leaving on an error or an interrupt (Ctrl-C, SIGTERM): a worker inside a long fit is
        # stopped, not waited for (a TensorFlow round at 206M ratings takes minutes)
        self.close(terminate=exc_type is not None)

    def close(self, *, terminate: bool = False) -> None:
        """Stop a pool of its own (idempotent); a given executor is left running.

        ``terminate`` stops workers that are still running a task (SIGTERM) instead of waiting for
        their task to end; their results are lost (a checkpoint keeps what had finished)."""
        if not self.own:
            return
        if terminate:
            stop = getattr(self.executor, "terminate_workers", None)  # Python >= 3.14
            if stop is not None:
                stop()
            else:  # the executor's own worker processes (no public handle before 3.14)
                for proc in list((getattr(self.executor, "_processes", None) or {}).values()):
                    if proc.is_alive():
                        proc.terminate()
        self.executor.shutdown(cancel_futures=True)

    def warm_up(self) -> None:
        """Start the workers now (their Python and TensorFlow start-up runs in the background)."""
        if self.own:
            for _ in range(self.jobs):
                self.executor.submit(_warm_up)

    def prescore(self, checkpoint: Any, scorers: Iterable[Any]) -> list[dict]:
        """Prescore ``scorers`` in the workers from the inputs saved in ``checkpoint``
        (:meth:`~cnlab.pipeline.checkpoint.Checkpoint.save_inputs`); their outputs land there too.
        Returns the workers' stage records (in completion order). Raises the first worker's
        exception (the other scorers' finished outputs stay in the checkpoint, so ``resume`` picks
        them up)."""
        scorers = list(scorers)
        records: list[dict] = []
        from cnlab.mf._tf_setup import tf_threads  # the setting only: TensorFlow is not imported

        inter_op = tf_threads()
        futures = {self.executor.submit(_prescore_worker, str(checkpoint.directory), sc): sc for sc in scorers}
        try:
            for fut in as_completed(futures):
                sc = futures[fut]
                recs = fut.result()
                records.extend(recs)
                if self.log is not None:
                    _log_records(self.log, recs)
                    self.log.info("%s prescoring: done in a worker process (jobs=%d, CNLAB_TF_THREADS=%s)",
                                  sc.name, self.jobs, inter_op)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return records
