"""``ReputationScorer``: the helpfulness-reputation MF scorer (spec 06 §D.7 with §D.1–D.3; its
place in the roster: spec 04 §9.3, 02 §1).

The model is the reputation MF of the diligence model (:class:`cnlab.scorers.diligence.ReputationMF`)
fitted on ``helpfulNum`` with the squared error and the identity activation:

.. math::

    \\hat y_{un} = \\frac{e_n \\cdot e_u}{\\sqrt{d}} + b_n \\, \\rho_u + b_u + \\mu, \\qquad
    L = \\frac1N \\sum_{(u,n)} w_{un} (\\hat y_{un} - y_{un})^2 + R

with the weights :math:`w` of §D.2 (:func:`cnlab.scorers.diligence.rating_weights`) and the
penalties :math:`R` of §D.3 (:func:`cnlab.scorers.diligence.regularization`), under the
hyper-parameters :data:`HELPFULNESS_REPUTATION_MF` (official
``helpfulness_model._setup_dataset_and_hparams``).  The note bias :math:`b_n` is the
*coverage* intercept; a note is CRH when it exceeds 0.28.

Phases (official ``reputation_scorer.ReputationScorer``):

* **prescoring** (:func:`fit_prescoring`, pipeline glue :func:`prescore`): the scorer's rating
  slice (core groups + unenrolled raters, all notes) → ``filter_ratings(10, 5)`` → optional
  stable initialisation (a default MF on the group-13 subset of spec 01 §5.1, **factors only**)
  → the three rounds of §D.5 (:func:`cnlab.scorers.diligence.train_prescoring_rounds`).  Outputs, in
  the official prescoring layout: note ``internalNoteIntercept``, ``internalNoteFactor1`` and the
  round-2 intercept in the placeholder column ``lowDiligenceNoteInterceptRound2``; rater
  ``internalRaterReputation``, ``internalRaterIntercept``, ``internalRaterFactor1`` and
  ``lowDiligenceRaterInterceptRound2``; meta ``lowDiligenceGlobalIntercept`` = (μ₁, μ₂, μ₃)
  (the official code stores this model's global intercepts there; ``globalIntercept`` and the
  final-round counts are ``None``).
* **final scoring** (:func:`fit_final`, pipeline glue :func:`score_final`): the same slice and
  ``filter_ratings(10, 5)`` on the final ratings, then the two phases of §D.6
  (:func:`cnlab.scorers.diligence.train_final_phases`) from the prescoring rows, no loss ratios.
  Outputs ``coverageNoteIntercept``, ``coverageNoteFactor1``, ``coverageRatingStatus`` (CRH if
  intercept > 0.28, else NMR) for the notes passing the 0.5 capture filter, and rater
  ``raterHelpfulnessReputation`` (the prescoring reputation, frozen in final scoring).

No meta rule reads these columns (the official ``RuleID.COVERAGE_MODEL`` is never attached), and
the published ``helpfulness_scores.raterHelpfulnessReputation`` comes from the prescoring rater
rows (:mod:`cnlab.contributors`).

Reproduction notes
------------------
* PyTorch's default ``nn.Embedding`` init (note / rater biases, and the embeddings when there is
  no stable init) is replaced by N(0, 1) draws from NumPy (:mod:`cnlab.scorers.diligence`), and the
  unseeded official stable-init MF by a seeded cnlab fit: prescoring agrees with the official one
  in distribution, not bit for bit.  Final scoring from given prescoring rows is deterministic.
* Official init lookups key prescoring values by ``float64(noteId)``: only notes whose id is
  exactly representable find their values (official log: 0 of 1,779 note factors initialised in
  prescoring, 5 of 1,779 in final scoring).  ``HELPFULNESS_REPUTATION_MF.official_float_note_id_lookup``
  reproduces it (``False`` gives the intended init of every note).

TensorFlow is imported lazily (when a model is built); the pipeline modules are imported inside
the glue functions so that importing this module stays light.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.mf.config import MFConfig
from cnlab.scorers.diligence import (
    DiligenceConfig,
    GlobalIntercepts,
    ReputationMF,
    rating_data,
    _first_dim,
    _lookup,
    _lookup_float_keys,
    _random_init,
    train_final_phases,
    train_prescoring_rounds,
)

log = logging.getLogger("cnlab")

__all__ = [
    "HELPFULNESS_REPUTATION_MF",
    "REPUTATION_SCORER",
    "REPUTATION_SCORERS",
    "ReputationFinal",
    "ReputationPrescoring",
    "ReputationScorerConfig",
    "coverage_status",
    "fit_final",
    "fit_prescoring",
    "prescore",
    "score_final",
]

# Official prescoring-layout column names this scorer writes / reads (spec 02 §3.3).
NOTE_INTERCEPT = schema.NOTE_INTERCEPT  # internalNoteIntercept
NOTE_FACTOR1 = schema.NOTE_FACTOR1  # internalNoteFactor1
#: Placeholder column of the round-2 note intercept (official "hack": the diligence field).
NOTE_INTERCEPT_ROUND2 = "lowDiligenceNoteInterceptRound2"
RATER_INTERCEPT = schema.RATER_INTERCEPT  # internalRaterIntercept
RATER_FACTOR1 = schema.RATER_FACTOR1  # internalRaterFactor1
RATER_REPUTATION = "internalRaterReputation"
#: Placeholder column of the round-2 rater intercept.
RATER_INTERCEPT_ROUND2 = "lowDiligenceRaterInterceptRound2"
#: External helpfulness column (official ``raterHelpfulnessReputationKey``).
HELPFULNESS_REPUTATION = "raterHelpfulnessReputation"

#: Hyper-parameters of the helpfulness-reputation model (spec 06 §D.7; official
#: ``helpfulness_model._setup_dataset_and_hparams``): MSE loss, identity activation, nDim 1,
#: numEpochs 300, learningRate 0.2, convergence 1e-7 checked every stablePeriod 10 epochs,
#: l2Lambda 0.01, l2NoteBiasMultiplier 0.5, l2RaterBiasMultiplier 1, l2GlobalBiasMultiplier 0,
#: l2RaterReputationMultiplier 1, l2LambdaThirdRoundMultiplier 0.1,
#: l2NoteBiasThirdRoundMultiplier 10, posWeight 0.2 (× posWeightSecondRoundMultiplier 5 and
#: × posWeightThirdRoundMultiplier 5 ⇒ 1.0 in rounds 2–3), noteNormExp 0 / 0 / −0.5 and
#: raterNormExp −0.5 / 0 / 0 in rounds 1 / 2 / 3, reputationExp 1, alpha 0,
#: defaultReputation 1 (0 in ``train_model_final``).
HELPFULNESS_REPUTATION_MF = DiligenceConfig(
    loss="mse",
    n_dim=1,
    num_epochs=300,
    learning_rate=0.2,
    convergence=1e-7,
    stable_period=10,
    l2_lambda=0.01,
    l2_note_bias_multiplier=0.5,
    l2_rater_bias_multiplier=1.0,
    l2_global_bias_multiplier=0.0,
    l2_rater_reputation_multiplier=1.0,
    l2_lambda_third_round_multiplier=0.1,
    l2_note_bias_third_round_multiplier=10.0,
    pos_weight=0.2,
    pos_weight_second_round_multiplier=5.0,
    pos_weight_third_round_multiplier=5.0,
    note_norm_exp_first_round=0.0,
    rater_norm_exp_first_round=-0.5,
    note_norm_exp_second_round=0.0,
    rater_norm_exp_second_round=0.0,
    note_norm_exp_third_round=-0.5,
    rater_norm_exp_third_round=0.0,
    reputation_exp=1.0,
    alpha=0.0,
    default_reputation=1.0,
    final_default_reputation=0.0,
    official_float_note_id_lookup=True,
)


@dataclass(frozen=True)
class ReputationScorerConfig:
    """The ``ReputationScorer`` (spec 06 §D.7, 04 §9.3 table row "ReputationScorer").

    The slice attributes mirror :class:`cnlab.scorers.mf_config.ScorerConfig` so that
    :func:`cnlab.scorers.slicing.filter_input` / ``postprocess_output`` apply unchanged.
    """

    name: str = "ReputationScorer"
    """``get_name()``; also the ``scorerName`` of its prescoring rows."""
    prefix: str = "coverage"
    """External column prefix (official ``coverageNoteInterceptKey`` …)."""
    included_groups: frozenset[int] | None = schema.CORE_GROUPS
    """Rater modeling groups in scope (official ``includedGroups=c.coreGroups``)."""
    include_unassigned: bool = True
    """Raters without an enrollment row count as in-group (official ``includeUnassigned=True``)."""
    capture_threshold: float | None = 0.5
    """Final notes need ≥ this share of raw ratings from in-group raters (official
    ``captureThreshold=0.5``, applied by the base ``Scorer._postprocess_output``)."""
    strict_inclusion: bool = False
    """Official ``strictInclusion`` (off)."""
    topic_scope: str = "all"
    """All notes (official ``includedTopics=set()``, ``excludeTopics=False``)."""
    topic: str | None = None
    """No topic restriction."""
    min_ratings_per_rater: int = 10
    """``filter_ratings`` rater minimum, prescoring **and** final (official ``minNumRatingsPerRater``)."""
    min_raters_per_note: int = 5
    """``filter_ratings`` note minimum, prescoring and final (official ``minNumRatersPerNote``)."""
    crh_threshold: float = 0.28
    """``coverageRatingStatus`` = CRH iff ``coverageNoteIntercept`` > this (strict; official
    ``crhThreshold``), else NMR."""
    use_stable_init: bool = True
    """Initialise the factors from a default MF on the stable-init subset (official
    ``useStableInitialization`` → ``_modelingGroupToInitializeForStability = 13``)."""
    stable_init_group: int = 13
    """Modeling group of the stable-init subset (official 13)."""
    stable_init_min_share: float = 0.75
    """Stable-init subset: notes with ≥ this share of ratings from the group (spec 01 §5.1)."""
    stable_init_min_ratings: int = 5
    """Stable-init subset: notes with ≥ this many enrolled ratings (spec 01 §5.1)."""
    stable_init_mf: MFConfig = field(default_factory=MFConfig)
    """MF of the stable-init subset (official ``MatrixFactorization()`` class defaults; only its
    note and rater **factors** are used)."""
    model: DiligenceConfig = HELPFULNESS_REPUTATION_MF
    """Reputation-MF hyper-parameters (:data:`HELPFULNESS_REPUTATION_MF`)."""
    meta_scorer: str | None = None
    """No meta rule reads this scorer (the official ``RuleID.COVERAGE_MODEL`` is not attached)."""
    family: str = "reputation"
    """Interface parity with :class:`~cnlab.scorers.mf_config.ScorerConfig` (not an MF family)."""
    final_scoring: bool = True
    """Runs in final scoring too."""
    has_aux: bool = False
    """Writes no ``aux_note_info`` columns."""

    def replace(self, **changes: Any) -> "ReputationScorerConfig":
        return dataclasses.replace(self, **changes)

    # -- output names --------------------------------------------------------------------
    @property
    def suffix(self) -> str:
        return ""

    def note_column_map(self) -> dict[str, str]:
        """Internal → external scored-notes names (``coverageNoteIntercept`` …)."""
        p = self.prefix
        return {NOTE_INTERCEPT: f"{p}NoteIntercept", NOTE_FACTOR1: f"{p}NoteFactor1",
                schema.RATING_STATUS: f"{p}RatingStatus"}

    def scored_note_columns(self) -> list[str]:
        """External scored-notes columns besides noteId (official ``get_scored_notes_cols``)."""
        return list(self.note_column_map().values())

    def rater_column_map(self) -> dict[str, str]:
        """Internal → external helpfulness names (official ``_get_user_col_mapping``)."""
        return {RATER_REPUTATION: HELPFULNESS_REPUTATION}

    def helpfulness_columns(self) -> list[str]:
        return [HELPFULNESS_REPUTATION]

    def aux_columns(self) -> list[str]:
        return []


#: The official ``ReputationScorer`` (``run_scoring._get_scorers``: default arguments).
REPUTATION_SCORER = ReputationScorerConfig()
#: By name, for ``cnlab score --scorers ReputationScorer``.
REPUTATION_SCORERS: dict[str, ReputationScorerConfig] = {REPUTATION_SCORER.name: REPUTATION_SCORER}


# ---------------------------------------------------------------------------------------------
# Model fits
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReputationPrescoring:
    """Result of :func:`fit_prescoring` (prescoring layout, internal names)."""

    note_params: pd.DataFrame
    """noteId, internalNoteIntercept, internalNoteFactor1, lowDiligenceNoteInterceptRound2 (round 2)."""
    rater_params: pd.DataFrame
    """raterParticipantId, internalRaterReputation, internalRaterIntercept, internalRaterFactor1,
    lowDiligenceRaterInterceptRound2 (round 2)."""
    global_intercepts: GlobalIntercepts
    """μ after rounds 1, 2, 3 (meta ``lowDiligenceGlobalIntercept``)."""
    loss_histories: tuple[tuple[float, ...], ...]
    final_losses: tuple[float, float, float]
    stable_init: Any
    """The stable-init :class:`~cnlab.mf.result.MFResult` (``None`` when not used)."""
    init_counts: Mapping[str, int]
    """Official log figures: ``stable_init_ratings`` / ``_notes`` / ``_raters``, and how many
    raters / notes start from a non-zero stable-init factor (``initialized internalRaterFactor1s``)."""
    n_ratings: int
    seed: Any
    config: ReputationScorerConfig = field(repr=False)

    def summary(self) -> str:
        g = self.global_intercepts
        lines = [f"ReputationScorer prescoring: {self.n_ratings} ratings, {len(self.note_params)} notes, "
                 f"{len(self.rater_params)} raters, seed={self.seed}",
                 f"  init: {dict(self.init_counts)}"]
        for k, (h, loss) in enumerate(zip(self.loss_histories, self.final_losses), start=1):
            lines.append(f"  round {k}: {len(h)} epochs evaluated, final loss {loss:.6f}")
        lines.append(f"  global intercepts: {g.first_round:.4f}, {g.second_round:.4f}, {g.final_round:.4f}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ReputationFinal:
    """Result of :func:`fit_final`."""

    note_params: pd.DataFrame
    """noteId, internalNoteIntercept (the coverage intercept), internalNoteFactor1."""
    rater_params: pd.DataFrame
    """raterParticipantId, internalRaterReputation (frozen), internalRaterIntercept, internalRaterFactor1."""
    loss_histories: tuple[tuple[float, ...], tuple[float, ...]]
    final_losses: tuple[float, float]
    init_counts: Mapping[str, int]
    """Non-zero initial values (official log ``initialized <column>s``)."""
    n_ratings: int

    def summary(self) -> str:
        return (f"ReputationScorer final: {self.n_ratings} ratings, {len(self.note_params)} notes; "
                f"phase A {len(self.loss_histories[0])} epochs (loss {self.final_losses[0]:.6f}), "
                f"phase B {len(self.loss_histories[1])} epochs (loss {self.final_losses[1]:.6f}); "
                f"init {dict(self.init_counts)}")


def _targets(ratings: pd.DataFrame) -> np.ndarray:
    schema.require_columns(ratings, [schema.HELPFUL_NUM], where="reputation scorer ratings")
    return pd.to_numeric(ratings[schema.HELPFUL_NUM]).to_numpy(dtype=np.float32, na_value=np.nan)


def _child_rngs(seed: Any, n: int) -> list[Any]:
    """Independent generators for the stable-init MF and the reputation-MF init."""
    if seed is None or isinstance(seed, np.random.Generator):
        return [seed] * n
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def _note_values(ids: np.ndarray, frame: pd.DataFrame | None, col: str, cfg: DiligenceConfig) -> np.ndarray | None:
    if cfg.official_float_note_id_lookup:
        return _lookup_float_keys(ids, frame, schema.NOTE_ID, col, 0.0)
    return _lookup(ids, frame, schema.NOTE_ID, col, 0.0)


def fit_prescoring(
    ratings: pd.DataFrame,
    enrollment: pd.DataFrame | None = None,
    *,
    config: ReputationScorerConfig = REPUTATION_SCORER,
    seed: Any = None,
) -> ReputationPrescoring:
    """Prescoring fit of the helpfulness-reputation model (spec 06 §D.7, §D.5).

    Parameters
    ----------
    ratings
        Training ratings (noteId, raterParticipantId, helpfulNum): the scorer's slice after
        ``filter_ratings(10, 5)``.
    enrollment
        User enrollment (participantId, modelingGroup); needed with ``config.use_stable_init``.
    seed
        Seeds the stable-init MF and the N(0, 1) draws of the reputation MF (independent child
        streams of ``SeedSequence(seed)``).

    Notes
    -----
    Initialisation (official ``ReputationMFModel``): note / rater biases N(0, 1); reputation 1;
    μ = 0; with the stable init, rater factors := the subset MF's rater factors (0 for raters
    outside the subset) and note factors := its note factors looked up as the official code does
    (0 for every other note — see the module notes); without it, factors N(0, 1).
    """
    cfg = config.model
    data = rating_data(ratings, _targets(ratings))
    mf_rng, init_rng = _child_rngs(seed, 2)
    init = _random_init(data, cfg.n_dim, init_rng)
    counts: dict[str, int] = {}
    stable = None
    if config.use_stable_init:
        if enrollment is None:
            raise ValueError("fit_prescoring: enrollment is needed for the stable initialisation")
        from cnlab.errors import CnlabInputError
        from cnlab.mf.engine import fit, stable_init_ratings

        try:
            sub = stable_init_ratings(ratings, enrollment, initial_group=config.stable_init_group,
                                      min_share=config.stable_init_min_share,
                                      min_ratings=config.stable_init_min_ratings)
        except CnlabInputError as exc:  # official: the MF aborts on an empty subset
            log.warning("%s: %s; reputation MF starts from random factors (ReputationScorerConfig"
                        ".use_stable_init=False skips the stable initialisation)", config.name, exc)
            sub = None
        if sub is not None:
            stable = fit(sub[[schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM]], config.stable_init_mf,
                         seed=mf_rng)
            counts.update(stable_init_ratings=len(sub), stable_init_notes=int(sub[schema.NOTE_ID].nunique()),
                          stable_init_raters=int(sub[schema.RATER_ID].nunique()))
            rf = _lookup(data.raters, stable.rater_params, schema.RATER_ID, RATER_FACTOR1, 0.0)
            nf = _note_values(data.notes, stable.note_params, NOTE_FACTOR1, cfg)
            init["rater_emb"] = np.repeat(rf[:, None], cfg.n_dim, axis=1)
            init["note_emb"] = np.repeat(nf[:, None], cfg.n_dim, axis=1)
            counts.update(raters_initialized=int(np.count_nonzero(rf)), notes_initialized=int(np.count_nonzero(nf)))
    init["reputation"] = np.full(len(data.raters), cfg.default_reputation, dtype=np.float32)
    init["global_bias"] = np.float32(0.0)
    model = ReputationMF(data.note_idx, data.rater_idx, data.targets, init, loss=cfg.loss)
    rounds = train_prescoring_rounds(model, data, cfg)

    note_params = pd.DataFrame({
        schema.NOTE_ID: data.notes,
        NOTE_INTERCEPT: model.get("note_bias"),
        NOTE_FACTOR1: _first_dim(model.get("note_emb")),
        NOTE_INTERCEPT_ROUND2: rounds.note_bias_round2,
    })
    rater_params = pd.DataFrame({
        schema.RATER_ID: data.raters,
        RATER_REPUTATION: model.get("reputation"),
        RATER_INTERCEPT: model.get("rater_bias"),
        RATER_FACTOR1: _first_dim(model.get("rater_emb")),
        RATER_INTERCEPT_ROUND2: rounds.rater_bias_round2,
    })
    return ReputationPrescoring(note_params, rater_params, rounds.global_intercepts, rounds.loss_histories,
                                rounds.final_losses, stable, counts, data.n, seed, config)


def fit_final(
    ratings: pd.DataFrame,
    prescoring_notes: pd.DataFrame,
    prescoring_raters: pd.DataFrame,
    global_intercepts: GlobalIntercepts | Mapping[str, float] | Sequence[float],
    *,
    config: ReputationScorerConfig = REPUTATION_SCORER,
) -> ReputationFinal:
    """Final-scoring fit of the helpfulness-reputation model (spec 06 §D.7, §D.6); deterministic.

    Parameters
    ----------
    ratings
        The scorer's final ratings after ``filter_ratings(10, 5)`` (noteId, raterParticipantId,
        helpfulNum).
    prescoring_notes, prescoring_raters
        This scorer's prescoring rows (official layout, see :class:`ReputationPrescoring`).
    global_intercepts
        Prescoring meta ``lowDiligenceGlobalIntercept`` of this scorer.

    Notes
    -----
    Init (official ``train_model_final``): note factor := ``internalNoteFactor1``, note bias :=
    round-2 intercept (both looked up per :attr:`DiligenceConfig.official_float_note_id_lookup`,
    0 if missing); rater factor := ``internalRaterFactor1``, bias := round-2 intercept,
    reputation := ``internalRaterReputation`` (0 for raters without a row); μ := μ₂.  Phase A
    trains the note factors, phase B (μ := μ₃, rater biases := ``internalRaterIntercept``) the note
    intercepts (:func:`cnlab.scorers.diligence.train_final_phases`; no loss ratios).
    """
    cfg = config.model
    g = GlobalIntercepts.coerce(global_intercepts)
    if not all(np.isfinite([g.first_round, g.second_round, g.final_round])):
        raise ValueError(f"{config.name}: missing prescoring global intercepts {g}")
    data = rating_data(ratings, _targets(ratings))
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    schema.require_columns(prescoring_notes, [nid], where="reputation prescoring note rows")
    schema.require_columns(prescoring_raters, [rid], where="reputation prescoring rater rows")

    def note_col(col):
        v = _note_values(data.notes, prescoring_notes, col, cfg)
        return np.zeros(len(data.notes), np.float32) if v is None else v

    def rater_col(col, default=0.0):
        v = _lookup(data.raters, prescoring_raters, rid, col, default)
        return np.full(len(data.raters), default, np.float32) if v is None else v

    init = {
        "note_emb": np.repeat(note_col(NOTE_FACTOR1)[:, None], cfg.n_dim, axis=1),
        "note_bias": note_col(NOTE_INTERCEPT_ROUND2),
        "rater_emb": np.repeat(rater_col(RATER_FACTOR1)[:, None], cfg.n_dim, axis=1),
        "rater_bias": rater_col(RATER_INTERCEPT_ROUND2),
        "reputation": rater_col(RATER_REPUTATION, cfg.final_default_reputation),
        "global_bias": np.float32(g.second_round),
    }
    counts = {
        "note_factors_initialized": int(np.count_nonzero(init["note_emb"][:, 0])),
        "note_intercepts_initialized": int(np.count_nonzero(init["note_bias"])),
        "rater_factors_initialized": int(np.count_nonzero(init["rater_emb"][:, 0])),
        "rater_intercepts_initialized": int(np.count_nonzero(init["rater_bias"])),
        "reputations_initialized": int(np.count_nonzero(init["reputation"])),
    }
    model = ReputationMF(data.note_idx, data.rater_idx, data.targets, init, loss=cfg.loss)
    losses, hists = train_final_phases(model, data, cfg, g, rater_col(RATER_INTERCEPT),
                                       rating_per_note_ratio=None, rating_per_user_ratio=None)
    note_params = pd.DataFrame({nid: data.notes, NOTE_INTERCEPT: model.get("note_bias"),
                                NOTE_FACTOR1: _first_dim(model.get("note_emb"))})
    rater_params = pd.DataFrame({rid: data.raters, RATER_REPUTATION: model.get("reputation"),
                                 RATER_INTERCEPT: model.get("rater_bias"),
                                 RATER_FACTOR1: _first_dim(model.get("rater_emb"))})
    return ReputationFinal(note_params, rater_params, hists, losses, counts, data.n)


def coverage_status(intercepts: pd.Series | np.ndarray, threshold: float = 0.28) -> np.ndarray:
    """``CRH`` where intercept > ``threshold`` (strict), else ``NMR`` (NaN intercept → NMR, as the
    official ``.loc[intercept > threshold]`` assignment; rows added later by the NSH merge stay NaN)."""
    x = np.asarray(intercepts, dtype=np.float64)
    return np.where(x > threshold, schema.CRH, schema.NMR).astype(object)


# ---------------------------------------------------------------------------------------------
# Glue to the shared scorer outputs (PrescoringOutput, FinalOutput)
# ---------------------------------------------------------------------------------------------
def _scope(ratings, status_history, enrollment, config, note_topics, timer, what):
    from cnlab.scorers.mf_prescoring import prepare_ratings
    from cnlab.scorers.slicing import filter_input_rows
    from cnlab.preprocess import filter_ratings

    with timer.stage("filter input", len(ratings)) as st:
        # rows first, then one narrow copy of them (no full-size prepared frame); the capture
        # filter reads only noteId / raterParticipantId, which the input frame has as they are
        rows, nsh, rep = filter_input_rows(ratings, status_history, enrollment, config, note_topics=note_topics)
        scoped = prepare_ratings(ratings, rows)
        r = ratings
        st["rows_out"] = len(scoped)
        st["note"] = (f"after topic filter {rep.after_topic_filter}, unassigned {rep.unassigned_ratings}, "
                      f"after group filter {rep.after_group_filter}; NSH {rep.nsh_in}->{rep.nsh_out}")
    with timer.stage(f"prefilter (rater>={config.min_ratings_per_rater}, note>={config.min_raters_per_note})",
                     len(scoped)) as st:
        rft = filter_ratings(scoped, min_ratings_per_rater=config.min_ratings_per_rater,
                             min_raters_per_note=config.min_raters_per_note) if len(scoped) else scoped
        st["rows_out"] = len(rft)
        st["note"] = f"{rft[schema.NOTE_ID].nunique()} notes, {rft[schema.RATER_ID].nunique()} raters"
    if rft.empty:
        log.warning("%s %s: no ratings after slicing / prefilter; empty output", config.name, what)
    return r, scoped, nsh, rep, rft


def prescore(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    config: ReputationScorerConfig = REPUTATION_SCORER,
    *,
    note_topics: pd.DataFrame | None = None,
    seed: Any = None,
    timer: Any = None,
):
    """Prescoring of the ``ReputationScorer`` (spec 06 §D.7) → :class:`~cnlab.scorers.outputs.PrescoringOutput`.

    ``ratings``: preprocessed, PSS-coalesced prescoring ratings.  Note rows cover every note of
    the (scoped) status history (NaN parameters for unscored notes, as the official outer merge);
    rater rows every trained rater; meta ``global_intercept`` NaN, ``low_diligence_global_intercept``
    = (μ₁, μ₂, μ₃), final-round counts NaN (official ``None``).
    """
    from cnlab._timing import StageTimer
    from cnlab.scorers.outputs import (
        NOTE_MODEL_OUTPUT_COLUMNS,
        RATER_MODEL_OUTPUT_COLUMNS,
        PrescoringMeta,
        PrescoringOutput,
    )

    timer = timer or StageTimer(prefix=f"{config.name} prescoring: ")
    nid = schema.NOTE_ID
    _, scoped, nsh, rep, rft = _scope(ratings, status_history, enrollment, config, note_topics, timer, "prescoring")
    inter: dict[str, Any] = {"slice_report": rep, "ratings_for_training": rft}
    if rft.empty:
        empty = PrescoringOutput(pd.DataFrame(columns=list(NOTE_MODEL_OUTPUT_COLUMNS)),
                                 pd.DataFrame(columns=list(RATER_MODEL_OUTPUT_COLUMNS)), {}, None,
                                 {config.name: inter})
        return empty
    with timer.stage("stable init + reputation MF (3 rounds)", len(rft)) as st:
        fit_ = fit_prescoring(rft, enrollment, config=config, seed=seed)
        st["rows_out"] = len(fit_.note_params)
        g = fit_.global_intercepts
        st["note"] = (f"init {dict(fit_.init_counts)}; epochs {[len(h) for h in fit_.loss_histories]}; "
                      f"mu {g.first_round:.4f}/{g.second_round:.4f}/{g.final_round:.4f}")
    inter["fit"] = fit_
    notes = fit_.note_params.merge(nsh[[nid]].drop_duplicates(), on=nid, how="outer")
    notes["scorerName"] = config.name
    raters = fit_.rater_params.assign(scorerName=config.name)
    meta = PrescoringMeta(
        global_intercept=float("nan"),
        low_diligence_global_intercept=(g.first_round, g.second_round, g.final_round),
        tag_filtering_thresholds={},
        final_round_num_ratings=np.nan,
        final_round_num_notes=np.nan,
        final_round_num_users=np.nan,
    )
    inter["timings"] = timer.to_frame()
    return PrescoringOutput(notes.reindex(columns=list(NOTE_MODEL_OUTPUT_COLUMNS)),
                            raters.reindex(columns=list(RATER_MODEL_OUTPUT_COLUMNS)),
                            {config.name: meta}, None, {config.name: inter})


def score_final(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    config: ReputationScorerConfig,
    prescoring: Any,
    *,
    note_topics: pd.DataFrame | None = None,
    seed: Any = None,
    timer: Any = None,
):
    """Final scoring of the ``ReputationScorer`` → :class:`~cnlab.scorers.mf_final.FinalOutput`.

    ``ratings``: final ratings (preprocessed, PSS-coalesced with the dropna'd PSS rows).
    ``scored_notes``: noteId, coverageNoteIntercept, coverageNoteFactor1, coverageRatingStatus
    for the notes of the status history that pass the capture filter; ``helpfulness_scores``:
    raterParticipantId, raterHelpfulnessReputation of the trained raters.  ``seed`` is unused
    (the fit is deterministic); it is accepted for interface parity.
    """
    from cnlab._timing import StageTimer
    from cnlab.scorers.mf_final import CallResult, FinalOutput
    from cnlab.scorers.slicing import postprocess_output

    del seed
    timer = timer or StageTimer(prefix=f"{config.name} final: ")
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    pn, pr, meta = prescoring.for_scorer(config.name)

    def empty():
        sn = pd.DataFrame({nid: pd.Series(dtype=np.int64),
                           **{c: pd.Series(dtype=object) for c in config.scored_note_columns()}})
        hs = pd.DataFrame({rid: pd.Series(dtype=np.int32), HELPFULNESS_REPUTATION: pd.Series(dtype=np.float32)})
        return FinalOutput(config, sn, hs, pd.DataFrame(columns=[nid]), sn.copy())

    if pr.empty or meta is None:
        log.warning("%s: no prescoring rows/meta; empty final output", config.name)
        return empty()
    r, scoped, nsh, rep, rft = _scope(ratings, status_history, enrollment, config, note_topics, timer, "final")
    if rft.empty:
        return empty()
    with timer.stage("reputation MF (final phases A, B)", len(rft)) as st:
        fin = fit_final(rft, pn, pr, meta.low_diligence_global_intercept, config=config)
        st["rows_out"] = len(fin.note_params)
        st["note"] = (f"init {dict(fin.init_counts)}; epochs {[len(h) for h in fin.loss_histories]}; "
                      f"losses {fin.final_losses[0]:.6f}/{fin.final_losses[1]:.6f}")
    notes = fin.note_params.assign(**{schema.RATING_STATUS: coverage_status(
        fin.note_params[NOTE_INTERCEPT], config.crh_threshold)})
    notes = notes.merge(nsh[[nid]].drop_duplicates(), on=nid, how="outer")
    with timer.stage("postprocess (capture threshold)", len(notes)) as st:
        post = postprocess_output(notes, r, enrollment, config)
        st["rows_out"] = len(post)
    ext = post.rename(columns=config.note_column_map())
    scored_notes = ext.reindex(columns=[nid, *config.scored_note_columns()]).reset_index(drop=True)
    helpfulness = fin.rater_params[[rid, RATER_REPUTATION]].rename(columns=config.rater_column_map())
    counts = {"ratings_in": len(ratings), "scoped": len(scoped), "final_round_ratings": len(rft),
              "final_round_notes": int(rft[nid].nunique()), "final_round_raters": int(rft[rid].nunique()),
              "notes_before_capture": len(notes), "notes_after_capture": len(post)}
    call = CallResult("main", rft, fin, fin.note_params, notes, helpfulness, counts)
    return FinalOutput(config, scored_notes, helpfulness.reset_index(drop=True), pd.DataFrame(columns=[nid]),
                       notes, {"main": call}, counts)


class ReputationFamily:
    """:class:`~cnlab.scorers.base.ScorerFamily` of the ReputationScorer (no meta rule reads it)."""

    config_type = ReputationScorerConfig
    meta_rules_configurable = False

    def prescore(self, config: ReputationScorerConfig, ratings: pd.DataFrame, context, *, timer: Any = None):
        return prescore(ratings, context.status_history, context.enrollment, config,
                        note_topics=context.note_topics, seed=context.seed, timer=timer)

    def score_final(self, config: ReputationScorerConfig, ratings: pd.DataFrame, prescoring: Any, context, *,
                    timer: Any = None):
        return score_final(ratings, context.status_history, context.enrollment, config, prescoring,
                           note_topics=context.note_topics, seed=context.seed, timer=timer)

    def meta_scorers(self, config: ReputationScorerConfig) -> tuple[str, ...]:
        return ()

    def output_columns(self, config: ReputationScorerConfig) -> dict[str, list[str]]:
        return {"scored_notes": config.scored_note_columns(), "helpfulness_scores": config.helpfulness_columns(),
                "aux_note_info": config.aux_columns()}


FAMILY = ReputationFamily()
