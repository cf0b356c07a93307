"""cnlab.lab.seed_stability / SeedStability: hand cases with known answers, properties, and the
end-to-end run (jobs and seed order do not change the result)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import cnlab
from cnlab import schema as S
from cnlab.lab import SeedStability, seed_stability
from cnlab.lab.stability import ABSENT, CHURN_GUARDS, churn_rates

CRH, NMR, CRNH = S.CRH, S.NMR, S.CRNH


def _run(statuses, intercepts=None, factors=None, ids=None, column="coreRatingStatus"):
    ids = list(range(1, len(statuses) + 1)) if ids is None else ids
    f = pd.DataFrame({"noteId": ids, column: statuses})
    if intercepts is not None:
        f["coreNoteIntercept"] = intercepts
    if factors is not None:
        f["coreNoteFactor1"] = factors
    return f


# -- tier 1: hand-built cases --------------------------------------------------------------------
def test_identical_runs_are_certain_and_do_not_churn():
    a = _run([CRH, NMR, CRNH, CRH], [0.45, 0.1, -0.3, 0.5], [0.1, 0.2, 0.0, -0.3])
    st = SeedStability.from_runs({("official", s): a.copy() for s in (3, 1, 2)})
    assert st.seeds == (1, 2, 3)
    assert (st.probabilities["probability"] == 1.0).all()
    assert (st.churn["churn"] == 0).all() and (st.churn["official_churn"] == 0).all()
    assert (st.churn["agreement"] == 1).all()
    assert st.unstable("coreRatingStatus").empty
    assert (st.spread["max_sd"] == 0).all() and (st.spread["max_range"] == 0).all()
    t = st.table().iloc[0]
    assert t["pairs"] == 3 and t["churn_max"] == 0 and t["unstable_share"] == 0


def test_known_churn_of_a_constructed_pair():
    # CRH in a: notes 1, 2, 3; in b: 2, 3, 4, 5 -> 3 of the 5 notes CRH in either run churn
    a = _run([CRH, CRH, CRH, NMR, NMR, NMR])
    b = _run([NMR, CRH, CRH, CRH, CRH, NMR])
    st = SeedStability.from_runs({("official", 0): a, ("official", 1): b})
    row = st.churn.iloc[0]
    assert (row["crh_a"], row["crh_b"], row["only_a"], row["only_b"]) == (3, 4, 1, 2)
    assert row["churn"] == pytest.approx(3 / 5)
    # the official check's formula, in the direction that gives the larger value
    assert row["official_churn"] == pytest.approx(2 / (3 + 100))
    assert row["agreement"] == pytest.approx(3 / 6)
    assert churn_rates(set(), set()) == {"crh_a": 0, "crh_b": 0, "only_a": 0, "only_b": 0, "churn": 0.0,
                                         "official_churn": 0.0}
    assert CHURN_GUARDS == (0.12, 0.30)


def test_locked_notes_leave_the_final_status_churn_only():
    a = _run([CRH, CRH], column="finalRatingStatus").assign(coreRatingStatus=[CRH, CRH])
    b = _run([NMR, CRH], column="finalRatingStatus").assign(coreRatingStatus=[NMR, CRH])
    st = SeedStability.from_runs({("official", 0): a, ("official", 1): b}, locked=[1])
    ch = st.churn.set_index("column")
    assert ch.loc["finalRatingStatus", "churn"] == 0.0  # note 1 is locked: official check skips it
    assert ch.loc["coreRatingStatus", "churn"] == pytest.approx(0.5)


def test_probabilities_modal_status_and_absent_notes():
    runs = {("fast", 0): _run([CRH, NMR]), ("fast", 1): _run([CRH, CRH]),
            ("fast", 2): _run([NMR], ids=[1])}  # note 2 not scored under seed 2
    st = SeedStability.from_runs(runs)
    p = st.probability("coreRatingStatus", "fast")
    assert p.loc[1, CRH] == pytest.approx(2 / 3) and p.loc[1, NMR] == pytest.approx(1 / 3)
    assert p.loc[2, ABSENT] == pytest.approx(1 / 3)
    pn = st.per_note.set_index("noteId")
    assert pn.loc[1, "coreRatingStatus_modal"] == CRH
    assert pn.loc[1, "coreRatingStatus_p_modal"] == pytest.approx(2 / 3)
    assert bool(pn.loc[2, "coreRatingStatus_unstable"])


def test_distance_to_the_deciding_threshold():
    a = _run([CRH, NMR, NMR], [0.42, 0.1, -0.2], [0.1, 0.45, 0.0])
    b = _run([NMR, NMR, CRNH], [0.38, 0.1, -0.2], [0.1, 0.45, 0.0])
    st = SeedStability.from_runs({("official", 0): a, ("official", 1): b})
    pn = st.per_note.set_index("noteId")
    # note 1: mean intercept 0.40 -> exactly on the CRH threshold; spread 0.02
    assert pn.loc[1, "d_crh"] == pytest.approx(0.0) and pn.loc[1, "nearest"] == "crh"
    assert pn.loc[1, "coreNoteIntercept_sd"] == pytest.approx(0.02)
    # note 2: |f| = 0.45 is nearest the 0.5 bridging gate
    assert pn.loc[2, "nearest"] == "factor" and pn.loc[2, "distance"] == pytest.approx(0.05)
    # note 3: CRNH wedge at -0.05 - 0.8*0 -> distance -0.15
    assert pn.loc[3, "d_crnh"] == pytest.approx(-0.15)
    u = st.unstable("coreRatingStatus")
    assert u["noteId"].tolist() == [1, 3]  # nearest threshold first


def test_cross_fidelity_pairs_and_summary():
    runs = {}
    for s in (0, 1):
        runs[("official", s)] = _run([CRH, NMR if s else CRH])
        runs[("fast", s)] = _run([CRH, CRH])
    st = SeedStability.from_runs(runs)
    assert st.fidelities == ("official", "fast")
    cr = st.cross
    assert len(cr) == 2 and set(cr["seed_a"]) == {0, 1} and (cr["seed_a"] == cr["seed_b"]).all()
    assert cr.set_index("seed_a").loc[1, "agreement"] == pytest.approx(0.5)
    text = st.summary()
    assert "official churn" in text and "across fidelities" in text and "fast" in text


def test_a_fidelity_missing_a_seed_is_refused():
    with pytest.raises(ValueError, match="lacks seeds"):
        SeedStability.from_runs({("official", 0): _run([CRH]), ("official", 1): _run([CRH]),
                                 ("fast", 0): _run([CRH])})
    with pytest.raises(KeyError):
        SeedStability.from_runs({("official", 0): _run([CRH])}).unstable("finalRatingStatus")


# -- tier 2: properties -----------------------------------------------------------------------------
_status = hs.sampled_from([CRH, NMR, CRNH, None])


@hs.composite
def _runs(draw):
    n_notes = draw(hs.integers(1, 12))
    seeds = draw(hs.lists(hs.integers(0, 50), min_size=2, max_size=4, unique=True))
    runs = {}
    for s in seeds:
        statuses = draw(hs.lists(_status, min_size=n_notes, max_size=n_notes))
        icpt = draw(hs.lists(hs.floats(-1, 1), min_size=n_notes, max_size=n_notes))
        runs[("official", s)] = _run(statuses, icpt, [0.1] * n_notes)
    return runs


@settings(max_examples=25, deadline=None)
@given(_runs(), hs.randoms(use_true_random=False))
def test_properties(runs, rnd):
    st = SeedStability.from_runs(runs)
    ch = st.churn
    # churn is a share, symmetric in the pair
    assert ((ch["churn"] >= 0) & (ch["churn"] <= 1)).all()
    assert ((ch["official_churn"] >= 0) & (ch["official_churn"] <= 1)).all()
    for _, r in ch.iterrows():
        a = runs[("official", r["seed_a"])]
        b = runs[("official", r["seed_b"])]
        back = SeedStability.from_runs({("official", 0): b, ("official", 1): a}).churn.iloc[0]
        assert back["churn"] == pytest.approx(r["churn"])
        assert back["official_churn"] == pytest.approx(r["official_churn"])
        assert (back["only_a"], back["only_b"]) == (r["only_b"], r["only_a"])
    # probabilities sum to 1 per note
    sums = st.probabilities.groupby(["fidelity", "column", "noteId"])["probability"].sum()
    assert np.allclose(sums.to_numpy(), 1.0)
    # the order in which the seeds are given changes nothing
    keys = list(runs)
    rnd.shuffle(keys)
    st2 = SeedStability.from_runs({k: runs[k] for k in keys})
    pd.testing.assert_frame_equal(st.pairs, st2.pairs)
    pd.testing.assert_frame_equal(st.per_note, st2.per_note)
    pd.testing.assert_frame_equal(st.probabilities, st2.probabilities)


# -- end to end: a small slice of the bundled sample, jobs=1 vs jobs=2, seeds in either order --------
@pytest.fixture(scope="module")
def small_sample():
    ds = cnlab.load_sample()
    notes = np.sort(ds.ratings[S.NOTE_ID].unique())[:300]
    from cnlab.lab import reduce_dataset

    keep = ds.notes[S.NOTE_ID].isin(notes)
    return reduce_dataset(ds, drop_notes=ds.notes.loc[~keep, S.NOTE_ID].to_numpy())[0]


def test_jobs_executor_and_seed_order_do_not_change_the_result(small_sample):
    cfg = cnlab.ScoringConfig(topics="none", pflip="none", pcrh="none")
    one = seed_stability(small_sample, seeds=[0, 1], config=cfg, fidelities=("fast",), jobs=1)
    two = seed_stability(small_sample, seeds=[1, 0, 1], config=cfg, fidelities=("fast",), jobs=2)
    assert one.seeds == two.seeds == (0, 1)
    # any concurrent.futures executor stands in for the process pool (here one thread)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        three = seed_stability(small_sample, seeds=[0, 1], config=cfg, fidelities=("fast",), executor=pool)
    for name in ("pairs", "per_note", "probabilities", "spread"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name))
        pd.testing.assert_frame_equal(getattr(one, name), getattr(three, name))
    assert list(one.timings["seed"]) == [0, 1] and (one.timings["seconds"] > 0).all()
    assert len(one.per_note) > 0
