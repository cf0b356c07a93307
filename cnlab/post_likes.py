"""The "posts liked by people with different perspectives" pilot (spec 07 B).

A standalone pilot next to note scoring (official ``liked-by-different-perspectives/``;
public page "Posts liked by people with different perspectives"): a small set of
Community Notes contributors see a callout on posts and rate them with like / dislike
tags.  A post's callout becomes *active* ("liked by people from different
perspectives") when it "has been seen by numerous people, has positive ratings, and no
negative ratings" — made precise below.  The official code is not run by the note
scorer; neither is this module.

Steps
-----
1. **Rater factor** (B.2, :func:`infer_rater_factors`).  For every admitted pilot user
   *u*, over the user's Community Notes ratings on *eligible* notes *E_u* (misleading
   classification, no topic, decided by the Core / Expansion / ExpansionPlus model):

   .. math::

       f_u = \\frac{1}{|E_u|} \\sum_{n \\in E_u} s_{un}\\, f_n,\\qquad
       s_{un} = \\begin{cases} -1 & \\text{rating NOT\\_HELPFUL} \\\\ +1 & \\text{otherwise}\\end{cases}

   with *f_n* = ``coreNoteFactor1`` (NaN values skipped).  If every *f_n* is NaN the
   user's ``coreRaterFactor1`` from ``helpfulness_scores`` is used instead; users
   without any rating on an eligible note get no factor.
2. **Buckets** (B.3, :func:`factor_buckets`), with split *s* = 0.15:
   L if *f* < −s, M if −s ≤ *f* < s, R if *f* ≥ s; no factor → ``"None"``.
3. **Counting** (B.3, :func:`count_posts`).  A post rating is *positive* when it has
   like tags and no dislike tags, *negative* when it has dislike tags.  Per post:
   L⁺, M⁺, R⁺, L⁻, M⁻, R⁻ (ratings) and ℓ_L, ℓ_M, ℓ_R (lingers: admitted
   impressions, de-duplicated per (post, user, boost, eligibility), from users with a
   factor), and

   .. math::

       \\mathrm{minPos} = \\min(L^+, R^+),\\ \\mathrm{maxPos} = \\max(L^+, R^+),\\
       \\mathrm{maxNeg} = \\max(L^-, R^-),\\ \\mathrm{minLingers} = \\min(\\ell_L, \\ell_R),\\
       \\mathrm{totalPos} = L^+ + M^+ + R^+ .

4. **Activation** (B.4, :func:`activate`).  Pool
   *P* = {posts with minLingers > 29, maxNeg = 0, eligibleForActiveState = 1};

   .. math::

       c_{tot} = \\max(1, Q_{0.7}\\{\\mathrm{totalPos}_p\\}_{p\\in P}),\\quad
       c_{min} = \\max(1, Q_{0.7}\\{\\mathrm{minPos}_p\\}_{p\\in P}),\\\\
       \\mathrm{active}_p = [p \\in P] \\wedge (\\mathrm{totalPos}_p \\ge c_{tot} \\vee \\mathrm{minPos}_p \\ge c_{min})

   (*Q* = pandas' linear-interpolation quantile; an empty pool gives cut-offs 1).

:func:`score_posts` runs 2–4 on given rater factors and returns a
:class:`PostLikesResult` whose ``posts`` frame has the official persisted columns
(``constants.postDataColumns``); :func:`score_pilot` is the official composition
(1 then 2–4).  :func:`rater_factors_from_result` takes the note side from a
:func:`cnlab.score` result, :func:`rater_factors_from_helpfulness` uses only the public
``helpfulness_scores`` (``coreRaterFactor1``).

Participant ids (``userId`` / ``raterParticipantId``) may be of any orderable dtype
(int codes, int64 user ids, strings); when one frame has strings and another numbers,
both are compared as strings (the official code joins ``helpfulness_scores`` on the
string form of the user id).

Differences from the official code (on purpose): a bucket that never occurs gives a
zero column instead of a ``KeyError``; bad input (duplicate (user, post) ratings,
duplicate factors, missing ids) raises :class:`~cnlab.errors.CnlabInputError` instead of
an ``assert``; ties of the largest ``boostId`` of a post keep input order (the official
``sort_values`` is not stable).  No official output of this pilot exists in
``../shared/fixtures``, so it is tested by hand-computed cases, properties and
recovery on synthetic likes (:func:`cnlab.synthetic.generate_post_likes`), not parity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab.errors import CnlabInputError

__all__ = [
    "PostLikesConfig",
    "PostLikesResult",
    "POST_DATA_COLUMNS",
    "POST_RATING_COLUMNS",
    "BUCKETS",
    "infer_rater_factors",
    "rater_factors_from_helpfulness",
    "rater_factors_from_result",
    "factor_buckets",
    "rating_polarity",
    "count_posts",
    "activation_cutoffs",
    "activate",
    "score_posts",
    "score_pilot",
]

# ---------------------------------------------------------------------------
# Names (official ``liked-by-different-perspectives/constants.py``)
# ---------------------------------------------------------------------------
USER_ID = "userId"
POST_ID = "postId"
ACTION_TWEET_ID = "actionTweetId"
BOOST_ID = "boostId"
LIKE_TAGS = "likeTags"
DISLIKE_TAGS = "dislikeTags"
IS_ADMITTED = "isAdmitted"
ELIGIBLE = "eligibleForActiveState"
FINAL_FACTOR = "finalFactor"
SCORED_AT = "scoredAtMillis"
CORE_RATER_FACTOR = "coreRaterFactor1"
CORE_NOTE_FACTOR = "coreNoteFactor1"

POST_RATING_COLUMNS: tuple[str, ...] = (
    BOOST_ID, USER_ID, "createdAt", "negativeTimestamp", "contributorType", LIKE_TAGS, DISLIKE_TAGS,
    POST_ID, "updatedAt",
)
"""Columns of a post-ratings frame (``constants.ratingColumnsAndTypes``); only userId, postId,
likeTags and dislikeTags are read."""

POST_DATA_COLUMNS: tuple[str, ...] = (
    ACTION_TWEET_ID, "L_pos", "M_pos", "R_pos", "L_neg", "M_neg", "R_neg", "linger_L", "linger_M",
    "linger_R", BOOST_ID, ELIGIBLE, "minPos", "maxPos", "maxNeg", "minLingers", "totalPos", "active",
    SCORED_AT,
)
"""The persisted per-post schema (``constants.postDataColumns``); ``scoredAtMillis`` is set
by the caller (here: only when ``scored_at_millis`` is given)."""

BUCKETS: tuple[str, ...] = ("L", "M", "R")
"""Rater-factor buckets; raters without a factor fall in ``NO_BUCKET``."""
NO_BUCKET = "None"

_COUNT_COLUMNS = tuple(f"{b}_pos" for b in BUCKETS) + tuple(f"{b}_neg" for b in BUCKETS) + tuple(
    f"linger_{b}" for b in BUCKETS)


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PostLikesConfig:
    """Constants of the pilot (official ``score_posts.py``; spec 07 B)."""

    factor_split_point: float = 0.15
    """``FACTOR_SPLIT_POINT``: L if f < −split, M if −split ≤ f < split, R if f ≥ split (B.3)."""
    min_lingers: int = 29
    """``MIN_LINGERS``: a pooled post needs minLingers **>** this (≥ 30 lingers per side, B.4)."""
    quantile_threshold: float = 0.7
    """``QUANTILE_THRESHOLD``: quantile of totalPos / minPos over the pool used as cut-offs (B.4)."""
    min_cutoff: float = 1.0
    """The literal ``1`` in ``max([1, quantile])``: floor of both cut-offs (B.4)."""
    factor_deciders: tuple[str, ...] = ("CoreModel (v1.1)", "ExpansionModel (v1.1)", "ExpansionPlusModel (v1.1)")
    """``decidedBy`` values of notes whose factor is used to infer rater factors (B.2)."""
    factor_classification: str = S.MISLEADING
    """``notesSaysTweetIsMisleadingKey``: only misleading notes are eligible (B.2)."""
    empty_tags: tuple[str, ...] = ("[]", "['NOT_APPLICABLE']")
    """String forms of a like/dislike tag list that count as "no tags" (B.3)."""
    missing_tags_are_empty: bool = False
    """Official: a missing tag value is *not* in ``empty_tags`` and so counts as tags present
    (a missing dislikeTags makes the rating negative).  True treats missing as empty."""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _require(frame: pd.DataFrame, cols, where: str) -> None:
    S.require_columns(frame, cols, where=f"post likes: {where}")


def _is_text(ser: pd.Series) -> bool:
    return bool(pd.api.types.is_string_dtype(ser.dtype) or ser.dtype == object)


def _align_ids(left: pd.Series, right: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Make two id columns joinable: strings vs numbers → both as ``str`` (official:
    ``userId.astype(str)`` against the string ``raterParticipantId``)."""
    lt, rt = _is_text(left), _is_text(right)
    if lt == rt:
        if not lt and left.dtype != right.dtype:
            # numeric of different widths (int32 codes vs int64 ids, nullable Int64): compare as
            # Int64 (exact for snowflake-size ids), as float64 only if one side is float
            kind = "float64" if "f" in (left.dtype.kind, right.dtype.kind) else "Int64"
            return left.astype(kind), right.astype(kind)
        return left, right
    return left.astype("str"), right.astype("str")


