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
# # 00 — Overview: score a dataset and look at the result
#
# Community Notes rates a note *helpful* only when raters who usually disagree both find it
# helpful. The Core scorer fits the biased matrix factorization
#
# $$\hat r_{un} = \mu + i_u + i_n + f_u \cdot f_n$$
#
# to the ratings $r_{un}\in\{0, 0.5, 1\}$. The rater factor $f_u$ absorbs "which side" a rater is
# on; the note intercept $i_n$ is the helpfulness *not explained* by that side. A note is
# **Currently Rated Helpful** (CRH) when $i_n \ge 0.40$ (and $|f_n| \le 0.5$, plus filters), and
# **Currently Rated Not Helpful** (CRNH) when $i_n \le -0.05 - 0.8\,|f_n|$.
#
# This notebook loads the data (the bundled sample by default), runs `cnlab.score`, and draws the
# headline figure: every note in the factor–intercept plane, coloured by its status.

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"

# %%
import matplotlib.pyplot as plt

import cnlab
from cnlab import plotting as cp
from cnlab import schema

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
print(dataset.summary())

# %% [markdown]
# ## Score
# `cnlab.score` runs preprocessing, prescoring (two MF rounds with the contributor-helpfulness
# filter in between), final scoring (raters frozen, pseudo-rater bounds), the rules, and
# meta-scoring. The result keeps every intermediate table.

# %%
result = _nb.score(dataset, DATA, cnlab.ScoringConfig(topics=TOPICS), seed=SEED)
print(result.summary())
scored = result.frames["scored_notes"]

# %%
scored["finalRatingStatus"].value_counts()

# %% [markdown]
# ## Headline figure
# Notes by Core factor (x) and intercept (y). The dashed green line is the CRH threshold, the red
# wedge the CRNH boundary, the shaded band $|f| \le 0.5$.

# %%
ax = cp.note_factor_intercept(scored)
cp.savefig(ax.figure, "00_note_factor_intercept", directory=FIGURES)
plt.show()

# %%
ax = cp.rule_flow(scored["coreActiveRules"])
cp.savefig(ax.figure, "00_rule_flow", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks on the headline numbers

# %%
n_notes = len(result.preprocessed.status_history)
assert len(scored) == n_notes, (len(scored), n_notes)
assert scored["noteId"].is_unique
# every note gets a final status, and only one of the three public ones
assert scored["finalRatingStatus"].notna().all()
assert set(scored["finalRatingStatus"]) <= set(schema.FINAL_STATUSES)
# a Core CRH note lies above the CRH line (minus the inertia delta) inside the factor band
core_crh = scored[scored["coreRatingStatus"] == schema.CRH]
assert (core_crh["coreNoteIntercept"] >= 0.40 - 0.01 - 1e-6).all()
assert (core_crh["coreNoteFactor1"].abs() <= 0.5).all()
# a Core CRNH note lies in the CRNH wedge, has a pseudo-rater max below -0.04, or failed RatioCRNH/NmCRNH
core_crnh = scored[scored["coreRatingStatus"] == schema.CRNH]
assert core_crnh["coreActiveRules"].str.contains("CRNH", regex=False).all()
print({k: int(v) for k, v in scored["finalRatingStatus"].value_counts().items()})
