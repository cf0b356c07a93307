"""``fidelity="fast"`` against the official loop, before and after a change to the exact solver.

One command::

    .venv/bin/python bench/exact_fast.py [--data out/scale/r1000000/data] [--baseline cf2f07d]
                                         [--repeats 2] [--out out/exactfast/bench]

Runs ``cnlab score DATA --scorers MFCoreScorer --no-parquet`` in fresh processes, in three
variants, interleaved round by round so that each comparison shares the machine's load:

* ``official`` — the working tree, ``--fidelity official`` (the baseline of every ratio);
* ``fast@BASELINE`` — ``--fidelity fast`` with the ``cnlab`` package of commit ``BASELINE``
  (``git archive`` into the output folder, put first on ``PYTHONPATH``);
* ``fast`` — the working tree, ``--fidelity fast``.

``--report-only`` rebuilds the tables from an earlier run's ``OUT/results.json`` and logs.

Each run's stage lines are grouped as in ``bench/scale.py`` ("MFCoreScorer prescoring",
"MFCoreScorer final", …); the table gives the median over the repeats of the wall time, the
sampled peak of the process tree and the two Core stages, and the ratios to ``official``. The
outputs of the two fast variants are compared (status agreement, largest intercept difference),
and fast vs official status agreement is reported. Markdown to stdout and ``OUT/section.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _runner import baseline_tree, run_measured  # noqa: E402
from scale import grouped, parse_stages  # noqa: E402

STAGES = ("MFCoreScorer prescoring", "MFCoreScorer final")
#: Stage lines inside Core prescoring: the MF rounds (the exact solver's fits in "fast") and the two
#: fits it does not cover (cross-entropy losses: the official loop in both fidelities).
SUBSTAGES = {"MF rounds": ("MFCoreScorer prescoring: round-1 MF", "MFCoreScorer prescoring: final-round MF"),
             "tag + diligence": ("MFCoreScorer prescoring: harassment tag model",
                                 "MFCoreScorer prescoring: low-diligence prescoring")}
STATUS = ("finalRatingStatus", "coreRatingStatus")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def run_one(name: str, fidelity: str, data: Path, out: Path, rnd: int, pythonpath: Path | None) -> dict:
    outdir = out / f"{name}-{rnd}"
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    cmd = [sys.executable, "-P", "-m", "cnlab.cli", "score", str(data), "--outdir", str(outdir),
           "--scorers", "MFCoreScorer", "--fidelity", fidelity, "--no-parquet"]
    # -P: ``-m`` would otherwise put the working directory (the repository) first on sys.path,
    # shadowing PYTHONPATH's baseline package
    where = subprocess.run([sys.executable, "-P", "-c", "import cnlab; print(cnlab.__file__)"], env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    m = run_measured(cmd, out / f"{name}-{rnd}.log", env=env)
    if m.rc != 0:
        raise SystemExit(f"{name} run {rnd} failed (rc {m.rc}); see {m.log}")
    rec = {"variant": name, "round": rnd, "wall_s": m.wall_s, "peak_gib": m.peak_gib, "outdir": str(outdir),
           "cnlab": where, "log": str(m.log)}
    rec.update(stage_seconds(m.log))
    print(f"{name} round {rnd} ({where}): wall {m.wall_s:.1f} s, peak {m.peak_gib:.2f} GiB, "
          + ", ".join(f"{s} {rec[s]:.1f} s" for s in STAGES), flush=True)
    return rec


def stage_seconds(log: Path) -> dict:
    """The Core stages (as ``bench/scale.py`` groups them) and :data:`SUBSTAGES` of one run's log."""
    stages = parse_stages(Path(log))
    g = grouped(stages)
    rec = {s: g.get(s, {}).get("seconds", float("nan")) for s in STAGES}
    for name, prefixes in SUBSTAGES.items():
        rec[name] = sum(st["seconds"] for st in stages if st["stage"].startswith(prefixes))
    return rec


