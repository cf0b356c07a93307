"""The official training loop (spec 01 §7) in TensorFlow.  The only module that imports TF.

A fit is one graph call: the loss and gradients at the start, then the loop (``tf.while_loop``)
of steps: clip the stored gradients, Adam update (PyTorch formula, written by hand), loss and
gradients at the new parameters; the stopping rule is evaluated in float64 on the float32 loss,
as ``loss.item()`` is in the official loop. The step-by-step form (one graph call per step, the
rule in Python) is the reference it is tested against bit for bit.

The graph is traced once per process for each loss (MSE, BCE) and number of factors, with unknown
sizes: what a fit trains, its weights, μ in the prediction and gradient clipping are runtime
switches (``tf.cond``), so a frozen tensor's gradient and update are not computed, and every fit
of every scorer reuses the trace (a whole roster traced 22 functions before, 2 now).

Gradients are written out analytically (not with a tape) so that (a) frozen tensors cost nothing,
(b) per-note / per-rater sums use ``tf.math.bincount`` with weights (a serial scatter-add on CPU:
fixed order, bit-identical repeat runs, much faster than ``unsorted_segment_sum``), (c) no per-step copy of the ratings is kept.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from cnlab._arrays import ALIGNMENT

from ._common import Params, RegCoeffs, TrainData
from ._tf_setup import import_tensorflow

tf = import_tensorflow()

F32 = tf.float32

_CACHE: dict = {}


@dataclass(frozen=True)
class _Static:
    """What shapes the graph: the loss and the number of factors. Everything else that varies
    between fits (what is trained, weights, μ in the prediction, clipping) is a runtime input, so
    one traced function serves every fit of a process with this loss and k."""

    bce: bool
    k: int


#: Positions of the runtime switches in the ``flags`` input (a bool vector).
TRAIN_NOTES, TRAIN_RATERS, TRAIN_GLOBAL, HAS_W, USE_GLOBAL, CLIP = range(6)


def _flags(trainable, has_w: bool, use_global: bool, clip: bool):
    return tf.constant([*trainable, has_w, use_global, clip], tf.bool)


def _bincount(idx, weights, size):
    """Σ of ``weights`` per index.  ``tf.math.bincount`` with weights is a serial scatter-add on
    CPU (fixed order → bit-reproducible) and ~15× faster there than ``unsorted_segment_sum``."""
    return tf.math.bincount(idx, weights=weights, minlength=size, maxlength=size, dtype=F32)


#: Ratings per pass of the data term when a fit trains on more than this many. Every rating-length
#: temporary of a step (both sides' gathered parameters, the prediction, the residual, its products
#: with the other side's factors: ~70 B a rating) then exists for one chunk only, not for all N:
#: one MF fit on 100M ratings goes from ~7 GiB of step temporaries to ~0.07 GiB (and the steps are faster: the chunk stays in cache). The sums over
#: chunks add the same terms in another order, so a fit above this size is deterministic but not
#: bit-identical to the unchunked sum; every fit at or below it (all fixtures) is unchanged.
CHUNK = 1 << 20


def _data_part(tn, tu, mu, n_idx, u_idx, y, w, hp, flags, s: _Static):
    """Per-rating data loss and its derivative w.r.t. the prediction, with both sides' gathered
    parameters, for a set of ratings (all of them, or one chunk). Weighted when HAS_W."""
    pw = hp[6]
    # gather_nd on an index column gathers the same rows ~1.5x faster than gather on CPU
    gn = tf.gather_nd(tn, n_idx[:, None])
    gu = tf.gather_nd(tu, u_idx[:, None])
    pred = gn[:, 0] + gu[:, 0]
    for j in range(1, s.k + 1):
        pred = pred + gn[:, j] * gu[:, j]
    pred = tf.cond(flags[USE_GLOBAL], lambda: pred + mu, lambda: pred)
    if s.bce:
        # BCEWithLogits with pos_weight (PyTorch): (1−y)z + (1+(pw−1)y)(log1p(e^{−|z|}) + max(−z,0))
        lw = 1.0 + (pw - 1.0) * y
        per = (1.0 - y) * pred + lw * (tf.math.log1p(tf.exp(-tf.abs(pred))) + tf.nn.relu(-pred))
        d = tf.sigmoid(pred) * lw - pw * y
    else:
        e = pred - y
        per = e * e
        d = 2.0 * e
    per, d = tf.cond(flags[HAS_W], lambda: (w * per, w * d), lambda: (per, d))
    return per, d, gn, gu


def _side_columns(d, g_other, k: int):
    """[d | d·f_other,1 | … ]: the per-rating terms of the data term's gradient w.r.t. one side's
    [intercept | factors] (``d`` already divided by N)."""
    return [d] + [d * g_other[:, j] for j in range(1, k + 1)]


def _column_sums(idx, columns, size):
    """Σ of each per-rating column per index, stacked as an ``(size, len(columns))`` table."""
    return tf.stack([_bincount(idx, c, size) for c in columns], axis=1)


def _side_sums(idx, d, g_other, size, k: int):
    """[Σ d | Σ d·f_other,1 | … ] per index of one side (see :func:`_side_columns`)."""
    return _column_sums(idx, _side_columns(d, g_other, k), size)


def _add_in_range(acc, idx, columns):
    """``acc`` plus one chunk's per-index sums of the per-rating ``columns``, the sums computed
    over the chunk's index range.

    A sum over the whole side (``M`` or ``U`` rows) for every chunk made a step cost
    ~(N / CHUNK)·(M + U), quadratic in the size of the data. The fit's ratings are in tile order
    above ``CHUNK`` (:func:`cnlab.mf._common.tile_order`), so a chunk's notes and raters lie in
    narrow index ranges: the bincounts cover the range only, and the range's rows are added in a
    rebuilt accumulator (one copy of it, the cheapest whole-side operation; ``tensor_scatter_nd_add``
    was slower, at ~80 ns a row). Each row gets exactly one addition per chunk, as before, so the
    sums are those of the whole-side form bit for bit. Shared by the reputation model's rounds."""
    lo, hi = tf.reduce_min(idx), tf.reduce_max(idx)
    size = tf.shape(acc)[0]

    def in_range():
        return tf.concat([acc[:lo], acc[lo:hi + 1] + _column_sums(idx - lo, columns, hi - lo + 1), acc[hi + 1:]],
                         axis=0)

    # a chunk that spans most of the side (ratings not in tile order) takes the whole-side sums:
    # the same additions (a row outside the range gets + 0), without the range's extra passes
    return tf.cond(2 * (hi - lo + 1) < size, in_range, lambda: acc + _column_sums(idx, columns, size))


