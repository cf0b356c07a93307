"""Figures for cnlab results (matplotlib + seaborn, axes-level).

Every plotting function takes DataFrames with the column names of the
official outputs (``scored_notes``, ``helpfulness_scores``) or of cnlab's own
frames (``internalNoteIntercept`` ...), draws on ``ax`` (a new figure when
``ax`` is None) and returns that :class:`~matplotlib.axes.Axes`.  Reference
artists (threshold lines, bands) carry a ``gid`` (e.g. ``"crh-threshold"``)
so that tests and users can find them.

:func:`savefig` writes PNG and SVG files whose bytes depend only on the
figure (no dates, fixed SVG hash salt, fixed dpi).

The thresholds drawn are the Core scorer's defaults (spec 03 §4–§5); they are
keyword arguments so that "what if" figures can draw others.

This module never imports TensorFlow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

# Headless (CI, notebooks executed by nbclient set MPLBACKEND themselves):
# pick Agg before pyplot is imported so that no GUI toolkit is probed.
if (
    "matplotlib.pyplot" not in sys.modules
    and not os.environ.get("MPLBACKEND")
    and not os.environ.get("DISPLAY")
    and not os.environ.get("WAYLAND_DISPLAY")
    and sys.platform.startswith("linux")
):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnlab import schema  # noqa: E402

__all__ = [
    "STATUS_COLORS",
    "STATUS_ORDER",
    "RULE_ORDER",
    "savefig",
    "figures_dir",
    "note_factor_intercept",
    "rater_factor_intercept",
    "rater_factor_hist_by_group",
    "loss_curves",
    "convergence_summary",
    "convergence_table",
    "funnel",
    "helpfulness_distributions",
    "helpfulness_removed",
    "removal_reasons",
    "pseudo_rater_intervals",
    "rule_flow",
    "rule_counts",
    "tag_outlier_weights",
    "tag_thresholds",
    "net_helpful_by_side",
    "net_helpful_counts",
    "status_confusion",
    "status_crosstab",
    "param_differences",
    "truth_agreement",
    "rating_counts",
    "threshold_status",
    "threshold_hist",
    "rater_factor_buckets",
    "post_likes_by_side",
]

# ---------------------------------------------------------------------------
# Constants: colours, rule order, default thresholds (Core scorer, spec 03 §4)
# ---------------------------------------------------------------------------
STATUS_ORDER: tuple[str, ...] = (schema.CRH, schema.NMR, schema.NYH, schema.FIRM_REJECT, schema.CRNH)
"""Order in which statuses are listed in legends and confusion matrices."""

STATUS_COLORS: dict[str, str] = {
    schema.CRH: "#1b9e4b",
    schema.CRNH: "#d62728",
    schema.NMR: "#9e9e9e",
    schema.FIRM_REJECT: "#6a3d9a",
    schema.NYH: "#ff9f1c",
}
_OTHER_COLOR = "#4c72b0"

STATUS_SHORT: dict[str, str] = {
    schema.CRH: "CRH",
    schema.CRNH: "CRNH",
    schema.NMR: "NMR",
    schema.FIRM_REJECT: "FIRM_REJECT",
    schema.NYH: "NYH",
}

# Rule base names (display name without the version) in application order
# (spec 03 §4 table, then the meta-scorer rules of spec 03 §7), with the
# status each one sets.  Used for ordering and colouring rule_flow.
RULE_ORDER: tuple[tuple[str, str | None], ...] = (
    ("InitialNMR", schema.NMR),
    ("GeneralCRH", schema.CRH),
    ("GeneralCRNH", schema.CRNH),
    ("UcbCRNH", schema.CRNH),
    ("RatioCRNH", schema.CRNH),
    ("NmCRNH", schema.CRNH),
    ("GeneralCRHInertia", schema.CRH),
    ("TagFilter", schema.FIRM_REJECT),
    ("CRHSuperThreshold", schema.CRH),
    ("ElevatedCRHInertia", schema.CRH),
    ("FilterIncorrect", schema.FIRM_REJECT),
    ("FilterLowDiligence", schema.FIRM_REJECT),
    ("FilterLargeFactor", schema.FIRM_REJECT),
    ("RejectLowIntercept", schema.FIRM_REJECT),
    ("MinMinorityRaters", schema.NYH),
    ("RaterBalance", schema.NYH),
    ("NoHighVolIntercept", schema.NYH),
    ("NoCorrelatedIntercept", schema.NYH),
    ("PopulationSampledIntercept", schema.NYH),
)

CRH_THRESHOLD = 0.40
"""GeneralCRH: intercept ≥ 0.40 (official ``crhThreshold``)."""
CRNH_INTERCEPT = -0.05
"""GeneralCRNH: intercept ≤ −0.05 − 0.8·|f| (official ``crnhThresholdIntercept``)."""
CRNH_FACTOR_MULTIPLIER = -0.8
"""GeneralCRNH slope (official ``crnhThresholdNoteFactorMultiplier``)."""
FACTOR_THRESHOLD = 0.5
"""FilterLargeFactor: CRH blocked when |f| > 0.5 (official ``factorThreshold``)."""
UCB_CRNH_THRESHOLD = -0.04
"""UcbCRNH: CRNH when the pseudo-rater upper bound < −0.04."""
MIN_MINORITY_NET_HELPFUL = 4
"""MinMinorityRaters: CRH needs ≥ 4 net helpful ratings from each factor side."""
HELPFULNESS_THRESHOLDS: dict[str, float] = {
    "raterAgreeRatio": 0.66,  # minRaterAgreeRatio
    "raterAgreeRatioKeyWithHarassmentAbusePenalty": 0.66,
    "crhCrnhRatioDifference": 0.0,  # minCRHVsCRNHRatio
    "meanNoteScore": 0.05,  # minMeanNoteScore
}
"""Contributor-helpfulness cut-offs (spec 03 §3.3)."""
TAG_PERCENTILE = 40
"""Distance percentile used to normalize tag-outlier weights (spec 03 §5)."""
TAG_WEIGHT_EXPONENT = 5
"""Exponent of the tag-outlier weight 1/(1+(d/p40)^5)."""

DPI = 110
"""Fixed resolution of saved PNG files."""
_SVG_HASHSALT = "cnlab"
_METADATA_PNG = {"Software": None, "Creator": "cnlab"}
_METADATA_SVG = {"Date": None, "Creator": "cnlab"}


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------
def figures_dir(directory: str | os.PathLike | None = None) -> Path:
    """Directory :func:`savefig` writes to.

    ``directory`` if given, else ``$CNLAB_FIGURES_DIR``, else ``figures/`` at
    the repository root (next to the ``cnlab`` package).
    """
    if directory is not None:
        return Path(directory)
    env = os.environ.get("CNLAB_FIGURES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "figures"


def savefig(
    fig: Figure | Axes, name: str, *, directory: str | os.PathLike | None = None
) -> tuple[Path, Path]:
    """Write ``fig`` as ``<name>.png`` and ``<name>.svg`` with stable bytes.

    Saving the same figure twice gives byte-identical files: fixed dpi, no
    date or software-version metadata, a fixed SVG hash salt, and each file is
    written to a temporary name and renamed (no half-written figures).

    Parameters
    ----------
    fig
        A figure, or an Axes (its figure is saved).
    name
        File stem, e.g. ``"02_factor_intercept"`` (a ``.png``/``.svg`` suffix
        is dropped).
    directory
        Output folder; default :func:`figures_dir` (``$CNLAB_FIGURES_DIR`` or
        ``<repo>/figures``).  Created if needed.

    Returns
    -------
    (png_path, svg_path)

    Examples
    --------
    >>> import tempfile
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> png, svg = savefig(fig, "demo", directory=tempfile.mkdtemp())
    >>> png.suffix, svg.suffix
    ('.png', '.svg')
    >>> plt.close(fig)
    """
    if isinstance(fig, Axes):
        fig = fig.figure
    stem = Path(name).name
    for suffix in (".png", ".svg"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    outdir = figures_dir(directory)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": _SVG_HASHSALT, "svg.fonttype": "path"}):
        for fmt, meta in (("png", _METADATA_PNG), ("svg", _METADATA_SVG)):
            path = outdir / f"{stem}.{fmt}"
            tmp = outdir / f".{stem}.{fmt}.tmp"
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta, bbox_inches="tight")
            os.replace(tmp, path)
            paths.append(path)
    return paths[0], paths[1]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _pick(frame: pd.DataFrame, preferred: str | None, fallbacks: Sequence[str], *, what: str) -> str:
    """Return the first of ``preferred`` + ``fallbacks`` present in ``frame``."""
    candidates = ([preferred] if preferred else []) + [c for c in fallbacks if c != preferred]
    for c in candidates:
        if c in frame.columns:
            return c
    raise schema.SchemaError(f"{what}: none of the columns {candidates} present")


def _status_order(values: Iterable[Any]) -> list[str]:
    present = [v for v in pd.unique(pd.Series(list(values), dtype=object)) if pd.notna(v)]
    known = [s for s in STATUS_ORDER if s in present]
    return known + sorted(str(v) for v in present if v not in STATUS_ORDER)


def _status_color(status: str) -> str:
    return STATUS_COLORS.get(status, _OTHER_COLOR)


def _as_float(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _status_col_for(frame: pd.DataFrame, intercept_col: str, status_col: str | None) -> str | None:
    if status_col is not None:
        return status_col if status_col in frame.columns else None
    candidates = []
    if intercept_col.endswith("NoteIntercept"):
        candidates.append(intercept_col[: -len("NoteIntercept")] + "RatingStatus")
    candidates += [schema.RATING_STATUS, "finalRatingStatus"]
    for c in candidates:
        if c in frame.columns:
            return c
    return None


# ---------------------------------------------------------------------------
# Notes: factor vs intercept (Birdwatch paper, Figure 2)
# ---------------------------------------------------------------------------
def note_factor_intercept(
    scored_notes: pd.DataFrame,
    *,
    intercept_col: str = "coreNoteIntercept",
    factor_col: str = "coreNoteFactor1",
    status_col: str | None = None,
    crh_threshold: float = CRH_THRESHOLD,
    crnh_intercept: float = CRNH_INTERCEPT,
    crnh_factor_multiplier: float = CRNH_FACTOR_MULTIPLIER,
    factor_threshold: float = FACTOR_THRESHOLD,
    point_size: float = 8.0,
    ax: Axes | None = None,
) -> Axes:
    """Scatter notes by factor (x) and intercept (y), coloured by status.

    Draws the decision geometry of the Core rules (spec 03 §4):

    * CRH line ``i = 0.40`` (GeneralCRH; ``gid="crh-threshold"``),
    * CRNH wedge ``i = −0.05 − 0.8·|f|`` (GeneralCRNH, "≤";
      ``gid="crnh-threshold"``),
    * the band ``|f| ≤ 0.5`` outside which a CRH note is filtered
      (FilterLargeFactor; ``gid="factor-band"``).

    Notes without an intercept (not in the MF) are left out.

    Parameters
    ----------
    scored_notes
        Official ``scored_notes`` or a cnlab scored-notes frame.  If
        ``intercept_col``/``factor_col`` are absent, ``internalNoteIntercept``
        / ``internalNoteFactor1`` are used.
    status_col
        Status column; default ``<prefix>RatingStatus`` matching
        ``intercept_col`` (``coreRatingStatus``), else
        ``internalRatingStatus`` or ``finalRatingStatus``.  Without one, all
        points share one colour.

    Examples
    --------
    >>> notes = pd.DataFrame({"coreNoteIntercept": [0.5, 0.0, -0.3],
    ...     "coreNoteFactor1": [0.1, -0.6, 0.2],
    ...     "coreRatingStatus": ["CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS",
    ...                          "CURRENTLY_RATED_NOT_HELPFUL"]})
    >>> ax = note_factor_intercept(notes)
    >>> len(ax.collections)  # one scatter per status
    3
    >>> plt.close(ax.figure)
    """
    icol = _pick(scored_notes, intercept_col, [schema.NOTE_INTERCEPT], what="note_factor_intercept")
    fcol = _pick(scored_notes, factor_col, [schema.NOTE_FACTOR1], what="note_factor_intercept")
    scol = _status_col_for(scored_notes, icol, status_col)
    ax = _axes(ax)
    x = _as_float(scored_notes[fcol])
    y = _as_float(scored_notes[icol])
    ok = np.isfinite(x) & np.isfinite(y)
    if scol is None:
        ax.scatter(x[ok], y[ok], s=point_size, color=_OTHER_COLOR, alpha=0.7, linewidths=0, label="notes")
    else:
        status = scored_notes[scol].astype(object).to_numpy()
        extra = 0
        for st in _status_order(status[ok]):
            m = ok & (status == st)
            color = STATUS_COLORS.get(st)
            if color is None:  # free-form categories (e.g. "majority only"): tab10 colours
                color, extra = plt.get_cmap("tab10")(extra % 10), extra + 1
            ax.scatter(
                x[m], y[m], s=point_size, color=color, alpha=0.75, linewidths=0,
                label=f"{STATUS_SHORT.get(st, st)} ({int(m.sum())})",
            )
    xmax = max(1.0, float(np.nanmax(np.abs(x[ok]))) * 1.05) if ok.any() else 1.0
    ax.axvspan(-factor_threshold, factor_threshold, color="#1b9e4b", alpha=0.06, gid="factor-band",
               label=f"|f| ≤ {factor_threshold:g}")
    ax.axhline(crh_threshold, color=STATUS_COLORS[schema.CRH], ls="--", lw=1.2, gid="crh-threshold",
               label=f"CRH: i ≥ {crh_threshold:g}")
    xs = np.linspace(-xmax, xmax, 201)
    ax.plot(xs, crnh_intercept + crnh_factor_multiplier * np.abs(xs), color=STATUS_COLORS[schema.CRNH],
            ls="--", lw=1.2, gid="crnh-threshold",
            label=f"CRNH: i ≤ {crnh_intercept:g} − {abs(crnh_factor_multiplier):g}|f|")
    ax.set_xlim(-xmax, xmax)
    if ok.any():
        # show the data and the wedge's apex, not the whole wedge
        lo = min(float(np.nanmin(y[ok])), crnh_intercept - 0.1)
        hi = max(float(np.nanmax(y[ok])), crh_threshold)
        pad = 0.05 * (hi - lo)
        ax.set_ylim(max(lo, -1.5) - pad, hi + pad)
    ax.set_xlabel(f"note factor ({fcol})")
    ax.set_ylabel(f"note intercept ({icol})")
    ax.set_title(f"Notes: factor vs intercept (n={int(ok.sum())})")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no hidden points
    return ax


# ---------------------------------------------------------------------------
# Raters
# ---------------------------------------------------------------------------
def rater_factor_intercept(
    rater_params: pd.DataFrame,
    *,
    intercept_col: str = "coreRaterIntercept",
    factor_col: str = "coreRaterFactor1",
    hue_col: str | None = "aboveHelpfulnessThreshold",
    point_size: float = 8.0,
    ax: Axes | None = None,
) -> Axes:
    """Scatter raters by factor (x) and intercept (y).

    Raters without parameters (NaN) are left out.  With ``hue_col`` present
    (default ``aboveHelpfulnessThreshold``) points are split by its values.

    Parameters
    ----------
    rater_params
        Official ``helpfulness_scores`` or ``MFResult.rater_params``
        (``internalRaterIntercept``/``internalRaterFactor1`` are the
        fallbacks).

    Examples
    --------
    >>> raters = pd.DataFrame({"internalRaterIntercept": [0.1, -0.2],
    ...                        "internalRaterFactor1": [0.5, -0.4]})
    >>> ax = rater_factor_intercept(raters)
    >>> len(ax.collections[0].get_offsets())
    2
    >>> plt.close(ax.figure)
    """
    icol = _pick(rater_params, intercept_col, [schema.RATER_INTERCEPT], what="rater_factor_intercept")
    fcol = _pick(rater_params, factor_col, [schema.RATER_FACTOR1], what="rater_factor_intercept")
    ax = _axes(ax)
    x = _as_float(rater_params[fcol])
    y = _as_float(rater_params[icol])
    ok = np.isfinite(x) & np.isfinite(y)
    if hue_col is not None and hue_col in rater_params.columns:
        hue = rater_params[hue_col].astype(object)
        hue_str = hue.where(hue.notna(), "NaN").astype(str).to_numpy()
        levels = sorted(set(hue_str[ok]), key=lambda v: (v == "NaN", v))
        palette = {"True": "#1b9e4b", "False": "#d62728", "NaN": "#9e9e9e"}
        for i, lv in enumerate(levels):
            m = ok & (hue_str == lv)
            ax.scatter(x[m], y[m], s=point_size, alpha=0.7, linewidths=0,
                       color=palette.get(lv, plt.get_cmap("tab10")(i % 10)),
                       label=f"{hue_col}={lv} ({int(m.sum())})")
        ax.legend(fontsize="x-small")
    else:
        ax.scatter(x[ok], y[ok], s=point_size, alpha=0.7, linewidths=0, color=_OTHER_COLOR)
    ax.axvline(0.0, color="k", lw=0.6, alpha=0.5, gid="zero-factor")
    ax.set_xlabel(f"rater factor ({fcol})")
    ax.set_ylabel(f"rater intercept ({icol})")
    ax.set_title(f"Raters: factor vs intercept (n={int(ok.sum())})")
    return ax


def rater_factor_hist_by_group(
    rater_params: pd.DataFrame,
    enrollment: pd.DataFrame | None = None,
    *,
    factor_col: str = "coreRaterFactor1",
    group_col: str = schema.MODELING_GROUP,
    rater_id_col: str = schema.RATER_ID,
    participant_id_col: str = schema.PARTICIPANT_ID,
    bins: int | Sequence[float] = 30,
    max_groups: int = 6,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of rater factors, one step-outline per modeling group.

    The group comes from ``enrollment`` (joined on rater id = participant id)
    or, when ``enrollment`` is None, from ``rater_params[group_col]``.  The
    ``max_groups`` largest groups get their own outline; the rest are pooled
    as ``"other"``.  One ``Polygon`` patch per drawn group.

    Examples
    --------
    >>> raters = pd.DataFrame({"raterParticipantId": [0, 1, 2, 3],
    ...                        "internalRaterFactor1": [-0.5, -0.4, 0.3, 0.6]})
    >>> enr = pd.DataFrame({"participantId": [0, 1, 2, 3], "modelingGroup": [1.0, 1.0, 2.0, 2.0]})
    >>> ax = rater_factor_hist_by_group(raters, enr)
    >>> len(ax.patches)
    2
    >>> plt.close(ax.figure)
    """
    fcol = _pick(rater_params, factor_col, [schema.RATER_FACTOR1], what="rater_factor_hist_by_group")
    if enrollment is not None:
        enr = enrollment[[participant_id_col, group_col]].rename(columns={participant_id_col: rater_id_col})
        base = rater_params[[rater_id_col, fcol]]
        frame = base.merge(enr, on=rater_id_col, how="left")
    else:
        schema.require_columns(rater_params, [group_col], where="rater_factor_hist_by_group")
        frame = rater_params[[fcol, group_col]]
    f = _as_float(frame[fcol])
    g = frame[group_col].astype(object).to_numpy()
    ok = np.isfinite(f)
    labels = np.array(["none" if pd.isna(v) else _group_label(v) for v in g], dtype=object)
    counts = pd.Series(labels[ok]).value_counts()
    keep = list(counts.index[:max_groups])
    labels = np.where(np.isin(labels, keep), labels, "other")
    order = sorted(set(labels[ok]), key=lambda s: (s == "other", s == "none", -int((labels[ok] == s).sum()), s))
    ax = _axes(ax)
    edges = np.histogram_bin_edges(f[ok], bins=bins) if ok.any() else np.linspace(-1, 1, 11)
    cmap = plt.get_cmap("tab10")
    for i, lab in enumerate(order):
        m = ok & (labels == lab)
        ax.hist(f[m], bins=edges, histtype="step", lw=1.5, color=cmap(i % 10),
                label=f"{group_col} {lab} (n={int(m.sum())})")
    ax.axvline(0.0, color="k", lw=0.6, alpha=0.5, gid="zero-factor")
    ax.set_xlabel(f"rater factor ({fcol})")
    ax.set_ylabel("raters")
    ax.set_title("Rater factors by group")
    ax.legend(fontsize="x-small")
    return ax


