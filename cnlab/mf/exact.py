"""Exact minimisation of the official MF objective (not in the official code; spec 01 §7 oracle).

Block-exact alternating minimisation in float64 NumPy:

* notes given raters and μ — for each note an independent (k+1)×(k+1) ridge system
  ``[Σw + N·c_ni , Σw f_uᵀ ; Σw f_u , Σw f_u f_uᵀ + N·c_nf·I] [i_n ; f_n] = [Σw y' ; Σw f_u y']``
  with ``y' = r − μ − i_u`` (spec 01 §7 gives the 2×2 form with c = λ·ρ/N or λ/M);
  all notes are solved in one vectorised pass (``np.bincount`` + batched ``np.linalg.solve``);
* raters given notes and μ — the same with roles swapped;
* μ given both — ``μ = Σ w z / (Σ w + N λ_μ)``, ``z = r − i_u − i_n − f_u·f_n``.

Each block update is an exact minimiser, so the objective decreases monotonically; the loop stops
when the relative decrease is below ``config.exact_tol``.  When only notes are trainable the first
pass *is* the optimum (``stop_reason="closed_form"``).

Diamond term λ◇ ≠ 0 (group 14): for k = 1 each note's problem ``q(i,f) + D|i·f|`` is solved exactly
by enumerating the stationary points of the two sign regions and the two axes.  For k > 1 with
λ◇ ≠ 0, and for loss="bce", there is no closed form: ``NotImplementedError`` (use the official loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import Params, TrainData, reg_coeffs


@dataclass
class ExactOutput:
    params: Params
    history: np.ndarray
    n_steps: int
    stop_reason: str
    n_restarts: int = 0


def _block_solve(idx, n_rows, w, a_other, y_res, c_int, c_fac, N, c_diam=0.0):
    """Minimise Σ_r w (y_res − i − a_other·f)² + N c_int i² + N c_fac |f|² (+ N c_diam Σ|f_j i|)
    for every row (note or rater) at once.  Returns (intercepts, factors) in float64."""
    k = a_other.shape[1]
    K = k + 1
    A = np.zeros((n_rows, K, K))
    b = np.zeros((n_rows, K))
    cols = [None] + [a_other[:, j] for j in range(k)]
    for p in range(K):
        xp = w if p == 0 else w * cols[p]
        b[:, p] = np.bincount(idx, weights=xp * y_res, minlength=n_rows)
        for q in range(p, K):
            val = np.bincount(idx, weights=xp if q == 0 else xp * cols[q], minlength=n_rows)
            A[:, p, q] = val
            A[:, q, p] = val
    A[:, 0, 0] += N * c_int
    for j in range(1, K):
        A[:, j, j] += N * c_fac
    if c_diam and c_diam > 0:
        if k != 1:
            raise NotImplementedError("exact solver: diamond term with n_factors > 1 has no closed form")
        return _diamond_2x2(A, b, N * c_diam)
    x = _solve(A, b)
    return x[:, 0], x[:, 1:]


def _solve(A, b):
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:  # singular rows (e.g. no ratings and zero penalty): minimum-norm
        return np.einsum("nij,nj->ni", np.linalg.pinv(A), b)


def _diamond_2x2(A, b, D):
    """min_x xᵀA x − 2 bᵀx + D|x0 x1| per row (x = [i, f]); A includes the ridge terms."""
    a11, a12, a22 = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
    b1, b2 = b[:, 0], b[:, 1]

    def obj(i, f):
        return a11 * i * i + 2 * a12 * i * f + a22 * f * f - 2 * b1 * i - 2 * b2 * f + D * np.abs(i * f)

    with np.errstate(divide="ignore", invalid="ignore"):
        cands = [
            (np.where(a11 > 0, b1 / a11, 0.0), np.zeros_like(b1)),  # f = 0 axis
            (np.zeros_like(b1), np.where(a22 > 0, b2 / a22, 0.0)),  # i = 0 axis
        ]
        best_i, best_f = cands[0]
        best = obj(best_i, best_f)
        i0, f0 = cands[1]
        o = obj(i0, f0)
        better = o < best
        best_i, best_f, best = np.where(better, i0, best_i), np.where(better, f0, best_f), np.where(better, o, best)
        for sgn in (1.0, -1.0):
            c12 = a12 + sgn * D / 2.0
            det = a11 * a22 - c12 * c12
            ok = (det > 0) & (a11 > 0)
            i = np.where(ok, (a22 * b1 - c12 * b2) / np.where(ok, det, 1.0), 0.0)
            f = np.where(ok, (a11 * b2 - c12 * b1) / np.where(ok, det, 1.0), 0.0)
            ok &= sgn * i * f >= 0
            o = np.where(ok, obj(i, f), np.inf)
            better = o < best
            best_i, best_f, best = np.where(better, i, best_i), np.where(better, f, best_f), np.where(better, o, best)
    return best_i, best_f[:, None]


def solve_exact(data: TrainData, p0: Params, trainable, cfg) -> ExactOutput:
    """Alternating exact block minimisation from ``p0`` (see module docstring)."""
    if cfg.loss != "mse":
        raise NotImplementedError("exact solver supports loss='mse' only (use solver='official' for bce)")
    if cfg.diamond_lambda and cfg.n_factors > 1:
        raise NotImplementedError("exact solver: diamond term needs n_factors == 1 (use solver='official')")
    train_notes, train_raters, train_global = trainable
    c = reg_coeffs(cfg, data.N, data.M, data.U)
    N = data.N
    w = np.ones(N) if data.w is None else data.w.astype(np.float64)
    y = data.y.astype(np.float64)
    ni, nf = p0.ni.astype(np.float64), p0.nf.astype(np.float64)
    ri, rf = p0.ri.astype(np.float64), p0.rf.astype(np.float64)
    mu = float(p0.mu)
    g = 1.0 if cfg.use_global_intercept else 0.0
    n_idx, u_idx = data.n_idx, data.u_idx

    def cur():
        return Params(ni.astype(np.float32), nf.astype(np.float32), ri.astype(np.float32),
                      rf.astype(np.float32), np.float32(mu))

    def J():
        """float64 objective of the float64 iterate (same formula as ``_common.objective``)."""
        pr = Params(ni, nf, ri, rf, mu)
        pred = pr.ni[n_idx] + pr.ri[u_idx] + np.einsum("ij,ij->i", pr.nf[n_idx], pr.rf[u_idx]) + g * pr.mu
        return float(
            np.mean(w * (pred - y) ** 2)
            + c.c_nf * np.sum(pr.nf**2) + c.c_ni * np.sum(pr.ni**2)
            + c.c_nd * np.sum(np.abs(pr.nf * pr.ni[:, None]))
            + c.c_uf * np.sum(pr.rf**2) + c.c_ui * np.sum(pr.ri**2) + c.c_mu * pr.mu**2
        )

    hist = [J()]
    only_notes = train_notes and not train_raters and not train_global
    only_raters = train_raters and not train_notes and not train_global
    stop = "max_passes"
    n_pass = 0
    if not any(trainable):
        return ExactOutput(cur(), np.array(hist), 0, "nothing_trainable")
    for n_pass in range(1, cfg.exact_max_passes + 1):
        if train_notes:
            yres = y - g * mu - ri[u_idx]
            ni, nf = _block_solve(n_idx, data.M, w, rf[u_idx], yres, c.c_ni, c.c_nf, N, c.c_nd)
        if train_raters:
            yres = y - g * mu - ni[n_idx]
            ri, rf = _block_solve(u_idx, data.U, w, nf[n_idx], yres, c.c_ui, c.c_uf, N)
        if train_global:
            if cfg.use_global_intercept:
                z = y - ri[u_idx] - ni[n_idx] - np.einsum("ij,ij->i", nf[n_idx], rf[u_idx])
                mu = float(np.sum(w * z) / (np.sum(w) + N * c.c_mu)) if (np.sum(w) + N * c.c_mu) > 0 else mu
            else:
                mu = 0.0 if c.c_mu > 0 else mu
        hist.append(J())
        if only_notes or only_raters:
            stop = "closed_form"
            break
        prev, now = hist[-2], hist[-1]
        if abs(prev - now) <= cfg.exact_tol * max(abs(now), 1e-300):
            stop = "converged"
            break
    return ExactOutput(cur(), np.asarray(hist), n_pass, stop)
