"""Parity of the ``ReputationScorer`` (spec 06 §D.7) and of ``rescoringActiveRules`` (spec 04 §10.2)
against the ``small`` fixture (pass 2).

Usage::

    .venv/bin/python bench/parity_reputation.py                 # all three parts
    .venv/bin/python bench/parity_reputation.py --mode final    # final scoring from the official prescoring
    .venv/bin/python bench/parity_reputation.py --mode full     # cnlab prescoring (seed 42) + final
    .venv/bin/python bench/parity_reputation.py --mode rescoring

* ``final``: :func:`cnlab.scorers.reputation.score_final` from the official prescoring rows
  (deterministic officially) vs ``scored_notes.tsv.gz`` (coverageNoteIntercept / Factor1 /
  RatingStatus) and the counts / init figures / stop epochs of ``log_final.txt.gz``.
* ``full``: cnlab's own prescoring (random init: torch's stream cannot be reproduced) vs the
  official prescoring rows and ``log_prescoring.txt.gz``, then final scoring from it vs
  ``scored_notes.tsv.gz``; cnlab's prescoring reputations vs ``helpfulness_scores.tsv.gz``.
* ``rescoring``: the official column was computed with the wall clock of the official run; the
  interval of "now" values that reproduce it, and the agreement at ``epoch_pass2`` (cnlab's "now").

Prints the figures recorded in ``bench/RESULTS.md`` (section "ReputationScorer and rescoringActiveRules").
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parity_core  # noqa: E402  (shared loaders)

NAME = "ReputationScorer"
DAY = 86_400_000


def fix() -> Path:
    return parity_core.FIX


def set_fixtures(path: Path) -> None:
    parity_core.FIX = path


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def load():
    """(dataset, preprocessed, official prescoring with participant codes)."""
    from cnlab.pipeline import load_official_prescoring
    from cnlab.preprocess import preprocess

    ds = parity_core.load_dataset()
    pre = preprocess(ds)
    off = load_official_prescoring(fix() / "official-all" / "prescoring", ds.participants)
    return ds, pre, off


def final_ratings(pre, prescoring) -> pd.DataFrame:
    from cnlab.pipeline.run import apply_pss

    return apply_pss(pre.notes, pre.ratings, prescoring.final_pss())


def cnlab_pss_ratings(pre) -> tuple[pd.DataFrame, pd.DataFrame]:
    """cnlab's rater clustering → (prescoring ratings coalesced with the raw PSS frame, final
    ratings coalesced with its dropna'd rows), as :func:`cnlab.pipeline.score` does."""
    from cnlab.scorers.outputs import PSS_COLUMNS
    from cnlab.pipeline.run import apply_pss
    from cnlab.models.similarity import rater_clustering

    pss = rater_clustering(pre.notes, pre.ratings).reindex(columns=list(PSS_COLUMNS))
    return (apply_pss(pre.notes, pre.ratings, pss),
            apply_pss(pre.notes, pre.ratings, pss[list(PSS_COLUMNS)].dropna().reset_index(drop=True)))


def run_final(ds, pre, prescoring, ratings=None):
    from cnlab.scorers import reputation as rs

    ratings = final_ratings(pre, prescoring) if ratings is None else ratings
    return rs.score_final(ratings, pre.status_history, ds.enrollment, rs.REPUTATION_SCORER, prescoring,
                          note_topics=parity_core.official_topics())


def run_prescoring(ds, pre, seed: int = 42, ratings=None):
    from cnlab.scorers import reputation as rs

    ratings = cnlab_pss_ratings(pre)[0] if ratings is None else ratings
    return rs.prescore(ratings, pre.status_history, ds.enrollment, rs.REPUTATION_SCORER,
                       note_topics=parity_core.official_topics(), seed=seed)


# ---------------------------------------------------------------------------------------------
# official logs
# ---------------------------------------------------------------------------------------------
def _block(path: Path, phase: str) -> list[str]:
    start = f"{phase}: Torch intra-op parallelism for {NAME} set to"
    lines, inside = [], False
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if start in line:
                inside = True
            elif inside and "Torch intra-op parallelism for" in line:
                break
            if inside:
                lines.append(line.rstrip("\n"))
    return lines


