"""Note diligence: the reputation-weighted matrix factorisation (spec 06 §D).

The model predicts, for every rating, the *logit* that the rater tagged the
note as low diligence (``notHelpfulIncorrect``, ``notHelpfulIrrelevantSources``
or ``notHelpfulSourcesMissingOrUnreliable``):

.. math::

    \\hat y_{un} = \\frac{e_n \\cdot e_u}{\\sqrt{d}} + b_n \\, \\rho_u + b_u + \\mu

with note embedding :math:`e_n`, rater embedding :math:`e_u` (``d = 1``),
note bias :math:`b_n` (the *low-diligence intercept*), rater reputation
:math:`\\rho_u`, rater bias :math:`b_u` and global bias :math:`\\mu`.  It is
fitted with a weighted binary cross entropy (§D.2) plus L2 penalties (§D.3)
by full-batch Adam (PyTorch semantics, no gradient clipping).

Two entry points:

* :func:`fit_prescoring` — the three prescoring rounds of §D.5, giving
  ``lowDiligenceNoteIntercept``, ``…Factor1``, ``…InterceptRound2`` per note,
  rater intercept / factor / reputation / round-2 intercept, and the three
  global intercepts (prescoring meta ``lowDiligenceGlobalIntercept``).
* :func:`fit_final` — the two final-scoring phases of §D.6, starting from the
  prescoring outputs; deterministic given them.  Its
  ``lowDiligenceNoteIntercept`` feeds the rule "intercept > 0.263 ⇒ not CRH"
  and is written as aux ``lowDiligenceIntercept`` for MFCoreScorer.

Random initialisation
---------------------
The official prescoring keeps PyTorch's default ``nn.Embedding`` init
(standard normal) for note embeddings, note biases and rater biases.  That
random stream cannot be reproduced outside PyTorch, so this module draws the
same distribution, N(0, 1), from ``numpy.random.default_rng(seed)`` in the
order note embeddings, rater embeddings (then overwritten by the given rater
factors), note biases, rater biases.  Prescoring results therefore agree with
the official ones in distribution, not bit for bit (spec 06 §F.8); fitting is
deterministic for a fixed ``seed``.

TensorFlow is imported lazily (only when a model is built).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.mf.reputation_mf import ReputationMF

# ---------------------------------------------------------------------------
# Column names (official prescoring / final output names, spec 02 §3.3)
# ---------------------------------------------------------------------------
LOW_DILIGENCE_TAGS: tuple[str, ...] = (
    "notHelpfulIncorrect",
    "notHelpfulIrrelevantSources",
    "notHelpfulSourcesMissingOrUnreliable",
)
NOTE_INTERCEPT = "lowDiligenceNoteIntercept"
NOTE_FACTOR1 = "lowDiligenceNoteFactor1"
NOTE_INTERCEPT_ROUND2 = "lowDiligenceNoteInterceptRound2"
RATER_INTERCEPT = "lowDiligenceRaterIntercept"
RATER_FACTOR1 = "lowDiligenceRaterFactor1"
RATER_REPUTATION = "lowDiligenceRaterReputation"
RATER_INTERCEPT_ROUND2 = "lowDiligenceRaterInterceptRound2"
AUX_INTERCEPT = "lowDiligenceIntercept"

NOTE_PARAM_COLUMNS: tuple[str, ...] = (schema.NOTE_ID, NOTE_INTERCEPT, NOTE_FACTOR1, NOTE_INTERCEPT_ROUND2)
RATER_PARAM_COLUMNS: tuple[str, ...] = (
    schema.RATER_ID,
    RATER_INTERCEPT,
    RATER_FACTOR1,
    RATER_REPUTATION,
    RATER_INTERCEPT_ROUND2,
)

#: Added to per-note / per-rater weight sums before the normalisation power (§D.2).
NORM_EPSILON = 2.0**-20


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DiligenceConfig:
    """Hyper-parameters of the diligence model (spec 06 §D.4).

    Defaults are the official values of
    ``reputation_matrix_factorization/diligence_model._setup_dataset_and_hparams``.
    """

    n_dim: int = 1
    """``nDim``: embedding dimension; the prediction divides the dot product by √nDim."""
    loss: Literal["bce", "mse"] = "bce"
    """``lossFunction``: ``"bce"`` = ``BCEWithLogitsLoss`` (the prediction is a logit; diligence),
    ``"mse"`` = ``MSELoss`` (helpfulness-reputation model of ``ReputationScorer``, spec 06 §D.7).
    The activation is the identity in both (official ``activationFunction="IDENTITY"``)."""
    num_epochs: int = 300
    """``numEpochs``: the loop runs epochs 0..numEpochs inclusive (≤ 301 Adam steps)."""
    learning_rate: float = 0.2
    """``learningRate`` of Adam (a fresh optimizer per round / phase)."""
    convergence: float = 1e-5
    """``convergence``: stop when |loss − loss stablePeriod epochs earlier| < this."""
    stable_period: int = 5
    """``stablePeriod``: the convergence test runs on epochs divisible by this."""
    l2_lambda: float = 0.03
    """``l2Lambda`` (λ): base weight of every L2 penalty."""
    l2_note_bias_multiplier: float = 1.0
    """``l2NoteBiasMultiplier``: note-bias penalty is λ × this."""
    l2_rater_bias_multiplier: float = 10.0
    """``l2RaterBiasMultiplier``: rater-bias penalty is λ × this."""
    l2_global_bias_multiplier: float = 0.0
    """``l2GlobalBiasMultiplier``: global-bias penalty is λ × this (0: unpenalised)."""
    l2_rater_reputation_multiplier: float = 50.0
    """``l2RaterReputationMultiplier``: reputation penalty is λ × this."""
    l2_lambda_third_round_multiplier: float = 1.0
    """``l2LambdaThirdRoundMultiplier``: λ multiplier in prescoring round 3 / final phase B."""
    l2_note_bias_third_round_multiplier: float = 1.0
    """``l2NoteBiasThirdRoundMultiplier``: note-bias multiplier factor in round 3 / phase B."""
    pos_weight: float = 100.0
    """``posWeight``: weight of ratings with target 1 in rounds 1–2 and phase A."""
    pos_weight_second_round_multiplier: float = 1.0
    """``posWeightSecondRoundMultiplier``: posWeight factor in round 2 and phase A."""
    pos_weight_third_round_multiplier: float = 5.0
    """``posWeightThirdRoundMultiplier``: posWeight factor in round 3 and phase B (⇒ 500)."""
    note_norm_exp_first_round: float = 0.0
    """``noteNormExpFirstRound``: per-note weight normalisation exponent, round 1."""
    rater_norm_exp_first_round: float = 0.0
    """``raterNormExpFirstRound``: per-rater weight normalisation exponent, round 1."""
    note_norm_exp_second_round: float = 0.0
    """``noteNormExpSecondRound``: round 2 and final phase A."""
    rater_norm_exp_second_round: float = 0.0
    """``raterNormExpSecondRound``: round 2 and final phase A."""
    note_norm_exp_third_round: float = -0.5
    """``noteNormExpThirdRound``: round 3 and final phase B."""
    rater_norm_exp_third_round: float = 0.0
    """``raterNormExpThirdRound``: round 3 and final phase B."""
    reputation_exp: float = 0.5
    """``reputationExp``: weights × (alpha + rep^exp)/(1 + alpha) in round 3 / phase B."""
    alpha: float = 0.1
    """``alpha`` of the reputation weighting."""
    default_reputation: float = 1.0
    """``defaultReputation``: initial reputation in prescoring."""
    final_default_reputation: float = 0.0
    """``train_model_final`` sets ``defaultReputation = 0``: raters without a prescoring reputation."""
    official_float_note_id_lookup: bool = True
    """Reproduce how official final scoring (``init_parameter``) looks up prescoring note params.

    It builds ``dict(frame[[noteId, value]].values)``; mixing the int64 noteId with a float
    column turns the keys into float64, so only notes whose id is exactly representable in
    float64 (about 1 in 512 current snowflake ids) find their prescoring values — all other
    notes start phase A with factor 0 and intercept 0 (seen in the official final log:
    "initialized internalNoteFactor1s: 2" of 1221).  ``False`` gives the intended init of
    spec 06 §D.6 (every note from its prescoring row)."""
    adam_beta1: float = 0.9
    """``torch.optim.Adam`` default β1."""
    adam_beta2: float = 0.999
    """``torch.optim.Adam`` default β2."""
    adam_eps: float = 1e-8
    """``torch.optim.Adam`` default ε (added to the bias-corrected √v)."""
    final_solver: Literal["adam", "newton"] = "adam"
    """How the two final-scoring phases (spec 06 §D.6) are trained: ``"adam"``, the official
    loop; ``"newton"`` (a cnlab option, ``fidelity="fast"``), the exact optimum of each phase's
    objective, note by note (:mod:`cnlab.scorers.note_newton`; ``n_dim`` 1 only)."""

    def __post_init__(self):
        if self.loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {self.loss!r}")
        if self.final_solver not in ("adam", "newton"):
            raise ValueError(f"final_solver must be 'adam' or 'newton', got {self.final_solver!r}")
        if self.final_solver == "newton" and self.n_dim != 1:
            raise ValueError("final_solver='newton' solves one parameter a note: n_dim must be 1")

    def replace(self, **changes: Any) -> "DiligenceConfig":
        """Return a copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class GlobalIntercepts:
    """Global bias after each prescoring round (meta ``lowDiligenceGlobalIntercept``)."""

    first_round: float
    second_round: float
    final_round: float

    @classmethod
    def coerce(cls, value: Any) -> "GlobalIntercepts":
        """Accept an instance, the meta mapping (firstRound/secondRound/finalRound) or a triple."""
        if isinstance(value, GlobalIntercepts):
            return value
        if isinstance(value, Mapping):
            return cls(float(value["firstRound"]), float(value["secondRound"]), float(value["finalRound"]))
        first, second, final = value
        return cls(float(first), float(second), float(final))

    def to_meta(self) -> dict[str, float]:
        """The official meta layout ``{firstRound, secondRound, finalRound}``."""
        return {"firstRound": self.first_round, "secondRound": self.second_round, "finalRound": self.final_round}


