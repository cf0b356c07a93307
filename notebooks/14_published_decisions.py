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
# # 14 — cnlab's statuses against the published ones
#
# The download's `noteStatusHistory` file is the official scorer's last word on every note when
# the file was written: `currentStatus` (at `timestampMillisOfCurrentStatus`), the rule that decided
# it (`currentDecidedBy`), and `lockedStatus`, the status a note keeps once it is two weeks old.
# `cnlab.lab.compare_with_published` sets cnlab's `finalRatingStatus` / `decidedBy` beside them and
# gives every difference the first reason that applies:
#
# | reason | evidence |
# |---|---|
# | locked status | the note has a `lockedStatus` that one side shows and the other does not |
# | data removed | the note is not in the notes file, or it is published as rated (CRH / CRNH) with fewer than 5 ratings in the download |
# | time of scoring | ratings created after the published timestamp, or a clock-dependent rule (stabilization of a new CRH) at a different "now" |
# | model noise | the deciding model's intercept or factor lies within `noise_margin` (0.02) of a threshold |
# | unexplained | none of these |
#
# Then the same comparison **as of the published time**: `counterfactual(before_millis=T)` drops
# everything created after the file's timestamp $T$ and scores with "now" $= T$, so cnlab sees the
# ratings the published run saw and "time of scoring" has nothing left to explain.
#
# (On the bundled sample the status history was generated with the data rather than by a scorer,
# so most differences there are "unexplained"; on a public download the known reasons dominate.)

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"
NOISE_MARGIN = 0.02  # |intercept − threshold| counted as model noise

# %%
import matplotlib.pyplot as plt

import cnlab
from cnlab import plotting as cp
from cnlab.lab import compare_with_published, counterfactual

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
result = _nb.score(dataset, DATA, cnlab.ScoringConfig(topics=TOPICS), seed=SEED)  # cached across notebooks when CNLAB_NOTEBOOK_CACHE is set
dataset = result.dataset

# %%
now = compare_with_published(result, dataset, noise_margin=NOISE_MARGIN)
print(now.summary())

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
cp.published_reasons(now, ax=axes[0])
both = now.compared
cp.status_confusion(both.set_index("noteId")["currentStatus"], both.set_index("noteId")["finalRatingStatus"],
                    before_label="published (noteStatusHistory)", after_label="cnlab", ax=axes[1])
cp.savefig(fig, "14_published_reasons", directory=FIGURES)
plt.show()

# %% [markdown]
# The differences, with their evidence (`thresholdDistance`: of the deciding model's intercept or
# factor to the nearest threshold; `ratingsAfterPublished`: ratings the published run could not see):

# %%
now.disagreements()[["noteId", "currentStatus", "finalRatingStatus", "decidedBy", "reason", "lockedStatus",
                     "numRatingsInDownload", "ratingsAfterPublished", "nearestThreshold",
                     "thresholdDistance"]].head(15)

# %% [markdown]
# ## As of the published time

# %%
published_at = int(dataset.status_history["timestampMillisOfCurrentStatus"].max())
as_of = counterfactual(baseline=result, before_millis=published_at, seed=SEED)
print(as_of.removed.to_string(index=False))
then = compare_with_published(as_of.result, dataset, noise_margin=NOISE_MARGIN)  # published statuses of the full download
print(then.summary())

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6), layout="constrained", sharex=True)
cp.published_reasons(now, ax=axes[0])
axes[0].set_title("scored now\n" + axes[0].get_title(), fontsize="small")
cp.published_reasons(then, ax=axes[1])
axes[1].set_title("scored as of the published time\n" + axes[1].get_title(), fontsize="small")
cp.savefig(fig, "14_as_of_published", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks

# %%
for c in (now, then):
    t = c.table
    assert t["noteId"].is_unique and int(c.counts().sum()) == len(t)  # one reason per note
    assert (t.loc[t["reason"] == "model_noise", "thresholdDistance"] < NOISE_MARGIN).all()
    assert t.loc[t["reason"] == "locked_status", "lockedStatus"].notna().all()
    assert (t.loc[t["reason"] == "agree", "currentStatus"] == t.loc[t["reason"] == "agree", "finalRatingStatus"]).all()
# as of the published time cnlab sees no rating the published run did not, and its clock is the published one
assert as_of.epoch_millis == published_at and then.epoch_millis == published_at
assert int(then.table["ratingsAfterPublished"].sum()) == 0 and then.counts()["time_of_scoring"] == 0
# notes created after the published file are in the full run only, and have no published status
late = set(dataset.notes.loc[dataset.notes["createdAtMillis"] > published_at, "noteId"])
assert late.isdisjoint(then.compared["noteId"]) and late.isdisjoint(as_of.result.frames["scored_notes"]["noteId"])
