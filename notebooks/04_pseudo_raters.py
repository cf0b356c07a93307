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
# # 04 — Pseudo-raters: how robust is a note's intercept?
#
# After final scoring, the Core scorer refits every note's $(i_n, f_n)$ with raters frozen, four
# times (spec 01 §10): on the original ratings, and with one extra **helpful** rating on every note
# from each of three extreme pseudo-raters with intercept $\min_u i_u$ and factor
# $\in\{\min_u f_u,\ 0,\ \max_u f_u\}$. Per note, `coreNoteInterceptMin/Max` are the min and max
# of the four refitted intercepts. Only the upper bound is used: **UcbCRNH** rates a note not
# helpful when even with a helpful pseudo-rating $\max < -0.04$.
# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"

# %%
import matplotlib.pyplot as plt

import cnlab
from cnlab import plotting as cp

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
result = _nb.score(dataset, DATA, cnlab.ScoringConfig(topics=TOPICS), seed=SEED)  # cached across notebooks when CNLAB_NOTEBOOK_CACHE is set
scored = result.frames["scored_notes"]

# %%
with_bounds = scored.dropna(subset=["coreNoteIntercept", "coreNoteInterceptMin", "coreNoteInterceptMax"])
width = with_bounds["coreNoteInterceptMax"] - with_bounds["coreNoteIntercept"]
print(f"{len(with_bounds)} notes with bounds; max − intercept: median {width.median():.3f}, "
      f"90th pct {width.quantile(0.9):.3f}")

# %%
ax = cp.pseudo_rater_intervals(scored)
cp.savefig(ax.figure, "04_pseudo_rater_intervals", directory=FIGURES)
plt.show()

# %%
ax = cp.threshold_hist(width, 0.0, label="coreNoteInterceptMax − coreNoteIntercept")
cp.savefig(ax.figure, "04_upper_bound_width", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks

# %%
assert (with_bounds["coreNoteInterceptMax"] >= with_bounds["coreNoteInterceptMin"]).all()
# bounds exist exactly for the notes with a Core intercept
assert scored["coreNoteInterceptMax"].notna().sum() == scored["coreNoteIntercept"].notna().sum()
# UcbCRNH fired only where the upper bound is below -0.04
ucb = scored["coreActiveRules"].fillna("").str.contains("UcbCRNH", regex=False)
assert (scored.loc[ucb, "coreNoteInterceptMax"] < -0.04).all()
# a helpful pseudo-rating can only raise the intercept: the max is (nearly) never below the fit
TOL_REFIT = 0.02  # refit_orig differs from the fit by ~5e-3 (regularization mode A, early stop)
assert (width > -TOL_REFIT).all(), width.min()
print(f"UcbCRNH notes: {int(ucb.sum())}")
