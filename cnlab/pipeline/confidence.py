"""The supervised confidence models in a scoring run: pflip and PCRH (spec 06 §A, §B).

Call sites (spec 04)::

    prescoring  §8 step 5     fit pflip and PCRH on the PSS-coalesced prescoring ratings
    final       §10.1 step 2  pflip targets (in stabilization, or CRH within 24 h) + every note on
                              their posts; PSS-coalesced with the dropna'd PSS rows; predict
                step 6        PCRH predictions on the pre-PSS final ratings → timestamps
                step 10       pflipProba / abovePcrhThresholdTime / pcrh aux columns merged
                step 11b      LABEL → meta-scoring (NmrDueToMinStableCrhTime)
                step 11d, 13  PCRH suppression (ineligible notes; positives older than 12 h); the
                              new NSH copies abovePcrhThresholdTime from the scored notes

``ScoringConfig.pflip`` / ``ScoringConfig.pcrh`` select what happens: ``"fit"`` (default: train in
prescoring with the official settings), a :class:`cnlab.models.pflip.PFlipConfig` /
:class:`cnlab.models.pcrh.PCRHConfig` (train with those), a fitted :class:`~cnlab.models.pflip.PFlipModel` /
:class:`~cnlab.models.pcrh.PCRHModel` (use as is), or ``"none"`` (skip: no pflip label — every note in
stabilization counts as "will flip" — and no PCRH columns; the behaviour before these models
existed).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S

log = logging.getLogger("cnlab")

__all__ = ["ConfidenceModels", "fit_confidence_models", "pflip_targets", "predict_pflip",
           "predict_pcrh", "apply_predictions", "finalize_pcrh"]

DAY_MILLIS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class ConfidenceModels:
    """Fitted models of one run and their predictions (None where a model is off).

    Attributes
    ----------
    pflip, pcrh
        :class:`cnlab.models.pflip.PFlipModel` / :class:`cnlab.models.pcrh.PCRHModel` (possibly unfitted when there
        was no training data: then no predictions).
    pflip_predictions
        noteId, LABEL, pflipProba of the final-scoring targets and their peers (spec 06 §A.10).
    pflip_targets
        Counts of the target selection (spec 04 §10.1 step 2).
    pcrh_predictions
        PCRH predictions with ``abovePcrhThresholdTime`` as a timestamp (spec 06 §B.6).
    pcrh_previous
        (notes positive before this run, noteId → previous time) from the input NSH.
    """

    pflip: Any = None
    pcrh: Any = None
    pflip_predictions: pd.DataFrame | None = None
    pflip_targets: Mapping[str, int] = field(default_factory=dict)
    pcrh_predictions: pd.DataFrame | None = None
    pcrh_previous: tuple[set, dict] = (set(), {})

    def summary(self) -> str:
        lines = []
        if self.pflip is not None:
            lines.append(self.pflip.summary())
            if self.pflip_predictions is not None:
                vc = self.pflip_predictions["LABEL"].value_counts().to_dict()
                lines.append(f"  predictions: {len(self.pflip_predictions)} notes {vc}; targets "
                             f"{dict(self.pflip_targets)}")
        if self.pcrh is not None:
            lines.append(self.pcrh.summary())
            if self.pcrh_predictions is not None:
                p = self.pcrh_predictions
                lines.append(f"  predictions: {len(p)} notes, {int((p['abovePcrhThresholdTime'] > 0).sum())}"
                             " positive")
        return "\n".join(lines) if lines else "confidence models: none"


def _resolve(spec: Any, model_cls: type, config_cls: type) -> Any:
    """None (off), an unfitted model to fit, or a fitted model to use."""
    if spec is None or (isinstance(spec, str) and spec == "none"):
        return None
    if isinstance(spec, str) and spec == "fit":
        return model_cls()
    if isinstance(spec, config_cls):
        return model_cls(config=spec)
    if isinstance(spec, model_cls):
        return spec
    raise ValueError(f"{model_cls.__name__}: expected 'fit', 'none', a {config_cls.__name__} or a "
                     f"{model_cls.__name__}, got {spec!r}")


def fit_confidence_models(
    config: Any,
    notes: pd.DataFrame,
    coalesced_ratings: pd.DataFrame | None,
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    prescoring: Any,
    note_topics: pd.DataFrame | None,
    *,
    seed: int | None,
    timer: Any = None,
    keep_training: bool = True,
    threads: int = 1,
    on_fitted: Any = None,
    reread_coalesced: Any = None,
) -> ConfidenceModels | None:
    """Train pflip and PCRH as the end of prescoring (spec 04 §8 step 5).

    ``coalesced_ratings`` are the PSS-coalesced prescoring ratings (None when prescoring was given:
    then ``ratings`` are coalesced here with the raw PSS frame of ``prescoring``). Returns None when
    both models are off. ``keep_training=False`` (a lean run) fits the models without keeping their
    training frames, which are then freed inside each fit, not after both. With ``threads`` > 1
    the two fits run side by side (:func:`cnlab.pipeline.parallel.in_threads`; the same models).
    ``on_fitted(name, model)``, if given, is called as each model ("pflip", "pcrh") is fitted (a
    run's checkpoint stores it there). ``reread_coalesced()``, if given, reads ``coalesced_ratings``
    again (a run's checkpoint holds them): the fits then run one after the other and the ratings
    are let go once pflip's training frame is built, read again for PCRH (206M ratings: ~6 GiB
    not held while pflip fits its features and classifier). The caller passes the only reference:
    when the fits run one after the other, PCRH lets the ratings go once its training rows are
    built (its boosting runs without them).
    """
    from cnlab.models.pcrh import PCRHConfig, PCRHModel
    from cnlab.models.pflip import PFlipConfig, PFlipModel

    pf = _resolve(getattr(config, "pflip", "none"), PFlipModel, PFlipConfig)
    pc = _resolve(getattr(config, "pcrh", "none"), PCRHModel, PCRHConfig)
    if pf is None and pc is None:
        return None
    need_fit = (pf is not None and not pf.fitted) or (pc is not None and not pc.fitted)
    if need_fit and coalesced_ratings is None:
        coalesced_ratings = ratings
        if getattr(config, "use_pss", True) and prescoring.pss is not None:
            from cnlab.models.similarity import apply_post_selection_similarity

            coalesced_ratings, _ = apply_post_selection_similarity(notes, ratings, prescoring.pss, keep_values=False)
    pro = prescoring.rater_model_output
    n_coalesced = len(coalesced_ratings) if coalesced_ratings is not None else 0
    release = reread_coalesced is not None and pf is not None and not pf.fitted

    def let_go():
        nonlocal coalesced_ratings
        coalesced_ratings = None
        gc.collect()

    def fit_pflip(model):
        with _stage(timer, "pflip fit (spec 06 §A)", n_coalesced) as st:
            model = model.fit(notes, coalesced_ratings, status_history, pro, seed=seed, keep_frame=keep_training,
                              ratings_read=let_go if release else None)
            st["rows_out"] = int(model.metrics.get("rows", 0))
            st["note"] = (f"threshold {model.threshold:.6g}, {model.metrics['features']} features"
                          if model.fitted else "not fitted (no training data)")
        if on_fitted is not None:
            on_fitted("pflip", model)
        return model

    def fit_pcrh(model):
        nonlocal coalesced_ratings
        if coalesced_ratings is None:
            with _stage(timer, "prescoring ratings read again for PCRH", n_coalesced) as st:
                coalesced_ratings = reread_coalesced()
                st["rows_out"] = len(coalesced_ratings)
        with _stage(timer, "PCRH fit (spec 06 §B)", n_coalesced) as st:
            # one fit at a time: the ratings go once PCRH has read them (its boosting runs without)
            model = model.fit(notes, coalesced_ratings, status_history, pro, enrollment=enrollment,
                              note_topics=note_topics, seed=seed, keep_training=keep_training,
                              ratings_read=let_go if not side_by_side else None,
                              threads=boosting_threads)
            st["rows_out"] = int(model.report.get("rows", 0))
            st["note"] = (f"{model.report['features']} features" if model.fitted
                          else "not fitted (no training data)")
        if on_fitted is not None:
            on_fitted("pcrh", model)
        return model

    fits = [(fit, model) for fit, model in ((fit_pflip, pf), (fit_pcrh, pc))
            if model is not None and not model.fitted]
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    from cnlab.pipeline.parallel import in_threads

    # Each fit limits BLAS to one thread while it runs. That limit is process-wide: set around both
    # when they run side by side, one fit ending cannot lift it under the other.
    # The PCRH boosting gets the machine's cores when the run does one task at a time (nothing
    # runs beside it then); the trees are the same for any count (PCRHModel.fit).
    from cnlab._timing import usable_cores

    boosting_threads = usable_cores() if threads == 1 else 1
    if release:
        threads = 1  # PCRH reads the ratings pflip let go: one after the other
    side_by_side = threads > 1 and len(fits) > 1  # read by fit_pcrh when it runs
    with threadpool_limits(1, user_api="blas") if side_by_side else nullcontext():
        fitted = {fit: model for (fit, _), model in in_threads(lambda job: job[0](job[1]), fits, threads)}
    return ConfidenceModels(pflip=fitted.get(fit_pflip, pf), pcrh=fitted.get(fit_pcrh, pc))


class _NullStage:
    def __enter__(self):
        return {}

    def __exit__(self, *exc):
        return False


def _stage(timer: Any, name: str, rows: int):
    return timer.stage(name, rows) if timer is not None else _NullStage()


def pflip_targets(status_history: pd.DataFrame, epoch_millis: int, *, window_millis: int = DAY_MILLIS
                  ) -> tuple[np.ndarray, dict[str, int]]:
    """Notes pflip scores in final scoring (spec 04 §10.1 step 2): in stabilization
    (``timestampMillisOfNmrDueToMinStableCrhTime > 0``) or currently CRH with a first or latest
    non-NMR status within 24 h of now."""
    nsh = status_history

    def num(c: str) -> np.ndarray:
        return pd.to_numeric(nsh[c], errors="coerce").to_numpy(dtype=np.float64)

    with np.errstate(invalid="ignore"):
        stab = num("timestampMillisOfNmrDueToMinStableCrhTime") > 0
        crh = (nsh["currentStatus"].astype(object) == S.CRH).to_numpy()
        cut = epoch_millis - window_millis
        recent = crh & ((num("timestampMillisOfFirstNonNMRStatus") >= cut)
                        | (num("timestampMillisOfLatestNonNMRStatus") >= cut))
    ids = nsh.loc[stab | recent, S.NOTE_ID].to_numpy()
    return ids, {"total": int((stab | recent).sum()), "in_stabilization": int(stab.sum()),
                 "currently_crh": int(crh.sum()), "recently_crh_within_24h": int(recent.sum()),
                 "overlap": int((stab & recent).sum())}


def predict_pflip(models: ConfidenceModels | None, notes: pd.DataFrame, ratings: pd.DataFrame,
                  status_history: pd.DataFrame, prescoring: Any, final_pss: pd.DataFrame | None, *,
                  epoch_millis: int, timer: Any = None) -> ConfidenceModels | None:
    """pflip predictions for the targets and every note on their posts (spec 04 §10.1 step 2):
    ratings restricted to those notes and PSS-coalesced with the dropna'd PSS rows."""
    if models is None or models.pflip is None:
        return models
    import dataclasses

    nid = S.NOTE_ID
    ids, counts = pflip_targets(status_history, epoch_millis)
    tweets = notes.loc[notes[nid].isin(ids), S.TWEET_ID]
    peers = notes.loc[notes[S.TWEET_ID].isin(tweets), nid]
    n = notes[notes[nid].isin(peers)]
    r = ratings[ratings[nid].isin(peers)]
    h = status_history[status_history[nid].isin(peers)]
    with _stage(timer, "pflip predict (spec 04 §10.1 step 2)", len(r)) as st:
        if final_pss is not None and len(r):
            from cnlab.models.similarity import apply_post_selection_similarity

            r, _ = apply_post_selection_similarity(n, r, final_pss, keep_values=False)
        pred = models.pflip.predict(n, r, h, prescoring.rater_model_output)
        st["rows_out"] = len(pred)
        st["note"] = f"{counts['total']} targets, {len(n)} notes on their posts"
    return dataclasses.replace(models, pflip_predictions=pred, pflip_targets=counts)


def predict_pcrh(models: ConfidenceModels | None, notes: pd.DataFrame, ratings: pd.DataFrame,
                 status_history: pd.DataFrame, prescoring: Any, enrollment: pd.DataFrame,
                 note_topics: pd.DataFrame | None, *, epoch_millis: int,
                 previous_scored_notes: pd.DataFrame | None = None, timer: Any = None
                 ) -> ConfidenceModels | None:
    """PCRH predictions on the pre-PSS final ratings, as timestamps (spec 04 §10.1 step 6;
    06 §B.5–B.6). The previous state comes from the previous scored notes (if any) and the NSH."""
    if models is None or models.pcrh is None:
        return models
    import dataclasses

    from cnlab.models import pcrh

    prev_pos, prev_times = pcrh.previous_state(previous_scored_notes, status_history)
    with _stage(timer, "PCRH predict (spec 04 §10.1 step 6)", len(ratings)) as st:
        p = models.pcrh.predict(notes, ratings, status_history, prescoring.rater_model_output,
                                enrollment=enrollment, note_topics=note_topics,
                                previous_positive=prev_pos)
        p = pcrh.to_timestamps(p, prev_times, float(epoch_millis), stale_millis=models.pcrh.config.stale_millis)
        st["rows_out"] = len(p)
        st["note"] = f"{int((p[pcrh.ABOVE] > 0).sum())} positive"
    return dataclasses.replace(models, pcrh_predictions=p, pcrh_previous=(prev_pos, prev_times))


def apply_predictions(models: ConfidenceModels | None, scored_notes: pd.DataFrame, aux: pd.DataFrame
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Spec 04 §10.1 step 10: ``pflipProba`` (NaN without a prediction) and, with PCRH,
    ``abovePcrhThresholdTime`` + the pcrh aux columns. Returns ``(scored_notes, aux, pflip_labels)``
    (labels for meta-scoring; None when pflip is off)."""
    nid = S.NOTE_ID
    sn = scored_notes.drop(columns=["pflipProba"], errors="ignore")
    labels = None
    if models is not None and models.pflip is not None:
        pred = models.pflip_predictions
        if pred is None or pred.empty:
            sn["pflipProba"] = np.nan
        else:
            sn = sn.merge(pred[[nid, "pflipProba"]].drop_duplicates(nid), on=nid, how="left")
        labels = pred[[nid, "LABEL"]].drop_duplicates(nid) if pred is not None else \
            pd.DataFrame({nid: pd.Series(dtype=np.int64), "LABEL": pd.Series(dtype=object)})
    else:
        sn["pflipProba"] = np.nan
    if models is not None and models.pcrh is not None:
        from cnlab.models import pcrh

        p = models.pcrh_predictions
        if p is None:
            p = pd.DataFrame({nid: pd.Series(dtype=np.int64), pcrh.ABOVE: pd.Series(dtype=np.float64)})
        sn, aux = pcrh.merge_predictions(p, sn, aux)
    return sn, aux, labels


def finalize_pcrh(models: ConfidenceModels | None, scored_notes: pd.DataFrame, *, epoch_millis: int
                  ) -> pd.DataFrame:
    """Spec 04 §10.1 steps 11d and 13: suppress PCRH positives of ineligible notes, then (with the
    previous state and now) positives older than 12 h. No-op when PCRH is off."""
    if models is None or models.pcrh is None:
        return scored_notes
    from cnlab.models import pcrh

    cfg = models.pcrh.config
    sn = pcrh.suppress_ineligible(scored_notes, core_rule=cfg.core_rule, stale_millis=cfg.stale_millis)
    prev_pos, prev_times = models.pcrh_previous
    return pcrh.suppress_ineligible(sn, previous_positive=prev_pos, previous_times=prev_times,
                                    now=float(epoch_millis), core_rule=cfg.core_rule,
                                    stale_millis=cfg.stale_millis)