@dataclass(frozen=True)
class DiligencePrescoring:
    """Result of :func:`fit_prescoring` (spec 06 §D.5)."""

    note_params: pd.DataFrame
    """noteId, lowDiligenceNoteIntercept, lowDiligenceNoteFactor1, lowDiligenceNoteInterceptRound2."""
    rater_params: pd.DataFrame
    """raterParticipantId, lowDiligenceRaterIntercept, …Factor1, …Reputation, …InterceptRound2."""
    global_intercepts: GlobalIntercepts
    """Global bias after rounds 1, 2, 3."""
    loss_histories: tuple[tuple[float, ...], ...]
    """Per round, the regularised loss evaluated at every epoch (before that epoch's step)."""
    final_losses: tuple[float, float, float]
    """Loss returned by each round (the last evaluated loss, as the official code logs)."""
    n_ratings: int
    seed: int | None
    config: DiligenceConfig = field(repr=False)

    def summary(self) -> str:
        """A short human-readable description."""
        ni = self.note_params[NOTE_INTERCEPT]
        lines = [
            f"Diligence prescoring: {self.n_ratings} ratings, {len(self.note_params)} notes, "
            f"{len(self.rater_params)} raters, seed={self.seed}",
        ]
        for k, (hist, loss) in enumerate(zip(self.loss_histories, self.final_losses), start=1):
            lines.append(f"  round {k}: {len(hist)} epochs evaluated, final loss {loss:.6f}")
        g = self.global_intercepts
        lines.append(f"  global intercepts: {g.first_round:.4f}, {g.second_round:.4f}, {g.final_round:.4f}")
        lines.append(
            f"  note intercept: mean {ni.mean():.4f}, sd {ni.std():.4f}, "
            f"share > 0.263: {(ni > 0.263).mean():.3f}"
        )
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Data preparation
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RatingData:
    """The per-rating arrays a reputation MF is fitted on (12 bytes a rating; :func:`rating_data`)."""

    notes: np.ndarray  # index -> noteId (sorted ascending)
    raters: np.ndarray  # index -> raterParticipantId (sorted ascending)
    note_idx: np.ndarray  # int32 per rating
    rater_idx: np.ndarray  # int32 per rating
    targets: np.ndarray  # float32 per rating

    @property
    def n(self) -> int:
        return len(self.targets)


