"""Gaussian (kernel-smoothed) scorers — spec 06 §E, 04 §9.3, 04 §11.3 rules 12–14.

A non-parametric replacement for the MF note intercept. For each note, the helpfulness rate is
estimated at a grid of points g_j along the rater-factor axis from Gaussian-kernel weighted
ratings plus a note-specific prior, and the note intercept is the **geometric mean** of those
rates. Two passes are combined (06 §E.5): a "CRH" pass on helpfulness and a "CRNH" pass on
*un*helpfulness whose (negated) value wins when it is larger in magnitude.

The Gaussian scorers have no prescoring of their own: they read the prescoring rows of an MF
scorer (``GaussianScorer`` / ``GaussianCoreWithTopicsScorer`` → ``MFCoreScorer``,
``GaussianGroupScorer_15`` → ``MFGroupScorer_15``, ``GaussianTopicScorer_InDimensionTwo`` →
``MFTopicScorer_InDimensionTwo``), then run the MF scorers' status rules
(:func:`cnlab.scoring.scored_notes.compute_scored_notes`) with their own thresholds.

Everything here is numpy/pandas except the note-factor refit of 06 §E.5 (``useMfNoteParams``),
which goes through :func:`cnlab.mf.fit`. Arithmetic follows the official dtypes (float32
weights/values, float64 bincount sums) so that results agree to float32 rounding.

Layout: the kernel model (:class:`GaussianParams`, :func:`kernel_weights`,
:func:`surprise_multiplier`, :func:`note_prior`, :func:`kernel_pass`,
:func:`geometric_mean_intercept`, :func:`combine_passes`) is in :mod:`cnlab.scorers.gaussian_kernel`
and re-exported here; this module holds the scorer glue: rule thresholds, :class:`GaussianConfig`
and the presets :data:`GAUSSIAN`, :data:`GAUSSIAN_CORE_WITH_TOPICS`, :data:`GAUSSIAN_GROUP_15`,
:data:`GAUSSIAN_TOPIC_IN_DIMENSION_TWO`, rating selection (:func:`select_ratings`,
:func:`author_helpful_rows`), the per-call note parameters (:func:`gaussian_note_params`), the
final-scoring entry (:func:`gaussian_score_final`) and the :class:`GaussianFamily` plug-in.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab._arrays import isin
from cnlab.scoring.config import DEFAULT as _DEFAULT_RULES
from cnlab.scoring.config import RuleThresholds

# The kernel model (06 §E.2, §E.4, §E.5); every name this module defined before it moved stays
# importable from here.
from cnlab.scorers.gaussian_kernel import (  # noqa: F401  (the kernel's public names are re-exported)
    CRH_PARAMS,
    CRNH_PARAMS,
    QUANTILE_RANGE,
    SMOOTHED_RANGE,
    GaussianParams,
    KernelPass,
    combine_passes,
    geometric_mean_intercept,
    grid_column_names,
    kernel_pass,
    kernel_weights,
    note_prior,
    surprise_multiplier,
)

log = logging.getLogger("cnlab")

__all__ = [
    "GaussianParams", "GaussianConfig", "KernelPass",
    "CRH_PARAMS", "CRNH_PARAMS", "QUANTILE_RANGE", "SMOOTHED_RANGE",
    "GAUSSIAN_RULES", "GAUSSIAN_GROUP_RULES", "GAUSSIAN_TOPIC_RULES",
    "GAUSSIAN", "GAUSSIAN_CORE_WITH_TOPICS", "GAUSSIAN_GROUP_15", "GAUSSIAN_TOPIC_IN_DIMENSION_TWO",
    "GAUSSIAN_SCORERS",
    "kernel_weights", "surprise_multiplier", "note_prior", "kernel_pass", "geometric_mean_intercept",
    "combine_passes", "author_helpful_rows", "select_ratings", "gaussian_note_params",
    "gaussian_score_final", "grid_column_names",
]

# ---------------------------------------------------------------------------------------------
# Rule thresholds (06 §E.2; official GaussianScorer / GaussianGroupScorer / GaussianTopicScorer)
# ---------------------------------------------------------------------------------------------

#: GaussianScorer and GaussianCoreWithTopicsScorer: CRH ≥ 0.51; CRNH ≤ −0.5 + 0·|f| (so only the
#: CRNH pass, whose values lie in [−0.65, −0.25], can produce it); NM-CRNH < −0.6; UCB −0.5 (no
#: bound columns → inactive); NoHighVol / NoCorrelated 0.45; large factor > 1.0; no firm reject,
#: no minority-rater rules; crhSuperThreshold None at HEAD (spec 03 §4).
GAUSSIAN_RULES = dataclasses.replace(
    _DEFAULT_RULES, crh_threshold=0.51, crnh_threshold_intercept=-0.5,
    crnh_threshold_note_factor_multiplier=0.0, crnh_threshold_nm_intercept=-0.6,
    crnh_threshold_ucb_intercept=-0.5, crh_threshold_no_high_vol=0.45,
    crh_threshold_no_correlated=0.45, factor_threshold=1.0, firm_reject_threshold=None,
    min_minority_net_helpful_ratings=None, min_minority_net_helpful_ratio=None,
    crh_super_threshold=None,
)
#: GaussianGroupScorer_15: CRH 0.25 (``_get_scorers`` override), CRNH −0.05 − 0.8·|f|, NM −0.15,
#: UCB −0.5, NoHighVol / NoCorrelated 0.37, large factor 0.5, no minority-rater rules.
GAUSSIAN_GROUP_RULES = dataclasses.replace(
    GAUSSIAN_RULES, crh_threshold=0.25, crnh_threshold_intercept=-0.05,
    crnh_threshold_note_factor_multiplier=-0.8, crnh_threshold_nm_intercept=-0.15,
    crh_threshold_no_high_vol=0.37, crh_threshold_no_correlated=0.37, factor_threshold=0.5,
)
#: GaussianTopicScorer_InDimensionTwo: as the group scorer but CRH 0.40.
GAUSSIAN_TOPIC_RULES = dataclasses.replace(GAUSSIAN_GROUP_RULES, crh_threshold=0.40)


TopicScope = Literal["exclude_all", "all", "only"]


@dataclass(frozen=True)
class GaussianConfig:
    """One Gaussian scorer (06 §E.2, 04 §9.3). Slice attributes mirror :class:`ScorerConfig`.

    Attributes
    ----------
    name
        ``get_name()`` (official ``GaussianScorer``, ``GaussianGroupScorer_15`` …).
    prescoring_name
        ``get_prescoring_name()``: the MF scorer whose prescoring rows/meta are read.
    prefix
        External column prefix (``gaussian``, ``gaussianCoreWithTopics``, ``group``, ``topic``).
    suffix
        Column suffix of group / topic instances (``_15``, ``_InDimensionTwo``), removed by
        coalescing (04 §9.4); ``""`` for the coverage scorers.
    meta_scorer
        Scorer enum name that toggles this scorer's meta rule (04 §11.3: ``GaussianScorer`` →
        rule 13, ``GaussianCoreWithTopicsScorer`` → 14, ``GaussianGroupScorer`` → 12,
        ``MFTopicScorer`` → 15–16 for the topic instance, whose intercept feeds TopicModel05);
        ``score()`` adds it to ``enabled_meta_scorers`` when the scorer runs. None = no rule.
    included_groups, include_unassigned, capture_threshold, strict_inclusion
        Rating slice and capture post-filter (official ``includedGroups`` — ``coverageGroups``
        = coreGroups − {21} for the coverage scorers —, ``includeUnassigned``,
        ``captureThreshold``, ``strictInclusion``).
    topic_scope, topic
        ``"exclude_all"`` (official ``excludeTopics=True``, GaussianScorer), ``"all"``, or
        ``"only"`` notes assigned to ``topic`` (official ``includedTopics``, topic instance).
    group_id
        ``modelingGroup_<id>`` stamped on output rows (group instance).
    use_reputation
        Keep only ratings of raters with ``aboveHelpfulnessThreshold`` (official
        ``useReputation``; False for the topic instance).
    min_raters_per_note, final_min_ratings_per_rater
        Final prefilter (official ``_minNumRatersPerNote`` 5; raters 0 in final).
    thresholds
        :class:`RuleThresholds` for ``compute_scored_notes``.
    crh_params, crnh_params, crh_grid, crnh_grid
        Kernel passes (official ``crhParams``/``crnhParams``, ``quantileRange``/``smoothedRange``).
    author_rows
        Add one synthetic HELPFUL rating per note from its author in the CRH pass (06 §E.6).
    use_mf_note_factor
        Replace the kernel note factor by a frozen-rater MF refit (official ``useMfNoteParams``).
    mf
        :class:`cnlab.mf.config.MFConfig` of that refit; None = ``MFConfig()`` (official
        ``MatrixFactorization(seed)`` with default hyper-parameters, whatever the source scorer).
    num_confidence_ratings
        Topic confidence bit: more than this many ratings on each factor side (official
        ``numConfidenceRatings``; 0 for InDimensionTwo).
    population_sampled
        Run the POPULATION_SAMPLED sub-call (its intercept is only written out).
    """

    name: str = "GaussianScorer"
    prescoring_name: str = "MFCoreScorer"
    prefix: str = "gaussian"
    suffix: str = ""
    meta_scorer: str | None = "GaussianScorer"
    included_groups: frozenset[int] | None = schema.COVERAGE_GROUPS
    include_unassigned: bool = True
    capture_threshold: float | None = 0.5
    strict_inclusion: bool = False
    topic_scope: TopicScope = "exclude_all"
    topic: str | None = None
    group_id: int | None = None
    use_reputation: bool = True
    min_raters_per_note: int = 5
    final_min_ratings_per_rater: int = 0
    thresholds: RuleThresholds = GAUSSIAN_RULES
    crh_params: GaussianParams = CRH_PARAMS
    crnh_params: GaussianParams = CRNH_PARAMS
    crh_grid: tuple[float, ...] = QUANTILE_RANGE
    crnh_grid: tuple[float, ...] = SMOOTHED_RANGE
    author_rows: bool = True
    use_mf_note_factor: bool = True
    mf: Any = None
    num_confidence_ratings: int = 4
    population_sampled: bool = True

    #: Interface parity with :class:`ScorerConfig` (Gaussian scorers write no aux columns).
    has_aux: bool = field(default=False, init=False, repr=False)

    def replace(self, **changes: Any) -> "GaussianConfig":
        return dataclasses.replace(self, **changes)

    def rules(self) -> RuleThresholds:
        return self.thresholds

    def mf_config(self) -> Any:
        if self.mf is not None:
            return self.mf
        from cnlab.mf.config import MFConfig

        return MFConfig()

    # -- output names ------------------------------------------------------------------------
    def note_column_map(self) -> dict[str, str]:
        """Internal → external scored-notes names (official ``_get_note_col_mapping``)."""
        p, s = self.prefix, self.suffix
        m = schema.scorer_note_columns(p, s)
        if self.group_id is None and self.topic is None:
            m["internalNoteInterceptPopulationSampled"] = f"{p}NoteInterceptPopulationSampled{s}"
        return m

    def scored_note_columns(self) -> list[str]:
        """External scored-notes columns (besides noteId), official order."""
        m = self.note_column_map()
        s = self.suffix
        cols = [m[schema.NOTE_INTERCEPT], m[schema.NOTE_FACTOR1], m[schema.RATING_STATUS]]
        if self.topic is not None:
            cols += [f"noteTopic{s}", f"topicNoteConfident{s}"]
        cols.append(m[schema.ACTIVE_RULES])
        if self.group_id is not None:
            cols.append(f"{schema.MODELING_GROUP}{s}")
        cols += [m["numFinalRoundRatings"], m["internalNoteInterceptNoHighVol"],
                 m["internalNoteInterceptNoCorrelated"]]
        if "internalNoteInterceptPopulationSampled" in m:
            cols.append(m["internalNoteInterceptPopulationSampled"])
        return cols

    def aux_columns(self) -> list[str]:
        return []

    def helpfulness_columns(self) -> list[str]:
        return []


#: GaussianScorer (06 §E.2 row 1): coverage groups + unassigned, topic notes excluded, capture 0.5.
GAUSSIAN = GaussianConfig()
#: GaussianCoreWithTopicsScorer: as GaussianScorer on all notes; reads **MFCoreScorer** rows (06 §F.6).
GAUSSIAN_CORE_WITH_TOPICS = GaussianConfig(
    name="GaussianCoreWithTopicsScorer", prefix="gaussianCoreWithTopics",
    meta_scorer="GaussianCoreWithTopicsScorer", topic_scope="all",
)
#: GaussianGroupScorer_15: group 15 only (unassigned out), capture 0.8, all notes; veto rule 12.
GAUSSIAN_GROUP_15 = GaussianConfig(
    name="GaussianGroupScorer_15", prescoring_name="MFGroupScorer_15", prefix="group", suffix="_15",
    meta_scorer="GaussianGroupScorer", included_groups=frozenset({15}), include_unassigned=False,
    capture_threshold=0.8, topic_scope="all", group_id=15, thresholds=GAUSSIAN_GROUP_RULES,
)
#: GaussianTopicScorer_InDimensionTwo: InDimensionTwo notes only, no reputation filter, CRH-pass
#: bandwidth 0.05, confident with ≥ 1 rating per side; its intercept feeds rule 16 (TopicModel05).
GAUSSIAN_TOPIC_IN_DIMENSION_TWO = GaussianConfig(
    name="GaussianTopicScorer_InDimensionTwo", prescoring_name="MFTopicScorer_InDimensionTwo",
    prefix="topic", suffix="_InDimensionTwo", meta_scorer="MFTopicScorer", included_groups=None,
    include_unassigned=False, capture_threshold=None, topic_scope="only", topic="InDimensionTwo",
    use_reputation=False, thresholds=GAUSSIAN_TOPIC_RULES, crh_params=CRH_PARAMS.replace(bandwidth=0.05),
    num_confidence_ratings=0,
)

#: The four official Gaussian scorers, in the official final order (04 §9.3).
GAUSSIAN_SCORERS: dict[str, GaussianConfig] = {
    g.name: g for g in (GAUSSIAN, GAUSSIAN_CORE_WITH_TOPICS, GAUSSIAN_GROUP_15, GAUSSIAN_TOPIC_IN_DIMENSION_TWO)
}


# ---------------------------------------------------------------------------------------------
# Rating selection and author rows (06 §E.3, §E.6)
# ---------------------------------------------------------------------------------------------

def _factor_lookup(prescoring_raters: pd.DataFrame) -> pd.Series:
    """raterParticipantId → prescoring internalRaterFactor1 (rows with intercept and factor)."""
    pr = prescoring_raters
    ok = pr[schema.RATER_INTERCEPT].notna() & pr[schema.RATER_FACTOR1].notna()
    sub = pr.loc[ok, [schema.RATER_ID, schema.RATER_FACTOR1]]
    if pd.api.types.is_integer_dtype(sub[schema.RATER_ID].dtype):
        sub = sub[sub[schema.RATER_ID] != -1]  # official rows of participants unknown to the dataset
    sub = sub.drop_duplicates(schema.RATER_ID)
    return pd.Series(sub[schema.RATER_FACTOR1].to_numpy(dtype=np.float32), index=sub[schema.RATER_ID].to_numpy())


@dataclass(frozen=True)
class Selection:
    """Ratings of one Gaussian call (06 §E.3) and the row counts of each step."""

    training: pd.DataFrame
    """T: prefiltered ratings of raters with prescoring params."""
    final_round: pd.DataFrame
    """F: T restricted to helpful raters (reputation scorers), with ``internalRaterFactor1``."""
    counts: dict[str, int]


def select_ratings(ratings: pd.DataFrame, prescoring_raters: pd.DataFrame, config: GaussianConfig) -> Selection:
    """Ratings a Gaussian call scores (06 §E.3).

    1. ``filter_ratings(rater ≥ 0, note ≥ 5)``; 2. raters with non-null prescoring intercept and
    factor; 3. (reputation) raters with ``aboveHelpfulnessThreshold``; 4. join the prescoring
    ``internalRaterFactor1``.
    """
    from cnlab.preprocess import filter_ratings

    rid = schema.RATER_ID
    counts = {"ratings_in": len(ratings)}
    t = filter_ratings(ratings, min_ratings_per_rater=config.final_min_ratings_per_rater,
                       min_raters_per_note=config.min_raters_per_note)
    counts["after_prefilter"] = len(t)
    fac = _factor_lookup(prescoring_raters)
    t = t[t[rid].isin(fac.index)]
    counts["with_prescoring_params"] = len(t)
    f = t
    if config.use_reputation:
        pr = prescoring_raters
        above = pr.loc[pr["aboveHelpfulnessThreshold"].astype("boolean").fillna(False).to_numpy(dtype=bool), rid]
        f = t[t[rid].isin(above)]
    f = f.assign(**{schema.RATER_FACTOR1: fac.reindex(f[rid].to_numpy()).to_numpy(dtype=np.float32)})
    counts["final_round_ratings"] = len(f)
    counts["final_round_notes"] = int(f[schema.NOTE_ID].nunique())
    counts["final_round_raters"] = int(f[rid].nunique())
    return Selection(t, f, counts)


def author_helpful_rows(ratings: pd.DataFrame, status_history: pd.DataFrame,
                        prescoring_raters: pd.DataFrame) -> pd.DataFrame:
    """Synthetic author self-ratings for the CRH pass (official ``_build_author_helpful_rows``, 06 §E.6).

    For each note in ``ratings``, its author (NSH ``noteAuthorParticipantId``) contributes one
    HELPFUL rating (helpfulNum 1.0) with the author's prescoring factor, if the author has a
    non-null prescoring factor and has not rated the note. Returns noteId, raterParticipantId,
    helpfulNum, internalRaterFactor1.
    """
    nid, rid, aid = schema.NOTE_ID, schema.RATER_ID, schema.AUTHOR_ID
    fac = _factor_lookup(prescoring_raters)
    notes = pd.Index(pd.unique(ratings[nid]))
    nsh = status_history[[nid, aid]].drop_duplicates(nid)
    nsh = nsh[nsh[nid].isin(notes) & nsh[aid].notna()]
    authors = nsh[aid].to_numpy()
    has = isin(authors, fac.index.to_numpy())
    nsh = nsh[has]
    rated = pd.MultiIndex.from_frame(ratings[[nid, rid]])
    cand = pd.MultiIndex.from_arrays([nsh[nid].to_numpy(), nsh[aid].to_numpy()])
    nsh = nsh[~cand.isin(rated)]
    return pd.DataFrame({
        nid: nsh[nid].to_numpy(dtype=np.int64),
        rid: nsh[aid].to_numpy(),
        schema.HELPFUL_NUM: np.ones(len(nsh), dtype=np.float32),
        schema.RATER_FACTOR1: fac.reindex(nsh[aid].to_numpy()).to_numpy(dtype=np.float32),
    })


def gaussian_note_params(final_round: pd.DataFrame, status_history: pd.DataFrame,
                         prescoring_raters: pd.DataFrame, config: GaussianConfig) -> pd.DataFrame:
    """Kernel note intercepts of one call (06 §E.4–§E.6): CRH pass (with author rows) ⊕ CRNH pass.

    ``final_round`` needs noteId, raterParticipantId, helpfulNum, internalRaterFactor1
    (:func:`select_ratings`). Returns :func:`combine_passes`' frame.
    """
    nid, hn, fc = schema.NOTE_ID, schema.HELPFUL_NUM, schema.RATER_FACTOR1
    base = final_round[[nid, schema.RATER_ID, hn, fc]]
    crh_rows = base
    if config.author_rows:
        extra = author_helpful_rows(base, status_history, prescoring_raters)
        if len(extra):
            crh_rows = pd.concat([base, extra], ignore_index=True)
    crh = kernel_pass(crh_rows[nid].to_numpy(), crh_rows[hn].to_numpy(), crh_rows[fc].to_numpy(),
                      config.crh_grid, config.crh_params)
    crnh = kernel_pass(base[nid].to_numpy(), base[hn].to_numpy(), base[fc].to_numpy(),
                       config.crnh_grid, config.crnh_params)
    return combine_passes(crh, crnh)


# ---------------------------------------------------------------------------------------------
# Final scoring (06 §E.3, §E.5, §E.7; official GaussianScorer.score_final)
# ---------------------------------------------------------------------------------------------

#: Sub-calls of final scoring (06 §E.3): only their intercept is used, so cnlab stops after the
#: kernel passes (the official code also runs the MF, diligence and rules and discards them).
SUBCALLS: tuple[str, ...] = ("NoHighVol", "NoCorrelated", "PopulationSampled")


def slice_input(ratings: pd.DataFrame, status_history: pd.DataFrame, enrollment: pd.DataFrame,
                config: GaussianConfig, *, note_topics: pd.DataFrame | None = None):
    """Scope ratings and NSH to the scorer (spec 02 §2): topic-only instances keep the notes
    assigned to ``config.topic``; the others go through :func:`cnlab.scorers.slicing.filter_input`.

    Returns ``(ratings, status_history, counts)``.
    """
    from cnlab.scorers.slicing import filter_input

    nid = schema.NOTE_ID
    if config.topic_scope == "only":
        if note_topics is None or len(note_topics) == 0:
            ids = np.array([], dtype=np.int64)
        else:
            nt = note_topics
            ids = nt.loc[nt["noteTopic"].astype(str) == str(config.topic), nid].to_numpy()
        r = ratings[ratings[nid].isin(ids)]
        nsh = status_history[status_history[nid].isin(ids)]
        return r, nsh, {"ratings_in": len(ratings), "scoped": len(r), "nsh_in": len(status_history),
                        "nsh_out": len(nsh)}
    r, nsh, rep = filter_input(ratings, status_history, enrollment, config, note_topics=note_topics)
    return r, nsh, {"ratings_in": rep.ratings_in, "after_topic_filter": rep.after_topic_filter,
                    "scoped": len(r), "nsh_in": rep.nsh_in, "nsh_out": rep.nsh_out}


def _bool(col: pd.Series) -> np.ndarray:
    return col.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _subsets(scoped: pd.DataFrame, config: GaussianConfig) -> dict[str, pd.DataFrame]:
    out = {
        "NoHighVol": scoped[~_bool(scoped[schema.HIGH_VOLUME_RATER])]
        if schema.HIGH_VOLUME_RATER in scoped.columns else scoped,
        "NoCorrelated": scoped[~_bool(scoped[schema.CORRELATED_RATER])]
        if schema.CORRELATED_RATER in scoped.columns else scoped,
    }
    if config.population_sampled and schema.RATING_SOURCE in scoped.columns:
        ps = scoped[schema.equals_value(scoped[schema.RATING_SOURCE], schema.SOURCE_POPULATION_SAMPLED)]
        if len(ps):
            out["PopulationSampled"] = ps
    return out


def mf_note_factor(final_round: pd.DataFrame, prescoring_notes: pd.DataFrame,
                   prescoring_raters: pd.DataFrame, meta: Any, config: GaussianConfig, *,
                   seed: int | None = None) -> Any:
    """Note-factor refit of 06 §E.5 (official ``useMfNoteParams``): MF with default
    hyper-parameters on the final-round ratings, initialised from the prescoring note/rater
    rows, raters and μ frozen (μ = prescoring ``globalIntercept``, 0 when None), no flip,
    ρ_n = finalRoundNumRatings / finalRoundNumNotes. Returns the :class:`MFResult`."""
    from cnlab import mf

    nid, rid = schema.NOTE_ID, schema.RATER_ID
    cfg = config.mf_config().replace(flip_factors=False, rating_per_note_loss_ratio=meta.rating_per_note_ratio)
    note_init = prescoring_notes[[nid, schema.NOTE_INTERCEPT, schema.NOTE_FACTOR1]]
    pr = prescoring_raters
    rater_init = pr.loc[pr[schema.RATER_INTERCEPT].notna(), [rid, schema.RATER_INTERCEPT, schema.RATER_FACTOR1]]
    mu = meta.global_intercept
    if mu is not None and np.isnan(mu):
        mu = None  # no prescoring μ (InDimensionTwo: useGlobalIntercept=False) → μ stays 0, frozen
    return mf.fit(final_round[[nid, rid, schema.HELPFUL_NUM]], cfg, seed=seed, note_init=note_init,
                  rater_init=rater_init, global_init=mu, freeze=("raters", "global"))


def topic_confidence(note_ids: pd.Series | np.ndarray, ratings: pd.DataFrame,
                     prescoring_raters: pd.DataFrame, *, num_confidence_ratings: int) -> np.ndarray:
    """Topic confidence bit (spec 05 §A.9, official topic ``_postprocess_output``).

    A scored note is confident iff it has more than ``num_confidence_ratings`` ratings (any
    helpfulness, all final ratings) from raters with prescoring factor ≥ 0 **and** more than
    that many from raters with factor < 0.
    """
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    pr = prescoring_raters[[rid, schema.RATER_FACTOR1]].drop_duplicates(rid)
    r = ratings[[nid, rid]].merge(pr, on=rid, how="inner")
    f = r[schema.RATER_FACTOR1].to_numpy(dtype=np.float64)
    pos = r.loc[f >= 0].groupby(nid).size()
    neg = r.loc[f < 0].groupby(nid).size()
    ids = np.asarray(note_ids)
    p = pos.reindex(ids).fillna(0).to_numpy()
    n = neg.reindex(ids).fillna(0).to_numpy()
    return (p > num_confidence_ratings) & (n > num_confidence_ratings)


def _empty_final(config: GaussianConfig):
    from cnlab.scorers.mf_final import FinalOutput

    sn = pd.DataFrame(columns=[schema.NOTE_ID, *config.scored_note_columns()])
    return FinalOutput(config, sn, pd.DataFrame(columns=[schema.RATER_ID]),
                       pd.DataFrame(columns=[schema.NOTE_ID]), sn.copy())


def gaussian_score_final(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    config: GaussianConfig,
    prescoring: Any,
    *,
    note_topics: pd.DataFrame | None = None,
    seed: int | None = None,
    epoch_millis: int | None = None,
    timer: Any = None,
):
    """Final scoring of one Gaussian scorer (06 §E; official ``GaussianScorer.score_final``).

    Same inputs as :func:`cnlab.scorers.mf_final.score_final`::

        scoped = slice(ratings)                                          02 §2
        for S in NoHighVol, NoCorrelated, PopulationSampled:             06 §E.3
            i_S = kernel intercepts(select(S))                           06 §E.4–§E.6
        F = select(scoped); θ = kernel intercepts(F)                     06 §E.3–§E.6
        θ.factor = MF refit factor (kernel φ where missing)              06 §E.5
        θ += NaN pseudo-rater columns ⋈ low-diligence final fit           06 §E.7, D.6
        scored = compute_scored_notes(scoped, θ, prescoring raters, NSH, Gaussian thresholds,
                                      i_NoHighVol, i_NoCorrelated, i_PopulationSampled)
        capture filter (group/coverage) or topic confidence bit; numFinalRoundRatings

    Parameters
    ----------
    ratings
        Final-scoring ratings (preprocessed, PSS-coalesced, with ``highVolumeRater`` /
        ``correlatedRater``).
    status_history
        Input NSH (with ``classification``).
    enrollment
        User enrollment.
    config
        A :class:`GaussianConfig` (e.g. :data:`GAUSSIAN`).
    prescoring
        :class:`~cnlab.scorers.outputs.PrescoringOutput` holding the rows of
        ``config.prescoring_name``.
    note_topics
        noteTopics table (topic exclusion / topic-only slice).

    Returns
    -------
    :class:`cnlab.scorers.mf_final.FinalOutput`
        ``scored_notes`` with the official external names (suffixed ``_15`` /
        ``_InDimensionTwo`` for the group / topic instances; :func:`cnlab.pipeline.score`
        coalesces them into ``group*`` / ``topic*``, spec 04 §9.4); ``helpfulness_scores`` = the
        source scorer's prescoring rater ids (official: no Gaussian helpfulness columns);
        ``internal_scored_notes`` with the internal names; ``calls`` with the per-call counts,
        kernel frames and (main) the MF refit.
    """
    from cnlab.scorers import diligence
    from cnlab.mf.pseudo_raters import PSEUDO_RATER_COLUMNS
    from cnlab._timing import StageTimer
    from cnlab.scorers.mf_final import CallResult, FinalOutput, num_final_round_ratings
    from cnlab.scorers.mf_prescoring import prepare_ratings
    from cnlab.scorers.slicing import postprocess_output
    from cnlab.scoring.scored_notes import compute_scored_notes

    timer = timer or StageTimer(prefix=f"{config.name} final: ")
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    if epoch_millis is None:
        epoch_millis = int(ratings[schema.CREATED_AT].max()) if len(ratings) else 0
    pn, pr, meta = prescoring.for_scorer(config.prescoring_name)
    if pr.empty or meta is None:
        log.warning("%s: no %s prescoring rows/meta; empty final output", config.name, config.prescoring_name)
        return _empty_final(config)
    f2 = schema.rater_factor_col(2)
    if f2 in pr.columns and pr[f2].notna().any():
        # the kernel smooths over a 1-D rater-factor grid (06 §E): no k-D form, axis 1 only
        log.warning("%s: %s was prescored with several factors; the Gaussian kernel reads axis 1 "
                    "(internalRaterFactor1) only", config.name, config.prescoring_name)
    with timer.stage("filter input", len(ratings)) as st:
        r = prepare_ratings(ratings)
        scoped, nsh, slice_counts = slice_input(r, status_history, enrollment, config, note_topics=note_topics)
        st["rows_out"] = len(scoped)
        st["note"] = str(slice_counts)
    if scoped.empty:
        return _empty_final(config)

    calls: dict[str, CallResult] = {}
    extra: dict[str, pd.DataFrame] = {}
    for key, subset in _subsets(scoped, config).items():
        col = f"internalNoteIntercept{key}"
        with timer.stage(f"kernel {key}", len(subset)) as st:
            sel = select_ratings(subset, pr, config)
            st["note"] = str(sel.counts)
            if sel.final_round.empty:
                kp = pd.DataFrame({nid: pd.Series(dtype=np.int64),
                                   schema.NOTE_INTERCEPT: pd.Series(dtype=np.float64)})
            else:
                kp = gaussian_note_params(sel.final_round, nsh, pr, config)
            calls[key] = CallResult(key, sel.final_round, None, kp, None, pd.DataFrame(), sel.counts)
            frame = kp[[nid, schema.NOTE_INTERCEPT]].rename(columns={schema.NOTE_INTERCEPT: col})
            st["rows_out"] = len(frame)
        extra[col] = frame

    with timer.stage("kernel main", len(scoped)) as st:
        sel = select_ratings(scoped, pr, config)
        st["note"] = str(sel.counts)
        if sel.final_round.empty:
            return _empty_final(config)
        note_params = gaussian_note_params(sel.final_round, nsh, pr, config)
        st["rows_out"] = len(note_params)
    kernel = note_params
    res = None
    if config.use_mf_note_factor:
        with timer.stage("MF note factor", len(sel.final_round)) as st:
            res = mf_note_factor(sel.final_round, pn, pr, meta, config, seed=seed)
            mf_f = res.note_params[[nid, schema.NOTE_FACTOR1]].rename(columns={schema.NOTE_FACTOR1: "_mf"})
            note_params = note_params.merge(mf_f, on=nid, how="left")
            note_params[schema.NOTE_FACTOR1] = note_params["_mf"].combine_first(
                note_params[schema.NOTE_FACTOR1].astype(np.float32))
            note_params = note_params.drop(columns="_mf")
            st["rows_out"] = len(mf_f)
            st["note"] = f"{res.n_steps} steps, {res.stop_reason}"
    note_params = note_params[[nid, schema.NOTE_INTERCEPT, schema.NOTE_FACTOR1]].assign(
        **{c: np.nan for c in PSEUDO_RATER_COLUMNS})

    with timer.stage("diligence + rules", len(scoped)) as st:
        dil = diligence.fit_final(sel.final_round, pn, pr, meta.low_diligence_global_intercept,
                                  rating_per_note_ratio=meta.rating_per_note_ratio,
                                  rating_per_user_ratio=meta.rating_per_user_ratio)
        note_params = note_params.merge(dil, on=nid, how="inner")
        rater_params = pr[[rid, schema.RATER_INTERCEPT, schema.RATER_FACTOR1]].merge(
            pr[[rid, "incorrectTagRatingsMadeByRater", "totalRatingsMadeByRater"]].drop_duplicates(rid),
            on=rid, how="inner")
        scored = compute_scored_notes(
            scoped, note_params, rater_params, nsh, thresholds=config.rules(), final_round=True,
            tag_thresholds=dict(meta.tag_filtering_thresholds or {}), epoch_millis=epoch_millis,
            no_high_vol=extra.get("internalNoteInterceptNoHighVol"),
            no_correlated=extra.get("internalNoteInterceptNoCorrelated"),
            population_sampled=extra.get("internalNoteInterceptPopulationSampled"),
        )
        if "internalNoteInterceptPopulationSampled" not in scored.columns:
            scored = scored.assign(internalNoteInterceptPopulationSampled=np.nan)
        st["rows_out"] = len(scored)
    calls["main"] = CallResult("main", sel.final_round, res, kernel, scored, pr[[rid]], sel.counts)

    with timer.stage("postprocess", len(scored)) as st:
        users = pr[[rid, schema.RATER_FACTOR1]]
        if config.topic is not None:
            post = scored.copy()
            post[f"noteTopic{config.suffix}"] = config.topic
            scored_ids = post.loc[post[schema.NOTE_INTERCEPT].notna(), nid]
            conf = pd.Series(False, index=post.index)
            conf[post[nid].isin(scored_ids)] = topic_confidence(
                post.loc[post[nid].isin(scored_ids), nid], r, pr,
                num_confidence_ratings=config.num_confidence_ratings)
            post[f"topicNoteConfident{config.suffix}"] = conf.to_numpy()
        else:
            post = postprocess_output(scored, r, enrollment, config)
        if config.group_id is not None:
            post[f"{schema.MODELING_GROUP}{config.suffix}"] = config.group_id
            enr = enrollment[[schema.PARTICIPANT_ID, schema.MODELING_GROUP]].drop_duplicates(schema.PARTICIPANT_ID)
            in_group = enr.loc[enr[schema.MODELING_GROUP].isin(sorted(config.included_groups or ())),
                               schema.PARTICIPANT_ID]
            users = users[users[rid].isin(in_group)]
        st["rows_out"] = len(post)
    post = post.merge(num_final_round_ratings(scoped, users), on=nid, how="left")

    ext = post.rename(columns=config.note_column_map())
    scored_notes = ext.reindex(columns=[nid, *config.scored_note_columns()]).reset_index(drop=True)
    counts = {"ratings_in": len(ratings), **slice_counts}
    return FinalOutput(config, scored_notes, users[[rid]].reset_index(drop=True),
                       pd.DataFrame(columns=[nid]), post, calls, counts)


class GaussianFamily:
    """:class:`~cnlab.scorers.base.ScorerFamily` of the Gaussian scorers: no prescoring phase (they
    read their MF source scorer's prescoring rows), final scoring by :func:`gaussian_score_final`."""

    config_type = GaussianConfig
    meta_rules_configurable = False

    def prescore(self, config: GaussianConfig, ratings: pd.DataFrame, context, *, timer: Any = None):
        return None

    def score_final(self, config: GaussianConfig, ratings: pd.DataFrame, prescoring: Any, context, *,
                    timer: Any = None):
        return gaussian_score_final(ratings, context.status_history, context.enrollment, config, prescoring,
                                    note_topics=context.note_topics, seed=context.seed,
                                    epoch_millis=context.epoch_millis, timer=timer)

    def meta_scorers(self, config: GaussianConfig) -> tuple[str, ...]:
        return (config.meta_scorer,) if config.meta_scorer else ()

    def output_columns(self, config: GaussianConfig) -> dict[str, list[str]]:
        return {"scored_notes": config.scored_note_columns(), "helpfulness_scores": config.helpfulness_columns(),
                "aux_note_info": config.aux_columns()}


FAMILY = GaussianFamily()
