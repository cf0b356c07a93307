"""How many factors? Model selection on held-out ratings, and recovery of a planted truth.

:func:`select_k` fits the matrix factorization with ``k`` = 1, 2, 3 … factors on the older ratings
and scores each fit on the ratings it did not see (held-out mean squared error and Gaussian
log-likelihood, with intervals); :attr:`KSelection.best_k` applies the one-standard-error rule.
:func:`factor_recovery` compares fitted note factors with the planted ones of a synthetic data set
(``cnlab synth --dims 2``) after the rotation that aligns them best.

Which ratings are used
----------------------
For a :class:`cnlab.io.Dataset` the ratings are those the chosen scorer's prescoring fits (Core
unless ``config`` names another :class:`~cnlab.scorers.mf_config.ScorerConfig`), obtained with
cnlab's own functions:

1. :func:`cnlab.preprocess.preprocess` (duplicates, ``helpfulNum``, the misleading-notes filter);
2. :func:`cnlab.scorers.slicing.filter_input` — the scorer's slice (Core: core modeling groups and
   unenrolled raters; notes of ``note_topics`` excluded; pass ``note_topics=None`` to keep them);
3. the split into train and held-out ratings (below);
4. :func:`cnlab.preprocess.filter_ratings` on the **train** ratings only — the prescoring
   prefilter (raters with ≥ ``config.min_ratings_per_rater`` = 10 ratings, notes with ≥
   ``config.min_raters_per_note`` = 5), as the pipeline would see the train period.

Not applied: post-selection-similarity coalescing, the stable initialisation (the fit starts from
the seeded random initialisation) and the helpfulness filter of the second prescoring round. A
ratings frame (``noteId``, ``raterParticipantId``, ``helpfulNum`` or ``helpfulnessLevel``,
``createdAtMillis``) is taken as already sliced: only steps 3 and 4 apply.

Held-out ratings
----------------
``holdout="time"``: the latest ``holdout_fraction`` of the ratings by ``createdAtMillis`` (ties
broken by row order) are held out, every train rating is no later than every held-out one.
``holdout="note_time"``: the latest ``floor(holdout_fraction · n_note)`` ratings of each note —
the future ratings of notes already being rated, which is what final scoring meets; use it when
most late ratings fall on notes too new to be in the train set (ratings arrive within hours of a
note's creation). ``holdout="random"``: a seeded uniform draw of ``round(holdout_fraction · n)``
ratings, a fresh one per repeat. Only held-out ratings whose note **and** rater are in the fitted
(prefiltered) train set are scored; the others are counted (``n_unscored``).

No TensorFlow is imported by this module; :func:`cnlab.mf.fit` imports it when it first runs.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from cnlab.lab.factors import factor_recovery
>>> rng = np.random.default_rng(0)
>>> truth = pd.DataFrame({"noteId": np.arange(50), "trueFactor1": rng.normal(size=50),
...                       "trueFactor2": rng.normal(size=50)})
>>> q = np.array([[0.6, -0.8], [0.8, 0.6]])                   # a rotation
>>> fitted = pd.DataFrame(truth[["trueFactor1", "trueFactor2"]].to_numpy() @ q,
...                       columns=["internalNoteFactor1", "internalNoteFactor2"]).assign(noteId=truth.noteId)
>>> [round(c, 6) for c in factor_recovery(fitted, truth).correlations]
[1.0, 1.0]
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from cnlab import schema as S

__all__ = [
    "KSelection", "select_k", "holdout_mask", "FactorRecovery", "factor_recovery", "HOLDOUTS",
]

#: The ways :func:`select_k` can hold ratings out.
HOLDOUTS = ("time", "note_time", "random")
#: Normal quantile of the two-sided 95 % intervals.
Z95 = 1.959963984540054
_RATING_COLUMNS = (S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM, S.CREATED_AT)


# ---------------------------------------------------------------------------------------------
# splitting
# ---------------------------------------------------------------------------------------------
def holdout_mask(ratings: pd.DataFrame, *, holdout: Literal["time", "note_time", "random"] = "time",
                 holdout_fraction: float = 0.1, seed: int | None = 0) -> np.ndarray:
    """Boolean per row of ``ratings``: True = held out (module docstring, "Held-out ratings").

    Parameters
    ----------
    ratings
        Needs ``createdAtMillis`` for the time splits and ``noteId`` for ``"note_time"``.
    holdout
        ``"time"``, ``"note_time"`` or ``"random"``.
    holdout_fraction
        Share of the ratings held out, in (0, 1).
    seed
        Seed of the ``"random"`` draw (unused otherwise).

    Examples
    --------
    >>> r = pd.DataFrame({"noteId": [1, 1, 1, 2], "createdAtMillis": [40, 10, 30, 20]})
    >>> holdout_mask(r, holdout_fraction=0.5).tolist()        # the two latest ratings
    [True, False, True, False]
    >>> holdout_mask(r, holdout="note_time", holdout_fraction=0.5).tolist()   # note 1's latest
    [True, False, False, False]
    """
    if holdout not in HOLDOUTS:
        raise ValueError(f"holdout must be one of {HOLDOUTS}, got {holdout!r}")
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}")
    n = len(ratings)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if holdout == "random":
        m = int(round(holdout_fraction * n))
        mask[np.random.default_rng(seed).choice(n, size=m, replace=False)] = True
        return mask
    t = ratings[S.CREATED_AT].to_numpy(np.int64)
    if holdout == "time":
        order = np.argsort(t, kind="stable")
        m = int(round(holdout_fraction * n))
        mask[order[n - m:]] = True
        return mask
    # note_time: rank the ratings of each note from the latest (0) back; hold out the first
    # floor(f · count) of them
    codes, _ = pd.factorize(ratings[S.NOTE_ID])
    order = np.lexsort((np.arange(n), -t, codes))  # by note, latest first, then row order
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[codes[order]]
    return rank < np.floor(holdout_fraction * counts[codes])


def _rating_frame(data: Any, config: Any, note_topics: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """The rating rows select_k splits, and a one-line description of where they come from."""
    from cnlab.preprocess import compute_helpful_num, preprocess
    from cnlab.scorers.slicing import filter_input

    if isinstance(data, pd.DataFrame):
        r = data if S.HELPFUL_NUM in data.columns else compute_helpful_num(data)
        missing = [c for c in _RATING_COLUMNS if c not in r.columns]
        if missing:
            raise ValueError(f"select_k: the ratings frame lacks {missing}")
        how = "ratings as given"
    else:
        pre = preprocess(data)
        r, _nsh, rep = filter_input(pre.ratings, pre.status_history, data.enrollment, config,
                                    note_topics=note_topics)
        how = (f"preprocessed ({len(pre.ratings)} ratings), {config.name} slice "
               f"({rep.after_group_filter} ratings{'' if note_topics is None else ', topic notes excluded'})")
    r = r[list(_RATING_COLUMNS)]
    if r[S.HELPFUL_NUM].isna().any():
        raise ValueError("select_k: helpfulNum has missing values")
    return r.reset_index(drop=True), how


@dataclass(frozen=True)
class _Split:
    train: pd.DataFrame
    heldout: pd.DataFrame
    n_heldout_all: int


def _split(r: pd.DataFrame, mask: np.ndarray, config: Any) -> _Split:
    from cnlab.preprocess import filter_ratings

    train = filter_ratings(r[~mask], min_ratings_per_rater=config.min_ratings_per_rater,
                           min_raters_per_note=config.min_raters_per_note)
    ho = r[mask]
    seen = ho[S.NOTE_ID].isin(train[S.NOTE_ID].unique()) & ho[S.RATER_ID].isin(train[S.RATER_ID].unique())
    return _Split(train.reset_index(drop=True), ho[seen.to_numpy()].reset_index(drop=True), int(mask.sum()))


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------
def _se_of_mean(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def _pooled(means: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """Mean over repeats and its standard error: the held-out sampling error of one repeat (the
    mean of the squared per-repeat SEs) plus, with more than one repeat, the spread over repeats
    (variance of the repeat means / R), in quadrature."""
    var = float(np.mean(ses ** 2))
    if len(means) > 1:
        var += float(np.var(means, ddof=1)) / len(means)
    return float(np.mean(means)), math.sqrt(var)


@dataclass(frozen=True)
class KSelection:
    """Held-out fit of the matrix factorization for each number of factors k (:func:`select_k`).

    Attributes
    ----------
    table
        One row per (k, repeat): ``k``, ``repeat``, ``seed`` (of the fit), ``nTrain``,
        ``nHeldout`` (scored), ``nNotes``, ``nRaters`` (of the fit), ``trainMse`` (plain MSE on the
        train ratings = the residual variance σ² of the log-likelihood), ``heldoutMse`` and its
        standard error ``heldoutMseSe`` (SD of the squared errors / √n), ``heldoutLogLik`` and
        ``heldoutLogLikSe`` (mean per rating), ``nSteps``, ``stopReason``, ``seconds`` (the fit).
    by_k
        One row per k: the means over repeats of ``heldoutMse`` and ``heldoutLogLik`` with standard
        errors (``mseSe``, ``logLikSe``: sampling error and spread over repeats in quadrature) and
        95 % intervals (``mseLow``/``mseHigh``, ``logLikLow``/``logLikHigh``); ``deltaMse`` = this
        k's held-out MSE minus the lowest one, ``deltaSe`` the standard error of that difference
        from the per-rating paired differences (same held-out ratings), ``withinOneSe``;
        ``trainMse`` and ``seconds`` (mean time per fit).
    best_k
        The smallest k with ``deltaMse ≤ max(deltaSe, min_improvement)`` (the one-standard-error
        rule: no more factors than the held-out data can tell apart from the best).
        ``min_k`` is the k of the lowest held-out MSE.
    ks, holdout, holdout_fraction, repeats, seed, scorer
        What was asked (``scorer``: the name of the scorer whose slice and MF settings were used).
    n_ratings, n_unscored, source
        Ratings split (after the slice), held-out ratings not scored (note or rater not in the fit,
        summed over repeats / their count for one split), and where the ratings came from.
    fits
        ``{(k, repeat): MFResult}``.
    """

    table: pd.DataFrame
    by_k: pd.DataFrame
    best_k: int
    min_k: int
    ks: tuple[int, ...]
    holdout: str
    holdout_fraction: float
    repeats: int
    seed: int | None
    scorer: str
    n_ratings: int
    n_unscored: int
    source: str
    fits: Mapping[tuple[int, int], Any] = field(repr=False, default_factory=dict)

    def fit(self, k: int | None = None, repeat: int = 0) -> Any:
        """The :class:`~cnlab.mf.result.MFResult` for ``k`` (default :attr:`best_k`) and ``repeat``."""
        return self.fits[(self.best_k if k is None else int(k), int(repeat))]

    def summary(self) -> str:
        """The held-out table by k and the chosen k, as text."""
        cols = ["k", "heldoutMse", "mseLow", "mseHigh", "deltaMse", "deltaSe", "heldoutLogLik",
                "logLikLow", "logLikHigh", "trainMse", "seconds"]
        t0 = self.table[self.table["repeat"] == 0]
        lines = [
            f"KSelection: k in {list(self.ks)}, {self.scorer} ratings ({self.source}), holdout="
            f"{self.holdout!r} ({self.holdout_fraction:g}), {self.repeats} repeat(s), seed {self.seed}",
            f"  {self.n_ratings} ratings; train {int(t0['nTrain'].iloc[0])}, held out and scored "
            f"{int(t0['nHeldout'].iloc[0])} (repeat 0), not scored (note or rater not in the fit) "
            f"{self.n_unscored}",
            self.by_k[cols].to_string(index=False, float_format=lambda v: f"{v:.5f}"),
            f"  lowest held-out MSE at k = {self.min_k}; chosen k = {self.best_k} "
            "(smallest k within one standard error of the paired difference to the lowest)",
        ]
        return "\n".join(lines)


def _by_k(table: pd.DataFrame, sq: Mapping[tuple[int, int], np.ndarray], ks: tuple[int, ...],
          repeats: int, min_improvement: float) -> tuple[pd.DataFrame, int, int]:
    rows = []
    for k in ks:
        t = table[table["k"] == k]
        mse, mse_se = _pooled(t["heldoutMse"].to_numpy(), t["heldoutMseSe"].to_numpy())
        ll, ll_se = _pooled(t["heldoutLogLik"].to_numpy(), t["heldoutLogLikSe"].to_numpy())
        rows.append({"k": k, "heldoutMse": mse, "mseSe": mse_se, "mseLow": mse - Z95 * mse_se,
                     "mseHigh": mse + Z95 * mse_se, "heldoutLogLik": ll, "logLikSe": ll_se,
                     "logLikLow": ll - Z95 * ll_se, "logLikHigh": ll + Z95 * ll_se,
                     "trainMse": float(t["trainMse"].mean()), "seconds": float(t["seconds"].mean())})
    by_k = pd.DataFrame(rows)
    min_k = int(by_k.loc[by_k["heldoutMse"].idxmin(), "k"])
    deltas, ses = [], []
    for k in ks:
        # paired: the same held-out ratings under k and under min_k, repeat by repeat
        means = np.array([float(np.mean(sq[(k, r)] - sq[(min_k, r)])) for r in range(repeats)])
        rep_se = np.array([_se_of_mean(sq[(k, r)] - sq[(min_k, r)]) if k != min_k else 0.0
                           for r in range(repeats)])
        d, se = _pooled(means, np.nan_to_num(rep_se))
        deltas.append(d)
        ses.append(se)
    by_k["deltaMse"] = deltas
    by_k["deltaSe"] = ses
    by_k["withinOneSe"] = by_k["deltaMse"] <= np.maximum(by_k["deltaSe"], min_improvement)
    best_k = int(by_k.loc[by_k["withinOneSe"], "k"].min())
    return by_k, best_k, min_k


def select_k(
    data: Any,
    ks: Iterable[int] = (1, 2, 3),
    *,
    holdout: Literal["time", "note_time", "random"] = "time",
    holdout_fraction: float = 0.1,
    seed: int | None = 42,
    config: Any = None,
    repeats: int = 1,
    note_topics: pd.DataFrame | None = None,
    solver: Literal["official", "exact"] | None = None,
    min_improvement: float = 1e-4,
) -> KSelection:
    """Held-out MSE and log-likelihood of the MF with k factors, for each k; the k to use.

    For each repeat the ratings are split once (module docstring: which ratings, which are held
    out), and for each k the scorer's MF (``config.mf_config()`` with ``n_factors=k``) is fitted on
    the train ratings with :func:`cnlab.mf.fit` and scored on the held-out ones:

    * **held-out MSE** — mean of :math:`(y - \\hat y)^2` over the held-out ratings, ``y`` =
      ``helpfulNum`` ∈ {0, 0.5, 1}, :math:`\\hat y = \\mu + i_u + i_n + f_u \\cdot f_n`;
    * **held-out log-likelihood** — mean per rating of the Gaussian log density
      :math:`-\\tfrac12 \\log(2\\pi\\sigma^2) - (y - \\hat y)^2 / (2\\sigma^2)`, with
      :math:`\\sigma^2` the fit's own residual variance on its train ratings (``trainMse``): a k
      that fits the train ratings more closely than it predicts new ones is penalised twice.

    Intervals are 95 % normal intervals: the held-out sampling error (SD of the per-rating terms
    / √n) and, with ``repeats`` > 1, the spread over repeats (seeds of the fit; with
    ``holdout="random"`` also of the split) in quadrature. :attr:`KSelection.best_k` is the
    smallest k whose held-out MSE exceeds the lowest by at most one standard error of the
    per-rating paired difference, or by at most ``min_improvement`` (a floor for data so clean that
    the standard errors vanish: a noiseless matrix).

    Parameters
    ----------
    data
        A :class:`cnlab.io.Dataset` (``cnlab.load(...)``) or a ratings frame.
    ks
        Numbers of factors to compare (≥ 1).
    holdout, holdout_fraction
        How and how much to hold out (:func:`holdout_mask`).
    seed
        Seed of the fits (repeat ``r`` uses a seed derived from ``(seed, r)``) and of the random
        split.
    config
        The :class:`~cnlab.scorers.mf_config.ScorerConfig` whose slice, prefilter and MF settings
        are used (default: Core, ``cnlab.scorers.mf_config.CORE``).
    repeats
        Number of fits per k (different seeds).
    note_topics
        ``noteId``, ``noteTopic`` of topic-assigned notes, which Core's slice excludes (e.g.
        ``result.note_topics`` of a run); None keeps every note.
    solver
        ``"official"`` (the Adam loop with the official stopping rule) or ``"exact"``; default:
        the scorer's MF setting.
    min_improvement
        Held-out MSE differences up to this count as no improvement (helpfulNum scale; 1e-4 is
        about 0.1 % of the MSE of real ratings).

    Returns
    -------
    KSelection

    Examples
    --------
    >>> import cnlab
    >>> from cnlab.lab import select_k
    >>> sel = select_k(cnlab.load_sample(), ks=(1, 2), seed=0)          # doctest: +SKIP
    >>> sel.best_k, sel.by_k[["k", "heldoutMse", "mseLow", "mseHigh"]]  # doctest: +SKIP
    """
    from cnlab import mf
    from cnlab.scorers.mf_config import CORE

    config = CORE if config is None else config
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1 or len(set(ks)) != len(ks):
        raise ValueError(f"ks must be distinct integers >= 1, got {ks}")
    ks = tuple(sorted(ks))
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    ratings, source = _rating_frame(data, config, note_topics)
    base = config.mf_config()
    if solver is not None:
        base = dataclasses.replace(base, solver=solver)

    rows, sq, fits = [], {}, {}
    split = None
    n_unscored = 0
    for rep in range(repeats):
        ss = np.random.SeedSequence([0 if seed is None else seed, rep])
        fit_seed, split_seed = (int(v) for v in ss.generate_state(2))
        if split is None or holdout == "random":  # the time splits do not depend on the repeat
            split = _split(ratings, holdout_mask(ratings, holdout=holdout, holdout_fraction=holdout_fraction,
                                                 seed=split_seed), config)
            n_unscored += split.n_heldout_all - len(split.heldout)
        if split.train.empty or split.heldout.empty:
            raise ValueError(f"select_k: {len(split.train)} train and {len(split.heldout)} scorable held-out "
                             f"ratings; nothing to compare (more data, another holdout or holdout_fraction)")
        y = split.heldout[S.HELPFUL_NUM].to_numpy(np.float64)
        for k in ks:
            t0 = time.perf_counter()
            res = mf.fit(split.train[[S.NOTE_ID, S.RATER_ID, S.HELPFUL_NUM]],
                         dataclasses.replace(base, n_factors=k), seed=fit_seed)
            seconds = time.perf_counter() - t0
            err2 = (res.predict(split.heldout) - y) ** 2
            sigma2 = max(float(res.train_mse), 1e-12)
            ll = -0.5 * math.log(2 * math.pi * sigma2) - err2 / (2 * sigma2)
            sq[(k, rep)] = err2
            fits[(k, rep)] = res
            rows.append({"k": k, "repeat": rep, "seed": fit_seed, "nTrain": len(split.train),
                         "nHeldout": len(y), "nNotes": len(res.note_params), "nRaters": len(res.rater_params),
                         "trainMse": float(res.train_mse), "heldoutMse": float(err2.mean()),
                         "heldoutMseSe": _se_of_mean(err2), "heldoutLogLik": float(ll.mean()),
                         "heldoutLogLikSe": _se_of_mean(ll), "nSteps": int(res.n_steps),
                         "stopReason": res.stop_reason, "seconds": seconds})
    table = pd.DataFrame(rows)
    by_k, best_k, min_k = _by_k(table, sq, ks, repeats, float(min_improvement))
    return KSelection(table=table, by_k=by_k, best_k=best_k, min_k=min_k, ks=ks, holdout=holdout,
                      holdout_fraction=float(holdout_fraction), repeats=int(repeats), seed=seed,
                      scorer=str(config.name), n_ratings=len(ratings), n_unscored=int(n_unscored),
                      source=source, fits=MappingProxyType(fits))


# ---------------------------------------------------------------------------------------------
# planted-truth recovery
# ---------------------------------------------------------------------------------------------
_FACTOR_PATTERNS = (r"internalNoteFactor(\d+)", r"coreNoteFactor(\d+)", r"trueFactor(\d+)",
                    r"noteFactor(\d+)")


def _factor_frame(obj: Any, what: str) -> tuple[pd.DataFrame, list[str]]:
    """(frame with noteId, the factor columns in axis order) of an MFResult, a KSelection (its
    best k), a SyntheticTruth (its notes), a ScoringResult (scored notes) or a frame."""
    if isinstance(obj, KSelection):
        obj = obj.fit()
    frame = obj
    if not isinstance(obj, pd.DataFrame):
        for attr in ("note_params", "notes"):
            if isinstance(getattr(obj, attr, None), pd.DataFrame):
                frame = getattr(obj, attr)
                break
        else:
            frames = getattr(obj, "frames", None)
            if isinstance(frames, Mapping) and "scored_notes" in frames:
                frame = frames["scored_notes"]
    if not isinstance(frame, pd.DataFrame) or S.NOTE_ID not in frame.columns:
        raise TypeError(f"factor_recovery: cannot read note factors from the {what} ({type(obj).__name__})")
    for pat in _FACTOR_PATTERNS:
        found = sorted(((int(m.group(1)), c) for c in frame.columns if (m := re.fullmatch(pat, c))))
        if found:
            return frame, [c for _, c in found]
    raise ValueError(f"factor_recovery: the {what} has no note factor columns "
                     f"(internalNoteFactor1…, coreNoteFactor1…, trueFactor1…)")


@dataclass(frozen=True)
class FactorRecovery:
    """Fitted note factors against planted ones (:func:`factor_recovery`).

    Attributes
    ----------
    correlations
        Per planted axis j, the Pearson correlation between planted factor j and the aligned fitted
        factor j (``method="procrustes"``), or the multiple correlation of planted factor j with
        all fitted factors (``method="linear"``).
    rotation
        The (k_fit × k_true) map applied to the centred fitted factors.
    method
        ``"procrustes"`` or ``"linear"``.
    notes
        One row per note in both: ``noteId``, ``fitted1..`` (aligned), ``true1..``.
    fitted_columns, true_columns
        The columns read.
    """

    correlations: tuple[float, ...]
    rotation: np.ndarray = field(repr=False)
    method: str
    notes: pd.DataFrame = field(repr=False)
    fitted_columns: tuple[str, ...]
    true_columns: tuple[str, ...]

    @property
    def n_notes(self) -> int:
        return len(self.notes)

    def summary(self) -> str:
        """One line per planted axis."""
        lines = [f"FactorRecovery ({self.method}): {self.n_notes} notes, fitted {list(self.fitted_columns)} "
                 f"vs planted {list(self.true_columns)}"]
        lines += [f"  axis {j + 1}: correlation {c:.4f}" for j, c in enumerate(self.correlations)]
        return "\n".join(lines)


def factor_recovery(fitted: Any, truth: Any, *, method: Literal["procrustes", "linear"] = "procrustes",
                    notes: Iterable[Any] | None = None) -> FactorRecovery:
    """How well fitted note factors recover planted ones, per planted axis.

    The MF's factors are identified only up to a rotation (and a reflection per axis): any
    orthogonal ``Q`` leaves every :math:`f_u \\cdot f_n` and the L2 penalty unchanged. The fitted
    factors are therefore aligned before they are compared: both sides are centred, and

    * ``"procrustes"`` (default) applies the orthogonal map ``Q`` (k_fit × k_true, orthonormal
      columns or rows) that minimises :math:`\\lVert F_\\text{fit} Q - F_\\text{true} \\rVert`
      (SVD of :math:`F_\\text{fit}^\\top F_\\text{true}`); the correlation of axis j is Pearson's
      between column j of :math:`F_\\text{fit} Q` and of :math:`F_\\text{true}`;
    * ``"linear"`` applies the least-squares map (any invertible mix of the fitted axes, e.g. a
      different scale per axis); the correlation of axis j is then the multiple correlation of
      planted axis j with the fitted factors (as the first canonical correlation, 1 for a linear
      copy).

    Parameters
    ----------
    fitted
        An :class:`~cnlab.mf.result.MFResult`, a :class:`KSelection` (its best k's fit), a scoring
        result (``coreNoteFactor1…``) or a frame with ``noteId`` and ``internalNoteFactor1…`` /
        ``coreNoteFactor1…``.
    truth
        A :class:`~cnlab.synthetic.SyntheticTruth` or its ``notes`` frame (``noteId``,
        ``trueFactor1…``).
    notes
        Restrict to these note ids (default: every note in both).

    Returns
    -------
    FactorRecovery
    """
    if method not in ("procrustes", "linear"):
        raise ValueError(f"method must be 'procrustes' or 'linear', got {method!r}")
    ff, fcols = _factor_frame(fitted, "fitted")
    tf, tcols = _factor_frame(truth, "truth")
    j = ff[[S.NOTE_ID, *fcols]].drop_duplicates(S.NOTE_ID).merge(
        tf[[S.NOTE_ID, *tcols]].drop_duplicates(S.NOTE_ID), on=S.NOTE_ID, how="inner", suffixes=("", "_truth"))
    if notes is not None:
        j = j[j[S.NOTE_ID].isin(list(notes))]
    tcols_j = [c + "_truth" if c in fcols else c for c in tcols]
    j = j.dropna(subset=[*fcols, *tcols_j])
    if len(j) < 3:
        raise ValueError(f"factor_recovery: {len(j)} notes in both; need at least 3")
    a = j[fcols].to_numpy(np.float64)
    b = j[tcols_j].to_numpy(np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    if method == "procrustes":
        u, _s, vt = np.linalg.svd(a.T @ b, full_matrices=False)
        rot = u @ vt
    else:
        rot, *_ = np.linalg.lstsq(a, b, rcond=None)
    aligned = a @ rot
    corrs = []
    for i in range(b.shape[1]):
        x, y = aligned[:, i], b[:, i]
        den = math.sqrt(float(x @ x) * float(y @ y))
        corrs.append(float(x @ y / den) if den > 0 else float("nan"))
    out = pd.DataFrame({S.NOTE_ID: j[S.NOTE_ID].to_numpy()})
    for i in range(b.shape[1]):
        out[f"fitted{i + 1}"] = aligned[:, i]
        out[f"true{i + 1}"] = b[:, i]
    return FactorRecovery(correlations=tuple(corrs), rotation=rot, method=method, notes=out,
                          fitted_columns=tuple(fcols), true_columns=tuple(tcols))
