"""Exact minimisation of the official MF objective (not in the official code; spec 01 §7 oracle).

Block-exact alternating minimisation in float64 NumPy:

* notes given raters and μ — for each note an independent (k+1)×(k+1) ridge system
  ``[Σw + N·c_ni , Σw f_uᵀ ; Σw f_u , Σw f_u f_uᵀ + N·c_nf·I] [i_n ; f_n] = [Σw y' ; Σw f_u y']``
  with ``y' = r − μ − i_u`` (spec 01 §7 gives the 2×2 form with c = λ·ρ/N or λ/M);
  all notes are solved in one vectorised pass (Cramer's rule for k = 1, else batched
  ``np.linalg.solve``);
* raters given notes and μ — the same with roles swapped;
* μ given both — ``μ = Σ w z / (Σ w + N λ_μ)``, ``z = r − i_u − i_n − f_u·f_n``.

Each block update is an exact minimiser, so the objective decreases monotonically; the loop stops
when the relative decrease is below ``config.exact_tol``.  When only notes are trainable the first
pass *is* the optimum (``stop_reason="closed_form"``).

Cost per pass.  Every sum above is linear in the per-rating weights, so the ratings are laid out
once per fit as two sparse matrices with the same pattern (note × rater, entries ``w`` and
``w·y``) and their transposes; a block update is then two sparse products with a few dense
columns of the other side's parameters (``W @ [f, f fᵀ, i, i f]`` and ``(W∘y) @ f``) instead of
gathers and ``np.bincount`` over all ratings.  The objective needed by the stopping rule is not
re-evaluated over the ratings either: after the last block of a pass it is the block's minimised
quadratic ``Σ (xᵀA x − 2bᵀx) + Σ w y'²`` (``Σ w y'²`` from per-row sums of ``w``, ``w y`` and
``w y²`` fixed per fit) plus the μ update's exact change.  The first and the last values of the
history are evaluated directly over the ratings, and so is any value whose round-off (a difference
of larger sums) could reach what the stopping rule compares: a near-perfect fit, tolerance 0.

Diamond term λ◇ ≠ 0 (group 14): for k = 1 each note's problem ``q(i,f) + D|i·f|`` is solved exactly
by enumerating the stationary points of the two sign regions and the two axes.  For k > 1 with
λ◇ ≠ 0, and for loss="bce", there is no closed form: ``NotImplementedError`` (use the official loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ._common import Params, TrainData, reg_coeffs


@dataclass
class ExactOutput:
    params: Params
    history: np.ndarray
    n_steps: int
    stop_reason: str
    n_restarts: int = 0
    n_direct: int = 0  # objective values evaluated over the ratings (the others: tracked)


@dataclass
class _Side:
    """One side of the rating graph (notes or raters): its ratings as rows of sparse matrices over
    the other side (only for a side that is trained), and its per-row sums of w and w·y (fixed for
    the fit)."""

    W: sparse.csr_matrix | None  # entries w
    WY: sparse.csr_matrix | None  # entries w·y, same pattern
    sw: np.ndarray
    swy: np.ndarray


def _layout(data: TrainData, w: np.ndarray, y: np.ndarray, notes: bool, raters: bool) -> tuple[_Side, _Side]:
    """Both sides of the fit's ratings (at least one trained), with matrices for the sides asked
    for.  Duplicated (note, rater) pairs simply add up: every sum the solver needs is linear in the
    per-rating terms."""
    M, U = data.M, data.U
    wy = w * y
    Wn = sparse.csr_matrix((w, (data.n_idx, data.u_idx)), shape=(M, U))
    WYn = sparse.csr_matrix((wy, (data.n_idx, data.u_idx)), shape=(M, U))
    Wu = WYu = None
    if raters:
        Wu, WYu = Wn.T.tocsr(), WYn.T.tocsr()
    if not notes:
        Wn = WYn = None

    def sums(idx, n):
        return np.bincount(idx, weights=w, minlength=n), np.bincount(idx, weights=wy, minlength=n)

    return _Side(Wn, WYn, *sums(data.n_idx, M)), _Side(Wu, WYu, *sums(data.u_idx, U))


@dataclass
class _Step:
    """Result of one block update: the new rows and what the objective needs from them."""

    inter: np.ndarray
    fac: np.ndarray
    quad: float  # Σ_rows xᵀA x − 2bᵀx (+ the diamond term): data + this side's penalty, less Σ w y'²
    mag: float  # Σ_rows |xᵀA x| + 2|bᵀx|: the size of the terms ``quad`` is a difference of
    resid: float  # Σ w (y' − i − a·f): the weighted residual sum, for the μ update


def _block(side: _Side, other: _Side, o_int, o_fac, shift, c_int, c_fac, N, c_diam=0.0) -> _Step:
    """Minimise Σ_r w (y' − i − a·f)² + N c_int i² + N c_fac |f|² (+ N c_diam Σ|f_j i|) for every
    row of ``side`` at once, with ``y' = y − shift − o_int`` and ``a = o_fac`` of the rated row of
    the other side."""
    k = o_fac.shape[1]
    K = k + 1
    n = side.sw.shape[0]
    pairs = [(p, q) for p in range(k) for q in range(p, k)]
    # columns: a_j, a_p a_q (p ≤ q), o_int, o_int a_j — one sparse product gives every Σ w (·)
    X = np.empty((o_fac.shape[0], k + len(pairs) + 1 + k))
    X[:, :k] = o_fac
    for j, (p, q) in enumerate(pairs):
        X[:, k + j] = o_fac[:, p] * o_fac[:, q]
    X[:, k + len(pairs)] = o_int
    X[:, k + len(pairs) + 1:] = o_int[:, None] * o_fac
    S = side.W @ X
    Sy = side.WY @ o_fac
    sa = S[:, :k]
    A = np.empty((n, K, K))
    A[:, 0, 0] = side.sw + N * c_int
    A[:, 0, 1:] = sa
    A[:, 1:, 0] = sa
    for j, (p, q) in enumerate(pairs):
        A[:, 1 + p, 1 + q] = S[:, k + j]
        A[:, 1 + q, 1 + p] = S[:, k + j]
    for j in range(1, K):
        A[:, j, j] += N * c_fac
    b = np.empty((n, K))
    b[:, 0] = side.swy - shift * side.sw - S[:, k + len(pairs)]
    b[:, 1:] = Sy - shift * sa - S[:, k + len(pairs) + 1:]
    if c_diam and c_diam > 0:
        if k != 1:
            raise NotImplementedError("exact solver: diamond term with n_factors > 1 has no closed form")
        i, f = _diamond_2x2(A, b, N * c_diam)
        x = np.column_stack([i, f])
    else:
        x = _solve(A, b)
    Ax = np.einsum("nij,nj->ni", A, x)
    xAx, bx = np.sum(x * Ax, axis=1), np.sum(b * x, axis=1)
    quad = float(np.sum(xAx) - 2.0 * np.sum(bx))
    mag = float(np.sum(np.abs(xAx)) + 2.0 * np.sum(np.abs(bx)))
    if c_diam and c_diam > 0:
        quad += N * c_diam * float(np.sum(np.abs(x[:, 0] * x[:, 1])))
    resid = float(np.sum(b[:, 0] - Ax[:, 0] + N * c_int * x[:, 0]))
    return _Step(x[:, 0], x[:, 1:], quad, mag, resid)


def _sq_targets(other: _Side, o_int, shift, swyy: float) -> float:
    """Σ_r w y'² with y' = y − shift − o_int, from the other side's per-row sums and Σ w y²."""
    m = shift + o_int
    return float(swyy - 2.0 * np.sum(m * other.swy) + np.sum(m * m * other.sw))


def _solve(A, b):
    if A.shape[1] == 2:  # one factor: Cramer's rule, where every system is positive definite
        a, c, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
        det = a * d - c * c
        if np.all(det > 0) and np.all(a > 0):
            return np.column_stack([(d * b[:, 0] - c * b[:, 1]) / det, (a * b[:, 1] - c * b[:, 0]) / det])
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
    w = None if data.w is None else data.w.astype(np.float64)
    y = data.y.astype(np.float64)
    ni, nf = p0.ni.astype(np.float64), p0.nf.astype(np.float64)
    ri, rf = p0.ri.astype(np.float64), p0.rf.astype(np.float64)
    mu = float(p0.mu)
    g = 1.0 if cfg.use_global_intercept else 0.0
    n_idx, u_idx = data.n_idx, data.u_idx

    def cur():
        return Params(ni.astype(np.float32), nf.astype(np.float32), ri.astype(np.float32),
                      rf.astype(np.float32), np.float32(mu))

    def reg_notes():
        return c.c_nf * np.sum(nf**2) + c.c_ni * np.sum(ni**2) + c.c_nd * np.sum(np.abs(nf * ni[:, None]))

    def reg_raters():
        return c.c_uf * np.sum(rf**2) + c.c_ui * np.sum(ri**2)

    def residual():
        """r̂ − y per rating at the float64 iterate (μ included iff the model uses it)."""
        e = ni[n_idx] + ri[u_idx]
        for j in range(nf.shape[1]):  # column gathers: no (N, k) temporaries
            e += nf[:, j][n_idx] * rf[:, j][u_idx]
        e += g * mu - y
        return e

    def J():
        """float64 objective of the float64 iterate over the ratings (same formula as
        ``_common.objective``)."""
        e = residual()
        e *= e
        if w is not None:
            e *= w
        return float(np.mean(e) + reg_notes() + reg_raters() + c.c_mu * mu**2)

    hist = [J()]
    n_direct = 1
    only_notes = train_notes and not train_raters and not train_global
    only_raters = train_raters and not train_notes and not train_global
    stop = "max_passes"
    n_pass = 0
    if not any(trainable):
        return ExactOutput(cur(), np.array(hist), 0, "nothing_trainable", n_direct=1)
    w1 = np.ones(N) if w is None else w  # the weights, 1 when none
    sw_all = float(np.sum(w1))
    if train_notes or train_raters:
        notes, raters = _layout(data, w1, y, train_notes, train_raters)
        swyy = float(np.sum(w1 * y * y))  # (not np.dot: a BLAS call, threaded, slow on a busy machine)
    for n_pass in range(1, cfg.exact_max_passes + 1):
        last = None  # the block update whose quadratic gives this pass's objective
        if train_notes:
            st = _block(notes, raters, ri, rf, g * mu, c.c_ni, c.c_nf, N, c.c_nd)
            ni, nf = st.inter, st.fac
            last = (st, _sq_targets(raters, ri, g * mu, swyy), "notes")
        if train_raters:
            st = _block(raters, notes, ni, nf, g * mu, c.c_ui, c.c_uf, N)
            ri, rf = st.inter, st.fac
            last = (st, _sq_targets(notes, ni, g * mu, swyy), "raters")
        mu_old = mu
        if train_global:
            if cfg.use_global_intercept:
                if last is not None:  # Σ w z = Σ w (y − i_u − i_n − f_u·f_n) from the last block
                    sz = last[0].resid + mu_old * sw_all
                else:  # only μ is trained: Σ w z = Σ w (g μ − residual)
                    e = residual()
                    sz = mu_old * sw_all - float(np.sum(e if w is None else w * e))
                den = sw_all + N * c.c_mu
                mu = sz / den if den > 0 else mu
            else:
                mu = 0.0 if c.c_mu > 0 else mu
        now = None
        if last is not None:
            st, sq, which = last
            d = g * (mu - mu_old)
            tot = st.quad + sq - 2.0 * d * st.resid + d * d * sw_all  # N·(data) + N·(this side's penalty)
            other = reg_raters() if which == "notes" else reg_notes()
            now = float(tot / N + other + c.c_mu * mu**2)
            # ``tot`` is a difference of sums of size ``scale``: trust it only where its round-off
            # (≲ 1e-14·scale, a wide margin over float64's) is far below what the stopping rule
            # compares — otherwise (a near-perfect fit, or tolerance 0) evaluate over the ratings
            scale = (abs(sq) + st.mag + abs(2.0 * d * st.resid) + d * d * sw_all) / N
            if 1e-14 * scale > 0.01 * cfg.exact_tol * abs(now):
                now = None
        tracked = now is not None
        if not tracked:
            now = J()
            n_direct += 1
        hist.append(now)
        if only_notes or only_raters:
            stop = "closed_form"
            break
        prev, now = hist[-2], hist[-1]
        if abs(prev - now) <= cfg.exact_tol * max(abs(now), 1e-300):
            stop = "converged"
            break
    if n_pass and tracked:
        hist[-1] = J()  # the reported final loss over the ratings (the tracked value: same to round-off)
        n_direct += 1
    return ExactOutput(cur(), np.asarray(hist), n_pass, stop, n_direct=n_direct)
