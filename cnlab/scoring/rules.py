"""Per-scorer status rules and the rule applier (spec 03 §4, §7, §8).

Every rule is a pure function ``rule(stats, labels, *, <thresholds>) -> updates``:

* ``stats`` — one row per note (``noteId`` plus whatever statistics the rule reads);
* ``labels`` — the current status per note (aligned with ``stats``; ``None`` before
  the first rule);
* ``updates`` — a Series aligned with ``stats`` holding the new status of every note
  the rule *returns* (``None`` elsewhere), or a tuple ``(updates, extra)`` where
  ``extra`` is a DataFrame of additional per-note columns aligned with ``stats``.

A note that a rule returns with an unchanged status still counts as "decided" by
that rule (spec 03 §8).  :func:`apply_rules` runs a list of :class:`Rule` records in
order and records, per note, the rules that returned it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.scoring import factors as FX
from cnlab.scoring.config import RuleThresholds

log = logging.getLogger(__name__)

__all__ = [
    "Rule",
    "RuleOutcome",
    "RuleInvariantError",
    "apply_rules",
    "scorer_rules",
    "display_name",
    "LOCKING_RULE_NAMES",
    "TAG_FILTER_TAGS",
    "initial_nmr",
    "general_crh",
    "general_crnh",
    "ucb_crnh",
    "ratio_crnh",
    "nm_crnh",
    "general_crh_inertia",
    "tag_filter",
    "crh_super_threshold",
    "elevated_crh_inertia",
    "filter_incorrect",
    "filter_low_diligence",
    "filter_large_factor",
    "reject_low_intercept",
    "min_minority_raters",
    "rater_balance",
    "no_high_vol_intercept",
    "no_correlated_intercept",
]

# Columns the rules read (beyond schema names).
NOTE_INTERCEPT_MAX = "internalNoteIntercept_max"
NOTE_INTERCEPT_MIN = "internalNoteIntercept_min"
NOTE_INTERCEPT_NO_HIGH_VOL = "internalNoteInterceptNoHighVol"
NOTE_INTERCEPT_NO_CORRELATED = "internalNoteInterceptNoCorrelated"
NOTE_INTERCEPT_POPULATION_SAMPLED = "internalNoteInterceptPopulationSampled"
LOW_DILIGENCE_INTERCEPT = "lowDiligenceNoteIntercept"
CURRENT_STATUS = "currentStatus"
LOCKED_STATUS = "lockedStatus"
MIN_SIGN_COUNT = "minSignCount"
NEG_MEAN = "negFactor_meanHelpfulNum"
POS_MEAN = "posFactor_meanHelpfulNum"
NET_MIN_HELPFUL = "netMinHelpful"
NET_MIN_HELPFUL_RATIO = "netMinHelpfulRatio"
#: Per-note statistics of the two rater-factor sides (spec 03 §2.2) read by RatioCRNH,
#: MinMinorityRaters and RaterBalance.
SIDE_COLUMNS = (MIN_SIGN_COUNT, NEG_MEAN, POS_MEAN, NET_MIN_HELPFUL, NET_MIN_HELPFUL_RATIO)
#: k-factor runs with ``factor_rule="axis"``: the side statistics of axis j ≥ 2 are ``<col>@<j>``.
SIDE_AXIS_SEP = "@"


def side_axis_column(column: str, axis: int) -> str:
    """Name of a side statistic of factor axis ``axis`` (1 = the official column)."""
    return column if axis == 1 else f"{column}{SIDE_AXIS_SEP}{axis}"


def _side_views(stats: pd.DataFrame) -> list[pd.DataFrame]:
    """``stats`` as seen from every factor axis: axis 1 itself, then for j = 2, 3 … a view whose
    side columns hold axis j's statistics (only the axes present in ``stats``)."""
    views = [stats]
    j = 2
    while side_axis_column(MIN_SIGN_COUNT, j) in stats.columns:
        views.append(stats.assign(**{c: stats[side_axis_column(c, j)] for c in SIDE_COLUMNS}))
        j += 1
    return views


