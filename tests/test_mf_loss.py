"""Tier 1: the MF loss and one optimizer step, computed by hand (spec 01 §6, §7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cnlab.mf.config import MFConfig

# float32 loss in TF vs float64 closed form in the test
LOSS_RTOL = 2e-6
# float64 objective of float32-stored parameters vs float64 hand values (init rounding only)
OBJ64_RTOL = 1e-6
# one float32 Adam step vs float64 hand formula
STEP_ATOL = 2e-6

NOTE_INIT = pd.DataFrame(
    {"noteId": [11, 12, 13], "internalNoteIntercept": [0.1, -0.2, 0.3], "internalNoteFactor1": [0.5, -0.4, 0.0]}
)
RATER_INIT = pd.DataFrame(
    {
        "raterParticipantId": [1, 2, 3, 4],
        "internalRaterIntercept": [0.05, -0.1, 0.2, 0.0],
        "internalRaterFactor1": [0.3, -0.6, 0.1, 0.9],
    }
)
RATINGS = pd.DataFrame(
    {
        "noteId": [11, 11, 12, 12, 13, 13, 11],
        "raterParticipantId": [1, 2, 2, 3, 3, 4, 4],
        "helpfulNum": np.array([1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 0.5], np.float32),
    }
)
W = np.array([1.0, 2.0, 0.5, 1.5, 1.0, 0.25, 3.0])
MU = 0.15


def _hand_loss(cfg: MFConfig, w=None):
    ni = NOTE_INIT.set_index("noteId").loc[RATINGS.noteId]
    ri = RATER_INIT.set_index("raterParticipantId").loc[RATINGS.raterParticipantId]
    pred = (
        MU
        + ni.internalNoteIntercept.to_numpy()
        + ri.internalRaterIntercept.to_numpy()
        + ni.internalNoteFactor1.to_numpy() * ri.internalRaterFactor1.to_numpy()
    )
    e2 = (pred - RATINGS.helpfulNum.to_numpy(np.float64)) ** 2
    N, M, U = len(RATINGS), 3, 4
    data = np.mean(e2 if w is None else w * e2)
    fn, in_ = NOTE_INIT.internalNoteFactor1.to_numpy(), NOTE_INIT.internalNoteIntercept.to_numpy()
    fu, iu = RATER_INIT.internalRaterFactor1.to_numpy(), RATER_INIT.internalRaterIntercept.to_numpy()
    note_block = cfg.note_factor_lambda * np.sum(fn**2) + cfg.note_intercept_lambda * np.sum(in_**2) + cfg.diamond_lambda * np.sum(np.abs(fn * in_))
    user_block = cfg.user_factor_lambda * np.sum(fu**2) + cfg.user_intercept_lambda * np.sum(iu**2)
    note_div = M if cfg.rating_per_note_loss_ratio is None else N / cfg.rating_per_note_loss_ratio
    user_div = U if cfg.rating_per_user_loss_ratio is None else N / cfg.rating_per_user_loss_ratio
    return data + note_block / note_div + user_block / user_div + cfg.global_intercept_lambda * MU**2


def _loss_at_init(cfg, w=None, solver="official"):
    from cnlab.mf import fit

    r = fit(RATINGS, cfg.replace(max_steps=0, flip_factors=False), note_init=NOTE_INIT, rater_init=RATER_INIT,
            global_init=MU, weights=w, solver=solver)
    return r.loss_history[0]


@pytest.mark.parametrize(
    "cfg",
    [
        MFConfig(),
        MFConfig(diamond_lambda=0.75, note_intercept_lambda=0.9),
        MFConfig(rating_per_note_loss_ratio=18.3),
        MFConfig(rating_per_note_loss_ratio=4.0, rating_per_user_loss_ratio=7.0, diamond_lambda=0.3),
    ],
    ids=["modeA", "modeA-diamond", "modeB-note", "modeB-both-diamond"],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_closed_form(cfg, weighted):
    w = W if weighted else None
    expected = _hand_loss(cfg, w)
    got = _loss_at_init(cfg, w)
    assert got == pytest.approx(expected, rel=LOSS_RTOL)
    # the float64 objective used by the exact solver / MFResult.objective agrees too
    assert _loss_at_init(cfg, w, solver="exact") == pytest.approx(expected, rel=OBJ64_RTOL)


def test_bce_loss_with_pos_weight():
    from cnlab.mf import fit

    lab = RATINGS.assign(helpfulNum=np.array([1, 0, 0, 1, 0, 1, 1], np.float32))
    cfg = MFConfig(loss="bce", pos_weight=3.0, max_steps=0, flip_factors=False)
    r = fit(lab, cfg, note_init=NOTE_INIT, rater_init=RATER_INIT, global_init=MU)
    ni = NOTE_INIT.set_index("noteId").loc[lab.noteId]
    ri = RATER_INIT.set_index("raterParticipantId").loc[lab.raterParticipantId]
    z = MU + ni.internalNoteIntercept.to_numpy() + ri.internalRaterIntercept.to_numpy() + ni.internalNoteFactor1.to_numpy() * ri.internalRaterFactor1.to_numpy()
    y = lab.helpfulNum.to_numpy(np.float64)
    p = 1 / (1 + np.exp(-z))
    bce = -(3.0 * y * np.log(p) + (1 - y) * np.log(1 - p))
    reg = _hand_loss(MFConfig()) - np.mean(
        (z - RATINGS.helpfulNum.to_numpy(np.float64)) ** 2
    )  # same parameters → same regulariser
    assert r.loss_history[0] == pytest.approx(np.mean(bce) + reg, rel=LOSS_RTOL)


def _hand_adam_step(lr, freeze_raters, clip=1.0):
    """One step of PyTorch Adam (+ clip_grad_norm_) from the init, by hand in float64."""
    cfg = MFConfig()
    n_pos = {11: 0, 12: 1, 13: 2}
    u_pos = {1: 0, 2: 1, 3: 2, 4: 3}
    ni = NOTE_INIT.internalNoteIntercept.to_numpy(np.float64)
    nf = NOTE_INIT.internalNoteFactor1.to_numpy(np.float64)
    ri = RATER_INIT.internalRaterIntercept.to_numpy(np.float64)
    rf = RATER_INIT.internalRaterFactor1.to_numpy(np.float64)
    n = RATINGS.noteId.map(n_pos).to_numpy()
    u = RATINGS.raterParticipantId.map(u_pos).to_numpy()
    y = RATINGS.helpfulNum.to_numpy(np.float64)
    N, M, U = len(y), 3, 4
    e = MU + ni[n] + ri[u] + nf[n] * rf[u] - y
    d = 2 * e / N
    g = {
        "ni": np.bincount(n, d, M) + 2 * cfg.note_intercept_lambda / M * ni,
        "nf": np.bincount(n, d * rf[u], M) + 2 * cfg.note_factor_lambda / M * nf,
    }
    if not freeze_raters:
        g["ri"] = np.bincount(u, d, U) + 2 * cfg.user_intercept_lambda / U * ri
        g["rf"] = np.bincount(u, d * nf[n], U) + 2 * cfg.user_factor_lambda / U * rf
        g["mu"] = np.array([d.sum() + 2 * cfg.global_intercept_lambda * MU])
    total = np.sqrt(sum(np.sum(v**2) for v in g.values()))
    coef = min(1.0, clip / (total + 1e-6))
    new = {"ni": ni.copy(), "nf": nf.copy(), "ri": ri.copy(), "rf": rf.copy(), "mu": np.array([MU])}
    b1, b2, eps = 0.9, 0.999, 1e-8
    for key, gk in g.items():
        gk = gk * coef
        m = (1 - b1) * gk
        v = (1 - b2) * gk * gk
        denom = np.sqrt(v) / np.sqrt(1 - b2) + eps
        new[key] = new[key] - lr / (1 - b1) * m / denom
    return new, total


@pytest.mark.parametrize("freeze_raters", [False, True])
@pytest.mark.parametrize("clip", [1.0, 0.05])
def test_one_adam_step_matches_pytorch_formula(freeze_raters, clip):
    from cnlab.mf import fit

    freeze = ("raters", "global") if freeze_raters else ()
    cfg = MFConfig(max_steps=1, flip_factors=False, clip_norm=clip)
    r = fit(RATINGS, cfg, note_init=NOTE_INIT, rater_init=RATER_INIT, global_init=MU, freeze=freeze)
    assert r.n_steps == 1 and r.stop_reason == "max_steps"
    assert r.learning_rate == 0.2  # both inits given → initLearningRate
    new, total = _hand_adam_step(0.2, freeze_raters, clip)
    if clip == 0.05:
        assert total > clip  # the clipping branch is exercised
    np.testing.assert_allclose(r.note_params.internalNoteIntercept, new["ni"], atol=STEP_ATOL)
    np.testing.assert_allclose(r.note_params.internalNoteFactor1, new["nf"], atol=STEP_ATOL)
    np.testing.assert_allclose(r.rater_params.internalRaterIntercept, new["ri"], atol=STEP_ATOL)
    np.testing.assert_allclose(r.rater_params.internalRaterFactor1, new["rf"], atol=STEP_ATOL)
    assert r.global_intercept == pytest.approx(new["mu"][0], abs=STEP_ATOL)


def test_learning_rate_choice_and_missing_init_is_zero():
    from cnlab.mf import fit

    # only note init → noInitLearningRate; rater 4 missing from rater init → starts at exactly 0/0
    r = fit(RATINGS, MFConfig(max_steps=0, flip_factors=False), note_init=NOTE_INIT)
    assert r.learning_rate == 1.0
    r = fit(RATINGS, MFConfig(max_steps=0, flip_factors=False), note_init=NOTE_INIT, rater_init=RATER_INIT.iloc[:3])
    row = r.rater_params.set_index("raterParticipantId").loc[4]
    assert row.internalRaterIntercept == 0.0 and row.internalRaterFactor1 == 0.0


def test_index_maps_first_appearance_and_xavier_bound():
    from cnlab.mf import fit

    r = fit(RATINGS, MFConfig(max_steps=0, flip_factors=False), seed=3)
    assert r.note_params.noteId.tolist() == [11, 12, 13]
    assert r.rater_params.raterParticipantId.tolist() == [1, 2, 3, 4]
    assert np.all(np.abs(r.note_params.internalNoteFactor1) <= np.sqrt(6 / (3 + 1)))
    assert np.all(np.abs(r.rater_params.internalRaterFactor1) <= np.sqrt(6 / (4 + 1)))
    assert (r.note_params.internalNoteIntercept == 0).all() and r.global_intercept == 0.0


def test_config_import_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, cnlab.mf; from cnlab.mf.config import MFConfig; from cnlab.mf import CORE_MF; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_inputs():
    from cnlab.errors import CnlabInputError
    from cnlab.mf import fit

    bad = RATINGS.astype({"helpfulNum": "float64"}).copy()
    bad.loc[2, "helpfulNum"] = np.nan
    with pytest.raises(CnlabInputError, match="helpfulNum"):
        fit(bad)
    with pytest.raises(ValueError, match="freeze"):
        fit(RATINGS, freeze=("users",))
    with pytest.raises(ValueError, match="pos_weight"):
        MFConfig(pos_weight=2.0)
