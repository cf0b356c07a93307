"""Figures of seed stability (:class:`cnlab.lab.stability.SeedStability`): how sure each note's
status is across seeds, the CRH churn of seed pairs beside the official churn guards, and the
seed-to-seed spread of the intercept against the distance to the CRH threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import STATUS_COLORS, _OTHER_COLOR, _axes, _status_order, _title, status_label

_FIDELITY_COLORS = {"official": "#4c72b0", "fast": "#dd8452"}
_GUARD_STYLES = {0.12: ":", 0.30: "--"}


def _fid_color(f: str, i: int) -> str:
    return _FIDELITY_COLORS.get(f, ("#55a868", "#c44e52", "#8172b3")[i % 3])


def status_probability_hist(stability: Any, *, column: str = "coreRatingStatus", ax: Axes | None = None) -> Axes:
    """Bars: notes by the probability of their most frequent ``column`` value across the seeds,
    one bar colour per fidelity.

    A note whose status never changes has probability 1; with N seeds the values are k/N. The
    title counts, per fidelity, the notes below 1 (status decided by the seed).

    Examples
    --------
    >>> from cnlab.lab.stability import SeedStability
    >>> a = pd.DataFrame({"noteId": [1, 2], "coreRatingStatus": ["CURRENTLY_RATED_HELPFUL"] * 2,
    ...                   "coreNoteIntercept": [0.45, 0.41]})
    >>> b = a.assign(coreRatingStatus=["CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS"])
    >>> st = SeedStability.from_runs({("official", 0): a, ("official", 1): b})
    >>> ax = status_probability_hist(st)
    >>> [float(p.get_height()) for p in ax.patches]
    [1.0, 1.0]
    >>> ax.get_title()
    'coreRatingStatus across 2 seeds: notes whose status changes with the seed: official 1 of 2'
    >>> plt.close(ax.figure)
    """
    if column not in stability.status_columns:
        raise KeyError(f"{column!r} is not compared: {list(stability.status_columns)}")
    pn = stability.per_note
    fids = list(stability.fidelities)
    values = sorted({round(float(v), 6) for v in pn[f"{column}_p_modal"]})
    ax = _axes(ax, figsize=(6.4, 3.8))
    width = 0.8 / max(len(fids), 1)
    x = np.arange(len(values))
    parts = []
    for i, f in enumerate(fids):
        p = pn.loc[pn["fidelity"] == f, f"{column}_p_modal"].round(6)
        counts = [int((p == v).sum()) for v in values]
        ax.bar(x + (i - (len(fids) - 1) / 2) * width, counts, width=width, color=_fid_color(f, i), label=f)
        parts.append(f"{f} {int((p < 1).sum()):,} of {len(p):,}")
    ax.set_xticks(x, [f"{v:.2f}" for v in values])
    ax.set_xlabel(f"probability of the note's most frequent {column} across the seeds")
    ax.set_ylabel("notes")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_title(f"{column} across {len(stability.seeds)} seeds: notes whose status changes with the seed: "
                 + ", ".join(parts), fontsize="small")
    ax.legend(title="fidelity", fontsize="small")
    return ax


def churn_by_fidelity(stability: Any, *, column: str = "coreRatingStatus", ax: Axes | None = None) -> Axes:
    """Points: the CRH churn of every seed pair, per fidelity; circles the churn
    ``|A△B| / |A∪B|``, squares the official churn ``max(|A\\B|, |B\\A|) / (min(|A|,|B|) + 100)``,
    with the official guards as horizontal lines (``gid="churn-guard-0.12"``, ``"churn-guard-0.30"``).

    Examples
    --------
    >>> from cnlab.lab.stability import SeedStability
    >>> a = pd.DataFrame({"noteId": [1, 2], "coreRatingStatus": ["CURRENTLY_RATED_HELPFUL"] * 2})
    >>> b = a.assign(coreRatingStatus=["CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS"])
    >>> st = SeedStability.from_runs({("official", 0): a, ("official", 1): b})
    >>> ax = churn_by_fidelity(st)
    >>> sorted(l.get_gid() for l in ax.lines if l.get_gid())
    ['churn-guard-0.12', 'churn-guard-0.30']
    >>> plt.close(ax.figure)
    """
    from cnlab.lab.stability import CHURN_GUARDS

    ch = stability.churn
    ch = ch[ch["column"] == column]
    fids = list(stability.fidelities)
    ax = _axes(ax, figsize=(5.2, 4.0))
    rng = np.random.default_rng(0)  # fixed jitter: the figure's bytes depend on the data only
    for i, f in enumerate(fids):
        c = ch[ch["fidelity_a"] == f]
        jit = rng.uniform(-0.08, 0.08, size=len(c))
        ax.scatter(i - 0.12 + jit, c["churn"], marker="o", color=_fid_color(f, i), alpha=0.8,
                   label="churn |A△B| / |A∪B|" if i == 0 else None)
        ax.scatter(i + 0.12 + jit, c["official_churn"], marker="s", facecolors="none",
                   edgecolors=_fid_color(f, i), label="official churn" if i == 0 else None)
    for g in CHURN_GUARDS:
        ax.axhline(g, color="k", lw=1.0, ls=_GUARD_STYLES.get(g, "-."), gid=f"churn-guard-{g:.2f}",
                   label=f"official guard {g:.2f}")
    ax.set_xticks(range(len(fids)), fids)
    ax.set_xlim(-0.6, len(fids) - 0.4)
    ax.set_ylim(0, max(0.35, float(ch[["churn", "official_churn"]].max().max()) * 1.1 if len(ch) else 0.35))
    ax.set_ylabel(f"CRH churn between two seeds ({column})")
    ax.set_title(f"CRH churn, {len(ch):,} seed pairs ({len(stability.seeds)} seeds)", fontsize="small")
    ax.legend(fontsize="x-small", loc="upper right")
    return ax


def spread_vs_distance(stability: Any, *, fidelity: str | None = None, column: str = "coreRatingStatus",
                       point_size: float = 9.0, ax: Axes | None = None) -> Axes:
    """Scatter: per note, the seed-to-seed standard deviation of the intercept (y) against its mean
    distance to the CRH threshold (x = mean intercept − crh threshold). Notes whose ``column``
    changes with the seed are outlined and coloured by their most frequent status; vertical lines
    mark the CRH threshold (``gid="crh-threshold"``) and, for a scorer with one, the firm-reject
    threshold (``gid="firm-reject-threshold"``). Notes without an intercept are left out and
    counted in the title.

    Examples
    --------
    >>> from cnlab.lab.stability import SeedStability
    >>> a = pd.DataFrame({"noteId": [1, 2, 3], "coreRatingStatus": ["CURRENTLY_RATED_HELPFUL"] * 2 + [None],
    ...                   "coreNoteIntercept": [0.45, 0.41, np.nan]})
    >>> b = a.assign(coreRatingStatus=["CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS", None],
    ...              coreNoteIntercept=[0.45, 0.39, np.nan])
    >>> ax = spread_vs_distance(SeedStability.from_runs({("official", 0): a, ("official", 1): b}))
    >>> ax.get_title()
    'official: intercept spread across 2 seeds (n=2; 1 change status)\\nleft out: 1 without an intercept'
    >>> sorted(l.get_gid() for l in ax.lines if l.get_gid())
    ['crh-threshold', 'firm-reject-threshold']
    >>> plt.close(ax.figure)
    """
    fidelity = fidelity or stability.fidelities[0]
    icol = f"{stability.prefix}NoteIntercept"
    pn = stability.per_note[stability.per_note["fidelity"] == fidelity]
    x = pn["d_crh"].to_numpy(dtype=np.float64)
    y = pn[f"{icol}_sd"].to_numpy(dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    unstable = pn[f"{column}_unstable"].to_numpy(dtype=bool)
    modal = pn[f"{column}_modal"].to_numpy(dtype=object)
    ax = _axes(ax)
    m = ok & ~unstable
    ax.scatter(x[m], y[m], s=point_size, color="#d9d9d9", alpha=0.6, linewidths=0,
               label=f"same {column} under every seed ({int(m.sum()):,})")
    for st in _status_order(modal[ok & unstable]):
        m = ok & unstable & (modal == st)
        ax.scatter(x[m], y[m], s=point_size * 2.5, color=STATUS_COLORS.get(st, _OTHER_COLOR), edgecolors="k",
                   linewidths=0.6, label="changes; mostly " + status_label(st, int(m.sum())))
    th = stability.thresholds.crh_threshold
    ax.axvline(0.0, color=STATUS_COLORS[schema.CRH], ls="--", lw=1.2, gid="crh-threshold",
               label=f"CRH threshold ({icol} = {th:g})")
    fr = getattr(stability.thresholds, "firm_reject_threshold", None)
    if fr is not None:  # below it an NMR note becomes FIRM_REJECT (Core, Expansion)
        ax.axvline(fr - th, color=STATUS_COLORS.get(schema.FIRM_REJECT, _OTHER_COLOR), ls=":", lw=1.2,
                   gid="firm-reject-threshold", label=f"firm-reject threshold ({icol} = {fr:g})")
    ax.set_xlabel(f"mean {icol} − {th:g}")
    ax.set_ylabel(f"sd of {icol} across seeds")
    _title(ax, f"{fidelity}: intercept spread across {len(stability.seeds)} seeds (n={int(ok.sum()):,}; "
           f"{int((ok & unstable).sum()):,} change status)", (int((~ok).sum()), "without an intercept"))
    ax.legend(fontsize="x-small", loc="best")
    return ax