def _no_missing(ser: pd.Series, where: str) -> None:
    if ser.isna().any():
        pos = int(np.flatnonzero(ser.isna().to_numpy())[0])
        raise CnlabInputError(f"post likes: {where}: {int(ser.isna().sum())} missing value(s) "
                              f"(first at row {pos})", column=ser.name)


def _nullable_int(values: pd.Series, source_dtype) -> pd.Series:
    """``values`` (after a left join that may add missing rows) as nullable ``Int64`` when the
    source column was integer or boolean, else unchanged."""
    if pd.api.types.is_bool_dtype(source_dtype) or pd.api.types.is_integer_dtype(source_dtype):
        num = pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce")
        return num.astype("Int64")
    return values


def _tags_present(values: pd.Series, config: PostLikesConfig) -> np.ndarray:
    """True where a like/dislike tag value is not one of ``config.empty_tags``.

    Strings are compared literally (``"[]"``, ``"['NOT_APPLICABLE']"``); list-like values
    (lists, tuples, arrays from parquet) by the string form of their elements' list;
    missing values count as tags present unless ``config.missing_tags_are_empty``.
    """
    empty = set(config.empty_tags)
    missing = values.isna().to_numpy()
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        is_empty = values.isin(list(empty)).to_numpy()
    else:
        def one(v) -> bool:
            if isinstance(v, str):
                return v in empty
            if isinstance(v, (list, tuple, np.ndarray)):
                return str([str(e) for e in v]) in empty
            return False
        is_empty = np.fromiter((one(v) for v in values.to_numpy(dtype=object)), dtype=bool, count=len(values))
    if config.missing_tags_are_empty:
        is_empty = is_empty | missing
    else:
        is_empty = is_empty & ~missing
    return ~is_empty


