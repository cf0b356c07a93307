"""Seed stability of the Core model, official training loop vs the exact solver (issue 11 item 3),
and fast-vs-official status agreement beside official seed-to-seed agreement (issue 9 item 3).

One command::

    .venv/bin/python bench/seed_stability.py            # ~15-25 min on 2 cores

1. ``cnlab synth`` data (default 8,000 notes, 6,000 raters, 250,000 ratings; seed 11), Core only:
   :func:`cnlab.lab.seed_stability` with ``--seeds`` seeds (default 5) per fidelity → the
   seed-stability table (churn mean / max against the official guards, share of notes with an
   unstable status, intercept spread, seconds per run; official vs fast); then the same with the
   topic model and pflip / PCRH off, so that the seed reaches the MF fits alone.
2. Issue 9: on the parity fixture ``../shared/fixtures/small`` (pass 2 inputs, official topics and
   epoch) and on a larger synthetic set (default 500,000 ratings), seeds 42 and 43 in both
   fidelities: fast vs official under the same seed, next to official vs official under another seed.

Writes ``out/seeds/results.json`` and the markdown section (``out/seeds/section.md``), and inserts
that section at the top of ``bench/RESULTS.md`` (below the title line) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIX = Path(os.environ.get("CNLAB_FIXTURES", REPO.parent / "shared" / "fixtures")) / "small"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), no GPU"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - a report without a commit is still a report
        return "?"


def synth(out: Path, notes: int, raters: int, ratings: int, seed: int = 11) -> Path:
    if not any(out.glob("notes*")):
        out.mkdir(parents=True, exist_ok=True)
        cli = Path(sys.executable).with_name("cnlab")  # the venv's console script (`cnlab synth`)
        subprocess.run([str(cli), "synth", "--out", str(out), "--notes", str(notes), "--raters", str(raters),
                        "--ratings", str(ratings), "--seed", str(seed), "--quiet"], check=True)
    return out


def fixture():
    import cnlab.io as cio
    from cnlab.pipeline import ScoringConfig

    sn = pd.read_csv(FIX / "official-all" / "scored_notes.tsv.gz", sep="\t", usecols=["noteId", "noteTopic"])
    topics = sn[sn["noteTopic"].notna()].reset_index(drop=True)
    ds = cio.load(FIX / "inputs", status=FIX / "pass2_status.tsv.gz")
    epoch = int((FIX / "epoch_pass2").read_text().strip())
    return ds, ScoringConfig(epoch_millis=epoch, topics=topics)


def table_md(st) -> list[str]:
    t = st.table()
    lines = ["| fidelity | status column | seeds | churn mean | churn max | official churn mean | official "
             "churn max | pairs > 0.12 | pairs > 0.30 | unstable notes | status agreement | intercept sd "
             "median | intercept sd max | s per run |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in t.iterrows():
        lines.append(f"| {r['fidelity']} | {r['column']} | {r['seeds']} | {r['churn_mean']:.4f} | "
                     f"{r['churn_max']:.4f} | {r['official_churn_mean']:.4f} | {r['official_churn_max']:.4f} | "
                     f"{r['pairs_over_0.12']} | {r['pairs_over_0.30']} | {r['unstable_share']:.2%} | "
                     f"{r['agreement_mean']:.4f} | {r['intercept_sd_median']:.2g} | {r['intercept_sd_max']:.2g} | "
                     f"{r['seconds_per_run']:.1f} |")
    return lines


def agreement_rows(name: str, st) -> list[dict]:
    """Issue 9: fast vs official (same seed) next to official vs official (seeds 42, 43)."""
    rows = []
    for c in st.status_columns:
        ch = st.churn
        oo = ch[(ch["fidelity_a"] == "official") & (ch["column"] == c)]
        ff = ch[(ch["fidelity_a"] == "fast") & (ch["column"] == c)]
        cr = st.cross[st.cross["column"] == c]
        rows.append({"data": name, "column": c, "notes": int(cr["notes"].max()),
                     "fast_vs_official": float(cr["agreement"].mean()),
                     "fast_vs_official_churn": float(cr["churn"].mean()),
                     "official_vs_official": float(oo["agreement"].mean()),
                     "official_vs_official_churn": float(oo["churn"].mean()),
                     "fast_vs_fast": float(ff["agreement"].mean())})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notes", type=int, default=8000)
    ap.add_argument("--raters", type=int, default=6000)
    ap.add_argument("--ratings", type=int, default=250_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--big-notes", type=int, default=16000)
    ap.add_argument("--big-raters", type=int, default=12000)
    ap.add_argument("--big-ratings", type=int, default=500_000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "out" / "seeds"))
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: stability,isolated,fixture,big")
    ap.add_argument("--no-write", action="store_true", help="do not insert the section into bench/RESULTS.md")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    skip = {s for s in a.skip.split(",") if s}

    import cnlab
    from cnlab.lab import seed_stability
    from cnlab.pipeline import ScoringConfig

    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res: dict = {"started": started, "commit": commit(), "machine": machine(), "args": vars(a)}
    sections: dict = {}
    t0 = time.perf_counter()
    if "stability" not in skip:
        d = synth(out / f"synth-{a.ratings}", a.notes, a.raters, a.ratings)
        ds = cnlab.load(d)
        st = seed_stability(ds, seeds=range(a.seeds), config=ScoringConfig(), jobs=a.jobs)
        print(st.summary(), flush=True)
        sections["stability"] = (len(ds.ratings), st)
        res["stability"] = {"ratings": len(ds.ratings), "table": st.table().to_dict("records"),
                            "spread": st.spread.to_dict("records"), "cross": st.cross.to_dict("records")}
    if "isolated" not in skip:  # the MF start alone: topics fixed (none), pflip / PCRH off
        d = synth(out / f"synth-{a.ratings}", a.notes, a.raters, a.ratings)
        ds = cnlab.load(d)
        st = seed_stability(ds, seeds=range(a.seeds), config=ScoringConfig(topics="none", pflip="none", pcrh="none"),
                            jobs=a.jobs)
        print(st.summary(), flush=True)
        sections["isolated"] = (len(ds.ratings), st)
        res["isolated"] = {"table": st.table().to_dict("records"), "spread": st.spread.to_dict("records")}
    agree: list[dict] = []
    if "fixture" not in skip and FIX.exists():
        ds, cfg = fixture()
        st = seed_stability(ds, seeds=(42, 43), config=cfg, jobs=a.jobs)
        print(st.summary(), flush=True)
        agree += agreement_rows(f"fixture small ({len(ds.ratings):,} ratings)", st)
    if "big" not in skip:
        d = synth(out / f"synth-{a.big_ratings}", a.big_notes, a.big_raters, a.big_ratings)
        ds = cnlab.load(d)
        st = seed_stability(ds, seeds=(42, 43), config=ScoringConfig(), jobs=a.jobs)
        print(st.summary(), flush=True)
        agree += agreement_rows(f"synthetic ({len(ds.ratings):,} ratings)", st)
        res["big_table"] = st.table().to_dict("records")
    res["agreement"] = agree
    res["seconds"] = time.perf_counter() - t0
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))

    cmd = "python bench/seed_stability.py " + " ".join(sys.argv[1:])
    md = [f"## Seed stability: official training loop vs exact solver, Core ({started})", "",
          f"Command: `.venv/bin/{cmd.strip()}` (commit {res['commit']}). Machine: {res['machine']}, "
          f"shared with other jobs. Total {res['seconds'] / 60:.0f} min.", ""]
    if "stability" in sections:
        n, st = sections["stability"]
        md += [f"**Seed stability** on `cnlab synth` data ({a.notes:,} notes, {a.raters:,} raters, {n:,} "
               f"ratings after loading), Core only, seeds 0–{a.seeds - 1}, each fidelity "
               f"(`ScoringConfig.fidelity`). Churn = |A△B| / |A∪B| over the notes CRH in either run of a "
               f"seed pair; official churn = max(|A\\B|, |B\\A|) / (min(|A|,|B|) + 100), the official "
               f"check's formula (spec 04 §12.2) in both directions, against the guards 0.12 / 0.30; "
               f"unstable = notes with more than one status across the seeds; intercept sd = per-note "
               f"standard deviation of `coreNoteIntercept` across seeds. Baseline = the official fidelity "
               f"in the same run.", ""]
        md += table_md(st)
        t = st.table()
        o = t[(t["fidelity"] == "official")]["seconds_per_run"].mean()
        f = t[(t["fidelity"] == "fast")]["seconds_per_run"].mean()
        if o == o and f == f and f > 0:
            md += ["", f"Time per run: official {o:.1f} s, fast {f:.1f} s (ratio official / fast "
                       f"{o / f:.2f}×)."]
        md.append("")
    if "isolated" in sections:
        n, st = sections["isolated"]
        md += [f"**The MF start alone**: the same data and seeds with the topic model off (`topics=\"none\"`) "
               f"and no pflip / PCRH models, so that the seed reaches only the fits (in \"fast\", only those "
               f"the exact solver does not cover: the harassment tag model and the low-diligence model).", ""]
        md += table_md(st)
        md.append("")
    if agree:
        md += ["**Fast vs official** (issue 9): share of notes with the same status, fast and official "
               "under the same seed (mean over seeds 42, 43), next to the official scorer's own seed-to-seed "
               "agreement (official, seed 42 vs 43). Fixture: pass-2 inputs with the official topics and "
               "epoch; synthetic: topic model on.", "",
               "| data | status column | notes | fast vs official | official vs official (seed 42 vs 43) | "
               "fast vs fast (42 vs 43) | CRH churn fast vs official | CRH churn official vs official |",
               "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in agree:
            md.append(f"| {r['data']} | {r['column']} | {r['notes']:,} | {r['fast_vs_official']:.4f} | "
                      f"{r['official_vs_official']:.4f} | {r['fast_vs_fast']:.4f} | "
                      f"{r['fast_vs_official_churn']:.4f} | {r['official_vs_official_churn']:.4f} |")
        md.append("")
    text = "\n".join(md) + "\n"
    (out / "section.md").write_text(text)
    print(text)
    if not a.no_write:
        p = HERE / "RESULTS.md"
        lines = p.read_text().splitlines(keepends=True)
        p.write_text(lines[0] + "\n" + text + "".join(lines[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