def official_log(phase: str) -> dict:
    """Counts of the ReputationScorer section of ``log_prescoring`` (``phase="prescore"``) or
    ``log_final`` (``phase="score_final"``): group filter, prefilter sizes, stable-init subset,
    initialised parameters, the epoch each round / phase stopped at, losses, capture filter."""
    name = "log_prescoring.txt.gz" if phase == "prescore" else "log_final.txt.gz"
    lines = _block(fix() / "official-all" / name, phase)
    out: dict = {"initialized": {}, "globals": []}
    rounds: list[list[tuple[int, float]]] = []  # per round / phase: (epoch, loss) log lines
    for line in lines:
        if m := re.search(r"Ratings after group filter: (\d+)", line):
            out["scoped"] = int(m.group(1))
        elif m := re.search(r"Num Ratings: (\d+), Num Unique Notes Rated: (\d+), Num Unique Raters: (\d+)", line):
            out["prefilter"] = tuple(int(x) for x in m.groups())
        elif m := re.search(r"Users: (\d+), Notes: (\d+)", line):
            out["stable_init_raters_notes"] = (int(m.group(1)), int(m.group(2)))
        elif m := re.search(r"  initialized (\w+)s: (\d+)", line):
            out["initialized"][m.group(1)] = int(m.group(2))
        elif m := re.search(r"reputation_matrix_factorization:epoch=(\d+) \| loss=([\d.]+)", line):
            if int(m.group(1)) == 0:
                rounds.append([])
            rounds[-1].append((int(m.group(1)), float(m.group(2))))
        elif m := re.search(r"tensor\(([-\d.]+), requires_grad", line):
            out["globals"].append(float(m.group(1)))
        elif m := re.search(r"Helpfulness reputation loss: (.*)$", line):
            out["losses"] = [float(x) for x in m.group(1).split(",")]
        elif m := re.search(r"Original noteScores length: (\d+)", line):
            out["rows_before_capture"] = int(m.group(1))
        elif m := re.search(r"Final noteScores length: (\d+)", line):
            out["rows_after_capture"] = int(m.group(1))
    out["stop_epochs"] = [r[-1][0] for r in rounds]
    out["first_losses"] = [r[0][1] for r in rounds]
    return out


# ---------------------------------------------------------------------------------------------
# comparisons
# ---------------------------------------------------------------------------------------------
def _diff(a: pd.Series, b: pd.Series) -> dict:
    a, b = a.astype(np.float64), b.astype(np.float64)
    both = a.notna() & b.notna()
    d = (a[both] - b[both]).abs()
    out = {"n": int(both.sum()), "nan_mismatch": int((a.isna() != b.isna()).sum())}
    if both.sum() > 1:
        out.update(max=float(d.max()), mean=float(d.mean()), pearson=float(np.corrcoef(a[both], b[both])[0, 1]))
    return out


def _same_text(a: pd.Series, b: pd.Series) -> np.ndarray:
    return (a.astype(object).fillna("<NA>").astype(str) == b.astype(object).fillna("<NA>").astype(str)).to_numpy()


