"""pflip fit benchmark: seconds, peak memory and bytes per non-zero of each step, on the arguments of
the fit captured from a Core run (the fit alone, without the rest of the run's memory).

Usage::

    .venv/bin/python bench/pflip_fit.py DATA_DIR [--repeat 2] [--out out/pflip_fit]
    .venv/bin/python bench/pflip_fit.py --args ARGS.pkl [--repeat 2]
    .venv/bin/python bench/pflip_fit.py --checkpoint CKPT --data DATA_DIR [--post-fraction 0.1]
    .venv/bin/python bench/pflip_fit.py ... --save-design DESIGN.pkl   # then bench/l1_solver.py

With ``DATA_DIR`` (a public-shaped download, e.g. ``cnlab synth`` output) a Core run (seed 42, PCRH
off) stops at the pflip fit and its arguments are saved to ``OUT/args-<folder>.pkl`` (`_runner.capture_name`) (reused when
present). Each repeat fits in a fresh process and prints, per outermost step (training frame,
pre-transform, the features' ``fit_transform``, the variance filter, liblinear, decision values),
the seconds and the kernel's peak resident memory (``VmHWM``, reset at the step's start); then the
fit's wall and CPU seconds, its peak above the inputs, the design matrix's non-zeros, the
threshold and the sha256 of the training decision values' bytes (which must not change when the
fit is reworked). With ``--checkpoint`` (a ``cnlab score --checkpoint on`` folder whose Core
prescoring is finished, e.g. the 206M run's) the arguments are built in the measuring process from
the checkpoint's coalesced prescoring ratings (``inputs/ratings.arrow``), status history and Core
rater output plus ``DATA_DIR``'s notes, as a resumed run holds them, without a pickle;
``--post-fraction f`` keeps the notes of a fraction of the posts chosen by a hash of the post id
(every note and rating of a kept post, so the peer sets keep their shape). To compare two versions, run the same command with ``PYTHONPATH`` set to an
exported copy of the other version's ``cnlab`` (``git archive REV cnlab | tar -x -C DIR``).
``--save-design`` pickles the classifier's design matrix (implicit crossed blocks included),
labels and parameters where the L1 fit would start, and stops there.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import capture_call, captured_arguments, proc_status_gib, reset_peak  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _capture(data: Path, dst: Path) -> None:
    """Run Core scoring on ``data`` until the pflip fit; pickle the fit's arguments to ``dst``."""
    import cnlab.io as cio
    from cnlab.models import pflip as P
    from cnlab.pipeline import ScoringConfig, score

    def pack(self, notes, ratings, nsh, pro, *, seed=None, **_):
        return notes, ratings, nsh, pro, seed

    if not capture_call(P.PFlipModel, "fit", dst,
                        lambda: score(cio.load(directory=str(data)), ScoringConfig(seed=42, pcrh="none")), pack):
        raise SystemExit(f"no pflip fit in a Core run of {data}")


