"""Figures of model selection over the number of factors k (:mod:`cnlab.lab.factors`): the
held-out fit by k with its intervals, and fitted note factors against planted ones.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab.plotting._common import _axes, _title

_METRICS = {
    "mse": ("heldoutMse", "mseLow", "mseHigh", "held-out MSE (lower is better)"),
    "loglik": ("heldoutLogLik", "logLikLow", "logLikHigh",
               "held-out Gaussian log-likelihood per rating (higher is better)"),
}
_AXIS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def k_selection_curve(selection: Any, *, metric: Literal["mse", "loglik"] = "mse", best_k: int | None = None,
                      ax: Axes | None = None) -> Axes:
    """Held-out MSE (or log-likelihood) by number of factors k, with 95 % intervals.

    ``selection`` is a :class:`~cnlab.lab.factors.KSelection` or its ``by_k`` frame. The chosen k
    (``selection.best_k``, or ``best_k``) is ringed (``gid="best-k"``); the intervals are
    error bars (``gid="interval"``).

    Examples
    --------
    >>> by_k = pd.DataFrame({"k": [1, 2, 3], "heldoutMse": [0.145, 0.134, 0.135],
    ...                      "mseLow": [0.139, 0.128, 0.129], "mseHigh": [0.151, 0.140, 0.141]})
    >>> ax = k_selection_curve(by_k, best_k=2)
    >>> ax.get_xlabel(), ax.get_title()
    ('number of factors k', 'held-out MSE by k (chosen k = 2)')
    >>> [a.get_gid() for a in ax.lines if a.get_gid() == "best-k"]
    ['best-k']
    >>> plt.close(ax.figure)
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}")
    col, lo, hi, label = _METRICS[metric]
    by_k = selection if isinstance(selection, pd.DataFrame) else selection.by_k
    if best_k is None and not isinstance(selection, pd.DataFrame):
        best_k = selection.best_k
    ax = _axes(ax)
    k = by_k["k"].to_numpy()
    y = by_k[col].to_numpy(np.float64)
    err = np.vstack([y - by_k[lo].to_numpy(np.float64), by_k[hi].to_numpy(np.float64) - y])
    bars = ax.errorbar(k, y, yerr=err, fmt="o-", color="#1f77b4", ecolor="#7f7f7f", capsize=4,
                       label="mean over repeats, 95 % interval")
    for part in (*bars.lines[1], *bars.lines[2]):
        part.set_gid("interval")
    if best_k is not None and best_k in set(k.tolist()):
        yb = float(y[k == best_k][0])
        ax.plot([best_k], [yb], "o", markersize=14, markerfacecolor="none", markeredgecolor="#d62728",
                markeredgewidth=2, gid="best-k", label=f"chosen k = {best_k} (one-standard-error rule)")
    ax.set_xticks(k)
    ax.set_xlabel("number of factors k")
    ax.set_ylabel(label)
    short = "held-out MSE" if metric == "mse" else "held-out log-likelihood"
    ax.set_title(f"{short} by k" + (f" (chosen k = {best_k})" if best_k is not None else ""))
    ax.legend(fontsize="small")
    return ax


def factor_recovery_scatter(recovery: Any, *, ax: Axes | None = None, max_points: int = 5000,
                            seed: int = 0) -> Axes:
    """Fitted note factors (aligned to the planted axes) against the planted ones, one colour
    per axis, with each axis's correlation in the legend.

    ``recovery`` is a :class:`~cnlab.lab.factors.FactorRecovery`. With more than ``max_points``
    notes a seeded sample of them is drawn (the title says how many are left out). The fitted
    factors are rotated, not rescaled, so the slope need not be 1.

    Examples
    --------
    >>> from cnlab.lab import factor_recovery
    >>> t = pd.DataFrame({"noteId": range(20), "trueFactor1": np.linspace(-1, 1, 20),
    ...                   "trueFactor2": np.sin(np.arange(20))})
    >>> f = pd.DataFrame({"noteId": range(20), "internalNoteFactor1": -t.trueFactor1,
    ...                   "internalNoteFactor2": t.trueFactor2})
    >>> ax = factor_recovery_scatter(factor_recovery(f, t))
    >>> [h.get_label() for h in ax.get_legend().legend_handles]
    ['axis 1: r = 1.000', 'axis 2: r = 1.000']
    >>> plt.close(ax.figure)
    """
    ax = _axes(ax)
    notes = recovery.notes
    shown = notes
    if len(notes) > max_points:
        shown = notes.sample(n=max_points, random_state=seed)
    for j, r in enumerate(recovery.correlations):
        ax.scatter(shown[f"true{j + 1}"], shown[f"fitted{j + 1}"], s=6, alpha=0.45,
                   color=_AXIS_COLORS[j % len(_AXIS_COLORS)], label=f"axis {j + 1}: r = {r:.3f}")
    ax.axhline(0, color="#bbbbbb", lw=0.8, zorder=0)
    ax.axvline(0, color="#bbbbbb", lw=0.8, zorder=0)
    ax.set_xlabel("planted note factor (centred)")
    ax.set_ylabel(f"fitted note factor, aligned ({recovery.method})")
    _title(ax, f"fitted vs planted note factors, {len(notes):,} notes",
           (len(notes) - len(shown), "not drawn (random sample shown)"))
    ax.legend(fontsize="small", markerscale=2)
    return ax
