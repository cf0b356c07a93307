"""The parent's memory where a lean checkpointed run lets its ratings go for rater clustering.

    .venv/bin/python bench/clustering_spill.py DATA_DIR

Loads and preprocesses ``DATA_DIR``, then, each in a fresh process, runs the two orders of the
step before rater clustering in ``cnlab.pipeline.run`` and reports the peak resident memory above
the step's start (``VmHWM`` reset there), in bytes a rating, and the seconds:

* ``copy``: the five clustering columns copied out of the ratings, then the ratings spilled to
  disk (:class:`cnlab.pipeline.spill.RatingsSpill`) and let go (the order before session 38);
* ``spill-read``: the ratings spilled and let go first, then the five columns read back from the
  spill (``RatingsSpill.preprocessed_columns``).

The two clustering inputs are compared (equal frames, the same dtypes).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import proc_status_gib, reset_peak  # noqa: E402


def _one(data: Path, variant: str) -> dict:
    import dataclasses

    import pandas as pd

    import cnlab.io as cio
    from cnlab.models.similarity import CLUSTERING_COLUMNS
    from cnlab.pipeline.spill import RatingsSpill, release_arrow_memory
    from cnlab.preprocess import preprocess

    dataset = cio.load(directory=str(data))
    pre = preprocess(dataset)
    n = len(pre.ratings)
    wanted = [c for c in CLUSTERING_COLUMNS if c in pre.ratings.columns]
    with tempfile.TemporaryDirectory() as tmp:
        gc.collect()
        release_arrow_memory()
        reset_peak()
        start = proc_status_gib("VmRSS")
        t0 = time.perf_counter()
        if variant == "copy":
            source = pd.DataFrame({c: pre.ratings[c].copy(deep=True) for c in wanted})
            spill = RatingsSpill.write(tmp, dataset, pre)
            pre = dataclasses.replace(pre, ratings=None)
        else:
            spill = RatingsSpill.write(tmp, dataset, pre)
            pre = dataclasses.replace(pre, ratings=None)
            gc.collect()
            release_arrow_memory()
            on_disk = spill.preprocessed_columns()
            source = pd.DataFrame({c: on_disk[c] for c in wanted}, copy=False)
            del on_disk
        gc.collect()
        release_arrow_memory()
        seconds = time.perf_counter() - t0
        peak = proc_status_gib("VmHWM") - start
        held = proc_status_gib("VmRSS") - start
    digest = hashlib.sha256(pd.util.hash_pandas_object(source, index=True).to_numpy().tobytes()).hexdigest()[:16]
    return {"variant": variant, "ratings": n, "seconds": round(seconds, 2),
            "peak_above_start_gib": round(peak, 3), "peak_bytes_a_rating": round(peak * 2**30 / n, 1),
            "held_after_gib": round(held, 3), "dtypes": {c: str(t) for c, t in source.dtypes.items()},
            "sha": digest}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(_one(a.data, a.one)))
        return
    results = []
    for variant in ("copy", "spill-read"):
        p = subprocess.run([sys.executable, __file__, str(a.data), "--one", variant], stdout=subprocess.PIPE,
                           text=True, check=True)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{variant:>10}: {r['seconds']} s, peak +{r['peak_above_start_gib']} GiB above the start "
              f"({r['peak_bytes_a_rating']} B a rating of {r['ratings']:,}), held after "
              f"{r['held_after_gib']:+} GiB, inputs sha {r['sha']}")
    same = results[0]["sha"] == results[1]["sha"] and results[0]["dtypes"] == results[1]["dtypes"]
    print(f"same clustering input: {same}; peak ratio spill-read/copy "
          f"{results[1]['peak_above_start_gib'] / results[0]['peak_above_start_gib']:.2f}")


if __name__ == "__main__":
    main()
