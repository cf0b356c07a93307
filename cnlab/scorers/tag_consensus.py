"""Tag-consensus matrix factorisation: the harassment/abuse model (spec 06 §C).

Inside every reputation-using MF prescorer, after the pre-penalty helpfulness
scores, a BCE-with-logits MF is fitted on a 0/1 label derived from one
not-helpful tag (``notHelpfulSpamHarassmentOrAbuse`` in production).  Its note
intercept (logit units) drives the rater penalty of spec 03 §3: every helpful
rating on a note with ``harassmentNoteIntercept ≥ 2.0`` costs the rater
``10 × intercept / 2``.

Procedure (§C.1–C.5):

1. ratings: the scorer's training ratings restricted by the caller to raters
   with ``aboveHelpfulnessThreshold`` (pre-harassment);
2. keep ratings with ``createdAtMillis ≥ 1639699200000`` (2021-12-17 UTC); label
   0 if ``helpfulnessLevel == HELPFUL``, 0 if ``notHelpfulOther == 1``, then 1 if
   the tag is 1 (overrides); unlabeled ratings are dropped; then
   ``filter_ratings`` (notes ≥ 5 → raters ≥ 10 → notes ≥ 5, one pass);
3. ``posRate`` = mean label; no data or posRate ∈ {0, 1, NaN} ⇒ all-NaN output;
4. :func:`cnlab.mf.fit` with ``loss="bce"``, ``pos_weight = (1 − posRate)/posRate``,
   initial learning rate 2.0, other MF defaults, initialised from the scorer's
   first-round params with intercepts 0 and factors × 2 (global starts at 0);
5. output ``harassmentNoteIntercept``, ``harassmentNoteFactor1`` (+ rater params).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema

#: ``prepare_tag_data`` keeps ratings created at or after this instant (2021-12-17 00:00 UTC).
TAG_RATING_CUTOFF_MILLIS = 1639699200000
#: ``filter_ratings`` thresholds used on the labeled ratings (official defaults).
MIN_RATERS_PER_NOTE = 5
MIN_RATINGS_PER_RATER = 10
#: ``initLearningRate`` of the tag-consensus MF.
TAG_INIT_LEARNING_RATE = 2.0
#: Round-1 factors are multiplied by this to initialise the tag MF (intercepts are zeroed).
INIT_FACTOR_MULTIPLIER = 2.0

OTHER_TAG = "notHelpfulOther"


def label_column(tag: str) -> str:
    """Name of the label column (official: ``<tag>Label``)."""
    return f"{tag}Label"


@dataclass(frozen=True)
class TagModelResult:
    """Everything :func:`train_tag_model_detailed` computes."""

    note_params: pd.DataFrame
    """noteId, <name>NoteIntercept, <name>NoteFactor1 (all NaN when the guard fired)."""
    rater_params: pd.DataFrame
    """raterParticipantId, <name>RaterIntercept, <name>RaterFactor1."""
    global_intercept: float
    pos_rate: float
    """Share of positive labels after filtering (NaN without data)."""
    n_labeled: int
    """Labeled ratings before ``filter_ratings``."""
    n_train: int
    """Ratings the MF was fitted on."""
    skipped_reason: str | None
    """Why no MF was fitted (``"no data"``, ``"posRate 0"`` …), else None."""
    mf_result: Any = field(default=None, repr=False)
    """The engine's ``MFResult`` (None when skipped)."""

    def summary(self) -> str:
        if self.skipped_reason is not None:
            return f"Tag-consensus model skipped ({self.skipped_reason}); {self.n_labeled} labeled ratings."
        cols = [c for c in self.note_params.columns if c.endswith("NoteIntercept")]
        ni = self.note_params[cols[0]]
        return (
            f"Tag-consensus model: {self.n_train} ratings ({self.n_labeled} labeled before filtering), "
            f"{len(self.note_params)} notes, {len(self.rater_params)} raters, posRate {self.pos_rate:.4f}, "
            f"pos_weight {(1 - self.pos_rate) / self.pos_rate:.3f}, global {self.global_intercept:.4f}; "
            f"notes with intercept >= 2.0: {int((ni >= 2.0).sum())}"
        )