def _chunked_data_sums(tn, tu, mu, n_idx, u_idx, y, w, hp, flags, s: _Static):
    """The data term's Σ loss, per-note and per-rater gradient columns and Σ d over chunks of
    ``CHUNK`` ratings (a ``tf.while_loop``), so that a step's rating-length temporaries are
    chunk-sized. The gradient columns of a frozen side are not computed."""
    N = tf.shape(y)[0]
    n = tf.cast(N, F32)
    n_chunks = (N + CHUNK - 1) // CHUNK

    def body(i, loss_sum, note_acc, rater_acc, d_sum):
        lo = i * CHUNK
        size = tf.minimum(CHUNK, N - lo)
        a, b = n_idx[lo:lo + size], u_idx[lo:lo + size]
        wc = tf.cond(flags[HAS_W], lambda: w[lo:lo + size], lambda: w)
        per, d, gn, gu = _data_part(tn, tu, mu, a, b, y[lo:lo + size], wc, hp, flags, s)
        d = d / n
        note_acc = tf.cond(flags[TRAIN_NOTES], lambda: _add_in_range(note_acc, a, _side_columns(d, gu, s.k)), lambda: note_acc)
        rater_acc = tf.cond(flags[TRAIN_RATERS], lambda: _add_in_range(rater_acc, b, _side_columns(d, gn, s.k)), lambda: rater_acc)
        return i + 1, loss_sum + tf.reduce_sum(per), note_acc, rater_acc, d_sum + tf.reduce_sum(d)

    state = (tf.constant(0), tf.constant(0.0, F32), tf.zeros_like(tn), tf.zeros_like(tu), tf.constant(0.0, F32))
    _, loss_sum, note_acc, rater_acc, d_sum = tf.while_loop(
        lambda i, *_: i < n_chunks, body, state, parallel_iterations=1)
    return loss_sum / n, note_acc, rater_acc, d_sum