def compare_scored_notes(final_output, *, align_factor_sign: bool = False) -> dict:
    """coverage columns vs ``scored_notes.tsv.gz`` over all 2,000 notes (outer join)."""
    off = pd.read_csv(fix() / "official-all" / "scored_notes.tsv.gz", sep="\t",
                      usecols=["noteId", "coverageNoteIntercept", "coverageNoteFactor1", "coverageRatingStatus"])
    m = off.merge(final_output.scored_notes, on="noteId", how="left", suffixes=("_off", "_cn"))
    fac_cn = m["coverageNoteFactor1_cn"]
    sign = 1.0
    if align_factor_sign:
        both = m["coverageNoteFactor1_off"].notna() & fac_cn.notna()
        sign = float(np.sign(np.corrcoef(m.loc[both, "coverageNoteFactor1_off"], fac_cn[both])[0, 1]))
    same = _same_text(m["coverageRatingStatus_off"], m["coverageRatingStatus_cn"])
    bad = m.loc[~same, ["noteId", "coverageNoteIntercept_off", "coverageNoteIntercept_cn",
                        "coverageRatingStatus_off", "coverageRatingStatus_cn"]]
    return {
        "notes": len(m),
        "rows_cn": len(final_output.scored_notes),
        "valued_off": int(m["coverageNoteIntercept_off"].notna().sum()),
        "valued_cn": int(m["coverageNoteIntercept_cn"].notna().sum()),
        "status_agree": int(same.sum()),
        "status_counts_off": m["coverageRatingStatus_off"].value_counts(dropna=False).to_dict(),
        "status_counts_cn": m["coverageRatingStatus_cn"].value_counts(dropna=False).to_dict(),
        "intercept": _diff(m["coverageNoteIntercept_off"], m["coverageNoteIntercept_cn"]),
        "factor": _diff(m["coverageNoteFactor1_off"], sign * fac_cn),
        "factor_sign": sign,
        "disagreements": bad.reset_index(drop=True),
    }


def compare_prescoring_rows(ours, official) -> dict:
    """cnlab prescoring rows vs the official ReputationScorer rows (factors sign-aligned: the
    reputation MF is symmetric under f → −f and the official run ended in the mirrored basin)."""
    on, orr, om = official.for_scorer(NAME)
    cn, cr, cm = ours.for_scorer(NAME)
    out: dict = {"note_rows off/cn": (len(on), len(cn)), "rater_rows off/cn": (len(orr), len(cr))}
    mn = on.merge(cn, on="noteId", suffixes=("_off", "_cn"))
    mr = orr.merge(cr, on="raterParticipantId", suffixes=("_off", "_cn"))
    for frame, cols in ((mn, ("internalNoteIntercept", "lowDiligenceNoteInterceptRound2", "internalNoteFactor1")),
                        (mr, ("internalRaterReputation", "internalRaterIntercept",
                              "lowDiligenceRaterInterceptRound2", "internalRaterFactor1"))):
        for c in cols:
            a, b = frame[f"{c}_off"], frame[f"{c}_cn"]
            if c.endswith("Factor1"):
                both = a.notna() & b.notna()
                s = float(np.sign(np.corrcoef(a[both].astype(float), b[both].astype(float))[0, 1]))
                out[f"{c} sign"] = s
                b = s * b
            out[c] = _diff(a, b)
    out["global intercepts off"] = tuple(om.low_diligence_global_intercept)
    out["global intercepts cn"] = tuple(cm.low_diligence_global_intercept)
    return out


def compare_helpfulness_reputation(ds, rater_rows: pd.DataFrame) -> dict:
    """``raterHelpfulnessReputation`` of ``helpfulness_scores.tsv.gz`` vs ``rater_rows``
    (raterParticipantId codes + internalRaterReputation / raterHelpfulnessReputation)."""
    hs = pd.read_csv(fix() / "official-all" / "helpfulness_scores.tsv.gz", sep="\t",
                     usecols=["raterParticipantId", "raterHelpfulnessReputation"])
    hs["code"] = ds.codes_for(hs["raterParticipantId"].astype(str))
    col = "internalRaterReputation" if "internalRaterReputation" in rater_rows.columns else "raterHelpfulnessReputation"
    ours = rater_rows[["raterParticipantId", col]].rename(columns={"raterParticipantId": "code", col: "cn"})
    m = hs.merge(ours, on="code", how="left")
    return {"contributors": len(m), **_diff(m["raterHelpfulnessReputation"], m["cn"])}