def _group_label(v: Any) -> str:
    try:
        fv = float(v)
        return str(int(fv)) if fv.is_integer() else str(v)
    except (TypeError, ValueError):
        return str(v)


# ---------------------------------------------------------------------------
# MF convergence
# ---------------------------------------------------------------------------
def _history(obj: Any) -> np.ndarray:
    h = getattr(obj, "loss_history", obj)
    return np.asarray(h, dtype=np.float64).ravel()


def loss_curves(
    results: Mapping[str, Any],
    *,
    excess: bool = True,
    floor: float = 1e-10,
    ax: Axes | None = None,
) -> Axes:
    """Loss per optimizer step, one line per run (e.g. both solvers).

    Parameters
    ----------
    results
        ``{label: loss history}``; values are arrays or objects with a
        ``loss_history`` attribute (:class:`cnlab.mf.MFResult`).
    excess
        Plot ``L_t − L*`` on a log scale, ``L*`` = smallest loss of all runs
        (values below ``floor`` are drawn at ``floor``); this makes the
        difference between an early stop and the optimum visible.  With
        ``False`` plot the raw loss.

    Examples
    --------
    >>> ax = loss_curves({"official": [1.0, 0.5, 0.4], "exact": [0.6, 0.39]})
    >>> len(ax.get_lines())
    2
    >>> plt.close(ax.figure)
    """
    ax = _axes(ax)
    hists = {str(k): _history(v) for k, v in results.items()}
    finite = [h[np.isfinite(h)] for h in hists.values() if np.isfinite(h).any()]
    best = min(float(h.min()) for h in finite) if finite else 0.0
    for label, h in hists.items():
        steps = np.arange(1, len(h) + 1)
        yv = np.maximum(h - best, floor) if excess else h
        final = h[np.isfinite(h)][-1] if np.isfinite(h).any() else np.nan
        ax.plot(steps, yv, lw=1.4, marker="." if len(h) < 30 else None,
                label=f"{label}: {len(h)} steps, final {final:.6g}")
    if excess:
        ax.set_yscale("log")
        ax.set_ylabel(f"loss − best final loss ({best:.6g})")
    else:
        ax.set_ylabel("regularized loss")
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_title("MF loss curves")
    ax.legend(fontsize="x-small")
    return ax


