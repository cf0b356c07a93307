"""How much of a note's status is decided by the random start of the MF fits: score the same data
under several seeds and compare the runs.

:func:`seed_stability` scores a dataset once per (fidelity, seed) and returns a
:class:`SeedStability`: per note the probability of each status across seeds, the CRH churn of
every pair of seeds (beside the official churn guards), the notes whose status changes with the seed
(with their distance to the threshold that decides them) and the seed-to-seed spread of every
intercept and factor column. :meth:`SeedStability.from_runs` does the same on ``scored_notes``
frames you already have (no scoring).

Definitions (``A``, ``B``: the notes CRH in runs *a* and *b* of a pair):

* **churn** = ``|A △ B| / |A ∪ B|`` (0 when both are empty): the share of the notes CRH in either
  run that are CRH in only one of them. Symmetric, in [0, 1].
* **official churn** = ``max(|A \\ B|, |B \\ A|) / (min(|A|, |B|) + 100)``: the official churn check
  (spec 04 §12.2: ``|new − old| / (|old| + 100)`` and ``|old − new| / (|old| + 100)``, each against
  its limit) evaluated in both directions of the pair, the larger value kept, so that it does not
  depend on which seed is called "old". It is compared with :data:`CHURN_GUARDS`. On
  ``finalRatingStatus`` the notes locked in the input status history are left out, as the official
  check does; the model statuses (``coreRatingStatus`` …) count every note.
* **status agreement**: share of the notes scored in both runs with the same value.

The seed changes every stochastic step of the run (the MF initial factors, the topic model, the
pflip / PCRH models): the seed-to-seed spread of the official scorer. To isolate the MF start, fix
the topics (``ScoringConfig(topics="none")`` or a noteTopics frame).

No TensorFlow is imported here (the scoring runs import it).

Examples
--------
>>> import pandas as pd
>>> a = pd.DataFrame({"noteId": [1, 2, 3], "coreRatingStatus": ["CURRENTLY_RATED_HELPFUL",
...                   "CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS"],
...                   "coreNoteIntercept": [0.45, 0.41, 0.1], "coreNoteFactor1": [0.1, 0.0, 0.2]})
>>> b = a.assign(coreRatingStatus=["CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS", "NEEDS_MORE_RATINGS"],
...              coreNoteIntercept=[0.45, 0.39, 0.1])
>>> st = SeedStability.from_runs({("official", 0): a, ("official", 1): b},
...                              status_columns=("coreRatingStatus",))
>>> float(st.churn["churn"].iloc[0])  # 2 notes CRH in either run, 1 in only one
0.5
>>> st.unstable("coreRatingStatus")["noteId"].tolist()
[2]
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.lab.status_diff import ABSENT, diff, model_columns

__all__ = ["SeedStability", "seed_stability", "CHURN_GUARDS", "churn_rates"]

#: The official CRH churn limits this compares with (spec 04 §10.2): 0.30 for ``ALL_NOTES`` (a full
#: run), 0.12 for the tightest incremental subsets (``NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH``,
#: ``LOCKING_ELIGIBLE_RECENT_UNLOCKED_NOTES``).
CHURN_GUARDS = (0.12, 0.30)
#: Status columns compared by default (those a run filled).
STATUS_COLUMNS = ("finalRatingStatus", "coreRatingStatus")


def churn_rates(crh_a: Iterable[Any], crh_b: Iterable[Any]) -> dict[str, float]:
    """Churn between two sets of CRH notes (module docstring): ``churn``, ``official_churn``,
    and the counts behind them.

    Examples
    --------
    >>> r = churn_rates({1, 2, 3}, {2, 3, 4, 5})
    >>> round(r["churn"], 2), r["only_a"], r["only_b"], round(r["official_churn"], 4)
    (0.6, 1, 2, 0.0194)
    """
    a, b = set(crh_a), set(crh_b)
    union = len(a | b)
    only_a, only_b = len(a - b), len(b - a)
    return {"crh_a": len(a), "crh_b": len(b), "only_a": only_a, "only_b": only_b,
            "churn": (only_a + only_b) / union if union else 0.0,
            "official_churn": max(only_a, only_b) / (min(len(a), len(b)) + 100)}


def _thresholds(thresholds: Any) -> Any:
    if thresholds is not None:
        return thresholds
    from cnlab.scorers.mf_config import CORE

    return CORE.rules()


@dataclass(frozen=True)
class SeedStability:
    """Seed-to-seed variation of a scoring run (:func:`seed_stability`, :meth:`from_runs`).

    Attributes
    ----------
    seeds
        The seeds, sorted.
    fidelities
        The fidelities compared (``ScoringConfig.fidelity``), in the given order.
    status_columns
        The status columns compared (those the runs filled).
    runs
        (fidelity, seed) → the run's ``scored_notes`` (with ``decidingRule`` when scored here); read
        it, do not change it (the other attributes were computed from it).
    probabilities
        Long frame: ``fidelity``, ``column``, ``noteId``, ``status``, ``probability`` (share of the
        seeds giving the note that value; a note a run did not score counts as ``"(absent)"``).
        The probabilities of a note sum to 1.
    pairs
        One row per compared pair of runs and status column: ``fidelity_a``, ``seed_a``,
        ``fidelity_b``, ``seed_b``, ``column``, ``notes`` (scored in both), ``agreement``,
        ``crh_a``, ``crh_b``, ``only_a``, ``only_b``, ``churn``, ``official_churn``. Every pair of
        seeds within a fidelity, and each seed across fidelities (issue 9: fast vs official).
    per_note
        One row per (fidelity, note): mean and standard deviation over the seeds of the intercept and
        factor of ``prefix`` (``coreNoteIntercept`` …), the signed distances to the thresholds that
        decide a status (``d_crh`` = intercept − crh threshold; ``d_factor`` = factor threshold −
        \\|factor\\|, the CRH gate; ``d_crnh`` = intercept − (crnh intercept + crnh slope ·
        \\|factor\\|); ``d_firm_reject`` = intercept − firm-reject threshold, below which an NMR
        note becomes FIRM_REJECT, NaN for scorers without one), ``nearest`` (which is smallest in
        absolute value) and
        ``distance`` (its value), and per status column ``<column>_modal``, ``<column>_p_modal``
        and ``<column>_unstable`` (more than one value across the seeds).
    spread
        Per (fidelity, model column): ``notes`` (with a value in at least two seeds), ``mean_sd``,
        ``median_sd``, ``p90_sd``, ``max_sd`` (standard deviation over seeds, per note) and
        ``max_range``.
    timings
        ``fidelity``, ``seed``, ``seconds`` of each run (empty from :meth:`from_runs`).
    prefix
        Model whose intercept / factor give the distances (``"core"``).
    thresholds
        The :class:`~cnlab.scoring.config.RuleThresholds` the distances use.
    """

    seeds: tuple[int, ...]
    fidelities: tuple[str, ...]
    status_columns: tuple[str, ...]
    runs: Mapping[tuple[str, int], pd.DataFrame]
    probabilities: pd.DataFrame
    pairs: pd.DataFrame
    per_note: pd.DataFrame
    spread: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["fidelity", "seed", "seconds"]))
    prefix: str = "core"
    thresholds: Any = None

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_runs(cls, runs: Mapping[tuple[str, int], Any], *, status_columns: Iterable[str] | None = None,
                  prefix: str = "core", thresholds: Any = None, locked: Iterable[int] = (),
                  timings: pd.DataFrame | None = None) -> "SeedStability":
        """Compare runs already scored.

        Parameters
        ----------
        runs
            (fidelity, seed) → ``scored_notes`` frame (or anything :func:`cnlab.lab.diff` reads).
        status_columns
            Status columns to compare; default those of :data:`STATUS_COLUMNS` that the runs have.
        prefix
            Model whose ``<prefix>NoteIntercept`` / ``<prefix>NoteFactor1`` give the distances.
        thresholds
            :class:`~cnlab.scoring.config.RuleThresholds`; default the Core scorer's.
        locked
            Note ids locked in the input status history: left out of the churn of
            ``finalRatingStatus`` (official check).
        timings
            Optional ``fidelity``, ``seed``, ``seconds`` frame.
        """
        if not runs:
            raise ValueError("from_runs: no runs")
        frames = {(str(f), int(s)): _frame(r) for (f, s), r in runs.items()}
        fidelities = tuple(dict.fromkeys(f for f, _ in frames))
        seeds = tuple(sorted({s for _, s in frames}))
        for f in fidelities:
            missing = [s for s in seeds if (f, s) not in frames]
            if missing:
                raise ValueError(f"from_runs: fidelity {f!r} lacks seeds {missing}")
        if status_columns is None:
            status_columns = [c for c in STATUS_COLUMNS if any(c in fr.columns for fr in frames.values())]
        status_columns = tuple(status_columns)
        th = _thresholds(thresholds)
        locked = frozenset(int(n) for n in locked)
        ordered = {k: frames[k] for k in sorted(frames, key=lambda k: (fidelities.index(k[0]), k[1]))}
        return cls(
            seeds=seeds, fidelities=fidelities, status_columns=status_columns,
            runs=ordered,
            probabilities=_probabilities(ordered, fidelities, seeds, status_columns),
            pairs=_pairs(ordered, fidelities, seeds, status_columns, locked),
            per_note=_per_note(ordered, fidelities, seeds, status_columns, prefix, th),
            spread=_spread(ordered, fidelities, seeds),
            timings=(timings if timings is not None else pd.DataFrame(columns=["fidelity", "seed", "seconds"]))
            .reset_index(drop=True),
            prefix=prefix, thresholds=th,
        )

    # ------------------------------------------------------------------------------------------
    @property
    def churn(self) -> pd.DataFrame:
        """The rows of :attr:`pairs` that compare two seeds of one fidelity."""
        p = self.pairs
        return p[p["fidelity_a"] == p["fidelity_b"]].reset_index(drop=True)

    @property
    def cross(self) -> pd.DataFrame:
        """The rows of :attr:`pairs` that compare two fidelities under one seed."""
        p = self.pairs
        return p[p["fidelity_a"] != p["fidelity_b"]].reset_index(drop=True)

    def probability(self, column: str = "finalRatingStatus", fidelity: str | None = None) -> pd.DataFrame:
        """Notes × status values: the share of the seeds giving each note each value."""
        fidelity = fidelity or self.fidelities[0]
        p = self.probabilities
        p = p[(p["column"] == column) & (p["fidelity"] == fidelity)]
        return p.pivot(index=S.NOTE_ID, columns="status", values="probability").fillna(0.0)

    def unstable(self, column: str = "finalRatingStatus", fidelity: str | None = None) -> pd.DataFrame:
        """The notes whose ``column`` changes with the seed, nearest threshold first (rows of
        :attr:`per_note`)."""
        if column not in self.status_columns:
            raise KeyError(f"{column!r} is not compared; these are: {list(self.status_columns)}")
        fidelity = fidelity or self.fidelities[0]
        pn = self.per_note
        out = pn[(pn["fidelity"] == fidelity) & pn[f"{column}_unstable"]]
        return out.assign(_d=out["distance"].abs()).sort_values(["_d", S.NOTE_ID]) \
            .drop(columns="_d").reset_index(drop=True)

    def table(self) -> pd.DataFrame:
        """One row per (fidelity, status column): seeds, notes, churn mean / max, official churn
        mean / max, pairs above each guard of :data:`CHURN_GUARDS`, share of unstable notes,
        agreement mean, median and max intercept spread, mean seconds per run."""
        rows = []
        ch = self.churn
        icol = f"{self.prefix}NoteIntercept"
        for f in self.fidelities:
            sp = self.spread[(self.spread["fidelity"] == f) & (self.spread["column"] == icol)]
            t = self.timings[self.timings["fidelity"] == f] if len(self.timings) else self.timings
            pn = self.per_note[self.per_note["fidelity"] == f]
            for c in self.status_columns:
                p = ch[(ch["fidelity_a"] == f) & (ch["column"] == c)]
                row = {"fidelity": f, "column": c, "seeds": len(self.seeds), "pairs": len(p),
                       "notes": int(len(pn)),
                       "churn_mean": _mean(p["churn"]), "churn_max": _max(p["churn"]),
                       "official_churn_mean": _mean(p["official_churn"]),
                       "official_churn_max": _max(p["official_churn"])}
                for g in CHURN_GUARDS:
                    row[f"pairs_over_{g:.2f}"] = int((p["official_churn"] > g).sum())
                row["unstable_share"] = float(pn[f"{c}_unstable"].mean()) if len(pn) else np.nan
                row["agreement_mean"] = _mean(p["agreement"])
                row["intercept_sd_median"] = float(sp["median_sd"].iloc[0]) if len(sp) else np.nan
                row["intercept_sd_max"] = float(sp["max_sd"].iloc[0]) if len(sp) else np.nan
                row["seconds_per_run"] = _mean(t["seconds"]) if len(t) else np.nan
                rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """The :meth:`table`, the fast-vs-official agreement, and the unstable notes nearest their
        threshold."""
        lines = [f"SeedStability: {len(self.seeds)} seeds {list(self.seeds)}, fidelities "
                 f"{list(self.fidelities)}; churn guards {CHURN_GUARDS} (official churn = max(|A\\B|, "
                 f"|B\\A|) / (min(|A|,|B|) + 100))"]
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            lines += ["  " + ln for ln in self.table().round(4).to_string(index=False).splitlines()]
        cr = self.cross
        if len(cr):
            g = cr.groupby("column", sort=False).agg(agreement=("agreement", "mean"), churn=("churn", "mean"))
            lines.append("across fidelities, same seed (mean over seeds):")
            lines += [f"  {c}: agreement {r['agreement']:.4f}, churn {r['churn']:.4f}" for c, r in g.iterrows()]
        for c in self.status_columns:
            u = self.unstable(c)
            if len(u):
                lines.append(f"{c}: {len(u)} notes change with the seed ({self.fidelities[0]}); nearest threshold:")
                for _, r in u.head(5).iterrows():
                    lines.append(f"  note {r[S.NOTE_ID]}: {r[f'{c}_modal']} with p={r[f'{c}_p_modal']:.2f}, "
                                 f"{r['nearest']} distance {r['distance']:+.4f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"SeedStability({len(self.seeds)} seeds, fidelities {list(self.fidelities)}, "
                f"{len(self.per_note):,} note rows)")


# ----------------------------------------------------------------------------------------------
def _mean(s: pd.Series) -> float:
    return float(s.mean()) if len(s) else np.nan


def _max(s: pd.Series) -> float:
    return float(s.max()) if len(s) else np.nan


def _frame(run: Any) -> pd.DataFrame:
    from cnlab.lab.status_diff import _scored_notes

    return _scored_notes(run)


def _values(frame: pd.DataFrame, column: str, notes: np.ndarray) -> np.ndarray:
    """``column`` of ``frame`` for ``notes`` as objects, ABSENT where missing."""
    if column not in frame.columns:
        return np.full(len(notes), ABSENT, dtype=object)
    s = frame.set_index(S.NOTE_ID)[column].reindex(notes)
    return s.astype(object).where(s.notna(), ABSENT).to_numpy()


def _all_notes(runs, keys) -> np.ndarray:
    ids = np.concatenate([runs[k][S.NOTE_ID].to_numpy(dtype=np.int64) for k in keys])
    return np.unique(ids)


def _probabilities(runs, fidelities, seeds, columns) -> pd.DataFrame:
    parts = []
    for f in fidelities:
        keys = [(f, s) for s in seeds]
        notes = _all_notes(runs, keys)
        for c in columns:
            vals = np.stack([_values(runs[k], c, notes) for k in keys], axis=1)  # notes × seeds
            long = pd.DataFrame({S.NOTE_ID: np.repeat(notes, len(keys)), "status": vals.ravel()})
            p = long.groupby([S.NOTE_ID, "status"], sort=True).size().rename("probability").reset_index()
            p["probability"] = p["probability"] / len(keys)
            parts.append(p.assign(fidelity=f, column=c))
    cols = ["fidelity", "column", S.NOTE_ID, "status", "probability"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _pair_rows(d, fa, sa, fb, sb, columns, locked) -> list[dict]:
    n = d.notes
    both = (n["presence"] == "both").to_numpy()
    rows = []
    for c in columns:
        if c not in d.status_columns:
            continue
        old, new = n[f"{c}_old"].to_numpy(dtype=object), n[f"{c}_new"].to_numpy(dtype=object)
        keep = np.ones(len(n), dtype=bool)
        if c == "finalRatingStatus" and locked:  # the official check reads unlocked notes only
            keep = ~n[S.NOTE_ID].isin(locked).to_numpy()
        ids = n[S.NOTE_ID].to_numpy()
        crh_a = ids[keep & (old == S.CRH)]
        crh_b = ids[keep & (new == S.CRH)]
        same = (pd.isna(old) & pd.isna(new)) | (old == new)
        agree = float(same[both].mean()) if both.any() else np.nan
        rows.append({"fidelity_a": fa, "seed_a": sa, "fidelity_b": fb, "seed_b": sb, "column": c,
                     "notes": int(both.sum()), "agreement": agree, **churn_rates(crh_a, crh_b)})
    return rows


def _pairs(runs, fidelities, seeds, columns, locked) -> pd.DataFrame:
    rows: list[dict] = []
    for f in fidelities:  # every pair of seeds within a fidelity, through cnlab.lab.diff
        for a, b in itertools.combinations(seeds, 2):
            d = diff(runs[(f, a)], runs[(f, b)], labels=(f"{f}/{a}", f"{f}/{b}"))
            rows += _pair_rows(d, f, a, f, b, columns, locked)
    for fa, fb in itertools.combinations(fidelities, 2):  # each seed across fidelities
        for s in seeds:
            d = diff(runs[(fa, s)], runs[(fb, s)], labels=(f"{fa}/{s}", f"{fb}/{s}"))
            rows += _pair_rows(d, fa, s, fb, s, columns, locked)
    cols = ["fidelity_a", "seed_a", "fidelity_b", "seed_b", "column", "notes", "agreement", "crh_a", "crh_b",
            "only_a", "only_b", "churn", "official_churn"]
    return pd.DataFrame(rows, columns=cols)


def _numeric(frame: pd.DataFrame, column: str, notes: np.ndarray) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(notes), np.nan)
    s = pd.to_numeric(frame.set_index(S.NOTE_ID)[column], errors="coerce").reindex(notes)
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _nan_stats(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row mean and population standard deviation ignoring NaN (NaN for all-NaN rows)."""
    cnt = np.sum(~np.isnan(m), axis=1)
    # deviations from each row's first value: identical values give a spread of exactly 0
    first = np.where(cnt > 0, m[np.arange(len(m)), np.argmax(~np.isnan(m), axis=1)] if m.size else 0.0, 0.0)
    dev = m - first[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mdev = np.nansum(dev, axis=1) / np.maximum(cnt, 1)
        mean = np.where(cnt > 0, first + mdev, np.nan)
        sd = np.sqrt(np.where(cnt > 0, np.nansum((dev - mdev[:, None]) ** 2, axis=1) / np.maximum(cnt, 1), np.nan))
    return mean, sd


def _per_note(runs, fidelities, seeds, columns, prefix, th) -> pd.DataFrame:
    parts = []
    icol, fcol = f"{prefix}NoteIntercept", f"{prefix}NoteFactor1"
    for f in fidelities:
        keys = [(f, s) for s in seeds]
        notes = _all_notes(runs, keys)
        i_mean, i_sd = _nan_stats(np.stack([_numeric(runs[k], icol, notes) for k in keys], axis=1))
        f_mean, f_sd = _nan_stats(np.stack([_numeric(runs[k], fcol, notes) for k in keys], axis=1))
        af = np.abs(f_mean)
        fr = th.firm_reject_threshold
        d = {"d_crh": i_mean - th.crh_threshold,
             "d_factor": th.factor_threshold - af,
             "d_crnh": i_mean - (th.crnh_threshold_intercept + th.crnh_threshold_note_factor_multiplier * af),
             # RejectLowIntercept (Core, Expansion): below it NMR turns FIRM_REJECT
             "d_firm_reject": i_mean - fr if fr is not None else np.full(len(notes), np.nan)}
        dm = np.stack(list(d.values()), axis=1)
        absd = np.where(np.isnan(dm), np.inf, np.abs(dm))
        which = np.argmin(absd, axis=1)
        has = np.isfinite(absd.min(axis=1))
        names = np.array([k[2:] for k in d])  # crh, factor, crnh, firm_reject
        out = {"fidelity": f, S.NOTE_ID: notes, f"{icol}_mean": i_mean, f"{icol}_sd": i_sd,
               f"{fcol}_mean": f_mean, f"{fcol}_sd": f_sd, **d,
               "nearest": np.where(has, names[which], None),
               "distance": np.where(has, dm[np.arange(len(notes)), which], np.nan)}
        for c in columns:
            vals = np.stack([_values(runs[k], c, notes) for k in keys], axis=1)
            modal, p_modal, unstable = [], [], []
            for row in vals:
                u, cnt = np.unique(row.astype(str), return_counts=True)
                j = int(np.argmax(cnt))  # ties: the first value in sorted order (deterministic)
                modal.append(u[j])
                p_modal.append(cnt[j] / len(row))
                unstable.append(len(u) > 1)
            out[f"{c}_modal"] = modal
            out[f"{c}_p_modal"] = np.asarray(p_modal, dtype=np.float64)
            out[f"{c}_unstable"] = np.asarray(unstable, dtype=bool)
        parts.append(pd.DataFrame(out))
    return pd.concat(parts, ignore_index=True)


def _spread(runs, fidelities, seeds) -> pd.DataFrame:
    rows = []
    for f in fidelities:
        keys = [(f, s) for s in seeds]
        notes = _all_notes(runs, keys)
        cols: list[str] = []
        for k in keys:
            cols += [c for c in model_columns(runs[k]) if c != S.NUM_RATINGS and c not in cols]
        for c in cols:
            m = np.stack([_numeric(runs[k], c, notes) for k in keys], axis=1)
            enough = np.sum(~np.isnan(m), axis=1) >= 2
            if not enough.any():
                continue
            m = m[enough]
            _, sd = _nan_stats(m)
            rng = np.nanmax(m, axis=1) - np.nanmin(m, axis=1)
            rows.append({"fidelity": f, "column": c, "notes": int(enough.sum()), "mean_sd": float(sd.mean()),
                         "median_sd": float(np.median(sd)), "p90_sd": float(np.quantile(sd, 0.9)),
                         "max_sd": float(sd.max()), "max_range": float(rng.max())})
    return pd.DataFrame(rows, columns=["fidelity", "column", "notes", "mean_sd", "median_sd", "p90_sd",
                                       "max_sd", "max_range"])


# ----------------------------------------------------------------------------------------------
def _score_one(dataset: Any, config: Any, seed: int, threads: int | None = None) -> tuple[pd.DataFrame, float]:
    """Score one (config, seed) and keep what the comparison reads: ``scored_notes`` with the
    deciding rule, and the wall time. A module-level function: it runs in worker processes (with
    one thread each there, the processes being the parallelism)."""
    from cnlab.pipeline import score

    t0 = time.perf_counter()
    res = score(dataset, config, seed=seed, threads=threads)
    sec = time.perf_counter() - t0
    sn = res.frames["scored_notes"]
    rules = res.decisions()[[S.NOTE_ID, "decidingRule"]]
    return sn.drop(columns=["decidingRule"], errors="ignore").merge(rules, on=S.NOTE_ID, how="left"), sec


def seed_stability(dataset: Any, seeds: Iterable[int] = range(5), config: Any = None, *,
                   fidelities: Iterable[str] = ("official", "fast"), jobs: int = 1,
                   executor: Executor | None = None, status_columns: Iterable[str] | None = None,
                   prefix: str = "core") -> SeedStability:
    """Score ``dataset`` under every seed and fidelity and measure how the statuses move.

    Parameters
    ----------
    dataset
        A :class:`cnlab.io.Dataset`.
    seeds
        The seeds (``ScoringConfig.seed``); order and repeats do not matter.
    config
        :class:`cnlab.pipeline.ScoringConfig` (default: Core only); its ``seed`` and ``fidelity``
        are replaced run by run.
    fidelities
        ``ScoringConfig.fidelity`` values to compare side by side (``"official"``: the official
        Adam loop and stopping rule; ``"fast"``: the exact solver).
    jobs
        Worker processes (fresh interpreters, as :mod:`cnlab.pipeline.parallel` starts them), each
        scoring whole runs; every run is a function of (data, config, seed) alone, so the result does
        not depend on ``jobs``. Each worker holds a copy of the dataset.
    executor
        Any :class:`concurrent.futures.Executor` to run the scorings on instead (not shut down here).
    status_columns, prefix
        See :meth:`SeedStability.from_runs`.

    Returns
    -------
    SeedStability

    Examples
    --------
    >>> import cnlab
    >>> from cnlab.lab import seed_stability
    >>> st = seed_stability(cnlab.load_sample(), seeds=range(3))             # doctest: +SKIP
    >>> print(st.summary())                                                  # doctest: +SKIP
    """
    from cnlab.pipeline import ScoringConfig

    config = ScoringConfig() if config is None else config
    seeds = sorted({int(s) for s in seeds})
    fidelities = tuple(dict.fromkeys(fidelities))
    if not seeds or not fidelities:
        raise ValueError("seed_stability: needs at least one seed and one fidelity")
    # seeds outer, fidelities inner: on a shared machine a drifting load then weighs on each
    # fidelity alike (the timings; the results do not depend on the order)
    tasks = [(f, s) for s in seeds for f in fidelities]
    cfgs = {f: config.with_(fidelity=f) for f in fidelities}
    done: dict[tuple[str, int], tuple[pd.DataFrame, float]] = {}
    if executor is None and jobs <= 1:
        for f, s in tasks:
            done[(f, s)] = _score_one(dataset, cfgs[f], s)
    else:
        own = executor is None
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) if own \
            else executor
        try:
            futures = {(f, s): pool.submit(_score_one, dataset, cfgs[f], s, 1) for f, s in tasks}
            done = {k: fut.result() for k, fut in futures.items()}
        finally:
            if own:
                pool.shutdown(cancel_futures=True)
    timings = pd.DataFrame([{"fidelity": f, "seed": s, "seconds": done[(f, s)][1]} for f in fidelities for s in seeds])
    sh = getattr(dataset, "status_history", None)
    locked = ()
    if sh is not None and "lockedStatus" in sh.columns:
        locked = sh.loc[sh["lockedStatus"].notna(), S.NOTE_ID].to_numpy()
    return SeedStability.from_runs({k: v[0] for k, v in done.items()}, status_columns=status_columns,
                                   prefix=prefix, locked=locked, timings=timings)
