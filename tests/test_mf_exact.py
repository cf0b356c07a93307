"""The exact solver (:mod:`cnlab.mf.exact`): its sparse-product block updates and its objective
bookkeeping against a plain reference (per-rating gathers and ``np.bincount``, the objective
evaluated over the ratings after every pass), and hand-built cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab.mf._common import Params, TrainData, objective, reg_coeffs
from cnlab.mf.config import CORE_MF, GROUP14_MF, MFConfig
from cnlab.mf.exact import solve_exact

from _mf_helpers import planted

#: The solver's and the reference's float64 sums differ only in summation order; their float32
#: parameters may differ in the last bit.
F32_ATOL = 1e-6
#: Objective values: float64 round-off of sums over ≤ a few hundred ratings (the solver's history is
#: an expanded quadratic form, the reference's a direct sum of squares).
OBJ_REL = 1e-10


def _reference(data: TrainData, p0: Params, trainable, cfg, passes: int):
    """Alternating block minimisation written out rating by rating: (k+1)×(k+1) normal equations
    from ``np.bincount`` of gathered terms; the objective over the ratings after each pass.  Returns
    the float64 iterate and the history."""
    c = reg_coeffs(cfg, data.N, data.M, data.U)
    N, k = data.N, cfg.n_factors
    w = np.ones(N) if data.w is None else data.w.astype(np.float64)
    y = data.y.astype(np.float64)
    ni, nf, ri, rf = (a.astype(np.float64) for a in (p0.ni, p0.nf, p0.ri, p0.rf))
    mu = float(p0.mu)
    g = 1.0 if cfg.use_global_intercept else 0.0
    n, u = data.n_idx, data.u_idx

    def rows(idx, nrows, other_fac, target, ci, cf, cd):
        a = np.column_stack([np.ones(N), other_fac[:, :]])  # regressors per rating
        A = np.zeros((nrows, k + 1, k + 1))
        b = np.zeros((nrows, k + 1))
        for p in range(k + 1):
            b[:, p] = np.bincount(idx, weights=w * a[:, p] * target, minlength=nrows)
            for q in range(k + 1):
                A[:, p, q] = np.bincount(idx, weights=w * a[:, p] * a[:, q], minlength=nrows)
        A[:, 0, 0] += N * ci
        A[:, 1:, 1:] += N * cf * np.eye(k)
        if cd:  # k = 1: minimise the 2-D problem with the |i f| term by brute force over candidates
            from cnlab.mf.exact import _diamond_2x2

            i, f = _diamond_2x2(A, b, N * cd)
            return i, f
        x = np.linalg.solve(A, b[..., None])[..., 0]
        return x[:, 0], x[:, 1:]

    def J():
        pred = ni[n] + ri[u] + np.sum(nf[n] * rf[u], axis=1) + g * mu
        return float(np.mean(w * (pred - y) ** 2) + c.c_nf * np.sum(nf**2) + c.c_ni * np.sum(ni**2)
                     + c.c_nd * np.sum(np.abs(nf * ni[:, None])) + c.c_uf * np.sum(rf**2)
                     + c.c_ui * np.sum(ri**2) + c.c_mu * mu**2)

    hist = [J()]
    for _ in range(passes):
        if trainable[0]:
            ni, nf = rows(n, data.M, rf[u], y - g * mu - ri[u], c.c_ni, c.c_nf, c.c_nd)
        if trainable[1]:
            ri, rf = rows(u, data.U, nf[n], y - g * mu - ni[n], c.c_ui, c.c_uf, 0.0)
        if trainable[2]:
            if g:
                z = y - ni[n] - ri[u] - np.sum(nf[n] * rf[u], axis=1)
                mu = float(np.sum(w * z) / (np.sum(w) + N * c.c_mu))
            elif c.c_mu > 0:
                mu = 0.0
        hist.append(J())
    return dict(ni=ni, nf=nf, ri=ri, rf=rf, mu=mu), np.array(hist)


def _problem(seed, k, n_notes, n_raters, n_ratings, weighted, dup, extra_raters):
    rng = np.random.default_rng(seed)
    n = rng.integers(0, n_notes, n_ratings)
    u = rng.integers(0, n_raters, n_ratings)
    n[:n_notes] = np.arange(n_notes)  # every note and rater index appears
    u[:n_raters] = np.arange(n_raters) if n_raters <= n_ratings else u[:n_raters]
    if dup:  # repeat some (note, rater) pairs with other labels
        m = n_ratings // 5
        n, u = np.concatenate([n, n[:m]]), np.concatenate([u, u[:m]])
    y = rng.choice([0.0, 0.5, 1.0], len(n)).astype(np.float32)
    w = rng.uniform(0.2, 2.0, len(n)).astype(np.float32) if weighted else None
    U = n_raters + extra_raters  # raters without ratings (pseudo-rater refits keep such rows)
    data = TrainData(np.arange(n_notes), np.arange(U), n.astype(np.int32), u.astype(np.int32), y, w)
    p0 = Params(rng.normal(0, 0.1, n_notes).astype(np.float32), rng.normal(0, 0.5, (n_notes, k)).astype(np.float32),
                rng.normal(0, 0.1, U).astype(np.float32), rng.normal(0, 0.5, (U, k)).astype(np.float32),
                np.float32(rng.normal(0, 0.1)))
    return data, p0


TRAINABLE = [(True, True, True), (True, True, False), (True, False, True), (False, True, True),
             (True, False, False), (False, True, False), (False, False, True)]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 3), n_notes=st.integers(2, 25), n_raters=st.integers(2, 25),
       n_ratings=st.integers(30, 200), weighted=st.booleans(), dup=st.booleans(), extra=st.integers(0, 2),
       trainable=st.sampled_from(TRAINABLE), variant=st.sampled_from(["core", "g14", "noglobal", "rho"]),
       tol=st.sampled_from([0.0, 1e-10, 1e-3]))
def test_matches_reference_pass_by_pass(seed, k, n_notes, n_raters, n_ratings, weighted, dup, extra, trainable,
                                        variant, tol):
    """Same iterates, objective history and stopping pass as the plain reference, for every
    trainable combination, weights, duplicated pairs, raters without ratings, k ≤ 3, the diamond term
    (k = 1), no global intercept, the ρ-scaled penalties and three tolerances (0: every value
    evaluated over the ratings)."""
    if variant == "g14":
        cfg = GROUP14_MF.replace(normalized_loss=None)
        k = 1
    elif variant == "noglobal":
        cfg = CORE_MF.replace(use_global_intercept=False, user_intercept_lambda=5.0)
    elif variant == "rho":
        cfg = CORE_MF.replace(rating_per_note_loss_ratio=3.0, rating_per_user_loss_ratio=2.0)
    else:
        cfg = CORE_MF
    cfg = cfg.replace(n_factors=k, exact_tol=tol, exact_max_passes=3, solver="exact")
    data, p0 = _problem(seed, k, n_notes, n_raters, n_ratings, weighted, dup, extra)
    out = solve_exact(data, p0, trainable, cfg)
    closed = trainable in ((True, False, False), (False, True, False))
    ref, hist = _reference(data, p0, trainable, cfg, out.n_steps)
    change = np.abs(np.diff(hist)) / np.abs(hist[1:])
    band = OBJ_REL  # a relative change this close to the tolerance is a round-off tie: either way
    if closed:
        assert (out.n_steps, out.stop_reason) == (1, "closed_form")
    elif out.stop_reason == "converged":  # where the reference's objective meets the rule too
        assert out.n_steps <= 3 and change[-1] <= tol + band and np.all(change[:-1] > tol - band)
    else:
        assert (out.n_steps, out.stop_reason) == (3, "max_passes") and np.all(change > tol - band)
    for key in ("ni", "nf", "ri", "rf"):
        np.testing.assert_allclose(getattr(out.params, key), ref[key].astype(np.float32), rtol=0, atol=F32_ATOL)
    assert float(out.params.mu) == pytest.approx(ref["mu"], abs=F32_ATOL)
    np.testing.assert_allclose(out.history, hist, rtol=OBJ_REL, atol=0)


def test_stops_where_the_reference_rule_stops():
    """Default tolerance on planted data: the same number of passes as the reference run with the
    same rule, the same final loss, and that loss is the float64 objective of the returned iterate."""
    df, _ = planted(n_notes=150, n_raters=200, n_ratings=5000, seed=3)
    from cnlab.mf._common import init_params, prepare

    data = prepare(df, "helpfulNum")
    p0 = init_params(data, 1, np.random.default_rng(0))
    cfg = CORE_MF.replace(solver="exact")
    out = solve_exact(data, p0, (True, True, True), cfg)
    assert out.stop_reason == "converged"
    assert out.n_direct == 2  # the first and the last value; the passes' values were tracked
    ref, hist = _reference(data, p0, (True, True, True), cfg, out.n_steps)
    rel = np.abs(np.diff(hist)) / np.abs(hist[1:])
    assert np.all(rel[:-1] > cfg.exact_tol) and rel[-1] <= cfg.exact_tol  # the reference stops here too
    np.testing.assert_allclose(out.history, hist, rtol=OBJ_REL, atol=0)
    # the last entry is evaluated over the ratings at the float64 iterate; the float32 copy is within
    # float32 rounding of it
    assert objective(data, out.params, cfg) == pytest.approx(out.history[-1], rel=1e-6)
    assert np.all(np.diff(out.history) <= 1e-12 * out.history[0])  # block-exact: never increases


def test_near_perfect_fit_is_judged_over_the_ratings():
    """Noise-free planted ratings and small penalties: the objective is ~1 % of Σ w y²/N, so the
    tracked value's round-off could reach the tolerance; those passes are evaluated over the ratings
    and the fit stops where the reference's rule stops."""
    from cnlab.mf._common import init_params, prepare

    df, _ = planted(n_notes=30, n_raters=40, n_ratings=900, seed=5, noise=0.0)
    data = prepare(df, "helpfulNum")
    p0 = init_params(data, 1, np.random.default_rng(1))
    lam = 5e-3
    cfg = CORE_MF.replace(solver="exact", note_factor_lambda=lam, note_intercept_lambda=lam, user_factor_lambda=lam,
                          user_intercept_lambda=lam, global_intercept_lambda=0.0)
    out = solve_exact(data, p0, (True, True, True), cfg)
    assert out.stop_reason == "converged"
    assert out.n_direct > out.n_steps // 2
    ref, hist = _reference(data, p0, (True, True, True), cfg, out.n_steps)
    rel = np.abs(np.diff(hist)) / np.abs(hist[1:])
    assert rel[-1] <= cfg.exact_tol and np.all(rel[:-1] > cfg.exact_tol)
    np.testing.assert_allclose(out.history, hist, rtol=OBJ_REL, atol=0)


