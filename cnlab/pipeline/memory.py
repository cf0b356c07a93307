"""Peak memory of a scoring run, estimated from its input sizes before it starts.

A run at full scale takes hours; finding out in the fifth hour that it does not fit is the worst
outcome, so ``cnlab score`` compares this estimate with the memory the machine has free and stops
at once, naming what lowers it, when it will not fit.

The model is linear in the number of ratings, with coefficients measured by ``bench/scale.py``
(public-shaped synthetic data, see ``docs/scaling.md``) on lean runs (``keep="outputs"``, what
``cnlab score`` does): a Core run peaks in the pflip fit (liblinear's copies of the design matrix
up to ~11.7M ratings, the matrix being built above), a whole-roster run in the final phase (the
Gaussian scorers' kernels) or, with ``--jobs``, while the workers prescore.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemoryEstimate", "available_gib", "estimate_peak"]

#: Interpreter, pandas, scikit-learn and TensorFlow's runtime (GiB), measured on the bundled sample.
BASE_GIB = 0.8
#: Peak bytes per rating of a Core-only ``cnlab score`` run (a lean run, ``keep="outputs"``) whose
#: pflip classifier runs on a working set of columns: (13.87 GiB − base) / 50M ratings = 281 B
#: measured (50M Core at e52606d: the process tree's peak, in the parent's pflip fit; the isolated
#: Core prescoring's worker peaked at 7.4 GiB), plus 5 %.
CORE_BYTES_PER_RATING = 295
#: Non-zeros of the pflip design matrix per rating (public-shaped data: 11.5M at 1M ratings,
#: 109M at 10M); with at most ``PFlipConfig.liblinear_max_nonzeros`` of them liblinear gets the
#: whole matrix and adds its row and column copies, 32 bytes a non-zero (10M Core: 6.68 GiB
#: measured at c8250c4, this model 7.44).
PFLIP_NONZEROS_PER_RATING = 11.5
LIBLINEAR_BYTES_PER_NONZERO = 32
LIBLINEAR_MAX_NONZEROS = 1 << 27
#: Whole roster over Core only, lean runs at 10M ratings: (7.89 − base) / (6.88 − base) = 1.17
#: (the parent's peak in the final phase; bench/scale.py).
ROSTER_FACTOR = 1.2
#: Each prescoring worker of ``--jobs``: its copy of the prescoring ratings (28 B) and one scorer's
#: working set, about the Core prescoring phase's growth (3.7 − 2.3 GiB over 10M ratings).
WORKER_BYTES_PER_RATING = 180
#: Each extra thread of ``--threads``: one more scorer's working set at a time, the worker's figure
#: without its copy of the ratings (threads share the run's).
THREAD_BYTES_PER_RATING = WORKER_BYTES_PER_RATING - 28


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimated peak and what it was computed from."""

    peak_gib: float
    n_ratings: int
    n_scorers: int
    jobs: int
    threads: int = 1

    def summary(self) -> str:
        return (f"estimated peak {self.peak_gib:.1f} GiB for {self.n_ratings:,} ratings, "
                f"{self.n_scorers} scorer(s), --jobs {self.jobs}, --threads {self.threads}")


def estimate_peak(n_ratings: int, *, n_scorers: int = 1, jobs: int = 1,
                  threads: int | None = 1) -> MemoryEstimate:
    """Estimated peak resident memory of ``cnlab score``.

    ``peak = BASE + n · CORE_BYTES_PER_RATING · (ROSTER_FACTOR if several scorers) +
    (jobs − 1) · n · WORKER_BYTES_PER_RATING + (threads − 1) · n · THREAD_BYTES_PER_RATING +
    liblinear's copies`` (GiB), the last ``n · PFLIP_NONZEROS_PER_RATING ·
    LIBLINEAR_BYTES_PER_NONZERO`` while the pflip matrix is small enough for liblinear to get it
    whole; the coefficients measured (module docstring). ``threads=None`` is resolved as the run
    resolves it (:func:`cnlab.pipeline.parallel.resolve_threads`); a one-scorer roster counts two
    tasks at most (its final scoring beside the confidence models).

    >>> round(estimate_peak(10_000_000).peak_gib, 1), round(estimate_peak(50_000_000).peak_gib, 1)
    (7.0, 14.5)
    """
    per_rating = CORE_BYTES_PER_RATING * (ROSTER_FACTOR if n_scorers > 1 else 1.0)
    from cnlab.pipeline.parallel import resolve_threads

    threads = resolve_threads(threads, n_ratings)
    extra_workers = max(min(jobs, n_scorers) - 1, 0)
    extra_threads = max(min(threads, n_scorers + 1) - 1, 0)
    nonzeros = n_ratings * PFLIP_NONZEROS_PER_RATING
    liblinear = nonzeros * LIBLINEAR_BYTES_PER_NONZERO if nonzeros <= LIBLINEAR_MAX_NONZEROS else 0.0
    extra = extra_workers * WORKER_BYTES_PER_RATING + extra_threads * THREAD_BYTES_PER_RATING
    peak = BASE_GIB + (n_ratings * (per_rating + extra) + liblinear) / 2**30
    return MemoryEstimate(peak_gib=peak, n_ratings=n_ratings, n_scorers=n_scorers, jobs=jobs,
                          threads=threads)


def available_gib() -> float:
    """Memory the machine can give this run now (``MemAvailable`` of ``/proc/meminfo``; inf where
    unknown). ``CNLAB_MEMORY_AVAILABLE_GIB`` overrides it (tests, or a share of a larger host)."""
    import os

    forced = os.environ.get("CNLAB_MEMORY_AVAILABLE_GIB")
    if forced:
        return float(forced)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")
