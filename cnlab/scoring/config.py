"""Thresholds of the per-scorer status rules and of meta-scoring.

Per-scorer values follow spec 02 §1 (defaults of ``MFBaseScorer.__init__`` and
the overrides in ``run_scoring._get_scorers``); meta-rule constants follow
spec 04 §11 and spec 03 §7, §9, §10.  Presets are built from :data:`DEFAULT`
with :func:`dataclasses.replace`, so a preset states only what differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = [
    "RuleThresholds",
    "MetaConfig",
    "DEFAULT",
    "CORE",
    "CORE_WITH_TOPICS",
    "EXPANSION",
    "EXPANSION_PLUS",
    "GROUP",
    "GROUP14",
    "GROUP15",
    "GROUP18",
    "GROUP33",
    "MULTI_GROUP",
    "TOPIC",
    "PRESETS",
]


@dataclass(frozen=True)
class RuleThresholds:
    """Per-scorer thresholds for note status rules and helpfulness (spec 02 §1, 03 §3–§6)."""

    min_ratings_needed: int = 5
    """``minRatingsNeeded``: ratings a note needs before CRH/CRNH rules apply."""
    crh_threshold: float = 0.40
    """``crhThreshold``: GeneralCRH intercept threshold (``≥``)."""
    crnh_threshold_intercept: float = -0.05
    """``crnhThresholdIntercept``: GeneralCRNH intercept offset."""
    crnh_threshold_note_factor_multiplier: float = -0.8
    """``crnhThresholdNoteFactorMultiplier``: GeneralCRNH slope on ``abs(factor)``."""
    crnh_threshold_nm_intercept: float = -0.15
    """``crnhThresholdNMIntercept``: NmCRNH threshold for NOT_MISLEADING notes (``<``)."""
    crnh_threshold_ucb_intercept: float = -0.04
    """``crnhThresholdUCBIntercept``: UcbCRNH threshold on ``internalNoteIntercept_max`` (``<``)."""
    crh_super_threshold: float | None = None
    """``crhSuperThreshold``: tag-filter super threshold; ``None`` at HEAD (rule off)."""
    inertia_delta: float = 0.01
    """``inertiaDelta``: GeneralCRHInertia lowers the CRH threshold by this for CRH-last-run notes."""
    crh_threshold_no_high_vol: float = 0.37
    """``crhThresholdNoHighVol``: NoHighVolIntercept threshold (``<`` → NYH)."""
    crh_threshold_no_correlated: float = 0.37
    """``crhThresholdNoCorrelated``: NoCorrelatedIntercept threshold (``<`` → NYH)."""
    low_diligence_threshold: float = 0.263
    """``lowDiligenceThreshold``: FilterLowDiligence threshold (``>``)."""
    factor_threshold: float = 0.5
    """``factorThreshold``: FilterLargeFactor threshold on ``abs(factor)`` (``>``)."""
    tag_filter_percentile: int = 95
    """``tagFilterPercentile``: percentile P of the tag-ratio thresholds (q = arange(0,1,.01)[P])."""
    tag_min_adjusted_total: float = 2.5
    """``minAdjustedTotal`` of ``FilterTagOutliers`` (``>``)."""
    tag_percentile_for_normalization: float = 40
    """``tagPercentileForNormalization``: percentile of rater–note distances used to scale weights."""
    incorrect_filter_threshold: float = 2.5
    """``incorrectFilterThreshold``: tf-idf threshold of FilterIncorrect (``≥``)."""
    incorrect_tag_threshold: int = 2
    """``tagThreshold`` of ``FilterIncorrect`` (``≥``)."""
    incorrect_vote_threshold: int = 3
    """``voteThreshold`` of ``FilterIncorrect`` (``≥``)."""
    incorrect_interval_half_width: float = 0.3
    """``intervalHalfWidth``: factor distance for FilterIncorrect voters (``<``)."""
    incorrect_factor_clip: float = 0.4
    """Factors are clipped to ``[-0.4, 0.4]`` before the interval test (incorrect_filter.py)."""
    firm_reject_threshold: float | None = None
    """``firmRejectThreshold``: RejectLowIntercept threshold; set (0.3) only for Core and Expansion.
    When set, the filters' status is FIRM_REJECT instead of NMR."""
    min_minority_net_helpful_ratings: int | None = 4
    """``minMinorityNetHelpfulRatings``: MinMinorityRaters (``netMinHelpful <`` → NYH); None = off."""
    min_minority_net_helpful_ratio: float | None = 0.05
    """``minMinorityNetHelpfulRatio``: RaterBalance ratio (``<`` → NYH); None = off."""
    rater_balance_min_net: int = 4
    """Lower bound (inclusive) of netMinHelpful where RaterBalance applies."""
    rater_balance_max_net: int = 10
    """Upper bound (exclusive) of netMinHelpful where RaterBalance applies."""
    ratio_crnh_min_sign_count: int = 3
    """RatioCRNH: minimum ratings on each factor side."""
    ratio_crnh_max_side_mean: float = 0.4
    """RatioCRNH: each side's mean helpfulNum must be ``≤`` this (float32)."""
    ratio_crnh_max_mean: float = 0.3
    """RatioCRNH: average of the two side means must be ``≤`` this (float32)."""
    min_mean_note_score: float = 0.05
    """``minMeanNoteScore`` (helpfulness, author mean intercept ``≥``)."""
    min_crh_vs_crnh_ratio: float = 0.0
    """``minCRHVsCRNHRatio`` (helpfulness, ``crhCrnhRatioDifference ≥``)."""
    min_rater_agree_ratio: float = 0.66
    """``minRaterAgreeRatio`` (helpfulness, ``raterAgreeRatio ≥``)."""
    crnh_multiplier: float = 5.0
    """``CRNHMultiplier`` of ``author_helpfulness``: weight of CRNH notes in crhCrnhRatioDifference."""
    multiply_penalty_by_harassment_score: bool = True
    """``multiplyPenaltyByHarassmentScore``: scale the penalty by intercept / minimum."""
    minimum_harassment_score_to_penalize: float = 2.0
    """``minimumHarassmentScoreToPenalize``: harassment intercept at which helpful ratings are penalised."""
    tag_consensus_harassment_helpful_rating_penalty: float = 10.0
    """``tagConsensusHarassmentHelpfulRatingPenalty``: penalty per helpful rating on a bad note."""
    max_first_mf_train_error: float = 0.16
    """``maxFirstMFTrainError``: round-1 train MSE limit (≥200 notes)."""
    population_sampled_rating_per_note_loss_ratio: float = 10.0
    """``populationSampledRatingPerNoteLossRatio``: ρ_n for the population-sampled MF call."""

    @property
    def filter_status(self) -> str:
        """Status the tag/incorrect/diligence/factor filters assign (FIRM_REJECT iff firm reject set)."""
        from cnlab.schema import FIRM_REJECT, NMR

        return FIRM_REJECT if self.firm_reject_threshold is not None else NMR


