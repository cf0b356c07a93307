"""cnlab.lab.compare_with_published: a hand-made case for each reason, then the bundled sample."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cnlab import schema as S  # noqa: E402
from cnlab.lab import PublishedComparison, compare_with_published  # noqa: E402
from cnlab.lab.published import DISAGREEMENT_REASONS, REASONS  # noqa: E402
from cnlab.pipeline import config as pc  # noqa: E402

CRH, CRNH, NMR = S.CRH, S.CRNH, S.NMR
CORE, META0, STAB = "CoreModel (v1.1)", "MetaInitialNMR (v1.0)", "NmrDueToMinStableCrhTime (v1.0)"
PUBLISHED = 1_000_000  # the published status history's timestamp
NOW = PUBLISHED + 4 * 3_600_000  # cnlab's "now": four hours later


def _case(now: int = NOW):
    """Notes 1–12, one reason each (the expected reason in ``WANT``).

    1 agree. 2 locked: published = lockedStatus CRH, cnlab NMR. 3 data removed: published CRH,
    2 ratings left. 4 data removed: not in the notes file. 5 time of scoring: a rating after the
    published time. 6 time of scoring: cnlab holds a new CRH back (stabilization) at another "now".
    7 model noise: Core intercept 0.395, 0.005 below the CRH threshold. 8 model noise: on the CRNH
    bound (−0.05 − 0.8·0.25 = −0.25, intercept −0.26). 9 unexplained: far from every threshold.
    10 not published (no NSH row). 11 not scored (NSH only). 12 locked and near a threshold: the
    lock wins.
    """
    ids = list(range(1, 13))
    published = {1: CRH, 2: CRH, 3: CRH, 4: CRNH, 5: NMR, 6: CRH, 7: CRH, 8: NMR, 9: CRNH, 11: NMR, 12: CRH}
    locked = {2: CRH, 12: CRH}
    nsh_ids = [i for i in ids if i != 10]
    nsh = pd.DataFrame({
        S.NOTE_ID: nsh_ids,
        "currentStatus": [published[i] for i in nsh_ids],
        "currentDecidedBy": [CORE] * len(nsh_ids),
        "lockedStatus": [locked.get(i) for i in nsh_ids],
        "timestampMillisOfCurrentStatus": [float(PUBLISHED)] * len(nsh_ids),
        S.CREATED_AT: [100] * len(nsh_ids),
    })
    notes = pd.DataFrame({S.NOTE_ID: [i for i in ids if i != 4], S.CREATED_AT: 100})
    n_ratings = {i: 10 for i in ids}
    n_ratings[3] = 2
    rows = []
    for i in ids:
        for k in range(n_ratings[i]):
            late = i == 5 and k == 0
            rows.append({S.NOTE_ID: i, S.RATER_ID: k, S.CREATED_AT: PUBLISHED + 60_000 if late else 500 + k})
    ratings = pd.DataFrame(rows)
    final = {1: CRH, 2: NMR, 3: NMR, 4: NMR, 5: CRH, 6: NMR, 7: NMR, 8: CRNH, 9: CRH, 10: NMR, 12: NMR}
    decided = {i: CORE for i in final}
    decided[6], decided[10] = STAB, META0
    sn_ids = [i for i in ids if i != 11]
    sn = pd.DataFrame({S.NOTE_ID: sn_ids, "finalRatingStatus": [final[i] for i in sn_ids],
                       "decidedBy": [decided[i] for i in sn_ids]})
    intercept = {1: 0.6, 2: 0.2, 3: 0.1, 5: 0.5, 6: 0.45, 7: 0.395, 8: -0.26, 9: 0.7, 12: 0.395}
    factor = {i: 0.0 for i in intercept}
    factor[8] = 0.25
    core_ids = sorted(intercept)
    core_sn = pd.DataFrame({S.NOTE_ID: core_ids, "coreNoteIntercept": [intercept[i] for i in core_ids],
                            "coreNoteFactor1": [factor[i] for i in core_ids]})
    dec = pd.DataFrame({S.NOTE_ID: sn_ids, "decidingModel": [None if i == 10 else CORE for i in sn_ids]})
    dataset = SimpleNamespace(notes=notes, ratings=ratings, status_history=nsh)
    result = SimpleNamespace(frames={"scored_notes": sn}, decisions=lambda: dec, epoch_millis=now,
                             final={"MFCoreScorer": SimpleNamespace(scorer=pc.CORE, scored_notes=core_sn)},
                             dataset=dataset)
    return result, dataset


WANT = {1: "agree", 2: "locked_status", 3: "data_removed", 4: "data_removed", 5: "time_of_scoring",
        6: "time_of_scoring", 7: "model_noise", 8: "model_noise", 9: "unexplained", 10: "not_published",
        11: "not_scored", 12: "locked_status"}


def test_each_reason_on_a_hand_made_case():
    result, dataset = _case()
    c = compare_with_published(result, dataset)
    t = c.table.set_index(S.NOTE_ID)
    assert t["reason"].to_dict() == WANT
    assert t.loc[3, "numRatingsInDownload"] == 2 and not t.loc[4, "inNotes"]
    assert t.loc[5, "ratingsAfterPublished"] == 1 and t["ratingsAfterPublished"].drop(5).eq(0).all()
    assert bool(t.loc[6, "clockRule"]) and not t["clockRule"].drop(6).any()
    assert t.loc[7, "nearestThreshold"] == "crh_threshold=0.4"
    assert t.loc[7, "thresholdDistance"] == pytest.approx(0.005)
    assert t.loc[8, "nearestThreshold"] == "GeneralCRNH bound"
    assert t.loc[8, "thresholdDistance"] == pytest.approx(0.01)
    assert t.loc[9, "thresholdDistance"] == pytest.approx(0.3)  # |0.7 − 0.4|
    assert bool(t.loc[12, "locked"]) and t.loc[12, "thresholdDistance"] < c.noise_margin  # both apply
    assert t.loc[10, "decidingScorer"] is None or pd.isna(t.loc[10, "decidingScorer"])
    assert list(c.counts().index) == list(REASONS)
    assert c.counts().to_dict() == {"agree": 1, "locked_status": 2, "data_removed": 2, "time_of_scoring": 2,
                                    "model_noise": 2, "unexplained": 1, "not_published": 1, "not_scored": 1}
    assert c.disagreements()[S.NOTE_ID].tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 12]
    assert len(c.compared) == 10 and bool(c.table.set_index(S.NOTE_ID).loc[2, "sameDecidedBy"])


def test_settings_move_notes_between_reasons():
    result, dataset = _case()
    strict = compare_with_published(result, dataset, noise_margin=0.001, min_ratings=2)
    t = strict.table.set_index(S.NOTE_ID)["reason"]
    assert t[7] == "unexplained" and t[8] == "unexplained"  # 0.005 and 0.01 are not within 0.001
    assert t[3] == "unexplained"  # 2 ratings are enough when min_ratings=2
    assert strict.noise_margin == 0.001 and strict.min_ratings == 2


def test_clock_rule_needs_another_now():
    """Scored at the published time itself, stabilization cannot explain a difference."""
    result, dataset = _case(now=PUBLISHED)
    t = compare_with_published(result, dataset).table.set_index(S.NOTE_ID)
    assert not t.loc[6, "clockRule"] and t.loc[6, "reason"] == "unexplained"


def test_summary_crosstab_and_frozen():
    result, dataset = _case()
    c = compare_with_published(result)  # dataset defaults to result.dataset
    text = c.summary()
    assert text.splitlines()[0] == ("cnlab vs published noteStatusHistory: 10 notes with both statuses, "
                                    "1 agree (10.0%); decidedBy agrees on 9")
    assert "      2  locked_status" in text
    tab = c.crosstab()
    assert int(tab.to_numpy().sum()) == 10 and tab.loc[CRH, NMR] == 5
    assert repr(c) == "PublishedComparison(1 agree, 9 differ)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.noise_margin = 1.0
    with pytest.raises(ValueError, match="pass the dataset"):
        compare_with_published(SimpleNamespace(dataset=None, frames={}))


def test_published_reasons_figure():
    from cnlab import plotting as P

    result, dataset = _case()
    ax = P.published_reasons(compare_with_published(result, dataset))
    assert [int(b.get_width()) for b in ax.patches] == [2, 2, 2, 2, 1]
    # the first reason tried is the top bar
    by_height = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in by_height] == [r.replace("_", " ") for r in DISAGREEMENT_REASONS]
    assert ax.get_title() == ("cnlab vs published status: 1 of 10 notes agree\n"
                              "left out: 1 without a published status; 1 not scored by cnlab")
    plt.close(ax.figure)


# -- the bundled sample -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sample_run():
    import cnlab

    ds = cnlab.load_sample()
    return ds, cnlab.score(ds, cnlab.ScoringConfig())


def test_sample_every_note_gets_one_reason(sample_run):
    ds, res = sample_run
    c = compare_with_published(res, ds)
    assert isinstance(c, PublishedComparison)
    t = c.table
    ids = set(ds.status_history[S.NOTE_ID]) | set(res.frames["scored_notes"][S.NOTE_ID])
    assert t[S.NOTE_ID].is_unique and set(t[S.NOTE_ID]) == ids
    assert t["reason"].isin(REASONS).all() and int(c.counts().sum()) == len(t)
    compared = c.compared
    assert (compared["agree"] == (compared["currentStatus"] == compared["finalRatingStatus"])).all()
    assert (t.loc[t["reason"] == "agree", "agree"]).all()
    # published without a status: the three NSH rows whose currentStatus is empty
    no_status = set(ds.status_history.loc[ds.status_history["currentStatus"].isna(), S.NOTE_ID])
    assert set(t.loc[t["reason"] == "not_published", S.NOTE_ID]) == no_status
    # deleted notes (in the status history and the ratings, not in the notes file) are flagged
    deleted = set(ds.status_history[S.NOTE_ID]) - set(ds.notes[S.NOTE_ID])
    assert set(t.loc[~t["inNotes"], S.NOTE_ID]) == deleted and len(deleted) == 8
    # reasons are evidence: every model_noise note is within the margin, every locked_status note has a lock
    noise = t[t["reason"] == "model_noise"]
    assert (noise["thresholdDistance"] < c.noise_margin).all()
    assert t.loc[t["reason"] == "locked_status", "lockedStatus"].notna().all()
    after = t[t["reason"] == "time_of_scoring"]
    assert ((after["ratingsAfterPublished"] > 0) | after["clockRule"]).all()
    # the ratings after the published timestamp are exactly the sample's late ratings
    ts = float(ds.status_history["timestampMillisOfCurrentStatus"].max())
    late = ds.ratings[ds.ratings[S.CREATED_AT] > ts]
    assert int(t["ratingsAfterPublished"].sum()) == int(late[S.NOTE_ID].isin(t[S.NOTE_ID]).sum())
    assert c.counts()["agree"] / len(compared) > 0.8
    assert np.isclose(c.published_millis, ts) and c.epoch_millis == res.epoch_millis
