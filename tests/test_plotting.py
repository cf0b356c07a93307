"""Tests for cnlab.plotting: artists drawn, byte-stable saving, no figure leaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

from cnlab import plotting as P  # noqa: E402
from cnlab import schema  # noqa: E402

CRH, CRNH, NMR, FR, NYH = schema.CRH, schema.CRNH, schema.NMR, schema.FIRM_REJECT, schema.NYH


@pytest.fixture(autouse=True)
def _no_figure_leaks():
    """Every test must close the figures it opens."""
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    plt.close("all")
    assert not leaked, f"test leaked {len(leaked)} figure(s)"


def _gids(ax, kind="lines"):
    arts = ax.get_lines() if kind == "lines" else ax.patches
    return [a.get_gid() for a in arts]


def _n_points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


@pytest.fixture
def notes():
    return pd.DataFrame({
        "noteId": np.arange(6, dtype=np.int64),
        "coreNoteIntercept": [0.5, 0.45, 0.1, -0.3, np.nan, 0.2],
        "coreNoteFactor1": [0.1, -0.2, 0.6, 0.0, np.nan, -0.1],
        "coreRatingStatus": [CRH, CRH, FR, CRNH, NMR, NMR],
        "coreNoteInterceptMin": [0.49, 0.44, 0.09, -0.31, np.nan, 0.19],
        "coreNoteInterceptMax": [0.55, 0.5, 0.2, -0.2, np.nan, 0.3],
        "coreActiveRules": ["InitialNMR (v1.0),GeneralCRH (v1.0)", "InitialNMR (v1.0),GeneralCRH (v1.0)",
                            "InitialNMR (v1.0),RejectLowIntercept (v1.0)",
                            "InitialNMR (v1.0),GeneralCRNH (v1.0),UcbCRNH (v1.0)", np.nan, "InitialNMR (v1.0)"],
    })


# ---------------------------------------------------------------------------
# savefig
# ---------------------------------------------------------------------------
def _scatter_fig():
    fig, ax = plt.subplots()
    rng = np.random.default_rng(1)
    ax.scatter(rng.normal(size=50), rng.normal(size=50))
    ax.set_title("determinism")
    return fig


def test_savefig_is_byte_deterministic(tmp_path):
    fig = _scatter_fig()
    png1, svg1 = P.savefig(fig, "a", directory=tmp_path / "one")
    png2, svg2 = P.savefig(fig, "a.png", directory=tmp_path / "two")
    plt.close(fig)
    fig2 = _scatter_fig()  # a freshly built identical figure too
    png3, svg3 = P.savefig(fig2, "a", directory=tmp_path / "three")
    plt.close(fig2)
    assert png1.name == "a.png" and svg1.name == "a.svg"
    assert png1.read_bytes() == png2.read_bytes() == png3.read_bytes()
    assert svg1.read_bytes() == svg2.read_bytes() == svg3.read_bytes()
    svg = svg1.read_text()
    assert "<dc:date>" not in svg and "cnlab" in svg
    assert not list((tmp_path / "one").glob(".*tmp"))


def test_savefig_uses_env_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("CNLAB_FIGURES_DIR", str(tmp_path / "env"))
    fig, ax = plt.subplots()
    png, svg = P.savefig(ax, "x")
    plt.close(fig)
    assert png.parent == tmp_path / "env" and png.exists() and svg.exists()


def test_default_figures_dir_is_cwd_figures(tmp_path, monkeypatch):
    """Without a directory or $CNLAB_FIGURES_DIR, figures go to ./figures under the working
    directory, never next to the installed package."""
    monkeypatch.delenv("CNLAB_FIGURES_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert P.figures_dir() == tmp_path / "figures"
    package = Path(P.__file__).resolve().parent
    before = sorted(p.name for p in package.parents[1].iterdir())
    fig, ax = plt.subplots()
    png, svg = P.savefig(ax, "cwd_default")
    plt.close(fig)
    assert png == tmp_path / "figures" / "cwd_default.png" and png.exists() and svg.exists()
    assert sorted(p.name for p in package.parents[1].iterdir()) == before  # nothing new beside the package
    # an explicit directory wins over the environment, the environment over the working directory
    monkeypatch.setenv("CNLAB_FIGURES_DIR", str(tmp_path / "env"))
    assert P.figures_dir() == tmp_path / "env"
    assert P.figures_dir(tmp_path / "given") == tmp_path / "given"


def test_no_tensorflow_import():
    code = ("import sys, cnlab.plotting as p; import pandas as pd; "
            "p.note_factor_intercept(pd.DataFrame({'internalNoteIntercept': [0.1], 'internalNoteFactor1': [0.0]})); "
            "assert 'tensorflow' not in sys.modules; assert p.matplotlib.get_backend().lower() == 'agg'")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


# ---------------------------------------------------------------------------
# note / rater scatter
# ---------------------------------------------------------------------------
def test_note_factor_intercept_points_and_thresholds(notes):
    ax = P.note_factor_intercept(notes)
    assert _n_points(ax) == 5  # NaN note left out
    n_nan = int(notes["coreNoteIntercept"].isna().sum())
    assert ax.get_title() == (f"Notes: factor vs intercept (n={len(notes) - n_nan} of {len(notes)} notes)\n"
                              f"left out: {n_nan} not scored by Core")
    labels = [c.get_label() for c in ax.collections if isinstance(c, PathCollection)]
    n_crh = int((notes["coreRatingStatus"] == CRH).sum())
    assert labels[0] == f"CRH = currently rated helpful ({n_crh})"  # status order: CRH first
    gids = _gids(ax)
    assert "crh-threshold" in gids and "crnh-threshold" in gids
    crh = ax.get_lines()[gids.index("crh-threshold")]
    assert np.allclose(crh.get_ydata(), 0.40)
    wedge = ax.get_lines()[gids.index("crnh-threshold")]
    x, y = wedge.get_xdata(), wedge.get_ydata()
    assert np.allclose(y, -0.05 - 0.8 * np.abs(x))
    assert "factor-band" in _gids(ax, "patches")
    band = [p for p in ax.patches if p.get_gid() == "factor-band"][0]
    x0, x1 = band.get_bbox().x0, band.get_bbox().x1  # Rectangle (mpl ≥ 3.9) or Polygon
    assert np.isclose(x0, -0.5) and np.isclose(x1, 0.5)
    plt.close(ax.figure)


def test_note_factor_intercept_internal_columns_and_custom_thresholds():
    frame = pd.DataFrame({"internalNoteIntercept": [0.3, 0.1], "internalNoteFactor1": [0.0, 0.2],
                          "internalRatingStatus": [CRH, NMR]})
    ax = P.note_factor_intercept(frame, crh_threshold=0.25)
    assert _n_points(ax) == 2
    crh = ax.get_lines()[_gids(ax).index("crh-threshold")]
    assert np.allclose(crh.get_ydata(), 0.25)
    plt.close(ax.figure)


def test_note_factor_intercept_missing_columns_raise():
    with pytest.raises(schema.SchemaError):
        P.note_factor_intercept(pd.DataFrame({"x": [1]}))


def test_rater_plots():
    raters = pd.DataFrame({"raterParticipantId": np.arange(5), "coreRaterIntercept": [0.1, 0.2, np.nan, 0, 0.3],
                           "coreRaterFactor1": [-0.5, 0.4, np.nan, 0.1, -0.2],
                           "aboveHelpfulnessThreshold": [True, False, pd.NA, True, True]})
    ax = P.rater_factor_intercept(raters, hue_col="aboveHelpfulnessThreshold")
    assert _n_points(ax) == 4
    assert _legend_labels(ax) == ["aboveHelpfulnessThreshold=True (3)", "aboveHelpfulnessThreshold=False (1)"]
    assert ax.get_title().endswith("left out: 1 not scored by Core")
    plt.close(ax.figure)
    # default without modeling groups: the sign of the rater factor (the two sides it separates)
    ax = P.rater_factor_intercept(raters)
    f = raters["coreRaterFactor1"]
    assert _legend_labels(ax) == [f"rater factor < 0 ({int((f < 0).sum())})", f"rater factor ≥ 0 ({int((f >= 0).sum())})"]
    plt.close(ax.figure)
    enr = pd.DataFrame({"participantId": np.arange(5), "modelingGroup": [1.0, 1.0, 2.0, 3.0, np.nan]})
    ax = P.rater_factor_hist_by_group(raters, enr, max_groups=1)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("modelingGroup 1 (n=2)")  # biggest group first
    assert any("other" in t for t in labels)  # group 3 and missing pooled
    assert len(ax.patches) == 2
    assert ax.get_title() == "Rater factors by group (n=4 of 5 raters)\nleft out: 1 not scored by Core"
    plt.close(ax.figure)


def _group_counts(groups: pd.Series) -> dict[str, int]:
    """Legend text -> count, per modeling group as the scatter labels them (largest first)."""
    counts = groups.dropna().astype(float).astype(int).value_counts()
    out = {f"modelingGroup {g} ({n})": int(n) for g, n in counts.items()}
    if groups.isna().any():
        out[f"no modelingGroup ({int(groups.isna().sum())})"] = int(groups.isna().sum())
    return out


def test_rater_factor_intercept_modeling_groups():
    """Colour by modeling group: from the frame when it has two or more groups among the raters
    shown, from enrollment when given; an all-empty column is an error naming the remedy."""
    rng = np.random.default_rng(3)
    n = 60
    raters = pd.DataFrame({"raterParticipantId": np.arange(n), "coreRaterIntercept": rng.normal(size=n),
                           "coreRaterFactor1": rng.normal(size=n), "modelingGroup": np.nan})
    raters.loc[:9, ["coreRaterIntercept", "coreRaterFactor1"]] = np.nan  # 10 not in the final round
    shown = raters["coreRaterIntercept"].notna()
    # a Core-only run leaves modelingGroup empty: asking for it is an error that says what to do
    with pytest.raises(schema.SchemaError, match="enrollment"):
        P.rater_factor_intercept(raters, hue_col="modelingGroup")
    ax = P.rater_factor_intercept(raters)  # "auto": no groups -> factor sign, never one NaN series
    assert [t.split(" (")[0] for t in _legend_labels(ax)] == ["rater factor < 0", "rater factor ≥ 0"]
    plt.close(ax.figure)
    groups = pd.Series(np.where(np.arange(n) % 7 == 0, np.nan, 1.0 + np.arange(n) % 3), dtype=float)
    enr = pd.DataFrame({"participantId": np.arange(n), "modelingGroup": groups})
    for ax in (P.rater_factor_intercept(raters, enrollment=enr),
               P.rater_factor_intercept(raters.assign(modelingGroup=groups))):
        want = _group_counts(groups[shown])
        assert sorted(_legend_labels(ax)) == sorted(want)
        assert _n_points(ax) == int(shown.sum())
        plt.close(ax.figure)
    # ids that do not match (codes on one side, strings on the other) are an error, not a grey cloud
    with pytest.raises(schema.SchemaError, match="restore_ids"):
        P.rater_factor_intercept(raters, enrollment=enr.assign(participantId=enr["participantId"].astype(str)))
    # more groups than max_groups: the rest pooled and counted
    many = pd.Series(np.arange(n) % 12, dtype=float)
    ax = P.rater_factor_intercept(raters.assign(modelingGroup=many), max_groups=3)
    labels = _legend_labels(ax)
    assert len(labels) == 4 and labels[-1].startswith("9 other groups (")
    assert sum(int(t.rsplit("(", 1)[1].rstrip(")")) for t in labels) == int(shown.sum())
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# MF convergence
# ---------------------------------------------------------------------------
class _FakeResult:
    def __init__(self, hist, stop):
        self.loss_history = np.asarray(hist)
        self.n_steps = len(hist)
        self.stop_reason = stop
        self.train_mse = 0.1


def test_loss_curves_and_summary():
    res = {"official": _FakeResult([1.0, 0.6, 0.51, 0.5100001], "converged"),
           "exact": np.array([0.7, 0.5])}
    ax = P.loss_curves(res)
    lines = ax.get_lines()
    assert len(lines) == 2
    assert len(lines[0].get_ydata()) == 4 and len(lines[1].get_ydata()) == 2
    assert ax.get_yscale() == "log"
    assert np.isclose(lines[1].get_ydata()[-1], 1e-10)  # best final loss hits the floor
    plt.close(ax.figure)
    ax = P.loss_curves(res, excess=False)
    assert np.allclose(ax.get_lines()[0].get_ydata(), [1.0, 0.6, 0.51, 0.5100001])
    plt.close(ax.figure)
    table = P.convergence_table(res)
    assert table["n_steps"].tolist() == [4, 2]
    assert table["gap"].iloc[1] == 0.0 and table["gap"].iloc[0] > 0
    ax = P.convergence_summary(res)
    assert [p.get_width() for p in ax.patches] == [4, 2]
    plt.close(ax.figure)


def test_param_differences():
    a = pd.DataFrame({"noteId": [1, 2, 3], "internalNoteIntercept": [0.1, 0.2, 0.3]})
    b = pd.DataFrame({"noteId": [3, 2, 1], "internalNoteIntercept": [0.3, 0.25, 0.1]})
    ax = P.param_differences(a, b, label="a − b")
    assert sum(p.get_height() for p in ax.patches) == 3
    mx = [ln for ln in ax.get_lines() if ln.get_gid() == "max-abs-diff"]
    assert len(mx) == 2 and np.isclose(abs(mx[0].get_xdata()[0]), 0.05)
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# funnel, helpfulness
# ---------------------------------------------------------------------------
def test_funnel_bars():
    f = pd.DataFrame({"stage": ["ratings"] * 3, "step": ["read", "dedupe", "prefilter"],
                      "rows_in": [100, 100, 90], "rows_out": [100, 90, 60], "dropped": [0, 10, 30]})
    ax = P.funnel(f)
    kept = [p for p in ax.patches if p.get_gid() == "kept"]
    dropped = [p for p in ax.patches if p.get_gid() == "dropped"]
    assert [p.get_width() for p in kept] == [100, 90, 60]
    assert [p.get_width() for p in dropped] == [0, 10, 30]
    assert [t.get_text() for t in ax.get_yticklabels()][2] == "ratings: prefilter"
    plt.close(ax.figure)

    class _Funnel:
        def to_frame(self):
            return f

    ax = P.funnel(_Funnel())
    assert len(ax.patches) == 6
    plt.close(ax.figure)


def test_helpfulness_plots():
    s = pd.DataFrame({
        "raterAgreeRatio": [0.5, 0.7, 0.9, np.nan, 0.8, 0.95],
        "crhCrnhRatioDifference": [np.nan, np.nan, np.nan, np.nan, -0.5, 0.2],
        "meanNoteScore": [np.nan, np.nan, np.nan, np.nan, 0.1, 0.01],
        "aboveHelpfulnessThreshold": [False, True, True, False, False, False],
    })
    ax = P.helpfulness_distributions(s)
    thr = [ln for ln in ax.get_lines() if ln.get_gid() == "threshold"]
    assert len(thr) == 1 and np.isclose(thr[0].get_xdata()[0], 0.66)
    n_nan = int(s["raterAgreeRatio"].isna().sum())
    assert ax.get_title() == (f"raterAgreeRatio (n={len(s) - n_nan} of {len(s)} contributors)\n"
                              f"left out: {n_nan} without raterAgreeRatio (no valid ratings)")
    plt.close(ax.figure)
    reasons = P.removal_reasons(s).tolist()
    assert reasons == ["rater agree ratio < 0.66", "kept", "kept", "no valid ratings",
                       "author CRH − 5·CRNH ratio < 0", "author mean note score < 0.05"]
    ax = P.helpfulness_removed(s)
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "kept"
    assert sum(p.get_width() for p in ax.patches) == len(s)
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# pseudo-raters, rules
# ---------------------------------------------------------------------------
def test_pseudo_rater_intervals(notes):
    ax = P.pseudo_rater_intervals(notes)
    segs = [c for c in ax.collections if isinstance(c, LineCollection)][0].get_segments()
    assert len(segs) == 5
    lows = sorted(s[0][1] for s in segs)
    assert np.isclose(lows[0], -0.31)
    gids = _gids(ax)
    assert "crh-threshold" in gids and "ucb-threshold" in gids
    plt.close(ax.figure)
    ax = P.pseudo_rater_intervals(notes, max_notes=3)
    assert len([c for c in ax.collections if isinstance(c, LineCollection)][0].get_segments()) == 3
    plt.close(ax.figure)
    internal = pd.DataFrame({"internalNoteIntercept": [0.1], "internalNoteIntercept_min": [0.0],
                             "internalNoteIntercept_max": [0.2]})
    ax = P.pseudo_rater_intervals(internal)
    assert _n_points(ax) == 1
    plt.close(ax.figure)


def test_rule_counts_and_flow(notes):
    counts = P.rule_counts(notes["coreActiveRules"])
    assert counts.to_dict() == {"InitialNMR (v1.0)": 5, "GeneralCRH (v1.0)": 2, "GeneralCRNH (v1.0)": 1,
                                "UcbCRNH (v1.0)": 1, "RejectLowIntercept (v1.0)": 1}
    # order follows the rule order, not first appearance
    assert P.rule_counts(["RejectLowIntercept (v1.0),InitialNMR (v1.0)", "Custom (v9)"]).index.tolist() == [
        "InitialNMR (v1.0)", "RejectLowIntercept (v1.0)", "Custom (v9)"]
    ax = P.rule_flow(notes["coreActiveRules"])
    assert [p.get_width() for p in ax.patches] == [5, 2, 1, 1, 1]
    colors = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors[1] == P.STATUS_COLORS[CRH] and colors[2] == P.STATUS_COLORS[CRNH]
    n_none = int(notes["coreActiveRules"].isna().sum())
    assert ax.get_title() == (f"Scoring rules in application order ({len(notes)} notes)\n"
                              f"left out: {n_none} with no active rule (not scored by Core)")
    assert "sets CRH = currently rated helpful" in _legend_labels(ax)
    plt.close(ax.figure)
    ax = P.rule_flow({"GeneralCRH (v1.0)": 3, "InitialNMR (v1.0)": 7})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["InitialNMR (v1.0)", "GeneralCRH (v1.0)"]
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# tag filter
# ---------------------------------------------------------------------------
def test_tag_outlier_weights_curve():
    ax = P.tag_outlier_weights(p40=0.4)
    curve = [ln for ln in ax.get_lines() if ln.get_gid() == "weight-curve"][0]
    x, w = curve.get_xdata(), curve.get_ydata()
    assert np.allclose(w, 1 / (1 + (x / 0.4) ** 5))
    p40 = [ln for ln in ax.get_lines() if ln.get_gid() == "p40"][0]
    assert np.isclose(p40.get_xdata()[0], 0.4)
    plt.close(ax.figure)
    d = np.linspace(0, 1, 101)
    ax = P.tag_outlier_weights(d)
    p40 = [ln for ln in ax.get_lines() if ln.get_gid() == "p40"][0]
    assert np.isclose(p40.get_xdata()[0], 0.4)
    plt.close(ax.figure)
    with pytest.raises(ValueError):
        P.tag_outlier_weights()


def test_tag_thresholds():
    thr = {f"{t}AdjustedRatio": 0.01 * (i + 1) for i, t in enumerate(schema.NOT_HELPFUL_TAGS)}
    ratios = pd.DataFrame({f"{t}AdjustedRatio": np.linspace(0, 0.2, 21) for t in schema.NOT_HELPFUL_TAGS})
    ax = P.tag_thresholds(thr, ratios=ratios)
    assert len(ax.patches) == 13
    assert np.isclose(ax.patches[1].get_width(), 0.02)  # TSV order kept
    q = [ln for ln in ax.get_lines() if ln.get_gid() == "ratio-q95"][0]
    assert np.allclose(q.get_xdata(), 0.19)
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# net helpful, status comparisons
# ---------------------------------------------------------------------------
def test_net_helpful_counts_and_plot():
    r = pd.DataFrame({"noteId": [1, 1, 1, 1, 2, 2], "raterParticipantId": [0, 1, 2, 3, 0, 9],
                      "helpfulNum": [1.0, 0.5, 1.0, 0.0, 0.0, 1.0]})
    p = pd.DataFrame({"raterParticipantId": [0, 1, 2, 3], "internalRaterFactor1": [-0.3, -0.1, 0.0, 0.4]})
    c = P.net_helpful_counts(r, p).set_index("noteId")
    assert c.loc[1, "negNetHelpful"] == 1 and c.loc[1, "posNetHelpful"] == 0  # factor 0 counts positive
    assert c.loc[2, "negNetHelpful"] == -1 and c.loc[2, "negRatingCount"] == 1  # rater 9 has no params
    assert c.loc[1, "netMinHelpful"] == 0
    lv = pd.DataFrame({"noteId": [1], "raterParticipantId": [0], "helpfulnessLevel": ["HELPFUL"]})
    assert P.net_helpful_counts(lv, p)["negNetHelpful"].tolist() == [1]
    status = pd.DataFrame({"noteId": [1, 2], "coreRatingStatus": [CRH, CRNH]})
    ax = P.net_helpful_by_side(c.reset_index(), status=status)
    assert _n_points(ax) == 2
    assert ax.get_title() == "Net helpful ratings by rater side (n=2 of 2 notes)"
    plt.close(ax.figure)
    # a note without a status (not scored by Core) is left out and counted
    ax = P.net_helpful_by_side(c.reset_index(), status=status.iloc[:1])
    assert _n_points(ax) == 1 and _legend_labels(ax)[0] == "CRH = currently rated helpful (1)"
    assert ax.get_title() == ("Net helpful ratings by rater side (n=1 of 2 notes)\n"
                              "left out: 1 not scored by Core (no coreRatingStatus)")
    mm = [ln for ln in ax.get_lines() if ln.get_gid() == "min-minority"]
    assert len(mm) == 2
    plt.close(ax.figure)


def test_status_crosstab_and_confusion():
    before = pd.DataFrame({"noteId": [1, 2, 3, 4], "finalRatingStatus": [NMR, NMR, CRH, CRNH]})
    after = pd.DataFrame({"noteId": [4, 3, 2, 5], "finalRatingStatus": [CRNH, NMR, CRH, NMR]})
    tab = P.status_crosstab(before, after)
    assert tab.loc[NMR, CRH] == 1 and tab.loc[CRH, NMR] == 1 and tab.loc[CRNH, CRNH] == 1
    assert tab.loc[NMR, "(absent)"] == 1 and tab.loc["(absent)", NMR] == 1
    assert int(tab.to_numpy().sum()) == 5
    ax = P.status_confusion(before, after)
    assert ax.get_title() == "Status changes: 4 of 5 notes"
    assert ax.get_xlabel().splitlines() == ["after", "CRH = currently rated helpful", "NMR = needs more ratings",
                                            "CRNH = currently rated not helpful", "(absent) = no status on that side"]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == tab.size
    plt.close(ax.figure)


def test_truth_agreement():
    t = pd.Series([True, True, False, False], index=[10, 11, 12, 13])
    preds = {"a": pd.Series([True, False, True, False], index=[10, 11, 12, 13]),
             "b": np.array([True, True, False, False])}
    ax = P.truth_agreement(t, preds)
    assert len(ax.patches) == 6
    heights = [p.get_height() for p in ax.patches]
    assert heights[:3] == [0.5, 0.5, 0.5] and heights[3:] == [1.0, 1.0, 1.0]
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# generic helpers
# ---------------------------------------------------------------------------
def test_rating_counts_threshold_status_threshold_hist():
    r = pd.DataFrame({"noteId": [1, 1, 1, 2, 3], "raterParticipantId": [0, 1, 2, 0, 1]})
    ax = P.rating_counts(r, threshold=2)
    assert sum(p.get_height() for p in ax.patches) == 3
    assert [ln.get_gid() for ln in ax.get_lines()] == ["threshold"]
    assert "2 below 2" in ax.get_title()
    plt.close(ax.figure)
    f = pd.DataFrame({"internalNoteIntercept": [0.40, 0.40, -0.05, -0.0499, np.nan],
                      "internalNoteFactor1": [0.5, 0.51, 0.0, 0.0, 0.0]})
    assert P.threshold_status(f).tolist() == [CRH, NMR, CRNH, NMR, NMR]  # "≥", "≤" and |f| ≤ 0.5
    ax = P.threshold_hist([1.0, 2.5, np.inf, np.nan], 2.5, label="x")
    assert ax.get_title() == "x: 2 of 3 ≥ 2.5 (1 NaN left out)"
    assert sum(p.get_height() for p in ax.patches) == 3  # +inf drawn in the last bin, NaN dropped
    plt.close(ax.figure)
    ax = P.threshold_hist([1.0, 2.5], 2.5, label="x", inclusive=False)
    assert ax.get_title() == "x: 0 of 2 > 2.5"
    plt.close(ax.figure)


def test_funnel_table_labels():
    f = pd.DataFrame({"stage": ["p", "p"], "step": ["a", "b"], "table": ["ratings", "notes"],
                      "rows_in": [10, 5], "rows_out": [9, 5], "dropped": [1, 0]})
    ax = P.funnel(f)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p: a [ratings]", "p: b [notes]"]
    plt.close(ax.figure)


def test_note_factor_intercept_free_categories():
    f = pd.DataFrame({"internalNoteIntercept": [0.5, 0.45], "internalNoteFactor1": [0.0, 0.1],
                      "agreement": ["both", "majority only"]})
    ax = P.note_factor_intercept(f, status_col="agreement")
    colors = {matplotlib.colors.to_hex(c.get_facecolor()[0]) for c in ax.collections
              if isinstance(c, PathCollection)}
    assert len(colors) == 2
    plt.close(ax.figure)
    # a caller's title keeps the counts, and the notes left out stay counted
    g = pd.concat([f, pd.DataFrame({"internalNoteIntercept": [np.nan], "internalNoteFactor1": [np.nan],
                                    "agreement": ["majority only"]})], ignore_index=True)
    ax = P.note_factor_intercept(g, status_col="agreement", title="Either rule")
    assert ax.get_title() == "Either rule (n=2 of 3 notes)\nleft out: 1 not scored by the model"
    assert _legend_labels(ax)[:2] == ["both (1)", "majority only (1)"]
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# On the official fixture outputs (real column names)
# ---------------------------------------------------------------------------
def test_figures_on_official_outputs(small_dir, tmp_path):
    out = small_dir / "official-all"
    sn = pd.read_csv(out / "scored_notes.tsv.gz", sep="\t")
    hs = pd.read_csv(out / "helpfulness_scores.tsv.gz", sep="\t")
    meta = json.loads((out / "prescoring" / "prescoring_meta.json").read_text())
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    ax = P.note_factor_intercept(sn, ax=axes[0, 0])
    assert ax is axes[0, 0]
    assert _n_points(ax) == int(sn["coreNoteIntercept"].notna().sum())
    counts = {c.get_label().split(" (")[0]: len(c.get_offsets()) for c in ax.collections
              if isinstance(c, PathCollection)}
    assert counts["CRH = currently rated helpful"] == int((sn["coreRatingStatus"] == CRH).sum())
    n_scored = int(sn["coreNoteIntercept"].notna().sum())
    assert ax.get_title() == (f"Notes: factor vs intercept (n={n_scored:,} of {len(sn):,} notes)\n"
                              f"left out: {len(sn) - n_scored:,} not scored by Core")
    _check_rater_factor_intercept(P.rater_factor_intercept(hs, ax=axes[0, 1]), hs)
    _check_rater_factor_intercept_kept(P.rater_factor_intercept(hs, hue_col="aboveHelpfulnessThreshold"), hs)
    _check_helpfulness_distributions(P.helpfulness_distributions(hs, ax=axes[0, 2]), hs)
    _check_pseudo_rater_intervals(P.pseudo_rater_intervals(sn, ax=axes[1, 0]), sn)
    rf = P.rule_flow(sn["coreActiveRules"], ax=axes[1, 1])
    n_general_crh = int(sn["coreActiveRules"].fillna("").str.contains("GeneralCRH (v1.0)", regex=False).sum())
    assert rf.patches[1].get_width() == n_general_crh
    thresholds = meta["metaScorerOutput"]["MFCoreScorer"]["tagFilteringThresholds"]
    _check_tag_thresholds(P.tag_thresholds(thresholds, ax=axes[1, 2]), thresholds)
    P.savefig(fig, "official", directory=tmp_path)
    plt.close(fig)


def _legend_labels(ax) -> list[str]:
    leg = ax.get_legend()
    assert leg is not None
    return [t.get_text() for t in leg.get_texts()]


def _check_rater_factor_intercept(ax, hs):
    """Default colouring of the official file (which has modelingGroup): one scatter per modeling
    group (the 8 largest; the rest pooled; no group = its own series), counts from the file; the
    title counts the raters left out (no core parameters)."""
    has = hs["coreRaterIntercept"].notna() & hs["coreRaterFactor1"].notna()
    groups = hs.loc[has, "modelingGroup"]
    counts = groups.dropna().astype(int).value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")  # ties: lower group first
    want = [f"modelingGroup {g} ({n})" for g, n in counts.iloc[:8].items()]
    if len(counts) > 8:
        want.append(f"{len(counts) - 8} other groups ({int(counts.iloc[8:].sum())})")
    if groups.isna().any():
        want.append(f"no modelingGroup ({int(groups.isna().sum())})")
    assert _legend_labels(ax) == want
    assert _n_points(ax) == int(has.sum())
    assert ax.get_title() == (f"Raters: factor vs intercept (n={int(has.sum()):,} of {len(hs):,} raters)\n"
                              f"left out: {int((~has).sum()):,} not scored by Core")
    assert ax.get_xlabel() == "rater factor (coreRaterFactor1)"


def _check_rater_factor_intercept_kept(ax, hs):
    """One scatter per aboveHelpfulnessThreshold value (True / False / NaN = not scored), each
    with as many points as helpfulness_scores rows of that value with both core parameters."""
    has = hs["coreRaterIntercept"].notna() & hs["coreRaterFactor1"].notna()
    kept = hs.loc[has, "aboveHelpfulnessThreshold"]
    expected = {"True": int((kept == True).sum()), "False": int((kept == False).sum()),  # noqa: E712
                "NaN": int(kept.isna().sum())}
    expected = {k: v for k, v in expected.items() if v}
    assert sum(expected.values()) == int(has.sum())  # the column holds only True / False / NaN
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    got = {c.get_label().split("=")[1].split(" (")[0] if "=" in c.get_label() else "NaN": len(c.get_offsets())
           for c in scatters}
    assert got == expected
    assert _n_points(ax) == int(has.sum())
    want = {"NaN": f"no aboveHelpfulnessThreshold ({expected.get('NaN')})"}
    assert sorted(_legend_labels(ax)) == sorted(want.get(k, f"aboveHelpfulnessThreshold={k} ({v})")
                                                for k, v in expected.items())
    # points are (factor, intercept) of those rows
    pts = np.concatenate([c.get_offsets() for c in scatters])
    want = hs.loc[has, ["coreRaterFactor1", "coreRaterIntercept"]].to_numpy(dtype=float)
    np.testing.assert_array_equal(np.sort(pts[:, 0]), np.sort(want[:, 0]))
    np.testing.assert_array_equal(np.sort(pts[:, 1]), np.sort(want[:, 1]))
    assert ax.get_xlabel() == "rater factor (coreRaterFactor1)"
    assert ax.get_ylabel() == "rater intercept (coreRaterIntercept)"
    assert "zero-factor" in _gids(ax)
    plt.close(ax.figure)


def _check_helpfulness_distributions(ax, hs):
    """Stacked histogram of raterAgreeRatio: kept (aboveHelpfulnessThreshold) and removed bars hold
    the non-NaN rows of each; the cut-off line sits at minRaterAgreeRatio = 0.66 (spec 03 §3.3)."""
    v = hs["raterAgreeRatio"]
    kept = hs["aboveHelpfulnessThreshold"] == True  # noqa: E712  (NaN = not kept)
    n_kept, n_removed = int((v.notna() & kept).sum()), int((v.notna() & ~kept).sum())
    assert len(ax.containers) == 2
    heights = [sum(bar.get_height() for bar in c) for c in ax.containers]
    assert heights == [n_kept, n_removed]
    assert _legend_labels(ax) == [f"kept ({n_kept})", f"removed ({n_removed})"]
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "threshold"]
    assert list(line.get_xdata()) == [0.66, 0.66]
    assert ax.get_xlabel() == "raterAgreeRatio" and ax.get_ylabel() == "contributors"
    n_nan = int(v.isna().sum())
    assert ax.get_title() == (f"raterAgreeRatio (n={len(v) - n_nan:,} of {len(v):,} contributors)\n"
                              f"left out: {n_nan:,} without raterAgreeRatio (no valid ratings)")


def _check_pseudo_rater_intervals(ax, sn):
    """One point and one [min, max] segment per shown note; the shown notes (at most max_notes =
    400, evenly spaced in intercept rank) are rows of scored_notes with all three core columns,
    sorted by intercept, from the lowest to the highest."""
    cols = ["coreNoteIntercept", "coreNoteInterceptMin", "coreNoteInterceptMax"]
    ok = sn[cols].notna().all(axis=1)
    n_ok = int(ok.sum())
    n_shown = min(400, n_ok)
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    (segments,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    y = points.get_offsets()[:, 1]
    assert len(y) == n_shown and len(segments.get_segments()) == n_shown
    assert np.all(np.diff(y) >= 0)
    assert y[0] == sn.loc[ok, "coreNoteIntercept"].min() and y[-1] == sn.loc[ok, "coreNoteIntercept"].max()
    rows = {tuple(r) for r in sn.loc[ok, cols].to_numpy(dtype=float)}
    for yi, seg in zip(y, segments.get_segments()):
        assert (yi, seg[0, 1], seg[1, 1]) in rows
    shown_statuses: dict[str, int] = {}
    for yi, seg in zip(y, segments.get_segments()):
        m = ok & (sn["coreNoteIntercept"] == yi) & (sn["coreNoteInterceptMin"] == seg[0, 1])
        status = sn.loc[m, "coreRatingStatus"].iloc[0]
        shown_statuses[status] = shown_statuses.get(status, 0) + 1
    labels = _legend_labels(ax)
    assert set(labels) == ({f"{P.STATUS_SHORT[s]} = {P.STATUS_LONG[s]} ({n})" for s, n in shown_statuses.items()}
                           | {"CRH 0.4", "UcbCRNH: max < -0.04"})
    n_none = int(sn["coreNoteIntercept"].isna().sum())
    n_no_bounds = len(sn) - n_ok - n_none
    tail = f"left out: {n_none:,} not scored by Core" + (
        f"; {n_no_bounds:,} without coreNoteInterceptMin / coreNoteInterceptMax" if n_no_bounds else "")
    assert ax.get_title().splitlines()[0].startswith(f"Pseudo-rater intervals (n={n_ok:,} of {len(sn):,} notes; ")
    assert ax.get_title().splitlines()[1] == tail
    gids = {ln.get_gid(): ln.get_ydata()[0] for ln in ax.get_lines()}
    assert gids == {"crh-threshold": 0.40, "ucb-threshold": -0.04}  # spec 03 §4: GeneralCRH, UcbCRNH
    assert ax.get_xlabel() == f"notes, sorted by intercept ({n_shown} of {n_ok} shown)"
    assert ax.get_ylabel() == "coreNoteIntercept with [min, max]"


def _check_tag_thresholds(ax, thresholds):
    """One bar per tag of prescoring_meta's tagFilteringThresholds, its width that threshold."""
    assert len(ax.patches) == len(thresholds)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    widths = {lab: bar.get_width() for lab, bar in zip(labels, ax.patches)}
    assert widths == {k[: -len("AdjustedRatio")].replace("notHelpful", ""): v for k, v in thresholds.items()}
    assert ax.get_xlabel() == "threshold on <tag>AdjustedRatio"
    assert ax.get_legend() is None  # no ratios given: nothing to mark


