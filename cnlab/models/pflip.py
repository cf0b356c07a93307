"""pflip: will a note that is about to show Helpful later lose that status? (spec 06 §A)

A supervised model trained in prescoring on notes whose fate is known (locked CRH = negative,
"was CRH / entered stabilization, then locked NMR or CRNH" = positive ``FLIP``) and applied in
final scoring to notes in (or just out of) the stabilization window. Its only effect on status is
inside ``NmrDueToMinStableCrhTime`` (spec 04 §11.7): a note is released to CRH early only if its
label is ``"CRH"``; ``"FLIP"`` *or no prediction* keeps it NMR until the 60-minute cap.

Pipeline (spec 06 §A.3–§A.10)::

    candidates = NSH ⋈ notes, tweetId > 0, classification present            §A.3
    training:   tweetId > 1825679568688054351, ≥ 1 rating; labels            §A.4
                cutoff = max(first(stab | CRH) − 15 min, min(5th, last) rating time),
                one copy per cutoff mode (MIN, MAX)                            §A.5
    ratings on all notes of the candidates' posts ⋈ rater factor             §A.6
    per note: latency, author, first/burst/recent rating counts,
              peer-note counts, and for LOCAL / PEER_MISLEADING /
              PEER_NON_MISLEADING ratings: rater:level tokens, rater:tag
              tokens, 9 factor×level counts, 7 helpful-factor stats,
              22 tag ratios                                                    §A.7
    pre-transform (clip at training quantiles, log2)                           §A.8
    ColumnTransformer (one-hot, bags of tokens, k-means bins, crosses)
      → VarianceThreshold → L1 logistic regression (liblinear)                 §A.8
    threshold: decision value where the *training* FPR is closest to 0.6       §A.9
    predict: FLIP if decision > threshold; pflipProba = P(FLIP)                §A.10

The feature builders (§A.3–§A.7: candidate notes, labels, cutoffs, rating sets, the raw feature
frame) and :class:`PFlipConfig` live in :mod:`cnlab.models.pflip_features`; this module holds the
pre-transform, the pipeline, the threshold and :class:`PFlipModel`, and re-exports every name of
the feature module, so ``from cnlab.models.pflip import candidate_notes`` keeps working.

scikit-learn builds the pipeline (the official model is a scikit-learn pipeline). Where the
installed versions behave differently from the pinned scikit-learn 1.0.2 / numpy 1.26, replicas in
:mod:`cnlab._compat` are used by default (each switchable in :class:`PFlipConfig`):

* the k-means bins (:class:`cnlab._compat.sklearn102_kbins.LegacyKMeansBins`): float32 inputs (the
  rater-factor statistics: prescoring factors are float32) are binned in float32 with 1.0.2's Lloyd
  iterations (:func:`cnlab._compat.sklearn102_kmeans.lloyd_1d`), and ``transform`` adds 1.0.2's
  ``1e-8 + 1e-5·|x|`` before binning;
* the tie order of the unstable sort of the training rows by noteId
  (:func:`cnlab._compat.numpy126_argsort.np1_avx512_argsort`, numpy 1.26 on an AVX-512 CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from cnlab import schema as S
from cnlab._memory import release_freed_memory
from cnlab._compat.sklearn102_kbins import LegacyKMeansBins

# The feature builders and the config (spec 06 §A.2–§A.7), re-exported: callers import them from here.
from cnlab.models import pflip_features as _features
from cnlab.models.pflip_features import (  # noqa: F401  (the feature names are re-exported)
    BUCKET_COUNT_COLUMNS,
    CRH_LABEL,
    CUTOFF,
    FLIP_LABEL,
    LABEL,
    LATENCY,
    PFlipConfig,
    PREFIXES,
    RATER_FACTOR,
    STATS_COLUMNS,
    USER_HELPFULNESS,
    USER_HELPFUL_TAGS,
    USER_NOT_HELPFUL_TAGS,
    burst_rating_stats,
    candidate_notes,
    label_notes,
    note_info,
    peer_note_counts,
    peer_ratings,
    quick_rating_stats,
    rater_factors,
    rating_set_features,
    recent_rating_stats,
    scoring_cutoffs,
    training_frame,
    tweet_creation_millis,
    _int_ids,
)

log = logging.getLogger("cnlab")

__all__ = [
    "PFlipModel",
    "PFLIP_PROBA",
    "pre_transform",
    "clip_thresholds",
    "roc_threshold",
    "build_pipeline",
    "fit_pipeline",
    *_features.__all__,
]

#: Output column of P(FLIP) (official ``PFLIP_PROBA`` / scored-notes ``pflipProba``).
PFLIP_PROBA = "pflipProba"

#: Peer-note count columns, in the order the pipeline consumes them.
PEER_COUNT_COLUMNS: tuple[str, ...] = ("TOTAL_PEER_NOTES", "TOTAL_PEER_MISLEADING_NOTES",
                                       "TOTAL_PEER_NON_MISLEADING_NOTES", "TOTAL_PEER_CRH_NOTES",
                                       "TOTAL_PEER_STABILIZATION_NOTES")
#: Tag-ratio order of the pipeline: the 13 not-helpful tags, then the 9 helpful tags (TSV order).
RATIO_TAGS: tuple[str, ...] = (*S.NOT_HELPFUL_TAGS, *S.HELPFUL_TAGS)


# ================================================================== pre-transform and pipeline
def _ratio_columns() -> list[str]:
    return [f"{p}_{t}" for p in PREFIXES for t in RATIO_TAGS]


def _bucket_columns(prefix: str | None = None) -> list[str]:
    ps = PREFIXES if prefix is None else (prefix,)
    return [f"{p}_{c}" for p in ps for c in BUCKET_COUNT_COLUMNS]


def clip_thresholds(train: pd.DataFrame, config: PFlipConfig = PFlipConfig()) -> dict[str, float]:
    """Clip limits from the raw training frame (spec 06 §A.8): q0.99 of every tag ratio, q0.999 of
    the first/burst/recent columns and the latency, q0.9999 of the peer counts (pandas linear
    quantiles, NaN skipped)."""
    th: dict[str, float] = {}
    for c in _ratio_columns():
        th[c] = float(train[c].quantile(0.99))
    for cols in config.timing_columns():
        for c in cols:
            th[c] = float(train[c].quantile(0.999))
    th[LATENCY] = float(train[LATENCY].quantile(0.999))
    for c in PEER_COUNT_COLUMNS:
        th[c] = float(train[c].quantile(0.9999))
    return th


def pre_transform(frame: pd.DataFrame, thresholds: Mapping[str, float],
                  config: PFlipConfig = PFlipConfig()) -> pd.DataFrame:
    """Transform raw features before the pipeline (spec 06 §A.8, train and predict)::

        tag ratio   r → clip(fillna(r, −0.25), −0.25, q0.99)
        *_RATIO     x → clip(x, 0, q0.999)
        *_TOTAL     x → log2(1 + clip(x, 0, q0.999))
        latency     x → log2(clip(x, 0, q0.999))
        peer count  x → log2(1 + clip(x, 0, q0.9999))
    """
    out = frame.copy()
    for c in _ratio_columns():
        out[c] = out[c].astype(np.float64).fillna(-0.25).clip(-0.25, thresholds[c])
    for cols in config.timing_columns():
        for c in cols:
            x = out[c].astype(np.float64).clip(0, thresholds[c])
            out[c] = x if "RATIO" in c else np.log(1 + x) / np.log(2)
    with np.errstate(divide="ignore"):
        out[LATENCY] = np.log(out[LATENCY].astype(np.float64).clip(0, thresholds[LATENCY])) / np.log(2)
    for c in PEER_COUNT_COLUMNS:
        out[c] = np.log(1 + out[c].astype(np.float64).clip(0, thresholds[c])) / np.log(2)
    return out


def _log2p1(x: Any) -> Any:
    """log2(1 + x) (module level so the pipeline pickles)."""
    return np.log(1 + x) / np.log(2)


def _fill_minus_one(x: pd.DataFrame) -> np.ndarray:
    return x.fillna(-1).to_numpy()


def _sklearn():
    """scikit-learn imports (lazy: only a run that uses pflip pays for them)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectPercentile, VarianceThreshold, chi2
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, PolynomialFeatures

    return dict(ColumnTransformer=ColumnTransformer,
                SelectPercentile=SelectPercentile, VarianceThreshold=VarianceThreshold, chi2=chi2,
                Pipeline=Pipeline, FunctionTransformer=FunctionTransformer,
                OneHotEncoder=OneHotEncoder, PolynomialFeatures=PolynomialFeatures)


