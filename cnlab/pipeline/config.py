"""Configuration of one scoring run (official ``runner.parse_args`` flags, spec 04 §2.1).

:class:`ScoringConfig` names the scorers that run (the plug-ins of :mod:`cnlab.scorers`), the seed,
"now" and the switches of the official runner. Importable without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from cnlab.scorers.mf_config import (  # noqa: F401  (re-exported: the roster a config is built from)
    ALL_MF_SCORERS,
    CORE,
    CORE_ONLY,
    CORE_WITH_TOPICS,
    EXPANSION,
    EXPANSION_PLUS,
    GROUPS,
    SCORERS,
    TOPIC_SCORERS,
    ScorerConfig,
    meta_scorer_names,
)
from cnlab.scoring.factors import FactorRule, check_rule


@dataclass(frozen=True)
class ScoringConfig:
    """One scoring run (official ``runner.parse_args`` flags, spec 04 §2.1).

    Attributes
    ----------
    scorers
        MF scorers to run, in order (official ``_get_scorers``; cnlab runs Core only by
        default; :meth:`official_mf` runs the whole MF roster, :data:`ALL_MF_SCORERS`).
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
    n_factors
        Factors per note and rater of every MF scorer of the roster (research runs; not
        official): each fits ``n_factors`` in prescoring and final scoring — its rounds, stable
        initialisation, final fits and pseudo-rater refits — as
        ``dataclasses.replace(scorer, mf=scorer.mf_config().replace(n_factors=k))`` would
        (:meth:`ScorerConfig.with_factors`, applied by :meth:`roster`). ``None`` (default) keeps
        every scorer's own setting, the official 1. The harassment tag model, the low-diligence
        and ReputationScorer models and the Gaussian scorers stay one-dimensional (they read
        axis 1). Axes 2..k are written as ``…NoteFactor2`` … ``…NoteFactork`` and
        ``…RaterFactor2`` … in the scored-notes and helpfulness outputs, absent when k = 1.
    factor_rule
        With ``n_factors`` set: how the rules that read "the factor" read the k-vector
        (:mod:`cnlab.scoring.factors`): ``"norm"`` (Euclidean norm; sign of axis 1 where a rule
        needs a side) or ``"axis"`` (the 1-D rule on every axis, combined so that a note must
        look bridging on every axis). Both are the official rule when k = 1.
    gaussian
        Gaussian scorers to run in final scoring (:class:`cnlab.scorers.gaussian.GaussianConfig`, spec
        06 §E; e.g. ``tuple(cnlab.scorers.gaussian.GAUSSIAN_SCORERS.values())``); none by default. Each
        reads the prescoring rows of its MF source scorer (``MFCoreScorer``,
        ``MFGroupScorer_15``, ``MFTopicScorer_InDimensionTwo``), which must be in ``scorers`` (or
        in the given prescoring outputs). Their meta rules (04 §11.3 rules 12–14, 16) are attached
        automatically.
    reputation
        The ``ReputationScorer`` (helpfulness-reputation MF, spec 06 §D.7:
        :class:`cnlab.scorers.reputation.ReputationScorerConfig`, e.g.
        :data:`cnlab.scorers.reputation.REPUTATION_SCORER`) or ``None`` (default: not run).
        It is prescored and final-scored like the MF scorers and fills ``coverageNoteIntercept``,
        ``coverageNoteFactor1``, ``coverageRatingStatus`` and the prescoring rows behind
        ``helpfulness_scores.raterHelpfulnessReputation``; no meta rule reads it.
        :meth:`official_mf` / :meth:`official` include it.
    pflip, pcrh
        The supervised confidence models (spec 06 §A, §B; :mod:`cnlab.pipeline.confidence`):
        ``"fit"`` (default: trained at the end of prescoring with the official settings — also
        when prescoring outputs are given — and applied in final scoring), a
        :class:`cnlab.models.pflip.PFlipConfig` / :class:`cnlab.models.pcrh.PCRHConfig` (trained with it), a
        fitted :class:`cnlab.models.pflip.PFlipModel` / :class:`cnlab.models.pcrh.PCRHModel` (used as is), or
        ``"none"``: no pflip label (a note in stabilization counts as "will flip", official
        semantics of a missing prediction), ``pflipProba`` / ``abovePcrhThresholdTime`` / pcrh
        aux columns empty, NSH ``abovePcrhThresholdTime`` carried over.
    topic_fallback
        What happens when the topic model cannot be used on the data (too few posts, or its accuracy
        on the seed labels at or below 0.35, spec 05 §A.7): ``"seed_labels"`` (default) warns and
        assigns topics from the seed terms alone (:func:`cnlab.models.topics.seed_label_topics`);
        ``"raise"`` stops with the error, as the official scorer does.
    extra
        Configs of any other registered scorer family (:data:`cnlab.scorers.base.FAMILIES`), run
        after the built-in ones; their meta rules come with them unless their family's
        ``meta_rules_configurable`` is true.
    fidelity
        ``"official"`` (default): every MF fit runs the official Adam loop and stopping rule.
        ``"fast"``: every MF fit whose objective the exact solver (:mod:`cnlab.mf.exact`,
        ``MFConfig(solver="exact")``) minimises uses it instead — the MF scorers' rounds, final
        fits, pseudo-rater refits and sub-fits, the Gaussian scorers' MF note-factor refit and
        the ReputationScorer's stable-init fit. The others keep the official loop: the harassment
        tag model (BCE loss: no closed-form block update), the low-diligence and
        helpfulness-reputation models (a different model with its own training loop), and any
        fit with a diamond term and ``n_factors > 1``. The pflip model, when fitted here, solves
        its L1 logistic regression on a working set of columns (``PFlipConfig(solver="working_set")``,
        the same objective solved 100× tighter than liblinear's stopping point). Applied in one place,
        :meth:`resolved`, which :func:`cnlab.pipeline.score` calls; the same seed gives the same
        outputs in either mode.
    """

    scorers: tuple[ScorerConfig, ...] = (CORE,)
    enabled_meta_scorers: tuple[str, ...] = CORE_ONLY
    seed: int | None = 42
    pseudoraters: bool = True
    epoch_millis: int | None = None
    use_pss: bool = True
    topics: Any = "model"
    check_train_error: bool = True
    n_factors: int | None = None
    factor_rule: FactorRule = "norm"
    gaussian: tuple[Any, ...] = ()
    reputation: Any = None
    pflip: Any = "fit"
    pcrh: Any = "fit"
    extra: tuple[Any, ...] = ()
    topic_fallback: str = "seed_labels"
    fidelity: Literal["official", "fast"] = "official"

    def __post_init__(self):
        # k-factor settings are checked here, not first deep inside a run
        if self.n_factors is not None and (isinstance(self.n_factors, bool) or int(self.n_factors) != self.n_factors
                                           or self.n_factors < 1):
            raise ValueError(f"n_factors must be None or an integer >= 1, got {self.n_factors!r}")
        check_rule(self.factor_rule)

    @classmethod
    def official_mf(cls, **changes: Any) -> "ScoringConfig":
        """Run every MF scorer of the official roster (:data:`ALL_MF_SCORERS`) with the meta rules
        of every scorer that runs (``enabled_meta_scorers`` = :func:`meta_scorer_names`).

        Gaussian scorers (and the rules that read them: GaussianModel, GaussianCoreWithTopicsModel,
        GroupModel15NMR) are not part of it; the whole official roster is
        ``ScoringConfig.official_mf(gaussian=tuple(cnlab.scorers.gaussian.GAUSSIAN_SCORERS.values()))``.
        ``changes`` are applied on top (``ScoringConfig.official_mf(seed=7)``). The
        ``ReputationScorer`` (``reputation``, spec 06 §D.7; no meta rule) runs too.
        """
        from cnlab.scorers.reputation import REPUTATION_SCORER  # lazy: no TF, no pipeline import

        base = cls(scorers=ALL_MF_SCORERS, enabled_meta_scorers=meta_scorer_names(ALL_MF_SCORERS),
                   reputation=REPUTATION_SCORER)
        return dataclasses.replace(base, **changes)

    @classmethod
    def official(cls, **changes: Any) -> "ScoringConfig":
        """The whole official roster that cnlab implements: every MF scorer (:meth:`official_mf`)
        plus the four Gaussian scorers (spec 06 §E), with all their meta rules — what the
        official ``main.py`` runs without ``--scorers``.  ``changes`` are applied on top.
        """
        from cnlab.scorers.gaussian import GAUSSIAN_SCORERS  # imported lazily: no cycle, no TF

        return cls.official_mf(gaussian=tuple(GAUSSIAN_SCORERS.values()), **changes)

    def roster(self) -> tuple[Any, ...]:
        """Every scorer config of the run in the official call order: the MF scorers, the
        ReputationScorer, the Gaussian scorers, then ``extra`` (each run by its family,
        :mod:`cnlab.scorers.base`). With ``n_factors`` set, the MF scorers come with that many
        factors and ``factor_rule`` (:meth:`ScorerConfig.with_factors`)."""
        rep = () if self.reputation is None else (self.reputation,)
        mf = self.scorers
        if self.n_factors is not None:
            mf = tuple(s.with_factors(self.n_factors, self.factor_rule) if isinstance(s, ScorerConfig) else s
                       for s in mf)
        return (*mf, *rep, *self.gaussian, *self.extra)

    def resolved(self) -> "ScoringConfig":
        """The configuration the run executes: with ``fidelity="fast"``, every roster entry whose
        MF objective the exact solver supports (:func:`exact_supported`) gets its resolved
        :class:`~cnlab.mf.config.MFConfig` with ``solver="exact"``; ``"official"`` returns
        ``self`` unchanged (so official runs stay bit-identical).

        Examples
        --------
        >>> from cnlab.pipeline import ScoringConfig
        >>> ScoringConfig(fidelity="fast").resolved().scorers[0].mf.solver
        'exact'
        >>> ScoringConfig().resolved() == ScoringConfig()
        True
        """
        if self.fidelity == "official":
            return self
        if self.fidelity != "fast":
            raise ValueError(f"fidelity must be 'official' or 'fast', got {self.fidelity!r}")
        return dataclasses.replace(
            self, pflip=_fast_pflip(self.pflip), scorers=tuple(_fast(s) for s in self.scorers),
            reputation=None if self.reputation is None else _fast(self.reputation),
            gaussian=tuple(_fast(s) for s in self.gaussian), extra=tuple(_fast(s) for s in self.extra))

    def with_(self, **changes: Any) -> "ScoringConfig":
        """Return a copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def exact_supported(mf: Any) -> bool:
    """Whether the exact solver (:mod:`cnlab.mf.exact`) minimises this
    :class:`~cnlab.mf.config.MFConfig`'s objective: MSE loss, and no diamond term with more than
    one factor (BCE and a k-D diamond term have no closed-form block update)."""
    return mf.loss == "mse" and not (mf.diamond_lambda and mf.n_factors > 1)


def _fast_pflip(spec: Any) -> Any:
    """``ScoringConfig.pflip`` for ``fidelity="fast"``: a pflip model to be fitted with the
    ``"auto"`` solver gets the working set (:class:`cnlab.models.l1_logistic.L1Logistic`, the same
    objective); "none", a fitted model or an explicit solver stay as given."""
    from cnlab.models.pflip_features import PFlipConfig  # no scikit-learn, no TF

    if isinstance(spec, str) and spec == "fit":
        return PFlipConfig(solver="working_set")
    if isinstance(spec, PFlipConfig) and spec.solver == "auto":
        return dataclasses.replace(spec, solver="working_set")
    return spec


def _fast(sc: Any) -> Any:
    """``sc`` with its MF fits on the exact solver where supported (``fidelity="fast"``)."""
    changes = {}
    if hasattr(sc, "mf") and callable(getattr(sc, "mf_config", None)):  # MF and Gaussian scorers
        mf = sc.mf_config()
        if exact_supported(mf):
            changes["mf"] = mf.replace(solver="exact")
    stable = getattr(sc, "stable_init_mf", None)  # the ReputationScorer's stable-init MF
    if stable is not None and exact_supported(stable):
        changes["stable_init_mf"] = stable.replace(solver="exact")
    return dataclasses.replace(sc, **changes) if changes else sc