def test_notes_only_closed_form_by_hand():
    """Two notes, three raters with factors 0: each note's intercept is the ridge mean
    Σ(y − μ − i_u) / (n_ratings + N·λ_i/M), its factor 0."""
    n = np.array([0, 0, 0, 1, 1], np.int32)
    u = np.array([0, 1, 2, 0, 2], np.int32)
    y = np.array([1.0, 1.0, 0.5, 0.0, 0.5], np.float32)
    data = TrainData(np.array([10, 11]), np.array([1, 2, 3]), n, u, y, None)
    ri = np.array([0.1, -0.2, 0.0], np.float32)
    p0 = Params(np.zeros(2, np.float32), np.full((2, 1), 0.3, np.float32), ri, np.zeros((3, 1), np.float32),
                np.float32(0.25))
    cfg = MFConfig(note_intercept_lambda=0.15, solver="exact")
    out = solve_exact(data, p0, (True, False, False), cfg)
    N, M = 5, 2
    ridge = N * 0.15 / M
    res = y - 0.25 - ri[u]
    want = [res[:3].sum() / (3 + ridge), res[3:].sum() / (2 + ridge)]
    np.testing.assert_allclose(out.params.ni, want, rtol=1e-6)
    np.testing.assert_array_equal(out.params.nf, 0.0)
    assert out.stop_reason == "closed_form" and out.n_steps == 1


