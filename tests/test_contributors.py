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
    NOTE_COUNT_COLUMNS,
    RATING_COUNT_COLUMNS,
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


def test_old_notes_count_only_their_first_five_candidate_ratings():
    w = World()
    old_created = 1_600_000_000_000  # before 2022-05-19: first 5 ratings within 48 h, status ignored
    n = w.note("x", S.NMR, created=old_created)
    for i in range(7):
        w.rate(n, f"r{i}", 1.0, after=(i + 1) * 3_600_000)
    scored, aux, nsh, r, *_ = w.frames()
    out = rating_counts(r, nsh, scored_notes_with_stats(scored, aux)).set_index(S.RATER_ID)
    assert sorted(out.index) == [f"r{i}" for i in range(5)]
    assert (out["ratingsAwaitingMoreRatings"] == 1).all()


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
    notes = pd.DataFrame({S.AUTHOR_ID: ["a", "a", "b", "b", "c"],
                          "coreNoteIntercept": [0.5, np.nan, 0.35, 0.31, 0.4],
                          "numRatingsLast28": [6, 4, 5, 5, 9]})
    out = emerging_writers(notes).set_index(S.RATER_ID)["isEmergingWriter"]
    assert not out["a"]  # (0.5 + 0) / 2 = 0.25 (a NaN-skipping mean would give 0.5)
    assert out["b"]      # 0.33 > 0.3 and 10 ≥ 10
    assert not out["c"]  # 9 < 10 recent ratings


def test_recent_status_totals_windows_and_rating_condition():
    latest = EPOCH - DAY
    nsh = pd.DataFrame({
        S.NOTE_ID: [1, 2, 3, 4, 5, 6],
        S.AUTHOR_ID: ["a"] * 6,
        S.CREATED_AT: [latest, latest - 2 * DAY, latest - 3 * DAY, latest - 20 * DAY, latest - 100 * DAY,
                       latest - 14 * DAY],
        "currentStatus": [S.CRH, S.NMR, S.NMR, S.CRNH, S.CRH, S.CRH],
    })
    ratings = pd.DataFrame({S.NOTE_ID: [1] + [2] * 10 + [3] * 9 + [4]})
    short = recent_status_totals(nsh, ratings, days=14, require_status_or_ratings=True).set_index(S.RATER_ID)
    # note 1: CRH with 1 rating; note 2: NMR with 10 ratings; note 3: NMR with 9 (excluded);
    # note 6 is exactly 14 days old (strict >: excluded).
    assert short.loc["a"].to_dict() == {"crhTotal14d": 1, "crnhTotal14d": 0, "nmrTotal14d": 1}
    long = recent_status_totals(nsh, ratings, days=90, require_status_or_ratings=False).set_index(S.RATER_ID)
    assert long.loc["a"].to_dict() == {"crhTotal90d": 2, "crnhTotal90d": 1, "nmrTotal90d": 2}


# ---------------------------------------------------------------------------
# A.6 / A.7 state machine, end to end
# ---------------------------------------------------------------------------

def _crnh_writer(w, author, k, *, decided_extra=0, nmr=0):
    for _ in range(k):
        w.note(author, S.CRNH)
    for _ in range(decided_extra):
        w.note(author, S.CRH)
    for _ in range(nmr):
        w.note(author, S.NMR)


def test_new_user_earns_in_with_enough_rating_impact():
    w = World()
    w.enroll("u5", "newUser"); w.impact("u5", 5)
    w.enroll("u4", "newUser"); w.impact("u4", 4)
    w.enroll("uneg", "newUser", needed=3); w.impact("uneg", 5)
    n = w.note("zz", S.CRNH); w.rate(n, "uneg", 1.0)  # helpful on CRNH costs 2: 5 − 1 − 1 = 3 ≥ 3
    out = w.score()
    assert out.loc["u5", "enrollmentState"] == CODE["earnedIn"]
    assert out.loc["u5", "timestampOfLastStateChange"] == EPOCH
    assert out.loc["u4", "enrollmentState"] == CODE["newUser"]
    assert out.loc["u4", "timestampOfLastStateChange"] == EPOCH - 100 * DAY
    assert out.loc["uneg", "enrollmentState"] == CODE["earnedIn"]
    assert out.loc["u5", "successfulRatingTotal"] == 5


