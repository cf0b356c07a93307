"""Compare cnlab's statuses with the statuses the download publishes, and say why they differ.

The public ``noteStatusHistory`` file records, for every note, the status the official scorer
showed when the file was written (``currentStatus`` at ``timestampMillisOfCurrentStatus``), the
rule that decided it (``currentDecidedBy``) and, for notes older than two weeks, the status it
was locked at (``lockedStatus``). :func:`compare_with_published` puts cnlab's
``finalRatingStatus`` / ``decidedBy`` beside them and gives each disagreement one of the known
reasons:

==================  ===========================================================================
``locked_status``   the note has a ``lockedStatus`` that one side shows and the other does not:
                    the published status is frozen two weeks after the note's creation, so the
                    side that is not the lock saw the note before its lock or ignored it
``data_removed``    the download lacks data the published status was computed from: the note
                    is not in the notes file (deleted), or it is published as rated
                    (CRH / CRNH) with fewer ratings in the download than any scorer needs
                    (``min_ratings``)
``time_of_scoring`` the note was rated after the published timestamp (the two runs saw
                    different ratings), or one side's decision went through a clock-dependent
                    rule (``NmrDueToMinStableCrhTime``: a new CRH is held back for a fixed time)
                    while cnlab's "now" differs from the published time
``model_noise``     the deciding model's note intercept or factor is within ``noise_margin`` of
                    a threshold (CRH, the CRNH bound, the large-factor filter): a rerun with
                    another random initialisation can land on either side
``unexplained``     none of the above
==================  ===========================================================================

Notes that agree get ``agree``; notes without a published status (not in the file, or an empty
``currentStatus``: created after it was written) ``not_published``; notes with a published status
that cnlab did not score ``not_scored``.

No TensorFlow is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._arrays import isin

__all__ = ["PublishedComparison", "compare_with_published", "REASONS", "DISAGREEMENT_REASONS",
           "CLOCK_RULES"]

#: Reasons of a disagreement, in the order they are tried (the first that applies is ``reason``).
DISAGREEMENT_REASONS = ("locked_status", "data_removed", "time_of_scoring", "model_noise", "unexplained")
#: Every value of the ``reason`` column.
REASONS = ("agree", *DISAGREEMENT_REASONS, "not_published", "not_scored")
#: Meta rules whose outcome depends on the clock ("now") of the run (spec 04 §11).
CLOCK_RULES = ("NmrDueToMinStableCrhTime",)

_TABLE_COLUMNS = [
    S.NOTE_ID, "currentStatus", "currentDecidedBy", "lockedStatus", "timestampMillisOfCurrentStatus",
    "finalRatingStatus", "decidedBy", "agree", "sameDecidedBy", "reason",
    "locked", "inNotes", "numRatingsInDownload", "ratingsAfterPublished", "clockRule",
    "decidingScorer", "nearestThreshold", "thresholdDistance",
]


def _base(rule: Any) -> str:
    return "" if rule is None or (isinstance(rule, float) and np.isnan(rule)) else str(rule).split(" (v")[0].strip()


def _obj(values: Any) -> np.ndarray:
    s = pd.Series(values).astype(object)
    return s.where(s.notna(), None).to_numpy(dtype=object)


def _eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality of two object arrays; missing equals nothing (not even missing)."""
    return np.array([x is not None and y is not None and x == y for x, y in zip(a, b)], dtype=bool)


