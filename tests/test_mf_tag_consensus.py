"""Tag-consensus (harassment) model, spec 06 §C: tier 1 (labels, guard, MF set-up) and tier 2."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnlab.mf
from cnlab import schema
from cnlab.scorers import tag_consensus as tc

TAG = schema.HARASSMENT_TAG
LABEL = tc.label_column(TAG)
CUT = tc.TAG_RATING_CUTOFF_MILLIS


def _rows(rows):
    """rows: (noteId, rater, createdAtMillis, helpfulnessLevel, harassment, other)."""
    r = pd.DataFrame(rows, columns=["noteId", "raterParticipantId", "createdAtMillis", "helpfulnessLevel", TAG,
                                    "notHelpfulOther"])
    r[[TAG, "notHelpfulOther"]] = r[[TAG, "notHelpfulOther"]].astype(np.int8)
    return r


# ---------------------------------------------------------------------------
# Tier 1
# ---------------------------------------------------------------------------
def test_label_rules_and_cutoff():
    r = _rows([
        (1, 10, CUT, "HELPFUL", 0, 0),             # 0: helpful
        (2, 10, CUT + 5, "NOT_HELPFUL", 0, 1),     # 0: notHelpfulOther
        (3, 10, CUT, "NOT_HELPFUL", 1, 1),         # 1: tag overrides "other"
        (4, 10, CUT, "HELPFUL", 1, 0),             # 1: tag overrides helpful
        (5, 10, CUT, "NOT_HELPFUL", 0, 0),         # dropped: unlabeled
        (6, 10, CUT, "SOMEWHAT_HELPFUL", 0, 0),    # dropped: unlabeled
        (7, 10, CUT - 1, "NOT_HELPFUL", 1, 0),     # dropped: before 2021-12-17
        (8, 10, CUT - 1, "HELPFUL", 0, 0),         # dropped: before 2021-12-17
    ])
    out = tc.prepare_tag_data(r)
    assert list(out.columns) == ["noteId", "raterParticipantId", LABEL]
    assert out["noteId"].tolist() == [1, 2, 3, 4]
    assert out[LABEL].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert out[LABEL].dtype == np.float32


def test_label_rules_with_packed_tags_and_categorical_level():
    r = _rows([(1, 10, CUT, "HELPFUL", 0, 0), (2, 10, CUT, "NOT_HELPFUL", 1, 0), (3, 10, CUT, "NOT_HELPFUL", 0, 1)])
    r["helpfulnessLevel"] = pd.Categorical(r["helpfulnessLevel"], categories=schema.HELPFULNESS_LEVELS)
    r["notHelpfulTagBits"] = schema.pack_tags(r.reindex(columns=schema.NOT_HELPFUL_TAGS, fill_value=0),
                                              schema.NOT_HELPFUL_TAGS)
    packed = r.drop(columns=[TAG, "notHelpfulOther"])
    out = tc.prepare_tag_data(packed)
    assert out[LABEL].tolist() == [0.0, 1.0, 0.0]


def _grid(n_notes=12, n_raters=12, positive=lambda n, u: False):
    """Every rater rates every note (passes the 5/10/5 filter)."""
    rows = [(n, u, CUT + 1, "NOT_HELPFUL" if positive(n, u) else "HELPFUL", int(positive(n, u)), 0)
            for n in range(n_notes) for u in range(n_raters)]
    return _rows(rows)


@pytest.mark.parametrize("positive, reason", [
    (lambda n, u: False, "posRate 0"),
    (lambda n, u: True, "posRate 1"),
])
def test_pos_rate_guard_gives_all_nan(positive, reason, monkeypatch):
    monkeypatch.setattr(cnlab.mf, "fit", lambda *a, **k: pytest.fail("MF must not run"))
    r = _grid(positive=positive)
    res = tc.train_tag_model_detailed(r, note_init=None, rater_init=None)
    assert res.skipped_reason == reason
    assert sorted(res.note_params["noteId"]) == list(range(12))
    assert res.note_params[["harassmentNoteIntercept", "harassmentNoteFactor1"]].isna().all().all()
    assert res.rater_params[["harassmentRaterIntercept", "harassmentRaterFactor1"]].isna().all().all()
    assert "skipped" in res.summary()


def test_guard_when_filtering_leaves_nothing(monkeypatch):
    monkeypatch.setattr(cnlab.mf, "fit", lambda *a, **k: pytest.fail("MF must not run"))
    r = _grid(n_notes=3, n_raters=4, positive=lambda n, u: u == 0)  # raters have < 10 ratings
    out = tc.train_tag_model(r, note_init=None, rater_init=None)
    assert list(out.columns) == ["noteId", "harassmentNoteIntercept", "harassmentNoteFactor1"]
    assert out["harassmentNoteIntercept"].isna().all()


def test_filter_is_one_pass_5_10_5():
    # note 99 has 5 ratings, one of them by rater 50 who has only that rating → rater dropped,
    # then note 99 drops below 5 and goes too (third pass).
    r = _grid()
    extra = _rows([(99, u, CUT + 1, "HELPFUL", 0, 0) for u in (0, 1, 2, 3, 50)])
    labeled = tc.prepare_tag_data(pd.concat([r, extra], ignore_index=True))
    out = tc._filter_ratings(labeled)
    assert 99 not in set(out["noteId"]) and 50 not in set(out["raterParticipantId"])
    assert len(out) == 12 * 12


def test_mf_call_uses_pos_weight_lr_and_doubled_first_round_init(monkeypatch):
    seen = {}

    class FakeResult:
        def __init__(self, ratings):
            notes = pd.unique(ratings["noteId"])
            raters = pd.unique(ratings["raterParticipantId"])
            self.note_params = pd.DataFrame({"noteId": notes, "internalNoteIntercept": 0.5,
                                             "internalNoteFactor1": -0.25})
            self.rater_params = pd.DataFrame({"raterParticipantId": raters, "internalRaterIntercept": 0.1,
                                              "internalRaterFactor1": 0.2})
            self.global_intercept = -0.3

    def fake_fit(ratings, config, **kwargs):
        seen.update(kwargs, config=config, ratings=ratings)
        return FakeResult(ratings)

    monkeypatch.setattr(cnlab.mf, "fit", fake_fit)
    r = _grid(positive=lambda n, u: n == 0 and u < 3)  # 3 positives of 144
    note_init = pd.DataFrame({"noteId": range(12), "internalNoteIntercept": 0.4, "internalNoteFactor1": 0.3})
    rater_init = pd.DataFrame({"raterParticipantId": range(12), "internalRaterIntercept": -0.2,
                               "internalRaterFactor1": -0.6})
    res = tc.train_tag_model_detailed(r, note_init=note_init, rater_init=rater_init, seed=3)
    pos_rate = 3 / 144
    cfg = seen["config"]
    assert cfg.loss == "bce" and cfg.init_lr == 2.0
    assert cfg.pos_weight == pytest.approx((1 - pos_rate) / pos_rate)
    assert seen["label_col"] == LABEL and seen["seed"] == 3 and "global_init" not in seen
    assert (seen["note_init"]["internalNoteIntercept"] == 0).all()
    np.testing.assert_allclose(seen["note_init"]["internalNoteFactor1"], 0.6)
    assert (seen["rater_init"]["internalRaterIntercept"] == 0).all()
    np.testing.assert_allclose(seen["rater_init"]["internalRaterFactor1"], -1.2)
    assert res.pos_rate == pytest.approx(pos_rate) and res.n_train == 144
    assert res.note_params["harassmentNoteIntercept"].eq(0.5).all()
    assert res.rater_params["harassmentRaterFactor1"].eq(0.2).all()
    assert res.global_intercept == pytest.approx(-0.3)


# ---------------------------------------------------------------------------
# Tier 2: planted abusive notes (runs the MF engine)
# ---------------------------------------------------------------------------
#: Measured on this planted set: Spearman 0.498 (its ceiling is ≈0.51), AUC 0.923.
PLANTED_MIN_SPEARMAN = 0.35
PLANTED_MIN_AUC = 0.85


def test_planted_abusive_notes_get_high_intercepts():
    rng = np.random.default_rng(5)
    n_notes, n_raters = 60, 40
    abusive = np.zeros(n_notes, bool)
    abusive[rng.choice(n_notes, 8, replace=False)] = True
    rows = []
    for u in range(n_raters):
        for n in rng.choice(n_notes, 30, replace=False):
            p_tag = 0.7 if abusive[n] else 0.02
            if rng.random() < p_tag:
                rows.append((n, u, CUT + 1, "NOT_HELPFUL", 1, 0))
            elif rng.random() < 0.6:
                rows.append((n, u, CUT + 1, "HELPFUL", 0, 0))
            else:
                rows.append((n, u, CUT + 1, "NOT_HELPFUL", 0, int(rng.random() < 0.5)))
    r = _rows(rows)
    note_init = pd.DataFrame({"noteId": range(n_notes), "internalNoteIntercept": 0.1,
                              "internalNoteFactor1": rng.normal(0, 0.3, n_notes)})
    rater_init = pd.DataFrame({"raterParticipantId": range(n_raters), "internalRaterIntercept": 0.0,
                               "internalRaterFactor1": rng.normal(0, 0.3, n_raters)})
    res = tc.train_tag_model_detailed(r, note_init=note_init, rater_init=rater_init, seed=1)
    assert res.skipped_reason is None
    est = res.note_params.set_index("noteId")["harassmentNoteIntercept"]
    truth = pd.Series(abusive.astype(float), index=range(n_notes)).reindex(est.index)
    ranks = est.rank()
    n_pos, n_neg = int(truth.sum()), int((truth == 0).sum())
    auc = (ranks[truth == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    rho = ranks.corr(truth.rank())
    print(f"\nharassment planted: spearman={rho:.3f} auc={auc:.3f}")
    # Rank correlation with a binary truth (8 of 60) cannot exceed ≈0.51, so the AUC is the clearer
    # figure; part of the signal goes into the note factor (rater factors drift to one sign).
    assert rho > PLANTED_MIN_SPEARMAN, rho
    assert auc > PLANTED_MIN_AUC, auc
    assert math.isfinite(res.global_intercept)
    assert "posRate" in res.summary()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 1),
                          st.sampled_from(["HELPFUL", "NOT_HELPFUL", "SOMEWHAT_HELPFUL"]),
                          st.integers(0, 1), st.integers(0, 1), st.booleans()), min_size=0, max_size=30))
def test_rows_mask_labels_the_rows_it_selects(rows):
    """prepare_tag_data(ratings, rows=mask) == prepare_tag_data(ratings[mask]): the same rows, in
    order, without the masked frame's copy (how the prescoring gives the helpful raters' ratings)."""
    r = _rows([(n, u, CUT - 1 + late, level, tag, other) for n, u, late, level, tag, other, _ in rows])
    mask = np.array([m for *_, m in rows], dtype=bool)
    got = tc.prepare_tag_data(r, rows=mask)
    want = tc.prepare_tag_data(r[mask].reset_index(drop=True))
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_tag_model_on_a_rows_mask_is_the_model_of_the_masked_frame():
    """The fitted model (and the guard's empty output) through ``rows`` is bit for bit the model
    fitted on the copy of those rows."""
    rng = np.random.default_rng(3)
    r = _grid(n_notes=14, n_raters=14, positive=lambda n, u: (n * 7 + u * 3) % 5 == 0)
    mask = rng.random(len(r)) < 0.9
    init = dict(note_init=None, rater_init=None, seed=2)
    got = tc.train_tag_model_detailed(r, rows=mask, **init)
    want = tc.train_tag_model_detailed(r[mask].reset_index(drop=True), **init)
    assert got.skipped_reason is None and got.n_train == want.n_train
    pd.testing.assert_frame_equal(got.note_params, want.note_params, check_exact=True)
    pd.testing.assert_frame_equal(got.rater_params, want.rater_params, check_exact=True)
    none = np.zeros(len(r), dtype=bool)
    empty = tc.train_tag_model_detailed(r, rows=none, **init)
    assert empty.skipped_reason == "no data" and empty.note_params.empty


# ---------------------------------------------------------------------------
# Tier 3: the harassment model of MFCoreScorer's prescoring vs the official run
# ---------------------------------------------------------------------------
#: cnlab's own Core prescoring from the raw files (seed 42, the official seed): the tag model is
#: fitted on cnlab's helpful-rater ratings and initialised from cnlab's round-1 MF, whose Xavier
#: init cannot reproduce torch's stream (fixture README), so values differ by that much. Observed
#: over the 864 notes with a value, max |Δ| intercept 0.061 / factor 0.054 at seed 42 and up to
#: 0.14 / 0.34 at seeds 0 and 7 (intercepts span −1.7…3.9 logits); mean |Δ| ≤ 0.0044 / 0.0062;
#: Pearson ≥ 0.99990 / 0.99990 at every seed.
HARASSMENT_INTERCEPT_MAX_ATOL = 0.25
HARASSMENT_FACTOR_MAX_ATOL = 0.5
HARASSMENT_MAX_MEAN_ABS_DIFF = 0.02
HARASSMENT_MIN_PEARSON = 0.9995
#: The rater penalty applies to helpful ratings on notes with harassmentNoteIntercept ≥ 2.0
#: (spec 03 §3 / 06 §C); every note must be on the official side of it unless it is closer to 2.0
#: than HARASSMENT_INTERCEPT_MAX_ATOL (observed: 8 / 8 notes above at every seed, none near).
HARASSMENT_PENALTY_THRESHOLD = 2.0


@pytest.mark.parity
@pytest.mark.slow
def test_harassment_outputs_match_official_prescoring(core_full_run, small_dir):
    """harassmentNoteIntercept / harassmentNoteFactor1 of MFCoreScorer's prescoring note output
    (cnlab.scorers.tag_consensus inside cnlab's prescoring) vs prescoring_note_model_output.parquet."""
    official = pd.read_parquet(small_dir / "official-all" / "prescoring" / "prescoring_note_model_output.parquet")
    official = official[official["scorerName"] == "MFCoreScorer"]
    ours, _, _ = core_full_run.prescoring.for_scorer("MFCoreScorer")
    cols = ["harassmentNoteIntercept", "harassmentNoteFactor1"]
    m = official[["noteId", *cols]].merge(ours[["noteId", *cols]], on="noteId", how="outer",
                                          suffixes=("_off", "_cn"), indicator=True)
    assert (m["_merge"] == "both").all(), "different note sets"
    for c in cols:
        # the same notes get a value (the tag model's own rating filter, spec 06 §C.2)
        assert (m[f"{c}_off"].isna() == m[f"{c}_cn"].isna()).all(), c
    both = m.dropna(subset=[f"{c}_off" for c in cols])
    assert len(both) > 500
    for c, max_atol in zip(cols, (HARASSMENT_INTERCEPT_MAX_ATOL, HARASSMENT_FACTOR_MAX_ATOL)):
        a, b = both[f"{c}_off"].astype(np.float64), both[f"{c}_cn"].astype(np.float64)
        d = (a - b).abs()
        pearson = np.corrcoef(a, b)[0, 1]
        print(f"\n{c}: n={len(d)} max|d|={d.max():.4f} mean|d|={d.mean():.5f} pearson={pearson:.6f}")
        assert d.max() <= max_atol, c
        assert d.mean() <= HARASSMENT_MAX_MEAN_ABS_DIFF, c
        assert pearson >= HARASSMENT_MIN_PEARSON, c
    a = both["harassmentNoteIntercept_off"].astype(np.float64)
    b = both["harassmentNoteIntercept_cn"].astype(np.float64)
    above_off, above_cn = a >= HARASSMENT_PENALTY_THRESHOLD, b >= HARASSMENT_PENALTY_THRESHOLD
    assert above_off.any(), "the fixture has notes above the penalty threshold"
    near = (a - HARASSMENT_PENALTY_THRESHOLD).abs() <= HARASSMENT_INTERCEPT_MAX_ATOL
    assert ((above_off == above_cn) | near).all()
