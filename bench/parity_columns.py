"""Column-complete parity of the whole roster with the official outputs of ``small`` (pass 2).

Usage::

    .venv/bin/python bench/parity_columns.py [--outdir out/parity_columns]

Runs, side by side in fresh processes (one TensorFlow thread each), ``cnlab score --scorers all``
from the raw files ("loose") and from the official prescoring ("tight"), then applies the contract
of ``tests/parity_contract.py`` to every column of the four official files and prints, per file and
run, how many columns fall in each tolerance class, how many pass, and the headline figures
recorded in ``bench/RESULTS.md``. The same checks are the assertions of ``tests/test_end_to_end.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import pandas as pd  # noqa: E402

import parity_contract as C  # noqa: E402
import test_end_to_end as E  # noqa: E402
from cnlab.lab import parity  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=REPO / "out" / "parity_columns")
    ap.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures" / "small")
    args = ap.parse_args()
    small = args.fixtures
    epoch = int((small / "epoch_pass2").read_text().strip())
    args.outdir.mkdir(parents=True, exist_ok=True)
    common = ("--scorers", "all", "--seed", "42", "--epoch-millis", str(epoch))
    dirs = {"loose": args.outdir / "loose", "tight": args.outdir / "tight"}
    t0 = time.perf_counter()
    E._run_all({"loose": E._cli(small, dirs["loose"], *common),
                "tight": E._cli(small, dirs["tight"], *common, "--prescoring-dir",
                                str(small / "official-all" / "prescoring"))}, args.outdir)
    print(f"two whole-roster runs side by side: {time.perf_counter() - t0:.0f} s wall")
    official = parity.read_official_outputs(small / "official-all")
    rows = []
    for run, contract in (("tight", C.TIGHT), ("loose", C.LOOSE)):
        ours = parity.read_official_outputs(dirs[run])
        for name, key in parity.OUTPUT_KEYS.items():
            rep = parity.compare_columns(official[name], ours[name], key)
            classes = {c: type(contract[name][c]).__name__ for c in rep.index}
            fails = E._check(contract[name], rep)
            counts = pd.Series(classes).value_counts().to_dict()
            rows.append({"run": run, "file": name, "columns": len(rep),
                         "classes": ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                         "identical": int((rep["equal"] == rep["rows"]).sum()), "failing": len(fails)})
            for f in fails:
                print(f"  FAIL {run} {name}: {f}")
        sn = parity.compare_columns(official["scored_notes"], ours["scored_notes"], "noteId")
        print(f"{run}: finalRatingStatus {sn.loc['finalRatingStatus', 'equal']}/{sn.loc['finalRatingStatus', 'rows']}, "
              f"decidedBy {sn.loc['decidedBy', 'equal']}/{sn.loc['decidedBy', 'rows']}, "
              f"coreNoteIntercept max |Δ| {sn.loc['coreNoteIntercept', 'max_abs']:.2g}")
    table = pd.DataFrame(rows)
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for r in table.itertuples(index=False):
        print("| " + " | ".join(map(str, r)) + " |")
    return int(table["failing"].sum() > 0)


if __name__ == "__main__":
    raise SystemExit(main())
