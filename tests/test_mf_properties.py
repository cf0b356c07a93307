"""Tier 2: properties of the MF engine (spec 01 §4–§10)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab.mf.config import CORE_MF, GROUP14_MF, MFConfig

from _mf_helpers import planted

# recovery of planted parameters on clean synthetic data (brief: ≥ 0.95)
RECOVERY_MIN_CORR = 0.95
# exact solver vs official loop: exact must not be worse beyond float32 evaluation noise
EXACT_LOSS_SLACK = 1e-7


@pytest.fixture(scope="module")
def small():
    return planted(n_notes=200, n_raters=300, n_ratings=9000, seed=1)


#: cnlab's objective and the independent float64 helper below evaluate the same float32 parameters
#: in float64, differing only in summation order: a few ulps of float64, far below this.
OBJECTIVE_CROSS_CHECK_REL = 1e-12
#: A sign flip changes no term of the float64 objective (products and squares are exact under
#: negation), so only summation order could differ: float64 round-off.
SIGN_FLIP_REL = 1e-12


def _objective(cfg, df, p):
    """Independent float64 evaluation of the official loss (k = 1, spec 01 §6 mode A) for the
    parameter arrays in dict p: a cross-check of cnlab's own objective, not the thing tested."""
    n_codes, notes = pd.factorize(df.noteId)
    u_codes, raters = pd.factorize(df.raterParticipantId)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    pred = p["mu"] + p["ni"][n_codes] + p["ri"][u_codes] + p["nf"][n_codes] * p["rf"][u_codes]
    return float(
        np.mean((pred - df.helpfulNum.to_numpy(np.float64)) ** 2)
        + cfg.note_factor_lambda * np.mean(p["nf"] ** 2) + cfg.note_intercept_lambda * np.mean(p["ni"] ** 2)
        + cfg.diamond_lambda * np.mean(np.abs(p["nf"] * p["ni"]))
        + cfg.user_factor_lambda * np.mean(p["rf"] ** 2) + cfg.user_intercept_lambda * np.mean(p["ri"] ** 2)
        + cfg.global_intercept_lambda * p["mu"] ** 2
    )


def _cnlab_objective(cfg, df, p):
    """cnlab's own loss (cnlab.mf._common.objective, what the optimiser minimises) on dict p."""
    from cnlab.mf._common import Params, objective, prepare

    data = prepare(df, "helpfulNum")
    params = Params(np.asarray(p["ni"], np.float32), np.asarray(p["nf"], np.float32).reshape(data.M, -1),
                    np.asarray(p["ri"], np.float32), np.asarray(p["rf"], np.float32).reshape(data.U, -1),
                    np.float32(p["mu"]))
    return objective(data, params, cfg)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), diamond=st.sampled_from([0.0, 0.75]))
