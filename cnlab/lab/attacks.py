"""Coordinated-attack robustness: inject synthetic rater accounts and their ratings, rescore,
and measure how many targeted notes end with the wrong status.

:func:`inject` adds ``n_attackers`` new accounts to a :class:`cnlab.io.Dataset` — participant ids,
``userEnrollment`` rows of a new rater, ratings with timestamps, helpfulness levels and tags in the
public format — and returns a new dataset (the input is never changed). :func:`attack` injects,
rescores and returns an :class:`AttackResult`: the :class:`~cnlab.lab.status_diff.StatusDiff`
against the unattacked baseline, the injected rows and the metrics of Truong et al. (2025):

* **pollution**: of the targeted notes that are *not* helpful by the truth, the share rated
  CURRENTLY_RATED_HELPFUL (CRH) after the attack;
* **suppression**: of the targeted notes that *are* helpful by the truth, the share not CRH
  after the attack,

each with a Wilson interval. A note counts as CRH when its ``finalRatingStatus`` is CRH or when
only the stabilization delay holds it back (:data:`STABILIZATION_RULE`: one rescoring of fresh
ratings always meets that delay; the next run shows the note CRH). With zero attackers they are the scorer's own error rates on the
targets (the baseline figures of Truong et al.: pollution ≈ 0.30, suppression ≈ 0.44 on their
20k-note simulation). :func:`attack_curve` repeats :func:`attack` over attacker counts, defence
settings and seeds into one tidy frame (plotted by :func:`cnlab.plotting.attack_curves`).

The truth is the synthetic planted truth when given (``notes_truth.tsv.gz``: a note is helpful
when its ``noteType`` is ``"bridging"``, as in notebook 08); for a real download there is none,
and the baseline run stands in for it (helpful = CRH in the baseline): then both metrics are 0
without attackers by construction, and they measure how far the attackers move the scorer away
from its own unattacked decisions.

No TensorFlow is imported here (scoring imports it when it runs).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._arrays import isin
from cnlab.lab.status_diff import StatusDiff, diff

__all__ = [
    "STRATEGIES", "DEFENCES", "DEFENCE_SETTINGS", "AttackPlan", "Injection", "AttackResult",
    "defence_config", "load_truth", "choose_targets", "inject", "attack", "attack_curve",
    "attack_metrics",
]

#: Attack strategies of :func:`attack`.
STRATEGIES: tuple[str, ...] = ("promote", "suppress", "coordinated_block", "sleeper")
#: Defences that :func:`defence_config` can switch off (see its docstring for what "off" means).
DEFENCES: tuple[str, ...] = ("pss", "quasi_cliques", "reputation", "high_volume")
#: Named defence settings: label → the defences left on.
DEFENCE_SETTINGS: dict[str, tuple[str, ...]] = {
    "all on": DEFENCES,
    "all off": (),
    "no pss": tuple(d for d in DEFENCES if d != "pss"),
    "no quasi-cliques": tuple(d for d in DEFENCES if d != "quasi_cliques"),
    "no reputation": tuple(d for d in DEFENCES if d != "reputation"),
    "no high-volume": tuple(d for d in DEFENCES if d != "high_volume"),
}
#: The meta rule that holds a note the model rates CRH at NEEDS_MORE_RATINGS until it has been CRH
#: for a minimum time (spec 04, stabilization). A single rescoring of new ratings always meets it,
#: so the metrics count such a note as CRH: the next scoring run after the delay shows it.
STABILIZATION_RULE = "NmrDueToMinStableCrhTime"
#: Note types of the planted truth that are helpful (the rest are not).
HELPFUL_TYPES: tuple[str, ...] = ("bridging",)
#: Planted note types a ``"promote"`` attack picks its targets from ("partisan or unhelpful").
PROMOTE_TYPES: tuple[str, ...] = ("partisan", "incorrect", "abusive")

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
# The honest-rating model mirrors the synthetic generator's defaults (cnlab.synthetic.SyntheticConfig):
# noise scale, the SOMEWHAT_HELPFUL band and the rating delay after note creation.
_NOISE = 0.6
_BAND = 0.15
_DELAY_MEDIAN_H = 4.0
_DELAY_LOG_SD = 1.4
# Tags an attacker gives with each level: plausible, common ones (a level always carries a tag of
# its side, as in the public data).
_ATTACK_TAGS = {
    S.HELPFUL: ("helpfulInformative", "helpfulClear", "helpfulGoodSources", "helpfulImportantContext"),
    S.NOT_HELPFUL: ("notHelpfulIncorrect", "notHelpfulSourcesMissingOrUnreliable",
                    "notHelpfulArgumentativeOrBiased", "notHelpfulOpinionSpeculation"),
}


# ---------------------------------------------------------------------------
# plan, defences, truth
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AttackPlan:
    """What :func:`inject` adds to a dataset (everything it draws depends on these fields only)."""

    strategy: str
    """One of :data:`STRATEGIES`: ``"promote"`` (HELPFUL on not-helpful targets, ratings spread over
    hours as independent accounts would), ``"suppress"`` (NOT_HELPFUL on helpful targets, spread),
    ``"coordinated_block"`` (every attacker rates the same targets within ``block_minutes`` of one
    another, minutes after each target appears), ``"sleeper"`` (honest ratings first, then the
    attack)."""
    n_attackers: int
    """Accounts added (0: nothing is added)."""
    targets: tuple[int, ...]
    """Note ids the attackers rate."""
    budget: int
    """Ratings per attacker, honest and attack ratings together. An attacker rates
    ``min(budget, len(targets))`` targets (a sleeper: of the ``budget`` minus its honest share);
    the rest of its budget are honest ratings on other notes, its camouflage."""
    seed: int
    """Seed of every draw; attacker ``j`` draws from ``default_rng([seed, j])``, so the first ``n``
    attackers of a larger attack are the ``n`` attackers of a smaller one (nested attacks)."""
    goal: str = "promote"
    """``"promote"`` (rate targets HELPFUL) or ``"suppress"`` (NOT_HELPFUL); fixed by the strategy
    for ``"promote"`` / ``"suppress"``, chosen for ``"coordinated_block"`` and ``"sleeper"``."""
    honest_fraction: float = 0.5
    """Share of a sleeper's budget rated honestly before it attacks (other strategies: ignored)."""
    block_minutes: float = 5.0
    """``"coordinated_block"``: the block rates each target within this many minutes."""
    side: int = 0
    """Viewpoint of the attackers' persona (+1 / −1 on the first factor), which their honest
    ratings follow; 0: the side opposite to the targets' mean factor — accounts that look like the
    other viewpoint, since agreement across viewpoints is what raises a note's intercept — or a
    seeded coin flip when that mean is 0 or unknown."""
    modeling_group: float | None = None
    """``modelingGroup`` of the new accounts' enrollment rows; ``None``: each account draws one of
    the Core groups with the frequencies of the dataset's own enrolled raters (accounts blend in,
    and the Core scorer sees them). ``NaN`` puts them outside every group (the Core scorer then
    ignores them: a rater with an enrollment row and no group is not "unassigned", spec 04 §2.6)."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.goal not in ("promote", "suppress"):
            raise ValueError(f"goal must be 'promote' or 'suppress', got {self.goal!r}")
        if self.n_attackers < 0 or self.budget < 0:
            raise ValueError("n_attackers and budget must be >= 0")
        if not 0.0 <= self.honest_fraction <= 1.0:
            raise ValueError("honest_fraction must be in [0, 1]")
        if self.block_minutes <= 0:
            raise ValueError("block_minutes must be > 0")

    @property
    def n_attack_ratings(self) -> int:
        """Target ratings per attacker."""
        honest = int(round(self.honest_fraction * self.budget)) if self.strategy == "sleeper" else 0
        return min(self.budget - honest, len(self.targets))

    @property
    def n_honest_ratings(self) -> int:
        """Honest (camouflage) ratings per attacker, at most (fewer when the dataset has too few
        other notes)."""
        return self.budget - self.n_attack_ratings


def _defence_set(defences: Any) -> frozenset[str]:
    """The defences left on: ``"all"``, ``"none"``, a :data:`DEFENCE_SETTINGS` label, names of
    defences, or a mapping name → bool (unnamed defences stay on)."""
    if isinstance(defences, str):
        if defences == "all":
            return frozenset(DEFENCES)
        if defences == "none":
            return frozenset()
        if defences in DEFENCE_SETTINGS:
            return frozenset(DEFENCE_SETTINGS[defences])
        names = (defences,)
    elif isinstance(defences, Mapping):
        unknown = set(defences) - set(DEFENCES)
        if unknown:
            raise ValueError(f"unknown defences {sorted(unknown)}; known: {DEFENCES}")
        return frozenset(d for d in DEFENCES if defences.get(d, True))
    else:
        names = tuple(defences)
    unknown = set(names) - set(DEFENCES)
    if unknown:
        raise ValueError(f"unknown defences {sorted(unknown)}; known: {DEFENCES}, or a setting of "
                         f"{tuple(DEFENCE_SETTINGS)}, 'all', 'none'")
    return frozenset(names)


def defence_config(config: Any = None, defences: Any = "all") -> Any:
    """The :class:`cnlab.pipeline.ScoringConfig` with some defences switched off.

    Parameters
    ----------
    config
        The configuration to change (default ``ScoringConfig()``); defences already off in it stay
        off.
    defences
        The defences left **on**: ``"all"`` (default: ``config`` unchanged), ``"none"``, a label
        of :data:`DEFENCE_SETTINGS` (``"no pss"`` …), an iterable of names of :data:`DEFENCES`, or
        a mapping name → bool (names not given stay on).

    Returns
    -------
    ScoringConfig

    Notes
    -----
    What "off" means for each defence, where it acts in cnlab:

    * ``"pss"`` — post-selection similarity: ``ScoringConfig.use_pss=False``. Rater clustering
      (:func:`cnlab.models.similarity.rater_clustering`) does not run, so no ratings are coalesced
      (prescoring: raters of one PSS component count once per note, ratings on their own
      component's notes are dropped; final scoring: the same for raters in both a component and a
      quasi-clique). Rater clustering also computes the quasi-cliques, so with ``"pss"`` off the
      quasi-clique flag is gone too, whatever ``"quasi_cliques"`` says.
    * ``"quasi_cliques"`` — the quasi-clique flag ``correlatedRater`` acts through one rule: the
      ``NoCorrelated`` sub-fit (final scoring refits the notes without the flagged raters) and
      the rule ``NoCorrelatedIntercept`` that demotes a CRH note whose sub-fit intercept is below
      ``crh_threshold_no_correlated`` (0.37 for Core). Off: that threshold is −∞ in every MF
      scorer's :class:`~cnlab.scoring.config.RuleThresholds`, so the rule never fires (the flag
      and the sub-fit are still computed and reported).
    * ``"reputation"`` — the helpfulness (reputation) filter: ``ScorerConfig.use_reputation=False``
      for every MF and Gaussian scorer: prescoring's second round and final scoring keep the
      ratings of raters below the helpfulness thresholds (the official topic scorers' setting).
    * ``"high_volume"`` — the high-volume rater flag ``highVolumeRater`` (preprocessing: raters
      above the 99.9th percentile of ratings in the last 7 or 28 days) acts through the
      ``NoHighVol`` sub-fit and the rule ``NoHighVolIntercept`` (threshold
      ``crh_threshold_no_high_vol``, 0.37 for Core). Off: that threshold is −∞ (the flag and the
      sub-fit are still computed).

    Examples
    --------
    >>> cfg = defence_config(None, "no reputation")
    >>> cfg.use_pss, cfg.scorers[0].use_reputation
    (True, False)
    >>> cfg = defence_config(None, "none")
    >>> cfg.use_pss, cfg.scorers[0].rules().crh_threshold_no_high_vol
    (False, -inf)
    """
    from cnlab.pipeline import ScoringConfig

    config = ScoringConfig() if config is None else config
    on = _defence_set(defences)
    if on == frozenset(DEFENCES):
        return config

    def change(sc: Any) -> Any:
        changes: dict[str, Any] = {}
        if "reputation" not in on and hasattr(sc, "use_reputation"):
            changes["use_reputation"] = False
        rules = sc.rules() if hasattr(sc, "rules") else None
        if rules is not None and dataclasses.is_dataclass(rules):
            t: dict[str, float] = {}
            if "quasi_cliques" not in on and hasattr(rules, "crh_threshold_no_correlated"):
                t["crh_threshold_no_correlated"] = -np.inf
            if "high_volume" not in on and hasattr(rules, "crh_threshold_no_high_vol"):
                t["crh_threshold_no_high_vol"] = -np.inf
            if t:
                changes["thresholds"] = dataclasses.replace(rules, **t)
        return dataclasses.replace(sc, **changes) if changes else sc

    gaussian = tuple(dataclasses.replace(g, use_reputation=False)
                     if "reputation" not in on and hasattr(g, "use_reputation") else g
                     for g in config.gaussian)
    return dataclasses.replace(config, scorers=tuple(change(sc) for sc in config.scorers),
                               gaussian=gaussian, use_pss=bool(config.use_pss and "pss" in on))


def load_truth(source: Any) -> pd.DataFrame:
    """The planted note truth: ``noteId``, ``noteType``, ``trueQuality``, ``trueFactor1`` … and
    ``truthHelpful`` (``noteType`` in :data:`HELPFUL_TYPES`).

    ``source``: a folder holding ``notes_truth.tsv.gz`` (``cnlab synth`` output, the bundled
    sample's :data:`cnlab.synthetic.SAMPLE_DIR`), that file, a
    :class:`cnlab.synthetic.SyntheticTruth`, or a frame with ``noteId`` and ``noteType``.

    Examples
    --------
    >>> from cnlab.synthetic import SAMPLE_DIR
    >>> t = load_truth(SAMPLE_DIR)
    >>> t.loc[t["truthHelpful"], "noteType"].unique().tolist(), str(t["noteId"].dtype)
    (['bridging'], 'int64')
    """
    if hasattr(source, "notes") and isinstance(getattr(source, "notes"), pd.DataFrame):
        frame = source.notes
    elif isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, "notes_truth.tsv.gz")
        frame = pd.read_csv(path, sep="\t")
    if S.NOTE_ID not in frame.columns or "noteType" not in frame.columns:
        raise KeyError("truth: needs the columns noteId and noteType (notes_truth.tsv.gz)")
    out = frame.copy()
    out[S.NOTE_ID] = out[S.NOTE_ID].astype(np.int64)
    out["noteType"] = out["noteType"].astype(str)
    out["truthHelpful"] = out["noteType"].isin(HELPFUL_TYPES).to_numpy()
    return out.reset_index(drop=True)


def _baseline_truth(baseline: Any) -> pd.DataFrame:
    """Truth from a run: helpful = CRH; ``trueQuality`` / ``trueFactor1`` = Core's estimates."""
    sn = baseline.frames["scored_notes"]
    out = pd.DataFrame({S.NOTE_ID: sn[S.NOTE_ID].astype(np.int64).to_numpy(),
                        "truthHelpful": (sn["finalRatingStatus"] == S.CRH).to_numpy()})
    for src, dst in (("coreNoteIntercept", "trueQuality"), ("coreNoteFactor1", "trueFactor1")):
        if src in sn.columns:
            out[dst] = pd.to_numeric(sn[src], errors="coerce").to_numpy(dtype=np.float64)
    out["noteType"] = np.where(out["truthHelpful"], "baseline CRH", "baseline not CRH")
    return out


def choose_targets(truth: pd.DataFrame, goal: str, n: int, *, seed: int,
                   among: Iterable[int] | None = None) -> tuple[int, ...]:
    """``n`` note ids an attack with ``goal`` aims at, drawn with ``seed`` (sorted).

    ``"promote"``: notes that are not helpful by the truth — planted types in
    :data:`PROMOTE_TYPES` (partisan or unhelpful) when the truth has them, else any not helpful
    note; ``"suppress"``: helpful notes. ``among`` restricts the draw (e.g. to the notes the
    baseline scored). Fewer than ``n`` when fewer qualify.

    Examples
    --------
    >>> t = pd.DataFrame({"noteId": [1, 2, 3, 4], "noteType": ["bridging", "partisan", "incorrect",
    ...                   "bridging"]}).assign(truthHelpful=lambda f: f.noteType == "bridging")
    >>> choose_targets(t, "suppress", 5, seed=0)
    (1, 4)
    >>> choose_targets(t, "promote", 1, seed=0) in ((2,), (3,))
    True
    """
    if goal == "suppress":
        ok = truth["truthHelpful"].to_numpy(dtype=bool)
    elif goal == "promote":
        ok = ~truth["truthHelpful"].to_numpy(dtype=bool)
        typed = truth["noteType"].astype(str).isin(PROMOTE_TYPES).to_numpy()
        if typed.any():
            ok &= typed
    else:
        raise ValueError(f"goal must be 'promote' or 'suppress', got {goal!r}")
    ids = truth.loc[ok, S.NOTE_ID].to_numpy(dtype=np.int64)
    if among is not None:
        ids = ids[np.isin(ids, np.fromiter(among, dtype=np.int64))]
    ids = np.unique(ids)
    rng = np.random.default_rng([int(seed), 11])
    pick = rng.choice(ids, size=min(int(n), len(ids)), replace=False) if len(ids) else ids
    return tuple(int(i) for i in np.sort(pick))


# ---------------------------------------------------------------------------
# injection
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Injection:
    """What :func:`inject` added (:attr:`dataset` is the attacked dataset)."""

    dataset: Any
    """The attacked :class:`cnlab.io.Dataset` (new frames; the input is unchanged)."""
    ratings: pd.DataFrame
    """The injected ratings in the dataset's format (``raterParticipantId``: codes of
    :attr:`dataset`), plus ``participantId`` (the new id string), ``attacker`` (0 … n−1) and
    ``phase`` (``"honest"`` or ``"attack"``)."""
    enrollment: pd.DataFrame
    """The new accounts' ``userEnrollment`` rows (codes of :attr:`dataset`) plus ``attacker``."""
    participant_ids: tuple[str, ...]
    """The new participant ids (64 hexadecimal characters, as in the public data), by attacker."""
    recoded: bool
    """True when the existing participant codes changed: the new ids are merged into the sorted
    participant index as a fresh load of the attacked files would (spec 04 §3)."""


def _helpful_num(level: np.ndarray) -> np.ndarray:
    return np.select([level == S.HELPFUL, level == S.SOMEWHAT_HELPFUL], [1.0, 0.5], 0.0)


def _tag_bits(rng: np.random.Generator, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Helpful / not-helpful tag bits: one or two tags of the level's side (none for SOMEWHAT)."""
    hb = np.zeros(len(levels), dtype=np.uint16)
    nb = np.zeros(len(levels), dtype=np.uint16)
    for level, names, bits, all_tags in ((S.HELPFUL, _ATTACK_TAGS[S.HELPFUL], hb, S.HELPFUL_TAGS),
                                         (S.NOT_HELPFUL, _ATTACK_TAGS[S.NOT_HELPFUL], nb, S.NOT_HELPFUL_TAGS)):
        idx = np.flatnonzero(levels == level)
        if not len(idx):
            continue
        pos = np.array([all_tags.index(t) for t in names])
        first = pos[rng.integers(0, len(pos), len(idx))]
        second = pos[rng.integers(0, len(pos), len(idx))]
        two = rng.random(len(idx)) < 0.4
        bits[idx] = (np.uint16(1) << first.astype(np.uint16)) | np.where(
            two, np.uint16(1) << second.astype(np.uint16), 0).astype(np.uint16)
    return hb, nb


def _new_ids(rng: np.random.Generator, n: int, taken: pd.Index) -> list[str]:
    out: list[str] = []
    seen = set()
    while len(out) < n:
        pid = rng.bytes(32).hex().upper()
        if pid not in seen and pid not in taken:
            seen.add(pid)
            out.append(pid)
    return out


def _lognormal_delay(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(rng.normal(np.log(_DELAY_MEDIAN_H), _DELAY_LOG_SD, n)) * _HOUR


def _group_pool(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Core modeling groups of the enrolled raters and their frequencies (for new accounts)."""
    g = pd.to_numeric(dataset.enrollment[S.MODELING_GROUP], errors="coerce")
    g = g[g.isin(list(S.CORE_GROUPS))]
    if g.empty:
        return np.array([13.0]), np.array([1.0])
    counts = g.value_counts().sort_index()
    return counts.index.to_numpy(dtype=np.float64), (counts / counts.sum()).to_numpy()


def inject(dataset: Any, plan: AttackPlan, *, truth: pd.DataFrame | None = None,
           epoch_millis: int | None = None) -> Injection:
    """Add the plan's attacker accounts and their ratings to ``dataset`` (a new dataset).

    Each attacker is a new participant (a fresh 64-hex id) with the ``userEnrollment`` row of a
    rater who just joined: ``enrollmentState="newUser"``, ``successfulRatingNeededToEarnIn=5``,
    ``timestampOfLastStateChange`` = its sign-up (1–7 days before its first rating),
    ``timestampOfLastEarnOut=1``, ``numberOfTimesEarnedOut=0``, ``modelingPopulation="CORE"`` and
    a Core ``modelingGroup`` (:attr:`AttackPlan.modeling_group`) — the values the public download
    holds for new raters (spec 04 §2.6, spec 07 A.6: a missing state reads as ``newUser`` with 5
    ratings needed to earn in).

    Its ratings:

    * **attack ratings** on ``min(budget, len(targets))`` targets (a random subset per attacker;
      the block's subset is shared): HELPFUL for ``goal="promote"``, NOT_HELPFUL for
      ``"suppress"``, each with one or two tags of that side; ``"promote"`` / ``"suppress"`` /
      ``"sleeper"`` rate a target a log-normal delay after it was created (median 4 h, as the
      synthetic raters), ``"coordinated_block"`` rates each target 1–3 minutes after creation,
      the whole block within :attr:`AttackPlan.block_minutes`;
    * **honest ratings** (the rest of the budget) on other notes, drawn at random: with a planted
      truth (``trueQuality``, ``trueFactor1``) the level follows the synthetic generator's model
      ``y = trueQuality + f_u · trueFactor1 + 0.6 ε`` (HELPFUL above +0.15, NOT_HELPFUL below
      −0.15), where ``f_u`` is the attacker's persona (``side`` · a draw around 0.75); without one
      it copies the level of a random existing rating of that note. A sleeper's honest ratings
      are on notes created before the first target (when there are enough) and precede its
      attack ratings.

    Every timestamp lies after its note's creation and before ``epoch_millis`` (default: the
    latest rating or note of ``dataset``). ``ratingSourceBucketed`` is ``DEFAULT``; the legacy
    ``helpful`` / ``notHelpful`` flags take the value the dataset's own ratings of that level
    mostly hold.

    Parameters
    ----------
    dataset
        A :class:`cnlab.io.Dataset` (real or synthetic).
    plan
        The :class:`AttackPlan`.
    truth
        :func:`load_truth`'s frame, or a frame with ``noteId``, ``trueQuality``, ``trueFactor1``
        (e.g. a baseline's estimates): drives the honest ratings and the persona's side.
    epoch_millis
        "Now": no injected timestamp reaches it.

    Returns
    -------
    Injection

    Examples
    --------
    >>> import cnlab
    >>> ds = cnlab.load_sample()
    >>> note = int(ds.notes["noteId"].iloc[0])
    >>> inj = inject(ds, AttackPlan("promote", n_attackers=3, targets=(note,), budget=12, seed=0))
    >>> len(inj.ratings), inj.ratings["phase"].value_counts().to_dict()
    (36, {'honest': 33, 'attack': 3})
    >>> len(inj.dataset.ratings) - len(ds.ratings), len(inj.dataset.participants) - len(ds.participants)
    (36, 3)
    """
    notes, ratings = dataset.notes, dataset.ratings
    if plan.n_attackers == 0 or plan.budget == 0:
        empty_r = ratings.iloc[:0].assign(participantId=pd.Series(dtype=str), attacker=pd.Series(dtype=np.int64),
                                          phase=pd.Series(dtype=str))
        empty_e = dataset.enrollment.iloc[:0].assign(attacker=pd.Series(dtype=np.int64))
        return Injection(dataset, empty_r, empty_e, (), False)
    created = pd.concat([notes[[S.NOTE_ID, S.CREATED_AT]],
                         ratings.groupby(S.NOTE_ID, sort=False)[S.CREATED_AT].min().rename(S.CREATED_AT)
                         .reset_index()]).drop_duplicates(S.NOTE_ID).set_index(S.NOTE_ID)[S.CREATED_AT]
    targets = np.asarray(plan.targets, dtype=np.int64)
    missing = targets[~isin(targets, created.index.to_numpy())]
    if len(missing):
        raise ValueError(f"inject: targets not in the dataset: {missing[:5].tolist()}")
    if epoch_millis is None:
        epoch_millis = int(max(ratings[S.CREATED_AT].max() if len(ratings) else 0,
                               notes[S.CREATED_AT].max() if len(notes) else 0))
    latest = int(epoch_millis) - 1
    # honest candidates: rated notes of the notes file, not targets, created before "now"
    rated = pd.unique(ratings[S.NOTE_ID].to_numpy())
    cand = notes.loc[notes[S.NOTE_ID].isin(rated) & ~notes[S.NOTE_ID].isin(targets)
                     & (notes[S.CREATED_AT] < latest), S.NOTE_ID].drop_duplicates().to_numpy(dtype=np.int64)
    cand_created = created.reindex(cand).to_numpy(dtype=np.int64)
    t_created = created.reindex(targets).to_numpy(dtype=np.int64)
    if plan.strategy == "sleeper" and len(targets):
        early = cand[cand_created < t_created.min()]
        if len(early) >= plan.n_honest_ratings:
            cand, cand_created = early, cand_created[cand_created < t_created.min()]
    tq = tf = None
    if truth is not None and {"trueQuality", "trueFactor1"} <= set(truth.columns):
        tt = truth.drop_duplicates(S.NOTE_ID).set_index(S.NOTE_ID)
        tq = tt["trueQuality"].reindex(cand).to_numpy(dtype=np.float64)
        tf = tt["trueFactor1"].reindex(cand).to_numpy(dtype=np.float64)
        side_of_targets = float(np.nanmean(tt["trueFactor1"].reindex(targets).to_numpy(dtype=np.float64))) \
            if len(targets) else 0.0
    else:
        side_of_targets = 0.0
    # per-note rating pools, to copy a level when there is no planted truth
    by_note = None
    if tq is None:
        order = np.argsort(ratings[S.NOTE_ID].to_numpy(), kind="stable")
        sorted_notes = ratings[S.NOTE_ID].to_numpy()[order]
        by_note = (order, sorted_notes, ratings[S.HELPFULNESS_LEVEL].astype(str).to_numpy())

    # persona: the viewpoint opposite to the targets' (agreement across viewpoints is what raises
    # a note's intercept), a coin flip when the targets sit in the middle
    side = plan.side or (-int(np.sign(side_of_targets)) if side_of_targets and np.isfinite(side_of_targets)
                         else (1 if np.random.default_rng([plan.seed, 5]).random() < 0.5 else -1))
    groups, weights = _group_pool(dataset)
    level_attack = S.HELPFUL if plan.goal == "promote" else S.NOT_HELPFUL
    n_attack = plan.n_attack_ratings
    block_rng = np.random.default_rng([plan.seed, 3])
    block_targets = np.sort(block_rng.choice(targets, n_attack, replace=False)) if n_attack else targets[:0]
    block_start = created.reindex(block_targets).to_numpy(dtype=np.int64) + block_rng.integers(
        _MINUTE, 3 * _MINUTE, len(block_targets))

    ids = _new_ids(np.random.default_rng([plan.seed, 1]), plan.n_attackers, dataset.participants)
    rows: list[pd.DataFrame] = []
    enroll: list[dict[str, Any]] = []
    for j in range(plan.n_attackers):
        rng = np.random.default_rng([plan.seed, 100, j])
        f_u = side * max(0.1, rng.normal(0.75, 0.3))
        # attack ratings
        if plan.strategy == "coordinated_block":
            a_notes = block_targets
            a_time = block_start + rng.integers(0, int(plan.block_minutes * _MINUTE), len(a_notes))
        else:
            a_notes = np.sort(rng.choice(targets, n_attack, replace=False)) if n_attack else targets[:0]
            a_time = created.reindex(a_notes).to_numpy(dtype=np.int64) + _lognormal_delay(rng, len(a_notes))
        a_time = np.minimum(a_time.astype(np.int64), latest)
        # honest ratings
        n_h = min(plan.n_honest_ratings, len(cand))
        pick = rng.choice(len(cand), n_h, replace=False) if n_h else np.zeros(0, dtype=np.int64)
        h_notes = cand[pick]
        h_time = cand_created[pick] + _lognormal_delay(rng, n_h)
        if plan.strategy == "sleeper" and len(a_time):
            # honest first: squeeze the honest ratings before the first attack rating when possible
            first = a_time.min()
            h_time = np.where(h_time < first, h_time, cand_created[pick] + (first - cand_created[pick]) *
                              rng.uniform(0.05, 0.95, n_h))
        h_time = np.minimum(np.maximum(h_time, cand_created[pick] + _MINUTE).astype(np.int64), latest)
        if tq is not None:
            y = tq[pick] + f_u * tf[pick] + _NOISE * rng.standard_normal(n_h)
            y = np.nan_to_num(y, nan=0.0)
            h_level = np.where(y > _BAND, S.HELPFUL, np.where(y < -_BAND, S.NOT_HELPFUL, S.SOMEWHAT_HELPFUL))
        else:
            order, sorted_notes, levels = by_note
            lo = np.searchsorted(sorted_notes, h_notes, side="left")
            hi = np.searchsorted(sorted_notes, h_notes, side="right")
            k = lo + (rng.random(n_h) * (hi - lo)).astype(np.int64)
            h_level = levels[order[np.minimum(k, len(order) - 1)]]
        a_level = np.full(len(a_notes), level_attack, dtype=object)
        level = np.concatenate([h_level.astype(object), a_level])
        hb, nb = _tag_bits(rng, level)
        part = pd.DataFrame({
            S.NOTE_ID: np.concatenate([h_notes, a_notes]).astype(np.int64),
            S.CREATED_AT: np.concatenate([h_time, a_time]).astype(np.int64),
            S.HELPFULNESS_LEVEL: level,
            S.HELPFUL_TAG_BITS: hb, S.NOT_HELPFUL_TAG_BITS: nb,
            "attacker": j,
            "phase": np.array(["honest"] * len(h_notes) + ["attack"] * len(a_notes), dtype=object),
        })
        rows.append(part)
        t0 = int(part[S.CREATED_AT].min()) if len(part) else latest
        g = plan.modeling_group if plan.modeling_group is not None else float(rng.choice(groups, p=weights))
        enroll.append({"attacker": j, "participantId": ids[j], "signup": t0 - int(rng.integers(_DAY, 7 * _DAY)),
                       "group": g})
    new = pd.concat(rows, ignore_index=True)

    # participant index: the new ids merged into the sorted index (a fresh load's codes)
    old_p = dataset.participants
    all_p = pd.Index(np.concatenate([old_p.to_numpy(dtype=object), np.array(ids, dtype=object)])).astype(old_p.dtype)
    all_p = all_p.sort_values() if old_p.is_monotonic_increasing else all_p
    recoded = not all_p[:len(old_p)].equals(old_p)
    remap = all_p.get_indexer(old_p).astype(np.int32)
    new_codes = all_p.get_indexer(pd.Index(ids, dtype=old_p.dtype)).astype(np.int32)

    def recode(frame: pd.DataFrame) -> pd.DataFrame:
        if not recoded:
            return frame
        out = frame.copy()
        for col in (S.AUTHOR_ID, S.RATER_ID, S.PARTICIPANT_ID):
            if col in out.columns:
                v = out[col].to_numpy()
                out[col] = np.where(v >= 0, remap[np.maximum(v, 0)], v).astype(out[col].dtype)
        return out

    # ratings in the dataset's dtypes
    level_mode = ratings.groupby(S.HELPFULNESS_LEVEL, observed=True)[["helpful", "notHelpful"]].agg(
        lambda s: s.mode().iloc[0] if len(s) else 0) if {"helpful", "notHelpful"} <= set(ratings.columns) else None
    inj = pd.DataFrame(index=range(len(new)))
    for col in ratings.columns:
        if col == S.RATER_ID:
            inj[col] = new_codes[new["attacker"].to_numpy()]
        elif col in new.columns:
            inj[col] = new[col].to_numpy()
        elif col in ("helpful", "notHelpful") and level_mode is not None:
            inj[col] = new[S.HELPFULNESS_LEVEL].map(level_mode[col]).fillna(0).to_numpy()
        elif col == S.RATING_SOURCE:
            inj[col] = S.SOURCE_DEFAULT
        else:
            inj[col] = pd.Series([pd.NA] * len(new))
    for col in ratings.columns:
        dtype = ratings[col].dtype
        inj[col] = pd.Categorical(inj[col], categories=dtype.categories) if isinstance(dtype, pd.CategoricalDtype) \
            else inj[col].astype(dtype)
    base_ratings = recode(ratings)
    out_ratings = pd.concat([base_ratings, inj[list(ratings.columns)]], ignore_index=True)
    for col in ratings.columns:  # concat of categoricals keeps the dtype only when categories match
        if out_ratings[col].dtype != ratings[col].dtype:
            out_ratings[col] = out_ratings[col].astype(ratings[col].dtype)

    enr = dataset.enrollment
    e = pd.DataFrame({
        S.PARTICIPANT_ID: new_codes[[r["attacker"] for r in enroll]],
        "enrollmentState": "newUser", "successfulRatingNeededToEarnIn": 5,
        "timestampOfLastStateChange": [r["signup"] for r in enroll], "timestampOfLastEarnOut": 1.0,
        "modelingPopulation": "CORE", S.MODELING_GROUP: [r["group"] for r in enroll],
        "numberOfTimesEarnedOut": 0,
    })
    e = e.reindex(columns=list(enr.columns))
    for col in enr.columns:
        dtype = enr[col].dtype
        e[col] = pd.Categorical(e[col], categories=dtype.categories) if isinstance(dtype, pd.CategoricalDtype) \
            else e[col].astype(dtype)
    out_enr = pd.concat([recode(enr), e], ignore_index=True)
    for col in enr.columns:
        if out_enr[col].dtype != enr[col].dtype:
            out_enr[col] = out_enr[col].astype(enr[col].dtype)

    attacked = dataclasses.replace(dataset, notes=recode(notes), ratings=out_ratings,
                                   status_history=recode(dataset.status_history), enrollment=out_enr,
                                   participants=all_p)
    injected = inj[list(ratings.columns)].assign(
        participantId=np.asarray(ids, dtype=object)[new["attacker"].to_numpy()],
        attacker=new["attacker"].to_numpy(), phase=new["phase"].to_numpy())
    return Injection(attacked, injected, e.assign(attacker=[r["attacker"] for r in enroll]), tuple(ids), recoded)


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
def _wilson(count: int, nobs: int, alpha: float = 0.05) -> tuple[float, float]:
    if nobs == 0:
        return (np.nan, np.nan)
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(count, nobs, alpha=alpha, method="wilson")
    return float(lo), float(hi)


_METRIC_COLUMNS = ["metric", "count", "n", "value", "lo", "hi"]


def attack_metrics(targets: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Pollution, suppression and the status changes of the targets, with Wilson intervals.

    ``targets``: one row per targeted note with ``truthHelpful`` and, per run, ``crh_baseline`` /
    ``crh_attacked`` (booleans: the note counts as CRH) or, without them, ``status_baseline`` /
    ``status_attacked`` (``finalRatingStatus``; CRH counts).

    Rows (``count`` of ``n``; ``value`` = count / n, NaN when n = 0; ``lo`` / ``hi`` the Wilson
    interval at level 1 − ``alpha``):

    * ``pollution``: not-helpful targets rated CRH after the attack;
    * ``suppression``: helpful targets not CRH after the attack;
    * ``pollution_baseline``, ``suppression_baseline``: the same in the unattacked run;
    * ``became_crh``: targets not CRH in the baseline and CRH after the attack, of those not CRH;
    * ``lost_crh``: targets CRH in the baseline and not after the attack, of those CRH.

    Examples
    --------
    >>> t = pd.DataFrame({"truthHelpful": [False, False, True, True],
    ...                   "status_baseline": ["NEEDS_MORE_RATINGS"] * 2 + ["CURRENTLY_RATED_HELPFUL"] * 2,
    ...                   "status_attacked": ["CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS",
    ...                                       "CURRENTLY_RATED_HELPFUL", "NEEDS_MORE_RATINGS"]})
    >>> attack_metrics(t).set_index("metric")["value"].to_dict()
    {'pollution': 0.5, 'suppression': 0.5, 'pollution_baseline': 0.0, 'suppression_baseline': 0.0, 'became_crh': 0.5, 'lost_crh': 0.5}
    """
    helpful = targets["truthHelpful"].to_numpy(dtype=bool)
    crh_b, crh_a = (targets[f"crh_{r}"].to_numpy(dtype=bool) if f"crh_{r}" in targets.columns
                    else (targets[f"status_{r}"] == S.CRH).to_numpy() for r in ("baseline", "attacked"))
    parts = {
        "pollution": (crh_a & ~helpful, ~helpful),
        "suppression": (~crh_a & helpful, helpful),
        "pollution_baseline": (crh_b & ~helpful, ~helpful),
        "suppression_baseline": (~crh_b & helpful, helpful),
        "became_crh": (crh_a & ~crh_b, ~crh_b),
        "lost_crh": (~crh_a & crh_b, crh_b),
    }
    rows = []
    for name, (hit, of) in parts.items():
        c, n = int(hit.sum()), int(of.sum())
        lo, hi = _wilson(c, n, alpha)
        rows.append({"metric": name, "count": c, "n": n, "value": c / n if n else np.nan, "lo": lo, "hi": hi})
    return pd.DataFrame(rows, columns=_METRIC_COLUMNS)


# ---------------------------------------------------------------------------
# attack
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AttackResult:
    """An attack, the run on the attacked data, and how it compares with the baseline
    (:func:`attack`)."""

    plan: AttackPlan
    """What was injected."""
    defences: tuple[str, ...]
    """The defences that were on (names of :data:`DEFENCES`; with ``use_pss`` off neither ``"pss"``
    nor ``"quasi_cliques"``, whose flag comes from the same rater clustering)."""
    config: Any
    """The :class:`cnlab.pipeline.ScoringConfig` of both runs (defences applied)."""
    baseline: Any
    """The :class:`cnlab.pipeline.ScoringResult` on the dataset as given."""
    result: Any
    """The ScoringResult on the attacked dataset (every stage recomputed)."""
    diff: StatusDiff
    """:func:`cnlab.lab.diff` of ``baseline`` → ``result`` (labels ``"baseline"``, ``"attacked"``)."""
    injection: Injection
    """The injected rows and the attacked dataset."""
    targets: pd.DataFrame
    """One row per target: ``noteId``, ``noteType``, ``truthHelpful``, and per run (``_baseline``,
    ``_attacked``) ``status_`` (finalRatingStatus), ``crh_`` (CRH, or held at NEEDS_MORE_RATINGS
    only by the stabilization delay :data:`STABILIZATION_RULE`) and ``coreNoteIntercept_``."""
    metrics: pd.DataFrame
    """:func:`attack_metrics` of :attr:`targets`."""
    truth_source: str
    """``"planted"`` (a synthetic truth was given) or ``"baseline"`` (helpful = CRH in the
    baseline run: both metrics are 0 without attackers)."""

    @property
    def injected_ratings(self) -> pd.DataFrame:
        """The injected ratings (:attr:`Injection.ratings`)."""
        return self.injection.ratings

    @property
    def injected_enrollment(self) -> pd.DataFrame:
        """The new accounts' enrollment rows."""
        return self.injection.enrollment

    def metric(self, name: str) -> float:
        """The value of one :attr:`metrics` row (``"pollution"`` …)."""
        return float(self.metrics.set_index("metric").loc[name, "value"])

    def summary(self) -> str:
        """The plan, what was injected, the target metrics and :meth:`StatusDiff.summary`."""
        p = self.plan
        inj = self.injection.ratings
        lines = [
            f"Attack {p.strategy!r} (goal {p.goal}): {p.n_attackers} attackers x {p.budget} ratings, "
            f"{len(p.targets)} targets, seed {p.seed}",
            f"defences on: {', '.join(self.defences) or 'none'}; truth: {self.truth_source}",
            f"injected: {len(inj):,} ratings ({int((inj['phase'] == 'attack').sum()):,} on targets, "
            f"{int((inj['phase'] == 'honest').sum()):,} honest), {len(self.injection.enrollment)} enrollment rows",
            "target metrics (count / n, 95 % Wilson interval):",
        ]
        for r in self.metrics.itertuples(index=False):
            val = "   n/a" if np.isnan(r.value) else f"{r.value:6.3f}  [{r.lo:.3f}, {r.hi:.3f}]"
            lines.append(f"  {r.metric:<21} {r.count:>5} / {r.n:<5} {val}")
        lines.append(self.diff.summary())
        return "\n".join(lines)

    def __repr__(self) -> str:
        m = self.metrics.set_index("metric")["value"]
        return (f"AttackResult({self.plan.strategy!r}, n_attackers={self.plan.n_attackers}, "
                f"pollution={m['pollution']:.3f}, suppression={m['suppression']:.3f}, "
                f"{self.diff.n_changed} notes change finalRatingStatus)")


def _resolve_truth(truth: Any, baseline: Any) -> tuple[pd.DataFrame, str]:
    if truth is None:
        return _baseline_truth(baseline), "baseline"
    return load_truth(truth), "planted"


def _targets_frame(target_ids: Sequence[int], truth: pd.DataFrame, baseline: Any, result: Any) -> pd.DataFrame:
    t = pd.DataFrame({S.NOTE_ID: np.asarray(target_ids, dtype=np.int64)})
    tt = truth.drop_duplicates(S.NOTE_ID).set_index(S.NOTE_ID)
    t["noteType"] = tt["noteType"].reindex(t[S.NOTE_ID]).to_numpy()
    t["truthHelpful"] = tt["truthHelpful"].reindex(t[S.NOTE_ID]).fillna(False).to_numpy(dtype=bool)
    for label, run in (("baseline", baseline), ("attacked", result)):
        sn = run.frames["scored_notes"].drop_duplicates(S.NOTE_ID).set_index(S.NOTE_ID)
        t[f"status_{label}"] = sn["finalRatingStatus"].reindex(t[S.NOTE_ID]).to_numpy()
        held = sn["decidedBy"].astype(str).str.startswith(STABILIZATION_RULE) if "decidedBy" in sn.columns \
            else pd.Series(False, index=sn.index)
        t[f"crh_{label}"] = ((t[f"status_{label}"] == S.CRH)
                             | held.reindex(t[S.NOTE_ID]).fillna(False).to_numpy(dtype=bool))
        col = sn["coreNoteIntercept"] if "coreNoteIntercept" in sn.columns else pd.Series(np.nan, index=sn.index)
        t[f"coreNoteIntercept_{label}"] = pd.to_numeric(col, errors="coerce").reindex(t[S.NOTE_ID]).to_numpy()
    return t


def attack(
    dataset: Any,
    *,
    strategy: str,
    n_attackers: int,
    targets: int | Sequence[int],
    budget: int,
    seed: int = 0,
    config: Any = None,
    defences: Any = "all",
    truth: Any = None,
    baseline: Any = None,
    goal: str | None = None,
    honest_fraction: float = 0.5,
    block_minutes: float = 5.0,
    side: int = 0,
    modeling_group: float | None = None,
) -> AttackResult:
    """Inject attacker accounts into ``dataset``, rescore, and measure the damage on the targets.

    Parameters
    ----------
    dataset
        A :class:`cnlab.io.Dataset`, real or synthetic; never changed.
    strategy
        ``"promote"`` (push not-helpful — partisan or unhelpful — targets to CRH),
        ``"suppress"`` (bury helpful targets), ``"coordinated_block"`` (a block rating the same
        targets within minutes; ``goal`` says which way) or ``"sleeper"`` (accounts that first
        rate honestly, consistently with the planted truth, then attack; ``goal``).
    n_attackers
        Accounts injected (0: the attacked dataset equals the input, and the diff is empty).
    targets
        Note ids, or a number of targets drawn with ``seed`` by :func:`choose_targets` among the
        notes the baseline scored (by the truth: not helpful for ``"promote"``, helpful for
        ``"suppress"``).
    budget
        Ratings per attacker (honest and attack ratings together; :class:`AttackPlan`).
    seed
        Seed of the target draw, of the injection, and of both scoring runs (``config.seed`` is
        replaced).
    config
        :class:`cnlab.pipeline.ScoringConfig` (default ``ScoringConfig()``); the defences are
        switched off on top of it by :func:`defence_config`.
    defences
        The defences left on (:func:`defence_config`): ``"all"`` (default), ``"none"``, a label of
        :data:`DEFENCE_SETTINGS`, names or a mapping.
    truth
        The planted truth (:func:`load_truth`: a synthetic folder, its ``notes_truth.tsv.gz`` or
        the frame); ``None`` for a real download: the baseline run stands in for it (helpful =
        CRH in the baseline; honest ratings copy existing ratings' levels).
    baseline
        The run on ``dataset`` with the same configuration (defences applied) and seed, to skip
        scoring it again (:func:`attack_curve` passes it); it must hold ``dataset``.
    goal
        ``"promote"`` or ``"suppress"`` for ``"coordinated_block"`` / ``"sleeper"`` (default
        ``"promote"``); fixed by the other two strategies.
    honest_fraction, block_minutes, side, modeling_group
        See :class:`AttackPlan`.

    Returns
    -------
    AttackResult

    Notes
    -----
    The attacked run recomputes every stage (preprocessing, rater clustering, prescoring with
    the helpfulness filter, final scoring): the defences act in prescoring, so reusing the
    baseline's prescoring would hide them. Both runs use the baseline's "now"
    (``epoch_millis``), and every injected rating lies before it.

    Examples
    --------
    >>> import cnlab
    >>> from cnlab.synthetic import SAMPLE_DIR
    >>> ds = cnlab.load_sample()                                                 # doctest: +SKIP
    >>> a = attack(ds, strategy="promote", n_attackers=20, targets=10, budget=20, seed=1,
    ...            truth=SAMPLE_DIR)                                             # doctest: +SKIP
    >>> print(a.summary())                                                       # doctest: +SKIP
    """
    from cnlab.pipeline import ScoringConfig, score  # the runner: imported when a run is asked for

    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy in ("promote", "suppress"):
        if goal not in (None, strategy):
            raise ValueError(f"strategy {strategy!r} fixes goal={strategy!r}")
        goal = strategy
    goal = goal or "promote"
    on = _defence_set(defences)
    cfg = defence_config(ScoringConfig() if config is None else config, on)
    cfg = dataclasses.replace(cfg, seed=int(seed))
    if baseline is None:
        baseline = score(dataset, cfg)
    else:
        if baseline.dataset is not None and baseline.dataset is not dataset:
            raise ValueError("attack: baseline was scored on another Dataset object")
        if baseline.config.seed != cfg.seed or baseline.config.use_pss != cfg.use_pss:
            raise ValueError("attack: baseline scored with another seed or defence setting")
    truth_frame, source = _resolve_truth(truth, baseline)
    if isinstance(targets, (int, np.integer)):
        scored = baseline.frames["scored_notes"][S.NOTE_ID].to_numpy(dtype=np.int64)
        target_ids = choose_targets(truth_frame, goal, int(targets), seed=seed, among=scored)
    else:
        target_ids = tuple(int(t) for t in targets)
    plan = AttackPlan(strategy=strategy, n_attackers=int(n_attackers), targets=target_ids, budget=int(budget),
                      seed=int(seed), goal=goal, honest_fraction=honest_fraction, block_minutes=block_minutes,
                      side=int(side), modeling_group=modeling_group)
    epoch = baseline.epoch_millis
    injection = inject(dataset, plan, truth=truth_frame, epoch_millis=epoch)
    result = score(injection.dataset, dataclasses.replace(cfg, epoch_millis=epoch))
    result = dataclasses.replace(result, config=cfg)
    t = _targets_frame(target_ids, truth_frame, baseline, result)
    if not cfg.use_pss:  # off in the given config already: rater clustering (and its quasi-cliques) never ran
        on = on - {"pss", "quasi_cliques"}
    return AttackResult(plan=plan, defences=tuple(d for d in DEFENCES if d in on), config=cfg, baseline=baseline,
                        result=result, diff=diff(baseline, result, labels=("baseline", "attacked")),
                        injection=injection, targets=t, metrics=attack_metrics(t), truth_source=source)


def attack_curve(
    dataset: Any,
    *,
    strategy: str | Sequence[str],
    attacker_counts: Sequence[int],
    defence_settings: Mapping[str, Any] | Sequence[str] = ("all on", "all off"),
    seeds: Sequence[int] = (0,),
    targets: int | Sequence[int] = 20,
    budget: int = 20,
    config: Any = None,
    truth: Any = None,
    progress: Any = None,
    **attack_kwargs: Any,
) -> pd.DataFrame:
    """:func:`attack` over attacker counts, defence settings and seeds: one tidy frame.

    For each (defence setting, seed) the baseline is scored once and reused by every attacker
    count; with 0 attackers the attacked run *is* the baseline (not scored again). Targets drawn
    by number depend on the seed only, so every count and setting of one seed attacks the same
    notes, and the attackers are nested (the first ``n`` of a larger attack are the smaller one).

    Parameters
    ----------
    dataset, targets, budget, config, truth
        As in :func:`attack`.
    strategy
        A strategy of :data:`STRATEGIES`, or several: they share each baseline run.
    attacker_counts
        Numbers of attackers (0 gives the unattacked error rates).
    defence_settings
        Labels of :data:`DEFENCE_SETTINGS`, or a mapping label → defences (as :func:`attack`'s
        ``defences``).
    seeds
        One full set of runs per seed.
    progress
        A callable given each finished row group (a dict), e.g. ``print`` for long runs.
    attack_kwargs
        Passed to :func:`attack` (``goal``, ``honest_fraction`` …).

    Returns
    -------
    DataFrame
        One row per (setting, seed, count, metric): ``strategy``, ``defences`` (the label),
        ``seed``, ``n_attackers``, ``metric``, ``count``, ``n``, ``value``, ``lo``, ``hi``,
        ``n_changed`` (notes whose finalRatingStatus changed), ``injected`` (ratings).
        :func:`cnlab.plotting.attack_curves` plots it.

    Examples
    --------
    >>> import cnlab
    >>> from cnlab.synthetic import SAMPLE_DIR
    >>> ds = cnlab.load_sample()                                                    # doctest: +SKIP
    >>> curve = attack_curve(ds, strategy="promote", attacker_counts=[0, 10, 40],
    ...                      truth=SAMPLE_DIR, config=cnlab.ScoringConfig(topics="none"))  # doctest: +SKIP
    """
    from cnlab.pipeline import ScoringConfig, score

    settings = dict(defence_settings) if isinstance(defence_settings, Mapping) else \
        {label: label for label in defence_settings}
    strategies = (strategy,) if isinstance(strategy, str) else tuple(strategy)
    base_cfg = ScoringConfig() if config is None else config
    frames = []
    for label, spec in settings.items():
        for seed in seeds:
            cfg = dataclasses.replace(defence_config(base_cfg, spec), seed=int(seed))
            baseline = score(dataset, cfg)
            for strategy, n in ((st, n) for st in strategies for n in attacker_counts):
                if int(n) == 0:
                    truth_frame, _ = _resolve_truth(truth, baseline)
                    goal = strategy if strategy in ("promote", "suppress") else attack_kwargs.get("goal") or "promote"
                    if isinstance(targets, (int, np.integer)):
                        scored = baseline.frames["scored_notes"][S.NOTE_ID].to_numpy(dtype=np.int64)
                        ids = choose_targets(truth_frame, goal, int(targets), seed=int(seed), among=scored)
                    else:
                        ids = tuple(int(t) for t in targets)
                    m = attack_metrics(_targets_frame(ids, truth_frame, baseline, baseline))
                    changed, injected = 0, 0
                else:
                    a = attack(dataset, strategy=strategy, n_attackers=int(n), targets=targets, budget=budget,
                               seed=int(seed), config=base_cfg, defences=spec, truth=truth, baseline=baseline,
                               **attack_kwargs)
                    m, changed, injected = a.metrics, a.diff.n_changed, len(a.injected_ratings)
                m = m.assign(strategy=strategy, defences=label, seed=int(seed), n_attackers=int(n),
                             n_changed=changed, injected=injected)
                frames.append(m)
                if progress is not None:
                    progress({"strategy": strategy, "defences": label, "seed": int(seed), "n_attackers": int(n),
                              **m.set_index("metric")["value"].to_dict()})
    cols = ["strategy", "defences", "seed", "n_attackers", *_METRIC_COLUMNS, "n_changed", "injected"]
    return pd.concat(frames, ignore_index=True)[cols]