def convergence_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run: steps, final loss, gap to the best final loss, stop reason.

    Examples
    --------
    >>> convergence_table({"a": [1.0, 0.5], "b": [0.7, 0.4]})["gap"].round(3).tolist()
    [0.1, 0.0]
    """
    rows = []
    for label, obj in results.items():
        h = _history(obj)
        fin = h[np.isfinite(h)]
        rows.append({
            "run": str(label),
            "n_steps": int(getattr(obj, "n_steps", len(h)) or len(h)),
            "final_loss": float(fin[-1]) if len(fin) else np.nan,
            "stop_reason": str(getattr(obj, "stop_reason", "")),
            "train_mse": float(getattr(obj, "train_mse", np.nan) or np.nan),
        })
    out = pd.DataFrame(rows)
    out["gap"] = out["final_loss"] - out["final_loss"].min()
    return out


def convergence_summary(results: Mapping[str, Any], *, ax: Axes | None = None) -> Axes:
    """Horizontal bars of the number of steps per run, annotated with the final loss.

    Each bar's label reads ``final loss (gap to best), stop reason``.

    Examples
    --------
    >>> ax = convergence_summary({"official": [1.0, 0.5, 0.41], "exact": [0.6, 0.4]})
    >>> len(ax.patches)
    2
    >>> plt.close(ax.figure)
    """
    table = convergence_table(results)
    ax = _axes(ax, figsize=(6.4, 1.2 + 0.6 * len(table)))
    ypos = np.arange(len(table))
    ax.barh(ypos, table["n_steps"], color=[plt.get_cmap("tab10")(i) for i in range(len(table))])
    for y, row in zip(ypos, table.itertuples()):
        note = f" L={row.final_loss:.6g} (+{row.gap:.2e})"
        if row.stop_reason and row.stop_reason not in ("None", "nan"):
            note += f", {row.stop_reason}"
        ax.text(row.n_steps, y, note, va="center", fontsize="x-small")
    ax.set_yticks(ypos, table["run"])
    ax.invert_yaxis()
    ax.set_xlabel("optimizer steps")
    ax.set_xlim(0, max(1, table["n_steps"].max()) * 1.9)
    ax.set_title("Convergence")
    return ax


def param_differences(
    left: pd.DataFrame | pd.Series | np.ndarray,
    right: pd.DataFrame | pd.Series | np.ndarray | None = None,
    *,
    col: str = schema.NOTE_INTERCEPT,
    on: str = schema.NOTE_ID,
    bins: int = 40,
    label: str = "left − right",
    ax: Axes | None = None,
) -> Axes:
    """Histogram of per-entity parameter differences (e.g. official-loop − exact).

    ``left``/``right`` are frames joined on ``on`` and differenced in
    ``col``; or pass the differences directly as ``left`` (array/Series) with
    ``right=None``.  Vertical lines mark 0 and ±max |difference|
    (``gid="max-abs-diff"``).

    Examples
    --------
    >>> a = pd.DataFrame({"noteId": [1, 2], "internalNoteIntercept": [0.30, 0.41]})
    >>> b = pd.DataFrame({"noteId": [1, 2], "internalNoteIntercept": [0.31, 0.40]})
    >>> ax = param_differences(a, b)
    >>> ax.get_title()
    'internalNoteIntercept: left − right (n=2, max |Δ|=0.01)'
    >>> plt.close(ax.figure)
    """
    if right is None:
        d = _as_float(left)
    else:
        m = pd.DataFrame(left)[[on, col]].merge(pd.DataFrame(right)[[on, col]], on=on, suffixes=("_l", "_r"))
        d = _as_float(m[f"{col}_l"]) - _as_float(m[f"{col}_r"])
    d = d[np.isfinite(d)]
    ax = _axes(ax)
    ax.hist(d, bins=bins, color=_OTHER_COLOR, alpha=0.85)
    mx = float(np.max(np.abs(d))) if len(d) else 0.0
    ax.axvline(0.0, color="k", lw=0.8)
    for s in (-1, 1):
        ax.axvline(s * mx, color="#d62728", ls=":", lw=1, gid="max-abs-diff")
    ax.set_xlabel(f"Δ {col}")
    ax.set_ylabel("count")
    ax.set_title(f"{col}: {label} (n={len(d)}, max |Δ|={mx:.2g})")
    return ax


# ---------------------------------------------------------------------------
# Preprocessing funnel
# ---------------------------------------------------------------------------
def funnel(funnel_frame: Any, *, ax: Axes | None = None) -> Axes:
    """Rows kept and dropped at each preprocessing step (stacked horizontal bars).

    Parameters
    ----------
    funnel_frame
        Frame with columns ``stage, step, rows_in, rows_out, dropped`` (or a
        :class:`cnlab.preprocess.Funnel`, via ``to_frame()``).  One bar per
        row, top to bottom in order: kept part (``gid="kept"``) and dropped
        part (``gid="dropped"``).  With a ``table`` column holding several
        tables (ratings, notes ...) the table is appended to the label; rows
        of different tables have different units, so consider plotting one
        table at a time.

    Examples
    --------
    >>> f = pd.DataFrame({"stage": ["ratings", "ratings"], "step": ["read", "prefilter"],
    ...                   "rows_in": [100, 100], "rows_out": [100, 80], "dropped": [0, 20]})
    >>> ax = funnel(f)
    >>> len(ax.patches)  # kept + dropped per step
    4
    >>> plt.close(ax.figure)
    """
    frame = funnel_frame.to_frame() if hasattr(funnel_frame, "to_frame") and not isinstance(
        funnel_frame, (pd.DataFrame, pd.Series)) else pd.DataFrame(funnel_frame)
    schema.require_columns(frame, ["stage", "step", "rows_in", "rows_out"], where="funnel")
    rows_out = _as_float(frame["rows_out"])
    dropped = _as_float(frame["dropped"]) if "dropped" in frame.columns else _as_float(frame["rows_in"]) - rows_out
    labels = [f"{st}: {sp}" for st, sp in zip(frame["stage"].astype(str), frame["step"].astype(str))]
    if "table" in frame.columns and frame["table"].nunique() > 1:
        labels = [f"{lab} [{t}]" for lab, t in zip(labels, frame["table"].astype(str))]
    ax = _axes(ax, figsize=(7.5, 1.0 + 0.35 * len(frame)))
    ypos = np.arange(len(frame))
    kept = ax.barh(ypos, rows_out, color="#4c72b0", label="kept")
    drop = ax.barh(ypos, dropped, left=rows_out, color="#d62728", label="dropped")
    for p in kept.patches:
        p.set_gid("kept")
    for p in drop.patches:
        p.set_gid("dropped")
    for y, (k, d) in enumerate(zip(rows_out, dropped)):
        txt = f" {int(k):,}" + (f" (−{int(d):,})" if d > 0 else "")
        ax.text(k + max(d, 0), y, txt, va="center", fontsize="x-small")
    ax.set_yticks(ypos, labels, fontsize="small")
    ax.invert_yaxis()
    xmax = float(np.nanmax(rows_out + np.maximum(dropped, 0))) if len(frame) else 1.0
    ax.set_xlim(0, xmax * 1.3)
    ax.set_xlabel("rows")
    ax.set_title("Preprocessing funnel")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


# ---------------------------------------------------------------------------
# Contributor helpfulness
# ---------------------------------------------------------------------------
def helpfulness_distributions(
    helpfulness_scores: pd.DataFrame,
    *,
    column: str = "raterAgreeRatio",
    threshold: float | None = None,
    kept_col: str = "aboveHelpfulnessThreshold",
    bins: int = 30,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of one helpfulness score, stacked by kept / removed contributors.

    The cut-off (default from :data:`HELPFULNESS_THRESHOLDS`, e.g. 0.66 for
    ``raterAgreeRatio``) is a vertical line with ``gid="threshold"``.
    Contributors with NaN in ``column`` are counted in the title.

    Examples
    --------
    >>> s = pd.DataFrame({"raterAgreeRatio": [0.5, 0.7, 0.9, np.nan],
    ...                   "aboveHelpfulnessThreshold": [False, True, True, False]})
    >>> ax = helpfulness_distributions(s)
    >>> [ln.get_gid() for ln in ax.get_lines()]
    ['threshold']
    >>> plt.close(ax.figure)
    """
    schema.require_columns(helpfulness_scores, [column], where="helpfulness_distributions")
    v = _as_float(helpfulness_scores[column])
    ok = np.isfinite(v)
    ax = _axes(ax)
    edges = np.histogram_bin_edges(v[ok], bins=bins) if ok.any() else np.linspace(0, 1, bins + 1)
    if kept_col in helpfulness_scores.columns:
        kept = helpfulness_scores[kept_col].astype("boolean").fillna(False).to_numpy(dtype=bool)
        ax.hist([v[ok & kept], v[ok & ~kept]], bins=edges, stacked=True,
                color=["#1b9e4b", "#d62728"],
                label=[f"kept ({int((ok & kept).sum())})", f"removed ({int((ok & ~kept).sum())})"])
        ax.legend(fontsize="x-small")
    else:
        ax.hist(v[ok], bins=edges, color=_OTHER_COLOR)
    thr = HELPFULNESS_THRESHOLDS.get(column) if threshold is None else threshold
    if thr is not None:
        ax.axvline(thr, color="k", ls="--", lw=1.2, gid="threshold")
    ax.set_xlabel(column)
    ax.set_ylabel("contributors")
    ax.set_title(f"{column} (n={int(ok.sum())}, NaN={int((~ok).sum())})")
    return ax