DEFAULT = RuleThresholds()
CORE = dataclasses.replace(DEFAULT, firm_reject_threshold=0.3)
CORE_WITH_TOPICS = DEFAULT
EXPANSION = dataclasses.replace(DEFAULT, firm_reject_threshold=0.3)
EXPANSION_PLUS = DEFAULT
GROUP = DEFAULT
GROUP33 = DEFAULT
MULTI_GROUP = DEFAULT
GROUP14 = dataclasses.replace(
    DEFAULT,
    crh_threshold=0.15,
    crnh_threshold_intercept=-0.01,
    crnh_threshold_note_factor_multiplier=0.0,
    crnh_threshold_nm_intercept=-0.02,
    crh_threshold_no_high_vol=0.12,
    crh_threshold_no_correlated=0.12,
    low_diligence_threshold=1000.0,
    factor_threshold=0.4,
    tag_filter_percentile=90,
    incorrect_filter_threshold=1.5,
    min_mean_note_score=-0.01,
    multiply_penalty_by_harassment_score=False,
    minimum_harassment_score_to_penalize=2.5,
)
GROUP18 = dataclasses.replace(
    DEFAULT, crh_threshold=0.20, crh_threshold_no_high_vol=0.18, crh_threshold_no_correlated=0.18
)
GROUP15 = dataclasses.replace(DEFAULT, crh_threshold=0.25)
TOPIC = dataclasses.replace(
    DEFAULT, min_minority_net_helpful_ratings=None, min_minority_net_helpful_ratio=None
)

