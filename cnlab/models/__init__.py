"""Models the pipeline fits beside the scorers.

* :mod:`cnlab.models.topics` — note topics: seed regexes + TF-IDF logistic regression (spec 05 A);
* :mod:`cnlab.models.similarity` — post selection similarity and coalescing (spec 05 B);
* :mod:`cnlab.models.quasi_cliques` — quasi-clique detection (spec 05 C);
* :mod:`cnlab.models.pflip` — the supervised flip-risk model used in stabilization (spec 06 §A);
* :mod:`cnlab.models.pcrh` — the early-Helpful (PCRH) model (spec 06 §B).

Replicas of pinned library behaviour that they need live in :mod:`cnlab._compat`.
"""

__all__: list[str] = []
