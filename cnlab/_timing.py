"""Stage logging: one line per stage with rows in/out and wall time (logger ``cnlab``)."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

log = logging.getLogger("cnlab")


def memory_gib() -> tuple[float, float]:
    """(resident, peak resident) of this process in GiB, from ``/proc/self/status``; NaN where
    there is no such file (not Linux)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            fields = dict(line.split(b":", 1) for line in fh if line.startswith((b"VmRSS", b"VmHWM")))
        rss, hwm = (int(fields[k].split()[0]) / 2**20 for k in (b"VmRSS", b"VmHWM"))
        return rss, hwm
    except (OSError, KeyError, ValueError):
        return float("nan"), float("nan")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports it)."""
    import os

    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def return_freed_memory_to_the_os() -> bool:
    """Make glibc's allocator give freed blocks back to the OS (Linux; a no-op elsewhere).

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so the
    rating-sized temporaries of later stages land on the heap and stay resident after they are
    freed; a fixed 128 KiB threshold keeps them as separate mappings that ``free`` unmaps. On the
    1M-rating set this lowers the resident memory after a Core run by 0.4 GiB; it costs ~6 % of the
    time on small runs, so `cnlab score` turns it on from 1M ratings.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_mmap_threshold = -3
        return bool(libc.mallopt(m_mmap_threshold, 128 * 1024))
    except (OSError, AttributeError):
        return False


#: Set by :func:`note_interrupt` (``cnlab score``'s SIGINT handler). Python runs a signal
#: handler between any two bytecodes, also inside an object's ``__del__``, where the
#: KeyboardInterrupt it raises is printed and dropped; the flag makes the next stage boundary
#: raise it again, so a Ctrl-C is never lost.
_interrupted = False


def note_interrupt() -> None:
    """Record an interrupt (SIGINT) so that :meth:`StageTimer.stage` raises it at the next boundary."""
    global _interrupted
    _interrupted = True


def raise_if_interrupted() -> None:
    """``KeyboardInterrupt`` when an interrupt was recorded and not yet raised through; in a thread
    of :func:`cnlab.pipeline.parallel.in_threads` whose batch was cancelled, :class:`Cancelled`."""
    global _interrupted
    if any(event.is_set() for event in getattr(_task, "cancel", ())):
        raise Cancelled("a task beside this one failed or was interrupted")
    if _interrupted:
        _interrupted = False
        raise KeyboardInterrupt


class Cancelled(Exception):
    """Raised at a stage boundary of a task thread whose batch is being stopped."""


#: Per thread: the cancel events of the task batches it runs in (its own batch's, and those of the
#: batches that started the thread that started it). Set when a task beside it failed or the run
#: was interrupted: the task then ends at its next stage boundary instead of running to completion.
_task = threading.local()


def task_thread(fn, cancel: threading.Event):
    """``fn`` wrapped to run in a task thread of a batch with the event ``cancel`` (see
    :func:`cnlab.pipeline.parallel.in_threads`); it inherits the starting thread's events."""
    inherited = tuple(getattr(_task, "cancel", ()))

    def run(*args, **kwargs):
        _task.cancel = (*inherited, cancel)
        try:
            return fn(*args, **kwargs)
        finally:
            _task.cancel = ()

    return run


class StageTimer:
    """Collects ``(stage, rows_in, rows_out, seconds, note, rss_gib, peak_gib)`` records.

    ``rss_gib`` is the process's resident memory when the stage ended and ``peak_gib`` its peak so
    far (a stage that raised ``peak_gib`` over the previous one set the process's peak).
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.records: list[dict[str, Any]] = []

    @contextmanager
    def stage(self, name: str, rows_in: int | None = None) -> Iterator[dict[str, Any]]:
        rec: dict[str, Any] = {"stage": f"{self.prefix}{name}", "rows_in": rows_in,
                               "rows_out": None, "seconds": None, "note": ""}
        t0 = time.perf_counter()
        try:
            yield rec
        finally:
            rec["seconds"] = time.perf_counter() - t0
            rec["rss_gib"], rec["peak_gib"] = memory_gib()
            self.records.append(rec)
            log.info("%s: rows in=%s out=%s (%.2f s; %.2f GiB, peak %.2f GiB)%s", rec["stage"],
                     rec["rows_in"], rec["rows_out"], rec["seconds"], rec["rss_gib"], rec["peak_gib"],
                     f" — {rec['note']}" if rec["note"] else "")
        raise_if_interrupted()

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.records,
                            columns=["stage", "rows_in", "rows_out", "seconds", "note", "rss_gib", "peak_gib"])
