"""Tier 3: the contributor phase against the official pass-2 ``helpfulness_scores.tsv.gz``.

Inputs are exactly what the official contributor phase saw: the fixture's ratings / notes /
enrollment through cnlab's loader and preprocessing (int32 participant codes, as in the
pipeline), the official pass-2 note outputs (scored notes, aux, *new* note status history) and
the official prescoring rater output.  The result is compared column by column, keyed by
raterParticipantId.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.contributors import RATER_PARAMETER_COLUMNS, contributor_scores

pytestmark = pytest.mark.parity

# Rater parameters are float32 in the prescoring parquet; the official TSV prints them with
# ~8 significant digits, so a float32 → float64 cast differs from the parsed text by < 1e-7
# (observed max 5.8e-8).  Ratios/means computed in float64 agree exactly.
FLOAT_ABS_TOL = 1e-6
# Integer, enum, flag and string columns are discrete: no mismatch tolerated.
MAX_MISMATCHES_PER_COLUMN = 0

FLAG_COLUMNS = ("aboveHelpfulnessThreshold", "isEmergingWriter")
STRING_COLUMNS = ("authorTopNotHelpfulTagValues",)
FLOAT_COLUMNS = tuple(c for c in RATER_PARAMETER_COLUMNS if c not in ("aboveHelpfulnessThreshold",
                                                                      S.MODELING_GROUP, "modelingMultiGroup"))


@pytest.fixture(scope="module")
def inputs(small_dir):
    from cnlab.io import load
    from cnlab.preprocess import preprocess

    ds = load(small_dir / "inputs", status=small_dir / "pass2_status.tsv.gz")
    pre = preprocess(ds)
    participants = ds.participants

    def codes(s):
        c = participants.get_indexer(s.astype(str))
        assert (c >= 0).all()
        return c.astype(np.int32)

    read = lambda p: pd.read_csv(small_dir / p, sep="\t")  # noqa: E731
    aux = read("official-all/aux_note_info.tsv.gz")
    aux[S.AUTHOR_ID] = codes(aux[S.AUTHOR_ID])
    nsh = read("official-all/note_status_history.tsv.gz")
    nsh[S.AUTHOR_ID] = codes(nsh[S.AUTHOR_ID])
    pro = pd.read_parquet(small_dir / "official-all/prescoring/prescoring_rater_model_output.parquet")
    pro[S.RATER_ID] = codes(pro[S.RATER_ID])
    return dict(
        scored_notes=read("official-all/scored_notes.tsv.gz"), aux_note_info=aux, new_status_history=nsh,
        ratings=pre.ratings, notes=pre.notes, enrollment=ds.enrollment, prescoring_rater_output=pro,
        epoch_millis=int((small_dir / "epoch_pass2").read_text().strip()),
        participants=np.asarray(participants), official=read("official-all/helpfulness_scores.tsv.gz"),
    )


def _run(inputs, **override):
    args = {k: inputs[k] for k in ("scored_notes", "aux_note_info", "new_status_history", "ratings", "notes",
                                   "enrollment", "prescoring_rater_output")}
    args.update(override)
    out = contributor_scores(*args.values(), epoch_millis=inputs["epoch_millis"])
    return out.assign(**{S.RATER_ID: inputs["participants"][out[S.RATER_ID].to_numpy()]})


def _agreement(mine: pd.DataFrame, official: pd.DataFrame) -> dict[str, tuple[int, int]]:
    m, o = mine.set_index(S.RATER_ID), official.set_index(S.RATER_ID).loc[mine[S.RATER_ID]]
    res = {}
    for c in S.HELPFULNESS_SCORES_COLUMNS[1:]:
        a, b = m[c].astype(object), o[c].astype(object)
        if c in STRING_COLUMNS:  # "" is written as an empty field and reads back as NaN
            eq = a.where(a.notna() & (a != ""), None).to_numpy() == b.where(b.notna(), None).to_numpy()
        elif c in FLAG_COLUMNS:
            norm = lambda s: s.map(lambda v: None if pd.isna(v) else str(v) == "True")  # noqa: E731
            eq = norm(a).to_numpy() == norm(b).to_numpy()
        else:
            av = pd.to_numeric(a, errors="coerce").to_numpy(dtype=np.float64)
            bv = pd.to_numeric(b, errors="coerce").to_numpy(dtype=np.float64)
            tol = FLOAT_ABS_TOL if c in FLOAT_COLUMNS else 0.0
            eq = (np.abs(av - bv) <= tol) | (np.isnan(av) & np.isnan(bv))
        res[c] = (int(np.sum(eq)), len(eq))
    return res


def test_contributor_scores_match_official_column_by_column(inputs):
    mine = _run(inputs)
    official = inputs["official"]
    assert sorted(mine[S.RATER_ID]) == sorted(official[S.RATER_ID])
    assert mine[S.RATER_ID].is_unique
    agreement = _agreement(mine, official)
    print("\ncolumn agreement (rows equal / rows):")
    for c, (ok, n) in agreement.items():
        print(f"  {c:36s} {ok}/{n}")
    bad = {c: v for c, v in agreement.items() if v[1] - v[0] > MAX_MISMATCHES_PER_COLUMN}
    assert not bad, f"columns with mismatches: {bad}"


def test_string_ids_give_the_same_result(inputs):
    p = inputs["participants"]
    as_str = lambda f, col: f.assign(**{col: p[f[col].to_numpy()]})  # noqa: E731
    mine = _run(inputs)
    strings = contributor_scores(
        inputs["scored_notes"], as_str(inputs["aux_note_info"], S.AUTHOR_ID),
        as_str(inputs["new_status_history"], S.AUTHOR_ID), as_str(inputs["ratings"], S.RATER_ID), None,
        as_str(inputs["enrollment"], S.PARTICIPANT_ID), as_str(inputs["prescoring_rater_output"], S.RATER_ID),
        epoch_millis=inputs["epoch_millis"])
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), strings.reset_index(drop=True),
                                  check_dtype=False)


def test_core_only_prescoring_fills_core_columns_only(inputs):
    pro = inputs["prescoring_rater_output"]
    core = pro[pro["scorerName"].isna() | (pro["scorerName"] == "MFCoreScorer")]
    mine = _run(inputs, prescoring_rater_output=core)
    agreement = _agreement(mine, inputs["official"])
    core_cols = ("coreRaterIntercept", "coreRaterFactor1", "crhCrnhRatioDifference", "meanNoteScore",
                 "raterAgreeRatio", "aboveHelpfulnessThreshold", "coreFirstRoundRaterIntercept",
                 "coreFirstRoundRaterFactor1")
    for c in core_cols:
        assert agreement[c][0] == agreement[c][1], c
    for c in set(RATER_PARAMETER_COLUMNS) - set(core_cols):
        assert mine[c].isna().all(), c
