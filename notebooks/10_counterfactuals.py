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
# # 10 — Counterfactuals: what if some raters had not rated?
#
# `cnlab.lab.counterfactual` removes rows from the download (raters, notes, single ratings, or
# everything created after a time), scores what is left and compares the two runs note by note
# (`cnlab.lab.diff` → a `StatusDiff`: status transitions, the rule that decided each changed note,
# and the shift $\Delta = \theta_{\text{counterfactual}} - \theta_{\text{baseline}}$ of every
# intercept and factor). Every removed row is counted.
#
# The official scorer runs in two phases: **prescoring** fits the raters ($i_u$, $f_u$), $\mu$,
# the helpfulness filter and the tag thresholds; **final scoring** refits every note
# ($i_n$, $f_n$) on the current ratings with raters and $\mu$ frozen, then applies the rules. Final
# scoring runs more often than prescoring, so it regularly meets ratings the prescoring never saw.
# `reuse="prescoring"` (the default) does the same with the counterfactual data: it keeps the
# baseline's prescoring (and topics, rater clustering, pflip / PCRH models) and reruns final
# scoring onwards; `reuse="none"` recomputes everything, as if the removed rows had never existed.
#
# 1. Without the raters of modeling group 13 (a third of the sample's grouped raters).
# 2. Without the most active raters: the two reuse modes side by side.
# 3. A known answer: remove the raters who rated one helpful note HELPFUL.

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"
GROUP = 13  # modeling group whose raters are removed
TOP_K = 20  # the most active raters removed in part 2

# %%
import matplotlib.pyplot as plt

import cnlab
from cnlab import plotting as cp
from cnlab import schema
from cnlab.lab import counterfactual, select_raters

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
result = _nb.score(dataset, DATA, cnlab.ScoringConfig(topics=TOPICS), seed=SEED)  # cached across notebooks when CNLAB_NOTEBOOK_CACHE is set
dataset = result.dataset  # the counterfactuals reduce the very dataset the baseline scored

# %% [markdown]
# ## 1. Without one modeling group
#
# The rater factor $f_u$ places raters on the main axis of disagreement; a group that rates
# mostly its own notes pulls the note factors of those notes. Removing its ratings leaves fewer
# ratings on many notes (`numRatings` shifts) and re-balances the raters on each side.

# %%
without_group = counterfactual(baseline=result, drop_raters={"modelingGroup": GROUP}, seed=SEED)
print(without_group.summary())
without_group.removed

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
cp.status_transitions(without_group.diff, ax=axes[0])
cp.shift_scatter(without_group.diff, column="coreNoteIntercept", ax=axes[1])
cp.savefig(fig, "10_without_group", directory=FIGURES)
plt.show()

# %% [markdown]
# The changed notes, with the rule that decided their new status (`decidingRule_new`: the last
# Core rule when the Core model decided, else the meta rule):

# %%
changed = without_group.diff.changed()
changed[["noteId", "finalRatingStatus_old", "finalRatingStatus_new", "decidingRule_new",
         "coreNoteIntercept_shift", "numRatings_shift"]].head(10)

# %% [markdown]
# ## 2. Without the most active raters: keep the prescoring, or recompute it?
#
# With `reuse="prescoring"` the raters' parameters stay as fitted on all ratings, so a note the
# removed raters did not rate keeps its ratings and moves only through what every note shares in
# the final fit (the stopping step of the optimiser and the note regularization weight
# $\rho_n$ = ratings / notes). With `reuse="none"` the raters are refitted without the removed
# ones and every note moves.

# %%
kept = counterfactual(baseline=result, drop_raters={"top_k_active": TOP_K}, seed=SEED)
fresh = counterfactual(baseline=result, drop_raters={"top_k_active": TOP_K}, reuse="none", seed=SEED)
r = dataset.ratings
top_codes, _ = select_raters(dataset, {"top_k_active": TOP_K})
rated_by_top = set(r.loc[r[schema.RATER_ID].isin(top_codes), schema.NOTE_ID])