def test_loss_invariant_under_factor_sign_flip(seed, diamond):
    rng = np.random.default_rng(seed)
    df, _ = planted(n_notes=20, n_raters=30, n_ratings=200, seed=seed)
    M, U = df.noteId.nunique(), df.raterParticipantId.nunique()
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731  (cnlab's parameters are float32)
    p = dict(ni=f32(rng.normal(size=M)), nf=f32(rng.normal(size=M)), ri=f32(rng.normal(size=U)),
             rf=f32(rng.normal(size=U)), mu=np.float32(rng.normal()))
    q = dict(p, nf=-p["nf"], rf=-p["rf"])
    cfg = MFConfig(diamond_lambda=diamond)
    got_p, got_q = _cnlab_objective(cfg, df, p), _cnlab_objective(cfg, df, q)
    assert got_p == pytest.approx(got_q, rel=SIGN_FLIP_REL)
    # cnlab's loss is the official loss: the independent evaluation agrees
    assert got_p == pytest.approx(_objective(cfg, df, p), rel=OBJECTIVE_CROSS_CHECK_REL)
    # a flip of the factors *without* the rater side changes the loss (the test can fail)
    assert _cnlab_objective(cfg, df, dict(p, nf=-p["nf"])) != pytest.approx(got_p, rel=SIGN_FLIP_REL)


def test_fitted_result_objective_invariant_under_sign_flip(small):
    """MFResult.objective (cnlab's loss of a fitted result) is unchanged when every note and rater
    factor is negated, and agrees with the independent helper."""
    import dataclasses

    from cnlab.mf import fit

    df, _ = small
    r = fit(df, seed=0)
    notes, raters = r.note_params.copy(), r.rater_params.copy()
    notes["internalNoteFactor1"] = -notes["internalNoteFactor1"]
    raters["internalRaterFactor1"] = -raters["internalRaterFactor1"]
    flipped = dataclasses.replace(r, note_params=notes, rater_params=raters)
    assert r.objective(df) == pytest.approx(flipped.objective(df), rel=SIGN_FLIP_REL)
    half = dataclasses.replace(r, note_params=notes)  # notes only: the fit is no longer optimal
    assert half.objective(df) > r.objective(df)
    p = dict(ni=r.note_params.internalNoteIntercept.to_numpy(), nf=r.note_params.internalNoteFactor1.to_numpy(),
             ri=r.rater_params.internalRaterIntercept.to_numpy(),
             rf=r.rater_params.internalRaterFactor1.to_numpy(), mu=r.global_intercept)
    # note/rater tables are in first-appearance order, as the helper's factorize
    assert r.note_params.noteId.tolist() == pd.unique(df.noteId).tolist()
    assert r.rater_params.raterParticipantId.tolist() == pd.unique(df.raterParticipantId).tolist()
    assert r.objective(df) == pytest.approx(_objective(CORE_MF, df, p), rel=OBJECTIVE_CROSS_CHECK_REL)


def test_flip_convention_majority_negative(small):
    from cnlab.mf import fit

    df, _ = small
    r = fit(df, seed=0)
    f = r.rater_params.internalRaterFactor1
    assert (f < 0).sum() / (f != 0).sum() >= 0.5
    r2 = fit(df, CORE_MF.replace(flip_factors=False), seed=0)
    # flipping only changes signs
    np.testing.assert_array_equal(np.abs(r2.rater_params.internalRaterFactor1), np.abs(f))


@pytest.mark.parametrize("solver", ["official", "exact"])
def test_recovers_planted_parameters(solver):
    from cnlab.mf import fit

    df, t = planted(n_notes=150, n_raters=250, n_ratings=15000, seed=2, noise=0.1)
    r = fit(df, seed=0, solver=solver)
    n = r.note_params.set_index("noteId").loc[np.arange(150) + 10_000]
    u = r.rater_params.set_index("raterParticipantId").loc[np.arange(250)]
    assert np.corrcoef(n.internalNoteIntercept, t["ni"])[0, 1] >= RECOVERY_MIN_CORR
    assert np.corrcoef(u.internalRaterIntercept, t["ri"])[0, 1] >= RECOVERY_MIN_CORR
    # factors are identified up to sign (and scale)
    assert abs(np.corrcoef(n.internalNoteFactor1, t["nf"][:, 0])[0, 1]) >= RECOVERY_MIN_CORR
    assert abs(np.corrcoef(u.internalRaterFactor1, t["rf"][:, 0])[0, 1]) >= RECOVERY_MIN_CORR


@pytest.mark.parametrize(
    "cfg,freeze",
    [(CORE_MF, ()), (CORE_MF.replace(rating_per_note_loss_ratio=15.0, flip_factors=False), ("raters", "global")),
     (MFConfig(diamond_lambda=0.75, note_intercept_lambda=0.9), ())],
    ids=["full", "notes-only-modeB", "diamond"],
)
def test_exact_loss_not_above_official(small, cfg, freeze):
    from cnlab.mf import fit

    df, _ = small
    init = fit(df, seed=0) if freeze else None
    kw = dict(note_init=init.note_params, rater_init=init.rater_params, global_init=init.global_intercept) if init else {}
    off = fit(df, cfg, seed=0, freeze=freeze, **kw)
    ex = fit(df, cfg, seed=0, freeze=freeze, solver="exact", **kw)
    lo, le = off.objective(df), ex.objective(df)
    assert le <= lo + EXACT_LOSS_SLACK
    if freeze:
        assert ex.stop_reason == "closed_form" and ex.n_steps == 1
    d = off.distance_to(ex)
    assert set(d.column) >= {"internalNoteIntercept", "final_loss"}


def test_exact_notes_only_is_stationary(small):
    """Closed-form note pass: one more official step from the exact optimum barely moves."""
    from cnlab.mf import fit

    df, _ = small
    base = fit(df, seed=0)
    kw = dict(note_init=base.note_params, rater_init=base.rater_params, global_init=base.global_intercept,
              freeze=("raters", "global"))
    cfg = CORE_MF.replace(rating_per_note_loss_ratio=12.0, flip_factors=False)
    ex = fit(df, cfg, solver="exact", **kw)
    ex2 = fit(df, cfg, solver="exact", note_init=ex.note_params, rater_init=base.rater_params,
              global_init=base.global_intercept, freeze=("raters", "global"))
    np.testing.assert_allclose(ex2.note_params.internalNoteIntercept, ex.note_params.internalNoteIntercept, atol=1e-6)


def test_frozen_raters_unchanged_bit_for_bit(small):
    from cnlab.mf import fit

    df, _ = small
    base = fit(df, seed=0)
    cfg = CORE_MF.replace(rating_per_note_loss_ratio=10.0, flip_factors=False)
    r = fit(df, cfg, note_init=base.note_params, rater_init=base.rater_params,
            global_init=base.global_intercept, freeze=("raters", "global"))
    pd.testing.assert_frame_equal(r.rater_params, base.rater_params)
    assert r.global_intercept == base.global_intercept
    assert r.learning_rate == 0.2
    assert not r.note_params.internalNoteIntercept.equals(base.note_params.internalNoteIntercept)


def test_deterministic_repeat_runs(small):
    from cnlab.mf import fit

    df, _ = small
    a = fit(df, seed=5)
    b = fit(df, seed=5)
    pd.testing.assert_frame_equal(a.note_params, b.note_params)
    pd.testing.assert_frame_equal(a.rater_params, b.rater_params)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    c = fit(df, seed=6)
    assert not a.note_params.internalNoteFactor1.equals(c.note_params.internalNoteFactor1)


def test_stop_reasons_and_history(small):
    from cnlab.mf import fit

    df, _ = small
    r = fit(df, seed=0)
    assert r.stop_reason in ("converged", "loss_increase")
    assert len(r.loss_history) == r.n_steps + 1
    h = r.loss_history
    if r.stop_reason == "converged":
        assert abs(h[-1] - h[-2]) <= 1e-7
    else:
        assert r.n_steps > 101 and h[-1] > h[-2]
    # no earlier step met a stopping condition (exact official rule)
    for t in range(1, len(h) - 1):
        assert abs(h[t] - h[t - 1]) > 1e-7 and not (t - 1 > 100 and h[t] > h[t - 1])
    capped = fit(df, CORE_MF.replace(max_steps=7), seed=0)
    assert capped.stop_reason == "max_steps" and capped.n_steps == 7
    assert "steps" in r.summary() and np.isfinite(r.predict(df)).all()


def test_multi_factor_and_no_global_intercept():
    from cnlab.mf import fit
    from cnlab.mf.config import TOPIC_INDIM2_MF

    df, _ = planted(n_notes=100, n_raters=150, n_ratings=5000, seed=4, k=2)
    r = fit(df, MFConfig(n_factors=2), seed=0)
    assert list(r.note_params.columns) == ["noteId", "internalNoteIntercept", "internalNoteFactor1", "internalNoteFactor2"]
    e = fit(df, MFConfig(n_factors=2), seed=0, solver="exact")
    assert e.objective(df) <= r.objective(df) + EXACT_LOSS_SLACK
    r = fit(df, TOPIC_INDIM2_MF, seed=0)
    assert r.global_intercept == 0.0 and r.global_intercept_official is None


def test_bce_tag_model_runs_and_exact_refuses():
    from cnlab.mf import fit
    from cnlab.mf.config import TAG_CONSENSUS_MF

    df, _ = planted(n_notes=100, n_raters=150, n_ratings=5000, seed=5)
    df["tagLabel"] = (df.helpfulNum > 0.6).astype(np.float32)
    pos = df.tagLabel.mean()
    cfg = TAG_CONSENSUS_MF.replace(pos_weight=(1 - pos) / pos)
    r = fit(df, cfg, seed=0, label_col="tagLabel")
    p = r.predict(df)
    assert ((p > 0) & (p < 1)).all()
    assert np.corrcoef(p, df.tagLabel)[0, 1] > 0.5
    with pytest.raises(NotImplementedError):
        fit(df, cfg, seed=0, label_col="tagLabel", solver="exact")


def test_normalized_loss_weights_hand_computed():
    from cnlab.mf._common import normalized_loss_weights, prepare
    from cnlab.mf.config import NormalizedLossConfig

    df = pd.DataFrame({"noteId": [1, 1, 2, 2, 3], "raterParticipantId": [10, 11, 10, 12, 11],
                       "helpfulNum": np.float32([1, 0, 1, 1, 0])})
    data = prepare(df, "helpfulNum")
    rf1 = np.array([0.5, -0.2, 0.0])  # rater 12 has factor 0 → counts as negative
    w = normalized_loss_weights(data, rf1, NormalizedLossConfig())
    pos = np.array([1, 0, 1, 0, 0], bool)  # ratings of rater 10
    w0 = np.where(pos, 3 / 2, 1.0)
    w0 = w0 * 5 / w0.sum()
    tot = pd.Series(w0).groupby(df.raterParticipantId).transform("sum").to_numpy()
    np.testing.assert_allclose(w, w0 * tot**-0.25, rtol=1e-6)


def test_group14_normalized_loss_two_fits(small):
    from cnlab.mf import fit

    df, _ = small
    r = fit(df, GROUP14_MF, seed=0)
    assert r.first_fit is not None and r.weights is not None
    assert r.weights.shape == (len(df),) and r.learning_rate == 0.02
    # notes were re-initialised for the second fit: its first loss is not the first fit's last
    assert r.loss_history[0] != pytest.approx(r.first_fit.loss_history[-1])


def test_fit_stable_subset_and_init(small):
    from cnlab.mf import fit_stable

    df, _ = small
    raters = np.sort(df.raterParticipantId.unique())
    enr = pd.DataFrame({"participantId": raters, "modelingGroup": np.where(raters % 4 == 0, 2.0, 13.0)})
    r = fit_stable(df, enr, CORE_MF, seed=0)
    s = r.stable_init
    assert s is not None and s.learning_rate == 1.0 and r.learning_rate == 0.2
    assert set(s.rater_params.raterParticipantId) <= set(raters[raters % 4 != 0])
    r2 = fit_stable(df, enr, CORE_MF, seed=0)
    pd.testing.assert_frame_equal(r.note_params, r2.note_params)
    from cnlab.errors import CnlabInputError

    with pytest.raises(CnlabInputError):
        fit_stable(df, enr.assign(modelingGroup=1.0), CORE_MF, seed=0)


def test_check_train_error():
    from cnlab.mf import MFTrainError, check_train_error, fit

    df, _ = planted(n_notes=50, n_raters=80, n_ratings=1500, seed=7, noise=0.6)
    r = fit(df, seed=0)
    check_train_error(r, n_notes=199, threshold=0.0)  # < 200 notes: no check
    with pytest.raises(MFTrainError, match="maxFirstMFTrainError"):
        check_train_error(r, n_notes=200, threshold=0.0)


@pytest.mark.parametrize("solver", ["official", "exact"])
def test_pseudo_rater_bounds(small, solver):
    from cnlab.mf import PSEUDO_RATER_COLUMNS, fit, pseudo_rater_bounds

    df, _ = small
    base = fit(df, seed=0)
    cfg = CORE_MF.replace(rating_per_note_loss_ratio=12.0, flip_factors=False)
    r = fit(df, cfg, note_init=base.note_params, rater_init=base.rater_params,
            global_init=base.global_intercept, freeze=("raters", "global"))
    b = pseudo_rater_bounds(df, r, cfg, solver=solver)
    assert list(b.columns) == ["noteId", *PSEUDO_RATER_COLUMNS]
    assert len(b) == df.noteId.nunique()
    assert (b.internalNoteIntercept_max >= b.internalNoteIntercept_refit_orig).all()
    assert (b.internalNoteIntercept_min <= b.internalNoteIntercept_median).all()
    cnt = df.groupby("noteId").size()
    np.testing.assert_array_equal(b.set_index("noteId").ratingCount_all.loc[cnt.index], cnt)
    assert (b.ratingCount_neg_fac + b.ratingCount_pos_fac <= b.ratingCount_all).all()
    # helpful pseudo-ratings raise the upper bound
    assert (b.internalNoteIntercept_max - b.internalNoteIntercept_refit_orig).mean() > 0.01


def _stable_init_by_frames(ratings, enrollment, group, min_share, min_ratings):
    """Spec 01 §5.1 steps 1–3 as the official frame code writes them: inner join, per-note size and
    mean of the group flag, the flagged ratings of the notes that pass, in input order."""
    enr = enrollment.rename(columns={"participantId": "raterParticipantId"})
    j = ratings[["noteId", "raterParticipantId"]].reset_index(drop=True)
    j["_pos"] = np.arange(len(j))
    j = j.merge(enr, on="raterParticipantId", how="inner")
    j["_flag"] = (j["modelingGroup"] == group).to_numpy(dtype=bool, na_value=False)
    per = j.groupby("noteId", sort=False)["_flag"].agg(["size", "mean"])
    ok = per.index[(per["mean"] >= min_share) & (per["size"] >= min_ratings)]
    return np.sort(j.loc[j["_flag"] & j["noteId"].isin(ok), "_pos"].to_numpy())


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 120), n_notes=st.integers(1, 8), n_raters=st.integers(1, 12),
       enrolled=st.integers(0, 12), seed=st.integers(0, 2**31 - 1), min_share=st.sampled_from([0.0, 0.5, 0.75, 1.0]),
       min_ratings=st.integers(0, 6), block=st.sampled_from([1, 7, 1 << 24]), nan_note=st.booleans())
