"""Figures that compare statuses: between two runs ("what if", spec 04 §11) and against a planted
truth (:mod:`cnlab.lab.evaluation`, synthetic data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import STATUS_SHORT, _axes, _current, _pick, _status_order, status_key


# ---------------------------------------------------------------------------
# Status comparisons (what-if, truth)
# ---------------------------------------------------------------------------
def _status_series(obj: pd.DataFrame | pd.Series, status_col: str | None) -> pd.Series:
    if isinstance(obj, pd.Series):
        return obj.astype(object)
    obj = _current(obj)
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
    their number.  Cell text = count.  Tick labels are status abbreviations, spelled out under
    the x axis, one per line.  See :func:`status_crosstab` for how inputs are aligned.

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
    labels = [*tab.index, *tab.columns]
    key = [k for k in status_key(labels).split(", ") if k]
    if "(absent)" in labels:
        key.append("(absent) = no status on that side")
    ax.set_xlabel("\n".join([after_label, *key]), fontsize="small")
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
    :func:`cnlab.lab.evaluation.rule_metrics`; each bar carries its 95 % Wilson
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
    from cnlab.lab.evaluation import METRICS, rule_metrics

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
    n = int(table["n"].max()) if len(table) else 0
    ax.set_title(f"Agreement with the planted truth (n={n:,} notes)")
    ax.legend(fontsize="x-small", loc="lower right")
    return ax