def prepare_tag_data(ratings: pd.DataFrame, tag: str = schema.HARASSMENT_TAG, *,
                     rows: np.ndarray | None = None) -> pd.DataFrame:
    """Labeled ratings of spec 06 §C.2 (before ``filter_ratings``).

    Returns noteId, raterParticipantId and ``<tag>Label`` (float32 0/1) for the
    ratings created on/after 2021-12-17 that get a label: 0 for HELPFUL, 0 for
    ``notHelpfulOther``, 1 when ``tag`` is set (overriding the zeros). ``rows``
    (a bool mask over ``ratings``) limits them to those rows, in their order: the
    labeled ratings of ``ratings[rows]`` without that frame's copy.
    """
    schema.require_columns(
        ratings, [schema.NOTE_ID, schema.RATER_ID, schema.CREATED_AT, schema.HELPFULNESS_LEVEL], where="tag model"
    )
    recent = ratings[schema.CREATED_AT].to_numpy(dtype=np.int64) >= TAG_RATING_CUTOFF_MILLIS
    # compared on the column itself (a categorical's codes), not on an object copy of it
    helpful = (ratings[schema.HELPFULNESS_LEVEL] == schema.HELPFUL).to_numpy(dtype=bool, na_value=False)
    label = np.full(len(ratings), np.nan, dtype=np.float32)  # 0/1/NaN: exact in float32
    label[helpful] = 0.0
    del helpful
    label[schema.tag_values(ratings, OTHER_TAG) == 1] = 0.0
    label[schema.tag_values(ratings, tag) == 1] = 1.0
    keep = recent & ~np.isnan(label)
    if rows is not None:
        keep &= np.asarray(rows, dtype=bool)
    out = pd.DataFrame(
        {
            schema.NOTE_ID: ratings[schema.NOTE_ID].to_numpy()[keep],
            schema.RATER_ID: ratings[schema.RATER_ID].to_numpy()[keep],
            label_column(tag): label[keep],
        }
    )
    return out


def _filter_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Spec 01 §2 prefilter; the loader's :func:`cnlab.preprocess.filter_ratings` when available."""
    try:
        from cnlab.preprocess import filter_ratings
    except ImportError:
        filter_ratings = None
    if filter_ratings is not None:
        return filter_ratings(
            ratings, min_ratings_per_rater=MIN_RATINGS_PER_RATER, min_raters_per_note=MIN_RATERS_PER_NOTE
        )
    # Stand-in until cnlab.preprocess exists: notes ≥ 5 → raters ≥ 10 → notes ≥ 5, one pass.
    out = ratings
    for col, minimum in (
        (schema.NOTE_ID, MIN_RATERS_PER_NOTE),
        (schema.RATER_ID, MIN_RATINGS_PER_RATER),
        (schema.NOTE_ID, MIN_RATERS_PER_NOTE),
    ):
        counts = out[col].map(out[col].value_counts())
        out = out[counts.to_numpy() >= minimum]
    return out


def _names(name: str) -> tuple[str, str, str, str]:
    return (f"{name}NoteIntercept", f"{name}NoteFactor1", f"{name}RaterIntercept", f"{name}RaterFactor1")


