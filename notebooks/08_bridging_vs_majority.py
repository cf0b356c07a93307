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
# # 08 — Bridging against a majority vote, on data with a planted truth
#
# Before the matrix factorization, Birdwatch used a **supermajority** rule: a note with at least
# 5 ratings was helpful when its helpful ratio
#
# $$\bar r_n = \frac{1}{k_n}\sum_u r_{un} \ \ge\ 0.84 .$$
#
# A majority rule rewards notes that one large side likes. **Bridging** (the MF intercept,
# status CRH from the Core scorer) rewards what raters with *different* factors agree on.
#
# To see which is closer to the truth we need data where the truth is known: the synthetic
# generator plants note types. "bridging" notes have high quality and no lean (helpful to
# everyone); "partisan" notes are liked by one side only; "mediocre", "notneeded", "incorrect",
# "abusive" notes are not helpful. Truth here: *helpful = planted type "bridging"*.
#
# With `DATA="sample"` the bundled sample is used (it is synthetic and ships its truth tables);
# otherwise a small data set is generated with `cnlab.synthetic.generate`.

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"
SUPERMAJORITY = 0.84  # legacy helpful-ratio threshold
MIN_RATINGS = 5

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import cnlab
from cnlab import plotting as cp
from cnlab import schema, synthetic

import _nb

config = cnlab.ScoringConfig(topics=TOPICS)
if DATA == "sample":
    dataset = cnlab.load_sample()
    truth = pd.read_csv(synthetic.SAMPLE_DIR / "notes_truth.tsv.gz", sep="\t")
    result = _nb.score(dataset, DATA, config, seed=SEED)  # same run as notebooks 00–07
else:  # a public-data folder has no truth: generate a small planted data set instead
    folder = tempfile.mkdtemp(prefix="cnlab-nb08-")
    planted = synthetic.generate(folder, n_notes=600, n_raters=500, n_ratings=20_000, seed=SEED, compress=True)
    dataset = cnlab.load(folder)
    truth = planted.notes
    result = cnlab.score(dataset, config, seed=SEED)
print(truth["noteType"].value_counts().to_dict())

# %% [markdown]
# ## The two rules

# %%
ratings = result.preprocessed.ratings
per_note = ratings.groupby(schema.NOTE_ID)[schema.HELPFUL_NUM].agg(helpfulRatio="mean", numRatings="size")
scored = result.frames["scored_notes"]
notes = (truth[[schema.NOTE_ID, "noteType", "trueQuality", "trueFactor1"]]
         .merge(per_note, left_on=schema.NOTE_ID, right_index=True, how="left")
         .merge(scored[[schema.NOTE_ID, "coreNoteIntercept", "coreNoteFactor1", "coreRatingStatus"]],
                on=schema.NOTE_ID, how="left"))
notes["truth"] = notes["noteType"] == "bridging"
notes["majority"] = (notes["numRatings"] >= MIN_RATINGS) & (notes["helpfulRatio"] >= SUPERMAJORITY)
notes["bridging"] = notes["coreRatingStatus"] == schema.CRH  # the Core scorer's decision
notes = notes.set_index(schema.NOTE_ID)

# %%
ax = cp.truth_agreement(notes["truth"], {f"majority (ratio ≥ {SUPERMAJORITY})": notes["majority"],
                                         "bridging (Core CRH)": notes["bridging"]})
cp.savefig(ax.figure, "08_truth_agreement")
plt.show()

# %% [markdown]
# ## Where they disagree

# %%
label = {(True, True): "both helpful", (True, False): "majority only",
         (False, True): "bridging only", (False, False): "neither"}
notes["agreement"] = [label[(m, b)] for m, b in zip(notes["majority"], notes["bridging"])]
pd.crosstab(notes["noteType"], notes["agreement"])

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
shown = notes[notes["agreement"] != "neither"].reset_index()
cp.note_factor_intercept(shown, status_col="agreement", ax=axes[0])
axes[0].set_title("Notes either rule calls helpful")
cp.status_confusion(notes["noteType"], notes["agreement"], before_label="planted note type",
                    after_label="rules", ax=axes[1])
axes[1].set_title("Planted type vs the two rules")
cp.savefig(fig, "08_disagreements")
plt.show()

# %% [markdown]
# ## Checks

# %%
def precision(pred):
    return float((pred & notes["truth"]).sum() / max(int(pred.sum()), 1))

p_major, p_bridge = precision(notes["majority"]), precision(notes["bridging"])
print(f"precision: majority {p_major:.3f}, bridging {p_bridge:.3f}")
assert len(notes) == len(truth) and notes.index.is_unique
# bridging is closer to the planted truth where it matters: what it shows is more often truly helpful
assert p_bridge > p_major, (p_bridge, p_major)
# partisan notes pass the majority vote more often than the bridging rule
partisan = notes["noteType"] == "partisan"
assert notes.loc[partisan, "majority"].sum() >= notes.loc[partisan, "bridging"].sum()
# no planted abusive or incorrect note is rated helpful by bridging
assert not notes.loc[notes["noteType"].isin(["abusive", "incorrect"]), "bridging"].any()
