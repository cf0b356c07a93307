"""Column names, dtypes and constants shared by every cnlab stage.

This is the single module that owns the names of DataFrame columns.  Names
follow the public Community Notes data download and the official scorer's
output files (spec 04 §2, §14) so that users' joins and habits carry over.

Participant ids
---------------
The loader turns the 64-hex participant ids of all four input files into
``int32`` codes *jointly and in lexicographic order* (spec 04 §3), so sorting
by code equals sorting by the original string.  The mapping lives in
:class:`cnlab.io.Dataset` (``dataset.participants``) and writers restore the
strings.

Tags
----
Ratings carry 9 helpful and 13 not-helpful 0/1 tags.  In a loaded
:class:`~cnlab.io.Dataset` they are bit-packed into two ``uint16`` columns
(``helpfulTagBits``, ``notHelpfulTagBits``; bit *k* = the *k*-th tag in file
order) to keep the full public data within memory.  Use :func:`unpack_tags`
to materialise the ``int8`` tag columns a stage needs.
"""

from __future__ import annotations

import re as _re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------
# Identifiers and core rating columns
# ---------------------------------------------------------------------------
NOTE_ID = "noteId"
RATER_ID = "raterParticipantId"
AUTHOR_ID = "noteAuthorParticipantId"
PARTICIPANT_ID = "participantId"
CREATED_AT = "createdAtMillis"
TWEET_ID = "tweetId"
HELPFUL_NUM = "helpfulNum"
HELPFULNESS_LEVEL = "helpfulnessLevel"
RATING_SOURCE = "ratingSourceBucketed"
CLASSIFICATION = "classification"
SUMMARY = "summary"
MODELING_GROUP = "modelingGroup"
MODELING_POPULATION = "modelingPopulation"
ENROLLMENT_STATE = "enrollmentState"
HIGH_VOLUME_RATER = "highVolumeRater"
CORRELATED_RATER = "correlatedRater"
HELPFUL_TAG_BITS = "helpfulTagBits"
NOT_HELPFUL_TAG_BITS = "notHelpfulTagBits"

# Internal (per-scorer) MF parameter columns, spec 01 §8 / 02 §6.
NOTE_INTERCEPT = "internalNoteIntercept"
NOTE_FACTOR1 = "internalNoteFactor1"
RATER_INTERCEPT = "internalRaterIntercept"
RATER_FACTOR1 = "internalRaterFactor1"
GLOBAL_INTERCEPT = "globalIntercept"
RATING_STATUS = "internalRatingStatus"
ACTIVE_RULES = "internalActiveRules"
ACTIVE_FILTER_TAGS = "activeFilterTags"
NUM_RATINGS = "numRatings"


def note_factor_col(k: int) -> str:
    """Name of the k-th (1-based) internal note factor column."""
    return f"internalNoteFactor{k}"


def scorer_note_columns(prefix: str, suffix: str = "") -> dict[str, str]:
    """Internal → external scored-notes names shared by every scorer (spec 02 §6).

    ``scorer_note_columns("core")[NOTE_INTERCEPT] == "coreNoteIntercept"``; group / topic
    scorers add their ``_<id>`` suffix before coalescing.
    """
    p, s = prefix, suffix
    return {
        NOTE_INTERCEPT: f"{p}NoteIntercept{s}",
        NOTE_FACTOR1: f"{p}NoteFactor1{s}",
        RATING_STATUS: f"{p}RatingStatus{s}",
        ACTIVE_RULES: f"{p}ActiveRules{s}",
        "numFinalRoundRatings": f"{p}NumFinalRoundRatings{s}",
        "internalNoteInterceptNoHighVol": f"{p}NoteInterceptNoHighVol{s}",
        "internalNoteInterceptNoCorrelated": f"{p}NoteInterceptNoCorrelated{s}",
    }


def rater_factor_col(k: int) -> str:
    """Name of the k-th (1-based) internal rater factor column."""
    return f"internalRaterFactor{k}"


# ---------------------------------------------------------------------------
# Enumerations (spec 04 §1, spec 03 §1)
# ---------------------------------------------------------------------------
CRH = "CURRENTLY_RATED_HELPFUL"
CRNH = "CURRENTLY_RATED_NOT_HELPFUL"
NMR = "NEEDS_MORE_RATINGS"
FIRM_REJECT = "FIRM_REJECT"
NYH = "NEEDS_YOUR_HELP"
STATUSES: tuple[str, ...] = (CRH, CRNH, NMR, FIRM_REJECT, NYH)
FINAL_STATUSES: tuple[str, ...] = (CRH, CRNH, NMR)

