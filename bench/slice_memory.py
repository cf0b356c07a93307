"""Memory of a prescoring worker's first steps: cutting the scorer's slice from the run's Arrow
file, and the stable initialisation's subset of it.

Usage::

    .venv/bin/python bench/slice_memory.py ARGS.pkl [--arrow FILE] [--step slice|stable-init]

``ARGS.pkl`` is a prescoring capture of ``bench/prescoring_memory.py`` (the Core scorer's
arguments). Its ratings are written once as the workers' Arrow input file (``--arrow``, default
next to the capture), then, as a worker does, the slice is cut from a lazy column view of that
file (``ArrowColumns``) and indexed by position. Prints the seconds, the peak above the start
(``VmHWM`` after ``clear_refs``) per slice rating, and the slice's hash (which must not change
when the step is reworked). To compare two versions, run it with ``PYTHONPATH`` set to an exported
copy of the other version's ``cnlab``; a version without ``keep_labels`` has its labels dropped
after the cut, as its ``prescore_slice`` did. ``--step stable-init`` measures instead
``cnlab.mf.engine.stable_init_ratings`` on the slice's three training columns (the join with the
enrollment and the per-note shares; prints the subset's hash).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import proc_status_gib, reset_peak  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("args", type=Path, help="captured prescoring arguments (.pkl)")
    ap.add_argument("--arrow", type=Path, help="the workers' input file to write / reuse")
    ap.add_argument("--step", choices=("slice", "stable-init"), default="slice")
    a = ap.parse_args(argv)
    if a.step == "stable-init":
        return _stable_init(a.args)
    arrow = a.arrow or a.args.with_suffix(".arrow")

    import pandas as pd

    from cnlab._memory import release_freed_memory
    from cnlab._timing import return_freed_memory_to_the_os

    return_freed_memory_to_the_os()  # as `cnlab score` does from 1M ratings
    with open(a.args, "rb") as f:
        ratings, nsh, enrollment, scorer, kw = pickle.load(f)
    from cnlab.pipeline.spill import ArrowColumns, write_frame
    from cnlab.scorers import mf_prescoring as mp

    if not arrow.exists():
        write_frame(ratings.reset_index(drop=True), arrow)
    n_all = len(ratings)
    del ratings
    gc.collect()
    release_freed_memory()
    lazy = ArrowColumns(arrow)
    lean = {"keep_labels": False} if "keep_labels" in mp.slice_for_prescoring.__code__.co_varnames else {}
    reset_peak()
    base = proc_status_gib("VmRSS")
    t0 = time.perf_counter()
    sliced = mp.slice_for_prescoring(lazy, nsh, enrollment, scorer, note_topics=kw.get("note_topics"),
                                     epoch_millis=kw.get("epoch_millis"), **lean)
    seconds = time.perf_counter() - t0
    scoped = sliced.take()[0]
    if not lean:
        scoped.index = pd.RangeIndex(len(scoped))
    gc.collect()
    peak = proc_status_gib("VmHWM") - base
    digest = hashlib.sha256(pd.util.hash_pandas_object(scoped, index=True).to_numpy().tobytes()).hexdigest()[:16]
    print(f"{len(scoped):,} slice ratings of {n_all:,}: {seconds:.2f} s, peak +{peak:.3f} GiB "
          f"({peak * 2**30 / max(len(scoped), 1):.1f} B/slice rating), slice sha {digest}")
    return 0


def _stable_init(args: Path) -> int:
    import pandas as pd

    from cnlab._timing import return_freed_memory_to_the_os
    from cnlab.mf.engine import stable_init_ratings
    from cnlab.scorers import mf_prescoring as mp

    return_freed_memory_to_the_os()
    with open(args, "rb") as f:
        ratings, nsh, enrollment, scorer, kw = pickle.load(f)
    sliced = mp.slice_for_prescoring(ratings, nsh, enrollment, scorer, note_topics=kw.get("note_topics"),
                                     epoch_millis=kw.get("epoch_millis"))
    del ratings
    train = sliced.take()[0][["noteId", "raterParticipantId", "helpfulNum"]].reset_index(drop=True)
    gc.collect()
    reset_peak()
    base = proc_status_gib("VmRSS")
    t0 = time.perf_counter()
    sub = stable_init_ratings(train, enrollment, initial_group=scorer.stable_init_group)
    seconds = time.perf_counter() - t0
    peak = proc_status_gib("VmHWM") - base
    digest = hashlib.sha256(pd.util.hash_pandas_object(sub, index=True).to_numpy().tobytes()).hexdigest()[:16]
    print(f"{len(train):,} ratings -> {len(sub):,} in the subset: {seconds:.2f} s, peak +{peak:.3f} GiB "
          f"({peak * 2**30 / max(len(train), 1):.1f} B/rating), subset sha {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