def rating_columns(ratings: pd.DataFrame) -> list[str]:
    """The columns of ``ratings`` the diligence fits read: the two ids and where each
    low-diligence tag lives (its column, or the packed ``notHelpfulTagBits``)."""
    cols = [schema.NOTE_ID, schema.RATER_ID]
    for tag in LOW_DILIGENCE_TAGS:
        src = schema.tag_source(ratings.columns, tag)
        if src not in cols:
            cols.append(src)
    return cols


def diligence_targets(ratings: pd.DataFrame) -> np.ndarray:
    """Per-rating target ``clip(Incorrect + IrrelevantSources + SourcesMissing, 0, 1)`` (§D.4).

    Accepts unpacked int8 tag columns or the packed ``notHelpfulTagBits``.
    """
    total = np.zeros(len(ratings), dtype=np.float64)
    for tag in LOW_DILIGENCE_TAGS:
        # a tag column as given (missing values refused below), or its bit of the packed field
        col = (pd.to_numeric(ratings[tag]).to_numpy(dtype=np.float64, na_value=np.nan)
               if tag in ratings.columns else schema.tag_values(ratings, tag))
        if np.isnan(col).any():
            raise schema.SchemaError(f"diligence: tag column {tag!r} has missing values")
        total += col
    return np.clip(total, 0.0, 1.0).astype(np.float32)


def rating_data(ratings: pd.DataFrame, targets: np.ndarray | None = None) -> RatingData:
    """Index notes / raters (ascending ids) and attach the per-rating targets.

    ``targets`` defaults to :func:`diligence_targets`; the helpfulness-reputation model of
    :mod:`cnlab.scorers.reputation` passes ``helpfulNum``. :func:`fit_prescoring` takes the
    result in place of the ratings, so that a caller can release the frame before the fit.
    """
    schema.require_columns(ratings, [schema.NOTE_ID, schema.RATER_ID], where="diligence ratings")
    if len(ratings) == 0:
        raise schema.SchemaError("diligence ratings: no ratings")
    if targets is None:
        targets = diligence_targets(ratings)
    else:
        targets = np.asarray(targets, dtype=np.float32)
        if len(targets) != len(ratings) or not np.all(np.isfinite(targets)):
            raise schema.SchemaError("reputation MF: targets must be finite, one per rating")
    # Indices follow ascending id order, as the official dataset builder does.
    note_codes, notes = pd.factorize(ratings[schema.NOTE_ID], sort=True)
    rater_codes, raters = pd.factorize(ratings[schema.RATER_ID], sort=True)
    if (note_codes < 0).any() or (rater_codes < 0).any():
        raise schema.SchemaError("diligence ratings: missing noteId or raterParticipantId")
    return RatingData(
        notes=np.asarray(notes),
        raters=np.asarray(raters),
        note_idx=note_codes.astype(np.int32),
        rater_idx=rater_codes.astype(np.int32),
        targets=targets,
    )


def _lookup(ids: np.ndarray, frame: pd.DataFrame | None, id_col: str, col: str, default: float) -> np.ndarray | None:
    """Values of ``frame[col]`` for ``ids``; missing ids / NaN values take ``default``.

    Returns ``None`` if the column is absent (the parameter then keeps its own init).
    """
    if frame is None or col not in frame.columns:
        return None
    sub = frame[[id_col, col]].drop_duplicates(subset=id_col, keep="last")
    series = pd.Series(sub[col].to_numpy(dtype=np.float64, na_value=np.nan), index=pd.Index(sub[id_col]))
    values = series.reindex(pd.Index(ids)).to_numpy(dtype=np.float64, copy=True)
    values[np.isnan(values)] = default
    return values.astype(np.float32)


