"""Tier 3: ``ReputationScorer`` (spec 06 §D.7) vs the official run in ``../shared/fixtures/small``
(pass 2).  Figures and the command that prints them: ``bench/parity_reputation.py``,
``bench/RESULTS.md`` (section "ReputationScorer and rescoringActiveRules").

* Final scoring from the official prescoring rows (deterministic officially): coverage columns vs
  ``scored_notes.tsv.gz``, counts / initialised parameters / stop epochs vs ``log_final``.
* cnlab's own prescoring (seed 42) vs the official prescoring rows and ``log_prescoring``, and
  final scoring from it vs ``scored_notes.tsv.gz``; prescoring reputations vs
  ``helpfulness_scores.raterHelpfulnessReputation``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bench_module

pytestmark = pytest.mark.parity

#: Final scoring from the official prescoring: only float32 arithmetic differs (TF vs torch
#: reduction order); both phases stop at the official epochs. Observed max |Δ| 1.5e-6 (intercept),
#: 1.2e-6 (factor).
FINAL_ATOL = 1e-4
#: cnlab's prescoring starts from NumPy N(0, 1) draws and a seeded stable-init MF, not torch's
#: stream; round 1 stops at epoch 140 instead of 150. Observed max |Δ| (seed 42): note intercept
#: 1.2e-3, round-2 note intercept 2.5e-3, reputation 2.3e-3, rater intercepts 3.6e-4, factors
#: (sign-aligned) 3.6e-3; μ within 8e-5. 0.01 leaves room for other seeds (0, 1, 2, 7: ≤ 4.6e-3).
PRESCORING_ATOL = 0.01
GLOBAL_ATOL = 1e-3
#: Final scoring from cnlab's prescoring: observed max |Δ| intercept 6.2e-4, factor 1.6e-3
#: (seeds 0, 7: ≤ 7.5e-4 / 1.7e-3); 0.01 leaves room for other seeds and thread counts.
FULL_FINAL_ATOL = 0.01
#: Statuses of that run: observed 2000/2000 at seeds 42, 0 and 7 (max |Δ| intercept 6.2e-4,
#: 7.5e-4, 7.0e-4). Only a note whose official coverageNoteIntercept is within this margin of the
#: 0.28 threshold is close enough for that noise to flip it (2 of the fixture's notes, the closest
#: 4.9e-4 away); every other note must keep its official status.
FULL_STATUS_FLIP_MARGIN = 1e-3
COVERAGE_CRH_THRESHOLD = 0.28  # spec 06 §D.7: coverageRatingStatus = CRH if intercept > 0.28
#: The reputation MF is symmetric under (e_n, e_u) → (−e_n, −e_u); which mirror image a fit ends
#: in depends on the random bias init (seeds 0, 1, 2, 42 end mirrored w.r.t. the official run, seed 7
#: does not), so factors are compared up to sign.
MIN_ABS_FACTOR_PEARSON = 0.9999


def _bench(small_dir: Path):
    parity_reputation = bench_module("parity_reputation")

    parity_reputation.set_fixtures(small_dir)
    return parity_reputation


@pytest.fixture(scope="module")
def inputs(small_dir):
    pr = _bench(small_dir)
    ds, pre, off = pr.load()
    return pr, ds, pre, off


def test_final_from_official_prescoring(inputs, small_dir):
    pr, ds, pre, off = inputs
    fo = pr.run_final(ds, pre, off)
    cmp = pr.compare_scored_notes(fo)
    assert cmp["status_agree"] == cmp["notes"] == 2000
    # rows: "Final noteScores length" of the ReputationScorer in log_final.txt.gz
    logged = bench_module("parity_all").official_log_counts(small_dir / "official-all" / "log_final.txt.gz")
    assert cmp["rows_cn"] == logged["ReputationScorer"]["rows_after_postprocess"]
    assert cmp["valued_off"] == cmp["valued_cn"]
    for col in ("intercept", "factor"):
        assert cmp[col]["nan_mismatch"] == 0 and cmp[col]["max"] <= FINAL_ATOL, (col, cmp[col])
    log = pr.official_log("score_final")
    fit = fo.calls["main"].mf
    counts = fo.slice_counts
    assert counts["scoped"] == log["scoped"] == 45027
    assert (counts["final_round_ratings"], counts["final_round_notes"], counts["final_round_raters"]) == \
        log["prefilter"]
    assert (counts["notes_before_capture"], counts["notes_after_capture"]) == \
        (log["rows_before_capture"], log["rows_after_capture"])
    init = fit.init_counts
    assert (init["note_factors_initialized"], init["note_intercepts_initialized"], init["rater_factors_initialized"],
            init["rater_intercepts_initialized"], init["reputations_initialized"]) == tuple(
        log["initialized"][k] for k in ("internalNoteFactor1", "internalNoteIntercept", "internalRaterFactor1",
                                        "internalRaterIntercept", "internalRaterReputation"))
    assert [len(h) - 1 for h in fit.loss_histories] == log["stop_epochs"] == [130, 110]
    assert [h[0] for h in fit.loss_histories] == pytest.approx(log["first_losses"], abs=1e-6)
    # the final view of raterHelpfulnessReputation is the (frozen) prescoring reputation
    hs = pr.compare_helpfulness_reputation(ds, fo.helpfulness_scores)
    assert hs["n"] == 773 and hs["nan_mismatch"] == 0 and hs["max"] <= FINAL_ATOL


def test_prescoring_and_final_from_raw_files(inputs, small_dir):
    pr, ds, pre, off = inputs
    pre_r, fin_r = pr.cnlab_pss_ratings(pre)
    po = pr.run_prescoring(ds, pre, seed=42, ratings=pre_r)
    cmp = pr.compare_prescoring_rows(po, off)
    assert cmp["note_rows off/cn"] == (2000, 2000) and cmp["rater_rows off/cn"] == (773, 773)
    for col in ("internalNoteIntercept", "lowDiligenceNoteInterceptRound2", "internalRaterReputation",
                "internalRaterIntercept", "lowDiligenceRaterInterceptRound2", "internalNoteFactor1",
                "internalRaterFactor1"):
        assert cmp[col]["nan_mismatch"] == 0 and cmp[col]["max"] <= PRESCORING_ATOL, (col, cmp[col])
    for col in ("internalNoteFactor1", "internalRaterFactor1"):
        assert abs(cmp[col]["pearson"]) >= MIN_ABS_FACTOR_PEARSON
    assert cmp["global intercepts cn"] == pytest.approx(cmp["global intercepts off"], abs=GLOBAL_ATOL)
    # counts of log_prescoring: slice, prefilter, stable-init subset and initialised factors
    log = pr.official_log("prescore")
    fit = po.intermediates["ReputationScorer"]["fit"]
    assert (fit.n_ratings, len(fit.note_params), len(fit.rater_params)) == log["prefilter"] == (42430, 1779, 773)
    assert (fit.init_counts["stable_init_raters"], fit.init_counts["stable_init_notes"]) == \
        log["stable_init_raters_notes"] == (188, 61)
    assert (fit.init_counts["raters_initialized"], fit.init_counts["notes_initialized"]) == \
        (log["initialized"]["internalRaterFactor1"], log["initialized"]["internalNoteFactor1"]) == (188, 0)
    assert [len(h) - 1 for h in fit.loss_histories][1:] == log["stop_epochs"][1:] == [160, 150]
    # published raterHelpfulnessReputation = prescoring reputation
    hs = pr.compare_helpfulness_reputation(ds, po.for_scorer("ReputationScorer")[1])
    assert hs["n"] == 773 and hs["nan_mismatch"] == 0 and hs["max"] <= PRESCORING_ATOL

    fo = pr.run_final(ds, pre, po, ratings=fin_r)
    sn = pr.compare_scored_notes(fo, align_factor_sign=True)
    assert sn["valued_off"] == sn["valued_cn"] == 1726
    assert sn["intercept"]["max"] <= FULL_FINAL_ATOL and sn["factor"]["max"] <= FULL_FINAL_ATOL
    bad = sn["disagreements"]
    assert ((bad["coverageNoteIntercept_off"] - COVERAGE_CRH_THRESHOLD).abs() <= FULL_STATUS_FLIP_MARGIN).all(), bad
    import pandas as pd

    off_sn = pd.read_csv(small_dir / "official-all" / "scored_notes.tsv.gz", sep="\t",
                         usecols=["coverageNoteIntercept"])
    n_flippable = int(((off_sn["coverageNoteIntercept"] - COVERAGE_CRH_THRESHOLD).abs()
                       <= FULL_STATUS_FLIP_MARGIN).sum())
    assert sn["status_agree"] >= sn["notes"] - n_flippable
