"""Figures of the research tools (:mod:`cnlab.lab`): the status transitions and parameter shifts
of a :class:`~cnlab.lab.status_diff.StatusDiff` (two runs, e.g. a counterfactual against its baseline),
and the reasons cnlab's statuses differ from the published ones
(:class:`~cnlab.lab.published.PublishedComparison`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import (
    CRH_THRESHOLD,
    STATUS_COLORS,
    _OTHER_COLOR,
    _axes,
    _status_order,
    _title,
    status_label,
)
from cnlab.plotting.evaluation import status_confusion

_UNCHANGED_COLOR = "#d9d9d9"


def status_transitions(diff: Any, *, column: str = "finalRatingStatus", ax: Axes | None = None) -> Axes:
    """Heatmap of a :class:`~cnlab.lab.status_diff.StatusDiff`'s transitions of one status column.

    Rows: the old run's value, columns: the new run's (labelled with ``diff.labels``); a note of
    one run only, or without a value in ``column``, is ``(absent)`` on that side. The counts are
    those of ``diff.transitions(column)``; drawn by :func:`status_confusion`, so the title gives
    the number of changed notes and the x label spells the statuses out.

    Examples
    --------
    >>> from cnlab.lab import diff
    >>> old = pd.DataFrame({"noteId": [1, 2], "finalRatingStatus": ["CURRENTLY_RATED_HELPFUL"] * 2})
    >>> new = pd.DataFrame({"noteId": [1, 2], "finalRatingStatus": ["CURRENTLY_RATED_HELPFUL",
    ...                                                             "NEEDS_MORE_RATINGS"]})
    >>> ax = status_transitions(diff(old, new, labels=("baseline", "counterfactual")))
    >>> ax.get_title()
    'finalRatingStatus: 1 of 2 notes change'
    >>> ax.get_ylabel()
    'baseline'
    >>> plt.close(ax.figure)
    """
    if column not in diff.status_columns:
        raise KeyError(f"{column!r} is not a compared status column: {list(diff.status_columns)}")
    notes = diff.notes
    index = notes[schema.NOTE_ID].to_numpy()
    old = pd.Series(notes[f"{column}_old"].to_numpy(dtype=object), index=index)
    new = pd.Series(notes[f"{column}_new"].to_numpy(dtype=object), index=index)
    ax = status_confusion(old, new, before_label=diff.labels[0], after_label=diff.labels[1], ax=ax)
    changed = int(diff.changed(column).shape[0])
    ax.set_title(f"{column}: {changed:,} of {len(notes):,} notes change")
    return ax


def shift_scatter(
    diff: Any,
    *,
    column: str = "coreNoteIntercept",
    status_col: str = "finalRatingStatus",
    crh_threshold: float | None = CRH_THRESHOLD,
    point_size: float = 9.0,
    ax: Axes | None = None,
) -> Axes:
    """Scatter of a model column's shift (new − old, y) against its old value (x).

    Notes whose ``status_col`` is the same in both runs are light grey; the others are outlined
    and coloured by their new status (legend: ``"→ NMR = needs more ratings (6)"``). A horizontal line marks no
    shift (``gid="zero-shift"``); for an intercept column a vertical line marks the CRH
    threshold on the old value (``gid="crh-threshold"``; ``crh_threshold=None`` leaves it out).
    Notes not in both runs, or without a value in both, are left out and counted in the title.

    Examples
    --------
    >>> from cnlab.lab import diff
    >>> old = pd.DataFrame({"noteId": [1, 2, 3], "finalRatingStatus": ["CURRENTLY_RATED_HELPFUL"] * 3,
    ...                     "coreNoteIntercept": [0.45, 0.5, np.nan]})
    >>> new = old.assign(finalRatingStatus=["NEEDS_MORE_RATINGS", "CURRENTLY_RATED_HELPFUL",
    ...                                     "CURRENTLY_RATED_HELPFUL"], coreNoteIntercept=[0.38, 0.5, 0.4])
    >>> ax = shift_scatter(diff(old, new))
    >>> ax.get_title()
    'coreNoteIntercept: new − old (n=2, max |shift|=0.07)\\nleft out: 1 without a value in both runs'
    >>> [t.get_text() for t in ax.get_legend().get_texts()][:2]
    ['finalRatingStatus unchanged (1)', '→ NMR = needs more ratings (1)']
    >>> plt.close(ax.figure)
    """
    if column not in diff.model_columns:
        raise KeyError(f"{column!r} is not a compared model column: {list(diff.model_columns)}")
    notes = diff.notes
    both = (notes["presence"] == "both").to_numpy()
    x = notes[f"{column}_old"].to_numpy(dtype=np.float64)
    y = notes[f"{column}_shift"].to_numpy(dtype=np.float64)
    ok = both & np.isfinite(x) & np.isfinite(y)
    if status_col in diff.status_columns:
        old_s = notes[f"{status_col}_old"].astype(object).to_numpy()
        new_s = notes[f"{status_col}_new"].astype(object).to_numpy()
        same = np.array([(pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b)
                         for a, b in zip(old_s, new_s)], dtype=bool)
    else:
        new_s = np.full(len(notes), None, dtype=object)
        same = np.ones(len(notes), dtype=bool)
    ax = _axes(ax)
    m = ok & same
    ax.scatter(x[m], y[m], s=point_size, color=_UNCHANGED_COLOR, alpha=0.6, linewidths=0,
               label=f"{status_col} unchanged ({int(m.sum()):,})")
    for st in _status_order(new_s[ok & ~same]):
        m = ok & ~same & (new_s == st)
        # outlined: an NMR grey must stand out from the unchanged notes' grey
        ax.scatter(x[m], y[m], s=point_size * 2.5, color=STATUS_COLORS.get(st, _OTHER_COLOR), alpha=0.95,
                   edgecolors="k", linewidths=0.6, label="→ " + status_label(st, int(m.sum())))
    m = ok & ~same & pd.isna(new_s)
    if m.any():
        ax.scatter(x[m], y[m], s=point_size * 2.5, color=_OTHER_COLOR, alpha=0.95, edgecolors="k",
                   linewidths=0.6, label=f"→ no {status_col} ({int(m.sum()):,})")
    ax.axhline(0.0, color="k", lw=0.8, gid="zero-shift")
    if crh_threshold is not None and "NoteIntercept" in column:
        ax.axvline(crh_threshold, color=STATUS_COLORS[schema.CRH], ls="--", lw=1.2, gid="crh-threshold",
                   label=f"CRH: i ≥ {crh_threshold:g}")
    ax.set_xlabel(f"{column} ({diff.labels[0]})")
    ax.set_ylabel(f"shift: {diff.labels[1]} − {diff.labels[0]}")
    mx = float(np.max(np.abs(y[ok]))) if ok.any() else 0.0
    _title(ax, f"{column}: {diff.labels[1]} − {diff.labels[0]} (n={int(ok.sum()):,}, max |shift|={mx:.2g})",
           (int((~both).sum()), "not in both runs"), (int((both & ~ok).sum()), "without a value in both runs"))
    ax.legend(fontsize="x-small", loc="best")
    return ax


def published_reasons(comparison: Any, *, ax: Axes | None = None) -> Axes:
    """Horizontal bars: notes per reason cnlab's status differs from the published one.

    One bar per disagreement reason of :data:`cnlab.lab.published.DISAGREEMENT_REASONS` (zeros
    drawn), count at the bar's end; the title gives the agreement, notes without a published or a
    cnlab status are left out and counted there.

    Examples
    --------
    >>> from cnlab.lab.published import PublishedComparison
    >>> t = pd.DataFrame({"reason": ["agree", "agree", "model_noise", "locked_status", "not_published"]})
    >>> ax = published_reasons(PublishedComparison(t, 0.02, 5, None, 0.0))
    >>> [float(b.get_width()) for b in ax.patches]
    [1.0, 0.0, 0.0, 1.0, 0.0]
    >>> ax.get_title()
    'cnlab vs published status: 2 of 4 notes agree\\nleft out: 1 without a published status'
    >>> plt.close(ax.figure)
    """
    from cnlab.lab.published import DISAGREEMENT_REASONS

    counts = comparison.table["reason"].value_counts()
    values = [int(counts.get(r, 0)) for r in DISAGREEMENT_REASONS]
    ax = _axes(ax, figsize=(6.4, 3.2))
    ys = np.arange(len(values))[::-1]
    bars = ax.barh(ys, values, color=_OTHER_COLOR, alpha=0.85)
    for b, v in zip(bars, values):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {v:,}", va="center", fontsize="small")
    ax.set_yticks(ys, [r.replace("_", " ") for r in DISAGREEMENT_REASONS])
    ax.set_xlabel("notes whose cnlab status differs from the published one")
    n_agree = int(counts.get("agree", 0))
    n = n_agree + sum(values)
    ax.set_xlim(0, max(values + [1]) * 1.15)
    _title(ax, f"cnlab vs published status: {n_agree:,} of {n:,} notes agree",
           (int(counts.get("not_published", 0)), "without a published status"),
           (int(counts.get("not_scored", 0)), "not scored by cnlab"))
    return ax
