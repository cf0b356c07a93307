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
# # 06 — Tag-outlier and incorrect-tag filters
#
# **Tag outliers** (spec 03 §5). Factors are z-normalised; each rating gets the weight
#
# $$w = \frac{1}{1 + (d / p_{40})^5},\qquad d = |\tilde f_u - \tilde f_n|,$$
#
# $p_{40}$ = the 40th percentile of $d$ — so not-helpful tags from raters *on the note's side*
# count most. Per note and tag: $\text{Adjusted} = \sum w\cdot\text{tag}$,
# $\text{AdjustedRatio} = \text{Adjusted} / \sum w$. A note is filtered when some tag has
# Adjusted $> 2.5$ and AdjustedRatio above that tag's threshold — the 95th percentile of the
# ratio over the round-1 CRH notes (prescoring).
#
# **Incorrect tag** (spec 03 §6). Among raters whose clipped factor is within 0.3 of the note's:
# $\text{tf-idf} = \#\text{incorrect} / \ln(1 + \sum_u p_u)$, $p_u$ = the rater's usual incorrect
# rate. Filtered when $\#\text{incorrect} \ge 2$, voters $\ge 3$ and tf-idf $\ge 2.5$.
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
from cnlab.scoring.tag_filter import rating_weights

core = result.final["MFCoreScorer"]
main = core.calls["main"]
weighted = rating_weights(main.training_ratings, main.note_params, main.mf.rater_params)
distance = (weighted["_fu"] - weighted["_fn"]).abs()  # |f̃_u − f̃_n| as in rating_weights
ax = cp.tag_outlier_weights(distance)
cp.savefig(ax.figure, "06_tag_outlier_weights", directory=FIGURES)
plt.show()

# %%
_, _, meta = result.prescoring.for_scorer("MFCoreScorer")
thresholds = meta.tag_filtering_thresholds
aux = result.frames["aux_note_info"]
ax = cp.tag_thresholds(thresholds, ratios=aux)
cp.savefig(ax.figure, "06_tag_thresholds", directory=FIGURES)
plt.show()

# %%
voted = aux[(aux["notHelpfulIncorrect_interval"] >= 2) & (aux["num_voters_interval"] >= 3)]
ax = cp.threshold_hist(voted["tf_idf_incorrect_interval"], 2.5,
                       label="tf-idf of incorrect tags (notes with ≥2 incorrect, ≥3 voters)")
cp.savefig(ax.figure, "06_incorrect_tfidf", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks: every filtered note meets its filter's conditions

# %%
rules = scored["coreActiveRules"].fillna("")
tagged = scored.loc[rules.str.contains("TagFilter", regex=False), ["noteId", "activeFilterTags"]]
assert tagged["activeFilterTags"].notna().all()
joined = tagged.merge(aux, on="noteId", how="left")
for _, row in joined.iterrows():
    for tag in row["activeFilterTags"].split(","):
        assert tag != "notHelpfulHardToUnderstand"
        assert row[f"{tag}Adjusted"] > 2.5, (row["noteId"], tag)
        thr = thresholds.get(f"{tag}AdjustedRatio", thresholds.get(tag))
        assert row[f"{tag}AdjustedRatio"] > thr, (row["noteId"], tag)
incorrect = scored.loc[rules.str.contains("FilterIncorrect", regex=False), ["noteId"]].merge(aux, on="noteId")
assert (incorrect["notHelpfulIncorrect_interval"] >= 2).all()
assert (incorrect["num_voters_interval"] >= 3).all()
assert (incorrect["tf_idf_incorrect_interval"] >= 2.5).all()
assert weighted["ratingWeight"].between(0, 1).all()
print(f"TagFilter: {len(tagged)} notes, FilterIncorrect: {len(incorrect)} notes")