def _per_axis(rule, stats: pd.DataFrame, labels: pd.Series, combine: str, *, status: str,
              **kwargs) -> pd.Series:
    """The 1-D side rule on every axis's view (:func:`_side_views`), the notes it returns
    combined with ``"all"`` (returned on every axis) or ``"any"``."""
    masks = np.stack([rule(v, labels, status=status, **kwargs).notna().to_numpy() for v in _side_views(stats)])
    return _updates(masks.all(axis=0) if combine == "all" else masks.any(axis=0), status, stats.index)

# Tags the tag-outlier filter tests: the 13 not-helpful tags except HardToUnderstand (spec 03 §5).
TAG_FILTER_TAGS: tuple[str, ...] = tuple(t for t in S.NOT_HELPFUL_TAGS if t != "notHelpfulHardToUnderstand")


def display_name(name: str, version: str) -> str:
    """Official display string ``"<ruleName> (v<version>)"`` (spec 03 §1)."""
    return f"{name} (v{version})"


# Lock-enabled rule names (spec 03 §1 table, 04 §13 step 4).
LOCKING_RULE_NAMES: frozenset[str] = frozenset(
    [display_name(n, "1.1") for n in ("ExpansionModel", "CoreModel", "CoreWithTopicsModel")]
    + [display_name(f"GroupModel{g:02d}", "1.1") for g in range(1, 16)]
    + [display_name(n, "1.1") for n in ("GroupModel15NMR", "GroupModel18", "GroupModel18NMR",
                                         "GroupModel33", "GroupModel33NMR")]
    + [display_name(n, "1.0") for n in ("MultiGroupModel01", "InsufficientExplanation",
                                         "GaussianModel", "GaussianCoreWithTopicsModel")]
)


