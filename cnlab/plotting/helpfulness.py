"""Figures of the contributor-helpfulness filter (spec 03 §3.3–§3.4).

Score distributions against their cut-offs, and who the filter removes by first failing test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import HELPFULNESS_THRESHOLDS, _OTHER_COLOR, _as_float, _axes, _current, _title

#: Why a helpfulness score is missing (spec 03 §3.3): the reason named in the figures' titles.
_MISSING_REASON = {
    "raterAgreeRatio": "no valid ratings",
    "raterAgreeRatioKeyWithHarassmentAbusePenalty": "no valid ratings",
    "crhCrnhRatioDifference": "no scored notes as author",
    "meanNoteScore": "no scored notes as author",
}


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
    Contributors with NaN in ``column`` are left out and counted in the title, with the reason
    (``raterAgreeRatio``: no valid ratings; author scores: no scored notes as author).

    Examples
    --------
    >>> s = pd.DataFrame({"raterAgreeRatio": [0.5, 0.7, 0.9, np.nan],
    ...                   "aboveHelpfulnessThreshold": [False, True, True, False]})
    >>> ax = helpfulness_distributions(s)
    >>> [ln.get_gid() for ln in ax.get_lines()]
    ['threshold']
    >>> plt.close(ax.figure)
    """
    helpfulness_scores = _current(helpfulness_scores)
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
    reason = _MISSING_REASON.get(column)
    _title(ax, f"{column} (n={int(ok.sum()):,} of {len(ok):,} contributors)",
           (int((~ok).sum()), f"without {column}" + (f" ({reason})" if reason else "")))
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
    h = _current(helpfulness_scores)
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
    ax.set_title(f"Helpfulness filter: kept vs removed (first failing test; {len(reasons):,} contributors)")
    return ax
