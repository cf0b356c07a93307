"""Immutable result of an MF fit (no TensorFlow import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema

from ._common import note_cols, rater_cols
from .config import MFConfig


class MFTrainError(RuntimeError):
    """Round-1 train MSE above ``maxFirstMFTrainError`` (spec 01 §8): the official scorer aborts."""


@dataclass(frozen=True)
class MFResult:
    """Output of :func:`cnlab.mf.fit`.

    Attributes
    ----------
    note_params
        noteId, internalNoteIntercept, internalNoteFactor1..k (float32), in index order
        (first appearance in the training ratings).
    rater_params
        raterParticipantId, internalRaterIntercept, internalRaterFactor1..k.
    global_intercept
        μ (float).  When ``config.use_global_intercept`` is False the official run_mf returns None
        for it; cnlab keeps the (unused, regularised) value here — consumers should use
        :attr:`global_intercept_official`.
    loss_history
        Regularised loss after each step (element 0 = before the first step).  For the exact
        solver, the objective after each alternating pass (float64).
    n_steps, stop_reason
        Steps of the (last) loop and why it stopped: "converged" (|ΔL| ≤ convergence),
        "loss_increase" (first rise after step 100), "max_steps" (cnlab safety cap),
        exact solver: "converged" / "closed_form" / "max_passes"; "nothing_trainable".
    train_mse
        Plain unweighted MSE on the training ratings after the fit (for loss="bce": of the sigmoid
        probabilities).  :attr:`train_loss` is the unweighted criterion mean (official train error).
    final_loss
        Last regularised loss (float32 value for the official loop; float64 for exact).
    config, seed, solver
        What produced it.
    learning_rate, n_restarts
        Adam learning rate used by the (last) loop; NaN restarts.
    first_fit
        For the normalized loss: the result of the first (unweighted) fit.
    weights
        Per-rating weights of the normalized-loss second fit (input order), else None.
    stable_init
        For :func:`fit_stable`: the subset (group-13) fit used as initialisation.
    """

    note_params: pd.DataFrame
    rater_params: pd.DataFrame
    global_intercept: float
    loss_history: np.ndarray
    n_steps: int
    stop_reason: str
    train_mse: float
    config: MFConfig
    seed: Any
    solver: str
    train_loss: float = float("nan")
    final_loss: float = float("nan")
    learning_rate: float = float("nan")
    n_restarts: int = 0
    first_fit: "MFResult | None" = None
    weights: np.ndarray | None = field(default=None, repr=False)
    stable_init: "MFResult | None" = None

    # ------------------------------------------------------------------
    @property
    def n_factors(self) -> int:
        return self.config.n_factors

    @property
    def global_intercept_official(self) -> float | None:
        """μ as ``run_mf`` returns it: None when the global intercept is not used."""
        return self.global_intercept if self.config.use_global_intercept else None

    def predict(self, ratings: pd.DataFrame, *, logits: bool = False) -> np.ndarray:
        """r̂ = μ + i_u + i_n + f_u·f_n for each row of ``ratings`` (noteId, raterParticipantId).

        Unknown notes or raters give NaN.  For loss="bce" the sigmoid probability is returned
        unless ``logits=True``."""
        k = self.n_factors
        npos = pd.Index(self.note_params[schema.NOTE_ID]).get_indexer(ratings[schema.NOTE_ID])
        upos = pd.Index(self.rater_params[schema.RATER_ID]).get_indexer(ratings[schema.RATER_ID])
        ni = self.note_params[schema.NOTE_INTERCEPT].to_numpy(np.float64)
        nf = self.note_params[note_cols(k)].to_numpy(np.float64)
        ri = self.rater_params[schema.RATER_INTERCEPT].to_numpy(np.float64)
        rf = self.rater_params[rater_cols(k)].to_numpy(np.float64)
        ok = (npos >= 0) & (upos >= 0)
        npos_, upos_ = np.where(ok, npos, 0), np.where(ok, upos, 0)
        pred = ni[npos_] + ri[upos_] + np.einsum("ij,ij->i", nf[npos_], rf[upos_])
        if self.config.use_global_intercept:
            pred = pred + self.global_intercept
        if self.config.loss == "bce" and not logits:
            pred = 1.0 / (1.0 + np.exp(-pred))
        return np.where(ok, pred, np.nan)

    def objective(self, ratings: pd.DataFrame, *, label_col: str = schema.HELPFUL_NUM, weights=None) -> float:
        """Regularised loss (float64) of these parameters on ``ratings`` under ``self.config``
        (regulariser means over the fitted note/rater tables).  Pass the training ratings."""
        from ._common import Params, TrainData, objective

        k = self.n_factors
        npos = pd.Index(self.note_params[schema.NOTE_ID]).get_indexer(ratings[schema.NOTE_ID])
        upos = pd.Index(self.rater_params[schema.RATER_ID]).get_indexer(ratings[schema.RATER_ID])
        if (npos < 0).any() or (upos < 0).any():
            raise ValueError("objective(): ratings contain notes/raters that are not in this fit")
        data = TrainData(
            self.note_params[schema.NOTE_ID].to_numpy(),
            self.rater_params[schema.RATER_ID].to_numpy(),
            npos.astype(np.int32),
            upos.astype(np.int32),
            ratings[label_col].to_numpy(np.float32),
            None if weights is None else np.asarray(weights, np.float32),
        )
        p = Params(
            self.note_params[schema.NOTE_INTERCEPT].to_numpy(np.float32),
            self.note_params[note_cols(k)].to_numpy(np.float32),
            self.rater_params[schema.RATER_INTERCEPT].to_numpy(np.float32),
            self.rater_params[rater_cols(k)].to_numpy(np.float32),
            np.float32(self.global_intercept),
        )
        return objective(data, p, self.config)

    def distance_to(self, other: "MFResult") -> pd.DataFrame:
        """Max / mean |Δ| of note & rater parameters versus ``other`` (joined on ids) and the
        difference of final losses — e.g. how far the official early stop lands from the exact
        optimum: ``fit(..., solver="official").distance_to(fit(..., solver="exact"))``."""
        rows = []
        for what, key, a, b in (
            ("note", schema.NOTE_ID, self.note_params, other.note_params),
            ("rater", schema.RATER_ID, self.rater_params, other.rater_params),
        ):
            j = a.merge(b, on=key, suffixes=("", "_other"))
            for col in [c for c in a.columns if c != key]:
                d = np.abs(j[col].to_numpy(np.float64) - j[col + "_other"].to_numpy(np.float64))
                rows.append({"table": what, "column": col, "n": len(d),
                             "max_abs_diff": float(d.max()) if len(d) else np.nan,
                             "mean_abs_diff": float(d.mean()) if len(d) else np.nan})
        rows.append({"table": "global", "column": "globalIntercept", "n": 1,
                     "max_abs_diff": abs(self.global_intercept - other.global_intercept),
                     "mean_abs_diff": abs(self.global_intercept - other.global_intercept)})
        rows.append({"table": "loss", "column": "final_loss", "n": 1,
                     "max_abs_diff": self.final_loss - other.final_loss,
                     "mean_abs_diff": self.final_loss - other.final_loss})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A short text table."""
        ni = self.note_params[schema.NOTE_INTERCEPT]
        nf = self.note_params[schema.NOTE_FACTOR1]
        lines = [
            "MFResult",
            f"  solver            {self.solver}",
            f"  loss              {self.config.loss}",
            f"  notes / raters    {len(self.note_params)} / {len(self.rater_params)}",
            f"  factors           {self.n_factors}",
            f"  global intercept  {self.global_intercept:.6f}"
            + ("" if self.config.use_global_intercept else " (unused)"),
            f"  steps             {self.n_steps} ({self.stop_reason})",
            f"  learning rate     {self.learning_rate}",
            f"  final loss        {self.final_loss:.8g}",
            f"  train MSE         {self.train_mse:.6f}",
            f"  note intercept    mean {ni.mean():+.4f}  sd {ni.std():.4f}  [{ni.min():+.4f}, {ni.max():+.4f}]",
            f"  note factor 1     mean {nf.mean():+.4f}  sd {nf.std():.4f}  [{nf.min():+.4f}, {nf.max():+.4f}]",
            f"  seed              {self.seed}",
        ]
        if self.n_restarts:
            lines.append(f"  NaN restarts      {self.n_restarts}")
        if self.weights is not None:
            lines.append("  normalized loss   second fit with per-rating weights (spec 01 §9)")
        return "\n".join(lines)

    def __repr__(self) -> str:  # keep reprs short (frames are large)
        return (
            f"MFResult(notes={len(self.note_params)}, raters={len(self.rater_params)}, "
            f"steps={self.n_steps}, stop={self.stop_reason!r}, loss={self.final_loss:.6g}, solver={self.solver!r})"
        )


def check_train_error(result: MFResult, n_notes: int, threshold: float = 0.16) -> None:
    """Spec 01 §8: raise :class:`MFTrainError` if the prefiltered ratings cover ≥ 200 distinct notes
    (``minNumNotesForProdData``) and the fit's train MSE exceeds ``maxFirstMFTrainError`` (0.16)."""
    if n_notes >= 200 and result.train_mse > threshold:
        raise MFTrainError(
            f"MF train error {result.train_mse:.4f} exceeds maxFirstMFTrainError {threshold} "
            f"({n_notes} notes >= 200): the official scorer aborts here (spec 01 §8)"
        )