def _empty(note_ids, rater_ids, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ni, nf, ri, rf = _names(name)
    notes = pd.DataFrame({schema.NOTE_ID: pd.unique(np.asarray(note_ids))})
    notes[ni] = np.nan
    notes[nf] = np.nan
    raters = pd.DataFrame({schema.RATER_ID: pd.unique(np.asarray(rater_ids))})
    raters[ri] = np.nan
    raters[rf] = np.nan
    return notes, raters


def _init_frame(frame: pd.DataFrame | None, id_col: str, icol: str, prefix: str) -> pd.DataFrame | None:
    """First-round params with intercepts 0 and factors × 2 (spec 06 §C.4)."""
    if frame is None:
        return None
    fcols = [c for c in frame.columns if c.startswith(prefix)]
    if not fcols:
        raise schema.SchemaError(f"tag model init: no {prefix}k columns")
    out = pd.DataFrame({id_col: frame[id_col].to_numpy()})
    out[icol] = np.float32(0.0)
    for c in fcols:
        out[c] = frame[c].to_numpy(dtype=np.float32) * np.float32(INIT_FACTOR_MULTIPLIER)
    return out


def train_tag_model_detailed(
    ratings: pd.DataFrame,
    *,
    tag: str = schema.HARASSMENT_TAG,
    note_init: pd.DataFrame | None,
    rater_init: pd.DataFrame | None,
    seed: int | None = None,
    name: str = "harassment",
    config=None,
    rows: np.ndarray | None = None,
) -> TagModelResult:
    """Tag-consensus MF with diagnostics (spec 06 §C).

    Parameters
    ----------
    ratings
        The scorer's training ratings of helpful raters: noteId,
        raterParticipantId, createdAtMillis, helpfulnessLevel, the tag and
        ``notHelpfulOther`` (int8 columns or packed ``notHelpfulTagBits``).
    tag
        The not-helpful tag to model.
    note_init, rater_init
        The scorer's first-round MF params (noteId + internalNoteIntercept +
        internalNoteFactor1..k; raterParticipantId + internalRaterIntercept +
        internalRaterFactor1..k).  Intercepts are replaced by 0, factors doubled.
    seed
        Passed to the engine (only matters for notes/raters without init when
        an init frame is None).
    name
        Output column prefix (official ``name="harassment"``).
    config
        Base :class:`cnlab.mf.config.MFConfig`; default ``TAG_CONSENSUS_MF``
        (BCE, initLearningRate 2.0).  ``pos_weight`` is always set from the data.
    rows
        Optional bool mask over ``ratings``: the model sees ``ratings[rows]``
        (the helpful raters' ratings, spec 06 §C.1) without that frame being
        copied (206M ratings: ~29 bytes a row of the scorer's slice).
    """
    labeled = prepare_tag_data(ratings, tag, rows=rows)
    label = label_column(tag)
    train = _filter_ratings(labeled)
    n_labeled = len(labeled)
    del labeled  # not read again: its rows are not held beside the fit's copies
    pos_rate = float(train[label].mean()) if len(train) else float("nan")
    reason = None
    if len(train) == 0:
        reason = "no data"
    elif not np.isfinite(pos_rate):
        reason = "posRate NaN"
    elif pos_rate in (0.0, 1.0):
        reason = f"posRate {pos_rate:g}"
    if reason is not None:
        sel = slice(None) if rows is None else np.asarray(rows, dtype=bool)
        notes, raters = _empty(ratings[schema.NOTE_ID].to_numpy()[sel], ratings[schema.RATER_ID].to_numpy()[sel],
                               name)
        return TagModelResult(notes, raters, float("nan"), pos_rate, n_labeled, 0, reason)

    from cnlab.mf import fit
    from cnlab.mf.config import TAG_CONSENSUS_MF

    base = TAG_CONSENSUS_MF if config is None else config
    cfg = base.replace(loss="bce", init_lr=TAG_INIT_LEARNING_RATE, pos_weight=(1.0 - pos_rate) / pos_rate)
    result = fit(
        train,
        cfg,
        seed=seed,
        note_init=_init_frame(note_init, schema.NOTE_ID, schema.NOTE_INTERCEPT, "internalNoteFactor"),
        rater_init=_init_frame(rater_init, schema.RATER_ID, schema.RATER_INTERCEPT, "internalRaterFactor"),
        label_col=label,
    )
    ni, nf, ri, rf = _names(name)
    notes = pd.DataFrame(
        {
            schema.NOTE_ID: result.note_params[schema.NOTE_ID].to_numpy(),
            ni: result.note_params[schema.NOTE_INTERCEPT].to_numpy(),
            nf: result.note_params[schema.NOTE_FACTOR1].to_numpy(),
        }
    )
    raters = pd.DataFrame(
        {
            schema.RATER_ID: result.rater_params[schema.RATER_ID].to_numpy(),
            ri: result.rater_params[schema.RATER_INTERCEPT].to_numpy(),
            rf: result.rater_params[schema.RATER_FACTOR1].to_numpy(),
        }
    )
    g = result.global_intercept
    return TagModelResult(
        notes,
        raters,
        float("nan") if g is None else float(g),
        pos_rate,
        n_labeled,
        len(train),
        None,
        result,
    )


def train_tag_model(
    ratings: pd.DataFrame,
    *,
    tag: str = schema.HARASSMENT_TAG,
    note_init: pd.DataFrame | None,
    rater_init: pd.DataFrame | None,
    seed: int | None = None,
    name: str = "harassment",
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Note params of the tag-consensus model: noteId, harassmentNoteIntercept, harassmentNoteFactor1.

    See :func:`train_tag_model_detailed` (which also returns rater params and diagnostics).
    """
    return train_tag_model_detailed(
        ratings, tag=tag, note_init=note_init, rater_init=rater_init, seed=seed, name=name, rows=rows
    ).note_params


__all__ = [
    "TAG_RATING_CUTOFF_MILLIS",
    "TagModelResult",
    "label_column",
    "prepare_tag_data",
    "train_tag_model",
    "train_tag_model_detailed",
]