def _logistic_regression(config: PFlipConfig, random_state: Any):
    """The pipeline's ``"lr"`` step: :class:`~cnlab.models.l1_logistic.L1Logistic` with the
    official liblinear settings and ``config.solver``."""
    from cnlab.models.l1_logistic import L1Logistic

    return L1Logistic(C=config.C, max_iter=config.max_iter, tol=config.tol, random_state=random_state,
                      solver=config.solver, liblinear_max_nonzeros=config.liblinear_max_nonzeros,
                      working_set_tol=config.working_set_tol, inner_solver=config.working_set_inner)


def crossed_implicit(config: PFlipConfig, n_rows: int) -> bool:
    """Whether a fit on ``n_rows`` training rows keeps the crossed blocks implicit
    (``PFlipConfig.crossed``; "auto": when the working set would fit the matrix anyway)."""
    if config.crossed not in ("auto", "explicit", "implicit"):
        raise ValueError(f"PFlipConfig.crossed must be 'auto', 'explicit' or 'implicit', got {config.crossed!r}")
    if config.crossed == "auto":
        return (config.solver != "liblinear"
                and n_rows * _features.CROSSED_NONZEROS_PER_ROW > config.liblinear_max_nonzeros)
    if config.crossed == "implicit" and config.solver == "liblinear":
        raise ValueError("PFlipConfig(crossed='implicit') needs a working-set solver ('auto' or 'working_set')")
    return config.crossed == "implicit"


