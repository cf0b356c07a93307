"""Meta-scoring: reconcile per-scorer statuses into the final status (spec 04 §11, 03 §7–§9).

Every meta rule is a pure function with the same contract as the per-scorer rules
(:mod:`cnlab.scoring.rules`): ``rule(stats, labels, **kw) -> updates | (updates, extra)``.
:func:`meta_rules` builds the ordered list of spec 04 §11.3 and :func:`meta_score` runs it.
Rules whose input columns are absent return no updates.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.scoring import factors as FX
from cnlab.scoring.config import MetaConfig
from cnlab.scoring.explanation_tags import top_two_tags
from cnlab.scoring.rules import Rule, _col, _is, _mask, _updates, apply_rules, display_name, initial_nmr

__all__ = [
    "blocked",
    "apply_model_result",
    "apply_group_model_result",
    "apply_nmr_group_model_result",
    "apply_coverage_model_result",
    "apply_topic_model_result",
    "population_sampled_intercept",
    "nmr_due_to_min_stable_crh_time",
    "scoring_drift_guard",
    "insufficient_explanation",
    "meta_rules",
    "meta_score",
    "META_SCORED_COLUMNS",
    "META_AUX_COLUMNS",
    "MILLIS_PER_MINUTE",
]

MILLIS_PER_MINUTE = 60_000
UPDATED_NMR_TS = "updatedTimestampMillisOfNmrDueToMinStableCrhTime"
NMR_TS = "timestampMillisOfNmrDueToMinStableCrhTime"
META_SCORED_COLUMNS = ("finalRatingStatus", "metaScorerActiveRules", "firstTag", "secondTag", "decidedBy", UPDATED_NMR_TS)
META_AUX_COLUMNS = ("crhBool", "crnhBool", "awaitingBool", "unlockedRatingStatus", "preStabilizationRatingStatus")


def _obj(stats: pd.DataFrame, name: str) -> pd.Series:
    """Object column (all-NaN when absent), so string comparisons are NaN-safe."""
    if name not in stats.columns:
        return pd.Series(np.nan, index=stats.index, dtype=object)
    return stats[name].astype(object)


def _in(series: pd.Series, values: Iterable[str]) -> np.ndarray:
    return _mask(series.isin(list(values)))


def _truthy(series: pd.Series) -> np.ndarray:
    """True for True / "True" (topicNoteConfident may be bool, object or str)."""
    return np.array([v is True or v is np.True_ or v == "True" or v == 1 and not isinstance(v, str)
                     for v in series.astype(object)], dtype=bool)


def _falsy(series: pd.Series) -> np.ndarray:
    return np.array([v is False or v is np.False_ or v == "False" or (v == 0 and not isinstance(v, str))
                     for v in series.astype(object)], dtype=bool)


def blocked(stats: pd.DataFrame) -> np.ndarray:
    """Notes whose CRH is blocked by Core/Expansion (spec 04 §11.4).

    ``core ∈ {FIRM_REJECT, CRNH} ∨ (core is NaN ∧ expansion ∈ {FIRM_REJECT, CRNH})``.
    """
    bad = (S.FIRM_REJECT, S.CRNH)
    core = _obj(stats, "coreRatingStatus")
    return _in(core, bad) | (_mask(core.isna()) & _in(_obj(stats, "expansionRatingStatus"), bad))


def apply_model_result(
    stats: pd.DataFrame, labels: pd.Series, *, source_col: str, check_firm_reject: bool = False,
    filter_pairs: tuple[tuple[str, object], ...] = (),
) -> pd.Series:
    """``ApplyModelResult``: copy non-NaN ``source_col`` statuses (FIRM_REJECT → NMR).

    With ``check_firm_reject`` CRH/NYH proposals on :func:`blocked` notes are dropped;
    ``filter_pairs`` keeps only rows where ``column == value``.
    """
    src = _obj(stats, source_col)
    m = _mask(src.notna())
    for col, val in filter_pairs:
        m &= _mask(_col(stats, col) == val) if not isinstance(val, str) else _mask(_obj(stats, col) == val)
    if check_firm_reject:
        m &= ~(_in(src, (S.CRH, S.NYH)) & blocked(stats))
    vals = src.where(src != S.FIRM_REJECT, S.NMR).to_numpy(dtype=object)
    out = np.full(len(stats), None, dtype=object)
    out[m] = vals[m]
    return pd.Series(out, index=stats.index, dtype=object)


def apply_group_model_result(
    stats: pd.DataFrame, labels: pd.Series, *, group: int, min_safeguard: float = 0.3,
    core_cap: float | None = 0.40, expansion_cap: float | None = 0.40,
) -> pd.Series:
    """``ApplyGroupModelResult``: group promotion (spec 04 §11.5).

    Candidates: not blocked, ``groupRatingStatus ∈ {CRH, NYH}``, ``modelingGroup == g``, label ∈
    {NMR, NYH}, not NYH→NYH.  Actionable iff ``lower < i < cap`` with i = core intercept if
    present else expansion intercept (cap of that scorer; None = no cap).
    """
    src = _obj(stats, "groupRatingStatus")
    lab = labels.astype(object)
    m = (~blocked(stats) & _in(src, (S.CRH, S.NYH)) & _mask(_col(stats, S.MODELING_GROUP) == group)
         & _in(lab, (S.NMR, S.NYH)) & ~(_mask(src == S.NYH) & _mask(lab == S.NYH)))
    core, exp = _col(stats, "coreNoteIntercept"), _col(stats, "expansionNoteIntercept")
    use_core = _mask(core.notna())
    i = np.where(use_core, core, exp)
    with np.errstate(invalid="ignore"):
        ok = i > min_safeguard
        cap = np.where(use_core, np.inf if core_cap is None else core_cap,
                       np.inf if expansion_cap is None else expansion_cap)
        ok &= i < cap
    m &= ok & ~np.isnan(i)
    out = np.full(len(stats), None, dtype=object)
    out[m] = src.to_numpy(dtype=object)[m]
    return pd.Series(out, index=stats.index, dtype=object)


def apply_nmr_group_model_result(stats: pd.DataFrame, labels: pd.Series, *, group: int) -> pd.Series:
    """``ApplyNMRGroupModelResult``: group ``g`` says NMR/CRNH and label ∈ {CRH, NYH} → NMR."""
    m = (_in(_obj(stats, "groupRatingStatus"), (S.NMR, S.CRNH))
         & _mask(_col(stats, S.MODELING_GROUP) == group) & _in(labels.astype(object), (S.CRH, S.NYH)))
    return _updates(m, S.NMR, stats.index)


def apply_coverage_model_result(
    stats: pd.DataFrame, labels: pd.Series, *, source_col: str, check_firm_reject: bool = True,
    min_safeguard: float | None = None, crnh_coverage: bool = True,
) -> pd.Series:
    """``ApplyCoverageModelResult`` (Gaussian scorers; spec 03 §7, 04 §11.6).

    Proposals: source ∈ {CRH, NYH} (minus blocked notes if ``check_firm_reject``, minus notes with
    core-else-expansion intercept ≤ ``min_safeguard`` if set) plus source == CRNH if
    ``crnh_coverage``; applied where label ∈ {NMR, NYH}, NYH→NYH dropped.
    """
    src = _obj(stats, source_col)
    lab = labels.astype(object)
    pos = _in(src, (S.CRH, S.NYH))
    if check_firm_reject:
        pos &= ~blocked(stats)
    if min_safeguard is not None:
        core, exp = _col(stats, "coreNoteIntercept"), _col(stats, "expansionNoteIntercept")
        i = np.where(_mask(core.notna()), core, exp)
        with np.errstate(invalid="ignore"):
            pos &= i > min_safeguard
    prop = pos | (_mask(src == S.CRNH) if crnh_coverage else False)
    m = prop & _in(lab, (S.NMR, S.NYH)) & ~(_mask(src == S.NYH) & _mask(lab == S.NYH))
    out = np.full(len(stats), None, dtype=object)
    out[m] = src.to_numpy(dtype=object)[m]
    return pd.Series(out, index=stats.index, dtype=object)


def apply_topic_model_result(
    stats: pd.DataFrame, labels: pd.Series, *, topic: str, intercept_threshold: float = 0.24,
    factor_threshold: float = 0.51, factor_rule: str = "norm",
) -> pd.Series:
    """``ApplyTopicModelResult``: topic veto → NMR (spec 04 §11.6).

    label ∈ {CRH, NYH} ∧ noteTopic == topic ∧ topicNoteConfident ∧
    (topicNoteIntercept < 0.24 ∨ |topicNoteFactor1| > 0.51).

    With k factors (``topicNoteFactor2..k`` present) ``|f|`` is
    :func:`cnlab.scoring.factors.factor_magnitude`: ``‖f‖₂`` (``"norm"``) or ``max_j |f_j|``
    (``"axis"``).
    """
    i, f = _col(stats, "topicNoteIntercept"), _col(stats, "topicNoteFactor1")
    if "topicNoteFactor1" in stats.columns and len(FX.factor_columns(stats, "topicNoteFactor1")) > 1:
        F = np.column_stack([_col(stats, c).to_numpy() for c in FX.factor_columns(stats, "topicNoteFactor1")])
        with np.errstate(invalid="ignore"):
            big = FX.factor_magnitude(F, factor_rule) > factor_threshold
    else:
        big = _mask(f.abs() > factor_threshold)
    m = (_in(labels.astype(object), (S.CRH, S.NYH)) & _mask(_obj(stats, "noteTopic") == topic)
         & _truthy(_obj(stats, "topicNoteConfident"))
         & (_mask(i < intercept_threshold) | big))
    return _updates(m, S.NMR, stats.index)


def population_sampled_intercept(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings: int = 8, min_per_sign: int = 2,
    max_intercept: float = 0.30, divergence: float = 0.15, status: str = S.NMR,
) -> pd.Series:
    """``PopulationSampledIntercept``: CRH → NMR when population-sampled raters disagree (03 §7).

    label == CRH ∧ n₋ + n₊ ≥ 8 ∧ n₋ ≥ 2 ∧ n₊ ≥ 2 ∧ i_ps < 0.30 ∧ i_core − i_ps ≥ 0.15.
    Skipped entirely when the pop-sampled intercept or count columns are absent.
    """
    need = ("coreNoteInterceptPopulationSampled", "coreNegFactor_populationSampledRatingCount",
            "corePosFactor_populationSampledRatingCount")
    if any(c not in stats.columns for c in need):
        return _updates(np.zeros(len(stats), dtype=bool), status, stats.index)
    ps, core = _col(stats, need[0]), _col(stats, "coreNoteIntercept")
    neg, pos = _col(stats, need[1]).fillna(0), _col(stats, need[2]).fillna(0)
    m = (_is(labels, S.CRH) & _mask(ps.notna() & core.notna()) & _mask(neg + pos >= min_ratings)
         & _mask(neg >= min_per_sign) & _mask(pos >= min_per_sign) & _mask(ps < max_intercept)
         & _mask(core - ps >= divergence))
    return _updates(m, status, stats.index)


def nmr_due_to_min_stable_crh_time(
    stats: pd.DataFrame, labels: pd.Series, *, epoch_millis: int, required_minutes: float = 30,
    max_crh_minutes: float = 60, max_nyh_minutes: float = 360,
) -> tuple[pd.Series, pd.DataFrame]:
    """``NmrDueToMinStableCrhTime``: stabilization delay before a note shows CRH (04 §11.7, 03 §7.1).

    With S = label, P = NSH currentStatus, t = NSH timestampMillisOfNmrDueToMinStableCrhTime,
    E = now − t::

        P == CRH: S == NYH → CRH; otherwise untouched.
        S ∈ {CRH, NYH}:
          t NaN  → NMR, t' = now
          t < 0  → NMR (t' = now if S == CRH)
          t > 0  → CRH, t' = −1          if S == CRH and E > 60 min
                   NMR, t' = −1          if S == NYH and E > 360 min
                   NMR                   if E < 30 min, or topic-scored and not confident,
                                         or firstNonNMRStatus == CRH or LABEL ≠ "CRH" (NaN ⇒ flip),
                                         or S == NYH
                   CRH, t' = −1          otherwise
          t == 0 → untouched (edge case of the code)
        S ∉ {CRH, NYH} and t > 0 → t' = −1.

    Only actual status changes are returned (plus the P == CRH, NYH → CRH rows).  Extra columns:
    ``updatedTimestampMillisOfNmrDueToMinStableCrhTime`` (t' for processed notes, else NaN) and
    ``preStabilizationRatingStatus`` (S for every note).
    """
    n = len(stats)
    s = labels.astype(object)
    s_arr = s.to_numpy(dtype=object)
    prev_crh = _mask(_obj(stats, "currentStatus") == S.CRH)
    t = _col(stats, NMR_TS).to_numpy()
    with np.errstate(invalid="ignore"):
        age = epoch_millis - t
        is_crh, is_nyh = _is(s, S.CRH), _is(s, S.NYH)
        sc = is_crh | is_nyh
        scope = ~prev_crh
        nan_t, neg_t, pos_t = np.isnan(t), t < 0, t > 0
        new = np.full(n, None, dtype=object)
        new_t = np.full(n, np.nan)
        processed = scope & (sc | pos_t)
        new_t[processed] = t[processed]

        a = scope & sc & nan_t
        new[a] = S.NMR
        new_t[a] = epoch_millis
        b = scope & sc & neg_t
        new[b] = S.NMR
        new_t[b & is_crh] = epoch_millis

        c = scope & sc & pos_t
        over_crh = c & is_crh & (age > max_crh_minutes * MILLIS_PER_MINUTE)
        over_nyh = c & is_nyh & (age > max_nyh_minutes * MILLIS_PER_MINUTE)
        new[over_crh], new_t[over_crh] = S.CRH, -1
        new[over_nyh], new_t[over_nyh] = S.NMR, -1
        rest = c & ~over_crh & ~over_nyh
        too_young = rest & (age < required_minutes * MILLIS_PER_MINUTE)
        topic_conf = _obj(stats, "topicNoteConfident")
        not_conf = _mask(_obj(stats, "noteTopic").notna()) & _mask(topic_conf.notna()) & _falsy(topic_conf)
        flipped = _mask(_obj(stats, "firstNonNMRStatus") == S.CRH)
        # A missing pflip prediction counts as "predicted to flip" (spec 03 §11 item 9).
        predicted_flip = ~_mask(_obj(stats, "LABEL") == "CRH")
        hold = rest & ~too_young & (not_conf | flipped | predicted_flip | is_nyh)
        new[too_young | hold] = S.NMR
        release = rest & ~too_young & ~hold
        new[release], new_t[release] = S.CRH, -1

        exit_ = scope & ~sc & pos_t
        new_t[exit_] = -1

    changed = np.array([x is not None and x != y for x, y in zip(new, s_arr)], dtype=bool)
    upd = np.full(n, None, dtype=object)
    upd[changed] = new[changed]
    upd[prev_crh & is_nyh] = S.CRH
    extra = pd.DataFrame({UPDATED_NMR_TS: new_t, "preStabilizationRatingStatus": s_arr}, index=stats.index)
    return pd.Series(upd, index=stats.index, dtype=object), extra


def scoring_drift_guard(stats: pd.DataFrame, labels: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """``ScoringDriftGuard``: a locked status wins (04 §11.8).

    Notes with non-NaN NSH ``lockedStatus`` ≠ label → lockedStatus; ``unlockedRatingStatus`` =
    the label it replaced (NaN elsewhere).
    """
    locked = _obj(stats, "lockedStatus")
    lab = labels.astype(object)
    m = _mask(locked.notna()) & ~_mask(locked == lab)
    out = np.full(len(stats), None, dtype=object)
    out[m] = locked.to_numpy(dtype=object)[m]
    unl = np.full(len(stats), np.nan, dtype=object)
    unl[m] = lab.to_numpy(dtype=object)[m]
    return (pd.Series(out, index=stats.index, dtype=object),
            pd.DataFrame({"unlockedRatingStatus": unl}, index=stats.index))


def insufficient_explanation(
    stats: pd.DataFrame, labels: pd.Series, *, min_ratings_to_get_tag: int = 2, min_tags_needed: int = 2,
) -> tuple[pd.Series, pd.DataFrame]:
    """``InsufficientExplanation``: CRH/CRNH notes without two shown tags → NMR (03 §9).

    Tags come from :func:`cnlab.scoring.explanation_tags.top_two_tags` on the label before this
    rule; NMR notes get no tags.
    """
    tags = top_two_tags(stats, labels, min_ratings_to_get_tag=min_ratings_to_get_tag)
    n_tags = tags["firstTag"].notna().astype(int) + tags["secondTag"].notna().astype(int)
    m = _in(labels.astype(object), (S.CRH, S.CRNH)) & (n_tags.to_numpy() < min_tags_needed)
    tags.loc[m, ["firstTag", "secondTag"]] = None
    return _updates(m, S.NMR, stats.index), tags


def meta_rules(
    config: MetaConfig = MetaConfig(), *, epoch_millis: int, scorers: Iterable[str] | None = None,
) -> list[Rule]:
    """Ordered meta rule list of spec 04 §11.3.

    ``scorers`` (like the official ``--scorers``) removes rules 2–16 whose scorer is absent
    (scorer enum names, e.g. ``"MFCoreScorer"``); rules 1 and 17–20 always run.
    """
    v11, v10 = "1.1", "1.0"
    items: list[tuple[str | None, Rule]] = [
        (None, Rule(display_name("MetaInitialNMR", v10), initial_nmr, {"status": S.NMR})),
        ("MFExpansionPlusScorer", Rule(display_name("ExpansionPlusModel", v11), apply_model_result,
                                       {"source_col": "expansionPlusRatingStatus"})),
        ("MFExpansionScorer", Rule(display_name("ExpansionModel", v11), apply_model_result,
                                   {"source_col": "expansionRatingStatus"})),
        ("MFCoreWithTopicsScorer", Rule(display_name("CoreWithTopicsModel", v11), apply_model_result,
                                        {"source_col": "coreWithTopicsRatingStatus"})),
        ("MFCoreScorer", Rule(display_name("CoreModel", v11), apply_model_result,
                              {"source_col": "coreRatingStatus"})),
        ("MFMultiGroupScorer", Rule(display_name(f"MultiGroupModel{config.multi_group:02d}", v10),
                                    apply_model_result,
                                    {"source_col": "multiGroupRatingStatus", "check_firm_reject": True,
                                     "filter_pairs": (("modelingMultiGroup", config.multi_group),)})),
    ]
    for g, (lower, cap) in sorted(config.group_safeguards.items(), key=lambda kv: (kv[0] > 13, kv[0])):
        caps = {"core_cap": config.core_crh_threshold, "expansion_cap": config.expansion_crh_threshold} \
            if cap is not None else {"core_cap": None, "expansion_cap": None}
        items.append(("MFGroupScorer", Rule(display_name(f"GroupModel{g:02d}", v11), apply_group_model_result,
                                            {"group": g, "min_safeguard": lower, **caps})))
    for g in config.nmr_veto_groups:
        scorer = "GaussianGroupScorer" if g == 15 else "MFGroupScorer"
        items.append((scorer, Rule(display_name(f"GroupModel{g:02d}NMR", v11), apply_nmr_group_model_result,
                                   {"group": g})))
    items += [
        ("GaussianScorer", Rule(display_name("GaussianModel", v10), apply_coverage_model_result,
                                {"source_col": "gaussianRatingStatus"})),
        ("GaussianCoreWithTopicsScorer", Rule(display_name("GaussianCoreWithTopicsModel", v10),
                                              apply_coverage_model_result,
                                              {"source_col": "gaussianCoreWithTopicsRatingStatus"})),
    ]
    for k, (topic, it, ft) in sorted(config.topic_vetoes.items()):
        items.append(("MFTopicScorer", Rule(display_name(f"TopicModel{k:02d}", v10), apply_topic_model_result,
                                            {"topic": topic, "intercept_threshold": it, "factor_threshold": ft,
                                             **({"factor_rule": config.factor_rule}
                                                if config.factor_rule != "norm" else {})})))
    items += [
        (None, Rule(display_name("PopulationSampledIntercept", v10), population_sampled_intercept,
                    {"min_ratings": config.min_population_sampled_ratings,
                     "min_per_sign": config.min_per_sign_population_sampled_ratings,
                     "max_intercept": config.population_sampled_max_intercept,
                     "divergence": config.population_sampled_divergence})),
        (None, Rule(display_name("NmrDueToMinStableCrhTime", v10), nmr_due_to_min_stable_crh_time,
                    {"epoch_millis": epoch_millis, "required_minutes": config.required_stable_crh_minutes,
                     "max_crh_minutes": config.max_stable_crh_minutes,
                     "max_nyh_minutes": config.max_nyh_minutes})),
        (None, Rule(display_name("ScoringDriftGuard", v10), scoring_drift_guard, {})),
        (None, Rule(display_name("InsufficientExplanation", v10), insufficient_explanation,
                    {"min_ratings_to_get_tag": config.min_ratings_to_get_tag,
                     "min_tags_needed": config.min_tags_needed_for_status})),
    ]
    keep = None if scorers is None else set(scorers)
    return [r for scorer, r in items if scorer is None or keep is None or scorer in keep]


def meta_score(
    scored_notes: pd.DataFrame,
    aux: pd.DataFrame | None,
    status_history: pd.DataFrame,
    *,
    epoch_millis: int,
    pflip_labels: pd.DataFrame | None = None,
    scorers: Iterable[str] | None = None,
    config: MetaConfig = MetaConfig(),
) -> pd.DataFrame:
    """Final status per note from all scorers' results (spec 04 §11).

    Parameters
    ----------
    scored_notes
        Merged per-scorer results, one row per note (coreRatingStatus, coreNoteIntercept,
        expansionRatingStatus, …, groupRatingStatus, modelingGroup, noteTopic, topicNoteConfident, …).
    aux
        Auxiliary info with ``currentStatus`` (previous status), the 22 tag counts and the core
        population-sampled counts; columns found in ``scored_notes`` are not needed here.
    status_history
        The **input** NSH (timestampMillisOfNmrDueToMinStableCrhTime, firstNonNMRStatus,
        lockedStatus, currentStatus).
    epoch_millis
        Scoring "now".
    pflip_labels
        noteId + ``LABEL`` ("CRH"/"FLIP"); notes without a label count as predicted to flip.
    scorers
        Scorer enum names present (official ``--scorers``); None = all.
    config
        :class:`MetaConfig`.

    Returns
    -------
    DataFrame
        noteId, finalRatingStatus, metaScorerActiveRules, firstTag, secondTag, decidedBy,
        updatedTimestampMillisOfNmrDueToMinStableCrhTime (scored-notes columns) and crhBool,
        crnhBool, awaitingBool, unlockedRatingStatus, preStabilizationRatingStatus (aux columns),
        in the row order of ``scored_notes``.
    """
    nsh_cols = [NMR_TS, "firstNonNMRStatus", "lockedStatus", "currentStatus"]
    stats = scored_notes.drop(columns=[c for c in (*nsh_cols, "LABEL") if c in scored_notes.columns])
    stats = stats.reset_index(drop=True)
    if aux is not None:
        want = ["currentStatus", "coreNegFactor_populationSampledRatingCount",
                "corePosFactor_populationSampledRatingCount", *S.ALL_TAGS]
        cols = [c for c in want if c in aux.columns and c not in stats.columns]
        stats = stats.merge(aux[[S.NOTE_ID, *cols]], on=S.NOTE_ID, how="left")
    nsh = status_history[[S.NOTE_ID, *[c for c in nsh_cols if c in status_history.columns
                                       and c not in stats.columns]]]
    stats = stats.merge(nsh, on=S.NOTE_ID, how="left")
    if pflip_labels is not None:
        stats = stats.merge(pflip_labels[[S.NOTE_ID, "LABEL"]], on=S.NOTE_ID, how="left")
    rules = meta_rules(config, epoch_millis=epoch_millis, scorers=scorers)
    outcome = apply_rules(stats, rules, status_col="finalRatingStatus", active_col="metaScorerActiveRules")
    out = outcome.to_frame(decided_by_col="decidedBy")
    for c in ("firstTag", "secondTag", UPDATED_NMR_TS, "unlockedRatingStatus", "preStabilizationRatingStatus"):
        if c not in out.columns:
            out[c] = np.nan
    return out[[S.NOTE_ID, *META_SCORED_COLUMNS, *META_AUX_COLUMNS]]
