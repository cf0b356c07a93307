"""Configuration of the matrix-factorization scorers and the official MF roster (spec 02 §1, 04 §9.3).

``ScorerConfig`` describes one MF scorer (its rating slice, thresholds, MF hyper-parameters and
output names); the module constants are the official roster (Core, CoreWithTopics, Expansion,
ExpansionPlus, groups, multi-group, topics). Frozen dataclasses, importable without TensorFlow: the
rule thresholds (:class:`cnlab.scoring.config.RuleThresholds`) and MF settings
(:class:`cnlab.mf.config.MFConfig`) are resolved lazily when left ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


from cnlab import schema

TopicScope = Literal["exclude_all", "all"]
#: Scorer family: one-instance MF scorers (Core, CoreWithTopics, Expansion, ExpansionPlus) or the
#: multi-instance families whose output columns carry a ``_<id>`` suffix and are coalesced after
#: final scoring (spec 04 §9.4).
Family = Literal["mf", "group", "multi_group", "topic"]

#: Official ``Scorers`` enum name of each multi-instance family (meta rules are toggled per enum,
#: spec 04 §11.3).
_FAMILY_META = {"group": "MFGroupScorer", "multi_group": "MFMultiGroupScorer", "topic": "MFTopicScorer"}
#: Column prefix of each multi-instance family (``groupNoteIntercept_13`` …, spec 02 §6).
_FAMILY_PREFIX = {"group": "group", "multi_group": "multiGroup", "topic": "topic"}

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
    stable_init_fallback
        What happens when no note qualifies for the stable initialisation (e.g. a subset without
        enrollment rows for group 13): ``"random"`` (default) warns and fits round 1 from a
        random start, as with ``use_stable_init=False``; ``"raise"`` stops with the official
        abort (cnlab only; the official MF always aborts).
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
    family
        ``"mf"`` (Core, CoreWithTopics, Expansion, ExpansionPlus), ``"group"``
        (``MFGroupScorer_<i>``), ``"multi_group"`` (``MFMultiGroupScorer_<i>``) or ``"topic"``
        (``MFTopicScorer_<topic>``). The last three suffix their output columns with ``_<id>``
        (official ``_init_column_names``) and are coalesced after final scoring (spec 04 §9.4).
    group_id
        Group / multi-group id (official ``groupId``): the column suffix and the value written
        to ``modelingGroup_<i>`` / ``modelingMultiGroup_<i>``.
    topic
        Topic name (official ``includedTopics={topic}``): only notes assigned to it are scored;
        the column suffix and the value of ``noteTopic_<topic>``.
    num_confidence_ratings
        Topic confidence bit: more than this many raw ratings from raters with factor ≥ 0 *and*
        from raters with factor < 0 (official ``numConfidenceRatings``, 4; spec 05 A.9).
    final_scoring
        False for scorers that exist only in prescoring (``MFGroupScorer_15`` and
        ``MFTopicScorer_InDimensionTwo``: final scoring uses Gaussian scorers reading their
        prescoring rows, spec 04 §9.3); :func:`cnlab.pipeline.score` skips their final scoring.
    factor_rule
        With ``mf.n_factors = k > 1`` (research runs, not official): how the rules that read
        "the factor" read the k-vector — ``"norm"`` (Euclidean norm; sign of axis 1 where a
        side is needed) or ``"axis"`` (the 1-D rule on every axis, combined so that a note must
        pass on every axis); :mod:`cnlab.scoring.factors`. Both equal the official rule when
        k = 1. ``ScoringConfig.factor_rule`` sets it for the whole roster.
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
    stable_init_fallback: str = "random"
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
    family: Family = "mf"
    group_id: int | None = None
    topic: str | None = None
    num_confidence_ratings: int = 4
    final_scoring: bool = True
    factor_rule: str = "norm"

    # ------------------------------------------------------------------
    @property
    def suffix(self) -> str:
        """``""`` for the one-instance scorers, else ``_<group id>`` / ``_<topic>``."""
        if self.family == "topic":
            return f"_{self.topic}"
        if self.family in ("group", "multi_group"):
            return f"_{self.group_id}"
        return ""

    @property
    def meta_scorer(self) -> str:
        """Official ``Scorers`` enum name whose meta rules this scorer feeds (spec 04 §11.3):
        the scorer name for the one-instance scorers, else the family (``MFGroupScorer`` …)."""
        return _FAMILY_META.get(self.family, self.name)

    @property
    def modeling_column(self) -> str | None:
        """``modelingGroup_<i>`` / ``modelingMultiGroup_<i>`` (group families), else None."""
        if self.family == "group":
            return f"{schema.MODELING_GROUP}{self.suffix}"
        if self.family == "multi_group":
            return f"modelingMultiGroup{self.suffix}"
        return None

    @property
    def n_factors(self) -> int:
        """Factors per note and rater of this scorer's MF fits (``mf_config().n_factors``; 1 in
        every official preset)."""
        return int(self.mf_config().n_factors)

    def with_factors(self, n_factors: int | None, factor_rule: str = "norm") -> "ScorerConfig":
        """This scorer fitting ``n_factors`` factors in prescoring and final scoring (its own MF
        preset otherwise unchanged), its factor rules reading them with ``factor_rule``;
        ``None`` keeps the scorer's own ``n_factors``. ``self`` when nothing changes.

        Examples
        --------
        >>> from cnlab.scorers.mf_config import CORE
        >>> CORE.with_factors(2).n_factors, CORE.with_factors(None) is CORE
        (2, True)
        """
        import dataclasses

        from cnlab.scoring.factors import check_rule  # lazy: sibling package

        changes: dict[str, Any] = {}
        if n_factors is not None and int(n_factors) != self.n_factors:
            changes["mf"] = self.mf_config().replace(n_factors=int(n_factors))
        if check_rule(factor_rule) != self.factor_rule:
            changes["factor_rule"] = factor_rule
        return dataclasses.replace(self, **changes) if changes else self

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
        """The :class:`MFConfig` of this scorer (explicit, the per-scorer preset of spec 01 §11,
        or the class defaults)."""
        if self.mf is not None:
            return self.mf
        from cnlab.mf import config as mc  # lazy: importable without TF

        return getattr(mc, _MF_PRESET_NAMES[self.name]) if self.name in _MF_PRESET_NAMES else mc.MFConfig()

    # ------------------------------------------------------------------
    def note_column_map(self) -> dict[str, str]:
        """Internal → external scored-notes column names (spec 02 §6)."""
        p, s = self.prefix, self.suffix
        m = schema.scorer_note_columns(p, s)
        if self.keep_min_max:
            m["internalNoteIntercept_min"] = f"{p}NoteInterceptMin"
            m["internalNoteIntercept_max"] = f"{p}NoteInterceptMax"
        if self.keep_population_sampled:
            m["internalNoteInterceptPopulationSampled"] = f"{p}NoteInterceptPopulationSampled"
            m["negFactor_populationSampledRatingCount"] = f"{p}NegFactor_populationSampledRatingCount"
            m["posFactor_populationSampledRatingCount"] = f"{p}PosFactor_populationSampledRatingCount"
        m["lowDiligenceNoteIntercept"] = "lowDiligenceIntercept"
        # axes 2..k of a k-factor run, named like axis 1 (absent when k = 1)
        m.update({schema.note_factor_col(j): f"{p}NoteFactor{j}{s}" for j in range(2, self.n_factors + 1)})
        return m

    def rater_column_map(self) -> dict[str, str]:
        """Internal → external helpfulness column names (spec 02 §6)."""
        p, s = self.prefix, self.suffix
        m = {
            schema.RATER_INTERCEPT: f"{p}RaterIntercept{s}",
            schema.RATER_FACTOR1: f"{p}RaterFactor1{s}",
        }
        if self.keep_first_round:
            m["internalFirstRoundRaterIntercept"] = f"{p}FirstRoundRaterIntercept"
            m["internalFirstRoundRaterFactor1"] = f"{p}FirstRoundRaterFactor1"
        m.update({schema.rater_factor_col(j): f"{p}RaterFactor{j}{s}" for j in range(2, self.n_factors + 1)})
        return m

    def scored_note_columns(self) -> list[str]:
        """External scored-notes columns this scorer outputs (besides noteId)."""
        cols = [v for k, v in self.note_column_map().items()
                if not k.startswith(("negFactor", "posFactor", "lowDiligence"))]
        cols = schema.with_extra_factor_columns([c for c in cols if not schema.is_extra_factor_column(c)], cols)
        if self.has_aux:
            cols.append(schema.ACTIVE_FILTER_TAGS)
        if self.modeling_column is not None:
            cols.append(self.modeling_column)
        if self.family == "topic":
            cols += [f"noteTopic{self.suffix}", f"topicNoteConfident{self.suffix}"]
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
        if self.family == "topic":  # official: topic scorers drop every helpfulness column
            return []
        m = self.rater_column_map()
        cols = [m[schema.RATER_INTERCEPT], m[schema.RATER_FACTOR1],
                *(m[schema.rater_factor_col(j)] for j in range(2, self.n_factors + 1))]
        if self.modeling_column is not None:
            cols.append(self.modeling_column)
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

#: Scorer name → attribute of :mod:`cnlab.mf.config` with its MF preset (spec 01 §11); other
#: scorers use the class defaults.
_MF_PRESET_NAMES = {
    "MFGroupScorer_14": "GROUP14_MF",
    "MFGroupScorer_18": "GROUP18_MF",
    "MFGroupScorer_15": "GROUP15_MF",
    "MFTopicScorer_InDimensionTwo": "TOPIC_INDIM2_MF",
}

#: Modeling groups of ``MFMultiGroupScorer_1`` (official ``includedGroups={4, 5, 7, 12, 26}``).
MULTI_GROUP_1_GROUPS: frozenset[int] = frozenset({4, 5, 7, 12, 26})


def group_scorer(group_id: int, **changes: Any) -> ScorerConfig:
    """``MFGroupScorer_<group_id>`` (spec 02 §1, 04 §9.3): raters of that modeling group only
    (unenrolled excluded), all notes, capture threshold 0.8, no stable init, no pseudo-raters;
    outputs ``groupNoteIntercept_<i>`` … and ``modelingGroup_<i>``. Thresholds / MF settings
    resolve from the scorer name (presets ``GROUP14`` / ``GROUP14_MF`` …) unless given."""
    base = dict(
        name=f"MFGroupScorer_{group_id}", prefix="group", decider=f"GroupModel{group_id:02d} (v1.1)",
        family="group", group_id=group_id, included_groups=frozenset({group_id}),
        include_unassigned=False, capture_threshold=0.8, topic_scope="all", use_stable_init=False,
        pseudoraters=False, keep_min_max=False, keep_population_sampled=False,
        keep_first_round=False, has_aux=False,
    )
    return ScorerConfig(**{**base, **changes})


def multi_group_scorer(group_id: int = 1, groups: frozenset[int] = MULTI_GROUP_1_GROUPS,
                       **changes: Any) -> ScorerConfig:
    """``MFMultiGroupScorer_<group_id>``: a group scorer over several modeling groups; columns
    ``multiGroup…_<i>`` and ``modelingMultiGroup_<i>`` (meta rule MultiGroupModel01)."""
    base = dict(name=f"MFMultiGroupScorer_{group_id}", prefix="multiGroup",
                decider=f"MultiGroupModel{group_id:02d} (v1.0)", family="multi_group",
                included_groups=frozenset(groups))
    return group_scorer(group_id, **{**base, **changes})


def topic_scorer(topic: str, **changes: Any) -> ScorerConfig:
    """``MFTopicScorer_<topic>`` (spec 05 A.9): ratings of notes assigned to ``topic`` from all
    raters, no reputation filter (round-1 parameters are final), no stable init, no capture
    filter; outputs ``topicNoteIntercept_<topic>`` …, ``noteTopic_<topic>`` and the confidence
    bit ``topicNoteConfident_<topic>``; no helpfulness columns."""
    base = dict(
        name=f"MFTopicScorer_{topic}", prefix="topic",
        decider=f"TopicModel{schema.TOPICS.index(topic) if topic in schema.TOPICS else 0:02d} (v1.0)",
        family="topic",
        topic=topic, included_groups=None, include_unassigned=True, capture_threshold=None,
        topic_scope="all", use_stable_init=False, use_reputation=False, pseudoraters=False,
        keep_min_max=False, keep_population_sampled=False, keep_first_round=False, has_aux=False,
    )
    return ScorerConfig(**{**base, **changes})


#: ``MFGroupScorer_1`` … ``_13``: defaults (thresholds ``GROUP``, MF class defaults).
GROUPS: dict[int, ScorerConfig] = {g: group_scorer(g) for g in range(1, 14)}
#: ``MFGroupScorer_14`` (expanded-consensus trial): capture 0.51, thresholds ``GROUP14``,
#: normalized-loss MF ``GROUP14_MF`` (spec 01 §9; final-scoring second fit re-initializes notes).
GROUP_14 = group_scorer(14, capture_threshold=0.51)
#: ``MFGroupScorer_33`` (NMR group): strict inclusion — notes need ≥ 80 % in-group ratings
#: before fitting too.
GROUP_33 = group_scorer(33, strict_inclusion=True)
#: ``MFGroupScorer_18`` (NMR trial): capture 0.51, crh 0.20, MF ``GROUP18_MF``.
GROUP_18 = group_scorer(18, capture_threshold=0.51)
#: ``MFGroupScorer_15``: prescoring only (final scoring is ``GaussianGroupScorer_15``).
GROUP_15 = group_scorer(15, final_scoring=False)
#: ``MFMultiGroupScorer_1`` over modeling groups {4, 5, 7, 12, 26}.
MULTI_GROUP_1 = multi_group_scorer(1)
#: ``MFTopicScorer_<topic>`` for the four MF-scored topics (final rules TopicModel01–04).
TOPIC_SCORERS: dict[str, ScorerConfig] = {
    t: topic_scorer(t) for t in ("UkraineConflict", "GazaConflict", "MessiRonaldo", "Scams")
}
#: ``MFTopicScorer_InDimensionTwo``: prescoring only (no global intercept, λ_iu 5; final scoring
#: is ``GaussianTopicScorer_InDimensionTwo``, confidence threshold 0).
TOPIC_IN_DIMENSION_TWO = topic_scorer("InDimensionTwo", final_scoring=False)

#: Every MF scorer of the official roster, in the official order (spec 04 §9.3, prescoring
#: list; ``ReputationScorer`` is configured apart — ``ScoringConfig.reputation``, spec 06 §D.7 — and
#: ``MFTopicScorer_Unassigned`` is left out:
#: the noteTopics table never contains "Unassigned", so it is always empty). Scorers with
#: ``final_scoring=False`` are prescored only.
ALL_MF_SCORERS: tuple[ScorerConfig, ...] = (
    CORE_WITH_TOPICS, CORE, EXPANSION, EXPANSION_PLUS,
    *(GROUPS[g] for g in range(13, 0, -1)), GROUP_14, GROUP_33, GROUP_18, GROUP_15,
    *TOPIC_SCORERS.values(), TOPIC_IN_DIMENSION_TWO,
    MULTI_GROUP_1,
)

#: Every scorer preset by name (``cnlab score --scorers NAME,...``).
SCORERS: dict[str, ScorerConfig] = {s.name: s for s in ALL_MF_SCORERS}


def meta_scorer_names(scorers) -> tuple[str, ...]:
    """Official ``Scorers`` enum names whose meta rules a run of ``scorers`` attaches (spec 04
    §11.3), in order, without duplicates; prescoring-only scorers contribute nothing."""
    out: list[str] = []
    for s in scorers:
        if s.final_scoring and s.meta_scorer not in out:
            out.append(s.meta_scorer)
    return tuple(out)

#: Meta scorers that a Core-only run attaches rules for (``--scorers MFCoreScorer``).
CORE_ONLY: tuple[str, ...] = ("MFCoreScorer",)