def test_docstring_examples_run():
    """Every public function's numpydoc example runs (and closes its figure)."""
    import doctest

    failures, attempted = doctest.testmod(P, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 20 and failures == 0


# ---------------------------------------------------------------------------
# Post-likes pilot (spec 07 B)
# ---------------------------------------------------------------------------
def test_rater_factor_buckets():
    f = pd.DataFrame({"finalFactor": [-0.5, -0.15, -0.1500001, 0.15, 0.3, np.nan]})
    ax = P.rater_factor_buckets(f)
    assert ax.get_title() == "Rater factors (n=5): L 2 / M 1 / R 2, split ±0.15\nleft out: 1 without a factor"
    splits = [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_gid() == "bucket-split"]
    assert splits == [-0.15, 0.15]
    assert sum(p.get_height() for p in ax.patches) == 5
    plt.close(ax.figure)
    side = pd.Series(["left", "left", "left", "right", "right", "right"], name="planted side")
    ax = P.rater_factor_buckets(f, by=side, split=0.2)
    assert ax.get_legend().get_title().get_text() == "planted side"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["left", "right"]
    assert ax.get_title().splitlines()[0].endswith("L 1 / M 3 / R 1, split ±0.2")
    plt.close(ax.figure)


def test_post_likes_by_side():
    posts = pd.DataFrame({
        "L_pos": [5, 0, 2, 7], "R_pos": [6, 9, 2, 1], "minLingers": [40, 40, 3, 30],
        "maxNeg": [0, 1, 0, 0], "eligibleForActiveState": pd.array([1, 1, 1, pd.NA], dtype="Int64"),
        "active": [True, False, False, False],
    })
    ax = P.post_likes_by_side(posts, min_pos_cutoff=4)
    labels = {c.get_label(): len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)}
    assert labels == {"active (1)": 1, "in pool, not active (0)": 0, "not in pool (3)": 3}
    corner = [ln for ln in ax.get_lines() if ln.get_gid() == "min-pos-cutoff"]
    assert len(corner) == 1 and list(corner[0].get_xydata()[1]) == [4, 4]
    plt.close(ax.figure)
    ax = P.post_likes_by_side(posts, pool=[True, True, False, True],
                              kind=pd.Series(["bridging", "partisan", "partisan", "bridging"]))
    labels = {c.get_label(): len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)}
    assert labels == {"in pool, not active, bridging (1)": 1, "in pool, not active, partisan (1)": 1,
                      "not in pool, partisan (1)": 1, "active, bridging (1)": 1}  # empty combinations left out
    assert not [ln for ln in ax.get_lines() if ln.get_gid() == "min-pos-cutoff"]
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# Legends spell statuses out; older output vintages
# ---------------------------------------------------------------------------
def test_status_abbreviations_spelled_out_in_legends(notes):
    """Every status abbreviation in a legend comes with its meaning (NYH included)."""
    frame = notes.assign(coreRatingStatus=[CRH, NYH, FR, CRNH, NMR, NMR])
    counts = {"c": pd.DataFrame({"noteId": frame["noteId"], "negNetHelpful": [5, 4, 0, -2, 1, 1],
                                 "posNetHelpful": [6, 1, 0, -1, 2, 0]})}
    figures = [P.note_factor_intercept(frame), P.pseudo_rater_intervals(frame),
               P.net_helpful_by_side(counts["c"], status=frame), P.rule_flow(frame["coreActiveRules"])]
    meaning = {short: P.STATUS_LONG[status] for status, short in P.STATUS_SHORT.items()}
    assert meaning["NYH"] == "needs your help" and meaning["CRH"] == "currently rated helpful"
    seen = set()
    for ax in figures:
        for text in _legend_labels(ax):
            for short, long in meaning.items():
                if f"{short} = " in text or text.startswith(f"{short} ") or f"sets {short}" in text:
                    if text.startswith(("CRH 0.4", "CRH: i", "CRNH: i")):
                        continue  # threshold lines, not statuses
                    assert f"{short} = {long}" in text, text
                    seen.add(short)
        plt.close(ax.figure)
    assert {"CRH", "NYH", "CRNH", "NMR", "FIRM_REJECT"} <= seen
    b = pd.Series([NYH, CRH], index=[1, 2])
    ax = P.status_confusion(b, pd.Series([NMR, CRH], index=[1, 2]))
    assert ax.get_xlabel().splitlines() == ["after", "CRH = currently rated helpful", "NMR = needs more ratings",
                                            "NYH = needs your help"]
    plt.close(ax.figure)