class RuleInvariantError(AssertionError):
    """An assertion of the official rule engine failed (e.g. inertia above its expected max)."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _col(stats: pd.DataFrame, name: str) -> pd.Series:
    """Column as float64 (NaN when absent or missing) — NaN comparisons are then False."""
    if name not in stats.columns:
        return pd.Series(np.nan, index=stats.index, dtype="float64")
    return pd.to_numeric(stats[name], errors="coerce").astype("float64")


def _mask(values) -> np.ndarray:
    """Boolean ndarray with NA → False."""
    if isinstance(values, pd.Series):
        return np.array(values.fillna(False).to_numpy(dtype=bool), dtype=bool, copy=True)
    return np.array(values, dtype=bool, copy=True)


def _is(labels: pd.Series, status: str) -> np.ndarray:
    return _mask(labels.astype(object) == status)


def _misleading_or_deleted(stats: pd.DataFrame) -> np.ndarray:
    """classification ≠ NOT_MISLEADING; NaN (deleted note) counts as ≠ (spec 03 §4)."""
    return ~_mask(stats[S.CLASSIFICATION].astype(object) == S.NOT_MISLEADING)


def _not_misleading(stats: pd.DataFrame) -> np.ndarray:
    return _mask(stats[S.CLASSIFICATION].astype(object) == S.NOT_MISLEADING)


def _updates(mask: np.ndarray, status: str, index: pd.Index) -> pd.Series:
    out = np.full(len(index), None, dtype=object)
    out[np.asarray(mask, dtype=bool)] = status
    return pd.Series(out, index=index, dtype=object)


def _enough_ratings(stats: pd.DataFrame, n: int) -> np.ndarray:
    return _mask(_col(stats, S.NUM_RATINGS) >= n)


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------------------
# Rules (spec 03 §4 table; class reference §7)
# ---------------------------------------------------------------------------


def initial_nmr(stats: pd.DataFrame, labels: pd.Series, *, status: str = S.NMR) -> pd.Series:
    """InitialNMR / MetaInitialNMR (``DefaultRule``): every note → ``status``."""
    return _updates(np.ones(len(stats), dtype=bool), status, stats.index)


def general_crh(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_needed: int, crh_threshold: float,
    status: str = S.CRH,
) -> pd.Series:
    """GeneralCRH (rule 2): ``k ≥ minRatingsNeeded ∧ i ≥ crhThreshold ∧ cls ≠ NOT_MISLEADING``."""
    m = _enough_ratings(stats, min_ratings_needed) & _mask(_col(stats, S.NOTE_INTERCEPT) >= crh_threshold)
    return _updates(m & _misleading_or_deleted(stats), status, stats.index)


def general_crnh(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_needed: int,
    crnh_threshold_intercept: float, crnh_threshold_note_factor_multiplier: float,
    status: str = S.CRNH, factor_rule: str = "norm",
) -> pd.Series:
    """GeneralCRNH (rule 3): ``k ≥ 5 ∧ i ≤ a + m·|f|`` (code uses ≤; doc says <).

    With defaults ``i ≤ −0.05 − 0.8·|f|``. With k factors (``internalNoteFactor2..k`` in
    ``stats``) the wedge is :func:`cnlab.scoring.factors.crnh_wedge`: ``i ≤ a + m·‖f‖₂``
    (``factor_rule="norm"``) or ``∀j: i ≤ a + m·|f_j|`` (``"axis"``).
    """
    i, f = _col(stats, S.NOTE_INTERCEPT), _col(stats, S.NOTE_FACTOR1)
    if len(FX.factor_columns(stats)) > 1:
        wedge = FX.crnh_wedge(i.to_numpy(), FX.factor_matrix(stats), offset=crnh_threshold_intercept,
                              slope=crnh_threshold_note_factor_multiplier, rule=factor_rule)
        return _updates(_enough_ratings(stats, min_ratings_needed) & wedge, status, stats.index)
    bound = crnh_threshold_intercept + crnh_threshold_note_factor_multiplier * f.abs()
    m = _enough_ratings(stats, min_ratings_needed) & _mask(i <= bound)
    return _updates(m, status, stats.index)


def ucb_crnh(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_needed: int,
    crnh_threshold_ucb_intercept: float, status: str = S.CRNH,
) -> pd.Series:
    """UcbCRNH (rule 4): ``k ≥ 5 ∧ internalNoteIntercept_max < −0.04``; never fires without the column."""
    m = _enough_ratings(stats, min_ratings_needed) & _mask(
        _col(stats, NOTE_INTERCEPT_MAX) < crnh_threshold_ucb_intercept
    )
    return _updates(m, status, stats.index)


def ratio_crnh(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_needed: int, min_sign_count: int = 3,
    max_side_mean: float = 0.4, max_mean: float = 0.3, status: str = S.CRNH, factor_rule: str = "norm",
) -> pd.Series:
    """RatioCRNH (rule 5, final round): low mean helpfulness on *both* factor sides.

    ``k ≥ 5 ∧ minSignCount ≥ 3 ∧ μ₋ ≤ 0.4 ∧ μ₊ ≤ 0.4 ∧ (μ₋ + μ₊)/2 ≤ 0.3``, evaluated in
    float32 like the official float32 columns (spec 03 §2.2: 0.2, 0.4 → 0.3 ≤ 0.3 is True).

    k factors: the sides are those of axis 1; with ``factor_rule="axis"`` and the side statistics
    of axes 2..k in ``stats`` (``<col>@<j>``), CRNH only when the condition holds on every axis.
    """
    if factor_rule == "axis":
        return _per_axis(ratio_crnh, stats, labels, "all", status=status, min_ratings_needed=min_ratings_needed,
                         min_sign_count=min_sign_count, max_side_mean=max_side_mean, max_mean=max_mean)
    neg, pos = _f32(_col(stats, NEG_MEAN)), _f32(_col(stats, POS_MEAN))
    side_max, avg_max = np.float32(max_side_mean), np.float32(max_mean)
    with np.errstate(invalid="ignore"):
        avg = (neg + pos) / np.float32(2)
        m = (
            _enough_ratings(stats, min_ratings_needed)
            & _mask(_col(stats, MIN_SIGN_COUNT) >= min_sign_count)
            & ~np.isnan(neg) & ~np.isnan(pos)
            & (neg <= side_max) & (pos <= side_max) & (avg <= avg_max)
        )
    return _updates(m, status, stats.index)


def nm_crnh(
    stats: pd.DataFrame, labels: pd.Series, *, crnh_threshold_nm_intercept: float, status: str = S.CRNH,
) -> pd.Series:
    """NmCRNH (rule 6, ``NMtoCRNH``): ``i < −0.15 ∧ cls == NOT_MISLEADING`` (no rating minimum)."""
    m = _mask(_col(stats, S.NOTE_INTERCEPT) < crnh_threshold_nm_intercept) & _not_misleading(stats)
    return _updates(m, status, stats.index)


def _inertia(
    stats, labels, *, min_ratings_needed, threshold, expected_max, status, on_violation
):
    i = _col(stats, S.NOTE_INTERCEPT)
    prev_crh = _mask(stats[CURRENT_STATUS].astype(object) == S.CRH) if CURRENT_STATUS in stats else False
    m = (
        ~_is(labels, S.CRH)  # candidates include CRNH notes (spec 03 §11 item 3)
        & _enough_ratings(stats, min_ratings_needed)
        & _mask(i >= threshold)
        & prev_crh
        & _misleading_or_deleted(stats)
    )
    bad = m & ~_mask(i <= expected_max)
    if bad.any():
        # The official AddCRHInertia asserts this and aborts the run (spec 03 §4).
        msg = f"inertia rule re-CRHs {int(bad.sum())} note(s) with intercept > {expected_max}"
        if on_violation == "raise":
            raise RuleInvariantError(msg)
        log.warning(msg)
    return _updates(m, status, stats.index)


def general_crh_inertia(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_needed: int, crh_threshold: float,
    inertia_delta: float, status: str = S.CRH, on_violation: str = "warn",
) -> pd.Series:
    """GeneralCRHInertia (rule 7, ``AddCRHInertia``): keep last run's CRH with a lower bar.

    Candidates: label ≠ CRH (includes CRNH). Fires if ``k ≥ 5 ∧ i ≥ crhThreshold − inertiaDelta
    ∧ NSH currentStatus == CRH ∧ cls ≠ NOT_MISLEADING``.  The official code asserts
    ``i ≤ crhThreshold`` for updated notes; ``on_violation`` = ``"raise"`` replicates the abort,
    ``"warn"`` logs it.
    """
    return _inertia(
        stats, labels, min_ratings_needed=min_ratings_needed, threshold=crh_threshold - inertia_delta,
        expected_max=crh_threshold, status=status, on_violation=on_violation,
    )


def tag_filter(
    stats: pd.DataFrame, labels: pd.Series, *, thresholds: Mapping[str, float],
    min_adjusted_total: float = 2.5, status: str = S.NMR,
) -> tuple[pd.Series, pd.DataFrame]:
    """TagFilter (rule 8, ``FilterTagOutliers``; spec 03 §5).

    Candidates: label ≠ CRNH (NMR notes included).  A tag t (all not-helpful tags but
    HardToUnderstand) is impacted if ``tAdjusted > 2.5 ∧ tAdjustedRatio > threshold[t]``.
    Returns the updates and ``activeFilterTags`` (impacted tags joined by ",", NaN if none).
    """
    cand = ~_is(labels, S.CRNH)
    hit = np.zeros((len(stats), len(TAG_FILTER_TAGS)), dtype=bool)
    for j, tag in enumerate(TAG_FILTER_TAGS):
        thr = thresholds.get(f"{tag}AdjustedRatio")
        if thr is None:
            continue
        hit[:, j] = _mask(_col(stats, f"{tag}Adjusted") > min_adjusted_total) & _mask(
            _col(stats, f"{tag}AdjustedRatio") > thr
        )
    hit &= cand[:, None]
    names = np.array(TAG_FILTER_TAGS, dtype=object)
    tags = [",".join(names[row]) if row.any() else np.nan for row in hit]
    impacted = hit.any(axis=1)
    extra = pd.DataFrame({S.ACTIVE_FILTER_TAGS: pd.Series(tags, index=stats.index, dtype=object)})
    return _updates(impacted, status, stats.index), extra


def crh_super_threshold(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_needed: int, crh_super_threshold: float,
    status: str = S.CRH,
) -> pd.Series:
    """CRHSuperThreshold (rule 9a): ``k ≥ 5 ∧ i ≥ crhSuperThreshold ∧ misleading-or-deleted``.

    Off at HEAD (``crhSuperThreshold`` is None for every scorer).
    """
    return general_crh(stats, labels, min_ratings_needed=min_ratings_needed,
                       crh_threshold=crh_super_threshold, status=status)


def elevated_crh_inertia(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_needed: int, crh_super_threshold: float,
    inertia_delta: float, status: str = S.CRH, on_violation: str = "warn",
) -> pd.Series:
    """ElevatedCRHInertia (rule 9b): inertia at ``crhSuperThreshold − inertiaDelta``. Off at HEAD."""
    return _inertia(
        stats, labels, min_ratings_needed=min_ratings_needed,
        threshold=crh_super_threshold - inertia_delta, expected_max=crh_super_threshold,
        status=status, on_violation=on_violation,
    )


def filter_incorrect(
    stats: pd.DataFrame, labels: pd.Series, *, tag_threshold: int = 2, vote_threshold: int = 3,
    incorrect_filter_threshold: float = 2.5, status: str = S.NMR,
) -> pd.Series:
    """FilterIncorrect (rule 10; spec 03 §6): label ≠ CRNH and

    ``notHelpfulIncorrect_interval ≥ 2 ∧ num_voters_interval ≥ 3 ∧ tf_idf_incorrect_interval ≥ 2.5``.
    """
    m = (
        ~_is(labels, S.CRNH)
        & _mask(_col(stats, "notHelpfulIncorrect_interval") >= tag_threshold)
        & _mask(_col(stats, "num_voters_interval") >= vote_threshold)
        & _mask(_col(stats, "tf_idf_incorrect_interval") >= incorrect_filter_threshold)
    )
    return _updates(m, status, stats.index)


def filter_low_diligence(
    stats: pd.DataFrame, labels: pd.Series, *, low_diligence_threshold: float, status: str = S.NMR,
) -> pd.Series:
    """FilterLowDiligence (rule 11): label ≠ CRNH ∧ ``lowDiligenceNoteIntercept > 0.263``."""
    m = ~_is(labels, S.CRNH) & _mask(_col(stats, LOW_DILIGENCE_INTERCEPT) > low_diligence_threshold)
    return _updates(m, status, stats.index)


def filter_large_factor(
    stats: pd.DataFrame, labels: pd.Series, *, factor_threshold: float, status: str = S.NMR,
    factor_rule: str = "norm",
) -> pd.Series:
    """FilterLargeFactor (rule 12): label == CRH ∧ ``|f| > 0.5`` (``|f| == 0.5`` passes).

    With k factors ``|f|`` is :func:`cnlab.scoring.factors.factor_magnitude`: ``‖f‖₂ > 0.5``
    (``factor_rule="norm"``) or ``∃j: |f_j| > 0.5`` (``"axis"``: CRH needs every axis within).
    """
    if len(FX.factor_columns(stats)) > 1:
        with np.errstate(invalid="ignore"):
            big = FX.factor_magnitude(FX.factor_matrix(stats), factor_rule) > factor_threshold
        return _updates(_is(labels, S.CRH) & big, status, stats.index)
    m = _is(labels, S.CRH) & _mask(_col(stats, S.NOTE_FACTOR1).abs() > factor_threshold)
    return _updates(m, status, stats.index)


def reject_low_intercept(
    stats: pd.DataFrame, labels: pd.Series, *, firm_reject_threshold: float, status: str = S.FIRM_REJECT,
) -> pd.Series:
    """RejectLowIntercept (rule 13): label ≠ CRNH ∧ ``i < firmRejectThreshold`` (NaN i untouched)."""
    m = ~_is(labels, S.CRNH) & _mask(_col(stats, S.NOTE_INTERCEPT) < firm_reject_threshold)
    return _updates(m, status, stats.index)


def min_minority_raters(
    stats: pd.DataFrame, labels: pd.Series, *, min_minority_net_helpful_ratings: int, status: str = S.NYH,
    factor_rule: str = "norm",
) -> pd.Series:
    """MinMinorityRaters (rule 14): label == CRH ∧ ``netMinHelpful < 4`` → NYH.

    k factors: the sides are those of axis 1; with ``factor_rule="axis"`` (side statistics of
    axes 2..k in ``stats``) NYH when the condition holds on any axis (``min_j netMinHelpful_j < 4``).
    """
    if factor_rule == "axis":
        return _per_axis(min_minority_raters, stats, labels, "any", status=status,
                         min_minority_net_helpful_ratings=min_minority_net_helpful_ratings)
    m = _is(labels, S.CRH) & _mask(_col(stats, NET_MIN_HELPFUL) < min_minority_net_helpful_ratings)
    return _updates(m, status, stats.index)


def rater_balance(
    stats: pd.DataFrame, labels: pd.Series, *, min_minority_net_helpful_ratio: float,
    min_net: int = 4, max_net: int = 10, status: str = S.NYH, factor_rule: str = "norm",
) -> pd.Series:
    """RaterBalance (rule 15): label == CRH ∧ ``4 ≤ netMinHelpful < 10 ∧ netMinHelpfulRatio < 0.05``.

    The ratio is float32 in the official code, so the comparison is done in float32. k factors:
    as :func:`min_minority_raters` (``"axis"``: NYH when the condition holds on any axis).
    """
    if factor_rule == "axis":
        return _per_axis(rater_balance, stats, labels, "any", status=status,
                         min_minority_net_helpful_ratio=min_minority_net_helpful_ratio, min_net=min_net,
                         max_net=max_net)
    net = _col(stats, NET_MIN_HELPFUL)
    ratio = _f32(_col(stats, NET_MIN_HELPFUL_RATIO))
    with np.errstate(invalid="ignore"):
        low = ratio < np.float32(min_minority_net_helpful_ratio)
    m = _is(labels, S.CRH) & _mask((net >= min_net) & (net < max_net)) & low
    return _updates(m, status, stats.index)


def no_high_vol_intercept(
    stats: pd.DataFrame, labels: pd.Series, *, crh_threshold_no_high_vol: float, status: str = S.NYH,
) -> pd.Series:
    """NoHighVolIntercept (rule 16): label == CRH ∧ ``internalNoteInterceptNoHighVol < 0.37`` → NYH."""
    m = _is(labels, S.CRH) & _mask(_col(stats, NOTE_INTERCEPT_NO_HIGH_VOL) < crh_threshold_no_high_vol)
    return _updates(m, status, stats.index)


def no_correlated_intercept(
    stats: pd.DataFrame, labels: pd.Series, *, crh_threshold_no_correlated: float, status: str = S.NYH,
) -> pd.Series:
    """NoCorrelatedIntercept (rule 17): label == CRH ∧ ``internalNoteInterceptNoCorrelated < 0.37``."""
    m = _is(labels, S.CRH) & _mask(
        _col(stats, NOTE_INTERCEPT_NO_CORRELATED) < crh_threshold_no_correlated
    )
    return _updates(m, status, stats.index)


# ---------------------------------------------------------------------------
# Rule records and the applier (spec 03 §8)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One entry of a rule list.

    Attributes
    ----------
    name
        Display name written to active-rules / decidedBy, e.g. ``"GeneralCRH (v1.0)"``.
    fn
        The pure rule function ``fn(stats, labels, **kwargs)``.
    kwargs
        Keyword arguments (thresholds, status) passed to ``fn``.
    """

    name: str
    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, stats: pd.DataFrame, labels: pd.Series):
        return self.fn(stats, labels, **dict(self.kwargs))