def removal_reasons(helpfulness_scores: pd.DataFrame) -> pd.Series:
    """First reason each contributor fails the helpfulness filter (spec 03 §3.3).

    Reasons, checked in this order: ``"no valid ratings"`` (raterAgreeRatio
    NaN), ``"rater agree ratio < 0.66"``, ``"author CRH − 5·CRNH ratio < 0"``,
    ``"author mean note score < 0.05"``, ``"harassment penalty"``; kept
    contributors get ``"kept"``; a contributor that fails none of the listed
    tests but is still not kept gets ``"other"`` (e.g. group-specific
    thresholds).

    Examples
    --------
    >>> s = pd.DataFrame({"raterAgreeRatio": [np.nan, 0.5, 0.9],
    ...     "crhCrnhRatioDifference": [np.nan, np.nan, -1.0], "meanNoteScore": [np.nan, np.nan, 0.1],
    ...     "aboveHelpfulnessThreshold": [False, False, False]})
    >>> removal_reasons(s).tolist()
    ['no valid ratings', 'rater agree ratio < 0.66', 'author CRH − 5·CRNH ratio < 0']
    """
    h = helpfulness_scores
    n = len(h)

    def col(name: str) -> np.ndarray:
        return _as_float(h[name]) if name in h.columns else np.full(n, np.nan)

    agree = col("raterAgreeRatio")
    diff = col("crhCrnhRatioDifference")
    mean = col("meanNoteScore")
    pen = col("raterAgreeRatioKeyWithHarassmentAbusePenalty")
    kept = (h["aboveHelpfulnessThreshold"].astype("boolean").fillna(False).to_numpy(dtype=bool)
            if "aboveHelpfulnessThreshold" in h.columns else np.zeros(n, dtype=bool))
    t = HELPFULNESS_THRESHOLDS
    author = ~(np.isnan(diff) & np.isnan(mean))
    out = np.full(n, "other", dtype=object)
    conds = [
        (kept, "kept"),
        (np.isnan(agree), "no valid ratings"),
        (agree < t["raterAgreeRatio"], f"rater agree ratio < {t['raterAgreeRatio']:g}"),
        (author & ~(diff >= t["crhCrnhRatioDifference"]),
         f"author CRH − 5·CRNH ratio < {t['crhCrnhRatioDifference']:g}"),
        (author & ~(mean >= t["meanNoteScore"]), f"author mean note score < {t['meanNoteScore']:g}"),
        (np.isfinite(pen) & (pen < t["raterAgreeRatio"]), "harassment penalty"),
    ]
    decided = np.zeros(n, dtype=bool)
    for cond, reason in conds:
        m = cond & ~decided
        out[m] = reason
        decided |= m
    return pd.Series(out, index=h.index, name="removalReason")


