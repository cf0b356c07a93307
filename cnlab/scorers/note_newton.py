"""One parameter a note, everything else fixed: the exact minimiser of a reputation-MF phase.

The final-scoring phases of the low-diligence model (spec 06 §D.6) train one block of note
parameters (phase A the note embeddings, phase B the note biases) with the raters' parameters
and the global bias frozen. The prediction of a rating is then linear in its note's parameter,

.. math:: z_r = a_r\\,\\theta_{n(r)} + c_r ,

and the phase objective (the weighted loss of §D.2 plus the note block's L2 penalty of §D.3)

.. math:: L(\\theta) = \\frac{1}{N}\\sum_r w_r\\,\\ell(z_r, y_r) + \\lambda \\sum_n \\theta_n^2

is a sum of independent one-dimensional convex problems, one per note. The official loop
(full-batch Adam, lr 0.2, until the *total* loss moves by less than 10⁻⁵ in five epochs) takes
tens to hundreds of passes over every rating and stops wherever that rule fires;
:func:`solve_note_block` takes damped Newton steps per note, each a pass over the ratings, and
stops at the optimum (``fidelity="fast"``; the official loop stays the default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

__all__ = ["NEWTON_MAX_ITER", "NEWTON_TOL", "NoteBlockSolution", "solve_note_block"]

#: Stop when no note's Newton step is larger than this (float32 resolution of values near 1:
#: the parameters are stored as float32).
NEWTON_TOL = 1e-7
#: Passes over the ratings at most (a safeguard: the per-note problems converge quadratically,
#: in well under 20 passes on every data set measured).
NEWTON_MAX_ITER = 100
#: Ratings evaluated at a time (bounds the float64 temporaries to ~10 arrays of this length).
CHUNK = 1 << 22


@dataclass(frozen=True)
class NoteBlockSolution:
    """What :func:`solve_note_block` returns."""

    theta: np.ndarray
    """The minimiser, one value a note (float32, as the parameters are stored)."""
    history: tuple[float, ...]
    """The objective :math:`L` at the start and after each pass (accepted steps)."""
    converged: bool
    """Whether every note's last step was below ``tol`` within ``max_iter`` passes."""


def _loss_terms(z: np.ndarray, y: np.ndarray, loss: str):
    """Per-rating loss ℓ, its first and second derivative in z."""
    if loss == "mse":
        r = z - y
        return r * r, 2.0 * r, np.full_like(z, 2.0)
    # BCE with logits: ℓ = softplus(z) − y z, written to stay finite for large |z|
    p = expit(z)
    ell = np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))
    return ell, p - y, p * (1.0 - p)


def solve_note_block(
    parts: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    targets: np.ndarray,
    weights: np.ndarray,
    note_idx: np.ndarray,
    theta0: np.ndarray,
    *,
    l2: float,
    loss: str = "bce",
    tol: float = NEWTON_TOL,
    max_iter: int = NEWTON_MAX_ITER,
    chunk: int = CHUNK,
) -> NoteBlockSolution:
    """Minimise :math:`L(\\theta)` of the module docstring, one θ a note.

    Parameters
    ----------
    parts
        ``parts(lo, hi)`` → ``(a, c)`` of ratings ``lo:hi`` (the coefficient of the note's
        parameter and the rest of the prediction), so that no rating-length array of them is held.
    targets, weights, note_idx
        Per rating: ``y``, ``w`` and the note index into ``theta0``.
    theta0
        Starting values (the official phase's initial values).
    l2
        λ of the note block's penalty (the :class:`~cnlab.scorers.diligence.Regularization`
        multiplier over the mean or the simulated count already folded in).
    loss
        ``"bce"`` (logits) or ``"mse"``.

    Each pass evaluates the objective, gradient and curvature of every note; a note whose
    objective did not decrease since its last accepted point goes back half its step (so every
    accepted point lowers its note's term), the others take the Newton step ``-g/h``.

    Examples
    --------
    Two ratings of one note, MSE, no penalty: the optimum is their mean.

    >>> import numpy as np
    >>> a, c = np.ones(2), np.zeros(2)
    >>> s = solve_note_block(lambda lo, hi: (a[lo:hi], c[lo:hi]), np.array([0.0, 1.0]), np.ones(2),
    ...                      np.zeros(2, np.int64), np.zeros(1), l2=0.0, loss="mse")
    >>> float(s.theta[0]), s.converged
    (0.5, True)
    """
    if loss not in ("bce", "mse"):
        raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
    m = len(theta0)
    n = len(targets)
    theta = np.asarray(theta0, dtype=np.float64).copy()
    best = theta.copy()
    best_f = np.full(m, np.inf)
    step = np.zeros(m)
    history: list[float] = []
    converged = False
    for _ in range(max_iter + 1):
        f = np.zeros(m)
        g = np.zeros(m)
        h = np.zeros(m)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            a, c = parts(lo, hi)
            a = np.asarray(a, dtype=np.float64)
            idx = note_idx[lo:hi]
            z = a * theta[idx] + c
            ell, d1, d2 = _loss_terms(z, np.asarray(targets[lo:hi], dtype=np.float64), loss)
            w = np.asarray(weights[lo:hi], dtype=np.float64)
            f += np.bincount(idx, weights=w * ell, minlength=m)
            g += np.bincount(idx, weights=w * a * d1, minlength=m)
            h += np.bincount(idx, weights=w * a * a * d2, minlength=m)
            del a, c, z, ell, d1, d2, w
        f = f / n + l2 * theta * theta
        g = g / n + 2.0 * l2 * theta
        h = h / n + 2.0 * l2
        worse = f > best_f
        ok = ~worse
        best[ok], best_f[ok] = theta[ok], f[ok]
        history.append(float(best_f.sum()))
        # a note that got worse retreats half its step from its best point; the others step on
        step[worse] *= 0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = np.where(h > 0, -g / h, 0.0)
        step[ok] = newton[ok]
        if not np.all(np.isfinite(step)):
            raise FloatingPointError("note block: a Newton step is not finite")
        if np.abs(step).max(initial=0.0) <= tol:
            converged = True
            break
        theta = best + step
    return NoteBlockSolution(best.astype(np.float32), tuple(history), converged)
