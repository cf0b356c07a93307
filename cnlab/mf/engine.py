"""``fit`` and ``fit_stable``: the official MF procedure (spec 01 §4–§9) on top of the TF loop
(:mod:`cnlab.mf._tf_loop`) or the exact solver (:mod:`cnlab.mf.exact`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.errors import CnlabInputError

from ._common import (
    Params,
    TrainData,
    data_loss_terms,
    flip_sign,
    init_params,
    normalized_loss_weights,
    note_cols,
    predict_raw,
    prepare,
    rater_cols,
    reg_coeffs,
    squared_errors,
)
from .config import MFConfig
from .result import MFResult

FREEZE_KEYS = frozenset({"raters", "global", "notes"})


def _rng(seed):
    """NumPy Generator for the Xavier draws.  PyTorch's ``manual_seed`` stream cannot be
    reproduced, so a given seed gives cnlab-specific (but repeatable) initial factors."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _run(data: TrainData, p0: Params, trainable, cfg: MFConfig, lr: float, solver: str, reinit, dd_cache):
    if solver == "exact":
        from .exact import solve_exact

        return solve_exact(data, p0, trainable, cfg)
    from . import _tf_loop

    key = id(data.w) if data.w is not None else None
    if dd_cache.get("key", "unset") != key:
        dd_cache["dd"] = _tf_loop.DeviceData(data)
        dd_cache["key"] = key
    coeffs = reg_coeffs(cfg, data.N, data.M, data.U)
    return _tf_loop.run_loop(dd_cache["dd"], p0, trainable, cfg, coeffs, lr, reinit)


def _frames(data: TrainData, p: Params, k: int):
    notes = pd.DataFrame({schema.NOTE_ID: data.note_ids, schema.NOTE_INTERCEPT: p.ni.astype(np.float32)})
    for j, c in enumerate(note_cols(k)):
        notes[c] = p.nf[:, j].astype(np.float32)
    raters = pd.DataFrame({schema.RATER_ID: data.rater_ids, schema.RATER_INTERCEPT: p.ri.astype(np.float32)})
    for j, c in enumerate(rater_cols(k)):
        raters[c] = p.rf[:, j].astype(np.float32)
    return notes, raters


def fit(
    ratings: pd.DataFrame,
    config: MFConfig = MFConfig(),
    *,
    seed=None,
    note_init: pd.DataFrame | None = None,
    rater_init: pd.DataFrame | None = None,
    global_init: float | None = None,
    freeze: Iterable[str] = (),
    label_col: str = schema.HELPFUL_NUM,
    weights=None,
    solver: str | None = None,
    _extra_rater_ids=None,
) -> MFResult:
    """Fit the biased MF model r̂ = μ + i_u + i_n + f_u·f_n (spec 01 §4–§9).

    Parameters
    ----------
    ratings
        Training ratings with noteId, raterParticipantId and ``label_col`` (no NaNs).
    config
        :class:`~cnlab.mf.config.MFConfig` (loss, lambdas, ρ, learning rates, flip, solver...).
    seed
        Seed (or ``np.random.Generator``) for the Xavier draws.  None = fresh entropy, as production.
        cnlab cannot reproduce torch's random stream: same seed ⇒ same cnlab result only.
    note_init, rater_init, global_init
        Warm start (spec 01 §5): frames with noteId + internalNoteIntercept + internalNoteFactor1..k
        / raterParticipantId + internalRaterIntercept + internalRaterFactor1..k; notes/raters missing
        from a given frame start at exactly 0 intercept and 0 factor.  Learning rate =
        ``init_lr`` iff both frames are given, else ``no_init_lr``.
    freeze
        Subset of {"raters", "global", "notes"}: no gradient, excluded from clipping, not updated.
    weights
        Optional per-rating weights: data term = mean(w·loss) (normalised by N, as the official
        ``NormalizedLoss`` module).  With ``config.normalized_loss`` the computed weights are
        multiplied onto these.
    solver
        "official" (Adam loop with the official stopping rule) or "exact"; default ``config.solver``.

    Returns
    -------
    MFResult
    """
    solver = solver or config.solver
    if solver not in ("official", "exact"):
        raise ValueError(f"solver must be 'official' or 'exact', got {solver!r}")
    freeze = frozenset(freeze)
    if not freeze <= FREEZE_KEYS:
        raise ValueError(f"freeze must be a subset of {sorted(FREEZE_KEYS)}, got {sorted(freeze)}")
    cfg = config
    k = cfg.n_factors
    rng = _rng(seed)
    data = prepare(ratings, label_col, weights, extra_rater_ids=_extra_rater_ids)
    p0 = init_params(data, k, rng, note_init, rater_init, global_init)
    both = note_init is not None and rater_init is not None
    lr = cfg.init_lr if both else cfg.no_init_lr
    trainable = ("notes" not in freeze, "raters" not in freeze, "global" not in freeze)
    dd_cache: dict = {}

    def reinit_from(n_init, r_init, g_init):
        def _re():
            # spec 01 §7: re-create the model from the stored inits; not re-frozen (official quirk)
            p = init_params(data, k, rng, n_init, r_init, g_init)
            return p, ((True, True, True) if cfg.nan_restart_unfreezes else trainable)

        return _re

    out = _run(data, p0, trainable, cfg, lr, solver, reinit_from(note_init, rater_init, global_init), dd_cache)
    first = None
    used_w = data.w
    if cfg.normalized_loss is not None:
        # spec 01 §9: weights from the first fit's rater factors (flipped iff flip is on), then a
        # second fit with notes re-initialised (fresh Xavier, zero intercepts), μ from 0,
        # raters from the call's rater_init, lr = no_init_lr, nothing frozen.
        p1 = flip_sign(out.params) if cfg.flip_factors else out.params
        first = _assemble(data, out, p1, cfg, seed, solver, lr, None, None)
        w = normalized_loss_weights(data, p1.rf[:, 0], cfg.normalized_loss)
        if data.w is not None:
            w = (w * data.w).astype(np.float32)
        data2 = data.with_weights(w)
        used_w = w
        p2 = init_params(data2, k, rng, None, rater_init, None)
        lr = cfg.no_init_lr
        out = _run(data2, p2, (True, True, True), cfg, lr, solver, reinit_from(None, rater_init, None), dd_cache)
        data = data2
    p = flip_sign(out.params) if cfg.flip_factors else out.params
    res = _assemble(data, out, p, cfg, seed, solver, lr, first,
                    data.in_input_order(used_w) if cfg.normalized_loss else None)
    return res


