"""The compiled training round of the reputation MF (one graph call per round) equals the
step-by-step reference loop bit for bit: same parameters, same loss history, same stopping epoch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab.mf.reputation_mf import ReputationMF
from cnlab.scorers import diligence as dg

from _mf_helpers import DILIGENCE_ROUNDS as ROUNDS
from _mf_helpers import REPUTATION_PARAMS as PARAMS
from _mf_helpers import reputation_problem as _problem


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), loss=st.sampled_from(["bce", "mse"]), rnd=st.sampled_from(sorted(ROUNDS)),
       sizes=st.sampled_from([(30, 20, 400), (80, 50, 1500)]))
def test_compiled_round_equals_stepwise_reference(seed, loss, rnd, sizes):
    ni, ri, y, params, w = _problem(seed, *sizes)
    trainable, reg_kw = ROUNDS[rnd]
    cfg = dg.DiligenceConfig()
    reg = dg.regularization(cfg, **reg_kw)
    a = ReputationMF(ni, ri, y, params, loss=loss)
    b = ReputationMF(ni, ri, y, params, loss=loss)
    loss_a, hist_a = a.train_round_stepwise(w, reg, trainable, cfg)
    loss_b, hist_b = b.train_round(w, reg, trainable, cfg)
    assert loss_a == loss_b and hist_a == hist_b
    for name in PARAMS:
        np.testing.assert_array_equal(a.get(name), b.get(name), err_msg=name)


def test_compiled_round_stops_on_the_official_rule():
    """Epoch count: the loss is checked every stable_period epochs; the round stops at the first
    check where it moved by less than ``convergence``, or after num_epochs + 1 epochs."""
    ni, ri, y, params, w = _problem(3, 40, 30, 600)
    cfg = dg.DiligenceConfig()
    reg = dg.regularization(cfg, third=False)
    m = ReputationMF(ni, ri, y, params)
    _, hist = m.train_round(w, reg, ("note_bias", "rater_bias", "global_bias"), cfg)
    n = len(hist)
    # epochs 0..E-1 each record the loss before their step; the stopping check at epoch E records
    # its loss too, so n = E + 1; the loss of an earlier check epoch e is hist[e]
    assert n <= cfg.num_epochs + 1, "this problem converges well before num_epochs"
    stop = n - 1
    p = cfg.stable_period
    assert stop % p == 0 and abs(hist[stop - p] - hist[-1]) < cfg.convergence
    assert all(abs(hist[e - p] - hist[e]) >= cfg.convergence for e in range(p, stop, p))
    import dataclasses

    short = dataclasses.replace(cfg, num_epochs=7, convergence=0.0)
    _, hist = ReputationMF(ni, ri, y, params).train_round(w, reg, ("note_bias",), short)
    assert len(hist) == 8  # epochs 0..7, no check


def test_nonfinite_loss_raises():
    ni, ri, y, params, w = _problem(1, 20, 10, 100)
    params["global_bias"] = 1e30
    m = ReputationMF(ni, ri, y, params, loss="mse")
    with pytest.raises(FloatingPointError, match="diligence: loss is"):
        m.train_round(w, dg.regularization(dg.DiligenceConfig(), third=False), ("note_bias",), dg.DiligenceConfig())


def test_one_round_trace_per_trained_set(monkeypatch):
    """A round is traced once per (loss, d, convergence check, trained set) and reused whatever the
    sizes: a second problem of other sizes adds no trace, and a frozen parameter comes back
    untouched (bit for bit) from a round that does not train it."""
    from cnlab.mf import reputation_mf

    monkeypatch.setattr(reputation_mf, "_ROUND_CACHE", {})
    cfg = dg.DiligenceConfig()
    for sizes in ((30, 20, 400), (50, 40, 900)):
        ni, ri, y, params, w = _problem(2, *sizes)
        for rnd, (trainable, kw) in ROUNDS.items():
            m = ReputationMF(ni, ri, y, params)
            m.train_round(w, dg.regularization(cfg, **kw), trainable, cfg)
            for name in PARAMS:
                if name not in trainable:
                    np.testing.assert_array_equal(m.get(name), np.asarray(params[name], np.float32), err_msg=name)
    assert len(reputation_mf._ROUND_CACHE) == len(ROUNDS)


# ---------------------------------------------------------------------------------------------
# the MF engine's official loop (cnlab.mf._tf_loop.run_loop)
# ---------------------------------------------------------------------------------------------
def _fit_both(monkeypatch, df, config, **kw):
    import functools

    from cnlab.mf import _tf_loop, fit

    orig = _tf_loop.run_loop
    out = []
    for compiled in (False, True):
        monkeypatch.setattr(_tf_loop, "run_loop", functools.partial(orig, compiled=compiled))
        out.append(fit(df, config, seed=0, **kw))
    return out


@pytest.mark.parametrize("variant", ["core", "bce_weighted", "k2", "noclip", "frozen_raters", "max_steps"])
def test_compiled_mf_loop_equals_stepwise_reference(monkeypatch, variant):
    import dataclasses

    from _mf_helpers import planted
    from cnlab.mf.config import CORE_MF

    df, _ = planted(n_notes=120, n_raters=150, n_ratings=3000, seed=5, k=2 if variant == "k2" else 1)
    cfg, kw = CORE_MF, {}
    if variant == "bce_weighted":
        df = df.assign(helpfulNum=(df["helpfulNum"] > 0.5).astype("float32"))
        cfg = dataclasses.replace(CORE_MF, loss="bce", pos_weight=3.0)
        kw["weights"] = np.random.default_rng(0).random(len(df)).astype(np.float32) + 0.5
    elif variant == "k2":
        cfg = dataclasses.replace(CORE_MF, n_factors=2)
    elif variant == "noclip":
        cfg = dataclasses.replace(CORE_MF, clip_norm=None)
    elif variant == "max_steps":
        cfg = dataclasses.replace(CORE_MF, max_steps=17)
    if variant == "frozen_raters":
        first = _fit_both(monkeypatch, df, cfg)[0]
        kw.update(rater_init=first.rater_params, freeze=("raters",))
    a, b = _fit_both(monkeypatch, df, cfg, **kw)
    assert (a.n_steps, a.stop_reason) == (b.n_steps, b.stop_reason)
    if variant == "max_steps":
        assert b.stop_reason == "max_steps" and b.n_steps == 17
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    assert a.note_params.equals(b.note_params) and a.rater_params.equals(b.rater_params)
    assert a.global_intercept == b.global_intercept


def test_compiled_mf_loop_traced_first_on_a_one_note_slice(monkeypatch):
    """A group or topic slice can hold a single note; when such a slice is the first fit of its kind
    in a process, the loop is traced with static sizes (1, 1 + k) while the gradients' sizes are
    dynamic: the loop must not reject that (a regression seen on tiny synthetic data)."""
    from _mf_helpers import planted
    from cnlab.mf import _tf_loop

    monkeypatch.setattr(_tf_loop, "_CACHE", {})  # a fresh process: nothing traced yet
    df, _ = planted(n_notes=1, n_raters=6, n_ratings=12, seed=1)
    from cnlab.mf.config import CORE_MF

    a, b = _fit_both(monkeypatch, df, CORE_MF)
    assert a.n_steps == b.n_steps and a.note_params.equals(b.note_params)


def test_one_trace_serves_every_fit_of_a_loss_and_k():
    """What a fit trains, its size, its weights and clipping are runtime inputs: fits that differ in
    all of them run the one traced graph of their (loss, k)."""
    import dataclasses

    from _mf_helpers import planted
    from cnlab.mf import _tf_loop, fit
    from cnlab.mf.config import CORE_MF

    small, _ = planted(n_notes=40, n_raters=50, n_ratings=600, seed=2)
    large, _ = planted(n_notes=130, n_raters=170, n_ratings=4000, seed=3)
    first = fit(small, CORE_MF, seed=0)
    fit(large, dataclasses.replace(CORE_MF, clip_norm=None), seed=1)
    fit(small, CORE_MF, seed=2, weights=np.full(len(small), 0.5, np.float32))
    fit(small, CORE_MF, seed=3, rater_init=first.rater_params, freeze=("raters",))
    start_fn = _tf_loop._functions(_tf_loop._Static(bce=False, k=1))[3]
    assert start_fn.experimental_get_tracing_count() == 1


#: float32 sums of ~3000 terms in another order (chunks of 700, then the chunks' sums): a few ulps
#: of the largest partial sum each; 1e-5 relative is ~100 ulps of float32.
CHUNKED_SUM_RTOL = 1e-5


@pytest.mark.parametrize("variant", ["mse", "bce_weighted", "k2", "frozen_raters", "frozen_notes"])
def test_chunked_data_term_equals_the_whole_sum(monkeypatch, variant):
    """Above ``CHUNK`` ratings a step sums the data term chunk by chunk (the last chunk partial):
    the loss and the gradients of every trained tensor are the whole sum's up to float32 order
    effects, a frozen tensor's gradient stays exactly zero, and the chunked loop still equals its
    step-by-step reference bit for bit."""
    import dataclasses

    from _mf_helpers import planted
    from cnlab.mf import _common, _tf_loop
    from cnlab.mf.config import CORE_MF

    df, _ = planted(n_notes=120, n_raters=150, n_ratings=3000, seed=7, k=2 if variant == "k2" else 1)
    cfg, w = CORE_MF, None
    if variant == "bce_weighted":
        df = df.assign(helpfulNum=(df["helpfulNum"] > 0.5).astype("float32"))
        cfg = dataclasses.replace(CORE_MF, loss="bce", pos_weight=3.0)
        w = np.random.default_rng(1).random(len(df)).astype(np.float32) + 0.5
    elif variant == "k2":
        cfg = dataclasses.replace(CORE_MF, n_factors=2)
    trainable = {"frozen_raters": (True, False, True), "frozen_notes": (False, True, False)}.get(
        variant, (True, True, True))
    data = _common.prepare(df, "helpfulNum", w)
    p = _common.init_params(data, cfg.n_factors, np.random.default_rng(3), None, None, None)
    p.ri[:] = np.random.default_rng(4).normal(0, 0.3, data.U).astype(np.float32)  # not all zero
    p.ni[:] = np.random.default_rng(5).normal(0, 0.3, data.M).astype(np.float32)
    coeffs = _common.reg_coeffs(cfg, data.N, data.M, data.U)
    hp = _tf_loop.tf.constant([coeffs.c_nf, coeffs.c_ni, coeffs.c_nd, coeffs.c_uf, coeffs.c_ui, coeffs.c_mu,
                               1.0 if cfg.pos_weight is None else cfg.pos_weight], _tf_loop.F32)
    flags = _tf_loop._flags(trainable, w is not None, cfg.use_global_intercept, True)
    dd = _tf_loop.DeviceData(data)

    def loss_and_grads():
        init_fn = _tf_loop._functions(_tf_loop._Static(cfg.loss == "bce", cfg.n_factors))[0]
        loss, grads = init_fn(_tf_loop._pack(p), dd.tuple(), hp, flags)
        return float(loss), [g.numpy() for g in grads]

    monkeypatch.setattr(_tf_loop, "_CACHE", {})
    whole = loss_and_grads()
    monkeypatch.setattr(_tf_loop, "_CACHE", {})  # CHUNK is read when the graph is traced
    monkeypatch.setattr(_tf_loop, "CHUNK", 700)  # 3000 ratings: four chunks and a partial one
    chunked = loss_and_grads()
    assert chunked[0] == pytest.approx(whole[0], rel=CHUNKED_SUM_RTOL)
    for g_whole, g_chunked, trained in zip(whole[1], chunked[1], trainable):
        if trained:
            np.testing.assert_allclose(g_chunked, g_whole, rtol=CHUNKED_SUM_RTOL,
                                       atol=CHUNKED_SUM_RTOL * float(np.abs(g_whole).max()))
        else:
            assert not np.any(g_chunked)
    assert any(not np.array_equal(a, b) for a, b in zip(whole[1], chunked[1])) or whole[0] != chunked[0], \
        "the chunked sums took another order: some bits should differ (else CHUNK did not apply)"
    a, b = _fit_both(monkeypatch, df, cfg, **({"weights": w} if w is not None else {}))
    assert a.n_steps == b.n_steps and a.note_params.equals(b.note_params)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)


def test_training_arrays_are_wrapped_not_copied_on_a_cpu():
    """On a CPU the loop's tensors are the TrainData arrays themselves (64-byte aligned NumPy
    memory, freed with the fit), not copies kept in TensorFlow's pool; a misaligned array is copied."""
    from _mf_helpers import planted
    from cnlab._arrays import ALIGNMENT
    from cnlab.mf import _common, _tf_loop

    if _tf_loop._gpu():
        pytest.skip("with a GPU the arrays are copied onto it by design")
    df, _ = planted(n_notes=30, n_raters=40, n_ratings=500, seed=1)
    data = _common.prepare(df, "helpfulNum", np.ones(len(df)))
    assert all(a.ctypes.data % ALIGNMENT == 0 for a in (data.n_idx, data.u_idx, data.y, data.w))
    dd = _tf_loop.DeviceData(data)
    before = int(dd.u_idx[3])
    data.u_idx[3] = before + 1  # visible through the tensor: the same memory
    assert int(dd.u_idx[3]) == before + 1
    data.y[5] = 7.0
    assert float(dd.y[5]) == 7.0
    odd = np.zeros(101, np.float32)[1:]  # 4 bytes past an allocation's start: not 64-byte aligned
    t = _tf_loop._tensor(odd, _tf_loop.F32)
    odd[0] = 3.0
    assert float(t[0]) == 0.0


