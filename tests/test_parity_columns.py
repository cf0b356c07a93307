"""The parity contract covers every column of every official output file (tests/parity_contract.py).

These tests read only the official files' headers: they fail when the official scorer gains a
column (or cnlab's schema loses one) that the contract does not list with a tolerance class.
The comparisons themselves run in tests/test_end_to_end.py.
"""

from __future__ import annotations

import gzip

import pytest

import parity_contract as C
from cnlab import schema
from cnlab.lab import parity

pytestmark = pytest.mark.parity

SCHEMA_COLUMNS = {
    "scored_notes": schema.SCORED_NOTES_COLUMNS,
    "helpfulness_scores": schema.HELPFULNESS_SCORES_COLUMNS,
    "note_status_history": schema.NOTE_STATUS_HISTORY_COLUMNS,
    "aux_note_info": schema.AUX_NOTE_INFO_COLUMNS,
}


def _header(path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return fh.readline().rstrip("\n").split("\t")


@pytest.mark.parametrize("name", list(parity.OUTPUT_KEYS))
@pytest.mark.parametrize("table", ["tight", "loose"])
def test_every_official_column_has_a_class(small_dir, name, table):
    official = _header(small_dir / "official-all" / f"{name}.tsv.gz")
    contract = (C.TIGHT if table == "tight" else C.LOOSE)[name]
    keys = set(parity.OUTPUT_KEYS[name])
    missing = [c for c in official if c not in keys and c not in contract]
    assert not missing, f"{name}: official columns without a tolerance class ({table}): {missing}"
    stale = sorted(set(contract) - set(official))
    assert not stale, f"{name}: contract lists columns the official file does not have: {stale}"
    # cnlab writes the official layout: same names, same order
    assert list(SCHEMA_COLUMNS[name]) == official


@pytest.mark.parametrize("name", list(parity.PRESCORING_KEYS))
def test_every_official_prescoring_column_has_a_class(small_dir, name):
    official = list(parity.read_prescoring_outputs(small_dir / "official-all" / "prescoring")[name].columns)
    contract = C.PRESCORING[name]
    keys = set(parity.PRESCORING_KEYS[name])
    missing = [c for c in official if c not in keys and c not in contract]
    assert not missing, f"{name}: official columns without a tolerance class: {missing}"
    assert not sorted(set(contract) - set(official))


def test_every_prescoring_meta_field_has_a_class(small_dir):
    meta = parity.read_prescoring_meta(small_dir / "official-all" / "prescoring")
    fields = {f for v in meta.values() for f in v}
    assert fields == set(C.PRESCORING_META), fields ^ set(C.PRESCORING_META)


@pytest.mark.parametrize("cls, row, ok", [
    (C.Exact("x"), {"equal": 5, "rows": 5}, True),
    (C.Exact("x"), {"equal": 4, "rows": 5}, False),
    (C.Close(1e-3, "x"), {"kind": "numeric", "nan_mismatch": 0, "max_abs": 5e-4}, True),
    (C.Close(1e-3, "x"), {"kind": "numeric", "nan_mismatch": 0, "max_abs": 2e-3}, False),
    (C.Close(1e-3, "x"), {"kind": "numeric", "nan_mismatch": 1, "max_abs": 0.0}, False),
    (C.Close(1e-3, "x"), {"kind": "text", "nan_mismatch": 0, "max_abs": float("nan")}, False),
    (C.Agree(0.9, "x"), {"equal": 9, "rows": 10, "agreement": 0.9}, True),
    (C.Agree(0.9, "x"), {"equal": 8, "rows": 10, "agreement": 0.8}, False),
    (C.Correlated(0.9, 1.0, 0.1, "x"), {"kind": "numeric", "nan_mismatch": 0, "rows": 10, "pearson": 0.95,
                                         "max_abs": 0.5}, True),
    (C.Correlated(0.9, 1.0, 0.1, "x"), {"kind": "numeric", "nan_mismatch": 0, "rows": 10, "pearson": -0.95,
                                         "max_abs": 0.5}, False),
    (C.Correlated(0.9, 1.0, 0.1, "x", sign_free=True), {"kind": "numeric", "nan_mismatch": 0, "rows": 10,
                                                         "pearson": -0.95, "max_abs": 1.9}, True),
    (C.Correlated(0.9, 1.0, 0.1, "x"), {"kind": "numeric", "nan_mismatch": 2, "rows": 10, "pearson": 1.0,
                                         "max_abs": 0.0}, False),
    (C.Correlated(0.9, 1.0, 0.1, "x"), {"kind": "numeric", "nan_mismatch": 0, "rows": 10, "pearson": 1.0,
                                         "max_abs": 1.5}, False),
    (C.Deliberate("x"), {"in_ours": True}, True),
    (C.Deliberate("x"), {"in_ours": False}, False),
])
def test_classes_accept_and_reject(cls, row, ok):
    assert (cls.check(row) is None) == ok


def test_compare_columns_hand_case():
    import numpy as np
    import pandas as pd

    ref = pd.DataFrame({"noteId": [1, 2, 3, 4], "x": [0.5, 0.25, np.nan, 1.0], "s": ["a", None, "c", "d"],
                        "b": ["True", "False", "True", None]})
    ours = pd.DataFrame({"noteId": [4, 3, 2, 1, 9], "x": [1.0, 0.0, 0.25, 0.5 + 1e-3, 7.0],
                         "s": ["d", "c", None, "z", "q"], "b": [None, True, False, True, True], "extra": 1})
    rep = parity.compare_columns(ref, ours, "noteId")
    assert list(rep.index) == ["x", "s", "b"]
    x = rep.loc["x"]
    # rows 1, 2, 4 present on both sides: |Δ| = 1e-3, 0, 0; row 3 missing on the official side only
    assert (x["kind"], x["equal"], x["nan_mismatch"]) == ("numeric", 2, 1)
    assert x["max_abs"] == pytest.approx(1e-3) and x["mean_abs"] == pytest.approx(1e-3 / 3)
    assert rep.loc["s", "equal"] == 3 and rep.loc["s", "kind"] == "text"
    assert rep.loc["b", "equal"] == 4  # "True" text and True boolean agree
    assert parity.compare_keys(ref, ours, "noteId") == {"both": 4, "reference_only": 0, "ours_only": 1}
