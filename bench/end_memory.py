"""The end of a lean checkpointed run (meta rules, status history, contributor scoring) resumed
from its stored final phase: the resident memory when contributor scoring starts and its peak,
this tree against a baseline.

    .venv/bin/python bench/end_memory.py DATA_DIR [--baseline-rev REV] [--row-block 1048576]

A lean Core run of ``DATA_DIR`` (seed 42, pflip and PCRH off, ``keep="outputs"``, a checkpoint
folder, the ratings lent to disk: the path ``cnlab score`` takes at scale) is made once per
version under ``--out`` and its checkpoint kept. Each version (the baseline's ``cnlab`` unpacked
from git, then this tree) then resumes a copy of its own checkpoint in its own process: the load and preprocessing
run again, prescoring and final scoring are read back, and the rest runs as in the first run. A
sampler thread reads the process's resident memory every 10 ms while contributor scoring runs.
Printed per version: the resident memory at contributor scoring's entry (what the run holds
there: the combined frames, and whatever else is alive), the peak inside it, the peak above the
entry in bytes a rating, and the hash of the four output frames (which must not change).
``--row-block`` sets the ratings looked up at a time in the contributor passes (206M ratings
take 13 blocks of the default 2^24; a smaller block makes a 10M run take as many).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _runner import baseline_tree, child_json  # noqa: E402


def _config():
    from cnlab.pipeline import ScoringConfig
    from cnlab.scorers.mf_config import SCORERS, meta_scorer_names

    roster = (SCORERS["MFCoreScorer"],)
    return ScoringConfig(scorers=roster, enabled_meta_scorers=meta_scorer_names(roster), seed=42,
                         pflip="none", pcrh="none")


def _rss_gib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**30


def prepare(data: Path, checkpoint: Path) -> None:
    """The first run, to its end, leaving its checkpoint (prescoring and final phase stored)."""
    import cnlab.io as cio
    from cnlab._timing import return_freed_memory_to_the_os
    from cnlab.pipeline import score

    return_freed_memory_to_the_os()
    score(cio.load(directory=str(data)), _config(), keep="outputs", checkpoint=str(checkpoint),
          return_ratings=False)


def measure(data: Path, checkpoint: Path, row_block: int | None) -> dict:
    import hashlib

    import pandas as pd

    import cnlab
    import cnlab.io as cio
    import cnlab.pipeline.run as R
    from cnlab._timing import return_freed_memory_to_the_os
    from cnlab.pipeline import score

    if row_block:
        import cnlab.contributors as C
        import cnlab.scoring.helpfulness as H

        H.ROW_BLOCK = C.ROW_BLOCK = row_block
    return_freed_memory_to_the_os()  # as `cnlab score` does from 1M ratings
    seen: dict = {}
    original = R.contributor_scores

    def sampled(*args, **kwargs):
        seen["entry"] = peak = _rss_gib()
        stop = threading.Event()

        def sample():
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _rss_gib())
                time.sleep(0.01)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            stop.set()
            t.join()
            seen["peak"] = max(peak, _rss_gib())
            seen["seconds"] = time.perf_counter() - t0
            seen["ratings"] = len(args[3])

    R.contributor_scores = sampled
    res = score(cio.load(directory=str(data)), _config(), keep="outputs", checkpoint=str(checkpoint),
                resume=True, return_ratings=False)
    digests = {}
    for name, frame in res.outputs().items():
        f = frame.sort_index(axis=1).reset_index(drop=True)
        digests[name] = hashlib.sha256(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes()).hexdigest()[:16]
    stages = res.timings["stage"].astype(str)
    return {**seen, "package": str(Path(cnlab.__file__).parents[1]), "digests": digests,
            "final_resumed": bool(stages.eq("confidence models and final scoring read from the checkpoint").any())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--row-block", type=int, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "end_memory")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cnlab-end-memory"))
    ap.add_argument("--checkpoint", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._child:
        if a.prepare:
            prepare(a.data, a.checkpoint)
            print(json.dumps({}))
        else:
            print(json.dumps(measure(a.data, a.checkpoint, a.row_block)))
        return 0
    runs = []
    versions = ([(a.baseline_rev, a.baseline_rev, baseline_tree(a.baseline_rev, Path(a.workdir)))]
                if a.baseline_rev else [])
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    versions.append((f"this tree ({rev})", f"tree-{rev}", None))
    for label, key, tree in versions:
        # each version's own first run (the checkpoint's layout is the version's)
        kept = a.out / f"checkpoint-{a.data.resolve().parent.name}-{key}"
        if not (kept / "final").exists():
            shutil.rmtree(kept, ignore_errors=True)
            print(f"first run of {a.data} with {label} (its checkpoint kept in {kept}) ...", flush=True)
            child_json(__file__, [str(a.data), "--checkpoint", str(kept), "--prepare"], tree, "first run")
        ck = Path(a.workdir) / "resume"
        shutil.rmtree(ck, ignore_errors=True)
        shutil.copytree(kept, ck)  # each version resumes the same stored phases
        args = [str(a.data), "--checkpoint", str(ck), *(["--row-block", str(a.row_block)] if a.row_block else [])]
        runs.append((label, child_json(__file__, args, tree, label)))
        shutil.rmtree(ck, ignore_errors=True)
    n = runs[0][1]["ratings"]
    print(f"### The end of a lean run, contributor scoring, {n:,} ratings "
          f"(`bench/end_memory.py {' '.join(sys.argv[1:])}`)\n")
    print("| version | final phase read back | contributor scoring s | resident at its entry | its peak | above the entry, B a rating |")
    print("|---|---|---:|---:|---:|---:|")
    for label, r in runs:
        print(f"| {label} | {'yes' if r['final_resumed'] else 'no'} | {r['seconds']:.1f} | {r['entry']:.2f} GiB | "
              f"{r['peak']:.2f} GiB | {(r['peak'] - r['entry']) * 2**30 / n:.1f} |")
    for label, r in runs[1:]:
        same = [k for k, v in r["digests"].items() if runs[0][1]["digests"].get(k) == v]
        print(f"\n{label}: same outputs as {runs[0][0]}: {', '.join(same) or 'none'}"
              f" ({len(same)} of {len(r['digests'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
