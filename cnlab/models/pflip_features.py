"""pflip feature builders: notes, ratings and status history → the pflip training / prediction
frame (spec 06 §A.3–§A.7, the sort of §A.9; official ``PFlipPlusModel._get_notes``,
``_label_notes``, ``_compute_scoring_cutoff``, ``_prepare_note_info``).

One row of raw (not pre-transformed) features per scored note::

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

:class:`PFlipConfig` lives here because the builders read it (cutoffs, time buckets, factor bound,
tie order); the pre-transform, the scikit-learn pipeline, the threshold and
:class:`~cnlab.models.pflip.PFlipModel` are in :mod:`cnlab.models.pflip`, which re-exports every
name of this module.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._arrays import lexsort2, unique
from cnlab.models import pflip_tokens as _tok
from cnlab._compat.numpy126_argsort import np1_avx512_argsort

log = logging.getLogger("cnlab")

__all__ = [
    "PFlipConfig",
    "LABEL",
    "CRH_LABEL",
    "FLIP_LABEL",
    "tweet_creation_millis",
    "candidate_notes",
    "label_notes",
    "scoring_cutoffs",
    "rater_factors",
    "peer_ratings",
    "quick_rating_stats",
    "burst_rating_stats",
    "recent_rating_stats",
    "peer_note_counts",
    "rating_set_features",
    "rating_set_chunks",
    "note_info",
    "training_frame",
]

#: Label column: the training label here, the predicted label of ``PFlipModel.predict`` (official
#: ``pflip_plus_model.LABEL``).
LABEL = "LABEL"
CRH_LABEL = "CRH"
FLIP_LABEL = "FLIP"

MINUTE_MILLIS = 60_000
#: Snowflake epoch of post ids: creation ms = (id >> 22) + this (official
#: ``_get_timestamp_from_snowflake``).
TWITTER_EPOCH_MILLIS = 1288834974657

LOCAL, PEER_MISLEADING, PEER_NON_MISLEADING = "LOCAL", "PEER_MISLEADING", "PEER_NON_MISLEADING"
PREFIXES: tuple[str, ...] = (LOCAL, PEER_MISLEADING, PEER_NON_MISLEADING)
USER_HELPFULNESS = "USER_HELPFULNESS_RATINGS"
USER_HELPFUL_TAGS = "USER_HELPFUL_TAGS"
USER_NOT_HELPFUL_TAGS = "USER_NOT_HELPFUL_TAGS"
RATER_FACTOR = "RATER_FACTOR"
CUTOFF = "SCORING_CUTOFF_MTS"
NOTE_CREATION = "noteCreationMillis"
TWEET_CREATION = "tweetCreationMillis"
LATENCY = "NOTE_WRITING_LATENCY"
VIEWPOINTS: tuple[str, ...] = ("NEGATIVE", "NEUTRAL", "POSITIVE")
LEVELS: tuple[str, ...] = (S.HELPFUL, S.SOMEWHAT_HELPFUL, S.NOT_HELPFUL)
#: The 9 factor-sign × helpfulness-level count columns (viewpoint-major order).
BUCKET_COUNT_COLUMNS: tuple[str, ...] = tuple(f"{v}_{lv}" for v in VIEWPOINTS for lv in LEVELS)
#: The 7 statistics of the rater factors of HELPFUL ratings.
STATS_COLUMNS: tuple[str, ...] = ("MAX_POS_HELPFUL", "MAX_NEG_HELPFUL", "MEAN_POS_HELPFUL",
                                  "MEAN_NEG_HELPFUL", "STD_HELPFUL", "MAX_DIFF", "MEAN_DIFF")

_NSH_FIRST_STAB = "timestampMillisOfFirstNmrDueToMinStableCrhTime"
_NSH_FIRST_NON_NMR_TS = "timestampMillisOfFirstNonNMRStatus"
_NSH_FIRST_NON_NMR = "firstNonNMRStatus"


#: Non-zeros of one row in the crossed count blocks when every bin is kept: the 27 binned count
#: columns crossed by pairs and by triples, C(27, 2) + C(27, 3), and each prefix's 9 crossed as pairs
#: of pairs, 3·C(C(9, 2), 2) (the basis of ``PFlipConfig.crossed="auto"``).
CROSSED_NONZEROS_PER_ROW = 351 + 2925 + 3 * 630


@dataclass(frozen=True)
class PFlipConfig:
    """Hyper-parameters of the pflip model (official ``PFlipPlusModel`` constructor defaults used by
    ``run_prescoring``, spec 06 §A.2).

    Attributes
    ----------
    rating_recency_cutoff_minutes
        Assumed delay between a rating and the scoring run that sees it; training cutoffs are this
        much before the stabilization / CRH time (official ``ratingRecencyCutoffMinutes`` 15).
    helpfulness_rater_min
        ``min_df`` of the rater:level token bags (official ``helpfulnessRaterMin`` 1).
    tag_rater_min
        ``min_df`` of the rater:tag token bags (official ``tagRaterMin`` 5).
    helpful_tag_percentile, not_helpful_tag_percentile
        χ² ``SelectPercentile`` of the helpful / not-helpful rater:tag bags (official
        ``helpfulTagPercentile`` 10, ``notHelpfulTagPercentile`` 50).
    C, max_iter, tol
        L1 logistic regression (liblinear) strength, iterations and tolerance (official ``C`` 0.04,
        ``maxIter`` 2500, ``tol`` 1e-4; ``penalty`` "l1", ``solver`` "liblinear", ``classWeight``
        {0: 1, 1: 1}).
    solver
        How the L1 logistic regression is fitted (:class:`cnlab.models.l1_logistic.L1Logistic`).
        ``"liblinear"``: on the whole design matrix, the official solver (bit for bit).
        ``"working_set"``: working sets of columns grown until every column meets the optimality
        condition (the same objective, solved to ``working_set_tol``; the matrix is never copied;
        each set solved as ``working_set_inner`` says). ``"auto"`` (default): liblinear while the matrix has at most
        ``liblinear_max_nonzeros`` non-zeros, the working set above (liblinear's copies need 32
        bytes a non-zero and it refuses more than 2³¹). ``ScoringConfig(fidelity="fast")`` uses the
        working set at every size. Not an official setting.
    liblinear_max_nonzeros
        Largest design matrix ``"auto"`` fits with liblinear whole: 2²⁷ (134M non-zeros, ~11.5M
        ratings on public-shaped data, 4 GiB of liblinear copies). Not an official setting.
    crossed
        How the crossed count blocks (89 % of the matrix's non-zeros) are held: ``"explicit"``, as
        the ``PolynomialFeatures`` output; ``"implicit"``, as each row's active bins, the products
        computed a chunk of rows at a time (:mod:`cnlab.models.pflip_design`; working-set fits only,
        the same columns and optimum); ``"auto"`` (default): implicit when the fit would use the
        working set anyway, i.e. when the training rows times :data:`CROSSED_NONZEROS_PER_ROW`
        exceed ``liblinear_max_nonzeros`` (from ~26k training rows, ~13M public-shaped ratings) and
        ``solver`` is not ``"liblinear"``. Not an official setting.
    working_set_tol
        Stopping tolerance of the working-set fit: relative summed violation of the optimality
        conditions, as liblinear's ``tol`` but 100× tighter, which puts the decision values within
        1e-4 of the optimum (liblinear at ``tol`` 1e-4 stops ~0.04 from it). Not an official setting.
    working_set_inner
        How each working set is solved (``L1Logistic(inner_solver=...)``): ``"newton"`` (default),
        warm-started proximal Newton on sets rebuilt around the support; ``"liblinear"``, liblinear
        from zero on sets that only grow. The same objective and stopping rule. Not an official
        setting.
    train_size
        Share of the training rows used for fitting; the rest is a validation set whose metrics
        are only reported (official ``trainSize`` 0.9).
    crh_fp_rate
        Target false-positive rate on the training set: the share of eventually-CRH notes that may
        be predicted FLIP (official ``crhFpRate`` 0.6).
    tag_ratio_bins, rating_count_bins, factor_stats_bins, burst_bins, latency_bins, peer_note_count_bins
        k-means bins of each feature family (official ``tag_ratio_bins`` 10, ``rating_count_bins``
        7, ``factor_stats_bins`` 10, ``burst_bins`` 5, ``latency_bins`` 10,
        ``peer_note_count_bins`` 4).
    rating_time_buckets
        Windows in minutes of the first / burst / recent rating counts (official
        ``_RATING_TIME_BUCKETS`` [1, 5, 15, 60]).
    min_tweet_id
        Training keeps notes on posts with a larger id (created after ≈2024-08-19, official
        ``_MIN_TWEET_ID`` 1825679568688054351).
    min_ratings_for_cutoff
        The training cutoff is never before the time of the note's n-th rating (official
        ``minRatings`` 5 of ``_compute_scoring_cutoff``).
    factor_bound
        Rater factors below −bound / above +bound are NEGATIVE / POSITIVE (official 0.3).
    max_batch_size
        Posts per prediction batch (official ``maxBatchSize`` 10,000).
    kmeans_algorithm
        1-D k-means of the bins. ``"legacy"``: cnlab's replica of the Lloyd iterations of
        scikit-learn 1.0.2 / numpy 1.26 (pinned by the official run), including float32 arithmetic
        and the tie order of numpy 1.x ``argpartition`` when empty clusters are relocated
        (:mod:`cnlab._compat.sklearn102_kmeans`) — identical bins on any installed version;
        ``"lloyd"`` / ``"elkan"``: the installed ``KMeans`` (newer versions can end in other local
        optima on tied float32 data).
    legacy_bin_transform
        Bin values as scikit-learn 1.0.2 does (``digitize(x + 1e-8 + 1e-5·|x|)``,
        :mod:`cnlab._compat.sklearn102_kbins`); False uses the installed version's ``searchsorted``.
    tie_order
        Order of the two training copies (cutoff MIN / MAX) of a note after the sort by noteId,
        which decides which copies the random 90/10 split puts in training. The official code uses
        pandas' default (unstable) sort, i.e. numpy's ``argsort(kind="quicksort")``, whose tie order
        depends on the numpy build and CPU. ``"numpy1-avx512"``: cnlab's replica of numpy 1.26 on
        an AVX-512 CPU (:mod:`cnlab._compat.numpy126_argsort`; the official environment: it
        reproduces the fixture's split and threshold exactly); ``"numpy"``: the installed numpy's
        quicksort; ``"stable"``: MIN copy first.
    """

    rating_recency_cutoff_minutes: int = 15
    helpfulness_rater_min: int = 1
    tag_rater_min: int = 5
    helpful_tag_percentile: int = 10
    not_helpful_tag_percentile: int = 50
    C: float = 0.04
    max_iter: int = 2500
    tol: float = 1e-4
    solver: Literal["auto", "liblinear", "working_set"] = "auto"
    liblinear_max_nonzeros: int = 1 << 27
    working_set_tol: float = 1e-6
    working_set_inner: Literal["liblinear", "newton"] = "newton"
    crossed: Literal["auto", "explicit", "implicit"] = "auto"
    train_size: float = 0.9
    crh_fp_rate: float = 0.6
    tag_ratio_bins: int = 10
    rating_count_bins: int = 7
    factor_stats_bins: int = 10
    burst_bins: int = 5
    latency_bins: int = 10
    peer_note_count_bins: int = 4
    rating_time_buckets: tuple[int, ...] = (1, 5, 15, 60)
    min_tweet_id: int = 1825679568688054351
    min_ratings_for_cutoff: int = 5
    factor_bound: float = 0.3
    max_batch_size: int = 10_000
    kmeans_algorithm: Literal["legacy", "lloyd", "elkan"] = "legacy"
    tie_order: Literal["numpy1-avx512", "numpy", "stable"] = "numpy1-avx512"
    legacy_bin_transform: bool = True

    def timing_columns(self) -> tuple[list[str], list[str], list[str]]:
        """``FIRST_*``, ``BURST_*`` and ``RECENT_*`` columns (totals then ratios)."""
        def cols(kind: str) -> list[str]:
            b = self.rating_time_buckets
            return [f"{kind}_{m}_TOTAL" for m in b] + [f"{kind}_{m}_RATIO" for m in b]

        return cols("FIRST"), cols("BURST"), cols("RECENT")

# ================================================================== candidate notes and labels
def _int_ids(values: pd.Series) -> np.ndarray:
    """int64 post ids from an int or string column (unparseable / missing → −1)."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype=np.int64)
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values.astype(object).to_numpy()):
        try:
            out[i] = int(v)
        except (TypeError, ValueError):
            pass
    return out


