"""Final scoring of one MF scorer (spec 02 §4; official ``MFBaseScorer.score_final``).

Four MF calls with raters and μ frozen at their prescoring values (spec 02 §4.2):
(a) without high-volume raters, (b) without correlated raters, (c) POPULATION_SAMPLED
ratings only (ρ_n = 10), (d) all scoped ratings (main, with (a)–(c) merged in before the
rules).  Each call (02 §4.3)::

    T = filter_ratings(ratings, rater ≥ 0, note ≥ 5) ∩ raters with prescoring params
    F = T ∩ raters with aboveHelpfulnessThreshold        (useReputation scorers)
    θ = MF(F; init = prescoring, raters & μ frozen, ρ_n = N_final / M_final, no flip)
    θ += pseudo-rater bounds (Core)                     # 01 §10
    θ ⋈ low-diligence final fit                         # 06 D.6
    scored = compute_scored_notes(scoped ratings, θ, …, finalRound=True)

then the capture-threshold post-filter (02 §5), ``numFinalRoundRatings`` and the
renames to the official external columns (02 §6).
"""

from __future__ import annotations

import dataclasses

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import mf, schema
from cnlab.scorers import diligence
from cnlab.mf.pseudo_raters import PSEUDO_RATER_COLUMNS
from cnlab._timing import StageTimer
from cnlab.scorers.mf_config import ScorerConfig
from cnlab.scorers.mf_prescoring import prefilter_positions
from cnlab.scorers.outputs import PrescoringMeta, PrescoringOutput
from cnlab.scorers.slicing import filter_input_rows, postprocess_family, postprocess_output
from cnlab._arrays import isin
from cnlab._columns import TakenColumns
from cnlab.scoring.scored_notes import compute_scored_notes

log = logging.getLogger("cnlab")

#: The 11 pseudo-rater columns (spec 01 §10 step 5); NaN for scorers without pseudo-raters.
UNCERTAINTY_COLUMNS: tuple[str, ...] = PSEUDO_RATER_COLUMNS

SUBFITS: tuple[str, ...] = ("NoHighVol", "NoCorrelated", "PopulationSampled")


@dataclass(frozen=True)
class CallResult:
    """One ``_score_notes_and_users`` call (spec 02 §4.3)."""

    name: str
    training_ratings: pd.DataFrame
    mf: Any
    note_params: pd.DataFrame
    scored_notes: pd.DataFrame | None
    helpfulness: pd.DataFrame
    counts: dict[str, int]


@dataclass(frozen=True)
class FinalOutput:
    """Final-scoring result of one scorer.

    ``scored_notes`` / ``helpfulness_scores`` / ``aux_note_info`` have the scorer's
    **external** column names (``coreNoteIntercept`` …) and participant codes;
    ``internal_scored_notes`` keeps the internal names before the capture filter;
    ``calls`` holds the four MF calls (main, NoHighVol, NoCorrelated, PopulationSampled).
    """

    scorer: ScorerConfig
    scored_notes: pd.DataFrame
    helpfulness_scores: pd.DataFrame
    aux_note_info: pd.DataFrame
    internal_scored_notes: pd.DataFrame
    calls: dict[str, CallResult] = field(default_factory=dict)
    slice_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        st = self.scored_notes.get(self.scorer.note_column_map()[schema.RATING_STATUS])
        vc = st.value_counts().to_dict() if st is not None else {}
        lines = [f"{self.scorer.name} final: {len(self.scored_notes)} notes {vc}"]
        for k, c in self.calls.items():
            lines.append(f"  {k}: {c.counts}")
        return "\n".join(lines)


