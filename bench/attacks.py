"""Coordinated-attack robustness on a ≥ 200k-rating synthetic set: pollution and suppression vs
attacker count, with the defences all on, all off and each one off.

Usage::

    .venv/bin/python bench/attacks.py               # the table (~16 min per defence setting, 2 shared cores)
    .venv/bin/python bench/attacks.py --table-only  # the table of the rows already measured

Generates (once) ``out/attacks/data250k`` with ``cnlab synth --notes 8000 --raters 6000 --ratings
250000 --seed 0``, then runs :func:`cnlab.lab.attack_curve` — Core scorer with post-selection
similarity (topics, pflip and PCRH off: no Core rule reads them, and they would double each run) —
for the strategies ``promote``, ``suppress`` and ``coordinated_block`` (promoting), 20 targets
per seed and 30 ratings per account (20 on the targets, 10 honest ones as camouflage), one defence
setting at a time (all on, all off, then each one off), appending every finished setting to
``out/attacks/bench.csv`` so that an interrupted run keeps what it measured. The printed table pools the seeds: count / n over the
targets of every seed, with the Wilson interval of the pooled proportion; "× base" is the ratio
to the same setting's 0-attacker value measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import cnlab
from cnlab.lab import attacks as A

REPO = Path(__file__).resolve().parents[1]


def _data(folder: Path) -> Path:
    if not (folder / "notes_truth.tsv.gz").exists():
        from cnlab import synthetic

        synthetic.generate(folder, n_notes=8000, n_raters=6000, n_ratings=250_000, seed=0)
    return folder


def table(csv: Path) -> str:
    """The markdown table of the measured rows (seeds pooled)."""
    from statsmodels.stats.proportion import proportion_confint

    d = pd.read_csv(csv)
    d = d[((d["strategy"] != "suppress") & (d["metric"] == "pollution"))
          | ((d["strategy"] == "suppress") & (d["metric"] == "suppression"))]
    g = d.groupby(["strategy", "metric", "defences", "n_attackers"], sort=False).agg(
        count=("count", "sum"), n=("n", "sum"), seeds=("seed", "nunique"), changed=("n_changed", "mean"))
    g = g.reset_index()
    g["value"] = g["count"] / g["n"]
    lo, hi = proportion_confint(g["count"], g["n"], method="wilson")
    g["ci"] = [f"[{a:.2f}, {b:.2f}]" for a, b in zip(lo, hi)]
    base = g[g["n_attackers"] == 0].set_index(["strategy", "defences"])["value"]
    g["ratio"] = [v / base.get((s, dfn), np.nan) if base.get((s, dfn), 0) else np.nan
                  for s, dfn, v in zip(g["strategy"], g["defences"], g["value"])]
    lines = ["| strategy | metric | defences | attackers | count / n | value | 95 % Wilson | × base | notes changed | seeds |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in g.itertuples(index=False):
        ratio = "—" if not np.isfinite(r.ratio) else f"{r.ratio:.2f}"
        lines.append(f"| {r.strategy} | {r.metric} | {r.defences} | {r.n_attackers} | {r.count} / {r.n} | "
                     f"{r.value:.3f} | {r.ci} | {ratio} | {r.changed:.0f} | {r.seeds} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO / "out" / "attacks" / "data250k"))
    ap.add_argument("--csv", default=str(REPO / "out" / "attacks" / "bench.csv"))
    ap.add_argument("--counts", default="0,10,25,50,100,200")
    ap.add_argument("--settings", default="all on,all off,no pss,no reputation,no quasi-cliques,no high-volume")
    ap.add_argument("--strategies", default="promote,suppress,coordinated_block")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    csv = Path(args.csv)
    if not args.table_only:
        ds = cnlab.load(_data(Path(args.data)))
        print(ds, flush=True)
        truth = Path(args.data)
        cfg = cnlab.ScoringConfig(topics="none", pflip="none", pcrh="none")
        done = set(pd.read_csv(csv)["defences"]) if csv.exists() else set()
        counts = [int(c) for c in args.counts.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
        for setting in args.settings.split(","):
            if setting in done:
                print(f"{setting}: already in {csv}", flush=True)
                continue
            t0 = time.perf_counter()
            part = A.attack_curve(ds, strategy=args.strategies.split(","), attacker_counts=counts,
                                  defence_settings=[setting], seeds=seeds, targets=args.targets,
                                  budget=args.budget, config=cfg, truth=truth,
                                  progress=lambda row: print(row, flush=True))
            part["seconds_setting"] = round(time.perf_counter() - t0, 1)
            part.to_csv(csv, mode="a", header=not csv.exists(), index=False)
            print(f"{setting}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(table(csv))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(main())
