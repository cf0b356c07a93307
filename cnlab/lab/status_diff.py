"""Compare the statuses and model parameters of two scoring runs note by note.

:func:`diff` joins the ``scored_notes`` of an *old* and a *new* run on ``noteId`` and returns a
:class:`StatusDiff`: per note the old and new value of every status column (``finalRatingStatus``,
``decidedBy``, the deciding rule, each model's ``*RatingStatus``) and the shift (new − old) of
every model column that both runs filled (``coreNoteIntercept``, ``coreNoteFactor1``, the
``expansion*`` / ``group*`` / ``topic*`` … intercepts and factors, their pseudo-rater bounds and
sub-fits) and of ``numRatings``.

``ScoringResult`` has no ``diff`` method: :mod:`cnlab.lab` sits above :mod:`cnlab.pipeline` in the
layering (``docs/architecture.md``), and a method of the pipeline's result that imported this
module, even lazily, would break that contract. Call ``cnlab.lab.diff(old, new)``.

No TensorFlow is imported here.

Examples
--------
>>> import pandas as pd
>>> old = pd.DataFrame({"noteId": [1, 2, 3], "finalRatingStatus": ["CURRENTLY_RATED_HELPFUL",
...                     "NEEDS_MORE_RATINGS", "NEEDS_MORE_RATINGS"],
...                     "decidedBy": ["CoreModel (v1.1)"] * 3, "coreNoteIntercept": [0.45, 0.2, 0.1]})
>>> new = old.assign(finalRatingStatus=["NEEDS_MORE_RATINGS"] * 3, coreNoteIntercept=[0.38, 0.2, 0.1])
>>> d = diff(old, new)
>>> d.n_changed
1
>>> d.changed()[["noteId", "finalRatingStatus_old", "finalRatingStatus_new"]].to_string(index=False)
' noteId   finalRatingStatus_old finalRatingStatus_new\\n      1 CURRENTLY_RATED_HELPFUL    NEEDS_MORE_RATINGS'
>>> round(float(d.notes.loc[0, "coreNoteIntercept_shift"]), 2)
-0.07
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S

__all__ = ["StatusDiff", "diff", "ABSENT", "STATUS_ORDER", "model_columns"]

#: Label of a missing status in :meth:`StatusDiff.transitions`: the note is not in that run, or
#: the run gave it no value in that column (e.g. ``coreRatingStatus`` of a note Core did not
#: score). The same label as :func:`cnlab.plotting.status_crosstab` uses.
ABSENT = "(absent)"
#: Row / column order of transition matrices (other values follow, sorted; :data:`ABSENT` last).
STATUS_ORDER = (S.CRH, S.NMR, S.NYH, S.FIRM_REJECT, S.CRNH)

# intercepts, factors and their variants (Min/Max bounds, NoHighVol, NoCorrelated, PopulationSampled)
_MODEL_COLUMN = re.compile(r"NoteIntercept|NoteFactor\d")
_PRESENCE = ("both", "old only", "new only")


def model_columns(frame: pd.DataFrame) -> list[str]:
    """The model columns of a ``scored_notes`` frame that hold at least one number.

    Intercepts and factors of every scorer (``coreNoteIntercept``, ``groupNoteFactor1`` …, their
    ``Min`` / ``Max`` pseudo-rater bounds and ``NoHighVol`` / ``NoCorrelated`` /
    ``PopulationSampled`` sub-fits) and ``numRatings``, in the frame's column order.

    Examples
    --------
    >>> f = pd.DataFrame({"noteId": [1], "coreNoteIntercept": [0.1], "expansionNoteIntercept": [np.nan],
    ...                   "numRatings": [7], "coreRatingStatus": ["NEEDS_MORE_RATINGS"]})
    >>> model_columns(f)
    ['coreNoteIntercept', 'numRatings']
    """
    out = []
    for c in frame.columns:
        if not (_MODEL_COLUMN.search(c) or c == S.NUM_RATINGS):
            continue
        values = pd.to_numeric(frame[c], errors="coerce")
        if values.notna().any():
            out.append(c)
    return out


def _status_columns(frame: pd.DataFrame) -> list[str]:
    """finalRatingStatus, decidedBy, decidingRule, then every ``*RatingStatus`` with a value."""
    first = [c for c in ("finalRatingStatus", "decidedBy", "decidingRule") if c in frame.columns]
    models = [c for c in frame.columns if c.endswith("RatingStatus") and c not in first
              and frame[c].notna().any()]
    return first + models


def _scored_notes(run: Any) -> pd.DataFrame:
    """``scored_notes`` of a ScoringResult (with ``decidingRule``), an outputs dict or a frame."""
    if hasattr(run, "frames") and hasattr(run, "decisions"):
        sn = run.frames["scored_notes"]
        rules = run.decisions()[[S.NOTE_ID, "decidingRule"]]
        sn = sn.drop(columns=["decidingRule"], errors="ignore").merge(rules, on=S.NOTE_ID, how="left")
    elif isinstance(run, Mapping) and "scored_notes" in run:
        sn = run["scored_notes"]
    elif isinstance(run, pd.DataFrame):
        sn = run
    else:
        raise TypeError("diff: expected a ScoringResult, an outputs dict with 'scored_notes' or a "
                        f"scored_notes DataFrame, got {type(run).__name__}")
    sn = S.current_output_names(sn)[0]
    if S.NOTE_ID not in sn.columns:
        raise S.SchemaError("diff: scored_notes has no noteId column")
    if sn[S.NOTE_ID].duplicated().any():
        raise ValueError("diff: noteId is not unique in scored_notes")
    return sn


def _order(values: pd.Series) -> list[str]:
    present = set(values)
    known = [s for s in STATUS_ORDER if s in present]
    rest = sorted(str(v) for v in present if v not in STATUS_ORDER and v != ABSENT)
    return known + rest + ([ABSENT] if ABSENT in present else [])


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise "not the same value"; missing equals missing."""
    av, bv = a.astype(object).to_numpy(), b.astype(object).to_numpy()
    ma, mb = pd.isna(av), pd.isna(bv)
    same = (ma & mb) | (~ma & ~mb & (av == bv))
    return ~same


