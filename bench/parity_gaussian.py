"""Gaussian-scorer parity against the official outputs of the ``small`` fixture (pass 2).

Final scoring starts from the official prescoring outputs (``official-all/prescoring``), with the
official note topics and ``epoch_pass2``, and runs MFCoreScorer plus the four Gaussian scorers
(spec 06 §E)::

    .venv/bin/python bench/parity_gaussian.py            # figures of bench/RESULTS.md
    .venv/bin/python bench/parity_gaussian.py --json out.json

Compared with ``official-all/scored_notes.tsv.gz``: every Gaussian column (coverage scorers on
all notes; ``group*`` on the notes with official ``modelingGroup == 15``; ``topic*`` on the notes
with official ``noteTopic == InDimensionTwo``), and the per-call rating counts with
``log_final.txt.gz``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
FIX = REPO.parent / "shared" / "fixtures" / "small"
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Columns compared per scorer (official external names; group / topic ones after coalescing).
COLUMNS = {
    "GaussianScorer": ("gaussian", (
        "NoteIntercept", "NoteFactor1", "RatingStatus", "ActiveRules", "NumFinalRoundRatings",
        "NoteInterceptNoHighVol", "NoteInterceptNoCorrelated", "NoteInterceptPopulationSampled")),
    "GaussianCoreWithTopicsScorer": ("gaussianCoreWithTopics", (
        "NoteIntercept", "NoteFactor1", "RatingStatus", "ActiveRules", "NumFinalRoundRatings",
        "NoteInterceptNoHighVol", "NoteInterceptNoCorrelated", "NoteInterceptPopulationSampled")),
    "GaussianGroupScorer_15": ("group", (
        "NoteIntercept", "NoteFactor1", "RatingStatus", "ActiveRules", "NumFinalRoundRatings",
        "NoteInterceptNoHighVol", "NoteInterceptNoCorrelated")),
    "GaussianTopicScorer_InDimensionTwo": ("topic", (
        "NoteIntercept", "NoteFactor1", "RatingStatus", "ActiveRules", "NumFinalRoundRatings",
        "NoteInterceptNoHighVol", "NoteInterceptNoCorrelated")),
}
EXTRA_COLUMNS = {"GaussianGroupScorer_15": ("modelingGroup",),
                 "GaussianTopicScorer_InDimensionTwo": ("noteTopic", "topicNoteConfident")}
#: Rows of the coalesced official group / topic columns that belong to the Gaussian instance.
ROW_FILTER = {"GaussianGroupScorer_15": ("modelingGroup", 15.0),
              "GaussianTopicScorer_InDimensionTwo": ("noteTopic", "InDimensionTwo")}
#: Meta deciders that read the Gaussian columns (spec 04 §11.3 rules 12–14, 16).
GAUSSIAN_DECIDERS = ("GaussianModel (v1.0)", "GaussianCoreWithTopicsModel (v1.0)",
                     "GroupModel15NMR (v1.1)", "TopicModel05 (v1.0)")


def run(seed: int = 42, gaussian=None, all_mf: bool = False):
    """Final scoring from the official prescoring: Core (or, with ``all_mf``, every MF scorer of
    ``ScoringConfig.official_mf``) + the Gaussian scorers (default: all four)."""
    import parity_core as pc

    from cnlab.scorers import gaussian as G
    from cnlab.pipeline import ScoringConfig, load_official_prescoring, score

    pc.FIX = FIX
    ds = pc.load_dataset()
    epoch = int((FIX / "epoch_pass2").read_text().strip())
    base = ScoringConfig.official_mf() if all_mf else ScoringConfig()
    cfg = base.with_(seed=seed, epoch_millis=epoch, topics=pc.official_topics(),
                     gaussian=tuple(G.GAUSSIAN_SCORERS.values()) if gaussian is None else gaussian)
    pres = load_official_prescoring(FIX / "official-all" / "prescoring", ds)
    t0 = time.perf_counter()
    res = score(ds, cfg, prescoring=pres)
    return res, time.perf_counter() - t0


def _strings(s: pd.Series) -> np.ndarray:
    return s.astype(object).where(s.notna(), "<NA>").astype(str).to_numpy()


def _bools(s: pd.Series) -> np.ndarray:
    return s.astype(object).map(lambda v: "<NA>" if pd.isna(v) else str(str(v) == "True")).to_numpy()


def compare(res) -> dict:
    """Per scorer and column: agreement (strings) or max / mean |Δ| and NaN mismatches (numbers)."""
    off = pd.read_csv(FIX / "official-all" / "scored_notes.tsv.gz", sep="\t")
    ours = res.outputs()["scored_notes"]
    m = off.merge(ours, on="noteId", suffixes=("_off", "_cn"), how="left", validate="1:1")
    out: dict = {}
    for name, (prefix, cols) in COLUMNS.items():
        rows = np.ones(len(m), dtype=bool)
        if name in ROW_FILTER:
            col, val = ROW_FILTER[name]
            rows = (m[f"{col}_off"] == val).to_numpy()
        sub = m[rows]
        res_s: dict = {"rows": int(rows.sum())}
        for c in [prefix + c for c in cols] + list(EXTRA_COLUMNS.get(name, ())):
            a, b = sub[f"{c}_off"], sub[f"{c}_cn"]
            if c == "topicNoteConfident":
                same = _bools(a) == _bools(b)
                res_s[c] = {"agree": float(same.mean()) if len(same) else 1.0, "n_disagree": int((~same).sum())}
            elif pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
                d = (a - b).abs()
                both = a.notna() & b.notna()
                res_s[c] = {"n_official": int(a.notna().sum()), "n_cnlab": int(b.notna().sum()),
                            "nan_mismatch": int((a.isna() != b.isna()).sum()),
                            "max_abs": float(d.max()) if both.any() else 0.0,
                            "mean_abs": float(d.mean()) if both.any() else 0.0}
            else:
                same = _strings(a) == _strings(b)
                res_s[c] = {"agree": float(same.mean()) if len(same) else 1.0, "n_disagree": int((~same).sum()),
                            "n_official": int(a.notna().sum())}
                if (~same).any():
                    res_s[c]["disagreements"] = [
                        {"noteId": int(n), "official": x, "cnlab": y}
                        for n, x, y in zip(sub["noteId"][~same], _strings(a)[~same], _strings(b)[~same])]
        if name in ROW_FILTER:
            # other rows with a coalesced value: 0 in a Core + Gaussian run (the Gaussian instance
            # fills only its own notes); with --all-mf these are the MF group / topic scorers' notes
            stray = m.loc[~rows, f"{prefix}RatingStatus_cn"].notna()
            res_s["stray_rows"] = int(stray.sum())
        out[name] = res_s
    # meta-scoring: notes decided by a rule that reads the Gaussian columns
    dec = m[m["decidedBy_off"].isin(GAUSSIAN_DECIDERS)]
    out["meta"] = {
        "n_decided_by_gaussian_rules": len(dec),
        "decidedBy_agree": float((_strings(dec["decidedBy_off"]) == _strings(dec["decidedBy_cn"])).mean()),
        "finalRatingStatus_agree": float((_strings(dec["finalRatingStatus_off"])
                                          == _strings(dec["finalRatingStatus_cn"])).mean()),
        "by_decider": {k: int(v) for k, v in dec["decidedBy_off"].value_counts().items()},
        # whole run (meaningful with --all-mf; a Core+Gaussian run leaves other models' notes NMR)
        "all_notes_finalRatingStatus_agree": float((_strings(m["finalRatingStatus_off"])
                                                    == _strings(m["finalRatingStatus_cn"])).mean()),
        "all_notes_decidedBy_agree": float((_strings(m["decidedBy_off"]) == _strings(m["decidedBy_cn"])).mean()),
        "disagreements": [
            {"noteId": int(r.noteId), "decidedBy off→cn": f"{r.decidedBy_off}→{r.decidedBy_cn}",
             "final off→cn": f"{r.finalRatingStatus_off}→{r.finalRatingStatus_cn}",
             "metaRules off": r.metaScorerActiveRules_off, "metaRules cn": r.metaScorerActiveRules_cn}
            for r in dec.itertuples()
            if r.decidedBy_off != r.decidedBy_cn or r.finalRatingStatus_off != r.finalRatingStatus_cn],
    }
    return out


_PREFILTER = re.compile(r"Num Ratings: (\d+), Num Unique Notes Rated: (\d+), Num Unique Raters: (\d+)")


def official_log_counts(name: str) -> dict:
    """Per-call counts of one Gaussian scorer from ``log_final.txt.gz``.

    Calls run in the order NoHighVol, NoCorrelated, PopulationSampled (when the scorer has any
    population-sampled rating), main; each logs its prefilter result, and those with a non-empty
    final round log the diligence call with the final-round rating count.
    """
    with gzip.open(FIX / "official-all" / "log_final.txt.gz", "rt") as fh:
        lines = fh.read().splitlines()
    start = next(i for i, l in enumerate(lines) if l.endswith(f"Filtering ratings for {name}.  Original rating length: 57477"))
    end = next((i for i in range(start + 1, len(lines)) if "Filtering ratings for " in lines[i]), len(lines))
    block = lines[start:end]
    out: dict = {"calls": {}}
    for l in block:
        m = re.search(r"Ratings after (topic|group) filter: (\d+)", l)
        if m:
            out[f"after_{m.group(1)}_filter"] = int(m.group(2))
        for key, pat in (("NoHighVol", "Low Vol"), ("NoCorrelated", "Non-Correlated"),
                         ("PopulationSampled", "Population Sampled")):
            m = re.search(rf"Total Ratings vs {pat} Ratings \({re.escape(name)}\): (\d+) vs (\d+)", l)
            if m:
                out["scoped"] = int(m.group(1))
                out["calls"][key] = {"ratings_in": int(m.group(2))}
    out["calls"]["main"] = {"ratings_in": out["scoped"]}
    order = [k for k in ("NoHighVol", "NoCorrelated", "PopulationSampled", "main") if k in out["calls"]]
    pre = [tuple(map(int, m.groups())) for m in map(_PREFILTER.search, block) if m]
    dil = [int(m.group(1)) for m in (re.search(r"about to call diligence with (\d+) final round", l) for l in block) if m]
    mfu = [tuple(map(int, m.groups())) for m in (re.search(r"Users: (\d+), Notes: (\d+)", l) for l in block) if m]
    for k, p in zip(order, pre):
        out["calls"][k].update(after_prefilter=p[0])
    nonempty = [k for k in order if k != "PopulationSampled" or len(dil) == len(order)]
    for k, n, u in zip(nonempty, dil, mfu):
        out["calls"][k].update(final_round_ratings=n, final_round_raters=u[0], final_round_notes=u[1])
    return out


def compare_counts(res) -> dict:
    """cnlab's per-call counts next to the official log's, per Gaussian scorer."""
    out = {}
    for name in COLUMNS:
        f = res.final.get(name)
        if f is None:
            continue
        offc = official_log_counts(name)
        rows = []
        for key, oc in offc["calls"].items():
            c = f.calls.get(key)
            mine = {} if c is None else c.counts
            for k, v in oc.items():
                rows.append({"call": key, "count": k, "official": v, "cnlab": mine.get(k, 0 if key == "PopulationSampled" else None)})
        rows.append({"call": "slice", "count": "scoped", "official": offc["scoped"],
                     "cnlab": f.slice_counts.get("scoped")})
        out[name] = rows
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--all-mf", action="store_true",
                    help="also run every MF scorer (ScoringConfig.official_mf) → whole-run final statuses")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    res, secs = run(a.seed, all_mf=a.all_mf)
    out = compare(res)
    out["seconds"] = secs
    out["counts"] = compare_counts(res)
    gt = res.timings[res.timings["stage"].str.startswith("Gaussian")]
    print(gt.to_string())
    print(f"score() total {secs:.1f} s; Gaussian stages {gt['seconds'].sum():.1f} s")
    for name in COLUMNS:
        print(f"\n== {name} ({out[name]['rows']} rows compared"
              + (f", {out[name].get('stray_rows', 0)} other rows with values)" if "stray_rows" in out[name] else ")"))
        for c, v in out[name].items():
            if isinstance(v, dict):
                print(f"  {c:56s} " + ", ".join(f"{k}={x:.3g}" if isinstance(x, float) else f"{k}={x}"
                                                  for k, x in v.items() if k != "disagreements"))
                for d in v.get("disagreements", [])[:20]:
                    print("      ", d)
        rows = pd.DataFrame(out["counts"].get(name, []))
        if len(rows):
            rows["equal"] = rows["official"] == rows["cnlab"]
            print(rows.to_string(index=False))
    print("\n== meta-scoring on notes decided by rules 12–14/16 (officially)")
    print(json.dumps({k: v for k, v in out["meta"].items()}, indent=1, default=str))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str))
    return res, out


if __name__ == "__main__":
    main()
