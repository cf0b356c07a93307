"""Array operations under the pflip fit and the rating files: this tree against numpy and a
baseline revision, in one command.

Usage::

    .venv/bin/python bench/array_ops.py [--baseline-rev 8fd6a5a] [--scale 1.0] [--out out/array_ops]

Three measurements, each printed as a markdown table with ratios:

* **set operations**: ``np.unique(a)`` and ``np.isin(a, b)`` against ``cnlab._arrays.unique`` /
  ``isin`` on the same arrays in one process (numpy >= 2.3 takes a hash-table path for these);
* **token bag**: ``TokenBag("helpfulness", min_df=2).fit_transform`` on a synthetic corpus
  (60,000 documents of 50-300 tokens drawn from 3M codes, times ``--scale``), in a fresh process
  for the baseline revision (its ``cnlab`` exported, on ``PYTHONPATH``) and for this tree; the
  two matrices must be equal;
* **reading a rating file back**: ``cnlab.pipeline.spill.read_frame`` of the ratings of ``--data``
  (default: a 10M-rating synthetic download, times ``--scale``) written by ``write_frame``, in a
  fresh process for each version: seconds, and the peak resident memory above the process's
  start (``VmHWM``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _runner import baseline_tree  # noqa: E402

REPO = HERE.parent

_BAG = r"""
import json, sys, time
import numpy as np
from cnlab.models.pflip_bag import TokenBag
n_docs = int(60_000 * float(sys.argv[1]))
rng = np.random.default_rng(0)
lens = rng.integers(50, 300, n_docs)
docs = [rng.integers(0, 3_000_000, k).astype(np.int32) for k in lens]
t = time.perf_counter()
m = TokenBag("helpfulness", min_df=2, dtype=np.float32).fit_transform(docs)
s = time.perf_counter() - t
np.savez(sys.argv[2], data=m.data, indices=m.indices, indptr=m.indptr)
print("RESULT", json.dumps({"s": s, "tokens": int(lens.sum()), "nnz": int(m.nnz), "columns": int(m.shape[1])}))
"""

_READ = r"""
import json, sys, time
from pathlib import Path
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 2**20
import pandas as pd, pyarrow  # imported before the start figure
from cnlab.pipeline.spill import read_frame
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
start = status("VmRSS")
t = time.perf_counter()
frame = read_frame(Path(sys.argv[1]))
s = time.perf_counter() - t
print("RESULT", json.dumps({"s": s, "peak_above_start_gib": status("VmHWM") - start,
                            "frame_gib": float(frame.memory_usage(deep=False).sum()) / 2**30}))
"""


def _child(code: str, args: list[str], pythonpath: Path | None) -> dict:
    env = None
    cmd = [sys.executable]
    if pythonpath is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
        cmd.append("-P")  # the working tree must not shadow the baseline's package
    p = subprocess.run([*cmd, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def set_operations(scale: float) -> list[str]:
    import numpy as np

    from cnlab._arrays import isin, unique

    rng = np.random.default_rng(0)
    n = int((1 << 23) * scale)
    cases = {
        "unique: 8.4M (document, token) pairs, int64": (
            lambda: np.sort(rng.integers(0, 40_000, n)) * 2_000_000 + rng.integers(0, 2_000_000, n), None),
        "unique: 8.4M int32 codes below 2^20": (lambda: rng.integers(0, 1 << 20, n).astype(np.int32), None),
        "isin: 8.4M in 1M note ids (wide range)": (
            lambda: rng.integers(0, 1 << 40, n), lambda: rng.integers(0, 1 << 40, n // 8)),
        "isin: 1M in 8.4M note ids (wide range)": (
            lambda: rng.integers(0, 1 << 40, n // 8), lambda: rng.integers(0, 1 << 40, n)),
    }
    rows = ["| operation | numpy s | cnlab s | ratio |", "|---|---:|---:|---:|"]
    for name, (make_a, make_b) in cases.items():
        a = make_a()
        b = None if make_b is None else make_b()
        t = time.perf_counter()
        want = np.unique(a) if b is None else np.isin(a, b)
        t_np = time.perf_counter() - t
        t = time.perf_counter()
        got = unique(a) if b is None else isin(a, b)
        t_cn = time.perf_counter() - t
        assert np.array_equal(got, want), name
        rows.append(f"| {name} | {t_np:.2f} | {t_cn:.2f} | {t_cn / t_np:.3f}× |")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-rev", default="8fd6a5a")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "array_ops")
    ap.add_argument("--data", type=Path,
                    help="a public-format folder whose ratings are read back (default: synthesized)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    base = baseline_tree(a.baseline_rev, a.out)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    print(f"## array operations ({a.baseline_rev} vs {head}, scale {a.scale})\n")
    print("\n".join(set_operations(a.scale)) + "\n")

    import numpy as np

    bag = {}
    for label, path in (("baseline", base), ("head", None)):
        bag[label] = _child(_BAG, [str(a.scale), str(a.out / f"bag-{label}.npz")], path)
    m0, m1 = (np.load(a.out / f"bag-{k}.npz") for k in ("baseline", "head"))
    same = all(np.array_equal(m0[k], m1[k]) for k in ("data", "indices", "indptr"))
    b, h = bag["baseline"], bag["head"]
    print(f"| token bag ({b['tokens']:,} tokens, {b['columns']:,} columns) | {a.baseline_rev} | {head} | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| fit_transform s | {b['s']:.2f} | {h['s']:.2f} | {h['s'] / b['s']:.3f}× |")
    print(f"| same matrix | | {same} | |\n")
    if not same:
        raise SystemExit("token bag: the matrices differ")

    path = a.out / (f"ratings-{a.data.resolve().name}.arrow" if a.data else f"ratings-{a.scale:g}.arrow")
    if not path.exists():
        import cnlab.io as cio
        from cnlab.pipeline.spill import write_frame
        from cnlab.synthetic import generate

        n = int(10_000_000 * a.scale)
        data = a.data or a.out / f"synth-{a.scale:g}"
        if not list(data.glob("ratings-*.tsv*")):
            generate(data, n_notes=max(1000, n // 80), n_raters=max(1000, n // 170), n_ratings=n, seed=3)
        write_frame(cio.load(directory=str(data)).ratings.reset_index(drop=True), path)
    rd = {label: _child(_READ, [str(path)], p) for label, p in (("baseline", base), ("head", None))}
    b, h = rd["baseline"], rd["head"]
    print(f"| read_frame ({b['frame_gib']:.2f} GiB frame) | {a.baseline_rev} | {head} | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| seconds | {b['s']:.2f} | {h['s']:.2f} | {h['s'] / b['s']:.3f}× |")
    print(f"| peak above start, GiB | {b['peak_above_start_gib']:.3f} | {h['peak_above_start_gib']:.3f} | "
          f"{h['peak_above_start_gib'] / b['peak_above_start_gib']:.3f}× |")


if __name__ == "__main__":
    main()