def _from_checkpoint(ckpt: Path, data: Path, post_fraction: float = 1.0):
    """``(notes, ratings, status_history, rater_output, seed)`` of the pflip fit of a Core run,
    read from its checkpoint (see the module docstring)."""
    import json as _json

    import numpy as np
    import pyarrow.feather as feather

    import cnlab.io as cio
    from cnlab import schema as S
    from cnlab.scorers.outputs import load_official_prescoring, map_participant_ids

    inputs = ckpt / "inputs"
    parts = pd_index(feather.read_table(inputs / "participants.arrow").column("id").to_pylist())
    notes = cio.read_notes(cio.find_files(data)["notes"])
    nsh = feather.read_table(inputs / "status_history.arrow", memory_map=True).to_pandas()
    keep = None
    if post_fraction < 1.0:
        tw = notes[S.TWEET_ID].to_numpy(dtype=np.uint64)
        # a fixed multiplicative hash of the post id: the same posts in every run
        h = (tw * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        keep_notes = notes.loc[h < np.uint64(post_fraction * 2**24), S.NOTE_ID].to_numpy()
        notes = notes[notes[S.NOTE_ID].isin(keep_notes)].reset_index(drop=True)
        nsh = nsh[nsh[S.NOTE_ID].isin(keep_notes)].reset_index(drop=True)
        keep = keep_notes
    table = feather.read_table(inputs / "ratings.arrow", memory_map=True)
    if keep is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        table = table.filter(pc.is_in(table.column(S.NOTE_ID), value_set=pa.array(keep)))
    ratings = table.to_pandas()
    del table
    pro = map_participant_ids(load_official_prescoring(ckpt / "prescoring" / "MFCoreScorer", parts), parts)
    seed = _json.loads((inputs / "context.json").read_text()).get("seed")
    return notes, ratings, nsh, pro.rater_model_output, seed


def pd_index(values):
    import pandas as pd

    return pd.Index(values)


def _watchdog(limit_gib: float) -> None:
    """End this process (exit 137) when its resident memory passes ``limit_gib``."""
    import threading

    def watch():
        while True:
            if _rss() > limit_gib:
                print(f"resident memory above {limit_gib} GiB: stopped", file=sys.stderr, flush=True)
                os._exit(137)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()


def _rss() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30




def _save_design(path: Path):
    """A replacement of ``L1Logistic.fit`` that pickles its arguments and the estimator's parameters
    to ``path`` and stops the fit (``bench/l1_solver.py`` reads them)."""
    import numpy as np

    def fit(self, x, y):
        with open(path, "wb") as f:
            pickle.dump({"x": x, "y": np.asarray(y), "params": self.get_params()}, f, protocol=5)
        raise _DesignSaved
    return fit


class _DesignSaved(Exception):
    pass


def _measure(args_path: Path, solver: str = "auto", lean: bool = False, crossed: str = "auto",
             decisions: Path | None = None, source: tuple | None = None, stop_after: str | None = None,
             save_design: Path | None = None) -> dict:
    """One fit in this process; per-step seconds and peaks via wrappers on the steps' entry points."""
    import numpy as np

    from cnlab._timing import return_freed_memory_to_the_os

    return_freed_memory_to_the_os()  # as `cnlab score` does from 1M ratings
    if source is not None:
        notes, ratings, nsh, pro, seed = _from_checkpoint(*source)
    else:
        with open(args_path, "rb") as f:
            notes, ratings, nsh, pro, seed = pickle.load(f)
    import cnlab.models.pflip as P
    import cnlab.models.pflip_bag as B
    from cnlab.models.pflip_features import PFlipConfig

    try:
        from cnlab.models.l1_logistic import L1Logistic
    except ImportError:  # an older cnlab: liblinear only
        L1Logistic = None
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    steps, depth, top, nnz = [], [0], [0.0], [0]

    class _Stop(Exception):
        pass

    def wrap(owner, name, label):
        f = getattr(owner, name, None)
        if f is None:  # an older cnlab (a baseline run): the step does not exist there
            return

        @functools.wraps(f)
        def g(*a, **k):
            if depth[0]:  # only the outermost wrapped call is a step
                return f(*a, **k)
            depth[0] += 1
            top[0] = max(top[0], proc_status_gib("VmHWM"))
            reset_peak()
            r0, t = _rss(), time.perf_counter()
            try:
                out = f(*a, **k)
                if label == "features" and hasattr(out, "nnz"):
                    nnz[0] = int(out.nnz)  # an implicit design counts its crossed entries
            finally:
                depth[0] -= 1
                h = proc_status_gib("VmHWM")
                top[0] = max(top[0], h)
                steps.append({"step": label, "s": round(time.perf_counter() - t, 2),
                              "rss_at_start": round(r0, 3), "peak": round(h, 3)})
                print(f"step {steps[-1]}", file=sys.stderr, flush=True)  # seen if the run is stopped
            if label == stop_after:
                raise _Stop
            return out
        setattr(owner, name, g)

    wrap(P, "training_frame", "training frame")
    wrap(P, "pre_transform", "pre-transform")
    wrap(ColumnTransformer, "fit_transform", "features")
    try:
        from cnlab.models import pflip_design as D
    except ImportError:  # an older cnlab: crossed blocks always explicit
        D = None
    if D is not None:
        wrap(D.CrossedFreeFeatures, "fit_transform", "features")
        wrap(D, "fit_design_variance", "variance filter fit")
    wrap(VarianceThreshold, "fit", "variance filter fit")
    wrap(B, "fit_variance_filter", "variance filter fit")
    wrap(VarianceThreshold, "transform", "variance filter select")
    if L1Logistic is not None:
        wrap(L1Logistic, "fit", "L1 logistic fit")
        wrap(L1Logistic, "decision_function", "decision values")
    wrap(LogisticRegression, "fit", "liblinear fit")
    wrap(Pipeline, "decision_function", "pipeline decision values")
    wrap(LogisticRegression, "decision_function", "decision values")
    if save_design is not None:
        L1Logistic.fit = _save_design(save_design)
    reset_peak()
    before = _rss()
    t0, c0 = time.perf_counter(), time.process_time()
    cfg = PFlipConfig(solver=solver) if L1Logistic is not None else PFlipConfig()
    if D is not None:
        cfg = dataclasses.replace(cfg, crossed=crossed)
    try:
        m = P.PFlipModel(config=cfg).fit(notes, ratings, nsh, pro, seed=seed,
                                         **({"keep_frame": False} if lean else {}))
    except (_Stop, _DesignSaved) as e:
        if isinstance(e, _DesignSaved):
            stop_after = f"features (design saved to {save_design})"
        return {"steps": steps, "fit_s": round(time.perf_counter() - t0, 2),
                "cpu_s": round(time.process_time() - c0, 2), "rss_before_gib": round(before, 3),
                "peak_gib": round(max(top[0], proc_status_gib("VmHWM")), 3), "stopped_after": stop_after,
                "ratings": len(ratings)}
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = max(top[0], proc_status_gib("VmHWM"))
    depth[0] = 1  # the check below is no step
    d = (np.zeros(0) if m.train_frame is None  # a lean fit keeps no training frame: no sha
         else m.pipeline.decision_function(P.pre_transform(m.train_frame, m.clip, m.config)))
    if decisions is not None:  # to compare two variants' values, not only their bytes
        np.save(decisions, d)
    return {"steps": steps, "fit_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "rss_before_gib": round(before, 3), "peak_gib": round(peak, 3),
            "peak_above_inputs_gib": round(peak - before, 3), "nnz": nnz[0],
            "bytes_per_nnz_at_peak": round((peak - before) * 2**30 / nnz[0], 1) if nnz[0] else None,
            "solver": getattr(m.pipeline.named_steps["lr"], "solver_", "liblinear (before L1Logistic)"), "threshold": m.threshold, "features": m.metrics.get("features"),
            "decision_sha": (hashlib.sha256(np.ascontiguousarray(d).tobytes()).hexdigest()[:16]
                             if d.size else None)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", type=Path, help="data folder (captured once)")
    ap.add_argument("--args", type=Path, help="captured arguments (instead of DATA)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "pflip_fit")
    ap.add_argument("--solver", default="auto", choices=("auto", "liblinear", "working_set"),
                    help="PFlipConfig.solver of the fit (default auto)")
    ap.add_argument("--lean", action="store_true",
                    help="fit without keeping the training frame (keep_frame=False, as a lean run)")
    ap.add_argument("--crossed", default="auto", choices=("auto", "explicit", "implicit"),
                    help="PFlipConfig.crossed of the fit (default auto; ignored by an older cnlab)")
    ap.add_argument("--decisions", type=Path,
                    help="save the last run's training decision values here (.npy)")
    ap.add_argument("--checkpoint", type=Path,
                    help="build the arguments from this checkpoint folder (with DATA for the notes)")
    ap.add_argument("--post-fraction", type=float, default=1.0,
                    help="with --checkpoint: keep this fraction of the posts (default all)")
    ap.add_argument("--stop-after", choices=("training frame", "pre-transform", "features"),
                    help="stop after this step (its figures only)")
    ap.add_argument("--save-design", type=Path,
                    help="pickle the classifier's design matrix, labels and parameters here and stop "
                         "(input of bench/l1_solver.py)")
    ap.add_argument("--rss-limit-gib", type=float, default=22.0,
                    help="end a run whose resident memory passes this (default 22)")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # child: measure once, print JSON
    a = ap.parse_args(argv)
    if a.one:
        import logging

        # the classifier's working-set rounds, as they end, on stderr (a long fit shows progress)
        logging.basicConfig(format="%(asctime)s %(message)s")
        logging.getLogger("cnlab.models.l1_logistic").setLevel(logging.INFO)
        _watchdog(a.rss_limit_gib)
        src = (a.checkpoint, a.data, a.post_fraction) if a.checkpoint else None
        print(json.dumps(_measure(a.one, a.solver, a.lean, a.crossed, a.decisions, src, a.stop_after,
                                  a.save_design)))
        return
    if a.checkpoint is not None:
        if a.data is None:
            ap.error("--checkpoint needs DATA (the notes)")
        a.args = Path("-")
    if a.args is None:
        a.args = captured_arguments(a.data, a.out, _capture, ap.error)
    for i in range(a.repeat):
        src = ([str(a.data), "--checkpoint", str(a.checkpoint), "--post-fraction", str(a.post_fraction)]
               if a.checkpoint else [])
        p = subprocess.run([sys.executable, __file__, "--one", str(a.args), "--solver", a.solver, "--crossed", a.crossed,
                            "--rss-limit-gib", str(a.rss_limit_gib), *src,
                            *(["--stop-after", a.stop_after] if a.stop_after else []),
                            *(["--lean"] if a.lean else []),
                            *(["--save-design", str(a.save_design)] if a.save_design else []),
                            *(["--decisions", str(a.decisions)] if a.decisions else [])],
                           stdout=subprocess.PIPE, text=True)  # stderr (the rounds) passes through
        if p.returncode != 0:
            print(f"run {i + 1}: exit {p.returncode} (its stderr is above)")
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        if "stopped_after" in r:
            print(f"run {i + 1}: stopped after {r['stopped_after']!r} ({r['ratings']:,} ratings): "
                  f"{r['fit_s']} s, peak {r['peak_gib']} GiB (inputs held: {r['rss_before_gib']} GiB)")
            for s in r["steps"]:
                print(f"    {s['step']:<26} {s['s']:6.2f} s   RSS at start {s['rss_at_start']:.3f}   "
                      f"peak {s['peak']:.3f} GiB")
            continue
        print(f"run {i + 1} ({r['solver']}): fit {r['fit_s']} s (CPU {r['cpu_s']} s), peak {r['peak_gib']} GiB "
              f"(+{r['peak_above_inputs_gib']} above the inputs; {r['nnz']:,} non-zeros, "
              f"{r['bytes_per_nnz_at_peak']} B each), threshold {r['threshold']!r}, "
              f"decision sha {r['decision_sha'] or 'none (a lean fit keeps no training frame)'}")
        for s in r["steps"]:
            print(f"    {s['step']:<26} {s['s']:6.2f} s   RSS at start {s['rss_at_start']:.3f}   "
                  f"peak {s['peak']:.3f} GiB")


if __name__ == "__main__":
    main()
