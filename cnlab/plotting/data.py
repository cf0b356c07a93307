"""Figures of the input data and its preprocessing (spec 01 §1–§2, spec 04 §4).

The preprocessing funnel (rows kept and dropped per step, :class:`cnlab.preprocess.Funnel`) and the
number of ratings per note or rater against the prefilter minimums.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import _OTHER_COLOR, _as_float, _axes


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
# Ratings per note / rater (prefilter, spec 01 §2)
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
    n_nan = int(ratings[by].isna().sum())  # groupby drops missing keys: say so
    ax.set_title(title + ")" + (f"; {n_nan:,} ratings without {by} left out" if n_nan else ""))
    ax.set_xlabel(f"ratings per {by}")
    ax.set_ylabel("count")
    return ax
