"""Tier 3: meta scoring and status history against the official outputs in ``../shared/fixtures/small``.

The official pass-2 run (`official-all/`) gives every scorer's status; feeding those to
:func:`meta_score` must reproduce the final status, decidedBy, active rules and tags exactly, and
:func:`update_status_history` must reproduce the output note status history column by column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.scoring.meta import UPDATED_NMR_TS, meta_score
from cnlab.scoring.status_history import update_status_history

pytestmark = pytest.mark.parity

META_OUTPUTS = ("finalRatingStatus", "decidedBy", "metaScorerActiveRules", "firstTag", "secondTag")
# Meta scoring and the NSH update are discrete string/timestamp logic on the official inputs,
# so no mismatch is tolerated.
MAX_META_MISMATCHES = 0
MAX_NSH_MISMATCHES_PER_COLUMN = 0


@pytest.fixture(scope="module")
def official(small_dir):
    read = lambda p: pd.read_csv(small_dir / p, sep="\t")  # noqa: E731
    return {
        "scored": read("official-all/scored_notes.tsv.gz"),
        "aux": read("official-all/aux_note_info.tsv.gz"),
        "nsh_in": read("pass2_status.tsv.gz"),
        "nsh_out": read("official-all/note_status_history.tsv.gz"),
        "epoch": int((small_dir / "epoch_pass2").read_text().strip()),
    }


def _meta(official, **kw):
    inputs = official["scored"].drop(columns=list(META_OUTPUTS))
    return meta_score(inputs, official["aux"], official["nsh_in"], epoch_millis=official["epoch"], **kw)


def _mismatches(a: pd.Series, b: pd.Series) -> int:
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        same = (a.to_numpy(dtype=float) == b.to_numpy(dtype=float)) | (a.isna().to_numpy() & b.isna().to_numpy())
    else:
        norm = lambda s: s.astype(object).where(s.notna(), "<NA>").astype(str).to_numpy()  # noqa: E731
        same = norm(a) == norm(b)
    return int((~same).sum())


def test_meta_score_reproduces_official(official):
    out = _meta(official)
    merged = official["scored"][[S.NOTE_ID, *META_OUTPUTS]].merge(out, on=S.NOTE_ID, suffixes=("_official", ""))
    assert len(merged) == len(official["scored"]) == 2000
    for col in META_OUTPUTS:
        assert _mismatches(merged[f"{col}_official"], merged[col]) <= MAX_META_MISMATCHES, col
    # aux booleans and statuses
    aux = official["aux"].merge(out, on=S.NOTE_ID, suffixes=("_official", ""))
    for col in ("crhBool", "crnhBool", "awaitingBool", "unlockedRatingStatus", "preStabilizationRatingStatus"):
        assert _mismatches(aux[f"{col}_official"], aux[col]) <= MAX_META_MISMATCHES, col


@pytest.mark.parametrize("label", [None, "CRH", "FLIP"])
def test_meta_score_pflip_label_sensitivity(official, label):
    """The pflip LABEL is not in the outputs; in this fixture it cannot matter.

    Pass 2 runs 90 min after pass 1, so every note in stabilization (t > 0) has E = 90 min:
    CRH is released by the 60-min cap before LABEL is consulted and NYH is held (NMR) whatever
    LABEL says.  All three assumptions (missing = flip, all CRH, all FLIP) must agree exactly.
    """
    pflip = None
    if label is not None:
        pflip = pd.DataFrame({S.NOTE_ID: official["scored"][S.NOTE_ID], "LABEL": label})
    out = _meta(official, pflip_labels=pflip)
    merged = official["scored"][[S.NOTE_ID, "finalRatingStatus", "decidedBy"]].merge(
        out, on=S.NOTE_ID, suffixes=("_official", ""))
    for col in ("finalRatingStatus", "decidedBy"):
        assert _mismatches(merged[f"{col}_official"], merged[col]) <= MAX_META_MISMATCHES


def test_status_history_reproduces_official(official):
    meta = _meta(official)
    scored = official["scored"].merge(meta[[S.NOTE_ID, UPDATED_NMR_TS]], on=S.NOTE_ID)
    new = update_status_history(official["nsh_in"], scored, now=official["epoch"])
    assert list(new.columns) == list(S.NOTE_STATUS_HISTORY_COLUMNS)
    merged = official["nsh_out"].merge(new, on=S.NOTE_ID, suffixes=("_official", ""))
    assert len(merged) == len(official["nsh_out"]) == 2000
    bad = {c: _mismatches(merged[f"{c}_official"], merged[c]) for c in S.NOTE_STATUS_HISTORY_COLUMNS[1:]}
    assert all(v <= MAX_NSH_MISMATCHES_PER_COLUMN for v in bad.values()), bad


def test_fixture_exercises_locking_and_stabilization(official):
    """Guard that the parity above is not vacuous: the fixture locks notes and stabilizes some."""
    nin, nout = official["nsh_in"], official["nsh_out"]
    newly_locked = nin["lockedStatus"].isna() & nout.set_index(S.NOTE_ID).loc[nin[S.NOTE_ID], "lockedStatus"].notna().to_numpy()
    assert newly_locked.sum() > 0
    assert (official["scored"]["decidedBy"] == "NmrDueToMinStableCrhTime (v1.0)").sum() > 0
    assert np.isfinite(nin["timestampMillisOfNmrDueToMinStableCrhTime"]).sum() > 0
