"""PCRH fit: seconds and memory of each step, where the memory peaks, this tree against a baseline.

    .venv/bin/python bench/pcrh_memory.py DATA_DIR [--baseline-rev REV] [--out out/pcrh_memory]
    .venv/bin/python bench/pcrh_memory.py --args ARGS.pkl [--baseline-rev REV] [--chunk-ratings N]

With ``DATA_DIR`` (a public-shaped download, e.g. ``cnlab synth`` output) a Core run (seed 42,
pflip off) stops where the PCRH model is fitted and pickles the fit's arguments to
``OUT/args-<folder>.pkl`` (`_runner.capture_name`) (reused when present). Each version (the baseline's ``cnlab`` unpacked
from git, then this tree) fits the model in its own process, lean (``keep_training=False``, as
``cnlab score`` does), with a sampler reading the resident memory every 20 ms together with the
lines of cnlab code being run. Printed per version: the fit's seconds, its peak above the inputs
in bytes per input rating and the lines where the largest peaks were reached; then whether the
fits agree (the training report, less its chunk count, and the model's probabilities on a fixed
sample of feature vectors, compared by hash). ``--chunk-ratings N`` adds a fit of this tree with
``PCRHConfig(chunk_ratings=N)``, i.e. several note chunks at a size where the default takes one.
``--threads N [N ...]`` fits this tree once per boosting thread count (``PCRHModel.fit(threads=)``;
the first count is the baseline of the ratios), on a machine where nothing else runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _runner import (LineSampler, baseline_tree, capture_call, captured_arguments, child_json,  # noqa: E402
                     print_peak_table)


def capture(data: Path, dst: Path) -> None:
    """Run Core scoring on ``data`` until the PCRH fit; pickle the fit's arguments to ``dst``."""
    import cnlab.io as cio
    from cnlab.models import pcrh as P
    from cnlab.pipeline import ScoringConfig, score

    def pack(self, notes, ratings, status_history, prescoring_rater_output, **kw):
        kw = {k: v for k, v in kw.items() if k not in ("keep_training", "ratings_read", "threads")}
        return notes, ratings, status_history, prescoring_rater_output, kw

    if not capture_call(P.PCRHModel, "fit", dst,
                        lambda: score(cio.load(directory=str(data)), ScoringConfig(seed=42, pflip="none")), pack):
        raise SystemExit(f"no PCRH fit in a Core run of {data}")


def measure(args_path: Path, top: int, chunk: int | None = None, threads: int = 1) -> dict:
    import numpy as np
    import pandas as pd

    from cnlab._timing import return_freed_memory_to_the_os

    return_freed_memory_to_the_os()  # as `cnlab score` does from 1M ratings
    with open(args_path, "rb") as f:
        notes, ratings, nsh, pro, kw = pickle.load(f)
    kw.pop("threads", None)  # the run's boosting threads: each version here sets its own
    import cnlab
    from cnlab.models.pcrh import PCRHConfig, PCRHModel

    cfg = PCRHConfig() if chunk is None else PCRHConfig(chunk_ratings=chunk)
    import logging

    said: list[str] = []  # the fit's own line on the boosting's seconds
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append(record.getMessage())
    logging.getLogger("cnlab").addHandler(handler)
    logging.getLogger("cnlab").setLevel(logging.INFO)
    prof = LineSampler()
    with prof:
        with prof.stage("fit"):
            m = PCRHModel(cfg).fit(notes, ratings, nsh, pro, keep_training=False,
                                   **({"threads": threads} if threads != 1 else {}), **kw)
    rep = prof.report("fit", len(ratings), top)
    # the model's own agreement: the report's counts and P(CRH) on a fixed sample of raw features
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, len(m.feature_columns)))
    xs = m.scaler.transform(x)
    if m.binning is not None:
        xs = m.binning.transform(xs)
    proba = m.model.predict_proba(xs)[:, 1]
    counts = {k: v for k, v in m.report.items() if isinstance(v, (int, float, str)) and k != "note_chunks"}
    return {"ratings": len(ratings), "package": str(Path(cnlab.__file__).parents[1]), **rep,
            "report": counts,
            "proba_sha": hashlib.sha256(np.ascontiguousarray(proba).tobytes()).hexdigest()[:16],
            "report_sha": hashlib.sha256(json.dumps(counts, sort_keys=True).encode()).hexdigest()[:16],
            "pandas": pd.__version__, "boosting": [m for m in said if m.startswith("PCRH: boosting")]}


def run_version(args_path: Path, top: int, tree: Path | None, chunk: int | None = None,
                threads: int = 1) -> dict:
    return child_json(__file__, ["--args", str(args_path), "--top", str(top),
                                 *(["--chunk-ratings", str(chunk)] if chunk else []),
                                 *(["--threads", str(threads)] if threads != 1 else [])], tree, "fit")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, help="data folder (its arguments captured once)")
    ap.add_argument("--args", type=Path, help="captured arguments (instead of DATA)")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "pcrh_memory")
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--top", type=int, default=4, help="peak lines listed per version")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cnlab-pcrh-memory"))
    ap.add_argument("--chunk-ratings", type=int, default=None,
                    help="also fit this tree with PCRHConfig(chunk_ratings=N) (several note chunks)")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="fit this tree once per boosting thread count (the first is the baseline)")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._child:
        print(json.dumps(measure(a.args, a.top, a.chunk_ratings, (a.threads or [1])[0])))
        return 0
    if a.args is None:
        a.args = captured_arguments(a.data, a.out, capture, ap.error)
    runs = []
    if a.baseline_rev:
        runs.append((a.baseline_rev, run_version(a.args, a.top, baseline_tree(a.baseline_rev, Path(a.workdir)))))
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    if a.threads:
        for t in a.threads:
            runs.append((f"this tree ({rev}), boosting on {t} thread(s)", run_version(a.args, a.top, None, threads=t)))
    else:
        runs.append((f"this tree ({rev})", run_version(a.args, a.top, None)))
    if a.chunk_ratings:
        runs.append((f"this tree, chunks of {a.chunk_ratings:,} ratings",
                     run_version(a.args, a.top, None, a.chunk_ratings)))
    n = runs[0][1]["ratings"]
    print(f"### PCRH fit, {n:,} input ratings (`bench/pcrh_memory.py {' '.join(sys.argv[1:])}`)\n")
    print_peak_table(runs)
    print("\ntraining report: " + json.dumps(runs[-1][1]["report"]))
    for label, r in runs:
        for line in r.get("boosting", []):
            print(f"{label}: {line}")
    for label, r in runs[1:]:
        same = [k for k in ("report_sha", "proba_sha") if runs[0][1][k] == r[k]]
        print(f"{label}: same fit as {runs[0][0]}: " + ", ".join(
            f"{k[:-4]} {'yes' if k in same else '**no**'}" for k in ("report_sha", "proba_sha")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