def _write_legacy(tmp_path):
    """Small outputs in the single-model layout of 2021–2023 (scoredNotes.tsv: noteIntercept,
    noteFactor1, ratingStatus; helpfulnessScores.tsv: raterIntercept, raterFactor1)."""
    sn = pd.DataFrame({
        "noteId": [11, 12, 13, 14, 15],
        "numRatings": [9, 7, 3, 12, 6],
        "noteIntercept": [0.45, -0.2, np.nan, 0.1, 0.41],
        "noteFactor1": [0.1, 0.3, np.nan, -0.2, -0.05],
        "ratingStatus": [CRH, CRNH, NMR, NMR, CRH],
        "firstTag": ["helpfulClear", np.nan, np.nan, np.nan, "helpfulInformative"],
    })
    hs = pd.DataFrame({
        "raterParticipantId": ["A1", "B2", "C3", "D4"],
        "crhCrnhRatioDifference": [0.5, np.nan, 0.1, np.nan],
        "meanNoteScore": [0.2, np.nan, 0.1, np.nan],
        "raterAgreeRatio": [0.9, 0.7, np.nan, 0.5],
        "aboveHelpfulnessThreshold": [True, True, False, False],
        "raterIntercept": [0.1, 0.05, np.nan, -0.1],
        "raterFactor1": [0.4, -0.3, np.nan, 0.2],
    })
    sn.to_csv(tmp_path / "scoredNotes.tsv", sep="\t", index=False)
    hs.to_csv(tmp_path / "helpfulnessScores.tsv", sep="\t", index=False)
    return sn, hs


