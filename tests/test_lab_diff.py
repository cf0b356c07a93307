"""cnlab.lab.diff / StatusDiff and its figures (cnlab.plotting.lab): hand-built runs with known
answers; no scoring."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from cnlab import plotting as P  # noqa: E402
from cnlab import schema as S  # noqa: E402
from cnlab.lab import StatusDiff, diff  # noqa: E402
from cnlab.lab.status_diff import ABSENT, model_columns  # noqa: E402

CRH, CRNH, NMR = S.CRH, S.CRNH, S.NMR
CORE_RULE, META0, STAB = "CoreModel (v1.1)", "MetaInitialNMR (v1.0)", "NmrDueToMinStableCrhTime (v1.0)"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _runs():
    """Old run: notes 1–5; new run: notes 2–6.

    1: only in old. 2: CRH → NMR (intercept 0.45 → 0.38). 3: NMR → CRNH (−0.10 → −0.30, factor
    0.2 → 0.1). 4: unchanged (CRH, intercept identical). 5: NMR stays NMR but decidedBy changes.
    6: only in new. Expansion columns are empty in both runs; the group intercept only in new.
    """
    old = pd.DataFrame({
        "noteId": [1, 2, 3, 4, 5],
        "finalRatingStatus": [NMR, CRH, NMR, CRH, NMR],
        "decidedBy": [META0, CORE_RULE, CORE_RULE, CORE_RULE, CORE_RULE],
        "coreRatingStatus": [np.nan, CRH, NMR, CRH, NMR],
        "coreNoteIntercept": [np.nan, 0.45, -0.10, 0.50, 0.20],
        "coreNoteFactor1": [np.nan, 0.0, 0.2, 0.1, 0.0],
        "expansionNoteIntercept": [np.nan] * 5,
        "numRatings": [1, 10, 12, 20, 7],
        "groupNoteIntercept": [np.nan] * 5,
    })
    new = pd.DataFrame({
        "noteId": [2, 3, 4, 5, 6],
        "finalRatingStatus": [NMR, CRNH, CRH, NMR, NMR],
        "decidedBy": [CORE_RULE, CORE_RULE, CORE_RULE, STAB, META0],
        "coreRatingStatus": [NMR, CRNH, CRH, CRH, np.nan],
        "coreNoteIntercept": [0.38, -0.30, 0.50, 0.41, np.nan],
        "coreNoteFactor1": [0.0, 0.1, 0.1, 0.0, np.nan],
        "expansionNoteIntercept": [np.nan] * 5,
        "numRatings": [8, 12, 20, 9, 2],
        "groupNoteIntercept": [0.3, np.nan, np.nan, np.nan, np.nan],
    })
    return old, new


def test_columns_compared():
    old, new = _runs()
    d = diff(old, new)
    assert d.status_columns == ("finalRatingStatus", "decidedBy", "coreRatingStatus")
    # empty in both: expansion; filled in one run only: group → not a model column of the diff
    assert d.model_columns == ("coreNoteIntercept", "coreNoteFactor1", "numRatings")
    assert model_columns(new) == ["coreNoteIntercept", "coreNoteFactor1", "numRatings", "groupNoteIntercept"]
    assert d.notes["noteId"].tolist() == [1, 2, 3, 4, 5, 6]
    assert d.notes["presence"].tolist() == ["old only", "both", "both", "both", "both", "new only"]


def test_transitions_changed_and_shifts_known_answer():
    old, new = _runs()
    d = diff(old, new, labels=("baseline", "counterfactual"))
    t = d.transitions()
    assert list(t.index) == [CRH, NMR, ABSENT] and list(t.columns) == [CRH, NMR, CRNH, ABSENT]
    assert t.index.name == "baseline" and t.columns.name == "counterfactual"
    assert t.loc[CRH, NMR] == 1 and t.loc[CRH, CRH] == 1 and t.loc[NMR, CRNH] == 1 and t.loc[NMR, NMR] == 1
    assert t.loc[NMR, ABSENT] == 1  # note 1 is not in the new run
    assert t.loc[ABSENT, NMR] == 1  # note 6 is not in the old run
    assert int(t.to_numpy().sum()) == 6
    t2 = d.transitions("decidedBy")
    assert t2.loc[ABSENT, META0] == 1 and t2.loc[CORE_RULE, STAB] == 1
    assert d.changed()["noteId"].tolist() == [1, 2, 3, 6]
    assert d.n_changed == 4
    assert d.changed("decidedBy")["noteId"].tolist() == [1, 5, 6]
    assert d.changed("coreRatingStatus")["noteId"].tolist() == [1, 2, 3, 5, 6]
    row = d.notes.set_index("noteId")
    assert row.loc[2, "coreNoteIntercept_shift"] == pytest.approx(-0.07)
    assert row.loc[3, "coreNoteFactor1_shift"] == pytest.approx(-0.1)
    assert row.loc[4, "coreNoteIntercept_shift"] == 0.0
    assert np.isnan(row.loc[1, "coreNoteIntercept_shift"]) and np.isnan(row.loc[6, "numRatings_shift"])
    assert row.loc[5, "numRatings_shift"] == 2
    st = d.shift_stats()
    assert st.loc["coreNoteIntercept", "n"] == 4 and st.loc["coreNoteIntercept", "moved"] == 3
    assert st.loc["coreNoteIntercept", "max_abs"] == pytest.approx(0.21)
    assert d.shifts().columns.tolist() == ["noteId", "coreNoteIntercept_shift", "coreNoteFactor1_shift",
                                           "numRatings_shift"]
    assert len(d.shifts()) == 4


def test_transitions_count_every_note_once():
    old, new = _runs()
    for column in ("finalRatingStatus", "decidedBy", "coreRatingStatus"):
        assert int(diff(old, new).transitions(column).to_numpy().sum()) == 6


def test_summary_and_deciding_rule_counts():
    old, new = _runs()
    d = diff(old, new, labels=("baseline", "counterfactual"))
    text = d.summary()
    assert text.splitlines()[0] == ("StatusDiff baseline -> counterfactual: 6 notes (4 in both, 1 in baseline "
                                    "only, 1 in counterfactual only)")
    assert "finalRatingStatus changed on 4 notes" in text
    assert "coreRatingStatus changed on 3 notes in both runs" in text
    assert "coreNoteIntercept: 3 of 4 moved, max |shift| 0.21" in text
    by = d.decided_by_changed()
    assert dict(by) == {CORE_RULE: 2, ABSENT: 1, META0: 1}
    assert repr(d) == "StatusDiff(baseline -> counterfactual: 6 notes, 4 finalRatingStatus changed)"


def test_identical_runs_give_an_empty_diff_and_frozen_result():
    old, _ = _runs()
    d = diff(old, old.copy())
    assert d.is_empty and d.n_changed == 0 and d.changed().empty
    assert (d.transitions().to_numpy() == np.diag(np.diag(d.transitions().to_numpy()))).all()
    moved = old.assign(coreNoteFactor1=old["coreNoteFactor1"] + 1e-9)
    assert not diff(old, moved).is_empty and diff(old, moved).n_changed == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.labels = ("a", "b")
    with pytest.raises(KeyError, match="not a compared status column"):
        d.changed("noSuchColumn")


def test_inputs_legacy_names_text_ids_and_errors():
    old, new = _runs()
    legacy = old.rename(columns={"coreNoteIntercept": "noteIntercept", "coreNoteFactor1": "noteFactor1"})
    legacy["noteId"] = legacy["noteId"].astype(str)  # ids read from a TSV as text
    d = diff(legacy, {"scored_notes": new})
    assert "coreNoteIntercept" in d.model_columns
    assert d.notes.set_index("noteId").loc[2, "coreNoteIntercept_shift"] == pytest.approx(-0.07)
    with pytest.raises(ValueError, match="not unique"):
        diff(pd.concat([old, old]), new)
    with pytest.raises(TypeError):
        diff(3, new)


def test_scoring_results_add_the_deciding_rule():
    """ScoringResult-like inputs (frames + decisions()) add decidingRule to the compared columns."""
    from types import SimpleNamespace

    old, new = _runs()

    def run(sn, rules):
        dec = pd.DataFrame({"noteId": sn["noteId"], "decidingRule": rules})
        return SimpleNamespace(frames={"scored_notes": sn}, decisions=lambda: dec)

    a = run(old, ["InitialNMR (v1.0)", "GeneralCRH (v1.0)", "InitialNMR (v1.0)", "GeneralCRH (v1.0)",
                  "InitialNMR (v1.0)"])
    b = run(new, ["InitialNMR (v1.0)", "GeneralCRNH (v1.0)", "GeneralCRH (v1.0)", STAB, META0])
    d = diff(a, b)
    assert d.status_columns[:3] == ("finalRatingStatus", "decidedBy", "decidingRule")
    assert dict(d.decided_by_changed()) == {"InitialNMR (v1.0)": 1, "GeneralCRNH (v1.0)": 1, META0: 1,
                                            ABSENT: 1}


# -- figures --------------------------------------------------------------------------------------

def _heatmap_counts(ax) -> pd.DataFrame:
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    values = [int(t.get_text()) for t in ax.texts]
    return pd.DataFrame(np.array(values).reshape(len(rows), len(cols)), index=rows, columns=cols)


def test_status_transitions_heatmap_shows_the_transition_matrix():
    old, new = _runs()
    d = diff(old, new, labels=("baseline", "counterfactual"))
    ax = P.status_transitions(d)
    assert ax.get_title() == "finalRatingStatus: 4 of 6 notes change"
    assert ax.get_ylabel() == "baseline" and ax.get_xlabel().splitlines()[0] == "counterfactual"
    shown = _heatmap_counts(ax)
    t = d.transitions().rename(index=P.STATUS_SHORT, columns=P.STATUS_SHORT)
    pd.testing.assert_frame_equal(shown.loc[t.index, t.columns], t.rename_axis(None).rename_axis(None, axis=1),
                                  check_dtype=False)
    with pytest.raises(KeyError):
        P.status_transitions(d, column="expansionRatingStatus")


def test_shift_scatter_points_lines_and_left_out_counts():
    old, new = _runs()
    d = diff(old, new, labels=("baseline", "counterfactual"))
    ax = P.shift_scatter(d)
    points = {c.get_label(): len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)}
    # notes in both runs with an intercept in both: 2 (→ NMR), 3 (→ CRNH), 4, 5 (unchanged status)
    assert points == {"finalRatingStatus unchanged (2)": 2, "→ NMR = needs more ratings (1)": 1,
                      "→ CRNH = currently rated not helpful (1)": 1}
    assert [ln.get_gid() for ln in ax.get_lines()] == ["zero-shift", "crh-threshold"]
    assert ax.get_title() == ("coreNoteIntercept: counterfactual − baseline (n=4, max |shift|=0.21)\n"
                              "left out: 2 not in both runs")
    ax2 = P.shift_scatter(d, column="numRatings", crh_threshold=None)
    assert [ln.get_gid() for ln in ax2.get_lines()] == ["zero-shift"]
    with pytest.raises(KeyError):
        P.shift_scatter(d, column="groupNoteIntercept")


def test_status_diff_is_exported():
    import cnlab.lab

    assert cnlab.lab.diff is diff and cnlab.lab.StatusDiff is StatusDiff
    assert {"status_transitions", "shift_scatter", "published_reasons"} <= set(P.__all__)


def test_docstring_examples_run():
    """The numpydoc examples of the lab modules run (those that score are skipped there)."""
    import doctest

    from cnlab.lab import counterfactuals, published, status_diff

    for module in (status_diff, counterfactuals, published):
        failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert failures == 0, module.__name__
        assert attempted > 0, module.__name__
