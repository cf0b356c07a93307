"""Figures of the matrix factorization (spec 01 §4–§7, spec 03 §4).

Notes and raters on the factor–intercept plane (the Birdwatch paper's Figure 2) with the decision
geometry of the Core rules, rater factors by modeling group, and the solvers' loss curves,
convergence and parameter differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import (
    CRH_THRESHOLD,
    CRNH_FACTOR_MULTIPLIER,
    CRNH_INTERCEPT,
    FACTOR_THRESHOLD,
    STATUS_COLORS,
    _OTHER_COLOR,
    _as_float,
    _axes,
    _current,
    _model_name,
    _pick,
    _status_col_for,
    _status_order,
    _title,
    status_label,
)

_MISSING_COLOR = "#c7c7c7"
_SIGN_COLORS = {"negative": "#2b6cb0", "positive": "#c53030"}


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
    title: str = "Notes: factor vs intercept",
    ax: Axes | None = None,
) -> Axes:
    """Scatter notes by factor (x) and intercept (y), coloured by status.

    Draws the decision geometry of the Core rules (spec 03 §4):

    * CRH line ``i = 0.40`` (GeneralCRH; ``gid="crh-threshold"``),
    * CRNH wedge ``i = −0.05 − 0.8·|f|`` (GeneralCRNH, "≤";
      ``gid="crnh-threshold"``),
    * the band ``|f| ≤ 0.5`` outside which a CRH note is filtered
      (FilterLargeFactor; ``gid="factor-band"``).

    Notes without an intercept (not scored by that model) or factor are left out; the title
    says how many (``"left out: 470 not scored by Core"``).  Legends spell the statuses out
    (``"CRH = currently rated helpful (67)"``); notes without a status are drawn in grey.

    Parameters
    ----------
    scored_notes
        Official ``scored_notes`` of any vintage (``scoredNotes.tsv`` with ``noteIntercept``
        / ``noteFactor1`` / ``ratingStatus`` too) or a cnlab scored-notes frame.  If
        ``intercept_col``/``factor_col`` are absent, ``internalNoteIntercept``
        / ``internalNoteFactor1`` are used.
    status_col
        Status column; default ``<prefix>RatingStatus`` matching
        ``intercept_col`` (``coreRatingStatus``), else
        ``internalRatingStatus`` or ``finalRatingStatus``.  Without one, all
        points share one colour.
    title
        First words of the title; the counts (shown of all, left out and why) follow it.

    Examples
    --------
    >>> notes = pd.DataFrame({"coreNoteIntercept": [0.5, 0.0, -0.3],
    ...     "coreNoteFactor1": [0.1, -0.6, 0.2],
    ...     "coreRatingStatus": ["CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS",
    ...                          "CURRENTLY_RATED_NOT_HELPFUL"]})
    >>> ax = note_factor_intercept(notes)
    >>> len(ax.collections)  # one scatter per status
    3
    >>> ax.get_legend().get_texts()[0].get_text()
    'CRH = currently rated helpful (1)'
    >>> plt.close(ax.figure)
    """
    scored_notes = _current(scored_notes)
    icol = _pick(scored_notes, intercept_col, [schema.NOTE_INTERCEPT], what="note_factor_intercept")
    fcol = _pick(scored_notes, factor_col, [schema.NOTE_FACTOR1], what="note_factor_intercept")
    scol = _status_col_for(scored_notes, icol, status_col)
    ax = _axes(ax)
    x = _as_float(scored_notes[fcol])
    y = _as_float(scored_notes[icol])
    ok = np.isfinite(x) & np.isfinite(y)
    if scol is None:
        ax.scatter(x[ok], y[ok], s=point_size, color=_OTHER_COLOR, alpha=0.7, linewidths=0,
                   label=f"notes ({int(ok.sum()):,})")
    else:
        status = scored_notes[scol].astype(object).to_numpy()
        extra = 0
        for st in _status_order(status[ok]):
            m = ok & (status == st)
            color = STATUS_COLORS.get(st)
            if color is None:  # free-form categories (e.g. "majority only"): tab10 colours
                color, extra = plt.get_cmap("tab10")(extra % 10), extra + 1
            ax.scatter(x[m], y[m], s=point_size, color=color, alpha=0.75, linewidths=0,
                       label=status_label(st, int(m.sum())))
        no_status = ok & pd.isna(status)
        if no_status.any():  # drawn, not dropped: a point without a status is still a scored note
            ax.scatter(x[no_status], y[no_status], s=point_size, color=_MISSING_COLOR, alpha=0.75,
                       linewidths=0, label=f"no {scol} ({int(no_status.sum()):,})")
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
    no_intercept = ~np.isfinite(y)
    _title(ax, f"{title} (n={int(ok.sum()):,} of {len(ok):,} notes)",
           (int(no_intercept.sum()), f"not scored by {_model_name(icol)}"),
           (int((~no_intercept & ~np.isfinite(x)).sum()), f"without {fcol}"))
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
    hue_col: str | None = "auto",
    enrollment: pd.DataFrame | None = None,
    max_groups: int = 8,
    point_size: float = 8.0,
    ax: Axes | None = None,
) -> Axes:
    """Scatter raters by factor (x) and intercept (y), coloured by modeling group or factor sign.

    Raters without parameters (not in that model's final round) are left out; the title says
    how many.

    Parameters
    ----------
    rater_params
        Official ``helpfulness_scores`` of any vintage (``helpfulnessScores.tsv`` with
        ``raterIntercept`` / ``raterFactor1`` too) or ``MFResult.rater_params``
        (``internalRaterIntercept``/``internalRaterFactor1`` are the fallbacks).
    hue_col
        ``"auto"`` (default): ``modelingGroup`` when it has at least two groups among the raters
        shown (from ``enrollment`` if given, else from the frame), else the sign of the rater
        factor (``"sign"``) — the two sides the factor separates.  ``None``: one colour.  Any
        other column splits the points by its values (``"aboveHelpfulnessThreshold"``: kept /
        removed by the helpfulness filter — among final-round raters usually all True).  A column
        that is empty for every rater shown is an error (a Core-only run leaves
        ``modelingGroup`` of ``helpfulness_scores`` empty: pass ``enrollment``).
    enrollment
        ``userEnrollment`` (participantId, modelingGroup) to take the modeling groups from,
        joined on ``raterParticipantId`` = ``participantId`` (both codes, or both id strings).
    max_groups
        Groups beyond the ``max_groups`` largest are pooled as ``"other groups"``.

    Examples
    --------
    >>> raters = pd.DataFrame({"internalRaterIntercept": [0.1, -0.2, np.nan],
    ...                        "internalRaterFactor1": [0.5, -0.4, np.nan]})
    >>> ax = rater_factor_intercept(raters)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['rater factor < 0 (1)', 'rater factor ≥ 0 (1)']
    >>> ax.get_title().splitlines()[1]
    'left out: 1 not scored by the model'
    >>> plt.close(ax.figure)
    """
    rater_params = _current(rater_params)
    icol = _pick(rater_params, intercept_col, [schema.RATER_INTERCEPT], what="rater_factor_intercept")
    fcol = _pick(rater_params, factor_col, [schema.RATER_FACTOR1], what="rater_factor_intercept")
    x = _as_float(rater_params[fcol])
    y = _as_float(rater_params[icol])
    ok = np.isfinite(x) & np.isfinite(y)
    hue_name, hue = _rater_hue(rater_params, hue_col, enrollment, ok)  # bad hue: error before a figure
    ax = _axes(ax)
    if hue_name is None:
        ax.scatter(x[ok], y[ok], s=point_size, alpha=0.7, linewidths=0, color=_OTHER_COLOR,
                   label=f"raters ({int(ok.sum()):,})")
    elif hue_name == "sign":
        for side, m, text in (("negative", ok & (x < 0), "rater factor < 0"),
                              ("positive", ok & (x >= 0), "rater factor ≥ 0")):
            ax.scatter(x[m], y[m], s=point_size, alpha=0.7, linewidths=0, color=_SIGN_COLORS[side],
                       label=f"{text} ({int(m.sum()):,})")
    else:
        labels = _hue_labels(hue, hue_name, ok, max_groups)
        for i, (lab, m, color) in enumerate(labels):
            ax.scatter(x[m], y[m], s=point_size, alpha=0.7, linewidths=0,
                       color=color if color is not None else plt.get_cmap("tab10")(i % 10),
                       label=f"{lab} ({int(m.sum()):,})")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.axvline(0.0, color="k", lw=0.6, alpha=0.5, gid="zero-factor")
    ax.set_xlabel(f"rater factor ({fcol})")
    ax.set_ylabel(f"rater intercept ({icol})")
    no_intercept = ~np.isfinite(y)
    _title(ax, f"Raters: factor vs intercept (n={int(ok.sum()):,} of {len(ok):,} raters)",
           (int(no_intercept.sum()), f"not scored by {_model_name(icol)}"),
           (int((~no_intercept & ~np.isfinite(x)).sum()), f"without {fcol}"))
    return ax


def _rater_hue(frame: pd.DataFrame, hue_col: str | None, enrollment: pd.DataFrame | None,
               ok: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """Resolve ``hue_col`` of :func:`rater_factor_intercept` to (name, values) or ("sign", None)."""
    if hue_col is None:
        return None, None
    if hue_col == "sign":
        return "sign", None
    group = schema.MODELING_GROUP
    if enrollment is not None and hue_col in ("auto", group):
        schema.require_columns(enrollment, [schema.PARTICIPANT_ID, group], where="rater_factor_intercept enrollment")
        schema.require_columns(frame, [schema.RATER_ID], where="rater_factor_intercept (with enrollment)")
        lookup = enrollment.drop_duplicates(schema.PARTICIPANT_ID).set_index(schema.PARTICIPANT_ID)[group]
        values = frame[schema.RATER_ID].map(lookup).astype(object).to_numpy()
        if not pd.notna(values[ok]).any() and ok.any():
            raise schema.SchemaError(
                f"rater_factor_intercept: none of the {int(ok.sum()):,} raters shown is in enrollment "
                f"({schema.RATER_ID} = {schema.PARTICIPANT_ID}); are the ids codes on one side and id "
                "strings on the other? (Dataset.restore_ids(enrollment) gives the strings)")
        values = np.where(pd.notna(values), values, None)
        return group, values
    if hue_col == "auto":
        if group in frame.columns:
            values = frame[group].astype(object).to_numpy()
            if len({v for v in values[ok] if pd.notna(v)}) >= 2:
                return group, values
        return "sign", None
    if hue_col not in frame.columns:
        hint = " (or pass enrollment=... to take the groups from userEnrollment)" if hue_col == group else ""
        raise schema.SchemaError(f"rater_factor_intercept: hue_col {hue_col!r} is not a column{hint}")
    values = frame[hue_col].astype(object).to_numpy()
    if ok.any() and not pd.notna(values[ok]).any():
        hint = (" (a Core-only run leaves modelingGroup empty in helpfulness_scores: pass "
                "enrollment=... to take the groups from userEnrollment)") if hue_col == group else ""
        raise schema.SchemaError(
            f"rater_factor_intercept: hue_col {hue_col!r} is empty for all {int(ok.sum()):,} raters shown{hint}")
    return hue_col, values


def _hue_labels(values: np.ndarray, name: str, ok: np.ndarray,
                max_groups: int) -> list[tuple[str, np.ndarray, Any]]:
    """(legend label, mask, colour or None) per level of ``values`` among ``ok`` rows."""
    missing = ~np.array([pd.notna(v) for v in values], dtype=bool)
    text = np.array([None if miss else str(v) if isinstance(v, (bool, np.bool_)) else _group_label(v)
                     for v, miss in zip(values, missing)], dtype=object)
    present = text[ok & ~missing]
    out: list[tuple[str, np.ndarray, Any]] = []
    booleans = {"True", "False"}
    if set(present) <= booleans:
        palette = {"True": "#1b9e4b", "False": "#d62728"}
        for lv in ("True", "False"):
            m = ok & (text == lv)
            if m.any():
                out.append((f"{name}={lv}", m, palette[lv]))
    else:
        counts = pd.Series(present, dtype=object).value_counts(sort=False)
        order = sorted(counts.index, key=lambda v: (-int(counts[v]), _sort_key(v)))
        keep = order[:max_groups]
        for lv in keep:
            out.append((f"{name} {lv}", ok & (text == lv), None))
        rest = ok & ~missing & ~np.isin(text, keep)
        if rest.any():
            out.append((f"{len(order) - len(keep)} other groups", rest, "#555555"))
    m = ok & missing
    if m.any():
        out.append((f"no {name}", m, _MISSING_COLOR))
    return out


def _sort_key(v: str) -> tuple:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


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
    as ``"other groups"``, raters without a group are ``"no modelingGroup"``.  One ``Polygon``
    patch per drawn group.  Raters without a factor are left out (counted in the title).

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
    rater_params = _current(rater_params)
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
        text = f"no {group_col}" if lab == "none" else "other groups" if lab == "other" else f"{group_col} {lab}"
        ax.hist(f[m], bins=edges, histtype="step", lw=1.5, color=cmap(i % 10),
                label=f"{text} (n={int(m.sum()):,})")
    ax.axvline(0.0, color="k", lw=0.6, alpha=0.5, gid="zero-factor")
    ax.set_xlabel(f"rater factor ({fcol})")
    ax.set_ylabel("raters")
    _title(ax, f"Rater factors by group (n={int(ok.sum()):,} of {len(ok):,} raters)",
           (int((~ok).sum()), f"not scored by {_model_name(fcol)}"))
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
    (``gid="max-abs-diff"``).  Entities without a finite difference (on one side only, or NaN)
    are left out and counted in the title.

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
        n_in, why = len(d), "NaN"
    else:
        lf, rf = pd.DataFrame(left), pd.DataFrame(right)
        m = lf[[on, col]].merge(rf[[on, col]], on=on, suffixes=("_l", "_r"))
        d = _as_float(m[f"{col}_l"]) - _as_float(m[f"{col}_r"])
        n_in, why = int(pd.concat([lf[on], rf[on]]).nunique()), "without a value on both sides"
    d = d[np.isfinite(d)]
    ax = _axes(ax)
    ax.hist(d, bins=bins, color=_OTHER_COLOR, alpha=0.85)
    mx = float(np.max(np.abs(d))) if len(d) else 0.0
    ax.axvline(0.0, color="k", lw=0.8)
    for s in (-1, 1):
        ax.axvline(s * mx, color="#d62728", ls=":", lw=1, gid="max-abs-diff")
    ax.set_xlabel(f"Δ {col}")
    ax.set_ylabel("count")
    _title(ax, f"{col}: {label} (n={len(d)}, max |Δ|={mx:.2g})", (n_in - len(d), why))
    return ax