def _loss_and_grads(tn, tu, mu, n_idx, u_idx, y, w, hp, flags, s: _Static):
    """Regularised loss (spec 01 §6) and its gradients w.r.t. the trainable tensors (zeros for the
    frozen ones, which are not computed: each switch is a ``tf.cond``).

    tn = [i_n | f_n] (M, 1+k), tu = [i_u | f_u] (U, 1+k): one gather per side per step.
    hp = [c_nf, c_ni, c_nd, c_uf, c_ui, c_mu, pos_weight] (float32). Above ``CHUNK`` ratings the
    data term is summed chunk by chunk (``_chunked_data_sums``)."""
    c_nf, c_ni, c_nd, c_uf, c_ui, c_mu = (hp[i] for i in range(6))
    k = s.k
    N = tf.shape(y)[0]
    n = tf.cast(N, F32)
    M, U = tf.shape(tn)[0], tf.shape(tu)[0]

    def whole():
        per, d, gn, gu = _data_part(tn, tu, mu, n_idx, u_idx, y, w, hp, flags, s)
        d = d / n
        note_d = tf.cond(flags[TRAIN_NOTES], lambda: _side_sums(n_idx, d, gu, M, k),
                         lambda: tf.zeros_like(tn))
        rater_d = tf.cond(flags[TRAIN_RATERS], lambda: _side_sums(u_idx, d, gn, U, k),
                          lambda: tf.zeros_like(tu))
        d_sum = tf.cond(flags[TRAIN_GLOBAL], lambda: tf.reduce_sum(d), lambda: tf.constant(0.0, F32))
        return tf.reduce_mean(per), note_d, rater_d, d_sum

    data_loss, note_d, rater_d, d_sum = tf.cond(
        N > CHUNK, lambda: _chunked_data_sums(tn, tu, mu, n_idx, u_idx, y, w, hp, flags, s), whole)
    ni, nf = tn[:, 0], tn[:, 1:]
    ri, rf = tu[:, 0], tu[:, 1:]
    prod = nf * tf.expand_dims(ni, 1)
    loss = (
        data_loss
        + c_nf * tf.reduce_sum(nf * nf)
        + c_ni * tf.reduce_sum(ni * ni)
        + c_nd * tf.reduce_sum(tf.abs(prod))
        + c_uf * tf.reduce_sum(rf * rf)
        + c_ui * tf.reduce_sum(ri * ri)
        + c_mu * mu * mu
    )

    def note_grads():
        sg = tf.sign(prod)
        cols = [note_d[:, 0] + 2.0 * c_ni * ni + c_nd * tf.reduce_sum(sg * nf, axis=1)]
        for j in range(1, k + 1):
            cols.append(note_d[:, j] + 2.0 * c_nf * tn[:, j] + c_nd * sg[:, j - 1] * ni)
        return tf.stack(cols, axis=1)

    def rater_grads():
        cols = [rater_d[:, 0] + 2.0 * c_ui * ri]
        for j in range(1, k + 1):
            cols.append(rater_d[:, j] + 2.0 * c_uf * tu[:, j])
        return tf.stack(cols, axis=1)

    def global_grad():
        gmu = 2.0 * c_mu * mu
        return tf.cond(flags[USE_GLOBAL], lambda: gmu + d_sum, lambda: gmu)

    grads = [
        tf.cond(flags[TRAIN_NOTES], note_grads, lambda: tf.zeros_like(tn)),
        tf.cond(flags[TRAIN_RATERS], rater_grads, lambda: tf.zeros_like(tu)),
        tf.cond(flags[TRAIN_GLOBAL], global_grad, lambda: tf.zeros_like(mu)),
    ]
    return loss, grads


def _step(params, m, v, g, t, lr, opt, data, hp, flags, s: _Static):
    """One official step: clip the stored gradients, Adam update (PyTorch formula, written by hand)
    of the trainable tensors, then loss and gradients at the new parameters."""
    # opt = [beta1, beta2, eps, max_norm, clip_eps] (float64)
    b1, b2, eps, max_norm, clip_eps = (opt[i] for i in range(5))
    mask = [flags[TRAIN_NOTES], flags[TRAIN_RATERS], flags[TRAIN_GLOBAL]]

    def clipped():
        # torch.nn.utils.clip_grad_norm_: total = ‖all gradients‖₂; coef = min(1, max/(total+1e-6)).
        # A frozen tensor's norm enters as 0.0: x + 0.0 = x, the total of the trained ones unchanged.
        norms = tf.stack([tf.cond(mk, lambda gi=gi: tf.norm(tf.reshape(gi, [-1])), lambda: tf.constant(0.0, F32))
                          for gi, mk in zip(g, mask)])
        total = tf.norm(norms)
        coef = tf.minimum(tf.cast(max_norm, F32) / (total + tf.cast(clip_eps, F32)), 1.0)
        return [tf.cond(mk, lambda gi=gi: gi * coef, lambda gi=gi: gi) for gi, mk in zip(g, mask)]

    g = tf.cond(flags[CLIP], clipped, lambda: list(g))
    t = t + 1.0
    bc1 = 1.0 - tf.pow(b1, t)
    bc2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(b2, t)), F32)
    step_size = tf.cast(lr / bc1, F32)
    b1f, b2f, epsf = tf.cast(b1, F32), tf.cast(b2, F32), tf.cast(eps, F32)
    new_p, new_m, new_v = [], [], []
    for p, mi, vi, gi, mk in zip(params, m, v, g, mask):
        def adam(p=p, mi=mi, vi=vi, gi=gi):
            mi = mi + (1.0 - b1f) * (gi - mi)  # torch: exp_avg.lerp_(grad, 1-β1)
            vi = vi * b2f + (1.0 - b2f) * gi * gi
            denom = tf.sqrt(vi) / bc2_sqrt + epsf
            return p - step_size * (mi / denom), mi, vi

        p, mi, vi = tf.cond(mk, adam, lambda p=p, mi=mi, vi=vi: (p, mi, vi))
        new_p.append(p)
        new_m.append(mi)
        new_v.append(vi)
    loss, grads = _loss_and_grads(*new_p, *data, hp, flags, s)
    return new_p, new_m, new_v, grads, t, loss


