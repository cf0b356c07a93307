"""How the rules that read "the factor" generalise to k factors (``ScoringConfig.n_factors``).

The official scorer fits one factor per note and rater (``numFactors = 1``) and several rules read
it: the CRNH wedge, the large-factor filter, the tag-outlier and incorrect-tag distances, the
pseudo-rater extremes and the topic veto. With ``n_factors = k > 1`` each of them needs a k-D
form; two are offered, selected by ``factor_rule`` (``ScoringConfig.factor_rule``,
``ScorerConfig.factor_rule``):

``"norm"``
    the rule reads the Euclidean norm ``‖f‖₂ = (Σ_j f_j²)^½`` of the factor vector where it reads
    ``|f|``, and the Euclidean distance where it reads ``|a − b|``; where it needs a sign (which
    side of the viewpoint axis a rater is on) it reads the sign of axis 1.
``"axis"``
    the 1-D rule is applied on every axis separately and the per-axis answers are combined so
    that a note must look "bridging" on *every* axis: a gate a note must pass (CRH needs
    ``|f| ≤ 0.5``; a rating counts as near the note) must pass on all axes, a rule that demotes
    a polarised note fires when any axis is polarised; the CRNH wedge and RatioCRNH must hold on
    every axis; MinMinorityRaters / RaterBalance demote when they hold on any axis (both sides of
    every axis must support a CRH note). For the magnitude rules this is the max norm
    ``‖f‖_∞ = max_j |f_j|``.

For k = 1 both reduce to the official rule exactly (the code path is the 1-D one). The
equations of every rule are listed in the user guide (``docs/lab.md``, "k factors").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from cnlab import schema as S

__all__ = [
    "FactorRule",
    "FACTOR_RULES",
    "check_rule",
    "factor_columns",
    "factor_matrix",
    "factor_magnitude",
    "factor_distance",
    "crnh_wedge",
    "param_rows",
    "param_indexes",
]

FactorRule = Literal["norm", "axis"]
#: The accepted ``factor_rule`` values.
FACTOR_RULES: tuple[str, ...] = ("norm", "axis")


def check_rule(rule: str) -> str:
    """Return ``rule`` if it is one of :data:`FACTOR_RULES`, else raise ``ValueError``."""
    if rule not in FACTOR_RULES:
        raise ValueError(f"factor_rule must be one of {FACTOR_RULES}, got {rule!r}")
    return rule


def factor_columns(frame: pd.DataFrame | Iterable[str], column: str = S.NOTE_FACTOR1) -> list[str]:
    """The factor vector's columns in ``frame``: ``column`` (axis 1) and its axes 2..k
    (:func:`cnlab.schema.factor_axis_columns`).

    Examples
    --------
    >>> import pandas as pd
    >>> factor_columns(pd.DataFrame(columns=["internalNoteFactor1", "internalNoteFactor2"]))
    ['internalNoteFactor1', 'internalNoteFactor2']
    """
    cols = frame.columns if isinstance(frame, pd.DataFrame) else list(frame)
    return S.factor_axis_columns(column, cols)


def factor_matrix(frame: pd.DataFrame, column: str = S.NOTE_FACTOR1) -> np.ndarray:
    """The ``(rows, k)`` float64 matrix of the factor vector (:func:`factor_columns`)."""
    return frame[factor_columns(frame, column)].to_numpy(dtype=np.float64, na_value=np.nan)


def factor_magnitude(F: np.ndarray, rule: str = "norm") -> np.ndarray:
    """``|f|`` of the 1-D rules for each row of ``F`` (rows, k): ``‖f‖₂`` (``"norm"``) or
    ``‖f‖_∞ = max_j |f_j|`` (``"axis"``); ``|f_1|`` exactly when k = 1. NaN if any axis is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> factor_magnitude(np.array([[0.3, 0.4]]), "norm"), factor_magnitude(np.array([[0.3, 0.4]]), "axis")
    (array([0.5]), array([0.4]))
    """
    check_rule(rule)
    F = np.asarray(F, dtype=np.float64)
    if F.ndim == 1:
        F = F[:, None]
    if F.shape[1] == 1:
        return np.abs(F[:, 0])
    if rule == "norm":
        return np.sqrt(np.sum(F * F, axis=1))
    return np.max(np.abs(F), axis=1)


def factor_distance(A: np.ndarray, B: np.ndarray, rule: str = "norm") -> np.ndarray:
    """Row-wise ``|a − b|`` of the 1-D rules: ``‖a − b‖₂`` or ``max_j |a_j − b_j|``
    (:func:`factor_magnitude` of the difference)."""
    return factor_magnitude(np.asarray(A, dtype=np.float64) - np.asarray(B, dtype=np.float64), rule)


def crnh_wedge(intercept: np.ndarray, F: np.ndarray, *, offset: float, slope: float,
               rule: str = "norm") -> np.ndarray:
    """GeneralCRNH's wedge (spec 03 §7 rule 3): ``i ≤ a + m·|f|``, k-D.

    ``"norm"``: ``i ≤ a + m·‖f‖₂``. ``"axis"``: ``∀j: i ≤ a + m·|f_j|`` (CRNH only when the
    wedge holds on every axis; with the official m = −0.8 ≤ 0 this is ``i ≤ a + m·‖f‖_∞``).
    Returns a bool array (False where i or f is NaN).

    Examples
    --------
    >>> import numpy as np
    >>> F = np.array([[0.3, 0.4]])  # ‖f‖₂ = 0.5: bound −0.45; max |f_j| = 0.4: bound −0.37
    >>> crnh_wedge(np.array([-0.4]), F, offset=-0.05, slope=-0.8, rule="norm")
    array([False])
    >>> crnh_wedge(np.array([-0.4]), F, offset=-0.05, slope=-0.8, rule="axis")
    array([ True])
    """
    check_rule(rule)
    i = np.asarray(intercept, dtype=np.float64)
    F = np.asarray(F, dtype=np.float64)
    if F.ndim == 1:
        F = F[:, None]
    with np.errstate(invalid="ignore"):
        if rule == "norm" or F.shape[1] == 1:
            return i <= offset + slope * factor_magnitude(F, "norm")
        return np.all(i[:, None] <= offset + slope * np.abs(F), axis=1)


def param_indexes(note_params: pd.DataFrame, rater_params: pd.DataFrame) -> tuple[pd.Index, pd.Index] | None:
    """The params' note and rater ids as indexes to look ratings up in, or ``None`` when an
    inner join could repeat or lose rows differently (repeated or missing ids)."""
    n_ids, u_ids = note_params[S.NOTE_ID], rater_params[S.RATER_ID]
    if not (n_ids.is_unique and u_ids.is_unique) or n_ids.isna().any() or u_ids.isna().any():
        return None
    return pd.Index(n_ids), pd.Index(u_ids)


def param_rows(note_ids: np.ndarray, rater_ids: np.ndarray, note_params: pd.DataFrame,
               rater_params: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The inner joins of ratings to note and rater params as lookups: ``(pos, jn, ju)``, the
    positions of the ratings whose note and rater both have params (in rating order, as the
    joins keep them) and those params' row numbers. ``None`` when a join could repeat or lose
    rows differently (repeated or missing ids in the params): the caller then joins frames.

    Examples
    --------
    >>> import pandas as pd
    >>> n = pd.DataFrame({"noteId": [7, 8]}); u = pd.DataFrame({"raterParticipantId": [1]})
    >>> [a.tolist() for a in param_rows(np.array([8, 9, 7]), np.array([1, 1, 1]), n, u)]
    [[0, 2], [1, 0], [0, 0]]
    """
    indexes = param_indexes(note_params, rater_params)
    if indexes is None:
        return None
    jn = indexes[0].get_indexer(note_ids)
    ju = indexes[1].get_indexer(rater_ids)
    pos = np.flatnonzero((jn >= 0) & (ju >= 0))
    return pos, jn[pos], ju[pos]
