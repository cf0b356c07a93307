"""Prescoring of one MF scorer (spec 02 §3; official ``MFBaseScorer._prescore_notes_and_users``).

Sequence (spec 02 §3.1)::

    scoped = filter_input(ratings)                         # 02 §2
    R  = filter_ratings(scoped, rater ≥ 10, note ≥ 5)       # 01 §2
    θ1 = round-1 MF on R (stable init)                      # 01 §5.1
    check round-1 train MSE ≤ 0.16 (≥ 200 notes)            # 01 §8
    S1 = compute_scored_notes(θ1, finalRound=False)         # 03 §4
    V  = valid ratings(scoped, NSH, S1)                     # 01 §3
    H0 = helpfulness(S1, V, R)            (no penalty)      # 03 §3
    h  = harassment tag MF on R ∩ helpful(H0)               # 06 C
    H  = helpfulness(S1, V, R, h)         (with penalty)
    F  = R ∩ helpful(H)
    θ  = MF on F, init θ1 (μ from 0)                        # 01 §5.2
    D  = low-diligence prescoring on F                      # 06 D.5
    T  = tag thresholds (S1 CRH flags, θ factors)           # 03 §5
    U  = user incorrect totals(scoped)                      # 03 §6

The official code calls ``compute_scored_notes`` twice on round-1 parameters
with identical inputs (once before the helpfulness filter, once for the tag
thresholds); cnlab computes it once and uses it for both.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cnlab._columns import take_columns
from cnlab import mf, schema
from cnlab.errors import CnlabInputError
from cnlab.scorers import diligence
from cnlab.scorers.tag_consensus import train_tag_model
from cnlab._timing import StageTimer
from cnlab.scorers.mf_config import ScorerConfig
from cnlab.scorers.outputs import (
    NOTE_MODEL_OUTPUT_COLUMNS,
    RATER_MODEL_OUTPUT_COLUMNS,
    PrescoringMeta,
    PrescoringOutput,
)
from cnlab.scorers.slicing import SliceReport, filter_input_rows
from cnlab.scoring.helpfulness import (
    general_helpfulness_scores,
    helpful_rater_rows,
    rater_helpfulness,
    valid_rater_sums,
    valid_ratings,
)
from cnlab.scoring.incorrect_filter import user_incorrect_ratio
from cnlab.scoring.factors import factor_columns
from cnlab.scoring.scored_notes import compute_scored_notes
from cnlab.scoring.tag_filter import note_tag_aggregates, tag_thresholds

log = logging.getLogger("cnlab")

#: Rating columns prescoring keeps before slicing (spec 02 §2, last paragraph).
PRESCORING_RATING_COLUMNS: tuple[str, ...] = (
    schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM, schema.HELPFULNESS_LEVEL,
    schema.CREATED_AT, *schema.NOT_HELPFUL_TAGS, *schema.HELPFUL_TAGS, schema.RATING_SOURCE,
)

#: What the final round reads of its ratings: the MF fit (helpfulNum) and the low-diligence
#: model's not-helpful tags (spec 02 §3.1, 06 §D.4).
FINAL_ROUND_COLUMNS: tuple[str, ...] = (
    schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM, schema.NOT_HELPFUL_TAG_BITS, *schema.NOT_HELPFUL_TAGS,
)
#: What the last two steps read of the scorer's ratings (tag-filter aggregates, incorrect totals).
NOT_HELPFUL_TAG_COLUMNS: tuple[str, ...] = (
    schema.NOTE_ID, schema.RATER_ID, schema.NOT_HELPFUL_TAG_BITS, *schema.NOT_HELPFUL_TAGS,
)

#: What the steps after the valid ratings read of the prefiltered ratings: the harassment tag
#: model (times, levels, tags), the harassment penalty and the final round (ids, helpfulNum, tags).
TRAINING_TAIL_COLUMNS: tuple[str, ...] = (
    schema.NOTE_ID, schema.RATER_ID, schema.HELPFUL_NUM, schema.CREATED_AT, schema.HELPFULNESS_LEVEL,
    schema.NOT_HELPFUL_TAG_BITS, *schema.NOT_HELPFUL_TAGS,
)

#: Helpfulness columns joined into the rater model output (spec 02 §3.1).
HELPFULNESS_OUTPUT_COLUMNS: tuple[str, ...] = (
    "crhCrnhRatioDifference", "meanNoteScore", "raterAgreeRatio", "aboveHelpfulnessThreshold",
    "successfulRatingHelpfulCount", "successfulRatingNotHelpfulCount",
    "unsuccessfulRatingHelpfulCount", "unsuccessfulRatingNotHelpfulCount",
    "totalHelpfulHarassmentPenalty", "raterAgreeRatioKeyWithHarassmentAbusePenalty",
)


class TrainErrorTooHigh(RuntimeError):
    """Round-1 train MSE above ``maxFirstMFTrainError`` (official aborts the run)."""


def prepare_ratings(ratings: pd.DataFrame, rows: np.ndarray | None = None, *,
                    packed_tags: bool = False, keep_labels: bool = True) -> pd.DataFrame:
    """Unpack tags and keep the prescoring rating columns (those present).

    ``rows`` (positions, e.g. from :func:`cnlab.scorers.slicing.filter_input_rows`) selects
    rows first: the result equals ``prepare_ratings(ratings).iloc[rows]`` (same index labels,
    columns and dtypes) but is built one column at a time, so neither the full-size prepared
    frame nor a full copy of ``ratings`` ever exists.

    With ``packed_tags`` the tags stay in their bit fields (``helpfulTagBits``,
    ``notHelpfulTagBits``: 4 bytes a rating instead of 22 int8 columns) for readers that take
    either form (:func:`cnlab.schema.tag_values`); tags given as columns are kept as columns.
    ``keep_labels=False`` gives a RangeIndex instead of the rows' labels (8 bytes a rating that
    a lean run never reads). A column store with ``take_rows`` (a prescoring worker's
    :class:`cnlab.pipeline.spill.ArrowColumns`) gathers the rows as it reads each column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> r = pd.DataFrame({"noteId": [1, 2, 3], "raterParticipantId": [7, 8, 9],
    ...                   "helpfulNum": [1.0, 0.0, 0.5], "extra": ["a", "b", "c"]})
    >>> prepare_ratings(r, np.array([0, 2])).to_dict("list")
    {'noteId': [1, 3], 'raterParticipantId': [7, 9], 'helpfulNum': [1.0, 0.5]}
    """
    packed = schema.HELPFUL_TAG_BITS in ratings.columns or schema.NOT_HELPFUL_TAG_BITS in ratings.columns
    extra = [c for c in (schema.HIGH_VOLUME_RATER, schema.CORRELATED_RATER) if c in ratings.columns]
    if packed and packed_tags:
        extra += [c for c in (schema.HELPFUL_TAG_BITS, schema.NOT_HELPFUL_TAG_BITS) if c in ratings.columns]
    data: dict[str, Any] = {}
    take_rows = getattr(ratings, "take_rows", None) if rows is not None else None
    for c in (*PRESCORING_RATING_COLUMNS, *extra):
        if c in ratings.columns and take_rows is not None:
            data[c] = take_rows(c, rows)
        elif c in ratings.columns:
            col = ratings[c] if rows is None else ratings[c].iloc[rows]
            # numpy columns as plain arrays (one block per dtype); categoricals & co. keep their dtype
            data[c] = col.to_numpy() if isinstance(col.dtype, np.dtype) and col.dtype != object else col.array
        elif packed and not packed_tags and c in schema.ALL_TAGS:
            src, k = ((schema.HELPFUL_TAG_BITS, schema.HELPFUL_TAGS.index(c)) if c in schema.HELPFUL_TAGS
                      else (schema.NOT_HELPFUL_TAG_BITS, schema.NOT_HELPFUL_TAGS.index(c)))
            if src not in ratings.columns:
                raise KeyError(f"ratings have neither {c!r} nor {src!r}")
            bits = ratings[src].to_numpy()
            data[c] = ((bits if rows is None else bits[rows]) >> k & 1).astype(np.int8)
    n = len(ratings) if rows is None else len(rows)
    index = (pd.RangeIndex(n) if not keep_labels else ratings.index if rows is None else ratings.index[rows])
    return pd.DataFrame(data, index=index, copy=False)


def prefilter(ratings: pd.DataFrame, *, min_ratings_per_rater: int, min_raters_per_note: int) -> pd.DataFrame:
    """:func:`cnlab.preprocess.filter_ratings` (spec 01 §2) with one copy of the kept rows.

    The three count passes run on id arrays and narrow a position array; the rows are copied
    once at the end (the frame version copies the kept rows after each pass). Same rows, order,
    columns and index (reset when rows were dropped; the input itself when none were).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"noteId": [1, 1, 2, 1], "raterParticipantId": [5, 6, 5, 5]})
    >>> prefilter(r, min_ratings_per_rater=2, min_raters_per_note=2).to_dict("list")
    {'noteId': [1, 1], 'raterParticipantId': [5, 5]}
    """
    pos = prefilter_positions(ratings, min_ratings_per_rater=min_ratings_per_rater,
                              min_raters_per_note=min_raters_per_note)
    return ratings if len(pos) == len(ratings) else ratings.iloc[pos].reset_index(drop=True)


def prefilter_positions(ratings: pd.DataFrame, rows: np.ndarray | None = None, *,
                        min_ratings_per_rater: int, min_raters_per_note: int) -> np.ndarray:
    """Positions of the rows :func:`prefilter` keeps (spec 01 §2), of ``ratings.iloc[rows]``.

    ``rows`` (ascending positions; default every row) restricts the counts to those rows, so
    ``ratings.iloc[prefilter_positions(ratings, rows, ...)]`` equals
    ``prefilter(ratings.iloc[rows], ...)`` up to the index, without a copy of the rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> r = pd.DataFrame({"noteId": [1, 1, 2, 1], "raterParticipantId": [5, 6, 5, 5]})
    >>> prefilter_positions(r, min_ratings_per_rater=2, min_raters_per_note=2).tolist()
    [0, 3]
    >>> prefilter_positions(r, np.array([0, 1, 2]), min_ratings_per_rater=1, min_raters_per_note=2).tolist()
    [0, 1]
    """
    pos = np.arange(len(ratings)) if rows is None else np.asarray(rows)
    ids = {nid: ratings[nid].to_numpy() for nid in (schema.NOTE_ID, schema.RATER_ID)}
    for col, minimum in ((schema.NOTE_ID, min_raters_per_note), (schema.RATER_ID, min_ratings_per_rater),
                         (schema.NOTE_ID, min_raters_per_note)):
        if minimum <= 0 or len(pos) == 0:
            continue
        codes, _ = pd.factorize(ids[col][pos], use_na_sentinel=False)  # NaN ids count as one id
        keep = np.bincount(codes)[codes] >= minimum
        del codes
        if not keep.all():
            pos = pos[keep]
    return pos


def _above(h: pd.DataFrame) -> np.ndarray:
    """Rater ids with aboveHelpfulnessThreshold True."""
    col = h["aboveHelpfulnessThreshold"]
    mask = col.fillna(False).astype(bool).to_numpy() if col.dtype != bool else col.to_numpy()
    return h.loc[mask, schema.RATER_ID].to_numpy()


def _first_round_rater_cols(rater_params: pd.DataFrame) -> pd.DataFrame:
    return rater_params[[schema.RATER_ID, schema.RATER_INTERCEPT, schema.RATER_FACTOR1]].rename(
        columns={schema.RATER_INTERCEPT: "internalFirstRoundRaterIntercept",
                 schema.RATER_FACTOR1: "internalFirstRoundRaterFactor1"})


class _TrainingRows:
    """The prefiltered ratings (official ``ratingsForTraining``) as positions into a frame: each
    step gets the columns it reads, gathered when it runs, instead of one copy of every column
    kept beside the scorer's slice (a lean run: 32 bytes a rating through round 1, the round-1
    scored notes, the valid ratings and the tag model). ``rows`` None: every row of ``frame``."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray | None):
        self.frame, self.rows = frame, rows

    def __len__(self) -> int:
        return len(self.frame) if self.rows is None else len(self.rows)

    def positions(self, mask: np.ndarray | None = None) -> np.ndarray | None:
        """Positions in ``frame`` of the training rows (those under ``mask``, a bool array over
        them); None for every row of ``frame``."""
        if mask is None:
            return self.rows
        return np.flatnonzero(mask) if self.rows is None else self.rows[mask]

    def frame_mask(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` over the training rows as a bool mask over ``frame``'s rows."""
        if self.rows is None:
            return np.asarray(mask, dtype=bool)
        out = np.zeros(len(self.frame), dtype=bool)
        out[self.rows[mask]] = True
        return out

    def columns(self, columns, mask: np.ndarray | None = None) -> pd.DataFrame:
        """The training rows' ``columns`` (those present; under ``mask``) as a new frame with a
        RangeIndex, dtypes as stored."""
        return take_columns(self.frame, self.positions(mask), columns)


def _without_weights(result: Any) -> Any:
    """An MF result without its per-rating loss weights (a lean run keeps the parameters only)."""
    if getattr(result, "weights", None) is None:
        return result
    return dataclasses.replace(result, weights=None)


def empty_output(scorer: ScorerConfig) -> PrescoringOutput:
    notes = pd.DataFrame(columns=list(NOTE_MODEL_OUTPUT_COLUMNS))
    raters = pd.DataFrame(columns=list(RATER_MODEL_OUTPUT_COLUMNS))
    return PrescoringOutput(notes, raters, {}, None, {scorer.name: {}})


def fit_round1(ratings: pd.DataFrame, enrollment: pd.DataFrame, scorer: ScorerConfig,
               mf_cfg: Any, seed: int | None) -> Any:
    """Round-1 MF: stable two-pass init (01 §5.1) or a single fresh fit.

    When no note qualifies for the stable initialisation (the official MF aborts), round 1
    starts from random factors with a warning (``ScorerConfig.stable_init_fallback="random"``).

    Raises
    ------
    CnlabInputError
        No note qualifies and ``stable_init_fallback="raise"``; the message names the setting
        that turns the stable initialisation off (``ScorerConfig.use_stable_init``).
    """
    if scorer.use_stable_init:
        try:
            return mf.fit_stable(ratings, enrollment, mf_cfg, seed=seed, initial_group=scorer.stable_init_group)
        except CnlabInputError as exc:
            if scorer.stable_init_fallback == "raise":
                raise CnlabInputError(f"{scorer.name}: {exc}. {stable_init_hint(scorer)}") from exc
            log.warning("%s: %s; round 1 starts from random factors instead (ScorerConfig."
                        "stable_init_fallback='raise' reproduces the official abort)", scorer.name, exc)
    return mf.fit(ratings, mf_cfg, seed=seed)


def stable_init_hint(scorer: ScorerConfig) -> str:
    """How to run ``scorer`` without the stable initialisation (named in its error message)."""
    return (f"To score without it, turn it off for this scorer (ScorerConfig.use_stable_init = False), in "
            f"Python: ScoringConfig(scorers=(dataclasses.replace(cnlab.scorers.mf_config.SCORERS"
            f"[{scorer.name!r}], use_stable_init=False),)); ScorerConfig.stable_init_group "
            f"(now {scorer.stable_init_group}) starts it from another modeling group")


def train_error_ok(result: Any, scorer: ScorerConfig) -> tuple[bool, float]:
    """Spec 01 §8: with ≥ 200 notes the round-1 train MSE must be ≤ 0.16."""
    mse = float(getattr(result, "train_mse", np.nan))
    n_notes = len(result.note_params)
    if n_notes < scorer.min_notes_for_train_error_check:
        return True, mse
    return bool(mse <= scorer.max_first_train_error), mse


@dataclass
class PrescoringSlice:
    """One scorer's rating rows for prescoring, cut from the run's prescoring ratings (spec 02 §2).

    Everything prescoring reads of the ratings after :func:`slice_for_prescoring`: a caller that
    owns the full ratings (a worker process) can release them once the slice is cut. The slice is
    used once: :func:`prescore_slice` takes its tables out (:meth:`take`), so that a caller's
    reference to it does not keep the full-width rows alive while prescoring narrows them.

    Attributes
    ----------
    scoped
        The scorer's ratings, prescoring columns only (:func:`prepare_ratings`, tags packed).
    status_history
        The note status history of the scorer's notes.
    report
        Rows kept at each filter (:class:`~cnlab.scorers.slicing.SliceReport`).
    epoch_millis
        "Now" of the run (given, or the latest rating time of the full ratings).
    """

    scoped: pd.DataFrame | None
    status_history: pd.DataFrame | None
    report: SliceReport
    epoch_millis: int

    def take(self) -> tuple[pd.DataFrame, pd.DataFrame, SliceReport, int]:
        """``(scoped, status_history, report, epoch_millis)``, handed over once (the slice is
        empty afterwards).

        Raises
        ------
        RuntimeError
            The slice was taken before.
        """
        if self.scoped is None:
            raise RuntimeError("this prescoring slice was already used; cut a new one (slice_for_prescoring)")
        out = (self.scoped, self.status_history, self.report, self.epoch_millis)
        self.scoped = self.status_history = None
        return out


def slice_for_prescoring(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
    *,
    note_topics: pd.DataFrame | None = None,
    epoch_millis: int | None = None,
    timer: StageTimer | None = None,
    keep_labels: bool = True,
) -> PrescoringSlice:
    """The "filter input" stage of :func:`prescore`: the scorer's rows and columns, one copy.

    Tags stay packed (4 bytes a rating, not 22): every prescoring step reads either form.
    ``keep_labels=False`` (a lean run) indexes the slice by position instead of the rows'
    labels (:func:`prepare_ratings`).
    """
    timer = timer or StageTimer(prefix=f"{scorer.name} prescoring: ")
    if epoch_millis is None:
        epoch_millis = int(ratings[schema.CREATED_AT].max()) if len(ratings) else 0
    with timer.stage("filter input", len(ratings)) as st:
        # rows first, then one narrow copy of them: the full-size prepared frame never exists
        rows, nsh, rep = filter_input_rows(ratings, status_history, enrollment, scorer, note_topics=note_topics)
        scoped = prepare_ratings(ratings, rows, packed_tags=True, keep_labels=keep_labels)
        del rows
        st["rows_out"] = len(scoped)
        st["note"] = (f"after topic filter {rep.after_topic_filter}, unassigned {rep.unassigned_ratings}, "
                      f"after group filter {rep.after_group_filter}; NSH {rep.nsh_in}->{rep.nsh_out}")
    return PrescoringSlice(scoped, nsh, rep, int(epoch_millis))


def prescore(
    ratings: pd.DataFrame,
    status_history: pd.DataFrame,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
    *,
    note_topics: pd.DataFrame | None = None,
    seed: int | None = None,
    check_train_error: bool = True,
    epoch_millis: int | None = None,
    timer: StageTimer | None = None,
    keep_ratings: bool = True,
) -> PrescoringOutput:
    """Run one scorer's prescoring (spec 02 §3.1).

    Parameters
    ----------
    ratings
        Preprocessed, PSS-coalesced ratings (helpfulNum, tags packed or unpacked).
    status_history
        Note status history (after ``merge_note_info``, with ``classification``).
    enrollment
        User enrollment (participantId codes, modelingGroup).
    scorer
        The scorer (e.g. :data:`cnlab.scorers.mf_config.CORE`).
    note_topics
        noteTopics table (noteId, noteTopic) of assigned notes.
    seed
        Seed of every stochastic fit (official ``--seed``).
    epoch_millis
        "Now" (only used for ``numRatingsLast28`` in the intermediate scored notes);
        default: the latest rating timestamp.
    keep_ratings
        Keep the rating-level tables (``ratings_for_training``, ``valid_ratings``,
        ``final_round_ratings``) in the intermediates; False (a lean run) releases each as soon
        as the next step no longer reads it. The outputs are the same.

    Returns
    -------
    PrescoringOutput
        Note / rater model outputs with the official columns, meta keyed by
        ``scorer.name`` and ``intermediates[scorer.name]`` with every table.
    """
    timer = timer or StageTimer(prefix=f"{scorer.name} prescoring: ")
    sliced = slice_for_prescoring(ratings, status_history, enrollment, scorer, note_topics=note_topics,
                                  epoch_millis=epoch_millis, timer=timer)
    return prescore_slice(sliced, enrollment, scorer, seed=seed, check_train_error=check_train_error,
                          timer=timer, keep_ratings=keep_ratings)


def prescore_slice(
    sliced: PrescoringSlice,
    enrollment: pd.DataFrame,
    scorer: ScorerConfig,
    *,
    seed: int | None = None,
    check_train_error: bool = True,
    timer: StageTimer | None = None,
    keep_ratings: bool = True,
) -> PrescoringOutput:
    """:func:`prescore` after its "filter input" stage (:func:`slice_for_prescoring`); takes the
    slice's tables (:meth:`PrescoringSlice.take`)."""
    timer = timer or StageTimer(prefix=f"{scorer.name} prescoring: ")
    thresholds = scorer.rules()
    mf_cfg = scorer.mf_config()
    inter: dict[str, Any] = {}
    nid, rid = schema.NOTE_ID, schema.RATER_ID
    scoped, nsh, rep, epoch_millis = sliced.take()
    if not keep_ratings and not isinstance(scoped.index, pd.RangeIndex):
        # the rows' labels in the run's ratings (8 B a rating) are read by no step, only by a
        # caller of the kept intermediates
        scoped.index = pd.RangeIndex(len(scoped))
    inter["slice_report"] = rep
    if scoped.empty:
        log.warning("%s: no ratings in scope; empty prescoring output", scorer.name)
        return empty_output(scorer)

    with timer.stage("prefilter (rater>=10, note>=5)", len(scoped)) as st:
        if keep_ratings:  # the frame is kept in the intermediates
            rft_frame = prefilter(scoped, min_ratings_per_rater=scorer.min_ratings_per_rater,
                                  min_raters_per_note=scorer.min_raters_per_note)
            rft = _TrainingRows(rft_frame, None)
        else:
            kept = prefilter_positions(scoped, min_ratings_per_rater=scorer.min_ratings_per_rater,
                                       min_raters_per_note=scorer.min_raters_per_note)
            rft_frame, rft = None, _TrainingRows(scoped, None if len(kept) == len(scoped) else kept)
            del kept
        ids = rft.columns([nid, rid])
        st["rows_out"] = len(rft)
        st["note"] = f"{ids[nid].nunique()} notes, {ids[rid].nunique()} raters"
        del ids
    inter["ratings_for_training"] = rft_frame
    del rft_frame
    if len(rft) == 0:
        log.warning("%s: no ratings after prefilter; empty prescoring output", scorer.name)
        return empty_output(scorer)

    with timer.stage("round-1 MF (stable init)" if scorer.use_stable_init else "round-1 MF",
                     len(rft)) as st:
        round1 = fit_round1(rft.columns([nid, rid, schema.HELPFUL_NUM]), enrollment, scorer, mf_cfg, seed)
        st["rows_out"] = len(round1.note_params)
        st["note"] = f"mu={round1.global_intercept:.5f}, steps={getattr(round1, 'n_steps', '?')}"
    if not keep_ratings:
        round1 = _without_weights(round1)
    inter["round1"] = round1
    ok, mse = train_error_ok(round1, scorer)
    inter["round1_train_mse"] = mse
    if not ok:
        msg = (f"{scorer.name}: round-1 train MSE {mse:.4f} > {scorer.max_first_train_error} "
               f"(spec 01 §8; the official scorer aborts here). To go on with a warning instead: "
               f"ScoringConfig(check_train_error=False) (or dataclasses.replace(config, "
               f"check_train_error=False))")
        if check_train_error:
            raise TrainErrorTooHigh(msg)
        log.warning(msg)

    harass = None
    if scorer.use_reputation:
        with timer.stage("intermediate scored notes (round 1)", len(scoped)) as st:
            sn1 = compute_scored_notes(
                scoped, round1.note_params, round1.rater_params, nsh,
                thresholds=thresholds, final_round=False, tag_thresholds=None,
                epoch_millis=epoch_millis, factor_rule=scorer.factor_rule,
            )
            st["rows_out"] = len(sn1)
            st["note"] = ", ".join(f"{k}={v}" for k, v in
                                  sn1[schema.RATING_STATUS].value_counts().items())
        inter["scored_notes_round1"] = sn1

        with timer.stage("valid ratings", len(scoped)) as st:
            # the helpfulness rule reads the valid ratings' per-rater sums only: a lean run never
            # builds their frame (88 bytes a valid rating; 206M: 2.2 GiB at the worker's peak)
            if keep_ratings:
                valid = valid_ratings(scoped, nsh, sn1)
                rater_sums = rater_helpfulness(valid)
            else:
                valid, rater_sums = None, valid_rater_sums(scoped, nsh, sn1)
            st["rows_out"] = int(rater_sums["ratingCount"].sum())
        inter["valid_ratings"] = valid
        del valid
        # from here on only the not-helpful tags of the scorer's ratings are read, and what the
        # training rows' readers read when they are positions into the slice
        rows_in_slice = rft.frame is scoped
        tail = [*NOT_HELPFUL_TAG_COLUMNS, *(TRAINING_TAIL_COLUMNS if rows_in_slice else ())]
        scoped = scoped[[c for c in dict.fromkeys(tail) if c in scoped.columns]]
        if rows_in_slice:
            rft = _TrainingRows(scoped, rft.rows)
        if rater_sums.empty:
            log.warning("%s: no valid ratings; empty prescoring output", scorer.name)
            return empty_output(scorer)

        with timer.stage("helpfulness (no harassment penalty)", len(rft)) as st:
            h0 = general_helpfulness_scores(sn1, None, thresholds=thresholds, ratings_for_training=None,
                                            harassment_note_params=None, status_history=nsh,
                                            rater_sums=rater_sums)
            # the tag model reads the helpful raters' rows of the slice through this mask, not a
            # copy of them (206M: ~2.8 GiB beside the model's own set-up, the worker's peak)
            helpful0 = helpful_rater_rows(rft.columns([rid]), h0)
            st["rows_out"] = int(helpful0.sum())
            st["note"] = f"{len(h0)} people scored, {int(len(_above(h0)))} above threshold"
        inter["helpfulness_pre_harassment"] = h0

        with timer.stage("harassment tag model", int(helpful0.sum())) as st:
            harass = train_tag_model(
                rft.frame, rows=rft.frame_mask(helpful0), tag=schema.HARASSMENT_TAG, note_init=round1.note_params,
                rater_init=round1.rater_params, seed=seed, name="harassment",
            )
            st["rows_out"] = len(harass)
        inter["harassment"] = harass
        del helpful0

        with timer.stage("helpfulness (with harassment penalty)", len(rft)) as st:
            h = general_helpfulness_scores(sn1, None, thresholds=thresholds,
                                           ratings_for_training=rft.columns([nid, rid, schema.HELPFUL_NUM]),
                                           harassment_note_params=harass, status_history=nsh,
                                           rater_sums=rater_sums)
            # filter_ratings_by_helpfulness(ratingsForTraining, h, columns=FINAL_ROUND_COLUMNS)
            frr = rft.columns(FINAL_ROUND_COLUMNS, mask=helpful_rater_rows(rft.columns([rid]), h))
            st["rows_out"] = len(frr)
            st["note"] = f"{int(len(_above(h)))} above threshold, {frr[rid].nunique()} raters in final round"
        inter["helpfulness"] = h
        del rater_sums, rft  # the final round reads the helpful raters' ratings only
        if not keep_ratings:
            scoped = scoped[[c for c in NOT_HELPFUL_TAG_COLUMNS if c in scoped.columns]]
        if frr.empty:  # the official MF aborts on zero ratings; nothing left to fit here
            log.warning("%s: no rater above the helpfulness threshold, no final-round ratings; empty "
                        "prescoring output", scorer.name)
            return empty_output(scorer)

        with timer.stage("final-round MF", len(frr)) as st:
            # the fit reads its three columns by name: no narrower copy of the rows
            final = mf.fit(frr, mf_cfg, seed=seed,
                           note_init=round1.note_params, rater_init=round1.rater_params,
                           global_init=None)
            st["rows_out"] = len(final.note_params)
            st["note"] = f"mu={final.global_intercept:.5f}, steps={getattr(final, 'n_steps', '?')}"
    else:
        sn1 = None
        h = pd.DataFrame({rid: round1.rater_params[rid]})
        for c in HELPFULNESS_OUTPUT_COLUMNS:
            h[c] = np.nan
        frr = rft.frame if keep_ratings else rft.columns(FINAL_ROUND_COLUMNS)
        final = round1
        del rft
    inter["final_round_ratings"] = frr if keep_ratings else None
    inter["final"] = final if keep_ratings else _without_weights(final)

    frr_counts = (int(len(frr)), int(frr[nid].nunique()), int(frr[rid].nunique()))
    with timer.stage("low-diligence prescoring", len(frr)) as st:
        # the model's arrays (12 bytes a rating) first; a lean run lets the rows (18) go before
        # the fit
        dil_data = diligence.rating_data(frr)
        if not keep_ratings:
            del frr
        dil = diligence.fit_prescoring(dil_data, final.rater_params[[rid, schema.RATER_FACTOR1]], seed=seed)
        del dil_data
        st["rows_out"] = len(dil.note_params)
    inter["diligence"] = dil

    # k-factor runs keep axes 2..k (internalNoteFactor2 …) after the official columns
    nf_cols = factor_columns(final.note_params, schema.NOTE_FACTOR1)
    rf_cols = factor_columns(final.rater_params, schema.RATER_FACTOR1)
    note_out = final.note_params[[nid, schema.NOTE_INTERCEPT, *nf_cols]].merge(
        dil.note_params, on=nid, how="inner")
    if harass is not None:
        note_out = note_out.merge(harass, on=nid, how="left")
    rater_out = final.rater_params[[rid, schema.RATER_INTERCEPT, *rf_cols]].merge(
        dil.rater_params, on=rid, how="inner")

    tag_thr: dict[str, float] = {}
    if sn1 is None:
        # Scorers without reputation filtering (topic scorers) still compute the round-1 scored
        # notes for the tag thresholds (spec 02 §3.1: scoredNotesT is outside that branch).
        with timer.stage("intermediate scored notes (round 1, for tag thresholds)", len(scoped)) as st:
            sn1 = compute_scored_notes(
                scoped, round1.note_params, round1.rater_params, nsh,
                thresholds=thresholds, final_round=False, tag_thresholds=None,
                epoch_millis=epoch_millis, factor_rule=scorer.factor_rule,
            )
            st["rows_out"] = len(sn1)
        inter["scored_notes_round1"] = sn1
    if sn1 is not None:
        with timer.stage("tag-filter thresholds", len(scoped)) as st:
            # tag weights from the final-round factors; CRH flags from round-1 labels (02 §3.2)
            aggs = note_tag_aggregates(scoped, final.note_params, final.rater_params,
                                       factor_rule=scorer.factor_rule)
            crh_ids = sn1.loc[sn1[schema.RATING_STATUS] == schema.CRH, nid]
            tag_thr = tag_thresholds(aggs, crh_ids, percentile=thresholds.tag_filter_percentile)
            st["rows_out"] = len(tag_thr)

    with timer.stage("user incorrect totals", len(scoped)) as st:
        user_incorrect = user_incorrect_ratio(scoped)
        st["rows_out"] = len(user_incorrect)

    hcols = [c for c in HELPFULNESS_OUTPUT_COLUMNS if c in h.columns]
    rater_out = rater_out.merge(h[[rid, *hcols]], on=rid, how="outer")
    rater_out = rater_out.merge(user_incorrect, on=rid, how="left")
    rater_out = rater_out.merge(_first_round_rater_cols(round1.rater_params), on=rid, how="left")
    rater_out["scorerName"] = scorer.name
    note_out["scorerName"] = scorer.name
    note_out = note_out.reindex(columns=[*NOTE_MODEL_OUTPUT_COLUMNS, *nf_cols[1:]])
    rater_out = rater_out.reindex(columns=[*RATER_MODEL_OUTPUT_COLUMNS, *rf_cols[1:]])

    g = dil.global_intercepts
    meta = PrescoringMeta(
        # official: None (NaN here) for a model without global intercept (InDimensionTwo)
        global_intercept=float(final.global_intercept) if mf_cfg.use_global_intercept else float("nan"),
        low_diligence_global_intercept=(float(g.first_round), float(g.second_round),
                                        float(g.final_round)),
        tag_filtering_thresholds=tag_thr,
        final_round_num_ratings=frr_counts[0],
        final_round_num_notes=frr_counts[1],
        final_round_num_users=frr_counts[2],
    )
    inter["timings"] = timer.to_frame()
    return PrescoringOutput(note_out, rater_out, {scorer.name: meta}, None, {scorer.name: inter})


def combine(outputs: list[PrescoringOutput], pss: pd.DataFrame | None = None) -> PrescoringOutput:
    """Concatenate several scorers' prescoring outputs; append the PSS rows (spec 04 §8.4)."""
    note_frames = [o.note_model_output for o in outputs if len(o.note_model_output)]
    # every scorer empty (no ratings in any scope): an empty frame of the official columns
    notes = pd.concat(note_frames, ignore_index=True) if note_frames else pd.DataFrame(
        columns=list(NOTE_MODEL_OUTPUT_COLUMNS))
    raters = [o.rater_model_output for o in outputs if len(o.rater_model_output)]
    if pss is not None and len(pss):
        raters.append(pss.reindex(columns=list(RATER_MODEL_OUTPUT_COLUMNS)))
    raters_df = pd.concat(raters, ignore_index=True) if raters else pd.DataFrame(
        columns=list(RATER_MODEL_OUTPUT_COLUMNS))
    meta: dict[str, PrescoringMeta] = {}
    inter: dict[str, Any] = {}
    for o in outputs:
        meta.update(o.meta)
        inter.update(o.intermediates)
    return PrescoringOutput(notes, raters_df, meta, pss, inter)
