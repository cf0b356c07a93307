"""cnlab.lab.factors: select_k (held-out MSE / log-likelihood by number of factors) and
factor_recovery (fitted vs planted note factors), and their figures.

Tier 1: hand-built matrices of known rank (rank 1 → k = 1, rank 2 → k = 2), a time split whose
held-out ratings are known, rotated copies of a planted factor table (recovery 1) and unrelated
factors (recovery near 0). Tier 2: properties of the splits (disjoint, time-ordered, the asked
share) and repeatability (same seed, same table). The notebook 12_k_factors is executed by
tests/test_notebooks.py.
"""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnlab import plotting as P  # noqa: E402
from cnlab.lab import factors as F  # noqa: E402
from cnlab.mf.config import MFConfig  # noqa: E402
from cnlab.scorers.mf_config import CORE  # noqa: E402


#: Core with a negligible L2 penalty: a noiseless low-rank matrix is then fitted exactly by enough
#: factors (with the official penalties, whose intercept terms are 5x the factor terms, a second
#: factor absorbs part of the intercepts' shrinkage and helps even on rank-1 data).
CLEAN = dataclasses.replace(CORE, mf=MFConfig(**{f"{w}_lambda": 1e-5 for w in (
    "user_factor", "note_factor", "user_intercept", "note_intercept", "global_intercept")}))