def build_pipeline(train: pd.DataFrame, config: PFlipConfig, random_state: Any, *,
                   stock_bins: bool = False, lean: bool = True):
    """Feature pipeline + VarianceThreshold + L1 logistic regression (spec 06 §A.8), built from the
    raw (not pre-transformed) training frame: tag-ratio columns constant there are left out.

    ``lean`` (default) stacks the blocks with
    :class:`~cnlab.models.pflip_bag.LeanColumnTransformer` (one float32 output matrix, the same
    entries); False uses scikit-learn's ``ColumnTransformer`` (the reference the tests compare with).
    Where :func:`crossed_implicit` says so, the feature step is a
    :class:`~cnlab.models.pflip_design.CrossedFreeFeatures` (the same columns; crossed blocks as
    active bins) and the variance filter one that reads its design.

    Returns ``(pipeline, block_names)``.
    """
    sk = _sklearn()
    from cnlab.models.pflip_bag import LeanColumnTransformer, TokenBag  # imports scikit-learn

    P, VT, FT, PF = sk["Pipeline"], sk["VarianceThreshold"], sk["FunctionTransformer"], sk["PolynomialFeatures"]

    def bins(n: int):
        if stock_bins:  # the installed KBinsDiscretizer (diagnostics: version comparison)
            from sklearn.preprocessing import KBinsDiscretizer

            return KBinsDiscretizer(n_bins=n, encode="onehot", strategy="kmeans")
        # the pinned 1.0.2 KBinsDiscretizer (cnlab._compat.sklearn102_kbins)
        return LegacyKMeansBins(n, config.kmeans_algorithm, config.legacy_bin_transform)

    def cross(lo: int, hi: int):
        return PF(degree=(lo, hi), interaction_only=True, include_bias=False)

    blocks: list[tuple[str, Any, Any]] = [
        (S.AUTHOR_ID, sk["OneHotEncoder"](handle_unknown="ignore"), [S.AUTHOR_ID])]
    for p in PREFIXES:
        col = f"{p}_{USER_HELPFULNESS}"
        # float32 counts: the bag goes straight into the float32 stack (8 bytes a non-zero, not 12)
        blocks.append((col, TokenBag("helpfulness", min_df=config.helpfulness_rater_min, dtype=np.float32),
                       col))
    for kind, pct, token_kind in ((USER_HELPFUL_TAGS, config.helpful_tag_percentile, "helpful_tags"),
                                  (USER_NOT_HELPFUL_TAGS, config.not_helpful_tag_percentile, "not_helpful_tags")):
        for p in PREFIXES:
            col = f"{p}_{kind}"
            blocks.append((col, P([("bag", TokenBag(token_kind, min_df=config.tag_rater_min)),
                                   ("select", sk["SelectPercentile"](sk["chi2"], percentile=pct))]), col))
    for col in _ratio_columns():
        vals = train[col]
        if not (vals.min() < vals.max()):  # constant (or all missing) in training: no block
            continue
        blocks.append((col, P([("drop_constant", VT()), ("bins", bins(config.tag_ratio_bins))]), [col]))
    counts = _bucket_columns()
    for col in counts:
        blocks.append((col, P([("log", FT(_log2p1)), ("bins", bins(config.rating_count_bins))]), [col]))
    for d in (2, 3):
        blocks.append((f"cross_note_counts_degree_{d}", P([
            ("log", FT(_log2p1)), ("bins", bins(config.rating_count_bins)), ("drop_rare", VT(0.001)),
            ("cross", cross(d, d)), ("drop_rare_again", VT(0.001))]), counts))
    for p in PREFIXES:
        blocks.append((f"{p}_cross_note_counts_degree_4", P([
            ("log", FT(_log2p1)), ("bins", bins(config.rating_count_bins)), ("drop_rare", VT(0.001)),
            ("cross_0", cross(2, 2)), ("cross_1", cross(2, 2)), ("drop_rare_again", VT(0.001))]),
            _bucket_columns(p)))
    for p in PREFIXES:
        blocks.append((f"{p}_stat_cols", P([
            ("fill", FT(_fill_minus_one)), ("bins", bins(config.factor_stats_bins)),
            ("cross", cross(1, 2)), ("drop_rare", VT(0.001))]), [f"{p}_{c}" for c in STATS_COLUMNS]))
    for cols in config.timing_columns():
        for col in cols:
            blocks.append((col, bins(config.burst_bins), [col]))
    blocks.append((LATENCY, bins(config.latency_bins), [LATENCY]))
    for col in PEER_COUNT_COLUMNS:
        blocks.append((col, bins(config.peer_note_count_bins), [col]))
    blocks.append(("peer_note_cross_degree_2", P([
        ("log", FT(_log2p1)), ("bins", bins(config.peer_note_count_bins)), ("cross", cross(2, 2)),
        ("drop_rare", VT(0.001))]), list(PEER_COUNT_COLUMNS)))
    if crossed_implicit(config, len(train)):
        from cnlab.models.pflip_design import CrossedFreeFeatures, DesignVarianceThreshold

        features, drop_constants = CrossedFreeFeatures(blocks), DesignVarianceThreshold()
    else:
        features = (LeanColumnTransformer if lean else sk["ColumnTransformer"])(blocks)
        drop_constants = VT()
    pipe = P([("features", features), ("drop_constants", drop_constants),
              ("lr", _logistic_regression(config, random_state))])
    return pipe, [b[0] for b in blocks]


