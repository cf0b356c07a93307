"""Figures for cnlab results (matplotlib + seaborn, axes-level).

Every plotting function takes DataFrames with the column names of the
official outputs (``scored_notes``, ``helpfulness_scores``; older vintages too:
``noteIntercept``, ``raterFactor1``, ``ratingStatus`` ... are read as
``coreNoteIntercept``, ``coreRaterFactor1``, ``coreRatingStatus``) or of cnlab's own
frames (``internalNoteIntercept`` ...), draws on ``ax`` (a new figure when
``ax`` is None) and returns that :class:`~matplotlib.axes.Axes`.  A figure that
leaves rows out says how many and why (title or axis label), and status
abbreviations are spelled out in legends (``CRH = currently rated helpful``).  Reference
artists (threshold lines, bands) carry a ``gid`` (e.g. ``"crh-threshold"``)
so that tests and users can find them.

:func:`savefig` writes PNG and SVG files whose bytes depend only on the
figure (no dates, fixed SVG hash salt, fixed dpi), into ``directory``, else
``$CNLAB_FIGURES_DIR``, else ``./figures`` under the current working directory.

The thresholds drawn are the Core scorer's defaults (spec 03 §4–§5); they are
keyword arguments so that "what if" figures can draw others.

One module per pipeline stage; use them through this package
(``from cnlab import plotting as P; P.funnel(...)``):

========================  ==============================================================
``_common``               backend, colours, default thresholds, :func:`savefig`, helpers
``data``                  preprocessing funnel, ratings per note / rater (spec 01 §1–§2)
``mf``                    factor–intercept scatters, loss curves, convergence (spec 01)
``helpfulness``           contributor-helpfulness filter (spec 03 §3)
``rules``                 pseudo-raters, rule flow, tag filter, net helpful (spec 03 §2, §4–§6)
``evaluation``            status changes between runs, agreement with a planted truth
``lab``                   research tools: a StatusDiff's transitions and shifts, published-status reasons
``factors``               choosing k: held-out fit by number of factors, recovery of planted factors
``stability``             seed stability: status probabilities, CRH churn vs the guards, intercept spread
``attacks``               coordinated attacks: pollution / suppression vs attackers, per defence setting
``post_likes``            the "liked by different perspectives" pilot (spec 07 B)
========================  ==============================================================

This package never imports TensorFlow.
"""

# _common first: it picks the headless backend before anything imports matplotlib.pyplot.
from cnlab.plotting._common import (
    CRH_THRESHOLD,
    CRNH_FACTOR_MULTIPLIER,
    CRNH_INTERCEPT,
    DPI,
    FACTOR_THRESHOLD,
    FIGURES_DIR_ENV,
    HELPFULNESS_THRESHOLDS,
    MIN_MINORITY_NET_HELPFUL,
    RULE_ORDER,
    STATUS_COLORS,
    STATUS_ORDER,
    STATUS_LONG,
    STATUS_SHORT,
    TAG_PERCENTILE,
    TAG_WEIGHT_EXPONENT,
    UCB_CRNH_THRESHOLD,
    figures_dir,
    savefig,
    status_key,
    status_label,
)

import matplotlib  # noqa: E402  (after _common; ``cnlab.plotting.matplotlib`` is part of the old surface)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cnlab.plotting.data import funnel, rating_counts  # noqa: E402
from cnlab.plotting.evaluation import status_confusion, status_crosstab, truth_agreement  # noqa: E402
from cnlab.plotting.lab import published_reasons, shift_scatter, status_transitions  # noqa: E402
from cnlab.plotting.factors import factor_recovery_scatter, k_selection_curve  # noqa: E402
from cnlab.plotting.stability import churn_by_fidelity, spread_vs_distance, status_probability_hist  # noqa: E402
from cnlab.plotting.attacks import attack_curves  # noqa: E402
from cnlab.plotting.helpfulness import (  # noqa: E402
    helpfulness_distributions,
    helpfulness_removed,
    removal_reasons,
)
from cnlab.plotting.mf import (  # noqa: E402
    convergence_summary,
    convergence_table,
    loss_curves,
    note_factor_intercept,
    param_differences,
    rater_factor_hist_by_group,
    rater_factor_intercept,
)
from cnlab.plotting.post_likes import POST_LIKES_SPLIT, post_likes_by_side, rater_factor_buckets  # noqa: E402
from cnlab.plotting.rules import (  # noqa: E402
    net_helpful_by_side,
    net_helpful_counts,
    pseudo_rater_intervals,
    rule_counts,
    rule_flow,
    tag_outlier_weights,
    tag_thresholds,
    threshold_hist,
    threshold_status,
)

__all__ = [
    "STATUS_COLORS",
    "STATUS_ORDER",
    "RULE_ORDER",
    "savefig",
    "figures_dir",
    "status_label",
    "status_key",
    "note_factor_intercept",
    "rater_factor_intercept",
    "rater_factor_hist_by_group",
    "loss_curves",
    "convergence_summary",
    "convergence_table",
    "funnel",
    "helpfulness_distributions",
    "helpfulness_removed",
    "removal_reasons",
    "pseudo_rater_intervals",
    "rule_flow",
    "rule_counts",
    "tag_outlier_weights",
    "tag_thresholds",
    "net_helpful_by_side",
    "net_helpful_counts",
    "status_confusion",
    "status_crosstab",
    "param_differences",
    "truth_agreement",
    "rating_counts",
    "threshold_status",
    "threshold_hist",
    "rater_factor_buckets",
    "post_likes_by_side",
    "status_transitions",
    "shift_scatter",
    "published_reasons",
    "k_selection_curve", "factor_recovery_scatter",
    "status_probability_hist", "churn_by_fidelity", "spread_vs_distance",
    "attack_curves",
    # constants (public before the split, now listed)
    "STATUS_SHORT",
    "STATUS_LONG",
    "FIGURES_DIR_ENV",
    "CRH_THRESHOLD",
    "CRNH_INTERCEPT",
    "CRNH_FACTOR_MULTIPLIER",
    "FACTOR_THRESHOLD",
    "UCB_CRNH_THRESHOLD",
    "MIN_MINORITY_NET_HELPFUL",
    "HELPFULNESS_THRESHOLDS",
    "TAG_PERCENTILE",
    "TAG_WEIGHT_EXPONENT",
    "DPI",
    "POST_LIKES_SPLIT",
]

# ``doctest.testmod(cnlab.plotting)`` only collects functions defined in the module itself; list the
# re-exported ones so their examples still run against this namespace (np, pd, plt, the names above).
__test__ = {name: obj for name, obj in globals().items() if name in __all__ and callable(obj)}
