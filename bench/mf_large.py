"""Large MF fits: set-up and per-step cost of the official loop at 10M-100M ratings, this tree
against a baseline revision measured in the same run (one command).

    .venv/bin/python bench/mf_large.py [--sizes 1e7,1e8] [--steps 6] [--baseline-rev HEAD~1]

For each size and each version (the baseline, checked out in a temporary git worktree, then this
tree) one subprocess generates the same planted-model ratings (``bench/mf.py``'s ``make_ratings``:
N/30 notes, N/100 raters, in random order, as a public-shaped slice's are), traces the loop on a
tiny fit and runs one untimed one-step fit on the data (first-touch costs), then times

* ``cnlab.mf.fit(..., max_steps=1)``: set-up (index maps, arrays) + one step + the result;
* ``cnlab.mf.fit(..., max_steps=S)``: the same + S − 1 steps;

so one step costs (t_S − t_1) / (S − 1) and the set-up t_1 minus that. Peak RSS is the
subprocess's ``ru_maxrss``. ``--model reputation`` times a reputation-MF round instead (the
low-diligence model's loop: five parameters trained, ``--steps`` epochs, no early stop) on the
same ratings. ``--data DIR`` fits the first SIZE ratings of a public-format download instead
(file order: the public files, and ``cnlab synth``'s, hold each rater's ratings together). The figures answer "why is a fit on a 100M-rating slice slow": the
cost of a step against the size of the note and rater tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def read_ratings(data_dir: str, size: int):
    """The first ``size`` ratings of a public-format download (``ratings-*.tsv``, in file order):
    noteId, the rater as a categorical, helpfulNum (HELPFUL 1, SOMEWHAT_HELPFUL 0.5, NOT_HELPFUL 0)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    levels = {"HELPFUL": 1.0, "SOMEWHAT_HELPFUL": 0.5, "NOT_HELPFUL": 0.0}
    parts, n = [], 0
    for path in sorted(Path(data_dir).glob("ratings-*.tsv")):
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=1 << 26),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=["noteId", "raterParticipantId", "helpfulnessLevel"],
                column_types={"noteId": pa.int64(), "raterParticipantId": pa.dictionary(pa.int32(), pa.string()),
                              "helpfulnessLevel": pa.dictionary(pa.int32(), pa.string())}))
        for batch in reader:
            batch = batch.slice(0, size - n)
            level = batch.column("helpfulnessLevel")
            y = np.array([levels.get(v, np.nan) for v in level.dictionary.to_pylist()], np.float32)[
                level.indices.to_numpy(zero_copy_only=False)]
            parts.append(pd.DataFrame({"noteId": batch.column("noteId").to_numpy(),
                                       "raterParticipantId": batch.column("raterParticipantId").to_pandas(),
                                       "helpfulNum": y}))
            n += len(batch)
            if n >= size:
                break
        if n >= size:
            break
    df = pd.concat(parts, ignore_index=True)
    df["raterParticipantId"] = df["raterParticipantId"].astype("category")
    return df[df["helpfulNum"].notna()].reset_index(drop=True)