def fit_pipeline(pipeline: Any, x: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Fit the steps of :func:`build_pipeline`'s pipeline on ``x`` in place and return the decision
    values of ``x``: the fitted steps and the values of ``pipeline.fit(x, y)`` followed by
    ``pipeline.decision_function(x)``, bit for bit, with the features transformed once.

    ``Pipeline.fit`` keeps nothing of the training matrix, so the decision values of the training
    rows transformed the whole feature set a second time. Here the matrix of the features step goes
    straight to the variance filter and liblinear, and memory is spent once:

    * the variance filter is fitted by :func:`~cnlab.models.pflip_bag.fit_variance_filter`: a
      float64 copy of the values only, sharing the indices of the (float32,
      :func:`~cnlab.models.pflip_bag.stack_csr`) matrix, and the column ranges without a CSC copy
      — scikit-learn would copy the whole matrix to float64 and then to CSC;
    * its column selection is skipped when it keeps every column, and otherwise compacts the
      matrix in its own arrays (:func:`~cnlab.models.pflip_bag.drop_columns_inplace`) instead of
      copying it (with a :class:`~cnlab.models.pflip_bag.LeanColumnTransformer`, whose output is
      new; other feature steps get the filter's copy);
    * ``x`` is released once the features are built (pass it as a temporary, no other reference).

    The ``"lr"`` step (:class:`~cnlab.models.l1_logistic.L1Logistic`) then either gives the whole
    matrix to liblinear, which copies it by rows and by columns (16 bytes a non-zero each), or
    fits working sets of its columns (no copy of the whole matrix).

    Examples
    --------
    >>> from sklearn.compose import ColumnTransformer
    >>> from sklearn.feature_selection import VarianceThreshold
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.preprocessing import OneHotEncoder
    >>> x = pd.DataFrame({"a": [0, 1, 2, 0, 1, 2], "b": [5, 5, 5, 5, 5, 5]})
    >>> y = np.array([0, 1, 1, 0, 1, 0])
    >>> def make():
    ...     return Pipeline([("features", ColumnTransformer([("a", OneHotEncoder(), ["a", "b"])])),
    ...                      ("drop_constants", VarianceThreshold()),
    ...                      ("lr", LogisticRegression(solver="liblinear", random_state=0))])
    >>> p = make()
    >>> d = fit_pipeline(p, x, y)
    >>> bool(np.array_equal(d, make().fit(x, y).decision_function(x)))
    True
    >>> int(p.named_steps["drop_constants"].get_support().sum())   # the constant "b" is dropped
    3
    """
    import scipy.sparse as sp

    from cnlab.models.pflip_bag import LeanColumnTransformer, drop_columns_inplace, fit_variance_filter

    from cnlab.models.pflip_design import CrossedFreeFeatures, fit_design_variance

    (_, features), (_, drop_constants), (_, lr) = pipeline.steps
    if isinstance(features, CrossedFreeFeatures):
        # crossed blocks as active bins: the variance filter and the working set read them as such
        design = features.fit_transform(x, y)
        del x
        release_freed_memory()
        keep = fit_design_variance(drop_constants, design).get_support()
        if not keep.all():
            design = design.keep_columns(keep, inplace=True)  # the stacks are the fit's own
        lr.fit(design, y)
        return lr.decision_function(design)
    if isinstance(features, LeanColumnTransformer):
        m = features.fit_transform_stacked(x, y, csc_above=_csc_above(lr))
    else:
        m = features.fit_transform(x, y)
    del x
    release_freed_memory()
    if sp.issparse(m) and m.format in ("csr", "csc"):
        fit_variance_filter(drop_constants, m)
    else:
        drop_constants.fit(m)
    keep = drop_constants.get_support()
    if not keep.all():
        if isinstance(features, LeanColumnTransformer) and sp.issparse(m) and m.format in ("csr", "csc"):
            m = drop_columns_inplace(m, keep)  # a new stack, ours alone: compact it in place
        else:
            m = drop_constants.transform(m)  # rebinding releases the unfiltered matrix
    release_freed_memory()
    lr.fit(m, y)
    return lr.decision_function(m)


def _csc_above(lr: Any) -> float:
    """Non-zeros above which the features are stacked CSC (:meth:`LeanColumnTransformer.
    fit_transform_stacked`): where :class:`~cnlab.models.l1_logistic.L1Logistic` fits working sets
    of columns. Where liblinear gets the whole matrix the stack stays CSR, in the official entry
    order (liblinear's sums follow it: the official bits)."""
    from cnlab.models.l1_logistic import L1Logistic

    return lr.whole_matrix_limit if isinstance(lr, L1Logistic) else float("inf")


def _own_token_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each array-valued cell (the rater-token lists, views of a shared buffer,
    :func:`~cnlab.models.pflip_tokens.token_lists`) replaced by its own copy."""
    out = frame.copy(deep=False)
    for col in frame.columns:
        vals = frame[col].to_numpy()
        if vals.dtype == object and len(vals) and isinstance(vals[0], np.ndarray):
            copied = np.empty(len(vals), dtype=object)
            copied[:] = [np.array(v) for v in vals]
            out[col] = pd.Series(copied, index=frame.index)
    return out


def roc_threshold(labels: np.ndarray, scores: np.ndarray, target_fpr: float
                  ) -> tuple[float, float, float, float]:
    """Decision threshold whose training false-positive rate is closest to ``target_fpr``
    (spec 06 §A.9): on ``roc_curve(labels, scores)`` (intermediate points dropped), the first index
    minimising |FPR − target|. Returns ``(threshold, tpr, fpr, auc)``."""
    from sklearn.metrics import auc, roc_curve

    fpr, tpr, thr = roc_curve(labels, scores)
    i = int(np.argmin(np.abs(fpr - target_fpr)))
    return float(thr[i]), float(tpr[i]), float(fpr[i]), float(auc(fpr, tpr))


def _rates(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float, float]:
    from sklearn.metrics import auc, roc_curve

    pred = scores > threshold
    pos, neg = labels == 1, labels == 0
    tpr = float((pred & pos).sum() / max(pos.sum(), 1))
    fpr = float((pred & neg).sum() / max(neg.sum(), 1))
    try:
        f, t, _ = roc_curve(labels, scores)
        a = float(auc(f, t))
    except ValueError:
        a = float("nan")
    return tpr, fpr, a


@contextlib.contextmanager
def _quiet_single_thread():
    """Silence scikit-learn's expected warnings (k-means with fewer distinct values than bins,
    narrow bins) and run native code on one thread: results do not depend on the machine's core
    count, and the hundreds of tiny 1-D k-means fits are 4–8× faster than with OpenMP threads
    competing on a shared machine."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        yield


# ================================================================== the model
@dataclass(frozen=True)
class PFlipModel:
    """The pflip model (official ``PFlipPlusModel``). Unfitted as constructed; :meth:`fit`
    returns a fitted copy.

    Attributes
    ----------
    config
        :class:`PFlipConfig`.
    pipeline
        The fitted scikit-learn pipeline (None before fitting or when there was nothing to fit).
    threshold
        Decision threshold: FLIP when the decision value is strictly greater.
    clip
        Pre-transform clip limits (:func:`clip_thresholds`).
    seed
        Seed of the train/validation split and of liblinear.
    metrics
        Training and validation threshold / TPR / FPR / AUC and set sizes.
    report
        Counts of every training-data step (per cutoff mode).
    blocks
        Names of the ColumnTransformer blocks (124 in the official fixture run).
    train_frame
        The raw (not pre-transformed) feature frame used for training, both cutoff copies, sorted
        by noteId, with ``_split`` ∈ {"train", "validation"} and ``_position`` (row order within
        the split).
    """

    config: PFlipConfig = PFlipConfig()
    pipeline: Any = None
    threshold: float | None = None
    clip: Mapping[str, float] = field(default_factory=dict)
    seed: int | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    report: Mapping[str, Any] = field(default_factory=dict)
    blocks: tuple[str, ...] = ()
    train_frame: pd.DataFrame | None = None

    @property
    def fitted(self) -> bool:
        return self.pipeline is not None and self.threshold is not None

    # ------------------------------------------------------------------ fit
    def fit(self, notes: pd.DataFrame, ratings: pd.DataFrame, status_history: pd.DataFrame,
            prescoring_rater_output: pd.DataFrame, *, seed: int | None = None,
            keep_frame: bool = True, ratings_read: Any = None) -> "PFlipModel":
        """Train on notes with a known outcome (spec 06 §A.9; prescoring, PSS-coalesced ratings).

        ``seed`` drives the 90/10 train/validation split and liblinear's coordinate order exactly as
        the official ``np.random.seed(seed)`` does (one ``RandomState`` consumed in the same order:
        the split's permutation, then liblinear's seed). With no training rows the returned model
        stays unfitted (``fitted`` False) and predicts nothing.

        ``keep_frame=False`` leaves :attr:`train_frame` None and lets the training frame go as soon
        as the split is made: its rater-token lists (one entry per rating on a training note) are
        then freed once the design matrix is built, before the classifier is fitted (what a lean
        run, ``keep="outputs"``, does). The fitted model is the same.

        ``ratings_read()``, if given, is called once the training frame is built: the fit reads no
        rating after it, so a caller that can read them again elsewhere drops its references
        there (a run at scale: the features and the classifier then fit without the ratings).
        """
        cfg = self.config
        rep: dict[str, Any] = {}
        factors = rater_factors(prescoring_rater_output)
        frame = training_frame(notes, ratings, status_history, factors, config=cfg, report=rep)
        del ratings
        if ratings_read is not None:
            ratings_read()
        if frame.empty or frame[LABEL].nunique() < 2:
            log.warning("pflip: %d training rows with %d label value(s); model not fitted",
                        len(frame), frame[LABEL].nunique() if len(frame) else 0)
            return dataclasses.replace(self, seed=seed, report=rep, train_frame=frame,
                                       metrics={"rows": len(frame)})
        from sklearn.model_selection import train_test_split

        rng = np.random.RandomState(seed)
        train, valid = train_test_split(frame, train_size=cfg.train_size, random_state=rng)
        n_rows, frame_index = len(frame), frame.index
        if not keep_frame:
            frame = None
            # the token lists are views of one buffer per kind: copies for the validation rows let
            # the buffers go with the training rows
            valid = _own_token_lists(valid)
        clip = clip_thresholds(train, cfg)
        pipe, blocks = build_pipeline(train, cfg, rng)
        yt = (train[LABEL] == FLIP_LABEL).to_numpy().astype(np.int8)
        yv = (valid[LABEL] == FLIP_LABEL).to_numpy().astype(np.int8)
        train_index, valid_index = train.index, valid.index
        try:
            with _quiet_single_thread():
                # the pre-transformed rows go to fit_pipeline as its only reference, so that they
                # (and the token lists, once ``train`` is gone too) are freed after the features
                held = [pre_transform(train, clip, cfg)]
                del train
                st = fit_pipeline(pipe, held.pop(), yt)
                xv = pre_transform(valid, clip, cfg)
                del valid
                sv = pipe.decision_function(xv) if len(xv) else np.zeros(0)
        except ValueError as e:  # e.g. a block left with no feature on tiny data
            # The official fit raises and aborts the run; cnlab keeps scoring without pflip.
            log.warning("pflip: the feature pipeline could not be fitted (%s); model not fitted", e)
            return dataclasses.replace(self, seed=seed, report=rep, train_frame=frame,
                                       metrics={"rows": n_rows, "error": str(e)})
        thr, tpr, fpr, auc_t = roc_threshold(yt, st, cfg.crh_fp_rate)
        vtpr, vfpr, vauc = _rates(yv, sv, thr) if len(xv) else (np.nan, np.nan, np.nan)
        n_feat = int(pipe.named_steps["drop_constants"].get_support().sum())
        metrics = {"rows": n_rows, "train_rows": len(train_index), "validation_rows": len(valid_index),
                   "train_flip": int(yt.sum()), "threshold": thr, "train_tpr": tpr, "train_fpr": fpr,
                   "train_auc": auc_t, "validation_tpr": vtpr, "validation_fpr": vfpr,
                   "validation_auc": vauc, "features": n_feat,
                   "features_before_variance_filter": int(
                       pipe.named_steps["drop_constants"].variances_.shape[0]),
                   "nonzero_coefficients": int((pipe.named_steps["lr"].coef_ != 0).sum())}
        kept = None
        if frame is not None:
            split = pd.Series("validation", index=frame_index)
            split.loc[train_index] = "train"
            position = pd.Series(0, index=frame_index)
            position.loc[train_index] = np.arange(len(train_index))
            position.loc[valid_index] = np.arange(len(valid_index))
            kept = frame.assign(_split=split.to_numpy(), _position=position.to_numpy())
        return dataclasses.replace(self, pipeline=pipe, threshold=thr, clip=clip, seed=seed,
                                   metrics=metrics, report=rep, blocks=tuple(blocks), train_frame=kept)

    # ------------------------------------------------------------------ predict
    def predict(self, notes: pd.DataFrame, ratings: pd.DataFrame, status_history: pd.DataFrame,
                prescoring_rater_output: pd.DataFrame) -> pd.DataFrame:
        """``noteId, LABEL, pflipProba`` for every candidate note (spec 06 §A.10).

        Posts are processed in batches of ``max_batch_size`` (every note of a post in the same
        batch, posts in order of first appearance); ``LABEL = FLIP`` if the decision value is
        greater than :attr:`threshold`, else ``CRH``; ``pflipProba = P(FLIP)``. An unfitted model
        returns an empty frame (every note then counts as predicted to flip).
        """
        empty = pd.DataFrame({S.NOTE_ID: pd.Series(dtype=np.int64), LABEL: pd.Series(dtype=object),
                              PFLIP_PROBA: pd.Series(dtype=np.float64)})
        if not self.fitted or notes.empty:
            return empty
        factors = rater_factors(prescoring_rater_output)
        tweets = _int_ids(notes[S.TWEET_ID])
        order = pd.unique(tweets[tweets != -1])
        nid = S.NOTE_ID
        out = [empty]
        bs = self.config.max_batch_size
        for start in range(0, len(order), bs):
            batch = set(order[start:start + bs].tolist())
            ids = notes.loc[np.isin(tweets, list(batch)), nid]
            info = note_info(notes[notes[nid].isin(ids)], ratings[ratings[nid].isin(ids)],
                             status_history[status_history[nid].isin(ids)], factors, config=self.config)
            if info.empty:
                continue
            x = pre_transform(info, self.clip, self.config)
            with _quiet_single_thread():
                # the steps of pipeline.decision_function / predict_proba, transforming x once
                for _, step in self.pipeline.steps[:-1]:
                    x = step.transform(x)
                lr = self.pipeline.steps[-1][1]
                d = lr.decision_function(x)
                p = lr.predict_proba(x)[:, 1]
            out.append(pd.DataFrame({nid: info[nid].to_numpy(dtype=np.int64),
                                     LABEL: np.where(d > self.threshold, FLIP_LABEL, CRH_LABEL),
                                     PFLIP_PROBA: p}))
        return pd.concat(out, ignore_index=True)

    def summary(self) -> str:
        if not self.fitted:
            return f"PFlipModel (unfitted; {self.metrics.get('rows', 0)} training rows)"
        m = self.metrics
        return "\n".join([
            f"PFlipModel: {m['rows']} training rows ({m['train_rows']} train / {m['validation_rows']} "
            f"validation, {m['train_flip']} FLIP in train), seed={self.seed}",
            f"  {len(self.blocks)} feature blocks → {m['features_before_variance_filter']} columns → "
            f"{m['features']} after VarianceThreshold; {m['nonzero_coefficients']} non-zero coefficients",
            f"  threshold={m['threshold']:.6g}  train tpr={m['train_tpr']:.4f} fpr={m['train_fpr']:.4f} "
            f"auc={m['train_auc']:.4f}",
            f"  validation tpr={m['validation_tpr']:.4f} fpr={m['validation_fpr']:.4f} "
            f"auc={m['validation_auc']:.4f}",
        ])