def test_unenrolled_contributor_defaults_to_new_user_and_enrollment_only_user_is_dropped():
    w = World()
    w.impact("stranger", 2)
    w.enroll("ghost", "earnedIn")
    out = w.score()
    assert "ghost" not in out.index
    assert out.loc["stranger", "enrollmentState"] == CODE["newUser"]
    assert out.loc["stranger", "successfulRatingNeededToEarnIn"] == 5
    assert pd.isna(out.loc["stranger", "timestampOfLastStateChange"])
    assert out.loc["stranger", "timestampOfLastEarnOut"] == 1


def test_at_risk_earned_out_and_back_in():
    w = World()
    w.enroll("risk", "earnedIn"); _crnh_writer(w, "risk", 2, decided_extra=2, nmr=1)
    w.enroll("stay", "atRisk"); _crnh_writer(w, "stay", 2, decided_extra=3)
    w.enroll("back", "atRisk"); _crnh_writer(w, "back", 1, decided_extra=4)
    w.enroll("fine", "earnedIn"); _crnh_writer(w, "fine", 1, decided_extra=4)
    out = w.score()
    assert out.loc["risk", "enrollmentState"] == CODE["atRisk"]
    assert out.loc["risk", "timestampOfLastStateChange"] == EPOCH
    # atRisk with exactly 2 CRNH: no transition, timestamp kept
    assert out.loc["stay", "enrollmentState"] == CODE["atRisk"]
    assert out.loc["stay", "timestampOfLastStateChange"] == EPOCH - 100 * DAY
    assert out.loc["back", "enrollmentState"] == CODE["earnedIn"]
    assert out.loc["back", "timestampOfLastStateChange"] == EPOCH
    assert out.loc["fine", "enrollmentState"] == CODE["earnedIn"]
    assert out.loc["fine", "timestampOfLastStateChange"] == EPOCH - 100 * DAY


def test_earned_out_escalates_rating_impact_needed():
    w = World()
    # 3 CRNH of the last 5 (older CRH notes fall outside the window) → earned out.
    w.enroll("w1", "earnedIn", times=1)
    for _ in range(6):
        w.note("w1", S.CRH, created=T0 - 10 * DAY - len(w.notes))
    _crnh_writer(w, "w1", 3, decided_extra=2)
    w.impact("w1", 2)
    out = w.score()
    assert out.loc["w1", "enrollmentState"] == CODE["earnedOutAcknowledged"]
    assert out.loc["w1", "numberOfTimesEarnedOut"] == 2
    assert out.loc["w1", "timestampOfLastStateChange"] == EPOCH
    # needed = 5 + max(RI, 0) + 5·max(times − 1, 0) = 5 + 2 + 5
    assert out.loc["w1", "successfulRatingNeededToEarnIn"] == 12
    assert out.loc["w1", "timestampOfLastEarnOut"] == 1  # not stamped in this run (official)


def test_top_writer_gets_non_escalating_target():
    w = World()
    w.enroll("top", "earnedIn", times=2)
    for _ in range(20):
        w.note("top", S.CRH, created=T0 - 10 * DAY - len(w.notes))
    _crnh_writer(w, "top", 3)
    w.impact("top", 4)
    out = w.score()
    assert out.loc["top", "enrollmentState"] == CODE["earnedOutAcknowledged"]
    assert out.loc["top", "successfulRatingNeededToEarnIn"] == 5 + 4
    assert out.loc["top", "numberOfTimesEarnedOut"] == 3


def test_single_trigger_earn_out_on_negative_writing_impact():
    w = World()
    w.enroll("neg", "earnedIn"); _crnh_writer(w, "neg", 1, nmr=2)
    w.enroll("even", "earnedIn"); _crnh_writer(w, "even", 1, decided_extra=1)
    w.enroll("api", "apiEarnedIn"); _crnh_writer(w, "api", 1)       # API states are not excluded here
    w.enroll("new", "newUser"); _crnh_writer(w, "new", 1)           # newUser (4) is excluded
    # CRNH before the last earn-out: hasCrnhSinceEarnOut False
    w.enroll("old", "earnedIn", last_earn_out=T0 + 10 * DAY)
    w.note("old", S.CRNH, created=T0)
    out = w.score()
    assert out.loc["neg", "enrollmentState"] == CODE["earnedOutAcknowledged"]
    assert out.loc["neg", "numberOfTimesEarnedOut"] == 1
    assert out.loc["neg", "successfulRatingNeededToEarnIn"] == 5
    assert out.loc["even", "enrollmentState"] == CODE["earnedIn"]   # writing impact 0: strict < needed
    assert out.loc["api", "enrollmentState"] == CODE["earnedOutAcknowledged"]
    assert out.loc["new", "enrollmentState"] == CODE["newUser"]
    assert out.loc["old", "enrollmentState"] == CODE["earnedIn"]