def _matrix(rank: int, *, n_notes: int = 30, n_raters: int = 30, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Every rater rates every note: y = 0.5 + i_u + i_n + f_u · f_n (+ noise), ``rank`` factors."""
    rng = np.random.default_rng(seed)
    fu = rng.normal(0, 0.6, (n_raters, rank))
    fn = rng.normal(0, 0.6, (n_notes, rank))
    iu = rng.normal(0, 0.1, n_raters)
    i_n = rng.normal(0, 0.1, n_notes)
    u, n = np.meshgrid(np.arange(n_raters), np.arange(n_notes), indexing="ij")
    u, n = u.ravel(), n.ravel()
    y = 0.5 + iu[u] + i_n[n] + np.einsum("ij,ij->i", fu[u], fn[n]) + noise * rng.normal(size=len(u))
    return pd.DataFrame({"noteId": 1000 + n, "raterParticipantId": u, "helpfulNum": y.astype(np.float32),
                         "createdAtMillis": rng.permutation(len(u)).astype(np.int64)})


# --------------------------------------------------------------------------------------------
# tier 1: known answers
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rank1_selection():
    return F.select_k(_matrix(1), ks=(1, 2), holdout="random", holdout_fraction=0.15, seed=3, solver="exact",
                      config=CLEAN)


def test_rank_one_noiseless_matrix_selects_one_factor(rank1_selection):
    sel = rank1_selection
    assert sel.best_k == 1
    by_k = sel.by_k.set_index("k")
    # k = 1 predicts the held-out cells exactly; the second factor has nothing left to explain
    assert by_k.loc[1, "heldoutMse"] < 1e-4 and by_k.loc[2, "deltaMse"] < 1e-4
    assert set(sel.table["k"]) == {1, 2} and len(sel.table) == 2
    assert sel.fit(1).n_factors == 1 and sel.fit(2).n_factors == 2 and sel.fit() is sel.fit(1)


def test_rank_two_noiseless_matrix_selects_two_factors():
    """The same procedure on a rank-2 matrix picks 2: the rank-1 answer above is not a default."""
    sel = F.select_k(_matrix(2), ks=(1, 2, 3), holdout="random", holdout_fraction=0.15, seed=3, solver="exact",
                     config=CLEAN)
    assert sel.best_k == 2 and sel.min_k in (2, 3)
    by_k = sel.by_k.set_index("k")
    assert by_k.loc[1, "heldoutMse"] > 0.01 > 1e-4 > by_k.loc[2, "heldoutMse"]
    assert by_k.loc[1, "deltaMse"] > by_k.loc[1, "deltaSe"]
    assert by_k.loc[2, "heldoutLogLik"] > by_k.loc[1, "heldoutLogLik"]


def test_table_columns_and_intervals(rank1_selection):
    sel = rank1_selection
    t, b = sel.table, sel.by_k
    n = int(t["nHeldout"].iloc[0])
    assert n == sel.n_ratings - int(t["nTrain"].iloc[0]) - sel.n_unscored
    assert (b["mseLow"] < b["heldoutMse"]).all() and (b["heldoutMse"] < b["mseHigh"]).all()
    assert (b["logLikLow"] < b["heldoutLogLik"]).all()
    # the log-likelihood is the Gaussian one with the train residual variance (module docstring)
    row = t[t["k"] == 1].iloc[0]
    s2 = row["trainMse"]
    assert row["heldoutLogLik"] == pytest.approx(-0.5 * np.log(2 * np.pi * s2) - row["heldoutMse"] / (2 * s2))
    assert b.loc[b["k"] == b["k"][b["heldoutMse"].idxmin()], "deltaMse"].iloc[0] == 0.0
    text = sel.summary()
    assert "chosen k = 1" in text and "heldoutMse" in text


def test_time_split_holds_out_the_latest_ratings():
    r = pd.DataFrame({"noteId": [1, 1, 2, 2, 3, 3, 1, 2, 3, 1],
                      "createdAtMillis": [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]})
    mask = F.holdout_mask(r, holdout="time", holdout_fraction=0.3)
    assert sorted(r.loc[mask, "createdAtMillis"]) == [8, 9, 10]
    # per note: the latest floor(0.5 * 4) = 2 of note 1, floor(0.5 * 3) = 1 of notes 2 and 3
    m2 = F.holdout_mask(r, holdout="note_time", holdout_fraction=0.5)
    assert sorted(map(tuple, r.loc[m2, ["noteId", "createdAtMillis"]].to_numpy().tolist())) == \
        [(1, 8), (1, 10), (2, 9), (3, 7)]


def test_select_k_scores_only_later_ratings_of_fitted_notes_and_raters():
    """select_k's time split: held-out = the latest 10 %, scored only where note and rater are fitted."""
    r = _matrix(1, n_notes=25, n_raters=25)
    # make the last two notes new: all their ratings come last, so none of them can be scored
    late = r["noteId"] >= r["noteId"].max() - 1
    r.loc[late, "createdAtMillis"] += 10_000
    sel = F.select_k(r, ks=(1,), holdout="time", holdout_fraction=0.1, seed=0, solver="exact")
    fitted_notes = set(sel.fit(1).note_params["noteId"])
    assert not (set(r.loc[late, "noteId"]) & fitted_notes)
    n_out = int(round(0.1 * len(r)))
    assert sel.table["nHeldout"].iloc[0] + sel.n_unscored == n_out
    assert sel.n_unscored >= late.sum()


def test_dataset_input_uses_the_core_slice():
    """A Dataset goes through preprocess and Core's slice (raters outside the core groups are out)."""
    import cnlab

    sample_dataset = cnlab.load_sample()
    sel = F.select_k(sample_dataset, ks=(1,), holdout="note_time", seed=0, solver="exact")
    from cnlab.preprocess import preprocess
    from cnlab.scorers.slicing import filter_input

    pre = preprocess(sample_dataset)
    scoped, _, _ = filter_input(pre.ratings, pre.status_history, sample_dataset.enrollment, CORE)
    assert sel.n_ratings == len(scoped) < len(pre.ratings)
    assert set(sel.fit(1).rater_params["raterParticipantId"]) <= set(scoped["raterParticipantId"])
    assert sel.scorer == "MFCoreScorer" and "MFCoreScorer slice" in sel.source


def test_rotated_copy_is_recovered_exactly():
    rng = np.random.default_rng(1)
    truth = pd.DataFrame({"noteId": np.arange(200), "trueFactor1": rng.normal(0, 1, 200),
                          "trueFactor2": rng.normal(0, 0.3, 200)})
    theta = 0.7
    q = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ np.diag([1, -1])
    fitted = pd.DataFrame(truth[["trueFactor1", "trueFactor2"]].to_numpy() @ q,
                          columns=["internalNoteFactor1", "internalNoteFactor2"])
    fitted["noteId"] = np.arange(200)[::-1][::-1]
    rec = F.factor_recovery(fitted.sample(frac=1, random_state=0), truth)  # row order does not matter
    assert rec.correlations == pytest.approx((1.0, 1.0), abs=1e-12)
    assert rec.n_notes == 200 and rec.rotation.shape == (2, 2)
    assert np.allclose(rec.rotation @ rec.rotation.T, np.eye(2))
    # "linear" also undoes a different scale per axis; Procrustes (rotation only) cannot
    scaled = fitted.assign(internalNoteFactor2=3 * fitted["internalNoteFactor2"])
    assert F.factor_recovery(scaled, truth, method="linear").correlations == pytest.approx((1.0, 1.0))
    assert min(F.factor_recovery(scaled, truth).correlations) < 0.999
    assert "axis 2: correlation 1.0000" in rec.summary()


def test_unrelated_factors_are_not_recovered():
    rng = np.random.default_rng(2)
    truth = pd.DataFrame({"noteId": np.arange(2000), "trueFactor1": rng.normal(size=2000),
                          "trueFactor2": rng.normal(size=2000)})
    fitted = pd.DataFrame({"noteId": np.arange(2000), "coreNoteFactor1": rng.normal(size=2000),
                           "coreNoteFactor2": rng.normal(size=2000)})
    rec = F.factor_recovery(fitted, truth)
    assert max(abs(c) for c in rec.correlations) < 0.1
    assert rec.fitted_columns == ("coreNoteFactor1", "coreNoteFactor2")


def test_more_fitted_than_planted_axes():
    """k_fit = 3 against a 1-D truth: one aligned axis, the planted one recovered."""
    rng = np.random.default_rng(3)
    t = rng.normal(size=300)
    truth = pd.DataFrame({"noteId": np.arange(300), "trueFactor1": t})
    fitted = pd.DataFrame({"noteId": np.arange(300), "internalNoteFactor1": 0.2 * rng.normal(size=300),
                           "internalNoteFactor2": -t, "internalNoteFactor3": 0.2 * rng.normal(size=300)})
    rec = F.factor_recovery(fitted, truth)
    assert len(rec.correlations) == 1 and rec.correlations[0] > 0.97 and rec.rotation.shape == (3, 1)


def test_argument_errors():
    r = _matrix(1, n_notes=12, n_raters=12)
    with pytest.raises(ValueError, match="holdout must be"):
        F.holdout_mask(r, holdout="future")
    with pytest.raises(ValueError, match="holdout_fraction"):
        F.holdout_mask(r, holdout_fraction=1.0)
    with pytest.raises(ValueError, match="ks must be"):
        F.select_k(r, ks=(0, 1))
    with pytest.raises(ValueError, match="lacks"):
        F.select_k(r.drop(columns="createdAtMillis"), ks=(1,))
    with pytest.raises(ValueError, match="no note factor columns"):
        F.factor_recovery(pd.DataFrame({"noteId": [1, 2, 3]}), r)
    with pytest.raises(ValueError, match="method"):
        F.factor_recovery(r, r, method="cca")


# --------------------------------------------------------------------------------------------
# tier 2: properties
# --------------------------------------------------------------------------------------------
_times = st.lists(st.integers(0, 50), min_size=2, max_size=80)


@settings(max_examples=60, deadline=None)
@given(times=_times, frac=st.floats(0.05, 0.95), how=st.sampled_from(F.HOLDOUTS), seed=st.integers(0, 5))
def test_split_properties(times, frac, how, seed):
    n = len(times)
    r = pd.DataFrame({"noteId": np.arange(n) % 4, "createdAtMillis": np.array(times, dtype=np.int64)})
    mask = F.holdout_mask(r, holdout=how, holdout_fraction=frac, seed=seed)
    assert mask.dtype == bool and len(mask) == n
    t = r["createdAtMillis"].to_numpy()
    if how in ("time", "random"):
        assert mask.sum() == int(round(frac * n))
    if how == "time" and mask.any() and (~mask).any():
        assert t[~mask].max() <= t[mask].min()
    if how == "note_time":
        for _note, g in r.assign(m=mask).groupby("noteId"):
            k = int(np.floor(frac * len(g)))
            assert g["m"].sum() == k
            if 0 < k < len(g):
                assert g.loc[~g["m"], "createdAtMillis"].max() <= g.loc[g["m"], "createdAtMillis"].min()
    assert (F.holdout_mask(r, holdout=how, holdout_fraction=frac, seed=seed) == mask).all()


@settings(max_examples=25, deadline=None)
@given(frac=st.floats(0.05, 0.5), how=st.sampled_from(F.HOLDOUTS), seed=st.integers(0, 100))
def test_heldout_is_disjoint_from_train(frac, how, seed):
    r = _matrix(1, n_notes=15, n_raters=15, seed=seed)
    mask = F.holdout_mask(r, holdout=how, holdout_fraction=frac, seed=seed)
    cfg = dataclasses.replace(CORE, min_ratings_per_rater=3, min_raters_per_note=3)
    split = F._split(r, mask, cfg)
    key = ["noteId", "raterParticipantId"]
    both = split.train[key].merge(split.heldout[key], on=key)
    assert both.empty
    assert len(split.train) + len(split.heldout) <= len(r) and split.n_heldout_all == mask.sum()
    assert set(split.heldout["noteId"]) <= set(split.train["noteId"])
    assert set(split.heldout["raterParticipantId"]) <= set(split.train["raterParticipantId"])


def test_same_seed_same_table(rank1_selection):
    again = F.select_k(_matrix(1), ks=(1, 2), holdout="random", holdout_fraction=0.15, seed=3, solver="exact",
                       config=CLEAN)
    cols = [c for c in again.table.columns if c != "seconds"]
    pd.testing.assert_frame_equal(again.table[cols], rank1_selection.table[cols])
    other = F.select_k(_matrix(1), ks=(1, 2), holdout="random", holdout_fraction=0.15, seed=4, solver="exact",
                       config=CLEAN)
    assert not other.table["heldoutMse"].equals(again.table["heldoutMse"])


def test_repeats_add_the_spread_over_seeds():
    r = _matrix(2, noise=0.05, seed=5)
    sel = F.select_k(r, ks=(2,), holdout="random", holdout_fraction=0.15, seed=1, repeats=3, solver="exact")
    t = sel.table
    assert len(t) == 3 and t["seed"].nunique() == 3 and t["heldoutMse"].nunique() == 3
    b = sel.by_k.iloc[0]
    assert b["heldoutMse"] == pytest.approx(t["heldoutMse"].mean())
    within = np.sqrt(np.mean(t["heldoutMseSe"] ** 2))
    assert b["mseSe"] >= within


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def test_figures(rank1_selection):
    ax = P.k_selection_curve(rank1_selection, metric="loglik")
    assert "log-likelihood" in ax.get_ylabel() and "chosen k = 1" in ax.get_title()
    assert [a for a in ax.lines if a.get_gid() == "best-k"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="metric"):
        P.k_selection_curve(rank1_selection, metric="aic")
    rng = np.random.default_rng(0)
    t = pd.DataFrame({"noteId": range(300), "trueFactor1": rng.normal(size=300), "trueFactor2": rng.normal(size=300)})
    f = t.rename(columns={"trueFactor1": "internalNoteFactor2", "trueFactor2": "internalNoteFactor1"})
    ax = P.factor_recovery_scatter(F.factor_recovery(f, t), max_points=100)
    assert "200 not drawn" in ax.get_title()
    assert len(ax.collections) == 2
    plt.close(ax.figure)


def test_docstring_examples_run():
    """The module's numpydoc examples run (select_k's, which fits, is skipped there and run above)."""
    import doctest

    failures, attempted = doctest.testmod(F, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted >= 8 and failures == 0