def _lookup_float_keys(ids: np.ndarray, frame: pd.DataFrame | None, id_col: str, col: str, default: float):
    """Like :func:`_lookup` but keyed by ``float64(id)``, as the official final-scoring init is.

    A note finds a value only if its id converts to float64 exactly; the value is that of the
    last frame row whose id rounds to the same float (see
    :attr:`DiligenceConfig.official_float_note_id_lookup`).
    """
    if frame is None or col not in frame.columns:
        return None
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        return _lookup(ids, frame, id_col, col, default)
    keys = frame[id_col].to_numpy(dtype=np.float64)
    table = pd.Series(frame[col].to_numpy(dtype=np.float64, na_value=np.nan), index=keys)
    table = table[~table.index.duplicated(keep="last")]
    as_float = ids.astype(np.float64)
    exact = as_float.astype(np.int64) == ids.astype(np.int64)
    values = np.full(len(ids), np.nan)
    values[exact] = table.reindex(as_float[exact]).to_numpy(dtype=np.float64)
    values[np.isnan(values)] = default
    return values.astype(np.float32)


# ---------------------------------------------------------------------------
# Loss pieces (pure numpy; §D.2)
# ---------------------------------------------------------------------------
def rating_weights(
    targets: np.ndarray,
    note_idx: np.ndarray,
    rater_idx: np.ndarray,
    *,
    pos_weight: float,
    reputation: np.ndarray | None = None,
    reputation_exp: float = 0.5,
    alpha: float = 0.1,
    note_norm_exp: float = 0.0,
    rater_norm_exp: float = 0.0,
) -> np.ndarray:
    """Per-rating loss weights of spec 06 §D.2, applied in this order.

    .. math::

        w = 1;\\; w[y=1] = \\text{posWeight};\\;
        w \\mathrel{*}= \\frac{\\alpha + \\max(\\rho_u,0)^{\\text{repExp}}}{1+\\alpha};\\;
        w \\mathrel{*}= (\\textstyle\\sum_{\\text{note}} w + 2^{-20})^{\\text{noteNormExp}};\\;
        w \\mathrel{*}= (\\textstyle\\sum_{\\text{rater}} w + 2^{-20})^{\\text{raterNormExp}}

    The reputation step runs only when ``reputation`` (indexed by rater) is
    given; each normalisation only when its exponent is non-zero.
    """
    targets = np.asarray(targets, dtype=np.float32)
    w = np.ones(len(targets), dtype=np.float32)
    w[targets == 1] = np.float32(pos_weight)
    if reputation is not None:
        rep = np.clip(np.asarray(reputation, dtype=np.float32), 0.0, None)
        factor = (np.float32(alpha) + rep**np.float32(reputation_exp)) / np.float32(1.0 + alpha)
        w = w * factor[rater_idx].astype(np.float32)
    for exp, idx in ((note_norm_exp, note_idx), (rater_norm_exp, rater_idx)):
        if exp:
            sums = np.bincount(idx, weights=w.astype(np.float64)).astype(np.float32)
            w = w * ((sums + np.float32(NORM_EPSILON)) ** np.float32(exp))[idx]
    return w.astype(np.float32)


@dataclass(frozen=True)
class Regularization:
    """Resolved L2 settings of one round (see :func:`regularization`)."""

    l2_lambda: float
    note_bias_mult: float
    rater_bias_mult: float
    global_mult: float
    reputation_mult: float
    per_note_ratio: float | None
    per_user_ratio: float | None


def regularization(
    config: DiligenceConfig, *, third: bool, per_note_ratio: float | None = None, per_user_ratio: float | None = None
) -> Regularization:
    """Penalty settings of spec 06 §D.3 for a round (``third``: round 3 / final phase B).

    .. math::

        R = \\lambda g_m \\mu^2 + \\lambda\\,\\overline{e_n^2} + \\lambda n_m \\overline{b_n^2}
            + \\lambda\\,\\overline{e_u^2} + \\lambda r_m \\overline{b_u^2} + \\lambda p_m \\overline{\\rho_u^2}

    where the note (rater) means become sums divided by ``numRatings / ratio`` when
    ``per_note_ratio`` (``per_user_ratio``) is given.
    """
    lam = config.l2_lambda * (config.l2_lambda_third_round_multiplier if third else 1.0)
    nbm = config.l2_note_bias_multiplier * (config.l2_note_bias_third_round_multiplier if third else 1.0)
    return Regularization(
        l2_lambda=lam,
        note_bias_mult=nbm,
        rater_bias_mult=config.l2_rater_bias_multiplier,
        global_mult=config.l2_global_bias_multiplier,
        reputation_mult=config.l2_rater_reputation_multiplier,
        per_note_ratio=per_note_ratio,
        per_user_ratio=per_user_ratio,
    )


def _random_init(data: RatingData, n_dim: int, seed: int | None) -> dict[str, np.ndarray]:
    """N(0, 1) draws standing in for PyTorch's default Embedding init (see module doc)."""
    rng = np.random.default_rng(seed)
    m, u = len(data.notes), len(data.raters)
    note_emb = rng.standard_normal((m, n_dim)).astype(np.float32)
    rater_emb = rng.standard_normal((u, n_dim)).astype(np.float32)
    note_bias = rng.standard_normal(m).astype(np.float32)
    rater_bias = rng.standard_normal(u).astype(np.float32)
    return {"note_emb": note_emb, "rater_emb": rater_emb, "note_bias": note_bias, "rater_bias": rater_bias}


