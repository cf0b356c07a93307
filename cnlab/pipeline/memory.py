"""Peak memory of a scoring run, estimated from its input sizes before it starts.

A run at full scale takes hours; finding out in the fifth hour that it does not fit is the worst
outcome, so ``cnlab score`` compares this estimate with the memory the run can have (what the
machine has free plus what the process already holds: the loaded dataset) and stops at once,
naming what lowers it, when it will not fit.

The model is the measured peaks of lean Core runs (``keep="outputs"``, what ``cnlab score`` does)
of ``bench/scale.py``'s public-shaped synthetic data (``docs/scaling.md``), linear between the
measured sizes, plus a margin. The peak moves between stages with the size: the pflip fit with
liblinear's copies of its matrix up to ~10M ratings, the prescoring worker (the harassment tag
model's set-up beside the parent's notes and tables) at the full size; what each stage costs per
rating is not constant (the pflip matrix grows with the training notes, the tables with the notes
and raters), so a single bytes-a-rating figure fitted at one size was 3× off at another (295 B a
rating fitted at 50M said 57 GiB at 206M, where 18.4 to 19.9 GiB were measured).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MEASURED_CORE_PEAKS", "MemoryEstimate", "available_gib", "estimate_peak"]

#: Interpreter, pandas, scikit-learn and TensorFlow's runtime (GiB), measured on the bundled sample.
BASE_GIB = 0.8
#: Peaks of lean Core-only ``cnlab score`` runs, the process tree's (ratings, GiB), from
#: bench/RESULTS.md: 1M at a377ebf (1.67), 10M at 9335595 (5.20), 50M at e52606d (13.87); at 206M
#: the largest peak measured over its phases, 19.92 (the parent alone at 9335595, a run from the
#: TSVs: the clustering columns copied beside every rating before they were spilled, since read
#: back from the spill instead; before it, 18.4: parent 3.2 + prescoring worker 15.2 at the
#: harassment tag model's set-up). Later code may peak lower at 50M and 206M: those stay as upper
#: bounds until re-measured.
MEASURED_CORE_PEAKS: tuple[tuple[int, float], ...] = (
    (1_000_000, 1.67), (10_000_000, 5.20), (50_000_000, 13.87), (206_000_000, 19.92))
#: Margin over the measured peaks: a run's peak varies by a few percent with the data's shape and
#: the sampling of the resident memory.
MARGIN = 0.05
#: Whole roster over Core only, lean runs at 10M ratings: (7.89 − base) / (6.88 − base) = 1.17
#: (the parent's peak in the final phase; bench/scale.py).
ROSTER_FACTOR = 1.2
#: Each prescoring worker of ``--jobs``: its copy of the prescoring ratings (28 B) and one scorer's
#: working set, about the Core prescoring phase's growth (3.7 − 2.3 GiB over 10M ratings).
WORKER_BYTES_PER_RATING = 180
#: Each extra thread of ``--threads``: one more scorer's working set at a time, the worker's figure
#: without its copy of the ratings (threads share the run's).
THREAD_BYTES_PER_RATING = WORKER_BYTES_PER_RATING - 28


def core_peak_gib(n_ratings: int) -> float:
    """The measured lean Core peak (GiB, :data:`MEASURED_CORE_PEAKS`) at ``n_ratings``, linear
    between the measured sizes (and from :data:`BASE_GIB` at 0 to the smallest); above the
    largest, the largest's peak scaled with the ratings (as if all of it grew with them: the
    cautious reading).

    >>> [round(core_peak_gib(n), 2) for n in (10_000_000, 30_000_000, 412_000_000)]
    [5.2, 9.54, 39.84]
    """
    n = max(int(n_ratings), 0)
    lo_n, lo_gib = 0, BASE_GIB
    for hi_n, hi_gib in MEASURED_CORE_PEAKS:
        if n <= hi_n:
            return lo_gib + (hi_gib - lo_gib) * (n - lo_n) / (hi_n - lo_n)
        lo_n, lo_gib = hi_n, hi_gib
    return lo_gib * n / lo_n


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
    """Estimated peak resident memory of ``cnlab score`` (the process tree's).

    ``peak = (1 + MARGIN) · (BASE + (core(n) − BASE) · (ROSTER_FACTOR if several scorers) +
    (jobs − 1) · n · WORKER_BYTES_PER_RATING + (threads − 1) · n · THREAD_BYTES_PER_RATING)``
    (GiB), ``core(n)`` the measured lean Core peaks (:func:`core_peak_gib`). ``threads=None`` is
    resolved as the run resolves it (:func:`cnlab.pipeline.parallel.resolve_threads`); a
    one-scorer roster counts two tasks at most (its final scoring beside the confidence models).

    >>> round(estimate_peak(10_000_000).peak_gib, 2), round(estimate_peak(206_000_000).peak_gib, 1)
    (5.46, 20.9)
    """
    from cnlab.pipeline.parallel import resolve_threads

    threads = resolve_threads(threads, n_ratings)
    extra_workers = max(min(jobs, n_scorers) - 1, 0)
    extra_threads = max(min(threads, n_scorers + 1) - 1, 0)
    above_base = (core_peak_gib(n_ratings) - BASE_GIB) * (ROSTER_FACTOR if n_scorers > 1 else 1.0)
    extra = n_ratings * (extra_workers * WORKER_BYTES_PER_RATING + extra_threads * THREAD_BYTES_PER_RATING)
    peak = (1 + MARGIN) * (BASE_GIB + above_base + extra / 2**30)
    return MemoryEstimate(peak_gib=peak, n_ratings=n_ratings, n_scorers=n_scorers, jobs=jobs,
                          threads=threads)


def available_gib() -> float:
    """Memory this run can have now: what the machine has free (``MemAvailable`` of
    ``/proc/meminfo``) plus what this process already holds (its resident memory: the loaded
    dataset counts in the estimate too); inf where unknown. ``CNLAB_MEMORY_AVAILABLE_GIB``
    overrides it (tests, or a share of a larger host)."""
    import os

    from cnlab._timing import memory_gib

    forced = os.environ.get("CNLAB_MEMORY_AVAILABLE_GIB")
    if forced:
        return float(forced)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    held = memory_gib()[0]
                    return int(line.split()[1]) / 2**20 + (held if held == held else 0.0)
    except OSError:
        pass
    return float("inf")
