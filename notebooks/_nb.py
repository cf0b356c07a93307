"""Set-up shared by the numbered notebooks: data loading, the figures folder and an opt-in
result cache.

Not a notebook (no number prefix).  ``CNLAB_NOTEBOOK_CACHE`` (a folder) turns on a
pickle cache of scoring results keyed by data source, configuration and seed, so
that a test session executing every notebook scores the sample once; unset (the
default) every notebook scores afresh.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Callable

import cnlab
import cnlab.plotting

SAMPLE = "sample"
#: The repository checkout (this file is notebooks/_nb.py).
REPO = Path(__file__).resolve().parents[1]


def figures_dir() -> Path:
    """Where the notebooks save their figures: ``$CNLAB_FIGURES_DIR`` if set (the test suite
    points it at a temporary folder), else the repository's committed ``figures/``.

    Passed explicitly to :func:`cnlab.plotting.savefig`, whose own default is ``./figures``
    under the working directory (``notebooks/`` when a notebook runs)."""
    return cnlab.plotting.figures_dir(os.environ.get("CNLAB_FIGURES_DIR") or REPO / "figures")


def load_dataset(data: str = SAMPLE):
    """``cnlab.load_sample()`` for ``"sample"``, else ``cnlab.load(data)`` (a public-data folder)."""
    return cnlab.load_sample() if data in (SAMPLE, "", None) else cnlab.load(data)


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """Return ``compute()``, memoised on disk under ``$CNLAB_NOTEBOOK_CACHE`` when set."""
    folder = os.environ.get("CNLAB_NOTEBOOK_CACHE")
    if not folder:
        return compute()
    path = Path(folder) / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".pkl")
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return value


def score(dataset, data: str, config=None, *, seed: int = 42, **kwargs):
    """``cnlab.score(dataset, config, seed=seed, **kwargs)``, cached per (data, config, seed)."""
    config = config if config is not None else cnlab.ScoringConfig()
    if kwargs:  # e.g. prescoring=<object>: no stable key, never cached
        return cnlab.score(dataset, config, seed=seed, **kwargs)
    key = f"score|{data}|{config!r}|{seed}"
    return cached(key, lambda: cnlab.score(dataset, config, seed=seed, **kwargs))
