"""Shared helpers for the tests/test_mf_*.py files (synthetic planted-model ratings) and
bench/reputation_round.py (random reputation-MF problems, the diligence model's rounds)."""

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


#: (trained parameters, regularization keywords) of each round of the diligence model
#: (spec 06 §D.5-D.6), and a round that trains nothing.
DILIGENCE_ROUNDS = {
    "round 1": (("note_emb", "rater_emb", "note_bias", "rater_bias", "global_bias"), dict(third=False)),
    "round 2": (("note_emb", "rater_emb", "rater_bias", "reputation", "global_bias"), dict(third=False)),
    "round 3 / final B": (("note_bias",), dict(third=True, per_note_ratio=17.0, per_user_ratio=23.0)),
    "final A": (("note_emb",), dict(third=False, per_note_ratio=17.0, per_user_ratio=23.0)),
    "frozen": ((), dict(third=False)),
}
REPUTATION_PARAMS = ("note_emb", "rater_emb", "note_bias", "rater_bias", "reputation", "global_bias")


def reputation_problem(seed: int, n_notes: int, n_raters: int, n_ratings: int):
    """Random indices, 0/1 targets, initial parameters and weights of a reputation-MF round."""
    rng = np.random.default_rng(seed)
    ni = rng.integers(0, n_notes, n_ratings)
    ri = rng.integers(0, n_raters, n_ratings)
    y = (rng.random(n_ratings) < 0.3).astype(np.float32)
    params = dict(note_emb=rng.standard_normal(n_notes), rater_emb=rng.standard_normal(n_raters),
                  note_bias=rng.standard_normal(n_notes), rater_bias=rng.standard_normal(n_raters),
                  reputation=rng.random(n_raters) + 0.5, global_bias=float(rng.normal()))
    return ni, ri, y, params, rng.random(n_ratings).astype(np.float32)
