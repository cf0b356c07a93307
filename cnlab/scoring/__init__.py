"""Pure-pandas scoring rules: note stats, helpfulness, tag & incorrect filters,
per-scorer rules and applier, meta rules, explanation tags, status history.

See spec 03 (helpfulness and rules) and spec 04 §11, §13 (meta scoring, status history).
"""

from cnlab.scoring.config import MetaConfig, RuleThresholds  # noqa: F401
from cnlab.scoring.helpfulness import (  # noqa: F401
    author_helpfulness,
    filter_ratings_by_helpfulness,
    general_helpfulness_scores,
    rater_helpfulness,
    valid_ratings,
)
from cnlab.scoring.incorrect_filter import incorrect_aggregates, user_incorrect_ratio  # noqa: F401
from cnlab.scoring.note_stats import (  # noqa: F401
    compute_note_stats,
    note_counts_by_rater_sign,
    population_sampled_counts_by_rater_sign,
)
from cnlab.scoring.rules import Rule, RuleOutcome, apply_rules, scorer_rules  # noqa: F401
from cnlab.scoring.scored_notes import compute_scored_notes  # noqa: F401
from cnlab.scoring.tag_filter import note_tag_aggregates, tag_thresholds  # noqa: F401
