"""Rescoring after a threshold change vs a fresh ``score()``, on the bundled sample.

Usage::

    .venv/bin/python bench/rescore.py

In one process (TensorFlow already started, as in a notebook): a fresh ``score()``, then
``result.rescore(changed)`` and a fresh ``score(changed)`` for two changes of the Core scorer —
a final-scoring threshold (``firm_reject_threshold`` 0.35: prescoring, topics and the pflip / PCRH
models are reused) and the CRH threshold (0.35: read in prescoring too, so prescoring is
recomputed and only the topics are reused) — for Core only and for the whole roster. Prints the
seconds and the ratio rescore / fresh score with the same change.
"""

from __future__ import annotations

import dataclasses
import time

import cnlab
from cnlab.pipeline import ScoringConfig
from cnlab.scorers import mf_config as mc


def _changed(config: ScoringConfig, **thresholds) -> ScoringConfig:
    scorers = tuple(dataclasses.replace(s, thresholds=dataclasses.replace(s.rules(), **thresholds))
                    if s.name == "MFCoreScorer" else s for s in config.scorers)
    return config.with_(scorers=scorers)


def main() -> int:
    ds = cnlab.load_sample()
    cnlab.score(ds, ScoringConfig(seed=42))  # warm-up: imports, TensorFlow start-up, first traces
    rows = []
    for roster, base in (("Core only", ScoringConfig(seed=42)), ("whole roster", ScoringConfig.official(seed=42))):
        t0 = time.perf_counter()
        res = cnlab.score(ds, base)
        fresh = time.perf_counter() - t0
        for label, change in (("firm_reject_threshold 0.35", dict(firm_reject_threshold=0.35)),
                              ("crh_threshold 0.35", dict(crh_threshold=0.35))):
            cfg = _changed(base, **change)
            t0 = time.perf_counter()
            new = res.rescore(cfg)
            t_re = time.perf_counter() - t0
            t0 = time.perf_counter()
            cnlab.score(ds, cfg)
            t_fresh = time.perf_counter() - t0
            rows.append((roster, label, fresh, t_re, t_fresh, ", ".join(new.recomputed) or "nothing"))
            print(rows[-1], flush=True)
    print("\n| roster | change | score() s | rescore() s | fresh score(changed) s | rescore / fresh | recomputed |")
    print("|---|---|---|---|---|---|---|")
    for r, label, f, re_, fc, what in rows:
        print(f"| {r} | {label} | {f:.1f} | {re_:.1f} | {fc:.1f} | {re_ / fc:.2f} | {what} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
