"""End-to-end Core scoring: ``score(dataset) -> ScoringResult`` (spec 04 §8, §10, §11, §13).

Order (official ``runner.main`` with ``--scorers MFCoreScorer``)::

    preprocess (funnel)                                    04 §4
    topics: train + assign (or given)                      05 A
    rater clustering → raw PSS frame                       04 §7, 05 B
    prescoring ratings = PSS-coalesced with the raw frame  05 B.4
    prescore each scorer                                   02 §3
    final ratings = PSS-coalesced with the dropna'd rater-output PSS rows (05 B.4)
    score_final each scorer                                02 §4
    note stats over all final ratings                      04 §10.1 step 11a
    meta_score with the enabled scorers' rules             04 §11
    new note status history (now = epoch_millis)           04 §13
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.pipeline import _deps
from cnlab.pipeline._log import StageTimer
from cnlab.pipeline.config import ScoringConfig
from cnlab.pipeline.final import FinalOutput, score_final
from cnlab.pipeline.prescoring import combine, prescore
from cnlab.pipeline.prescoring_io import PSS_COLUMNS, PrescoringOutput, map_participant_ids

log = logging.getLogger("cnlab")

OUTPUT_KEYS = ("scored_notes", "helpfulness_scores", "note_status_history", "aux_note_info")


@dataclass(frozen=True)
class ScoringResult:
    """Everything one :func:`score` run computed.

    Attributes
    ----------
    config
        The run's :class:`ScoringConfig`.
    preprocessed
        ``cnlab.preprocess.Preprocessed`` (notes, ratings, status_history, funnel).
    note_topics
        noteTopics table used (noteId, noteTopic; assigned notes only).
    pss
        Raw rater-clustering frame (raterParticipantId, postSelectionValue, quasiCliqueValue).
    prescoring_ratings, final_ratings
        Ratings after PSS coalescing for each phase.
    prescoring
        :class:`PrescoringOutput` (cnlab's or the official one).
    final
        Scorer name → :class:`FinalOutput` (per-call MF results in ``.calls``).
    note_stats
        compute_note_stats over all final ratings (numRatings, tag counts …).
    meta
        The meta-scoring result (scored notes with finalRatingStatus, decidedBy …).
    frames
        The four official output frames with **participant codes** (see :meth:`outputs`).
    timings
        Stage, rows in/out and seconds.
    participants
        Code → original id string (``dataset.participants``).
    """

    config: ScoringConfig
    preprocessed: Any
    note_topics: pd.DataFrame
    pss: pd.DataFrame | None
    prescoring_ratings: pd.DataFrame
    final_ratings: pd.DataFrame
    prescoring: PrescoringOutput
    final: Mapping[str, FinalOutput]
    note_stats: pd.DataFrame
    meta: Any
    frames: Mapping[str, pd.DataFrame]
    timings: pd.DataFrame
    participants: pd.Index | None = None
    epoch_millis: int | None = None

    @property
    def funnel(self) -> Any:
        return getattr(self.preprocessed, "funnel", None)

    def outputs(self) -> dict[str, pd.DataFrame]:
        """The four official frames, original string participant ids, official columns."""
        out: dict[str, pd.DataFrame] = {}
        id_cols = {
            "scored_notes": [],
            "helpfulness_scores": [schema.RATER_ID],
            "note_status_history": [schema.AUTHOR_ID],
            "aux_note_info": [schema.AUTHOR_ID],
        }
        for key in OUTPUT_KEYS:
            f = self.frames[key].copy()
            if self.participants is not None:
                for c in id_cols[key]:
                    if c in f.columns:
                        codes = f[c].to_numpy()
                        ok = pd.notna(codes)
                        vals = np.full(len(f), None, dtype=object)
                        ci = codes[ok].astype(np.int64)
                        valid = (ci >= 0) & (ci < len(self.participants))
                        tmp = np.full(len(ci), None, dtype=object)
                        tmp[valid] = self.participants.to_numpy()[ci[valid]]
                        vals[ok] = tmp
                        f[c] = vals
            out[key] = f
        return out

    def summary(self) -> str:
        sn = self.frames["scored_notes"]
        lines = [
            f"cnlab scoring run: {len(sn)} notes, seed={self.config.seed}, "
            f"epoch_millis={self.epoch_millis}, prescoring={self.prescoring.source}",
            "  finalRatingStatus: " + ", ".join(
                f"{k}={v}" for k, v in sn["finalRatingStatus"].value_counts().items()),
            "  decidedBy: " + ", ".join(f"{k}={v}" for k, v in sn["decidedBy"].value_counts().items()),
        ]
        for f in self.final.values():
            lines.append("  " + f.summary().replace("\n", "\n  "))
        lines.append(f"  total time {self.timings['seconds'].sum():.1f} s")
        return "\n".join(lines)


def _topics(config: ScoringConfig, notes: pd.DataFrame, note_topics, seed, timer) -> pd.DataFrame:
    empty = pd.DataFrame({schema.NOTE_ID: pd.Series(dtype=np.int64),
                          "noteTopic": pd.Series(dtype="str")})
    given = note_topics if note_topics is not None else config.topics
    if isinstance(given, pd.DataFrame):
        nt = given[[schema.NOTE_ID, "noteTopic"]]
        nt = nt[nt["noteTopic"].notna() & (nt["noteTopic"].astype(str) != "Unassigned")]
        return nt.reset_index(drop=True)
    if given in (None, "none"):
        return empty
    with timer.stage("topic model", len(notes)) as st:
        train = _deps.get("cnlab.topics", "train_topic_classifier")
        assign = _deps.get("cnlab.topics", "assign_topics")
        model = _deps.call(train, notes, seed=seed)
        nt = _deps.call(assign, notes, model)
        if not isinstance(nt, pd.DataFrame):  # tolerate result objects
            nt = getattr(nt, "note_topics", nt)
        nt = nt[[schema.NOTE_ID, "noteTopic"]]
        nt = nt[nt["noteTopic"].notna() & (nt["noteTopic"].astype(str) != "Unassigned")]
        st["rows_out"] = len(nt)
    return nt.reset_index(drop=True)


def apply_pss(notes: pd.DataFrame, ratings: pd.DataFrame, pss: pd.DataFrame | None) -> pd.DataFrame:
    """PSS coalescing (spec 05 B.4) via ``cnlab.similarity``; adds ``correlatedRater``."""
    if pss is None:
        return ratings.assign(**{schema.CORRELATED_RATER: False})
    fn = _deps.get("cnlab.similarity", "apply_post_selection_similarity")
    out = fn(notes, ratings, pss)
    if isinstance(out, tuple):
        out = out[0]
    return getattr(out, "ratings", out)


def _helpfulness_output(prescoring: PrescoringOutput, config: ScoringConfig) -> pd.DataFrame:
    """helpfulness_scores from the prescoring rater rows (spec 04 §14.4), Core columns only."""
    rid = schema.RATER_ID
    frame = None
    for sc in config.scorers:
        _, pr, _ = prescoring.for_scorer(sc.name)
        if pr.empty:
            continue
        m = sc.rater_column_map()
        cols = [rid, *[c for c in pr.columns if c in m or c in sc.helpfulness_columns()]]
        part = pr[cols].rename(columns=m)
        part = part.reindex(columns=[rid, *sc.helpfulness_columns()])
        frame = part if frame is None else frame.merge(part, on=rid, how="outer",
                                                        suffixes=("", f"_{sc.prefix}"))
    if frame is None:
        frame = pd.DataFrame({rid: pd.Series(dtype=np.int32)})
    return frame.reindex(columns=list(schema.HELPFULNESS_SCORES_COLUMNS))


def score(
    dataset: Any,
    config: ScoringConfig = ScoringConfig(),
    *,
    seed: int | None = None,
    prescoring: PrescoringOutput | str | None = None,
    note_topics: pd.DataFrame | None = None,
) -> ScoringResult:
    """Score a dataset with the configured MF scorers (Core by default).

    Parameters
    ----------
    dataset
        A :class:`cnlab.io.Dataset`.
    config
        Run configuration.
    seed
        Overrides ``config.seed``.
    prescoring
        Start final scoring from these prescoring outputs (e.g.
        :func:`load_official_prescoring`, or a directory path) instead of running
        prescoring. The PSS rows of the rater output drive final-scoring PSS.
    note_topics
        noteTopics to use instead of ``config.topics``.
    """
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    seed = config.seed
    timer = StageTimer()
    participants = getattr(dataset, "participants", None)

    with timer.stage("preprocess", len(dataset.ratings)) as st:
        pre_fn = _deps.get("cnlab.preprocess", "preprocess")
        pre = pre_fn(dataset)
        st["rows_out"] = len(pre.ratings)
    notes, ratings, nsh = pre.notes, pre.ratings, pre.status_history
    enrollment = dataset.enrollment
    epoch = config.epoch_millis
    if epoch is None:
        epoch = int(max(ratings[schema.CREATED_AT].max() if len(ratings) else 0,
                        notes[schema.CREATED_AT].max() if len(notes) else 0))

    nt = _topics(config, notes, note_topics, seed, timer)

    if isinstance(prescoring, str):
        from cnlab.pipeline.prescoring_io import load_official_prescoring

        prescoring = load_official_prescoring(prescoring, participants)
    elif prescoring is not None and participants is not None:
        prescoring = map_participant_ids(prescoring, participants)

    # -- prescoring ---------------------------------------------------------------------
    pss = None
    if prescoring is None:
        if config.use_pss:
            with timer.stage("rater clustering (PSS + quasi-cliques)", len(ratings)) as st:
                rc = _deps.get("cnlab.similarity", "rater_clustering")
                pss = _deps.call(rc, notes, ratings, seed=seed)
                pss = getattr(pss, "values", pss) if not isinstance(pss, pd.DataFrame) else pss
                pss = pss.reindex(columns=list(PSS_COLUMNS))
                st["rows_out"] = len(pss)
        with timer.stage("PSS coalescing (prescoring)", len(ratings)) as st:
            pre_ratings = apply_pss(notes, ratings, pss)
            st["rows_out"] = len(pre_ratings)
        outs = []
        for sc in config.scorers:
            outs.append(prescore(
                pre_ratings, nsh, enrollment, sc, note_topics=nt, seed=seed,
                check_train_error=config.check_train_error, epoch_millis=epoch,
                timer=StageTimer(prefix=f"{sc.name} prescoring: ")))
            timer.records.extend(outs[-1].intermediates.get(sc.name, {}).get(
                "timings", pd.DataFrame()).to_dict("records"))
        prescoring = combine(outs, pss)
    else:
        pss = prescoring.pss
        pre_ratings = ratings

    # -- final scoring ------------------------------------------------------------------
    final_pss = prescoring.final_pss() if config.use_pss else None
    with timer.stage("PSS coalescing (final, dropna'd rows)", len(ratings)) as st:
        fin_ratings = apply_pss(notes, ratings, final_pss)
        st["rows_out"] = len(fin_ratings)
        st["note"] = f"{0 if final_pss is None else len(final_pss)} PSS rows"
    finals: dict[str, FinalOutput] = {}
    for sc in config.scorers:
        t = StageTimer(prefix=f"{sc.name} final: ")
        finals[sc.name] = score_final(fin_ratings, nsh, enrollment, sc, prescoring,
                                      note_topics=nt, seed=seed,
                                      pseudoraters=config.pseudoraters, epoch_millis=epoch,
                                      timer=t)
        timer.records.extend(t.records)

    # -- combine, note stats, meta, NSH ---------------------------------------------------
    nid = schema.NOTE_ID
    sn = pd.DataFrame({nid: nsh[nid].to_numpy()})
    aux = sn.copy()
    for f in finals.values():
        sn = sn.merge(f.scored_notes, on=nid, how="outer")
        if f.scorer.has_aux:
            aux = aux.merge(f.aux_note_info, on=nid, how="outer")
    for c in ("coreNegFactor_populationSampledRatingCount", "corePosFactor_populationSampledRatingCount"):
        if c in aux.columns:
            aux[c] = aux[c].fillna(0).astype(np.int64)

    with timer.stage("note stats (all final ratings)", len(fin_ratings)) as st:
        cns = _deps.get("cnlab.scoring.note_stats", "compute_note_stats")
        stats = cns(fin_ratings, nsh, epoch_millis=epoch)
        st["rows_out"] = len(stats)
    sn = sn.merge(stats[[nid, schema.CLASSIFICATION, schema.CREATED_AT, schema.NUM_RATINGS]]
                  .drop_duplicates(nid), on=nid, how="left")
    aux_cols = [c for c in (schema.AUTHOR_ID, schema.CREATED_AT, "numRatingsLast28", "currentStatus",
                            "numPopulationSampledRatings", *schema.ALL_TAGS) if c in stats.columns]
    aux = aux.merge(stats[[nid, *aux_cols]], on=nid, how="left")
    sn["pflipProba"] = np.nan  # pflip is not part of a Core-only cnlab run

    with timer.stage("meta scoring", len(sn)) as st:
        meta_fn = _deps.get("cnlab.scoring.meta", "meta_score")
        meta = _deps.call(meta_fn, sn, aux, nsh, epoch_millis=epoch,
                          scorers=list(config.enabled_meta_scorers))
        st["rows_out"] = len(meta)
        st["note"] = ", ".join(f"{k}={v}" for k, v in meta["decidedBy"].value_counts().items())
    aux_meta_cols = [c for c in ("crhBool", "crnhBool", "awaitingBool", "unlockedRatingStatus",
                                 "preStabilizationRatingStatus") if c in meta.columns]
    sn_meta_cols = [c for c in meta.columns if c not in aux_meta_cols and c != nid]
    sn = sn.drop(columns=[c for c in sn_meta_cols if c in sn.columns]).merge(
        meta[[nid, *sn_meta_cols]], on=nid, how="left")
    aux = aux.drop(columns=[c for c in aux_meta_cols if c in aux.columns]).merge(
        meta[[nid, *aux_meta_cols]], on=nid, how="left")
    sn["timestampMillisOfCurrentStatus"] = epoch

    with timer.stage("note status history", len(nsh)) as st:
        ush = _deps.get("cnlab.scoring.status_history", "update_status_history")
        new_nsh = _deps.call(ush, nsh, sn, now=epoch)
        new_nsh = getattr(new_nsh, "status_history", new_nsh)
        st["rows_out"] = len(new_nsh)
    if "timestampMillisOfNmrDueToMinStableCrhTime" in new_nsh.columns:
        sn = sn.drop(columns=["timestampMillisOfNmrDueToMinStableCrhTime"], errors="ignore").merge(
            new_nsh[[nid, "timestampMillisOfNmrDueToMinStableCrhTime"]], on=nid, how="left")
    sn["timestampMinuteOfFinalScoringOutput"] = np.nan

    frames = {
        "scored_notes": sn.reindex(columns=list(schema.SCORED_NOTES_COLUMNS))
        .sort_values(nid).reset_index(drop=True),
        "helpfulness_scores": _helpfulness_output(prescoring, config),
        "note_status_history": new_nsh.reindex(columns=list(schema.NOTE_STATUS_HISTORY_COLUMNS))
        .sort_values(nid).reset_index(drop=True),
        "aux_note_info": aux.reindex(columns=list(schema.AUX_NOTE_INFO_COLUMNS))
        .sort_values(nid).reset_index(drop=True),
    }
    return ScoringResult(
        config=config, preprocessed=pre, note_topics=nt, pss=pss,
        prescoring_ratings=pre_ratings, final_ratings=fin_ratings, prescoring=prescoring,
        final=finals, note_stats=stats, meta=meta, frames=frames,
        timings=timer.to_frame(), participants=participants, epoch_millis=epoch,
    )


def _split_meta(meta: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Accept a (scored_notes, aux) tuple, a result object, or a frame."""
    if isinstance(meta, tuple):
        return meta[0], meta[1] if len(meta) > 1 else None
    if isinstance(meta, pd.DataFrame):
        return meta, None
    sn = getattr(meta, "scored_notes", None)
    aux = getattr(meta, "aux_note_info", getattr(meta, "aux", None))
    return sn, aux


# ``cnlab.pipeline.score`` is both this module and the function: once the submodule is
# imported, Python binds the package attribute ``score`` to the module, so make the module
# callable (delegating to :func:`score`) to keep ``from cnlab.pipeline import score`` usable.
import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> ScoringResult:
        return score(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
