"""Loader benchmark: throughput and resident bytes per rating, cnlab vs plain pandas.

    .venv/bin/python bench/load.py [--ratings 10000000] [--workdir /tmp/cnlab-bench] [--keep]
                                   [--data DIR] [--baseline-rev REV] [--modes pandas,cnlab-ratings,cnlab-load]

1. Generates a public-format dataset with ``--ratings`` ratings (via
   :func:`cnlab.synthetic.generate`; a minimal writer of its own if that is
   unavailable), uncompressed ``.tsv``.
2. Measures, each in a fresh subprocess (so RSS deltas do not mix):

   * ``pandas``: ``pandas.read_csv(ratings, sep="\\t")`` with default dtypes
     (the baseline);
   * ``cnlab-ratings``: cnlab's ratings reader alone (parse, id codes, packed
     tags, categoricals), the like-for-like comparison;
   * ``cnlab-load``: ``cnlab.load(dir)`` of all four files;
   * ``cnlab-load@REV`` (``--baseline-rev REV``): the same with the ``cnlab`` package of commit
     ``REV``, so that a change to the loader is measured against its baseline in the same run
     (the table also says whether both gave the same ratings frame, by a hash of every value).

   ``--data DIR`` measures an existing dataset folder instead of generating one.

   For each: seconds, MB/s of file bytes, ``memory_usage(deep=True)`` bytes
   per rating, process RSS delta per rating and peak RSS.
3. Appends a section to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _runner import baseline_tree  # noqa: E402


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------
# child: one measurement
# ---------------------------------------------------------------------------
def measure(mode: str, directory: Path) -> dict:
    import gc

    import numpy as np  # noqa: F401  (import cost outside the timed region)
    import pandas as pd
    import pyarrow  # noqa: F401

    import cnlab.io as cio
    from cnlab.io._tsv import ReportBuilder
    from cnlab.io.dataset import find_files, joint_codes
    from cnlab.io.readers import read_parts

    files = find_files(directory)
    ratings = files["ratings"]
    ratings_files = [ratings] if isinstance(ratings, Path) and ratings.is_file() else (
        sorted(ratings.iterdir()) if isinstance(ratings, Path) else list(ratings))
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    if mode == "pandas":
        frames = [pd.read_csv(f, sep="\t") for f in ratings_files]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        del frames
        nbytes = sum(f.stat().st_size for f in ratings_files)
    elif mode == "cnlab-ratings":
        part = read_parts(ratings, "ratings", ReportBuilder())
        _participants, frames = joint_codes({"ratings": part})
        frame = frames["ratings"]
        del part
        nbytes = sum(f.stat().st_size for f in ratings_files)
    elif mode == "cnlab-load":
        ds = cio.load(directory)
        frame = ds.ratings
        nbytes = sum(
            sum(p.stat().st_size for p in (v if isinstance(v, list) else ([v] if v.is_file() else v.iterdir())))
            for v in files.values()
        )
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - t0
    gc.collect()
    rss1 = _rss()
    n = len(frame)
    return dict(
        mode=mode,
        rows=n,
        file_bytes=nbytes,
        seconds=seconds,
        mb_per_s=nbytes / 1e6 / seconds,
        frame_bytes_per_rating=float(frame.memory_usage(deep=True).sum()) / n,
        rss_delta_per_rating=(rss1 - rss0) / n,
        peak_rss_gib=_peak() / 2**30,
        columns=len(frame.columns),
        frame_hash=int(pd.util.hash_pandas_object(frame, index=True).sum()) if mode != "pandas" else None,
        package=str(Path(cio.__file__).parents[2]),
    )


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def generate(directory: Path, n_ratings: int, seed: int) -> str:
    n_notes = max(n_ratings // 50, 200)
    n_raters = max(n_ratings // 200, 100)
    try:
        from cnlab.synthetic import generate as gen
    except ImportError:
        gen = None
    if gen is not None:
        gen(directory, n_notes=n_notes, n_raters=n_raters, n_ratings=n_ratings, seed=seed, progress=False)
        return f"cnlab.synthetic.generate(n_notes={n_notes}, n_raters={n_raters}, n_ratings={n_ratings}, seed={seed})"
    _simple_writer(directory, n_notes, n_raters, n_ratings, seed)
    return f"bench simple writer (n_notes={n_notes}, n_raters={n_raters}, n_ratings={n_ratings}, seed={seed})"


def _simple_writer(directory: Path, n_notes: int, n_raters: int, n_ratings: int, seed: int) -> None:
    """Uniform random public-format files (fallback when cnlab.synthetic is absent)."""
    import numpy as np
    import pandas as pd

    from cnlab import schema as S

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    ids = np.array([f"{x:064X}" for x in rng.integers(0, 2**63, n_raters)], dtype=object)
    note_ids = 10**18 + np.arange(n_notes)
    chunk = 1_000_000
    with open(directory / "ratings-00000.tsv", "w") as fh:
        fh.write("\t".join(S.RATINGS_FILE_COLUMNS) + "\n")
        for a in range(0, n_ratings, chunk):
            m = min(chunk, n_ratings - a)
            df = pd.DataFrame({c: rng.integers(0, 2, m).astype(np.int8) for c in S.RATINGS_FILE_COLUMNS})
            df["noteId"] = note_ids[rng.integers(0, n_notes, m)]
            df["raterParticipantId"] = ids[rng.integers(0, n_raters, m)]
            df["createdAtMillis"] = 1_700_000_000_000 + rng.integers(0, 10**10, m)
            df["version"] = 2
            df["helpfulnessLevel"] = np.array(S.HELPFULNESS_LEVELS, dtype=object)[rng.integers(0, 3, m)]
            df["ratedOnTweetId"] = 10**18
            df["ratingSourceBucketed"] = "DEFAULT"
            df["suggestion"] = ""
            df["suggestionId"] = ""
            df.to_csv(fh, sep="\t", index=False, header=False)
    notes = pd.DataFrame({c: 0 for c in S.NOTES_FILE_COLUMNS}, index=range(n_notes))
    notes["noteId"] = note_ids
    notes["noteAuthorParticipantId"] = ids[rng.integers(0, n_raters, n_notes)]
    notes["createdAtMillis"] = 1_700_000_000_000
    notes["classification"] = S.MISLEADING
    for c in ("believable", "harmful", "validationDifficulty"):
        notes[c] = ""
    notes["summary"] = "text"
    notes.to_csv(directory / "notes-00000.tsv", sep="\t", index=False)
    nsh = pd.DataFrame({c: np.nan for c in S.NOTE_STATUS_HISTORY_COLUMNS}, index=range(n_notes))
    nsh[["noteId", "noteAuthorParticipantId", "createdAtMillis"]] = notes[["noteId", "noteAuthorParticipantId", "createdAtMillis"]]
    nsh.to_csv(directory / "noteStatusHistory-00000.tsv", sep="\t", index=False)
    enr = pd.DataFrame({"participantId": ids, "enrollmentState": "earnedIn", "successfulRatingNeededToEarnIn": 5,
                        "timestampOfLastStateChange": 1, "timestampOfLastEarnOut": 1, "modelingPopulation": "CORE",
                        "modelingGroup": 13.0, "numberOfTimesEarnedOut": 0})
    enr.to_csv(directory / "userEnrollment-00000.tsv", sep="\t", index=False)


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"nproc={os.cpu_count()}, RAM={mem:.1f} GiB, CPU={cpu}, Python {platform.python_version()}"


def render(args, source: str, results: list[dict], gen_seconds: float) -> str:
    import numpy
    import pandas
    import pyarrow

    base = next((r for r in results if r["mode"] == "pandas"), results[0])
    ours = next((r for r in results if r["mode"] == "cnlab-load"), None)

    def same(r):
        if ours is None or r is ours or not r["mode"].startswith("cnlab-load"):
            return ""
        return "yes" if r["frame_hash"] == ours["frame_hash"] else "**no**"
    lines = [
        f"## Loader benchmark, {results[0]['rows']:,} ratings ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"- command: `.venv/bin/python bench/load.py {' '.join(args.argv)}`",
        f"- machine: {machine()}",
        f"- versions: pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, numpy {numpy.__version__}",
        f"- data: {source}, uncompressed TSV, ratings file {base['file_bytes'] / 1e6:,.0f} MB "
        f"(generated in {gen_seconds:.0f} s)",
        "- each measurement runs in a fresh subprocess; RSS delta = resident set after minus before the read",
        "",
        "| loader | seconds | MB/s | x baseline | frame bytes/rating | x baseline | RSS delta bytes/rating | x baseline | peak RSS GiB | columns | same frame as cnlab-load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r['seconds']:.1f} | {r['mb_per_s']:.0f} | {r['mb_per_s'] / base['mb_per_s']:.2f} | "
            f"{r['frame_bytes_per_rating']:.1f} | {r['frame_bytes_per_rating'] / base['frame_bytes_per_rating']:.3f} | "
            f"{r['rss_delta_per_rating']:.1f} | {r['rss_delta_per_rating'] / base['rss_delta_per_rating']:.3f} | "
            f"{r['peak_rss_gib']:.2f} | {r['columns']} | {same(r)} |"
        )
    lines += [
        "",
        "`pandas` = `pandas.read_csv(file, sep='\\t')`, default dtypes (all 35 columns, ids as strings); "
        "`cnlab-ratings` = cnlab's ratings reader (default scoring columns: int32 rater codes, packed tags, "
        "categoricals); `cnlab-load` = `cnlab.load(dir)` of all four files (MB/s over all four files' bytes).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ratings", type=int, default=10_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default="/tmp/cnlab-bench")
    p.add_argument("--keep", action="store_true", help="keep the generated data (and reuse it next time)")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    p.add_argument("--no-write", action="store_true", help="print the section instead of appending it")
    p.add_argument("--data", default=None, help="an existing dataset folder (nothing generated or removed)")
    p.add_argument("--baseline-rev", default=None, help="also time cnlab.load of this commit's package")
    p.add_argument("--modes", default="pandas,cnlab-ratings,cnlab-load")
    p.add_argument("--_measure", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)

    if args._measure:
        print(json.dumps(measure(args._measure, Path(args.workdir))))
        return 0

    data = Path(args.data) if args.data else Path(args.workdir) / f"r{args.ratings}"
    marker = data / ".complete"
    t0 = time.perf_counter()
    if args.data:
        source = f"existing dataset {data.name}"
        args.keep = True
    elif marker.exists():
        source = marker.read_text()
        print(f"reusing {data}", file=sys.stderr)
    else:
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating {args.ratings:,} ratings in {data} ...", file=sys.stderr, flush=True)
        source = generate(data, args.ratings, args.seed)
        marker.write_text(source)
    gen_seconds = time.perf_counter() - t0

    results = []
    runs = [(mode, None) for mode in args.modes.split(",")]
    if args.baseline_rev:
        runs.append(("cnlab-load", baseline_tree(args.baseline_rev, Path(args.workdir))))
    for mode, tree in runs:
        print(f"measuring {mode} ...", file=sys.stderr, flush=True)
        env = dict(os.environ)
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        out = subprocess.run(
            # -P: the baseline package on PYTHONPATH, not the working tree's, is imported
            [sys.executable, "-P", __file__, "--_measure", mode, "--workdir", str(data)],
            check=True, capture_output=True, text=True, env=env,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if tree is not None:
            res["mode"] = f"cnlab-load@{args.baseline_rev}"
            if Path(res["package"]).resolve() != tree.resolve():
                raise SystemExit(f"the baseline run imported {res['package']}, not {tree}")
        print(f"  {res}", file=sys.stderr, flush=True)
        results.append(res)

    section = render(args, source, results, gen_seconds)
    if args.no_write:
        print(section)
    else:
        path = Path(args.results)
        header = "" if path.exists() else "# Benchmarks\n\n"
        with open(path, "a") as fh:
            fh.write(header + section + "\n")
        print(section)
        print(f"appended to {path}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
