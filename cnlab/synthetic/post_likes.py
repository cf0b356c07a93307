"""Synthetic post likes for the "liked by people with different perspectives" pilot (spec 07 B.1).

Scored by :mod:`cnlab.post_likes`. Separate from :func:`cnlab.synthetic.generate`: it reads the
planted rater factors and draws nothing from generate's random streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.synthetic.config import _DAY, _HOUR, _MINUTE, SyntheticTruth
from cnlab.synthetic.planted import _allocate, _choice_from_mix, _snowflake

POST_TYPES: tuple[str, ...] = ("bridging", "partisan", "mediocre")

# Made-up tag names: the pilot only tests whether a tag list is empty.
_LIKE_TAGS = ("INFORMATIVE", "INTERESTING", "WELL_ARGUED", "FUNNY", "INSPIRING")
_DISLIKE_TAGS = ("MISLEADING", "LOW_QUALITY", "OFFENSIVE", "SPAM")


@dataclass(frozen=True)
class PostLikesSynthConfig:
    """Planted model of :func:`generate_post_likes`.

    Every (admitted viewer *u*, post *p*) rating has a latent value

    .. math::  y_{up} = a_p + \\ell_p f_u + \\sigma \\varepsilon,\\quad \\varepsilon \\sim N(0, 1)

    (*a_p* the post's appeal, *ℓ_p* its lean, *f_u* the rater's planted factor):
    ``y > like_threshold`` → a like (like tags, no dislike tags), ``y < dislike_threshold``
    → a dislike (dislike tags), otherwise a neutral rating (no tags).  None of these
    numbers is an official constant: the pilot's real data are not public.
    """

    post_type_mix: tuple[tuple[str, float], ...] = (("bridging", 0.25), ("partisan", 0.4), ("mediocre", 0.35))
    """(post type, weight); see ``POST_TYPES``."""
    appeal: tuple[tuple[str, float, float], ...] = (
        ("bridging", 1.4, 0.3), ("partisan", 0.3, 0.3), ("mediocre", -0.2, 0.4))
    """(post type, mean, sd) of the appeal *a_p*."""
    partisan_lean: tuple[float, float] = (1.3, 0.25)
    """(mean, sd) of |ℓ_p| of a partisan post (sign ±1 at random, |ℓ_p| ≥ 0.5): liked by one side,
    disliked by the other."""
    lean_sd: tuple[tuple[str, float], ...] = (("bridging", 0.1), ("mediocre", 0.35))
    """SD of ℓ_p (mean 0) of the other types."""
    noise_sd: float = 0.5
    """σ of the latent rating."""
    like_threshold: float = 0.3
    """y above this → a like."""
    dislike_threshold: float = -0.6
    """y below this → a dislike."""
    contrarian_rate: float = 0.002
    """Probability that a rating is a dislike whatever y (trolls, misclicks): one such dislike
    from an L or R rater keeps a post out of the pool (maxNeg = 0)."""
    admitted_fraction: float = 0.7
    """Share of participants admitted to the pilot (``users.isAdmitted``); only they rate.
    Other viewers leave linger rows with ``isAdmitted`` False."""
    rating_rate: float = 0.35
    """Probability that an admitted viewer rates the post."""
    exposure_log_sd: float = 0.6
    """Viewers per post ∝ lognormal(0, exposure_log_sd)."""
    reboost_fraction: float = 0.15
    """Posts with a second, later boost (callout); 30 % of their lingers stay on the first."""
    eligible_fraction: float = 0.9
    """Probability that a post's latest boost is ``eligibleForActiveState`` (earlier boosts
    never are)."""
    duplicate_linger_rate: float = 0.03
    """Linger rows repeated verbatim (the scorer de-duplicates them)."""
    not_applicable_rate: float = 0.5
    """Share of empty tag lists written ``['NOT_APPLICABLE']`` instead of ``[]``."""
    start_millis: int = 1_780_000_000_000
    """Creation time of the first post (ms)."""
    duration_weeks: float = 6.0
    """Posts are spread over this many weeks."""
    rating_delay_median_hours: float = 6.0
    """Median delay between a post and a rating (lognormal, log-sd 1)."""


@dataclass(frozen=True)
class SyntheticPostLikes:
    """Post-level data of the pilot with its planted truth.

    Attributes
    ----------
    post_ratings
        ``cnlab.post_likes.POST_RATING_COLUMNS``: boostId, userId, createdAt,
        negativeTimestamp (= −createdAt; the official meaning is not documented),
        contributorType (``"CONTRIBUTOR"``, made up), likeTags, dislikeTags (string form
        of a list, e.g. ``"['FUNNY']"``, ``"[]"``, ``"['NOT_APPLICABLE']"``), postId,
        updatedAt (NaN).  One row per (userId, postId).
    post_actions
        Lingers: actionTweetId, userId, boostId, eligibleForActiveState (0/1), isAdmitted.
    users
        userId, isAdmitted (every participant of the planted population).
    posts
        postId, postType, trueAppeal, trueLean, createdAt, boostId (latest),
        eligibleForActiveState, numLingers, numRatings, numLikes, numDislikes.
    config, seed
        What generated them.
    """

    post_ratings: pd.DataFrame
    post_actions: pd.DataFrame
    users: pd.DataFrame
    posts: pd.DataFrame
    config: PostLikesSynthConfig
    seed: int

    def summary(self) -> str:
        t = self.posts["postType"].value_counts().to_dict()
        return (f"SyntheticPostLikes: {len(self.posts):,} posts {t}, {len(self.post_ratings):,} ratings "
                f"({int(self.posts['numLikes'].sum()):,} likes, {int(self.posts['numDislikes'].sum()):,} "
                f"dislikes), {len(self.post_actions):,} linger rows, "
                f"{int(self.users['isAdmitted'].sum()):,}/{len(self.users):,} users admitted, seed={self.seed}")


def _planted_raters(truth) -> tuple[pd.Series, np.ndarray]:
    """(ids, factor) from a SyntheticTruth or a frame with an id and a factor column."""
    frame = truth.raters if isinstance(truth, SyntheticTruth) else truth
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("truth must be a SyntheticTruth or a DataFrame of raters")
    id_col = next((c for c in ("participantId", "userId", schema.RATER_ID) if c in frame.columns), None)
    f_col = next((c for c in ("trueFactor1", "finalFactor", "coreRaterFactor1") if c in frame.columns), None)
    if id_col is None or f_col is None:
        raise schema.SchemaError("generate_post_likes: truth needs an id column (participantId / userId / "
                                 "raterParticipantId) and a factor column (trueFactor1 / finalFactor / "
                                 "coreRaterFactor1)")
    f = pd.to_numeric(frame[f_col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    keep = ~np.isnan(f) & frame[id_col].notna().to_numpy()
    ids = frame[id_col][keep].reset_index(drop=True)
    if ids.duplicated().any():
        raise schema.SchemaError("generate_post_likes: duplicate rater ids in truth")
    return ids, f[keep]


def _tag_lists(rng, n: int, vocab: tuple[str, ...]) -> list[str]:
    k = rng.integers(1, 3, n)
    picks = rng.integers(0, len(vocab), (n, 2))
    return [str(sorted({vocab[picks[i, 0]], vocab[picks[i, 1]]} if k[i] == 2 else {vocab[picks[i, 0]]}))
            for i in range(n)]


def generate_post_likes(
    truth,
    *,
    n_posts: int = 150,
    n_ratings: int = 8000,
    seed: int = 0,
    config: PostLikesSynthConfig = PostLikesSynthConfig(),
) -> SyntheticPostLikes:
    """Post ratings and lingers of the pilot (spec 07 B.1) from planted rater factors.

    Posts are *bridging* (high appeal, no lean: liked across both sides), *partisan*
    (strong lean: liked by one side, disliked by the other) or *mediocre* (low appeal,
    weak lean); ratings follow :class:`PostLikesSynthConfig`.  Each post is shown to a
    random set of participants (lingers); admitted viewers rate it with probability
    ``rating_rate``.  The number of ratings is about ``n_ratings`` (random).

    Parameters
    ----------
    truth
        A :class:`SyntheticTruth` (its ``raters``: participantId, trueFactor1), or any
        frame with an id column (participantId, userId or raterParticipantId) and a
        factor column (trueFactor1, finalFactor or coreRaterFactor1 — e.g. the public
        ``helpfulness_scores`` to plant likes on real rater factors).  Rows with a
        missing factor are left out.
    n_posts, n_ratings, seed
        Size and seed (streams ``default_rng([seed, 31, k])``).
    config
        The planted model.

    Returns
    -------
    SyntheticPostLikes
    """
    cfg = config
    ids, fu = _planted_raters(truth)
    U = len(ids)
    if U < 2 or n_posts < 1 or n_ratings < 0:
        raise ValueError("need at least 2 raters with a factor, n_posts >= 1, n_ratings >= 0")
    rng = np.random.default_rng([seed, 31, 0])
    admitted = rng.random(U) < cfg.admitted_fraction

    # ---- posts ----
    names, tidx = _choice_from_mix(rng, cfg.post_type_mix, n_posts)
    ptype = np.array([POST_TYPES.index(names[i]) for i in range(len(names))])[tidx]
    appeal_of = {t: (m, s) for t, m, s in cfg.appeal}
    lean_sd = dict(cfg.lean_sd)
    appeal = np.empty(n_posts)
    lean = np.empty(n_posts)
    for ti, tname in enumerate(POST_TYPES):
        m = ptype == ti
        mu, sd = appeal_of[tname]
        appeal[m] = rng.normal(mu, sd, m.sum())
        if tname == "partisan":
            mag = np.clip(rng.normal(*cfg.partisan_lean, m.sum()), 0.5, None)
            lean[m] = rng.choice([-1.0, 1.0], m.sum()) * mag
        else:
            lean[m] = rng.normal(0.0, lean_sd.get(tname, 0.0), m.sum())
    now = int(cfg.start_millis + round(cfg.duration_weeks * 7 * _DAY))
    created = np.sort(rng.integers(cfg.start_millis, now - 2 * _DAY, n_posts))
    post_id = _snowflake(rng, created)
    reboost = rng.random(n_posts) < cfg.reboost_fraction
    boost1 = _snowflake(rng, created + _HOUR)
    boost2 = _snowflake(rng, created + _DAY)
    latest_boost = np.where(reboost, boost2, boost1)
    eligible = (rng.random(n_posts) < cfg.eligible_fraction).astype(np.int64)

    # ---- viewers (lingers) ----
    expected_lingers = n_ratings / max(cfg.rating_rate * cfg.admitted_fraction, 1e-9)
    exposure = np.exp(rng.normal(0.0, cfg.exposure_log_sd, n_posts))
    k = _allocate(exposure, int(round(expected_lingers)), U)
    vrng = np.random.default_rng([seed, 31, 1])
    viewer = np.concatenate([vrng.choice(U, size=int(kk), replace=False) for kk in k]) if n_posts else np.empty(0, int)
    vpost = np.repeat(np.arange(n_posts), k)
    on_first = reboost[vpost] & (vrng.random(len(vpost)) < 0.3)
    vboost = np.where(on_first, boost1[vpost], latest_boost[vpost])
    velig = np.where(on_first, 0, eligible[vpost])

    # ---- ratings ----
    rr = np.random.default_rng([seed, 31, 2])
    rates = admitted[viewer] & (rr.random(len(viewer)) < cfg.rating_rate)
    ri = np.flatnonzero(rates)
    rp, ru = vpost[ri], viewer[ri]
    y = appeal[rp] + lean[rp] * fu[ru] + cfg.noise_sd * rr.standard_normal(len(ri))
    like = y > cfg.like_threshold
    dislike = (y < cfg.dislike_threshold) | (rr.random(len(ri)) < cfg.contrarian_rate)
    like &= ~dislike
    n = len(ri)
    empty = np.where(rr.random((n, 2)) < cfg.not_applicable_rate, "['NOT_APPLICABLE']", "[]")
    like_tags = np.array(empty[:, 0], dtype=object)
    dislike_tags = np.array(empty[:, 1], dtype=object)
    like_tags[like] = _tag_lists(rr, int(like.sum()), _LIKE_TAGS)
    dislike_tags[dislike] = _tag_lists(rr, int(dislike.sum()), _DISLIKE_TAGS)
    delay = np.exp(rr.normal(np.log(cfg.rating_delay_median_hours * _HOUR), 1.0, n)).astype(np.int64)
    r_created = np.minimum(created[rp] + _MINUTE + delay, now - 1)
    post_ratings = pd.DataFrame({
        "boostId": vboost[ri].astype(np.int64),
        "userId": ids.iloc[ru].reset_index(drop=True),
        "createdAt": r_created.astype(np.int64),
        "negativeTimestamp": -r_created.astype(np.int64),
        "contributorType": pd.Series(["CONTRIBUTOR"] * n, dtype="str"),
        "likeTags": pd.Series(like_tags, dtype="str"),
        "dislikeTags": pd.Series(dislike_tags, dtype="str"),
        "postId": post_id[rp].astype(np.int64),
        "updatedAt": np.full(n, np.nan),
    })

    # ---- linger rows (with a few verbatim duplicates) ----
    dup = np.flatnonzero(vrng.random(len(viewer)) < cfg.duplicate_linger_rate)
    rows = np.sort(np.concatenate([np.arange(len(viewer)), dup]), kind="stable")
    post_actions = pd.DataFrame({
        "actionTweetId": post_id[vpost[rows]].astype(np.int64),
        "userId": ids.iloc[viewer[rows]].reset_index(drop=True),
        "boostId": vboost[rows].astype(np.int64),
        "eligibleForActiveState": velig[rows].astype(np.int64),
        "isAdmitted": admitted[viewer[rows]],
    })
    users = pd.DataFrame({"userId": ids, "isAdmitted": admitted})
    posts = pd.DataFrame({
        "postId": post_id.astype(np.int64),
        "postType": pd.Series(np.array(POST_TYPES, dtype=object)[ptype], dtype="str"),
        "trueAppeal": appeal, "trueLean": lean, "createdAt": created.astype(np.int64),
        "boostId": latest_boost.astype(np.int64), "eligibleForActiveState": eligible,
        "numLingers": k.astype(np.int64),
        "numRatings": np.bincount(rp, minlength=n_posts).astype(np.int64),
        "numLikes": np.bincount(rp[like], minlength=n_posts).astype(np.int64),
        "numDislikes": np.bincount(rp[dislike], minlength=n_posts).astype(np.int64),
    })
    return SyntheticPostLikes(post_ratings=post_ratings, post_actions=post_actions, users=users, posts=posts,
                              config=cfg, seed=seed)
