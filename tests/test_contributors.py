"""Tier 1 (hand-computed) and tier 2 (property) tests of the contributor phase (spec 07 A)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnlab import schema as S
from cnlab.errors import CnlabInputError
from cnlab.contributors import (
    ENROLLMENT_STATE_CODES,
    RATER_PARAMETER_COLUMNS,
    ContributorConfig,
    contributor_scores,
    emerging_writers,
    rater_parameter_columns,
    rating_counts,
    recent_note_counts,
    recent_status_totals,
    scored_notes_with_stats,
    top_not_helpful_tags_per_author,
)
from cnlab.scoring.helpfulness import valid_ratings

EPOCH = 1_800_000_000_000
DAY = 86_400_000
T0 = EPOCH - 30 * DAY  # default note creation time
CODE = ENROLLMENT_STATE_CODES
STATUS_BOOLS = {S.CRH: (True, False, False), S.CRNH: (False, True, False), S.NMR: (False, False, True)}


# ---------------------------------------------------------------------------
# A tiny world builder
# ---------------------------------------------------------------------------

class World:
    """Notes, ratings, enrollment and prescoring rows in the contracts' formats (string ids)."""

    def __init__(self):
        self.notes: list[dict] = []
        self.ratings: list[dict] = []
        self.enrollment: list[dict] = []
        self.prescoring: list[dict] = []
        self._next_note = 1000

    def note(self, author, status=S.NMR, *, created=None, intercept=0.0, note_id=None, latest=None):
        nid = note_id if note_id is not None else self._next_note
        self._next_note = max(self._next_note, nid) + 1
        created = T0 + nid if created is None else created
        if latest is None:
            latest = np.nan if status == S.NMR else created + 3 * DAY
        self.notes.append(dict(noteId=nid, author=author, status=status, created=created,
                               intercept=intercept, latest=latest))
        return nid

    def rate(self, note_id, rater, helpful_num, *, after=DAY, tags=()):
        note = next(n for n in self.notes if n["noteId"] == note_id)
        row = {S.NOTE_ID: note_id, S.RATER_ID: rater, S.CREATED_AT: note["created"] + after,
               S.HELPFUL_NUM: float(helpful_num)}
        row.update({t: int(t in tags) for t in S.NOT_HELPFUL_TAGS})
        self.ratings.append(row)

    def impact(self, rater, n, *, author="zz-impact"):
        """Give ``rater`` n successful valid ratings (HELPFUL on CRH notes)."""
        for _ in range(n):
            self.rate(self.note(author, S.CRH), rater, 1.0)

    def enroll(self, pid, state, *, needed=5, last_change=EPOCH - 100 * DAY, last_earn_out=1, group=13,
               times=0):
        self.enrollment.append(dict(participantId=pid, enrollmentState=state, successfulRatingNeededToEarnIn=needed,
                                    timestampOfLastStateChange=last_change, timestampOfLastEarnOut=last_earn_out,
                                    modelingPopulation="CORE", modelingGroup=float(group),
                                    numberOfTimesEarnedOut=times))

    def frames(self):
        n = pd.DataFrame(self.notes, columns=["noteId", "author", "status", "created", "intercept", "latest"])
        r = pd.DataFrame(self.ratings, columns=[S.NOTE_ID, S.RATER_ID, S.CREATED_AT, S.HELPFUL_NUM,
                                                *S.NOT_HELPFUL_TAGS])
        num = n["noteId"].map(r[S.NOTE_ID].value_counts()).fillna(0)
        scored = pd.DataFrame({S.NOTE_ID: n["noteId"], S.CREATED_AT: n["created"], "finalRatingStatus": n["status"],
                               S.NUM_RATINGS: num.astype(float), "coreNoteIntercept": n["intercept"]})
        b = np.array([STATUS_BOOLS[s] for s in n["status"]], dtype=bool).reshape(-1, 3)
        aux = pd.DataFrame({S.NOTE_ID: n["noteId"], S.CREATED_AT: n["created"], S.AUTHOR_ID: n["author"],
                            "crhBool": b[:, 0], "crnhBool": b[:, 1], "awaitingBool": b[:, 2],
                            "numRatingsLast28": num.astype(np.int64)})
        nsh = pd.DataFrame({S.NOTE_ID: n["noteId"], S.AUTHOR_ID: n["author"], S.CREATED_AT: n["created"],
                            "currentStatus": n["status"], "timestampMillisOfLatestNonNMRStatus": n["latest"]})
        enr = pd.DataFrame(self.enrollment, columns=list(S.ENROLLMENT_FILE_COLUMNS))
        pro = pd.DataFrame(self.prescoring) if self.prescoring else pd.DataFrame(
            {S.RATER_ID: pd.Series(dtype=object), "scorerName": pd.Series(dtype=object)})
        return scored, aux, nsh, r, enr, pro

    def score(self, **kw):
        scored, aux, nsh, r, enr, pro = self.frames()
        out = contributor_scores(scored, aux, nsh, r, None, enr, pro, epoch_millis=EPOCH, **kw)
        return out.set_index(S.RATER_ID)


