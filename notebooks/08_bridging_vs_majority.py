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
import pandas as pd

import cnlab
from cnlab.lab import evaluation
from cnlab import plotting as cp
from cnlab import schema, synthetic

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

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
rules = {f"majority (ratio ≥ {SUPERMAJORITY})": notes["majority"], "bridging (Core CRH)": notes["bridging"]}
ax = cp.truth_agreement(notes["truth"], rules)
cp.savefig(ax.figure, "08_truth_agreement", directory=FIGURES)
plt.show()

# %% [markdown]
# ## How sure are we?
#
# The error bars are 95 % **Wilson** intervals of each proportion $\hat p = x/m$ (e.g. precision
# $= tp/(tp+fp)$): $\bigl(\hat p + \tfrac{z^2}{2m} \pm z\sqrt{\hat p(1-\hat p)/m + z^2/4m^2}\bigr)
# / (1 + z^2/m)$, $z = 1.96$. Precision rests on the few notes a rule shows, so its interval is wide.
#
# Both rules judge the *same* notes, so they are compared with a paired test: **McNemar's exact
# test** looks only at the notes one rule gets right and the other wrong; under "equally accurate"
# each such note favours either rule with probability ½ (`cnlab.lab.evaluation.compare_rules`).

# %%
metrics = evaluation.rule_metrics(notes["truth"], rules)
mcnemar = evaluation.compare_rules(notes["truth"], notes["majority"], notes["bridging"],
                                   names=("majority", "bridging"))
print(mcnemar.summary())
print(mcnemar.table.to_string(), end="\n\n")
lo_b, hi_m = metrics["precision_lo"].iloc[1], metrics["precision_hi"].iloc[0]
print("bridging's precision interval", "clears" if lo_b > hi_m else "overlaps", "the majority's")
metrics.round(3)

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
cp.note_factor_intercept(shown, status_col="agreement", title="Notes either rule calls helpful", ax=axes[0])
cp.status_confusion(notes["noteType"], notes["agreement"], before_label="planted note type",
                    after_label="rules", ax=axes[1])
axes[1].set_title("Planted type vs the two rules")
cp.savefig(fig, "08_disagreements", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks

# %%
major, bridge = metrics.loc[list(rules)].itertuples()
p_major, p_bridge = major.precision, bridge.precision
print(f"precision: majority {p_major:.3f} [{major.precision_lo:.3f}, {major.precision_hi:.3f}], "
      f"bridging {p_bridge:.3f} [{bridge.precision_lo:.3f}, {bridge.precision_hi:.3f}]; "
      f"McNemar (accuracy) p = {mcnemar.pvalue:.3g}")
assert len(notes) == len(truth) and notes.index.is_unique
# bridging is closer to the planted truth where it matters: what it shows is more often truly helpful
assert p_bridge > p_major, (p_bridge, p_major)
# the metric table and the McNemar table count the same notes: each estimate lies in its interval,
# the paired table's margins are the two rules' numbers of correct notes, the p-value is a probability
for row in (major, bridge):
    assert row.n == len(notes) == row.tp + row.fp + row.fn + row.tn
    assert row.tp + row.fp == rules[row.Index].sum()
    for m in evaluation.METRICS:
        assert getattr(row, f"{m}_lo") <= getattr(row, m) <= getattr(row, f"{m}_hi")
table = mcnemar.table.to_numpy()
assert table.sum(axis=1)[0] == major.tp + major.tn and table.sum(axis=0)[0] == bridge.tp + bridge.tn
assert 0.0 <= mcnemar.pvalue <= 1.0
# partisan notes pass the majority vote more often than the bridging rule
partisan = notes["noteType"] == "partisan"
assert notes.loc[partisan, "majority"].sum() >= notes.loc[partisan, "bridging"].sum()
# no planted abusive or incorrect note is rated helpful by bridging
assert not notes.loc[notes["noteType"].isin(["abusive", "incorrect"]), "bridging"].any()