def test_input_earned_out_no_ack_is_acknowledged_or_earns_in():
    w = World()
    w.enroll("noack", "earnedOutNoAcknowledge", needed=10, times=2); w.impact("noack", 3)
    w.enroll("noack_in", "earnedOutNoAcknowledge", needed=3, times=2); w.impact("noack_in", 3)
    out = w.score()
    assert out.loc["noack", "enrollmentState"] == CODE["earnedOutAcknowledged"]
    assert out.loc["noack", "successfulRatingNeededToEarnIn"] == 5 + 3 + 5  # recomputed, times unchanged
    assert out.loc["noack", "numberOfTimesEarnedOut"] == 2
    assert out.loc["noack_in", "enrollmentState"] == CODE["earnedIn"]


def test_earned_out_acknowledged_window_starts_now_and_is_reported():
    w = World()
    w.enroll("ack", "earnedOutAcknowledged", needed=20, times=1, last_earn_out=T0 - DAY)
    _crnh_writer(w, "ack", 3)
    w.impact("ack", 4)
    out = w.score()
    assert out.loc["ack", "enrollmentState"] == CODE["earnedOutAcknowledged"]
    assert out.loc["ack", "successfulRatingNeededToEarnIn"] == 20   # unchanged: not state 2
    assert out.loc["ack", "timestampOfLastEarnOut"] == EPOCH         # overwritten with "now"
    assert out.loc["ack", "timestampOfLastStateChange"] == EPOCH - 100 * DAY
    assert out.loc["ack", "numberOfTimesEarnedOut"] == 1


def test_removed_and_api_states_are_frozen_by_the_state_machine():
    w = World()
    w.enroll("rm", "removed"); _crnh_writer(w, "rm", 4); w.impact("rm", 9)
    w.enroll("apiIn", "apiEarnedIn"); w.impact("apiIn", 9)
    out = w.score()
    assert out.loc["rm", "enrollmentState"] == CODE["removed"]
    assert out.loc["apiIn", "enrollmentState"] == CODE["apiEarnedIn"]


def test_literal_string_vs_code_quirk_new_user_earning_in_can_become_at_risk():
    # Step 1 writes code 0; step 2's exclusions are string names, so the same user is then
    # moved to atRisk if 2 of the last 5 notes are CRNH (spec 07 A.6).
    w = World()
    w.enroll("q", "newUser"); w.impact("q", 6); _crnh_writer(w, "q", 2, decided_extra=3)
    out = w.score()
    assert out.loc["q", "enrollmentState"] == CODE["atRisk"]


def test_counts_and_prescoring_columns_are_merged():
    w = World()
    w.enroll("a", "earnedIn", group=3)
    w.impact("a", 2)
    w.note("a", S.NMR)
    w.prescoring = [{S.RATER_ID: "a", "scorerName": "MFCoreScorer", S.RATER_INTERCEPT: 0.25,
                     S.RATER_FACTOR1: -0.5},
                    {S.RATER_ID: "p", "scorerName": "MFCoreScorer", S.RATER_INTERCEPT: 0.1,
                     S.RATER_FACTOR1: 0.2}]
    w.enroll("p", "atRisk", group=3)
    out = w.score()
    assert list(out.reset_index().columns) == list(S.HELPFULNESS_SCORES_COLUMNS)
    assert out.loc["a", "coreRaterIntercept"] == pytest.approx(0.25)
    assert out.loc["a", "notesAwaitingMoreRatings"] == 1 and out.loc["a", "aggregateRatingReceivedTotal"] == 0
    # a prescoring-only user: counts NaN, state carried over from the enrollment file
    assert out.loc["p", "enrollmentState"] == CODE["atRisk"]
    assert pd.isna(out.loc["p", "successfulRatingTotal"]) and pd.isna(out.loc["p", "notesCurrentlyRatedHelpful"])
    assert out.loc["p", "nmrTotal90d"] == 0 and out.loc["a", "nmrTotal90d"] == 1