MISLEADING = "MISINFORMED_OR_POTENTIALLY_MISLEADING"
NOT_MISLEADING = "NOT_MISLEADING"
CLASSIFICATIONS: tuple[str, ...] = (MISLEADING, NOT_MISLEADING)

HELPFUL = "HELPFUL"
SOMEWHAT_HELPFUL = "SOMEWHAT_HELPFUL"
NOT_HELPFUL = "NOT_HELPFUL"
HELPFULNESS_LEVELS: tuple[str, ...] = (HELPFUL, SOMEWHAT_HELPFUL, NOT_HELPFUL)

SOURCE_DEFAULT = "DEFAULT"
SOURCE_POPULATION_SAMPLED = "POPULATION_SAMPLED"
RATING_SOURCES: tuple[str, ...] = (SOURCE_DEFAULT, SOURCE_POPULATION_SAMPLED)

ENROLLMENT_STATES: tuple[str, ...] = (
    "newUser",
    "earnedIn",
    "atRisk",
    "earnedOutNoAcknowledge",
    "earnedOutAcknowledged",
    "removed",
    "apiTestUser",
    "apiEarnedIn",
    "apiEarnedOut",
)
MODELING_POPULATIONS: tuple[str, ...] = ("CORE", "EXPANSION", "EXPANSION_PLUS")

# Modeling groups (spec 04 §2.6).
CORE_GROUPS = frozenset({1, 2, 3, 6, 8, 9, 10, 11, 13, 14, 19, 21, 25})
COVERAGE_GROUPS = CORE_GROUPS - {21}
EXPANSION_GROUPS = frozenset({0, 4, 5, 7, 12, 15, 16, 20, 22, 23, 24, 26, 27, 28, 29, 33})
EXPANSION_PLUS_GROUPS = frozenset({17, 18, 30, 31, 32})

# Topics (spec 05 §A.1); values stored in ``noteTopic`` are the names.
TOPICS: tuple[str, ...] = (
    "Unassigned",
    "UkraineConflict",
    "GazaConflict",
    "MessiRonaldo",
    "Scams",
    "InDimensionTwo",
)

# ---------------------------------------------------------------------------
# Tags (file order, spec 04 §2.4)
# ---------------------------------------------------------------------------
HELPFUL_TAGS: tuple[str, ...] = (
    "helpfulOther",
    "helpfulInformative",
    "helpfulClear",
    "helpfulEmpathetic",
    "helpfulGoodSources",
    "helpfulUniqueContext",
    "helpfulAddressesClaim",
    "helpfulImportantContext",
    "helpfulUnbiasedLanguage",
)
NOT_HELPFUL_TAGS: tuple[str, ...] = (
    "notHelpfulOther",
    "notHelpfulIncorrect",
    "notHelpfulSourcesMissingOrUnreliable",
    "notHelpfulOpinionSpeculationOrBias",
    "notHelpfulMissingKeyPoints",
    "notHelpfulOutdated",
    "notHelpfulHardToUnderstand",
    "notHelpfulArgumentativeOrBiased",
    "notHelpfulOffTopic",
    "notHelpfulSpamHarassmentOrAbuse",
    "notHelpfulIrrelevantSources",
    "notHelpfulOpinionSpeculation",
    "notHelpfulNoteNotNeeded",
)
ALL_TAGS: tuple[str, ...] = HELPFUL_TAGS + NOT_HELPFUL_TAGS
INCORRECT_TAG = "notHelpfulIncorrect"
HARASSMENT_TAG = "notHelpfulSpamHarassmentOrAbuse"

# Per-rater sums over valid ratings (spec 01 §3, 03 §3.2, 07 A.4); output columns of
# helpfulness_scores.tsv.
VALID_RATING_COUNT_COLUMNS: tuple[str, ...] = (
    "successfulRatingHelpfulCount",
    "successfulRatingNotHelpfulCount",
    "successfulRatingTotal",
    "unsuccessfulRatingHelpfulCount",
    "unsuccessfulRatingNotHelpfulCount",
    "unsuccessfulRatingTotal",
)