PRESETS: dict[str, RuleThresholds] = {
    "MFCoreScorer": CORE,
    "MFCoreWithTopicsScorer": CORE_WITH_TOPICS,
    "MFExpansionScorer": EXPANSION,
    "MFExpansionPlusScorer": EXPANSION_PLUS,
    "MFGroupScorer": GROUP,
    "MFGroupScorer_14": GROUP14,
    "MFGroupScorer_15": GROUP15,
    "MFGroupScorer_18": GROUP18,
    "MFGroupScorer_33": GROUP33,
    "MFMultiGroupScorer": MULTI_GROUP,
    "MFTopicScorer": TOPIC,
}
"""Scorer name (or family prefix) → thresholds."""


def _group_safeguards() -> dict[int, tuple[float, float | None]]:
    out: dict[int, tuple[float, float | None]] = {g: (0.3, 0.40) for g in range(1, 14)}
    out[14] = (0.25, None)
    out[33] = (0.25, None)
    return out


def _topic_vetoes() -> dict[int, tuple[str, float, float]]:
    return {
        1: ("UkraineConflict", 0.24, 0.51),
        2: ("GazaConflict", 0.24, 0.51),
        3: ("MessiRonaldo", 0.24, 0.51),
        4: ("Scams", 0.24, 0.51),
        5: ("InDimensionTwo", 0.51, 1.0),
    }


@dataclass(frozen=True)
class MetaConfig:
    """Constants of the meta-scoring rules (spec 04 §11, 03 §7, §9, §10)."""

    required_stable_crh_minutes: float = 30
    """``requiredStableCrhMinutesThreshold``: minimum stabilization delay (``<`` → NMR)."""
    max_stable_crh_minutes: float = 60
    """``maxStableCrhMinutesThreshold``: CRH released after this (``>``)."""
    max_nyh_minutes: float = 360
    """``maxNyhMinutesThreshold``: NYH released to NMR after this (``>``)."""
    group_safeguards: dict[int, tuple[float, float | None]] = field(default_factory=_group_safeguards)
    """Group g → (minSafeguardThreshold, crh cap) of ``ApplyGroupModelResult`` (open interval)."""
    nmr_veto_groups: tuple[int, ...] = (33, 18, 15)
    """Groups with ``ApplyNMRGroupModelResult`` vetoes, in rule order."""
    multi_group: int = 1
    """``modelingMultiGroup`` value of MultiGroupModel01."""
    topic_vetoes: dict[int, tuple[str, float, float]] = field(default_factory=_topic_vetoes)
    """Topic rule number → (topic name, topicNMRInterceptThreshold (<), topicNMRFactorThreshold (abs >))."""
    min_population_sampled_ratings: int = 8
    """``minPopulationSampledRatings`` of PopulationSampledIntercept (total both sides ``≥``)."""
    min_per_sign_population_sampled_ratings: int = 2
    """``minPerSignPopulationSampledRatings`` (each side ``≥``)."""
    population_sampled_max_intercept: float = 0.30
    """``maxNoteInterceptThreshold``: pop-sampled intercept must be ``<`` this."""
    population_sampled_divergence: float = 0.15
    """``divergenceThreshold``: coreNoteIntercept − pop-sampled intercept ``≥`` this."""
    min_ratings_to_get_tag: int = 2
    """``minRatingsToGetTag``: a tag needs this many ratings to be shown."""
    min_tags_needed_for_status: int = 2
    """``minTagsNeededForStatus``: CRH/CRNH needs this many shown tags (InsufficientExplanation)."""
    lock_age_millis: int = 14 * 24 * 3600 * 1000
    """Notes older than this (strict ``>``) decided by a locking rule get their status locked."""
    deleted_note_tombstones_launch_millis: int = 1652918400000
    """``deletedNoteTombstonesLaunchTime`` (2022-05-19): older notes keep first/latest fields."""
    core_crh_threshold: float = 0.40
    """MFCoreScorer crhThreshold (cap of group promotion when the core intercept is used)."""
    expansion_crh_threshold: float = 0.40
    """MFExpansionScorer crhThreshold (cap of group promotion when the expansion intercept is used)."""
    factor_rule: str = "norm"
    """k-factor runs (``ScoringConfig.n_factors``): form of the topic veto's ``|topicNoteFactor1|``
    when ``topicNoteFactor2..k`` are present — ``"norm"`` (Euclidean norm) or ``"axis"`` (any
    axis above the threshold); :mod:`cnlab.scoring.factors`. Unused with one factor."""
