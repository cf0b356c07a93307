"""Figures of the coordinated-attack experiments (:mod:`cnlab.lab.attacks`): pollution or
suppression against the number of attackers, one line per defence setting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab.plotting._common import _axes, _title

_METRIC_TEXT = {
    "pollution": "pollution: not-helpful targets rated CRH",
    "suppression": "suppression: helpful targets not CRH",
    "became_crh": "targets that became CRH",
    "lost_crh": "targets that lost CRH",
}
# one colour per named defence setting, so that figures side by side agree
_SETTING_COLORS = {
    "all on": "#1b7837", "all off": "#b2182b", "no pss": "#2166ac", "no quasi-cliques": "#762a83",
    "no reputation": "#e08214", "no high-volume": "#8c510a",
}


def attack_curves(curve: pd.DataFrame, *, metric: str | None = None, strategy: str | None = None,
                  alpha: float = 0.05, ax: Axes | None = None) -> Axes:
    """Pollution (or suppression) vs attacker count, one line per defence setting.

    ``curve`` is :func:`cnlab.lab.attack_curve`'s tidy frame. Seeds are pooled: each point is
    the summed count over the summed number of targets of every seed, drawn with its Wilson
    interval at level 1 − ``alpha`` as a band (gid ``"wilson-band"``). Points without targets of
    the metric's kind (n = 0) are left out and counted in the title.

    Parameters
    ----------
    curve
        Columns ``strategy``, ``defences``, ``n_attackers``, ``metric``, ``count``, ``n``.
    metric
        ``"pollution"``, ``"suppression"``, ``"became_crh"`` or ``"lost_crh"``; default:
        ``"suppression"`` for a suppress strategy (or goal), else ``"pollution"``.
    strategy
        The strategy to draw when ``curve`` holds several (default: the only one, else the first).

    Examples
    --------
    >>> curve = pd.DataFrame({"strategy": "promote", "defences": ["all on"] * 2 + ["all off"] * 2,
    ...                       "n_attackers": [0, 10, 0, 10], "metric": "pollution",
    ...                       "count": [1, 2, 1, 6], "n": [10] * 4})
    >>> ax = attack_curves(curve)
    >>> [line.get_label() for line in ax.get_lines()]
    ['all on', 'all off']
    >>> ax.get_lines()[1].get_ydata().tolist()
    [0.1, 0.6]
    >>> plt.close(ax.figure)
    """
    from statsmodels.stats.proportion import proportion_confint

    strategies = list(pd.unique(curve["strategy"]))
    strategy = strategy if strategy is not None else (strategies[0] if strategies else "")
    d = curve[curve["strategy"] == strategy]
    if metric is None:
        metric = "suppression" if "suppress" in str(strategy) else "pollution"
    d = d[d["metric"] == metric]
    g = d.groupby(["defences", "n_attackers"], sort=False)[["count", "n"]].sum().reset_index()
    empty = g["n"] == 0
    n_left = int(empty.sum())
    g = g[~empty]
    ax = _axes(ax, figsize=(6.4, 4.4))
    for i, (label, part) in enumerate(g.groupby("defences", sort=False)):
        part = part.sort_values("n_attackers")
        x = part["n_attackers"].to_numpy(dtype=np.float64)
        y = (part["count"] / part["n"]).to_numpy(dtype=np.float64)
        lo, hi = proportion_confint(part["count"].to_numpy(), part["n"].to_numpy(), alpha=alpha, method="wilson")
        color = _SETTING_COLORS.get(str(label), f"C{i}")
        ax.plot(x, y, marker="o", color=color, label=str(label))
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, linewidth=0, gid="wilson-band")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("attackers (new accounts)")
    ax.set_ylabel(_METRIC_TEXT.get(metric, metric))
    seeds = int(curve["seed"].nunique()) if "seed" in curve.columns else 1
    targets = int(g["n"].max() / max(seeds, 1)) if len(g) else 0
    ax.legend(title="defences", fontsize="small")
    _title(ax, f"{strategy}: {metric} vs attackers ({seeds} seed{'s' if seeds != 1 else ''}, "
               f"≈{targets} targets each; band: {100 * (1 - alpha):.0f} % Wilson)",
           (n_left, "points without targets of this kind"), fontsize="medium")
    return ax