# ---------------------------------------------------------------------------
# Input file layouts (spec 04 §2.3–§2.6); names, not positions, are used
# ---------------------------------------------------------------------------
RATINGS_FILE_COLUMNS: tuple[str, ...] = (
    "noteId",
    "raterParticipantId",
    "createdAtMillis",
    "version",
    "agree",
    "disagree",
    "helpful",
    "notHelpful",
    "helpfulnessLevel",
    "helpfulOther",
    "helpfulInformative",
    "helpfulClear",
    "helpfulEmpathetic",
    "helpfulGoodSources",
    "helpfulUniqueContext",
    "helpfulAddressesClaim",
    "helpfulImportantContext",
    "helpfulUnbiasedLanguage",
    "notHelpfulOther",
    "notHelpfulIncorrect",
    "notHelpfulSourcesMissingOrUnreliable",
    "notHelpfulOpinionSpeculationOrBias",
    "notHelpfulMissingKeyPoints",
    "notHelpfulOutdated",
    "notHelpfulHardToUnderstand",
    "notHelpfulArgumentativeOrBiased",
    "notHelpfulOffTopic",
    "notHelpfulSpamHarassmentOrAbuse",
    "notHelpfulIrrelevantSources",
    "notHelpfulOpinionSpeculation",
    "notHelpfulNoteNotNeeded",
    "ratedOnTweetId",
    "ratingSourceBucketed",
    "suggestion",
    "suggestionId",
)

NOTES_FILE_COLUMNS: tuple[str, ...] = (
    "noteId",
    "noteAuthorParticipantId",
    "createdAtMillis",
    "tweetId",
    "classification",
    "believable",
    "harmful",
    "validationDifficulty",
    "misleadingOther",
    "misleadingFactualError",
    "misleadingManipulatedMedia",
    "misleadingOutdatedInformation",
    "misleadingMissingImportantContext",
    "misleadingUnverifiedClaimAsFact",
    "misleadingSatire",
    "notMisleadingOther",
    "notMisleadingFactuallyCorrect",
    "notMisleadingOutdatedButNotWhenWritten",
    "notMisleadingClearlySatire",
    "notMisleadingPersonalOpinion",
    "trustworthySources",
    "summary",
    "isMediaNote",
    "isCollaborativeNote",
)

ENROLLMENT_FILE_COLUMNS: tuple[str, ...] = (
    "participantId",
    "enrollmentState",
    "successfulRatingNeededToEarnIn",
    "timestampOfLastStateChange",
    "timestampOfLastEarnOut",
    "modelingPopulation",
    "modelingGroup",
    "numberOfTimesEarnedOut",
)



