"""pflip and PCRH parity against the official run of the ``small`` fixture (pass 2; spec 06 §A, §B).

Usage::

    .venv/bin/python bench/parity_confidence.py --mode final   # models trained from the official prescoring
    .venv/bin/python bench/parity_confidence.py --mode full    # cnlab's own prescoring
    .venv/bin/python bench/parity_confidence.py --mode final --variant modern
        # the installed scikit-learn / numpy behaviour instead of the 1.0.2 / numpy 1.26 replicas

Every training-set size, label count, threshold and metric is checked against the official logs
(``log_prescoring.txt.gz``, ``log_final.txt.gz``); predictions against ``scored_notes`` /
``aux_note_info`` / ``note_status_history``. Prints the figures recorded in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import parity_core  # noqa: E402

PCRH_AUX = ("pcrhExitN", "pcrhExitProba", "pcrhRevoked", "pcrhRevokeN", "pcrhFinalPred")


def fix() -> Path:
    return parity_core.FIX


def fingerprint(ids) -> str:
    """The official log's frame fingerprint (sha256 over the 8-byte big-endian noteIds, in order)."""
    import hashlib

    inner = hashlib.sha256(b"".join(int(v).to_bytes(8, "big") for v in ids)).hexdigest()
    return hashlib.sha256(inner.encode("utf-8")).hexdigest()


def official_log() -> dict:
    """Figures the official run logged for pflip and PCRH."""
    pre = gzip.open(fix() / "official-all" / "log_prescoring.txt.gz", "rt").read()
    fin = gzip.open(fix() / "official-all" / "log_final.txt.gz", "rt").read()
    out: dict = {}
    labels = re.findall(r"labels (before|after) ScoringDriftGuard:\nLABEL\n(\w+)\s+(\d+)\n(\w+)\s+(\d+)", pre)
    b, a = labels[0], labels[1]
    out["labels_before"] = {b[1]: int(b[2]), b[3]: int(b[4])}
    out["labels_after"] = {a[1]: int(a[2]), a[3]: int(a[4])}
    out["train_rows"] = int(re.search(r"pflip training data size: (\d+)", pre).group(1))
    out["fingerprints"] = tuple(re.search(rf"{k} summary: (\w+)", pre).group(1)
                                for k in ("noteInfo", "trainDataFrame", "validationDataFrame"))
    out["validation_rows"] = int(re.search(r"pflip validation data size: (\d+)", pre).group(1))
    out["blocks"] = int(re.search(r"\(1 of (\d+)\) Processing", pre).group(1))
    res = re.findall(r"threshold=(\S+)\s+tpr=(\S+)\s+fpr=(\S+)\s+auc=(\S+)", pre)
    out["train"] = tuple(float(x) for x in res[0])
    out["validation"] = tuple(float(x) for x in res[1])
    m = re.search(r"pflip prediction summary:\nLABEL\n(\w+)\s+(\d+)\n(\w+)\s+(\d+)", fin)
    out["predicted_labels"] = {m.group(1): int(m.group(2)), m.group(3): int(m.group(4))}
    out["pflip_targets"] = int(re.search(r"pflip target selection: total=(\d+)", fin).group(1))
    out["pflip_predictions"] = int(re.search(r"produced (\d+) note predictions", fin).group(1))
    per_n = {}
    for n, excl in re.findall(r"PCRH N=(\d+): excluding ([\d,]+) notes already CRH", pre):
        per_n.setdefault(int(n), {})["excluded_already_crh"] = int(excl.replace(",", ""))
    for n, notes, crh in re.findall(r"PCRH N=(\d+): ([\d,]+) notes, CRH=([\d,]+)", pre):
        per_n.setdefault(int(n), {}).update(notes=int(notes.replace(",", "")), crh=int(crh.replace(",", "")))
    out["pcrh_per_n"] = per_n
    m = re.search(r"PCRH model trained: ([\d,]+) rows, (\d+) features, CRH rate=([\d.]+)", pre)
    out["pcrh_rows"], out["pcrh_features"], out["pcrh_crh_rate"] = (
        int(m.group(1).replace(",", "")), int(m.group(2)), float(m.group(3)))
    out["pcrh_group_filter"] = [int(x.replace(",", "")) for x in re.search(
        r"PCRH group filter \(MFCoreScorer\): ([\d,]+) -> ([\d,]+) ratings", pre).groups()]
    m = re.search(r"PCRH: ([\d,]+) notes, (\d+) new, (\d+) maintained, (\d+) revoked", fin)
    out["pcrh_predict"] = tuple(int(x.replace(",", "")) for x in m.groups())
    return out