@pytest.mark.parametrize("loss,rnd", [("bce", sorted(ROUNDS)[0]), ("mse", sorted(ROUNDS)[-1])])
def test_chunked_reputation_round_equals_the_whole_one(monkeypatch, loss, rnd):
    """Above ``reputation_mf.CHUNK`` ratings a round's data term is summed chunk by chunk: the
    round reaches the whole-array round's parameters and losses up to float32 order effects, and
    repeats bit for bit."""
    from cnlab.mf import reputation_mf

    ni, ri, y, params, w = _problem(11, 80, 50, 1500)
    trainable, reg_kw = ROUNDS[rnd]
    cfg = dg.DiligenceConfig()
    reg = dg.regularization(cfg, **reg_kw)

    def run():
        m = ReputationMF(ni, ri, y, params, loss=loss)
        lv, hist = m.train_round(w, reg, trainable, cfg)
        return lv, hist, {name: m.get(name) for name in PARAMS}

    monkeypatch.setattr(reputation_mf, "_ROUND_CACHE", {})
    whole = run()
    monkeypatch.setattr(reputation_mf, "_ROUND_CACHE", {})  # CHUNK is read when a round is traced
    monkeypatch.setattr(reputation_mf, "CHUNK", 400)  # four chunks, the last one partial
    a, b = run(), run()
    assert a[0] == b[0] and a[1] == b[1]
    for name in PARAMS:
        np.testing.assert_array_equal(a[2][name], b[2][name])
    assert len(a[1]) == len(whole[1]), "the same number of epochs"
    np.testing.assert_allclose(a[1], whole[1], rtol=CHUNKED_SUM_RTOL)
    for name in PARAMS:
        np.testing.assert_allclose(a[2][name], whole[2][name], rtol=1e-3, atol=1e-4, err_msg=name)
    assert a[1] != whole[1], "the chunked sums took another order: some loss bits should differ"