@dataclass(frozen=True)
class StatusDiff:
    """Note-by-note comparison of two scoring runs (:func:`diff`).

    Attributes
    ----------
    notes
        One row per note of either run, sorted by ``noteId``: ``presence`` (``"both"``,
        ``"old only"``, ``"new only"``), ``<c>_old`` and ``<c>_new`` for every column ``c`` of
        :attr:`status_columns`, and ``<m>_old``, ``<m>_new``, ``<m>_shift`` (new − old; NaN when
        either is missing) for every column ``m`` of :attr:`model_columns`.
    status_columns
        The status columns compared: ``finalRatingStatus``, ``decidedBy``, ``decidingRule`` (when
        both runs are ScoringResults: :meth:`ScoringResult.decisions`), then each model's
        ``*RatingStatus`` that either run filled.
    model_columns
        The numeric columns compared (:func:`model_columns` of each run, those both runs filled).
    labels
        Names of the two runs, (old, new), used in :meth:`summary`.
    """

    notes: pd.DataFrame
    status_columns: tuple[str, ...]
    model_columns: tuple[str, ...]
    labels: tuple[str, str] = ("old", "new")

    def changed(self, column: str = "finalRatingStatus") -> pd.DataFrame:
        """The notes whose ``column`` (a status column) differs between the runs, or that are in
        one run only (rows of :attr:`notes`)."""
        self._check(column)
        return self.notes[self._changed_mask(column)].reset_index(drop=True)

    def _changed_mask(self, column: str) -> np.ndarray:
        return _differs(self.notes[f"{column}_old"], self.notes[f"{column}_new"]) | (
            self.notes["presence"] != "both").to_numpy()

    def _check(self, column: str) -> None:
        if column not in self.status_columns:
            raise KeyError(f"{column!r} is not a compared status column; these are: {list(self.status_columns)}")

    @property
    def n_changed(self) -> int:
        """Number of notes whose ``finalRatingStatus`` changed (or that are in one run only)."""
        if "finalRatingStatus" not in self.status_columns:
            return int((self.notes["presence"] != "both").sum())
        return int(self._changed_mask("finalRatingStatus").sum())

    @property
    def is_empty(self) -> bool:
        """True when both runs have the same notes, every status column agrees on every note and
        every model column is exactly equal (missing on both sides counts as equal)."""
        if (self.notes["presence"] != "both").any():
            return False
        if any(self._changed_mask(c).any() for c in self.status_columns):
            return False
        for m in self.model_columns:
            if _differs(self.notes[f"{m}_old"], self.notes[f"{m}_new"]).any():
                return False
        return True

    def transitions(self, column: str = "finalRatingStatus") -> pd.DataFrame:
        """Counts of notes by (old value, new value) of a status column.

        Rows: old value, columns: new value; a note missing from a run, or without a value there,
        counts as :data:`ABSENT`. Every note of either run is counted once.
        """
        self._check(column)
        old = self.notes[f"{column}_old"].astype(object).where(self.notes[f"{column}_old"].notna(), ABSENT)
        new = self.notes[f"{column}_new"].astype(object).where(self.notes[f"{column}_new"].notna(), ABSENT)
        tab = pd.crosstab(old, new).reindex(index=_order(old), columns=_order(new), fill_value=0)
        tab.index.name, tab.columns.name = self.labels[0], self.labels[1]
        return tab.astype("int64")

    def shifts(self) -> pd.DataFrame:
        """``noteId`` and the ``<m>_shift`` column of every model column (notes in both runs)."""
        cols = [S.NOTE_ID, *(f"{m}_shift" for m in self.model_columns)]
        return self.notes.loc[self.notes["presence"] == "both", cols].reset_index(drop=True)

    def shift_stats(self) -> pd.DataFrame:
        """Per model column: ``n`` (notes with a value in both runs), ``moved`` (shift ≠ 0),
        ``max_abs`` and ``mean_abs`` shift, and ``mean`` (signed)."""
        rows = {}
        for m in self.model_columns:
            s = pd.to_numeric(self.notes[f"{m}_shift"], errors="coerce").dropna().to_numpy(dtype=np.float64)
            rows[m] = {"n": len(s), "moved": int((s != 0).sum()),
                       "max_abs": float(np.abs(s).max()) if len(s) else np.nan,
                       "mean_abs": float(np.abs(s).mean()) if len(s) else np.nan,
                       "mean": float(s.mean()) if len(s) else np.nan}
        return pd.DataFrame.from_dict(rows, orient="index",
                                      columns=["n", "moved", "max_abs", "mean_abs", "mean"])

    def decided_by_changed(self) -> pd.Series:
        """Changed notes (``finalRatingStatus``) counted by the rule that decided them in the new
        run (``decidingRule`` when known, else ``decidedBy``; ABSENT for notes not in it)."""
        ch = self.changed("finalRatingStatus") if "finalRatingStatus" in self.status_columns else \
            self.notes[self.notes["presence"] != "both"]
        col = "decidingRule_new" if "decidingRule" in self.status_columns else "decidedBy_new"
        if col not in ch.columns:
            return pd.Series(dtype="int64", name="notes")
        rule = ch[col].astype(object).where(ch[col].notna(), ABSENT)
        return rule.value_counts().rename_axis("decidingRule (new)").rename("notes")

    def summary(self) -> str:
        """The counts of notes, the ``finalRatingStatus`` transition matrix, the changed notes by
        deciding rule, and the largest shift of each model column."""
        old, new = self.labels
        pres = self.notes["presence"].value_counts()
        lines = [f"StatusDiff {old} -> {new}: {len(self.notes):,} notes "
                 f"({pres.get('both', 0):,} in both, {pres.get('old only', 0):,} in {old} only, "
                 f"{pres.get('new only', 0):,} in {new} only)"]
        if "finalRatingStatus" in self.status_columns:
            lines.append(f"finalRatingStatus changed on {self.n_changed:,} notes; transitions "
                         f"(rows: {old}, columns: {new}):")
            lines += ["  " + ln for ln in self.transitions().to_string().splitlines()]
            by_rule = self.decided_by_changed()
            if len(by_rule):
                lines.append("changed notes by the rule that decided them in the new run:")
                lines += [f"  {n:>6,}  {rule}" for rule, n in by_rule.items()]
        for c in self.status_columns:
            if c in ("finalRatingStatus", "decidedBy", "decidingRule"):
                continue
            both = (self.notes["presence"] == "both").to_numpy()
            k = int((_differs(self.notes[f"{c}_old"], self.notes[f"{c}_new"]) & both).sum())
            lines.append(f"{c} changed on {k:,} notes in both runs")
        st = self.shift_stats()
        if len(st):
            lines.append("shifts (new - old) of the model columns, notes with a value in both runs:")
            for m, r in st.iterrows():
                lines.append(f"  {m}: {int(r['moved']):,} of {int(r['n']):,} moved, max |shift| "
                             f"{r['max_abs']:.4g}, mean |shift| {r['mean_abs']:.4g}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"StatusDiff({self.labels[0]} -> {self.labels[1]}: {len(self.notes):,} notes, "
                f"{self.n_changed:,} finalRatingStatus changed)")


def diff(old: Any, new: Any, *, labels: tuple[str, str] = ("old", "new")) -> StatusDiff:
    """Compare two runs note by note: statuses, deciding rules and model-column shifts.

    Parameters
    ----------
    old, new
        Each a :class:`cnlab.pipeline.ScoringResult` (its ``scored_notes`` and
        :meth:`~cnlab.pipeline.ScoringResult.decisions`), an outputs dict with
        ``"scored_notes"`` (``ScoringResult.outputs()``, :func:`cnlab.lab.parity.read_official_outputs`)
        or a ``scored_notes`` DataFrame of any output vintage (``noteIntercept`` … are read as
        ``coreNoteIntercept`` …).
    labels
        Names of the two runs in :meth:`StatusDiff.summary`.

    Returns
    -------
    StatusDiff
        Joined on ``noteId`` (outer join: a note of one run only has ``presence`` ``"old only"``
        / ``"new only"``). Status columns are those either run has (:attr:`StatusDiff.status_columns`);
        model columns those both runs filled with at least one number.

    Examples
    --------
    >>> import cnlab
    >>> ds = cnlab.load_sample()                                          # doctest: +SKIP
    >>> a = cnlab.score(ds, seed=42)                                      # doctest: +SKIP
    >>> b = a.rescore(a.config.with_(seed=7))                             # doctest: +SKIP
    >>> print(diff(a, b).summary())                                       # doctest: +SKIP
    """
    a, b = _scored_notes(old), _scored_notes(new)
    status = list(dict.fromkeys(_status_columns(a) + _status_columns(b)))
    if not ("decidingRule" in a.columns and "decidingRule" in b.columns):
        status = [c for c in status if c != "decidingRule"]
    models = [c for c in model_columns(a) if c in set(model_columns(b))]
    nid = S.NOTE_ID
    left = a.reindex(columns=[nid, *status, *models]).assign(_in_old=True)
    right = b.reindex(columns=[nid, *status, *models]).assign(_in_new=True)
    for frame in (left, right):  # ids of an official TSV may be read as text
        if not pd.api.types.is_integer_dtype(frame[nid].dtype):
            frame[nid] = pd.to_numeric(frame[nid], errors="raise").astype(np.int64)
    m = left.merge(right, on=nid, how="outer", suffixes=("_old", "_new"), sort=True)
    in_old = m.pop("_in_old").astype("boolean").fillna(False).to_numpy(dtype=bool)
    in_new = m.pop("_in_new").astype("boolean").fillna(False).to_numpy(dtype=bool)
    presence = np.where(in_old & in_new, _PRESENCE[0], np.where(in_old, _PRESENCE[1], _PRESENCE[2]))
    out = {nid: m[nid].to_numpy(), "presence": presence}
    for c in status:
        out[f"{c}_old"] = m[f"{c}_old"].astype(object).to_numpy()
        out[f"{c}_new"] = m[f"{c}_new"].astype(object).to_numpy()
    for c in models:
        o = pd.to_numeric(m[f"{c}_old"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        n = pd.to_numeric(m[f"{c}_new"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        out[f"{c}_old"], out[f"{c}_new"], out[f"{c}_shift"] = o, n, n - o
    notes = pd.DataFrame(out).reset_index(drop=True)
    return StatusDiff(notes=notes, status_columns=tuple(status), model_columns=tuple(models),
                      labels=(str(labels[0]), str(labels[1])))
