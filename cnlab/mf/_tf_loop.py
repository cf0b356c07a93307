"""The official training loop (spec 01 §7) in TensorFlow.  The only module that imports TF.

One compiled graph call per step: clip the stored gradients, Adam update (PyTorch formula, written
by hand), then loss and gradients at the new parameters.  The stopping rule runs in Python on the
float32 loss converted to a Python float, exactly as ``loss.item()`` in the official loop.

Gradients are written out analytically (not with a tape) so that (a) frozen tensors cost nothing,
(b) per-note / per-rater sums use ``tf.math.bincount`` with weights (a serial scatter-add on CPU:
fixed order, bit-identical repeat runs, much faster than ``unsorted_segment_sum``), (c) no per-step copy of the ratings is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._common import Params, RegCoeffs, TrainData
from ._tf_setup import import_tensorflow

tf = import_tensorflow()

F32 = tf.float32

_CACHE: dict = {}


@dataclass(frozen=True)
class _Static:
    train_notes: bool
    train_raters: bool
    train_global: bool
    bce: bool
    has_w: bool
    use_global: bool
    clip: bool
    k: int


def _bincount(idx, weights, size):
    """Σ of ``weights`` per index.  ``tf.math.bincount`` with weights is a serial scatter-add on
    CPU (fixed order → bit-reproducible) and ~15× faster there than ``unsorted_segment_sum``."""
    return tf.math.bincount(idx, weights=weights, minlength=size, maxlength=size, dtype=F32)


def _loss_and_grads(tn, tu, mu, n_idx, u_idx, y, w, hp, s: _Static):
    """Regularised loss (spec 01 §6) and its gradients w.r.t. the trainable tensors.

    tn = [i_n | f_n] (M, 1+k), tu = [i_u | f_u] (U, 1+k): one gather per side per step.
    hp = [c_nf, c_ni, c_nd, c_uf, c_ui, c_mu, pos_weight] (float32)."""
    c_nf, c_ni, c_nd, c_uf, c_ui, c_mu, pw = (hp[i] for i in range(7))
    k = s.k
    gn = tf.gather(tn, n_idx)
    gu = tf.gather(tu, u_idx)
    pred = gn[:, 0] + gu[:, 0]
    for j in range(1, k + 1):
        pred = pred + gn[:, j] * gu[:, j]
    if s.use_global:
        pred = pred + mu
    n = tf.cast(tf.shape(y)[0], F32)
    if s.bce:
        # BCEWithLogits with pos_weight (PyTorch): (1−y)z + (1+(pw−1)y)(log1p(e^{−|z|}) + max(−z,0))
        lw = 1.0 + (pw - 1.0) * y
        per = (1.0 - y) * pred + lw * (tf.math.log1p(tf.exp(-tf.abs(pred))) + tf.nn.relu(-pred))
        d = tf.sigmoid(pred) * lw - pw * y
    else:
        e = pred - y
        per = e * e
        d = 2.0 * e
    if s.has_w:
        per = w * per
        d = w * d
    ni, nf = tn[:, 0], tn[:, 1:]
    ri, rf = tu[:, 0], tu[:, 1:]
    prod = nf * tf.expand_dims(ni, 1)
    loss = (
        tf.reduce_mean(per)
        + c_nf * tf.reduce_sum(nf * nf)
        + c_ni * tf.reduce_sum(ni * ni)
        + c_nd * tf.reduce_sum(tf.abs(prod))
        + c_uf * tf.reduce_sum(rf * rf)
        + c_ui * tf.reduce_sum(ri * ri)
        + c_mu * mu * mu
    )
    d = d / n
    grads = [None] * 3
    if s.train_notes:
        M = tf.shape(tn)[0]
        sg = tf.sign(prod)
        cols = [_bincount(n_idx, d, M) + 2.0 * c_ni * ni + c_nd * tf.reduce_sum(sg * nf, axis=1)]
        for j in range(1, k + 1):
            cols.append(_bincount(n_idx, d * gu[:, j], M) + 2.0 * c_nf * tn[:, j] + c_nd * sg[:, j - 1] * ni)
        grads[0] = tf.stack(cols, axis=1)
    if s.train_raters:
        U = tf.shape(tu)[0]
        cols = [_bincount(u_idx, d, U) + 2.0 * c_ui * ri]
        for j in range(1, k + 1):
            cols.append(_bincount(u_idx, d * gn[:, j], U) + 2.0 * c_uf * tu[:, j])
        grads[1] = tf.stack(cols, axis=1)
    if s.train_global:
        gmu = 2.0 * c_mu * mu
        if s.use_global:
            gmu = gmu + tf.reduce_sum(d)
        grads[2] = gmu
    return loss, grads


def _mask(s: _Static):
    return (s.train_notes, s.train_raters, s.train_global)


def _functions(s: _Static):
    """Compiled (init, step) pair for one static configuration, cached across fits."""
    if s in _CACHE:
        return _CACHE[s]
    mask = _mask(s)

    def _fill(grads):
        return [g if m else tf.zeros((), F32) for g, m in zip(grads, mask)]

    @tf.function(reduce_retracing=True)
    def init_fn(params, data, hp):
        loss, grads = _loss_and_grads(*params, *data, hp, s)
        return loss, _fill(grads)

    def step(params, m, v, g, t, lr, opt, data, hp):
        # opt = [beta1, beta2, eps, max_norm, clip_eps] (float64)
        b1, b2, eps, max_norm, clip_eps = (opt[i] for i in range(5))
        g = list(g)
        if s.clip:
            # torch.nn.utils.clip_grad_norm_: total = ‖all gradients‖₂; coef = min(1, max/(total+1e-6))
            norms = tf.stack([tf.norm(tf.reshape(gi, [-1])) for gi, mk in zip(g, mask) if mk])
            total = tf.norm(norms)
            coef = tf.minimum(tf.cast(max_norm, F32) / (total + tf.cast(clip_eps, F32)), 1.0)
            g = [gi * coef if mk else gi for gi, mk in zip(g, mask)]
        t = t + 1.0
        bc1 = 1.0 - tf.pow(b1, t)
        bc2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(b2, t)), F32)
        step_size = tf.cast(lr / bc1, F32)
        b1f, b2f, epsf = tf.cast(b1, F32), tf.cast(b2, F32), tf.cast(eps, F32)
        new_p, new_m, new_v = [], [], []
        for p, mi, vi, gi, mk in zip(params, m, v, g, mask):
            if not mk:
                new_p.append(p)
                new_m.append(mi)
                new_v.append(vi)
                continue
            mi = mi + (1.0 - b1f) * (gi - mi)  # torch: exp_avg.lerp_(grad, 1-β1)
            vi = vi * b2f + (1.0 - b2f) * gi * gi
            denom = tf.sqrt(vi) / bc2_sqrt + epsf
            p = p - step_size * (mi / denom)
            new_p.append(p)
            new_m.append(mi)
            new_v.append(vi)
        loss, grads = _loss_and_grads(*new_p, *data, hp, s)
        return new_p, new_m, new_v, _fill(grads), t, loss

    step_fn = tf.function(step, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def loop_fn(params, m, v, g, t, lr, opt, data, hp, loss, prev, epoch, conv, rise, max_steps):
        """The official loop from (loss, prev, epoch) on, in one graph call. Ends when the rule stops
        it (flag 0), at max_steps (flag 1) or on a NaN loss (flag 2: the caller restarts)."""
        hist = tf.TensorArray(tf.float64, size=0, dynamic_size=True)

        def cond(params, m, v, g, t, loss, prev, epoch, hist, n, flag):
            going = tf.logical_and(tf.abs(loss - prev) > conv,
                                   tf.logical_not(tf.logical_and(epoch > rise, loss > prev)))
            return tf.logical_and(going, tf.equal(flag, 0))

        def body(params, m, v, g, t, loss, prev, epoch, hist, n, flag):
            def at_max():
                return params, m, v, g, t, loss, prev, epoch, hist, n, tf.constant(1)

            def one_step():
                p2, m2, v2, g2, t2, l32 = step(params, m, v, g, t, lr, opt, data, hp)
                l64 = tf.cast(l32, tf.float64)
                nan = tf.math.is_nan(l64)
                hist2, n2 = tf.cond(nan, lambda: (hist, n), lambda: (hist.write(n, l64), n + 1))
                return (p2, m2, v2, g2, t2, l64, loss, tf.where(nan, epoch, epoch + 1), hist2, n2,
                        tf.where(nan, 2, 0))

            return tf.cond(epoch >= max_steps, at_max, one_step)

        state = (params, m, v, g, t, loss, prev, epoch, hist, tf.constant(0), tf.constant(0))

        def free(x):  # sizes may be known at trace time while the gradients' are not: keep the rank only
            return tf.TensorShape(None) if isinstance(x, tf.TensorArray) else tf.TensorShape([None] * x.shape.rank)

        out = tf.while_loop(cond, body, state, shape_invariants=tf.nest.map_structure(free, state),
                            parallel_iterations=1)
        params, m, v, g, t, loss, prev, epoch, hist, n, flag = out
        return params, m, v, g, t, loss, prev, epoch, hist.stack()[:n], flag

    _CACHE[s] = (init_fn, step_fn, loop_fn)
    return _CACHE[s]


@dataclass
class LoopOutput:
    params: Params
    history: np.ndarray
    n_steps: int
    stop_reason: str
    n_restarts: int


def _pack(p: Params):
    tn = np.concatenate([p.ni[:, None], p.nf], axis=1).astype(np.float32)
    tu = np.concatenate([p.ri[:, None], p.rf], axis=1).astype(np.float32)
    return [tf.convert_to_tensor(tn), tf.convert_to_tensor(tu), tf.convert_to_tensor(np.float32(p.mu))]


class DeviceData:
    """Training arrays placed once on the default device (GPU when present)."""

    def __init__(self, data: TrainData):
        self.n_idx = tf.convert_to_tensor(data.n_idx, tf.int32)
        self.u_idx = tf.convert_to_tensor(data.u_idx, tf.int32)
        self.y = tf.convert_to_tensor(data.y, F32)
        self.has_w = data.w is not None
        self.w = tf.convert_to_tensor(data.w if self.has_w else np.zeros((), np.float32), F32)

    def tuple(self):
        return (self.n_idx, self.u_idx, self.y, self.w)


def run_loop(
    dd: DeviceData,
    p0: Params,
    trainable: tuple[bool, bool, bool],
    cfg,
    coeffs: RegCoeffs,
    lr: float,
    reinit=None,
    *,
    compiled: bool = True,
) -> LoopOutput:
    """Official loop (spec 01 §7):

        prev = 1e10; L = loss; epoch = 0
        while |L − prev| > conv and not (epoch > 100 and L > prev):
            prev = L; clip(g); adam(g); L = loss; [NaN → re-create from inits]; epoch += 1

    ``reinit()`` returns (Params, trainable) for the NaN restart. ``compiled`` runs the loop in one
    graph call (``tf.while_loop``, the stopping rule evaluated in float64 on the float32 loss, as
    ``loss.item()`` is); ``compiled=False`` takes one graph call per step with the rule in Python,
    the reference it is tested against bit for bit."""
    hp = tf.constant(
        [coeffs.c_nf, coeffs.c_ni, coeffs.c_nd, coeffs.c_uf, coeffs.c_ui, coeffs.c_mu,
         1.0 if cfg.pos_weight is None else cfg.pos_weight],
        F32,
    )
    opt = tf.constant(
        [cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps, cfg.clip_norm or 0.0, cfg.clip_eps], tf.float64
    )
    lr_t = tf.constant(lr, tf.float64)
    data = dd.tuple()

    def setup(p: Params, tr):
        s = _Static(*tr, cfg.loss == "bce", dd.has_w, cfg.use_global_intercept, cfg.clip_norm is not None, cfg.n_factors)
        if not any(tr):
            return s, None, None, None
        fns = _functions(s)
        params = _pack(p)
        zeros = [tf.zeros_like(a) if mk else tf.zeros((), F32) for a, mk in zip(params, _mask(s))]
        return s, fns, params, zeros

    s, fns, params, zeros = setup(p0, trainable)
    if fns is None:  # everything frozen: just evaluate the loss
        s0 = _Static(False, False, False, cfg.loss == "bce", dd.has_w, cfg.use_global_intercept, False, cfg.n_factors)
        loss, _ = _functions(s0)[0](_pack(p0), data, hp)
        return LoopOutput(p0.copy(), np.array([float(loss)]), 0, "nothing_trainable", 0)
    init_fn, step_fn, loop_fn = fns
    m, v = list(zeros), list(zeros)
    t = tf.constant(0.0, tf.float64)
    loss_t, g = init_fn(params, data, hp)
    L = float(loss_t)
    prev = 1e10
    hist = [L]
    epoch = 0
    restarts = 0
    conv, rise = cfg.convergence, cfg.rise_rule_after
    stop = None

    def restart():
        nonlocal restarts, s, init_fn, step_fn, loop_fn, params, m, v, t, g, L
        restarts += 1
        if reinit is None or restarts > cfg.max_nan_restarts:
            raise FloatingPointError(f"MF loss became NaN at step {epoch + 1} ({restarts} restart(s))")
        p_new, tr_new = reinit()
        s, (init_fn, step_fn, loop_fn), params, zeros_ = setup(p_new, tr_new)
        m, v = list(zeros_), list(zeros_)
        t = tf.constant(0.0, tf.float64)
        loss_t, g = init_fn(params, data, hp)
        L = float(loss_t)

    if compiled:
        consts = (tf.constant(conv, tf.float64), tf.constant(rise, tf.int32), tf.constant(cfg.max_steps, tf.int32))
        while True:
            params, m, v, g, t, L_t, prev_t, epoch_t, h, flag = loop_fn(
                params, m, v, g, t, lr_t, opt, data, hp, tf.constant(L, tf.float64), tf.constant(prev, tf.float64),
                tf.constant(epoch, tf.int32), *consts)
            params, m, v, g = list(params), list(m), list(v), list(g)
            hist.extend(h.numpy().tolist())
            L, prev, epoch, flag = float(L_t), float(prev_t), int(epoch_t), int(flag)
            if flag == 1:
                stop = "max_steps"
            if flag != 2:
                break
            restart()  # NaN: re-create from the inits, then go on counting epochs
            hist.append(L)
            epoch += 1
    else:
        while abs(L - prev) > conv and not (epoch > rise and L > prev):
            if epoch >= cfg.max_steps:
                stop = "max_steps"
                break
            prev = L
            params, m, v, g, t, loss_t = step_fn(params, m, v, g, t, lr_t, opt, data, hp)
            L = float(loss_t)
            if math.isnan(L):
                restart()
            hist.append(L)
            epoch += 1
    if stop is None:
        stop = "converged" if not abs(L - prev) > conv else "loss_increase"
    tn, tu, mu = (a.numpy() for a in params)
    p = Params(tn[:, 0].copy(), tn[:, 1:].copy(), tu[:, 0].copy(), tu[:, 1:].copy(), np.float32(mu))
    return LoopOutput(p, np.asarray(hist, np.float64), epoch, stop, restarts)