@dataclass(frozen=True)
class RuleOutcome:
    """Result of :func:`apply_rules`; all Series are aligned with the input ``stats`` rows.

    Attributes
    ----------
    note_ids
        ``noteId`` per row.
    status
        Final label per note.
    active_rules
        Comma-joined display names of the rules that returned the note, in rule order.
    decided_by
        Last entry of ``active_rules``.
    extra
        Extra columns returned by rules (e.g. ``activeFilterTags``).
    status_col, active_col
        Column names used by :meth:`to_frame`.
    """

    note_ids: pd.Series
    status: pd.Series
    active_rules: pd.Series
    decided_by: pd.Series
    extra: pd.DataFrame
    status_col: str = S.RATING_STATUS
    active_col: str = S.ACTIVE_RULES

    def to_frame(self, *, decided_by_col: str | None = None, bools: bool = True) -> pd.DataFrame:
        """noteId, status, active rules, [decidedBy], extra columns, [crhBool, crnhBool, awaitingBool]."""
        out = pd.DataFrame({S.NOTE_ID: self.note_ids, self.status_col: self.status,
                            self.active_col: self.active_rules})
        if decided_by_col:
            out[decided_by_col] = self.decided_by
        for c in self.extra.columns:
            out[c] = self.extra[c]
        if bools:
            out["crhBool"] = _is(self.status, S.CRH)
            out["crnhBool"] = _is(self.status, S.CRNH)
            out["awaitingBool"] = _is(self.status, S.NMR)
        return out.reset_index(drop=True)

    def summary(self) -> str:
        counts = self.status.value_counts(dropna=False).to_dict()
        return f"RuleOutcome({len(self.status)} notes, statuses={counts})"


