"""Scale benchmark: public-shaped synthetic data from 1M to 206M ratings, every stage timed.

Usage::

    .venv/bin/python bench/scale.py [--sizes 1e6,1e7,5e7,2.06e8] [--rosters core,all]
                                    [--out out/scale] [--rss-limit-gib 22] [--timeout-min 240]

For each size the data are written by ``cnlab synth`` (streaming to disk) with notes and raters
scaled as in the public download (2.5M notes and 1.2M raters for 206M ratings), once, then
``cnlab score DIR --scorers X`` runs for each roster in its own process (``--rosters load``: no
scoring, but ``cnlab.load`` from the TSVs, with a new cache and from that cache, each timed in a
fresh process). Every process runs
under a sampler (``bench/_runner.py``) that records the peak resident memory of its process tree
and stops it past ``--rss-limit-gib`` (recorded as "killed for memory", never as a result).

Next to each run's log, ``TAG.rss.tsv`` holds the resident memory of every process of its tree
every 2 s (the parent and each worker apart). Each run's stage lines (``stage: rows in=… (s;
GiB, peak GiB)``, the stage timer of :mod:`cnlab._timing`) are grouped into the stages of the issue: load, preprocess, PSS, each
scorer's prescoring and final scoring, pflip/PCRH, meta, contributors, write. The per-stage table
gives seconds and the process peak when the stage ended, and the fitted growth exponent ``b`` of
``seconds ∝ ratings^b`` over the sizes measured (least squares on logs; two or more sizes).

Results accumulate in ``OUT/results.json`` (a size already measured at the same commit is not
rerun unless ``--force``), so a long series can be run size by size across sessions; the markdown
tables go to stdout.
"""

from __future__ import annotations

import argparse
import json
import shlex
import math
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import run_measured  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CNLAB = str(REPO / ".venv" / "bin" / "cnlab")
#: Public download shape (2026): notes and raters per rating.
PUBLIC_RATINGS, PUBLIC_NOTES, PUBLIC_RATERS = 206_000_000, 2_500_000, 1_200_000
ROSTERS = {"core": "MFCoreScorer", "all": "all"}
#: ``--rosters load``: no scoring; three fresh processes time the load of the TSVs, the first load
#: with a cache (parse + write it) and a load from that cache.
LOAD_STEPS = (("tsv", False), ("cache_write", True), ("cache_read", True))
LOAD_CODE = ("import sys, cnlab; ds = cnlab.load(sys.argv[1], cache=sys.argv[2] if len(sys.argv) > 2 else None); "
             "print('loaded', len(ds.ratings), 'ratings')")
STAGE_LINE = re.compile(
    r"^(?P<stage>.+?): rows in=(?P<rin>\S+) out=(?P<rout>\S+) \((?P<s>[\d.]+) s; (?P<rss>[\d.na]+) GiB, "
    r"peak (?P<peak>[\d.na]+) GiB\)")


def shape(n_ratings: int) -> dict[str, int]:
    return {"ratings": n_ratings,
            "notes": max(100, round(n_ratings * PUBLIC_NOTES / PUBLIC_RATINGS)),
            "raters": max(100, round(n_ratings * PUBLIC_RATERS / PUBLIC_RATINGS))}


def group(stage: str) -> str:
    """The issue's stage a stage line belongs to."""
    s = stage
    if s.startswith(("load",)):
        return "load"
    if s.startswith("preprocess"):
        return "preprocess"
    if s.startswith(("rater clustering", "PSS coalescing")):
        return "PSS"
    if s.startswith("topic model"):
        return "topic model"
    if s.startswith(("pflip", "PCRH")):
        return "pflip/PCRH"
    m = re.match(r"^(\S+) (prescoring|final): ", s)
    if m:
        # the many small group and topic scorers are summed per kind
        name = re.sub(r"^(MF|Gaussian)(Group|Topic|MultiGroup)Scorer_\S+$", r"\1\2Scorer_*", m.group(1))
        return f"{name} {m.group(2)}"
    if s.startswith(("combine", "note stats", "meta scoring", "note status history")):
        return "meta"
    if s.startswith("contributor"):
        return "contributors"
    if s.startswith("write"):
        return "write"
    return "other"


def parse_stages(log: Path) -> list[dict]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = STAGE_LINE.match(line)
        if m:
            out.append({"stage": m["stage"], "group": group(m["stage"]), "seconds": float(m["s"]),
                        "rss_gib": float(m["rss"]), "peak_gib": float(m["peak"])})
    return out


def grouped(stages: list[dict]) -> dict[str, dict]:
    g: dict[str, dict] = {}
    for st in stages:
        rec = g.setdefault(st["group"], {"seconds": 0.0, "peak_gib": 0.0})
        rec["seconds"] += st["seconds"]
        rec["peak_gib"] = max(rec["peak_gib"], st["peak_gib"])
    return g


