"""Column layouts of the four public input files (spec 04 §2.3–§2.6).

Each column has a *kind* that fixes how it is parsed and stored, whether it is
required, and what an absent optional column is filled with.  The table is
rendered in :mod:`cnlab.io`'s docstring; keep the two in sync.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnlab import schema as S

# kinds
INT64 = "int64"  # int64; nulls -> nullable Int64 (counted as a warning) unless non_null
INT8 = "int8"  # 0/1 flags -> Int8 (nullable)
FLOAT = "float64"
STR = "str"  # free text
PID = "pid"  # participant id -> joint int32 code (spec 04 §3)
ENUM = "enum"  # closed set: unknown value -> CnlabInputError
CAT = "category"  # open set of strings -> pandas category
TAG = "tag"  # 0/1 tag packed into a uint16 bit field


@dataclass(frozen=True)
class Col:
    name: str
    kind: str
    required: bool = False
    non_null: bool = False
    enum: tuple[str, ...] | None = None
    fill: object = None  # value for an absent optional column (None = missing/NA)


def _cols(*cols: Col) -> dict[str, Col]:
    return {c.name: c for c in cols}


NOTES = _cols(
    Col(S.NOTE_ID, INT64, required=True, non_null=True),
    Col(S.AUTHOR_ID, PID, required=True),
    Col(S.CREATED_AT, INT64, required=True, non_null=True),
    Col(S.TWEET_ID, INT64, fill=-1),
    Col(S.CLASSIFICATION, ENUM, required=True, enum=S.CLASSIFICATIONS),
    Col("believable", CAT),
    Col("harmful", CAT),
    Col("validationDifficulty", CAT),
    *[Col(n, INT8) for n in S.NOTES_FILE_COLUMNS[8:21]],
    Col(S.SUMMARY, STR),
    Col("isMediaNote", INT8, fill=0),
    Col("isCollaborativeNote", INT8, fill=0),
)

RATINGS = _cols(
    Col(S.NOTE_ID, INT64, required=True, non_null=True),
    Col(S.RATER_ID, PID, required=True),
    Col(S.CREATED_AT, INT64, required=True, non_null=True),
    Col("version", INT8),
    Col("agree", INT8),
    Col("disagree", INT8),
    Col("helpful", INT8, fill=0),
    Col("notHelpful", INT8, fill=0),
    Col(S.HELPFULNESS_LEVEL, ENUM, required=True, enum=S.HELPFULNESS_LEVELS),
    *[Col(t, TAG, fill=0) for t in S.ALL_TAGS],
    Col("ratedOnTweetId", INT64, fill=-1),
    Col(S.RATING_SOURCE, ENUM, enum=S.RATING_SOURCES, fill=S.SOURCE_DEFAULT),
    Col("suggestion", STR),
    Col("suggestionId", INT64),
)
#: rating columns the official reader drops right after reading (spec 04 §2.4)
RATINGS_DROPPED = ("suggestion", "suggestionId")
#: rating columns loaded by default (what scoring needs)
RATINGS_DEFAULT = (
    S.NOTE_ID,
    S.RATER_ID,
    S.CREATED_AT,
    "helpful",
    "notHelpful",
    S.HELPFULNESS_LEVEL,
    *S.ALL_TAGS,
    S.RATING_SOURCE,
)
#: extra rating columns that ``columns=`` may ask for
RATINGS_OPTIONAL = ("version", "agree", "disagree", "ratedOnTweetId")

_NSH_FLOAT = {
    "timestampMillisOfFirstNonNMRStatus",
    "timestampMillisOfCurrentStatus",
    "timestampMillisOfLatestNonNMRStatus",
    "timestampMillisOfStatusLock",
    "timestampMillisOfRetroLock",
    "currentModelingGroup",
    "timestampMillisOfMostRecentStatusChange",
    "timestampMillisOfNmrDueToMinStableCrhTime",
    "currentModelingMultiGroup",
    "timestampMinuteOfFinalScoringOutput",
    "timestampMillisOfFirstNmrDueToMinStableCrhTime",
    "abovePcrhThresholdTime",
}


def _nsh_col(name: str) -> Col:
    if name == S.NOTE_ID:
        return Col(name, INT64, required=True, non_null=True)
    if name == S.AUTHOR_ID:
        return Col(name, PID, required=True)
    if name == S.CREATED_AT:
        return Col(name, INT64, required=True, non_null=True)
    if name in _NSH_FLOAT:
        return Col(name, FLOAT)
    return Col(name, CAT)


STATUS_HISTORY = {n: _nsh_col(n) for n in S.NOTE_STATUS_HISTORY_COLUMNS}

ENROLLMENT = _cols(
    Col(S.PARTICIPANT_ID, PID, required=True),
    Col(S.ENROLLMENT_STATE, ENUM, required=True, enum=S.ENROLLMENT_STATES),
    Col("successfulRatingNeededToEarnIn", INT64),
    Col("timestampOfLastStateChange", INT64),
    Col("timestampOfLastEarnOut", FLOAT),
    Col(S.MODELING_POPULATION, CAT),
    Col(S.MODELING_GROUP, FLOAT),
    Col("numberOfTimesEarnedOut", INT64, fill=0),
)

LAYOUTS: dict[str, dict[str, Col]] = {
    "notes": NOTES,
    "ratings": RATINGS,
    "status_history": STATUS_HISTORY,
    "enrollment": ENROLLMENT,
}

#: field counts of the official positional layouts (used to recognise headerless files)
POSITIONAL = {
    "notes": {24: S.NOTES_FILE_COLUMNS},
    "ratings": {35: S.RATINGS_FILE_COLUMNS},
    "status_history": {
        24: S.NOTE_STATUS_HISTORY_COLUMNS,
        23: S.NOTE_STATUS_HISTORY_LEGACY_COLUMNS,
    },
    "enrollment": {8: S.ENROLLMENT_FILE_COLUMNS},
}

#: the public file name stems (``notes-00000.tsv`` ...): zip members are matched against them
FILE_STEMS = {
    "notes": "notes",
    "ratings": "ratings",
    "status_history": "noteStatusHistory",
    "enrollment": "userEnrollment",
}

#: which column holds participant ids in each file
PID_COLUMN = {
    "notes": S.AUTHOR_ID,
    "ratings": S.RATER_ID,
    "status_history": S.AUTHOR_ID,
    "enrollment": S.PARTICIPANT_ID,
}
