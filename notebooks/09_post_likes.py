# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 — Posts liked by people with different perspectives (pilot)
#
# The pilot asks the bridging question of **posts** instead of notes: pilot contributors see a
# callout on a post and rate it with *like* or *dislike* tags; the callout turns into "liked by
# people with different perspectives" when the post "has been seen by numerous people, has
# positive ratings, and no negative ratings" (spec 07 B, `cnlab.post_likes`).
#
# **Rater factor.** A contributor's side comes from their note ratings: the mean sign-corrected
# Core note factor over misleading, topic-free notes decided by an MF model,
#
# $$f_u = \frac{1}{|E_u|}\sum_{n\in E_u} s_{un} f_n,\qquad s_{un} = -1 \text{ if NOT\_HELPFUL, else } +1,$$
#
# falling back to `coreRaterFactor1` only when every $f_n$ is missing. Buckets: **L** if
# $f_u < -0.15$, **M** if $-0.15 \le f_u < 0.15$, **R** if $f_u \ge 0.15$.
#
# **Counting.** Per post: positive ratings $L^+, M^+, R^+$ (like tags, no dislike tags),
# negative ratings $L^-, M^-, R^-$ (dislike tags), lingers $\ell_L, \ell_M, \ell_R$ (admitted
# impressions); $\mathrm{minPos} = \min(L^+, R^+)$, $\mathrm{maxNeg} = \max(L^-, R^-)$,
# $\mathrm{minLingers} = \min(\ell_L, \ell_R)$, $\mathrm{totalPos} = L^+ + M^+ + R^+$.
#
# **Activation.** Pool $P$ = posts with $\mathrm{minLingers} > 29$, $\mathrm{maxNeg} = 0$ and an
# eligible boost; with $c = \max(1, Q_{0.7})$ over the pool,
#
# $$\mathrm{active}_p = [p\in P] \wedge (\mathrm{totalPos}_p \ge c_{tot} \vee \mathrm{minPos}_p \ge c_{min}).$$
#
# The pilot's post ratings and lingers are not public, so this notebook plants them:
# `cnlab.synthetic.generate_post_likes` draws *bridging* posts (liked across both sides),
# *partisan* posts (liked by one side, disliked by the other) and *mediocre* posts from the
# planted rater factors of the bundled sample — or, for a public-data folder, from the raters'
# `coreRaterFactor1`. The note side (scored notes, helpfulness scores) is a real `cnlab.score` run.

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"
N_POSTS = 150  # synthetic posts
N_RATINGS = 8000  # synthetic post ratings (about)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import cnlab
from cnlab import plotting as cp
from cnlab import post_likes, synthetic

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
result = _nb.score(dataset, DATA, cnlab.ScoringConfig(topics=TOPICS), seed=SEED)  # same run as notebook 00
if DATA == "sample":
    planted = pd.read_csv(synthetic.SAMPLE_DIR / "raters_truth.tsv.gz", sep="\t")[["participantId", "trueFactor1"]]
else:  # no truth in the public data: plant the likes on the Core rater factors
    hs = result.outputs()["helpfulness_scores"]
    planted = hs[["raterParticipantId", "coreRaterFactor1"]].dropna().rename(
        columns={"raterParticipantId": "participantId", "coreRaterFactor1": "trueFactor1"})
likes = synthetic.generate_post_likes(planted, n_posts=N_POSTS, n_ratings=N_RATINGS, seed=SEED)
print(likes.summary())

# %% [markdown]
# ## 1. Rater factors from note ratings
# Only admitted pilot members get a factor, and only if they rated an eligible note.

# %%
factors = post_likes.rater_factors_from_result(result, likes.users, details=True)
factors["plantedSide"] = factors["userId"].map(
    dict(zip(planted["participantId"], np.where(planted["trueFactor1"] >= 0, "planted +", "planted −"))))
print(factors["factorSource"].value_counts(dropna=False).to_dict())
known = factors.dropna(subset=["finalFactor"]).merge(planted, left_on="userId", right_on="participantId")
corr = float(np.corrcoef(known["finalFactor"], known["trueFactor1"])[0, 1])
print(f"{len(factors):,} factors; correlation with the planted factor {corr:+.3f} (the MF sign is arbitrary)")

# %%
ax = cp.rater_factor_buckets(factors, by=factors["plantedSide"].rename("planted side"))
cp.savefig(ax.figure, "09_rater_factor_buckets", directory=FIGURES)
plt.show()

# %% [markdown]
# The inferred factors are averages of note factors, so they are shrunk towards 0: a rater
# with few eligible ratings on middling notes lands in **M**, which neither helps nor blocks
# a post (M likes count only towards `totalPos`; M dislikes are ignored).

# %% [markdown]
# ## 2. Counting and activation

# %%
res = post_likes.score_posts(likes.post_ratings, likes.post_actions, factors)
print(res.summary())
res.posts.head()

# %%
posts = res.posts.merge(likes.posts[["postId", "postType"]], left_on="actionTweetId", right_on="postId", how="left")
posts["state"] = np.where(posts["active"], "active", np.where(res.pool, "in pool", "not in pool"))
pd.crosstab(posts["postType"], posts["state"])

# %%
fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.2), layout="constrained")
cp.post_likes_by_side(res.posts, pool=res.pool, min_pos_cutoff=res.min_pos_cutoff, kind=posts["postType"],
                      ax=axes[0])
truth = likes.posts.set_index("postId")["postType"] == "bridging"
active = res.posts.set_index("actionTweetId")["active"]
cp.truth_agreement(truth, {"active": active, "in pool": pd.Series(res.pool, index=active.index)}, ax=axes[1])
axes[1].set_title("Activation vs planted bridging posts")
cp.savefig(fig, "09_post_likes", directory=FIGURES)
plt.show()

# %% [markdown]
# Partisan posts collect many likes from their own side, but a single dislike from an L or R
# rater keeps a post out of the pool; bridging posts are liked across the split and rarely
# disliked. Within the pool, the 0.7-quantile cut-offs make posts compete: only the top ~30 %
# by total or cross-side likes are activated, so a "liked" callout is a relative, not an
# absolute, judgement.

# %% [markdown]
# ## Checks

# %%
share = posts.groupby("postType")["active"].mean()
print({k: round(float(v), 3) for k, v in share.items()}, "active share by planted type")
assert list(res.posts.columns) == list(post_likes.POST_DATA_COLUMNS[:-1])
assert res.posts["actionTweetId"].is_unique and len(res.posts) <= N_POSTS
# active posts are pooled: ≥ 30 lingers per side, no L/R dislike, eligible, and above a cut-off
act = res.posts[res.posts["active"]]
assert (res.pool | ~res.posts["active"].to_numpy()).all()
assert (act["minLingers"] > 29).all() and (act["maxNeg"] == 0).all() and (act["eligibleForActiveState"] == 1).all()
assert ((act["totalPos"] >= res.total_pos_cutoff) | (act["minPos"] >= res.min_pos_cutoff)).all()
assert res.total_pos_cutoff >= 1 and res.min_pos_cutoff >= 1
# every positive rating is counted once, in L/M/R or with no factor
n_pos = int(post_likes.rating_polarity(likes.post_ratings)[0].sum())
assert int(res.posts[["L_pos", "M_pos", "R_pos"]].to_numpy().sum() + res.unbucketed["None_pos"].sum()) == n_pos
# the inferred side follows the planted one, and bridging posts are the ones activated
assert abs(corr) > 0.5, corr
assert share.get("bridging", 0) > share.get("partisan", 0)
assert share.get("partisan", 0) <= 0.05 and res.n_active > 0
