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


#: helpfulness_scores: float32 prescoring parameters printed with ~8 significant digits in the
#: official TSV; a float32 → float64 value differs from the parsed text by < 1e-7.
HS_FLOAT_TOL = 1e-6
HS_FLAG_COLUMNS = ("aboveHelpfulnessThreshold", "isEmergingWriter")
HS_STRING_COLUMNS = ("authorTopNotHelpfulTagValues",)
#: Note-level inputs of the contributor phase (spec 07 A.3–A.7): frame → columns.
NOTE_INPUTS = {
    "scored_notes": ("finalRatingStatus", "numRatings"),
    "aux_note_info": ("crhBool", "crnhBool", "awaitingBool", "numRatingsLast28"),
    "note_status_history": ("currentStatus", "timestampMillisOfLatestNonNMRStatus"),
}


def _same(a: pd.Series, b: pd.Series, *, tol: float = 0.0) -> np.ndarray:
    """Elementwise equality of two aligned columns; both missing counts as equal."""
    if a.name in HS_STRING_COLUMNS:  # "" is written as an empty field and reads back as NaN
        na, nb = (s.astype(object).where(s.notna() & (s.astype(object) != ""), None) for s in (a, b))
        return na.to_numpy() == nb.to_numpy()
    if a.name in HS_FLAG_COLUMNS:
        def norm(s):
            return s.astype(object).map(lambda v: None if pd.isna(v) else str(v) == "True").to_numpy()

        return norm(a) == norm(b)
    av = pd.to_numeric(a.astype(object), errors="coerce").to_numpy(dtype=np.float64)
    bv = pd.to_numeric(b.astype(object), errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(av).all() and np.isnan(bv).all() and a.notna().any():  # strings (statuses)
        return (a.astype(object).where(a.notna(), None).to_numpy()
                == b.astype(object).where(b.notna(), None).to_numpy())
    return (np.abs(av - bv) <= tol) | (np.isnan(av) & np.isnan(bv))


def helpfulness_agreement(mine: pd.DataFrame, official: pd.DataFrame) -> pd.DataFrame:
    """Bool frame (index raterParticipantId of ``mine``, one column per helpfulness column):
    cell equals the official row (floats within :data:`HS_FLOAT_TOL`, NaN == NaN)."""
    from cnlab import schema

    rid = schema.RATER_ID
    m = mine.set_index(rid)
    o = official.set_index(rid).reindex(m.index)
    return pd.DataFrame({c: _same(m[c], o[c], tol=HS_FLOAT_TOL) for c in schema.HELPFULNESS_SCORES_COLUMNS[1:]},
                        index=m.index)


def notes_with_different_inputs(res) -> pd.DataFrame:
    """Notes whose contributor-phase inputs (:data:`NOTE_INPUTS`) differ from the official run,
    with the official decidedBy."""
    outs = res.outputs()
    diff = None
    for key, cols in NOTE_INPUTS.items():
        off = pd.read_csv(FIX / "official-all" / f"{key}.tsv.gz", sep="\t", usecols=["noteId", *cols])
        m = off.merge(outs[key][["noteId", *cols]], on="noteId", suffixes=("_off", "_cn"), validate="1:1")
        d = np.zeros(len(m), dtype=bool)
        for c in cols:
            d |= ~_same(m[f"{c}_off"].rename(c), m[f"{c}_cn"].rename(c))
        part = pd.Series(d, index=m["noteId"].to_numpy())
        diff = part if diff is None else diff | part.reindex(diff.index, fill_value=False)
    ids = diff.index[diff.to_numpy()]
    sn = pd.read_csv(FIX / "official-all" / "scored_notes.tsv.gz", sep="\t",
                     usecols=["noteId", "decidedBy", "finalRatingStatus"])
    return sn[sn["noteId"].isin(ids)].reset_index(drop=True)


def compare_helpfulness(res) -> dict:
    """``outputs()['helpfulness_scores']`` vs ``official-all/helpfulness_scores.tsv.gz``.

    A contributor is *touched* when they rated or wrote a note whose contributor-phase inputs
    differ from the official run (:func:`notes_with_different_inputs`: in a Core-only run, notes
    the official run decided with another model); their counts and state may legitimately differ.
    """
    from cnlab import schema

    off = pd.read_csv(FIX / "official-all" / "helpfulness_scores.tsv.gz", sep="\t")
    mine = res.outputs()["helpfulness_scores"]
    eq = helpfulness_agreement(mine, off)
    diff_notes = notes_with_different_inputs(res)
    ids = set(diff_notes["noteId"])
    pre = res.preprocessed
    r = pre.ratings
    codes = set(r.loc[r[schema.NOTE_ID].isin(ids), schema.RATER_ID])
    nsh = pre.status_history
    codes |= set(nsh.loc[nsh[schema.NOTE_ID].isin(ids), schema.AUTHOR_ID])
    touched = np.isin(eq.index.to_numpy(), np.asarray(res.participants)[sorted(c for c in codes if c >= 0)])
    cols = {c: {"equal": int(v.sum()), "rows": len(v), "differ_touched": int((~v & touched).sum()),
                "differ_untouched": int((~v & ~touched).sum())} for c, v in eq.items()}
    return {
        "rows_cnlab": len(mine), "rows_official": len(off),
        "same_contributors": set(mine[schema.RATER_ID]) == set(off[schema.RATER_ID]),
        "notes_with_different_inputs": len(diff_notes),
        "different_notes_by_decider": diff_notes["decidedBy"].value_counts().to_dict(),
        "touched_contributors": int(touched.sum()),
        "rows_all_columns_equal": int(eq.all(axis=1).sum()),
        "columns": cols,
    }


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
    hs = compare_helpfulness(res)
    print("\nhelpfulness_scores vs official (rows equal / rows; differing rows split by whether the "
          "contributor rated/wrote a note with different inputs):")
    print(json.dumps({k: v for k, v in hs.items() if k != "columns"}, indent=1, default=str))
    print(pd.DataFrame(hs["columns"]).T.to_string())
    if a.json:
        out["disagreements"] = dis
        out["helpfulness_scores"] = hs
        a.json.write_text(json.dumps(out, indent=1, default=str))
    return res, out


if __name__ == "__main__":
    main()
