"""Why does a note have its status? Per-note explanations of a scoring run.

:func:`explain` (``ScoringResult.explain(note_id)``) gathers, for one note, what every scorer
that saw it concluded (intercept, factor, status, the ordered rules that fired and the
:class:`cnlab.scoring.config.RuleThresholds` fields each rule compares against), the meta rule
that decided the final status, why the final status differs from the deciding model's status
when it does, and the note's ratings split by the sign of the raters' Core factor.
:func:`decisions` (``ScoringResult.decisions()``) gives the deciding rule of every note at once.

Everything is read from the run's tables (the scorers' final outputs, ``metaScorerActiveRules``,
the input and output note status history, the final ratings); nothing is recomputed and the four
official output frames are left as they are.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S

__all__ = ["NoteExplanation", "ScorerExplanation", "explain", "decisions", "rule_thresholds",
           "META_GATES"]

#: Meta rules that are not a model's result: they gate, hold back or override the status the
#: models proposed (spec 04 §11). Every other meta rule applies one scorer's status.
META_GATES = ("MetaInitialNMR", "PopulationSampledIntercept", "NmrDueToMinStableCrhTime",
              "ScoringDriftGuard", "InsufficientExplanation")

#: Meta rules of the scorers whose config has no ``decider`` attribute.
_DECIDERS = {"GaussianScorer": "GaussianModel (v1.0)",
             "GaussianCoreWithTopicsScorer": "GaussianCoreWithTopicsModel (v1.0)"}


def _base(rule: str) -> str:
    """``"GeneralCRH (v1.0)"`` → ``"GeneralCRH"``."""
    return rule.split(" (v")[0].strip()


def _split(rules: Any) -> tuple[str, ...]:
    if rules is None or (isinstance(rules, float) and math.isnan(rules)) or rules is pd.NA:
        return ()
    return tuple(r.strip() for r in str(rules).split(",") if r.strip())


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _float(v: Any) -> float:
    return float("nan") if _missing(v) else float(v)


#: Rule (display name without version) → the RuleThresholds fields it compares against, and whether
#: it also needs ``min_ratings_needed`` ratings.
_RULE_FIELDS: dict[str, tuple[tuple[str, ...], bool]] = {
    "GeneralCRH": (("crh_threshold",), True),
    "GeneralCRNH": (("crnh_threshold_intercept", "crnh_threshold_note_factor_multiplier"), True),
    "UcbCRNH": (("crnh_threshold_ucb_intercept",), True),
    "RatioCRNH": (("ratio_crnh_min_sign_count", "ratio_crnh_max_side_mean", "ratio_crnh_max_mean"), True),
    "NmCRNH": (("crnh_threshold_nm_intercept",), False),
    "GeneralCRHInertia": (("crh_threshold", "inertia_delta"), True),
    "CRHSuperThreshold": (("crh_super_threshold",), True),
    "ElevatedCRHInertia": (("crh_super_threshold", "inertia_delta"), True),
    "TagFilter": (("tag_filter_percentile", "tag_min_adjusted_total"), False),
    "FilterIncorrect": (("incorrect_tag_threshold", "incorrect_vote_threshold", "incorrect_filter_threshold"), False),
    "FilterLowDiligence": (("low_diligence_threshold",), False),
    "FilterLargeFactor": (("factor_threshold",), False),
    "RejectLowIntercept": (("firm_reject_threshold",), False),
    "MinMinorityRaters": (("min_minority_net_helpful_ratings",), False),
    "RaterBalance": (("min_minority_net_helpful_ratio", "rater_balance_min_net", "rater_balance_max_net"), False),
    "NoHighVolIntercept": (("crh_threshold_no_high_vol",), False),
    "NoCorrelatedIntercept": (("crh_threshold_no_correlated",), False),
}


def rule_thresholds(rule: str, thresholds: Any) -> dict[str, Any]:
    """The :class:`~cnlab.scoring.config.RuleThresholds` fields a per-scorer rule compares against.

    Parameters
    ----------
    rule
        Rule display name, with or without its version (``"GeneralCRH (v1.0)"``).
    thresholds
        The scorer's ``RuleThresholds`` (``ScorerConfig.rules()``); None gives ``{}``.

    Returns
    -------
    dict
        Field name → value; for GeneralCRNH also ``bound`` (the formula), for GeneralCRHInertia
        ``effective_threshold`` (``crh_threshold − inertia_delta``). ``{}`` for rules without a
        configured threshold (InitialNMR; TagFilter's per-tag thresholds come from prescoring).

    Examples
    --------
    >>> from cnlab.scoring.config import CORE
    >>> rule_thresholds("GeneralCRH (v1.0)", CORE)
    {'crh_threshold': 0.4, 'min_ratings_needed': 5}
    >>> rule_thresholds("RejectLowIntercept", CORE)
    {'firm_reject_threshold': 0.3}
    """
    t = thresholds
    if t is None:
        return {}
    name = _base(rule)
    fields, with_min = _RULE_FIELDS.get(name, ((), False))
    out = {f: getattr(t, f) for f in fields}
    if name == "GeneralCRNH":
        a, m = t.crnh_threshold_intercept, t.crnh_threshold_note_factor_multiplier
        out["bound"] = f"intercept <= {a:g} {'-' if m < 0 else '+'} {abs(m):g}*|factor|"
    elif name == "GeneralCRHInertia":
        out["effective_threshold"] = round(t.crh_threshold - t.inertia_delta, 10)
    if with_min:
        out["min_ratings_needed"] = t.min_ratings_needed
    return out


@dataclass(frozen=True)
class ScorerExplanation:
    """What one scorer concluded about the note.

    Attributes
    ----------
    scorer
        Scorer name (``MFCoreScorer`` …).
    intercept, factor, status
        The scorer's note intercept, factor and rating status (its external columns).
    rules
        Its ``*ActiveRules``, in firing order (the last one set ``status``).
    thresholds
        One dict per rule of ``rules``: the ``RuleThresholds`` fields it compares against
        (:func:`rule_thresholds`).
    meta_rule
        The meta rule that applies this scorer's status (``CoreModel (v1.1)``), or None.
    applied
        Whether ``meta_rule`` acted on the note (is in ``metaScorerActiveRules``): False when
        meta-scoring gated the scorer out (group / topic conditions, blocked notes) or its
        rules are not enabled.
    """

    scorer: str
    intercept: float
    factor: float
    status: Any
    rules: tuple[str, ...]
    thresholds: tuple[Mapping[str, Any], ...]
    meta_rule: str | None
    applied: bool


@dataclass(frozen=True)
class NoteExplanation:
    """Why one note has its final status (``ScoringResult.explain(note_id)``).

    Attributes
    ----------
    note_id
        The note.
    final_status
        ``finalRatingStatus``.
    decided_by
        ``decidedBy``: the meta rule that set the final status (last of ``meta_rules``).
    meta_rules
        ``metaScorerActiveRules`` in order.
    deciding_model
        The last model rule in ``meta_rules`` (the model whose status meta-scoring started from),
        or None when no model's rule acted.
    deciding_model_status
        That model's status, or None.
    deciding_rule
        The last rule of the deciding model's active rules when ``decided_by`` is that model's
        rule, else ``decided_by``.
    held_back
        Why ``final_status`` differs from ``deciding_model_status`` (None when it does not, or
        when no model decided).
    reason
        One sentence on how the final status came about (always set).
    scorers
        One :class:`ScorerExplanation` per scorer whose final output has the note.
    num_ratings
        ``numRatings`` of the note (all final ratings).
    rating_counts
        Ratings of the note by the sign of the rater's Core factor (final-scoring Core rater
        factors, else the prescoring ones): ``neg_helpful``, ``neg_not_helpful``,
        ``pos_helpful``, ``pos_not_helpful`` (helpful: ``helpfulNum`` 1, not helpful:
        ``helpfulNum`` 0; SOMEWHAT_HELPFUL, 0.5, counts in neither), ``neg_net_helpful`` / ``pos_net_helpful``
        (helpful − not helpful) and ``no_factor`` (ratings by raters without a factor, or
        with factor 0).
    """

    note_id: int
    final_status: Any
    decided_by: Any
    meta_rules: tuple[str, ...]
    deciding_model: str | None
    deciding_model_status: Any
    deciding_rule: Any
    held_back: str | None
    reason: str
    scorers: tuple[ScorerExplanation, ...] = ()
    num_ratings: Any = None
    rating_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def frame(self) -> pd.DataFrame:
        """One row per scorer: scorer, intercept, factor, status, rules (tuple, in order),
        thresholds (tuple of dicts, one per rule), meta_rule, applied."""
        cols = ["scorer", "intercept", "factor", "status", "rules", "thresholds", "meta_rule", "applied"]
        return pd.DataFrame([{c: getattr(s, c) for c in cols} for s in self.scorers], columns=cols)

    @property
    def rules_frame(self) -> pd.DataFrame:
        """One row per (scorer, rule that fired): scorer, order (0 = first), rule, thresholds."""
        rows = [{"scorer": s.scorer, "order": i, "rule": r, "thresholds": dict(t)}
                for s in self.scorers for i, (r, t) in enumerate(zip(s.rules, s.thresholds))]
        return pd.DataFrame(rows, columns=["scorer", "order", "rule", "thresholds"])

    def _lines(self) -> list[str]:
        lines = [f"note {self.note_id}: {self.final_status} (decided by {self.decided_by})",
                 f"  meta rules: {', '.join(self.meta_rules) or '-'}",
                 f"  deciding rule: {self.deciding_rule}",
                 f"  reason: {self.reason}"]
        if self.held_back:
            lines.append(f"  held back: {self.held_back}")
        rc = self.rating_counts
        if rc:
            lines.append(f"  ratings: {self.num_ratings}; factor<0: {rc['neg_helpful']} helpful / "
                         f"{rc['neg_not_helpful']} not helpful; factor>0: {rc['pos_helpful']} helpful / "
                         f"{rc['pos_not_helpful']} not helpful; no factor: {rc['no_factor']}")
        for s in self.scorers:
            lines.append(f"  {s.scorer}: {s.status} (intercept {s.intercept:.3f}, factor {s.factor:.3f}"
                         f"{'' if s.applied else ', not applied by meta-scoring'})")
            for r, t in zip(s.rules, s.thresholds):
                th = ", ".join(f"{k}={v}" for k, v in t.items())
                lines.append(f"    {r}" + (f" [{th}]" if th else ""))
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(x.strip()) for x in self._lines()[:6 if self.held_back else 5])
        return f"<div><p>{head}</p>{self.frame.to_html(index=False)}</div>"


# -- reading the run -------------------------------------------------------------------------------

def _scorer_columns(sc: Any) -> dict[str, str]:
    if hasattr(sc, "note_column_map"):
        return sc.note_column_map()
    prefix = getattr(sc, "prefix", None)
    return S.scorer_note_columns(prefix, getattr(sc, "suffix", "")) if prefix else {}


def _decider(sc: Any) -> str | None:
    return getattr(sc, "decider", None) or _DECIDERS.get(getattr(sc, "name", ""))


def _scorer_frames(result: Any) -> list[tuple[str, Any, pd.DataFrame]]:
    """(name, config, frame indexed by noteId with intercept/factor/status/rules) per final scorer."""
    out = []
    for name, f in result.final.items():
        cm = _scorer_columns(f.scorer)
        sn = f.scored_notes
        want = {"intercept": cm.get(S.NOTE_INTERCEPT), "factor": cm.get(S.NOTE_FACTOR1),
                "status": cm.get(S.RATING_STATUS), "rules": cm.get(S.ACTIVE_RULES)}
        fr = pd.DataFrame(index=pd.Index(sn[S.NOTE_ID].to_numpy(), name=S.NOTE_ID))
        for k, c in want.items():
            fr[k] = sn[c].to_numpy() if c is not None and c in sn.columns else np.nan
        out.append((name, f.scorer, fr[~fr.index.duplicated()]))
    return out


def _core_rater_factors(result: Any) -> pd.Series:
    """raterParticipantId → Core rater factor (final scoring, else prescoring)."""
    core = result.final.get("MFCoreScorer")
    if core is not None and "coreRaterFactor1" in core.helpfulness_scores.columns:
        h = core.helpfulness_scores[[S.RATER_ID, "coreRaterFactor1"]].dropna()
        return h.drop_duplicates(S.RATER_ID).set_index(S.RATER_ID)["coreRaterFactor1"]
    pro = result.prescoring.rater_model_output
    col = "internalRaterFactor1"
    if col in pro.columns:
        if "scorerName" in pro.columns:
            pro = pro[pro["scorerName"] == "MFCoreScorer"]
        h = pro[[S.RATER_ID, col]].dropna()
        return h.drop_duplicates(S.RATER_ID).set_index(S.RATER_ID)[col]
    return pd.Series(dtype=np.float64)


def _rating_counts(result: Any, note_id: int) -> dict[str, int]:
    r = result.final_ratings
    r = r[r[S.NOTE_ID] == note_id]
    f = r[S.RATER_ID].map(_core_rater_factors(result)).to_numpy(dtype=np.float64)
    h = r[S.HELPFUL_NUM].to_numpy(dtype=np.float64)
    helpful, not_helpful = h == 1.0, h == 0.0
    neg, pos = f < 0, f > 0
    c = {"neg_helpful": int((neg & helpful).sum()), "neg_not_helpful": int((neg & not_helpful).sum()),
         "pos_helpful": int((pos & helpful).sum()), "pos_not_helpful": int((pos & not_helpful).sum()),
         "no_factor": int((~neg & ~pos).sum())}
    c["neg_net_helpful"] = c["neg_helpful"] - c["neg_not_helpful"]
    c["pos_net_helpful"] = c["pos_helpful"] - c["pos_not_helpful"]
    return c


def _nsh_row(frame: pd.DataFrame | None, note_id: int) -> dict[str, Any]:
    if frame is None or S.NOTE_ID not in frame.columns:
        return {}
    rows = frame[frame[S.NOTE_ID] == note_id]
    return {} if rows.empty else rows.iloc[0].to_dict()


def _why(final: Any, decided_by: Any, model_rule: str | None, model_status: Any,
         deciding_rule: Any, nsh_in: Mapping[str, Any], nsh_out: Mapping[str, Any]) -> tuple[str, str | None]:
    """(reason, held_back) from the meta rules and the note status history."""
    gate = _base(str(decided_by)) if not _missing(decided_by) else None
    differs = model_rule is not None and not _missing(model_status) and model_status != final
    if gate == "NmrDueToMinStableCrhTime":
        ts = nsh_out.get("timestampMillisOfNmrDueToMinStableCrhTime")
        why = (f"stabilization ({decided_by}): the newly {model_status} status of {model_rule} is shown "
               f"as {final} until it has stayed so for the minimum stable CRH time; in stabilization "
               f"since note_status_history timestampMillisOfNmrDueToMinStableCrhTime={ts}")
    elif gate == "ScoringDriftGuard":
        why = (f"locked status ({decided_by}): note_status_history lockedStatus="
               f"{nsh_in.get('lockedStatus')} (locked at timestampMillisOfStatusLock="
               f"{nsh_in.get('timestampMillisOfStatusLock')}) overrides the status the models gave")
    elif gate == "InsufficientExplanation":
        why = (f"too few explanation tags ({decided_by}): a CRH / CRNH note needs two shown tags; "
               f"shown as {final}")
    elif gate == "PopulationSampledIntercept":
        why = (f"population-sampled raters disagree ({decided_by}): the population-sampled intercept "
               f"is low and diverges from the Core intercept; CRH shown as {final}")
    elif gate == "MetaInitialNMR":
        why = f"no model's rule applied to the note ({decided_by}): {final}"
    elif model_rule is not None:
        why = f"{model_rule} applied its scorer's status, set by rule {deciding_rule}"
        if _base(str(deciding_rule)) == "GeneralCRHInertia":
            why += (" (CRH inertia: kept CRH at crh_threshold - inertia_delta because note_status_history "
                    f"currentStatus was {nsh_in.get('currentStatus')})")
        if differs and model_status == S.FIRM_REJECT:
            why += f"; FIRM_REJECT is shown as {final}"
    else:
        why = f"decided by {decided_by}"
    held = None
    if differs:
        if gate in META_GATES:
            held = str(decided_by)
        elif model_status == S.FIRM_REJECT:
            held = f"{model_rule}: FIRM_REJECT shown as {final}"
        else:
            held = f"{model_rule}: {model_status} shown as {final}"
    return why, held


def _meta_row(result: Any, note_id: int) -> dict[str, Any]:
    sn = result.frames["scored_notes"]
    rows = sn[sn[S.NOTE_ID] == note_id]
    if rows.empty:
        raise KeyError(f"note {note_id} is not in this run's scored_notes")
    return rows.iloc[0].to_dict()


def explain(result: Any, note_id: int) -> NoteExplanation:
    """Explain one note's status in a scoring run (``ScoringResult.explain``).

    Parameters
    ----------
    result
        A :class:`cnlab.pipeline.run.ScoringResult`.
    note_id
        The note.

    Returns
    -------
    NoteExplanation

    Raises
    ------
    KeyError
        The note is not in the run's ``scored_notes``.
    cnlab.pipeline.keep.ResultNotKeptError
        ``result`` comes from a ``keep="outputs"`` run (no final ratings to count).

    Examples
    --------
    >>> import cnlab
    >>> res = cnlab.score(cnlab.load_sample(), seed=42)        # doctest: +SKIP
    >>> res.explain(res.frames["scored_notes"]["noteId"][0])    # doctest: +SKIP
    """
    from cnlab.pipeline.keep import require_full

    require_full(result, "explain()")
    row = _meta_row(result, note_id)
    meta_rules = _split(row.get("metaScorerActiveRules"))
    decided_by = row.get("decidedBy")
    final = row.get("finalRatingStatus")
    scorers = []
    by_rule: dict[str, ScorerExplanation] = {}
    for name, sc, fr in _scorer_frames(result):
        if note_id not in fr.index:
            continue
        r = fr.loc[note_id]
        rules = _split(r["rules"])
        t = sc.rules() if hasattr(sc, "rules") else None
        mr = _decider(sc)
        e = ScorerExplanation(
            scorer=name, intercept=_float(r["intercept"]), factor=_float(r["factor"]),
            status=None if _missing(r["status"]) else r["status"], rules=rules,
            thresholds=tuple(rule_thresholds(x, t) for x in rules), meta_rule=mr,
            applied=mr is not None and mr in meta_rules)
        scorers.append(e)
        if mr is not None:
            by_rule[mr] = e
    model_rules = [m for m in meta_rules if _base(m) not in META_GATES]
    model_rule = model_rules[-1] if model_rules else None
    model = by_rule.get(model_rule) if model_rule else None
    model_status = model.status if model is not None else None
    if model_rule is not None and decided_by == model_rule:
        deciding_rule = model.rules[-1] if model is not None and model.rules else decided_by
    else:
        deciding_rule = decided_by
    nsh_in = _nsh_row(result.preprocessed.status_history, note_id)
    nsh_out = _nsh_row(result.frames.get("note_status_history"), note_id)
    reason, held = _why(final, decided_by, model_rule, model_status, deciding_rule, nsh_in, nsh_out)
    return NoteExplanation(
        note_id=note_id, final_status=final, decided_by=decided_by, meta_rules=meta_rules,
        deciding_model=model_rule, deciding_model_status=model_status, deciding_rule=deciding_rule,
        held_back=held, reason=reason, scorers=tuple(scorers), num_ratings=row.get(S.NUM_RATINGS),
        rating_counts=_rating_counts(result, note_id))


def decisions(result: Any) -> pd.DataFrame:
    """The deciding rule of every note (``ScoringResult.decisions()``).

    Parameters
    ----------
    result
        A :class:`cnlab.pipeline.run.ScoringResult`.

    Returns
    -------
    pandas.DataFrame
        One row per scored note: ``noteId``, ``finalRatingStatus``, ``decidedBy``,
        ``decidingModel`` (last model rule of ``metaScorerActiveRules``), ``decidingModelStatus``,
        ``decidingRule`` (the last rule of the deciding model's active rules when ``decidedBy``
        is that model's rule, else ``decidedBy``) and ``heldBack`` (why the final status
        differs from the deciding model's status: the meta rule that held it back, or
        ``"<model rule>: FIRM_REJECT shown as NEEDS_MORE_RATINGS"``; None when they agree).
        Same values as :func:`explain` note by note.
    """
    sn = result.frames["scored_notes"]
    per_rule: dict[str, pd.DataFrame] = {}
    for _name, sc, fr in _scorer_frames(result):
        mr = _decider(sc)
        if mr is not None:
            per_rule[mr] = fr
    rows = []
    for nid, final, dby, mrs in zip(sn[S.NOTE_ID].to_numpy(), sn["finalRatingStatus"].to_numpy(dtype=object),
                                    sn["decidedBy"].to_numpy(dtype=object),
                                    sn["metaScorerActiveRules"].to_numpy(dtype=object)):
        meta_rules = _split(mrs)
        models = [m for m in meta_rules if _base(m) not in META_GATES]
        model_rule = models[-1] if models else None
        status, last = None, None
        fr = per_rule.get(model_rule) if model_rule else None
        if fr is not None and nid in fr.index:
            s = fr.at[nid, "status"]
            status = None if _missing(s) else s
            rules = _split(fr.at[nid, "rules"])
            last = rules[-1] if rules else None
        deciding_rule = (last or dby) if model_rule is not None and dby == model_rule else dby
        held = None
        if model_rule is not None and status is not None and status != final:
            gate = _base(str(dby)) if not _missing(dby) else None
            held = (str(dby) if gate in META_GATES else f"{model_rule}: {status} shown as {final}")
        rows.append((nid, final, dby, model_rule, status, deciding_rule, held))
    return pd.DataFrame(rows, columns=[S.NOTE_ID, "finalRatingStatus", "decidedBy", "decidingModel",
                                       "decidingModelStatus", "decidingRule", "heldBack"])