def test_figures_on_legacy_outputs(tmp_path):
    """Every figure that reads output frames accepts the 2021–2023 layout, read with
    cnlab.io.read_output or with plain pandas."""
    from cnlab.io import read_output

    sn, hs = _write_legacy(tmp_path)
    for notes_frame, raters_frame in ((read_output(tmp_path / "scoredNotes.tsv"),
                                       read_output(tmp_path / "helpfulnessScores.tsv")),
                                      (pd.read_csv(tmp_path / "scoredNotes.tsv", sep="\t"),
                                       pd.read_csv(tmp_path / "helpfulnessScores.tsv", sep="\t"))):
        ax = P.note_factor_intercept(notes_frame)
        scored = sn["noteIntercept"].notna()
        assert _n_points(ax) == int(scored.sum())
        want = {f"{P.STATUS_SHORT[st]} = {P.STATUS_LONG[st]} ({n})"
                for st, n in sn.loc[scored, "ratingStatus"].value_counts().items()}
        assert set(_legend_labels(ax)) >= want
        assert ax.get_xlabel() == "note factor (coreNoteFactor1)"
        assert ax.get_title().endswith(f"left out: {int((~scored).sum())} not scored by Core")
        pts = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
        np.testing.assert_array_equal(np.sort(pts[:, 1]), np.sort(sn.loc[scored, "noteIntercept"].to_numpy()))
        plt.close(ax.figure)
        # the legacy names still work as explicit arguments
        ax = P.note_factor_intercept(notes_frame, intercept_col="noteIntercept", factor_col="noteFactor1",
                                     status_col="ratingStatus")
        assert _n_points(ax) == int(scored.sum())
        plt.close(ax.figure)
        ax = P.rater_factor_intercept(raters_frame)
        has = hs["raterIntercept"].notna()
        assert _n_points(ax) == int(has.sum())
        assert ax.get_title().endswith(f"left out: {int((~has).sum())} not scored by Core")
        plt.close(ax.figure)
        ax = P.rater_factor_hist_by_group(raters_frame, pd.DataFrame({"participantId": ["A1", "B2"],
                                                                       "modelingGroup": [13.0, 2.0]}))
        assert sum(len(p.get_xy()) > 0 for p in ax.patches) == 3  # groups 13, 2 and "no modelingGroup"
        plt.close(ax.figure)
        for ax in (P.helpfulness_distributions(raters_frame), P.helpfulness_removed(raters_frame),
                   P.status_confusion(notes_frame, notes_frame),
                   P.net_helpful_by_side(pd.DataFrame({"noteId": [11, 12], "negNetHelpful": [5, 0],
                                                       "posNetHelpful": [4, 1]}), status=notes_frame)):
            plt.close(ax.figure)
        # i ≥ 0.40 with |f| ≤ 0.5 -> CRH (notes 11, 15); note 12: −0.2 > −0.05 − 0.8·0.3 = −0.29 -> NMR
        region = P.threshold_status(notes_frame, intercept_col="noteIntercept", factor_col="noteFactor1")
        assert region.tolist() == [CRH, NMR, NMR, NMR, CRH]
        # finalRatingStatus of a single-model file is its ratingStatus
        tab = P.status_crosstab(notes_frame, notes_frame)
        assert int(np.trace(tab.to_numpy())) == len(sn)
        # pseudo-rater bounds did not exist then: a clear error naming the missing columns
        with pytest.raises(schema.SchemaError, match="coreNoteInterceptMin"):
            P.pseudo_rater_intervals(notes_frame)
