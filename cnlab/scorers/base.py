"""The scorer plug-in protocol and the roster registry.

A *scorer config* (a frozen dataclass: :class:`~cnlab.scorers.mf_config.ScorerConfig`,
:class:`~cnlab.scorers.reputation.ReputationScorerConfig`,
:class:`~cnlab.scorers.gaussian.GaussianConfig`, …) says what one scorer of the roster does; a
*scorer family* (an object following :class:`ScorerFamily`) says how every config of its type is
prescored and final-scored. :func:`cnlab.pipeline.score` looks each config's family up here and
calls it, so adding a scorer is one new module (a config class and a family) and one line in
:data:`FAMILIES`.

Importing this module imports no scorer (and no TensorFlow): families are resolved on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pandas as pd


@dataclass(frozen=True)
class ScoringContext:
    """What a scorer reads besides its config and ratings (one scoring run).

    Attributes
    ----------
    status_history
        Input note status history (preprocessed).
    enrollment
        User enrollment (participant codes).
    note_topics
        noteTopics table (noteId, noteTopic) of the run.
    seed
        Seed of the run (official ``--seed``).
    epoch_millis
        "Now" of the run in ms.
    pseudoraters
        Pseudo-rater intervals in final scoring (official ``--pseudoraters``).
    check_train_error
        Abort when a round-1 train MSE exceeds its limit (official always).
    keep_ratings
        Keep each MF call's training ratings in the final output (``score(keep="all")``); False
        (a lean run) drops a sub-fit's ratings as soon as the fit ends, so that they are not held
        while the main fit runs.
    """

    status_history: pd.DataFrame
    enrollment: pd.DataFrame
    note_topics: pd.DataFrame | None = None
    seed: int | None = None
    epoch_millis: int | None = None
    pseudoraters: bool = True
    check_train_error: bool = True
    keep_ratings: bool = True


@runtime_checkable
class ScorerFamily(Protocol):
    """How the scorers of one config type run (spec 02: prescoring §3, final scoring §4).

    ``prescore`` returns a :class:`~cnlab.scorers.outputs.PrescoringOutput` (note and rater rows
    tagged with ``scorerName`` and a meta entry) or ``None`` for a scorer without a prescoring
    phase; ``score_final`` returns a :class:`~cnlab.scorers.mf_final.FinalOutput` (scored-note,
    helpfulness and aux rows with the scorer's official column names) or ``None`` for a
    prescoring-only scorer. ``meta_scorers`` names the official ``Scorers`` enum entries whose
    meta rules (spec 04 §11.3) this scorer enables. When ``meta_rules_configurable`` is true those
    rules are attached only if listed in ``ScoringConfig.enabled_meta_scorers`` (the official
    ``--scorers`` switch: the MF families); otherwise they are attached whenever the scorer runs.
    ``output_columns`` maps each output file to the official columns the scorer fills;
    :func:`check_outputs` holds every final output to it.

    A family may also split ``prescore`` in two: ``slice_prescoring(config, ratings, context,
    timer=)`` returns everything its prescoring reads of the ratings, and
    ``prescore_slice(config, sliced, context, timer=)`` finishes from it. A prescoring worker
    process then releases the run's full ratings before the fits (the MF family does).

    A family whose ``score_final`` reads whole columns of the ratings only (``len``, ``columns``,
    ``index``, ``ratings[col]``; no row selection on the frame) sets ``final_reads_columns =
    True``: a lean run with its ratings on disk then hands it the final ratings as a
    :class:`~cnlab.pipeline.spill.TakenColumns` view read a column at a time. Without it the
    family gets a DataFrame.
    """

    config_type: type
    meta_rules_configurable: bool

    def prescore(self, config: Any, ratings: pd.DataFrame, context: ScoringContext, *, timer: Any = None) -> Any:
        ...

    def score_final(self, config: Any, ratings: pd.DataFrame, prescoring: Any, context: ScoringContext, *,
                    timer: Any = None) -> Any:
        ...

    def meta_scorers(self, config: Any) -> tuple[str, ...]:
        ...

    def output_columns(self, config: Any) -> dict[str, list[str]]:
        ...


#: The roster's families, in the order the official runner calls them: ``"module:attribute"``.
FAMILIES: tuple[str, ...] = (
    "cnlab.scorers.matrix_factorization:FAMILY",
    "cnlab.scorers.reputation:FAMILY",
    "cnlab.scorers.gaussian:FAMILY",
)

_resolved: dict[str, ScorerFamily] = {}


def families() -> tuple[ScorerFamily, ...]:
    """The registered families (imported on first call)."""
    out = []
    for ref in FAMILIES:
        if ref not in _resolved:
            module, attr = ref.split(":")
            _resolved[ref] = getattr(importlib.import_module(module), attr)
        out.append(_resolved[ref])
    return tuple(out)


def family_for(config: Any) -> ScorerFamily:
    """The family that runs ``config``.

    Raises
    ------
    TypeError
        No registered family takes this config type.
    """
    for fam in families():
        if isinstance(config, fam.config_type):
            return fam
    raise TypeError(f"no scorer family registered for {type(config).__name__} "
                    f"(cnlab.scorers.base.FAMILIES lists {', '.join(FAMILIES)})")



def check_outputs(config: Any, final_output: Any) -> None:
    """Raise :class:`~cnlab.schema.SchemaError` when a scorer's final output lacks a column its
    family declares (``output_columns``): a scorer never leaves an official column out silently."""
    from cnlab.schema import SchemaError

    declared = family_for(config).output_columns(config)
    frames = {"scored_notes": final_output.scored_notes, "helpfulness_scores": final_output.helpfulness_scores,
              "aux_note_info": final_output.aux_note_info}
    for key, columns in declared.items():
        missing = [c for c in columns if c not in frames[key].columns]
        if missing:
            raise SchemaError(f"{config.name}: final {key} lacks declared column(s) {missing}")
