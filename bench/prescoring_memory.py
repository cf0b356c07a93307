"""MF prescoring memory benchmark: resident memory and peak of each prescoring stage of one scorer,
measured on the prescoring's own arguments captured from a Core run (without the rest of the run).

Usage::

    .venv/bin/python bench/prescoring_memory.py DATA_DIR [--repeat 2] [--out out/prescoring_memory]
    .venv/bin/python bench/prescoring_memory.py --args ARGS.pkl [--repeat 2] [--as-worker]

With ``DATA_DIR`` (a public-shaped download, e.g. ``cnlab synth`` output) a Core run (seed 42) stops
at the MFCoreScorer prescoring and its arguments are saved to ``OUT/args-<folder>.pkl`` (`_runner.capture_name`) (reused when
present). Each repeat runs the prescoring in a fresh process and prints, per stage of its stage log,
the seconds, the resident memory at the stage's end above the resident memory before the prescoring
started, and the stage's own peak above that (``VmHWM``, reset at the stage's start); then the
prescoring's wall seconds, its peak, both per rating of the scorer's slice, and the sha256 of the
note and rater model outputs (which must not change when the prescoring is reworked). ``--as-worker`` measures it
as a lean run's worker process runs it: from before the ratings are read, releasing them once the
scorer's slice is cut where the code does so, no rating-level intermediate kept. To compare two
versions, run the same command with ``PYTHONPATH`` set to an exported copy of the other version's
``cnlab`` (``git archive REV cnlab | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import capture_call, capture_name, proc_status_gib, reset_peak  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _capture(data: Path, dst: Path) -> None:
    """Run Core scoring on ``data`` (seed 42) until its prescoring cuts the scorer's slice; pickle
    the prescoring's arguments to ``dst``."""
    import cnlab.io as cio
    import cnlab.scorers.mf_prescoring as M
    from cnlab.pipeline import ScoringConfig, score
    from cnlab.scorers.mf_config import CORE

    def pack(ratings, status_history, enrollment, scorer, **kw):
        kw.pop("timer", None)
        return ratings, status_history, enrollment, scorer, dict(kw, seed=42)

    # the MF family calls the module's slice_for_prescoring at call time: replaced there
    if not capture_call(M, "slice_for_prescoring", dst,
                        lambda: score(cio.load(directory=str(data)), ScoringConfig(seed=42, scorers=(CORE,))),
                        pack):
        raise SystemExit(f"no MFCoreScorer prescoring in a Core run of {data}")


def _measure(args_path: Path, as_worker: bool = False) -> dict:
    """One prescoring in this process; per-stage memory via a stage timer that resets the peak.

    ``as_worker``: as a prescoring worker process of a lean run does it (the baseline is taken
    before the ratings are read, so they count; where the code cuts the slice first, the full
    ratings are released before the fits and no rating-level intermediate is kept)."""
    from contextlib import contextmanager

    import pandas as pd

    from cnlab._timing import StageTimer, return_freed_memory_to_the_os
    from cnlab.scorers.mf_prescoring import prescore

    return_freed_memory_to_the_os()  # as `cnlab score` does from 1M ratings
    import gc

    from cnlab.mf._tf_setup import import_tensorflow

    tf = import_tensorflow()  # with cnlab's thread settings (the fits' results depend on them)
    # the TensorFlow runtime (~0.5 GiB) is loaded before the baseline: it is not the slice's memory
    float(tf.reduce_sum(tf.ones((4, 4))))
    if as_worker:
        gc.collect()
        base = proc_status_gib("VmRSS")
    with open(args_path, "rb") as f:
        ratings, nsh, enrollment, scorer, kw = pickle.load(f)
    gc.collect()
    if not as_worker:
        base = proc_status_gib("VmRSS")
    stages: list[dict] = []

    class Timer(StageTimer):
        @contextmanager
        def stage(self, name, rows_in=None):
            reset_peak()
            t0 = time.perf_counter()
            with super().stage(name, rows_in) as rec:
                yield rec
            stages.append({"stage": name, "seconds": time.perf_counter() - t0,
                           "rss": proc_status_gib("VmRSS") - base, "peak": proc_status_gib("VmHWM") - base})

    reset_peak()
    t0 = time.perf_counter()
    two_phase = None
    if as_worker:
        try:
            from cnlab.scorers import mf_prescoring as mp
            two_phase = mp.slice_for_prescoring, mp.prescore_slice
        except (ImportError, AttributeError):  # an older version: one call, as its worker made
            pass
    if two_phase is not None:
        timer = Timer()
        sliced = two_phase[0](ratings, nsh, enrollment, scorer, note_topics=kw.get("note_topics"),
                              epoch_millis=kw.get("epoch_millis"), timer=timer)
        del ratings
        gc.collect()
        out = two_phase[1](sliced, enrollment, scorer, seed=kw.get("seed"),
                           check_train_error=kw.get("check_train_error", True), timer=timer, keep_ratings=False)
        del sliced
    else:
        out = prescore(ratings, nsh, enrollment, scorer, timer=Timer(), **kw)
    wall = time.perf_counter() - t0
    end_rss = proc_status_gib("VmRSS") - base
    n_slice = int(out.intermediates[scorer.name]["slice_report"].after_group_filter)
    digest = hashlib.sha256()
    for frame in (out.note_model_output, out.rater_model_output):
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        digest.update(repr(list(frame.columns)).encode())
    return {"stages": stages, "wall": wall, "end_rss": end_rss,
            "peak": max(s["peak"] for s in stages), "n_slice": n_slice,
            "sha": digest.hexdigest()[:16], "meta": repr(out.meta[scorer.name])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path)
    ap.add_argument("--args", type=Path, help="captured arguments (.pkl)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "prescoring_memory")
    ap.add_argument("--as-worker", action="store_true",
                    help="as a lean run's worker process: the ratings read count, released where the code allows")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(_measure(a.args, a.as_worker)))
        return 0
    if a.args is None:
        if a.data is None:
            ap.error("give DATA_DIR or --args")
        a.out.mkdir(parents=True, exist_ok=True)
        a.args = a.out / capture_name(a.data)
        if not a.args.exists():
            _capture(a.data, a.args)
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    for i in range(a.repeat):
        res = subprocess.run([sys.executable, __file__, "--child", "--args", str(a.args),
                              *(["--as-worker"] if a.as_worker else [])], env=env,
                             capture_output=True, text=True, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        n = r["n_slice"]
        print(f"repeat {i + 1}: {n} slice ratings; wall {r['wall']:.2f} s; peak +{r['peak']:.3f} GiB "
              f"({r['peak'] * 2**30 / n:.0f} B/slice rating); end +{r['end_rss']:.3f} GiB "
              f"({r['end_rss'] * 2**30 / n:.0f} B/slice rating); outputs sha {r['sha']}")
        for s in r["stages"]:
            print(f"  {s['stage']:<48} {s['seconds']:7.2f} s  resident +{s['rss']:.3f} GiB  "
                  f"peak +{s['peak']:.3f} GiB ({s['peak'] * 2**30 / n:.0f} B/rating)")
        print(f"  meta {r['meta']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