# ---------------------------------------------------------------------------
# Output file layouts (spec 04 §14), exactly the official order
# ---------------------------------------------------------------------------
SCORED_NOTES_COLUMNS: tuple[str, ...] = (
    "noteId",
    "coreNoteIntercept",
    "coreNoteFactor1",
    "finalRatingStatus",
    "firstTag",
    "secondTag",
    "coreActiveRules",
    "activeFilterTags",
    "classification",
    "createdAtMillis",
    "coreRatingStatus",
    "metaScorerActiveRules",
    "decidedBy",
    "expansionNoteIntercept",
    "expansionNoteFactor1",
    "expansionRatingStatus",
    "coverageNoteIntercept",
    "coverageNoteFactor1",
    "coverageRatingStatus",
    "coreNoteInterceptMin",
    "coreNoteInterceptMax",
    "expansionNoteInterceptMin",
    "expansionNoteInterceptMax",
    "coverageNoteInterceptMin",
    "coverageNoteInterceptMax",
    "groupNoteIntercept",
    "groupNoteFactor1",
    "groupRatingStatus",
    "groupNoteInterceptMax",
    "groupNoteInterceptMin",
    "modelingGroup",
    "numRatings",
    "timestampMillisOfCurrentStatus",
    "expansionPlusNoteIntercept",
    "expansionPlusNoteFactor1",
    "expansionPlusRatingStatus",
    "topicNoteIntercept",
    "topicNoteFactor1",
    "topicRatingStatus",
    "noteTopic",
    "topicNoteConfident",
    "expansionActiveRules",
    "expansionPlusActiveRules",
    "groupActiveRules",
    "topicActiveRules",
    "coreNumFinalRoundRatings",
    "expansionNumFinalRoundRatings",
    "expansionPlusNumFinalRoundRatings",
    "groupNumFinalRoundRatings",
    "topicNumFinalRoundRatings",
    "rescoringActiveRules",
    "multiGroupNoteIntercept",
    "multiGroupNoteFactor1",
    "multiGroupRatingStatus",
    "modelingMultiGroup",
    "multiGroupActiveRules",
    "multiGroupNumFinalRoundRatings",
    "coreWithTopicsNoteFactor1",
    "coreWithTopicsNoteIntercept",
    "coreWithTopicsRatingStatus",
    "coreWithTopicsActiveRules",
    "coreWithTopicsNumFinalRoundRatings",
    "coreWithTopicsNoteInterceptMin",
    "coreWithTopicsNoteInterceptMax",
    "timestampMillisOfNmrDueToMinStableCrhTime",
    "coreNoteInterceptNoHighVol",
    "coreWithTopicsNoteInterceptNoHighVol",
    "expansionNoteInterceptNoHighVol",
    "expansionPlusNoteInterceptNoHighVol",
    "groupNoteInterceptNoHighVol",
    "multiGroupNoteInterceptNoHighVol",
    "topicNoteInterceptNoHighVol",
    "coreNoteInterceptNoCorrelated",
    "coreNoteInterceptPopulationSampled",
    "coreWithTopicsNoteInterceptNoCorrelated",
    "expansionNoteInterceptNoCorrelated",
    "expansionPlusNoteInterceptNoCorrelated",
    "groupNoteInterceptNoCorrelated",
    "multiGroupNoteInterceptNoCorrelated",
    "topicNoteInterceptNoCorrelated",
    "gaussianNoteIntercept",
    "gaussianNoteFactor1",
    "gaussianRatingStatus",
    "gaussianActiveRules",
    "gaussianNoteInterceptNoCorrelated",
    "gaussianNoteInterceptNoHighVol",
    "gaussianNoteInterceptPopulationSampled",
    "gaussianNumFinalRoundRatings",
    "timestampMinuteOfFinalScoringOutput",
    "gaussianCoreWithTopicsNoteIntercept",
    "gaussianCoreWithTopicsNoteFactor1",
    "gaussianCoreWithTopicsRatingStatus",
    "gaussianCoreWithTopicsActiveRules",
    "gaussianCoreWithTopicsNoteInterceptNoHighVol",
    "gaussianCoreWithTopicsNoteInterceptNoCorrelated",
    "gaussianCoreWithTopicsNoteInterceptPopulationSampled",
    "gaussianCoreWithTopicsNumFinalRoundRatings",
    "abovePcrhThresholdTime",
    "pflipProba",
)

AUX_NOTE_INFO_COLUMNS: tuple[str, ...] = (
    "noteId",
    "ratingWeight",
    "createdAtMillis",
    "noteAuthorParticipantId",
    "awaitingBool",
    "numRatingsLast28",
    "numPopulationSampledRatings",
    "currentStatus",
    "crhBool",
    "crnhBool",
    "unlockedRatingStatus",
    "preStabilizationRatingStatus",
    "helpfulOther",
    "helpfulInformative",
    "helpfulClear",
    "helpfulEmpathetic",
    "helpfulGoodSources",
    "helpfulUniqueContext",
    "helpfulAddressesClaim",
    "helpfulImportantContext",
    "helpfulUnbiasedLanguage",
    "notHelpfulOther",
    "notHelpfulIncorrect",
    "notHelpfulSourcesMissingOrUnreliable",
    "notHelpfulOpinionSpeculationOrBias",
    "notHelpfulMissingKeyPoints",
    "notHelpfulOutdated",
    "notHelpfulHardToUnderstand",
    "notHelpfulArgumentativeOrBiased",
    "notHelpfulOffTopic",
    "notHelpfulSpamHarassmentOrAbuse",
    "notHelpfulIrrelevantSources",
    "notHelpfulOpinionSpeculation",
    "notHelpfulNoteNotNeeded",
    "notHelpfulOtherAdjusted",
    "notHelpfulIncorrectAdjusted",
    "notHelpfulSourcesMissingOrUnreliableAdjusted",
    "notHelpfulOpinionSpeculationOrBiasAdjusted",
    "notHelpfulMissingKeyPointsAdjusted",
    "notHelpfulOutdatedAdjusted",
    "notHelpfulHardToUnderstandAdjusted",
    "notHelpfulArgumentativeOrBiasedAdjusted",
    "notHelpfulOffTopicAdjusted",
    "notHelpfulSpamHarassmentOrAbuseAdjusted",
    "notHelpfulIrrelevantSourcesAdjusted",
    "notHelpfulOpinionSpeculationAdjusted",
    "notHelpfulNoteNotNeededAdjusted",
    "notHelpfulOtherAdjustedRatio",
    "notHelpfulIncorrectAdjustedRatio",
    "notHelpfulSourcesMissingOrUnreliableAdjustedRatio",
    "notHelpfulOpinionSpeculationOrBiasAdjustedRatio",
    "notHelpfulMissingKeyPointsAdjustedRatio",
    "notHelpfulOutdatedAdjustedRatio",
    "notHelpfulHardToUnderstandAdjustedRatio",
    "notHelpfulArgumentativeOrBiasedAdjustedRatio",
    "notHelpfulOffTopicAdjustedRatio",
    "notHelpfulSpamHarassmentOrAbuseAdjustedRatio",
    "notHelpfulIrrelevantSourcesAdjustedRatio",
    "notHelpfulOpinionSpeculationAdjustedRatio",
    "notHelpfulNoteNotNeededAdjustedRatio",
    "notHelpfulIncorrect_interval",
    "p_incorrect_user_interval",
    "num_voters_interval",
    "tf_idf_incorrect_interval",
    "lowDiligenceIntercept",
    "coreNegFactor_populationSampledRatingCount",
    "corePosFactor_populationSampledRatingCount",
    "pcrhExitN",
    "pcrhExitProba",
    "pcrhRevoked",
    "pcrhRevokeN",
    "pcrhFinalPred",
)

