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
# # 05 — Status rules: how each note gets its status
#
# The Core scorer applies its rules in a fixed order; a later rule overwrites an earlier one
# (spec 03 §4). With $k$ ratings, intercept $i$ and factor $f$:
#
# | rule | condition | status |
# |---|---|---|
# | InitialNMR | all notes | NMR |
# | GeneralCRH | $k\ge5$, $i \ge 0.40$, misleading | CRH |
# | GeneralCRNH | $k\ge5$, $i \le -0.05-0.8\lvert f\rvert$ | CRNH |
# | UcbCRNH | pseudo-rater max $< -0.04$ | CRNH |
# | RatioCRNH | both sides' mean helpfulness low | CRNH |
# | NmCRNH | $i < -0.15$, not misleading | CRNH |
# | GeneralCRHInertia | was CRH, $i \ge 0.39$ | CRH |
# | TagFilter / FilterIncorrect / FilterLowDiligence / FilterLargeFactor / RejectLowIntercept | see notebook 06 | FIRM_REJECT |
# | MinMinorityRaters / RaterBalance | net helpful per factor side $< 4$ … | NYH |
#
# `coreActiveRules` lists every rule that emitted an update for the note.
# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample" or a public-data folder
SEED = 42
TOPICS = os.environ.get("CNLAB_NOTEBOOK_TOPICS", "model")  # topic model: "model" (official) or "none"

# %%
import matplotlib.pyplot as plt
import pandas as pd

import cnlab
from cnlab import plotting as cp
from cnlab import schema

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

dataset = _nb.load_dataset(DATA)
result = _nb.score(dataset, DATA, cnlab.ScoringConfig(topics=TOPICS), seed=SEED)  # cached across notebooks when CNLAB_NOTEBOOK_CACHE is set
scored = result.frames["scored_notes"]

# %%
ax = cp.rule_flow(scored["coreActiveRules"])
cp.savefig(ax.figure, "05_rule_flow", directory=FIGURES)
plt.show()

# %%
ax = cp.note_factor_intercept(scored)
cp.savefig(ax.figure, "05_note_factor_intercept", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Net helpful ratings from each side
# MinMinorityRaters keeps a CRH note only if raters with negative *and* positive factors each give
# it at least 4 net helpful ratings ($\#\text{helpful} - \#\text{not helpful}$).

# %%
core_raters = result.final["MFCoreScorer"].calls["main"].mf.rater_params
counts = cp.net_helpful_counts(result.final_ratings, core_raters, factor_col=schema.RATER_FACTOR1)
ax = cp.net_helpful_by_side(counts, status=scored, status_col="coreRatingStatus")
cp.savefig(ax.figure, "05_net_helpful_by_side", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks
# The status of each note is the one set by the **last** rule in its active-rules list, and the
# CRH notes are exactly the notes whose last rule is GeneralCRH or GeneralCRHInertia.

# %%
rules = scored["coreActiveRules"]
has = rules.notna()
last_rule = rules[has].str.split(",").str[-1].str.split(" (", regex=False).str[0]
implied = last_rule.map(dict(cp.RULE_ORDER))
assert (implied == scored.loc[has, "coreRatingStatus"]).all(), pd.crosstab(implied, scored.loc[has, "coreRatingStatus"])
n_crh = int((scored["coreRatingStatus"] == schema.CRH).sum())
assert n_crh == int(last_rule.isin(["GeneralCRH", "GeneralCRHInertia", "CRHSuperThreshold", "ElevatedCRHInertia"]).sum())
crh = scored[scored["coreRatingStatus"] == schema.CRH]
assert (crh["coreNoteIntercept"] >= 0.39 - 1e-6).all() and (crh["coreNoteFactor1"].abs() <= 0.5).all()
# every Core-scored note has a status; the rule counts are bounded by the number of notes
assert scored.loc[scored["coreNoteIntercept"].notna(), "coreRatingStatus"].notna().all()
assert cp.rule_counts(rules).max() <= len(scored)
print(f"CRH {n_crh}, statuses: {scored['coreRatingStatus'].value_counts().to_dict()}")
