"""Import TensorFlow once, configured for reproducible CPU arithmetic.

TensorFlow splits large reductions (the loss, per-note sums) across its intra-op thread pool, and
the split depends on the pool size and on scheduling: two runs with the same seed can then differ
in the last float32 bit, the official stopping rule can stop one step apart, and a note near a
threshold can change status. cnlab therefore never splits an op across threads: one intra-op
thread, always. ``CNLAB_TF_THREADS`` sets the inter-op pool: independent ops of one step (the
note-side and rater-side sums, say) and the fits of scorers run side by side in threads
(:func:`cnlab.pipeline.parallel.in_threads`) each compute whole ops on its threads, so the results
do not depend on its size (tested); default: the usable cores. ``CNLAB_TF_INTRA_THREADS`` (default
1; ``0`` = all cores) is the one setting that trades byte-identical results for speed inside one
fit.

With its oneDNN options on (TensorFlow's default on x86), TensorFlow's CPU allocator keeps a pool
of what the fits allocated and never hands it back. Since a step's temporaries are chunk-sized
(``_tf_loop.CHUNK``) the pool holds mainly the fits' training arrays (12 bytes a rating each, kept
per distinct size); before, it was sized by the largest fit's step temporaries (about 50 bytes per
rating: +3.6 GiB after the first final-scoring fit of a 50M run).
:func:`release_memory_after_fits` (``cnlab score --release-tf-memory``) turns them off before
TensorFlow starts. The MF results are the same bit for bit either way (cnlab's loops run no oneDNN
kernel); without the pool every large temporary is mapped afresh each step, so the fits are slower:
10–20 % at 3M ratings, 2× on the 26M-rating slices of a 50M run. It is a memory-for-time switch,
off by default.

The graph optimizer's algebraic rewrites (reassociating sums, folding divisions into products,
fusing ops) are switched off too: TensorFlow then evaluates float32 expressions in the order they are
written, as PyTorch's eager mode (the official scorer) does, and a training loop compiled into one
graph gives bit for bit the numbers of the same loop run one step at a time.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("cnlab")

#: Environment variable with TensorFlow's inter-op thread count (default: the usable cores; any
#: value keeps the results).
THREADS_ENV = "CNLAB_TF_THREADS"
#: Environment variable with TensorFlow's intra-op thread count (default 1; more changes float sums).
INTRA_THREADS_ENV = "CNLAB_TF_INTRA_THREADS"
#: TensorFlow's switch for its oneDNN options (and their pooling CPU allocator); read at start-up.
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
#: Grappler passes that rewrite float arithmetic (off: expressions are evaluated as written).
REWRITES_OFF = {"arithmetic_optimization": False, "constant_folding": False, "remapping": False,
                "loop_optimization": False, "dependency_optimization": False}

_configured = False


class _RetracingNoise(logging.Filter):
    # Fits of different sizes and kinds trace their compiled functions by design; TensorFlow's
    # advice-level warning about it is noise for users of the engine.
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def tf_threads(variable: str = THREADS_ENV) -> int:
    """A configured TensorFlow thread count (0 = TensorFlow's default, all cores):
    ``CNLAB_TF_THREADS`` (inter-op; default the usable cores) or ``CNLAB_TF_INTRA_THREADS``
    (intra-op; default 1)."""
    from cnlab._timing import usable_cores

    default = str(usable_cores()) if variable == THREADS_ENV else "1"
    raw = os.environ.get(variable, default).strip() or default
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a non-negative integer, got {raw!r}") from None
    if n < 0:
        raise ValueError(f"{variable} must be a non-negative integer, got {raw!r}")
    return n


def release_memory_after_fits() -> bool:
    """Turn off TensorFlow's oneDNN options (``TF_ENABLE_ONEDNN_OPTS=0``) so that the memory of a
    fit goes back to the system when the fit ends, instead of staying in the allocator's pool.

    Must run before TensorFlow is imported; does nothing if it already was, or if the user set
    ``TF_ENABLE_ONEDNN_OPTS`` (their choice stands). Returns whether it changed the setting. Worker
    processes started afterwards inherit it.
    """
    import sys

    if "tensorflow" in sys.modules or ONEDNN_ENV in os.environ:
        return False
    os.environ[ONEDNN_ENV] = "0"
    return True


def import_tensorflow():
    """``import tensorflow`` with cnlab's thread settings applied before its runtime starts.

    If TensorFlow was already initialised by other code (its pools can no longer be resized),
    a warning says that runs may not be bit-reproducible.
    """
    global _configured
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if not _configured:
        intra, inter = tf_threads(INTRA_THREADS_ENV), tf_threads(THREADS_ENV)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
        except RuntimeError:
            if tf.config.threading.get_intra_op_parallelism_threads() != intra:
                log.warning("TensorFlow was initialised before cnlab could set %d intra-op thread(s) "
                            "(%s): repeated runs may differ in the last bits", intra, INTRA_THREADS_ENV)
        tf.config.optimizer.set_experimental_options(REWRITES_OFF)
        tf.get_logger().addFilter(_RetracingNoise())
        _configured = True
    return tf
