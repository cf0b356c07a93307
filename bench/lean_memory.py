"""Memory of ``cnlab score`` before and after a change, stage by stage (issue 9: lean results).

Runs ``cnlab score DATA --scorers ROSTER`` under ``/usr/bin/time -v`` with the package of a base
revision (a detached ``git worktree`` put first on ``PYTHONPATH``) and with this checkout,
alternating base / this ``--repeat`` times, checks that the four output files are identical
(``cmp``), and prints one markdown table per roster: the resident and peak memory after each stage
(the CLI's "(x s; R GiB, peak P GiB)" stage lines), before → after, with ratios, and the whole
run's maximum RSS and wall time. Logs and outputs go to ``--out``.

    .venv/bin/python bench/lean_memory.py out/scale/r1000000/data --base cf2f07d --rosters core,all
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CNLAB = str(Path(sys.executable).with_name("cnlab"))
OUTPUTS = ("scored_notes.tsv", "helpfulness_scores.tsv", "note_status_history.tsv", "aux_note_info.tsv")
STAGE = re.compile(r"^(\S.*?): rows in=.*?\(([\d.]+) s; ([\d.]+) GiB, peak ([\d.]+) GiB\)")


def parse(log: Path) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """stage → (resident, peak) GiB, and the run's ``maxrss_gib`` / ``wall_s`` from time -v."""
    stages: dict[str, tuple[float, float]] = {}
    run: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = STAGE.match(line)
        if m:
            stages[m.group(1)] = (float(m.group(3)), float(m.group(4)))
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", line)
        if m:
            run["maxrss_gib"] = int(m.group(1)) / 2**20
        m = re.search(r"Elapsed \(wall clock\) time .*: (\S+)", line)
        if m:
            parts = [float(x) for x in m.group(1).split(":")]
            run["wall_s"] = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    return stages, run


def label(stage: str) -> str | None:
    """The stages shown: phase ends and each scorer's last stage (None: not shown)."""
    if re.match(r".* prescoring: (user incorrect totals|stable init \+ reputation MF)", stage):
        return stage.split(" prescoring")[0] + " prescoring"
    if re.match(r".* final: (postprocess|diligence \+ rules)|ReputationScorer final: ", stage):
        return stage.split(" final")[0] + " final"
    if stage.startswith(("preprocess", "rater clustering", "PSS coalescing", "pflip fit", "PCRH fit",
                         "combine scorers", "note stats", "contributor scoring", "write outputs")):
        return stage if stage.startswith("PSS") else stage.split(" (")[0]
    return None


def run_once(data: str, roster: str, outdir: Path, pythonpath: str | None) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    log = outdir / "log"
    with open(log, "w") as fh:
        subprocess.run(["/usr/bin/time", "-v", CNLAB, "score", data, "--outdir", str(outdir / "out"),
                        "--scorers", roster], stdout=fh, stderr=subprocess.STDOUT, env=env, check=True)
    return log


def table(base: Path, new: Path) -> str:
    (a, ra), (b, rb) = parse(base), parse(new)
    rows: dict[str, tuple] = {}
    for stage, x in a.items():
        lab = label(stage)
        if lab and stage in b:
            rows[lab] = (x, b[stage])  # a label seen twice (Gaussian stages): the last one
    out = ["| after | resident GiB | ratio | peak so far GiB | ratio |", "|---|---:|---:|---:|---:|"]
    for lab, (x, y) in rows.items():
        out.append(f"| {lab} | {x[0]:.2f} → {y[0]:.2f} | {y[0] / x[0]:.2f}× | {x[1]:.2f} → {y[1]:.2f} | "
                   f"{y[1] / x[1]:.2f}× |")
    out.append(f"| whole run (max RSS, time -v) | | | {ra['maxrss_gib']:.2f} → {rb['maxrss_gib']:.2f} | "
               f"{rb['maxrss_gib'] / ra['maxrss_gib']:.2f}× |")
    out.append(f"| wall s | {ra['wall_s']:.0f} → {rb['wall_s']:.0f} | {rb['wall_s'] / ra['wall_s']:.2f}× | | |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="input folder of cnlab score")
    ap.add_argument("--base", required=True, help="git revision measured as 'before'")
    ap.add_argument("--rosters", default="core,all", help="core (MFCoreScorer) and/or all")
    ap.add_argument("--repeat", type=int, default=1, help="base / this pairs per roster")
    ap.add_argument("--out", default="out/lean_memory", help="logs, outputs and the base worktree")
    args = ap.parse_args(argv)
    out = (REPO / args.out).resolve()
    worktree = out / "base-worktree"
    if not worktree.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.base],
                       check=True)
    else:
        subprocess.run(["git", "-C", str(worktree), "checkout", "--detach", args.base], check=True)
    for roster in args.rosters.split(","):
        scorers = "MFCoreScorer" if roster == "core" else roster
        for rep in range(1, args.repeat + 1):
            base = run_once(args.data, scorers, out / f"base-{roster}-{rep}", str(worktree))
            new = run_once(args.data, scorers, out / f"new-{roster}-{rep}", None)
            same = all(filecmp.cmp(base.parent / "out" / f, new.parent / "out" / f, shallow=False)
                       for f in OUTPUTS)
            print(f"\n### {roster}, pair {rep}: outputs {'identical' if same else 'DIFFER'}\n")
            print(table(base, new), flush=True)
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