def _weights(data: RatingData, config: DiligenceConfig, pos_mult: float, note_exp: float, rater_exp: float,
             reputation: np.ndarray | None = None) -> np.ndarray:
    """:func:`rating_weights` with posWeight = ``config.pos_weight × pos_mult``."""
    return rating_weights(
        data.targets,
        data.note_idx,
        data.rater_idx,
        pos_weight=config.pos_weight * pos_mult,
        reputation=reputation,
        reputation_exp=config.reputation_exp,
        alpha=config.alpha,
        note_norm_exp=note_exp,
        rater_norm_exp=rater_exp,
    )


class _Fitted:
    """Parameters solved outside a :class:`ReputationMF`, read as :meth:`ReputationMF.get` does."""

    def __init__(self, params: Mapping[str, np.ndarray]):
        self._params = params

    def get(self, name: str) -> np.ndarray:
        return np.asarray(self._params[name], dtype=np.float32).reshape(-1).copy()


@dataclass(frozen=True)
class PrescoringRounds:
    """What :func:`train_prescoring_rounds` records besides the trained model."""

    global_intercepts: GlobalIntercepts
    note_bias_round2: np.ndarray
    rater_bias_round2: np.ndarray
    final_losses: tuple[float, float, float]
    loss_histories: tuple[tuple[float, ...], ...]


def train_prescoring_rounds(model: ReputationMF, data: RatingData, config: DiligenceConfig) -> PrescoringRounds:
    """The three prescoring rounds of a reputation MF (spec 06 §D.5; official
    ``train_model_prescoring``), shared by diligence and the helpfulness-reputation scorer.

    1. reputation frozen; weights posWeight and the round-1 norm exponents;
    2. note bias frozen, reputation trained; posWeight × second-round multiplier — the note and
       rater biases and μ after this round are recorded (the "round-2" values);
    3. note bias, rater bias and μ trained (embeddings and reputation frozen) with the
       reputation-weighted loss (posWeight × third-round multiplier, reputation clipped at 0,
       third-round norm exponents) and the third-round λ / note-bias multipliers.
    """
    base_reg = regularization(config, third=False)
    w1 = _weights(data, config, 1.0, config.note_norm_exp_first_round, config.rater_norm_exp_first_round)
    loss1, hist1 = model.train_round(
        w1, base_reg, ("note_emb", "rater_emb", "note_bias", "rater_bias", "global_bias"), config
    )
    del w1  # each round's weights (4 bytes a rating) go before the next round's are built
    global1 = float(model.get("global_bias"))
    w2 = _weights(data, config, config.pos_weight_second_round_multiplier,
                  config.note_norm_exp_second_round, config.rater_norm_exp_second_round)
    loss2, hist2 = model.train_round(
        w2, base_reg, ("note_emb", "rater_emb", "rater_bias", "reputation", "global_bias"), config
    )
    del w2
    global2 = float(model.get("global_bias"))
    note_bias2 = model.get("note_bias")
    rater_bias2 = model.get("rater_bias")
    w3 = _weights(data, config, config.pos_weight_third_round_multiplier, config.note_norm_exp_third_round,
                  config.rater_norm_exp_third_round, reputation=model.get("reputation"))
    loss3, hist3 = model.train_round(
        w3, regularization(config, third=True), ("note_bias", "rater_bias", "global_bias"), config
    )
    global3 = float(model.get("global_bias"))
    return PrescoringRounds(GlobalIntercepts(global1, global2, global3), note_bias2, rater_bias2,
                            (loss1, loss2, loss3), (hist1, hist2, hist3))


def train_final_phases(
    model: ReputationMF,
    data: RatingData,
    config: DiligenceConfig,
    global_intercepts: GlobalIntercepts,
    final_rater_bias: np.ndarray,
    *,
    rating_per_note_ratio: float | None,
    rating_per_user_ratio: float | None,
) -> tuple[tuple[float, float], tuple[tuple[float, ...], tuple[float, ...]]]:
    """The two final-scoring phases of a reputation MF (spec 06 §D.6; official
    ``train_model_final``), the model being initialised from the prescoring round-2 values.

    * Phase A: only note embeddings trained; posWeight × second-round multiplier and the
      second-round norm exponents.
    * Phase B: μ := final-round global intercept, rater biases := ``final_rater_bias`` (the
      prescoring final-round values); only note biases trained, with the reputation-weighted
      loss and the third-round λ, as in prescoring round 3.

    Returns ``((loss_A, loss_B), (history_A, history_B))``.
    """
    wa = _weights(data, config, config.pos_weight_second_round_multiplier,
                  config.note_norm_exp_second_round, config.rater_norm_exp_second_round)
    reg_a = regularization(config, third=False, per_note_ratio=rating_per_note_ratio,
                           per_user_ratio=rating_per_user_ratio)
    loss_a, hist_a = model.train_round(wa, reg_a, ("note_emb",), config)
    model.assign("global_bias", global_intercepts.final_round)
    model.assign("rater_bias", final_rater_bias)
    wb = _weights(data, config, config.pos_weight_third_round_multiplier, config.note_norm_exp_third_round,
                  config.rater_norm_exp_third_round, reputation=model.get("reputation"))
    reg_b = regularization(config, third=True, per_note_ratio=rating_per_note_ratio,
                           per_user_ratio=rating_per_user_ratio)
    loss_b, hist_b = model.train_round(wb, reg_b, ("note_bias",), config)
    return (loss_a, loss_b), (hist_a, hist_b)


