"""Score the ``small`` fixture through the Python API, as a notebook user would, and write the
four official files plus the prescoring outputs (official layout).

Run as a script by tests/test_end_to_end.py, in its own process (the CLI run beside it gets the
same treatment, so both start from a fresh interpreter):

    python tests/scripts/score_api.py FIXTURE_DIR OUTDIR [--prescoring-dir DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cnlab.io as cio
from cnlab.pipeline import ScoringConfig, score
from cnlab.scorers.outputs import write_prescoring


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture", type=Path)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    inputs = args.fixture / "inputs"
    ds = cio.load(notes=inputs / "notes-00000.tsv.gz", ratings=inputs / "ratings-00000.tsv.gz",
                  enrollment=inputs / "userEnrollment-00000.tsv.gz", status=args.fixture / "pass2_status.tsv.gz")
    epoch = int((args.fixture / "epoch_pass2").read_text().strip())
    result = score(ds, ScoringConfig.official(seed=args.seed, epoch_millis=epoch))
    cio.write_outputs(result.frames, args.outdir, participants=ds.participants)
    write_prescoring(result.prescoring, args.outdir / "prescoring", ds.participants)


if __name__ == "__main__":
    main()
