"""Replica of scikit-learn 1.0.2's stopping point for ``LogisticRegression(solver="lbfgs")``.

scikit-learn 1.0.2 (the official pin) minimised the *sum* of the log-losses, so lbfgs' gradient
tolerance applied to a gradient n times larger than the one of the *mean* log-loss that
scikit-learn ≥ 1.2 minimises. Passing ``tol / n`` to the installed version stops it where 1.0.2
stopped (on the fixture this changes one near-tie post of the topic model, spec 05 §A.6; parity
needs it).

Used by :func:`cnlab.models.topics.train_topic_classifier` (``TopicConfig.tol_per_sample``).
"""

from __future__ import annotations

__all__ = ["summed_loss_tol"]


def summed_loss_tol(tol: float, n_samples: int) -> float:
    """The tolerance to give the installed lbfgs so that it stops as 1.0.2 did with ``tol``."""
    return tol / n_samples