def _block_l2(reg: Regularization, mult: float, n_ratings: int, n_notes: int) -> float:
    """λ of one note block in the :func:`regularization` form: ``λ·mult`` over the notes' mean, or
    over the simulated count ``numRatings / ratio`` when ``per_note_ratio`` is given (§D.3)."""
    lam = float(np.float32(reg.l2_lambda)) * float(np.float32(mult))
    if reg.per_note_ratio is None:
        return lam / n_notes
    return lam / (float(np.float32(n_ratings)) / float(np.float32(reg.per_note_ratio)))


def train_final_phases_newton(
    data: RatingData,
    init: Mapping[str, Any],
    config: DiligenceConfig,
    global_intercepts: GlobalIntercepts,
    final_rater_bias: np.ndarray,
    *,
    rating_per_note_ratio: float | None,
    rating_per_user_ratio: float | None,
) -> tuple[dict[str, np.ndarray], tuple[float, float], tuple[tuple[float, ...], tuple[float, ...]]]:
    r""":func:`train_final_phases` with each phase solved to its optimum (``final_solver="newton"``).

    The same two objectives, weights and penalties; only the note block of each phase varies,
    so each is :func:`cnlab.scorers.note_newton.solve_note_block` with

    * phase A: :math:`\theta = e_n`, :math:`a = e_u`, :math:`c = b_n \rho_u + b_u + \mu_2`;
    * phase B: :math:`\theta = b_n`, :math:`a = \rho_u`,
      :math:`c = e_n e_u + b_u^{\text{final}} + \mu_3`.

    Returns the note embeddings and biases, the phases' last objective values (the note block's
    terms: the frozen parameters' penalties are left out) and their histories (one value a pass).
    """
    from cnlab.scorers.note_newton import solve_note_block

    if config.n_dim != 1:
        raise ValueError("final_solver='newton' solves one parameter a note: n_dim must be 1")
    ni, ri = data.note_idx, data.rater_idx
    rater_emb = np.asarray(init["rater_emb"], dtype=np.float32).reshape(-1)
    rep = np.asarray(init["reputation"], dtype=np.float32).reshape(-1)
    rater_bias = np.asarray(init["rater_bias"], dtype=np.float32).reshape(-1)
    note_bias = np.asarray(init["note_bias"], dtype=np.float32).reshape(-1)
    m = len(data.notes)

    def phase(third: bool, weights: np.ndarray, parts, theta0: np.ndarray):
        # phase A trains the note embeddings (penalty λ), phase B the note biases (λ × the
        # note-bias multiplier), with round 2's and round 3's settings respectively
        reg = regularization(config, third=third, per_note_ratio=rating_per_note_ratio,
                             per_user_ratio=rating_per_user_ratio)
        l2 = _block_l2(reg, reg.note_bias_mult if third else 1.0, data.n, m)
        return solve_note_block(parts, data.targets, weights, ni, theta0, l2=l2, loss=config.loss)

    mu2 = np.float64(np.float32(global_intercepts.second_round))

    def parts_a(lo, hi):
        r = ri[lo:hi]
        return rater_emb[r], note_bias[ni[lo:hi]].astype(np.float64) * rep[r] + rater_bias[r] + mu2

    a_sol = phase(False, _weights(data, config, config.pos_weight_second_round_multiplier,
                                  config.note_norm_exp_second_round, config.rater_norm_exp_second_round),
                  parts_a, np.asarray(init["note_emb"]).reshape(-1))
    note_emb = a_sol.theta
    final_bias = np.asarray(final_rater_bias, dtype=np.float32).reshape(-1)
    mu3 = np.float64(np.float32(global_intercepts.final_round))

    def parts_b(lo, hi):
        r = ri[lo:hi]
        return rep[r], note_emb[ni[lo:hi]].astype(np.float64) * rater_emb[r] + final_bias[r] + mu3

    b_sol = phase(True, _weights(data, config, config.pos_weight_third_round_multiplier,
                                 config.note_norm_exp_third_round, config.rater_norm_exp_third_round,
                                 reputation=rep),
                  parts_b, note_bias)
    for name, sol in (("A", a_sol), ("B", b_sol)):
        if not sol.converged:
            import logging

            logging.getLogger("cnlab").warning("diligence final phase %s: Newton did not converge in %d passes",
                                               name, len(sol.history))
    params = {"note_emb": note_emb, "note_bias": b_sol.theta, "rater_emb": rater_emb, "reputation": rep,
              "rater_bias": final_bias}
    return params, (a_sol.history[-1], b_sol.history[-1]), (a_sol.history, b_sol.history)


