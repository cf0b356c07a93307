"""PCRH: will a note with few ratings become Helpful? (spec 06 §B)

A gradient-boosting classifier trained in prescoring on how notes with at least N ratings ended up
(NSH ``currentStatus == CRH``), from features of their first N ratings, pooled over
N ∈ {8, 10, 15, 20, 30, 50}. In final scoring each note with 8–100 ratings (from rater groups of
the model's scorer) is scored on *all* its ratings with ``N`` = its rating count; a note is "above
threshold" when P(CRH) ≥ the threshold of the nearest trained N, and a previously-positive note
stays positive until P(CRH) < 0.5 (revoke). PCRH never changes ``finalRatingStatus``: it produces
``abovePcrhThresholdTime`` (scored notes, NSH) and the aux columns ``pcrhExitN, pcrhExitProba,
pcrhRevoked, pcrhRevokeN, pcrhFinalPred``.

Features of a rating set (prefix ``pcrh_all_`` = all ratings, ``pcrh_scored_`` = ratings of raters
the scorer fitted), spec 06 §B.3, for levels h / nh / sh (HELPFUL / NOT_HELPFUL / SOMEWHAT_HELPFUL)
over ratings whose rater has a factor f::

    {prefix}{lvl}_factor1_mean, _std (ddof 1), _count,
    _p5 _p10 _p25 _p50 _p75 _p90 _p95 (linear), _iqr = p75 − p25,
    _skewness (bias-corrected, 0 with < 3 values)
    {prefix}tag_<tag> = Σ tag over all ratings                      (22 tags)
    pcrh_topic_{all,scored}_{lvl}_factor1_{mean,std,count}  — f from the note's topic scorer
    pcrh_author_{crh,crnh,nmr}_{14d,90d}  — the author's other notes by current status in the window
    N

Timestamp encoding of ``abovePcrhThresholdTime`` (spec 06 §B.6): +T0 = positive since T0 (first
time ever); −T0 = was positive (first at T0), not now; NaN = never; −1 = cleared by lock / legacy.
A note may only be positive within 12 h of T0.

Two steps replicate the official run's pinned libraries (:mod:`cnlab._compat`): the float32
skewness features (:func:`cnlab._compat.pandas22_skew.group_skew`, pandas 2.2 / numpy 1.26) and
the boosting's feature bins (:class:`cnlab._compat.sklearn102_hist_binning.LegacyHistBinning`,
scikit-learn 1.0.2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cnlab._arrays import lexsort2, unique
from cnlab import schema as S
from cnlab._compat.pandas22_skew import group_skew
from cnlab._compat.sklearn102_hist_binning import LegacyHistBinning

log = logging.getLogger("cnlab")

__all__ = [
    "PCRHConfig",
    "PCRHModel",
    "PCRH_AUX_COLUMNS",
    "ABOVE",
    "filter_ratings_by_group",
    "factor_lookup",
    "rater_factor_lookup",
    "topic_factor_lookups",
    "factor_stats",
    "rating_features",
    "topic_rating_features",
    "author_stats",
    "AuthorHistory",
    "first_n_ratings",
    "training_rows",
    "checkpoint_rows",
    "feature_template",
    "note_chunks",
    "ranked_chunk",
    "threshold_for",
    "previous_state",
    "to_timestamps",
    "suppress_ineligible",
    "merge_predictions",
]

#: scored-notes / NSH column (official ``pcrhAboveThresholdTimeKey``).
ABOVE = "abovePcrhThresholdTime"
#: aux_note_info columns (official ``PCRH_AUX_COLS``).
PCRH_AUX_COLUMNS: tuple[str, ...] = ("pcrhExitN", "pcrhExitProba", "pcrhRevoked", "pcrhRevokeN",
                                     "pcrhFinalPred")
ALL_PREFIX, SCORED_PREFIX = "pcrh_all_", "pcrh_scored_"
TOPIC_ALL_PREFIX, TOPIC_SCORED_PREFIX = "pcrh_topic_all_", "pcrh_topic_scored_"
AUTHOR_PREFIX = "pcrh_author_"
FACTOR = "raterFactor1"
#: helpfulness level → feature label.
LEVELS: tuple[tuple[str, str], ...] = ((S.HELPFUL, "h"), (S.NOT_HELPFUL, "nh"), (S.SOMEWHAT_HELPFUL, "sh"))
QUANTILES: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
#: Tags in the order the official ratings frame holds them (helpful, then not-helpful; TSV order).
TAGS: tuple[str, ...] = (*S.HELPFUL_TAGS, *S.NOT_HELPFUL_TAGS)
CLEARED = -1.0
DAY_MILLIS = 24 * 60 * 60 * 1000
_UNASSIGNED = "Unassigned"
_NTH = "nth_rating_createdAtMillis"


@dataclass(frozen=True)
class PCRHConfig:
    """PCRH settings (official ``PCRHModel`` defaults and ``constants``, spec 06 §B.1).

    Attributes
    ----------
    per_n_thresholds
        (N, exit threshold on P(CRH)) per cascade N (official ``pcrhPerNThresholds``
        {8: 0.77, 10: 0.78, 15: 0.76, 20: 0.74, 30: 0.70, 50: 0.67}); the Ns are the training
        checkpoints.
    revoke_threshold
        A previously-positive note is revoked when P(CRH) < this (official ``pcrhRevokeThreshold``
        0.5).
    training_cutoff_millis
        Only notes created after this train (official ``pcrhTrainingCutoffMillis`` 1741564800000,
        2025-03-10 00:00 UTC).
    max_iter, max_depth, learning_rate, n_iter_no_change, validation_fraction
        HistGradientBoostingClassifier (official ``nEstimators`` 200, ``maxDepth`` 5,
        ``learningRate`` 0.07, early stopping with 10 rounds on a 10 % validation split).
    model_name
        Scorer whose rater factors / rater groups the model uses (official ``modelName``
        "MFCoreScorer"; "MFExpansionScorer" widens the groups and falls back to its factors).
    exclude_already_decided
        Drop training rows of notes that were CRH before their N-th rating (official
        ``excludeAlreadyDecided`` True).
    min_notes_per_n
        A checkpoint N with fewer training notes is skipped (official 50).
    max_ratings
        Notes with more ratings are not scored (official 100).
    stale_millis
        A note may only be positive within this long after its first positive time (official
        ``_PCRH_STALE_SUPPRESSION_MILLIS`` 12 h).
    core_rule
        Only notes decided by this meta rule keep a positive time (official
        ``RuleID.CORE_MODEL``).
    legacy_binning
        Bin the features as scikit-learn 1.0.2 (pinned by the official run) does before boosting
        (:class:`cnlab._compat.sklearn102_hist_binning.LegacyHistBinning`); newer versions pick
        other bin edges (≥ 1.4: "averaged_inverted_cdf" percentiles, duplicates removed), which
        changes the trees.
    chunk_ratings
        The training ratings are ordered and turned into features a chunk of notes at a time, at
        most this many ratings a chunk (a cnlab memory bound, not an official constant: the rows,
        columns and model do not depend on it; 2**24 keeps a chunk's frames near 2 GiB).
    """

    per_n_thresholds: tuple[tuple[int, float], ...] = (
        (8, 0.77), (10, 0.78), (15, 0.76), (20, 0.74), (30, 0.70), (50, 0.67))
    revoke_threshold: float = 0.5
    training_cutoff_millis: int = 1741564800000
    max_iter: int = 200
    max_depth: int = 5
    learning_rate: float = 0.07
    n_iter_no_change: int = 10
    validation_fraction: float = 0.1
    model_name: str = "MFCoreScorer"
    exclude_already_decided: bool = True
    min_notes_per_n: int = 50
    max_ratings: int = 100
    stale_millis: int = 12 * 60 * 60 * 1000
    core_rule: str = "CoreModel (v1.1)"
    legacy_binning: bool = True
    chunk_ratings: int = 1 << 24

    @property
    def cascade(self) -> tuple[int, ...]:
        return tuple(sorted(n for n, _ in self.per_n_thresholds))

    def groups(self) -> frozenset[int] | None:
        """Rater modeling groups in scope of :attr:`model_name` (None = no filter)."""
        if self.model_name == "MFCoreScorer":
            return S.CORE_GROUPS
        if self.model_name == "MFExpansionScorer":
            return S.CORE_GROUPS | S.EXPANSION_GROUPS
        return None


# ================================================================== inputs
def in_groups(ratings: pd.DataFrame, enrollment: pd.DataFrame | None,
              groups: Iterable[int] | None) -> np.ndarray | None:
    """Row mask of :func:`filter_ratings_by_group` (None: no filter)."""
    if groups is None or enrollment is None:
        return None
    g = enrollment[S.MODELING_GROUP].to_numpy(dtype=np.float64)
    ok = np.isin(g, np.array(sorted(groups), dtype=np.float64))
    ids = enrollment.loc[ok, S.PARTICIPANT_ID].to_numpy()
    return ratings[S.RATER_ID].isin(ids).to_numpy()


def filter_ratings_by_group(ratings: pd.DataFrame, enrollment: pd.DataFrame | None,
                            groups: Iterable[int] | None) -> pd.DataFrame:
    """Ratings of raters whose enrollment ``modelingGroup`` is in ``groups`` (spec 06 §B.2;
    unenrolled raters are out). No filter without enrollment or groups."""
    mask = in_groups(ratings, enrollment, groups)
    return ratings if mask is None else ratings[mask]


def _narrow(ratings: pd.DataFrame, rows: np.ndarray | None) -> pd.DataFrame:
    """``noteId, raterParticipantId, createdAtMillis, helpfulnessLevel`` and the 22 tags (int8)
    of the rows ``rows`` (a mask or positions; None: all), copied once with only these columns."""
    wanted = (S.NOTE_ID, S.RATER_ID, S.CREATED_AT, S.HELPFULNESS_LEVEL, S.HELPFUL_TAG_BITS,
              S.NOT_HELPFUL_TAG_BITS, *TAGS)
    cols = [c for c in ratings.columns if c in wanted]
    if rows is None:
        r = ratings[cols].copy()
    else:
        pos = np.flatnonzero(rows) if rows.dtype == bool else rows
        r = pd.DataFrame({c: ratings[c].iloc[pos].reset_index(drop=True) for c in cols})
    return S.unpack_tags(r, TAGS, copy=False)[[S.NOTE_ID, S.RATER_ID, S.CREATED_AT,
                                               S.HELPFULNESS_LEVEL, *TAGS]]


def up_to_rank(note: np.ndarray, t: np.ndarray, rank: np.ndarray, n: int) -> np.ndarray:
    """Mask of the ratings (sorted by note, then time) no later than their note's ``n``-th rating
    (all of a note's ratings when it has fewer): what the first-``n`` features of every checkpoint
    up to ``n`` read (spec 06 §B.4) — the first ``n`` ratings and the scored raters' ratings up to
    the ``n``-th rating's time, ties included.

    >>> up_to_rank(np.array([1, 1, 1, 2]), np.array([5, 6, 6, 9]), np.array([1, 2, 3, 1]), 2).tolist()
    [True, True, True, True]
    >>> up_to_rank(np.array([1, 1, 1]), np.array([5, 6, 7]), np.array([1, 2, 3]), 2).tolist()
    [True, True, False]
    """
    at_n = rank == n
    limit = pd.Series(t[at_n], index=note[at_n])
    cut = limit.reindex(note).to_numpy(dtype=np.float64)  # NaN: fewer than n ratings
    return np.isnan(cut) | (t <= cut)


def factor_lookup(prescoring_rater_output: pd.DataFrame, scorer: str, *,
                  first_round_fallback: bool = False) -> pd.DataFrame:
    """``raterParticipantId, raterFactor1`` of one prescorer: ``internalRaterFactor1`` (else the
    first-round factor with ``first_round_fallback``), missing dropped, first row per rater."""
    pro = prescoring_rater_output
    rows = pro[pro["scorerName"].astype(object) == scorer]
    f = rows[S.RATER_FACTOR1]
    if first_round_fallback and "internalFirstRoundRaterFactor1" in rows.columns:
        f = f.combine_first(rows["internalFirstRoundRaterFactor1"])
    out = pd.DataFrame({S.RATER_ID: rows[S.RATER_ID].to_numpy(), FACTOR: f.to_numpy()})
    return out[out[FACTOR].notna()].drop_duplicates(S.RATER_ID, keep="first").reset_index(drop=True)


def rater_factor_lookup(prescoring_rater_output: pd.DataFrame, model_name: str = "MFCoreScorer"
                        ) -> tuple[pd.DataFrame, np.ndarray]:
    """Factor lookup (MFCoreScorer with first-round fallback; for ``MFExpansionScorer`` its own
    factors fill raters Core lacks) and the "scored raters": raters with a ``model_name`` row and a
    non-missing ``internalRaterFactor1`` (spec 06 §B.2)."""
    lookup = factor_lookup(prescoring_rater_output, "MFCoreScorer", first_round_fallback=True)
    if model_name == "MFExpansionScorer":
        extra = factor_lookup(prescoring_rater_output, "MFExpansionScorer", first_round_fallback=True)
        lookup = pd.concat([lookup, extra[~extra[S.RATER_ID].isin(lookup[S.RATER_ID])]],
                           ignore_index=True)
    pro = prescoring_rater_output
    scored = pro.loc[(pro["scorerName"].astype(object) == model_name) & pro[S.RATER_FACTOR1].notna(),
                     S.RATER_ID].to_numpy()
    return lookup, unique(scored)


def topic_factor_lookups(prescoring_rater_output: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Topic name → factor lookup of its ``MFTopicScorer_<topic>`` prescoring rows (no fallback)."""
    out = {}
    for name in pd.unique(prescoring_rater_output["scorerName"].astype(object)):
        if isinstance(name, str) and name.startswith("MFTopicScorer_"):
            out[name[len("MFTopicScorer_"):]] = factor_lookup(prescoring_rater_output, name)
    return out


# ================================================================== features
def factor_stats(r: pd.DataFrame, prefix: str, *, distributional: bool = False) -> pd.DataFrame:
    """Per note and level (h / nh / sh), statistics of ``raterFactor1`` over ratings with a factor
    (spec 06 §B.3): ``{prefix}{lvl}_factor1_{mean,std,count}`` and, with ``distributional``,
    ``_p5 … _p95`` (pandas linear quantiles), ``_iqr`` and ``_skewness``. Index: noteId."""
    nid = S.NOTE_ID
    has = r[FACTOR].notna().to_numpy()
    parts = []
    for level, lab in LEVELS:
        sub = r.loc[has & S.equals_value(r[S.HELPFULNESS_LEVEL], level), [nid, FACTOR]]
        g = sub.groupby(nid)[FACTOR]
        agg = g.agg(["mean", "std", "count"])
        agg.columns = [f"{prefix}{lab}_factor1_mean", f"{prefix}{lab}_factor1_std",
                       f"{prefix}{lab}_factor1_count"]
        if distributional and len(sub):
            dist = {f"{prefix}{lab}_p{int(q * 100)}": g.quantile(q) for q in QUANTILES}
            dist[f"{prefix}{lab}_iqr"] = g.quantile(0.75) - g.quantile(0.25)
            srt = sub.sort_values(nid, kind="stable")
            keys = srt[nid].to_numpy()
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            counts = np.diff(np.r_[starts, len(keys)])
            dist[f"{prefix}{lab}_skewness"] = pd.Series(
                group_skew(srt[FACTOR].to_numpy(), starts, counts), index=keys[starts])
            agg = agg.join(pd.DataFrame(dist), how="outer")
        parts.append(agg)
    return pd.concat(parts, axis=1)


def rating_features(ratings: pd.DataFrame, lookup: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Factor statistics (with distribution) and tag sums of one rating set, one row per rated
    note, missing → 0 (spec 06 §B.3)."""
    nid = S.NOTE_ID
    if len(ratings) == 0:
        return pd.DataFrame({nid: pd.Series(dtype=np.int64)})
    tags = [t for t in TAGS if t in ratings.columns]
    r = ratings[[nid, S.RATER_ID, S.HELPFULNESS_LEVEL, *tags]].merge(lookup, on=S.RATER_ID, how="left")
    stats = factor_stats(r, prefix, distributional=True)
    tag_sums = r.groupby(nid)[tags].sum()
    tag_sums.columns = [f"{prefix}tag_{t}" for t in tags]
    feats = stats.join(tag_sums, how="outer").fillna(0)
    feats.index.name = nid
    return feats.reset_index()


def topic_rating_features(ratings: pd.DataFrame, note_topics: pd.DataFrame | None,
                          lookups: Mapping[str, pd.DataFrame], prefix: str) -> pd.DataFrame:
    """Mean / std / count of the rater factors of the note's *topic* scorer per level (spec 06
    §B.3); notes without a topic (or whose topic has no factors) get no row."""
    nid = S.NOTE_ID
    empty = pd.DataFrame({nid: pd.Series(dtype=np.int64)})
    if len(ratings) == 0 or note_topics is None or len(note_topics) == 0:
        return empty
    r = ratings[[nid, S.RATER_ID, S.HELPFULNESS_LEVEL]].merge(
        note_topics[[nid, "noteTopic"]], on=nid, how="left")
    topic = r["noteTopic"].astype(object)
    r = r[topic.notna().to_numpy() & (topic != _UNASSIGNED).to_numpy()]
    parts = []
    for name, grp in r.groupby(r["noteTopic"].astype(object), sort=True):
        lk = lookups.get(str(name))
        if lk is None or len(lk) == 0:
            continue
        parts.append(grp.merge(lk, on=S.RATER_ID, how="left"))
    if not parts:
        return empty
    feats = factor_stats(pd.concat(parts, ignore_index=True), prefix).fillna(0)
    feats.index.name = nid
    return feats.reset_index()


def author_stats(note_ids: np.ndarray, status_history: pd.DataFrame, ref_millis: pd.Series | float
                 ) -> pd.DataFrame:
    """``pcrh_author_{crh,crnh,nmr}_{14d,90d}``: the author's *other* notes whose
    ``timestampMillisOfCurrentStatus`` t satisfies ``t < ref`` and ``ref − t ≤ window``, counted by
    their ``currentStatus`` (spec 06 §B.3). ``ref_millis``: per note (Series by noteId) or one value.

    Each count is a window query on the author's notes of one status sorted by t (two binary
    searches), minus the note's own row where it falls in the window; so the cost is
    O((notes + queries) log notes), not the product of an author's notes and queries, which a
    prolific author makes quadratic. :class:`AuthorHistory` keeps the sorted notes for many calls.
    """
    return AuthorHistory(status_history).stats(note_ids, ref_millis)


class AuthorHistory:
    """The status history's notes by author, sorted by time once per status, for
    :func:`author_stats` queries (a PCRH fit asks once per note chunk and checkpoint)."""

    def __init__(self, status_history: pd.DataFrame):
        nid = S.NOTE_ID
        nsh = status_history[[nid, S.AUTHOR_ID, "currentStatus", "timestampMillisOfCurrentStatus"]]
        self._author_of = nsh[[nid, S.AUTHOR_ID]].drop_duplicates(nid).set_index(nid)[S.AUTHOR_ID]
        t = pd.to_numeric(nsh["timestampMillisOfCurrentStatus"], errors="coerce").to_numpy(dtype=np.float64)
        status = nsh["currentStatus"].astype(object).to_numpy()
        # NaN authors form one group, as a merge on the author column pairs them
        codes, self._authors = pd.factorize(nsh[S.AUTHOR_ID], use_na_sentinel=False)
        codes = codes.astype(np.int64)
        self._own = nsh[[nid]].assign(_t=t, _status=status).reset_index(drop=True)
        self._sorted = {}
        for st in (S.CRH, S.CRNH, S.NMR):
            keep = (status == st) & ~np.isnan(t)
            order = lexsort2(t[keep], codes[keep])
            self._sorted[st] = (codes[keep][order], t[keep][order])

    def stats(self, note_ids: np.ndarray, ref_millis: pd.Series | float) -> pd.DataFrame:
        """:func:`author_stats` of ``note_ids``."""
        nid = S.NOTE_ID
        ids = np.asarray(note_ids)
        q_author = pd.Series(ids).map(self._author_of)
        # an author absent from the history (-1) has no rows: counts 0, as a code of its own would
        q_code = pd.Index(self._authors).get_indexer(q_author).astype(np.int64)
        if isinstance(ref_millis, pd.Series):
            ref = ref_millis.reindex(ids).to_numpy(dtype=np.float64)
        else:
            ref = np.full(len(ids), float(ref_millis))
        own_rows = pd.DataFrame({nid: ids, "_q": np.arange(len(ids))}).merge(self._own, on=nid, how="inner")
        o_t, o_q = own_rows["_t"].to_numpy(), own_rows["_q"].to_numpy()
        o_ref, o_status = ref[o_q], own_rows["_status"].to_numpy()
        out = {nid: ids}
        for days, suffix in ((14, "14d"), (90, "90d")):
            window = days * DAY_MILLIS
            for st, lab in ((S.CRH, "crh"), (S.CRNH, "crnh"), (S.NMR, "nmr")):
                g, tt = self._sorted[st]
                # rows of the query's author with ref − window ≤ t < ref
                lo = _searchsorted2(g, tt, q_code, ref - window, side="left")
                hi = _searchsorted2(g, tt, q_code, ref, side="left")
                counts = np.where(~np.isnan(ref), hi - lo, 0).astype(np.float64)
                # the note's own row is not "another" note
                in_win = (o_status == st) & ~np.isnan(o_t) & (o_t < o_ref) & (o_ref - o_t <= window)
                np.subtract.at(counts, o_q[in_win], 1.0)
                # duplicate query ids share their counts, as a per-id count of merged rows would
                out[f"{AUTHOR_PREFIX}{lab}_{suffix}"] = (
                    pd.Series(counts).groupby(ids).transform("sum").to_numpy(dtype=np.float64))
        return pd.DataFrame(out)


def _searchsorted2(group: np.ndarray, t: np.ndarray, q_group: np.ndarray, q_t: np.ndarray, *,
                   side: str) -> np.ndarray:
    """Positions of queries ``(q_group, q_t)`` among rows sorted by ``(group, t)``.

    Millisecond times are integers, so one int64 key ``group · span + t`` orders the rows and one
    binary search serves all queries (query times clipped to the rows' range, which keeps each
    query's position inside its group); other values fall back to one search per query.
    """
    if len(q_group) == 0:
        return np.empty(0, dtype=np.int64)
    q_t = np.nan_to_num(q_t, nan=0.0)
    if len(t) == 0:
        return np.zeros(len(q_group), dtype=np.int64)
    lo_t, hi_t = float(t.min()) - 1.0, float(t.max()) + 1.0
    span = hi_t - lo_t + 1.0
    integral = np.all(t == np.floor(t)) and np.all(q_t == np.floor(q_t))
    n_groups = float(max(group.max(), q_group.max()) + 1)
    if integral and n_groups * span < 2.0**62:
        key = group * np.int64(span) + (t - lo_t).astype(np.int64)
        qk = q_group * np.int64(span) + (np.clip(q_t, lo_t, hi_t) - lo_t).astype(np.int64)
        return np.searchsorted(key, qk, side=side)
    start = np.searchsorted(group, q_group, side="left")
    end = np.searchsorted(group, q_group, side="right")
    out = np.empty(len(q_group), dtype=np.int64)
    for i in range(len(q_group)):
        a, b = start[i], end[i]
        out[i] = a + np.searchsorted(t[a:b], q_t[i], side=side)
    return out


def first_n_ratings(ranked: pd.DataFrame, scored_raters: np.ndarray, n: int
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """For notes with at least ``n`` ratings (``ranked`` has ``_rank`` = 1, 2, … by time per note):
    their first ``n`` ratings, the ratings of scored raters up to the n-th rating's time, and
    ``noteId, nth_rating_createdAtMillis`` (spec 06 §B.4)."""
    nid = S.NOTE_ID
    sizes = ranked.groupby(nid).size()
    enough = sizes.index[sizes.to_numpy() >= n]
    r = ranked[ranked[nid].isin(enough)]
    first = r[r["_rank"].to_numpy() <= n]
    nth = first.groupby(nid)[S.CREATED_AT].max().rename(_NTH).reset_index()
    sc = r[r[S.RATER_ID].isin(scored_raters)].merge(nth, on=nid, how="inner")
    sc = sc[sc[S.CREATED_AT].to_numpy() <= sc[_NTH].to_numpy()].drop(columns=[_NTH])
    return first.drop(columns=["_rank"]), sc.drop(columns=["_rank"]), nth


def _features(all_r: pd.DataFrame, scored_r: pd.DataFrame, lookup: pd.DataFrame,
              note_topics: pd.DataFrame | None, topic_lookups: Mapping[str, pd.DataFrame],
              status_history: pd.DataFrame, ref: pd.Series | float,
              authors: AuthorHistory | None = None) -> pd.DataFrame:
    nid = S.NOTE_ID
    feats = rating_features(all_r, lookup, ALL_PREFIX).merge(
        rating_features(scored_r, lookup, SCORED_PREFIX), on=nid, how="outer")
    if note_topics is not None and topic_lookups:
        for rs, prefix in ((all_r, TOPIC_ALL_PREFIX), (scored_r, TOPIC_SCORED_PREFIX)):
            tf = topic_rating_features(rs, note_topics, topic_lookups, prefix)
            if len(tf.columns) > 1:
                feats = feats.merge(tf, on=nid, how="left")
    authors = authors if authors is not None else AuthorHistory(status_history)
    return feats.merge(authors.stats(feats[nid].to_numpy(), ref), on=nid, how="left")


def checkpoint_rows(n: int, ranked: pd.DataFrame, status_history: pd.DataFrame, lookup: pd.DataFrame,
                    scored_raters: np.ndarray, labels: pd.DataFrame, *, note_topics=None,
                    topic_lookups: Mapping[str, pd.DataFrame] | None = None,
                    exclude_already_decided: bool = True,
                    report: dict[str, Any] | None = None,
                    authors: AuthorHistory | None = None) -> pd.DataFrame | None:
    """Rows of checkpoint ``n`` (spec 06 §B.4) from the ranked ratings of some notes: features of
    the first n ratings, author reference = time of the n-th rating, ``is_crh`` label, ``N = n``;
    notes already CRH before their n-th rating dropped. None when no note has n ratings. Each row
    depends on its own note only, so the rows of a note chunk are those of the whole frame; the
    ``report`` counts (``N=n notes``, ``crh``, ``excluded_already_crh``) are added to.
    ``authors``: the status history's :class:`AuthorHistory`, when the caller keeps one."""
    nid = S.NOTE_ID
    rep = report if report is not None else {}
    first, scored, nth = first_n_ratings(ranked, scored_raters, n)
    if len(first) == 0:
        return None
    ref = nth.set_index(nid)[_NTH]
    feats = _features(first, scored, lookup, note_topics, topic_lookups or {}, status_history, ref,
                      authors)
    feats = feats.merge(labels[[nid, "is_crh"]], on=nid, how="inner")
    feats["N"] = n
    if exclude_already_decided:
        nsh = status_history[[nid, "timestampMillisOfFirstNonNMRStatus", "firstNonNMRStatus"]] \
            .drop_duplicates(nid)
        w = feats[[nid]].merge(nsh, on=nid, how="left").merge(nth, on=nid, how="left")
        ts = pd.to_numeric(w["timestampMillisOfFirstNonNMRStatus"], errors="coerce").to_numpy(np.float64)
        decided = ((w["firstNonNMRStatus"].astype(object) == S.CRH).to_numpy() & ~np.isnan(ts)
                   & (ts < w[_NTH].to_numpy(dtype=np.float64)))
        key = f"N={n} excluded_already_crh"
        rep[key] = rep.get(key, 0) + int(decided.sum())
        feats = feats[~decided]
    for key, v in ((f"N={n} notes", len(feats)), (f"N={n} crh", int(feats["is_crh"].sum()))):
        rep[key] = rep.get(key, 0) + v
    return feats.reset_index(drop=True)


def training_rows(n: int, ranked: pd.DataFrame, status_history: pd.DataFrame, lookup: pd.DataFrame,
                  scored_raters: np.ndarray, labels: pd.DataFrame, *, note_topics=None,
                  topic_lookups: Mapping[str, pd.DataFrame] | None = None,
                  exclude_already_decided: bool = True, min_notes: int = 50,
                  report: dict[str, Any] | None = None) -> pd.DataFrame | None:
    """Training rows of checkpoint ``n`` from the ranked ratings of every note
    (:func:`checkpoint_rows`); None with fewer than ``min_notes`` notes."""
    rep = report if report is not None else {}
    feats = checkpoint_rows(n, ranked, status_history, lookup, scored_raters, labels,
                            note_topics=note_topics, topic_lookups=topic_lookups,
                            exclude_already_decided=exclude_already_decided, report=rep)
    if feats is None:
        return None
    if len(feats) < min_notes:
        rep[f"N={n} skipped"] = True
        return None
    return feats


def feature_template() -> tuple[str, ...]:
    """Every column a checkpoint's frame can hold, in the order :func:`checkpoint_rows` creates
    them (spec 06 §B.3): ``noteId``; per rating set (all, scored) each level's factor statistics
    then its distribution, then the tag sums; the topic scorers' statistics; the author counts;
    ``is_crh``; ``N``. A frame holds a subsequence of it (a level without ratings has no
    distribution columns; no topic columns without topic scorers)."""
    def stats(prefix: str, distributional: bool) -> list[str]:
        out = []
        for _, lab in LEVELS:
            out += [f"{prefix}{lab}_factor1_{s}" for s in ("mean", "std", "count")]
            if distributional:
                out += [f"{prefix}{lab}_p{int(q * 100)}" for q in QUANTILES]
                out += [f"{prefix}{lab}_iqr", f"{prefix}{lab}_skewness"]
        return out

    cols = [S.NOTE_ID]
    for prefix in (ALL_PREFIX, SCORED_PREFIX):
        cols += stats(prefix, True) + [f"{prefix}tag_{t}" for t in TAGS]
    for prefix in (TOPIC_ALL_PREFIX, TOPIC_SCORED_PREFIX):
        cols += stats(prefix, False)
    cols += [f"{AUTHOR_PREFIX}{lab}_{suffix}" for suffix in ("14d", "90d") for lab in ("crh", "crnh", "nmr")]
    return (*cols, "is_crh", "N")


def _zero_where(column: str) -> str | None:
    """A distribution column of a level without ratings in some notes' chunk: the whole frame holds 0
    for the notes of its rating set (``rating_features`` fills them), which its level's count
    column marks; other columns missing from a chunk are missing in the whole frame too."""
    for prefix in (ALL_PREFIX, SCORED_PREFIX):
        for _, lab in LEVELS:
            if column.startswith(f"{prefix}{lab}_") and not column.startswith(f"{prefix}{lab}_factor1_"):
                return f"{prefix}{lab}_factor1_count"
    return None


def note_chunks(note_ids: np.ndarray, rows: np.ndarray, max_rows: int) -> list[tuple[int, int]]:
    """Ranges ``[lo, hi]`` of note ids, ascending, that split the ratings selected by ``rows`` into
    chunks of at most ``max_rows`` (a note with more is a chunk of its own); one range for all
    when they fit.

    >>> note_chunks(np.array([5, 3, 5, 9, 3, 7]), np.ones(6, bool), 2)
    [(3, 3), (5, 5), (7, 9)]
    """
    total = int(rows.sum())
    if total == 0:
        return []
    step = 1 << 24
    ids = []
    for a in range(0, len(note_ids), step):  # the selected ids a piece at a time (no R-sized copy)
        ids.append(unique(note_ids[a:a + step][rows[a:a + step]]))
    distinct = unique(np.concatenate(ids)) if len(ids) > 1 else ids[0]
    if total <= max_rows:
        return [(int(distinct[0]), int(distinct[-1]))]
    counts = np.zeros(len(distinct), dtype=np.int64)
    for a in range(0, len(note_ids), step):
        sel = note_ids[a:a + step][rows[a:a + step]]
        counts += np.bincount(np.searchsorted(distinct, sel), minlength=len(distinct))
    out, start, run = [], 0, 0
    for i, c in enumerate(counts.tolist()):
        if run and run + c > max_rows:
            out.append((int(distinct[start]), int(distinct[i - 1])))
            start, run = i, 0
        run += c
    out.append((int(distinct[start]), int(distinct[-1])))
    return out


def ranked_chunk(ratings: pd.DataFrame, rows: np.ndarray, lo: int, hi: int, n_max: int) -> pd.DataFrame:
    """The ratings selected by ``rows`` of the notes with ids in ``[lo, hi]``, ordered by note then
    time (ties in input order), ranked (``_rank`` = 1, 2, … per note), cut to what the checkpoints
    up to ``n_max`` read (:func:`up_to_rank`), tags unpacked: the chunk's part of the ranked frame
    of all notes. Only the ids and times are ordered; the other columns are copied once."""
    note_all = ratings[S.NOTE_ID].to_numpy()
    pos = np.flatnonzero(rows & (note_all >= lo) & (note_all <= hi))
    note, t = note_all[pos], ratings[S.CREATED_AT].to_numpy()[pos]
    by_time = lexsort2(t, note)  # stable: ties keep the ratings' order
    pos, note, t = pos[by_time], note[by_time], t[by_time]
    del by_time
    starts = np.r_[0, np.flatnonzero(note[1:] != note[:-1]) + 1] if len(note) else np.zeros(0, np.int64)
    rank = np.arange(len(note)) - np.repeat(starts, np.diff(np.r_[starts, len(note)])) + 1
    used = up_to_rank(note, t, rank, n_max)
    del note, t
    rr = _narrow(ratings, pos[used])
    rr["_rank"] = rank[used]
    rr.index = pd.RangeIndex(len(rr))
    return rr


def threshold_for(n: int, per_n: Mapping[int, float]) -> float:
    """Exit threshold of a note with ``n`` ratings: that N's, else the nearest trained N's (the
    smaller on ties), spec 06 §B.5."""
    if n in per_n:
        return per_n[n]
    keys = sorted(per_n)
    return per_n[min(keys, key=lambda k: abs(k - n))]


@contextlib.contextmanager
def _thread_limit(threads: int = 1):
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(threads):
        warnings.simplefilter("ignore")
        yield


# ================================================================== the model
@dataclass(frozen=True)
class PCRHModel:
    """The PCRH model (official ``PCRHModel``). Unfitted as constructed; :meth:`fit` returns a fitted
    copy.

    Attributes
    ----------
    config
        :class:`PCRHConfig`.
    model, scaler, binning
        Fitted ``HistGradientBoostingClassifier``, ``StandardScaler`` and
        :class:`~cnlab._compat.sklearn102_hist_binning.LegacyHistBinning` (None if unfitted / not used).
    feature_columns
        Feature names in model order (141 with the official roster's topic scorers).
    seed
        ``random_state`` of the boosting (its early-stopping split).
    report
        Training counts per checkpoint N (notes, CRH, excluded as already CRH, skipped).
    training
        The pooled training frame (noteId, features, is_crh).
    """

    config: PCRHConfig = PCRHConfig()
    model: Any = None
    scaler: Any = None
    binning: Any = None
    feature_columns: tuple[str, ...] = ()
    seed: int | None = None
    report: Mapping[str, Any] = field(default_factory=dict)
    training: pd.DataFrame | None = None

    @property
    def fitted(self) -> bool:
        return self.model is not None

    def fit(self, notes: pd.DataFrame, ratings: pd.DataFrame, status_history: pd.DataFrame,
            prescoring_rater_output: pd.DataFrame, *, enrollment: pd.DataFrame | None = None,
            note_topics: pd.DataFrame | None = None, seed: int | None = None,
            keep_training: bool = True, ratings_read: Callable[[], None] | None = None,
            spill_dir: str | Path | None = None, threads: int = 1) -> "PCRHModel":
        """Train on the PSS-coalesced prescoring ratings (spec 06 §B.4). Returns a fitted copy (or an
        unfitted one, with the reason in ``report``, when no checkpoint has enough notes).

        The recent notes are taken a chunk at a time (``PCRHConfig.chunk_ratings`` of their
        ratings), each chunk's ratings ordered and its checkpoints' frames built, then the matrix
        is assembled a feature at a time (:mod:`cnlab.models.pcrh_matrix`): the same rows,
        columns and model as from the whole frame. ``keep_training=False`` leaves :attr:`training`
        None (a lean run); with more than one chunk its blocks then wait in a temporary folder
        under ``spill_dir`` (the system's default when None), not in memory. ``ratings_read()``,
        if given, is called once the ratings are no longer read (the caller may let them go
        before the boosting); the fitted model is the same. ``threads``: OpenMP threads of the
        boosting (scikit-learn's histogram gradient boosting splits its loops over features or
        over rows into disjoint outputs, so the trees are the same for every value:
        ``tests/test_pcrh_memory.py``); give more than one only when nothing else runs beside the
        fit (oversubscribed OpenMP threads wait on each other: measured 12x slower)."""
        if threads < 1:
            raise ValueError(f"threads={threads}: give at least 1")
        from cnlab.models.pcrh_matrix import TrainingBlocks, fit_scaled_boosting

        nid = S.NOTE_ID
        cfg = self.config
        rep: dict[str, Any] = {}
        group = in_groups(ratings, enrollment, cfg.groups())
        rep["ratings_after_group_filter"] = len(ratings) if group is None else int(group.sum())
        lookup, scored = rater_factor_lookup(prescoring_rater_output, cfg.model_name)
        tl = topic_factor_lookups(prescoring_rater_output)
        rep["topic_lookups"] = sorted(tl)
        labels = pd.DataFrame({nid: status_history[nid].to_numpy(),
                               "is_crh": (status_history["currentStatus"].astype(object) == S.CRH)
                               .to_numpy().astype(np.int64)})
        recent = notes.loc[notes[S.CREATED_AT].to_numpy() > cfg.training_cutoff_millis, nid]
        rows = ratings[nid].isin(recent).to_numpy()
        if group is not None:
            rows = rows & group
        del group
        rep["training_notes"], rep["training_ratings"] = len(recent), int(rows.sum())
        chunks = note_chunks(ratings[nid].to_numpy(), rows, cfg.chunk_ratings)
        rep["note_chunks"] = len(chunks)
        spill = None if keep_training or len(chunks) < 2 else (spill_dir or tempfile.gettempdir())
        blocks = TrainingBlocks(feature_template(), spill_dir=spill, zero_where=_zero_where)
        authors = AuthorHistory(status_history)
        try:
            rep["training_ratings_read"] = read = 0
            produced: set[int] = set()
            for lo, hi in chunks:
                rr = ranked_chunk(ratings, rows, lo, hi, max(cfg.cascade))
                read += len(rr)
                for n in cfg.cascade:
                    f = checkpoint_rows(n, rr, status_history, lookup, scored, labels,
                                        note_topics=note_topics, topic_lookups=tl,
                                        exclude_already_decided=cfg.exclude_already_decided, report=rep,
                                        authors=authors)
                    if f is not None:
                        produced.add(n)
                        blocks.add(n, f)
                del rr
            rep["training_ratings_read"] = read
            del rows
            if ratings_read is not None:
                ratings = None
                ratings_read()
            for n in cfg.cascade:
                if n in produced and rep[f"N={n} notes"] < cfg.min_notes_per_n:
                    rep[f"N={n} skipped"] = True
                    blocks.drop(n)
            return self._fit_blocks(blocks, rep, seed, keep_training, fit_scaled_boosting, threads)
        finally:
            blocks.close()

    def _fit_blocks(self, blocks, rep, seed, keep_training, fit_scaled_boosting, threads: int = 1) -> "PCRHModel":
        cfg = self.config
        if not blocks.checkpoints():
            log.warning("PCRH: no checkpoint has %d training notes; model not fitted", cfg.min_notes_per_n)
            return dataclasses.replace(self, seed=seed, report=rep)
        pooled = blocks.frame() if keep_training else None
        y = blocks.labels()
        if len(np.unique(y)) < 2:
            log.warning("PCRH: training labels are all %s; model not fitted", y[0])
            if pooled is None and not blocks.on_disk:  # the frame is returned to show why, as before
                pooled = blocks.frame()
            return dataclasses.replace(self, seed=seed, report=rep, training=pooled)
        cols = blocks.feature_columns()
        from sklearn.ensemble import HistGradientBoostingClassifier

        # an explicit integer seed, so that the legacy bins see the boosting's own split
        rs = seed if seed is not None else int(np.random.randint(np.iinfo(np.int32).max))

        def make_model():
            return HistGradientBoostingClassifier(
                max_iter=cfg.max_iter, max_depth=cfg.max_depth, learning_rate=cfg.learning_rate,
                random_state=rs, early_stopping=True, n_iter_no_change=cfg.n_iter_no_change,
                validation_fraction=cfg.validation_fraction)

        def fit_model(model, x, y_, **val):
            t0 = time.perf_counter()
            with _thread_limit(threads):
                model.fit(x, y_, **val)
            log.info("PCRH: boosting on %d rows x %d features, %d iterations: %.1f s on %d thread(s)",
                     len(y_), x.shape[1], model.n_iter_, time.perf_counter() - t0, threads)

        model, scaler, binning = fit_scaled_boosting(
            blocks, cols, y, random_state=rs, validation_fraction=cfg.validation_fraction,
            legacy_binning=cfg.legacy_binning, make_model=make_model, fit_model=fit_model)
        rep.update(rows=len(y), features=len(cols), crh_rate=float(y.mean()),
                   iterations=int(model.n_iter_))
        return dataclasses.replace(self, model=model, scaler=scaler, binning=binning,
                                   feature_columns=tuple(cols), seed=seed, report=rep, training=pooled)

    def predict(self, notes: pd.DataFrame, ratings: pd.DataFrame, status_history: pd.DataFrame,
                prescoring_rater_output: pd.DataFrame, *, enrollment: pd.DataFrame | None = None,
                note_topics: pd.DataFrame | None = None,
                previous_positive: Iterable[int] = ()) -> pd.DataFrame:
        """Predictions for notes with 8–100 in-scope ratings (spec 06 §B.5): ``noteId``,
        ``abovePcrhThresholdTime`` (bool: positive now), ``pcrhExitN`` (rating count),
        ``pcrhExitProba`` (P(CRH)), ``pcrhRevoked``, ``pcrhRevokeN``, ``pcrhFinalPred``.

        ``previous_positive``: notes positive in the previous run — they stay positive unless
        P(CRH) < ``revoke_threshold``; the others need the exit threshold of their N.
        """
        nid = S.NOTE_ID
        cfg = self.config
        empty = pd.DataFrame({nid: pd.Series(dtype=np.int64), ABOVE: pd.Series(dtype=bool)})
        if not self.fitted:
            return empty
        group = in_groups(ratings, enrollment, cfg.groups())
        lookup, scored = rater_factor_lookup(prescoring_rater_output, cfg.model_name)
        tl = topic_factor_lookups(prescoring_rater_output)
        ids = ratings[nid] if group is None else ratings[nid][group]
        counts = ids.groupby(ids.to_numpy()).size().rename_axis(nid)
        del ids
        ok = (counts >= min(cfg.cascade)) & (counts <= cfg.max_ratings)
        eligible = counts[ok]
        if eligible.empty:
            return empty
        rows = ratings[nid].isin(eligible.index).to_numpy()
        if group is not None:
            rows = rows & group
        del group
        now = pd.to_numeric(status_history["timestampMillisOfCurrentStatus"], errors="coerce").max()
        note_all = ratings[nid].to_numpy()
        eligible_n = eligible.rename("N").rename_axis(nid).reset_index()
        ids, ns, probas = [], [], []
        authors = AuthorHistory(status_history)
        # a chunk of notes at a time (each note's features read its own ratings only): the same
        # rows, in the same order, as from every eligible rating at once
        for lo, hi in note_chunks(note_all, rows, cfg.chunk_ratings):
            re = _narrow(ratings, rows & (note_all >= lo) & (note_all <= hi))  # tags unpacked
            feats = _features(re, re[re[S.RATER_ID].isin(scored)], lookup, note_topics, tl,
                              status_history, now, authors)
            del re
            feats = feats.merge(eligible_n, on=nid, how="inner")
            x = np.zeros((len(feats), len(self.feature_columns)))
            for j, c in enumerate(self.feature_columns):
                if c in feats.columns:
                    x[:, j] = feats[c].fillna(0).to_numpy(dtype=np.float64)
            xs = self.scaler.transform(x)
            del x
            with _thread_limit():
                probas.append(self.model.predict_proba(
                    xs if self.binning is None else self.binning.transform(xs))[:, 1])
            ids.append(feats[nid].to_numpy(dtype=np.int64))
            ns.append(feats["N"].to_numpy())
            del feats, xs
        p, note_ids, n_arr = (np.concatenate(v) for v in (probas, ids, ns))
        per_n = dict(cfg.per_n_thresholds)
        thr = np.array([threshold_for(int(k), per_n) for k in n_arr])
        was = np.isin(note_ids, np.fromiter(previous_positive, dtype=np.int64))
        revoked = was & (p < cfg.revoke_threshold)
        above = np.where(was, ~revoked, p >= thr)
        return pd.DataFrame({
            nid: note_ids,
            ABOVE: above,
            "pcrhExitN": n_arr.astype(np.float64),
            "pcrhExitProba": p,
            "pcrhRevoked": revoked,
            "pcrhRevokeN": np.where(revoked, n_arr.astype(np.float64), np.nan),
            "pcrhFinalPred": above,
        })

    def summary(self) -> str:
        if not self.fitted:
            return "PCRHModel (unfitted)"
        rep = self.report
        per_n = ", ".join(f"N={n}: {rep.get(f'N={n} notes', 0)} notes/{rep.get(f'N={n} crh', 0)} CRH"
                          + (" (skipped)" if rep.get(f"N={n} skipped") else "") for n in self.config.cascade)
        return (f"PCRHModel: {rep['rows']} rows, {rep['features']} features, CRH rate "
                f"{rep['crh_rate']:.3f}, {rep['iterations']} boosting iterations, seed={self.seed}\n"
                f"  {per_n}")


# ================================================================== timestamps and suppression
def _time_rows(frame: pd.DataFrame | None) -> pd.DataFrame:
    nid = S.NOTE_ID
    if frame is None or ABOVE not in frame.columns or nid not in frame.columns:
        return pd.DataFrame({nid: pd.Series(dtype=np.int64), ABOVE: pd.Series(dtype=np.float64)})
    t = frame[[nid, ABOVE]].assign(**{ABOVE: pd.to_numeric(frame[ABOVE], errors="coerce")})
    return t.dropna(subset=[ABOVE])


def previous_state(previous_scored_notes: pd.DataFrame | None, status_history: pd.DataFrame | None
                   ) -> tuple[set[int], dict[int, float]]:
    """Previous PCRH times per note from the previous scored notes and the input NSH (spec 06 §B.6):
    one value per note preferring a non-(−1) value, then a positive one, then the smallest |t|.
    Returns ``(notes positive now, noteId → time)``."""
    nid = S.NOTE_ID
    c = pd.concat([_time_rows(previous_scored_notes), _time_rows(status_history)], ignore_index=True)
    if c.empty:
        return set(), {}
    t = c[ABOVE].to_numpy(dtype=np.float64)
    c = c.assign(_s=t == CLEARED, _np=t <= 0, _a=np.abs(t)).sort_values(
        [nid, "_s", "_np", "_a"], kind="mergesort")
    best = c.drop_duplicates(nid, keep="first")
    times = dict(zip(best[nid].tolist(), best[ABOVE].astype(float).tolist()))
    return {k for k, v in times.items() if v > 0}, times


def _first_times(t: np.ndarray) -> np.ndarray:
    """|t| where t is a known first time (not NaN, not −1), else NaN."""
    t = np.asarray(t, dtype=np.float64)
    out = np.abs(t)
    out[np.isnan(t) | (t == CLEARED)] = np.nan
    return out


def to_timestamps(predictions: pd.DataFrame, previous_times: Mapping[int, float], now: float, *,
                  stale_millis: int = 12 * 60 * 60 * 1000) -> pd.DataFrame:
    """Boolean ``abovePcrhThresholdTime`` → timestamps (spec 06 §B.6)::

        positive, known first time T0 within 12 h of now → +T0
        positive, known T0 older                           → −T0
        positive, no history                               → now
        not positive, known T0                              → −T0
        otherwise                                          → NaN
    """
    nid = S.NOTE_ID
    out = predictions.copy()
    above = out[ABOVE].astype(bool).to_numpy()
    prev = out[nid].map(dict(previous_times)).to_numpy(dtype=np.float64) if len(out) else np.zeros(0)
    first = _first_times(prev)
    has = ~np.isnan(first)
    inside = has & ((now - first) <= stale_millis)
    out[ABOVE] = np.where(above & inside, first,
                          np.where(above & has, -first,
                                   np.where(above, float(now), np.where(has, -first, np.nan))))
    return out


def suppress_ineligible(scored_notes: pd.DataFrame, *, previous_positive: Iterable[int] | None = None,
                        previous_times: Mapping[int, float] | None = None, now: float | None = None,
                        core_rule: str = "CoreModel (v1.1)",
                        stale_millis: int = 12 * 60 * 60 * 1000) -> pd.DataFrame:
    """Clear PCRH positives that may not show (spec 06 §B.6; run after meta-scoring).

    Notes that are or were positive and are not decided by ``CoreModel (v1.1)``, or whose Core status
    is FIRM_REJECT / CRNH, or that are NOT_MISLEADING → −T0 (−1 when no first time is known; an
    existing −T0 is kept). With ``now``: any positive whose first time is more than 12 h old → −T0.
    Returns a copy.
    """
    nid = S.NOTE_ID
    sn = scored_notes.copy()
    if ABOVE not in sn.columns or "decidedBy" not in sn.columns:
        return sn
    decided = sn["decidedBy"].astype(object).fillna("").to_numpy()
    core = sn["coreRatingStatus"].astype(object).to_numpy() if "coreRatingStatus" in sn.columns \
        else np.full(len(sn), None, dtype=object)
    not_core = decided != core_rule
    firm = (decided == core_rule) & np.isin(core, [S.FIRM_REJECT, S.CRNH])
    not_mis = (sn[S.CLASSIFICATION].astype(object) == S.NOT_MISLEADING).to_numpy() \
        if S.CLASSIFICATION in sn.columns else np.zeros(len(sn), dtype=bool)
    t = pd.to_numeric(sn[ABOVE], errors="coerce").to_numpy(dtype=np.float64)
    was = np.nan_to_num(t, nan=0.0) > 0
    if previous_positive is not None:
        was |= np.isin(sn[nid].to_numpy(), np.fromiter(previous_positive, dtype=np.int64))
    mask = (not_core | firm | not_mis) & was
    first = _first_times(t)
    if previous_times:
        prev = _first_times(sn[nid].map(dict(previous_times)).to_numpy(dtype=np.float64))
        first = np.where(np.isnan(first), prev, first)
    if now is not None:
        mask |= (t > 0) & ~np.isnan(first) & ((now - first) > stale_millis)
    has = ~np.isnan(first)
    t = np.where(mask & has, -first, np.where(mask & (np.isnan(t) | (t > 0)), CLEARED, t))
    sn[ABOVE] = t
    return sn


def merge_predictions(predictions: pd.DataFrame, scored_notes: pd.DataFrame, aux: pd.DataFrame
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Left-merge ``abovePcrhThresholdTime`` into scored notes and the five pcrh columns into aux
    (spec 04 §10.1 step 10); aux ``pcrhRevoked`` / ``pcrhFinalPred`` are nullable booleans."""
    nid = S.NOTE_ID
    sn = scored_notes.drop(columns=[ABOVE], errors="ignore")
    ax = aux.drop(columns=[c for c in PCRH_AUX_COLUMNS if c in aux.columns])
    p = predictions
    if ABOVE in p.columns and len(p):
        sn = sn.merge(p[[nid, ABOVE]], on=nid, how="left")
        ax = ax.merge(p[[nid, *[c for c in PCRH_AUX_COLUMNS if c in p.columns]]], on=nid, how="left")
    else:
        sn[ABOVE] = np.nan
    for c in PCRH_AUX_COLUMNS:
        if c not in ax.columns:
            ax[c] = np.nan
    for c in ("pcrhRevoked", "pcrhFinalPred"):
        ax[c] = ax[c].astype("boolean")
    for c in ("pcrhExitN", "pcrhExitProba", "pcrhRevokeN"):
        ax[c] = ax[c].astype(np.float64)
    return sn, ax
