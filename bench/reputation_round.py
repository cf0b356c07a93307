"""Cost of a reputation-MF round (the low-diligence model's training loop), per step and per trace.

Usage::

    .venv/bin/python bench/reputation_round.py [--baseline-rev REV] [--repeats 3]

For each round the diligence model runs (round 1, round 2, round 3 / final phase B, final phase A,
and a round that trains nothing, "frozen") on two random problems, 3,000 ratings (300 notes, 100 raters: a
group scorer's slice) and 66,000 ratings (2,000 notes, 1,500 raters: the Core slice of a 150k-rating
set): the first call (trace included) and the best of the next ``--repeats`` calls, divided by the
number of epochs the round ran. With ``--baseline-rev``, the same measurement runs in a git worktree
of that commit in the same invocation (one after the other), and the script checks that both
produced the same parameters and loss histories bit for bit (a sha over all of them).

Prints a markdown table (the one in bench/RESULTS.md).
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

REPO = Path(__file__).resolve().parents[1]
SIZES = {"3k": (300, 100, 3_000), "66k": (2_000, 1_500, 66_000)}


def measure(repeats: int) -> dict:
    """Run every round on both problems in this process; the figures and a sha of the results."""
    import numpy as np

    sys.path.insert(0, str(REPO / "tests"))  # the tests' random problems and the diligence rounds
    from _mf_helpers import DILIGENCE_ROUNDS, REPUTATION_PARAMS, reputation_problem

    from cnlab.mf.reputation_mf import ReputationMF
    from cnlab.scorers import diligence as dg

    cfg = dg.DiligenceConfig()
    digest = hashlib.sha256()
    rows = []
    for size, dims in SIZES.items():
        ni, ri, y, params, w = reputation_problem(5, *dims)
        for name, (trained, reg_kw) in DILIGENCE_ROUNDS.items():
            reg = dg.regularization(cfg, **reg_kw)
            times = []
            for _ in range(1 + repeats):
                model = ReputationMF(ni, ri, y, params)
                t0 = time.perf_counter()
                _, history = model.train_round(w, reg, trained, cfg)
                times.append(time.perf_counter() - t0)
            for p in REPUTATION_PARAMS:
                digest.update(np.ascontiguousarray(model.get(p)).tobytes())
            digest.update(np.asarray(history, np.float64).tobytes())
            best = min(times[1:])
            rows.append(dict(size=size, round=name, epochs=len(history), first_s=times[0], best_s=best,
                             step_ms=best / len(history) * 1e3))
    return {"rows": rows, "sha": digest.hexdigest()[:16]}


def _run_at(tree: Path, repeats: int) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure-only", "--repeats", str(repeats)],
                         cwd=tree, env={**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "2"},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-rev")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure_only:
        print(json.dumps(measure(args.repeats)))
        return 0
    head_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
    results = {f"HEAD {head_rev}": _run_at(REPO, args.repeats)}
    if args.baseline_rev:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline_rev], cwd=REPO,
                           check=True, capture_output=True)
            try:
                results[f"baseline {args.baseline_rev}"] = _run_at(tree, args.repeats)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
    labels = list(results)
    head = ["size", "round", "epochs"] + [f"{lab} {what}" for lab in labels for what in ("ms/step", "first call s")]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for i, row in enumerate(results[labels[0]]["rows"]):
        cells = [row["size"], row["round"], str(row["epochs"])]
        for lab in labels:
            r = results[lab]["rows"][i]
            cells += [f"{r['step_ms']:.3f}", f"{r['first_s']:.3f}"]
        print("| " + " | ".join(cells) + " |")
    shas = {lab: res["sha"] for lab, res in results.items()}
    print("\nsha of every round's parameters and loss history:", shas)
    if len(set(shas.values())) > 1:
        print("the results DIFFER between the commits")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