def helpfulness_removed(helpfulness_scores: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Bar chart: who the helpfulness filter removes, by first failing reason.

    See :func:`removal_reasons`.  One bar per reason (``"kept"`` first).

    Examples
    --------
    >>> s = pd.DataFrame({"raterAgreeRatio": [np.nan, 0.5, 0.9],
    ...     "aboveHelpfulnessThreshold": [False, False, True]})
    >>> ax = helpfulness_removed(s)
    >>> len(ax.patches)
    3
    >>> plt.close(ax.figure)
    """
    reasons = removal_reasons(helpfulness_scores)
    counts = reasons.value_counts()
    order = (["kept"] if "kept" in counts.index else []) + [r for r in counts.index if r != "kept"]
    counts = counts.reindex(order)
    ax = _axes(ax, figsize=(6.4, 1.0 + 0.45 * len(counts)))
    ypos = np.arange(len(counts))
    colors = ["#1b9e4b" if r == "kept" else "#d62728" for r in counts.index]
    ax.barh(ypos, counts.to_numpy(), color=colors)
    for y, c in zip(ypos, counts.to_numpy()):
        ax.text(c, y, f" {int(c):,}", va="center", fontsize="x-small")
    ax.set_yticks(ypos, list(counts.index), fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, counts.max() * 1.2 if len(counts) else 1)
    ax.set_xlabel("contributors")
    ax.set_title("Helpfulness filter: kept vs removed (first failing test)")
    return ax


# ---------------------------------------------------------------------------
# Pseudo-raters
# ---------------------------------------------------------------------------
def pseudo_rater_intervals(
    scored_notes: pd.DataFrame,
    *,
    intercept_col: str = "coreNoteIntercept",
    min_col: str | None = None,
    max_col: str | None = None,
    status_col: str | None = None,
    max_notes: int | None = 400,
    crh_threshold: float = CRH_THRESHOLD,
    ucb_threshold: float = UCB_CRNH_THRESHOLD,
    ax: Axes | None = None,
) -> Axes:
    """Note intercepts with their pseudo-rater [min, max] range, sorted by intercept.

    Each note is a point (its intercept) with a vertical segment from
    ``<prefix>NoteInterceptMin`` to ``<prefix>NoteInterceptMax``
    (``internalNoteIntercept_min/_max`` for cnlab frames).  Horizontal lines:
    CRH 0.40 (``gid="crh-threshold"``) and the UcbCRNH bound −0.04
    (``gid="ucb-threshold"``; a note is CRNH when its *max* is below it).

    ``max_notes`` keeps that many notes evenly spaced in intercept rank
    (deterministic) so the figure stays readable; None keeps all.

    Examples
    --------
    >>> n = pd.DataFrame({"coreNoteIntercept": [0.1, 0.5], "coreNoteInterceptMin": [0.09, 0.49],
    ...                   "coreNoteInterceptMax": [0.2, 0.6]})
    >>> ax = pseudo_rater_intervals(n)
    >>> len(ax.collections[0].get_segments())
    2
    >>> plt.close(ax.figure)
    """
    icol = _pick(scored_notes, intercept_col, [schema.NOTE_INTERCEPT], what="pseudo_rater_intervals")
    if icol.endswith("NoteIntercept") and icol != schema.NOTE_INTERCEPT:
        dmin, dmax = icol + "Min", icol + "Max"
    else:
        dmin, dmax = icol + "_min", icol + "_max"
    lo_col = _pick(scored_notes, min_col, [dmin], what="pseudo_rater_intervals")
    hi_col = _pick(scored_notes, max_col, [dmax], what="pseudo_rater_intervals")
    scol = _status_col_for(scored_notes, icol, status_col)
    y = _as_float(scored_notes[icol])
    lo = _as_float(scored_notes[lo_col])
    hi = _as_float(scored_notes[hi_col])
    ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(y[idx], kind="stable")]
    if max_notes is not None and len(idx) > max_notes:
        idx = idx[np.unique(np.linspace(0, len(idx) - 1, max_notes).round().astype(int))]
    status = (scored_notes[scol].astype(object).to_numpy()[idx] if scol else np.full(len(idx), None))
    colors = [_status_color(s) if s is not None else _OTHER_COLOR for s in status]
    ax = _axes(ax, figsize=(8, 4.8))
    xs = np.arange(len(idx))
    ax.vlines(xs, lo[idx], hi[idx], colors=colors, lw=0.8, alpha=0.6)
    ax.scatter(xs, y[idx], s=5, c=colors, zorder=3, linewidths=0)
    ax.axhline(crh_threshold, color=STATUS_COLORS[schema.CRH], ls="--", lw=1.1, gid="crh-threshold",
               label=f"CRH {crh_threshold:g}")
    ax.axhline(ucb_threshold, color=STATUS_COLORS[schema.CRNH], ls="--", lw=1.1, gid="ucb-threshold",
               label=f"UcbCRNH: max < {ucb_threshold:g}")
    if scol:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=_status_color(s), marker="o", ls="", label=STATUS_SHORT.get(s, s))
                   for s in _status_order(status)]
        handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize="x-small", loc="upper left")
    else:
        ax.legend(fontsize="x-small", loc="upper left")
    width = hi[ok] - y[ok]
    ax.set_xlabel("notes, sorted by intercept" + (f" ({len(idx)} of {int(ok.sum())} shown)"
                                                  if len(idx) < ok.sum() else ""))
    ax.set_ylabel(f"{icol} with [min, max]")
    ax.set_title(f"Pseudo-rater intervals (median max − intercept = {np.median(width) if len(width) else 0:.3f})")
    return ax


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------
def _rule_base(name: str) -> str:
    return name.split(" (")[0].strip()


def rule_counts(active_rules: pd.Series | Iterable[str] | Mapping[str, int]) -> pd.Series:
    """Number of notes each rule was active for, in rule-application order.

    ``active_rules`` is a series of comma-joined rule display names (the
    ``coreActiveRules`` / ``internalActiveRules`` column) or already a
    mapping ``{rule: count}``.  Known rules (:data:`RULE_ORDER`) come in
    application order; others follow in the order they first appear.

    Examples
    --------
    >>> rule_counts(["InitialNMR (v1.0),GeneralCRH (v1.0)", "InitialNMR (v1.0)"]).to_dict()
    {'InitialNMR (v1.0)': 2, 'GeneralCRH (v1.0)': 1}
    """
    if isinstance(active_rules, Mapping) or (
        isinstance(active_rules, pd.Series) and pd.api.types.is_numeric_dtype(active_rules.dtype)
    ):
        counts = pd.Series(dict(active_rules) if isinstance(active_rules, Mapping) else active_rules)
        counts = counts.astype("int64")
    else:
        seen: dict[str, int] = {}
        for s in pd.Series(list(active_rules), dtype=object):
            if s is None or (isinstance(s, float) and np.isnan(s)) or s is pd.NA:
                continue
            for r in {r.strip() for r in str(s).split(",") if r.strip()}:
                seen[r] = seen.get(r, 0) + 1
        # keep first-appearance order for unknown rules
        order_seen: list[str] = []
        for s in pd.Series(list(active_rules), dtype=object).dropna():
            for r in str(s).split(","):
                r = r.strip()
                if r and r not in order_seen:
                    order_seen.append(r)
        counts = pd.Series({r: seen[r] for r in order_seen}, dtype="int64")
    known = [b for b, _ in RULE_ORDER]
    first = {r: i for i, r in enumerate(counts.index)}
    names = sorted(first, key=lambda r: (known.index(_rule_base(r)) if _rule_base(r) in known
                                         else len(known), first[r]))
    return counts.reindex(names).rename("notes")


def rule_flow(
    active_rules: pd.Series | Iterable[str] | Mapping[str, int],
    *,
    total: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """How many notes each rule acted on, in application order (horizontal bars).

    Bars are coloured by the status the rule sets (CRH green, CRNH red,
    FIRM_REJECT purple, NYH orange, NMR grey; other rules blue).  A rule is
    counted for a note when it appears in the note's comma-joined active-rules
    string, i.e. it emitted an update (spec 03 §4: listed even if the status
    did not change).

    Parameters
    ----------
    active_rules
        e.g. ``scored_notes["coreActiveRules"]``, or ``{rule: count}``.
    total
        Number of notes (shown in the title; default: length of
        ``active_rules`` when it is a column).

    Examples
    --------
    >>> s = pd.Series(["InitialNMR (v1.0),GeneralCRH (v1.0)", "InitialNMR (v1.0),GeneralCRNH (v1.0)"])
    >>> ax = rule_flow(s)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['InitialNMR (v1.0)', 'GeneralCRH (v1.0)', 'GeneralCRNH (v1.0)']
    >>> plt.close(ax.figure)
    """
    counts = rule_counts(active_rules)
    if total is None and not isinstance(active_rules, Mapping) and not (
        isinstance(active_rules, pd.Series) and pd.api.types.is_numeric_dtype(active_rules.dtype)
    ):
        total = len(pd.Series(list(active_rules), dtype=object))
    target = dict(RULE_ORDER)
    colors = [_status_color(target[_rule_base(r)]) if target.get(_rule_base(r)) else _OTHER_COLOR
              for r in counts.index]
    ax = _axes(ax, figsize=(7, 1.0 + 0.4 * len(counts)))
    ypos = np.arange(len(counts))
    ax.barh(ypos, counts.to_numpy(), color=colors)
    for y, c in zip(ypos, counts.to_numpy()):
        ax.text(c, y, f" {int(c):,}", va="center", fontsize="x-small")
    ax.set_yticks(ypos, list(counts.index), fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, max(1, int(counts.max()) if len(counts) else 1) * 1.15)
    ax.set_xlabel("notes the rule acted on")
    ax.set_title("Scoring rules in application order" + (f" ({total:,} notes)" if total else ""))
    from matplotlib.patches import Patch

    used = []
    for r in counts.index:
        st = target.get(_rule_base(r))
        if st not in used:
            used.append(st)
    ax.legend(handles=[Patch(color=_status_color(s) if s else _OTHER_COLOR,
                             label=f"sets {STATUS_SHORT.get(s, s)}" if s else "other rule") for s in used],
              fontsize="x-small", loc="lower right")
    return ax


# ---------------------------------------------------------------------------
# Tag filter
# ---------------------------------------------------------------------------
def tag_outlier_weights(
    distances: Sequence[float] | np.ndarray | pd.Series | None = None,
    *,
    p40: float | None = None,
    exponent: float = TAG_WEIGHT_EXPONENT,
    bins: int = 40,
    ax: Axes | None = None,
) -> Axes:
    """Tag-outlier weight ``w = 1/(1 + (d/p40)^5)`` against factor distance ``d``.

    Spec 03 §5: ``d = |f̃_u − f̃_n|`` on z-normalized factors, ``p40`` = 40th
    percentile of ``d`` over the ratings.  With ``distances`` given, their
    histogram is drawn on a twin axis and ``p40`` defaults to their 40th
    percentile.  Lines: the weight curve (``gid="weight-curve"``) and
    ``d = p40`` where ``w = 0.5`` (``gid="p40"``).

    Examples
    --------
    >>> ax = tag_outlier_weights(p40=0.5)
    >>> [ln.get_gid() for ln in ax.get_lines()]
    ['weight-curve', 'p40']
    >>> plt.close(ax.figure)
    """
    d = None if distances is None else _as_float(distances)
    if d is not None:
        d = d[np.isfinite(d)]
    if p40 is None:
        if d is None or not len(d):
            raise ValueError("tag_outlier_weights: give distances or p40")
        p40 = float(np.nanpercentile(d, TAG_PERCENTILE))
    ax = _axes(ax)
    dmax = max(3 * p40, float(np.max(d)) if d is not None and len(d) else 0.0)
    if d is not None and len(d):
        ax2 = ax.twinx()
        ax2.hist(d, bins=bins, color="#9e9e9e", alpha=0.35, density=True)
        ax2.set_ylabel("density of distances", color="#777777")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    xs = np.linspace(0.0, dmax, 400)
    w = 1.0 / (1.0 + (xs / p40) ** exponent)
    ax.plot(xs, w, color="#4c72b0", lw=2, gid="weight-curve", label=f"w = 1/(1+(d/p40)^{exponent:g})")
    ax.axvline(p40, color="k", ls="--", lw=1, gid="p40", label=f"p40 = {p40:.3g} (w = 0.5)")
    ax.set_xlim(0, dmax)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("|rater factor − note factor| (z-normalized)")
    ax.set_ylabel("rating weight")
    ax.set_title("Tag outlier filter: rating weights")
    ax.legend(fontsize="x-small", loc="upper right")
    return ax


def tag_thresholds(
    thresholds: Mapping[str, float],
    *,
    ratios: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Per-tag thresholds of the tag-outlier filter (one bar per not-helpful tag).

    Parameters
    ----------
    thresholds
        ``{tag or "<tag>AdjustedRatio": threshold}`` (e.g. the
        ``tagFilteringThresholds`` of prescoring).
    ratios
        Optional per-note frame with ``<tag>AdjustedRatio`` columns; the 95th
        percentile over notes is marked per tag (``gid="ratio-q95"``).

    Examples
    --------
    >>> ax = tag_thresholds({"notHelpfulIncorrectAdjustedRatio": 0.02, "notHelpfulOtherAdjustedRatio": 0.04})
    >>> len(ax.patches)
    2
    >>> plt.close(ax.figure)
    """
    def base(k: str) -> str:
        return k[: -len("AdjustedRatio")] if k.endswith("AdjustedRatio") else k

    vals = {base(k): float(v) for k, v in thresholds.items()}
    order = [t for t in schema.NOT_HELPFUL_TAGS if t in vals] + sorted(t for t in vals if t not in schema.NOT_HELPFUL_TAGS)
    ax = _axes(ax, figsize=(7, 1.0 + 0.38 * len(order)))
    ypos = np.arange(len(order))
    colors = ["#bbbbbb" if t == "notHelpfulHardToUnderstand" else "#6a3d9a" for t in order]
    ax.barh(ypos, [vals[t] for t in order], color=colors)
    if ratios is not None:
        q = []
        for t in order:
            c = f"{t}AdjustedRatio"
            q.append(float(np.nanquantile(_as_float(ratios[c]), 0.95)) if c in ratios.columns else np.nan)
        ax.plot(q, ypos, "k|", ms=12, gid="ratio-q95", label="95th pct of note ratios")
        ax.legend(fontsize="x-small", loc="lower right")
    ax.set_yticks(ypos, [t.replace("notHelpful", "") for t in order], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("threshold on <tag>AdjustedRatio")
    ax.set_title("Tag filter thresholds (grey: tag not used by the rule)")
    return ax


# ---------------------------------------------------------------------------
# Net helpful by factor side
# ---------------------------------------------------------------------------
def net_helpful_counts(
    ratings: pd.DataFrame,
    rater_params: pd.DataFrame,
    *,
    factor_col: str = "coreRaterFactor1",
    label_col: str = schema.HELPFUL_NUM,
) -> pd.DataFrame:
    """Per note: net helpful ratings from negative- and positive-factor raters.

    Spec 03 §2.2: raters with factor < 0 are "negative", ≥ 0 "positive";
    net = #(helpfulNum == 1) − #(helpfulNum == 0) (somewhat-helpful ignored).
    If ``label_col`` is missing it is derived from ``helpfulnessLevel``.

    Returns a frame with noteId, negNetHelpful, posNetHelpful,
    negRatingCount, posRatingCount, netMinHelpful (= max(0, min(neg, pos))).

    Examples
    --------
    >>> r = pd.DataFrame({"noteId": [1, 1, 1], "raterParticipantId": [0, 1, 2],
    ...                   "helpfulNum": [1.0, 1.0, 0.0]})
    >>> p = pd.DataFrame({"raterParticipantId": [0, 1, 2], "internalRaterFactor1": [-0.3, 0.2, 0.4]})
    >>> net_helpful_counts(r, p).iloc[0][["negNetHelpful", "posNetHelpful"]].tolist()
    [1, 0]
    """
    fcol = _pick(rater_params, factor_col, [schema.RATER_FACTOR1], what="net_helpful_counts")
    r = ratings
    if label_col not in r.columns:
        schema.require_columns(r, [schema.HELPFULNESS_LEVEL], where="net_helpful_counts")
        lvl = r[schema.HELPFULNESS_LEVEL].astype(object)
        y = lvl.map({schema.HELPFUL: 1.0, schema.SOMEWHAT_HELPFUL: 0.5, schema.NOT_HELPFUL: 0.0})
        r = pd.DataFrame({schema.NOTE_ID: r[schema.NOTE_ID], schema.RATER_ID: r[schema.RATER_ID],
                          label_col: y.astype("float64")})
    else:
        r = r[[schema.NOTE_ID, schema.RATER_ID, label_col]]
    p = rater_params[[schema.RATER_ID, fcol]].dropna(subset=[fcol])
    m = r.merge(p, on=schema.RATER_ID, how="inner")
    f = _as_float(m[fcol])
    y = _as_float(m[label_col])
    neg = f < 0
    net = np.where(y == 1.0, 1, np.where(y == 0.0, -1, 0))
    frame = pd.DataFrame({
        schema.NOTE_ID: m[schema.NOTE_ID].to_numpy(),
        "negNetHelpful": np.where(neg, net, 0),
        "posNetHelpful": np.where(~neg, net, 0),
        "negRatingCount": neg.astype(int),
        "posRatingCount": (~neg).astype(int),
    })
    out = frame.groupby(schema.NOTE_ID, sort=True).sum().reset_index()
    out["netMinHelpful"] = np.maximum(0, np.minimum(out["negNetHelpful"], out["posNetHelpful"]))
    return out


def net_helpful_by_side(
    counts: pd.DataFrame,
    *,
    status: pd.DataFrame | pd.Series | None = None,
    status_col: str | None = None,
    threshold: int = MIN_MINORITY_NET_HELPFUL,
    jitter: float = 0.25,
    seed: int = 0,
    ax: Axes | None = None,
) -> Axes:
    """Per-note net helpful ratings: negative-factor side (x) vs positive side (y).

    The MinMinorityRaters rule keeps a CRH note only if both sides have at
    least ``threshold`` (4) net helpful ratings: the lines ``x = 4`` and
    ``y = 4`` (``gid="min-minority"``) bound that quadrant; the diagonal
    ``x = y`` is drawn for reference.

    Parameters
    ----------
    counts
        Output of :func:`net_helpful_counts` (noteId, negNetHelpful,
        posNetHelpful).
    status
        Optional statuses to colour by: a frame with noteId and
        ``status_col`` (default first of coreRatingStatus,
        internalRatingStatus, finalRatingStatus), or a Series indexed by
        noteId.
    jitter
        Uniform jitter (seeded) so that integer counts do not overlap.

    Examples
    --------
    >>> c = pd.DataFrame({"noteId": [1, 2], "negNetHelpful": [5, -2], "posNetHelpful": [6, 1]})
    >>> ax = net_helpful_by_side(c)
    >>> len(ax.collections[0].get_offsets())
    2
    >>> plt.close(ax.figure)
    """
    schema.require_columns(counts, [schema.NOTE_ID, "negNetHelpful", "posNetHelpful"], where="net_helpful_by_side")
    x = _as_float(counts["negNetHelpful"])
    y = _as_float(counts["posNetHelpful"])
    rng = np.random.default_rng(seed)
    xj = x + rng.uniform(-jitter, jitter, len(x))
    yj = y + rng.uniform(-jitter, jitter, len(y))
    st = None
    if status is not None:
        if isinstance(status, pd.Series):
            st = counts[schema.NOTE_ID].map(status).astype(object).to_numpy()
        else:
            scol = status_col or _pick(status, None, ["coreRatingStatus", schema.RATING_STATUS,
                                                      "finalRatingStatus"], what="net_helpful_by_side")
            st = counts[[schema.NOTE_ID]].merge(status[[schema.NOTE_ID, scol]], on=schema.NOTE_ID,
                                                how="left")[scol].astype(object).to_numpy()
    ax = _axes(ax, figsize=(5.8, 5.4))
    if st is None:
        ax.scatter(xj, yj, s=7, alpha=0.6, color=_OTHER_COLOR, linewidths=0)
    else:
        for s in _status_order(st):
            m = st == s
            ax.scatter(xj[m], yj[m], s=7, alpha=0.7, color=_status_color(s), linewidths=0,
                       label=f"{STATUS_SHORT.get(s, s)} ({int(m.sum())})")
    ax.axvline(threshold, color="k", ls="--", lw=1, gid="min-minority")
    ax.axhline(threshold, color="k", ls="--", lw=1, gid="min-minority",
               label=f"MinMinorityRaters: ≥ {threshold} net helpful per side")
    lim = [min(np.nanmin(x, initial=0), np.nanmin(y, initial=0)) - 1,
           max(np.nanmax(x, initial=1), np.nanmax(y, initial=1)) + 1]
    ax.plot(lim, lim, color="#bbbbbb", lw=0.8, gid="diagonal")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("net helpful from negative-factor raters")
    ax.set_ylabel("net helpful from positive-factor raters")
    ax.set_title(f"Net helpful ratings by rater side (n={len(x)})")
    ax.legend(fontsize="x-small", loc="upper left")
    return ax


# ---------------------------------------------------------------------------
# Status comparisons (what-if, truth)
# ---------------------------------------------------------------------------
def _status_series(obj: pd.DataFrame | pd.Series, status_col: str | None) -> pd.Series:
    if isinstance(obj, pd.Series):
        return obj.astype(object)
    scol = status_col or _pick(obj, None, ["finalRatingStatus", schema.RATING_STATUS, "coreRatingStatus"],
                               what="status_confusion")
    if schema.NOTE_ID in obj.columns:
        return pd.Series(obj[scol].astype(object).to_numpy(), index=obj[schema.NOTE_ID].to_numpy())
    return obj[scol].astype(object)


def status_crosstab(
    before: pd.DataFrame | pd.Series,
    after: pd.DataFrame | pd.Series,
    *,
    status_col: str | None = None,
    before_col: str | None = None,
    after_col: str | None = None,
) -> pd.DataFrame:
    """Counts of notes by (status before, status after), joined on noteId.

    Frames are indexed by their ``noteId`` column; Series by their index.
    Notes present on one side only are counted as ``"(absent)"``.

    Examples
    --------
    >>> b = pd.DataFrame({"noteId": [1, 2], "finalRatingStatus": ["NEEDS_MORE_RATINGS"] * 2})
    >>> a = pd.DataFrame({"noteId": [1, 2], "finalRatingStatus": ["NEEDS_MORE_RATINGS",
    ...                                                             "CURRENTLY_RATED_HELPFUL"]})
    >>> status_crosstab(b, a).to_numpy().tolist()
    [[1, 1]]
    """
    sb = _status_series(before, before_col or status_col)
    sa = _status_series(after, after_col or status_col)
    joined = pd.concat([sb.rename("before"), sa.rename("after")], axis=1, join="outer")
    joined = joined.astype(object).where(joined.notna(), "(absent)")
    rows = _status_order(joined["before"])
    cols = _status_order(joined["after"])
    tab = pd.crosstab(joined["before"], joined["after"]).reindex(index=rows, columns=cols, fill_value=0)
    tab.index.name, tab.columns.name = "before", "after"
    return tab.astype("int64")


def status_confusion(
    before: pd.DataFrame | pd.Series,
    after: pd.DataFrame | pd.Series,
    *,
    status_col: str | None = None,
    before_col: str | None = None,
    after_col: str | None = None,
    before_label: str = "before",
    after_label: str = "after",
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of status changes between two runs (rows: before, columns: after).

    Off-diagonal cells are the notes whose status changed; the title gives
    their number.  Cell text = count.  See :func:`status_crosstab` for how
    inputs are aligned.

    Examples
    --------
    >>> b = pd.Series(["NEEDS_MORE_RATINGS", "CURRENTLY_RATED_HELPFUL"], index=[1, 2])
    >>> a = pd.Series(["CURRENTLY_RATED_HELPFUL", "CURRENTLY_RATED_HELPFUL"], index=[1, 2])
    >>> ax = status_confusion(b, a)
    >>> ax.get_title()
    'Status changes: 1 of 2 notes'
    >>> plt.close(ax.figure)
    """
    import seaborn as sns

    tab = status_crosstab(before, after, status_col=status_col, before_col=before_col, after_col=after_col)
    ax = _axes(ax, figsize=(1.6 + 1.1 * max(len(tab.columns), 2), 1.2 + 0.8 * max(len(tab.index), 2)))
    short = lambda s: STATUS_SHORT.get(s, s)  # noqa: E731
    shown = tab.rename(index=short, columns=short)
    sns.heatmap(shown, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax, linewidths=0.5,
                linecolor="white", annot_kws={"fontsize": "small"})
    changed = int(tab.to_numpy().sum() - sum(tab.loc[s, s] for s in tab.index if s in tab.columns))
    ax.set_ylabel(before_label)
    ax.set_xlabel(after_label)
    ax.set_title(f"Status changes: {changed:,} of {int(tab.to_numpy().sum()):,} notes")
    ax.tick_params(axis="y", rotation=0)
    return ax


def truth_agreement(
    truth: pd.Series | np.ndarray | Sequence[bool],
    predictions: Mapping[str, pd.Series | np.ndarray | Sequence[bool]],
    *,
    ax: Axes | None = None,
) -> Axes:
    """Grouped bars of precision, recall and accuracy of boolean predictions against a truth.

    Used to compare e.g. the bridging rule with a supermajority rule on
    synthetic data with planted "good" notes.  Series are aligned on their
    index; arrays by position.  The figures come from
    :func:`cnlab.evaluation.rule_metrics`; each bar carries its 95 % Wilson
    score interval as an error bar (``gid="wilson-ci"``).  An undefined
    proportion (precision of a rule that predicts nothing) is drawn as an
    empty bar labelled "n/a".

    Examples
    --------
    >>> t = pd.Series([True, True, False, False])
    >>> ax = truth_agreement(t, {"rule A": pd.Series([True, False, False, False])})
    >>> len(ax.patches)  # 3 metrics × 1 rule
    3
    >>> len([c for c in ax.collections if c.get_gid() == "wilson-ci"])  # one set of error bars per rule
    1
    >>> plt.close(ax.figure)
    """
    from cnlab.evaluation import METRICS, rule_metrics

    table = rule_metrics(truth, predictions)
    ax = _axes(ax)
    width = 0.8 / max(len(table), 1)
    xs = np.arange(len(METRICS))
    cmap = plt.get_cmap("tab10")
    for i, (name, row) in enumerate(table.iterrows()):
        est = row[list(METRICS)].to_numpy(dtype=np.float64)
        lo = row[[f"{m}_lo" for m in METRICS]].to_numpy(dtype=np.float64)
        hi = row[[f"{m}_hi" for m in METRICS]].to_numpy(dtype=np.float64)
        heights = np.nan_to_num(est, nan=0.0)
        yerr = np.nan_to_num(np.vstack([est - lo, hi - est]), nan=0.0)
        bars = ax.bar(xs + (i - (len(table) - 1) / 2) * width, heights, width, color=cmap(i), label=name,
                      yerr=yerr, capsize=3, error_kw={"elinewidth": 1.0, "ecolor": "#333333"})
        for col in bars.errorbar.lines[2]:
            col.set_gid("wilson-ci")
        for b, v, top in zip(bars, est, np.where(np.isnan(hi), heights, hi)):
            ax.text(b.get_x() + b.get_width() / 2, top, "n/a" if np.isnan(v) else f"{v:.2f}",
                    ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(xs, list(METRICS))
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score vs planted truth (95 % Wilson CI)")
    ax.set_title("Agreement with the planted truth")
    ax.legend(fontsize="x-small", loc="lower right")
    return ax


# ---------------------------------------------------------------------------
# Generic helpers used by the notebooks
# ---------------------------------------------------------------------------
def rating_counts(
    ratings: pd.DataFrame,
    *,
    by: str = schema.NOTE_ID,
    threshold: float | None = None,
    bins: int = 40,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of the number of ratings per note (``by="noteId"``) or per rater.

    ``threshold`` (e.g. 5 raters per note, 10 ratings per rater: the
    prefilter of spec 01 §2) is drawn as a vertical line (``gid="threshold"``)
    and the share of entities below it is given in the title.  Log-spaced
    bins.

    Examples
    --------
    >>> r = pd.DataFrame({"noteId": [1, 1, 1, 2], "raterParticipantId": [0, 1, 2, 0]})
    >>> ax = rating_counts(r, threshold=2)
    >>> ax.get_title()
    'Ratings per noteId (n=2; 1 below 2)'
    >>> plt.close(ax.figure)
    """
    schema.require_columns(ratings, [by], where="rating_counts")
    counts = ratings.groupby(by, sort=False).size().to_numpy()
    ax = _axes(ax)
    hi = max(2.0, float(counts.max()) if len(counts) else 2.0)
    edges = np.unique(np.round(np.geomspace(1, hi + 1, bins)))
    ax.hist(counts, bins=edges, color=_OTHER_COLOR, alpha=0.85)
    ax.set_xscale("log")
    title = f"Ratings per {by} (n={len(counts):,}"
    if threshold is not None:
        ax.axvline(threshold, color="#d62728", ls="--", lw=1.2, gid="threshold", label=f"minimum {threshold:g}")
        title += f"; {int((counts < threshold).sum()):,} below {threshold:g}"
        ax.legend(fontsize="x-small")
    ax.set_title(title + ")")
    ax.set_xlabel(f"ratings per {by}")
    ax.set_ylabel("count")
    return ax


def threshold_status(
    frame: pd.DataFrame,
    *,
    intercept_col: str = schema.NOTE_INTERCEPT,
    factor_col: str = schema.NOTE_FACTOR1,
    crh_threshold: float = CRH_THRESHOLD,
    crnh_intercept: float = CRNH_INTERCEPT,
    crnh_factor_multiplier: float = CRNH_FACTOR_MULTIPLIER,
    factor_threshold: float = FACTOR_THRESHOLD,
) -> pd.Series:
    """Region of the factor–intercept plane each note falls in (for colouring only).

    ``CRH`` if ``i ≥ 0.40`` and ``|f| ≤ 0.5``; ``CRNH`` if
    ``i ≤ −0.05 − 0.8·|f|``; else ``NMR``; NaN parameters → ``NMR``.  This is
    the *geometry* of GeneralCRH / GeneralCRNH / FilterLargeFactor only —
    not a status: the real rules (:mod:`cnlab.scoring`) also need ≥ 5
    ratings, a misleading classification, tag/incorrect/diligence filters and
    net-helpful minimums.

    Examples
    --------
    >>> f = pd.DataFrame({"internalNoteIntercept": [0.5, 0.5, -0.5, 0.1],
    ...                   "internalNoteFactor1": [0.1, 0.7, 0.3, 0.0]})
    >>> [STATUS_SHORT[s] for s in threshold_status(f)]
    ['CRH', 'NMR', 'CRNH', 'NMR']
    """
    i = _as_float(frame[intercept_col])
    f = _as_float(frame[factor_col])
    crh = (i >= crh_threshold) & (np.abs(f) <= factor_threshold)
    crnh = i <= crnh_intercept + crnh_factor_multiplier * np.abs(f)
    out = np.select([crh, crnh], [schema.CRH, schema.CRNH], default=schema.NMR)
    return pd.Series(out.astype(object), index=frame.index, name="thresholdRegion")


def threshold_hist(
    values: Sequence[float] | np.ndarray | pd.Series,
    threshold: float,
    *,
    label: str = "value",
    bins: int = 40,
    inclusive: bool = True,
    log: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of ``values`` with a cut-off line and the count at or above it.

    Infinite values are drawn in the last bin (the incorrect-tag tf-idf is
    +inf when no voter has a prior incorrect ratio).  The line has
    ``gid="threshold"``.

    Examples
    --------
    >>> ax = threshold_hist([1.0, 2.0, 3.0, np.inf], 2.5, label="tf-idf")
    >>> ax.get_title()
    'tf-idf: 2 of 4 ≥ 2.5'
    >>> plt.close(ax.figure)
    """
    v = _as_float(values)
    v = v[~np.isnan(v)]
    n_above = int((v >= threshold).sum() if inclusive else (v > threshold).sum())
    finite = v[np.isfinite(v)]
    hi = max(float(finite.max()) if len(finite) else threshold, threshold) * 1.05 + 1e-9
    lo = min(float(finite.min()) if len(finite) else 0.0, threshold)
    shown = np.clip(v, lo, hi)
    ax = _axes(ax)
    ax.hist(shown, bins=np.linspace(lo, hi, bins + 1), color=_OTHER_COLOR, alpha=0.85, log=log)
    ax.axvline(threshold, color="#d62728", ls="--", lw=1.2, gid="threshold")
    op = "≥" if inclusive else ">"
    ax.set_title(f"{label}: {n_above:,} of {len(v):,} {op} {threshold:g}")
    ax.set_xlabel(label)
    ax.set_ylabel("count")
    return ax


# ---------------------------------------------------------------------------
# "Liked by people with different perspectives" pilot (spec 07 B, cnlab.post_likes)
# ---------------------------------------------------------------------------
POST_LIKES_SPLIT = 0.15
"""``FACTOR_SPLIT_POINT`` of the pilot: L if f < −0.15, R if f ≥ 0.15, else M."""

_BUCKET_COLORS = {"L": "#2b6cb0", "M": "#9e9e9e", "R": "#c53030"}
_POST_STATE_COLORS = {"active": "#1b9e4b", "in pool, not active": "#ff9f1c", "not in pool": "#9e9e9e"}


def rater_factor_buckets(
    factors: pd.DataFrame | pd.Series | Sequence[float],
    *,
    factor_col: str = "finalFactor",
    by: pd.Series | Sequence[Any] | None = None,
    split: float = POST_LIKES_SPLIT,
    bins: int = 40,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of the pilot's rater factors with the L / M / R split (spec 07 B.3).

    The lines ``f = −split`` and ``f = split`` carry ``gid="bucket-split"``; the title
    gives the number of raters in each bucket (L: f < −split, M: −split ≤ f < split,
    R: f ≥ split).  With ``by`` (labels aligned with the factors, e.g. the planted
    side) the histogram is stacked by label.  Missing factors are left out.

    Examples
    --------
    >>> ax = rater_factor_buckets(pd.DataFrame({"finalFactor": [-0.5, -0.1, 0.15, 0.4, np.nan]}))
    >>> ax.get_title()
    'Rater factors (n=4): L 1 / M 1 / R 2, split ±0.15'
    >>> plt.close(ax.figure)
    """
    if isinstance(factors, pd.DataFrame):
        schema.require_columns(factors, [factor_col], where="rater_factor_buckets")
        f = _as_float(factors[factor_col].to_numpy())
    else:
        f = _as_float(np.asarray(factors, dtype=object) if not isinstance(factors, pd.Series) else factors.to_numpy())
    labels = None if by is None else np.asarray(pd.Series(by).astype(object).to_numpy())
    ok = ~np.isnan(f)
    f = f[ok]
    ax = _axes(ax)
    lo, hi = (min(float(f.min()), -split) - 0.05, max(float(f.max()), split) + 0.05) if len(f) else (-1, 1)
    edges = np.linspace(lo, hi, bins + 1)
    if labels is None:
        ax.hist(f, bins=edges, color=_OTHER_COLOR, alpha=0.85)
    else:
        labels = labels[ok]
        keys = [k for k in pd.unique(pd.Series(labels, dtype=object)) if pd.notna(k)]
        keys = sorted(keys, key=str)
        cmap = plt.get_cmap("tab10")
        ax.hist([f[labels == k] for k in keys], bins=edges, stacked=True, alpha=0.85,
                color=[cmap(i % 10) for i in range(len(keys))], label=[str(k) for k in keys])
        ax.legend(fontsize="x-small", title=pd.Series(by).name if isinstance(by, pd.Series) else None)
    for x in (-split, split):
        ax.axvline(x, color="k", ls="--", lw=1, gid="bucket-split")
    n_l, n_r = int((f < -split).sum()), int((f >= split).sum())
    n_m = len(f) - n_l - n_r
    for name, x in (("L", (lo - split) / 2), ("M", 0.0), ("R", (hi + split) / 2)):
        ax.text(x, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                color=_BUCKET_COLORS[name], fontweight="bold")
    ax.set_title(f"Rater factors (n={len(f):,}): L {n_l:,} / M {n_m:,} / R {n_r:,}, split ±{split:g}", pad=14)
    ax.set_xlabel(f"{factor_col if isinstance(factors, pd.DataFrame) else 'factor'} (mean sign-corrected note factor)")
    ax.set_ylabel("raters")
    return ax


def post_likes_by_side(
    posts: pd.DataFrame,
    *,
    pool: Sequence[bool] | np.ndarray | None = None,
    min_pos_cutoff: float | None = None,
    kind: pd.Series | Sequence[Any] | None = None,
    min_lingers: int = 29,
    jitter: float = 0.25,
    seed: int = 0,
    ax: Axes | None = None,
) -> Axes:
    """Per post: positive ratings from L raters (x) vs R raters (y), coloured by state.

    States: *active*, *in pool, not active* (≥ 30 lingers per side, no L/R dislike,
    eligible — spec 07 B.4) and *not in pool*.  ``pool`` defaults to that rule on the
    columns of ``posts`` (``min_lingers`` = ``MIN_LINGERS``).  The minPos cut-off, if
    given, is drawn as the corner ``x ≥ c, y ≥ c`` (``gid="min-pos-cutoff"``): posts in
    that corner pass the cross-side test; others need ``totalPos`` (which includes M
    raters and so is not a line in this plane).  ``kind`` (aligned with ``posts``,
    e.g. the planted post type) picks marker shapes (empty state × kind combinations
    are left out of the legend).  Integer counts are jittered (seeded).

    Examples
    --------
    >>> p = pd.DataFrame({"L_pos": [5, 0, 2], "R_pos": [6, 9, 2], "minLingers": [40, 40, 3],
    ...                   "maxNeg": [0, 1, 0], "eligibleForActiveState": [1, 1, 1],
    ...                   "active": [True, False, False]})
    >>> ax = post_likes_by_side(p, min_pos_cutoff=4)
    >>> sorted(c.get_label() for c in ax.collections)
    ['active (1)', 'in pool, not active (0)', 'not in pool (2)']
    >>> plt.close(ax.figure)
    """
    schema.require_columns(posts, ["L_pos", "R_pos", "active"], where="post_likes_by_side")
    x = _as_float(posts["L_pos"].to_numpy())
    y = _as_float(posts["R_pos"].to_numpy())
    active = posts["active"].to_numpy(dtype=bool)
    if pool is None:
        schema.require_columns(posts, ["minLingers", "maxNeg", "eligibleForActiveState"], where="post_likes_by_side")
        elig = _as_float(posts["eligibleForActiveState"].astype(object).to_numpy())
        pool = (_as_float(posts["minLingers"].to_numpy()) > min_lingers) & (_as_float(posts["maxNeg"].to_numpy()) == 0) \
            & (elig == 1)
    pool = np.asarray(pool, dtype=bool)
    state = np.where(active, "active", np.where(pool, "in pool, not active", "not in pool"))
    rng = np.random.default_rng(seed)
    xj = x + rng.uniform(-jitter, jitter, len(x))
    yj = y + rng.uniform(-jitter, jitter, len(y))
    kinds = None if kind is None else np.asarray(pd.Series(kind).astype(object).to_numpy())
    markers = ["o", "^", "s", "D", "v", "P", "X"]
    ax = _axes(ax, figsize=(6.2, 5.6))
    for st in ("not in pool", "in pool, not active", "active"):
        m = state == st
        if kinds is None:
            ax.scatter(xj[m], yj[m], s=14, alpha=0.75, color=_POST_STATE_COLORS[st], linewidths=0,
                       label=f"{st} ({int(m.sum())})")
        else:
            keys = sorted({str(k) for k in kinds})
            for i, k in enumerate(keys):
                mk = m & (kinds.astype(str) == k)
                if not mk.any():
                    continue
                ax.scatter(xj[mk], yj[mk], s=18, alpha=0.75, color=_POST_STATE_COLORS[st], linewidths=0,
                           marker=markers[i % len(markers)], label=f"{st}, {k} ({int(mk.sum())})")
    top = max(np.nanmax(x, initial=1), np.nanmax(y, initial=1)) + 1
    if min_pos_cutoff is not None:
        c = float(min_pos_cutoff)
        ax.plot([c, c, top], [top, c, c], color="#1b9e4b", ls="--", lw=1.2, gid="min-pos-cutoff",
                label=f"minPos ≥ {c:g}")
    ax.plot([0, top], [0, top], color="#bbbbbb", lw=0.8, gid="diagonal")
    ax.set_xlim(-1, top)
    ax.set_ylim(-1, top)
    ax.set_xlabel("positive ratings from L raters (f < −0.15)")
    ax.set_ylabel("positive ratings from R raters (f ≥ 0.15)")
    ax.set_title(f"Post likes by rater side (n={len(x):,}; {int(active.sum())} active)")
    ax.legend(fontsize="x-small", loc="upper left")
    return ax