def run(mode: str, variant: str = "replica", seed: int = 42):
    from cnlab.models.pcrh import PCRHConfig
    from cnlab.models.pflip import PFlipConfig
    from cnlab.pipeline import ScoringConfig, load_official_prescoring, score

    ds = parity_core.load_dataset()
    epoch = int((fix() / "epoch_pass2").read_text().strip())
    pflip_cfg, pcrh_cfg = PFlipConfig(), PCRHConfig()
    if variant == "modern":  # what the installed scikit-learn / numpy do on their own
        pflip_cfg = dataclasses.replace(pflip_cfg, kmeans_algorithm="lloyd", legacy_bin_transform=False,
                                        tie_order="numpy")
        pcrh_cfg = dataclasses.replace(pcrh_cfg, legacy_binning=False)
    cfg = ScoringConfig(seed=seed, epoch_millis=epoch, topics=parity_core.official_topics(),
                        pflip=pflip_cfg, pcrh=pcrh_cfg)
    pres = load_official_prescoring(fix() / "official-all" / "prescoring", ds) if mode == "final" else None
    t0 = time.perf_counter()
    res = score(ds, cfg, prescoring=pres)
    return res, time.perf_counter() - t0


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    an, bn = a.isna().to_numpy(), b.isna().to_numpy()
    av, bv = a.astype(object).to_numpy(), b.astype(object).to_numpy()
    eq = np.array([not (na or nb) and (str(x) == str(y) or x == y)
                   for x, y, na, nb in zip(av, bv, an, bn)], dtype=bool)
    return (an & bn) | eq