# ---------------------------------------------------------------------------
# B.2 Rater factors
# ---------------------------------------------------------------------------
def _admitted_ids(users: pd.DataFrame | None) -> pd.Series | None:
    if users is None:
        return None
    _require(users, [USER_ID, IS_ADMITTED], "users")
    ids = users.loc[(users[IS_ADMITTED] == True).to_numpy(dtype=bool), USER_ID]  # noqa: E712 (official test)
    return ids.drop_duplicates()


def infer_rater_factors(
    users: pd.DataFrame | None,
    note_ratings: pd.DataFrame,
    scored_notes: pd.DataFrame,
    rater_model_output: pd.DataFrame | None = None,
    *,
    config: PostLikesConfig = PostLikesConfig(),
    details: bool = False,
) -> pd.DataFrame:
    """Each admitted user's factor from their note ratings (spec 07 B.2, ``infer_rater_factors``).

    .. math::

        f_u = \\operatorname{mean}_{n \\in E_u}\\, s_{un} f_n, \\qquad
        s_{un} = -1 \\text{ if NOT\\_HELPFUL else } +1,

    over the user's ratings with a helpfulnessLevel on eligible notes (classification
    MISINFORMED_OR_POTENTIALLY_MISLEADING, ``noteTopic`` missing, ``decidedBy`` in
    ``config.factor_deciders``), *f_n* = ``coreNoteFactor1`` (NaN skipped;
    SOMEWHAT_HELPFUL counts +1).  ``finalFactor`` = that mean, or the user's
    ``coreRaterFactor1`` when the mean is NaN (all eligible notes lack a core factor).
    Users with no rating on an eligible note get no row.

    Parameters
    ----------
    users
        userId, isAdmitted (``== True`` admits).  ``None``: every rater is admitted
        (the public data has no pilot membership).
    note_ratings
        noteId, raterParticipantId, helpfulnessLevel (other columns ignored).
    scored_notes
        noteId, classification, decidedBy, coreNoteFactor1, and noteTopic (absent ⇒ no
        note has a topic).  noteId must be unique.
    rater_model_output
        raterParticipantId, coreRaterFactor1 (``helpfulness_scores``), for the fallback;
        ``None`` disables it.
    details
        Add ``numRatings`` (eligible ratings), ``numWithNoteFactor`` (of which with a
        non-NaN note factor) and ``factorSource`` (``"notes"``, ``"coreRaterFactor1"`` or
        missing).

    Returns
    -------
    DataFrame
        userId (the raters' id values), finalFactor (float64), one row per user, sorted
        by userId.

    Examples
    --------
    >>> r = pd.DataFrame({"noteId": [1, 1, 2], "raterParticipantId": ["a", "b", "a"],
    ...                   "helpfulnessLevel": ["HELPFUL", "NOT_HELPFUL", "SOMEWHAT_HELPFUL"]})
    >>> n = pd.DataFrame({"noteId": [1, 2], "classification": [S.MISLEADING] * 2,
    ...                   "decidedBy": ["CoreModel (v1.1)"] * 2, "coreNoteFactor1": [0.4, -0.2],
    ...                   "noteTopic": [None, None]})
    >>> infer_rater_factors(None, r, n).to_dict("list")
    {'userId': ['a', 'b'], 'finalFactor': [0.1, -0.4]}
    """
    _require(note_ratings, [S.NOTE_ID, S.RATER_ID, S.HELPFULNESS_LEVEL], "note ratings")
    _require(scored_notes, [S.NOTE_ID, S.CLASSIFICATION, "decidedBy", CORE_NOTE_FACTOR], "scored notes")
    r = note_ratings[[S.NOTE_ID, S.RATER_ID, S.HELPFULNESS_LEVEL]]
    admitted = _admitted_ids(users)
    if admitted is not None:
        rid, aid = _align_ids(r[S.RATER_ID], admitted)
        r = r[rid.isin(aid).to_numpy()]
    r = r[r[S.HELPFULNESS_LEVEL].notna().to_numpy()]

    sn = scored_notes
    if sn[S.NOTE_ID].duplicated().any():
        raise CnlabInputError("post likes: scored notes have duplicate noteId rows", column=S.NOTE_ID)
    topic_missing = sn["noteTopic"].isna() if "noteTopic" in sn.columns else pd.Series(True, index=sn.index)
    eligible = ((sn[S.CLASSIFICATION].astype(object) == config.factor_classification)
                & topic_missing & sn["decidedBy"].astype(object).isin(list(config.factor_deciders)))
    factors = sn.loc[eligible.to_numpy(dtype=bool), [S.NOTE_ID, CORE_NOTE_FACTOR]]
    m = r.merge(factors, on=S.NOTE_ID, how="inner")
    f = m[CORE_NOTE_FACTOR].to_numpy(dtype=np.float64, na_value=np.nan)
    sign = np.where(m[S.HELPFULNESS_LEVEL].astype(object).to_numpy() == S.NOT_HELPFUL, -1.0, 1.0)
    per = pd.DataFrame({USER_ID: m[S.RATER_ID].reset_index(drop=True), "signCorrectedFactor": sign * f})
    g = per.groupby(USER_ID, sort=True)["signCorrectedFactor"]
    out = pd.DataFrame({"mean": g.mean(), "numRatings": g.size(), "numWithNoteFactor": g.count()})
    out.index.name = USER_ID
    out = out.reset_index()

    fallback = pd.Series(np.nan, index=out.index)
    if rater_model_output is not None:
        _require(rater_model_output, [S.RATER_ID, CORE_RATER_FACTOR], "rater model output")
        hs = rater_model_output[[S.RATER_ID, CORE_RATER_FACTOR]]
        if hs[S.RATER_ID].duplicated().any():
            raise CnlabInputError("post likes: rater model output has duplicate raterParticipantId rows",
                                  column=S.RATER_ID)
        uid, hid = _align_ids(out[USER_ID], hs[S.RATER_ID])
        lookup = pd.Series(hs[CORE_RATER_FACTOR].to_numpy(dtype=np.float64, na_value=np.nan), index=hid.to_numpy())
        lookup = lookup[lookup.index.notna()]
        fallback = pd.Series(lookup.reindex(uid.to_numpy()).to_numpy(), index=out.index)
    mean = out["mean"].astype("float64")
    final = mean.where(mean.notna(), fallback)
    res = pd.DataFrame({USER_ID: out[USER_ID], FINAL_FACTOR: final.astype("float64")})
    if details:
        res["numRatings"] = out["numRatings"].astype("int64")
        res["numWithNoteFactor"] = out["numWithNoteFactor"].astype("int64")
        src = np.where(mean.notna(), "notes", np.where(final.notna(), CORE_RATER_FACTOR, None))
        res["factorSource"] = pd.Series(src, index=res.index, dtype="str")
    return res.reset_index(drop=True)


