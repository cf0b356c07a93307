"""Scorer and run configuration for the MF scorer pipeline (spec 02 §1, 04 §9.3).

``ScorerConfig`` describes one MF scorer (its rating slice, thresholds, MF
hyper-parameters and output names); ``ScoringConfig`` describes one run.
Both are frozen dataclasses and importable without TensorFlow: the rule
thresholds (:class:`cnlab.scoring.config.RuleThresholds`) and MF settings
(:class:`cnlab.mf.config.MFConfig`) are resolved lazily when left ``None``,
so this module does not depend on the import order of sibling packages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from cnlab import schema

TopicScope = Literal["exclude_all", "all"]

#: Display name of the Core model rule in meta-scoring (official ``RuleID.CORE_MODEL``).
CORE_MODEL_RULE = "CoreModel (v1.1)"


@dataclass(frozen=True)
class ScorerConfig:
    """One MF scorer of the official roster (spec 02 §1 table, 04 §9.3).

    Attributes
    ----------
    name
        ``Scorer.get_name()`` — also the ``scorerName`` tag of prescoring outputs
        (official: class name, e.g. ``MFCoreScorer``).
    prefix
        Prefix of the external column names (``core`` → ``coreNoteIntercept``;
        official ``_get_note_col_mapping``).
    decider
        Display name of the meta rule that applies this scorer's status
        (official ``RuleID.CORE_MODEL`` → ``"CoreModel (v1.1)"``).
    included_groups
        Rater modeling groups in scope (official ``includedGroups``,
        ``constants.coreGroups`` for Core). ``None`` = no group filter.
    include_unassigned
        Raters with no enrollment row count as in-group (official
        ``includeUnassigned``; True for Core/CoreWithTopics/Expansion/ExpansionPlus).
    capture_threshold
        Minimum share of a note's raw ratings from in-group raters for the note
        to be kept in final outputs (official ``captureThreshold``, 0.5 for Core);
        ``None`` disables the post-filter.
    strict_inclusion
        Apply the capture threshold before fitting too (official ``strictInclusion``;
        group 33 only).
    topic_scope
        ``"exclude_all"`` drops every note present in the noteTopics table
        (official ``excludeTopics=True``, Core only); ``"all"`` keeps all notes.
    use_stable_init
        Round-1 two-pass stable initialization (official ``useStableInitialization``).
    stable_init_group
        Modeling group of the stable-init subset (official ``_stableInitModelingGroup``, 13).
    use_reputation
        Helpfulness (reputation) filtering between the two prescoring rounds
        (official ``useReputation``; False only for topic scorers).
    pseudoraters
        Run pseudo-rater uncertainty bounds in final scoring (official
        ``pseudoraters`` argument; Core and CoreWithTopics).
    min_ratings_per_rater, min_raters_per_note
        Prescoring prefilter (official ``_minNumRatingsPerRater`` 10,
        ``_minNumRatersPerNote`` 5).
    final_min_ratings_per_rater
        Final-scoring prefilter rater minimum (official: 0 when ``final=True``).
    max_first_train_error
        Abort threshold on the round-1 train MSE (official ``_maxFirstMFTrainError`` 0.16).
    min_notes_for_train_error_check
        The train-error check only runs with at least this many notes (official 200).
    population_sampled_loss_ratio
        ρ_n override of the POPULATION_SAMPLED fit (official
        ``populationSampledRatingPerNoteLossRatio`` 10.0).
    thresholds
        Rule thresholds (:class:`cnlab.scoring.config.RuleThresholds`); ``None`` = the
        preset of ``cnlab.scoring.config`` for this scorer (see :meth:`rules`).
    mf
        MF hyper-parameters (:class:`cnlab.mf.config.MFConfig`); ``None`` = defaults
        (official ``MFBaseScorer`` mfArgs: λ 0.15/0.15/0.03/0.03/0.15, lr 0.2/1.0).
    keep_min_max
        Export ``internalNoteIntercept_min/_max`` (Core, CoreWithTopics, Expansion).
    keep_population_sampled
        Export ``internalNoteInterceptPopulationSampled`` and the population-sampled
        rating counts (Core only).
    keep_first_round
        Export the first-round rater params in helpfulness scores (Core only).
    has_aux
        Scorer contributes ``aux_note_info`` columns (Core only).
    """

    name: str = "MFCoreScorer"
    prefix: str = "core"
    decider: str = CORE_MODEL_RULE
    included_groups: frozenset[int] | None = schema.CORE_GROUPS
    include_unassigned: bool = True
    capture_threshold: float | None = 0.5
    strict_inclusion: bool = False
    topic_scope: TopicScope = "exclude_all"
    use_stable_init: bool = True
    stable_init_group: int = 13
    use_reputation: bool = True
    pseudoraters: bool = True
    min_ratings_per_rater: int = 10
    min_raters_per_note: int = 5
    final_min_ratings_per_rater: int = 0
    max_first_train_error: float = 0.16
    min_notes_for_train_error_check: int = 200
    population_sampled_loss_ratio: float = 10.0
    thresholds: Any = None
    mf: Any = None
    keep_min_max: bool = True
    keep_population_sampled: bool = True
    keep_first_round: bool = True
    has_aux: bool = True

    # ------------------------------------------------------------------
    def rules(self) -> Any:
        """The :class:`RuleThresholds` of this scorer (explicit or preset)."""
        if self.thresholds is not None:
            return self.thresholds
        from cnlab.scoring import config as rc  # lazy: sibling package

        presets = getattr(rc, "PRESETS", {})
        if self.name in presets:
            return presets[self.name]
        family = self.name.split("_")[0]
        if family in presets:
            return presets[family]
        return getattr(rc, _PRESET_NAMES.get(self.name, "DEFAULT"))

    def mf_config(self) -> Any:
        """The :class:`MFConfig` of this scorer (explicit or the defaults)."""
        if self.mf is not None:
            return self.mf
        from cnlab.mf.config import MFConfig  # lazy: importable without TF

        return MFConfig()

    # ------------------------------------------------------------------
    def note_column_map(self) -> dict[str, str]:
        """Internal → external scored-notes column names (spec 02 §6)."""
        p = self.prefix
        m = {
            schema.NOTE_INTERCEPT: f"{p}NoteIntercept",
            schema.NOTE_FACTOR1: f"{p}NoteFactor1",
            schema.RATING_STATUS: f"{p}RatingStatus",
            schema.ACTIVE_RULES: f"{p}ActiveRules",
            "numFinalRoundRatings": f"{p}NumFinalRoundRatings",
            "internalNoteInterceptNoHighVol": f"{p}NoteInterceptNoHighVol",
            "internalNoteInterceptNoCorrelated": f"{p}NoteInterceptNoCorrelated",
        }
        if self.keep_min_max:
            m["internalNoteIntercept_min"] = f"{p}NoteInterceptMin"
            m["internalNoteIntercept_max"] = f"{p}NoteInterceptMax"
        if self.keep_population_sampled:
            m["internalNoteInterceptPopulationSampled"] = f"{p}NoteInterceptPopulationSampled"
            m["negFactor_populationSampledRatingCount"] = f"{p}NegFactor_populationSampledRatingCount"
            m["posFactor_populationSampledRatingCount"] = f"{p}PosFactor_populationSampledRatingCount"
        m["lowDiligenceNoteIntercept"] = "lowDiligenceIntercept"
        return m

    def rater_column_map(self) -> dict[str, str]:
        """Internal → external helpfulness column names (spec 02 §6)."""
        p = self.prefix
        m = {
            schema.RATER_INTERCEPT: f"{p}RaterIntercept",
            schema.RATER_FACTOR1: f"{p}RaterFactor1",
        }
        if self.keep_first_round:
            m["internalFirstRoundRaterIntercept"] = f"{p}FirstRoundRaterIntercept"
            m["internalFirstRoundRaterFactor1"] = f"{p}FirstRoundRaterFactor1"
        return m

    def scored_note_columns(self) -> list[str]:
        """External scored-notes columns this scorer outputs (besides noteId)."""
        cols = [v for k, v in self.note_column_map().items()
                if not k.startswith(("negFactor", "posFactor", "lowDiligence"))]
        if self.has_aux:
            cols.append(schema.ACTIVE_FILTER_TAGS)
        return cols

    def aux_columns(self) -> list[str]:
        """External aux_note_info columns of this scorer (Core only, spec 02 §6)."""
        if not self.has_aux:
            return []
        nh = list(schema.NOT_HELPFUL_TAGS)
        p = self.prefix
        return (
            ["ratingWeight"]
            + [f"{t}Adjusted" for t in nh]
            + [f"{t}AdjustedRatio" for t in nh]
            + ["notHelpfulIncorrect_interval", "p_incorrect_user_interval",
               "num_voters_interval", "tf_idf_incorrect_interval", "lowDiligenceIntercept",
               f"{p}NegFactor_populationSampledRatingCount",
               f"{p}PosFactor_populationSampledRatingCount"]
        )

    def helpfulness_columns(self) -> list[str]:
        """External helpfulness columns of this scorer (besides the rater id)."""
        m = self.rater_column_map()
        cols = [m[schema.RATER_INTERCEPT], m[schema.RATER_FACTOR1]]
        if self.keep_first_round:
            cols += ["crhCrnhRatioDifference", "meanNoteScore", "raterAgreeRatio",
                     "aboveHelpfulnessThreshold",
                     m["internalFirstRoundRaterIntercept"], m["internalFirstRoundRaterFactor1"]]
        return cols


_PRESET_NAMES = {
    "MFCoreScorer": "CORE",
    "MFCoreWithTopicsScorer": "CORE_WITH_TOPICS",
    "MFExpansionScorer": "EXPANSION",
    "MFExpansionPlusScorer": "EXPANSION_PLUS",
}

#: Official MFCoreScorer (spec 02 §1 row 1): core groups + unenrolled raters, notes with
#: no topic, capture threshold 0.5, stable init on group 13, pseudo-raters in final scoring.
CORE = ScorerConfig()

#: MFCoreWithTopicsScorer: as Core but all notes (topic notes included); no firm reject
#: (thresholds preset ``CORE_WITH_TOPICS``), no population-sampled / first-round exports.
CORE_WITH_TOPICS = ScorerConfig(
    name="MFCoreWithTopicsScorer", prefix="coreWithTopics",
    decider="CoreWithTopicsModel (v1.1)", topic_scope="all",
    keep_population_sampled=False, keep_first_round=False, has_aux=False,
)

#: MFExpansionScorer: core ∪ expansion groups, all notes, no pseudo-raters (its
#: ``expansionNoteInterceptMin/Max`` are exported but always NaN).
EXPANSION = ScorerConfig(
    name="MFExpansionScorer", prefix="expansion", decider="ExpansionModel (v1.1)",
    included_groups=schema.CORE_GROUPS | schema.EXPANSION_GROUPS, topic_scope="all",
    pseudoraters=False, keep_population_sampled=False, keep_first_round=False, has_aux=False,
)

#: MFExpansionPlusScorer: core ∪ expansion ∪ expansionPlus groups, no capture filter,
#: no pseudo-raters, no min/max export.
EXPANSION_PLUS = ScorerConfig(
    name="MFExpansionPlusScorer", prefix="expansionPlus", decider="ExpansionPlusModel (v1.1)",
    included_groups=schema.CORE_GROUPS | schema.EXPANSION_GROUPS | schema.EXPANSION_PLUS_GROUPS,
    capture_threshold=None, topic_scope="all", pseudoraters=False, keep_min_max=False,
    keep_population_sampled=False, keep_first_round=False, has_aux=False,
)

SCORERS: dict[str, ScorerConfig] = {
    s.name: s for s in (CORE, CORE_WITH_TOPICS, EXPANSION, EXPANSION_PLUS)
}

#: Meta scorers that a Core-only run attaches rules for (``--scorers MFCoreScorer``).
CORE_ONLY: tuple[str, ...] = ("MFCoreScorer",)


@dataclass(frozen=True)
class ScoringConfig:
    """One scoring run (official ``runner.parse_args`` flags, spec 04 §2.1).

    Attributes
    ----------
    scorers
        MF scorers to run, in order (official ``_get_scorers``; cnlab runs Core only by
        default — the other presets use the same machinery but are not parity-tested).
    enabled_meta_scorers
        Scorer names whose meta rules are attached (official ``--scorers``; spec 04
        §11.3: rules 2–16 of absent scorers are removed, 17–20 always run).
    seed
        Seed of every stochastic step (official ``--seed``; 42 for the fixtures).
    pseudoraters
        Pseudo-rater bounds in final scoring (official ``--pseudoraters``, on).
    epoch_millis
        "Now" in ms for status history (official ``--epoch-millis``); ``None`` = the
        latest rating/note timestamp of the data (cnlab choice: reproducible).
    use_pss
        Run rater clustering + post-selection-similarity coalescing (official: on
        unless ``--skip-pss``).
    topics
        ``"model"``: train and apply the topic model (spec 05 A); ``"none"``: no note is
        assigned a topic; or a ``noteTopics`` frame (noteId, noteTopic) to use as is.
    check_train_error
        Abort when the round-1 train MSE exceeds the scorer's limit (official always).
    """

    scorers: tuple[ScorerConfig, ...] = (CORE,)
    enabled_meta_scorers: tuple[str, ...] = CORE_ONLY
    seed: int | None = 42
    pseudoraters: bool = True
    epoch_millis: int | None = None
    use_pss: bool = True
    topics: Any = "model"
    check_train_error: bool = True

    def with_(self, **changes: Any) -> "ScoringConfig":
        """Return a copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)