# ---------------------------------------------------------------------------
# Prescoring (§D.5)
# ---------------------------------------------------------------------------
def fit_prescoring(
    ratings: pd.DataFrame | RatingData,
    rater_factor_init: pd.DataFrame | None,
    *,
    seed: int | None = None,
    config: DiligenceConfig = DiligenceConfig(),
) -> DiligencePrescoring:
    """Three-round diligence prescoring fit (spec 06 §D.5).

    Parameters
    ----------
    ratings
        The scorer's final-round (helpfulness-filtered) ratings: noteId,
        raterParticipantId and the three low-diligence tags (int8) or the
        packed ``notHelpfulTagBits``; or their :func:`rating_data` (the same fit, and the
        caller's frame can go before it).
    rater_factor_init
        raterParticipantId + ``internalRaterFactor1`` (the final-round helpfulness
        MF rater factor) or ``lowDiligenceRaterFactor1``.  Raters missing from it
        (or NaN) start at factor 0.  ``None``: random factors.
    seed
        Seeds the N(0, 1) draws for note factors, note biases and rater biases.

    Notes
    -----
    Rounds (fresh Adam each; posWeight 100, 100, 500):

    1. reputation frozen (1.0), everything else trained;
    2. reputation trained, note bias frozen — record global₂, note/rater bias₂;
    3. only note bias, rater bias and global trained, with the reputation-weighted
       loss (reputation clipped at 0, noteNormExp −0.5) and the third-round λ.
    """
    data = ratings if isinstance(ratings, RatingData) else rating_data(ratings)
    del ratings
    init = _random_init(data, config.n_dim, seed)
    if rater_factor_init is not None:
        col = RATER_FACTOR1 if RATER_FACTOR1 in rater_factor_init.columns else schema.RATER_FACTOR1
        if col not in rater_factor_init.columns:
            raise schema.SchemaError(
                f"rater_factor_init needs {schema.RATER_FACTOR1!r} or {RATER_FACTOR1!r}"
            )
        factors = _lookup(data.raters, rater_factor_init, schema.RATER_ID, col, 0.0)
        init["rater_emb"] = np.repeat(factors[:, None], config.n_dim, axis=1)
    init["reputation"] = np.full(len(data.raters), config.default_reputation, dtype=np.float32)
    init["global_bias"] = np.float32(0.0)
    model = ReputationMF(data.note_idx, data.rater_idx, data.targets, init, loss=config.loss)
    rounds = train_prescoring_rounds(model, data, config)
    g = rounds.global_intercepts
    global1, global2, global3 = g.first_round, g.second_round, g.final_round
    note_bias2, rater_bias2 = rounds.note_bias_round2, rounds.rater_bias_round2
    (loss1, loss2, loss3), (hist1, hist2, hist3) = rounds.final_losses, rounds.loss_histories

    note_params = pd.DataFrame(
        {
            schema.NOTE_ID: data.notes,
            NOTE_INTERCEPT: model.get("note_bias"),
            NOTE_FACTOR1: _first_dim(model.get("note_emb")),
            NOTE_INTERCEPT_ROUND2: note_bias2,
        }
    )
    rater_params = pd.DataFrame(
        {
            schema.RATER_ID: data.raters,
            RATER_INTERCEPT: model.get("rater_bias"),
            RATER_FACTOR1: _first_dim(model.get("rater_emb")),
            RATER_REPUTATION: model.get("reputation"),
            RATER_INTERCEPT_ROUND2: rater_bias2,
        }
    )
    return DiligencePrescoring(
        note_params=note_params,
        rater_params=rater_params,
        global_intercepts=GlobalIntercepts(global1, global2, global3),
        loss_histories=(hist1, hist2, hist3),
        final_losses=(loss1, loss2, loss3),
        n_ratings=data.n,
        seed=seed,
        config=config,
    )


def _first_dim(values: np.ndarray) -> np.ndarray:
    return values if values.ndim == 1 else values[:, 0]


# ---------------------------------------------------------------------------
# Final scoring (§D.6)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DiligenceFinal:
    """Everything :func:`fit_final_detailed` computes (spec 06 §D.6)."""

    note_params: pd.DataFrame
    """noteId, lowDiligenceNoteIntercept, lowDiligenceNoteFactor1."""
    rater_params: pd.DataFrame
    """raterParticipantId, lowDiligenceRaterIntercept, …Reputation, …Factor1 (frozen inputs)."""
    loss_histories: tuple[tuple[float, ...], tuple[float, ...]]
    final_losses: tuple[float, float]

    def summary(self) -> str:
        ni = self.note_params[NOTE_INTERCEPT]
        return (
            f"Diligence final: {len(self.note_params)} notes, {len(self.rater_params)} raters; "
            f"phase A {len(self.loss_histories[0])} epochs (loss {self.final_losses[0]:.6f}), "
            f"phase B {len(self.loss_histories[1])} epochs (loss {self.final_losses[1]:.6f}); "
            f"share of intercepts > 0.263: {(ni > 0.263).mean():.3f}"
        )


def fit_final(
    ratings: pd.DataFrame,
    prescoring_note_output: pd.DataFrame,
    prescoring_rater_output: pd.DataFrame,
    global_intercepts: GlobalIntercepts | Mapping[str, float] | Sequence[float],
    *,
    rating_per_note_ratio: float | None,
    rating_per_user_ratio: float | None,
    config: DiligenceConfig = DiligenceConfig(),
) -> pd.DataFrame:
    """Final-scoring diligence fit (spec 06 §D.6); returns noteId, lowDiligenceNoteIntercept, …Factor1.

    See :func:`fit_final_detailed` for the parameters and the procedure.
    """
    return fit_final_detailed(
        ratings,
        prescoring_note_output,
        prescoring_rater_output,
        global_intercepts,
        rating_per_note_ratio=rating_per_note_ratio,
        rating_per_user_ratio=rating_per_user_ratio,
        config=config,
    ).note_params