def apply_rules(
    stats: pd.DataFrame, rules: Sequence[Rule], *, status_col: str = S.RATING_STATUS,
    active_col: str = S.ACTIVE_RULES,
) -> RuleOutcome:
    """Apply ``rules`` in order; the last rule returning a note sets its label (spec 03 §8).

    Parameters
    ----------
    stats
        One row per note with ``noteId`` and the columns the rules read.
    rules
        Ordered rule list; display names must be unique.
    status_col, active_col
        Output column names for :meth:`RuleOutcome.to_frame`.

    Raises
    ------
    ValueError
        If a rule name repeats or a note ends without a label.
    """
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate rule names in {names}")
    if stats[S.NOTE_ID].duplicated().any():
        raise ValueError("apply_rules: stats must have one row per noteId")
    n = len(stats)
    labels = pd.Series(np.full(n, None, dtype=object), index=stats.index, dtype=object)
    active = np.full(n, "", dtype=object)
    extra: dict[str, pd.Series] = {}
    for rule in rules:
        res = rule(stats, labels)
        upd, more = (res if isinstance(res, tuple) else (res, None))
        upd = upd.reindex(stats.index)
        fired = upd.notna().to_numpy()
        if fired.any():
            vals = labels.to_numpy(copy=True)
            vals[fired] = upd.to_numpy()[fired]
            labels = pd.Series(vals, index=stats.index, dtype=object)
            sep = np.where(active[fired] == "", "", ",")
            active[fired] = active[fired] + sep + rule.name
        if more is not None:
            for c in more.columns:
                extra[c] = more[c].reindex(stats.index)
    if labels.isna().any():
        raise ValueError(f"{int(labels.isna().sum())} note(s) ended without a label")
    active_s = pd.Series(active, index=stats.index, dtype=object)
    decided = pd.Series([a.rsplit(",", 1)[-1] for a in active], index=stats.index, dtype=object)
    return RuleOutcome(
        note_ids=stats[S.NOTE_ID], status=labels, active_rules=active_s, decided_by=decided,
        extra=pd.DataFrame(extra, index=stats.index), status_col=status_col, active_col=active_col,
    )


