"""Prescoring output containers and the reader of the official prescoring files.

Column layouts follow spec 02 §3.3 / 04 §8.3 (``prescoringNoteModelOutputTSVColumns``,
``prescoringRaterModelOutputTSVColumns``, ``PrescoringMetaScorerOutput``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.errors import CnlabInputError

NOTE_MODEL_OUTPUT_COLUMNS: tuple[str, ...] = (
    "noteId",
    "internalNoteIntercept",
    "internalNoteFactor1",
    "scorerName",
    "lowDiligenceNoteIntercept",
    "lowDiligenceNoteFactor1",
    "lowDiligenceNoteInterceptRound2",
    "harassmentNoteIntercept",
    "harassmentNoteFactor1",
)

RATER_MODEL_OUTPUT_COLUMNS: tuple[str, ...] = (
    "raterParticipantId",
    "internalRaterIntercept",
    "internalRaterFactor1",
    "internalFirstRoundRaterIntercept",
    "internalFirstRoundRaterFactor1",
    "crhCrnhRatioDifference",
    "meanNoteScore",
    "raterAgreeRatio",
    "aboveHelpfulnessThreshold",
    "scorerName",
    "internalRaterReputation",
    "lowDiligenceRaterIntercept",
    "lowDiligenceRaterFactor1",
    "lowDiligenceRaterReputation",
    "lowDiligenceRaterInterceptRound2",
    "incorrectTagRatingsMadeByRater",
    "totalRatingsMadeByRater",
    "postSelectionValue",
    "successfulRatingHelpfulCount",
    "successfulRatingNotHelpfulCount",
    "unsuccessfulRatingHelpfulCount",
    "unsuccessfulRatingNotHelpfulCount",
    "totalHelpfulHarassmentPenalty",
    "raterAgreeRatioKeyWithHarassmentAbusePenalty",
    "quasiCliqueValue",
)

PSS_COLUMNS: tuple[str, ...] = ("raterParticipantId", "postSelectionValue", "quasiCliqueValue")


@dataclass(frozen=True)
class PrescoringMeta:
    """Per-scorer prescoring meta output (official ``PrescoringMetaScorerOutput``).

    Attributes
    ----------
    global_intercept
        Final-round μ (official ``globalIntercept``).
    low_diligence_global_intercept
        (first, second, final) round μ of the diligence model
        (official ``lowDiligenceGlobalIntercept``).
    tag_filtering_thresholds
        ``"<tag>AdjustedRatio"`` → 95th-percentile threshold (official
        ``tagFilteringThresholds``).
    final_round_num_ratings, final_round_num_notes, final_round_num_users
        Size of the final-round training set (official ``finalRoundNum*``); ρ_n of
        final scoring = ratings / notes.
    """

    global_intercept: float
    low_diligence_global_intercept: tuple[float, float, float]
    tag_filtering_thresholds: Mapping[str, float]
    final_round_num_ratings: int
    final_round_num_notes: int
    final_round_num_users: int

    @property
    def rating_per_note_ratio(self) -> float:
        return self.final_round_num_ratings / self.final_round_num_notes

    @property
    def rating_per_user_ratio(self) -> float:
        return self.final_round_num_ratings / self.final_round_num_users

    def to_json(self) -> dict[str, Any]:
        """The official json layout of one scorer's entry (missing values → ``None``, as the
        official ``ReputationScorer`` entry: no global intercept, thresholds or final-round counts)."""
        f, s, t = self.low_diligence_global_intercept

        def opt(x, cast):
            return None if x is None or (isinstance(x, float) and np.isnan(x)) else cast(x)

        return {
            "globalIntercept": opt(self.global_intercept, float),
            "lowDiligenceGlobalIntercept": {"firstRound": f, "secondRound": s, "finalRound": t},
            # a scorer without a tag filter (ReputationScorer) has null, as officially
            "tagFilteringThresholds": ({k: float(v) for k, v in self.tag_filtering_thresholds.items()}
                                       if self.tag_filtering_thresholds else None),
            "finalRoundNumRatings": opt(self.final_round_num_ratings, int),
            "finalRoundNumNotes": opt(self.final_round_num_notes, int),
            "finalRoundNumUsers": opt(self.final_round_num_users, int),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "PrescoringMeta":
        ld = d.get("lowDiligenceGlobalIntercept")
        if isinstance(ld, Mapping):
            ld_t = (ld.get("firstRound"), ld.get("secondRound"), ld.get("finalRound"))
        elif ld is None:
            ld_t = (np.nan, np.nan, np.nan)
        else:
            ld_t = tuple(ld)
        def num(x, cast=float):
            return np.nan if x is None else cast(x)

        return cls(
            global_intercept=num(d.get("globalIntercept")),
            low_diligence_global_intercept=tuple(
                float(x) if x is not None else np.nan for x in ld_t),
            tag_filtering_thresholds=dict(d.get("tagFilteringThresholds") or {}),
            final_round_num_ratings=num(d.get("finalRoundNumRatings"), int),
            final_round_num_notes=num(d.get("finalRoundNumNotes"), int),
            final_round_num_users=num(d.get("finalRoundNumUsers"), int),
        )


@dataclass(frozen=True)
class PrescoringOutput:
    """Prescoring outputs of one or more scorers (spec 02 §3.3).

    ``note_model_output`` / ``rater_model_output`` carry a ``scorerName`` column;
    ``rater_model_output`` uses int32 participant codes (``-1`` for unknown ids).
    ``pss`` is the raw rater-clustering frame (raterParticipantId, postSelectionValue,
    quasiCliqueValue); ``intermediates`` keeps per-scorer intermediate tables
    (round-1 params, helpfulness scores, MF results, …) for inspection.
    """

    note_model_output: pd.DataFrame
    rater_model_output: pd.DataFrame
    meta: Mapping[str, PrescoringMeta]
    pss: pd.DataFrame | None = None
    intermediates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "cnlab"

    def for_scorer(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame, PrescoringMeta | None]:
        """This scorer's rows of the note and rater outputs and its meta (spec 02 §4.1)."""
        n = self.note_model_output
        r = self.rater_model_output
        n = n[n["scorerName"] == name].reset_index(drop=True)
        r = r[r["scorerName"] == name].reset_index(drop=True)
        return n, r, self.meta.get(name)

    def final_pss(self) -> pd.DataFrame:
        """PSS rows for final scoring: the dropna'd rater-output columns (spec 05 B.4)."""
        r = self.rater_model_output
        cols = list(PSS_COLUMNS)
        if all(c in r.columns for c in cols):
            out = r[cols].dropna()
        elif self.pss is not None:
            out = self.pss[cols].dropna()
        else:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
        return out.reset_index(drop=True)

    def summary(self) -> str:
        lines = [f"PrescoringOutput (source={self.source})"]
        for name, m in self.meta.items():
            lines.append(
                f"  {name}: mu={m.global_intercept:.5f} finalRound ratings/notes/users="
                f"{m.final_round_num_ratings}/{m.final_round_num_notes}/{m.final_round_num_users}"
            )
        return "\n".join(lines)