def save(path: Path, key: str, value: dict) -> dict:
    """Merge one result into ``path`` (re-read first: several sizes may run at once) and return all."""
    results = json.loads(path.read_text()) if path.exists() else {}
    results[key] = value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)
    return results


def commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()


def exponent(points: list[tuple[float, float]]) -> float | None:
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1e6,1e7,5e7,2.06e8")
    ap.add_argument("--rosters", default="core,all")
    ap.add_argument("--out", default=str(REPO / "out" / "scale"))
    ap.add_argument("--rss-limit-gib", type=float, default=22.0)
    ap.add_argument("--timeout-min", type=float, default=240.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--jobs", type=int, default=1, help="cnlab score --jobs (recorded with the run)")
    ap.add_argument("--score-args", default="", metavar="ARGS",
                    help="extra arguments for every `cnlab score` run, e.g. '--fidelity fast' or "
                         "'--no-memory-check'; they name a variant of their own in results.json")
    ap.add_argument("--force", action="store_true", help="rerun sizes already in results.json")
    ap.add_argument("--report-only", action="store_true", help="print the tables of results.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    rev = commit()
    extra = shlex.split(args.score_args)
    if not args.report_only:
        for size in (int(float(x)) for x in args.sizes.split(",")):
            sh = shape(size)
            data = out / f"r{size}" / "data"
            key_synth = f"{size}/synth"
            if not (data / "meta.json").exists():
                m = run_measured([CNLAB, "synth", "--out", str(data), "--notes", str(sh["notes"]),
                                  "--raters", str(sh["raters"]), "--ratings", str(size), "--seed",
                                  str(args.seed), "--quiet"], out / f"r{size}" / "synth.log",
                                 rss_limit_gib=args.rss_limit_gib, env=env)
                results[key_synth] = {"wall_s": m.wall_s, "peak_gib": m.peak_gib, "rc": m.rc, **sh}
                results = save(results_path, key_synth, results[key_synth])
                if m.rc != 0:
                    print(f"synth {size}: rc {m.rc}", file=sys.stderr)
                    continue
            cfg = json.loads((data / "meta.json").read_text()).get("config", {})
            sh = {"ratings": size, "notes": cfg.get("n_notes", sh["notes"]), "raters": cfg.get("n_raters", sh["raters"])}
            for roster in args.rosters.split(","):
                if roster == "load":
                    results = measure_load(args, data, out / f"r{size}", size, sh, rev, results, results_path, env)
                    continue
                key = f"{size}/{roster}" + (f"/jobs{args.jobs}" if args.jobs > 1 else "") + variant_tag(extra)
                if key in results and results[key].get("commit") == rev and not args.force:
                    continue
                tag = roster + (f"-jobs{args.jobs}" if args.jobs > 1 else "") + variant_tag(extra).replace("/", "-")
                outdir = out / f"r{size}" / tag
                log = out / f"r{size}" / f"{tag}.log"
                print(f"scoring {size:,} ratings, roster {roster} ...", file=sys.stderr, flush=True)
                m = run_measured([CNLAB, "score", str(data), "--outdir", str(outdir), "--scorers",
                                  ROSTERS[roster], "--no-parquet", "--jobs", str(args.jobs), *extra], log,
                                 rss_limit_gib=args.rss_limit_gib, rss_log=log.with_suffix(".rss.tsv"),
                                 env=env, timeout_s=args.timeout_min * 60)
                stages = parse_stages(log)
                results[key] = {"commit": rev, "jobs": args.jobs, "score_args": extra, "rc": m.rc, "wall_s": m.wall_s, "peak_gib": m.peak_gib,
                                "killed_for_memory": m.killed_for_memory, "stages": stages, **sh}
                results = save(results_path, key, results[key])
                print(f"  rc {m.rc}, {m.wall_s:.0f} s, peak {m.peak_gib:.2f} GiB", file=sys.stderr, flush=True)
    print(report(results))
    return 0


def measure_load(args, data: Path, folder: Path, size: int, sh: dict, rev: str, results: dict,
                 results_path: Path, env: dict) -> dict:
    """Time ``cnlab.load`` from the TSVs, with a new cache, and from that cache (fresh processes)."""
    import shutil

    cache = folder / "cache"
    key = f"{size}/load"
    if key in results and results[key].get("commit") == rev and not args.force:
        return results
    shutil.rmtree(cache, ignore_errors=True)
    steps = {}
    for name, with_cache in LOAD_STEPS:
        print(f"loading {size:,} ratings: {name} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-c", LOAD_CODE, str(data)] + ([str(cache)] if with_cache else [])
        m = run_measured(cmd, folder / f"load-{name}.log", rss_limit_gib=args.rss_limit_gib, env=env,
                         timeout_s=args.timeout_min * 60)
        steps[name] = {"wall_s": m.wall_s, "peak_gib": m.peak_gib, "rc": m.rc,
                       "killed_for_memory": m.killed_for_memory}
        print(f"  rc {m.rc}, {m.wall_s:.0f} s, peak {m.peak_gib:.2f} GiB", file=sys.stderr, flush=True)
    cache_bytes = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else 0
    input_bytes = sum(f.stat().st_size for f in data.iterdir() if f.is_file() and f.suffix == ".tsv")
    return save(results_path, key, {"commit": rev, "steps": steps, "cache_bytes": cache_bytes,
                                    "input_bytes": input_bytes, **sh})


def load_report(results: dict) -> str:
    runs = {int(k.split("/")[0]): r for k, r in results.items() if k.endswith("/load")}
    if not runs:
        return ""
    lines = ["\n### Loading (`--rosters load`): TSVs, first load with a cache, load from the cache\n",
             "| ratings | commit | TSV GB | cache GB | TSV s (peak GiB) | cache write s (peak GiB) "
             "| cache read s (peak GiB) | read / TSV |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for s in sorted(runs):
        r = runs[s]
        st = r["steps"]

        def cell(name):
            x = st.get(name)
            if x is None:
                return "–"
            return f"{x['wall_s']:.1f} ({x['peak_gib']:.2f})" if x["rc"] == 0 else f"rc {x['rc']}"
        ok = all(st.get(n, {}).get("rc") == 0 for n in ("tsv", "cache_read"))
        ratio = f"{st['cache_read']['wall_s'] / st['tsv']['wall_s']:.2f}" if ok else "–"
        lines.append(f"| {s:,} | {r['commit']} | {r['input_bytes'] / 1e9:.2f} | {r['cache_bytes'] / 1e9:.2f} | "
                     f"{cell('tsv')} | {cell('cache_write')} | {cell('cache_read')} | {ratio} |")
    return "\n".join(lines)


def variant_tag(extra: list[str]) -> str:
    """``/fidelity=fast,no-memory-check`` for ``--fidelity fast --no-memory-check``; ``""`` for none."""
    if not extra:
        return ""
    words, i = [], 0
    while i < len(extra):
        flag = extra[i].lstrip("-")
        if i + 1 < len(extra) and not extra[i + 1].startswith("-"):
            words.append(f"{flag}={extra[i + 1]}")
            i += 2
        else:
            words.append(flag)
            i += 1
    return "/" + ",".join(words)


def report(results: dict) -> str:
    lines = []
    sizes = sorted({int(k.split("/")[0]) for k in results})
    variants = sorted({k.split("/", 1)[1] for k in results if not k.endswith(("/synth", "/load"))})
    for variant in variants:
        roster = variant.split("/")[0]
        runs = {s: results.get(f"{s}/{variant}") for s in sizes if f"{s}/{variant}" in results}
        if not runs:
            continue
        parts = variant.split("/")[1:]
        jobs = next((x[4:] for x in parts if x.startswith("jobs")), "1")
        extras = [x for x in parts if not x.startswith("jobs")]
        lines.append(f"\n### Roster `{ROSTERS[roster]}`, `--jobs {jobs}`" + "".join(f", `{x}`" for x in extras) + "\n")
        lines.append("| ratings | notes | raters | commit | result | wall s | peak GiB | wall / 1M run |")
        lines.append("|---:|---:|---:|---|---|---:|---:|---:|")
        base = runs.get(min(runs))
        for s, r in runs.items():
            res = "ok" if r["rc"] == 0 else ("killed: memory" if r["killed_for_memory"] else f"rc {r['rc']}")
            ratio = r["wall_s"] / base["wall_s"] if base and base["rc"] == 0 and r["rc"] == 0 else float("nan")
            lines.append(f"| {s:,} | {r['notes']:,} | {r['raters']:,} | {r['commit']} | {res} | {r['wall_s']:.0f} "
                         f"| {r['peak_gib']:.2f} | {ratio:.1f} |")
        groups: list[str] = []
        per = {s: grouped(r["stages"]) for s, r in runs.items()}
        for g in per.values():
            groups += [k for k in g if k not in groups]
        lines.append("")
        lines.append("| stage | " + " | ".join(f"{s:,}: s (peak GiB)" for s in runs) + " | b (s ∝ ratings^b) |")
        lines.append("|---|" + "---:|" * (len(runs) + 1))
        for g in groups:
            cells, pts = [], []
            for s in runs:
                rec = per[s].get(g)
                if rec is None:
                    cells.append("–")
                    continue
                cells.append(f"{rec['seconds']:.1f} ({rec['peak_gib']:.1f})")
                if runs[s]["rc"] == 0:
                    pts.append((s, rec["seconds"]))
            b = exponent(pts)
            lines.append(f"| {g} | " + " | ".join(cells) + f" | {'–' if b is None else f'{b:.2f}'} |")
    lines.append(load_report(results))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