# ---------------------------------------------------------------------------
# A.2 rater parameters
# ---------------------------------------------------------------------------

def _pro_rows(scorer, raters, **cols):
    return pd.DataFrame({S.RATER_ID: raters, "scorerName": scorer,
                         S.RATER_INTERCEPT: np.arange(len(raters), dtype=np.float32) / 10,
                         S.RATER_FACTOR1: -np.arange(len(raters), dtype=np.float32) / 10, **cols})


def test_rater_parameters_core_only_run_leaves_other_scorers_nan():
    pro = pd.concat([
        _pro_rows("MFCoreScorer", ["a", "b"], meanNoteScore=[0.2, np.nan], aboveHelpfulnessThreshold=[True, np.nan],
                  internalFirstRoundRaterIntercept=[0.5, 0.6], internalFirstRoundRaterFactor1=[0.1, 0.2]),
        pd.DataFrame({S.RATER_ID: ["pss"], "scorerName": [np.nan], "postSelectionValue": [3.0]}),
    ], ignore_index=True)
    out = rater_parameter_columns(pro, None).set_index(S.RATER_ID)
    assert list(out.columns) == list(RATER_PARAMETER_COLUMNS)
    assert sorted(out.index) == ["a", "b", "pss"]  # PSS-only rows contribute ids
    assert out.loc["b", "coreRaterIntercept"] == pytest.approx(0.1)
    assert out.loc["b", "coreRaterFactor1"] == pytest.approx(-0.1)
    assert out.loc["a", "coreFirstRoundRaterIntercept"] == pytest.approx(0.5)
    assert bool(out.loc["a", "aboveHelpfulnessThreshold"]) and pd.isna(out.loc["b", "aboveHelpfulnessThreshold"])
    others = [c for c in RATER_PARAMETER_COLUMNS if not c.startswith("core") and c not in
              ("crhCrnhRatioDifference", "meanNoteScore", "raterAgreeRatio", "aboveHelpfulnessThreshold")]
    assert out[others].isna().all().all()
    assert out.loc["pss"].drop("aboveHelpfulnessThreshold").isna().all()


def test_rater_parameters_group_rows_kept_only_for_enrolled_group_and_coalesced():
    pro = pd.concat([
        _pro_rows("MFGroupScorer_3", ["a", "b"]),          # b is enrolled in group 5: an author row, dropped
        _pro_rows("MFGroupScorer_5", ["b"]),
        _pro_rows("MFMultiGroupScorer_1", ["b", "c"]),      # c is enrolled in 2: not a multi-group rater
        _pro_rows("ReputationScorer", ["c"], internalRaterReputation=[0.7]),
        _pro_rows("MFTopicScorer_Scams", ["d"]),
        _pro_rows("MFExpansionPlusScorer", ["a"]),
    ], ignore_index=True)
    enr = pd.DataFrame({S.PARTICIPANT_ID: ["a", "b", "c"], S.MODELING_GROUP: [3.0, 5.0, 2.0]})
    out = rater_parameter_columns(pro, enr).set_index(S.RATER_ID)
    assert sorted(out.index) == ["a", "b", "c", "d"]
    assert out.loc["a", S.MODELING_GROUP] == 3 and out.loc["b", S.MODELING_GROUP] == 5
    assert out.loc["b", "groupRaterIntercept"] == pytest.approx(0.0)  # from group 5's only row
    assert pd.isna(out.loc["c", S.MODELING_GROUP]) and pd.isna(out.loc["d", S.MODELING_GROUP])
    assert out.loc["b", "modelingMultiGroup"] == 1 and pd.isna(out.loc["c", "modelingMultiGroup"])
    assert out.loc["c", "raterHelpfulnessReputation"] == pytest.approx(0.7)
    assert out.loc["a", "expansionPlusRaterIntercept"] == pytest.approx(0.0)
    assert out.loc["d"].drop("aboveHelpfulnessThreshold").isna().all()  # topic scorers: ids only