NOTE_STATUS_HISTORY_COLUMNS: tuple[str, ...] = (
    "noteId",
    "noteAuthorParticipantId",
    "createdAtMillis",
    "timestampMillisOfFirstNonNMRStatus",
    "firstNonNMRStatus",
    "timestampMillisOfCurrentStatus",
    "currentStatus",
    "timestampMillisOfLatestNonNMRStatus",
    "mostRecentNonNMRStatus",
    "timestampMillisOfStatusLock",
    "lockedStatus",
    "timestampMillisOfRetroLock",
    "currentCoreStatus",
    "currentExpansionStatus",
    "currentGroupStatus",
    "currentDecidedBy",
    "currentModelingGroup",
    "timestampMillisOfMostRecentStatusChange",
    "timestampMillisOfNmrDueToMinStableCrhTime",
    "currentMultiGroupStatus",
    "currentModelingMultiGroup",
    "timestampMinuteOfFinalScoringOutput",
    "timestampMillisOfFirstNmrDueToMinStableCrhTime",
    "abovePcrhThresholdTime",
)

HELPFULNESS_SCORES_COLUMNS: tuple[str, ...] = (
    "raterParticipantId",
    "coreRaterIntercept",
    "coreRaterFactor1",
    "crhCrnhRatioDifference",
    "meanNoteScore",
    "raterAgreeRatio",
    "successfulRatingHelpfulCount",
    "successfulRatingNotHelpfulCount",
    "successfulRatingTotal",
    "unsuccessfulRatingHelpfulCount",
    "unsuccessfulRatingNotHelpfulCount",
    "unsuccessfulRatingTotal",
    "ratingsAwaitingMoreRatings",
    "ratedAfterDecision",
    "notesCurrentlyRatedHelpful",
    "notesCurrentlyRatedNotHelpful",
    "notesAwaitingMoreRatings",
    "enrollmentState",
    "successfulRatingNeededToEarnIn",
    "authorTopNotHelpfulTagValues",
    "timestampOfLastStateChange",
    "aboveHelpfulnessThreshold",
    "isEmergingWriter",
    "aggregateRatingReceivedTotal",
    "timestampOfLastEarnOut",
    "groupRaterIntercept",
    "groupRaterFactor1",
    "modelingGroup",
    "raterHelpfulnessReputation",
    "numberOfTimesEarnedOut",
    "expansionRaterIntercept",
    "expansionRaterFactor1",
    "expansionPlusRaterIntercept",
    "expansionPlusRaterFactor1",
    "multiGroupRaterIntercept",
    "multiGroupRaterFactor1",
    "modelingMultiGroup",
    "coreWithTopicsRaterIntercept",
    "coreWithTopicsRaterFactor1",
    "coreFirstRoundRaterIntercept",
    "coreFirstRoundRaterFactor1",
    "crhTotal14d",
    "crnhTotal14d",
    "nmrTotal14d",
    "crhTotal90d",
    "crnhTotal90d",
    "nmrTotal90d",
)