def _rater_ids(frame: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    return frame.loc[mask, schema.RATER_ID].to_numpy()


def _bool(col: pd.Series) -> np.ndarray:
    return col.astype("boolean").fillna(False).to_numpy(dtype=bool)


def score_notes_and_users(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    scorer: ScorerConfig,
    prescoring_notes: pd.DataFrame,
    prescoring_raters: pd.DataFrame,
    meta: PrescoringMeta,
    *,
    name: str = "main",
    rating_per_note_ratio: float | None = None,
    extra_intercepts: dict[str, pd.DataFrame] | None = None,
    pseudoraters: bool = True,
    seed: int | None = None,
    score: bool = True,
    epoch_millis: int = 0,
    rows: np.ndarray | None = None,
) -> CallResult | None:
    """One final-scoring MF call (spec 02 §4.3). Returns ``None`` when F is empty.

    ``rows`` (ascending positions) restricts the call to ``ratings.iloc[rows]`` (the scorer's
    slice, or a sub-fit's subset of it) without copying them. T and F are narrowed as positions
    and F is copied once, with only the columns its fits read (noteId, raterParticipantId,
    helpfulNum; with ``score`` also where the low-diligence tags live): that copy is the call's
    ``training_ratings``, indexed 0..len(F)-1. The rules then read the call's rows a column at a
    time (:class:`cnlab._columns.TakenColumns`). ``ratings`` may itself be such a column view.
    """
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    counts: dict[str, int] = {"ratings_in": len(ratings) if rows is None else len(rows)}
    pos = prefilter_positions(ratings, rows, min_ratings_per_rater=scorer.final_min_ratings_per_rater,
                              min_raters_per_note=scorer.min_raters_per_note)
    counts["after_prefilter"] = len(pos)
    raters = ratings[rid].to_numpy()
    with_params = _rater_ids(prescoring_raters, prescoring_raters[schema.RATER_INTERCEPT].notna().to_numpy())
    pos = pos[isin(raters[pos], with_params)]
    counts["with_prescoring_params"] = len(pos)
    if scorer.use_reputation:
        helpful = _rater_ids(prescoring_raters, _bool(prescoring_raters["aboveHelpfulnessThreshold"]))
        pos = pos[isin(raters[pos], helpful)]
    del raters
    counts["final_round_ratings"] = len(pos)
    if len(pos) == 0:
        counts["final_round_notes"] = counts["final_round_raters"] = 0
        return None
    cols = [nid, rid, schema.HELPFUL_NUM]
    if score:
        cols += [c for c in diligence.rating_columns(ratings) if c not in cols]
    f = TakenColumns(ratings, pos)[cols]  # one narrow copy, indexed 0..n-1
    del pos
    counts["final_round_notes"] = int(f[nid].nunique())
    counts["final_round_raters"] = int(f[rid].nunique())

    mf_cfg = scorer.mf_config()
    rho = rating_per_note_ratio if rating_per_note_ratio is not None else meta.rating_per_note_ratio
    cfg = mf_cfg.replace(flip_factors=False, rating_per_note_loss_ratio=rho)
    # k-factor runs: the prescoring axes 2..k (internalNoteFactor2 …) initialise the fit too
    nf_cols = [schema.note_factor_col(j) for j in range(1, cfg.n_factors + 1)]
    rf_cols = [schema.rater_factor_col(j) for j in range(1, cfg.n_factors + 1)]
    _require_axes(prescoring_notes, prescoring_raters, nf_cols, rf_cols, scorer)
    note_init = prescoring_notes[[nid, schema.NOTE_INTERCEPT, *nf_cols]]
    rater_init = prescoring_raters.loc[prescoring_raters[schema.RATER_INTERCEPT].notna(),
                                       [rid, schema.RATER_INTERCEPT, *rf_cols]]
    res = mf.fit(f, cfg, seed=seed,
                 note_init=note_init, rater_init=rater_init,
                 global_init=meta.global_intercept, freeze=("raters", "global"))
    note_params = res.note_params[[nid, schema.NOTE_INTERCEPT, *nf_cols]]
    rater_params = res.rater_params
    if not score:
        return CallResult(name, f, res, note_params, None, rater_params, counts)

    if pseudoraters:
        bounds = mf.pseudo_rater_bounds(f[[nid, rid, schema.HELPFUL_NUM]], res, cfg,
                                        factor_rule=scorer.factor_rule)
        note_params = note_params.merge(bounds[[nid, *UNCERTAINTY_COLUMNS]], on=nid, how="left")
    else:
        note_params = note_params.assign(**{c: np.nan for c in UNCERTAINTY_COLUMNS})

    # the scorer's solver choice covers its frozen-rater final fits: with the exact solver
    # (fidelity="fast") the low-diligence phases are solved note by note too (spec 06 §D.6)
    dil_cfg = diligence.DiligenceConfig(final_solver="newton" if cfg.solver == "exact" else "adam")
    dil = diligence.fit_final(f, prescoring_notes, prescoring_raters, meta.low_diligence_global_intercept,
                              rating_per_note_ratio=meta.rating_per_note_ratio,
                              rating_per_user_ratio=meta.rating_per_user_ratio, config=dil_cfg)
    note_params = note_params.merge(dil, on=nid, how="inner")
    raters_with_counts = rater_params.merge(
        prescoring_raters[[rid, "incorrectTagRatingsMadeByRater", "totalRatingsMadeByRater"]],
        on=rid, how="inner")

    thresholds = scorer.rules()
    extra = extra_intercepts or {}
    # the call's rows read a column at a time, not copied whole beside the fits' frames
    scoped = ratings if rows is None else TakenColumns(ratings, rows)
    scored = compute_scored_notes(
        scoped, note_params, raters_with_counts, status_history,
        thresholds=thresholds, final_round=True,
        tag_thresholds=dict(meta.tag_filtering_thresholds), epoch_millis=epoch_millis,
        no_high_vol=extra.get("internalNoteInterceptNoHighVol"),
        no_correlated=extra.get("internalNoteInterceptNoCorrelated"),
        population_sampled=extra.get("internalNoteInterceptPopulationSampled"),
        factor_rule=scorer.factor_rule,
    )
    hcols = [c for c in ("crhCrnhRatioDifference", "meanNoteScore", "raterAgreeRatio",
                         "aboveHelpfulnessThreshold", "internalFirstRoundRaterIntercept",
                         "internalFirstRoundRaterFactor1") if c in prescoring_raters.columns]
    helpfulness = rater_params[[rid, schema.RATER_INTERCEPT, *rf_cols]].merge(
        prescoring_raters[[rid, *hcols]], on=rid, how="outer")
    return CallResult(name, f, res, note_params, scored, helpfulness, counts)


def _require_axes(notes: pd.DataFrame, raters: pd.DataFrame, nf_cols: list[str], rf_cols: list[str],
                  scorer: ScorerConfig) -> None:
    """Final scoring of a k-factor scorer needs prescoring outputs with the same k axes."""
    missing = [c for c in nf_cols if c not in notes.columns] + [c for c in rf_cols if c not in raters.columns]
    if missing:
        raise ValueError(f"{scorer.name} fits {len(nf_cols)} factors but its prescoring outputs lack "
                         f"{missing}: prescore with the same n_factors (ScoringConfig.n_factors)")


def _without_ratings(call: CallResult) -> CallResult:
    """``call`` without its rating-level frames: the training ratings and the MF fit's per-rating
    weights (what a lean result drops, :mod:`cnlab.pipeline.keep`)."""
    mf = call.mf
    if dataclasses.is_dataclass(mf) and getattr(mf, "weights", None) is not None:
        mf = dataclasses.replace(mf, weights=None)
    return dataclasses.replace(call, training_ratings=None, mf=mf)


def _intercept_frame(call: CallResult | None, new_name: str) -> pd.DataFrame:
    nid = schema.NOTE_ID
    if call is None:
        return pd.DataFrame({nid: pd.Series(dtype=np.int64), new_name: pd.Series(dtype=np.float64)})
    return call.note_params[[nid, schema.NOTE_INTERCEPT]].rename(
        columns={schema.NOTE_INTERCEPT: new_name})


def num_final_round_ratings(scoped: pd.DataFrame, helpfulness: pd.DataFrame) -> pd.DataFrame:
    """Per note, scoped ratings whose rater appears in ``helpfulness`` (spec 02 §4.4 step 2)."""
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    keep = isin(scoped[rid].to_numpy(), helpfulness[rid].to_numpy())
    notes = scoped[nid].to_numpy()[keep]
    del keep
    ids, n = np.unique(notes, return_counts=True)
    return pd.DataFrame({nid: ids, "numFinalRoundRatings": n})


def empty_final(scorer: ScorerConfig) -> FinalOutput:
    def frame(key: str, dtype, cols: list[str]) -> pd.DataFrame:
        return pd.DataFrame({key: pd.Series(dtype=dtype), **{c: pd.Series(dtype=object) for c in cols}})

    sn = frame(schema.NOTE_ID, np.int64, scorer.scored_note_columns())
    hs = frame(schema.RATER_ID, np.int32, scorer.helpfulness_columns())
    aux = frame(schema.NOTE_ID, np.int64, scorer.aux_columns())
    return FinalOutput(scorer, sn, hs, aux, sn.copy())


def score_final(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
    prescoring: PrescoringOutput,
    *,
    note_topics: pd.DataFrame | None = None,
    seed: int | None = None,
    pseudoraters: bool = True,
    epoch_millis: int | None = None,
    timer: StageTimer | None = None,
    keep_ratings: bool = True,
) -> FinalOutput:
    """Final scoring of one scorer from its prescoring outputs (spec 02 §4).

    Parameters
    ----------
    ratings
        Final-scoring ratings: preprocessed, PSS-coalesced with the dropna'd PSS rows,
        with ``highVolumeRater`` and ``correlatedRater``.
    status_history
        Input note status history (with ``classification``).
    enrollment
        User enrollment.
    scorer
        Scorer configuration.
    prescoring
        Prescoring outputs containing this scorer's rows (codes as participant ids).
    note_topics
        noteTopics table (for the Core topic exclusion).
    pseudoraters
        Run pseudo-raters when the scorer has them (official ``--pseudoraters``).
    keep_ratings
        Keep the sub-fits' (NoHighVol, NoCorrelated, PopulationSampled) training ratings and
        per-rating weights in :attr:`FinalOutput.calls`; False drops them as each sub-fit ends
        (a lean run: they are not held while the main fit runs). The outputs are the same.
    """
    timer = timer or StageTimer(prefix=f"{scorer.name} final: ")
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    if epoch_millis is None:
        epoch_millis = int(ratings[schema.CREATED_AT].max()) if len(ratings) else 0
    pn, pr, meta = prescoring.for_scorer(scorer.name)
    if pr.empty or meta is None:
        log.warning("%s: no prescoring rows/meta; empty final output", scorer.name)
        return empty_final(scorer)
    with timer.stage("filter input", len(ratings)) as st:
        # the scorer's slice as positions: each MF call copies the few columns its fits read
        rows, nsh, rep = filter_input_rows(ratings, status_history, enrollment, scorer, note_topics=note_topics)
        if rows is None:
            rows = np.arange(len(ratings))
        if len(ratings) < 2**31:
            rows = rows.astype(np.int32)  # held through the scorer's calls: 4 bytes a rating
        st["rows_out"] = len(rows)
        st["note"] = (f"after topic filter {rep.after_topic_filter}, after group filter "
                      f"{rep.after_group_filter}; NSH {rep.nsh_in}->{rep.nsh_out}")
    if len(rows) == 0 or len(ratings.columns) == 0:
        return empty_final(scorer)

    use_pr = pseudoraters and scorer.pseudoraters
    calls: dict[str, CallResult] = {}

    def subset_of(key: str) -> np.ndarray | None:
        """The sub-fit's rows of the slice, as positions into ``ratings`` (None: no such fit)."""
        if key == "PopulationSampled":
            if schema.RATING_SOURCE not in ratings.columns:
                return None
            ps = rows[schema.equals_value(ratings[schema.RATING_SOURCE], schema.SOURCE_POPULATION_SAMPLED)[rows]]
            return ps if len(ps) else None
        col = schema.HIGH_VOLUME_RATER if key == "NoHighVol" else schema.CORRELATED_RATER
        return rows[~_bool(ratings[col])[rows]] if col in ratings.columns else rows

    sizes: dict[str, int] = {}
    extra: dict[str, pd.DataFrame] = {}
    for key in SUBFITS:
        subset = subset_of(key)
        if subset is None:
            continue
        sizes[key] = len(subset)
        with timer.stage(f"MF {key}", len(subset)) as st:
            # Official: the sub-fits also run pseudo-raters / diligence / rules, whose results
            # are discarded; only the intercept matters, so cnlab stops after the MF.
            c = score_notes_and_users(
                ratings, nsh, scorer, pn, pr, meta, name=key, rows=subset,
                rating_per_note_ratio=scorer.population_sampled_loss_ratio
                if key == "PopulationSampled" else None,
                pseudoraters=False, seed=seed, score=False)
            st["rows_out"] = 0 if c is None else len(c.note_params)
            st["note"] = "" if c is None else str(c.counts)
        del subset
        if c is not None:
            calls[key] = c if keep_ratings else _without_ratings(c)
        extra[f"internalNoteIntercept{key}"] = _intercept_frame(c, f"internalNoteIntercept{key}")
    with timer.stage("MF main + pseudo-raters + diligence + rules", len(rows)) as st:
        main = score_notes_and_users(ratings, nsh, scorer, pn, pr, meta, name="main", rows=rows,
                                     extra_intercepts=extra, pseudoraters=use_pr, seed=seed,
                                     epoch_millis=epoch_millis)
        if main is None:
            return empty_final(scorer)
        calls["main"] = main
        st["rows_out"] = len(main.scored_notes)
        st["note"] = str(main.counts)
    sn = main.scored_notes
    if "internalNoteInterceptPopulationSampled" not in sn.columns:
        sn = sn.assign(internalNoteInterceptPopulationSampled=np.nan)

    with timer.stage("postprocess (capture threshold, group / topic columns)", len(sn)) as st:
        post = postprocess_output(sn, ratings, enrollment, scorer)
        # group: in-group helpfulness rows + modelingGroup_<i>; topic: noteTopic_<t> + confidence
        post, helpfulness = postprocess_family(post, main.helpfulness, ratings, enrollment, scorer)
        st["rows_out"] = len(post)
    nfr = num_final_round_ratings(TakenColumns(ratings, rows), helpfulness)
    post = post.merge(nfr, on=nid, how="left")

    mapping = scorer.note_column_map()
    ext = post.rename(columns=mapping)
    sn_cols = [nid, *scorer.scored_note_columns()]
    scored_notes = ext.reindex(columns=sn_cols)
    aux = ext.reindex(columns=[nid, *scorer.aux_columns()]) if scorer.has_aux else \
        pd.DataFrame(columns=[nid])
    hs = helpfulness.rename(columns=scorer.rater_column_map())
    hs = hs.reindex(columns=[rid, *scorer.helpfulness_columns()])
    return FinalOutput(scorer, scored_notes.reset_index(drop=True), hs.reset_index(drop=True),
                       aux.reset_index(drop=True), sn, calls,
                       {"ratings_in": len(ratings), "scoped": len(rows),
                        **sizes})