def test_rater_parameters_two_groups_for_one_rater_raise():
    pro = pd.concat([_pro_rows("MFGroupScorer_3", ["a"]), _pro_rows("MFGroupScorer_3", ["a"])], ignore_index=True)
    with pytest.raises(CnlabInputError):
        rater_parameter_columns(pro, pd.DataFrame({S.PARTICIPANT_ID: ["a"], S.MODELING_GROUP: [3.0]}))


# ---------------------------------------------------------------------------
# A.3 / A.4 counts
# ---------------------------------------------------------------------------

def test_scored_notes_with_stats_requires_matching_aux():
    w = World()
    w.note("a")
    scored, aux, *_ = w.frames()
    with pytest.raises(CnlabInputError):
        scored_notes_with_stats(scored, aux.assign(createdAtMillis=aux[S.CREATED_AT] + 1))


def test_rating_counts_hand_computed():
    w = World()
    crh, crnh, nmr = w.note("x", S.CRH), w.note("x", S.CRNH), w.note("x", S.NMR)
    w.rate(crh, "r", 1.0)             # successful helpful
    w.rate(crnh, "r", 1.0)            # unsuccessful NOT-helpful count (helpful on CRNH)
    w.rate(nmr, "r", 0.5)             # awaiting (somewhat helpful still a candidate)
    w.rate(crh, "s", 0.0)             # unsuccessful helpful count (not helpful on CRH)
    w.rate(crnh, "s", 0.5)            # somewhat helpful: never valid, not awaiting
    w.rate(crnh, "t", 0.0, after=4 * DAY)  # after 48 h and after the status: not a candidate
    scored, aux, nsh, r, *_ = w.frames()
    out = rating_counts(r, nsh, scored_notes_with_stats(scored, aux)).set_index(S.RATER_ID)
    assert sorted(out.index) == ["r", "s"]  # t has no candidate rating: absent (official)
    assert out.loc["r"].to_dict() == dict(
        successfulRatingHelpfulCount=1, successfulRatingNotHelpfulCount=0, successfulRatingTotal=1,
        unsuccessfulRatingHelpfulCount=0, unsuccessfulRatingNotHelpfulCount=1, unsuccessfulRatingTotal=1,
        ratingsAwaitingMoreRatings=1, ratedAfterDecision=0)
    assert out.loc["s", "unsuccessfulRatingHelpfulCount"] == 1 and out.loc["s", "unsuccessfulRatingTotal"] == 1
    assert out.loc["s", "successfulRatingTotal"] == 0 and out.loc["s", "ratingsAwaitingMoreRatings"] == 0


