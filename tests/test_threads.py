"""Tasks side by side in threads (cnlab.pipeline.parallel.in_threads): results, order, failure and
interrupt handling, the lazily built shared value, and the automatic thread count. That a run gives
the same bytes for every thread count is tested end to end in test_long_runs."""

from __future__ import annotations

import threading
import time

import pytest

from cnlab._timing import Cancelled, StageTimer
from cnlab.pipeline import parallel
from cnlab.pipeline.parallel import AUTO_THREADS_MAX_RATINGS, Once, in_threads, resolve_threads


def test_every_item_once_with_its_result():
    got = list(in_threads(lambda x: x * 10, range(7), threads=3))
    assert sorted(got) == [(i, i * 10) for i in range(7)]


def test_one_thread_runs_in_order_in_the_callers_thread():
    seen = []

    def fn(x):
        seen.append((x, threading.current_thread() is threading.main_thread()))
        return x

    assert [x for x, _ in in_threads(fn, [3, 1, 2], threads=1)] == [3, 1, 2]
    assert seen == [(3, True), (1, True), (2, True)]


def test_tasks_do_run_side_by_side():
    barrier = threading.Barrier(2, timeout=30)  # both tasks must be running at once to pass it

    def fn(x):
        barrier.wait()
        return x

    assert sorted(r for _, r in in_threads(fn, [1, 2], threads=2)) == [1, 2]


def _staged(seconds_per_stage: float, stages: int, record: list):
    def fn(x):
        timer = StageTimer()
        for i in range(stages):
            with timer.stage(f"{x} stage {i}"):
                time.sleep(seconds_per_stage)
            record.append((x, i))
        return x
    return fn


def test_a_failure_stops_the_others_at_their_next_stage_boundary():
    record: list = []
    slow = _staged(0.05, 200, record)  # 10 s if it ran to the end

    def fn(x):
        if x == "bad":
            time.sleep(0.2)
            raise ValueError("boom")
        return slow(x)

    t0 = time.monotonic()
    with pytest.raises(ValueError, match="boom"):
        list(in_threads(fn, ["slow", "bad", "never"], threads=2))
    assert time.monotonic() - t0 < 5
    assert 0 < len([r for r in record if r[0] == "slow"]) < 200
    assert not [r for r in record if r[0] == "never"], "a task not started is dropped"


def test_a_cancelled_task_raises_cancelled_and_the_flag_does_not_leak():
    caught = []

    def fn(x):
        if x == 0:
            time.sleep(0.1)
            raise KeyError("first")
        try:
            _staged(0.02, 500, [])(x)
        except Cancelled as e:
            caught.append(e)
            raise
    with pytest.raises(KeyError):
        list(in_threads(fn, [0, 1], threads=2))
    assert len(caught) == 1
    # the next batch, and the caller's own stages, run normally
    assert sorted(in_threads(_staged(0.0, 3, []), [5, 6], threads=2)) == [(5, 5), (6, 6)]
    with StageTimer().stage("main"):
        pass


def test_nested_batches_are_cancelled_with_their_parent():
    inner_record: list = []

    def outer(x):
        if x == "bad":
            time.sleep(0.2)
            raise RuntimeError("outer failure")
        return list(in_threads(_staged(0.05, 200, inner_record), ["a", "b"], threads=2))

    t0 = time.monotonic()
    with pytest.raises(RuntimeError):
        list(in_threads(outer, ["nested", "bad"], threads=2))
    assert time.monotonic() - t0 < 5
    assert len(inner_record) < 400


def test_once_builds_once_for_many_threads():
    calls = []
    gate = threading.Event()

    def make():
        calls.append(threading.current_thread().name)
        gate.wait(5)
        return object()

    once = Once(make)
    results = []
    threads = [threading.Thread(target=lambda: results.append(once.get())) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_resolve_threads(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cores", lambda: 6)
    assert resolve_threads(None, AUTO_THREADS_MAX_RATINGS) == 6
    assert resolve_threads(None, AUTO_THREADS_MAX_RATINGS + 1) == 1
    assert resolve_threads(3, 10**9) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads"):
            resolve_threads(bad, 10)


def test_memory_estimate_counts_the_extra_threads():
    from cnlab.pipeline.memory import MARGIN, THREAD_BYTES_PER_RATING, estimate_peak

    n = 1_000_000
    per_thread = (1 + MARGIN) * n * THREAD_BYTES_PER_RATING / 2**30
    one, two = estimate_peak(n, n_scorers=5, threads=1), estimate_peak(n, n_scorers=5, threads=2)
    assert two.peak_gib - one.peak_gib == pytest.approx(per_thread)
    # a one-scorer roster has two tasks at most: its final scoring and the confidence models
    assert (estimate_peak(n, threads=8).peak_gib - estimate_peak(n, threads=1).peak_gib
            == pytest.approx(per_thread))
