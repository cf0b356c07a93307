"""Choosing the number of factors k on planted synthetic data: does held-out fit find the planted k?

Usage::

    .venv/bin/python bench/k_factors.py                       # 200k ratings, k = 1..4, 2 repeats
    .venv/bin/python bench/k_factors.py --ratings 1000000 --repeats 1

Three synthetic data sets of ``--ratings`` ratings (notes and raters scaled as ``SyntheticConfig``'s
defaults: 1,000 notes and 800 raters per 32k ratings), generated once into ``--out``/data:

* ``2-D default`` — ``cnlab synth --dims 2``: the second planted axis is strong (|f_n2| ≈ 1) only on
  the notes of InDimensionTwo posts (≈ 4.5 % of notes); every other note has f_n2 ~ N(0, 0.1);
* ``1-D default`` — ``cnlab synth`` (control of the above);
* ``2-D half`` — as ``2-D default`` with half of all posts InDimensionTwo posts
  (``SyntheticConfig(topic_fraction=0.5, topic_mix=(("InDimensionTwo", 1.0),))``). Its 1-D control
  is ``1-D default``: with one planted factor that configuration generates the same ratings.

For each data set and each holdout (``time``: the latest 10 % of ratings; ``note_time``: each note's
latest 10 %) :func:`cnlab.lab.select_k` fits Core's MF for every k on Core's slice (no topic
exclusion) and reports held-out MSE and log-likelihood with 95 % intervals, the chosen k, and the
time per fit (ratio to k = 1, the baseline of the same run). The note factors of the k = planted-k
fit are compared with the planted ones (:func:`cnlab.lab.factor_recovery`, Procrustes). Tables are
printed as Markdown and written to ``--out``/results.md and results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _datasets(n: int) -> list[tuple[str, int, dict]]:
    half = dict(topic_fraction=0.5, topic_mix=(("InDimensionTwo", 1.0),))
    # no "1-D half" control: with one planted factor the topic mix changes no rating (it only
    # places notes on the second axis), so it would repeat "1-D default" rating for rating
    return [("2-D default", 2, {}), ("1-D default", 1, {}), ("2-D half", 2, half)]


def _generate(folder: Path, dims: int, extra: dict, n: int, seed: int):
    from cnlab.synthetic import SyntheticConfig, generate

    cfg = SyntheticConfig(n_notes=max(50, n * 1000 // 32000), n_raters=max(40, n * 800 // 32000), n_ratings=n,
                          n_factors=dims, seed=seed, **extra)
    return generate(folder, config=cfg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ratings", type=int, default=200_000)
    ap.add_argument("--ks", default="1,2,3,4")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--holdouts", default="time,note_time")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(REPO / "out" / "kfactors"))
    ap.add_argument("--only", default=None, help="comma-separated data set names (default: all three)")
    args = ap.parse_args(argv)

    import cnlab
    from cnlab.lab.factors import factor_recovery, select_k

    ks = tuple(int(k) for k in args.ks.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    rows, curves = [], []
    t_all = time.perf_counter()
    # warm-up: TensorFlow start-up and the first trace of each k, so that k = 1 of the first data
    # set is not charged for them
    warm = _generate(out / "data" / "warmup_20000", 2, {}, 20_000, args.seed)
    select_k(cnlab.load(out / "data" / "warmup_20000"), ks, holdout="random", seed=args.seed)
    del warm
    for name, dims, extra in _datasets(args.ratings):
        if args.only and name not in args.only.split(","):
            continue
        folder = out / "data" / f"{name.replace(' ', '_')}_{args.ratings}"
        t0 = time.perf_counter()
        truth = _generate(folder, dims, extra, args.ratings, args.seed)
        ds = cnlab.load(folder)
        print(f"== {name}: {truth.summary()} ({time.perf_counter() - t0:.1f} s)", flush=True)
        for holdout in args.holdouts.split(","):
            t0 = time.perf_counter()
            sel = select_k(ds, ks, holdout=holdout, holdout_fraction=0.1, seed=args.seed, repeats=args.repeats)
            wall = time.perf_counter() - t0
            print(sel.summary(), flush=True)
            rec = factor_recovery(sel.fit(dims), truth) if dims in ks else None
            rec_best = factor_recovery(sel.fit(sel.best_k), truth)
            if rec is not None:
                print(rec.summary(), flush=True)
            t0k = float(sel.by_k.loc[sel.by_k["k"] == ks[0], "seconds"].iloc[0])
            for _, b in sel.by_k.iterrows():
                curves.append({"data": name, "holdout": holdout, "k": int(b["k"]),
                               "heldoutMse": b["heldoutMse"], "mseLow": b["mseLow"], "mseHigh": b["mseHigh"],
                               "deltaMse": b["deltaMse"], "deltaSe": b["deltaSe"],
                               "heldoutLogLik": b["heldoutLogLik"], "logLikLow": b["logLikLow"],
                               "logLikHigh": b["logLikHigh"], "trainMse": b["trainMse"],
                               "secondsPerFit": b["seconds"], "timeRatioVsK1": b["seconds"] / t0k})
            t = sel.table[sel.table["repeat"] == 0].iloc[0]
            rows.append({"data": name, "plantedK": dims, "holdout": holdout, "nRatings": sel.n_ratings,
                         "nTrain": int(t["nTrain"]), "nHeldout": int(t["nHeldout"]),
                         "nUnscored": sel.n_unscored, "chosenK": sel.best_k, "lowestMseK": sel.min_k,
                         "recoveryAtPlantedK": None if rec is None else [round(c, 4) for c in rec.correlations],
                         "recoveryAtChosenK": [round(c, 4) for c in rec_best.correlations],
                         "seconds": wall})
            json.dump({"rows": rows, "curves": curves}, open(out / "results.json", "w"), indent=1, default=float)

    lines = [f"Command: `.venv/bin/python bench/k_factors.py --ratings {args.ratings} --ks {args.ks} --repeats "
             f"{args.repeats}` (commit {commit}; {platform.machine()}, {os.cpu_count()} cores, no GPU; "
             f"{time.perf_counter() - t_all:.0f} s in all).", "",
             "| data | planted k | holdout | ratings (slice) | train | held out, scored | held out, not scored | "
             "chosen k | lowest-MSE k | recovery at planted k (per axis) | recovery at chosen k |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        rec = "–" if r["recoveryAtPlantedK"] is None else ", ".join(f"{c:.3f}" for c in r["recoveryAtPlantedK"])
        recb = ", ".join(f"{c:.3f}" for c in r["recoveryAtChosenK"])
        lines.append(f"| {r['data']} | {r['plantedK']} | {r['holdout']} | {r['nRatings']:,} | {r['nTrain']:,} | "
                     f"{r['nHeldout']:,} | {r['nUnscored']:,} | **{r['chosenK']}** | {r['lowestMseK']} | {rec} | "
                     f"{recb} |")
    lines += ["", "| data | holdout | k | held-out MSE [95 % interval] | Δ MSE vs lowest ± SE | held-out log-lik "
              "[95 % interval] | train MSE | s per fit | time ratio vs k = 1 |",
              "|---|---|---:|---|---|---|---:|---:|---:|"]
    for c in curves:
        lines.append(f"| {c['data']} | {c['holdout']} | {c['k']} | {c['heldoutMse']:.5f} [{c['mseLow']:.5f}, "
                     f"{c['mseHigh']:.5f}] | {c['deltaMse']:+.5f} ± {c['deltaSe']:.5f} | {c['heldoutLogLik']:.4f} "
                     f"[{c['logLikLow']:.4f}, {c['logLikHigh']:.4f}] | {c['trainMse']:.5f} | "
                     f"{c['secondsPerFit']:.2f} | {c['timeRatioVsK1']:.2f} |")
    text = "\n".join(lines)
    (out / "results.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
