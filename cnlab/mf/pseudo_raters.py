"""Pseudo-rater uncertainty bounds (spec 01 §10, official ``PseudoRatersRunner``).

Four note-only refits with rater parameters and μ frozen, in regularisation mode A (no ρ, no
diamond term, no normalized loss, MSE), lr = ``init_lr``, no sign flip:

* dataset 0 ("refit_orig"): the training ratings as they are;
* datasets 1–3: plus one helpful (1.0) rating on *every* note from a pseudo-rater with intercept =
  min rater intercept and factor ∈ {min factor, 0, max factor}.

The user table of every refit holds the three pseudo-raters (ids −1, −2, −3; "-1".. for string
ids), as in the official code; they are frozen, so they only shift the loss by a constant.
Per note: min / median / max over the 4 refits of intercept and factor, dataset 0's values as
``_refit_orig``, and rating counts (all, rater factor < 0, rater factor > 0).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from cnlab import schema

from .config import PSEUDO_RATER_REFIT_OVERRIDES, MFConfig
from .result import MFResult

PSEUDO_RATER_COLUMNS: tuple[str, ...] = (
    "internalNoteIntercept_max",
    "internalNoteIntercept_min",
    "internalNoteIntercept_median",
    "internalNoteIntercept_refit_orig",
    "internalNoteFactor1_max",
    "internalNoteFactor1_median",
    "internalNoteFactor1_min",
    "internalNoteFactor1_refit_orig",
    "ratingCount_all",
    "ratingCount_neg_fac",
    "ratingCount_pos_fac",
)


def _pseudo_ids(dtype, n=3):
    if pd.api.types.is_integer_dtype(dtype):
        return np.array([-1 - i for i in range(n)], dtype=dtype)
    return np.array([str(-1 - i) for i in range(n)], dtype=object)


def pseudo_rater_factors(F: np.ndarray, rule: str = "norm") -> tuple[np.ndarray, np.ndarray]:
    """Factor vectors of the "most negative" and "most positive" pseudo-raters (spec 01 §10 step
    2: ``min f_u`` and ``max f_u``), k-D.

    ``"norm"``: the factor vectors of the raters with the smallest and largest signed norm
    ``s_u = sign(f_u,1)·‖f_u‖₂`` (the extreme raters along axis 1's sides, whole vectors);
    ``"axis"``: the per-axis minima and maxima ``(min_u f_u,1, …, min_u f_u,k)`` and
    ``(max_u f_u,1, …)`` (corners of the raters' bounding box). With k = 1 both are
    ``(min f_u, max f_u)``.

    Examples
    --------
    >>> import numpy as np
    >>> F = np.array([[-0.2, 0.9], [-0.5, 0.0], [0.3, -0.4]])
    >>> pseudo_rater_factors(F, "norm")
    (array([-0.2,  0.9]), array([ 0.3, -0.4]))
    >>> pseudo_rater_factors(F, "axis")
    (array([-0.5, -0.4]), array([0.3, 0.9]))
    """
    if rule not in ("norm", "axis"):  # cnlab.scoring.factors.FACTOR_RULES (mf may not import scoring)
        raise ValueError(f"factor_rule must be 'norm' or 'axis', got {rule!r}")
    F = np.asarray(F, dtype=np.float64)
    if F.shape[1] == 1 or rule == "axis":
        return np.nanmin(F, axis=0), np.nanmax(F, axis=0)
    s = np.where(F[:, 0] < 0, -1.0, 1.0) * np.sqrt(np.sum(F * F, axis=1))
    return F[int(np.nanargmin(s))], F[int(np.nanargmax(s))]


def pseudo_rater_bounds(
    ratings: pd.DataFrame,
    result: MFResult,
    config: MFConfig | None = None,
    *,
    label_col: str = schema.HELPFUL_NUM,
    solver: str | None = None,
    factor_rule: str = "norm",
) -> pd.DataFrame:
    """Spec 01 §10: noteId + the 11 uncertainty columns (:data:`PSEUDO_RATER_COLUMNS`).

    Parameters
    ----------
    ratings
        The final-round training ratings of the fit (noteId, raterParticipantId, label).
    result
        The fit on those ratings (unflipped note params, frozen rater params, μ).
    config
        The scorer's MF config (default ``result.config``); the refits drop diamond, ρ, normalized
        loss and BCE (``get_new_mf_with_same_args``) and never flip signs.
    solver
        "official" (default: ``config.solver``) runs the official loop four times; "exact" solves
        each refit in one closed-form pass (per-note 2×2 ridge systems).
    factor_rule
        k-factor fits (``config.n_factors = k > 1``, not official): the factor vectors of the
        two extreme pseudo-raters (:func:`pseudo_rater_factors`). The ``internalNoteFactor1_*``
        bound columns and the ``ratingCount_{neg,pos}_fac`` sides read axis 1.
    """
    from .engine import fit

    config = result.config if config is None else config
    solver = solver or config.solver
    cfg = dataclasses.replace(config, **PSEUDO_RATER_REFIT_OVERRIDES)
    rp = result.rater_params
    ri_min = float(rp[schema.RATER_INTERCEPT].min())
    k = int(config.n_factors)
    fcols = [schema.rater_factor_col(j) for j in range(1, k + 1)]
    lo, hi = pseudo_rater_factors(rp[fcols].to_numpy(np.float64), factor_rule)
    ids = _pseudo_ids(ratings[schema.RATER_ID].dtype)
    vecs = np.stack([lo, np.zeros(k), hi]).astype(np.float32)
    pseudo = pd.DataFrame({schema.RATER_ID: ids, schema.RATER_INTERCEPT: np.float32(ri_min),
                           **{c: vecs[:, j] for j, c in enumerate(fcols)}})
    rater_init = pd.concat([rp[[schema.RATER_ID, schema.RATER_INTERCEPT, *fcols]], pseudo], ignore_index=True)
    # the three columns without a copy (the refits' concat copies them anyway)
    base = pd.DataFrame({c: ratings[c] for c in (schema.NOTE_ID, schema.RATER_ID, label_col)}, copy=False)
    notes = pd.unique(base[schema.NOTE_ID])
    fits = []
    for d in range(4):
        if d == 0:
            rd = base
        else:
            extra = pd.DataFrame(
                {schema.NOTE_ID: notes, schema.RATER_ID: np.repeat(ids[d - 1 : d], len(notes)),
                 label_col: np.float32(1.0)}
            )
            extra[schema.NOTE_ID] = extra[schema.NOTE_ID].astype(base[schema.NOTE_ID].dtype)
            rd = pd.concat([base, extra], ignore_index=True)
        r = fit(
            rd,
            cfg,
            note_init=result.note_params,
            rater_init=rater_init,
            global_init=result.global_intercept,
            freeze=("raters", "global"),
            label_col=label_col,
            solver=solver,
            _extra_rater_ids=ids,
        )
        fits.append(r.note_params.set_index(schema.NOTE_ID).reindex(notes))
    I = np.stack([f_[schema.NOTE_INTERCEPT].to_numpy(np.float64) for f_ in fits], axis=1)
    F = np.stack([f_[schema.NOTE_FACTOR1].to_numpy(np.float64) for f_ in fits], axis=1)
    out = pd.DataFrame({schema.NOTE_ID: notes})
    out["internalNoteIntercept_max"] = I.max(axis=1)
    out["internalNoteIntercept_min"] = I.min(axis=1)
    out["internalNoteIntercept_median"] = np.median(I, axis=1)
    out["internalNoteIntercept_refit_orig"] = I[:, 0]
    out["internalNoteFactor1_max"] = F.max(axis=1)
    out["internalNoteFactor1_median"] = np.median(F, axis=1)
    out["internalNoteFactor1_min"] = F.min(axis=1)
    out["internalNoteFactor1_refit_orig"] = F[:, 0]
    # rating counts: training ratings joined (inner) to the fit's rater params
    for col, values in _rating_counts(base, rp, notes).items():
        out[col] = values
    return out


def _rating_counts(base: pd.DataFrame, rp: pd.DataFrame, notes: np.ndarray) -> dict[str, np.ndarray]:
    """Per note of ``notes``: its ratings whose rater has params, and those with a negative /
    positive factor (the training ratings joined, inner, to the rater params), counted on index
    arrays instead of a joined copy. Notes with none are NaN (the counts then float)."""
    rid, nid = schema.RATER_ID, schema.NOTE_ID
    ids = rp[rid]
    if ids.is_unique:
        ju = pd.Index(ids).get_indexer(base[rid].to_numpy())
        has = ju >= 0
        fac = rp[schema.RATER_FACTOR1].to_numpy(np.float64)[ju[has]]
        rated = base[nid].to_numpy()[has]
        del ju, has
    else:  # a join repeats ratings: count its rows
        rf = base[[nid, rid]].merge(rp[[rid, schema.RATER_FACTOR1]], on=rid)
        fac, rated = rf[schema.RATER_FACTOR1].to_numpy(np.float64), rf[nid].to_numpy()
        del rf
    at = pd.Index(notes).get_indexer(rated)
    del rated
    n = len(notes)
    counts = {"ratingCount_all": np.bincount(at, minlength=n),
              "ratingCount_neg_fac": np.bincount(at[fac < 0], minlength=n),
              "ratingCount_pos_fac": np.bincount(at[fac > 0], minlength=n)}
    missing = counts["ratingCount_all"] == 0
    out = {}
    for col, c in counts.items():
        c = c.astype(np.int64)
        if missing.any():  # reindexed grouped counts: NaN where a note had no joined rating
            c = c.astype(np.float64)
            c[missing] = np.nan
        out[col] = c
    return out
