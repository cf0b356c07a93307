"""End-to-end scoring: ``score(dataset) -> ScoringResult`` (spec 04 §8, §10, §11, §13).

Core only by default; ``ScoringConfig.official_mf()`` runs every MF scorer. Order (official
``runner.main``)::

    preprocess (funnel)                                    04 §4
    topics: train + assign (or given)                      05 A
    rater clustering → raw PSS frame                       04 §7, 05 B
    prescoring ratings = PSS-coalesced with the raw frame  05 B.4
    prescore each scorer                                   02 §3
    ReputationScorer prescoring (if configured)            06 §D.7
    fit pflip and PCRH (ScoringConfig.pflip / .pcrh)       06 §A, §B; 04 §8 step 5
    pflip targets + peers → LABEL, pflipProba; PCRH        04 §10.1 steps 2, 6
    final ratings = PSS-coalesced with the dropna'd rater-output PSS rows (05 B.4)
    score_final each scorer (not the prescoring-only ones) 02 §4
    ReputationScorer final scoring (if configured)         06 §D.7
    merge all scorers' outputs, coalesce group/topic       04 §9.4, §10.1 step 9
    note stats over all final ratings                      04 §10.1 step 11a
    meta_score with the enabled scorers' rules (+ LABEL)   04 §11
    PCRH suppression                                       04 §10.1 steps 11d, 13
    rescoringActiveRules (now = epoch_millis)              04 §10.2
    new note status history (now = epoch_millis)           04 §13
    contributor scoring → helpfulness_scores               07 A, 04 §14.4
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import shutil
from pathlib import Path
from contextlib import contextmanager
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.contributors import contributor_scores
from cnlab.io import restore_ids
from cnlab._timing import StageTimer
from cnlab.pipeline.combine import combine_final_results, combine_helpfulness
from cnlab.pipeline.confidence import (
    apply_predictions,
    finalize_pcrh,
    fit_confidence_models,
    predict_pcrh,
    predict_pflip,
)
from cnlab.pipeline.config import ScoringConfig
from cnlab.pipeline.keep import check_keep, lean_confidence, lean_final, lean_prescoring, require_full
from cnlab.scorers.base import ScoringContext, check_outputs, family_for
from cnlab.scorers.mf_final import FinalOutput
from cnlab.scorers.mf_prescoring import combine
from cnlab.scorers.outputs import (
    PSS_COLUMNS,
    PrescoringOutput,
    load_official_prescoring,
    map_participant_ids,
)
from cnlab.preprocess import Funnel, Preprocessed, preprocess
from cnlab.scoring.config import MetaConfig
from cnlab.scoring.meta import META_AUX_COLUMNS, meta_score
from cnlab.scoring.note_stats import compute_note_stats
from cnlab.scoring.rescoring import rescoring_active_rules
from cnlab.scoring.status_history import update_status_history
from cnlab.models.similarity import (CLUSTERING_COLUMNS, apply_post_selection_similarity,
                                     plan_post_selection_similarity, rater_clustering)
from cnlab.pipeline.parallel import Once, in_threads, resolve_threads
from cnlab.pipeline.spill import RatingsSpill, TakenColumns, release_arrow_memory

log = logging.getLogger("cnlab")

OUTPUT_KEYS = ("scored_notes", "helpfulness_scores", "note_status_history", "aux_note_info")

#: Participant-id columns of each output frame (codes in ``frames``, strings in ``outputs()``).
_ID_COLUMNS = {
    "scored_notes": (),
    "helpfulness_scores": (schema.RATER_ID,),
    "note_status_history": (schema.AUTHOR_ID,),
    "aux_note_info": (schema.AUTHOR_ID,),
}


@dataclass(frozen=True)
class ScoringResult:
    """Everything one :func:`score` run computed.

    Attributes
    ----------
    config
        The run's :class:`ScoringConfig`.
    preprocessed
        :class:`cnlab.preprocess.Preprocessed` (notes, ratings, status_history, funnel).
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
    contributors
        :func:`cnlab.contributors.contributor_scores` result (participant codes): the
        ``helpfulness_scores`` frame.
    frames
        The four official output frames with **participant codes** (see :meth:`outputs`).
    timings
        Stage, rows in/out and seconds.
    participants
        Code → original id string (``dataset.participants``).
    confidence
        :class:`cnlab.pipeline.confidence.ConfidenceModels`: the fitted pflip / PCRH models and their
        predictions (None when both are off, ``ScoringConfig.pflip = pcrh = "none"``).
    dataset
        The :class:`cnlab.io.Dataset` that was scored (what :meth:`rescore` scores again).
    recomputed, reused
        Set by :meth:`rescore` (``None`` / ``()`` on a result of :func:`score`): which of the
        reusable stages (``"topics"``, ``"pss"``, ``"prescoring"``, ``"confidence_models"``)
        were computed again, and which were taken from the original result.
    rescore_reasons
        Set by :meth:`rescore`: recomputed stage → the changed settings that invalidated it
        (e.g. ``{"prescoring": ("seed",), ...}``).
    keep
        What the run kept (``score(keep=...)``): ``"all"``, every field above; ``"outputs"``, a
        lean result without the rating-level frames (``dataset``, ``prescoring_ratings`` and
        ``final_ratings`` are None, so is ``preprocessed.ratings``; the prescoring intermediates'
        and the final MF calls' rating frames, the MF fits' per-rating weights and the confidence
        models' training frames too). :meth:`outputs`, :meth:`summary`, :meth:`decisions` and
        :meth:`final_helpfulness` work on both; :meth:`explain` and :meth:`rescore` need ``"all"``.
    """

    config: ScoringConfig
    preprocessed: Preprocessed
    note_topics: pd.DataFrame
    pss: pd.DataFrame | None
    prescoring_ratings: pd.DataFrame
    final_ratings: pd.DataFrame
    prescoring: PrescoringOutput
    final: Mapping[str, FinalOutput]
    note_stats: pd.DataFrame
    meta: pd.DataFrame
    contributors: pd.DataFrame
    frames: Mapping[str, pd.DataFrame]
    timings: pd.DataFrame
    participants: pd.Index | None = None
    epoch_millis: int | None = None
    confidence: Any = None
    dataset: Any = None
    recomputed: tuple[str, ...] | None = None
    reused: tuple[str, ...] = ()
    rescore_reasons: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    keep: str = "all"

    @property
    def funnel(self) -> Funnel:
        return self.preprocessed.funnel

    def outputs(self) -> dict[str, pd.DataFrame]:
        """The four official frames, official columns, participant ids as ``str``.

        Codes map back to the original id strings (code −1 / NaN → missing); without
        ``participants`` the frames are returned with their codes.
        """
        if self.participants is None:
            return {key: self.frames[key].copy() for key in OUTPUT_KEYS}
        return {key: restore_ids(self.frames[key], self.participants, _ID_COLUMNS[key])
                for key in OUTPUT_KEYS}

    def final_helpfulness(self) -> pd.DataFrame:
        """Every final scorer's helpfulness rows merged on raterParticipantId, group families
        coalesced (:func:`cnlab.pipeline.combine.combine_helpfulness`; participant codes)."""
        return combine_helpfulness(self.final.values())

    def explain(self, note_id: int) -> Any:
        """Why note ``note_id`` has its final status.

        Returns a frozen :class:`cnlab.pipeline.explain.NoteExplanation`: per scorer that scored
        the note its intercept, factor, status and the rules that fired in order with the
        :class:`~cnlab.scoring.config.RuleThresholds` fields they compare against (``.frame``,
        ``.rules_frame``); the meta rule that decided (``decided_by``), the deciding model's
        status and, when the final status differs from it, why (``held_back``: stabilization,
        locked status, too few explanation tags …); ``numRatings`` and the note's helpful /
        not-helpful ratings by the sign of the raters' Core factor (``rating_counts``).

        Examples
        --------
        >>> import cnlab
        >>> res = cnlab.score(cnlab.load_sample(), seed=42)                  # doctest: +SKIP
        >>> e = res.explain(int(res.frames["scored_notes"]["noteId"][0]))     # doctest: +SKIP
        >>> e.frame[["scorer", "status"]]                                     # doctest: +SKIP
        """
        from cnlab.pipeline.explain import explain

        require_full(self, "ScoringResult.explain()")
        return explain(self, note_id)

    def decisions(self) -> pd.DataFrame:
        """The deciding rule of every note: noteId, finalRatingStatus, decidedBy, decidingModel,
        decidingModelStatus, decidingRule, heldBack (:func:`cnlab.pipeline.explain.decisions`)."""
        from cnlab.pipeline.explain import decisions

        return decisions(self)

    def rescore(self, config: ScoringConfig | None = None, *, dataset: Any = None) -> "ScoringResult":
        """Score again with ``config`` (default: this run's), reusing what the change leaves valid.

        The old and new :class:`ScoringConfig` are compared field by field:

        * ``topics`` (the topic assignment) is reused unless ``dataset``, ``topics`` or — with
          ``topics="model"`` — ``seed`` changed;
        * ``prescoring`` and ``pss`` (the prescoring outputs and the rater-clustering frame) are
          reused unless ``dataset``, ``scorers``, ``reputation``, ``use_pss``, ``seed``,
          ``epoch_millis`` or ``extra`` changed, or the topics were recomputed; a scorer whose
          config differs only in thresholds that final-round rules alone read
          (:data:`cnlab.pipeline.rescore.FINAL_ONLY_THRESHOLDS`: ``firm_reject_threshold``,
          ``min_minority_net_helpful_ratings`` …) keeps its prescoring, while ``crh_threshold``
          (it labels the round-1 notes behind the helpfulness filter) recomputes it;
        * ``confidence_models`` (the fitted pflip / PCRH models of :attr:`confidence`) are reused
          when prescoring is and ``pflip`` / ``pcrh`` are unchanged.

        Final scoring, meta-scoring, status history and contributor scoring always run again.

        Parameters
        ----------
        config
            The new configuration; ``None`` keeps :attr:`config`.
        dataset
            A different dataset to score (recomputes every stage); default :attr:`dataset`.

        Returns
        -------
        ScoringResult
            With ``recomputed`` (the reusable stages that ran again), ``reused`` (those taken
            from this result) and ``rescore_reasons`` (stage → the changed settings), and
            ``config`` = the new configuration as given.

        Examples
        --------
        >>> import dataclasses, cnlab
        >>> from cnlab.pipeline import config as pc
        >>> res = cnlab.score(cnlab.load_sample(), seed=42)                   # doctest: +SKIP
        >>> strict = dataclasses.replace(pc.CORE, thresholds=dataclasses.replace(
        ...     pc.CORE.rules(), firm_reject_threshold=0.35))
        >>> res2 = res.rescore(res.config.with_(scorers=(strict,)))           # doctest: +SKIP
        >>> res2.recomputed, res2.reused                                      # doctest: +SKIP
        ((), ('topics', 'pss', 'prescoring', 'confidence_models'))
        """
        from cnlab.pipeline.rescore import rescore

        require_full(self, "ScoringResult.rescore()")
        return rescore(self, config, dataset=dataset, score=score)

    def summary(self) -> str:
        sn = self.frames["scored_notes"]
        lines = [
            f"cnlab scoring run: {len(sn)} notes, seed={self.config.seed}, "
            f"epoch_millis={self.epoch_millis}, prescoring={self.prescoring.source}"
            + ("" if self.keep == "all" else f", keep={self.keep!r}"),
            "  finalRatingStatus: " + ", ".join(
                f"{k}={v}" for k, v in sn["finalRatingStatus"].value_counts().items()),
            "  decidedBy: " + ", ".join(f"{k}={v}" for k, v in sn["decidedBy"].value_counts().items()),
        ]
        for f in self.final.values():
            lines.append("  " + f.summary().replace("\n", "\n  "))
        if self.confidence is not None:
            lines.append("  " + self.confidence.summary().replace("\n", "\n  "))
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
    from cnlab.models.topics import (  # scikit-learn: only when used
        TopicModelError,
        fit_assign_topics,
        seed_label_topics,
    )

    with timer.stage("topic model", len(notes)) as st:
        try:
            nt = fit_assign_topics(notes, seed=seed)[1]
        except TopicModelError as exc:
            # the official scorer aborts here; a subset too small for the model still gets scored
            if config.topic_fallback != "seed_labels":
                raise
            log.warning("topic model: %s; falling back to seed-label topics (ScoringConfig.topic_fallback="
                        "'raise' reproduces the official abort)", exc)
            nt = seed_label_topics(notes)
            st["note"] = f"fallback to seed labels: {exc}"
        nt = nt[[schema.NOTE_ID, "noteTopic"]]
        nt = nt[nt["noteTopic"].notna() & (nt["noteTopic"].astype(str) != "Unassigned")]
        st["rows_out"] = len(nt)
    return nt.reset_index(drop=True)


def apply_pss(notes: pd.DataFrame, ratings: pd.DataFrame, pss: pd.DataFrame | None) -> pd.DataFrame:
    """PSS coalescing (spec 05 B.4) via ``cnlab.models.similarity``; adds ``correlatedRater``."""
    if pss is None:
        return ratings.assign(**{schema.CORRELATED_RATER: False})
    coalesced, _report = apply_post_selection_similarity(notes, ratings, pss, keep_values=False)
    return coalesced


def final_pss_rows(notes: pd.DataFrame, ratings: pd.DataFrame,
                   pss: pd.DataFrame | None) -> tuple[np.ndarray | None, np.ndarray]:
    """:func:`apply_pss` as positions: ``(take, correlated)`` such that
    ``apply_pss(notes, ratings, pss)`` is ``ratings.take(take)`` (every row when None) with
    ``correlatedRater = correlated`` and a fresh RangeIndex."""
    if pss is None:
        return None, np.zeros(len(ratings), dtype=bool)
    plan = plan_post_selection_similarity(notes, ratings, pss)
    if plan.skipped:
        return None, np.asarray(plan.correlated, dtype=bool)
    take = plan.take()
    if len(ratings) < 2**31:
        take = take.astype(np.int32)  # kept through final scoring: 4 bytes a rating, not 8
    return take, np.asarray(plan.correlated, dtype=bool)[take]


def _shares_memory(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether ``a`` still shares its rows' buffers with ``b`` (copy-on-write frames derived
    without a copy, e.g. ``b.assign(...)``): releasing ``a`` would then free nothing."""
    col = schema.NOTE_ID
    if col not in a.columns or col not in b.columns:
        return True
    return bool(np.shares_memory(a[col].to_numpy(), b[col].to_numpy()))


def known_rater_rows(rater_model_output: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Prescoring rater rows whose participant is in the dataset, and how many were not.

    Official prescoring files can name participants absent from the loaded inputs; their
    rows carry code −1 (:func:`load_official_prescoring`) and would all collapse into one
    contributor, so contributor scoring drops them (counted in the stage log).
    """
    ids = rater_model_output[schema.RATER_ID]
    if not pd.api.types.is_numeric_dtype(ids.dtype):
        return rater_model_output, 0
    unknown = (ids.to_numpy(dtype=np.float64, na_value=np.nan) == -1)
    return rater_model_output.loc[~unknown].reset_index(drop=True), int(unknown.sum())


class _TqdmLines(logging.Handler):
    # tqdm.write keeps the lines apart from any progress bar and works in notebooks and terminals
    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        tqdm.write(self.format(record))


@contextmanager
def _progress_lines():
    """Stage lines of the "cnlab" logger shown while the block runs (``score(progress=True)``)."""
    logger = logging.getLogger("cnlab")
    handler = _TqdmLines()
    handler.setFormatter(logging.Formatter("%(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def score(
    dataset: Any,
    config: ScoringConfig = ScoringConfig(),
    *,
    seed: int | None = None,
    prescoring: PrescoringOutput | str | None = None,
    note_topics: pd.DataFrame | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    resume: bool = False,
    jobs: int = 1,
    executor: Any = None,
    progress_bar: bool | None = False,
    keep: str = "all",
    isolate: bool = False,
    threads: int | None = None,
    return_ratings: bool = True,
) -> ScoringResult:
    """Score a dataset with the configured scorers (Core by default; ``ScoringConfig.official()``:
    the whole roster).

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
    progress
        Show one line per stage as it finishes (rows in / out, seconds; the lines ``cnlab score``
        prints), through ``tqdm.auto`` so that they appear in a notebook cell as in a terminal,
        and a bar over the run's phases with the time left.
    progress_bar
        The phase bar alone: ``True`` always, ``None`` on a terminal only (``cnlab score``),
        ``False`` never.
    checkpoint
        A folder where each finished prescoring phase (rater clustering, then each scorer) is
        stored (:mod:`cnlab.pipeline.checkpoint`); ``cnlab score`` uses ``OUTDIR/.cnlab-checkpoint``.
    resume
        With ``checkpoint``: reuse the phases found there (they must come from the same inputs,
        configuration and seed) and compute only the others; the outputs are those of an
        uninterrupted run.
    jobs
        Worker processes for the scorers' prescoring (:mod:`cnlab.pipeline.parallel`), started
        when the run starts so that their start-up overlaps preprocessing. The outputs are
        byte-identical for every value. Each worker holds its own copy of the prescoring ratings in
        memory, so memory grows with ``jobs``. Without ``checkpoint`` the workers exchange data
        through a temporary folder. With ``prescoring`` given, everything runs in this process.
    executor
        A :class:`concurrent.futures.Executor` for the workers instead of a local process pool of
        ``jobs`` processes (e.g. a Dask cluster's ``Client.get_executor()``; its workers must see
        ``checkpoint``). Implies parallel prescoring.
    isolate
        Prescore in worker processes even a roster of one scorer (with ``jobs`` of them at most),
        so that the memory of the prescoring fits (TensorFlow's allocator keeps its pool for the
        life of a process) is handed back when prescoring ends, before the confidence models and
        final scoring; the outputs are identical. In a lean run (``keep="outputs"``) this process
        holds no rating while the workers run: they read the checkpoint's copy of the PSS-coalesced
        prescoring ratings, and this process writes the dataset's and the preprocessed ratings to
        the checkpoint folder (:mod:`cnlab.pipeline.spill`), releases them, and reads them back
        when the workers are done (``dataset.ratings`` is None meanwhile, and equal to what it was
        once the run ends, also when it fails). ``cnlab score`` does this from 10M ratings.
    threads
        Independent tasks side by side in this process (:func:`cnlab.pipeline.parallel.in_threads`):
        the topic model and rater clustering, the scorers' prescoring (unless worker processes do
        it), the pflip and PCRH fits, and the scorers' final scoring. The outputs are
        byte-identical for every value. ``None`` (default): the machine's cores up to
        :data:`~cnlab.pipeline.parallel.AUTO_THREADS_MAX_RATINGS` ratings, one above, because the
        tasks' working sets are then held at once.
    return_ratings
        Whether a run that lent ``dataset.ratings`` to disk (``isolate`` with ``keep="outputs"``)
        reads them back into ``dataset`` when it ends (default). ``False``: a caller done with
        the dataset's ratings (``cnlab score``, which writes the outputs and exits) leaves
        ``dataset.ratings`` as None and saves that read (206M ratings: 8.4 GiB and half a
        minute at the run's end); the spilled file is removed either way. A run that fails
        gives them back whatever this says.
    keep
        ``"all"`` (default): the result holds every rating-level frame of the run, for
        :meth:`ScoringResult.explain` and :meth:`ScoringResult.rescore`. ``"outputs"``: each of
        them is released as soon as the run no longer reads it (the prescoring training frames
        once that scorer's prescoring is stored, the PSS-coalesced prescoring ratings once the
        confidence models are fitted, their training frames after prediction, each final MF
        call's ratings once that scorer's output is built, the final ratings after the note
        stats), so that memory stops growing stage after stage; the outputs are identical, and
        the result is lean (:attr:`ScoringResult.keep`). ``cnlab score`` uses ``"outputs"``.

    Examples
    --------
    >>> import cnlab
    >>> lean = cnlab.score(cnlab.load_sample(), keep="outputs")     # doctest: +SKIP
    >>> lean.keep, lean.final_ratings is None                       # doctest: +SKIP
    ('outputs', True)
    """
    check_keep(keep)
    if progress:
        with _progress_lines():
            return score(dataset, config, seed=seed, prescoring=prescoring, note_topics=note_topics,
                         checkpoint=checkpoint, resume=resume, jobs=jobs, executor=executor,
                         progress_bar=True, keep=keep, isolate=isolate, threads=threads,
                         return_ratings=return_ratings)
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    seed = config.seed
    given = config
    # the one place where fidelity="fast" reaches the MF fits; the result keeps the given config
    config = config.resolved()
    timer = StageTimer()
    participants = getattr(dataset, "participants", None)
    n_threads = resolve_threads(threads, len(dataset.ratings))
    pool = scratch = None
    parallel = (jobs > 1 or executor is not None) and len(config.roster()) > 1
    if (parallel or isolate) and prescoring is None:
        # started now, so that the workers' start-up (TensorFlow) overlaps preprocessing and topics
        from cnlab.pipeline.parallel import WorkerPool

        pool = WorkerPool(jobs, executor, log=log)
        pool.warm_up()
        if checkpoint is None:  # the workers' inputs and outputs need a folder: a scratch one
            import tempfile

            scratch = checkpoint = tempfile.mkdtemp(prefix="cnlab-jobs-")

    from cnlab.pipeline.progress import PhaseBar

    bar = PhaseBar(len(config.roster()), enabled=progress_bar)
    lent: list[RatingsSpill] = []  # the dataset's ratings while spilled (lean runs with workers)
    try:
        result = _score_phases(dataset, config, seed, prescoring, checkpoint, resume, pool, bar,
                               timer, participants, note_topics, keep, isolate, n_threads, lent,
                               return_ratings)
        return result if config is given else dataclasses.replace(result, config=given)
    except BaseException:
        if pool is not None:  # an error or an interrupt: a worker inside a fit is stopped, not awaited
            pool.close(terminate=True)
        raise
    finally:
        if lent:  # the run stopped before giving them back (an error, a Ctrl-C)
            lent.pop().restore_dataset(dataset)
        bar.close()
        if pool is not None:
            pool.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _score_phases(dataset, config, seed, prescoring, checkpoint, resume, pool, bar, timer,
                  participants, note_topics, keep="all", isolate=False, n_threads=1,
                  lent: list | None = None, return_ratings: bool = True) -> ScoringResult:
    # keep="outputs": each rating-level frame is dropped (set to None / stripped from its object)
    # where the run last reads it, so that it is freed there and not when the result is built
    lean = keep == "outputs"
    spill = None  # the run's ratings on disk while worker processes prescore (lean runs)
    with timer.stage("preprocess", len(dataset.ratings)) as st:
        pre = preprocess(dataset)
        st["rows_out"] = len(pre.ratings)

    def topics() -> pd.DataFrame:  # run beside rater clustering when threads allow
        nt = ckpt.load_topics() if ckpt is not None else None
        if nt is not None:
            log.info("topic model: resumed from the checkpoint (%d rows)", len(nt))
            return nt
        nt = _topics(config, notes, note_topics, seed, timer)
        return ckpt.save_topics(nt) if ckpt is not None else nt

    notes, ratings, nsh = pre.notes, pre.ratings, pre.status_history
    enrollment = dataset.enrollment
    epoch = config.epoch_millis
    if epoch is None:
        epoch = int(max(ratings[schema.CREATED_AT].max() if len(ratings) else 0,
                        notes[schema.CREATED_AT].max() if len(notes) else 0))

    def ratings_to_disk(stage: str = "run's ratings spilled"):
        """The run's ratings (the dataset's and the preprocessed) to the checkpoint's spill folder,
        let go here; read back by ``spill.read_preprocessed``."""
        nonlocal ratings, pre, spill
        with timer.stage(stage, None if ratings is None else len(ratings)) as st:
            if spill is None:
                spill = RatingsSpill.write(Path(ckpt.directory) / "spill", dataset, pre)
                if lent is not None:
                    lent.append(spill)
                st["note"] = "written"
            elif ratings is not None and not spill.preprocessed_on_disk():  # read back: again
                spill.write_preprocessed(ratings)
                st["note"] = "written"
            else:
                st["note"] = "already on disk"
            pre = dataclasses.replace(pre, ratings=None)
            ratings = None
            gc.collect()
            release_arrow_memory()

    def with_topics(nt: pd.DataFrame) -> ScoringContext:
        return ScoringContext(status_history=nsh, enrollment=enrollment, note_topics=nt, seed=seed,
                              epoch_millis=epoch, pseudoraters=config.pseudoraters,
                              check_train_error=config.check_train_error, keep_ratings=not lean)

    if isinstance(prescoring, str):
        prescoring = load_official_prescoring(prescoring, participants)
    elif prescoring is not None and participants is not None:
        prescoring = map_participant_ids(prescoring, participants)

    # -- prescoring ---------------------------------------------------------------------
    ckpt = None
    if prescoring is None:
        if checkpoint is not None:
            from cnlab.pipeline.checkpoint import Checkpoint, run_key

            ckpt = Checkpoint.open(checkpoint, run_key(dataset, config), participants, resume=resume)
        bar.start("rater clustering")

        def clustering() -> pd.DataFrame | None:
            nonlocal ratings, pre, spill
            pss = ckpt.load_pss() if ckpt is not None else None
            if pss is not None:
                log.info("rater clustering: resumed from the checkpoint (%d rows)", len(pss))
                return pss
            source = ratings
            if lean and ckpt is not None and n_threads == 1:
                # rater clustering reads five columns: the run's ratings wait on disk meanwhile,
                # and are read back once (206M ratings: PSS's peak over 10.6 GiB of ratings). The
                # five are read from the spill, not copied before it: the copy beside every
                # rating took the 206M parent from 14.4 to 19.9 GiB.
                wanted = [c for c in CLUSTERING_COLUMNS if c in ratings.columns]
                ratings_to_disk("run's ratings spilled during rater clustering")
                on_disk = spill.preprocessed_columns()
                source = pd.DataFrame({c: on_disk[c] for c in wanted}, copy=False)
                del on_disk
            with timer.stage("rater clustering (PSS + quasi-cliques)", len(source)) as st:
                pss = rater_clustering(notes, source).reindex(columns=list(PSS_COLUMNS))
                if ckpt is not None:
                    pss = ckpt.save_pss(pss)
                st["rows_out"] = len(pss)
            if ratings is None:
                del source
                gc.collect()
                with timer.stage("run's ratings read back") as st:
                    # the files stay: the prescoring lets the ratings go again without a write
                    ratings = spill.read_preprocessed(remove=False)
                    pre = dataclasses.replace(pre, ratings=ratings)
                    st["rows_out"] = len(ratings)
            return pss

        # the topic model (notes) and rater clustering (ratings) are independent: side by side
        first = dict(in_threads(lambda job: job(), [topics, clustering] if config.use_pss else [topics],
                                n_threads))
        nt, pss = first[topics], first.get(clustering)
        context = with_topics(nt)
        from cnlab.pipeline.checkpoint import NO_PRESCORING

        found = {sc.name: ckpt.load_scorer(sc.name) if ckpt is not None else None for sc in config.roster()}
        for name, out in found.items():
            if out is not None:
                log.info("%s prescoring: resumed from the checkpoint", name)
        todo = [sc for sc in config.roster() if found[sc.name] is None]
        in_workers = pool is not None and todo and (len(todo) > 1 or isolate)
        plan = None
        with timer.stage("PSS coalescing (prescoring)", len(ratings)) as st:
            if lean and in_workers and pss is not None:
                # the coalesced ratings go to the workers' input file a piece at a time: this
                # process never holds them whole (206M ratings: a 7 GiB copy beside its own)
                plan = plan_post_selection_similarity(notes, ratings, pss)
                st["rows_out"] = plan.report.ratings_out
            if not todo and lean and ckpt is not None and pss is not None and ckpt.has_inputs():
                # every prescoring resumed: the coalesced ratings its workers read are on disk, and
                # reading them back costs no copy beside the run's ratings (206M: 19.6 -> 16.3 GiB);
                # one task at a time, the run's ratings wait on disk meanwhile (206M: 17.1 GiB
                # with them) until the confidence models are fitted
                if n_threads == 1:
                    ratings_to_disk("run's ratings spilled before the prescoring ratings are read")
                pre_ratings = ckpt.read_inputs(ckpt.directory)[0]
                st["note"] = "read from the checkpoint"
                st["rows_out"] = len(pre_ratings)
            elif plan is None or plan.skipped:
                pre_ratings = apply_pss(notes, ratings, pss)
                plan = None
                st["rows_out"] = len(pre_ratings)
        bar.done()
        bar.done(len(found) - len(todo))
        if in_workers:
            bar.start(f"prescoring ({len(todo)} scorers, {pool.jobs if pool.own else 'executor'} jobs)")
            if plan is not None:
                with timer.stage("coalesced prescoring ratings written for the workers",
                                 plan.report.ratings_out) as st:
                    ckpt.save_inputs_in_pieces(
                        (plan.rows_of(ratings, rows) for rows in plan.chunks()), context)
                index = pd.RangeIndex(plan.report.ratings_out)
                shared, pre_ratings = False, None
                del plan
            else:
                ckpt.save_inputs(pre_ratings, context)
                index = pre_ratings.index
                shared = _shares_memory(pre_ratings, ratings)
            if lean:
                # the workers read the saved copy; this process reads it back when they are done
                # instead of holding it beside them (50M ratings: ~2.3 GiB)
                pre_ratings = None
                # nor the run's ratings (the dataset's and the preprocessed: 206M ratings, ~7 GiB)
                ratings_to_disk("run's ratings spilled while the workers prescore")
            try:
                timer.records.extend(pool.prescore(ckpt, todo))
            except BaseException:
                pool.close(terminate=True)  # the other workers' fits are not awaited
                raise
            finally:
                pool.close()  # the workers' copies of the ratings go now, before the final phase
            if spill is not None and not (lean and n_threads == 1 and not shared):
                with timer.stage("run's ratings read back") as st:
                    # one task at a time: kept on disk for the final phase to let go again
                    ratings = spill.read_preprocessed(remove=not (lean and n_threads == 1))
                    pre = dataclasses.replace(pre, ratings=ratings)
                    st["rows_out"] = len(ratings)
            # one task at a time (lean), the run's ratings stay on disk until the confidence models
            # are fitted on the coalesced prescoring ratings (206M: 16.3 GiB with both held)
            if pre_ratings is None:
                with timer.stage("prescoring ratings read back from the checkpoint") as st:
                    if shared:  # derived from the run's ratings without a copy: derived again
                        pre_ratings = apply_pss(notes, ratings, pss)
                    else:
                        pre_ratings = ckpt.read_inputs(ckpt.directory)[0]
                        pre_ratings.index = index  # saved without it
                    st["rows_out"] = len(pre_ratings)
            del index
            found.update({sc.name: ckpt.read_scorer(sc.name) for sc in todo})
            bar.done(len(todo))
            todo = []
        if pool is not None:
            pool.close()  # also when resumed phases left nothing for it to do

        def prescore_one(sc):
            if n_threads == 1:
                bar.start(f"{sc.name} prescoring")
            t = StageTimer(prefix=f"{sc.name} prescoring: ")
            return family_for(sc).prescore(sc, pre_ratings, context, timer=t)

        if n_threads > 1 and len(todo) > 1:
            bar.start(f"prescoring ({len(todo)} scorers, {min(n_threads, len(todo))} threads)")
        # finished scorers are stored as they come; combine() below reads them in roster order
        records: dict[str, list] = {}
        for sc, out in in_threads(prescore_one, todo, n_threads):
            if out is not None:
                records[sc.name] = out.intermediates.get(sc.name, {}).get(
                    "timings", pd.DataFrame()).to_dict("records")
                if lean:  # final scoring reads the note / rater outputs only
                    out = lean_prescoring(out)
            found[sc.name] = ckpt.save_scorer(sc.name, out) if ckpt is not None else out
            del out
            bar.done()
        for sc in todo:
            timer.records.extend(records.get(sc.name, ()))
        outs = [out for out in found.values() if out is not None and out is not NO_PRESCORING]
        prescoring = combine(outs, pss)
        del outs, found  # combine() copied their frames
        coalesced = pre_ratings
    else:
        if lean:  # a full result's prescoring (rescore) still carries its training frames
            prescoring = lean_prescoring(prescoring)
        pss = prescoring.pss
        pre_ratings = ratings
        coalesced = None  # given prescoring: the confidence models coalesce with its PSS frame
        nt = topics()
        context = with_topics(nt)
        bar.done(1 + len(config.roster()))
    # -- confidence models and final scoring ------------------------------------------
    # Independent tasks: the confidence models (spec 04 §8 step 5: pflip and PCRH trained at the
    # end of prescoring; §10.1 steps 2 and 6: their predictions) and each scorer's final scoring,
    # which does not read them. With threads they run side by side; with one, in this order, and
    # the PSS-coalesced prescoring ratings are released before the final ratings are built.
    final_pss = prescoring.final_pss() if config.use_pss else None
    conf_inputs = [coalesced]
    if lean:  # the PSS-coalesced prescoring ratings end with the confidence models' fit
        pre_ratings = coalesced = None

    # One task at a time with a checkpoint folder (a lean run at scale): the run's ratings wait on
    # disk while the confidence models are fitted on the coalesced prescoring ratings, and again
    # while the scorers' final fits run on the final ratings (206M ratings: ~6 GiB each time); the
    # predictions and contributor scoring read them back.
    spill_ratings = lean and ckpt is not None and n_threads == 1

    def ratings_from_disk(*, remove: bool):
        nonlocal ratings, pre
        with timer.stage("run's ratings read back") as st:
            ratings = spill.read_preprocessed(remove=remove)
            pre = dataclasses.replace(pre, ratings=ratings)
            st["rows_out"] = len(ratings)

    def confidence_task():
        conf_config = config
        if ckpt is not None:  # models fitted by an earlier try of this run are used as they are
            saved = {k: ckpt.load_model(k) for k in ("pflip", "pcrh") if getattr(config, k, "none") != "none"}
            for k, model in saved.items():
                if model is not None:
                    log.info("%s: resumed from the checkpoint", k)
            conf_config = dataclasses.replace(config, **{k: m for k, m in saved.items() if m is not None})
        to_fit = [k for k in ("pflip", "pcrh") if getattr(conf_config, k, "none") not in ("none", None)
                  and not getattr(getattr(conf_config, k), "fitted", False)]
        if spill_ratings and to_fit and conf_inputs[0] is not None:
            ratings_to_disk()  # the fits read the coalesced prescoring ratings only
        reread = None
        if (spill_ratings and "pflip" in to_fit and conf_inputs[0] is not None and ckpt.has_inputs()
                and conf_inputs[0].index.equals(pd.RangeIndex(len(conf_inputs[0])))):
            # the workers' copy (the checkpoint's inputs) is these ratings: pflip lets them go
            # after its training frame and PCRH reads them again (206M: ~6 GiB less in the fit)
            def reread():
                return ckpt.read_inputs(ckpt.directory)[0]
        conf = fit_confidence_models(conf_config, notes, conf_inputs.pop(), ratings, nsh, enrollment,
                                     prescoring, nt, seed=seed, timer=timer, keep_training=not lean,
                                     threads=n_threads,
                                     on_fitted=None if ckpt is None else ckpt.save_model,
                                     reread_coalesced=reread)
        if ratings is None:
            ratings_from_disk(remove=False)  # kept on disk: final scoring lets it go again
        conf = predict_pflip(conf, notes, ratings, nsh, prescoring, final_pss, epoch_millis=epoch, timer=timer)
        conf = predict_pcrh(conf, notes, ratings, nsh, prescoring, enrollment, nt, epoch_millis=epoch,
                            timer=timer)
        return lean_confidence(conf) if lean else conf

    def build_final_ratings():
        n = len(ratings)
        with timer.stage("PSS coalescing (final, dropna'd rows)", n) as st:
            st["note"] = f"{0 if final_pss is None else len(final_pss)} PSS rows"
            if not spill_ratings:
                out = apply_pss(notes, ratings, final_pss)
                st["rows_out"] = len(out)
                return out
            # the kept rows as positions: the final ratings are then read from the spilled run's
            # ratings a column at a time (206M: ~10 GiB less than their copy)
            take, correlated = final_pss_rows(notes, ratings, final_pss)
            st["rows_out"] = n if take is None else len(take)
            st["note"] += "; kept as positions into the run's ratings on disk"
        ratings_to_disk()  # only contributor scoring reads them whole again
        return TakenColumns(spill.preprocessed_columns(), take, {schema.CORRELATED_RATER: correlated},
                            n_rows=n)

    final_ratings = Once(build_final_ratings)
    # families whose final scoring reads rows, not whole columns, get the final ratings as one
    # frame (built when the first needs it, released after the last)
    row_readers = [sc for sc in config.roster() if not getattr(family_for(sc), "final_reads_columns", False)]
    final_frame: list[Any] = []

    def final_ratings_for(sc):
        fr = final_ratings.get()
        if not isinstance(fr, TakenColumns) or sc not in row_readers:
            return fr
        if not final_frame:
            with timer.stage("final ratings built as a frame (row readers)", len(fr)) as st:
                final_frame.append(fr.to_frame())
                st["rows_out"] = len(final_frame[0])
        out = final_frame[0]
        row_readers.remove(sc)
        if not row_readers:
            final_frame.clear()
        return out

    # Final scoring stays in this process: in workers it would hold one more copy of the final
    # ratings per worker (10M ratings, whole roster, --jobs 2: past 22 GiB where the sequential
    # final phase peaks at 19.8 GiB); threads share the one copy.
    def final_task(sc):
        t = StageTimer(prefix=f"{sc.name} final: ")
        out = family_for(sc).score_final(sc, final_ratings_for(sc), prescoring, context, timer=t)
        if out is not None:
            check_outputs(sc, out)
            # lean: this scorer's call ratings go now, before the next scorer's fits
            out = lean_final(out) if lean else out
        return out, t.records

    def run_task(sc):
        if n_threads == 1:
            bar.start("confidence models (pflip, PCRH)" if sc is None else f"{sc.name} final scoring")
        return confidence_task() if sc is None else final_task(sc)

    roster = config.roster()
    tasks = [None, *roster]  # None: the confidence models
    # A lean checkpointed run stores each task of this phase as it ends (keep="all" ones hold every
    # rating-level frame): a resumed run redoes only the tasks not stored, and the scorers'
    # outputs wait on disk instead of in memory (206M, whole roster: GiBs of note-level frames
    # beside the next scorer's fits); they are read back one at a time to be combined, and for
    # the result at the end.
    store_final = ckpt is not None and lean
    done: dict[Any, Any] = {}
    on_disk: set[str] = set()
    if store_final:
        for task in tasks:
            stored = ckpt.load_final(None if task is None else task.name)
            if stored is None:
                continue
            value = stored[0]
            del stored
            if task is None:
                done[None] = value
            else:
                on_disk.add(task.name)
                del value
    resumed = (set(done) | on_disk)
    resumed_final = resumed == {None, *(sc.name for sc in roster)}
    if resumed_final:
        with timer.stage("confidence models and final scoring read from the checkpoint") as st:
            st["note"] = f"{len(roster)} scorer(s); their stage times are in the earlier try's log"
        log.info("confidence models and final scoring: resumed from the checkpoint")
        bar.done(len(tasks))
        if ratings is None:  # the final ratings and the note stats read the run's ratings
            ratings_from_disk(remove=False)
    else:
        for name in sorted(resumed, key=str):
            log.info("%s: resumed from the checkpoint", "confidence models" if name is None
                     else f"{name} final scoring")
        todo = [t for t in tasks if (None if t is None else t.name) not in resumed]
        if resumed:
            bar.done(len(tasks) - len(todo))
            if ratings is None and None in resumed:  # the confidence task would have read them back
                ratings_from_disk(remove=False)
        if n_threads > 1:
            bar.start(f"confidence models and final scoring ({len(todo)} tasks, {n_threads} threads)")
        records: dict[str, list] = {}
        for task, value in in_threads(run_task, todo, n_threads):
            bar.done()
            key = None if task is None else task.name
            if store_final:
                with timer.stage(f"{'confidence models' if key is None else key + ' final scoring'} "
                                 "stored in the checkpoint"):
                    ckpt.save_final(key, value)
            if key is not None:
                records[key] = value[1]
            if store_final and key is not None:
                on_disk.add(key)
            else:
                done[key] = value
            del value
        for sc in roster:  # this run's stage times, in roster order
            timer.records.extend(records.pop(sc.name, ()))
    conf = done.pop(None)
    fin_ratings = final_ratings.get()  # built by the first final task (or here, for no scorer)
    final_ratings = None  # the closures above hold it no longer

    def final_output(name: str) -> Any:
        if name not in on_disk:
            return done[name][0]
        stored = ckpt.load_final(name, resuming=False)
        if stored is None:
            raise RuntimeError(f"{name}: its final output stored in {ckpt.directory} could not be read back")
        return stored[0][0]  # (FinalOutput, stage records)

    # roster order, whatever order the tasks finished in; prescoring-only scorers
    # (MFGroupScorer_15, MFTopicScorer_InDimensionTwo) have no final output
    def each_final():
        for sc in roster:
            out = final_output(sc.name)
            if out is None:
                log.info("%s: prescoring only; final scoring skipped", sc.name)
                continue
            yield out

    # -- combine, note stats, meta, NSH ---------------------------------------------------
    nid = schema.NOTE_ID
    bar.start("meta rules, status history, contributors")
    with timer.stage("combine scorers (merge + coalesce group/topic columns)", len(nsh)) as st:
        # stored outputs read one at a time: the combined frames and one scorer's at once
        sn, aux = combine_final_results(each_final(), nsh)
        st["rows_out"] = len(sn)
    for c in ("coreNegFactor_populationSampledRatingCount", "corePosFactor_populationSampledRatingCount"):
        if c in aux.columns:
            aux[c] = aux[c].fillna(0).astype(np.int64)

    with timer.stage("note stats (all final ratings)", len(fin_ratings)) as st:
        stats = compute_note_stats(fin_ratings, nsh, epoch_millis=epoch)
        st["rows_out"] = len(stats)
    if lean:  # the last reader of the final ratings
        fin_ratings = None
    sn = sn.merge(stats[[nid, schema.CLASSIFICATION, schema.CREATED_AT, schema.NUM_RATINGS]]
                  .drop_duplicates(nid), on=nid, how="left")
    aux_cols = [c for c in (schema.AUTHOR_ID, schema.CREATED_AT, "numRatingsLast28", "currentStatus",
                            "numPopulationSampledRatings", *schema.ALL_TAGS) if c in stats.columns]
    aux = aux.merge(stats[[nid, *aux_cols]], on=nid, how="left")
    # spec 04 §10.1 step 10: pflipProba (NaN when pflip is off), PCRH columns (when PCRH is on)
    sn, aux, pflip_labels = apply_predictions(conf, sn, aux)

    with timer.stage("meta scoring", len(sn)) as st:
        # the MF families' rules follow enabled_meta_scorers (official --scorers); the others' rules
        # (Gaussian: 12–14, 16) come with the scorer
        meta_names = list(config.enabled_meta_scorers)
        for sc in config.roster():
            fam = family_for(sc)
            if not fam.meta_rules_configurable:
                meta_names += [m for m in fam.meta_scorers(sc) if m not in meta_names]
        meta_kw = {"config": MetaConfig(factor_rule=config.factor_rule)} if config.factor_rule != "norm" else {}
        meta = meta_score(sn, aux, nsh, epoch_millis=epoch, scorers=meta_names, pflip_labels=pflip_labels,
                          **meta_kw)
        st["rows_out"] = len(meta)
        st["note"] = ", ".join(f"{k}={v}" for k, v in meta["decidedBy"].value_counts().items())
    aux_meta_cols = list(META_AUX_COLUMNS)
    sn_meta_cols = [c for c in meta.columns if c not in aux_meta_cols and c != nid]
    sn = sn.drop(columns=[c for c in sn_meta_cols if c in sn.columns]).merge(
        meta[[nid, *sn_meta_cols]], on=nid, how="left")
    aux = aux.drop(columns=[c for c in aux_meta_cols if c in aux.columns]).merge(
        meta[[nid, *aux_meta_cols]], on=nid, how="left")
    sn["timestampMillisOfCurrentStatus"] = epoch
    # spec 04 §10.2, full run: ALL_NOTES / NOTES_CREATED_SOMEWHAT_RECENTLY /
    # NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH from the input NSH. The official code reads the wall
    # clock here; cnlab uses the run's epoch_millis (reproducible; cnlab.scoring.rescoring).
    sn["rescoringActiveRules"] = rescoring_active_rules(sn[nid], nsh, now=epoch).to_numpy()
    # spec 04 §10.1 steps 11d and 13: PCRH suppression; the NSH update copies the result
    sn = finalize_pcrh(conf, sn, epoch_millis=epoch)

    with timer.stage("note status history", len(nsh)) as st:
        new_nsh = update_status_history(nsh, sn, now=epoch)
        st["rows_out"] = len(new_nsh)
    if "timestampMillisOfNmrDueToMinStableCrhTime" in new_nsh.columns:
        sn = sn.drop(columns=["timestampMillisOfNmrDueToMinStableCrhTime"], errors="ignore").merge(
            new_nsh[[nid, "timestampMillisOfNmrDueToMinStableCrhTime"]], on=nid, how="left")
    sn["timestampMinuteOfFinalScoringOutput"] = np.nan
    # k-factor runs: axes 2..k (coreNoteFactor2 …) right after their axis-1 column; none when k = 1
    sn = sn.reindex(columns=schema.with_extra_factor_columns(schema.SCORED_NOTES_COLUMNS, sn.columns)) \
        .sort_values(nid).reset_index(drop=True)
    aux = aux.reindex(columns=list(schema.AUX_NOTE_INFO_COLUMNS)).sort_values(nid).reset_index(drop=True)
    new_nsh = new_nsh.reindex(columns=list(schema.NOTE_STATUS_HISTORY_COLUMNS)) \
        .sort_values(nid).reset_index(drop=True)

    if ratings is None and lean:  # on disk during final scoring; contributor scoring reads whole
        # columns: each read from the spill when asked for (206M: ~10 GiB less than reading them back)
        ratings = TakenColumns(spill.preprocessed_columns(), None)
    elif ratings is None:
        ratings_from_disk(remove=True)
    # -- contributor scoring (spec 07 A): un-coalesced ratings, all prescoring rater rows ----
    raters, n_unknown = known_rater_rows(prescoring.rater_model_output)
    if n_unknown:
        log.warning("contributor scoring: dropped %d prescoring rater rows of participants not in the "
                    "dataset", n_unknown)
    with timer.stage("contributor scoring", len(ratings)) as st:
        contributors = contributor_scores(sn, aux, new_nsh, ratings, notes, enrollment, raters,
                                          epoch_millis=epoch)
        st["rows_out"] = len(contributors)
        st["note"] = (f"{len(raters)} prescoring rater rows; {n_unknown} dropped "
                      "(participant not in the dataset, code -1)"
                      + ("; ratings read from the spill a column at a time"
                         if isinstance(ratings, TakenColumns) else ""))

    bar.done()
    frames = {
        "scored_notes": sn,
        "helpfulness_scores": contributors,
        "note_status_history": new_nsh,
        "aux_note_info": aux,
    }
    if lean:  # contributor scoring was the last reader of the preprocessed ratings
        pre = dataclasses.replace(pre, ratings=None)
        ratings = None
        if spill is not None and return_ratings:  # the caller's dataset gets them back (equal, re-read)
            with timer.stage("dataset's ratings read back") as st:
                spill.restore_dataset(dataset)
                if lent:
                    lent.clear()
                st["rows_out"] = len(dataset.ratings)
        elif spill is not None:  # the caller is done with them: not read, the file goes
            spill.discard()
            if lent:
                lent.clear()
            log.info("dataset's ratings: not read back (return_ratings=False); dataset.ratings is None")
        dataset = None
    # the scorers' own outputs, for the result (those stored in the checkpoint read back now)
    with timer.stage("scorers' final outputs for the result", len(roster)) as st:
        finals = {sc.name: out for sc, out in ((sc, final_output(sc.name)) for sc in roster)
                  if out is not None}
        st["rows_out"] = len(finals)
        st["note"] = f"{len(on_disk)} read back from the checkpoint"
    return ScoringResult(
        config=config, preprocessed=pre, note_topics=nt, pss=pss,
        prescoring_ratings=pre_ratings, final_ratings=fin_ratings, prescoring=prescoring,
        final=finals, note_stats=stats, meta=meta, contributors=contributors, frames=frames,
        timings=timer.to_frame(), participants=participants, epoch_millis=epoch, confidence=conf,
        dataset=dataset, keep=keep,
    )
