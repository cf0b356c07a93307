"""Configuration of the MF engine (spec 01 §4–§11).  Importing this module never imports TensorFlow.

Every field names the official constant it mirrors (class ``MatrixFactorization`` defaults,
``MFBaseScorer.__init__`` / ``run_scoring._get_scorers`` overrides).  Presets for the per-scorer
settings of spec 01 §11 are module constants (``CORE_MF``, ``GROUP14_MF`` ...).  Use
``dataclasses.replace`` (or :meth:`MFConfig.replace`) to derive the final-scoring variants
(``flip_factors=False`` and ``rating_per_note_loss_ratio=ρ_n``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MFConfig",
    "NormalizedLossConfig",
    "CORE_MF",
    "CORE_WITH_TOPICS_MF",
    "EXPANSION_MF",
    "EXPANSION_PLUS_MF",
    "GROUP_MF",
    "MULTI_GROUP_MF",
    "GROUP14_MF",
    "GROUP18_MF",
    "GROUP15_MF",
    "TOPIC_MF",
    "TOPIC_INDIM2_MF",
    "TAG_CONSENSUS_MF",
    "PSEUDO_RATER_REFIT_OVERRIDES",
]


@dataclass(frozen=True)
class NormalizedLossConfig:
    """Per-rating weights of the "expanded consensus trial" (spec 01 §9, ``NormalizedLossHyperparameters``)."""

    global_sign_norm: bool = True
    """``globalSignNorm``: reweight ratings of raters with factor > 0 by Q/P, then renormalise to N."""
    note_sign_alpha: float | None = None
    """``noteSignAlpha``: per-note sign balancing with smoothing α (None = off, as in production)."""
    note_norm_exp: float = 0.0
    """``noteNormExp``: w *= (Σ_note w)^exp; 0 is *falsy* in the official code, i.e. off."""
    rater_norm_exp: float = -0.25
    """``raterNormExp``: w *= (Σ_rater w)^exp (production: −0.25)."""


@dataclass(frozen=True)
class MFConfig:
    """Hyper-parameters of one MF fit (spec 01 §4–§9).  Defaults = official class defaults."""

    # --- model --------------------------------------------------------------------------
    n_factors: int = 1
    """``numFactors`` (1 everywhere in production; >1 allowed here for research)."""
    use_global_intercept: bool = True
    """``useGlobalIntercept``; False → μ exists and is regularised but not used in prediction."""

    # --- regularisation (spec 01 §6) ------------------------------------------------------
    user_factor_lambda: float = 0.03
    """``userFactorLambda`` (λ_fu) = 0.03."""
    note_factor_lambda: float = 0.03
    """``noteFactorLambda`` (λ_fn) = 0.03."""
    user_intercept_lambda: float = 0.15
    """``userInterceptLambda`` (λ_iu) = 0.03·5 = 0.15."""
    note_intercept_lambda: float = 0.15
    """``noteInterceptLambda`` (λ_in) = 0.03·5 = 0.15."""
    global_intercept_lambda: float = 0.15
    """``globalInterceptLambda`` (λ_μ) = 0.03·5 = 0.15."""
    diamond_lambda: float = 0.0
    """``diamondLambda`` (λ◇, penalty on mean |f_n·i_n|) = 0."""
    rating_per_note_loss_ratio: float | None = None
    """``ratingPerNoteLossRatio`` ρ_n (mode B note block: Σ / (N/ρ_n)); None = mode A (means).
    Final scoring passes finalRoundNumRatings / finalRoundNumNotes (10.0 for population-sampled)."""
    rating_per_user_loss_ratio: float | None = None
    """``ratingPerUserLossRatio`` ρ_u (mode B user block); never set in production MF scorers."""
    normalized_loss: NormalizedLossConfig | None = None
    """``normalizedLossHyperparameters``: second fit with per-rating weights (spec 01 §9); None = off."""

    # --- loss -----------------------------------------------------------------------------
    loss: Literal["mse", "bce"] = "mse"
    """``useSigmoidCrossEntropy``: "mse" (``MSELoss``) or "bce" (``BCEWithLogitsLoss``; prediction is a logit)."""
    pos_weight: float | None = None
    """``posWeight`` of ``BCEWithLogitsLoss`` (weight of positive targets); only with loss="bce"."""

    # --- optimiser and loop (spec 01 §7) --------------------------------------------------
    init_lr: float = 0.2
    """``initLearningRate``: used when both note and rater inits are given (0.02 for group 14, 2.0 tag model)."""
    no_init_lr: float = 1.0
    """``noInitLearningRate``: used otherwise (0.02 for group 14)."""
    convergence: float = 1e-7
    """``convergence``: stop when |L_t − L_{t−1}| ≤ this."""
    rise_rule_after: int = 100
    """Hard-coded in ``_fit_model``: stop at the first loss increase once epoch > 100."""
    clip_norm: float | None = 1.0
    """Global gradient-norm clipping max_norm (PyTorch ``clip_grad_norm_`` formula); None = no clipping."""
    clip_eps: float = 1e-6
    """PyTorch ``clip_grad_norm_``: coef = max_norm / (total + 1e-6), clamped at 1."""
    adam_beta1: float = 0.9
    """``torch.optim.Adam`` default β1."""
    adam_beta2: float = 0.999
    """``torch.optim.Adam`` default β2."""
    adam_eps: float = 1e-8
    """``torch.optim.Adam`` default ε (added to sqrt(v̂); Keras' placement/default differ)."""
    max_steps: int = 1_000_000
    """Safety cap **not in the official code** (it has no epoch limit); hitting it sets
    ``stop_reason="max_steps"``."""
    nan_restart_unfreezes: bool = True
    """Official quirk: after a NaN restart the re-created model is not re-frozen (spec 01 §7)."""
    max_nan_restarts: int = 10
    """Safety cap on NaN restarts (not in the official code, which would loop)."""

    # --- identification -------------------------------------------------------------------
    flip_factors: bool = True
    """``flipFactorsForIdentification``: make the larger group of raters negative (spec 01 §8).
    True in prescoring, False in final scoring and pseudo-rater refits."""

    # --- solver ---------------------------------------------------------------------------
    solver: Literal["official", "exact"] = "official"
    """"official" = the Adam loop with the official stopping rule; "exact" = block-exact
    alternating minimisation of the same objective (not in the official code). A scorer whose
    final fits use "exact" also solves its low-diligence final phases note by note
    (:mod:`cnlab.scorers.note_newton`)."""
    exact_tol: float = 1e-10
    """Exact solver: stop when the relative change of the objective is below this."""
    exact_max_passes: int = 5000
    """Exact solver: maximum number of alternating passes."""

    def __post_init__(self):
        if self.n_factors < 1:
            raise ValueError("n_factors must be >= 1")
        if self.loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        if self.pos_weight is not None and self.loss != "bce":
            raise ValueError("pos_weight is only supported with loss='bce' (official: ValueError for MSELoss)")
        if self.solver not in ("official", "exact"):
            raise ValueError(f"solver must be 'official' or 'exact', got {self.solver!r}")

    def replace(self, **changes) -> "MFConfig":
        """Return a copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------------------
# Presets (spec 01 §11).  Convergence 1e-7 and 1 factor everywhere.
# ---------------------------------------------------------------------------------------
CORE_MF = MFConfig()
"""MFCoreScorer (and CoreWithTopics / Expansion / ExpansionPlus): class defaults."""
CORE_WITH_TOPICS_MF = CORE_MF
EXPANSION_MF = CORE_MF
EXPANSION_PLUS_MF = CORE_MF
GROUP_MF = CORE_MF
"""MFGroupScorer_1…13, _33."""
MULTI_GROUP_MF = CORE_MF
"""MFMultiGroupScorer_1."""
TOPIC_MF = CORE_MF
"""MFTopicScorer_<topic> except InDimensionTwo."""

GROUP14_MF = MFConfig(
    user_intercept_lambda=0.15,  # code: 5λ (doc says 30λ — swapped, spec 01 §9)
    note_intercept_lambda=0.9,  # code: 30λ (doc says 5λ)
    user_factor_lambda=0.0075,
    note_factor_lambda=0.01,
    global_intercept_lambda=0.15,
    diamond_lambda=0.75,
    init_lr=0.02,
    no_init_lr=0.02,
    normalized_loss=NormalizedLossConfig(
        global_sign_norm=True, note_sign_alpha=None, note_norm_exp=0.0, rater_norm_exp=-0.25
    ),
)
"""MFGroupScorer_14 (expanded-consensus trial): spec 01 §9/§11."""

GROUP18_MF = MFConfig(user_intercept_lambda=0.03, note_intercept_lambda=0.15, global_intercept_lambda=0.0)
"""MFGroupScorer_18 (NMR trial)."""

GROUP15_MF = MFConfig(user_intercept_lambda=0.03, note_intercept_lambda=0.09, global_intercept_lambda=0.0)
"""MFGroupScorer_15 (prescoring only)."""

TOPIC_INDIM2_MF = MFConfig(user_intercept_lambda=5.0, use_global_intercept=False)
"""MFTopicScorer_InDimensionTwo (prescoring only): λ_iu = 5, no global intercept in prediction."""

TAG_CONSENSUS_MF = MFConfig(loss="bce", init_lr=2.0)
"""Tag-consensus (harassment) model, spec 06 §C: BCE-with-logits, initLearningRate 2.0.
``pos_weight = (1 − posRate)/posRate`` is data dependent: ``TAG_CONSENSUS_MF.replace(pos_weight=...)``."""

PSEUDO_RATER_REFIT_OVERRIDES = dict(
    diamond_lambda=0.0,
    normalized_loss=None,
    rating_per_note_loss_ratio=None,
    rating_per_user_loss_ratio=None,
    loss="mse",
    pos_weight=None,
    flip_factors=False,
)
"""What ``get_new_mf_with_same_args`` drops for the pseudo-rater refits (spec 01 §10.3)."""