def fit_final_detailed(
    ratings: pd.DataFrame,
    prescoring_note_output: pd.DataFrame,
    prescoring_rater_output: pd.DataFrame,
    global_intercepts: GlobalIntercepts | Mapping[str, float] | Sequence[float],
    *,
    rating_per_note_ratio: float | None,
    rating_per_user_ratio: float | None,
    config: DiligenceConfig = DiligenceConfig(),
) -> DiligenceFinal:
    """Final-scoring diligence fit with rater params and loss histories (spec 06 §D.6).

    Parameters
    ----------
    ratings
        The scorer's final-round ratings (noteId, raterParticipantId, tags).
    prescoring_note_output
        This scorer's prescoring note rows: noteId, lowDiligenceNoteFactor1,
        lowDiligenceNoteInterceptRound2.  Missing notes / NaN start at 0.
    prescoring_rater_output
        This scorer's prescoring rater rows: raterParticipantId,
        lowDiligenceRaterFactor1, lowDiligenceRaterReputation,
        lowDiligenceRaterInterceptRound2, lowDiligenceRaterIntercept.
        Missing raters / NaN start at 0 (reputation 0 too).
    global_intercepts
        Prescoring meta ``lowDiligenceGlobalIntercept``.
    rating_per_note_ratio, rating_per_user_ratio
        ``finalRoundNumRatings / finalRoundNumNotes`` and ``… / finalRoundNumUsers``
        from the prescoring meta: note (rater) penalties become sums divided by
        ``numRatings / ratio``.

    Notes
    -----
    Procedure:

    * Phase A: note bias := round-2 note intercept, rater bias := round-2 rater
      intercept, global := global₂; only note embeddings trained (posWeight 100).
    * Phase B: global := global₃, rater biases := prescoring final
      ``lowDiligenceRaterIntercept``; only note biases trained with the
      reputation-weighted loss (posWeight 500, noteNormExp −0.5), third-round λ.
    """
    g = GlobalIntercepts.coerce(global_intercepts)
    data = rating_data(ratings)
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    schema.require_columns(prescoring_note_output, [nid], where="prescoring note output")
    schema.require_columns(prescoring_rater_output, [rid], where="prescoring rater output")

    def note_col(col):
        if config.official_float_note_id_lookup:
            values = _lookup_float_keys(data.notes, prescoring_note_output, nid, col, 0.0)
        else:
            values = _lookup(data.notes, prescoring_note_output, nid, col, 0.0)
        return np.zeros(len(data.notes), np.float32) if values is None else values

    def rater_col(col, default=0.0):
        values = _lookup(data.raters, prescoring_rater_output, rid, col, default)
        return np.full(len(data.raters), default, np.float32) if values is None else values

    init = {
        "note_emb": np.repeat(note_col(NOTE_FACTOR1)[:, None], config.n_dim, axis=1),
        "note_bias": note_col(NOTE_INTERCEPT_ROUND2),
        "rater_emb": np.repeat(rater_col(RATER_FACTOR1)[:, None], config.n_dim, axis=1),
        "rater_bias": rater_col(RATER_INTERCEPT_ROUND2),
        "reputation": rater_col(RATER_REPUTATION, config.final_default_reputation),
        "global_bias": np.float32(g.second_round),
    }
    if config.final_solver == "newton":
        params, (loss_a, loss_b), (hist_a, hist_b) = train_final_phases_newton(
            data, init, config, g, rater_col(RATER_INTERCEPT),
            rating_per_note_ratio=rating_per_note_ratio, rating_per_user_ratio=rating_per_user_ratio)
        model = _Fitted(params)
    else:
        model = ReputationMF(data.note_idx, data.rater_idx, data.targets, init, loss=config.loss)
        (loss_a, loss_b), (hist_a, hist_b) = train_final_phases(
            model, data, config, g, rater_col(RATER_INTERCEPT),
            rating_per_note_ratio=rating_per_note_ratio, rating_per_user_ratio=rating_per_user_ratio)

    note_params = pd.DataFrame(
        {
            nid: data.notes,
            NOTE_INTERCEPT: model.get("note_bias"),
            NOTE_FACTOR1: _first_dim(model.get("note_emb")),
        }
    )
    rater_params = pd.DataFrame(
        {
            rid: data.raters,
            RATER_INTERCEPT: model.get("rater_bias"),
            RATER_REPUTATION: model.get("reputation"),
            RATER_FACTOR1: _first_dim(model.get("rater_emb")),
        }
    )
    return DiligenceFinal(note_params, rater_params, (hist_a, hist_b), (loss_a, loss_b))


__all__ = [
    "AUX_INTERCEPT",
    "DiligenceConfig",
    "DiligenceFinal",
    "DiligencePrescoring",
    "GlobalIntercepts",
    "LOW_DILIGENCE_TAGS",
    "PrescoringRounds",
    "ReputationMF",
    "diligence_targets",
    "fit_final",
    "fit_final_detailed",
    "fit_prescoring",
    "rating_weights",
    "regularization",
    "Regularization",
    "train_final_phases",
    "train_final_phases_newton",
    "train_prescoring_rounds",
]