def rater_factors_from_helpfulness(helpfulness_scores: pd.DataFrame) -> pd.DataFrame:
    """userId, finalFactor = ``coreRaterFactor1`` of the public ``helpfulness_scores``.

    A shortcut when no note ratings are at hand: the Core rater factor instead of the
    pilot's mean sign-corrected note factor (the official code uses it only as a
    fallback, B.2).  Raters with a missing factor are left out (they would bucket as
    ``"None"`` either way).
    """
    _require(helpfulness_scores, [S.RATER_ID, CORE_RATER_FACTOR], "helpfulness scores")
    hs = helpfulness_scores[[S.RATER_ID, CORE_RATER_FACTOR]]
    hs = hs[hs[CORE_RATER_FACTOR].notna().to_numpy() & hs[S.RATER_ID].notna().to_numpy()]
    if hs[S.RATER_ID].duplicated().any():
        raise CnlabInputError("post likes: helpfulness scores have duplicate raterParticipantId rows",
                              column=S.RATER_ID)
    out = pd.DataFrame({USER_ID: hs[S.RATER_ID].to_numpy(),
                        FINAL_FACTOR: hs[CORE_RATER_FACTOR].to_numpy(dtype=np.float64)})
    return out.sort_values(USER_ID, kind="stable").reset_index(drop=True)


