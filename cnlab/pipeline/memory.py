"""Peak memory of a scoring run, estimated from its input sizes before it starts.

A run at full scale takes hours; finding out in the fifth hour that it does not fit is the worst
outcome, so ``cnlab score`` compares this estimate with the memory the machine has free and stops
at once, naming what lowers it, when it will not fit.

The model is linear in the number of ratings, with coefficients measured by ``bench/scale.py``
(public-shaped synthetic data, see ``docs/scaling.md``): the resident memory of a run grows by a
roughly constant number of bytes per rating as it goes (rating-sized frames of successive stages
stay alive), and the peak is reached in the confidence models' fit near the end.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemoryEstimate", "available_gib", "estimate_peak"]

#: Interpreter, pandas, scikit-learn and TensorFlow's runtime (GiB), measured on the bundled sample.
BASE_GIB = 0.8
#: Peak bytes per rating of a Core-only run: (10.4 GiB − base) / 10M ratings, bench/scale.py 10M run.
CORE_BYTES_PER_RATING = 1030
#: Whole roster over Core only at the same size: 3.53 / 1.93 GiB peak at 1M ratings (bench/scale.py).
ROSTER_FACTOR = 1.8
#: Each prescoring worker of ``--jobs``: its copy of the prescoring ratings (28 B) and one scorer's
#: working set, about the Core prescoring phase's growth (3.7 − 2.3 GiB over 10M ratings).
WORKER_BYTES_PER_RATING = 180


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimated peak and what it was computed from."""

    peak_gib: float
    n_ratings: int
    n_scorers: int
    jobs: int

    def summary(self) -> str:
        return (f"estimated peak {self.peak_gib:.1f} GiB for {self.n_ratings:,} ratings, "
                f"{self.n_scorers} scorer(s), --jobs {self.jobs}")


def estimate_peak(n_ratings: int, *, n_scorers: int = 1, jobs: int = 1) -> MemoryEstimate:
    """Estimated peak resident memory of ``cnlab score``.

    ``peak = BASE + n · CORE_BYTES_PER_RATING · (ROSTER_FACTOR if several scorers) +
    (jobs − 1) · n · WORKER_BYTES_PER_RATING`` (GiB), the coefficients measured (module docstring).

    >>> round(estimate_peak(10_000_000).peak_gib, 1)
    10.4
    """
    per_rating = CORE_BYTES_PER_RATING * (ROSTER_FACTOR if n_scorers > 1 else 1.0)
    extra_workers = max(min(jobs, n_scorers) - 1, 0)
    peak = BASE_GIB + n_ratings * (per_rating + extra_workers * WORKER_BYTES_PER_RATING) / 2**30
    return MemoryEstimate(peak_gib=peak, n_ratings=n_ratings, n_scorers=n_scorers, jobs=jobs)


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