def test_config_thresholds_are_used():
    w = World()
    w.enroll("u", "newUser"); w.impact("u", 3)
    assert w.score(config=ContributorConfig(rating_impact_for_earn_in=3)).loc["u", "enrollmentState"] == 4
    # the config default only fills a *missing* target; the enrolled target (5) still applies
    w2 = World(); w2.impact("v", 3)
    assert w2.score(config=ContributorConfig(rating_impact_for_earn_in=3)).loc["v", "enrollmentState"] == 0


def test_integer_id_codes_work():
    w = World()
    w.enroll("7", "newUser"); w.impact("7", 5, author="3")
    scored, aux, nsh, r, enr, pro = w.frames()
    as_int = lambda s: s.astype(np.int32)  # noqa: E731
    aux[S.AUTHOR_ID] = as_int(aux[S.AUTHOR_ID]); nsh[S.AUTHOR_ID] = as_int(nsh[S.AUTHOR_ID])
    r[S.RATER_ID] = as_int(r[S.RATER_ID]); enr[S.PARTICIPANT_ID] = as_int(enr[S.PARTICIPANT_ID])
    pro = pd.DataFrame({S.RATER_ID: np.array([7], np.int32), "scorerName": ["MFCoreScorer"],
                        S.RATER_INTERCEPT: [0.1], S.RATER_FACTOR1: [0.2]})
    out = contributor_scores(scored, aux, nsh, r, None, enr, pro, epoch_millis=EPOCH).set_index(S.RATER_ID)
    assert sorted(out.index) == [3, 7]
    assert out.loc[7, "enrollmentState"] == 0 and out.loc[3, "notesCurrentlyRatedHelpful"] == 5


# ---------------------------------------------------------------------------
# Tier 2 properties
# ---------------------------------------------------------------------------

STATES = ["newUser", "earnedIn", "atRisk", "earnedOutNoAcknowledge", "earnedOutAcknowledged", "removed",
          "apiEarnedIn"]


@st.composite
def worlds(draw):
    w = World()
    people = [f"p{i}" for i in range(draw(st.integers(2, 6)))]
    for p in people:
        if draw(st.booleans()):
            w.enroll(p, draw(st.sampled_from(STATES)), needed=draw(st.integers(1, 12)),
                     times=draw(st.integers(0, 2)),
                     last_earn_out=draw(st.sampled_from([1, T0 + 50])))
    n_notes = draw(st.integers(1, 10))
    for i in range(n_notes):
        w.note(draw(st.sampled_from(people)), draw(st.sampled_from([S.CRH, S.CRNH, S.NMR])),
               created=T0 + 100 * i)
    for note in list(w.notes):
        for p in people:
            if draw(st.booleans()):
                w.rate(note["noteId"], p, draw(st.sampled_from([0.0, 0.5, 1.0])),
                       after=draw(st.sampled_from([DAY, 4 * DAY])))
    return w


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_properties_counts_and_rows(w):
    scored, aux, nsh, r, enr, pro = w.frames()
    out = contributor_scores(scored, aux, nsh, r, None, enr, pro, epoch_millis=EPOCH)
    ids = out[S.RATER_ID]
    assert ids.is_unique and ids.is_monotonic_increasing
    authors = set(aux[S.AUTHOR_ID])
    assert authors <= set(ids)                           # every author appears once
    valid = valid_ratings(r, nsh, aux[[S.NOTE_ID, "crhBool", "crnhBool"]])
    cand_raters = set(valid[S.RATER_ID])
    assert cand_raters <= set(ids)
    counts = [*RATING_COUNT_COLUMNS, "ratingsAwaitingMoreRatings", "ratedAfterDecision", *NOTE_COUNT_COLUMNS,
              "crhTotal14d", "crnhTotal14d", "nmrTotal14d", "crhTotal90d", "crnhTotal90d", "nmrTotal90d"]
    vals = out[counts].to_numpy(dtype=np.float64)
    assert (np.nan_to_num(vals) >= 0).all()
    per = valid.groupby(S.RATER_ID).size()
    o = out.set_index(S.RATER_ID)
    for rater, n in per.items():
        assert o.loc[rater, "successfulRatingTotal"] + o.loc[rater, "unsuccessfulRatingTotal"] == n
        assert (o.loc[rater, "successfulRatingHelpfulCount"] + o.loc[rater, "successfulRatingNotHelpfulCount"]
                == o.loc[rater, "successfulRatingTotal"])
    for a in authors:
        mine = aux[aux[S.AUTHOR_ID] == a]
        assert o.loc[a, "notesCurrentlyRatedHelpful"] == mine["crhBool"].sum()
        assert o.loc[a, "notesAwaitingMoreRatings"] == mine["awaitingBool"].sum()
    states = out["enrollmentState"].dropna().astype(int)
    assert states.isin(list(CODE.values())).all()
    # The state machine always acknowledges (2 → 3); a 2 in the output can only be carried over
    # unchanged from the enrollment file, for a contributor the state machine did not see (e.g. an
    # author whose notes all predate their last earn-out): official run_scoring fills the state of
    # such users from the previous enrollment state.
    still_2 = set(out.loc[out["enrollmentState"].astype(object) == CODE["earnedOutNoAcknowledge"], S.RATER_ID])
    carried = set(enr.loc[enr[S.ENROLLMENT_STATE] == "earnedOutNoAcknowledge", S.PARTICIPANT_ID])
    assert still_2 <= carried
    assert (out["successfulRatingNeededToEarnIn"].dropna() >= 1).all()
    enrolled = set(enr[S.PARTICIPANT_ID])
    assert set(ids) <= enrolled | authors | set(r[S.RATER_ID])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.sampled_from([1, 2, 5]))