def rater_factors_from_result(
    result,
    users: pd.DataFrame | None = None,
    *,
    ratings: pd.DataFrame | None = None,
    restore_ids: bool = True,
    config: PostLikesConfig = PostLikesConfig(),
    details: bool = False,
) -> pd.DataFrame:
    """:func:`infer_rater_factors` on a :func:`cnlab.score` result.

    Note ratings = ``ratings`` or ``result.preprocessed.ratings``; scored notes and the
    fallback ``coreRaterFactor1`` from ``result.frames``.  With ``restore_ids`` (and a
    result that knows its participants) the participant codes are mapped back to the
    original id strings first, so ``userId`` matches ids in ``users`` and in post
    frames keyed by public participant ids.
    """
    from cnlab.io import restore_ids as _restore

    r = result.preprocessed.ratings if ratings is None else ratings
    if r is None:  # a lean result (score(keep="outputs"), as `cnlab score` runs) released them
        raise CnlabInputError(
            "this ScoringResult holds no ratings (it was scored with keep='outputs'): pass "
            "ratings=dataset.ratings, or score with keep='all'")
    r = r[[S.NOTE_ID, S.RATER_ID, S.HELPFULNESS_LEVEL]]
    sn = result.frames["scored_notes"]
    hs = result.frames["helpfulness_scores"][[S.RATER_ID, CORE_RATER_FACTOR]]
    parts = getattr(result, "participants", None)
    if restore_ids and parts is not None:
        if pd.api.types.is_integer_dtype(r[S.RATER_ID].dtype):
            r = _restore(r, parts, [S.RATER_ID])
        if pd.api.types.is_integer_dtype(hs[S.RATER_ID].dtype):
            hs = _restore(hs, parts, [S.RATER_ID])
        hs = hs[hs[S.RATER_ID].notna().to_numpy()]
    return infer_rater_factors(users, r, sn, hs, config=config, details=details)


