"""cnlab.lab.evaluation: rule metrics with Wilson intervals, McNemar's exact test (tier 1, hand-computed)."""

from __future__ import annotations

import math
from statistics import NormalDist

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cnlab.lab import evaluation as E  # noqa: E402

FLOAT_TOL = 1e-12  # closed forms vs statsmodels: same arithmetic up to float rounding


def wilson(x: int, m: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval, closed form."""
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = x / m
    denom = 1 + z * z / m
    centre = (p + z * z / (2 * m)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
    return centre - half, centre + half


def mcnemar_exact(n01: int, n10: int) -> float:
    """Two-sided exact McNemar p-value: min(1, 2·P(Bin(n01 + n10, ½) ≤ min(n01, n10)))."""
    n = n01 + n10
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(n01, n10) + 1)) / 2**n)


# truth: 4 positives, 6 negatives; rule A: tp=3, fp=1, fn=1, tn=5
TRUTH = pd.Series([True, True, True, True, False, False, False, False, False, False], index=range(100, 110))
RULE_A = pd.Series([True, True, True, False, True, False, False, False, False, False], index=range(100, 110))


def test_counts_and_wilson_intervals_hand_computed():
    m = E.rule_metrics(TRUTH, {"A": RULE_A})
    row = m.loc["A"]
    assert (row["n"], row["tp"], row["fp"], row["fn"], row["tn"]) == (10, 3, 1, 1, 5)
    assert row["precision"] == 3 / 4 and row["recall"] == 3 / 4 and row["accuracy"] == 8 / 10
    for metric, (x, n) in {"precision": (3, 4), "recall": (3, 4), "accuracy": (8, 10)}.items():
        lo, hi = wilson(x, n)
        assert row[f"{metric}_lo"] == pytest.approx(lo, abs=FLOAT_TOL)
        assert row[f"{metric}_hi"] == pytest.approx(hi, abs=FLOAT_TOL)
    # 3/4 at 95 %: numbers from the closed form, written out
    assert row["precision_lo"] == pytest.approx(0.30064, abs=1e-5)
    assert row["precision_hi"] == pytest.approx(0.95441, abs=1e-5)
    # alpha widens / narrows the interval
    lo90, hi90 = wilson(3, 4, alpha=0.10)
    m90 = E.rule_metrics(TRUTH, {"A": RULE_A}, alpha=0.10).loc["A"]
    assert m90["precision_lo"] == pytest.approx(lo90, abs=FLOAT_TOL) and lo90 > row["precision_lo"]
    assert m90["precision_hi"] == pytest.approx(hi90, abs=FLOAT_TOL)


def test_columns_dtypes_and_order():
    m = E.rule_metrics(TRUTH, {"z": RULE_A, "a": RULE_A.to_numpy()})
    assert list(m.index) == ["z", "a"] and m.index.name == "rule"
    assert list(m.columns) == ["n", "tp", "fp", "fn", "tn"] + [
        c for k in E.METRICS for c in (k, f"{k}_lo", f"{k}_hi")]
    assert (m.dtypes.iloc[:5] == "int64").all() and (m.dtypes.iloc[5:] == "float64").all()
    assert m.loc["z"].equals(m.loc["a"])  # Series by index == array by position


def test_wilson_at_the_edges():
    # p̂ = 1: the interval does not collapse (Wald's would be [1, 1]); upper bound 1
    m = E.rule_metrics([True, True, True], {"all": [True, True, True]}).loc["all"]
    lo, hi = wilson(3, 3)
    assert m["precision"] == 1.0 and m["precision_lo"] == pytest.approx(lo, abs=FLOAT_TOL) and lo < 1.0
    assert hi == pytest.approx(1.0, abs=FLOAT_TOL) and m["precision_hi"] == pytest.approx(1.0, abs=FLOAT_TOL)


def test_rule_that_predicts_nothing_has_nan_precision():
    """Documented choice: precision 0/0 is NaN (with NaN bounds), not 0; recall is a real 0."""
    m = E.rule_metrics(TRUTH, {"none": [False] * 10}).loc["none"]
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (0, 0, 4, 6)
    assert np.isnan(m["precision"]) and np.isnan(m["precision_lo"]) and np.isnan(m["precision_hi"])
    assert m["recall"] == 0.0 and m["recall_lo"] == 0.0 and m["recall_hi"] == pytest.approx(wilson(0, 4)[1])
    assert m["accuracy"] == 0.6
    # no positive in the truth: recall 0/0 is NaN too
    m = E.rule_metrics([False, False], {"r": [True, False]}).loc["r"]
    assert np.isnan(m["recall"]) and m["precision"] == 0.0


def test_alignment_and_bad_input():
    pred = pd.Series([True, True], index=[100, 999])  # 999 not in the truth; 101..109 absent → False
    m = E.rule_metrics(TRUTH, {"p": pred}).loc["p"]
    assert (m["tp"], m["fp"]) == (1, 0)
    with pytest.raises(ValueError, match="shape"):
        E.rule_metrics(TRUTH, {"short": [True, False]})
    with pytest.raises(ValueError, match="alpha"):
        E.rule_metrics(TRUTH, {"A": RULE_A}, alpha=0.0)


def test_mcnemar_exact_hand_built_table():
    # 12 notes, all truly positive: a right on notes 0–8, b right on 0–1 and 9–10
    truth = [True] * 12
    a = [True] * 9 + [False] * 3
    b = [True, True] + [False] * 7 + [True, True, False]
    r = E.compare_rules(truth, a, b, names=("A", "B"))
    # both correct 2, only A 7, only B 2, neither 1
    assert r.table.to_numpy().tolist() == [[2, 7], [2, 1]]
    assert list(r.table.index) == ["A correct", "A wrong"] and list(r.table.columns) == ["B correct", "B wrong"]
    assert (r.only_a, r.only_b, r.statistic) == (7, 2, 2.0)
    # 2 · (C(9,0) + C(9,1) + C(9,2)) / 2^9 = 2 · 46 / 512
    assert r.pvalue == pytest.approx(mcnemar_exact(7, 2), abs=FLOAT_TOL)
    assert r.pvalue == pytest.approx(92 / 512, abs=FLOAT_TOL)
    assert "p = 0.18" in r.summary()
    d = r.to_dict()
    assert d["table"] == [[2, 7], [2, 1]] and d["pvalue"] == r.pvalue


def test_mcnemar_symmetry_and_no_discordance():
    r1 = E.compare_rules(TRUTH, RULE_A, [False] * 10)
    r2 = E.compare_rules(TRUTH, [False] * 10, RULE_A)
    assert r1.pvalue == r2.pvalue and r1.table.to_numpy().T.tolist() == r2.table.to_numpy().tolist()
    same = E.compare_rules(TRUTH, RULE_A, RULE_A)
    assert same.pvalue == 1.0 and same.only_a == same.only_b == 0
    assert int(same.table.to_numpy().sum()) == len(TRUTH)


def test_truth_agreement_draws_wilson_intervals():
    from cnlab import plotting as P

    ax = P.truth_agreement(TRUTH, {"A": RULE_A, "none": [False] * 10})
    assert len(ax.patches) == 6
    cis = [c for c in ax.collections if c.get_gid() == "wilson-ci"]
    assert len(cis) == 2
    segs = cis[0].get_segments()  # rule A: precision, recall, accuracy
    lo, hi = wilson(3, 4)
    assert segs[0][:, 1] == pytest.approx([lo, hi], abs=1e-9)
    assert ax.patches[3].get_height() == 0.0 and ax.texts[3].get_text() == "n/a"  # NaN precision
    plt.close(ax.figure)


def test_docstring_examples_run():
    import doctest

    failures, attempted = doctest.testmod(E, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted >= 8 and failures == 0