def test_duplicated_rating_is_a_weight_of_two():
    """Every sum is linear in the per-rating terms: a rating listed twice fits exactly as that rating
    with weight 2 and its copy with weight 0 (the same N, so the same penalty scale)."""
    data, p0 = _problem(7, 1, 6, 8, 60, weighted=False, dup=False, extra_raters=0)
    n = np.concatenate([data.n_idx, data.n_idx[:1]])
    u = np.concatenate([data.u_idx, data.u_idx[:1]])
    y = np.concatenate([data.y, data.y[:1]])
    twice = TrainData(data.note_ids, data.rater_ids, n, u, y, None)
    w = np.ones(len(y), np.float32)
    w[0], w[-1] = 2.0, 0.0
    weighted = TrainData(data.note_ids, data.rater_ids, n, u, y, w)
    cfg = CORE_MF.replace(solver="exact", exact_tol=0.0, exact_max_passes=4)
    a = solve_exact(twice, p0, (True, True, True), cfg)
    b = solve_exact(weighted, p0, (True, True, True), cfg)
    for key in ("ni", "nf", "ri", "rf"):
        np.testing.assert_allclose(getattr(a.params, key), getattr(b.params, key), atol=F32_ATOL)
    np.testing.assert_allclose(a.history, b.history, rtol=OBJ_REL)