def _assemble(data, out, p, cfg, seed, solver, lr, first, weights):
    notes, raters = _frames(data, p, cfg.n_factors)
    # one rating-sized float64 buffer throughout: the loss terms overwrite the predictions, and a
    # BCE fit predicts again for its probabilities (the same values as from separate arrays)
    buf = predict_raw(data, p, cfg.use_global_intercept)
    train_loss = float(np.mean(data_loss_terms(buf, data.y, cfg.loss, cfg.pos_weight, out=buf)))
    if cfg.loss == "bce":
        pred = predict_raw(data, p, cfg.use_global_intercept, out=buf)
        np.negative(pred, out=pred)  # pred becomes the probability in place (one array, not four)
        np.exp(pred, out=pred)
        pred += 1.0
        np.divide(1.0, pred, out=pred)
        mse = float(np.mean(squared_errors(pred, data.y, out=pred)))
    else:
        mse = train_loss  # the same squared errors, the same mean
    del buf
    return MFResult(
        note_params=notes,
        rater_params=raters,
        global_intercept=float(p.mu),
        loss_history=out.history,
        n_steps=int(out.n_steps),
        stop_reason=out.stop_reason,
        train_mse=mse,
        config=cfg,
        seed=seed,
        solver=solver,
        train_loss=train_loss,
        final_loss=float(out.history[-1]),
        learning_rate=float(lr),
        n_restarts=int(out.n_restarts),
        first_fit=first,
        weights=weights,
    )


def stable_init_ratings(
    ratings: pd.DataFrame,
    enrollment: pd.DataFrame,
    *,
    initial_group: int = 13,
    min_share: float = 0.75,
    min_ratings: int = 5,
) -> pd.DataFrame:
    """The subset the stable initialisation is fitted on (spec 01 §5.1 steps 1–3; official
    ``get_ratings_for_stable_init``), in input row order.

    Ratings inner-joined with enrollment; per note, the count of joined ratings and the share
    from ``initial_group``; kept: ratings from ``initial_group`` on notes with share ≥
    ``min_share`` and count ≥ ``min_ratings``.  An empty subset raises
    :class:`~cnlab.errors.CnlabInputError` (the official MF aborts on it).

    The join is a lookup of each rating's rater in the enrollment (a block of ratings at a time)
    and the per-note counts are counts of note codes: the rows of the merge and groupby of the
    frames, without their rating-sized copies (five columns of the joined frame at 206M ratings:
    the prescoring worker's peak). Enrollment with a repeated participant, which the join would
    repeat ratings for, takes the frame path.
    """
    schema.require_columns(enrollment, [schema.PARTICIPANT_ID, schema.MODELING_GROUP], where="stable init enrollment")
    sub_pos = _stable_init_positions(ratings, enrollment, initial_group, min_share, min_ratings)
    if len(sub_pos) == 0:
        raise CnlabInputError(
            f"stable initialisation: no notes with >= {min_share:.0%} of >= {min_ratings} ratings from "
            f"modeling group {initial_group} (the official code aborts here)"
        )
    return ratings.iloc[sub_pos]


#: Ratings looked up in the enrollment at a time by :func:`stable_init_ratings` (a memory bound
#: only: the rows do not depend on it).
LOOKUP_BLOCK = 1 << 24


