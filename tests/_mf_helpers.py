"""Shared helpers for the tests/test_mf_*.py files (synthetic planted-model ratings)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def planted(n_notes=300, n_raters=400, n_ratings=12000, seed=0, noise=0.15, mu=0.2, k=1, round_half=False):
    """Ratings from r = μ + i_u + i_n + f_u·f_n + noise, unique (note, rater) pairs."""
    rng = np.random.default_rng(seed)
    ni = rng.normal(0, 0.3, n_notes)
    nf = rng.normal(0, 0.7, (n_notes, k))
    ri = rng.normal(0, 0.2, n_raters)
    rf = rng.normal(0, 0.7, (n_raters, k))
    n = rng.integers(0, n_notes, n_ratings)
    u = rng.integers(0, n_raters, n_ratings)
    pairs = pd.DataFrame({"n": n, "u": u}).drop_duplicates()
    n, u = pairs["n"].to_numpy(), pairs["u"].to_numpy()
    y = mu + ni[n] + ri[u] + np.sum(nf[n] * rf[u], axis=1) + rng.normal(0, noise, len(n))
    if round_half:
        y = np.clip(np.round(y * 2) / 2, 0, 1)
    df = pd.DataFrame(
        {
            "noteId": (n + 10_000).astype(np.int64),
            "raterParticipantId": u.astype(np.int32),
            "helpfulNum": y.astype(np.float32),
        }
    )
    truth = dict(ni=ni, nf=nf, ri=ri, rf=rf, mu=mu)
    return df, truth
