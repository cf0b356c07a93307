"""Figures of the status rules and the filters that feed them (spec 01 §10, spec 03 §2.2, §4–§6).

Pseudo-rater intervals (UcbCRNH), which rules acted in application order, the tag-outlier
weights and thresholds, net helpful ratings per factor side (MinMinorityRaters), and the
threshold geometry / cut-off histograms the notebooks use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from cnlab import schema
from cnlab.plotting._common import (
    CRH_THRESHOLD,
    CRNH_FACTOR_MULTIPLIER,
    CRNH_INTERCEPT,
    FACTOR_THRESHOLD,
    MIN_MINORITY_NET_HELPFUL,
    RULE_ORDER,
    STATUS_COLORS,
    TAG_PERCENTILE,
    TAG_WEIGHT_EXPONENT,
    UCB_CRNH_THRESHOLD,
    _OTHER_COLOR,
    _as_float,
    _axes,
    _current,
    _model_name,
    _pick,
    _status_col_for,
    _status_color,
    _status_order,
    _title,
    status_label,
)

_MISSING_COLOR = "#c7c7c7"


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
    (deterministic) so the figure stays readable (the x label says how many of how many); None
    keeps all.  Notes without an intercept or bounds are left out, counted in the title.

    Examples
    --------
    >>> n = pd.DataFrame({"coreNoteIntercept": [0.1, 0.5], "coreNoteInterceptMin": [0.09, 0.49],
    ...                   "coreNoteInterceptMax": [0.2, 0.6]})
    >>> ax = pseudo_rater_intervals(n)
    >>> len(ax.collections[0].get_segments())
    2
    >>> plt.close(ax.figure)
    """
    scored_notes = _current(scored_notes)
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
    colors = [(_status_color(s) if pd.notna(s) else _MISSING_COLOR) if scol else _OTHER_COLOR for s in status]
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

        handles = [Line2D([], [], color=_status_color(s), marker="o", ls="",
                          label=status_label(s, int((status == s).sum())))
                   for s in _status_order(status)]
        n_none = int(pd.isna(status).sum())
        if n_none:
            handles.append(Line2D([], [], color=_MISSING_COLOR, marker="o", ls="", label=f"no {scol} ({n_none:,})"))
        handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize="x-small", loc="upper left")
    else:
        ax.legend(fontsize="x-small", loc="upper left")
    width = hi[ok] - y[ok]
    ax.set_xlabel("notes, sorted by intercept" + (f" ({len(idx)} of {int(ok.sum())} shown)"
                                                  if len(idx) < ok.sum() else ""))
    ax.set_ylabel(f"{icol} with [min, max]")
    no_intercept = ~np.isfinite(y)
    _title(ax, f"Pseudo-rater intervals (n={int(ok.sum()):,} of {len(ok):,} notes; "
               f"median max − intercept = {np.median(width) if len(width) else 0:.3f})",
           (int(no_intercept.sum()), f"not scored by {_model_name(icol)}"),
           (int((~no_intercept & ~ok).sum()), f"without {lo_col} / {hi_col}"))
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
        ``active_rules`` when it is a column).  Notes of the column without any active rule
        (not scored by that model) are counted in the title.

    Examples
    --------
    >>> s = pd.Series(["InitialNMR (v1.0),GeneralCRH (v1.0)", "InitialNMR (v1.0),GeneralCRNH (v1.0)"])
    >>> ax = rule_flow(s)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['InitialNMR (v1.0)', 'GeneralCRH (v1.0)', 'GeneralCRNH (v1.0)']
    >>> plt.close(ax.figure)
    """
    counts = rule_counts(active_rules)
    n_none = 0
    if not isinstance(active_rules, Mapping) and not (
        isinstance(active_rules, pd.Series) and pd.api.types.is_numeric_dtype(active_rules.dtype)
    ):
        column = pd.Series(list(active_rules), dtype=object)
        n_none = int(column.map(lambda v: pd.isna(v) or not str(v).strip()).sum())
        if total is None:
            total = len(column)
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
    model = _model_name(getattr(active_rules, "name", None))
    _title(ax, "Scoring rules in application order" + (f" ({total:,} notes)" if total else ""),
           (n_none, f"with no active rule (not scored by {model})"))
    from matplotlib.patches import Patch

    used = []
    for r in counts.index:
        st = target.get(_rule_base(r))
        if st not in used:
            used.append(st)
    ax.legend(handles=[Patch(color=_status_color(s) if s else _OTHER_COLOR,
                             label=f"sets {status_label(s)}" if s else "other rule") for s in used],
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
    n_dropped = 0
    if d is not None:
        n_dropped = int((~np.isfinite(d)).sum())
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
    head = "Tag outlier filter: rating weights" + (f" ({len(d):,} distances)" if d is not None else "")
    _title(ax, head, (n_dropped, "non-finite distances"))
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
    rater_params = _current(rater_params)
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
        noteId.  Notes without a status (not scored by that model) are left out and counted
        in the title.
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
    scol = getattr(status, "name", None)
    if status is not None:
        if isinstance(status, pd.Series):
            st = counts[schema.NOTE_ID].map(status).astype(object).to_numpy()
        else:
            status = _current(status)
            scol = status_col or _pick(status, None, ["coreRatingStatus", schema.RATING_STATUS,
                                                      "finalRatingStatus"], what="net_helpful_by_side")
            st = counts[[schema.NOTE_ID]].merge(status[[schema.NOTE_ID, scol]], on=schema.NOTE_ID,
                                                how="left")[scol].astype(object).to_numpy()
    ax = _axes(ax, figsize=(5.8, 5.4))
    no_status = np.zeros(len(x), dtype=bool)
    if st is None:
        ax.scatter(xj, yj, s=7, alpha=0.6, color=_OTHER_COLOR, linewidths=0)
    else:
        for s in _status_order(st):
            m = st == s
            ax.scatter(xj[m], yj[m], s=7, alpha=0.7, color=_status_color(s), linewidths=0,
                       label=status_label(s, int(m.sum())))
        no_status = np.asarray(pd.isna(st), dtype=bool)  # not scored by that model: left out, counted
    ax.axvline(threshold, color="k", ls="--", lw=1, gid="min-minority")
    ax.axhline(threshold, color="k", ls="--", lw=1, gid="min-minority",
               label=f"MinMinorityRaters: ≥ {threshold} net helpful per side")
    xs, ys = x[~no_status], y[~no_status]
    lim = [min(np.nanmin(xs, initial=0), np.nanmin(ys, initial=0)) - 1,
           max(np.nanmax(xs, initial=1), np.nanmax(ys, initial=1)) + 1]
    ax.plot(lim, lim, color="#bbbbbb", lw=0.8, gid="diagonal")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("net helpful from negative-factor raters")
    ax.set_ylabel("net helpful from positive-factor raters")
    _title(ax, f"Net helpful ratings by rater side (n={int((~no_status).sum()):,} of {len(x):,} notes)",
           (int(no_status.sum()), f"not scored by {_model_name(scol)} (no {scol or 'status'})"))
    ax.legend(fontsize="x-small", loc="upper left")
    return ax


# ---------------------------------------------------------------------------
# Rule geometry and cut-offs (generic helpers used by the notebooks)
# ---------------------------------------------------------------------------
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
    frame = _current(frame)
    i = _as_float(frame[_pick(frame, intercept_col, [], what="threshold_status")])
    f = _as_float(frame[_pick(frame, factor_col, [], what="threshold_status")])
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
    +inf when no voter has a prior incorrect ratio); NaN values are left out and counted in the
    title.  The line has ``gid="threshold"``.

    Examples
    --------
    >>> ax = threshold_hist([1.0, 2.0, 3.0, np.inf], 2.5, label="tf-idf")
    >>> ax.get_title()
    'tf-idf: 2 of 4 ≥ 2.5'
    >>> plt.close(ax.figure)
    """
    v = _as_float(values)
    n_nan = int(np.isnan(v).sum())
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
    ax.set_title(f"{label}: {n_above:,} of {len(v):,} {op} {threshold:g}" + (f" ({n_nan:,} NaN left out)" if n_nan else ""))
    ax.set_xlabel(label)
    ax.set_ylabel("count")
    return ax