def _notes(outdir: str) -> pd.DataFrame:
    return pd.read_csv(Path(outdir) / "scored_notes.tsv", sep="\t",
                       usecols=["noteId", *STATUS, "coreNoteIntercept"]).set_index("noteId")


def compare(a: str, b: str) -> dict:
    x, y = _notes(a), _notes(b)
    y = y.reindex(x.index)
    res = {c: float((x[c].fillna("") == y[c].fillna("")).mean()) for c in STATUS}
    res["max_intercept_diff"] = float((x["coreNoteIntercept"] - y["coreNoteIntercept"]).abs().max())
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO / "out" / "scale" / "r1000000" / "data"))
    ap.add_argument("--baseline", default="cf2f07d", help="commit whose exact solver is the 'before'")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "out" / "exactfast" / "bench"))
    ap.add_argument("--report-only", action="store_true",
                    help="rebuild the tables from OUT/results.json and the runs' logs (no runs)")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    base = a.baseline
    if a.report_only:
        recs = json.loads((out / "results.json").read_text())["runs"]
        for r in recs:
            r.update(stage_seconds(r.get("log") or out / f"{r['variant']}-{r['round']}.log"))
    else:
        src = baseline_tree(base, out)
        variants = [("official", "official", None), (f"fast@{base}", "fast", src), ("fast", "fast", None)]
        recs = []
        for rnd in range(a.repeats):
            order = variants if rnd % 2 == 0 else variants[::-1]  # alternate the order across rounds
            for name, fid, pp in order:
                recs.append(run_one(name, fid, Path(a.data).resolve(), out, rnd, pp))
    df = pd.DataFrame(recs)
    cols = ["wall_s", "peak_gib", *STAGES, *SUBSTAGES]
    med = df.groupby("variant", sort=False)[cols].median()
    o = med.loc["official"]
    last = {r["variant"]: r["outdir"] for r in recs}
    agree_fast = compare(last[f"fast@{base}"], last["fast"])
    agree_off = compare(last["official"], last["fast"])
    head = _git("rev-parse", "--short", "HEAD")
    dirty = " (+ uncommitted changes)" if _git("status", "--porcelain", "--", "cnlab") else ""
    lines = [f"Command: `.venv/bin/python bench/exact_fast.py {' '.join(sys.argv[1:])}`; working tree at {head}"
             f"{dirty}, baseline {base}; data {a.data}; median of {a.repeats} interleaved rounds.", "",
             "| variant | wall s | peak GiB | Core prescoring s | of which MF rounds s | of which tag + "
             "diligence s | Core final s | wall / official | prescoring / official | MF rounds / official | "
             "final / official |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v, r in med.iterrows():
        lines.append(f"| {v} | {r['wall_s']:.1f} | {r['peak_gib']:.2f} | {r[STAGES[0]]:.1f} | {r['MF rounds']:.2f} | "
                     f"{r['tag + diligence']:.1f} | {r[STAGES[1]]:.1f} | {r['wall_s'] / o['wall_s']:.2f} | "
                     f"{r[STAGES[0]] / o[STAGES[0]]:.2f} | {r['MF rounds'] / o['MF rounds']:.2f} | "
                     f"{r[STAGES[1]] / o[STAGES[1]]:.2f} |")
    lines += ["", f"fast vs fast@{base}: status agreement " + ", ".join(f"{c} {agree_fast[c]:.4f}" for c in STATUS)
              + f"; largest coreNoteIntercept difference {agree_fast['max_intercept_diff']:.2g}.",
              "fast vs official: status agreement " + ", ".join(f"{c} {agree_off[c]:.4f}" for c in STATUS) + "."]
    md = "\n".join(lines)
    print(md)
    (out / "section.md").write_text(md + "\n")
    (out / "results.json").write_text(json.dumps({"runs": recs, "fast_vs_baseline": agree_fast,
                                                  "fast_vs_official": agree_off}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
