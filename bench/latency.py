"""Latency on small data: the whole roster and Core only, fresh process and second call.

Usage::

    .venv/bin/python bench/latency.py [--baseline-rev REV] [--out out/latency] [--skip-baseline]
                                      [--sequential] [--jobs N]

Datasets: ``../shared/fixtures/small`` (60k ratings, pass 2) and a 150,000-rating / 3,500-note
synthetic set written by ``cnlab synth`` (seed 11). For each dataset and each roster
(``--scorers all`` and ``--scorers MFCoreScorer``):

* **fresh process**: ``cnlab score`` under ``/usr/bin/time -v`` — wall time and peak RSS, import
  and TensorFlow start-up included; for this checkout and for ``--baseline-rev`` (default: the
  commit before the compiled training loops), checked out into a temporary git worktree and run in
  the same invocation, so the ratio compares like with like on the same machine state;
* **second call**: ``score()`` twice in one Python process (the notebook case) — seconds of the
  first and of the second call.

HEAD runs with its defaults (``threads``: the machine's cores on data this small); ``--sequential``
adds HEAD with ``--threads 1`` / ``score(threads=1)``, one task at a time, for both measurements.

Plus the fixed cost of one MF fit (``cnlab.mf.fit``, Core settings) on 1,000 and 100,000 planted
ratings: first fit (tracing included) and a second fit of the same shape, for the compiled loop
and the stepwise reference loop (``run_loop(compiled=False)``).

Prints a markdown table (the one in bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIX = REPO.parent / "shared" / "fixtures" / "small"
#: The commit before the compiled training loops (one Python round trip per epoch).
DEFAULT_BASELINE = "1c3e71b"
SYNTH = {"notes": 3500, "raters": 3000, "ratings": 150_000, "seed": 11}
ROSTERS = {"whole roster": "all", "Core only": "MFCoreScorer"}

_SECOND_CALL = r"""
import json, sys, time
import cnlab.io as cio
from cnlab.pipeline import ScoringConfig, score
spec = json.loads(sys.argv[1])
ds = cio.load(**spec["load"])
cfg = ScoringConfig.official(seed=42) if spec["roster"] == "all" else ScoringConfig(seed=42)
if spec.get("epoch"):
    cfg = cfg.with_(epoch_millis=spec["epoch"])
out = []
kw = {"threads": spec["threads"]} if spec.get("threads") else {}
for _ in range(2):
    t0 = time.perf_counter(); score(ds, cfg, **kw); out.append(time.perf_counter() - t0)