def _with_axes(columns, frame: pd.DataFrame) -> list[str]:
    """The official prescoring columns plus the ``internal{Note,Rater}Factor2..k`` axes of a
    k-factor run found in ``frame`` (appended in axis order; none when k = 1)."""
    base = list(columns)
    return base + [c for c in schema.with_extra_factor_columns([], frame.columns)
                   if c.startswith(("internalNoteFactor", "internalRaterFactor"))]


def _codes(values: pd.Series, participants: pd.Index | None) -> np.ndarray:
    """Map original id strings to int32 codes (position in ``participants``; −1 if unknown)."""
    if participants is None:
        raise ValueError("participants index needed to map string ids")
    idx = participants.get_indexer(values.astype(str).to_numpy())
    return idx.astype(np.int32)


def load_official_prescoring(
    directory: str | Path,
    participants: pd.Index | Any | None = None,
) -> PrescoringOutput:
    """Read the official prescoring outputs so final scoring can start from them.

    Parameters
    ----------
    directory
        Folder with ``prescoring_note_model_output.parquet``,
        ``prescoring_rater_model_output.parquet``, ``prescoring_meta.json`` and
        optionally ``pss_output.parquet``.
    participants
        ``dataset.participants`` (or the :class:`~cnlab.io.Dataset` itself) to map the
        string participant ids to the dataset's int32 codes. Without it the rater ids
        stay strings; :func:`cnlab.pipeline.score` maps them itself.

    Notes
    -----
    The official ``pss_output.parquet`` stores the official runner's integer codes,
    which equal cnlab's codes (both are positions in the lexicographically sorted
    union of the four input files' ids, spec 04 §3).
    """
    d = Path(directory)
    paths = {
        "notes": d / "prescoring_note_model_output.parquet",
        "raters": d / "prescoring_rater_model_output.parquet",
        "meta": d / "prescoring_meta.json",
    }
    for p in paths.values():
        if not p.exists():
            raise CnlabInputError(f"missing official prescoring file {p.name}", path=str(p))
    if participants is not None and not isinstance(participants, pd.Index):
        participants = participants.participants
    notes = pd.read_parquet(paths["notes"])
    raters = pd.read_parquet(paths["raters"])
    # axes 2..k of a cnlab k-factor run are kept after the official columns
    notes = notes.reindex(columns=_with_axes(NOTE_MODEL_OUTPUT_COLUMNS, notes))
    raters = raters.reindex(columns=_with_axes(RATER_MODEL_OUTPUT_COLUMNS, raters))
    notes["noteId"] = notes["noteId"].astype(np.int64)
    # aboveHelpfulnessThreshold is object (True/False/None) in the official parquet.
    raters["aboveHelpfulnessThreshold"] = raters["aboveHelpfulnessThreshold"].astype("boolean")
    if participants is not None:
        raters["raterParticipantId"] = _codes(raters["raterParticipantId"], participants)
    with open(paths["meta"]) as fh:
        meta_json = json.load(fh)
    meta_json = meta_json.get("metaScorerOutput", meta_json)
    meta = {k: PrescoringMeta.from_json(v) for k, v in meta_json.items()}
    pss = None
    if (d / "pss_output.parquet").exists():
        pss = pd.read_parquet(d / "pss_output.parquet").reindex(columns=list(PSS_COLUMNS))
        ids = pss["raterParticipantId"]
        if np.issubdtype(ids.dtype, np.integer):
            pss["raterParticipantId"] = ids.astype(np.int32)
        elif participants is not None:
            pss["raterParticipantId"] = _codes(ids, participants)
    return PrescoringOutput(notes, raters, meta, pss, {}, source=f"official:{d}")


