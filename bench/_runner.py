"""Run a command in its own process group, sample its memory, stop it past a limit; unpack a
baseline revision's package for a benchmark's before/after run (:func:`baseline_tree`).

Shared by the benchmarks that run ``cnlab`` in fresh processes (``bench/scale.py``). The peak is
the largest resident set of the whole process tree seen by a sampler every ``interval`` seconds
(children included, which ``/usr/bin/time`` does not add up); a run whose tree passes
``rss_limit_gib`` is killed, so that a benchmark never takes the machine down with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measured:
    cmd: list[str]
    rc: int
    wall_s: float
    peak_gib: float
    killed_for_memory: bool
    log: Path


def _tree_rss_bytes(root: int) -> int:
    """Resident bytes of ``root`` and its descendants (from /proc; 0 once it is gone)."""
    return sum(_tree_rss_by_pid(root).values())


def _tree_rss_by_pid(root: int) -> dict[int, int]:
    """Resident bytes of ``root`` and of each of its descendants, by pid."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * _PAGE
    tree, stack = {}, [root]
    while stack:
        pid = stack.pop()
        tree[pid] = rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return tree


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
    except OSError:
        return ""


def run_measured(cmd: list[str], log: Path, *, rss_limit_gib: float = 20.0, interval: float = 0.25,
                 env: dict | None = None, timeout_s: float | None = None,
                 rss_log: Path | None = None, rss_log_every: float = 2.0) -> Measured:
    """Run ``cmd`` with stdout and stderr to ``log``; return wall time, sampled peak and exit code.

    With ``rss_log``, every ``rss_log_every`` seconds one line per process of the tree (seconds
    since the start, pid, resident GiB, command line) is appended to that TSV file: which process
    held the memory (a parent or one of its workers) is what the tree's peak alone does not say.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    limit = rss_limit_gib * 2**30
    peak, killed = 0, False
    t0 = time.perf_counter()
    last_logged = -float("inf")
    per_process = open(rss_log, "w") if rss_log is not None else None
    if per_process is not None:
        per_process.write("seconds\tpid\trss_gib\tcmd\n")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        while proc.poll() is None:
            tree = _tree_rss_by_pid(proc.pid)
            rss = sum(tree.values())
            peak = max(peak, rss)
            now = time.perf_counter() - t0
            if per_process is not None and now - last_logged >= rss_log_every:
                last_logged = now
                for pid, b in tree.items():
                    per_process.write(f"{now:.1f}\t{pid}\t{b / 2**30:.3f}\t{_cmdline(pid)}\n")
                per_process.flush()
            over_time = timeout_s is not None and time.perf_counter() - t0 > timeout_s
            if rss > limit or over_time:
                killed = rss > limit
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(interval)
    if per_process is not None:
        per_process.close()
    return Measured(cmd=list(cmd), rc=proc.returncode, wall_s=time.perf_counter() - t0,
                    peak_gib=peak / 2**30, killed_for_memory=killed, log=log)


def proc_status_gib(key: str) -> float:
    """A ``/proc/self/status`` memory line (``VmRSS``, ``VmHWM`` …) in GiB; NaN where absent."""
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 2**20
    return float("nan")


def reset_peak() -> None:
    """Reset this process's ``VmHWM`` to its current resident size (Linux ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def baseline_tree(rev: str, workdir: Path) -> Path:
    """The ``cnlab`` package of commit ``rev`` unpacked under ``workdir`` (once), for a benchmark
    to run its baseline in a subprocess with ``PYTHONPATH`` set to it (and ``python -P``, so that
    the working tree does not shadow it)."""
    dest = Path(workdir) / f"src-{rev}"
    if not (dest / "cnlab").exists():
        dest.mkdir(parents=True, exist_ok=True)
        repo = Path(__file__).resolve().parents[1]
        archive = subprocess.run(["git", "archive", rev, "cnlab"], cwd=repo, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


class LineSampler:
    """Resident memory of this process every ``interval`` seconds, each sample tagged with the
    current stage and the innermost lines of cnlab code the main thread is running: the profile
    that says where a stage's memory goes (``bench/stage_memory.py``, ``bench/pcrh_memory.py``).

    >>> s = LineSampler()
    >>> with s:
    ...     with s.stage("work"):
    ...         _ = bytearray(1 << 20)
    >>> sorted(s.seconds)
    ['work']
    """

    def __init__(self, interval: float = 0.02, depth: int = 3):
        self.interval, self.depth = interval, depth
        self.samples: list[tuple[str, int, str]] = []
        self.seconds: dict[str, float] = {}
        self._current = "start"

    def __enter__(self) -> "LineSampler":
        import threading

        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._current = "end"
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import sys
        import traceback

        statm = open("/proc/self/statm")
        while not self._stop.is_set():
            statm.seek(0)
            rss = int(statm.read().split()[1]) * _PAGE
            frame = sys._current_frames().get(self._main)
            ours = [f for f in traceback.extract_stack(frame) if "/cnlab/" in f.filename] if frame else []
            where = " < ".join(f"{f.filename.split('/cnlab/')[-1]}:{f.lineno}"
                               for f in reversed(ours[-self.depth:]))
            self.samples.append((self._current, rss, where))
            time.sleep(self.interval)
        statm.close()

    def stage(self, name: str):
        """Context manager: samples inside it belong to stage ``name``; its seconds are recorded
        (a ``gc.collect()`` at its end, so that garbage does not count against the next stage)."""
        import contextlib
        import gc

        @contextlib.contextmanager
        def cm():
            self._current = name
            t0 = time.perf_counter()
            try:
                yield
            finally:
                gc.collect()
                self.seconds[name] = time.perf_counter() - t0
                self._current = "between"  # imports of the next stage are not this one's
        return cm()

    def report(self, name: str, n: int, top: int = 3) -> dict | None:
        """Stage ``name``: seconds, resident GiB at its start and at its peak, the peak above the
        start in bytes per unit of ``n`` (e.g. ratings), and the ``top`` lines with the highest
        peaks."""
        points = [(rss, where) for st, rss, where in self.samples if st == name]
        if not points:
            return None
        start, high = points[0][0], max(p[0] for p in points)
        peaks: dict[str, int] = {}
        for rss, where in points:
            peaks[where] = max(peaks.get(where, 0), rss)
        best = sorted(peaks.items(), key=lambda kv: -kv[1])[:top]
        return {"seconds": self.seconds.get(name, float("nan")), "start_gib": start / 2**30,
                "peak_gib": high / 2**30, "peak_above_start_b": (high - start) / n,
                "where": [(w, (r - start) / n) for w, r in best]}


def capture_call(owner, name: str, dst: Path, run, pack) -> bool:
    """Run ``run()`` with ``owner.<name>`` replaced by a function that pickles
    ``pack(*args, **kwargs)`` (the arguments it was called with) to ``dst`` and stops the run
    there; ``owner.<name>`` is restored after. Returns whether the call was reached: how the
    benchmarks of one fit capture its inputs from a whole scoring run."""
    import pickle

    class _Captured(Exception):
        pass

    def stop(*args, **kwargs):
        with open(dst, "wb") as f:
            pickle.dump(pack(*args, **kwargs), f, protocol=5)
        raise _Captured

    real = getattr(owner, name)
    setattr(owner, name, stop)
    try:
        run()
    except _Captured:
        return True
    finally:
        setattr(owner, name, real)
    return False


def capture_name(data: Path) -> str:
    """``args-<folder>.pkl`` for a data folder; a folder named ``data`` (``bench/scale.py``'s
    ``rN/data`` layout) is named after its parent, so captures of two sizes do not share a name."""
    data = Path(data).resolve()
    return f"args-{data.parent.name if data.name == 'data' else data.name}.pkl"


def captured_arguments(data: Path | None, out: Path, capture, error) -> Path:
    """The pickle of a fit's arguments captured from ``data`` (``out/`` + :func:`capture_name`,
    made by ``capture(data, path)`` unless already there); ``error(message)`` when no data is
    given."""
    if data is None:
        error("give DATA or --args")
    out.mkdir(parents=True, exist_ok=True)
    path = out / capture_name(data)
    if not path.exists():
        capture(data, path)
    return path


def child_json(script: str, args: list[str], tree: Path | None, what: str) -> dict:
    """Run ``script --_child ARGS`` in a fresh process (``python -P``; with ``PYTHONPATH=tree``
    when given, a baseline's package) and return the JSON of its last output line."""
    import json
    import sys

    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    out = subprocess.run([sys.executable, "-P", script, *args, "--_child"], env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"{what} failed ({tree or 'this tree'}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_peak_table(runs: list[tuple[str, dict]]) -> None:
    """One row per version of :meth:`LineSampler.report` figures (seconds, resident memory at the
    start and peak, the peak above the start per unit, and where the peaks were reached)."""
    print("| version | seconds | resident at start | peak | peak above start, B a rating | where (B a rating above start) |")
    print("|---|---:|---:|---:|---:|---|")
    for label, r in runs:
        where = "; ".join(f"`{w}` {b:.1f}" for w, b in r["where"])
        print(f"| {label} | {r['seconds']:.1f} | {r['start_gib']:.2f} GiB | {r['peak_gib']:.2f} GiB | "
              f"{r['peak_above_start_b']:.1f} | {where} |")