def test_stable_init_rows_are_those_of_the_join(n, n_notes, n_raters, enrolled, seed, min_share, min_ratings,
                                                block, nan_note):
    """The stable initialisation's rows by lookups and note-code counts are the frame join's rows,
    whatever the lookup block; a missing subset raises as the official code aborts."""
    import cnlab.mf.engine as E
    from cnlab.errors import CnlabInputError

    rng = np.random.default_rng(seed)
    notes = rng.integers(0, n_notes, n).astype(np.float64)
    if nan_note and n:
        notes[rng.integers(0, n)] = np.nan  # a rating without a note: in no group
    ratings = pd.DataFrame({"noteId": notes, "raterParticipantId": rng.integers(0, n_raters, n).astype(np.int32)})
    ids = rng.permutation(n_raters + 3)[:enrolled]
    groups = rng.choice([13.0, 13.0, 2.0, np.nan], size=len(ids))
    enrollment = pd.DataFrame({"participantId": ids.astype(np.int64), "modelingGroup": groups})
    want = _stable_init_by_frames(ratings, enrollment, 13, min_share, min_ratings)
    saved, E.LOOKUP_BLOCK = E.LOOKUP_BLOCK, block
    try:
        got = E._stable_init_positions(ratings, enrollment, 13, min_share, min_ratings)
        np.testing.assert_array_equal(got, want)
        if len(want):
            pd.testing.assert_frame_equal(E.stable_init_ratings(ratings, enrollment, min_share=min_share,
                                                                min_ratings=min_ratings), ratings.iloc[want])
        else:
            with pytest.raises(CnlabInputError, match="stable initialisation"):
                E.stable_init_ratings(ratings, enrollment, min_share=min_share, min_ratings=min_ratings)
    finally:
        E.LOOKUP_BLOCK = saved
    # an enrollment repeating a participant repeats its ratings in the join: the frame path
    if len(ids):
        twice = pd.concat([enrollment, enrollment.iloc[:1]], ignore_index=True)
        np.testing.assert_array_equal(E._stable_init_positions(ratings, twice, 13, min_share, min_ratings),
                                      _stable_init_by_frames(ratings, twice, 13, min_share, min_ratings))