def map_participant_ids(prescoring: PrescoringOutput, participants: pd.Index) -> PrescoringOutput:
    """Return ``prescoring`` with string rater ids replaced by the dataset's int32 codes."""
    r = prescoring.rater_model_output
    if np.issubdtype(r["raterParticipantId"].dtype, np.integer):
        return prescoring
    r = r.copy()
    r["raterParticipantId"] = _codes(r["raterParticipantId"], participants)
    pss = prescoring.pss
    if pss is not None and not np.issubdtype(pss["raterParticipantId"].dtype, np.integer):
        pss = pss.copy()
        pss["raterParticipantId"] = _codes(pss["raterParticipantId"], participants)
    from dataclasses import replace

    return replace(prescoring, rater_model_output=r, pss=pss)


def write_prescoring(
    prescoring: PrescoringOutput,
    directory: str | Path,
    participants: pd.Index | Any | None = None,
) -> dict[str, Path]:
    """Write prescoring outputs in the official layout, readable by :func:`load_official_prescoring`.

    Files: ``prescoring_note_model_output.parquet``, ``prescoring_rater_model_output.parquet``
    (participant codes restored to the original id strings when ``participants`` is given),
    ``pss_output.parquet`` (participant codes, as the official runner stores them) when the run has
    a PSS frame, and ``prescoring_meta.json`` (``{"metaScorerOutput": {scorer: fields}}``). Each
    file is written to a temporary name and renamed, so a reader never sees half a file.

    Returns
    -------
    dict
        File kind → path written.
    """
    import os
    import tempfile

    from cnlab.io import restore_ids

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if participants is not None and not isinstance(participants, pd.Index):
        participants = participants.participants
    notes = prescoring.note_model_output
    raters = prescoring.rater_model_output
    notes = notes.reindex(columns=_with_axes(NOTE_MODEL_OUTPUT_COLUMNS, notes))
    raters = raters.reindex(columns=_with_axes(RATER_MODEL_OUTPUT_COLUMNS, raters))
    if participants is not None and np.issubdtype(raters["raterParticipantId"].dtype, np.integer):
        raters = restore_ids(raters, participants, ("raterParticipantId",))
    frames: dict[str, pd.DataFrame] = {"notes": notes, "raters": raters}
    names = {"notes": "prescoring_note_model_output.parquet", "raters": "prescoring_rater_model_output.parquet",
             "pss": "pss_output.parquet", "meta": "prescoring_meta.json"}
    if prescoring.pss is not None:
        pss = prescoring.pss.reindex(columns=list(PSS_COLUMNS))
        if np.issubdtype(pss["raterParticipantId"].dtype, np.integer):
            pss = pss.astype({"raterParticipantId": np.int64})
        frames["pss"] = pss
    written = {}

    def atomic(path: Path, write) -> None:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    for kind, frame in frames.items():
        path = d / names[kind]
        atomic(path, lambda tmp, f=frame: f.reset_index(drop=True).to_parquet(tmp, index=False))
        written[kind] = path
    meta = {"metaScorerOutput": {name: m.to_json() for name, m in prescoring.meta.items()}}
    path = d / names["meta"]

    def dump(tmp):
        with open(tmp, "w") as fh:
            json.dump(meta, fh, indent=1, sort_keys=False)

    atomic(path, dump)
    written["meta"] = path
    return written