NOTE_STATUS_HISTORY_FILE_COLUMNS = NOTE_STATUS_HISTORY_COLUMNS
# 23-column legacy layout: everything but abovePcrhThresholdTime (spec 04 §2.5).
NOTE_STATUS_HISTORY_LEGACY_COLUMNS = NOTE_STATUS_HISTORY_COLUMNS[:23]

# ---------------------------------------------------------------------------
# Older output vintages (single-model scorer, 2021–2023)
# ---------------------------------------------------------------------------
#: Output file stems of the single-model scorer (``scoredNotes.tsv``, ``helpfulnessScores.tsv``)
#: -> the output key of the current file (``scored_notes.tsv``, ``helpfulness_scores.tsv``).
LEGACY_OUTPUT_FILES: dict[str, str] = {
    "scoredNotes": "scored_notes",
    "helpfulnessScores": "helpfulness_scores",
}

#: Columns of the single-model outputs -> the current column(s) holding the same value.  That
#: scorer had one model, so its ``ratingStatus`` is both the model's status (``coreRatingStatus``)
#: and the status shown (``finalRatingStatus``).
LEGACY_OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "noteIntercept": ("coreNoteIntercept",),
    "noteFactor1": ("coreNoteFactor1",),
    "ratingStatus": ("coreRatingStatus", "finalRatingStatus"),
    "raterIntercept": ("coreRaterIntercept",),
    "raterFactor1": ("coreRaterFactor1",),
}


def current_output_names(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Map the column names of an older output vintage to the current ones.

    Each column of :data:`LEGACY_OUTPUT_COLUMNS` present in ``frame`` is copied to each of its
    current names that ``frame`` lacks, and then dropped; a legacy column whose current names
    are all present already is left alone.  Frames of the current layout come back unchanged.

    Parameters
    ----------
    frame
        An output frame of any vintage (``scored_notes`` / ``scoredNotes``,
        ``helpfulness_scores`` / ``helpfulnessScores``, ...).

    Returns
    -------
    (frame, mapped)
        The frame with current names (a new frame when anything was mapped, else ``frame``
        itself) and one ``"old -> new"`` string per mapped column.

    Examples
    --------
    >>> old = pd.DataFrame({"noteId": [1], "noteIntercept": [0.41], "ratingStatus": [CRH]})
    >>> new, mapped = current_output_names(old)
    >>> list(new.columns)
    ['noteId', 'coreNoteIntercept', 'coreRatingStatus', 'finalRatingStatus']
    >>> mapped
    ['noteIntercept -> coreNoteIntercept', 'ratingStatus -> coreRatingStatus, finalRatingStatus']
    """
    todo = {old: [c for c in new if c not in frame.columns]
            for old, new in LEGACY_OUTPUT_COLUMNS.items() if old in frame.columns}
    todo = {old: new for old, new in todo.items() if new}
    if not todo:
        return frame, []
    out = frame.rename(columns={old: new[0] for old, new in todo.items()})
    for new in todo.values():
        for k, extra in enumerate(new[1:], start=1):  # further names right after the first
            out.insert(out.columns.get_loc(new[0]) + k, extra, out[new[0]].copy())
    return out, [f"{old} -> {', '.join(new)}" for old, new in todo.items()]

# ---------------------------------------------------------------------------
# Tag packing helpers
# ---------------------------------------------------------------------------


def pack_tags(frame: pd.DataFrame, tags: Sequence[str]) -> np.ndarray:
    """Pack 0/1 tag columns into a ``uint16`` bit field (bit k = ``tags[k]``).

    Missing values count as 0.  Raises ``ValueError`` for more than 16 tags.
    """
    if len(tags) > 16:
        raise ValueError("at most 16 tags fit in a uint16 bit field")
    bits = np.zeros(len(frame), dtype=np.uint16)
    for k, tag in enumerate(tags):
        col = frame[tag].to_numpy(dtype=np.float64, na_value=0.0)
        bits |= (col > 0).astype(np.uint16) << np.uint16(k)
    return bits


def unpack_tags(
    ratings: pd.DataFrame, tags: Iterable[str] | None = None, *, copy: bool = True
) -> pd.DataFrame:
    """Return ``ratings`` with the requested tag columns as ``int8`` 0/1 columns.

    Parameters
    ----------
    ratings
        Ratings with ``helpfulTagBits`` / ``notHelpfulTagBits`` (as loaded) or
        already-unpacked tag columns (returned unchanged for those tags).
    tags
        Tag names to materialise; default all 22.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"helpfulTagBits": [0b10], "notHelpfulTagBits": [0b1]})
    >>> unpack_tags(r, ["helpfulInformative", "notHelpfulOther"]).iloc[0].tolist()
    [2, 1, 1, 1]
    """
    out = ratings.copy() if copy else ratings
    wanted = list(ALL_TAGS if tags is None else tags)
    for tag in wanted:
        if tag in out.columns:
            continue
        out[tag] = _unpacked_bit(out, tag)
    return out


def _unpacked_bit(ratings: pd.DataFrame, tag: str) -> np.ndarray:
    """``tag``'s bit of its packed field, as int8 0/1 (KeyError if neither the tag nor the field)."""
    if tag in HELPFUL_TAGS:
        src, k = HELPFUL_TAG_BITS, HELPFUL_TAGS.index(tag)
    elif tag in NOT_HELPFUL_TAGS:
        src, k = NOT_HELPFUL_TAG_BITS, NOT_HELPFUL_TAGS.index(tag)
    else:
        raise KeyError(f"unknown tag {tag!r}")
    if src not in ratings.columns:
        raise KeyError(f"ratings have neither {tag!r} nor {src!r}")
    return ((ratings[src].to_numpy() >> k) & 1).astype(np.int8)


