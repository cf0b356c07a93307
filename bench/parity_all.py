"""Parity of every MF scorer (and of their reconciliation) against the ``small`` fixture (pass 2).

Usage::

    .venv/bin/python bench/parity_all.py --mode final   # final scoring from the official prescoring
    .venv/bin/python bench/parity_all.py --mode full    # full run from raw files (cnlab prescoring)

Runs ``ScoringConfig.official_mf()`` (every MF scorer of the official roster, the meta rules of
all of them; no Gaussian scorers, no pflip) and compares with ``official-all/``:

* per scorer: its status column, intercept / factor / NoHighVol / NoCorrelated columns, on the
  notes either run assigns to that scorer (group / topic families: by ``modelingGroup`` /
  ``noteTopic`` of the coalesced outputs);
* per scorer: row counts at each final-scoring stage vs ``log_final.txt.gz``;
* ``finalRatingStatus`` / ``decidedBy`` over all 2,000 notes; every disagreement is attributed
  to the first rule of the official ``metaScorerActiveRules`` that reads a model cnlab does not
  run (Gaussian scorers, the Gaussian InDimensionTwo topic scorer, pflip).

Prints the figures recorded in ``bench/RESULTS.md`` (section "Parity — all MF scorers").
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parity_core  # noqa: E402  (shared loaders)

REPO = Path(__file__).resolve().parents[1]
FIX = parity_core.FIX

#: Meta rules whose inputs come from models cnlab does not run yet (spec 04 §11.3): the Gaussian
#: scorers (rules 12–14), the Gaussian InDimensionTwo topic scorer (rule 16, TopicModel05).
ABSENT_MODEL_RULES = ("GaussianModel", "GaussianCoreWithTopicsModel", "GroupModel15NMR", "TopicModel05")
#: Rule that reads the pflip label (a missing label counts as "will flip", spec 04 §11.7).
PFLIP_RULE = "NmrDueToMinStableCrhTime"


def set_fixtures(path: Path) -> None:
    global FIX
    FIX = path
    parity_core.FIX = path


def run(mode: str, seed: int = 42):
    from cnlab.pipeline import ScoringConfig, load_official_prescoring, score

    ds = parity_core.load_dataset()
    epoch = int((FIX / "epoch_pass2").read_text().strip())
    cfg = ScoringConfig.official_mf(seed=seed, epoch_millis=epoch, topics=parity_core.official_topics())
    pres = load_official_prescoring(FIX / "official-all" / "prescoring", ds) if mode == "final" else None
    t0 = time.perf_counter()
    res = score(ds, cfg, prescoring=pres)
    return res, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# official log
# ---------------------------------------------------------------------------------------------
_SUB = {"Low Vol": "NoHighVol", "Non-Correlated": "NoCorrelated", "Population Sampled": "PopulationSampled"}


def official_log_counts(path: Path | None = None) -> dict[str, dict]:
    """Per scorer, from ``log_final.txt.gz``: scoped ratings (after the topic / group filter),
    the sizes of the NoHighVol / NoCorrelated / PopulationSampled subsets, the final-round rating
    count of every MF call that reached the diligence model (in call order) and the scored-notes
    rows after post-processing (None when the scorer skips it)."""
    path = path or FIX / "official-all" / "log_final.txt.gz"
    out: dict[str, dict] = {}
    cur = None
    with gzip.open(path, "rt") as fh:
        for line in fh:
            m = re.search(r"Filtering ratings for (\S+)\.", line)
            if m:
                cur = out.setdefault(m.group(1), {"calls": []})
                continue
            m = re.search(r"Scorer (\S+) not found in prescoringMetaOutput", line)
            if m:
                out.setdefault(m.group(1), {"calls": [], "empty": True})
                continue
            if cur is None:
                continue
            m = re.search(r"Ratings after (topic|group) filter: (\d+)", line)
            if m:
                cur["scoped"] = int(m.group(2))
                continue
            m = re.search(r"Total Ratings vs (Low Vol|Non-Correlated|Population Sampled) Ratings \((\S+)\): "
                          r"(\d+) vs (\d+)", line)
            if m:
                cur[_SUB[m.group(1)]] = int(m.group(4))
                continue
            m = re.search(r"about to call diligence with (\d+) final round ratings", line)
            if m:
                cur["calls"].append(int(m.group(1)))
                continue
            m = re.search(r"Final noteScores length: (\d+)", line)
            if m:
                cur["rows_after_postprocess"] = int(m.group(1))
    return out


def cnlab_counts(f) -> dict:
    """The same figures for one :class:`~cnlab.scorers.mf_final.FinalOutput`."""
    order = ("NoHighVol", "NoCorrelated", "PopulationSampled", "main")
    d = {k: f.slice_counts.get(k) for k in ("scoped", "NoHighVol", "NoCorrelated", "PopulationSampled")}
    d.update(calls=[], rows_after_postprocess=len(f.scored_notes))
    if getattr(f.scorer, "family", None) == "reputation":  # no diligence calls (bench/parity_reputation.py)
        return d
    for k in order:
        c = f.calls.get(k)
        if c is None:
            continue
        d["calls"].append(c.counts["final_round_ratings"])
    return d


#: Sub-fit sizes ("Total Ratings vs Low Vol / Non-Correlated / Population Sampled Ratings" lines).
SUBFIT_KEYS = ("NoHighVol", "NoCorrelated", "PopulationSampled")


def absent_from_log_reason(scorer, key: str, cnlab_value) -> str | None:
    """Why the official log may lack ``key`` for ``scorer`` (a documented absence), else None.

    * the ReputationScorer fits no NoHighVol / NoCorrelated / PopulationSampled sub-models
      (spec 06 §D.7), so the log has no such line, and cnlab must not have the figure either;
    * a scorer without a capture filter (no ``captureThreshold`` or no included groups:
      ExpansionPlus, the topic scorers; spec 04 §9.2) skips ``_postprocess_output``, which is what
      logs "Final noteScores length".
    A scorer absent from the prescoring meta ("Scorer X not found in prescoringMetaOutput") is
    handled by :func:`compare_counts` itself.
    """
    if key in SUBFIT_KEYS and getattr(scorer, "family", None) == "reputation" and cnlab_value is None:
        return "no sub-fits (spec 06 §D.7)"
    if key == "rows_after_postprocess" and (getattr(scorer, "capture_threshold", None) is None
                                            or getattr(scorer, "included_groups", None) is None):
        return "no capture filter (spec 04 §9.2)"
    return None


def compare_counts(res) -> pd.DataFrame:
    """Per scorer of ``res.final``: every count of :func:`official_log_counts` vs cnlab's.

    A figure the official log lacks is a mismatch unless the absence is documented
    (:func:`absent_from_log_reason`, listed in the ``excused`` column) or the whole scorer is
    reported absent ("Scorer X not found in prescoringMetaOutput"), in which case cnlab must not
    have fitted or output anything for it either.
    """
    off = official_log_counts()
    rows = []
    for name, f in res.final.items():
        o = off.get(name, {})
        c = cnlab_counts(f)
        row = {"scorer": name}
        for k in ("scoped", *SUBFIT_KEYS):
            row[f"{k} off/cn"] = f"{o.get(k, '–')}/{c.get(k, '–')}"
        row["final-round ratings per call off"] = ",".join(map(str, o.get("calls", [])))
        row["… cn"] = ",".join(map(str, c["calls"]))
        post = o.get("rows_after_postprocess")
        row["rows off/cn"] = f"{'–' if post is None else post}/{c['rows_after_postprocess']}"
        excused = []
        if name not in off:
            same = False  # not in the official log at all
        elif o.get("empty"):
            # documented absent: cnlab must have no MF call and no output row for it
            same = not c["calls"] and c["rows_after_postprocess"] == 0
            excused.append("not in prescoringMetaOutput")
        else:
            same = True
            for k in ("scoped", *SUBFIT_KEYS, "rows_after_postprocess"):
                if k in o:
                    same &= o[k] == c.get(k)
                    continue
                why = absent_from_log_reason(f.scorer, k, c.get(k))
                if why is None:
                    same = False
                else:
                    excused.append(f"{k}: {why}")
            same &= o.get("calls", []) == c["calls"]
        row["excused"] = "; ".join(excused)
        row["equal"] = bool(same)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# per-scorer columns
# ---------------------------------------------------------------------------------------------
def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    def norm(s):
        return s.astype(object).where(s.notna(), "<NA>").astype(str).to_numpy()

    return norm(a) == norm(b)


def _rows_of(frame: pd.DataFrame, scorer) -> np.ndarray:
    """Rows of the coalesced scored notes that belong to ``scorer``."""
    if scorer.family == "group":
        return (frame["modelingGroup"] == scorer.group_id).to_numpy()
    if scorer.family == "multi_group":
        return (frame["modelingMultiGroup"] == scorer.group_id).to_numpy()
    if scorer.family == "topic":
        return (frame["noteTopic"].astype(object) == scorer.topic).to_numpy()
    return frame[f"{scorer.prefix}RatingStatus"].notna().to_numpy()


def per_scorer(res) -> pd.DataFrame:
    """Status agreement and |Δ| of the numeric columns, per scorer, on the notes either run
    assigns to it (status columns compared as text, NaN == NaN)."""
    off = pd.read_csv(FIX / "official-all" / "scored_notes.tsv.gz", sep="\t")
    ours = res.outputs()["scored_notes"]
    m = off.merge(ours, on="noteId", suffixes=("_off", "_cn"), validate="1:1")
    rows = []
    for sc in res.config.scorers:
        if not sc.final_scoring:
            continue
        p = sc.prefix
        o = _rows_of(m.rename(columns=lambda c: c[:-4] if c.endswith("_off") else c), sc)
        c = _rows_of(m.rename(columns=lambda c: c[:-3] if c.endswith("_cn") else c), sc)
        sel = m[o | c]
        st = f"{p}RatingStatus"
        agree = _same(sel[f"{st}_off"], sel[f"{st}_cn"])
        row = {"scorer": sc.name, "notes (off / cn)": f"{int(o.sum())} / {int(c.sum())}",
               "status agree": f"{int(agree.sum())}/{len(sel)}"}
        for col, short in ((f"{p}NoteIntercept", "intercept"), (f"{p}NoteFactor1", "factor"),
                           (f"{p}NoteInterceptNoHighVol", "noHighVol"),
                           (f"{p}NoteInterceptNoCorrelated", "noCorrelated")):
            d = (sel[f"{col}_off"] - sel[f"{col}_cn"]).abs()
            row[f"{short} max|Δ|"] = float(d.max()) if d.notna().any() else np.nan
            row[f"{short} mean|Δ|"] = float(d.mean()) if d.notna().any() else np.nan
            row[f"{short} NaN mismatch"] = int((sel[f"{col}_off"].isna() != sel[f"{col}_cn"].isna()).sum())
        extra = [f"{p}ActiveRules", f"{p}NumFinalRoundRatings"]
        if sc.family == "topic":
            extra.append("topicNoteConfident")
        for col in extra:
            a, b = sel[f"{col}_off"], sel[f"{col}_cn"]
            if col.endswith("NumFinalRoundRatings"):
                ok = ((a - b).abs() == 0) | (a.isna() & b.isna())
                row[f"{col.replace(p, '', 1) or col} equal"] = f"{int(ok.sum())}/{len(sel)}"
            elif col == "topicNoteConfident":
                na = a.astype(object).map(lambda v: None if pd.isna(v) else str(v) == "True")
                nb = b.astype(object).map(lambda v: None if pd.isna(v) else bool(v) if not isinstance(v, str)
                                          else v == "True")
                row["confident equal"] = f"{int((na.to_numpy() == nb.to_numpy()).sum())}/{len(sel)}"
            else:
                row["activeRules equal"] = f"{int(_same(a, b).sum())}/{len(sel)}"
        row["status disagreements"] = ", ".join(
            f"{int(n)}: {x}→{y}" for n, x, y in zip(sel.loc[~agree, "noteId"], sel.loc[~agree, f"{st}_off"],
                                                      sel.loc[~agree, f"{st}_cn"]))
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# final status
# ---------------------------------------------------------------------------------------------
#: Per-scorer columns meta-scoring reads; a note whose inputs differ between the runs (full run:
#: cnlab's own prescoring) is attributed to the first differing one.
META_INPUT_COLUMNS = (
    "coreRatingStatus", "coreWithTopicsRatingStatus", "expansionRatingStatus", "expansionPlusRatingStatus",
    "groupRatingStatus", "modelingGroup", "multiGroupRatingStatus", "modelingMultiGroup",
    "topicRatingStatus", "noteTopic", "topicNoteConfident",
)


def _cause(row: pd.Series) -> str:
    rules = [r.split(" (")[0] for r in str(row["metaScorerActiveRules_off"]).split(",")]
    absent = [r for r in rules if r in ABSENT_MODEL_RULES]
    if absent:
        return f"official chain uses {absent[0]} (model not run by cnlab)"
    for c in META_INPUT_COLUMNS:
        a, b = row[f"{c}_off"], row[f"{c}_cn"]
        if not (pd.isna(a) and pd.isna(b)) and str(a) != str(b):
            return f"{c} differs ({a} vs {b})"
    if PFLIP_RULE in rules:
        return "stabilization (pflip label absent in cnlab)"
    return "UNEXPLAINED"


def final_status(res) -> dict:
    """finalRatingStatus / decidedBy agreement over all notes and the attributed disagreements."""
    cols = ["noteId", "finalRatingStatus", "decidedBy", "metaScorerActiveRules", *META_INPUT_COLUMNS]
    off = pd.read_csv(FIX / "official-all" / "scored_notes.tsv.gz", sep="\t", usecols=cols)
    ours = res.outputs()["scored_notes"][cols]
    m = off.merge(ours, on="noteId", suffixes=("_off", "_cn"), validate="1:1")
    fs = _same(m["finalRatingStatus_off"], m["finalRatingStatus_cn"])
    db = _same(m["decidedBy_off"], m["decidedBy_cn"])
    dis = m[~(fs & db)].copy()
    dis["cause"] = dis.apply(_cause, axis=1) if len(dis) else pd.Series(dtype=object)
    return {
        "notes": len(m),
        "finalRatingStatus_agree": int(fs.sum()),
        "decidedBy_agree": int(db.sum()),
        "both_agree": int((fs & db).sum()),
        "disagreements_by_official_decidedBy": dis.groupby("decidedBy_off").size().to_dict(),
        "status_disagreements_by_official_decidedBy": m[~fs].groupby("decidedBy_off").size().to_dict(),
        "disagreements_by_cause": dis["cause"].map(lambda c: c.split(" (")[0]).value_counts().to_dict(),
        "unexplained": int((dis["cause"] == "UNEXPLAINED").sum()),
        "table": dis[["noteId", "decidedBy_off", "decidedBy_cn", "finalRatingStatus_off", "finalRatingStatus_cn",
                      "cause"]].reset_index(drop=True),
    }


def compare_prescoring_meta(res) -> pd.DataFrame:
    """Full run: cnlab's prescoring meta per scorer vs ``prescoring_meta.json`` (final-round set
    sizes, μ, the 13 tag-filter thresholds)."""
    with open(FIX / "official-all" / "prescoring" / "prescoring_meta.json") as fh:
        off = json.load(fh)
    off = off.get("metaScorerOutput", off)
    rows = []
    for sc in res.config.scorers:
        o, c = off.get(sc.name), res.prescoring.meta.get(sc.name)
        row = {"scorer": sc.name}
        if o is None or c is None:
            row["note"] = f"official {'absent' if o is None else 'present'}, cnlab {'absent' if c is None else 'present'}"
            rows.append(row)
            continue
        for k, a in (("finalRoundNumRatings", "final_round_num_ratings"), ("finalRoundNumNotes", "final_round_num_notes"),
                     ("finalRoundNumUsers", "final_round_num_users")):
            row[k] = f"{o[k]}/{getattr(c, a)}"
        g = o.get("globalIntercept")
        row["mu off/cn"] = f"{np.nan if g is None else g:.4f}/{c.global_intercept:.4f}"
        ot, ct = o.get("tagFilteringThresholds") or {}, dict(c.tag_filtering_thresholds)
        row["tag thresholds (n off/cn, max|Δ|)"] = (
            f"{len(ot)}/{len(ct)}, "
            f"{max((abs(ot[k] - ct[k]) for k in ot if k in ct), default=float('nan')):.3g}")
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["final", "full"], default="final")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    res, secs = run(a.mode, a.seed)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 50)
    pd.set_option("display.max_colwidth", 120)
    print(res.summary())
    print(f"\nscore() wall time {secs:.1f} s")
    ps = per_scorer(res)
    print("\nPer scorer (notes either run assigns to the scorer):")
    print(ps.to_string(index=False))
    if a.mode == "final":
        cnt = compare_counts(res)
        print("\nRow counts vs log_final.txt.gz (official/cnlab):")
        print(cnt.to_string(index=False))
    if a.mode == "full":
        pm = compare_prescoring_meta(res)
        print("\nPrescoring meta vs prescoring_meta.json (official/cnlab):")
        print(pm.to_string(index=False))
    fsr = final_status(res)
    table = fsr.pop("table")
    print("\nFinal status over all notes:")
    print(json.dumps(fsr, indent=1))
    print(table.to_string())
    hs = parity_core.compare_helpfulness(res)
    print("\nhelpfulness_scores vs official:")
    print(json.dumps({k: v for k, v in hs.items() if k != "columns"}, indent=1, default=str))
    if a.json:
        out = {"seconds": secs, "per_scorer": ps.to_dict("records"), "final_status": fsr,
               "final_disagreements": table.to_dict("records"), "helpfulness": hs}
        if a.mode == "final":
            out["counts"] = cnt.to_dict("records")
        else:
            out["prescoring_meta"] = pm.to_dict("records")
        a.json.write_text(json.dumps(out, indent=1, default=str))
    return res


if __name__ == "__main__":
    main()
