"""Final scoring of one MF scorer, or contributor scoring: seconds and where the memory peaks,
this tree against a baseline.

    .venv/bin/python bench/final_memory.py DATA_DIR [--scorer MFCoreScorer] [--baseline-rev REV]
    .venv/bin/python bench/final_memory.py --args ARGS.pkl [--baseline-rev REV]
    .venv/bin/python bench/final_memory.py DATA_DIR --call contributors [--baseline-rev REV]

With ``DATA_DIR`` (a public-shaped download, e.g. ``cnlab synth`` output) a run of the scorer alone
(seed 42, pflip and PCRH off) stops where its final scoring starts and pickles its arguments (the
PSS-coalesced final ratings, status history, enrollment, scorer, prescoring outputs, context) to
``OUT/args-<folder>.pkl`` (`_runner.capture_name`) (reused when present). Each version (the baseline's ``cnlab`` unpacked
from git, then this tree) runs that final scoring in its own process, lean (``keep_ratings=False``,
as ``cnlab score`` does), with the resident memory sampled every 20 ms beside the lines of cnlab
code being run (TensorFlow imported and started first: a fixed cost). Printed per version:
seconds, the peak above the inputs in bytes per final rating
and the lines of the largest peaks; then whether the outputs agree (the scored-notes and
helpfulness frames compared by hash).

``--spilled DIR`` gives the ratings as a lean run at scale holds them (columns read from an
Arrow file when asked, :class:`cnlab._columns.TakenColumns`), so that the reads count too.

``--call contributors`` does the same for the run's last stage over all ratings, contributor
scoring (spec 07 A): a lean Core run (pflip and PCRH off) stops there and pickles its arguments
to ``OUT/contributors/args-<folder>.pkl``; the output compared is the contributor table.
"""

from __future__ import annotations

import argparse
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


def capture(data: Path, dst: Path, scorer: str = "MFCoreScorer") -> None:
    """Score ``data`` with ``scorer`` alone until its final scoring; pickle that call's arguments."""
    import cnlab.io as cio
    import cnlab.scorers.mf_final as F
    from cnlab.pipeline import ScoringConfig, score
    from cnlab.scorers.mf_config import SCORERS, meta_scorer_names

    def pack(ratings, status_history, enrollment, config, prescoring, **kw):
        kw = {k: v for k, v in kw.items() if k not in ("timer", "keep_ratings")}
        return ratings, status_history, enrollment, config, prescoring, kw

    roster = (SCORERS[scorer],)
    cfg = ScoringConfig(scorers=roster, enabled_meta_scorers=meta_scorer_names(roster), seed=42,
                        pflip="none", pcrh="none")
    if not capture_call(F, "score_final", dst, lambda: score(cio.load(directory=str(data)), cfg), pack):
        raise SystemExit(f"no final scoring of {scorer} in a run of {data}")


def capture_contributors(data: Path, dst: Path) -> None:
    """Score ``data`` with the Core scorer (lean, pflip and PCRH off) until contributor scoring;
    pickle that call's arguments."""
    import cnlab.io as cio
    import cnlab.pipeline.run as R
    from cnlab.pipeline import ScoringConfig, score
    from cnlab.scorers.mf_config import SCORERS, meta_scorer_names

    roster = (SCORERS["MFCoreScorer"],)
    cfg = ScoringConfig(scorers=roster, enabled_meta_scorers=meta_scorer_names(roster), seed=42,
                        pflip="none", pcrh="none")
    if not capture_call(R, "contributor_scores", dst,
                        lambda: score(cio.load(directory=str(data)), cfg, keep="outputs"),
                        lambda *args, **kw: (args, kw)):
        raise SystemExit(f"no contributor scoring in a run of {data}")


def digest(frame) -> str:
    import hashlib

    import pandas as pd

    if frame is None:
        return "-"
    f = frame.sort_index(axis=1).reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes()).hexdigest()[:16]


def measure_contributors(args_path: Path, top: int, spilled: Path | None = None) -> dict:
    from cnlab._timing import return_freed_memory_to_the_os

    return_freed_memory_to_the_os()
    with open(args_path, "rb") as f:
        args, kw = pickle.load(f)
    import cnlab
    from cnlab.contributors import contributor_scores

    if spilled is not None:  # as a lean run at scale gives them: columns read from disk when asked
        args = (*args[:3], spilled_view(args[3], spilled, positions=False), *args[4:])
        return_freed_memory_to_the_os()

    prof = LineSampler()
    with prof:
        with prof.stage("contributors"):
            out = contributor_scores(*args, **kw)
    ratings = args[3]  # (scored notes, aux, new status history, ratings, ...)
    rep = prof.report("contributors", len(ratings), top)
    return {"ratings": len(ratings), "package": str(Path(cnlab.__file__).parents[1]), **rep,
            "digests": {"contributors": digest(out)}}


