"""Core parity against the official outputs of the ``small`` fixture (pass 2).

Usage::

    .venv/bin/python bench/parity_core.py --mode final   # final scoring from official prescoring
    .venv/bin/python bench/parity_core.py --mode full    # full run from raw files

Prints the figures recorded in ``bench/RESULTS.md`` (parity section).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
FIX = REPO.parent / "shared" / "fixtures" / "small"
CORE_DECIDER = "CoreModel (v1.1)"
NEAR = 0.02  # |intercept − threshold| counted as "near a threshold" in the disagreement table


def official_topics() -> pd.DataFrame:
    sn = pd.read_csv(FIX / "official-all" / "scored_notes.tsv.gz", sep="\t",
                     usecols=["noteId", "noteTopic"])
    return sn[sn["noteTopic"].notna()].reset_index(drop=True)


def load_dataset():
    import cnlab.io as cio

    return cio.load(FIX / "inputs", status=FIX / "pass2_status.tsv.gz")


def run(mode: str, seed: int = 42, topics: str = "official"):
    from cnlab.pipeline import ScoringConfig, load_official_prescoring, score

    ds = load_dataset()
    epoch = int((FIX / "epoch_pass2").read_text().strip())
    cfg = ScoringConfig(seed=seed, epoch_millis=epoch,
                        topics=official_topics() if topics == "official" else "model")
    pres = load_official_prescoring(FIX / "official-all" / "prescoring", ds) if mode == "final" else None
    t0 = time.perf_counter()
    res = score(ds, cfg, prescoring=pres)
    return res, time.perf_counter() - t0


def nearest_threshold(row) -> str:
    i, f = row["coreNoteIntercept"], row["coreNoteFactor1"]
    cands = {
        "crh 0.40": i - 0.40,
        "inertia 0.39": i - 0.39,
        "crnh −0.05−0.8|f|": i - (-0.05 - 0.8 * abs(f)) if pd.notna(f) else np.nan,
        "firmReject 0.3": i - 0.30,
        "|f| 0.5": abs(f) - 0.5 if pd.notna(f) else np.nan,
    }
    for col, thr, lab in (("coreNoteInterceptNoHighVol", 0.37, "noHighVol 0.37"),
                          ("coreNoteInterceptNoCorrelated", 0.37, "noCorrelated 0.37"),
                          ("coreNoteInterceptMax", -0.04, "ucb −0.04")):
        if col in row and pd.notna(row[col]):
            cands[lab] = row[col] - thr
    cands = {k: v for k, v in cands.items() if pd.notna(v)}
    if not cands:
        return "no intercept"
    k = min(cands, key=lambda x: abs(cands[x]))
    return f"{k}: {cands[k]:+.4f}"


def compare(res) -> dict:
    off = pd.read_csv(FIX / "official-all" / "scored_notes.tsv.gz", sep="\t")
    ours = res.outputs()["scored_notes"]
    cols = ["noteId", "coreNoteIntercept", "coreNoteFactor1", "coreRatingStatus", "finalRatingStatus",
            "coreActiveRules", "decidedBy", "coreNoteInterceptMax", "coreNoteInterceptNoHighVol",
            "coreNoteInterceptNoCorrelated", "coreNumFinalRoundRatings", "numRatings"]
    m = off[cols].merge(ours[cols], on="noteId", suffixes=("_off", "_cn"), how="left")
    dec = m[m["decidedBy_off"] == CORE_DECIDER]
    out: dict = {"n_core_decided": len(dec)}
    def same(a, b):
        return (a.astype(object).where(a.notna(), "<NA>").astype(str).to_numpy()
                == b.astype(object).where(b.notna(), "<NA>").astype(str).to_numpy())

    for c in ("coreRatingStatus", "finalRatingStatus"):
        agree = pd.Series(same(dec[f"{c}_off"], dec[f"{c}_cn"]), index=dec.index)
        out[f"{c}_agree"] = float(agree.mean())
        out[f"{c}_n_disagree"] = int((~agree).sum())
    for c in ("coreNoteIntercept", "coreNoteFactor1", "coreNoteInterceptMax",
              "coreNoteInterceptNoHighVol", "coreNoteInterceptNoCorrelated"):
        d = (m[f"{c}_off"] - m[f"{c}_cn"]).abs()
        out[f"{c}_max_abs"] = float(d.max())
        out[f"{c}_mean_abs"] = float(d.mean())
        both = m[[f"{c}_off", f"{c}_cn"]].dropna()
        out[f"{c}_pearson"] = float(both.corr().iloc[0, 1]) if len(both) > 2 else np.nan
        out[f"{c}_nan_mismatch"] = int((m[f"{c}_off"].isna() != m[f"{c}_cn"].isna()).sum())
    out["coreRatingStatus_agree_all_notes"] = float(same(m["coreRatingStatus_off"],
                                                         m["coreRatingStatus_cn"]).mean())
    out["finalRatingStatus_agree_all_notes"] = float(same(m["finalRatingStatus_off"],
                                                          m["finalRatingStatus_cn"]).mean())
    dis = dec[~same(dec["coreRatingStatus_off"], dec["coreRatingStatus_cn"])
              | ~same(dec["finalRatingStatus_off"], dec["finalRatingStatus_cn"])]
    rows = []
    for _, r in dis.iterrows():
        rr = {k[:-4]: r[k] for k in r.index if k.endswith("_off")}
        rows.append({
            "noteId": int(r["noteId"]),
            "core off→cn": f"{r['coreRatingStatus_off']}→{r['coreRatingStatus_cn']}",
            "final off→cn": f"{r['finalRatingStatus_off']}→{r['finalRatingStatus_cn']}",
            "rules off": r["coreActiveRules_off"], "rules cn": r["coreActiveRules_cn"],
            "Δintercept": r["coreNoteIntercept_cn"] - r["coreNoteIntercept_off"],
            "nearest threshold (official)": nearest_threshold(rr),
        })
    out["disagreements"] = rows
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["final", "full"], default="final")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--topics", choices=["official", "model"], default="official")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    res, secs = run(a.mode, a.seed, a.topics)
    out = compare(res)
    out["seconds"] = secs
    print(res.summary())
    print(res.timings.to_string())
    dis = out.pop("disagreements")
    print(json.dumps(out, indent=1))
    print(pd.DataFrame(dis).to_string())
    if a.json:
        out["disagreements"] = dis
        a.json.write_text(json.dumps(out, indent=1, default=str))
    return res, out


if __name__ == "__main__":
    main()