def test_rating_counts_do_not_depend_on_the_block_of_ratings(w, block):
    """The counts are summed a block of ratings at a time (the valid, candidate and after-decision
    passes); any block gives the table of one block, bit for bit."""
    import cnlab.contributors as C
    import cnlab.scoring.helpfulness as H

    scored, aux, nsh, r, *_ = w.frames()
    notes = scored_notes_with_stats(scored, aux)
    whole = rating_counts(r, nsh, notes)
    saved = H.ROW_BLOCK, C.ROW_BLOCK
    H.ROW_BLOCK = C.ROW_BLOCK = block
    try:
        pd.testing.assert_frame_equal(rating_counts(r, nsh, notes), whole, check_exact=True)
    finally:
        H.ROW_BLOCK, C.ROW_BLOCK = saved


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 6)), min_size=0, max_size=30), st.data())
def test_rater_codes_sums_equal_the_groupby(raters, data):
    """Per-rater sums over the shared codes equal a groupby of the rows' raters: only the raters
    with a row, sorted, missing ids dropped, integer and float columns."""
    from cnlab.scoring.helpfulness import RaterCodes as _RaterCodes

    ids = np.array([np.nan if x is None else float(x) for x in raters])
    n = len(ids)
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))) if n else [],
                    dtype=np.int64)
    v = np.arange(n, dtype=np.float64)[rows] * 0.5
    one = np.ones(len(rows), dtype=np.int64)
    got = _RaterCodes(ids).sums(rows, {"a": v, "b": one}, np.float64)
    want = pd.DataFrame({S.RATER_ID: ids[rows], "a": v, "b": one.astype(np.float64)}) \
        .groupby(S.RATER_ID, sort=True).sum()
    pd.testing.assert_frame_equal(got, want, check_index_type=False)
    every = _RaterCodes(ids).sums(None, {"a": np.ones(n)}, np.int64)
    assert every["a"].sum() == int((~np.isnan(ids)).sum())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2, 9), min_size=0, max_size=30), st.sampled_from([np.int32, np.int64]), st.data())
def test_rater_codes_of_integer_ids_equal_the_groupby(raters, dtype, data):
    """Integer ids (a run's participant codes: non-negative int32, used as their own codes; or
    other integers, factorised) give the groupby's per-rater sums: the raters with a row, sorted."""
    from cnlab.scoring.helpfulness import RaterCodes as _RaterCodes

    ids = np.array(raters, dtype=dtype)
    n = len(ids)
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))) if n else [],
                    dtype=np.int64)
    v = np.arange(n, dtype=np.float64)[rows] * 0.5
    got = _RaterCodes(ids).sums(rows, {"a": v}, np.float64)
    want = pd.DataFrame({S.RATER_ID: ids[rows], "a": v}).groupby(S.RATER_ID, sort=True).sum()
    pd.testing.assert_frame_equal(got, want, check_index_type=False)