def _loop(params, m, v, g, t, lr, opt, data, hp, flags, loss, prev, epoch, conv, rise, max_steps, s: _Static):
    """The official loop from (loss, prev, epoch) on. Ends when the rule stops it (flag 0), at
    max_steps (flag 1) or on a NaN loss (flag 2: the caller restarts)."""
    hist = tf.TensorArray(tf.float64, size=0, dynamic_size=True)

    def cond(params, m, v, g, t, loss, prev, epoch, hist, n, flag):
        going = tf.logical_and(tf.abs(loss - prev) > conv,
                               tf.logical_not(tf.logical_and(epoch > rise, loss > prev)))
        return tf.logical_and(going, tf.equal(flag, 0))

    def body(params, m, v, g, t, loss, prev, epoch, hist, n, flag):
        def at_max():
            return params, m, v, g, t, loss, prev, epoch, hist, n, tf.constant(1)

        def one_step():
            p2, m2, v2, g2, t2, l32 = _step(params, m, v, g, t, lr, opt, data, hp, flags, s)
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


def _functions(s: _Static):
    """Compiled (init, step, loop, start) functions for one loss and k, cached across fits: traced
    once per process, whatever each fit trains. ``start`` is ``init`` followed by ``loop`` in one
    graph call (what a fit without a NaN restart runs)."""
    if s in _CACHE:
        return _CACHE[s]
    # Signatures with unknown sizes: one trace per function, whatever the sizes of the fits. No
    # autograph: the control flow is tf.cond / tf.while_loop already, and its source conversion
    # was most of the trace time.
    spec = tf.TensorSpec
    side, scalar32, scalar64 = spec([None, 1 + s.k], F32), spec([], F32), spec([], tf.float64)
    tensors = [side, side, scalar32]  # [i_n | f_n], [i_u | f_u], μ; and their Adam moments, gradients
    data_spec = (spec([None], tf.int32), spec([None], tf.int32), spec([None], F32), spec([None], F32))
    common = [spec([7], F32), spec([6], tf.bool)]  # hp, flags
    rule = [scalar64, spec([], tf.int32), spec([], tf.int32)]  # convergence, rise rule, max steps

    @tf.function(autograph=False, input_signature=[tensors, data_spec, *common])
    def init_fn(params, data, hp, flags):
        return _loss_and_grads(*params, *data, hp, flags, s)

    @tf.function(autograph=False,
                 input_signature=[tensors, tensors, tensors, tensors, scalar64, scalar64, spec([5], tf.float64),
                                  data_spec, *common])
    def step_fn(params, m, v, g, t, lr, opt, data, hp, flags):
        return _step(params, m, v, g, t, lr, opt, data, hp, flags, s)

    @tf.function(autograph=False,
                 input_signature=[tensors, tensors, tensors, tensors, scalar64, scalar64, spec([5], tf.float64),
                                  data_spec, *common, scalar64, scalar64, spec([], tf.int32), *rule])
    def loop_fn(params, m, v, g, t, lr, opt, data, hp, flags, loss, prev, epoch, conv, rise, max_steps):
        return _loop(params, m, v, g, t, lr, opt, data, hp, flags, loss, prev, epoch, conv, rise, max_steps, s)

    @tf.function(autograph=False,
                 input_signature=[tensors, tensors, tensors, scalar64, scalar64, spec([5], tf.float64),
                                  data_spec, *common, *rule])
    def start_fn(params, m, v, t, lr, opt, data, hp, flags, conv, rise, max_steps):
        loss, g = _loss_and_grads(*params, *data, hp, flags, s)
        # the float32 loss as float64, as ``float(loss)`` gives it to the stepwise loop
        loss64 = tf.cast(loss, tf.float64)
        out = _loop(params, m, v, g, t, lr, opt, data, hp, flags, loss64, tf.constant(1e10, tf.float64),
                    tf.constant(0), conv, rise, max_steps, s)
        return (*out, loss64)

    _CACHE[s] = (init_fn, step_fn, loop_fn, start_fn)
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


