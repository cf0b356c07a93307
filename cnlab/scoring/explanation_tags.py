"""Top-two explanation tags (spec 03 §9; official ``explanation_tags.get_top_two_tags_for_note``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cnlab import schema as S

__all__ = ["HELPFUL_TIE_BREAK_RANK", "NOT_HELPFUL_TIE_BREAK_RANK", "top_two_tags"]

# Tie-break ranks exactly as the code has them (higher wins); the doc's helpful order is reversed.
HELPFUL_TIE_BREAK_RANK: dict[str, int] = {
    "helpfulInformative": 8, "helpfulClear": 7, "helpfulImportantContext": 6,
    "helpfulAddressesClaim": 5, "helpfulGoodSources": 4, "helpfulEmpathetic": 3,
    "helpfulUniqueContext": 2, "helpfulUnbiasedLanguage": 1, "helpfulOther": 0,
}
NOT_HELPFUL_TIE_BREAK_RANK: dict[str, int] = {
    "notHelpfulOutdated": 12, "notHelpfulSpamHarassmentOrAbuse": 11, "notHelpfulHardToUnderstand": 10,
    "notHelpfulOffTopic": 9, "notHelpfulIncorrect": 8, "notHelpfulArgumentativeOrBiased": 7,
    "notHelpfulNoteNotNeeded": 6, "notHelpfulMissingKeyPoints": 5, "notHelpfulOpinionSpeculationOrBias": 4,
    "notHelpfulOpinionSpeculation": 3, "notHelpfulSourcesMissingOrUnreliable": 2,
    "notHelpfulIrrelevantSources": 1, "notHelpfulOther": 0,
}


def _top_two(counts: pd.DataFrame, ranks: dict[str, int], min_count: int) -> tuple[np.ndarray, np.ndarray]:
    tags = list(ranks)
    c = np.column_stack([counts[t].to_numpy(dtype=np.float64, na_value=0.0) if t in counts else
                         np.zeros(len(counts)) for t in tags])
    rank = np.array([ranks[t] for t in tags], dtype=np.float64)
    eligible = c >= min_count
    # Order by (count desc, rank desc); ineligible tags sink to the bottom.
    key = np.where(eligible, c * (len(tags) + 1) + rank, -1.0)
    order = np.argsort(-key, axis=1, kind="stable")
    names = np.array(tags, dtype=object)
    enough = eligible.sum(axis=1) >= 2
    first = np.where(enough, names[order[:, 0]], None)
    second = np.where(enough, names[order[:, 1]], None)
    return first, second


def top_two_tags(tag_counts: pd.DataFrame, status: pd.Series, *, min_ratings_to_get_tag: int = 2) -> pd.DataFrame:
    """First and second explanation tag per note (spec 03 §9).

    CRH notes rank the 9 helpful tags, CRNH notes the 13 not-helpful tags.  Tags with count < 2
    are discarded; with fewer than 2 left the note gets no tags; otherwise the two largest counts
    win, ties broken by the code's tie-break rank (higher wins).  Other statuses get no tags.

    Returns a frame aligned with ``tag_counts`` with ``firstTag`` and ``secondTag`` (None if none).
    """
    st = status.astype(object).to_numpy()
    hf, hs = _top_two(tag_counts, HELPFUL_TIE_BREAK_RANK, min_ratings_to_get_tag)
    nf, ns = _top_two(tag_counts, NOT_HELPFUL_TIE_BREAK_RANK, min_ratings_to_get_tag)
    first = np.where(st == S.CRH, hf, np.where(st == S.CRNH, nf, None))
    second = np.where(st == S.CRH, hs, np.where(st == S.CRNH, ns, None))
    return pd.DataFrame({"firstTag": first, "secondTag": second}, index=tag_counts.index)
