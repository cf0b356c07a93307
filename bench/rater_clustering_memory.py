"""Rater clustering memory benchmark: the peak and seconds of PSS and of quasi-cliques on one data set.

Usage::

    .venv/bin/python bench/rater_clustering_memory.py DATA_DIR [--baseline-rev REV] [--parts pss,qc]
                                                      [--pair-memory-mib M]

``DATA_DIR`` is a public-shaped download (e.g. ``cnlab synth`` output, or ``bench/scale.py``'s
``out/scale/r<N>/data``). Each part runs in a fresh process: the data are loaded and preprocessed
as ``cnlab score`` does, then :func:`cnlab.models.similarity.post_selection_similarity` or
:func:`cnlab.models.quasi_cliques.quasi_cliques` runs alone. Printed per part: the seconds, the
peak resident memory above what the process held before the part (``VmHWM`` reset at its start),
that peak per rating, and the sha256 of the part's output frame (which must not change when the
code is reworked). With ``--baseline-rev`` the same parts run first from a git worktree of that
commit, so both versions are measured in one invocation. ``--pair-memory-mib`` sets PSS's pair
counting budget (``PssConfig.pair_memory_bytes``, 2 GiB by default), so that a small data set is
counted in as many partitions as a large one is under the default.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import proc_status_gib, reset_peak  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _measure(data: Path, part: str, pair_memory_mib: float | None = None) -> dict:
    import gc

    import cnlab.io as cio
    from cnlab.preprocess import preprocess

    t0 = time.perf_counter()
    dataset = cio.load(directory=str(data))
    pre = preprocess(dataset)
    del dataset
    notes, ratings = pre.notes, pre.ratings
    load_s = time.perf_counter() - t0
    gc.collect()
    base = proc_status_gib("VmRSS")
    load_peak = proc_status_gib("VmHWM")
    kwargs = {}
    if part == "pss":
        from cnlab.models.similarity import PssConfig
        from cnlab.models.similarity import post_selection_similarity as fn

        if pair_memory_mib is not None:
            kwargs["config"] = PssConfig(pair_memory_bytes=int(pair_memory_mib * 2**20))
    else:
        from cnlab.models.quasi_cliques import quasi_cliques as fn
    reset_peak()
    t0 = time.perf_counter()
    out = fn(notes, ratings, **kwargs)
    seconds = time.perf_counter() - t0
    peak = proc_status_gib("VmHWM") - base
    sha = hashlib.sha256(out.to_csv(index=False).encode()).hexdigest()[:16]
    return {"part": part, "ratings": len(ratings), "load_s": load_s, "load_peak_gib": load_peak, "base_gib": base, "seconds": seconds,
            "peak_gib": peak, "rows": len(out), "sha": sha}


def _run(tree: Path, data: Path, part: str, pair_memory_mib: float | None = None) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(tree))
    extra = [] if pair_memory_mib is None else ["--pair-memory-mib", str(pair_memory_mib)]
    res = subprocess.run([sys.executable, __file__, "--child", part, str(data), *extra], env=env, cwd=tree,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{part} at {tree}: rc {res.returncode}\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--baseline-rev")
    ap.add_argument("--parts", default="pss,qc")
    ap.add_argument("--pair-memory-mib", type=float, default=None,
                    help="PSS pair-counting budget in MiB (default: PssConfig's 2 GiB)")
    ap.add_argument("--child", metavar="PART", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(_measure(a.data.resolve(), a.child, a.pair_memory_mib)))
        return 0
    data = a.data.resolve()
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    rev += "+changes" if dirty else ""
    versions = [(rev, REPO)]
    tmp = None
    if a.baseline_rev:
        tmp = Path(tempfile.mkdtemp(prefix="rc-baseline-"))
        tree = tmp / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), a.baseline_rev], cwd=REPO,
                       check=True, capture_output=True)
        versions.insert(0, (a.baseline_rev, tree))
    try:
        results = {}
        for name, tree in versions:
            for part in a.parts.split(","):
                r = _run(tree, data, part, a.pair_memory_mib)
                results[(name, part)] = r
                print(f"{name:>12} {part:>4}: {r['seconds']:7.1f} s  peak +{r['peak_gib']:.2f} GiB "
                      f"({r['peak_gib'] * 2**30 / r['ratings']:.0f} B/rating) over {r['base_gib']:.2f} GiB held; "
                      f"{r['rows']} rows, sha {r['sha']} (load + preprocess {r['load_s']:.0f} s, peak "
                      f"{r['load_peak_gib']:.2f} GiB)", flush=True)
        if a.baseline_rev:
            for part in a.parts.split(","):
                old, new = results[(a.baseline_rev, part)], results[(rev, part)]
                same = "same output" if old["sha"] == new["sha"] else "OUTPUT DIFFERS"
                print(f"{part}: peak {new['peak_gib'] / max(old['peak_gib'], 1e-9):.2f}x, "
                      f"time {new['seconds'] / max(old['seconds'], 1e-9):.2f}x, {same}")
    finally:
        if tmp is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "tree")], cwd=REPO,
                           capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
