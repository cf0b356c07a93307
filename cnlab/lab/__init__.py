"""Research tools on top of the pipeline.

* :mod:`cnlab.lab.parity` — compare two runs' output files column by column
  (:func:`~cnlab.lab.parity.compare_columns`), e.g. a run against the official outputs;
* :mod:`cnlab.lab.evaluation` — rule metrics against a planted truth with Wilson intervals, McNemar's test;
* :mod:`cnlab.lab.status_diff` — :func:`diff` compares two runs note by note (status transitions,
  deciding rules, shifts of every intercept and factor) → :class:`StatusDiff`;
* :mod:`cnlab.lab.counterfactuals` — :func:`counterfactual` scores the download without some
  raters, notes or ratings, or as of an earlier time, and diffs it with the baseline;
* :mod:`cnlab.lab.published` — :func:`compare_with_published` sets cnlab's statuses beside the
  ones the input ``noteStatusHistory`` publishes and says why they differ;
* :mod:`cnlab.lab.factors` — :func:`select_k` compares k = 1, 2, 3 … factors on held-out ratings;
  :func:`factor_recovery` compares fitted note factors with a planted truth;
* :mod:`cnlab.lab.stability` — :func:`seed_stability` scores under several seeds (official loop and
  exact solver) and measures status probabilities, CRH churn and parameter spread;
* :mod:`cnlab.lab.attacks` — :func:`attack` injects coordinated attacker accounts, rescores and
  measures pollution / suppression of the targets; :func:`attack_curve` over attacker counts and
  defence settings.

``ScoringResult`` has no ``diff`` method: the pipeline may not import this package (the layering
contract, ``docs/architecture.md``); call ``cnlab.lab.diff(old, new)``. The modules are
``status_diff`` and ``counterfactuals`` so that the functions ``diff`` and ``counterfactual``
exported here do not shadow them.
"""

from cnlab.lab.counterfactuals import Counterfactual, counterfactual, reduce_dataset, select_raters
from cnlab.lab.status_diff import StatusDiff, diff
from cnlab.lab.attacks import AttackPlan, AttackResult, attack, attack_curve
from cnlab.lab.published import PublishedComparison, compare_with_published
from cnlab.lab.factors import FactorRecovery, KSelection, factor_recovery, select_k
from cnlab.lab.stability import SeedStability, seed_stability

__all__: list[str] = [
    "diff", "StatusDiff",
    "counterfactual", "Counterfactual", "select_raters", "reduce_dataset",
    "compare_with_published", "PublishedComparison",
    "attack", "attack_curve", "AttackResult", "AttackPlan",
    "select_k", "KSelection", "factor_recovery", "FactorRecovery",
    "seed_stability", "SeedStability",
]