def rescoring() -> dict:
    from cnlab.scoring import rescoring as R

    nsh = pd.read_csv(fix() / "pass2_status.tsv.gz", sep="\t")
    off = pd.read_csv(fix() / "official-all" / "scored_notes.tsv.gz", sep="\t",
                      usecols=["noteId", "rescoringActiveRules"])
    epoch = int((fix() / "epoch_pass2").read_text().strip())
    intervals = R.consistent_now_intervals(nsh, off.set_index("noteId")["rescoringActiveRules"])
    at_epoch = R.rescoring_active_rules(off["noteId"], nsh, now=epoch).to_numpy()
    out = {
        "epoch_pass2": epoch,
        "official_counts": off["rescoringActiveRules"].value_counts().to_dict(),
        "cnlab_counts_at_epoch": pd.Series(at_epoch).value_counts().to_dict(),
        "agree_at_epoch": int((at_epoch == off["rescoringActiveRules"].to_numpy()).sum()),
        "consistent_now_intervals": intervals,
    }
    if intervals:
        lo, hi = intervals[0]
        at_wall = R.rescoring_active_rules(off["noteId"], nsh, now=lo).to_numpy()
        out["agree_at_wall_clock"] = int((at_wall == off["rescoringActiveRules"].to_numpy()).sum())
        out["wall_clock_utc"] = tuple(dt.datetime.fromtimestamp(x / 1000, dt.timezone.utc).isoformat()
                                      for x in (lo, hi))
        out["wall_minus_epoch_days"] = ((lo - epoch) / DAY, (hi - epoch) / DAY)
    return out


# ---------------------------------------------------------------------------------------------
def _print(title: str, d: dict) -> None:
    print(f"\n== {title}")
    for k, v in d.items():
        if isinstance(v, pd.DataFrame):
            print(f"  {k}:\n{v.to_string(index=False) if len(v) else '    (none)'}")
        else:
            print(f"  {k}: {v}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("all", "final", "full", "rescoring"), default="all")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    if args.mode in ("all", "rescoring"):
        _print("rescoringActiveRules", rescoring())
    if args.mode == "rescoring":
        return
    ds, pre, off = load()
    if args.mode in ("all", "final"):
        t0 = time.perf_counter()
        fo = run_final(ds, pre, off)
        secs = time.perf_counter() - t0
        fit = fo.calls["main"].mf
        _print(f"final scoring from the official prescoring ({secs:.1f} s)", {
            **compare_scored_notes(fo),
            "counts": fo.slice_counts, "init": dict(fit.init_counts),
            "stop epochs (A, B)": [len(h) - 1 for h in fit.loss_histories],
            "losses": fit.final_losses,
            "helpfulness (final view) vs helpfulness_scores": compare_helpfulness_reputation(ds, fo.helpfulness_scores),
        })
        _print("official log_final (ReputationScorer)", official_log("score_final"))
    if args.mode in ("all", "full"):
        t0 = time.perf_counter()
        pre_r, fin_r = cnlab_pss_ratings(pre)
        po = run_prescoring(ds, pre, seed=args.seed, ratings=pre_r)
        t1 = time.perf_counter()
        fo = run_final(ds, pre, po, ratings=fin_r)
        t2 = time.perf_counter()
        fit = po.intermediates[NAME]["fit"]
        _print(f"cnlab prescoring, seed {args.seed} ({t1 - t0:.1f} s incl. rater clustering)", {
            **compare_prescoring_rows(po, off),
            "counts": {k: v for k, v in zip(("ratings", "notes", "raters"),
                                            (fit.n_ratings, len(fit.note_params), len(fit.rater_params)))},
            "init": dict(fit.init_counts),
            "stop epochs": [len(h) - 1 for h in fit.loss_histories],
            "losses": fit.final_losses,
            "raterHelpfulnessReputation vs helpfulness_scores": compare_helpfulness_reputation(
                ds, po.for_scorer(NAME)[1]),
        })
        _print("official log_prescoring (ReputationScorer)", official_log("prescore"))
        _print(f"final scoring from cnlab's prescoring ({t2 - t1:.1f} s)", compare_scored_notes(fo, align_factor_sign=True))


if __name__ == "__main__":
    main()