# ---------------------------------------------------------------------------
# B.3 Counting
# ---------------------------------------------------------------------------
def factor_buckets(factors, *, split: float = PostLikesConfig.factor_split_point) -> np.ndarray:
    """Bucket of each factor (spec 07 B.3): ``"L"`` if f < −split, ``"M"`` if
    −split ≤ f < split, ``"R"`` if f ≥ split, ``"None"`` if missing.

    Examples
    --------
    >>> factor_buckets([-0.2, -0.15, 0.149, 0.15, np.nan]).tolist()
    ['L', 'M', 'M', 'R', 'None']
    """
    f = pd.to_numeric(pd.Series(factors), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.select([f < -split, (f >= -split) & (f < split), f >= split], list(BUCKETS),
                     default=NO_BUCKET).astype(object)


def rating_polarity(post_ratings: pd.DataFrame, *, config: PostLikesConfig = PostLikesConfig()
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) masks of post ratings (spec 07 B.3).

    positive = like tags present ∧ no dislike tags; negative = dislike tags present
    ("present" = not ``"[]"`` / ``"['NOT_APPLICABLE']"``, see ``PostLikesConfig``).  A
    rating with neither is neutral and counted nowhere.

    Examples
    --------
    >>> pr = pd.DataFrame({"likeTags": ["['A']", "['A']", "[]", "['NOT_APPLICABLE']"],
    ...                    "dislikeTags": ["[]", "['B']", "['B']", "['NOT_APPLICABLE']"]})
    >>> [m.tolist() for m in rating_polarity(pr)]
    [[True, False, False, False], [False, True, True, False]]
    """
    _require(post_ratings, [LIKE_TAGS, DISLIKE_TAGS], "post ratings")
    like = _tags_present(post_ratings[LIKE_TAGS], config)
    dislike = _tags_present(post_ratings[DISLIKE_TAGS], config)
    return like & ~dislike, dislike


def _factor_lookup(ids: pd.Series, rater_factors: pd.DataFrame) -> np.ndarray:
    """finalFactor of each id (NaN when absent)."""
    fid, rid = _align_ids(ids, rater_factors[USER_ID])
    table = pd.Series(rater_factors[FINAL_FACTOR].to_numpy(dtype=np.float64, na_value=np.nan), index=rid.to_numpy())
    return table.reindex(fid.to_numpy()).to_numpy(dtype=np.float64, na_value=np.nan)


def _check_factors(rater_factors: pd.DataFrame) -> None:
    _require(rater_factors, [USER_ID, FINAL_FACTOR], "rater factors")
    _no_missing(rater_factors[USER_ID], "rater factors")
    if rater_factors[USER_ID].duplicated().any():
        raise CnlabInputError("post likes: nonunique rater factors (duplicate userId)", column=USER_ID)


def _bucket_table(post, bucket, prefix: str = "", suffix: str = "") -> pd.DataFrame:
    """Counts per (post, bucket) as a wide frame: one column per bucket present."""
    if len(post) == 0:
        return pd.DataFrame(index=pd.Index(np.asarray(post)[:0], name=ACTION_TWEET_ID))
    t = pd.DataFrame({ACTION_TWEET_ID: post, "bucket": bucket}).groupby(
        [ACTION_TWEET_ID, "bucket"], sort=True).size().unstack("bucket", fill_value=0)
    t.columns = [f"{prefix}{c}{suffix}" for c in t.columns]
    t.columns.name = None
    return t


def count_posts(
    post_ratings: pd.DataFrame,
    post_actions: pd.DataFrame,
    rater_factors: pd.DataFrame,
    *,
    config: PostLikesConfig = PostLikesConfig(),
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-post bucket counts and their summaries (spec 07 B.3).

    Parameters
    ----------
    post_ratings
        userId, postId, likeTags, dislikeTags (``POST_RATING_COLUMNS``; others ignored);
        at most one row per (userId, postId).
    post_actions
        Lingers: actionTweetId, userId, boostId, eligibleForActiveState, isAdmitted
        (absent ⇒ every row admitted).
    rater_factors
        userId, finalFactor (:func:`infer_rater_factors`); unique userId.

    Returns
    -------
    (counts, tallies)
        ``counts``: one row per post with a positive or negative rating or a linger from a
        user with a factor, sorted by actionTweetId, columns actionTweetId, L/M/R ``_pos``,
        ``_neg``, ``linger_*``, None_pos, None_neg (ratings of users without a factor),
        boostId and eligibleForActiveState (of the factored linger row with the largest
        boostId; missing when the post has none), minPos, maxPos, maxNeg, minLingers,
        totalPos.  ``tallies``: row counts of every filtering step.
    """
    _require(post_ratings, [USER_ID, POST_ID, LIKE_TAGS, DISLIKE_TAGS], "post ratings")
    _require(post_actions, [ACTION_TWEET_ID, USER_ID, BOOST_ID, ELIGIBLE], "post actions")
    _check_factors(rater_factors)
    for frame, cols, where in ((post_ratings, (USER_ID, POST_ID), "post ratings"),
                               (post_actions, (USER_ID, ACTION_TWEET_ID), "post actions")):
        for c in cols:
            _no_missing(frame[c], where)
    dup = post_ratings.duplicated([USER_ID, POST_ID])
    if dup.any():
        first = post_ratings[dup.to_numpy()].iloc[0]
        raise CnlabInputError(f"post likes: multiple ratings per user-post ({int(dup.sum())} duplicate row(s); "
                              f"first userId={first[USER_ID]!r}, postId={first[POST_ID]!r})", column=POST_ID)

    # ratings: polarity and bucket of the rater
    pos, neg = rating_polarity(post_ratings, config=config)
    r_bucket = factor_buckets(_factor_lookup(post_ratings[USER_ID], rater_factors),
                              split=config.factor_split_point)
    posts = post_ratings[POST_ID].to_numpy()
    pos_t = _bucket_table(posts[pos], r_bucket[pos], suffix="_pos")
    neg_t = _bucket_table(posts[neg], r_bucket[neg], suffix="_neg")

    # lingers: admitted, de-duplicated, with a factor
    a = post_actions
    n_actions = len(a)
    if IS_ADMITTED in a.columns:
        a = a[(a[IS_ADMITTED] == True).to_numpy(dtype=bool)]  # noqa: E712 (official test)
    n_admitted = len(a)
    a = a[[ACTION_TWEET_ID, USER_ID, BOOST_ID, ELIGIBLE]].drop_duplicates()
    n_dedup = len(a)
    lf = _factor_lookup(a[USER_ID], rater_factors)
    keep = ~np.isnan(lf)
    a = a[keep]
    l_bucket = factor_buckets(lf[keep], split=config.factor_split_point)
    lin_t = _bucket_table(a[ACTION_TWEET_ID].to_numpy(), l_bucket, prefix="linger_")

    # eligibility: the linger row with the largest boostId (ties: first in input order)
    elig = (a[[ACTION_TWEET_ID, BOOST_ID, ELIGIBLE]]
            .sort_values(BOOST_ID, ascending=False, kind="stable", na_position="last")
            .drop_duplicates(ACTION_TWEET_ID, keep="first").set_index(ACTION_TWEET_ID))

    counts = pos_t.join(neg_t, how="outer").join(lin_t, how="outer")
    for c in _COUNT_COLUMNS + (f"{NO_BUCKET}_pos", f"{NO_BUCKET}_neg"):
        if c not in counts.columns:
            counts[c] = 0
    counts = counts[list(_COUNT_COLUMNS) + [f"{NO_BUCKET}_pos", f"{NO_BUCKET}_neg"]].fillna(0).astype("int64")
    counts = counts.sort_index(kind="stable")
    counts.index.name = ACTION_TWEET_ID
    e = elig.reindex(counts.index)
    counts[BOOST_ID] = _nullable_int(e[BOOST_ID], a[BOOST_ID].dtype).array
    counts[ELIGIBLE] = _nullable_int(e[ELIGIBLE], a[ELIGIBLE].dtype).array
    counts = counts.reset_index()
    counts["minPos"] = np.minimum(counts["L_pos"], counts["R_pos"])
    counts["maxPos"] = np.maximum(counts["L_pos"], counts["R_pos"])
    counts["maxNeg"] = np.maximum(counts["L_neg"], counts["R_neg"])
    counts["minLingers"] = np.minimum(counts["linger_L"], counts["linger_R"])
    counts["totalPos"] = counts["L_pos"] + counts["M_pos"] + counts["R_pos"]

    tallies = {
        "post_ratings": len(post_ratings),
        "positive_ratings": int(pos.sum()),
        "negative_ratings": int(neg.sum()),
        "neutral_ratings": int((~pos & ~neg).sum()),
        "ratings_without_factor": int(((pos | neg) & (r_bucket == NO_BUCKET)).sum()),
        "post_actions": n_actions,
        "actions_not_admitted": n_actions - n_admitted,
        "actions_duplicate": n_admitted - n_dedup,
        "lingers_without_factor": int((~keep).sum()),
        "lingers": int(keep.sum()),
        "posts": len(counts),
    }
    return counts, tallies


# ---------------------------------------------------------------------------
# B.4 Activation
# ---------------------------------------------------------------------------
def _pool(counts: pd.DataFrame, config: PostLikesConfig) -> np.ndarray:
    elig = pd.to_numeric(counts[ELIGIBLE].astype(object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return ((counts["minLingers"].to_numpy() > config.min_lingers)
            & (counts["maxNeg"].to_numpy() == 0) & (elig == 1))


def _cutoff(values: pd.Series, config: PostLikesConfig) -> float:
    q = float(values.astype("float64").quantile(config.quantile_threshold)) if len(values) else float("nan")
    # official max([1, q]): q wins only when strictly larger (NaN never is)
    return q if q > config.min_cutoff else float(config.min_cutoff)


def activation_cutoffs(counts: pd.DataFrame, *, config: PostLikesConfig = PostLikesConfig()
                       ) -> tuple[np.ndarray, float, float]:
    """(pool mask, totalPos cut-off, minPos cut-off) of spec 07 B.4.

    pool = minLingers > 29 ∧ maxNeg = 0 ∧ eligibleForActiveState = 1;
    c_tot = max(1, Q₀.₇(totalPos over the pool)), c_min = max(1, Q₀.₇(minPos over the pool)),
    Q = linear interpolation; an empty pool gives 1 and 1.

    Examples
    --------
    >>> c = pd.DataFrame({"minLingers": [30, 30, 30, 29], "maxNeg": [0, 0, 0, 0],
    ...                   "eligibleForActiveState": [1, 1, 1, 1],
    ...                   "totalPos": [2, 4, 10, 50], "minPos": [0, 1, 3, 20]})
    >>> pool, c_tot, c_min = activation_cutoffs(c)
    >>> pool.tolist(), round(c_tot, 6), round(c_min, 6)
    ([True, True, True, False], 6.4, 1.8)
    """
    _require(counts, ["minLingers", "maxNeg", ELIGIBLE, "totalPos", "minPos"], "activation")
    pool = _pool(counts, config)
    c_tot = _cutoff(counts.loc[pool, "totalPos"], config)
    c_min = _cutoff(counts.loc[pool, "minPos"], config)
    return pool, c_tot, c_min


def activate(counts: pd.DataFrame, *, config: PostLikesConfig = PostLikesConfig()
             ) -> tuple[np.ndarray, float, float, np.ndarray]:
    """active = pool ∧ (totalPos ≥ c_tot ∨ minPos ≥ c_min) (spec 07 B.4).

    Returns (active mask, c_tot, c_min, pool mask).
    """
    pool, c_tot, c_min = activation_cutoffs(counts, config=config)
    active = pool & ((counts["totalPos"].to_numpy() >= c_tot) | (counts["minPos"].to_numpy() >= c_min))
    return active, c_tot, c_min, pool


# ---------------------------------------------------------------------------
# Result and entry points
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PostLikesResult:
    """Outcome of :func:`score_posts`.

    Attributes
    ----------
    posts
        One row per post, official persisted columns (``POST_DATA_COLUMNS``; with
        ``scoredAtMillis`` only when it was given), sorted by actionTweetId.
    rater_factors
        The userId, finalFactor frame used (plus a ``bucket`` column).
    pool
        Boolean mask (aligned with ``posts``): minLingers > 29, maxNeg = 0, eligible.
    total_pos_cutoff, min_pos_cutoff
        The two activation cut-offs.
    unbucketed
        actionTweetId, None_pos, None_neg: positive / negative ratings from users
        without a factor (ignored by the rules; the official frame carries them as
        extra columns when present).
    tallies
        Row counts of every step (ratings in, positive, negative, neutral, without a
        factor; actions in, not admitted, duplicate, without a factor; posts).
    config
        The :class:`PostLikesConfig`.
    """

    posts: pd.DataFrame
    rater_factors: pd.DataFrame
    pool: np.ndarray
    total_pos_cutoff: float
    min_pos_cutoff: float
    unbucketed: pd.DataFrame
    tallies: Mapping[str, int] = field(default_factory=dict)
    config: PostLikesConfig = PostLikesConfig()

    def __post_init__(self):
        object.__setattr__(self, "tallies", MappingProxyType(dict(self.tallies)))

    @property
    def n_active(self) -> int:
        return int(self.posts["active"].sum())

    @property
    def active_posts(self) -> np.ndarray:
        """actionTweetId of the active posts."""
        return self.posts.loc[self.posts["active"].to_numpy(), ACTION_TWEET_ID].to_numpy()

    def summary(self) -> str:
        """A few lines: posts, pool, active, cut-offs, buckets, row counts."""
        t = self.tallies
        b = pd.Series(self.rater_factors["bucket"]).value_counts() if "bucket" in self.rater_factors else {}
        cfg = self.config
        return "\n".join([
            f"PostLikesResult: {len(self.posts):,} posts, {int(self.pool.sum()):,} in the pool "
            f"(minLingers > {cfg.min_lingers}, no L/R dislike, eligible), {self.n_active:,} active",
            f"  cut-offs: totalPos ≥ {self.total_pos_cutoff:g} or minPos ≥ {self.min_pos_cutoff:g} "
            f"(max({cfg.min_cutoff:g}, {cfg.quantile_threshold:g}-quantile over the pool))",
            f"  rater factors: {len(self.rater_factors):,} (L {int(b.get('L', 0)):,} / M {int(b.get('M', 0)):,} / "
            f"R {int(b.get('R', 0)):,} / none {int(b.get(NO_BUCKET, 0)):,}; split ±{cfg.factor_split_point:g})",
            f"  post ratings: {t.get('post_ratings', 0):,} ({t.get('positive_ratings', 0):,} positive, "
            f"{t.get('negative_ratings', 0):,} negative, {t.get('neutral_ratings', 0):,} neutral; "
            f"{t.get('ratings_without_factor', 0):,} positive/negative without a factor)",
            f"  lingers: {t.get('post_actions', 0):,} actions, {t.get('actions_not_admitted', 0):,} not admitted, "
            f"{t.get('actions_duplicate', 0):,} duplicate, {t.get('lingers_without_factor', 0):,} without a "
            f"factor → {t.get('lingers', 0):,} counted",
        ])

    def __repr__(self) -> str:
        return (f"PostLikesResult(posts={len(self.posts):,}, pool={int(self.pool.sum()):,}, "
                f"active={self.n_active:,}, cutoffs=({self.total_pos_cutoff:g}, {self.min_pos_cutoff:g}))")


def score_posts(
    post_ratings: pd.DataFrame,
    post_actions: pd.DataFrame,
    rater_factors: pd.DataFrame,
    *,
    config: PostLikesConfig = PostLikesConfig(),
    scored_at_millis: int | None = None,
) -> PostLikesResult:
    """Count, pool and activate posts from given rater factors (spec 07 B.3–B.5).

    ``active_p = [p ∈ pool] ∧ (totalPos_p ≥ c_tot ∨ minPos_p ≥ c_min)`` with the pool and
    cut-offs of :func:`activation_cutoffs`; counts as in :func:`count_posts`.

    Parameters
    ----------
    post_ratings, post_actions, rater_factors
        See :func:`count_posts`.  ``rater_factors`` come from :func:`infer_rater_factors`
        (or :func:`rater_factors_from_result` / :func:`rater_factors_from_helpfulness`).
    scored_at_millis
        If given, the ``scoredAtMillis`` column (set by the official caller).

    Returns
    -------
    PostLikesResult
    """
    counts, tallies = count_posts(post_ratings, post_actions, rater_factors, config=config)
    active, c_tot, c_min, pool = activate(counts, config=config)
    counts["active"] = active.astype(bool)
    cols = list(POST_DATA_COLUMNS[:-1])
    if scored_at_millis is not None:
        counts[SCORED_AT] = np.int64(scored_at_millis)
        cols.append(SCORED_AT)
    posts = counts[cols].copy()
    unbucketed = counts[[ACTION_TWEET_ID, f"{NO_BUCKET}_pos", f"{NO_BUCKET}_neg"]].copy()
    factors = rater_factors[[USER_ID, FINAL_FACTOR]].copy()
    factors["bucket"] = factor_buckets(factors[FINAL_FACTOR], split=config.factor_split_point)
    return PostLikesResult(posts=posts, rater_factors=factors, pool=pool, total_pos_cutoff=c_tot,
                           min_pos_cutoff=c_min, unbucketed=unbucketed, tallies=tallies, config=config)


def score_pilot(
    users: pd.DataFrame | None,
    note_ratings: pd.DataFrame,
    scored_notes: pd.DataFrame,
    rater_model_output: pd.DataFrame | None,
    post_ratings: pd.DataFrame,
    post_actions: pd.DataFrame,
    *,
    config: PostLikesConfig = PostLikesConfig(),
    scored_at_millis: int | None = None,
) -> PostLikesResult:
    """The official ``score_posts(users, noteRatings, scoredNotes, raterModelOutput,
    postRatings, postActions)``: :func:`infer_rater_factors` then :func:`score_posts`."""
    factors = infer_rater_factors(users, note_ratings, scored_notes, rater_model_output, config=config)
    return score_posts(post_ratings, post_actions, factors, config=config, scored_at_millis=scored_at_millis)
