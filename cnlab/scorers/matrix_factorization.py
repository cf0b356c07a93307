"""The matrix-factorization scorer family (spec 02): Core, CoreWithTopics, Expansion,
ExpansionPlus, the group, multi-group and topic scorers.

Prescoring (:mod:`cnlab.scorers.mf_prescoring`) fits two rounds of MF around the rater-helpfulness
filter; final scoring (:mod:`cnlab.scorers.mf_final`) refits notes with the prescoring raters
frozen and applies the scorer rules. Configs: :class:`~cnlab.scorers.mf_config.ScorerConfig`
(presets in :mod:`cnlab.scorers.mf_config`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cnlab.scorers.base import ScoringContext
from cnlab.scorers.mf_config import ScorerConfig


class MatrixFactorizationFamily:
    """:class:`~cnlab.scorers.base.ScorerFamily` of the MF scorers."""

    config_type = ScorerConfig
    meta_rules_configurable = True
    #: final scoring reads whole columns of the ratings only (``len``, ``columns``, ``index``,
    #: ``ratings[col]``): a lean run at scale may hand it a column view read from disk
    final_reads_columns = True

    def prescore(self, config: ScorerConfig, ratings: pd.DataFrame, context: ScoringContext, *,
                 timer: Any = None):
        return self.prescore_slice(config, self.slice_prescoring(config, ratings, context, timer=timer),
                                   context, timer=timer)

    def slice_prescoring(self, config: ScorerConfig, ratings: pd.DataFrame, context: ScoringContext, *,
                         timer: Any = None):
        """The scorer's rows of the prescoring ratings (all its prescoring reads of them)."""
        from cnlab.scorers.mf_prescoring import slice_for_prescoring

        return slice_for_prescoring(ratings, context.status_history, context.enrollment, config,
                                    note_topics=context.note_topics, epoch_millis=context.epoch_millis,
                                    timer=timer, keep_labels=context.keep_ratings)

    def prescore_slice(self, config: ScorerConfig, sliced: Any, context: ScoringContext, *, timer: Any = None):
        """Prescoring from :meth:`slice_prescoring`'s slice."""
        from cnlab.scorers.mf_prescoring import prescore_slice

        return prescore_slice(sliced, context.enrollment, config, seed=context.seed,
                              check_train_error=context.check_train_error, timer=timer,
                              keep_ratings=context.keep_ratings)

    def score_final(self, config: ScorerConfig, ratings: pd.DataFrame, prescoring: Any,
                    context: ScoringContext, *, timer: Any = None):
        if not config.final_scoring:  # prescoring-only (MFGroupScorer_15, MFTopicScorer_InDimensionTwo)
            return None
        from cnlab.scorers.mf_final import score_final

        return score_final(ratings, context.status_history, context.enrollment, config, prescoring,
                           note_topics=context.note_topics, seed=context.seed,
                           pseudoraters=context.pseudoraters, epoch_millis=context.epoch_millis, timer=timer,
                           keep_ratings=context.keep_ratings)

    def meta_scorers(self, config: ScorerConfig) -> tuple[str, ...]:
        return (config.meta_scorer,) if config.final_scoring else ()

    def output_columns(self, config: ScorerConfig) -> dict[str, list[str]]:
        return {"scored_notes": config.scored_note_columns(), "helpfulness_scores": config.helpfulness_columns(),
                "aux_note_info": config.aux_columns()}


FAMILY = MatrixFactorizationFamily()