def spilled_view(frame, folder: Path, added: tuple[str, ...] = (), positions: bool = True):
    """``frame`` as a lean run at scale holds its ratings: written to an uncompressed Arrow file
    (record batches of 2^18 rows, as the run's spill), each column read from it when asked, at
    positions (``positions``: the final ratings' view, its rows in another order than the file's
    as after PSS coalescing; else none, as contributor scoring's), with ``added`` columns kept in
    memory (the final ratings' ``correlatedRater``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.feather as feather

    from cnlab._columns import TakenColumns
    from cnlab.pipeline.spill import ArrowColumns

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ratings.arrow"
    kept = [c for c in frame.columns if c not in added]
    take = None
    if positions:  # as PSS coalescing orders them: not the file's order (every 20th row at the end)
        n = len(frame)
        moved = np.zeros(n, bool)
        moved[::20] = True
        take = np.concatenate([np.flatnonzero(~moved), np.flatnonzero(moved)])
        frame_in_file = frame[kept].iloc[np.argsort(take, kind="stable")]  # file.iloc[take] == frame
    else:
        frame_in_file = frame[kept]
    feather.write_feather(pa.Table.from_pandas(frame_in_file, preserve_index=False), str(path),
                          compression="uncompressed", chunksize=1 << 18)
    del frame_in_file
    extra = {c: frame[c].to_numpy() for c in added if c in frame.columns}
    return TakenColumns(ArrowColumns(path), take, extra, n_rows=len(frame))


def measure(args_path: Path, top: int, spilled: Path | None = None) -> dict:
    from cnlab._timing import return_freed_memory_to_the_os

    return_freed_memory_to_the_os()  # as `cnlab score` does from 1M ratings
    with open(args_path, "rb") as f:
        ratings, nsh, enrollment, config, prescoring, kw = pickle.load(f)
    import cnlab
    from cnlab.scorers.mf_final import score_final

    if spilled is not None:
        ratings = spilled_view(ratings, spilled, added=("correlatedRater",))
        return_freed_memory_to_the_os()

    warm_tensorflow()  # its libraries and runtime (~0.5 GiB, whatever the data) before the start
    prof = LineSampler()
    with prof:
        with prof.stage("final"):
            out = score_final(ratings, nsh, enrollment, config, prescoring, keep_ratings=False, **kw)
    rep = prof.report("final", len(ratings), top)

    frames = {k: getattr(out, k, None) for k in ("scored_notes", "helpfulness_scores")}
    return {"ratings": len(ratings), "package": str(Path(cnlab.__file__).parents[1]), **rep,
            "digests": {k: digest(v) for k, v in frames.items()}}


def warm_tensorflow() -> None:
    """Import TensorFlow as cnlab does (its thread settings applied first: a TensorFlow started
    by other code runs ops on several threads and its sums vary run to run) and run one op: a
    fixed ~0.5 GiB that would otherwise count in the peak above the start (at 10M, ~54 bytes a
    rating that do not grow with the data)."""
    from cnlab.mf._tf_setup import import_tensorflow

    tf = import_tensorflow()
    float(tf.reduce_sum(tf.ones(4)))


def run_version(args_path: Path, top: int, tree: Path | None, call: str, row_block: int | None = None,
                spilled: Path | None = None) -> dict:
    return child_json(__file__, ["--args", str(args_path), "--top", str(top), "--call", call,
                                 *(["--row-block", str(row_block)] if row_block else []),
                                 *(["--spilled", str(spilled)] if spilled else [])], tree, call)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, help="data folder (its arguments captured once)")
    ap.add_argument("--args", type=Path, help="captured arguments (instead of DATA)")
    ap.add_argument("--scorer", default="MFCoreScorer", help="the MF scorer whose final scoring is measured")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "final_memory")
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--top", type=int, default=5, help="peak lines listed per version")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cnlab-final-memory"))
    ap.add_argument("--call", choices=("score_final", "contributors"), default="score_final",
                    help="what is measured: the scorer's final scoring or contributor scoring")
    ap.add_argument("--row-block", type=int, default=None,
                    help="ratings looked up at a time in the valid-rating and contributor passes "
                         "(cnlab.scoring.helpfulness.ROW_BLOCK): a smaller block makes a small capture "
                         "take as many blocks as the full size does (206M ratings: 13 of 2^24)")
    ap.add_argument("--spilled", type=Path, default=None,
                    help="give the ratings as a lean run at scale does: written to an Arrow file in "
                         "this folder first, each column read from it when asked")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    contributors = a.call == "contributors"
    if a._child and a.row_block:
        import cnlab.contributors as C
        import cnlab.scoring.helpfulness as H

        H.ROW_BLOCK = C.ROW_BLOCK = a.row_block  # a version without the blocks ignores it
    if a._child:
        print(json.dumps(measure_contributors(a.args, a.top, a.spilled) if contributors
                         else measure(a.args, a.top, a.spilled)))
        return 0
    if a.args is None:
        a.args = (captured_arguments(a.data, a.out / "contributors", capture_contributors, ap.error)
                  if contributors else
                  captured_arguments(a.data, a.out, lambda d, p: capture(d, p, a.scorer), ap.error))
    runs = []
    if a.baseline_rev:
        tree = baseline_tree(a.baseline_rev, Path(a.workdir))
        runs.append((a.baseline_rev, run_version(a.args, a.top, tree, a.call, a.row_block, a.spilled)))
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    runs.append((f"this tree ({rev})", run_version(a.args, a.top, None, a.call, a.row_block, a.spilled)))
    n = runs[0][1]["ratings"]
    what = "Contributor scoring" if contributors else "Final scoring"
    print(f"### {what}, {n:,} ratings (`bench/final_memory.py {' '.join(sys.argv[1:])}`)\n")
    print_peak_table(runs)
    for label, r in runs[1:]:
        same = [k for k, v in r["digests"].items() if runs[0][1]["digests"].get(k) == v]
        print(f"{label}: same outputs as {runs[0][0]}: " + ", ".join(
            f"{k} {'yes' if k in same else '**no**'}" for k in r["digests"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