def worker(tree: str, size: int, steps: int, data_dir: str | None = None) -> dict:
    sys.path.insert(0, tree)
    sys.path.insert(1, str(HERE))
    import numpy as np

    from mf import make_ratings

    import cnlab
    from cnlab.mf import fit
    from cnlab.mf.config import CORE_MF

    assert Path(cnlab.__file__).resolve().is_relative_to(Path(tree).resolve()), cnlab.__file__
    df = make_ratings(size) if data_dir is None else read_ratings(data_dir, size)
    # trace the graph (chunked and whole branches) on a tiny fit, so that no timing holds it
    fit(df.iloc[:2000], CORE_MF.replace(max_steps=2), seed=0)
    out = {"size": size, "notes": int(df["noteId"].nunique()), "raters": int(df["raterParticipantId"].nunique())}
    # the first large fit of a process also pays first-touch costs (the allocator's arenas): untimed
    fit(df, CORE_MF.replace(max_steps=1), seed=0)
    times, results = {}, {}
    for s in (1, steps):
        t = time.perf_counter()
        results[s] = fit(df, CORE_MF.replace(max_steps=s), seed=0)
        times[s] = time.perf_counter() - t
    step = (times[steps] - times[1]) / (steps - 1)
    r = results[steps]
    out.update(step_s=step, setup_s=times[1] - step, fit_s=times[steps], steps=r.n_steps,
               loss=float(r.final_loss), note_intercept_sum=float(np.sum(r.note_params["internalNoteIntercept"])),
               peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    return out


def reputation_worker(tree: str, size: int, steps: int) -> dict:
    """One reputation-MF round (the low-diligence model's loop) of ``steps`` epochs, no early stop."""
    sys.path.insert(0, tree)
    sys.path.insert(1, str(HERE))
    import dataclasses

    import numpy as np
    import pandas as pd

    from mf import make_ratings

    import cnlab
    from cnlab.mf.reputation_mf import ReputationMF
    from cnlab.scorers import diligence as dg

    assert Path(cnlab.__file__).resolve().is_relative_to(Path(tree).resolve()), cnlab.__file__
    df = make_ratings(size)
    ni, notes = pd.factorize(df["noteId"])
    ri, raters = pd.factorize(df["raterParticipantId"])
    y = df["helpfulNum"].to_numpy(np.float32)
    del df
    rng = np.random.default_rng(0)
    params = dict(note_emb=rng.standard_normal(len(notes)) * 0.1, rater_emb=rng.standard_normal(len(raters)) * 0.1,
                  note_bias=np.zeros(len(notes)), rater_bias=np.zeros(len(raters)),
                  reputation=np.ones(len(raters)), global_bias=0.0)
    w = np.ones(len(y), np.float32)
    cfg = dg.DiligenceConfig()
    reg = dg.regularization(cfg, third=False)
    trained = ("note_emb", "rater_emb", "note_bias", "rater_bias", "global_bias")
    # trace, and pay the first large round's first-touch costs, untimed
    ReputationMF(ni, ri, y, params, loss="mse").train_round(
        w, reg, trained, dataclasses.replace(cfg, num_epochs=1, convergence=0.0))
    times = {}
    for n_epochs in (1, steps):
        t = time.perf_counter()
        m = ReputationMF(ni, ri, y, params, loss="mse")
        lv, hist = m.train_round(w, reg, trained, dataclasses.replace(cfg, num_epochs=n_epochs, convergence=0.0))
        times[n_epochs] = time.perf_counter() - t
    step = (times[steps] - times[1]) / (steps - 1)
    return {"size": size, "notes": len(notes), "raters": len(raters), "step_s": step, "setup_s": times[1] - step,
            "fit_s": times[steps], "steps": len(hist), "loss": float(lv),
            "note_bias_sum": float(np.sum(m.get("note_bias").astype(np.float64))),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e7,1e8")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--baseline-rev", default=None, help="git revision measured first, in a worktree")
    ap.add_argument("--model", choices=("mf", "reputation"), default="mf",
                    help="mf: cnlab.mf.fit (official loop); reputation: a reputation-MF round (low diligence)")
    ap.add_argument("--data", default=None,
                    help="a public-format download folder: fit its first SIZE ratings (file order) "
                         "instead of planted ones (--model mf only)")
    ap.add_argument("--worker", nargs=3, metavar=("TREE", "SIZE", "STEPS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        size, steps = int(float(a.worker[1])), int(a.worker[2])
        res = (worker(a.worker[0], size, steps, a.data) if a.model == "mf"
               else reputation_worker(a.worker[0], size, steps))
        print("RESULT " + json.dumps(res), flush=True)
        return
    if a.steps < 2:
        raise SystemExit("--steps must be at least 2")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                         text=True).stdout.strip()
    versions = [(f"this tree ({rev})", str(REPO))]
    tmp = None
    if a.baseline_rev:
        tmp = Path(tempfile.mkdtemp(prefix="mf-large-baseline-"))
        subprocess.run(["git", "worktree", "add", "--detach", str(tmp / "tree"), a.baseline_rev], cwd=REPO,
                       check=True, capture_output=True)
        versions.insert(0, (a.baseline_rev, str(tmp / "tree")))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    rows = []
    try:
        for size in [int(float(s)) for s in a.sizes.split(",") if s]:
            for name, tree in versions:
                p = subprocess.run([sys.executable, __file__, "--model", a.model,
                                    *(["--data", str(Path(a.data).resolve())] if a.data else []),
                                    "--worker", tree, str(size), str(a.steps)],
                                   capture_output=True, text=True, env=env)
                line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
                if p.returncode or not line:
                    print(p.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{name} at {size} failed (rc {p.returncode})")
                res = json.loads(line[0][7:])
                res["version"] = name
                rows.append(res)
                print(json.dumps(res), flush=True)
    finally:
        if tmp is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "tree")], cwd=REPO, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
    base = {r["size"]: r for r in rows if a.baseline_rev and r["version"] == a.baseline_rev}
    print("| ratings | notes | raters | version | set-up | time / step | step ratio vs baseline | loss after "
          f"{a.steps} steps | peak RSS |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        b = base.get(r["size"])
        ratio = f"{r['step_s'] / b['step_s']:.2f}" if b else "–"
        print(f"| {r['size']:.0e} | {r['notes']:,} | {r['raters']:,} | {r['version']} | {r['setup_s']:.1f} s | "
              f"{r['step_s']:.2f} s | {ratio} | {r['loss']:.6f} | {r['peak_rss_gib']:.2f} GiB |")


if __name__ == "__main__":
    main()