def tag_source(columns: Any, tag: str) -> str:
    """The column that holds ``tag``'s values among ``columns``: the tag's own column, else its
    packed field (``helpfulTagBits`` / ``notHelpfulTagBits``), as :func:`tag_values` reads them.

    Examples
    --------
    >>> tag_source(["noteId", "notHelpfulTagBits"], "notHelpfulIncorrect")
    'notHelpfulTagBits'
    >>> tag_source(["notHelpfulIncorrect"], "notHelpfulIncorrect")
    'notHelpfulIncorrect'
    """
    if tag in columns:
        return tag
    if tag not in HELPFUL_TAGS and tag not in NOT_HELPFUL_TAGS:
        raise KeyError(f"unknown tag {tag!r}")
    return HELPFUL_TAG_BITS if tag in HELPFUL_TAGS else NOT_HELPFUL_TAG_BITS


def tag_values(ratings: pd.DataFrame, tag: str, *, dtype: Any = np.float64, na_value: Any = 0.0) -> np.ndarray:
    """One tag's values per rating, from its column (missing values as ``na_value``) or from its
    bit in the packed field, without adding a column to ``ratings``.

    Examples
    --------
    >>> import pandas as pd
    >>> tag_values(pd.DataFrame({"notHelpfulTagBits": [0b10, 0b01]}), "notHelpfulIncorrect").tolist()
    [1.0, 0.0]
    >>> tag_values(pd.DataFrame({"notHelpfulIncorrect": [1.0, None]}), "notHelpfulIncorrect").tolist()
    [1.0, 0.0]
    """
    if tag in ratings.columns:
        return ratings[tag].to_numpy(dtype=dtype, na_value=na_value)
    return _unpacked_bit(ratings, tag).astype(dtype)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


class SchemaError(ValueError):
    """A frame does not have the columns or dtypes a stage requires."""


def equals_value(column: pd.Series, value: str) -> np.ndarray:
    """``column.astype(str) == value`` as a boolean array, missing values False, without a string a
    row: a categorical column (``ratingSourceBucketed``, ``helpfulnessLevel``) is compared by its
    codes (a 108M-rating slice's strings made ~3 GiB beside it).

    >>> equals_value(pd.Series(["a", None, "b"], dtype="category"), "a").tolist()
    [True, False, False]
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = [str(c) for c in column.cat.categories]
        hits = [i for i, name in enumerate(names) if name == value]
        codes = column.cat.codes.to_numpy()
        return np.isin(codes, hits) if len(hits) > 1 else (codes == hits[0] if hits else np.zeros(len(codes), bool))
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        return (column == value).to_numpy(dtype=bool, na_value=False)  # strings already: no copy
    return (column.astype(str) == value).to_numpy(dtype=bool)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, where: str) -> None:
    """Raise :class:`SchemaError` naming ``where`` if any column is missing."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{where}: missing column(s) {', '.join(missing)}")


def check_output_columns(frame: pd.DataFrame, expected: Sequence[str], *, where: str) -> None:
    """Raise :class:`SchemaError` unless ``frame`` has exactly ``expected`` columns in order."""
    got = list(frame.columns)
    if got != list(expected):
        extra = [c for c in got if c not in expected]
        missing = [c for c in expected if c not in got]
        raise SchemaError(
            f"{where}: columns differ from the official layout "
            f"(missing={missing}, extra={extra}, order_ok={not extra and not missing})"
        )


