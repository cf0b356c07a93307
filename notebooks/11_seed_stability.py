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
# # 11 — Seed stability: how much of a status is noise?
#
# The official scorer starts every matrix factorization from random factors and stops its Adam
# loop when the loss stops improving by 10⁻⁷ (spec 01 §7). Two runs with different seeds therefore
# end at slightly different intercepts $i_n$ and factors $f_n$, and a note near a threshold
# (CRH at $i_n \ge 0.40$, the bridging gate $|f_n| < 0.5$, the CRNH wedge
# $i_n \le -0.05 - 0.8\,|f_n|$) can change status with the seed alone.
#
# `cnlab.lab.seed_stability` scores the data once per seed and fidelity and measures:
#
# * per note, the probability of each status across seeds;
# * the CRH churn of every pair of seeds, $|A \triangle B| / |A \cup B|$ ($A$, $B$: the CRH notes
#   of the two runs), and the official churn check's formula
#   $\max(|A \setminus B|, |B \setminus A|) / (\min(|A|, |B|) + 100)$ beside its guards 0.12 and
#   0.30 (spec 04 §10.2, §12.2);
# * the notes whose status depends on the seed, with their distance to the deciding threshold;
# * the seed-to-seed spread of every intercept and factor column.
#
# `fidelity="official"` keeps the official training loop; `fidelity="fast"` minimises the same
# objective exactly (block-exact alternating least squares, `cnlab.mf.exact`). The difference
# between the two is what the official early stopping costs in reproducibility. The seed also
# drives the topic model and the fits that stay on their own loops in both fidelities (harassment
# tag model, low-diligence model), so "fast" is not noise-free.

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEEDS = int(os.environ.get("CNLAB_NOTEBOOK_SEEDS", "3"))  # seeds per fidelity (0 … SEEDS-1)
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"

# %%
import matplotlib.pyplot as plt
import numpy as np

import cnlab
from cnlab import plotting as cp
from cnlab.lab import seed_stability
from cnlab.lab.stability import CHURN_GUARDS

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
config = cnlab.ScoringConfig(topics=TOPICS)  # Core only
st = _nb.cached(f"seed_stability|{DATA}|{SEEDS}|{config!r}",
                lambda: seed_stability(dataset, seeds=range(SEEDS), config=config))
print(st.summary())

# %% [markdown]
# ## 1. The table
#
# One row per fidelity and status column. `unstable_share` is the share of notes with more than one
# status across the seeds; `intercept_sd_*` the per-note standard deviation of `coreNoteIntercept`
# across seeds. `finalRatingStatus` moves less than `coreRatingStatus`: locked notes keep their
# locked status, and a note's final status can come from another rule than the Core model.

# %%
st.table().round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), layout="constrained", width_ratios=(3, 2))
cp.status_probability_hist(st, column="coreRatingStatus", ax=axes[0])
cp.churn_by_fidelity(st, column="coreRatingStatus", ax=axes[1])
cp.savefig(fig, "11_status_probability_churn", directory=FIGURES)
plt.show()

# %% [markdown]
# ## 2. Which notes does the seed decide?
#
# The notes whose Core status changes with the seed, nearest threshold first (`distance`: the
# signed distance of the seed-averaged parameters to the threshold named in `nearest`: `crh` =
# $i_n - 0.40$, `factor` = $0.5 - |f_n|$, `crnh` = $i_n - (-0.05 - 0.8|f_n|)$).

# %%
cols = ["noteId", "coreRatingStatus_modal", "coreRatingStatus_p_modal", "coreNoteIntercept_mean",
        "coreNoteIntercept_sd", "coreNoteFactor1_mean", "nearest", "distance"]
st.unstable("coreRatingStatus", "official")[cols].head(12)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained", sharey=True)
for ax, fid in zip(axes, st.fidelities):
    cp.spread_vs_distance(st, fidelity=fid, ax=ax)
cp.savefig(fig, "11_spread_vs_distance", directory=FIGURES)
plt.show()

# %% [markdown]
# ## 3. Fast vs official under the same seed
#
# The agreement of the two fidelities under one seed, next to the agreement of two official runs
# under different seeds: if fast-vs-official agrees at least as well as official-vs-official, the
# fast mode costs nothing the official scorer's own seed does not already cost.

# %%
cross = st.cross.groupby("column")[["agreement", "churn"]].mean()
same_fid = st.churn.groupby(["fidelity_a", "column"])[["agreement", "churn"]].mean()
print("fast vs official (same seed):\n", cross.round(4))
print("seed vs seed within a fidelity:\n", same_fid.round(4))

# %% [markdown]
# ## Checks

# %%
# probabilities: one distribution per note, fidelity and column
sums = st.probabilities.groupby(["fidelity", "column", "noteId"])["probability"].sum()
assert np.allclose(sums, 1.0)
# churn is a share; both churn measures vanish exactly when the CRH sets agree
ch = st.churn
assert ((ch["churn"] >= 0) & (ch["churn"] <= 1)).all()
assert ((ch["churn"] == 0) == (ch["official_churn"] == 0)).all()
assert len(ch) == len(st.fidelities) * len(st.status_columns) * SEEDS * (SEEDS - 1) // 2
# a note is "unstable" exactly when its most frequent status has probability < 1
pn = st.per_note
assert (pn["coreRatingStatus_unstable"] == (pn["coreRatingStatus_p_modal"] < 1)).all()
# the exact solver lands on the same optimum whatever the start: less intercept spread than the Adam loop
sp = st.spread.set_index(["fidelity", "column"])
assert sp.loc[("fast", "coreNoteIntercept"), "max_sd"] <= sp.loc[("official", "coreNoteIntercept"), "max_sd"]
assert sp.loc[("fast", "coreNoteIntercept"), "median_sd"] < 1e-4
if DATA == "sample":
    # on the sample the seed's CRH churn stays well inside the official full-run guard
    assert ch["official_churn"].max() < CHURN_GUARDS[1]