def tweet_creation_millis(tweet_ids: np.ndarray) -> np.ndarray:
    """Creation time of a post from its snowflake id: ``(id >> 22) + 1288834974657`` (06 §A.3)."""
    return (np.asarray(tweet_ids, dtype=np.int64) >> 22) + TWITTER_EPOCH_MILLIS


def candidate_notes(notes: pd.DataFrame, status_history: pd.DataFrame) -> pd.DataFrame:
    """Notes the model can score (spec 06 §A.3).

    ``NSH[noteId, createdAtMillis → noteCreationMillis] ⋈ notes[noteId, tweetId, classification]``
    (inner), keeping ``tweetId > 0`` and a non-missing classification. Adds
    ``tweetCreationMillis`` (snowflake time of the post). ``tweetId`` becomes int64.
    """
    nid = S.NOTE_ID
    nsh = status_history[[nid, S.CREATED_AT]].rename(columns={S.CREATED_AT: NOTE_CREATION})
    nn = pd.DataFrame({nid: notes[nid].to_numpy(dtype=np.int64),
                       S.TWEET_ID: _int_ids(notes[S.TWEET_ID]),
                       S.CLASSIFICATION: notes[S.CLASSIFICATION].astype(object).to_numpy()})
    out = nsh.merge(nn, on=nid, how="inner")
    out[NOTE_CREATION] = out[NOTE_CREATION].astype(np.int64)
    out[TWEET_CREATION] = tweet_creation_millis(out[S.TWEET_ID].to_numpy())
    keep = (out[S.TWEET_ID] > 0) & out[S.CLASSIFICATION].notna()
    return out.loc[keep].reset_index(drop=True)