def compare(res) -> dict:
    out: dict = {}
    conf = res.confidence
    pf, pc = conf.pflip, conf.pcrh
    # ---- pflip training
    rep = pf.report["MIN"]
    out["pflip_labels_before"] = {"FLIP": rep["flip"], "CRH": rep["crh_before_drift_guard"]}
    out["pflip_labels_after"] = {"FLIP": rep["flip"], "CRH": rep["crh"]}
    m = pf.metrics
    out["pflip_train_rows"], out["pflip_validation_rows"] = m.get("train_rows"), m.get("validation_rows")
    out["pflip_blocks"] = len(pf.blocks)
    tf = pf.train_frame
    out["pflip_fingerprints"] = (
        fingerprint(tf["noteId"]),
        fingerprint(tf[tf["_split"] == "train"].sort_values("_position")["noteId"]),
        fingerprint(tf[tf["_split"] == "validation"].sort_values("_position")["noteId"]))
    out["pflip_train"] = (m.get("threshold"), m.get("train_tpr"), m.get("train_fpr"), m.get("train_auc"))
    out["pflip_validation"] = (m.get("validation_tpr"), m.get("validation_fpr"), m.get("validation_auc"))
    # ---- pflip predictions vs scored_notes.pflipProba
    outs = res.outputs()
    off = pd.read_csv(fix() / "official-all" / "scored_notes.tsv.gz", sep="\t",
                      usecols=["noteId", "pflipProba", "abovePcrhThresholdTime", "decidedBy"])
    mine = outs["scored_notes"][["noteId", "pflipProba", "abovePcrhThresholdTime"]]
    sn = off.merge(mine, on="noteId", suffixes=("_off", "_cn"), validate="1:1")
    both = sn.dropna(subset=["pflipProba_off", "pflipProba_cn"])
    out["pflip_notes_official"] = int(sn["pflipProba_off"].notna().sum())
    out["pflip_notes_cnlab"] = int(sn["pflipProba_cn"].notna().sum())
    out["pflip_notes_both"] = len(both)
    d = (both["pflipProba_off"] - both["pflipProba_cn"]).abs()
    out["pflipProba_max_abs"] = float(d.max()) if len(d) else np.nan
    out["pflipProba_pearson"] = float(np.corrcoef(both["pflipProba_off"], both["pflipProba_cn"])[0, 1]) \
        if len(both) > 2 else np.nan
    # the official LABEL is not written; FLIP ⟺ decision > threshold ⟺ pflipProba > σ(threshold)
    p_thr = 1 / (1 + math.exp(-official_log()["train"][0]))
    lab_off = np.where(both["pflipProba_off"] > p_thr, "FLIP", "CRH")
    pred = conf.pflip_predictions.set_index("noteId")["LABEL"]
    lab_cn = pred.reindex(both["noteId"]).to_numpy()
    out["pflip_label_agreement"] = float((lab_off == lab_cn).mean()) if len(both) else np.nan
    out["pflip_label_counts"] = conf.pflip_predictions["LABEL"].value_counts().to_dict()
    out["pflip_targets"] = conf.pflip_targets.get("total")
    # ---- PCRH training
    r = pc.report
    out["pcrh_per_n"] = {n: {k: r.get(f"N={n} {k}") for k in ("excluded_already_crh", "notes", "crh")}
                         for n in pc.config.cascade}
    out["pcrh_rows"], out["pcrh_features"] = r.get("rows"), r.get("features")
    out["pcrh_crh_rate"] = round(r.get("crh_rate", np.nan), 3)
    out["pcrh_ratings_after_group_filter"] = r.get("ratings_after_group_filter")
    # ---- PCRH predictions vs aux / scored notes / NSH
    aux_off = pd.read_csv(fix() / "official-all" / "aux_note_info.tsv.gz", sep="\t", usecols=["noteId", *PCRH_AUX])
    aux = aux_off.merge(outs["aux_note_info"][["noteId", *PCRH_AUX]], on="noteId", suffixes=("_off", "_cn"))
    out["pcrh_notes_official"] = int(aux["pcrhExitN_off"].notna().sum())
    out["pcrh_notes_cnlab"] = int(aux["pcrhExitN_cn"].notna().sum())
    for c in ("pcrhExitN", "pcrhRevoked", "pcrhRevokeN", "pcrhFinalPred"):
        out[f"{c}_agreement"] = float(_same(aux[f"{c}_off"], aux[f"{c}_cn"]).mean())
    b = aux.dropna(subset=["pcrhExitProba_off", "pcrhExitProba_cn"])
    out["pcrhExitProba_max_abs"] = float((b["pcrhExitProba_off"] - b["pcrhExitProba_cn"]).abs().max())
    out["pcrhExitProba_pearson"] = float(np.corrcoef(b["pcrhExitProba_off"], b["pcrhExitProba_cn"])[0, 1])
    out["abovePcrhThresholdTime_scored_notes_agreement"] = float(
        _same(sn["abovePcrhThresholdTime_off"], sn["abovePcrhThresholdTime_cn"]).mean())
    nsh_off = pd.read_csv(fix() / "official-all" / "note_status_history.tsv.gz", sep="\t",
                          usecols=["noteId", "abovePcrhThresholdTime"])
    nsh = nsh_off.merge(outs["note_status_history"][["noteId", "abovePcrhThresholdTime"]], on="noteId",
                        suffixes=("_off", "_cn"))
    out["abovePcrhThresholdTime_nsh_agreement"] = float(
        _same(nsh["abovePcrhThresholdTime_off"], nsh["abovePcrhThresholdTime_cn"]).mean())
    # ---- time
    t = res.timings
    out["seconds"] = {s: round(float(v), 2) for s, v in zip(t["stage"], t["seconds"])
                      if "pflip" in s or "PCRH" in s}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("final", "full"), default="final")
    ap.add_argument("--variant", choices=("replica", "modern"), default="replica")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    import sklearn

    res, dt = run(a.mode, a.variant, a.seed)
    log = official_log()
    out = compare(res)
    print(f"mode={a.mode} variant={a.variant} scikit-learn {sklearn.__version__} numpy {np.__version__}; "
          f"score() {dt:.1f} s")
    rows = [
        ("pflip labels before / after drift guard", log["labels_before"], log["labels_after"],
         out["pflip_labels_before"], out["pflip_labels_after"]),
        ("pflip train / validation rows", log["train_rows"], log["validation_rows"],
         out["pflip_train_rows"], out["pflip_validation_rows"]),
        ("pflip frame fingerprints (all, train, validation)", [f[:8] for f in log["fingerprints"]], "",
         [f[:8] for f in out["pflip_fingerprints"]], ""),
        ("pflip ColumnTransformer blocks", log["blocks"], "", out["pflip_blocks"], ""),
        ("pflip train threshold, tpr, fpr, auc", log["train"], "", out["pflip_train"], ""),
        ("pflip validation tpr, fpr, auc", log["validation"][1:], "", out["pflip_validation"], ""),
        ("pflip targets / predicted notes", log["pflip_targets"], log["pflip_predictions"],
         out["pflip_targets"], out["pflip_notes_cnlab"]),
        ("pflip LABEL counts", log["predicted_labels"], "", out["pflip_label_counts"], ""),
        ("PCRH ratings after group filter", log["pcrh_group_filter"][1], "",
         out["pcrh_ratings_after_group_filter"], ""),
        ("PCRH rows / features / CRH rate", (log["pcrh_rows"], log["pcrh_features"], log["pcrh_crh_rate"]), "",
         (out["pcrh_rows"], out["pcrh_features"], out["pcrh_crh_rate"]), ""),
        ("PCRH per N (excluded, notes, CRH)", log["pcrh_per_n"], "", out["pcrh_per_n"], ""),
        ("PCRH predicted notes", log["pcrh_predict"][0], "", out["pcrh_notes_cnlab"], ""),
    ]
    for name, o1, o2, c1, c2 in rows:
        print(f"  {name}: official {o1} {o2} | cnlab {c1} {c2}")
    for k in ("pflip_notes_official", "pflip_notes_both", "pflipProba_pearson", "pflipProba_max_abs",
              "pflip_label_agreement", "pcrh_notes_official", "pcrhExitN_agreement", "pcrhExitProba_pearson",
              "pcrhExitProba_max_abs", "pcrhRevoked_agreement", "pcrhRevokeN_agreement",
              "pcrhFinalPred_agreement", "abovePcrhThresholdTime_scored_notes_agreement",
              "abovePcrhThresholdTime_nsh_agreement", "seconds"):
        print(f"  {k}: {out[k]}")


if __name__ == "__main__":
    main()
