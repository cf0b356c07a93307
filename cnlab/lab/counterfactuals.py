"""Counterfactual rescoring: score the same download without some raters, notes or ratings, or as
of an earlier time, and compare with the baseline run note by note.

:func:`counterfactual` removes rows from a :class:`cnlab.io.Dataset` (every removed row counted),
scores the reduced dataset, and returns a :class:`Counterfactual` holding the baseline result,
the counterfactual result, the removal report and the :class:`~cnlab.lab.status_diff.StatusDiff`
between them. Raters are selected by id, by an enrollment column (``{"modelingGroup": 13}``) or
by activity (``{"top_k_active": 20}``); :func:`select_raters` resolves a selection on its own.

No TensorFlow is imported here (scoring imports it when it runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._arrays import isin, unique
from cnlab.lab.status_diff import StatusDiff, diff

__all__ = ["Counterfactual", "counterfactual", "reduce_dataset", "select_raters", "REUSE_MODES", "REUSED_STAGES"]

#: Values of ``counterfactual(reuse=...)``.
REUSE_MODES = ("prescoring", "none")
#: The baseline stages ``reuse="prescoring"`` passes to the counterfactual run (names of
#: ``ScoringResult.reused``).
REUSED_STAGES = ("topics", "pss", "prescoring", "confidence_models")
#: Removal steps in the order they are applied (each counts the rows it removes of those left).
STEPS = ("before_millis", "drop_notes", "drop_raters", "drop_ratings")
_REPORT_COLUMNS = ["step", "table", "rows_before", "removed", "rows_after", "note"]

RaterSelection = (Sequence[Any] | np.ndarray | pd.Index | pd.Series | Mapping[str, Any]
                  | Callable[[Any], Any] | None)


def _codes(dataset: Any, ids: Any, *, what: str) -> tuple[np.ndarray, int]:
    """Participant codes of ``ids`` (strings: original ids; integers: codes) and how many are
    unknown (dropped from the result)."""
    values = pd.Series(list(ids) if not isinstance(ids, (pd.Series, pd.Index, np.ndarray)) else ids)
    if values.empty:
        return np.zeros(0, dtype=np.int32), 0
    if pd.api.types.is_numeric_dtype(values.dtype):
        codes = values.to_numpy(dtype=np.int64)
        known = (codes >= 0) & (codes < len(dataset.participants))
    elif values.map(lambda v: isinstance(v, str)).all():
        codes = np.asarray(dataset.codes_for(values.astype(str)), dtype=np.int64)
        known = codes >= 0
    else:
        raise TypeError(f"{what}: give participant ids as strings (original ids) or integers "
                        "(the dataset's participant codes), not a mix")
    return unique(codes[known]).astype(np.int32), int((~known).sum())


def select_raters(dataset: Any, selection: RaterSelection) -> tuple[np.ndarray, str]:
    """Resolve a rater selection to participant codes.

    Parameters
    ----------
    dataset
        The :class:`cnlab.io.Dataset` the codes refer to.
    selection
        * a sequence of ids: strings are original participant ids, integers the dataset's
          participant codes (``int32`` codes of ``raterParticipantId``);
        * ``{"top_k_active": k}``: the ``k`` raters with the most ratings in ``dataset.ratings``
          (ties: smaller code first);
        * a mapping of ``userEnrollment`` columns to a value or a list of values, all of which
          must hold (``{"modelingGroup": 13}``, ``{"modelingGroup": [13, 14],
          "enrollmentState": "earnedIn"}``);
        * a callable ``f(dataset)`` returning ids as above.

    Returns
    -------
    (codes, description)
        Sorted unique ``int32`` codes, and one line saying what was selected.

    Examples
    --------
    >>> import cnlab
    >>> ds = cnlab.load_sample()
    >>> codes, what = select_raters(ds, {"top_k_active": 3})
    >>> len(codes), what
    (3, 'the 3 most active raters')
    >>> codes, what = select_raters(ds, {"modelingGroup": 13})
    >>> len(codes), what
    (232, 'enrollment modelingGroup in [13]: 232 participants')
    """
    if selection is None:
        return np.zeros(0, dtype=np.int32), "none"
    if callable(selection) and not isinstance(selection, Mapping):
        selection = selection(dataset)
    if isinstance(selection, Mapping):
        sel = dict(selection)
        if "top_k_active" in sel:
            if len(sel) != 1:
                raise ValueError("drop_raters: 'top_k_active' cannot be combined with other keys")
            k = int(sel["top_k_active"])
            if k < 0:
                raise ValueError("drop_raters: top_k_active must be >= 0")
            counts = dataset.ratings[S.RATER_ID].value_counts()
            order = pd.DataFrame({"code": counts.index.to_numpy(dtype=np.int64), "n": counts.to_numpy()})
            order = order.sort_values(["n", "code"], ascending=[False, True], kind="mergesort")
            codes = np.sort(order["code"].to_numpy()[:k]).astype(np.int32)
            return codes, f"the {len(codes)} most active raters"
        enr = dataset.enrollment
        mask = np.ones(len(enr), dtype=bool)
        parts = []
        for col, want in sel.items():
            if col not in enr.columns:
                raise KeyError(f"drop_raters: {col!r} is not a userEnrollment column "
                               f"({', '.join(map(str, enr.columns))}) nor 'top_k_active'")
            values = list(want) if isinstance(want, (list, tuple, set, frozenset, np.ndarray, pd.Series)) \
                else [want]
            mask &= enr[col].isin(values).to_numpy(dtype=bool)
            parts.append(f"{col} in {values}")
        codes = unique(enr.loc[mask, S.PARTICIPANT_ID].to_numpy(dtype=np.int64))
        codes = codes[codes >= 0].astype(np.int32)
        return codes, f"enrollment {' and '.join(parts)}: {len(codes)} participants"
    if isinstance(selection, (str, bytes)):
        selection = [selection]
    codes, unknown = _codes(dataset, selection, what="drop_raters")
    tail = f" ({unknown} unknown ids ignored)" if unknown else ""
    return codes, f"{len(codes)} participants by id{tail}"


def _is_none(spec: Any) -> bool:
    return isinstance(spec, str) and spec == "none"


def _same_config(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # a field holding a DataFrame (topics=frame) has no plain ==
        return all(getattr(a, f.name) is getattr(b, f.name) or _same_config(getattr(a, f.name), getattr(b, f.name))
                   for f in dataclasses.fields(a)) if dataclasses.is_dataclass(a) and type(a) is type(b) else False


def _note_ids(ids: Any) -> np.ndarray:
    if ids is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(ids, (int, np.integer)):
        ids = [ids]
    return np.unique(pd.to_numeric(pd.Series(list(ids) if not isinstance(ids, (pd.Series, np.ndarray))
                                             else ids), errors="raise").to_numpy(dtype=np.int64))


def _ratings_mask(dataset: Any, ratings: pd.DataFrame, spec: Any) -> np.ndarray:
    """Rows of ``ratings`` selected by ``drop_ratings`` (a mask on ``dataset.ratings`` or pairs)."""
    if isinstance(spec, pd.DataFrame):
        missing = {S.NOTE_ID, S.RATER_ID} - set(spec.columns)
        if missing:
            raise KeyError(f"drop_ratings: the frame needs columns noteId and raterParticipantId "
                           f"(missing {sorted(missing)})")
        raters = spec[S.RATER_ID]
        if pd.api.types.is_numeric_dtype(raters.dtype):
            codes = raters.to_numpy(dtype=np.int64)
        else:
            codes = np.asarray(dataset.codes_for(raters.astype(str)), dtype=np.int64)
        pairs = pd.MultiIndex.from_arrays([spec[S.NOTE_ID].to_numpy(dtype=np.int64), codes])
        have = pd.MultiIndex.from_arrays([ratings[S.NOTE_ID].to_numpy(dtype=np.int64),
                                          ratings[S.RATER_ID].to_numpy(dtype=np.int64)])
        return have.isin(pairs)
    # a boolean mask over dataset.ratings (by index when a Series, else by position)
    if isinstance(spec, pd.Series):
        full = spec.reindex(dataset.ratings.index)
        if full.isna().any():
            raise ValueError("drop_ratings: the mask does not cover every row of dataset.ratings")
        full = full.to_numpy(dtype=bool)
    else:
        full = np.asarray(spec, dtype=bool)
        if full.shape != (len(dataset.ratings),):
            raise ValueError(f"drop_ratings: mask of shape {full.shape}, dataset.ratings has "
                             f"{len(dataset.ratings)} rows")
    keep_index = pd.Series(full, index=dataset.ratings.index)
    return keep_index.reindex(ratings.index).to_numpy(dtype=bool)


def reduce_dataset(
    dataset: Any,
    *,
    drop_raters: RaterSelection = None,
    drop_notes: Any = None,
    drop_ratings: Any = None,
    before_millis: int | None = None,
) -> tuple[Any, pd.DataFrame]:
    """The dataset without the selected rows, and one report row per (step, table).

    Steps run in the order of :data:`STEPS`; each counts the rows it removes among those the
    previous steps left, so the ``removed`` column adds up to the total. ``userEnrollment`` and
    the participant index are never changed (participant codes stay valid).

    * ``before_millis``: notes, ratings and status-history rows created after it (strictly);
      and in the status history, a ``lockedStatus`` set after it (``timestampMillisOfStatusLock >
      before_millis``) is cleared, since the lock did not exist yet (``status_history_locks`` row).
    * ``drop_notes``: the notes, their ratings and their status-history rows.
    * ``drop_raters``: the ratings by the selected raters (:func:`select_raters`); the notes they
      wrote stay.
    * ``drop_ratings``: a boolean mask over ``dataset.ratings`` (Series: by index) or a frame of
      (noteId, raterParticipantId) pairs (ids as strings or codes): every rating of each pair.
    """
    notes, ratings, nsh = dataset.notes, dataset.ratings, dataset.status_history
    rows: list[dict[str, Any]] = []

    def cut(step: str, table: str, frame: pd.DataFrame, drop: np.ndarray, note: str = "") -> pd.DataFrame:
        rows.append({"step": step, "table": table, "rows_before": len(frame), "removed": int(drop.sum()),
                     "rows_after": int(len(frame) - drop.sum()), "note": note})
        return frame.loc[~drop]

    if before_millis is not None:
        t = int(before_millis)
        note = f"createdAtMillis > {t}"
        notes = cut("before_millis", "notes", notes, notes[S.CREATED_AT].to_numpy() > t, note)
        ratings = cut("before_millis", "ratings", ratings, ratings[S.CREATED_AT].to_numpy() > t, note)
        nsh = cut("before_millis", "status_history", nsh, nsh[S.CREATED_AT].to_numpy() > t, note)
        if "lockedStatus" in nsh.columns and "timestampMillisOfStatusLock" in nsh.columns:
            lock_ts = pd.to_numeric(nsh["timestampMillisOfStatusLock"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan)
            late = nsh["lockedStatus"].notna().to_numpy() & (lock_ts > t)
            if late.any():
                nsh = nsh.copy()
                nsh.loc[late, "lockedStatus"] = np.nan
                nsh.loc[late, "timestampMillisOfStatusLock"] = np.nan
            rows.append({"step": "before_millis", "table": "status_history_locks", "rows_before": len(nsh),
                         "removed": int(late.sum()), "rows_after": len(nsh),
                         "note": f"lockedStatus cleared (locked after {t}); rows kept"})
    if drop_notes is not None:
        ids = _note_ids(drop_notes)
        known = isin(ids, unique(np.concatenate([dataset.notes[S.NOTE_ID].to_numpy(), dataset.ratings[S.NOTE_ID].to_numpy()])))
        note = f"{len(ids)} note ids" + (f" ({int((~known).sum())} not in the dataset)" if (~known).any() else "")
        notes = cut("drop_notes", "notes", notes, isin(notes[S.NOTE_ID].to_numpy(), ids), note)
        ratings = cut("drop_notes", "ratings", ratings, isin(ratings[S.NOTE_ID].to_numpy(), ids), note)
        nsh = cut("drop_notes", "status_history", nsh, isin(nsh[S.NOTE_ID].to_numpy(), ids), note)
    if drop_raters is not None:
        codes, what = select_raters(dataset, drop_raters)
        sel = isin(ratings[S.RATER_ID].to_numpy(), codes)
        n_raters = int(pd.unique(ratings[S.RATER_ID].to_numpy()[sel]).size)
        ratings = cut("drop_raters", "ratings", ratings, sel, f"{what}; ratings by {n_raters} of them")
    if drop_ratings is not None:
        sel = _ratings_mask(dataset, ratings, drop_ratings)
        ratings = cut("drop_ratings", "ratings", ratings, sel,
                      "mask" if not isinstance(drop_ratings, pd.DataFrame) else f"{len(drop_ratings)} pairs")
    out = dataclasses.replace(dataset, notes=notes.reset_index(drop=True), ratings=ratings.reset_index(drop=True),
                              status_history=nsh.reset_index(drop=True))
    return out, pd.DataFrame(rows, columns=_REPORT_COLUMNS)


@dataclass(frozen=True)
class Counterfactual:
    """A baseline run, the run on the reduced data, and how they differ (:func:`counterfactual`).

    Attributes
    ----------
    baseline
        The :class:`cnlab.pipeline.ScoringResult` on the full dataset.
    result
        The ScoringResult on :attr:`dataset`; its ``recomputed`` / ``reused`` list the stages
        run again and those taken from the baseline.
    diff
        :func:`cnlab.lab.diff` of ``baseline`` → ``result`` (labels ``"baseline"``,
        ``"counterfactual"``).
    removed
        One row per (step, table): ``step`` (``before_millis``, ``drop_notes``, ``drop_raters``,
        ``drop_ratings``), ``table`` (``notes``, ``ratings``, ``status_history``, and
        ``status_history_locks`` for cleared locks), ``rows_before``, ``removed``,
        ``rows_after``, ``note``.
    dataset
        The reduced dataset that was scored.
    reuse
        ``"prescoring"`` or ``"none"``.
    epoch_millis
        "Now" of the counterfactual run (``before_millis``, else the baseline's).
    """

    baseline: Any
    result: Any
    diff: StatusDiff
    removed: pd.DataFrame
    dataset: Any
    reuse: str
    epoch_millis: int | None

    @property
    def n_removed(self) -> dict[str, int]:
        """Rows removed per table (all steps together; cleared locks not counted as rows)."""
        r = self.removed[self.removed["table"] != "status_history_locks"]
        return {t: int(n) for t, n in r.groupby("table", sort=True)["removed"].sum().items()}

    def summary(self) -> str:
        """What was removed, which stages ran again, and :meth:`StatusDiff.summary`."""
        lines = [f"Counterfactual (reuse={self.reuse!r}, epoch_millis={self.epoch_millis})", "removed:"]
        for r in self.removed.itertuples(index=False):
            lines.append(f"  {r.step:<13} {r.table:<21} {r.removed:>8,} of {r.rows_before:>8,}"
                         + (f"  ({r.note})" if r.note else ""))
        if self.removed.empty:
            lines.append("  nothing")
        lines.append(f"recomputed: {', '.join(self.result.recomputed or ()) or '-'}; "
                     f"reused from the baseline: {', '.join(self.result.reused) or '-'}")
        lines.append(self.diff.summary())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Counterfactual(reuse={self.reuse!r}, removed={self.n_removed}, "
                f"{self.diff.n_changed} notes change finalRatingStatus)")


def counterfactual(
    dataset: Any = None,
    *,
    drop_raters: RaterSelection = None,
    drop_notes: Any = None,
    drop_ratings: Any = None,
    before_millis: int | None = None,
    config: Any = None,
    baseline: Any = None,
    reuse: str | None = None,
    seed: int | None = None,
) -> Counterfactual:
    """Score ``dataset`` without some raters, notes or ratings (or as of an earlier time) and
    compare with the baseline run.

    Parameters
    ----------
    dataset
        The full :class:`cnlab.io.Dataset`; default ``baseline.dataset``.
    drop_raters
        Raters whose ratings are removed: ids (strings: original ids; integers: participant
        codes), ``{"modelingGroup": 13}`` or any other ``userEnrollment`` column,
        ``{"top_k_active": k}``, or a callable of the dataset (:func:`select_raters`).
    drop_notes
        Note ids: the notes, their ratings and their status-history rows are removed.
    drop_ratings
        A boolean mask over ``dataset.ratings`` (a Series is aligned by index), or a frame of
        (noteId, raterParticipantId) pairs.
    before_millis
        Score as of this time: notes, ratings and status-history rows created after it are
        removed, locks set after it are cleared, and "now" (``epoch_millis``) is ``before_millis``.
        The rest of the status history (``currentStatus``, stabilization timestamps …) and
        ``userEnrollment`` still describe the download's time: they cannot be rewound.
    config
        The :class:`cnlab.pipeline.ScoringConfig` of both runs; default ``baseline.config``, else
        ``ScoringConfig()``. A baseline scored with another configuration (or seed) is an error:
        configuration changes are :meth:`ScoringResult.rescore`'s job.
    baseline
        The run on the full dataset (scored with ``config`` when not given).
    reuse
        Which baseline stages the counterfactual run keeps:

        * ``"prescoring"`` (default without ``before_millis``): what the official pipeline does
          when the data changes between its two phases — it runs final scoring on fresh ratings
          against prescoring outputs computed earlier. Taken from the baseline: the topic
          assignment, the rater-clustering (PSS) frame, the prescoring outputs of every scorer
          (rater intercepts and factors, μ, the helpfulness filter, tag-filter thresholds,
          low-diligence and harassment parameters; ``score(..., prescoring=baseline.prescoring)``)
          and the fitted pflip / PCRH models (a model the baseline could not fit is fitted
          again). Recomputed on the reduced data: preprocessing, the final-scoring PSS
          coalescing, the pflip / PCRH predictions, final scoring (every note's parameters refit
          with raters and μ frozen, pseudo-raters, the diligence final fit, the scorer rules),
          note stats, meta-scoring, the new status history and contributor scoring. The removed
          raters keep their prescoring parameters (they still appear in ``helpfulness_scores``)
          but their ratings no longer enter any note fit.
        * ``"none"`` (default with ``before_millis``): every stage is recomputed on the reduced
          data, as a fresh :func:`cnlab.pipeline.score` would.

        ``reuse="prescoring"`` with ``before_millis`` is refused: the baseline's prescoring saw the
        later ratings, which the official pipeline never does (its prescoring is always older
        than its final scoring).
    seed
        Seed of both runs (overrides ``config.seed``).

    Returns
    -------
    Counterfactual

    Notes
    -----
    Both runs score with the same "now": the baseline's ``epoch_millis`` (or ``before_millis``),
    so that removing the latest rating does not move the clock of the stabilization and lock rules.

    Even with ``reuse="prescoring"``, removing ratings of some notes moves the parameters of
    other notes a little: final scoring fits all notes in one optimisation whose stopping step and
    note regularization weight (ρ_n = ratings / notes) depend on every rating.

    Examples
    --------
    >>> import cnlab
    >>> from cnlab.lab import counterfactual
    >>> ds = cnlab.load_sample()                                              # doctest: +SKIP
    >>> cf = counterfactual(ds, drop_raters={"modelingGroup": 13}, seed=42)    # doctest: +SKIP
    >>> print(cf.summary())                                                   # doctest: +SKIP
    """
    from cnlab.pipeline import ScoringConfig, score  # the runner: imported when a run is asked for

    if dataset is None:
        if baseline is None or baseline.dataset is None:
            raise ValueError("counterfactual: pass dataset (or a baseline that holds its dataset)")
        dataset = baseline.dataset
    if baseline is not None and baseline.dataset is not None and baseline.dataset is not dataset:
        raise ValueError("counterfactual: baseline was scored on another Dataset object; pass that one "
                         "(baseline.dataset) or no baseline")
    if reuse is None:
        reuse = "none" if before_millis is not None else "prescoring"
    if reuse not in REUSE_MODES:
        raise ValueError(f"counterfactual: reuse must be one of {REUSE_MODES}, got {reuse!r}")
    if reuse == "prescoring" and before_millis is not None:
        raise ValueError("counterfactual: reuse='prescoring' with before_millis would score the past with "
                         "a prescoring that saw later ratings; use reuse='none'")
    if config is None:
        config = baseline.config if baseline is not None else ScoringConfig()
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    if baseline is None:
        baseline = score(dataset, config)
    elif not _same_config(baseline.config, config):
        raise ValueError("counterfactual: baseline.config differs from config (or seed); a configuration "
                         "change is ScoringResult.rescore's job, a data change this function's")

    reduced, removed = reduce_dataset(dataset, drop_raters=drop_raters, drop_notes=drop_notes,
                              drop_ratings=drop_ratings, before_millis=before_millis)
    epoch = int(before_millis) if before_millis is not None else baseline.epoch_millis
    run_config = dataclasses.replace(config, epoch_millis=epoch)

    if reuse == "none":
        res = score(reduced, run_config)
        ran = {"topics": True, "pss": bool(config.use_pss), "prescoring": True,
               "confidence_models": not (_is_none(config.pflip) and _is_none(config.pcrh))}
        stages = tuple(s for s in REUSED_STAGES if ran[s])
        res = dataclasses.replace(res, config=config, recomputed=stages, reused=(),
                                  rescore_reasons={s: ("dataset",) for s in stages})
    else:
        models: dict[str, Any] = {}
        conf = baseline.confidence
        for name in ("pflip", "pcrh"):
            spec = getattr(config, name)
            fitted = getattr(conf, name, None)
            if not _is_none(spec) and bool(getattr(fitted, "fitted", False)):
                models[name] = fitted
        res = score(reduced, dataclasses.replace(run_config, **models), prescoring=baseline.prescoring,
                    note_topics=baseline.note_topics)
        wanted = [n for n in ("pflip", "pcrh") if not _is_none(getattr(config, n))]
        refit = tuple(n for n in wanted if n not in models)
        used = {"topics": True, "pss": baseline.pss is not None, "prescoring": True,
                "confidence_models": bool(models)}
        # score() given prescoring outputs keeps the raw ratings as prescoring_ratings: the
        # prescoring behind this run is the baseline's, with its PSS-coalesced ratings
        res = dataclasses.replace(
            res, config=config, prescoring_ratings=baseline.prescoring_ratings, pss=baseline.pss,
            recomputed=("confidence_models",) if refit else (),
            reused=tuple(s for s in REUSED_STAGES if used[s]),
            rescore_reasons={"confidence_models": tuple(f"{n} (not fitted in the baseline)" for n in refit)}
            if refit else {})
    return Counterfactual(baseline=baseline, result=res,
                          diff=diff(baseline, res, labels=("baseline", "counterfactual")),
                          removed=removed, dataset=reduced, reuse=reuse, epoch_millis=epoch)