def label_notes(status_history: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Training labels (spec 06 §A.4).

    * ``CRH``  if ``lockedStatus == CRH``;
    * ``FLIP`` if ``firstNonNMRStatus == CRH`` and ``lockedStatus ∈ {NMR, CRNH}``;
    * ``FLIP`` if the note entered stabilization (``timestampMillisOfFirstNmrDueToMinStableCrhTime``
      set), never had a non-NMR status and ``lockedStatus ∈ {NMR, CRNH}``;
    * otherwise unlabeled. ``CRH`` labels of notes last decided by ScoringDriftGuard are dropped.

    Returns ``(frame[noteId, LABEL], counts)`` with the label counts before / after the drift-guard
    exclusion.
    """
    nsh = status_history
    locked = nsh["lockedStatus"].astype(object)
    first = nsh[_NSH_FIRST_NON_NMR].astype(object)
    stab = pd.to_numeric(nsh[_NSH_FIRST_STAB], errors="coerce")
    settled_low = locked.isin([S.NMR, S.CRNH]).to_numpy()
    lab = np.full(len(nsh), None, dtype=object)
    lab[(locked == S.CRH).to_numpy()] = CRH_LABEL
    lab[(first == S.CRH).to_numpy() & settled_low] = FLIP_LABEL
    lab[stab.notna().to_numpy() & first.isna().to_numpy() & settled_low] = FLIP_LABEL
    has = np.array([x is not None for x in lab], dtype=bool)
    decided = nsh["currentDecidedBy"].astype(object).fillna("").astype(str)
    drift = (lab == CRH_LABEL) & decided.str.startswith("ScoringDriftGuard").to_numpy()
    counts = {"crh_before_drift_guard": int((lab == CRH_LABEL).sum()),
              "flip": int((lab == FLIP_LABEL).sum()),
              "crh_dropped_drift_guard": int(drift.sum())}
    keep = has & ~drift
    out = pd.DataFrame({S.NOTE_ID: nsh[S.NOTE_ID].to_numpy(dtype=np.int64)[keep], LABEL: lab[keep]})
    counts["crh"] = int((out[LABEL] == CRH_LABEL).sum())
    return out, counts


def scoring_cutoffs(
    status_history: pd.DataFrame, ratings: pd.DataFrame, mode: Literal["MIN", "MAX"], *,
    recency_cutoff_minutes: int = 15, min_ratings: int = 5,
) -> pd.DataFrame:
    """Per training note, the last rating time the model may see (spec 06 §A.5).

    For notes that entered stabilization or were CRH::

        base   = min | max (timestampMillisOfFirstNmrDueToMinStableCrhTime,
                            timestampMillisOfFirstNonNMRStatus)          (NaN ignored)
        floor  = min(time of the note's n-th rating, time of its last rating)   n = 5
        cutoff = max(base − 15 min, floor)

    Notes without ratings get no cutoff. Returns ``noteId, SCORING_CUTOFF_MTS`` (int64).
    """
    nid = S.NOTE_ID
    nsh = status_history
    stab = pd.to_numeric(nsh[_NSH_FIRST_STAB], errors="coerce").to_numpy(dtype=np.float64)
    crh_ts = pd.to_numeric(nsh[_NSH_FIRST_NON_NMR_TS], errors="coerce").to_numpy(dtype=np.float64)
    scope = ~np.isnan(stab) | (nsh[_NSH_FIRST_NON_NMR].astype(object) == S.CRH).to_numpy()
    both = np.column_stack([stab, crh_ts])[scope]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows cannot occur in scope
        base = np.nanmin(both, axis=1) if mode == "MIN" else np.nanmax(both, axis=1)
    if mode not in ("MIN", "MAX"):
        raise ValueError(f"mode must be 'MIN' or 'MAX', got {mode!r}")
    cut = pd.DataFrame({nid: nsh[nid].to_numpy(dtype=np.int64)[scope],
                        CUTOFF: base.astype(np.int64) - recency_cutoff_minutes * MINUTE_MILLIS})
    # the rating times of the notes in scope, sorted by note then time (two int64 arrays)
    inside = ratings[nid].isin(cut[nid]).to_numpy()
    note = ratings[nid].to_numpy(dtype=np.int64)[inside]
    t = ratings[S.CREATED_AT].to_numpy(dtype=np.int64)[inside]
    del inside
    order = lexsort2(t, note)
    note, t = note[order], t[order]
    del order
    first = np.flatnonzero(np.r_[True, note[1:] != note[:-1]]) if len(note) else np.zeros(0, np.int64)
    end = np.r_[first[1:], len(note)].astype(np.int64) if len(note) else first
    # min(n-th time, last time): the n-th where the note has n ratings, else the last
    has_nth = end - first >= min_ratings
    floor_t = t[end - 1].copy()
    floor_t[has_nth] = np.minimum(floor_t[has_nth], t[first[has_nth] + min_ratings - 1])
    floor = pd.DataFrame({nid: note[first], "_floor": floor_t})
    cut = cut.merge(floor, on=nid, how="inner")
    cut[CUTOFF] = np.maximum(cut[CUTOFF].to_numpy(), cut["_floor"].to_numpy())
    return cut[[nid, CUTOFF]].reset_index(drop=True)


def rater_factors(prescoring_rater_output: pd.DataFrame) -> pd.DataFrame:
    """``RATER_FACTOR`` per rater: prescoring ``internalRaterFactor1`` of MFCoreScorer, else
    MFExpansionScorer, else MFExpansionPlusScorer (spec 06 §A.6 step 2)."""
    rid = S.RATER_ID
    pro = prescoring_rater_output
    parts = []
    for rank, name in enumerate(("MFCoreScorer", "MFExpansionScorer", "MFExpansionPlusScorer")):
        rows = pro.loc[pro["scorerName"].astype(object) == name, [rid, S.RATER_FACTOR1]]
        parts.append(rows.assign(_rank=rank))
    allr = pd.concat(parts, ignore_index=True)
    ids = pd.unique(allr[rid].to_numpy())
    known = allr[allr[S.RATER_FACTOR1].notna()].sort_values("_rank", kind="stable")
    best = known.drop_duplicates(rid, keep="first").set_index(rid)[S.RATER_FACTOR1]
    # keep the prescoring dtype (float32): the statistics of §A.7 are computed in it
    return pd.DataFrame({rid: ids, RATER_FACTOR: best.reindex(ids).to_numpy()})


# ================================================================== rating sets
def peer_ratings(ratings: pd.DataFrame, notes: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """Ratings on the *other* notes of each scored note's post (spec 06 §A.6 step 3).

    One row per (scored note, rating on a peer note): ``noteId`` is the scored note,
    ``ratedOnNoteId`` the peer, ``classification`` the peer's classification.
    """
    nid = S.NOTE_ID
    peers = notes[[nid, S.TWEET_ID, S.CLASSIFICATION]].rename(columns={nid: "ratedOnNoteId"})
    r = ratings.rename(columns={nid: "ratedOnNoteId"}).merge(peers, on="ratedOnNoteId", how="inner")
    r = r.merge(scored[[nid, S.TWEET_ID]], on=S.TWEET_ID, how="inner")
    return r[r[nid] != r["ratedOnNoteId"]].drop(columns=[S.TWEET_ID]).reset_index(drop=True)


def _apply_cutoff(r: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    m = r.merge(scored[[S.NOTE_ID, CUTOFF]], on=S.NOTE_ID, how="inner")
    return m[m[S.CREATED_AT] <= m[CUTOFF]].drop(columns=[CUTOFF]).reset_index(drop=True)


def _rated(ids: np.ndarray, rating_note_ids: np.ndarray) -> np.ndarray:
    """Whether each of ``ids`` has a rating (``rating_note_ids``: the ratings' noteId), scanned a
    piece at a time (no hash table or boolean of every rating)."""
    index = pd.Index(ids)
    seen = np.zeros(len(ids), dtype=bool)
    for a in range(0, len(rating_note_ids), _GROUP_PIECE):
        at = index.get_indexer(rating_note_ids[a:a + _GROUP_PIECE])
        seen[at[at >= 0]] = True
    return seen


def _counts(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """How often each of ``ids`` occurs in ``keys`` (int64)."""
    s = pd.Series(keys).value_counts()
    return s.reindex(ids, fill_value=0).to_numpy(dtype=np.int64)


def quick_rating_stats(notes: pd.DataFrame, ratings: pd.DataFrame,
                       buckets: Sequence[int] = (1, 5, 15, 60)) -> pd.DataFrame:
    """Ratings in the first m minutes of the note (spec 06 §A.7, "Quick").

    ``FIRST_m_TOTAL = #{r : t_r < noteCreationMillis + m min}``;
    ``FIRST_m_RATIO = FIRST_m_TOTAL / max(#ratings, 1)``. ``notes`` needs noteId and
    noteCreationMillis; ``ratings`` noteId and createdAtMillis.
    """
    nid = S.NOTE_ID
    ids = notes[nid].to_numpy()
    total = np.maximum(_counts(ratings[nid].to_numpy(), ids), 1)
    created = ratings[[nid]].merge(notes[[nid, NOTE_CREATION]], on=nid, how="left")[NOTE_CREATION]
    out = {nid: ids}
    for m in buckets:
        early = ratings[S.CREATED_AT].to_numpy() < created.to_numpy() + m * MINUTE_MILLIS
        out[f"FIRST_{m}_TOTAL"] = _counts(ratings[nid].to_numpy()[early], ids)
    for m in buckets:
        out[f"FIRST_{m}_RATIO"] = out[f"FIRST_{m}_TOTAL"] / total
    return pd.DataFrame(out)


def burst_rating_stats(notes: pd.DataFrame, ratings: pd.DataFrame,
                       buckets: Sequence[int] = (1, 5, 15, 60)) -> pd.DataFrame:
    """Largest number of ratings in one w-minute window (spec 06 §A.7, "Burst").

    ``BURST_w_TOTAL = max_{o ∈ 0..w−1} max_b #{r : ⌊(t_r + o·60,000) / (w·60,000)⌋ = b}`` (windows
    aligned to whole minutes); ``BURST_w_RATIO = BURST_w_TOTAL / max(#ratings, 1)``.
    """
    nid = S.NOTE_ID
    ids = notes[nid].to_numpy()
    keys = ratings[nid].to_numpy()
    t = ratings[S.CREATED_AT].to_numpy(dtype=np.int64)
    total = np.maximum(_counts(keys, ids), 1)
    out: dict[str, Any] = {nid: ids}
    # The shifted windows ⌊(t + o·1 min) / w min⌋ are the runs of w consecutive whole minutes
    # (⌊(m + o) / w⌋ with m = ⌊t / 1 min⌋), and over all offsets every start minute occurs: the
    # burst is the most ratings of a note within w consecutive minutes, and a fullest run can start
    # at a rating's minute. So per rating (sorted by note and minute) count the ratings of its note
    # in [m, m + w) with one binary search, no copy of the ratings per offset.
    codes, _ = pd.factorize(keys, sort=False)
    minute = t // MINUTE_MILLIS
    span = int(minute.max() - minute.min()) + max(buckets) + 1 if len(t) else 1
    key = codes.astype(np.int64) * span + (minute - (minute.min() if len(t) else 0))
    order = np.argsort(key, kind="stable")
    key, codes = key[order], codes[order]
    for w in buckets:
        best = pd.Series(0, index=pd.Index(ids), dtype=np.int64)
        if len(t):
            in_window = np.searchsorted(key, key + w, side="left") - np.arange(len(key))
            per_note = pd.Series(in_window).groupby(codes).max()
            best = pd.Series(per_note.to_numpy(), index=pd.unique(keys)[per_note.index]).reindex(
                ids, fill_value=0).astype(np.int64)
        out[f"BURST_{w}_TOTAL"] = best.to_numpy()
        out[f"BURST_{w}_RATIO"] = out[f"BURST_{w}_TOTAL"] / total
    cols = [f"BURST_{w}_TOTAL" for w in buckets] + [f"BURST_{w}_RATIO" for w in buckets]
    return pd.DataFrame(out)[[nid, *cols]]


def recent_rating_stats(notes: pd.DataFrame, ratings: pd.DataFrame, present: pd.Series | int,
                        buckets: Sequence[int] = (1, 5, 15, 60)) -> pd.DataFrame:
    """Ratings in the last w minutes before "now" (spec 06 §A.7, "Recent").

    ``RECENT_w_TOTAL = #{r : t_r > present − w min}``, ratio over max(#ratings, 1). ``present`` is
    the note's training cutoff (a Series indexed by noteId) or, at prediction, one number: the
    latest rating time of the batch.
    """
    nid = S.NOTE_ID
    ids = notes[nid].to_numpy()
    keys = ratings[nid].to_numpy()
    t = ratings[S.CREATED_AT].to_numpy(dtype=np.int64)
    if isinstance(present, pd.Series):
        now = present.reindex(keys).to_numpy(dtype=np.int64)
    else:
        now = np.full(len(t), int(present), dtype=np.int64)
    if (t > now).any():
        raise ValueError("recent_rating_stats: a rating is later than the scoring time")
    total = np.maximum(_counts(keys, ids), 1)
    out: dict[str, Any] = {nid: ids}
    for w in buckets:
        out[f"RECENT_{w}_TOTAL"] = _counts(keys[t > now - w * MINUTE_MILLIS], ids)
    for w in buckets:
        out[f"RECENT_{w}_RATIO"] = out[f"RECENT_{w}_TOTAL"] / total
    return pd.DataFrame(out)


def peer_note_counts(scored: pd.DataFrame, notes: pd.DataFrame, status_history: pd.DataFrame, *,
                     training: bool) -> pd.DataFrame:
    """Other notes on the same post (spec 06 §A.7, "Peer note counts").

    ``TOTAL_PEER_NOTES`` (all), ``…_MISLEADING_NOTES``, ``…_NON_MISLEADING_NOTES`` (by the peer's
    classification), ``…_STABILIZATION_NOTES`` (misleading peers that entered stabilization),
    ``…_CRH_NOTES`` (misleading peers whose first non-NMR status was CRH). In training, peers
    created after the scored note's cutoff are ignored and their stabilization / first-status
    events after the cutoff are treated as not having happened.
    """
    nid = S.NOTE_ID
    peers = scored[[nid, S.TWEET_ID] + ([CUTOFF] if training else [])].merge(
        notes[[S.TWEET_ID, nid, S.CLASSIFICATION]].rename(columns={nid: "peerNoteId"}),
        on=S.TWEET_ID, how="inner")
    info = status_history[[nid, S.CREATED_AT, _NSH_FIRST_STAB, _NSH_FIRST_NON_NMR_TS,
                           _NSH_FIRST_NON_NMR]].rename(
        columns={nid: "peerNoteId", S.CREATED_AT: "peerCreated"})
    peers = peers.merge(info, on="peerNoteId", how="inner")
    stab = pd.to_numeric(peers[_NSH_FIRST_STAB], errors="coerce").to_numpy(dtype=np.float64)
    first_ts = pd.to_numeric(peers[_NSH_FIRST_NON_NMR_TS], errors="coerce").to_numpy(dtype=np.float64)
    first_crh = (peers[_NSH_FIRST_NON_NMR].astype(object) == S.CRH).to_numpy()
    keep = np.ones(len(peers), dtype=bool)
    if training:
        cut = peers[CUTOFF].to_numpy(dtype=np.float64)
        keep = peers["peerCreated"].to_numpy(dtype=np.float64) <= cut
        stab = np.where(stab > cut, np.nan, stab)
        first_crh = first_crh & ~(first_ts > cut)
    keep &= (peers[nid] != peers["peerNoteId"]).to_numpy()
    cls = peers[S.CLASSIFICATION].astype(object).to_numpy()
    mis = cls == S.MISLEADING
    keys = peers[nid].to_numpy()
    ids = scored[nid].to_numpy()
    return pd.DataFrame({
        nid: ids,
        "TOTAL_PEER_NOTES": _counts(keys[keep], ids),
        "TOTAL_PEER_MISLEADING_NOTES": _counts(keys[keep & mis], ids),
        "TOTAL_PEER_NON_MISLEADING_NOTES": _counts(keys[keep & (cls == S.NOT_MISLEADING)], ids),
        "TOTAL_PEER_STABILIZATION_NOTES": _counts(keys[keep & mis & ~np.isnan(stab)], ids),
        "TOTAL_PEER_CRH_NOTES": _counts(keys[keep & mis & first_crh], ids),
    })


def rating_set_features(note_ids: np.ndarray, ratings: pd.DataFrame, *,
                        factor_bound: float = 0.3) -> pd.DataFrame:
    """Features of one rating set (LOCAL, PEER_MISLEADING or PEER_NON_MISLEADING) per scored note
    (spec 06 §A.7, per prefix; columns without the prefix).

    ``ratings`` has noteId (the *scored* note), raterParticipantId, helpfulnessLevel, the 22 tag
    columns and RATER_FACTOR f.

    * ``USER_HELPFULNESS_RATINGS``: distinct ``"<rater>:<level>"`` (missing level → ``"nan"``);
      ``USER_HELPFUL_TAGS`` / ``USER_NOT_HELPFUL_TAGS``: distinct ``"<rater>:<tag>"`` for tags = 1;
      each token held as one integer code, in token-string order (:mod:`cnlab.models.pflip_tokens`;
      ``pflip_tokens.decode(cell, kind)`` gives the strings);
    * ``{NEGATIVE,NEUTRAL,POSITIVE}_{level}``: ratings with f < −0.3 / |f| ≤ 0.3 / f > 0.3 and that
      level (no factor or no level → not counted);
    * over HELPFUL ratings with a factor: ``MAX_POS_HELPFUL = max f (f > 0)``,
      ``MAX_NEG_HELPFUL = |min f| (f ≤ 0)``, ``MEAN_POS_HELPFUL``, ``MEAN_NEG_HELPFUL = |mean|``,
      ``STD_HELPFUL`` (ddof 1, all), ``MAX_DIFF = MAX_POS + MAX_NEG``, ``MEAN_DIFF = MEAN_POS + MEAN_NEG``;
    * ``<tag>`` = Σ tag / #ratings (NaN without ratings).
    """
    nid = S.NOTE_ID
    ids = np.asarray(note_ids)
    keys = ratings[nid].to_numpy()
    raters = ratings[S.RATER_ID].to_numpy().astype(np.int64)
    # the level by its codes: no object or string array of every rating
    level = ratings[S.HELPFULNESS_LEVEL]
    level = level.array if isinstance(level.dtype, pd.CategoricalDtype) else pd.Categorical(level.astype(object))
    out: dict[str, Any] = {nid: ids}
    out[USER_HELPFULNESS] = _tok.token_lists(keys, _tok.encode(raters, level, "helpfulness"), ids,
                                             "helpfulness")
    for col, tags, kind in ((USER_HELPFUL_TAGS, S.HELPFUL_TAGS, "helpful_tags"),
                            (USER_NOT_HELPFUL_TAGS, S.NOT_HELPFUL_TAGS, "not_helpful_tags")):
        kk, cc = [], []
        for tag in tags:
            on = ratings[tag].to_numpy() == 1
            kk.append(keys[on])
            cc.append(_tok.encode(raters[on], tag, kind))
        out[col] = _tok.token_lists(np.concatenate(kk), np.concatenate(cc), ids, kind)

    f = ratings[RATER_FACTOR].to_numpy()
    if f.dtype not in (np.float32, np.float64):
        f = f.astype(np.float64)
    has_f = ~np.isnan(f)
    side = {"NEGATIVE": f < -factor_bound, "NEUTRAL": (f >= -factor_bound) & (f <= factor_bound),
            "POSITIVE": f > factor_bound}
    names = [str(c) for c in level.categories]
    codes = level.codes

    def is_level(lab: str) -> np.ndarray:
        return codes == names.index(lab) if lab in names else np.zeros(len(codes), dtype=bool)

    for v in VIEWPOINTS:
        for lab in LEVELS:
            m = has_f & side[v] & is_level(lab)
            out[f"{v}_{lab}"] = _counts(keys[m], ids)

    h = has_f & is_level(S.HELPFUL)
    hk, hf = keys[h], f[h]
    frame = pd.DataFrame({"k": hk, "f": hf})
    pos, neg = frame[frame["f"] > 0].groupby("k")["f"], frame[frame["f"] <= 0].groupby("k")["f"]
    stats = {
        "MAX_POS_HELPFUL": pos.max(), "MAX_NEG_HELPFUL": neg.min().abs(),
        "MEAN_POS_HELPFUL": pos.mean(), "MEAN_NEG_HELPFUL": neg.mean().abs(),
        "STD_HELPFUL": frame.groupby("k")["f"].std(ddof=1),
    }
    for k, s in stats.items():
        out[k] = s.reindex(ids).to_numpy(dtype=f.dtype)
    out["MAX_DIFF"] = out["MAX_POS_HELPFUL"] + out["MAX_NEG_HELPFUL"]
    out["MEAN_DIFF"] = out["MEAN_POS_HELPFUL"] + out["MEAN_NEG_HELPFUL"]

    n = _counts(keys, ids).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        for tag in (*S.HELPFUL_TAGS, *S.NOT_HELPFUL_TAGS):
            on = ratings[tag].to_numpy() == 1
            out[tag] = np.where(n > 0, _counts(keys[on], ids) / n, np.nan)
    return pd.DataFrame(out)


# ================================================================== rating sets, a chunk at a time
#: Rating-set entries (LOCAL + both PEER sets, before the training cutoff) built and turned into
#: features at a time: bounds the set-up's rating-level temporaries (~110 B an entry) whatever the
#: size of the data (206M ratings: ~155M entries a cutoff mode).
SET_CHUNK_ENTRIES = 1 << 22
#: Ratings scanned at a time when the ratings are grouped by note (int64 temporaries of this many).
_GROUP_PIECE = 1 << 24


class _RowsByNote:
    """Row numbers of the ratings on ``note_ids``, grouped by note, ascending within a note:
    ``rows[start[i]:start[i + 1]]`` are the rows of ``note_ids[i]``.

    Built with a counting sort a piece of rows at a time (two passes over the noteId column): no
    rating-level frame, ~4 bytes a grouped rating (int32 rows below 2³¹ ratings).
    """

    def __init__(self, rating_note_ids: np.ndarray, note_ids: np.ndarray):
        index = pd.Index(note_ids)
        n, m = len(note_ids), len(rating_note_ids)
        counts = np.zeros(n, dtype=np.int64)
        for a in range(0, m, _GROUP_PIECE):
            p = index.get_indexer(rating_note_ids[a:a + _GROUP_PIECE])
            counts += np.bincount(p[p >= 0], minlength=n)
        self.start = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.rows = np.empty(int(self.start[-1]), dtype=np.int32 if m < 2**31 else np.int64)
        cursor = self.start[:-1].copy()
        for a in range(0, m, _GROUP_PIECE):
            p = index.get_indexer(rating_note_ids[a:a + _GROUP_PIECE])
            hit = np.flatnonzero(p >= 0)
            order = np.argsort(p[hit], kind="stable")
            ps, rows = p[hit][order], hit[order] + a
            # rank of each row within its note's run in this piece
            first = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]]) if len(ps) else np.zeros(0, np.int64)
            rank = np.arange(len(ps)) - np.repeat(first, np.diff(np.r_[first, len(ps)]))
            self.rows[cursor[ps] + rank] = rows
            cursor += np.bincount(ps, minlength=n)

    def size(self, notes: np.ndarray) -> np.ndarray:
        return self.start[notes + 1] - self.start[notes]

    def gather(self, notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, owner)``: the rows of ``notes[0]``, then of ``notes[1]``, …; ``owner`` is the
        position in ``notes`` each row came from."""
        lens = self.size(notes)
        owner = np.repeat(np.arange(len(notes)), lens)
        ends = np.cumsum(lens)
        at = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - lens - self.start[notes], lens)
        return self.rows[at], owner


def _set_frame(ratings: pd.DataFrame, rows: np.ndarray, keys: np.ndarray, factor_index: pd.Index,
               factor_values: np.ndarray) -> pd.DataFrame:
    """The rows of ``ratings`` as one rating set: noteId = ``keys`` (the scored note),
    raterParticipantId, createdAtMillis, helpfulnessLevel, the 22 tags unpacked and RATER_FACTOR."""
    cols = [c for c in (S.RATER_ID, S.CREATED_AT, S.HELPFULNESS_LEVEL, *S.ALL_TAGS,
                        S.HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAG_BITS) if c in ratings.columns]
    taken = ratings[cols].take(rows).reset_index(drop=True)
    frame = S.unpack_tags(taken, copy=False)
    frame.insert(0, S.NOTE_ID, keys)
    at = factor_index.get_indexer(frame[S.RATER_ID].to_numpy())
    f = factor_values[np.maximum(at, 0)] if len(factor_values) else np.zeros(len(at), factor_values.dtype)
    frame[RATER_FACTOR] = np.where(at >= 0, f, np.nan).astype(factor_values.dtype, copy=False)
    return frame[[S.NOTE_ID, S.RATER_ID, S.CREATED_AT, S.HELPFULNESS_LEVEL, *S.ALL_TAGS, RATER_FACTOR]]


def rating_set_chunks(ratings: pd.DataFrame, notes: pd.DataFrame, scored: pd.DataFrame,
                      factors: pd.DataFrame, *, cutoff: pd.Series | None = None,
                      chunk_entries: int = SET_CHUNK_ENTRIES):
    """The LOCAL, PEER_MISLEADING and PEER_NON_MISLEADING rating sets (spec 06 §A.6 steps 3–4), a
    chunk of scored notes at a time (one empty chunk when nothing is scored).

    Yields ``(ids, {LOCAL: frame, PEER_MISLEADING: frame, PEER_NON_MISLEADING: frame})`` for
    consecutive chunks of ``scored`` (``ids`` its noteIds), each frame as :func:`_set_frame` gives it
    with noteId the *scored* note:

    * LOCAL: the ratings of the scored note;
    * PEER_*: the ratings of every *other* note on its post (:func:`peer_ratings`) whose
      classification is MISLEADING / NOT_MISLEADING;
    * ``cutoff`` (training; indexed by noteId): only ratings with ``createdAtMillis ≤ cutoff``.

    Rows of a scored note keep the ratings' order, so that its statistics are those of the
    merge-based sets. The ratings are never copied whole: grouped by note once (row numbers), each
    chunk takes its rows (at most about ``chunk_entries`` entries, one note at least).
    """
    nid = S.NOTE_ID
    ids = scored[nid].to_numpy(dtype=np.int64)
    notes = notes.drop_duplicates(nid)  # a note's ratings are read once
    all_ids = notes[nid].to_numpy(dtype=np.int64)
    posts = scored[[nid, S.TWEET_ID]].assign(_j=np.arange(len(scored)))
    pairs = posts.merge(pd.DataFrame({"_n": np.arange(len(notes)), S.TWEET_ID: notes[S.TWEET_ID].to_numpy()}),
                        on=S.TWEET_ID, how="inner")
    pairs = pairs[all_ids[pairs["_n"].to_numpy()] != pairs[nid].to_numpy()]
    pairs = pairs.sort_values(["_j", "_n"], kind="stable")
    pair_j, pair_n = pairs["_j"].to_numpy(np.int64), pairs["_n"].to_numpy(np.int64)
    cls = notes[S.CLASSIFICATION].astype(object).to_numpy()
    kind = np.where(cls == S.MISLEADING, 1, np.where(cls == S.NOT_MISLEADING, 2, 0)).astype(np.int8)
    keep = kind[pair_n] > 0  # a peer of neither classification is in no set
    pair_j, pair_n = pair_j[keep], pair_n[keep]
    own = pd.Index(all_ids).get_indexer(ids)  # the scored note's own position among the notes
    # the notes whose ratings are read: the scored ones and their peers
    wanted = unique(np.r_[own[own >= 0], pair_n])
    by_note = _RowsByNote(ratings[nid].to_numpy(), all_ids[wanted])
    slot = np.full(len(notes), -1, dtype=np.int64)
    slot[wanted] = np.arange(len(wanted))
    own_slot = np.where(own >= 0, slot[np.maximum(own, 0)], -1)
    pair_slot = slot[pair_n]
    pair_kind = kind[pair_n]
    f_index = pd.Index(factors[S.RATER_ID].to_numpy())
    f_values = factors[RATER_FACTOR].to_numpy()
    if f_values.dtype not in (np.float32, np.float64):
        f_values = f_values.astype(np.float64)
    created = ratings[S.CREATED_AT].to_numpy()
    limit = None if cutoff is None else cutoff.reindex(ids).to_numpy(dtype=np.float64)

    sizes = np.where(own_slot >= 0, by_note.size(np.maximum(own_slot, 0)), 0)
    sizes = sizes + np.bincount(pair_j, weights=by_note.size(pair_slot), minlength=len(ids)).astype(np.int64)
    bounds = [0]
    total = 0
    for j, k in enumerate(sizes.tolist()):
        if total and total + k > chunk_entries:
            bounds.append(j)
            total = 0
        total += k
    bounds.append(len(ids))
    if len(ids) == 0:
        bounds = [0, 0]  # one empty chunk: the features' frames keep their columns
    pair_at = np.searchsorted(pair_j, np.asarray(bounds))
    for c, (j0, j1) in enumerate(zip(bounds[:-1], bounds[1:])):
        if j1 <= j0 and len(ids):
            continue
        js = np.arange(j0, j1)
        js = js[own_slot[js] >= 0]
        rows, owner = by_note.gather(own_slot[js])
        keys = js[owner]
        sets: dict[str, pd.DataFrame] = {}
        p0, p1 = pair_at[c], pair_at[c + 1]
        prow, powner = by_note.gather(pair_slot[p0:p1])
        pkey, pkind = pair_j[p0:p1][powner], pair_kind[p0:p1][powner]
        # a scored note's peer ratings in the ratings' order (the merge's order within a note)
        order = lexsort2(prow, pkey)
        prow, pkey, pkind = prow[order], pkey[order], pkind[order]
        parts = {LOCAL: (rows, keys), PEER_MISLEADING: (prow[pkind == 1], pkey[pkind == 1]),
                 PEER_NON_MISLEADING: (prow[pkind == 2], pkey[pkind == 2])}
        for name, (r, k) in parts.items():
            if limit is not None:
                inside = created[r] <= limit[k]
                r, k = r[inside], k[inside]
            sets[name] = _set_frame(ratings, r, ids[k], f_index, f_values)
        yield ids[j0:j1], sets


# ================================================================== one row per note
def note_info(
    notes: pd.DataFrame,
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    factors: pd.DataFrame,
    *,
    config: PFlipConfig = PFlipConfig(),
    mode: Literal["MIN", "MAX"] | None = None,
    report: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One row of raw features per scored note (spec 06 §A.3–§A.7; official ``_prepare_note_info``).

    Parameters
    ----------
    notes, ratings, status_history
        Notes (noteId, tweetId, classification), ratings (noteId, raterParticipantId,
        createdAtMillis, helpfulnessLevel, tags packed or unpacked), NSH.
    factors
        :func:`rater_factors` output.
    mode
        ``None`` for prediction; ``"MIN"`` / ``"MAX"`` for the training copy whose rating cutoff is
        the earlier / later of the stabilization and CRH times. Training rows carry ``LABEL`` and
        ``SCORING_CUTOFF_MTS``.
    report
        Optional dict that receives the counts of each step.
    """
    nid = S.NOTE_ID
    rep = report if report is not None else {}
    training = mode is not None
    scored = candidate_notes(notes, status_history)
    rep["candidates"] = len(scored)
    if training:
        scored = scored[scored[S.TWEET_ID] > config.min_tweet_id]
        rep["recent_posts"] = len(scored)
        scored = scored[_rated(scored[nid].to_numpy(), ratings[nid].to_numpy())]
        rep["with_ratings"] = len(scored)
        nsh_s = status_history[status_history[nid].isin(scored[nid])]
        if (pd.to_numeric(nsh_s[_NSH_FIRST_STAB], errors="coerce") < 0).any():
            raise ValueError("pflip training: negative timestampMillisOfFirstNmrDueToMinStableCrhTime "
                             "on a candidate note (spec 06 §A.5)")
        labels, lab_counts = label_notes(nsh_s)
        rep.update(lab_counts)
        # the two columns only (no copy): scoring_cutoffs copies the rows of the notes it cuts
        cut = scoring_cutoffs(nsh_s, ratings[[nid, S.CREATED_AT]], mode,
                              recency_cutoff_minutes=config.rating_recency_cutoff_minutes,
                              min_ratings=config.min_ratings_for_cutoff)
        scored = scored.merge(cut, on=nid, how="inner")
        no_cut = ~labels[nid].isin(scored[nid])
        rep["labeled_without_cutoff"] = int(no_cut.sum())
        if no_cut.any():
            log.warning("pflip: %d labeled notes have no scoring cutoff; dropped", int(no_cut.sum()))
        scored = scored.merge(labels, on=nid, how="inner")
        rep["labeled"] = len(scored)
    scored = scored.reset_index(drop=True)

    all_notes = pd.DataFrame({nid: notes[nid].to_numpy(dtype=np.int64),
                              S.TWEET_ID: _int_ids(notes[S.TWEET_ID]),
                              S.CLASSIFICATION: notes[S.CLASSIFICATION].astype(object).to_numpy()})
    b = config.rating_time_buckets
    out = scored.assign(**{LATENCY: scored[NOTE_CREATION] - scored[TWEET_CREATION]})
    authors = status_history[[nid, S.AUTHOR_ID]]
    out = out.merge(authors, on=nid, how="inner")
    out[S.AUTHOR_ID] = out[S.AUTHOR_ID].astype(np.int64)
    cutoff = scored.set_index(nid)[CUTOFF] if training else None
    if training:
        present: pd.Series | int = out.set_index(nid)[CUTOFF]
    else:
        # "now" at prediction: the latest rating on a scored note (the whole LOCAL set)
        on_scored = ratings[nid].isin(scored[nid]).to_numpy()
        present = int(ratings[S.CREATED_AT].to_numpy()[on_scored].max()) if on_scored.any() else 0
        del on_scored
    times = out.set_index(nid)[[NOTE_CREATION]]
    local_stats, set_feats = [], {k: [] for k in (LOCAL, PEER_MISLEADING, PEER_NON_MISLEADING)}
    set_counts = {k: [] for k in set_feats}
    for chunk_ids, sets in rating_set_chunks(ratings, all_notes, scored, factors, cutoff=cutoff,
                                             chunk_entries=SET_CHUNK_ENTRIES):
        chunk = times[times.index.isin(chunk_ids)].reset_index()  # the chunk's notes with an author
        loc = sets[LOCAL]
        stats = chunk[[nid]]
        for part in (quick_rating_stats(chunk, loc, b), burst_rating_stats(chunk, loc, b),
                     recent_rating_stats(chunk, loc, present, b)):
            stats = stats.merge(part, on=nid, how="inner")
        local_stats.append(stats)
        for prefix, rs in sets.items():
            set_feats[prefix].append(rating_set_features(chunk_ids, rs, factor_bound=config.factor_bound))
            set_counts[prefix].append(pd.Series(_counts(rs[nid].to_numpy(), chunk_ids), index=chunk_ids))
        del sets, loc
    rep.update({f"ratings_{k}": int(sum(int(c.sum()) for c in v)) for k, v in set_counts.items()})
    out = out.merge(pd.concat(local_stats, ignore_index=True), on=nid, how="inner")
    out = out.merge(peer_note_counts(out, all_notes, status_history, training=training), on=nid,
                    how="inner")
    ids = out[nid].to_numpy()
    for prefix in set_feats:
        feats = pd.concat(set_feats[prefix], ignore_index=True)
        feats = feats.rename(columns={c: f"{prefix}_{c}" for c in feats.columns if c != nid})
        out = out.merge(feats, on=nid, how="left")
    for prefix, counts in set_counts.items():
        per_note = pd.concat(counts)
        out[prefix] = per_note.reindex(ids, fill_value=0).to_numpy(dtype=np.int64)
    rep["rows"] = len(out)
    return out


def training_frame(
    notes: pd.DataFrame, ratings: pd.DataFrame, status_history: pd.DataFrame, factors: pd.DataFrame, *,
    config: PFlipConfig = PFlipConfig(), report: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Both training copies (cutoff modes MIN then MAX) concatenated and sorted by noteId
    (spec 06 §A.9). The sort reproduces pandas' default (unstable) ``sort_values`` — see
    :attr:`PFlipConfig.tie_order` — which decides where the two copies of a note land in the random
    train/validation split."""
    rep = report if report is not None else {}
    parts = []
    for mode in ("MIN", "MAX"):
        sub: dict[str, Any] = {}
        parts.append(note_info(notes, ratings, status_history, factors, config=config, mode=mode,
                               report=sub))
        rep[mode] = sub
    frame = pd.concat(parts, ignore_index=True)
    keys = frame[S.NOTE_ID].to_numpy(dtype=np.int64)
    if config.tie_order == "numpy1-avx512":
        order = np1_avx512_argsort(keys)  # numpy 1.26 on AVX-512 (cnlab._compat.numpy126_argsort)
    else:
        order = np.argsort(keys, kind="stable" if config.tie_order == "stable" else "quicksort")
    return frame.iloc[order].reset_index(drop=True)
