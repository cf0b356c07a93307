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
# # 03 — Contributor helpfulness: who rates in the final round
#
# Between the two prescoring MF rounds, contributors are scored (spec 03 §3). As **authors**,
# over their notes that entered round 1:
#
# $$\text{crhCrnhRatioDifference} = \frac{\#\text{CRH}}{n} - 5\,\frac{\#\text{CRNH}}{n},\qquad
#   \text{meanNoteScore} = \frac1n \sum i_n .$$
#
# As **raters**, `raterAgreeRatio` = share of their valid ratings that agreed with the note's
# eventual status. A contributor is kept (`aboveHelpfulnessThreshold`) when
# raterAgreeRatio $\ge 0.66$ (also after the harassment penalty) and, if they authored scored notes,
# crhCrnhRatioDifference $\ge 0$ and meanNoteScore $\ge 0.05$. Only kept raters' ratings train the
# second round and final scoring.
# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"

# %%
import matplotlib.pyplot as plt
import numpy as np

import cnlab
from cnlab import plotting as cp

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
result = _nb.score(dataset, DATA, cnlab.ScoringConfig(topics=TOPICS), seed=SEED)  # cached across notebooks when CNLAB_NOTEBOOK_CACHE is set
scored = result.frames["scored_notes"]

# %%
hs = result.frames["helpfulness_scores"]
reasons = cp.removal_reasons(hs)
reasons.value_counts()

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
cp.helpfulness_distributions(hs, column="raterAgreeRatio", ax=axes[0])
cp.helpfulness_removed(hs, ax=axes[1])
cp.savefig(fig, "03_helpfulness_filter", directory=FIGURES)
plt.show()

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
cp.helpfulness_distributions(hs, column="crhCrnhRatioDifference", ax=axes[0])
cp.helpfulness_distributions(hs, column="meanNoteScore", ax=axes[1])
cp.savefig(fig, "03_author_scores", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Rater parameters of the final model
# Rater factors split raters into the two "sides"; the group histogram shows how the enrollment
# modeling groups line up with them.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
cp.rater_factor_intercept(hs, ax=axes[0])
cp.rater_factor_hist_by_group(hs, dataset.enrollment, ax=axes[1])
cp.savefig(fig, "03_rater_params", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks

# %%
kept = hs["aboveHelpfulnessThreshold"].astype("boolean").fillna(False).to_numpy(dtype=bool)
agree = hs["raterAgreeRatio"].to_numpy(dtype=float, na_value=np.nan)
diff = hs["crhCrnhRatioDifference"].to_numpy(dtype=float, na_value=np.nan)
mean = hs["meanNoteScore"].to_numpy(dtype=float, na_value=np.nan)
assert hs["raterParticipantId"].is_unique
# every kept contributor passes the rater test and, if an author, the author tests
assert (agree[kept] >= 0.66).all()
author = ~(np.isnan(diff) & np.isnan(mean))
assert (diff[kept & author] >= 0.0).all() and (mean[kept & author] >= 0.05).all()
# contributors without valid ratings are never kept
assert not (kept & np.isnan(agree)).any()
print(f"kept {kept.sum()} of {len(hs)} contributors")
