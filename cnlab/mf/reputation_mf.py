"""The reputation matrix factorization (spec 06 §D.1–§D.3) as TensorFlow variables and its Adam loop.

    pred = (noteEmb · raterEmb) / √d + noteBias × raterReputation + raterBias + globalBias

Used by the note-diligence model (:mod:`cnlab.scorers.diligence`) and the ReputationScorer
(:mod:`cnlab.scorers.reputation`), which build the data, weights and regularization; this module
only holds the TensorFlow part (TensorFlow lives in :mod:`cnlab.mf` alone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cnlab._arrays import aligned_empty

from ._common import TILE_ABOVE, tile_order
from ._tf_setup import import_tensorflow

_PARAM_NAMES = ("note_emb", "rater_emb", "note_bias", "rater_bias", "reputation", "global_bias")


class ReputationMF:
    """Reputation MF parameters and loss (spec 06 §D.1–D.3) as TensorFlow variables.

    Parameters
    ----------
    note_idx, rater_idx, targets
        Per-rating note index, rater index and target (0/1 for diligence, ``helpfulNum``
        ∈ {0, 0.5, 1} for the helpfulness-reputation model).
    params
        Initial arrays: ``note_emb`` (M×d), ``rater_emb`` (U×d), ``note_bias`` (M),
        ``rater_bias`` (U), ``reputation`` (U), ``global_bias`` (scalar).
    loss
        Element-wise loss ℓ of the data term mean(w·ℓ) (official ``lossFunction``):
        ``"bce"`` — BCE with logits, ℓ = −y log σ(ŷ) − (1 − y) log(1 − σ(ŷ));
        ``"mse"`` — ℓ = (ŷ − y)².  The activation is the identity (ŷ as in §D.1).
    """

    def __init__(self, note_idx, rater_idx, targets, params: Mapping[str, Any], *, loss: str = "bce"):
        tf = import_tensorflow()
        if loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
        self._tf = tf
        self.loss_name = loss
        note_idx = np.asarray(note_idx, dtype=np.int32)
        rater_idx = np.asarray(rater_idx, dtype=np.int32)
        self._order = None
        if len(note_idx) > TILE_ABOVE:
            # large rounds train in tile order (as cnlab.mf's fits): a chunk's gathers and sums
            # stay in a few blocks of each table; per-rating inputs and outputs are permuted
            self._order = tile_order(note_idx, rater_idx, len(np.asarray(params["rater_bias"]).reshape(-1)))
        # one permuted copy at a time, each released once TensorFlow holds its own
        self.note_idx = self._tensor(note_idx, np.int32)
        self.rater_idx = self._tensor(rater_idx, np.int32)
        del note_idx, rater_idx
        self.targets = self._tensor(targets)
        self.n_ratings = int(self.targets.shape[0])
        note_emb = np.asarray(params["note_emb"], dtype=np.float32)
        rater_emb = np.asarray(params["rater_emb"], dtype=np.float32)
        if note_emb.ndim == 1:
            note_emb = note_emb[:, None]
        if rater_emb.ndim == 1:
            rater_emb = rater_emb[:, None]
        self.n_dim = note_emb.shape[1]
        self.vars = {
            "note_emb": tf.Variable(note_emb, name="note_emb"),
            "rater_emb": tf.Variable(rater_emb, name="rater_emb"),
            "note_bias": tf.Variable(np.asarray(params["note_bias"], dtype=np.float32).reshape(-1), name="note_bias"),
            "rater_bias": tf.Variable(np.asarray(params["rater_bias"], dtype=np.float32).reshape(-1), name="rater_bias"),
            "reputation": tf.Variable(np.asarray(params["reputation"], dtype=np.float32).reshape(-1), name="reputation"),
            "global_bias": tf.Variable(np.float32(params["global_bias"]), name="global_bias"),
        }
        for name, var in self.vars.items():
            if not np.all(np.isfinite(var.numpy())):
                raise ValueError(f"diligence: initial {name} contains NaN/inf")

    # -- values --------------------------------------------------------------
    def get(self, name: str) -> np.ndarray:
        """Current value of a parameter as numpy (embeddings flattened when d = 1)."""
        value = self.vars[name].numpy()
        if name.endswith("_emb") and value.shape[1] == 1:
            value = value[:, 0]
        return value.copy()

    def assign(self, name: str, value) -> None:
        var = self.vars[name]
        var.assign(np.asarray(value, dtype=np.float32).reshape(var.shape))

    # -- model ---------------------------------------------------------------
    def _predict(self):
        tf = self._tf
        v = self.vars
        dot = tf.reduce_sum(tf.gather(v["note_emb"], self.note_idx) * tf.gather(v["rater_emb"], self.rater_idx), axis=1)
        pred = dot / np.float32(math.sqrt(self.n_dim))
        pred = pred + tf.gather(v["note_bias"], self.note_idx) * tf.gather(v["reputation"], self.rater_idx)
        return pred + tf.gather(v["rater_bias"], self.rater_idx) + v["global_bias"]

    def _ordered(self, per_rating, dtype=np.float32) -> np.ndarray:
        """Per-rating values (input order) in the training order."""
        values = np.asarray(per_rating, dtype=dtype)
        return values if self._order is None else np.take(values, self._order)

    def _tensor(self, per_rating, dtype=np.float32):
        """Per-rating values in the training order as a tensor that wraps a 64-byte aligned NumPy
        copy (:func:`cnlab.mf._tf_loop._tensor`): freed with this model, where a ``tf.constant``
        copy stayed in TensorFlow's pooling allocator for the life of the process (a final-scoring
        diligence fit at 206M ratings: ~20 bytes a rating in the parent process)."""
        values = np.asarray(per_rating, dtype=dtype)
        out = aligned_empty(values.shape, dtype)
        if self._order is None:
            out[...] = values
        else:
            np.take(values, self._order, out=out)
        from ._tf_loop import _tensor  # TensorFlow is imported by then (this model's __init__)

        return _tensor(out, self._tf.as_dtype(dtype))

    def predict(self) -> np.ndarray:
        """Predictions per rating, in input order (logits for the BCE loss; identity activation)."""
        pred = self._predict().numpy()
        if self._order is None:
            return pred
        out = np.empty_like(pred)
        out[self._order] = pred
        return out

    def _reg_loss(self, reg: Any):
        tf = self._tf
        v = self.vars
        lam = np.float32(reg.l2_lambda)
        n = np.float32(self.n_ratings)
        loss = lam * np.float32(reg.global_mult) * tf.square(v["global_bias"])
        note_terms = (
            tf.square(v["note_emb"]),
            np.float32(reg.note_bias_mult) * tf.square(v["note_bias"]),
        )
        rater_terms = (
            tf.square(v["rater_emb"]),
            np.float32(reg.rater_bias_mult) * tf.square(v["rater_bias"]),
            np.float32(reg.reputation_mult) * tf.square(v["reputation"]),
        )
        # Means over parameters, or sums over a "simulated" count numRatings / ratio.
        for terms, ratio in ((note_terms, reg.per_note_ratio), (rater_terms, reg.per_user_ratio)):
            for t in terms:
                if ratio is None:
                    loss = loss + lam * tf.reduce_mean(t)
                else:
                    loss = loss + lam * tf.reduce_sum(t) / (n / np.float32(ratio))
        return loss

    def _loss(self, weights, reg: Any):
        tf = self._tf
        pred = self._predict()
        if self.loss_name == "mse":
            elementwise = tf.square(pred - self.targets)
        else:
            elementwise = tf.nn.sigmoid_cross_entropy_with_logits(labels=self.targets, logits=pred)
        return tf.reduce_mean(weights * elementwise) + self._reg_loss(reg)

    def loss(self, weights: np.ndarray, reg: Any) -> float:
        """Regularised weighted loss (BCE or MSE, see ``loss``) at the current parameters."""
        return float(self._loss(self._tensor(weights), reg).numpy())

    # -- training ------------------------------------------------------------
    def train_round(self, weights: np.ndarray, reg: Any, trainable: Sequence[str], config: Any):
        """One round of the official loop (spec 06 §D.4; PyTorch Adam, fresh state), compiled.

        Epochs 0..num_epochs: evaluate the loss; on epochs divisible by ``stable_period`` stop if
        it moved by less than ``convergence`` since the last check (compared in float64, as the
        official ``loss.item()`` floats are); otherwise take one Adam step:

        .. math:: m \\leftarrow β_1 m + (1-β_1) g,\\quad s \\leftarrow β_2 s + (1-β_2) g^2,\\quad
                  θ \\leftarrow θ - \\frac{η}{1-β_1^t}\\,\\frac{m}{\\sqrt{s}/\\sqrt{1-β_2^t} + ε}

        The whole round is one ``tf.while_loop`` in one graph call, traced once per loss, embedding
        size and trained set (five sets in diligence) and reused by every round with that key (sizes
        and the regularization form are inputs): a fixed cost per process, not per epoch or round.
        Only the trained parameters get gradients and Adam updates, each by the operations (and
        in the order) of :meth:`train_round_stepwise`. Returns (last loss, history).
        """
        tf = self._tf
        mask = tuple(name in trainable for name in _PARAM_NAMES)
        key = (self.loss_name, self.n_dim, config.convergence > 0, mask)
        fn = _ROUND_CACHE.get(key)
        if fn is None:
            fn = _ROUND_CACHE[key] = _compile_round(tf, *key)
        f32 = np.float32
        hyper = tf.constant(np.array([
            reg.l2_lambda, reg.global_mult, reg.note_bias_mult, reg.rater_bias_mult, reg.reputation_mult,
            reg.per_note_ratio if reg.per_note_ratio is not None else 1.0,
            reg.per_user_ratio if reg.per_user_ratio is not None else 1.0,
            config.learning_rate, config.adam_beta1, config.adam_beta2, config.adam_eps,
            self.n_ratings], dtype=f32))
        params = tuple(self.vars[name] for name in _PARAM_NAMES)
        means = tf.constant([reg.per_note_ratio is None, reg.per_user_ratio is None])
        out = fn(self.note_idx, self.rater_idx, self.targets, self._tensor(weights),
                 params, means, hyper, tf.constant(float(config.convergence), tf.float64),
                 tf.constant(int(config.num_epochs), tf.int32), tf.constant(int(config.stable_period), tf.int32))
        new_params, loss_value, history, bad_epoch = out
        bad = int(bad_epoch.numpy())
        if bad >= 0:
            raise FloatingPointError(f"diligence: loss is {float(loss_value.numpy())} at epoch {bad}")
        for name, value in zip((n for n, t in zip(_PARAM_NAMES, mask) if t), new_params):
            self.vars[name].assign(value)
        return float(loss_value.numpy()), tuple(float(x) for x in history.numpy())

    def train_round_stepwise(self, weights: np.ndarray, reg: Any, trainable: Sequence[str], config: Any):
        """:meth:`train_round` with one Python round trip per epoch: the reference the compiled loop
        is tested against (bit for bit), and the readable statement of the official loop.

        Epochs 0..num_epochs: evaluate the loss; on epochs divisible by
        ``stable_period`` stop if it moved by less than ``convergence`` since the
        last check; otherwise take one Adam step.  Returns (last loss, history).
        """
        tf = self._tf
        w = self._tensor(weights)
        tvars = [self.vars[name] for name in trainable]
        m = [tf.Variable(tf.zeros_like(v)) for v in tvars]
        s = [tf.Variable(tf.zeros_like(v)) for v in tvars]
        step = tf.Variable(0.0, dtype=tf.float32)
        lr, b1, b2, eps = (np.float32(x) for x in (config.learning_rate, config.adam_beta1, config.adam_beta2, config.adam_eps))

        @tf.function
        def loss_and_step():
            with tf.GradientTape() as tape:
                loss = self._loss(w, reg)
            grads = tape.gradient(loss, tvars)
            step.assign_add(1.0)
            bc1 = 1.0 - tf.pow(b1, step)
            bc2_sqrt = tf.sqrt(1.0 - tf.pow(b2, step))
            for var, g, mv, sv in zip(tvars, grads, m, s):
                g = tf.convert_to_tensor(g)
                mv.assign(b1 * mv + (1.0 - b1) * g)
                sv.assign(b2 * sv + (1.0 - b2) * g * g)
                var.assign_sub((lr / bc1) * mv / (tf.sqrt(sv) / bc2_sqrt + eps))
            return loss

        @tf.function
        def loss_only():
            return self._loss(w, reg)

        history: list[float] = []
        prior = None
        loss_value = float("nan")
        epoch = 0
        while epoch <= config.num_epochs:
            if config.convergence > 0 and epoch % config.stable_period == 0:
                loss_value = float(loss_only().numpy())
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f"diligence: loss is {loss_value} at epoch {epoch}")
                if prior is not None and abs(prior - loss_value) < config.convergence:
                    history.append(loss_value)
                    break
                prior = loss_value
            if not tvars:  # nothing to train: only the convergence bookkeeping
                history.append(float(loss_only().numpy()))
                epoch += 1
                continue
            # The step's returned loss is the loss before the update (this epoch's loss).
            loss_value = float(loss_and_step().numpy())
            history.append(loss_value)
            epoch += 1
        return loss_value, tuple(history)




def _side_gather(tf, idx, *params, need):
    """``tf.gather(p, idx)`` for each of one side's parameters, in one gather.

    A CPU gather costs per index, not per column, so the side's parameters are gathered side by
    side. The gradient is written out as the one of separate gathers is computed (the per-rating
    gradient summed per index by ``unsorted_segment_sum``, in rating order: the same bits), and
    only for the parameters in ``need``: a frozen one's is never formed.
    """
    widths = [1 if p.shape.rank == 1 else p.shape[1] for p in params]

    @tf.custom_gradient
    def gather(*ps):
        stacked = tf.concat([p if p.shape.rank == 2 else p[:, None] for p in ps], 1)
        cols = tf.split(tf.gather_nd(stacked, idx[:, None]), widths, axis=1)  # faster than gather on CPU
        outs = [c if p.shape.rank == 2 else c[:, 0] for c, p in zip(cols, ps)]

        def grad(*upstream):
            return [tf.math.unsorted_segment_sum(u, idx, tf.shape(p)[0]) if want else None
                    for u, p, want in zip(upstream, ps, need)]

        return outs, grad

    return gather(*params)


#: Ratings per pass of a step's data term above this many (as ``cnlab.mf._tf_loop.CHUNK``): the
#: gathered parameters, predictions, losses and their gradients then exist for one chunk at a time,
#: not for all ratings (~80 B a rating at once otherwise). Rounds on at most this many ratings (all
#: fixtures) are unchanged; above it the sums take another order (deterministic, not bit-identical):
#: the ratings are in tile order (``cnlab.mf._common.tile_order``), the gradients written out and
#: summed per index over each chunk's index ranges (``cnlab.mf._tf_loop._add_in_range``), the side
#: tables stacked once per evaluation. An epoch on 100M planted ratings (3.3M notes, 1M raters):
#: 9.5 → 4.9 s (``bench/mf_large.py --model reputation``).
CHUNK = 1 << 20

#: Compiled training rounds, one per (loss, embedding size, convergence check on, trained set).
_ROUND_CACHE: dict = {}


def _compile_round(tf, loss_name: str, n_dim: int, check: bool, trained: tuple[bool, ...]):
    """Trace :meth:`ReputationMF.train_round` for one key (see there).

    The trained set is part of the key: the tape watches only those parameters, so a round that
    trains one vector builds one gradient, not six. The loss an epoch checks for convergence is the
    one its step differentiates (the same forward ops, hence the same bits as a separate
    evaluation); a converged or non-finite check discards that epoch's update.
    """
    from ._tf_loop import _add_in_range  # the MF loop's range sums (imports TensorFlow)

    sqrt_d = np.float32(math.sqrt(n_dim))
    vec, mat = tf.TensorSpec([None], tf.float32), tf.TensorSpec([None, n_dim], tf.float32)
    param_specs = (mat, mat, vec, vec, vec, tf.TensorSpec([], tf.float32))
    ivec = tf.TensorSpec([None], tf.int32)
    which = [i for i, t in enumerate(trained) if t]

    # Tracing without autograph: the control flow is written as tf.cond / tf.while_loop already,
    # and autograph's source conversion was most of the trace time.
    @tf.function(autograph=False,
                 input_signature=[ivec, ivec, vec, vec, param_specs, tf.TensorSpec([2], tf.bool),
                                  tf.TensorSpec([12], tf.float32), tf.TensorSpec([], tf.float64),
                                  tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    def run(note_idx, rater_idx, targets, w, params, means, hyper, convergence, num_epochs, stable_period):
        lam, gmult, nbmult, rbmult, repmult, note_ratio, user_ratio, lr, b1, b2, eps, n = tf.unstack(hyper)

        def data_term(p, a, b, y, wc, reduce):
            note_emb, rater_emb, note_bias, rater_bias, reputation, global_bias = p
            # One gather per side: a CPU gather costs per index, not per column, so gathering the
            # side's parameters side by side costs what one of them does. Same values, same bits.
            ge, gb = _side_gather(tf, a, note_emb, note_bias, need=(trained[0], trained[2]))
            gue, gub, grep = _side_gather(tf, b, rater_emb, rater_bias, reputation,
                                          need=(trained[1], trained[3], trained[4]))
            dot = tf.reduce_sum(ge * gue, axis=1)
            pred = dot / sqrt_d
            pred = pred + gb * grep
            pred = pred + gub + global_bias
            if loss_name == "mse":
                elementwise = tf.square(pred - y)
            else:
                elementwise = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=pred)
            return reduce(wc * elementwise)

        def reg_term(p):
            note_emb, rater_emb, note_bias, rater_bias, reputation, global_bias = p
            reg = lam * gmult * tf.square(global_bias)
            note_terms = (tf.square(note_emb), nbmult * tf.square(note_bias))
            rater_terms = (tf.square(rater_emb), rbmult * tf.square(rater_bias), repmult * tf.square(reputation))
            for terms, mean, ratio in ((note_terms, means[0], note_ratio), (rater_terms, means[1], user_ratio)):
                for t in terms:
                    # both forms computed, one selected: the sum gets exactly that term's bits
                    reg = reg + tf.where(mean, lam * tf.reduce_mean(t), lam * tf.reduce_sum(t) / (n / ratio))
            return reg

        def loss_of(p):
            return data_term(p, note_idx, rater_idx, targets, w, tf.reduce_mean) + reg_term(p)

        def taped(fn, trainable, start):
            p = list(start)  # the frozen parameters keep their starting values
            with tf.GradientTape() as tape:
                for t in trainable:
                    tape.watch(t)
                for i, t in zip(which, trainable):
                    p[i] = t
                lv = fn(p)
            if not which:
                return lv, []
            return lv, tape.gradient(lv, list(trainable), unconnected_gradients=tf.UnconnectedGradients.ZERO)

        # the trained parameters of each side, as (position in the parameter tuple, columns)
        note_side = [(i, n_dim if i == 0 else 1) for i in (0, 2) if trained[i]]
        rater_side = [(i, n_dim if i == 1 else 1) for i in (1, 3, 4) if trained[i]]

        def chunk_terms(note_table, rater_table, global_bias, a, b, y, wc, n_all):
            """One chunk's data-term Σ / N and each trained parameter's per-rating derivative
            columns (written out, no tape): ∂(Σ wℓ / N)/∂pred = w ℓ'(pred) / N times the other
            factor of each product in the prediction. The side tables are the parameters stacked
            side by side once per evaluation (one gather per side: a CPU gather costs per index,
            not per column)."""
            gn = tf.gather_nd(note_table, a[:, None])
            gu = tf.gather_nd(rater_table, b[:, None])
            ge, gb = gn[:, :n_dim], gn[:, n_dim]
            gue, gub, grep = gu[:, :n_dim], gu[:, n_dim], gu[:, n_dim + 1]
            pred = tf.reduce_sum(ge * gue, axis=1) / sqrt_d
            pred = pred + gb * grep
            pred = pred + gub + global_bias
            if loss_name == "mse":
                elementwise, d = tf.square(pred - y), 2.0 * (pred - y)
            else:
                elementwise = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=pred)
                d = tf.sigmoid(pred) - y
            d = wc * d / n_all
            columns = {0: [d * gue[:, j] / sqrt_d for j in range(n_dim)], 2: [d * grep],
                       1: [d * ge[:, j] / sqrt_d for j in range(n_dim)], 3: [d], 4: [d * gb]}
            note_cols = [c for i, _ in note_side for c in columns[i]]
            rater_cols = [c for i, _ in rater_side for c in columns[i]]
            return tf.reduce_sum(wc * elementwise) / n_all, note_cols, rater_cols, tf.reduce_sum(d)

        def chunked(trainable, start):
            # the data term's Σ and gradients chunk by chunk (chunk-sized temporaries), then the
            # regularization's once; the sums take another order than the whole-array mean.
            # Above TILE_ABOVE the ratings are in tile order, so a chunk's sums cover narrow index
            # ranges of each side (_tf_loop._add_in_range)
            size_all = tf.shape(targets)[0]
            n_all = tf.cast(size_all, tf.float32)
            p = list(start)
            for i, t in zip(which, trainable):
                p[i] = t
            m, u = tf.shape(p[2])[0], tf.shape(p[3])[0]
            note_table = tf.concat([p[0], p[2][:, None]], 1)
            rater_table = tf.concat([p[1], p[3][:, None], p[4][:, None]], 1)
            n_note_cols = sum(c for _, c in note_side)
            n_rater_cols = sum(c for _, c in rater_side)

            def chunk(i, lsum, note_acc, rater_acc, dsum):
                lo = i * CHUNK
                k = tf.minimum(CHUNK, size_all - lo)
                a, b = note_idx[lo:lo + k], rater_idx[lo:lo + k]
                lv, ncols, rcols, dk = chunk_terms(note_table, rater_table, p[5], a, b, targets[lo:lo + k],
                                                   w[lo:lo + k], n_all)
                if ncols:
                    note_acc = _add_in_range(note_acc, a, ncols)
                if rcols:
                    rater_acc = _add_in_range(rater_acc, b, rcols)
                return i + 1, lsum + lv, note_acc, rater_acc, dsum + dk

            state = (tf.constant(0), tf.constant(0.0, tf.float32), tf.zeros([m, n_note_cols], tf.float32),
                     tf.zeros([u, n_rater_cols], tf.float32), tf.constant(0.0, tf.float32))
            _, lsum, note_acc, rater_acc, dsum = tf.while_loop(
                lambda i, *_: i < (size_all + CHUNK - 1) // CHUNK, chunk, state, parallel_iterations=1)
            grads, at = {5: dsum}, 0
            for i, c in note_side:
                grads[i] = note_acc[:, at:at + c] if i == 0 else note_acc[:, at]
                at += c
            at = 0
            for i, c in rater_side:
                grads[i] = rater_acc[:, at:at + c] if i == 1 else rater_acc[:, at]
                at += c
            lr_, g_reg = taped(reg_term, trainable, start)
            return lsum + lr_, [grads[i] + tf.convert_to_tensor(g) for i, g in zip(which, g_reg)]

        def loss_and_grads(trainable, start):
            def whole():
                lv, g = taped(loss_of, trainable, start)
                return lv, [tf.convert_to_tensor(x) for x in g]

            return tf.cond(tf.shape(targets)[0] > CHUNK, lambda: chunked(trainable, start), whole)

        trainable0 = tuple(params[i] for i in which)
        zeros = tuple(tf.zeros_like(t) for t in trainable0)
        history = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        nan32 = tf.constant(np.nan, tf.float32)
        state = (tf.constant(0, tf.int32), tf.constant(False), tf.constant(-1, tf.int32), nan32,
                 tf.constant(False), tf.constant(0.0, tf.float64), trainable0, zeros, zeros,
                 tf.constant(0.0, tf.float32), history, tf.constant(0, tf.int32))

        def cond(epoch, done, *_):
            return tf.logical_and(epoch <= num_epochs, tf.logical_not(done))

        def body(epoch, done, bad, loss_value, has_prior, prior, p, m, s, step, hist, nh):
            lv, grads = loss_and_grads(p, params)
            stop = stop_bad = tf.constant(False)
            if check:
                at_check = tf.equal(tf.math.floormod(epoch, stable_period), 0)
                lv64 = tf.cast(lv, tf.float64)
                converged = tf.logical_and(tf.logical_and(at_check, has_prior), tf.abs(prior - lv64) < convergence)
                stop_bad = tf.logical_and(at_check, tf.logical_not(tf.math.is_finite(lv)))
                bad = tf.where(stop_bad, epoch, bad)
                prior = tf.where(at_check, lv64, prior)
                has_prior = tf.logical_or(has_prior, at_check)
                stop = tf.logical_or(converged, stop_bad)
            # a non-finite check stops without recording; every other epoch records its loss
            hist, nh = tf.cond(stop_bad, lambda: (hist, nh), lambda: (hist.write(nh, lv), nh + 1))
            go = tf.logical_not(stop)
            st = tf.where(go, step + 1.0, step) if which else step
            bc1 = 1.0 - tf.pow(b1, st)
            bc2_sqrt = tf.sqrt(1.0 - tf.pow(b2, st))
            new_p, new_m, new_s = [], [], []
            for pi, mi, si, g in zip(p, m, s, grads):
                g = tf.convert_to_tensor(g)
                mv = b1 * mi + (1.0 - b1) * g
                sv = b2 * si + (1.0 - b2) * g * g
                upd = pi - (lr / bc1) * mv / (tf.sqrt(sv) / bc2_sqrt + eps)
                new_p.append(tf.where(go, upd, pi))
                new_m.append(tf.where(go, mv, mi))
                new_s.append(tf.where(go, sv, si))
            epoch = tf.where(go, epoch + 1, epoch)
            return epoch, stop, bad, lv, has_prior, prior, tuple(new_p), tuple(new_m), tuple(new_s), st, hist, nh

        out = tf.while_loop(cond, body, state, parallel_iterations=1)
        _, _, bad, loss_value, _, _, p, _, _, _, hist, nh = out
        return p, loss_value, hist.stack()[:nh], bad

    return run