def test_rated_after_decision_counts_ratings_after_latest_status():
    w = World()
    n = w.note("x", S.CRH, latest=T0 + 5 * DAY, created=T0)
    w.rate(n, "r", 1.0, after=DAY)        # valid
    m = w.note("x", S.CRH, latest=T0 + DAY // 2, created=T0 - 10)
    w.rate(m, "r", 1.0, after=DAY)        # within 48 h but after the status: candidate? no (new note)
    w.rate(m, "u", 1.0, after=DAY)        # u: no candidate at all → not in the frame
    scored, aux, nsh, r, *_ = w.frames()
    out = rating_counts(r, nsh, scored_notes_with_stats(scored, aux)).set_index(S.RATER_ID)
    assert out.loc["r", "ratedAfterDecision"] == 1 and out.loc["r", "successfulRatingTotal"] == 1
    assert "u" not in out.index


def test_rating_counts_missing_note_in_status_history_raises():
    w = World()
    n = w.note("x", S.CRH)
    w.rate(n, "r", 1.0)
    scored, aux, nsh, r, *_ = w.frames()
    with pytest.raises(CnlabInputError):
        rating_counts(pd.concat([r, r.assign(noteId=999999)]), nsh, scored_notes_with_stats(scored, aux))


# ---------------------------------------------------------------------------
# A.5 note counts, A.8 tags, A.9 emerging, A.7.5 totals
# ---------------------------------------------------------------------------

def test_recent_note_counts_decided_first_then_most_recent_since_earn_out():
    w = World()
    # noteIds increase with time; 7 notes, oldest CRNH is before the last earn-out.
    w.note("a", S.CRNH, note_id=1, created=T0)
    for nid, status in [(2, S.CRNH), (3, S.NMR), (4, S.CRH), (5, S.NMR), (6, S.CRNH), (7, S.NMR), (8, S.NMR),
                        (9, S.NMR)]:
        w.note("a", status, note_id=nid, created=T0 + nid * DAY)
    scored, aux, *_ = w.frames()
    nws = scored_notes_with_stats(scored, aux)
    earn_out = np.full(len(nws), T0 + DAY // 2, dtype=np.float64)
    out = recent_note_counts(nws, earn_out, n=5).set_index(S.RATER_ID)
    # window: decided 6 (CRNH), 4 (CRH), 2 (CRNH), then the two newest NMR (9, 8).
    assert out.loc["a", "notesCurrentlyRatedNotHelpful"] == 2
    assert out.loc["a", "notesCurrentlyRatedHelpful"] == 1
    assert out.loc["a", "notesAwaitingMoreRatings"] == 2
    out_all = recent_note_counts(nws, np.zeros(len(nws)), n=5).set_index(S.RATER_ID)
    assert out_all.loc["a", "notesCurrentlyRatedNotHelpful"] == 3  # note 1 counts without the earn-out


def test_top_not_helpful_tags_per_author_with_tie_break():
    w = World()
    inc, out_, spam = "notHelpfulIncorrect", "notHelpfulOutdated", "notHelpfulSpamHarassmentOrAbuse"
    n1 = w.note("a", S.CRNH)
    for r in ("r1", "r2"):
        w.rate(n1, r, 0.0, tags=(inc, spam))         # note 1: Incorrect 2, Spam 2 → Spam wins the tie
    n2 = w.note("a", S.CRNH)
    for r in ("r1", "r2", "r3"):
        w.rate(n2, r, 0.0, tags=(inc, out_))         # note 2: Incorrect 3, Outdated 3 → Outdated, Incorrect
    n3 = w.note("b", S.CRNH)
    for r in ("r1", "r2"):
        w.rate(n3, r, 0.0, tags=(inc,))              # one eligible tag only → note untagged
    w.note("c")
    _, _, nsh, r, *_ = w.frames()
    out = top_not_helpful_tags_per_author(nsh, r).set_index(S.RATER_ID)[S.HELPFULNESS_SCORES_COLUMNS[19]]
    # author a: Incorrect 2×, Spam 1×, Outdated 1× → Incorrect, then Outdated (rank 12 > Spam 11)
    idx = {t: i for i, t in enumerate(S.NOT_HELPFUL_TAGS)}
    assert out["a"] == f"{idx[inc]},{idx[out_]}" == "1,5"
    assert out["b"] == "" and out["c"] == ""


def test_top_tags_from_bit_packed_ratings():
    w = World()
    n1 = w.note("a", S.CRNH)
    for r in ("r1", "r2"):
        w.rate(n1, r, 0.0, tags=("notHelpfulOther", "notHelpfulOffTopic"))
    _, _, nsh, r, *_ = w.frames()
    packed = r.drop(columns=list(S.NOT_HELPFUL_TAGS)).assign(
        notHelpfulTagBits=S.pack_tags(r, S.NOT_HELPFUL_TAGS))
    out = top_not_helpful_tags_per_author(nsh, packed).set_index(S.RATER_ID)
    assert out.loc["a", "authorTopNotHelpfulTagValues"] == "8,0"


def test_emerging_writer_counts_nan_intercepts_as_zero():
    notes = pd.DataFrame({S.AUTHOR_ID: ["a", "a", "b", "b"], "coreNoteIntercept": [0.7, np.nan, 0.35, 0.31],
                          "numRatingsLast28": [6, 4, 5, 5]})
    out = emerging_writers(notes).set_index(S.RATER_ID)["isEmergingWriter"]
    assert not out["a"]  # (0.7 + 0) / 2 = 0.35 > 0.3 but … wait: 0.35 > 0.3 and 10 ≥ 10 → True?
