"""The note-block Newton solver (fidelity="fast" for the low-diligence final phases, spec 06 §D.6):
hand-computed optima, optimality on random problems (hypothesis), and the official Adam loop run
long and slow arriving at the same parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab.scorers import diligence as dg
from cnlab.scorers.note_newton import solve_note_block

from test_mf_diligence import _planted  # noqa: E402  (tests/ is on sys.path)

#: How far the official loop, run with a small learning rate for many epochs, may stay from the
#: exact optimum: Adam at lr 0.01 settles within ~1e-3 of it on these 80-note problems (float32
#: arithmetic and the constant learning rate's last oscillations).
ADAM_NEAR_OPTIMUM = 5e-3


def _solve(a, c, y, w, idx, m, *, l2, loss, chunk=1 << 22):
    return solve_note_block(lambda lo, hi: (a[lo:hi], c[lo:hi]), y, w, idx, np.zeros(m), l2=l2, loss=loss,
                            chunk=chunk)


def _objective(theta, a, c, y, w, idx, *, l2, loss):
    z = a * theta[idx] + c
    ell = (z - y) ** 2 if loss == "mse" else np.logaddexp(0.0, z) - y * z
    return np.sum(w * ell) / len(y) + l2 * np.sum(theta ** 2)


def test_bce_without_penalty_is_the_logit_of_the_weighted_rate():
    # one note, four ratings, one tagged with weight 3: p = 3 / (3 + 3) -> logit 0
    y = np.array([1.0, 0.0, 0.0, 0.0])
    w = np.array([3.0, 1.0, 1.0, 1.0])
    s = _solve(np.ones(4), np.zeros(4), y, w, np.zeros(4, np.int64), 1, l2=0.0, loss="bce")
    assert s.converged and abs(float(s.theta[0])) < 1e-6
    # unweighted: logit(1/4) = log(1/3)
    s = _solve(np.ones(4), np.zeros(4), y, np.ones(4), np.zeros(4, np.int64), 1, l2=0.0, loss="bce")
    assert float(s.theta[0]) == pytest.approx(np.log(1 / 3), abs=1e-6)


def test_mse_with_penalty_is_the_ridge_solution():
    # z = a θ + c: minimiser of (1/N) Σ w (aθ + c − y)² + λθ² is Σ w a (y − c) / (Σ w a² + Nλ)
    a = np.array([2.0, -1.0, 0.5])
    c = np.array([0.1, 0.2, -0.3])
    y = np.array([1.0, 0.0, 1.0])
    w = np.array([1.0, 2.0, 0.5])
    lam = 0.3
    want = np.sum(w * a * (y - c)) / (np.sum(w * a * a) + 3 * lam)
    s = _solve(a, c, y, w, np.zeros(3, np.int64), 1, l2=lam, loss="mse")
    assert float(s.theta[0]) == pytest.approx(want, rel=1e-6)
    assert len(s.history) <= 3  # exact in one step, then a check


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), loss=st.sampled_from(["bce", "mse"]), l2=st.sampled_from([0.0, 1e-3, 0.1]),
       chunk=st.sampled_from([3, 1 << 22]))
def test_the_solution_is_the_optimum_note_by_note(seed, loss, l2, chunk):
    rng = np.random.default_rng(seed)
    m, n = 7, 60
    idx = np.r_[np.arange(m), rng.integers(0, m, n - m)]
    a = rng.normal(size=n) * 2
    c = rng.normal(size=n)
    y = (rng.random(n) < 0.3).astype(float)
    w = rng.uniform(0.1, 50, size=n)
    if l2 == 0.0 and loss == "bce":
        l2 = 1e-4  # unpenalised BCE can have no finite optimum (ratings a direction of θ fits all)
    s = _solve(a, c, y, w, idx, m, l2=l2, loss=loss, chunk=chunk)
    assert s.converged
    theta = s.theta.astype(np.float64)
    assert all(np.diff(s.history) <= 1e-12 * max(1.0, abs(s.history[0])))  # never uphill
    best = _objective(theta, a, c, y, w, idx, l2=l2, loss=loss)
    for k in range(m):
        for d in (1e-3, -1e-3):
            t = theta.copy()
            t[k] += d
            assert _objective(t, a, c, y, w, idx, l2=l2, loss=loss) >= best - 1e-12


@pytest.fixture(scope="module")
def planted_fit():
    ratings, factors, _ = _planted(seed=3)
    res = dg.fit_prescoring(ratings, factors, seed=7)
    kw = dict(rating_per_note_ratio=len(ratings) / 80, rating_per_user_ratio=len(ratings) / 50)
    return ratings, res, kw


def test_the_official_loop_run_long_reaches_the_newton_solution(planted_fit):
    ratings, res, kw = planted_fit
    base = dg.DiligenceConfig(official_float_note_id_lookup=False)
    slow = dataclasses.replace(base, learning_rate=0.01, num_epochs=6000, convergence=0.0)
    adam = dg.fit_final_detailed(ratings, res.note_params, res.rater_params, res.global_intercepts,
                                 config=slow, **kw)
    newton = dg.fit_final_detailed(ratings, res.note_params, res.rater_params, res.global_intercepts,
                                   config=dataclasses.replace(base, final_solver="newton"), **kw)
    for col in (dg.NOTE_INTERCEPT, dg.NOTE_FACTOR1):
        diff = np.abs(adam.note_params[col].to_numpy() - newton.note_params[col].to_numpy())
        assert diff.max() < ADAM_NEAR_OPTIMUM, (col, diff.max())
    assert newton.note_params["noteId"].equals(adam.note_params["noteId"])
    assert newton.rater_params.equals(adam.rater_params)  # frozen: the same inputs come out
    # and the official default loop (lr 0.2, its stopping rule) stops short of that optimum
    official = dg.fit_final_detailed(ratings, res.note_params, res.rater_params, res.global_intercepts,
                                     config=base, **kw)
    assert len(official.loss_histories[0]) < len(adam.loss_histories[0])


def test_newton_needs_one_dimension():
    with pytest.raises(ValueError, match="n_dim must be 1"):
        dg.DiligenceConfig(n_dim=2, final_solver="newton")
    with pytest.raises(ValueError, match="final_solver"):
        dg.DiligenceConfig(final_solver="lbfgs")
