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
# # 01 — The data and the preprocessing funnel
#
# Inputs are the four files of the public download: notes, ratings, note status history and user
# enrollment. Preprocessing (spec 01 §1) turns each rating into a label
#
# $$r = \begin{cases}1 & \text{HELPFUL}\\ 0.5 & \text{SOMEWHAT\_HELPFUL}\\ 0 & \text{NOT\_HELPFUL}\end{cases}$$
#
# drops duplicate and invalid rows, and flags high-volume raters. Before each MF fit the ratings
# are *prefiltered* (spec 01 §2): raters need $\ge 10$ ratings and notes $\ge 5$ raters, applied
# in that order. Every dropped row is counted in the `Funnel`.

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder

# %%
import matplotlib.pyplot as plt

from cnlab import plotting as cp
from cnlab import schema
from cnlab.preprocess import filter_ratings, preprocess

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
print(dataset.summary())

# %%
pre = preprocess(dataset)
pre.funnel.to_frame()

# %% [markdown]
# ## Ratings kept at each step
# Preprocessing, then the prescoring prefilter (appended to the funnel with `Funnel.add`).

# %%
MIN_RATINGS_PER_RATER, MIN_RATERS_PER_NOTE = 10, 5
train = filter_ratings(pre.ratings, min_ratings_per_rater=MIN_RATINGS_PER_RATER,
                       min_raters_per_note=MIN_RATERS_PER_NOTE)
full = pre.funnel.add("prescoring", f"prefilter (rater ≥ {MIN_RATINGS_PER_RATER}, note ≥ {MIN_RATERS_PER_NOTE})",
                      len(pre.ratings), len(train))
funnel = full.to_frame()
ax = cp.funnel(funnel[funnel["table"] == "ratings"])
cp.savefig(ax.figure, "01_funnel", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Ratings per note and per rater, and the prefilter

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
cp.rating_counts(pre.ratings, by=schema.NOTE_ID, threshold=MIN_RATERS_PER_NOTE, ax=axes[0])
cp.rating_counts(pre.ratings, by=schema.RATER_ID, threshold=MIN_RATINGS_PER_RATER, ax=axes[1])
cp.savefig(fig, "01_rating_counts", directory=FIGURES)
plt.show()

# %%
print(f"prefilter keeps {len(train):,} of {len(pre.ratings):,} ratings, "
      f"{train[schema.NOTE_ID].nunique():,} notes, {train[schema.RATER_ID].nunique():,} raters")

# %% [markdown]
# ## Checks

# %%
assert (funnel["rows_out"] <= funnel["rows_in"]).all()
assert (funnel["rows_in"] - funnel["rows_out"] == funnel["dropped"]).all()
# the last ratings step of preprocessing is what preprocess returned, the prefilter what filter_ratings kept
pre_ratings_steps = pre.funnel.to_frame().query("table == 'ratings'")
assert int(pre_ratings_steps["rows_out"].iloc[-1]) == len(pre.ratings)
assert int(funnel["rows_out"].iloc[-1]) == len(train)
assert int(funnel.query("table == 'ratings'")["rows_in"].iloc[0]) == len(dataset.ratings)
assert pre.ratings[schema.HELPFUL_NUM].isin([0.0, 0.5, 1.0]).all()
# the prefilter: notes have >= 5 raters in the kept set (raters' >= 10 is applied first, so
# a rater may end with fewer after note removal, as in the official code)
assert (train.groupby(schema.NOTE_ID).size() >= MIN_RATERS_PER_NOTE).all()
assert len(train) <= len(pre.ratings)