def _stable_init_positions(ratings, enrollment, initial_group, min_share, min_ratings) -> np.ndarray:
    """Increasing positions of :func:`stable_init_ratings`' rows in ``ratings``."""
    participants = pd.Index(enrollment[schema.PARTICIPANT_ID])
    if len(participants) == 0:
        return np.zeros(0, dtype=np.intp)
    if not participants.is_unique:
        return _stable_init_positions_by_merge(ratings, enrollment, initial_group, min_share, min_ratings)
    in_group_of = (enrollment[schema.MODELING_GROUP] == initial_group).to_numpy(dtype=bool, na_value=False)
    raters = ratings[schema.RATER_ID].to_numpy()
    joined = np.empty(len(raters), dtype=bool)
    flag = np.empty(len(raters), dtype=bool)
    for lo in range(0, len(raters), LOOKUP_BLOCK):
        at = participants.get_indexer(raters[lo:lo + LOOKUP_BLOCK])
        joined[lo:lo + len(at)] = at >= 0
        flag[lo:lo + len(at)] = in_group_of[at] & (at >= 0)
        del at
    notes, _ = pd.factorize(ratings[schema.NOTE_ID])  # a NaN note: -1, no group (as groupby drops it)
    known = notes >= 0
    joined &= known
    flag &= known
    size = np.bincount(notes[joined], minlength=max(int(notes.max(initial=-1)) + 1, 1))
    in_group = np.bincount(notes[flag], minlength=len(size))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = in_group / size  # the groupby's mean of the 0/1 flags (exact sums)
    ok_note = (share >= min_share) & (size >= min_ratings)
    flag &= ok_note[np.where(known, notes, 0)]
    return np.flatnonzero(flag)


def _stable_init_positions_by_merge(ratings, enrollment, initial_group, min_share, min_ratings) -> np.ndarray:
    """:func:`_stable_init_positions` as the merge and groupby of the frames (an enrollment that
    repeats a participant repeats that rater's ratings in the join)."""
    enr = enrollment[[schema.PARTICIPANT_ID, schema.MODELING_GROUP]].rename(
        columns={schema.PARTICIPANT_ID: schema.RATER_ID}
    )
    j = ratings[[schema.NOTE_ID, schema.RATER_ID]].reset_index(drop=True)
    j["_pos"] = np.arange(len(j))
    j = j.merge(enr, on=schema.RATER_ID, how="inner")
    j["_flag"] = (j[schema.MODELING_GROUP] == initial_group).to_numpy(dtype=bool, na_value=False)
    per_note = j.groupby(schema.NOTE_ID, sort=False)["_flag"].agg(["size", "mean"])
    ok_notes = per_note.index[(per_note["mean"] >= min_share) & (per_note["size"] >= min_ratings)]
    return np.sort(j.loc[j["_flag"] & j[schema.NOTE_ID].isin(ok_notes), "_pos"].to_numpy())


def fit_stable(
    ratings: pd.DataFrame,
    enrollment: pd.DataFrame,
    config: MFConfig = MFConfig(),
    *,
    seed=None,
    initial_group: int = 13,
    min_share: float = 0.75,
    min_ratings: int = 5,
    label_col: str = schema.HELPFUL_NUM,
    solver: str | None = None,
) -> MFResult:
    """Two-pass "stable initialisation" (spec 01 §5.1, ``_run_stable_matrix_factorization``).

    1. Inner-join ratings with enrollment (participantId → raterParticipantId, modelingGroup).
    2. Per note: count of joined ratings and share of ratings from ``initial_group`` (13).
    3. Subset = ratings from the initial group on notes with share ≥ ``min_share`` (0.75) and
       count ≥ ``min_ratings`` (5); empty subset → error (the official code aborts).
    4. Fresh fit on the subset with no diamond term, no normalized loss, no ρ, flip on, lr =
       ``no_init_lr``.  The official fit is unseeded (global torch stream); cnlab derives its seed
       from ``seed`` (a child of ``SeedSequence(seed)``) so the whole call is repeatable.
    5. Full fit of ``config`` on all ratings from the subset parameters (notes, raters, μ).

    Returns the final :class:`MFResult` with the subset fit in ``.stable_init``.
    """
    sub = stable_init_ratings(ratings, enrollment, initial_group=initial_group, min_share=min_share,
                              min_ratings=min_ratings)
    if seed is None or isinstance(seed, np.random.Generator):
        sub_seed, main_seed = seed, seed
    else:
        ss = np.random.SeedSequence(seed)
        sub_seed = np.random.default_rng(ss.spawn(1)[0])
        main_seed = seed
    sub_cfg = dataclasses.replace(
        config,
        diamond_lambda=0.0,
        normalized_loss=None,
        rating_per_note_loss_ratio=None,
        rating_per_user_loss_ratio=None,
        flip_factors=True,
    )
    sub_res = fit(sub, sub_cfg, seed=sub_seed, label_col=label_col, solver=solver)
    del sub  # the subset's rows (a copy) are not read by the full fit
    res = fit(
        ratings,
        config,
        seed=main_seed,
        note_init=sub_res.note_params,
        rater_init=sub_res.rater_params,
        global_init=sub_res.global_intercept,
        label_col=label_col,
        solver=solver,
    )
    return dataclasses.replace(res, stable_init=sub_res)