print("SECONDS", json.dumps(out))
"""

_MF_FIXED = r"""
import functools, json, sys, time
sys.path.insert(0, "tests")
from _mf_helpers import planted
from cnlab.mf import _tf_loop, fit
orig = _tf_loop.run_loop
out = {}
for n in (1000, 100_000):
    df, _ = planted(n_notes=max(50, n // 40), n_raters=max(60, n // 30), n_ratings=n, seed=3)
    for compiled in (False, True):
        _tf_loop.run_loop = functools.partial(orig, compiled=compiled)
        times = []
        for seed in (0, 1):
            t0 = time.perf_counter(); r = fit(df, seed=seed); times.append(time.perf_counter() - t0)
        out[f"{n} {'compiled' if compiled else 'stepwise'}"] = times + [int(r.n_steps)]
print("MF", json.dumps(out))
"""


def _env(root: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env.pop("CNLAB_TF_THREADS", None)
    return env


def _inputs(name: str, data: dict) -> list[str]:
    if name == "fixture":
        i = FIX / "inputs"
        return ["-n", str(i / "notes-00000.tsv.gz"), "-r", str(i / "ratings-00000.tsv.gz"),
                "-e", str(i / "userEnrollment-00000.tsv.gz"), "-s", str(FIX / "pass2_status.tsv.gz"),
                "--epoch-millis", (FIX / "epoch_pass2").read_text().strip()]
    d = data["synth"]
    files = {p.name.split("-")[0]: p for p in d.iterdir()}
    return ["-n", str(files["notes"]), "-r", str(files["ratings"]), "-e", str(files["userEnrollment"]),
            "-s", str(files["noteStatusHistory"])]


def fresh(root: Path, name: str, roster: str, data: dict, outdir: Path, extra: tuple[str, ...] = ()) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "cnlab.cli", "score", *_inputs(name, data),
           "--seed", "42", "--scorers", roster, "--no-parquet", "--quiet", "-o", str(outdir), *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{root}: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 2**20
    return {"wall_s": wall, "peak_gib": rss}


def second_call(root: Path, name: str, roster: str, data: dict, threads: int | None = None) -> list[float]:
    if name == "fixture":
        load = {"notes": str(FIX / "inputs" / "notes-00000.tsv.gz"), "ratings": str(FIX / "inputs" / "ratings-00000.tsv.gz"),
                "enrollment": str(FIX / "inputs" / "userEnrollment-00000.tsv.gz"),
                "status": str(FIX / "pass2_status.tsv.gz")}
        epoch = int((FIX / "epoch_pass2").read_text().strip())
    else:
        load, epoch = {"directory": str(data["synth"])}, None
    spec = json.dumps({"load": load, "roster": roster, "epoch": epoch, "threads": threads})
    p = subprocess.run([sys.executable, "-c", _SECOND_CALL, spec], cwd=root, env=_env(root), capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.split("SECONDS", 1)[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-rev", default=DEFAULT_BASELINE)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "latency")
    ap.add_argument("--jobs", type=int, default=0, help="also run the whole roster with --jobs N (HEAD only)")
    ap.add_argument("--sequential", action="store_true", help="also run HEAD with --threads 1")
    args = ap.parse_args()
    args.out = args.out.resolve()  # the baseline runs with its worktree as working directory
    args.out.mkdir(parents=True, exist_ok=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    synth = args.out / "synth150k"
    if not (synth / "SUCCESS").exists():
        shutil.rmtree(synth, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "cnlab.cli", "synth", "--out", str(synth), "--quiet",
                        *(x for k, v in SYNTH.items() for x in (f"--{k}", str(v)))], cwd=REPO, env=_env(REPO),
                       check=True)
        (synth / "SUCCESS").write_text("ok")
    data = {"synth": synth}
    roots = {f"HEAD {head}": (REPO, ())}
    if args.sequential:
        roots[f"HEAD {head} --threads 1"] = (REPO, ("--threads", "1"))
    tmp = None
    if not args.skip_baseline:
        tmp = Path(tempfile.mkdtemp(prefix="cnlab-baseline-", dir=args.out))
        subprocess.run(["git", "worktree", "add", "--detach", str(tmp / "tree"), args.baseline_rev], cwd=REPO,
                       check=True, capture_output=True)
        roots[f"baseline {args.baseline_rev}"] = (tmp / "tree", ())
    rows = []
    try:
        for dname in ("fixture", "synth 150k"):
            key = "fixture" if dname == "fixture" else "synth"
            for rname, roster in ROSTERS.items():
                row = {"data": dname, "roster": rname}
                for label, (root, extra) in roots.items():
                    tag = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")
                    r = fresh(root, key, roster, data, args.out / f"{tag}-{key}-{roster}", extra)
                    row[f"{label} fresh s"] = r["wall_s"]
                    row[f"{label} peak GiB"] = r["peak_gib"]
                    print(dname, rname, label, r, flush=True)
                first, second = second_call(REPO, key, roster, data)
                row["HEAD score() 1st s"], row["HEAD score() 2nd s"] = first, second
                print(dname, rname, "second call", first, second, flush=True)
                if args.sequential:
                    first, second = second_call(REPO, key, roster, data, threads=1)
                    row["HEAD threads=1 1st s"], row["HEAD threads=1 2nd s"] = first, second
                    print(dname, rname, "second call, threads=1", first, second, flush=True)
                rows.append(row)
        jobs_rows = []
        if args.jobs > 1:
            for dname in ("fixture", "synth 150k"):
                key = "fixture" if dname == "fixture" else "synth"
                r = fresh(REPO, key, "all", data, args.out / f"HEAD-{key}-all-jobs{args.jobs}",
                          ("--jobs", str(args.jobs)))
                print(dname, f"whole roster --jobs {args.jobs}", r, flush=True)
                jobs_rows.append((dname, r))
        p = subprocess.run([sys.executable, "-c", _MF_FIXED], cwd=REPO, env=_env(REPO), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-3000:])
        mf = json.loads(p.stdout.split("MF", 1)[1])
    finally:
        if tmp is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "tree")], cwd=REPO, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
    cols = list(rows[0])
    print("\n| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    base = next((k for k in roots if k.startswith("baseline")), None)
    if base:
        print("\nratios (baseline / HEAD, fresh process):")
        for r in rows:
            print(f"  {r['data']}, {r['roster']}: {r[f'{base} fresh s'] / r[f'HEAD {head} fresh s']:.2f}x")
    for dname, r in jobs_rows:
        seq = next(x for x in rows if x["data"] == dname and x["roster"] == "whole roster")
        print(f"\n{dname}, whole roster, --jobs {args.jobs}: {r['wall_s']:.1f} s, peak {r['peak_gib']:.2f} GiB "
              f"(--jobs 1: {seq[f'HEAD {head} fresh s']:.1f} s; ratio {seq[f'HEAD {head} fresh s'] / r['wall_s']:.2f}x)")
    print("\nMF fit fixed cost (seconds: 1st fit, 2nd fit; steps):")
    for k, v in mf.items():
        print(f"  {k}: {v[0]:.3f} s, {v[1]:.3f} s; {v[2]} steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