def _threshold_distances(result: Any, note_ids: np.ndarray, deciding: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scorer, nearest threshold name, |distance|) of each note's deciding MF model.

    The deciding model is the scorer whose meta rule is the note's ``decidingModel``; a note no
    model decided is measured on the Core model when Core scored it. Distances: ``|i − crh|``,
    ``|i − (crnh_intercept + crnh_multiplier·|f|)|`` and ``||f| − factor_threshold|``, with the
    scorer's own :class:`~cnlab.scoring.config.RuleThresholds`.
    """
    n = len(note_ids)
    scorer = np.full(n, None, dtype=object)
    name = np.full(n, None, dtype=object)
    dist = np.full(n, np.nan)
    pos = pd.Series(np.arange(n), index=note_ids)
    for sname, f in getattr(result, "final", {}).items():
        sc = f.scorer
        if not hasattr(sc, "rules"):
            continue
        cm = sc.note_column_map() if hasattr(sc, "note_column_map") else \
            S.scorer_note_columns(getattr(sc, "prefix", ""), getattr(sc, "suffix", ""))
        ic, fc = cm.get(S.NOTE_INTERCEPT), cm.get(S.NOTE_FACTOR1)
        sn = f.scored_notes
        if ic not in sn.columns or fc not in sn.columns:
            continue
        sn = sn[[S.NOTE_ID, ic, fc]].dropna().drop_duplicates(S.NOTE_ID)
        sn = sn[sn[S.NOTE_ID].isin(pos.index)]
        idx = pos.loc[sn[S.NOTE_ID].to_numpy()].to_numpy()
        decider = getattr(sc, "decider", None)
        mine = np.array([d == decider or (d is None and sname == "MFCoreScorer") for d in deciding[idx]], dtype=bool)
        idx = idx[mine]
        i = sn[ic].to_numpy(dtype=np.float64)[mine]
        fac = sn[fc].to_numpy(dtype=np.float64)[mine]
        t = sc.rules()
        cand = np.vstack([
            np.abs(i - t.crh_threshold),
            np.abs(i - (t.crnh_threshold_intercept + t.crnh_threshold_note_factor_multiplier * np.abs(fac))),
            np.abs(np.abs(fac) - t.factor_threshold),
        ])
        which = np.argmin(cand, axis=0)
        labels = np.array([f"crh_threshold={t.crh_threshold:g}", "GeneralCRNH bound",
                           f"factor_threshold={t.factor_threshold:g}"], dtype=object)
        scorer[idx] = sname
        name[idx] = labels[which]
        dist[idx] = cand[which, np.arange(len(idx))]
    return scorer, name, dist


@dataclass(frozen=True)
class PublishedComparison:
    """cnlab's statuses beside the published ones, with the reason of each difference.

    Attributes
    ----------
    table
        One row per note of cnlab's ``scored_notes`` or of the input status history, sorted by
        ``noteId``: the published ``currentStatus``, ``currentDecidedBy``, ``lockedStatus``,
        ``timestampMillisOfCurrentStatus``; cnlab's ``finalRatingStatus``, ``decidedBy``;
        ``agree`` (same status), ``sameDecidedBy``, ``reason`` (:data:`REASONS`); and the evidence
        behind it: ``locked`` (the lock explains the difference), ``inNotes`` (the note is in the
        notes file), ``numRatingsInDownload``, ``ratingsAfterPublished`` (ratings of the note
        created after the published timestamp), ``clockRule`` (either side decided by a
        :data:`CLOCK_RULES` rule), ``decidingScorer``, ``nearestThreshold`` and
        ``thresholdDistance`` (of the deciding model's intercept / factor).
    noise_margin, min_ratings
        The settings the reasons were given with.
    epoch_millis
        cnlab's "now"; ``published_millis`` the latest published timestamp of the file.
    """

    table: pd.DataFrame
    noise_margin: float
    min_ratings: int
    epoch_millis: int | None
    published_millis: float

    @property
    def compared(self) -> pd.DataFrame:
        """Rows of notes with both a published and a cnlab status."""
        return self.table[~self.table["reason"].isin(["not_published", "not_scored"])]

    def disagreements(self) -> pd.DataFrame:
        """Rows of the notes whose statuses differ."""
        return self.table[self.table["reason"].isin(DISAGREEMENT_REASONS)].reset_index(drop=True)

    def counts(self) -> pd.Series:
        """Notes per ``reason``, in :data:`REASONS` order (zeros included)."""
        return self.table["reason"].value_counts().reindex(list(REASONS), fill_value=0).rename("notes")

    def crosstab(self) -> pd.DataFrame:
        """Compared notes by (published ``currentStatus``, cnlab ``finalRatingStatus``)."""
        c = self.compared
        tab = pd.crosstab(c["currentStatus"].astype(object), c["finalRatingStatus"].astype(object))
        tab.index.name, tab.columns.name = "published", "cnlab"
        return tab

    def summary(self) -> str:
        """Agreement rate, the status cross-table and the notes per reason."""
        c = self.compared
        n_agree = int(c["agree"].sum())
        lines = [f"cnlab vs published noteStatusHistory: {len(c):,} notes with both statuses, "
                 f"{n_agree:,} agree ({n_agree / max(len(c), 1):.1%}); decidedBy agrees on "
                 f"{int(c['sameDecidedBy'].sum()):,}",
                 f"cnlab now={self.epoch_millis}, published at <= {self.published_millis:.0f}; "
                 f"noise_margin={self.noise_margin:g}, min_ratings={self.min_ratings}",
                 "status (rows: published, columns: cnlab):"]
        lines += ["  " + ln for ln in self.crosstab().to_string().splitlines()]
        lines.append("notes by reason:")
        lines += [f"  {n:>6,}  {r}" for r, n in self.counts().items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        c = self.counts()
        return (f"PublishedComparison({int(c['agree']):,} agree, "
                f"{int(c[list(DISAGREEMENT_REASONS)].sum()):,} differ)")


def compare_with_published(
    result: Any,
    dataset: Any = None,
    *,
    noise_margin: float = 0.02,
    min_ratings: int = 5,
) -> PublishedComparison:
    """Compare a run's statuses with the statuses the input ``noteStatusHistory`` publishes.

    Parameters
    ----------
    result
        A :class:`cnlab.pipeline.ScoringResult` of ``dataset``.
    dataset
        The :class:`cnlab.io.Dataset` whose ``status_history`` holds the published statuses;
        default ``result.dataset``. The notes and ratings that count as "in the download" are
        those cnlab scored (``result.dataset`` when the result holds it): for a
        :func:`~cnlab.lab.counterfactual` result, pass the full download here.
    noise_margin
        Distance of the deciding model's intercept (or factor) to a threshold under which a
        difference is ``model_noise`` (0.02: the size of cnlab's intercept differences from the
        official run from raw files, ``bench/parity_core.py``).
    min_ratings
        Fewest ratings a note needs to be rated by any scorer (``min_ratings_needed``, 5): a note
        published as CRH / CRNH with fewer ratings in the download lost ratings.

    Returns
    -------
    PublishedComparison
        ``table`` (one row per note, the reason and its evidence), ``counts()``, ``summary()``.

    Examples
    --------
    >>> import cnlab
    >>> ds = cnlab.load_sample()                                   # doctest: +SKIP
    >>> res = cnlab.score(ds, seed=42)                             # doctest: +SKIP
    >>> print(compare_with_published(res, ds).summary())           # doctest: +SKIP
    """
    dataset = result.dataset if dataset is None else dataset
    if dataset is None:
        raise ValueError("compare_with_published: pass the dataset (the result does not hold one)")
    nid = S.NOTE_ID
    nsh = dataset.status_history
    sn = result.frames["scored_notes"]
    pub_cols = ["currentStatus", "currentDecidedBy", "lockedStatus", "timestampMillisOfCurrentStatus"]
    pub = nsh.reindex(columns=[nid, *pub_cols]).drop_duplicates(nid)
    ours = sn[[nid, "finalRatingStatus", "decidedBy"]].drop_duplicates(nid)
    t = pub.assign(_pub=True).merge(ours.assign(_ours=True), on=nid, how="outer", sort=True)
    in_pub = t.pop("_pub").astype("boolean").fillna(False).to_numpy(dtype=bool)
    in_ours = t.pop("_ours").astype("boolean").fillna(False).to_numpy(dtype=bool)
    ids = t[nid].to_numpy(dtype=np.int64)

    published, final = _obj(t["currentStatus"]), _obj(t["finalRatingStatus"])
    locked_status = _obj(t["lockedStatus"])
    pub_ts = pd.to_numeric(t["timestampMillisOfCurrentStatus"], errors="coerce").to_numpy(dtype=np.float64)
    file_ts = float(np.nanmax(pub_ts)) if np.isfinite(pub_ts).any() else np.nan
    note_ts = np.where(np.isfinite(pub_ts), pub_ts, file_ts)

    # evidence ------------------------------------------------------------------------------------
    agree = _eq(published, final)
    same_by = _eq(_obj(t["currentDecidedBy"]), _obj(t["decidedBy"]))
    has_lock = np.array([x is not None for x in locked_status])
    locked = has_lock & (_eq(published, locked_status) != _eq(final, locked_status))
    seen = result.dataset if getattr(result, "dataset", None) is not None else dataset
    in_notes = isin(ids, seen.notes[nid].to_numpy())
    r = seen.ratings
    n_ratings = pd.Series(ids).map(r[nid].value_counts()).fillna(0).to_numpy(dtype=np.int64)
    ts_of = pd.Series(note_ts, index=ids)
    r_ts = r[S.CREATED_AT].to_numpy(dtype=np.float64)
    after = r_ts > r[nid].map(ts_of).to_numpy(dtype=np.float64)  # NaN timestamp: False
    n_after = pd.Series(ids).map(r.loc[after, nid].value_counts()).fillna(0).to_numpy(dtype=np.int64)
    rated = np.array([p in (S.CRH, S.CRNH) for p in published], dtype=bool)
    data_removed = ~in_notes | (rated & (n_ratings < min_ratings))
    clock = np.array([_base(a) in CLOCK_RULES or _base(b) in CLOCK_RULES
                      for a, b in zip(_obj(t["currentDecidedBy"]), _obj(t["decidedBy"]))], dtype=bool)
    epoch = getattr(result, "epoch_millis", None)
    if epoch is not None:  # at the published time itself the clock cannot explain a difference
        clock &= note_ts != float(epoch)
    time_of_scoring = (n_after > 0) | clock

    decisions = result.decisions() if hasattr(result, "decisions") else None
    deciding = np.full(len(ids), None, dtype=object)
    if decisions is not None:
        d = decisions.drop_duplicates(nid).set_index(nid)["decidingModel"]
        deciding = _obj(pd.Series(ids).map(d))
    scorer, nearest, dist = _threshold_distances(result, ids, deciding)
    noise = np.isfinite(dist) & (dist < noise_margin)

    # reason: the first that applies, in DISAGREEMENT_REASONS order ---------------------------------
    reason = np.full(len(ids), "unexplained", dtype=object)
    for name, flag in reversed(list(zip(DISAGREEMENT_REASONS[:-1],
                                        (locked, data_removed, time_of_scoring, noise)))):
        reason[flag] = name
    reason[agree] = "agree"
    reason[~in_ours] = "not_scored"
    reason[~in_pub | np.array([p is None for p in published])] = "not_published"

    table = pd.DataFrame({
        nid: ids,
        "currentStatus": published, "currentDecidedBy": _obj(t["currentDecidedBy"]),
        "lockedStatus": locked_status, "timestampMillisOfCurrentStatus": pub_ts,
        "finalRatingStatus": final, "decidedBy": _obj(t["decidedBy"]),
        "agree": agree, "sameDecidedBy": same_by, "reason": reason,
        "locked": locked, "inNotes": in_notes, "numRatingsInDownload": n_ratings,
        "ratingsAfterPublished": n_after, "clockRule": clock,
        "decidingScorer": scorer, "nearestThreshold": nearest, "thresholdDistance": dist,
    }, columns=_TABLE_COLUMNS)
    return PublishedComparison(table=table, noise_margin=float(noise_margin), min_ratings=int(min_ratings),
                               epoch_millis=epoch, published_millis=file_ts)
