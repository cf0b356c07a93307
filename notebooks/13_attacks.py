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
# # 13 — Coordinated attacks: how many accounts does it take?
#
# `cnlab.lab.attack` adds new rater accounts to the download — participant ids, the
# `userEnrollment` rows of raters who just joined (`newUser`, 5 ratings to earn in, a Core
# modeling group), and ratings with timestamps, helpfulness levels and tags in the public format —
# rescores, and compares with the unattacked run. Four threat models:
#
# | strategy | what the accounts do |
# |---|---|
# | `promote` | rate partisan or unhelpful notes HELPFUL, hours after they appear, as independent accounts would |
# | `suppress` | rate helpful (bridging) notes NOT_HELPFUL |
# | `coordinated_block` | rate the same notes within minutes of each other, minutes after each note appears |
# | `sleeper` | rate honestly first (consistently with the planted truth), then attack |
#
# The rest of each account's `budget` are honest ratings on other notes: camouflage that gives it
# a viewpoint (by default the one opposite to its targets — agreement across viewpoints is what
# raises a note's intercept) and a helpfulness record.
#
# The metrics are those of Truong et al. (2025): **pollution** — of the targeted notes that are
# not helpful by the planted truth, the share rated helpful (CRH) after the attack; **suppression**
# — of the targeted notes that are helpful, the share not CRH. With zero attackers they are the
# scorer's own error rates on the targets. On a public download there is no planted truth: the
# baseline run stands in for it (helpful = CRH in the baseline), and both metrics start at 0.

# %% tags=["parameters"]
import os

DATA = os.environ.get("CNLAB_NOTEBOOK_DATA", "sample")  # "sample", a `cnlab synth` folder or a public-data folder
SEED = 42
N_TARGETS = 10  # notes each attack aims at
BUDGET = 20  # ratings per account (honest + attack)
N_SUPPRESS = 40  # accounts in part 1
COUNTS = [0, 20, 60]  # attacker counts of the curve in part 2
SETTINGS = ["all on", "all off"]  # defence settings of the curve (cnlab.lab.attacks.DEFENCE_SETTINGS)

# %%
from pathlib import Path

import matplotlib.pyplot as plt

import cnlab
from cnlab import plotting as cp
from cnlab import synthetic
from cnlab.lab import attack, attack_curve
from cnlab.lab import attacks

import _nb

FIGURES = _nb.figures_dir()  # $CNLAB_FIGURES_DIR, else the repository's figures/

if DATA == "sample":
    TRUTH = synthetic.SAMPLE_DIR  # the sample is synthetic: notes_truth.tsv.gz holds the planted truth
elif (Path(DATA) / "notes_truth.tsv.gz").exists():
    TRUTH = Path(DATA)  # a `cnlab synth` folder
else:
    TRUTH = None  # a public download: the baseline run is the truth
# The Core scorer with all its defences; no topic model, pflip or PCRH: no Core rule reads them,
# and they would triple the time of each of the notebook's runs.
CONFIG = cnlab.ScoringConfig(topics="none", pflip="none", pcrh="none")

dataset = _nb.load_dataset(DATA)
baseline = _nb.score(dataset, DATA, CONFIG, seed=SEED)  # cached across notebooks when CNLAB_NOTEBOOK_CACHE is set
dataset = baseline.dataset  # the attack is injected into the very dataset the baseline scored
n_ratings_before = len(dataset.ratings)

# %% [markdown]
# ## 1. Burying helpful notes
#
# Forty new accounts each rate the 10 targets NOT_HELPFUL and ten other notes honestly. Every
# stage is scored again on the attacked data (the defences act in prescoring: the helpfulness
# filter, rater clustering), with the baseline's "now".

# %%
bury = attack(dataset, strategy="suppress", n_attackers=N_SUPPRESS, targets=N_TARGETS, budget=BUDGET,
              seed=SEED, config=CONFIG, truth=TRUTH, baseline=baseline)
print(bury.summary())

# %% [markdown]
# The targets, their status and Core intercept before and after (`crh_*`: CRH, or held at
# NEEDS_MORE_RATINGS only by the stabilization delay, which a single rescoring always meets). A
# note whose CRH status is locked (two weeks after creation, `lockedStatus` in the status
# history) keeps it however far its intercept falls; a note with fewer than 5 ratings in the
# baseline has no intercept there.

# %%
bury.targets[["noteId", "noteType", "status_baseline", "crh_baseline", "status_attacked", "crh_attacked",
              "coreNoteIntercept_baseline", "coreNoteIntercept_attacked"]]

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
cp.status_transitions(bury.diff, ax=axes[0])
cp.shift_scatter(bury.diff, column="coreNoteIntercept", ax=axes[1])
cp.savefig(fig, "13_suppress", directory=FIGURES)
plt.show()

# %% [markdown]
# ## 2. A coordinated block, with the defences on and off
#
# The block promotes partisan or unhelpful notes: every account rates the same targets within
# five minutes, minutes after each target appears — the pattern post-selection similarity and the
# quasi-cliques look for. "all off" switches off post-selection similarity (and with it the
# quasi-cliques), the helpfulness filter and the high-volume rule
# (`cnlab.lab.attacks.defence_config` says exactly what each switch does). The same targets and
# the same (nested) accounts at every count; the band is the 95 % Wilson interval.

# %%
curve = attack_curve(dataset, strategy="coordinated_block", attacker_counts=COUNTS, defence_settings=SETTINGS,
                     seeds=[SEED], targets=N_TARGETS, budget=BUDGET, config=CONFIG, truth=TRUTH)
curve.pivot_table(index="n_attackers", columns=["defences", "metric"], values="value")[
    [(s, m) for s in SETTINGS for m in ("pollution", "became_crh")]]

# %%
fig, ax = plt.subplots(figsize=(7, 4.6), layout="constrained")
cp.attack_curves(curve, ax=ax)
cp.savefig(fig, "13_attack_curves", directory=FIGURES)
plt.show()

# %% [markdown]
# ## Checks

# %%
# the input is never changed; the attacked dataset holds every injected row
assert len(dataset.ratings) == n_ratings_before
assert len(bury.injected_ratings) == N_SUPPRESS * BUDGET == len(bury.result.dataset.ratings) - n_ratings_before
assert len(bury.injected_enrollment) == N_SUPPRESS
assert (bury.injected_enrollment["enrollmentState"] == "newUser").all()
# burying works: the Core intercepts of the targets drop (those scored in both runs), and
# suppression does not fall
shift = (bury.targets["coreNoteIntercept_attacked"] - bury.targets["coreNoteIntercept_baseline"]).dropna()
assert len(shift) and (shift < 0).all()
assert bury.metric("suppression") >= bury.metric("suppression_baseline")
# zero attackers change nothing; every metric is a proportion
assert (curve.loc[curve["n_attackers"] == 0, "n_changed"] == 0).all()
ok = curve["n"] > 0
assert curve.loc[ok, "value"].between(0, 1).all()
# a coordinated block does at least as much damage with the defences off as with them on
top = curve[(curve["n_attackers"] == max(COUNTS)) & (curve["metric"] == "became_crh")].set_index("defences")["value"]
assert top["all off"] >= top["all on"]