def untouched_shift(cf):
    """max |coreNoteIntercept shift| over the notes none of the removed raters rated."""
    d = cf.diff.notes
    return d.loc[(d["presence"] == "both") & ~d["noteId"].isin(rated_by_top), "coreNoteIntercept_shift"].abs().max()


for name, cf in (("reuse='prescoring'", kept), ("reuse='none'", fresh)):
    print(f"{name:>19}: {cf.diff.n_changed} notes change status; recomputed: "
          f"{', '.join(cf.result.recomputed) or '-'}; max |Δ intercept| of notes the removed raters "
          f"did not rate: {untouched_shift(cf):.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained", sharey=True)
cp.shift_scatter(kept.diff, ax=axes[0])
axes[0].set_title("reuse='prescoring'\n" + axes[0].get_title(), fontsize="small")
cp.shift_scatter(fresh.diff, ax=axes[1])
axes[1].set_title("reuse='none'\n" + axes[1].get_title(), fontsize="small")
cp.savefig(fig, "10_top_active_reuse", directory=FIGURES)
plt.show()

# %% [markdown]
# ## 3. A known answer
#
# Take a helpful note (CRH, decided by the Core model, not locked) that has fewer than 5 ratings
# other than HELPFUL ones (the one with the fewest ratings), and remove every rater who rated it
# HELPFUL. Fewer than `min_ratings_needed` = 5 ratings remain, so Core's first rule, InitialNMR, is
# also its last: the note must become NEEDS_MORE_RATINGS.

# %%
sn = result.frames["scored_notes"]
locked = dataset.status_history.set_index("noteId")["lockedStatus"]
crh = sn[(sn["finalRatingStatus"] == schema.CRH) & (sn["decidedBy"] == "CoreModel (v1.1)")]
crh = crh[locked.reindex(crh["noteId"]).isna().to_numpy()]
not_helpful = r[r["helpfulnessLevel"] != "HELPFUL"].groupby(schema.NOTE_ID).size()
crh = crh[not_helpful.reindex(crh["noteId"]).fillna(0).to_numpy() < 5].sort_values(["numRatings", "noteId"])
note = int(crh["noteId"].iloc[0])
mine = r[r[schema.NOTE_ID] == note]
helpful_raters = mine.loc[mine["helpfulnessLevel"] == "HELPFUL", schema.RATER_ID].unique()
known = counterfactual(baseline=result, drop_raters=helpful_raters, seed=SEED)
row = known.diff.notes.set_index("noteId").loc[note]
print(f"note {note}: {row['finalRatingStatus_old']} -> {row['finalRatingStatus_new']} "
      f"({len(helpful_raters)} raters removed, {int(row['numRatings_new'])} ratings left, "
      f"deciding rule {row['decidingRule_new']})")

# %% [markdown]
# ## Checks

# %%
# every removed rating is counted, and only ratings were removed
for cf in (without_group, kept, fresh, known):
    assert set(cf.n_removed) == {"ratings"}
    assert cf.n_removed["ratings"] == len(dataset.ratings) - len(cf.dataset.ratings)
group_codes = dataset.enrollment.loc[dataset.enrollment["modelingGroup"] == GROUP, "participantId"]
assert without_group.n_removed["ratings"] == int(r[schema.RATER_ID].isin(group_codes).sum())
# same notes on both sides: removing raters removes no note
assert (without_group.diff.notes["presence"] == "both").all()
# reuse="prescoring" keeps the prescoring; reuse="none" recomputes it
assert kept.result.prescoring is result.prescoring and fresh.result.prescoring is not result.prescoring
# notes the removed raters did not rate keep their ratings, and with the prescoring kept they barely move
TOL_UNTOUCHED = 0.01  # shared stopping step and ρ_n only (tests/test_lab_counterfactual.py)
assert untouched_shift(kept) < TOL_UNTOUCHED
# the known answer
assert row["finalRatingStatus_old"] == schema.CRH and row["finalRatingStatus_new"] == schema.NMR
assert row["numRatings_new"] < 5 and row["decidingRule_new"] == "InitialNMR (v1.0)"
