"""Evaluate boolean note-status rules against a known truth, with uncertainty.

On synthetic data with a planted truth (``cnlab.synthetic``) a rule — "the
Core scorer rates the note CRH", "the helpful ratio is ≥ 0.84" — is a boolean
prediction per note.  :func:`rule_metrics` gives each rule's confusion counts,
precision, recall and accuracy with Wilson score confidence intervals;
:func:`compare_rules` tests whether two rules, applied to the *same* notes,
are right equally often (McNemar's exact test).

Alignment (both functions): a prediction given as a :class:`pandas.Series` is
aligned on the truth's index, notes it lacks count as predicted ``False``;
arrays and lists are taken by position and must have the truth's length.

Undefined proportions: a rule that predicts nothing has precision
``tp / (tp + fp) = 0 / 0``.  It is reported as **NaN** (with NaN interval
bounds), not 0: "no shown note was wrong" and "every shown note was wrong"
are both true of it.  The same holds for recall when the truth has no
positive and for every metric on an empty truth.

Pure pandas / statsmodels; never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["METRICS", "rule_metrics", "McNemarResult", "compare_rules"]

METRICS: tuple[str, ...] = ("precision", "recall", "accuracy")
"""The proportions :func:`rule_metrics` reports, in column order."""

BoolLike = pd.Series | np.ndarray | Sequence[bool]


def _truth(truth: BoolLike) -> pd.Series:
    return pd.Series(truth).astype(bool)


def _aligned(pred: BoolLike, truth: pd.Series, *, name: str) -> pd.Series:
    """``pred`` as a bool Series on ``truth.index`` (Series: by index, missing → False; else by position)."""
    if isinstance(pred, pd.Series):
        return pred.reindex(truth.index).astype("boolean").fillna(False).astype(bool)
    arr = np.asarray(pred, dtype=bool)
    if arr.shape != (len(truth),):
        raise ValueError(f"prediction {name!r} has shape {arr.shape}, truth has {len(truth)} notes")
    return pd.Series(arr, index=truth.index)


def _wilson(count: int, nobs: int, alpha: float) -> tuple[float, float]:
    if nobs == 0:
        return (np.nan, np.nan)
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(count, nobs, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def rule_metrics(
    truth: BoolLike,
    predictions: Mapping[str, BoolLike],
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    r"""Confusion counts, precision, recall and accuracy of rules, with Wilson intervals.

    For each rule, with ``tp, fp, fn, tn`` its confusion counts against
    ``truth``:

    * precision ``= tp / (tp + fp)`` (of the notes the rule shows, the share
      truly helpful),
    * recall ``= tp / (tp + fn)``,
    * accuracy ``= (tp + tn) / n``.

    Each proportion :math:`\hat p = x / m` gets the Wilson score interval at
    level :math:`1 - \alpha` (``statsmodels`` ``proportion_confint(x, m,
    alpha, method="wilson")``), with :math:`z = \Phi^{-1}(1 - \alpha/2)`:

    .. math::

        \frac{\hat p + \frac{z^2}{2m}}{1 + \frac{z^2}{m}}
        \ \pm\ \frac{z}{1 + \frac{z^2}{m}}
        \sqrt{\frac{\hat p (1 - \hat p)}{m} + \frac{z^2}{4m^2}} .

    Unlike the normal (Wald) interval it stays inside [0, 1] and does not
    collapse to a point at :math:`\hat p \in \{0, 1\}`.  A proportion with
    :math:`m = 0` (a rule that predicts nothing → precision) is NaN with NaN
    bounds (see the module docstring).

    Parameters
    ----------
    truth
        Boolean truth per note (e.g. planted type == "bridging").
    predictions
        Rule name → boolean prediction per note.  Series are aligned on
        ``truth``'s index (absent → False); arrays by position.
    alpha
        1 − confidence level of the intervals (0.05 → 95 % intervals).

    Returns
    -------
    DataFrame
        Index ``rule`` (in the order of ``predictions``); columns ``n``,
        ``tp``, ``fp``, ``fn``, ``tn`` (int64), then for each of
        ``precision``, ``recall``, ``accuracy`` the estimate and its
        ``<metric>_lo`` / ``<metric>_hi`` bounds (float64).

    Examples
    --------
    >>> t = pd.Series([True, True, False, False])
    >>> m = rule_metrics(t, {"A": [True, False, True, False], "none": [False] * 4})
    >>> m[["tp", "fp", "fn", "tn"]].to_dict("index")
    {'A': {'tp': 1, 'fp': 1, 'fn': 1, 'tn': 1}, 'none': {'tp': 0, 'fp': 0, 'fn': 2, 'tn': 2}}
    >>> m.loc["A", ["precision", "precision_lo", "precision_hi"]].round(3).tolist()
    [0.5, 0.095, 0.905]
    >>> bool(np.isnan(m.loc["none", "precision"]))  # predicts nothing: 0/0
    True
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    t = _truth(truth)
    rows = []
    for name, pred in predictions.items():
        p = _aligned(pred, t, name=name)
        tp = int((p & t).sum())
        fp = int((p & ~t).sum())
        fn = int((~p & t).sum())
        tn = int((~p & ~t).sum())
        row: dict[str, object] = {"rule": name, "n": len(t), "tp": tp, "fp": fp, "fn": fn, "tn": tn}
        for metric, (x, m) in zip(METRICS, ((tp, tp + fp), (tp, tp + fn), (tp + tn, len(t)))):
            row[metric] = x / m if m else np.nan
            row[f"{metric}_lo"], row[f"{metric}_hi"] = _wilson(x, m, alpha)
        rows.append(row)
    columns = ["rule", "n", "tp", "fp", "fn", "tn"] + [
        c for metric in METRICS for c in (metric, f"{metric}_lo", f"{metric}_hi")
    ]
    table = pd.DataFrame(rows, columns=columns).set_index("rule")
    counts = ["n", "tp", "fp", "fn", "tn"]
    table[counts] = table[counts].astype("int64")
    table[columns[6:]] = table[columns[6:]].astype("float64")
    return table


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test of two rules on the same notes (see :func:`compare_rules`).

    ``table`` is the 2×2 count table, rows = rule ``a`` correct / wrong,
    columns = rule ``b`` correct / wrong (labels ``"<name> correct"`` /
    ``"<name> wrong"``); ``statistic`` = min(b, c) of the discordant cells;
    ``pvalue`` the two-sided exact p-value.
    """

    table: pd.DataFrame
    """2×2 counts: [[both correct, only a correct], [only b correct, both wrong]]."""
    statistic: float
    """min(only a correct, only b correct) (the exact test's statistic)."""
    pvalue: float
    """Two-sided exact p-value, min(1, 2·P(Bin(b + c, ½) ≤ min(b, c)))."""
    a: str = "a"
    """Name of the first rule."""
    b: str = "b"
    """Name of the second rule."""

    @property
    def only_a(self) -> int:
        """Notes only rule ``a`` classifies correctly."""
        return int(self.table.iat[0, 1])

    @property
    def only_b(self) -> int:
        """Notes only rule ``b`` classifies correctly."""
        return int(self.table.iat[1, 0])

    def summary(self) -> str:
        """One line: discordant counts, statistic and p-value."""
        return (f"McNemar exact: only {self.a} correct {self.only_a}, only {self.b} correct {self.only_b}, "
                f"statistic {self.statistic:g}, p = {self.pvalue:.3g}")

    def to_dict(self) -> dict[str, object]:
        """``{"table": [[..], [..]], "statistic": .., "pvalue": .., "a": .., "b": ..}``."""
        return {"table": self.table.to_numpy().tolist(), "statistic": self.statistic, "pvalue": self.pvalue,
                "a": self.a, "b": self.b}


def compare_rules(
    truth: BoolLike,
    a: BoolLike,
    b: BoolLike,
    *,
    names: tuple[str, str] = ("a", "b"),
) -> McNemarResult:
    r"""McNemar's exact test: are rules ``a`` and ``b`` right equally often on the same notes?

    Each note is classified correctly (prediction == truth) or not by each
    rule, giving the paired table

    =================  ===============  ===============
    \                  ``b`` correct    ``b`` wrong
    ``a`` correct      both             :math:`n_{01}`
    ``a`` wrong        :math:`n_{10}`   neither
    =================  ===============  ===============

    Only the discordant notes carry information.  Under the null hypothesis
    (equal accuracy) each of the :math:`N = n_{01} + n_{10}` discordant notes
    is equally likely to favour either rule, so :math:`n_{01} \sim
    \mathrm{Bin}(N, \tfrac12)` and the two-sided exact p-value is

    .. math::

        p = \min\Bigl(1,\ 2 \sum_{k=0}^{\min(n_{01}, n_{10})}
            \binom{N}{k} 2^{-N}\Bigr)

    (``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``;
    statistic :math:`\min(n_{01}, n_{10})`).  With no discordant note,
    :math:`p = 1`.  This tests *accuracy*; precision differences are shown by
    :func:`rule_metrics`' intervals.

    Parameters
    ----------
    truth, a, b
        Boolean truth and the two rules' predictions, aligned as in
        :func:`rule_metrics`.
    names
        Labels of ``a`` and ``b`` in the table and the summary.

    Returns
    -------
    McNemarResult
        ``table`` (2×2 DataFrame), ``statistic``, ``pvalue``; ``to_dict()``
        for a plain dict.

    Examples
    --------
    >>> t = [True, True, True, False, False, False]
    >>> r = compare_rules(t, [True, True, True, False, False, False],
    ...                   [False, False, True, True, False, False], names=("A", "B"))
    >>> r.table.to_numpy().tolist()  # A right on 6, B on 3: 3 notes only A gets right
    [[3, 3], [0, 0]]
    >>> r.statistic, r.pvalue  # 2 · (1/2)^3
    (0.0, 0.25)
    """
    from statsmodels.stats.contingency_tables import mcnemar

    t = _truth(truth)
    ca = _aligned(a, t, name=names[0]) == t
    cb = _aligned(b, t, name=names[1]) == t
    counts = np.array([[int((ca & cb).sum()), int((ca & ~cb).sum())],
                       [int((~ca & cb).sum()), int((~ca & ~cb).sum())]], dtype=np.int64)
    table = pd.DataFrame(counts, index=[f"{names[0]} correct", f"{names[0]} wrong"],
                         columns=[f"{names[1]} correct", f"{names[1]} wrong"])
    res = mcnemar(counts, exact=True)
    return McNemarResult(table=table, statistic=float(res.statistic), pvalue=float(min(1.0, res.pvalue)),
                         a=names[0], b=names[1])
