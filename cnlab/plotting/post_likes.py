"""Figures of the "liked by people with different perspectives" pilot (spec 07 B, :mod:`cnlab.post_likes`).

Rater factors with the L / M / R split (§B.2–§B.3) and posts by positive ratings per side with
their activation state (§B.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import _OTHER_COLOR, _as_float, _axes, _left_out


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
    side) the histogram is stacked by label.  Missing factors are left out (counted in the
    title).

    Examples
    --------
    >>> ax = rater_factor_buckets(pd.DataFrame({"finalFactor": [-0.5, -0.1, 0.15, 0.4, np.nan]}))
    >>> print(ax.get_title())
    Rater factors (n=4): L 1 / M 1 / R 2, split ±0.15
    left out: 1 without a factor
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
    tail = _left_out([(int((~ok).sum()), "without a factor")])
    ax.set_title(f"Rater factors (n={len(f):,}): L {n_l:,} / M {n_m:,} / R {n_r:,}, split ±{split:g}"
                 + (f"\n{tail}" if tail else ""), pad=14)
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