def _tensor(a: np.ndarray, dtype):
    """``a`` as a tensor: on a CPU-only machine a C-contiguous, 64-byte aligned array of the right
    dtype is wrapped without a copy (DLPack), so the training arrays stay NumPy memory, freed with
    the fit, instead of copies that TensorFlow's pooling allocator keeps for the life of the process
    (one per distinct fit size: ~12 B a rating each). Anything else, or with a GPU, is copied
    (onto the GPU there, once per fit)."""
    if (not _gpu() and a.ndim == 1 and a.flags.c_contiguous and a.dtype == dtype.as_numpy_dtype
            and a.ctypes.data % ALIGNMENT == 0 and a.size > 0):
        return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    return tf.convert_to_tensor(a, dtype)


@functools.lru_cache(maxsize=None)
def _gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


class DeviceData:
    """Training arrays placed once on the default device (GPU when present; on a CPU, the
    :class:`TrainData` arrays themselves, not copies)."""

    def __init__(self, data: TrainData):
        self.n_idx = _tensor(data.n_idx, tf.int32)
        self.u_idx = _tensor(data.u_idx, tf.int32)
        self.y = _tensor(data.y, F32)
        self.has_w = data.w is not None
        # rank 1 either way (one element when unused), so that weighted and unweighted fits share a trace
        self.w = _tensor(data.w, F32) if self.has_w else tf.zeros(1, F32)

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

    s = _Static(cfg.loss == "bce", cfg.n_factors)
    init_fn, step_fn, loop_fn, start_fn = _functions(s)

    def setup(p: Params, tr):
        flags = _flags(tr, dd.has_w, cfg.use_global_intercept, cfg.clip_norm is not None)
        params = _pack(p)
        return flags, params, [tf.zeros_like(a) for a in params]

    flags, params, zeros = setup(p0, trainable)
    if not any(trainable):  # everything frozen: just evaluate the loss
        loss, _ = init_fn(params, data, hp, flags)
        return LoopOutput(p0.copy(), np.array([float(loss)]), 0, "nothing_trainable", 0)
    m, v = list(zeros), list(zeros)
    t = tf.constant(0.0, tf.float64)
    prev = 1e10
    epoch = 0
    restarts = 0
    conv, rise = cfg.convergence, cfg.rise_rule_after
    stop = None

    def restart():
        nonlocal restarts, flags, params, m, v, t, g, L
        restarts += 1
        if reinit is None or restarts > cfg.max_nan_restarts:
            raise FloatingPointError(f"MF loss became NaN at step {epoch + 1} ({restarts} restart(s))")
        p_new, tr_new = reinit()
        flags, params, zeros_ = setup(p_new, tr_new)
        m, v = list(zeros_), list(zeros_)
        t = tf.constant(0.0, tf.float64)
        loss_t, g = init_fn(params, data, hp, flags)
        L = float(loss_t)

    if compiled:
        consts = (tf.constant(conv, tf.float64), tf.constant(rise, tf.int32), tf.constant(cfg.max_steps, tf.int32))
        # the first call computes the starting loss and gradients too (one graph call, one trace)
        *out, L0 = start_fn(params, m, v, t, lr_t, opt, data, hp, flags, *consts)
        hist = [float(L0)]
        while True:
            params, m, v, g, t, L_t, prev_t, epoch_t, h, flag = out
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
            out = loop_fn(params, m, v, g, t, lr_t, opt, data, hp, flags, tf.constant(L, tf.float64),
                          tf.constant(prev, tf.float64), tf.constant(epoch, tf.int32), *consts)
    else:
        loss_t, g = init_fn(params, data, hp, flags)
        L = float(loss_t)
        hist = [L]
        while abs(L - prev) > conv and not (epoch > rise and L > prev):
            if epoch >= cfg.max_steps:
                stop = "max_steps"
                break
            prev = L
            params, m, v, g, t, loss_t = step_fn(params, m, v, g, t, lr_t, opt, data, hp, flags)
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
