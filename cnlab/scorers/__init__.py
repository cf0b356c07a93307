"""Scorers of the official roster, one module per family, behind one protocol.

:mod:`cnlab.scorers.base` defines the plug-in protocol (:class:`~cnlab.scorers.base.ScorerFamily`,
:class:`~cnlab.scorers.base.ScoringContext`) and the registry (:data:`~cnlab.scorers.base.FAMILIES`,
:func:`~cnlab.scorers.base.family_for`). Families:

* :mod:`cnlab.scorers.matrix_factorization` — Core, CoreWithTopics, Expansion, ExpansionPlus, groups,
  multi-group, topics (configs and the official roster in :mod:`cnlab.scorers.mf_config`; the two
  phases in :mod:`~cnlab.scorers.mf_prescoring` and :mod:`~cnlab.scorers.mf_final`; rating slices in
  :mod:`~cnlab.scorers.slicing`);
* :mod:`cnlab.scorers.reputation` — the ReputationScorer (``coverage*`` columns);
* :mod:`cnlab.scorers.gaussian` — the Gaussian scorers.

Models the MF scorers call: :mod:`cnlab.scorers.diligence` (low-diligence reputation MF) and
:mod:`cnlab.scorers.tag_consensus` (harassment tag consensus). Shared output containers and the
official prescoring files: :mod:`cnlab.scorers.outputs`.

Importing this package imports no scorer module (and no TensorFlow).
"""

from __future__ import annotations

from cnlab.scorers.base import FAMILIES, ScorerFamily, ScoringContext, families, family_for

__all__ = ["FAMILIES", "ScorerFamily", "ScoringContext", "families", "family_for"]
