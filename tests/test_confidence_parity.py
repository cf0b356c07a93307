"""Tier-3 parity of pflip and PCRH with the official run of ``small`` (pass 2), trained from the
official prescoring outputs (spec 06 §A, §B; 04 §8 step 5, §10.1 steps 2, 6, 10, 11d, 13).

Reproduce the figures with ``.venv/bin/python bench/parity_confidence.py --mode final``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bench_module

pytestmark = [pytest.mark.parity, pytest.mark.slow]

#: pflipProba: the training frame, its split, the 237,676-column design matrix and liblinear's
#: coordinate order are reproduced exactly (scikit-learn 1.0.2 bins and numpy 1.26 tie order are
#: replicated, spec 06 §A.8–A.9), so the probabilities agree to the last printed digit. The
#: TSV prints 17 significant digits: 1e-12 only allows for the text round trip.
PFLIP_PROBA_ATOL = 1e-12
#: pcrhExitProba: same features, 1.0.2 bin edges replicated (spec 06 §B.4) → identical trees.
PCRH_PROBA_ATOL = 1e-12


def _bench(small_dir: Path):
    parity_confidence = bench_module("parity_confidence")
    parity_core = bench_module("parity_core")

    parity_core.FIX = small_dir
    return parity_confidence


@pytest.fixture(scope="module")
def final(small_dir):
    pc = _bench(small_dir)
    res, _ = pc.run("final")
    return pc.official_log(), pc.compare(res), res


def test_pflip_training_matches_the_official_log(final):
    log, out, _ = final
    assert out["pflip_labels_before"] == log["labels_before"]          # FLIP 97, CRH 87
    assert out["pflip_labels_after"] == log["labels_after"]            # CRH 59 after drift guard
    assert (out["pflip_train_rows"], out["pflip_validation_rows"]) == (log["train_rows"], log["validation_rows"])
    assert out["pflip_fingerprints"] == log["fingerprints"]  # row order of all / train / validation
    assert out["pflip_blocks"] == log["blocks"] == 124
    assert out["pflip_train"] == pytest.approx(log["train"], abs=1e-12)
    assert out["pflip_validation"] == pytest.approx(log["validation"][1:], abs=1e-12)


def test_pflip_predictions_match(final):
    log, out, _ = final
    assert out["pflip_targets"] == log["pflip_targets"] == 99
    assert out["pflip_notes_official"] == out["pflip_notes_cnlab"] == out["pflip_notes_both"] == 191
    assert out["pflipProba_max_abs"] <= PFLIP_PROBA_ATOL
    assert out["pflip_label_counts"] == log["predicted_labels"] and out["pflip_label_agreement"] == 1.0


def test_pcrh_training_matches_the_official_log(final):
    log, out, _ = final
    assert out["pcrh_ratings_after_group_filter"] == log["pcrh_group_filter"][1]
    assert (out["pcrh_rows"], out["pcrh_features"], out["pcrh_crh_rate"]) == (
        log["pcrh_rows"], log["pcrh_features"], log["pcrh_crh_rate"])
    assert out["pcrh_per_n"] == log["pcrh_per_n"]


def test_pcrh_columns_match(final):
    log, out, _ = final
    assert out["pcrh_notes_official"] == out["pcrh_notes_cnlab"] == log["pcrh_predict"][0]
    assert out["pcrhExitProba_max_abs"] <= PCRH_PROBA_ATOL
    for c in ("pcrhExitN", "pcrhRevoked", "pcrhRevokeN", "pcrhFinalPred"):
        assert out[f"{c}_agreement"] == 1.0, c
    # two notes above threshold, both suppressed to −T0 (not Core-decided), in scored notes and NSH
    assert out["abovePcrhThresholdTime_scored_notes_agreement"] == 1.0
    assert out["abovePcrhThresholdTime_nsh_agreement"] == 1.0
