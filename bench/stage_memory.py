"""Memory of the stages before prescoring: where each one peaks, this tree against a baseline.

    .venv/bin/python bench/stage_memory.py --data DIR [--stages load,preprocess,topics,pss]
                                           [--baseline-rev REV] [--top 3]

Each version (the baseline's ``cnlab`` package unpacked from git, then this tree) runs in its own
process: ``cnlab.load`` of ``DIR``, :func:`cnlab.preprocess.preprocess`, the topic model and rater
clustering (PSS and quasi-cliques), one after the other, as ``cnlab score`` runs them. A sampler
thread reads the process's resident memory every 20 ms with the line of cnlab code the main
thread is in, and reports for each stage its resident memory at the start, its peak above that
start (bytes a rating) and the lines where the peaks were reached: the profile that says where a
stage's memory goes. The outputs of the two versions are compared (the ratings frame, the
preprocessed ratings, the PSS table), so a change of memory is shown to leave the results alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _runner import LineSampler, baseline_tree, child_json  # noqa: E402
STAGES = ("load", "preprocess", "topics", "pss")


def measure(data: str, stages: list[str], top: int) -> dict:
    import pandas as pd

    import cnlab
    from cnlab.preprocess import preprocess

    prof = LineSampler()
    digests = {}

    def stage(name, fn):
        with prof.stage(name):
            return fn()

    with prof:
        ds = stage("load", lambda: cnlab.load(data))
        digests["ratings"] = int(pd.util.hash_pandas_object(ds.ratings, index=True).sum())
        pre = None
        if "preprocess" in stages or "topics" in stages or "pss" in stages:
            pre = stage("preprocess", lambda: preprocess(ds))
            digests["preprocessed"] = int(pd.util.hash_pandas_object(pre.ratings, index=True).sum())
        if "topics" in stages:
            from cnlab.models.topics import fit_assign_topics

            nt = stage("topics", lambda: fit_assign_topics(pre.notes, seed=0)[1])
            digests["topics"] = int(pd.util.hash_pandas_object(nt.reset_index(drop=True), index=True).sum())
        if "pss" in stages:
            from cnlab.models.similarity import rater_clustering

            pss = stage("pss", lambda: rater_clustering(pre.notes, pre.ratings))
            digests["pss"] = int(pd.util.hash_pandas_object(pss.reset_index(drop=True), index=True).sum())
    n = len(ds.ratings)
    report = {"ratings": n, "package": str(Path(cnlab.__file__).parents[1]), "digests": digests, "stages": {}}
    for name in stages:
        r = prof.report(name, n, top)
        if r is not None:
            report["stages"][name] = r
    return report


def run_version(data: str, stages: list[str], top: int, tree: Path | None) -> dict:
    return child_json(__file__, ["--data", data, "--stages", ",".join(stages), "--top", str(top)], tree,
                      "stage memory")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a public-format dataset folder")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--top", type=int, default=3, help="peak lines listed per stage")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cnlab-stage-memory"))
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    stages = [s for s in a.stages.split(",") if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise SystemExit(f"unknown stage(s): {', '.join(sorted(unknown))} (choose from {', '.join(STAGES)})")
    if a._child:
        print(json.dumps(measure(a.data, stages, a.top)))
        return 0
    runs = []
    if a.baseline_rev:
        runs.append((a.baseline_rev, run_version(a.data, stages, a.top, baseline_tree(a.baseline_rev, Path(a.workdir)))))
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    runs.append((f"this tree ({rev})", run_version(a.data, stages, a.top, None)))
    n = runs[0][1]["ratings"]
    print(f"### Stage memory, {n:,} ratings (`bench/stage_memory.py {' '.join(sys.argv[1:])}`)\n")
    print("| stage | version | seconds | resident at start | peak | peak above start, B a rating | where (B a rating above start) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name in stages:
        for label, rep in runs:
            st = rep["stages"].get(name)
            if st is None:
                continue
            where = "; ".join(f"`{w}` {b:.1f}" for w, b in st["where"])
            print(f"| {name} | {label} | {st['seconds']:.1f} | {st['start_gib']:.2f} GiB | {st['peak_gib']:.2f} GiB | "
                  f"{st['peak_above_start_b']:.1f} | {where} |")
    if len(runs) == 2:
        a_d, b_d = runs[0][1]["digests"], runs[1][1]["digests"]
        same = {k: a_d.get(k) == b_d.get(k) for k in b_d}
        print("\nsame outputs as the baseline: " + ", ".join(f"{k} {'yes' if v else '**no**'}" for k, v in same.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