# ---------------------------------------------------------------------------
# Extra factor axes (k-factor research runs, ``ScoringConfig.n_factors``)
# ---------------------------------------------------------------------------
#: A factor column of axis ≥ 1: ``<stem>Factor<j>`` with an optional ``_<id>`` family suffix
#: (``coreNoteFactor2``, ``groupRaterFactor3_13``, ``internalNoteFactor2``). Pseudo-rater
#: columns (``internalNoteFactor1_max``) do not match: their suffix is not an id.
_FACTOR_COLUMN_RE = _re.compile(r"^(?P<stem>[A-Za-z]*(?:Note|Rater)Factor)(?P<axis>[1-9][0-9]*)"
                                r"(?P<suffix>_[A-Za-z0-9]+)?$")
_NOT_AN_ID = frozenset({"_max", "_min", "_median", "_refit_orig"})


def factor_axis_column(column: str, axis: int) -> str:
    """The axis-``axis`` sibling of a factor column (1-based): axes 2..k of a k-factor run are
    named like axis 1 with the axis number changed (``coreNoteFactor1`` → ``coreNoteFactor2``,
    ``groupNoteFactor1_13`` → ``groupNoteFactor2_13``).

    Examples
    --------
    >>> factor_axis_column("internalNoteFactor1", 2)
    'internalNoteFactor2'
    >>> factor_axis_column("groupRaterFactor1_13", 3)
    'groupRaterFactor3_13'
    """
    m = _FACTOR_COLUMN_RE.match(column)
    if m is None or (m.group("suffix") or "") in _NOT_AN_ID:
        raise ValueError(f"{column!r} is not a factor column (<stem>Factor<j>[_<id>])")
    return f"{m.group('stem')}{axis}{m.group('suffix') or ''}"


def factor_axis_columns(column: str, present: Iterable[str]) -> list[str]:
    """``column`` (axis 1) and its axes 2, 3, … that are in ``present``, stopping at the first
    missing axis: the factor vector of a k-factor run (just ``[column]`` when k = 1).

    Examples
    --------
    >>> factor_axis_columns("internalNoteFactor1", ["internalNoteFactor1", "internalNoteFactor2"])
    ['internalNoteFactor1', 'internalNoteFactor2']
    >>> factor_axis_columns("coreNoteFactor1", ["coreNoteFactor1"])
    ['coreNoteFactor1']
    """
    have = set(present)
    out = [column]
    j = 2
    while (c := factor_axis_column(column, j)) in have:
        out.append(c)
        j += 1
    return out


def is_extra_factor_column(column: str) -> bool:
    """Whether ``column`` is the factor of an axis ≥ 2 (absent from every official layout).

    Examples
    --------
    >>> is_extra_factor_column("coreNoteFactor2"), is_extra_factor_column("coreNoteFactor1")
    (True, False)
    >>> is_extra_factor_column("internalNoteFactor1_max")
    False
    """
    if not isinstance(column, str):
        return False
    m = _FACTOR_COLUMN_RE.match(column)
    return (m is not None and int(m.group("axis")) >= 2
            and (m.group("suffix") or "") not in _NOT_AN_ID)


def with_extra_factor_columns(columns: Iterable[str], present: Iterable[str]) -> list[str]:
    """An official column layout plus the axis-2..k factor columns of ``present`` (a frame's
    columns), each placed right after its axis-(j−1) column when that is in the layout, else at
    the end. With no extra axis (k = 1) the layout is returned unchanged, so k = 1 files keep the
    official layout byte for byte.

    Examples
    --------
    >>> with_extra_factor_columns(["noteId", "coreNoteFactor1", "coreRatingStatus"],
    ...                           ["coreNoteFactor2", "noteId"])
    ['noteId', 'coreNoteFactor1', 'coreNoteFactor2', 'coreRatingStatus']
    """
    out = list(columns)
    extra = sorted((c for c in present if is_extra_factor_column(c) and c not in out),
                   key=lambda c: int(_FACTOR_COLUMN_RE.match(c).group("axis")))
    for c in extra:
        m = _FACTOR_COLUMN_RE.match(c)
        prev = f"{m.group('stem')}{int(m.group('axis')) - 1}{m.group('suffix') or ''}"
        if prev in out:
            out.insert(out.index(prev) + 1, c)
        else:
            out.append(c)
    return out