def scorer_rules(
    thresholds: RuleThresholds, *, final_round: bool, has_no_high_vol: bool = False,
    has_no_correlated: bool = False, tag_thresholds: Mapping[str, float] | None = None,
    on_violation: str = "warn", factor_rule: str = "norm",
) -> list[Rule]:
    """Ordered rule list of one MF scorer (spec 03 §4 table).

    Parameters
    ----------
    thresholds
        The scorer's :class:`RuleThresholds`.
    final_round
        False for prescoring intermediate labels (rules 1–4, 6 only).
    has_no_high_vol, has_no_correlated
        Whether the NoHighVol / NoCorrelated intercepts were computed (main final call).
    tag_thresholds
        Tag-filter thresholds from prescoring (keys ``"<tag>AdjustedRatio"``); TagFilter is
        skipped when None.
    on_violation
        What the inertia rules do when the official assertion would fail (``"warn"``/``"raise"``).
    factor_rule
        k-factor form of GeneralCRNH, FilterLargeFactor (:mod:`cnlab.scoring.factors`) and, with
        ``"axis"``, of the side rules RatioCRNH, MinMinorityRaters and RaterBalance; only read
        when the statistics hold ``internalNoteFactor2..k`` (or the side statistics of axes
        2..k). Passed to the rules only when it is ``"axis"``, so the rule parameters of the
        official path are unchanged.
    """
    t = thresholds
    FX.check_rule(factor_rule)
    fr = {"factor_rule": factor_rule} if factor_rule != "norm" else {}
    k = t.min_ratings_needed
    fs = t.filter_status
    rules = [
        Rule(display_name("InitialNMR", "1.0"), initial_nmr, {"status": S.NMR}),
        Rule(display_name("GeneralCRH", "1.0"), general_crh,
             {"min_ratings_needed": k, "crh_threshold": t.crh_threshold}),
        Rule(display_name("GeneralCRNH", "1.0"), general_crnh,
             {"min_ratings_needed": k, "crnh_threshold_intercept": t.crnh_threshold_intercept,
              "crnh_threshold_note_factor_multiplier": t.crnh_threshold_note_factor_multiplier, **fr}),
        Rule(display_name("UcbCRNH", "1.0"), ucb_crnh,
             {"min_ratings_needed": k, "crnh_threshold_ucb_intercept": t.crnh_threshold_ucb_intercept}),
    ]
    if final_round:
        rules.append(Rule(display_name("RatioCRNH", "1.0"), ratio_crnh,
                          {"min_ratings_needed": k, "min_sign_count": t.ratio_crnh_min_sign_count,
                           "max_side_mean": t.ratio_crnh_max_side_mean, "max_mean": t.ratio_crnh_max_mean, **fr}))
    rules.append(Rule(display_name("NmCRNH", "1.0"), nm_crnh,
                      {"crnh_threshold_nm_intercept": t.crnh_threshold_nm_intercept}))
    if not final_round:
        return rules
    rules.append(Rule(display_name("GeneralCRHInertia", "1.0"), general_crh_inertia,
                      {"min_ratings_needed": k, "crh_threshold": t.crh_threshold,
                       "inertia_delta": t.inertia_delta, "on_violation": on_violation}))
    if tag_thresholds is not None:
        rules.append(Rule(display_name("TagFilter", "1.0"), tag_filter,
                          {"thresholds": dict(tag_thresholds),
                           "min_adjusted_total": t.tag_min_adjusted_total, "status": fs}))
    if t.crh_super_threshold is not None:
        rules.append(Rule(display_name("CRHSuperThreshold", "1.0"), crh_super_threshold,
                          {"min_ratings_needed": k, "crh_super_threshold": t.crh_super_threshold}))
        rules.append(Rule(display_name("ElevatedCRHInertia", "1.0"), elevated_crh_inertia,
                          {"min_ratings_needed": k, "crh_super_threshold": t.crh_super_threshold,
                           "inertia_delta": t.inertia_delta, "on_violation": on_violation}))
    rules += [
        Rule(display_name("FilterIncorrect", "1.0"), filter_incorrect,
             {"tag_threshold": t.incorrect_tag_threshold, "vote_threshold": t.incorrect_vote_threshold,
              "incorrect_filter_threshold": t.incorrect_filter_threshold, "status": fs}),
        Rule(display_name("FilterLowDiligence", "1.0"), filter_low_diligence,
             {"low_diligence_threshold": t.low_diligence_threshold, "status": fs}),
        Rule(display_name("FilterLargeFactor", "1.0"), filter_large_factor,
             {"factor_threshold": t.factor_threshold, "status": fs, **fr}),
    ]
    if t.firm_reject_threshold is not None:
        rules.append(Rule(display_name("RejectLowIntercept", "1.0"), reject_low_intercept,
                          {"firm_reject_threshold": t.firm_reject_threshold}))
    if t.min_minority_net_helpful_ratings is not None:
        rules.append(Rule(display_name("MinMinorityRaters", "1.0"), min_minority_raters,
                          {"min_minority_net_helpful_ratings": t.min_minority_net_helpful_ratings, **fr}))
    if t.min_minority_net_helpful_ratio is not None:
        rules.append(Rule(display_name("RaterBalance", "1.0"), rater_balance,
                          {"min_minority_net_helpful_ratio": t.min_minority_net_helpful_ratio,
                           "min_net": t.rater_balance_min_net, "max_net": t.rater_balance_max_net, **fr}))
    if has_no_high_vol:
        rules.append(Rule(display_name("NoHighVolIntercept", "1.0"), no_high_vol_intercept,
                          {"crh_threshold_no_high_vol": t.crh_threshold_no_high_vol}))
    if has_no_correlated:
        rules.append(Rule(display_name("NoCorrelatedIntercept", "1.0"), no_correlated_intercept,
                          {"crh_threshold_no_correlated": t.crh_threshold_no_correlated}))
    return rules
