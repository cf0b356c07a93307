"""L1-regularised logistic regression on a working set of columns (the pflip model's classifier,
spec 06 §A.8).

The pflip design matrix is wide and the penalty strong: at 1M ratings 2,098 training rows by
585,442 columns (11.5M non-zeros), of which 24 columns end with a non-zero coefficient. liblinear
(scikit-learn's ``solver="liblinear"``, the official solver) copies the whole matrix twice, by
rows and by columns (32 bytes a non-zero beside the matrix), and refuses matrices with more than
2³¹ non-zeros. :class:`L1Logistic` minimises the same objective,

.. math::

    \\min_{w, b}\\; \\lVert w \\rVert_1 + |b| + C \\sum_i \\log\\bigl(1 + e^{-y_i (x_i \\cdot w + b)}\\bigr),
    \\qquad y_i \\in \\{-1, +1\\}

(liblinear's, with the intercept a penalised column of ones), on a working set of columns grown
until the whole matrix satisfies the optimality conditions; each set is solved by liblinear from
zero or by a warm-started proximal Newton method (:func:`newton_subproblem`, ``inner_solver``). A
column ``j`` outside the set, whose coefficient is zero, is optimal when its gradient

.. math::

    g_j = C \\sum_i \\bigl(\\sigma(y_i m_i) - 1\\bigr)\\, y_i\\, x_{ij}, \\qquad m_i = x_i \\cdot w + b,

satisfies :math:`|g_j| \\le 1`. The fit stops, as liblinear does on the whole matrix, when the
summed violation :math:`\\sum_j \\max(|g_j| - 1, 0)` of the columns outside the set is at most
``tol`` times its value at :math:`w = 0` (over every column). The gradient is computed in row
blocks of the caller's matrix (float32 stays float32, only a block is widened), so the fit needs
the matrix plus a few working-set-sized copies.

The optimum's decision values are unique (the loss is strictly convex in the margins); liblinear's
stopping rule leaves them ~0.04 from it at the official ``tol`` 1e-4 on the 1M-rating fit, while
the working set, run with ``tol`` 1e-6, reaches it within 1e-4 in a sixteenth of the time.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> rng = np.random.default_rng(0)
>>> x = sp.random(200, 2000, density=0.01, format="csr", random_state=1, dtype=np.float32)
>>> x.data[:] = 1.0
>>> y = (np.asarray(x[:, :5].sum(axis=1)).ravel() + rng.normal(0, 0.3, 200) > 0.2).astype(int)
>>> model = L1Logistic(C=1.0, solver="working_set", initial_size=16, random_state=0).fit(x, y)
>>> model.solver_, model.converged_
('working_set', True)
>>> bool(model.violation(x, y).sum() <= model.working_set_tol * model.initial_violation_)
True
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, Literal, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator

from cnlab._arrays import unique

__all__ = ["L1Logistic", "NewtonResult", "blocked_dot", "l1_gradient", "newton_subproblem",
           "transposed_dot"]

log = logging.getLogger(__name__)

#: Non-zeros per row block when the gradient widens the matrix to float64 (128 MiB of values).
GRADIENT_BLOCK_NONZEROS = 1 << 24
#: The same for a float32 working set's products in the Newton steps (32 MiB of values): below
#: the set's own size, so that the widened block does not outweigh what float32 saves on it.
SET_BLOCK_NONZEROS = 1 << 22


def _major_blocks(x, block_nonzeros: int):
    """Views of ``x`` (CSR: rows, CSC: columns) as consecutive runs of about ``block_nonzeros``
    non-zeros each, with the run's first and last index (no copy of the values or indices)."""
    indptr = x.indptr
    n = x.shape[0] if x.format == "csr" else x.shape[1]
    start = 0
    while start < n:
        stop = int(np.searchsorted(indptr, indptr[start] + block_nonzeros, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        a, b = int(indptr[start]), int(indptr[stop])
        shape = (stop - start, x.shape[1]) if x.format == "csr" else (x.shape[0], stop - start)
        yield start, stop, type(x)((x.data[a:b], x.indices[a:b], indptr[start:stop + 1] - a),
                                   shape=shape, copy=False)
        start = stop


def _sparse(x):
    """``x`` as CSR or CSC (kept as it is when it is one of them)."""
    import scipy.sparse as sp

    if _implicit(x):
        return x
    if not sp.issparse(x):
        return sp.csr_matrix(x)
    return x if x.format in ("csr", "csc") else x.tocsr()


def _implicit(x) -> bool:
    """A design that computes its products itself (:class:`cnlab.models.pflip_design.DesignMatrix`:
    crossed blocks never materialised)."""
    return hasattr(x, "rmatvec") and hasattr(x, "margins")


def _margins(x, coef: np.ndarray, intercept: float) -> np.ndarray:
    """``x @ coef + intercept`` from the non-zero coefficients' columns only (the same sums: the
    other terms are exact zeros)."""
    if _implicit(x):
        return x.margins(coef, intercept)
    support = np.flatnonzero(coef)
    if support.size == 0:
        return np.full(x.shape[0], intercept, dtype=np.float64)
    return np.asarray(x[:, support] @ coef[support].astype(np.float64)).ravel() + intercept


def l1_gradient(x, y: np.ndarray, coef: np.ndarray, intercept: float, C: float, *,
                intercept_scaling: float = 1.0, block_nonzeros: int = GRADIENT_BLOCK_NONZEROS,
                margins: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Gradient of the loss term of :class:`L1Logistic`'s objective at ``(coef, intercept)``.

    .. math::

        g = C\\, X^\\top r, \\qquad r_i = \\bigl(\\sigma(y_i m_i) - 1\\bigr) y_i,
        \\qquad g_b = C s \\sum_i r_i

    with ``y`` in {0, 1} (mapped to ±1), ``m = x @ coef + intercept`` and ``s`` the intercept
    scaling (liblinear's bias column value). Returns ``(g, g_b)``; ``x`` is read in row blocks.
    ``margins``, when given, are ``m`` (already known to the caller: not computed again).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> x = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> g, gb = l1_gradient(x, np.array([1, 0]), np.zeros(2), 0.0, C=1.0)
    >>> g.tolist(), gb          # r = (-1/2, +1/2) at w = 0
    ([-0.5, 1.0], 0.0)
    """
    from scipy.special import expit

    s = np.where(np.asarray(y) == 1, 1.0, -1.0)
    m = _margins(x, coef, intercept) if margins is None else margins
    r = (expit(s * m) - 1.0) * s
    g = x.rmatvec(r) if _implicit(x) else transposed_dot(x, r, block_nonzeros=block_nonzeros)
    return C * g, float(C * intercept_scaling * r.sum())


def transposed_dot(x, r: np.ndarray, *, block_nonzeros: int = GRADIENT_BLOCK_NONZEROS) -> np.ndarray:
    """``x^T r`` (float64) for a CSR or CSC ``x`` of any float dtype, its values widened one block
    of about ``block_nonzeros`` non-zeros at a time (a whole float64 copy otherwise)."""
    g = np.zeros(x.shape[1], dtype=np.float64)
    for a, b, block in _major_blocks(x, block_nonzeros):
        if x.format == "csc":
            g[a:b] = block.T @ r
        else:
            g += block.T @ r[a:b]
    return g


def blocked_dot(x, v: np.ndarray, *, block_nonzeros: int = GRADIENT_BLOCK_NONZEROS) -> np.ndarray:
    """``x @ v`` (float64) for a CSR or CSC ``x`` of any float dtype, widened one block of about
    ``block_nonzeros`` non-zeros at a time: scipy multiplies a float32 matrix by a float64 vector
    through a whole float64 copy of its values.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> x = sp.csc_matrix(np.array([[1.0, 0.0], [2.0, 3.0]], dtype=np.float32))
    >>> blocked_dot(x, np.array([1.0, 0.5]), block_nonzeros=1).tolist()
    [1.0, 3.5]
    """
    v = np.asarray(v, dtype=np.float64)
    if x.dtype == np.float64:
        return np.asarray(x @ v).ravel()
    out = np.zeros(x.shape[0], dtype=np.float64)
    for a, b, block in _major_blocks(x, block_nonzeros):
        if x.format == "csc":
            out += block @ v[a:b]
        else:
            out[a:b] = block @ v
    return out


def _subgradient_violation(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per coordinate, the distance of 0 from the subdifferential of ``|w| + loss`` (``g`` the
    loss gradient): ``|g + sign(w)|`` where ``w != 0``, ``max(|g| - 1, 0)`` where ``w = 0``."""
    return np.where(w > 0, np.abs(g + 1.0), np.where(w < 0, np.abs(g - 1.0), np.maximum(np.abs(g) - 1.0, 0.0)))


#: Coordinate-descent sweeps given the first quadratic model of a sub-problem (inexact Newton),
#: in every working-set round. A round's first model, on the columns it has just added, seldom
#: removes three quarters of the violation, so a budget carried from round to round tripled once a
#: round and every later model ran 2,000 sweeps: on the 10M-rating pflip design with 8 × C
#: (13,723 columns at the end) the fit took 526 s against 56 s starting each round here.
QP_SWEEPS_START = 10
#: Most sweeps a quadratic model gets; the count triples after each Newton step that removes
#: less than three quarters of the violation.
QP_SWEEPS_MAX = 2000
#: Coordinate order of the sweeps (scikit-learn's ``selection``, seeded: deterministic). On the
#: pflip design's correlated dense columns a random order converges in fewer sweeps than the
#: cyclic one (a quarter of the 206M-rating posts: 150 s against 234 s for the whole fit).
QP_SELECTION = "random"
#: Columns added to a Newton round's set: the worst violators outside it, this many per non-zero
#: coefficient (at least ``initial_size``).
ADD_PER_NONZERO = 1.0
#: Smallest curvature weight ``C p (1 - p)`` of a row in the quadratic model (its working
#: response divides by it).
MIN_CURVATURE = 1e-12
#: Armijo constant and step shrink of the line search (liblinear's σ and β for this solver).
ARMIJO_SIGMA, ARMIJO_BETA = 0.01, 0.5


class NewtonResult(NamedTuple):
    """What :func:`newton_subproblem` returns."""

    coef: np.ndarray
    #: ``xs @ coef``
    margins: np.ndarray
    steps: int
    #: summed subgradient violation at ``coef``
    violation: float
    #: coordinate-descent sweeps and duality-gap tolerance the last quadratic model was given
    sweeps: int
    gap_tol: float


#: Passes of :func:`_coordinate_sweeps` when scikit-learn's solver takes no step.
EXACT_SWEEPS = 3


def _coordinate_sweeps(xs, d: np.ndarray, dm: np.ndarray, w: np.ndarray, g: np.ndarray,
                       passes: int = EXACT_SWEEPS) -> np.ndarray:
    r"""Cyclic exact coordinate updates of the quadratic model of :func:`newton_subproblem`,

    .. math::

        w_j \leftarrow \operatorname{soft}\Bigl(w_j - \frac{\rho \cdot x_j}{a_j},\,
        \frac{1}{a_j}\Bigr), \qquad a_j = \sum_i D_i x_{ij}^2,
        \qquad \rho = D \odot (X w - z) \;(= \text{dm at the start}),

    over the coordinates that are non-zero or violate the optimality conditions at ``w``
    (``g`` the loss gradient there); returns the new coefficients. Python-speed: only for the
    last, tiny steps, where scikit-learn's duality gap no longer resolves a step."""
    w = w.copy()
    rho = dm.copy()
    cand = np.flatnonzero((w != 0) | (_subgradient_violation(g, w) > 0))
    indptr, indices, data = xs.indptr, xs.indices, xs.data
    for _ in range(passes):
        for j in cand:
            rows, vals = indices[indptr[j]:indptr[j + 1]], data[indptr[j]:indptr[j + 1]]
            a = float(d[rows] @ (vals * vals))
            if a <= 0.0:
                continue
            u = w[j] - float(rho[rows] @ vals) / a
            new = np.sign(u) * max(abs(u) - 1.0 / a, 0.0)
            if new != w[j]:
                rho[rows] += d[rows] * vals * (new - w[j])
                w[j] = new
    return w


def newton_subproblem(xs, s: np.ndarray, w: np.ndarray, m: np.ndarray, C: float, target: float, *,
                      max_newton: int = 100,
                      sweeps: int = QP_SWEEPS_START, gap_tol: float = 1e-3) -> NewtonResult:
    r"""Proximal Newton on ``min ‖w‖₁ + C Σ log(1 + exp(−s_i m_i))``, ``m = xs w``, started at ``w``.

    Each step fits the loss's second-order model at ``w`` as a weighted lasso in the new
    coefficients ``w'`` (iteratively reweighted least squares),

    .. math::

        \min_{w'}\; \tfrac12 \sum_i D_i \bigl(z_i - x_i \cdot w'\bigr)^2 + \lVert w' \rVert_1,
        \qquad D_i = C p_i (1 - p_i),\quad z_i = m_i - \frac{C (p_i - 1) s_i}{D_i},
        \quad p_i = \sigma(s_i m_i),

    by scikit-learn's sparse coordinate descent (:class:`~sklearn.linear_model.Lasso` with sample
    weights, warm-started at ``w``, a bounded number of sweeps), then moves along ``w' − w`` by an
    Armijo backtracking search on the true objective. The model is solved more exactly (more
    sweeps, a tighter gap) whenever a step leaves more than a quarter of the violation.

    Parameters
    ----------
    xs
        The sub-problem's columns, CSC float64 (a column of ones carries a penalised intercept).
    s
        Labels as ±1.
    w, m
        Starting coefficients and their margins ``xs @ w`` (both float64; not modified).
    C
        Weight of the loss.
    target
        Stop when the summed subgradient violation (:func:`_subgradient_violation`) is at most this.
    max_newton
        Most Newton steps.
    sweeps, gap_tol
        Coordinate-descent sweeps and (scikit-learn's relative) duality-gap tolerance of the first
        quadratic model.

    Returns
    -------
    NewtonResult

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> xs = sp.csc_matrix(np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]]))
    >>> s = np.array([1.0, -1.0, 1.0, 1.0])
    >>> w, m, steps, v, _, _ = newton_subproblem(xs, s, np.zeros(2), np.zeros(4), C=5.0, target=1e-6)
    >>> bool(v <= 1e-6), np.allclose(m, xs @ w)
    (True, True)
    """
    from scipy.special import expit
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    w, m = np.array(w, dtype=np.float64), np.array(m, dtype=np.float64)
    lasso = Lasso(alpha=1.0, fit_intercept=False, warm_start=True, precompute=False,
                  max_iter=sweeps, tol=gap_tol, selection=QP_SELECTION, random_state=0)
    previous = np.inf
    for step in range(max_newton + 1):
        p = expit(s * m)
        dm = C * (p - 1.0) * s  # loss derivative in the margins
        g = transposed_dot(xs, dm, block_nonzeros=SET_BLOCK_NONZEROS)
        violation = float(_subgradient_violation(g, w).sum())
        if violation <= target or step == max_newton:
            return NewtonResult(w, m, step, violation, lasso.max_iter, lasso.tol)
        if violation > 0.25 * previous:  # the model was solved too loosely to make progress
            lasso.max_iter = min(3 * lasso.max_iter, QP_SWEEPS_MAX)
            # scikit-learn returns at once when the warm start's gap is below tol: 0 at the end
            lasso.tol = lasso.tol * 0.01 if lasso.tol > 1e-12 else 0.0
        previous = violation
        d_i = np.maximum(C * p * (1.0 - p), MIN_CURVATURE)
        # Lasso minimises 1/(2 Σ sw) Σ sw (z − x·w')² + α‖w'‖₁: α = 1/Σ D is the model above
        lasso.alpha = 1.0 / d_i.sum()
        lasso.coef_ = w.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the sweep cap is deliberate
            lasso.fit(xs, m - dm / d_i, sample_weight=d_i)
        direction = lasso.coef_.astype(np.float64) - w
        if not direction.any():
            # scikit-learn took no sweep: the warm start's duality gap, rounded, is already ≤ tol.
            if lasso.tol > 0.0:
                lasso.tol = 0.0
                continue
            # At tol 0 the gap is below its rounding (scikit-learn ≥ 1.9 checks it before the
            # first sweep): the step is taken by exact coordinate updates here instead.
            direction = _coordinate_sweeps(xs, d_i, dm, w, g) - w
            if not direction.any():
                return NewtonResult(w, m, step, violation, lasso.max_iter, lasso.tol)
        delta = blocked_dot(xs, direction, block_nonzeros=SET_BLOCK_NONZEROS)
        t = _armijo_step(s, m, w, g, direction, delta, C)
        if t is None:
            # scikit-learn's direction does not descend (a float32 model this close to the
            # optimum): the same model's exact float64 coordinate updates give the step instead
            direction = _coordinate_sweeps(xs, d_i, dm, w, g) - w
            delta = blocked_dot(xs, direction, block_nonzeros=SET_BLOCK_NONZEROS)
            t = _armijo_step(s, m, w, g, direction, delta, C)
        if t is None:
            return NewtonResult(w, m, step, violation, lasso.max_iter, lasso.tol)
        w = w + t * direction
        m = m + t * delta
    raise AssertionError("unreachable")


def _armijo_step(s: np.ndarray, m: np.ndarray, w: np.ndarray, g: np.ndarray, direction: np.ndarray,
                 delta: np.ndarray, C: float) -> float | None:
    r"""The longest step ``t`` in 1, β, β², … with an Armijo decrease of the objective along
    ``direction`` (``delta`` its change of the margins ``m``), or None for a direction that
    ascends or when even ``t`` = 1e-12 has no decrease:

    .. math::

        F(w + t d) - F(w) \le \sigma t \bigl(g \cdot d + \lVert w + d \rVert_1 - \lVert w \rVert_1\bigr).
    """
    l1 = float(np.abs(w).sum())
    loss0 = np.logaddexp(0.0, -s * m)
    # < 0 for a descent direction; 0 within rounding at the optimum, where the row-by-row change
    # below still resolves a decrease. Above 0 it ascends (its Armijo test would still accept a
    # tiny step of a second-order rise).
    decrease = float(g @ direction) + float(np.abs(w + direction).sum()) - l1
    if decrease > 0.0:
        return None
    t = 1.0
    while t > 1e-12:
        # the change summed row by row: near the optimum it is far below the objective's ulp
        change = C * float((np.logaddexp(0.0, -s * (m + t * delta)) - loss0).sum()) \
            + float(np.abs(w + t * direction).sum()) - l1
        if change <= ARMIJO_SIGMA * t * decrease:
            return t
        t *= ARMIJO_BETA
    return None


#: A zero coefficient of the last set stays in the next one when its gradient is this close to
#: the bound 1 (``inner_solver="newton"``): it is likely to enter the support.
KEEP_MARGIN = 0.5

#: Loosest inner tolerance of a working-set round (``adaptive_inner_tol``).
INNER_TOL_START = 1e-3


class L1Logistic(BaseEstimator):
    """Binary L1-regularised logistic regression (liblinear's objective, see the module text),
    fitted with liblinear on the whole matrix or on a growing working set of columns.

    A scikit-learn-style estimator (``fit``, ``decision_function``, ``predict_proba``,
    ``coef_``, ``intercept_``, ``classes_``), used as the ``"lr"`` step of the pflip pipeline.

    Parameters
    ----------
    C, max_iter, tol, random_state
        As scikit-learn's ``LogisticRegression(solver="liblinear", penalty="l1")``; ``tol`` is the
        whole fit's stopping tolerance (relative summed violation, see the module text).
    solver
        ``"liblinear"``: one liblinear fit on the whole matrix — the official solver, bit for bit.
        ``"working_set"``: working sets of columns, each solved by ``inner_solver`` (same
        objective, tolerance ``working_set_tol``). ``"auto"``: liblinear while the matrix has at most
        ``liblinear_max_nonzeros`` non-zeros, the working set above.
    liblinear_max_nonzeros
        Largest matrix ``"auto"`` gives liblinear whole.
    working_set_tol
        Stopping tolerance of the working-set fit (its inner liblinear fits and the final check).
    initial_size
        Columns of the first working set: those with the largest gradient at zero.
    max_rounds
        Most working-set rounds; a fit that reaches it warns and has ``converged_`` False.
    adaptive_inner_tol
        Solve the rounds before the last to a looser tolerance (a tenth of the relative violation
        left outside the set, at most :data:`INNER_TOL_START`), the final set to
        ``working_set_tol``: the same stopping rule, met on a solution of that tolerance, with
        fewer liblinear iterations in the rounds that only choose columns. False: every round to
        ``working_set_tol``.
    inner_solver
        How a working set is solved. ``"liblinear"``: liblinear from zero on a set that only grows
        (it at most doubles a round). ``"newton"``: :func:`newton_subproblem`, warm-started at the
        previous round's coefficients, on a set rebuilt each round from the non-zero
        coefficients, the zero ones whose gradient is within :data:`KEEP_MARGIN` of the bound and
        the worst violators outside (as many as the non-zeros, at least ``initial_size``): the
        set stays near twice the support, a copy of its columns (``set_dtype``) is the only large
        allocation, and no round starts over. It stops when the summed violation over every
        column, in the set and outside it, is at most ``working_set_tol`` times its value at zero
        (liblinear's rule on the whole matrix).
    set_dtype
        Value type of the working set's column copy (``inner_solver="newton"``); ``"auto"``: the
        matrix's own when it is float32, float64 otherwise. ``"float32"``: 8 bytes a non-zero with
        int32 row indices, against 12 for ``"float64"``; the pflip design's values are float32
        already, so no value changes, only the quadratic models are solved in
        float32 (the gradient, the margins and the line search stay float64; a direction that no
        longer descends is replaced by exact float64 coordinate updates). On the 10M-rating
        pflip design with 8 × C both meet the same stopping rule (objective 1999.7573 against
        1999.7582, decision values within 0.02 of each other).

    Attributes
    ----------
    solver_
        ``"liblinear"`` or ``"working_set"``: what the fit ran.
    estimator_
        The last fitted scikit-learn ``LogisticRegression`` (on the whole matrix or the last set);
        None after ``inner_solver="newton"``.
    coef_, intercept_, classes_, n_features_in_
        As scikit-learn's (``coef_`` of shape (1, n_features), zeros outside the set).
    rounds_
        One dict per working-set round: ``columns``, ``nonzero``, ``violation`` (outside the set),
        ``inner_tol``, ``seconds``, and ``liblinear_iterations`` or (``inner_solver="newton"``)
        ``inside_violation``, ``newton_steps``, ``sweeps`` (the last model's) and
        ``set_nonzeros`` (the set's copy, the intercept's column of ones included).
    initial_violation_
        Summed violation at zero over every column and the intercept (the tolerance's scale).
    converged_
        Whether the stopping rule was met.
    """

    def __init__(self, C: float = 1.0, *, max_iter: int = 100, tol: float = 1e-4,
                 random_state: Any = None, solver: Literal["auto", "liblinear", "working_set"] = "auto",
                 liblinear_max_nonzeros: int = 1 << 27, working_set_tol: float = 1e-6,
                 initial_size: int = 256, max_rounds: int = 50, adaptive_inner_tol: bool = True,
                 inner_solver: Literal["liblinear", "newton"] = "liblinear",
                 set_dtype: Literal["auto", "float32", "float64"] = "auto"):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.solver = solver
        self.liblinear_max_nonzeros = liblinear_max_nonzeros
        self.working_set_tol = working_set_tol
        self.initial_size = initial_size
        self.max_rounds = max_rounds
        self.adaptive_inner_tol = adaptive_inner_tol
        self.inner_solver = inner_solver
        self.set_dtype = set_dtype

    def _liblinear(self, tol: float):
        import inspect

        from sklearn.linear_model import LogisticRegression

        kw = dict(C=self.C, max_iter=self.max_iter, tol=tol, class_weight={0: 1, 1: 1},
                  solver="liblinear", random_state=self.random_state)
        # scikit-learn ≥ 1.8 deprecates ``penalty``: L1 is ``l1_ratio=1``.
        if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
            return LogisticRegression(l1_ratio=1.0, **kw)
        return LogisticRegression(penalty="l1", **kw)

    @property
    def whole_matrix_limit(self) -> float:
        """Non-zeros up to which a fit gives liblinear the whole matrix (the official path) rather
        than working sets of its columns: ``inf`` for ``solver="liblinear"``, −1 (never) for
        ``"working_set"``."""
        if self.solver == "liblinear":
            return float("inf")
        return float(self.liblinear_max_nonzeros) if self.solver == "auto" else -1.0

    def whole_matrix(self, nnz: float) -> bool:
        """Whether a fit on a matrix of ``nnz`` non-zeros gives liblinear the whole matrix."""
        return nnz <= self.whole_matrix_limit

    def fit(self, x, y) -> "L1Logistic":
        """Fit on ``x`` (sparse CSR or CSC, or dense; any float dtype) and labels ``y`` in {0, 1}.

        A CSC matrix suits the working set (its columns are selected without scanning the
        matrix); liblinear on the whole matrix reads CSR (scikit-learn converts)."""
        import scipy.sparse as sp

        if self.solver not in ("auto", "liblinear", "working_set"):
            raise ValueError(f"solver must be 'auto', 'liblinear' or 'working_set', got {self.solver!r}")
        y = np.asarray(y)
        classes = unique(y) if y.dtype.kind in "iub" else np.unique(y)
        if classes.size != 2 or not set(classes.tolist()) <= {0, 1}:
            raise ValueError(f"L1Logistic needs labels 0 and 1, got {classes.tolist()}")
        # an implicit design is fitted by working sets (materialising it is what it avoids)
        nnz = float("inf") if _implicit(x) else (x.nnz if sp.issparse(x) else int(np.count_nonzero(x)))
        whole = self.whole_matrix(nnz)
        if whole and _implicit(x):
            raise ValueError("L1Logistic: solver='liblinear' needs the materialised design matrix")
        self.n_features_in_ = x.shape[1]
        self.rounds_ = []
        if whole:
            est = self._liblinear(self.tol).fit(x, y)
            self.solver_, self.estimator_ = "liblinear", est
            self.coef_, self.intercept_, self.classes_ = est.coef_, est.intercept_, est.classes_
            self.initial_violation_, self.converged_ = float("nan"), bool(est.n_iter_.max() < self.max_iter)
            return self
        if self.inner_solver not in ("liblinear", "newton"):
            raise ValueError(f"inner_solver must be 'liblinear' or 'newton', got {self.inner_solver!r}")
        if self.set_dtype not in ("auto", "float32", "float64"):
            raise ValueError(f"set_dtype must be 'auto', 'float32' or 'float64', got {self.set_dtype!r}")
        if self.inner_solver == "newton":
            self._fit_newton_working_set(_sparse(x), y)
        else:
            self._fit_working_set(_sparse(x), y)  # CSR or CSC as given: no copy of the matrix
        return self

    def _first_set(self, x, y: np.ndarray) -> np.ndarray:
        """Set ``initial_violation_`` (every column and the intercept at zero) and return the first
        working set: the ``initial_size`` columns with the largest gradient at zero, ascending."""
        d = x.shape[1]
        g, gb = l1_gradient(x, y, np.zeros(d), 0.0, self.C)
        self.initial_violation_ = float(np.maximum(np.abs(g) - 1.0, 0.0).sum() + max(abs(gb) - 1.0, 0.0))
        self.converged_ = False
        return np.sort(np.argsort(-np.abs(g), kind="stable")[:min(self.initial_size, d)])

    def _fit_working_set(self, x, y: np.ndarray) -> None:
        d = x.shape[1]
        tol = self.working_set_tol
        ws = self._first_set(x, y)
        # The rounds before the last only choose the next columns: liblinear solves them to a
        # tolerance that follows the violation left outside the set (a tenth of it, at most
        # INNER_TOL_START), and the set that meets the rule is solved again to ``tol`` before the
        # rule is checked on that solution.
        inner = max(tol, min(INNER_TOL_START, 0.1)) if self.adaptive_inner_tol else tol
        for _ in range(self.max_rounds):
            t0 = time.perf_counter()
            sub = x[:, ws]
            if hasattr(sub, "tocsr"):
                sub = sub.tocsr()  # scikit-learn's layout: converted here, the CSC copy let go
            est = self._liblinear(inner).fit(sub, y)
            del sub
            coef = np.zeros(d)
            coef[ws] = est.coef_.ravel()
            intercept = float(est.intercept_[0])
            g, _ = l1_gradient(x, y, coef, intercept, self.C)
            over = np.maximum(np.abs(g) - 1.0, 0.0)
            over[ws] = 0.0
            violation = float(over.sum())
            self.rounds_.append({"columns": int(ws.size), "nonzero": int(np.count_nonzero(coef)),
                                 "violation": violation, "liblinear_iterations": int(est.n_iter_.max()),
                                 "inner_tol": inner, "seconds": round(time.perf_counter() - t0, 3)})
            log.info("L1Logistic working set round %d: %s", len(self.rounds_), self.rounds_[-1])
            if violation <= tol * self.initial_violation_:
                if inner <= tol:
                    self.converged_ = True
                    break
                inner = tol  # the same set again, solved to the final tolerance
                continue
            if self.adaptive_inner_tol:
                inner = max(tol, min(INNER_TOL_START, 0.1 * violation / self.initial_violation_))
            out = np.flatnonzero(over > 0)
            # the worst violators first; the set at most doubles per round
            add = out[np.argsort(-over[out], kind="stable")[:max(self.initial_size, ws.size)]]
            ws = unique(np.concatenate([ws, add]))
        else:
            warnings.warn(f"L1Logistic: working set not converged after {self.max_rounds} rounds "
                          f"(violation {violation:.3g} > {tol:.3g} × {self.initial_violation_:.3g})",
                          RuntimeWarning, stacklevel=3)
        self.solver_, self.estimator_ = "working_set", est
        self.coef_ = coef.reshape(1, -1)
        self.intercept_ = np.array([intercept])
        self.classes_ = est.classes_

    def _fit_newton_working_set(self, x, y: np.ndarray) -> None:
        import scipy.sparse as sp

        n, d = x.shape
        tol, C = self.working_set_tol, self.C
        s = np.where(y == 1, 1.0, -1.0)
        ws = self._first_set(x, y)
        scale = self.initial_violation_
        coef, intercept, m = np.zeros(d), 0.0, np.zeros(n)
        # liblinear's bias column (intercept_scaling 1); an implicit design appends its own
        auto = np.float32 if x.dtype == np.float32 else np.float64
        dtype = np.dtype(auto if self.set_dtype == "auto" else self.set_dtype)
        ones = None if _implicit(x) else sp.csc_matrix(np.ones((n, 1), dtype=dtype))
        # Every round but those at the end only chooses columns: its set is solved to a tenth of
        # the violation left outside (at most INNER_TOL_START); the rule needs half of tol inside.
        inner = INNER_TOL_START if self.adaptive_inner_tol else tol / 2
        violation = np.inf
        for _ in range(self.max_rounds):
            t0 = time.perf_counter()
            if ones is None:  # built once at its final size, the ones column included
                xs = x.columns(ws, dtype=dtype, ones_column=True)
            else:
                xs = sp.hstack([x[:, ws].astype(dtype, copy=False), ones], format="csc")
            set_nonzeros = int(xs.nnz)
            w = np.append(coef[ws], intercept)
            # every round's models start from the smallest sweep budget (QP_SWEEPS_START: why)
            w, m, steps, inside, sweeps, _gap = newton_subproblem(xs, s, w, m, C, inner * scale)
            del xs
            coef[:] = 0.0
            coef[ws], intercept = w[:-1], float(w[-1])
            g, _ = l1_gradient(x, y, coef, intercept, C, margins=m)
            over = np.maximum(np.abs(g) - 1.0, 0.0)
            over[ws] = 0.0
            violation = float(over.sum())
            self.rounds_.append({"columns": int(ws.size), "nonzero": int(np.count_nonzero(coef)),
                                 "violation": violation, "inside_violation": inside,
                                 "newton_steps": steps, "sweeps": sweeps, "inner_tol": inner,
                                 "set_nonzeros": set_nonzeros,
                                 "seconds": round(time.perf_counter() - t0, 3)})
            log.info("L1Logistic working set round %d: %s", len(self.rounds_), self.rounds_[-1])
            if violation + inside <= tol * scale:
                self.converged_ = True
                break
            inner = max(tol / 2, min(INNER_TOL_START, 0.1 * violation / scale)) if self.adaptive_inner_tol \
                else tol / 2
            support = np.flatnonzero(coef)
            near = ws[(coef[ws] == 0.0) & (np.abs(g[ws]) >= 1.0 - KEEP_MARGIN)]
            out = np.flatnonzero(over > 0)
            k = max(self.initial_size, int(ADD_PER_NONZERO * support.size))
            add = out[np.argsort(-over[out], kind="stable")[:k]]
            ws = unique(np.concatenate([support, near, add]))
        else:
            warnings.warn(f"L1Logistic: working set not converged after {self.max_rounds} rounds "
                          f"(violation {violation:.3g} > {tol:.3g} × {scale:.3g})",
                          RuntimeWarning, stacklevel=3)
        self.solver_, self.estimator_ = "working_set", None  # no liblinear fit behind it
        self.coef_ = coef.reshape(1, -1)
        self.intercept_ = np.array([intercept])
        self.classes_ = np.array([0, 1])

    def violation(self, x, y) -> np.ndarray:
        """Per column, ``max(|g_j| − 1, 0)`` at the fitted coefficients, counted only where the
        coefficient is zero (the optimality check of the module text)."""
        g, _ = l1_gradient(x, y, self.coef_.ravel(), float(self.intercept_[0]), self.C)
        over = np.maximum(np.abs(g) - 1.0, 0.0)
        over[self.coef_.ravel() != 0] = 0.0
        return over

    def decision_function(self, x) -> np.ndarray:
        """``x · coef + intercept``. After a whole-matrix fit, liblinear's estimator computes it (the
        official values bit for bit); after a working-set fit, from the support's columns only."""
        if self.solver_ == "liblinear":
            return self.estimator_.decision_function(x)
        return _margins(_sparse(x), self.coef_.ravel(), float(self.intercept_[0]))

    def predict_proba(self, x) -> np.ndarray:
        """Columns P(class 0), P(class 1): ``1 − σ(d)``, ``σ(d)`` (scikit-learn's binary form)."""
        if self.solver_ == "liblinear":
            return self.estimator_.predict_proba(x)
        from scipy.special import expit

        p = expit(self.decision_function(x))
        return np.vstack([1 - p, p]).T

    def predict(self, x) -> np.ndarray:
        return self.classes_[(self.decision_function(x) > 0).astype(int)]
