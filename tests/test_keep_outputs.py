"""``score(keep="outputs")`` (cnlab.pipeline.keep): a lean run gives the outputs of a full one and
holds no rating-level frame; what needs those frames says so. Hand-built objects first, then a
property of the stripping, then the bundled sample (Core, a four-family roster, the CLI)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import cli
from cnlab import schema as S
from cnlab.pipeline import ScoringConfig, score
from cnlab.pipeline.keep import (
    ResultNotKeptError,
    check_keep,
    lean_confidence,
    lean_final,
    lean_prescoring,
    require_full,
)
from cnlab.scorers.mf_final import CallResult, FinalOutput
from cnlab.scorers.outputs import PrescoringOutput

NID, RID = S.NOTE_ID, S.RATER_ID


def _ratings(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({NID: np.arange(n) % 3, RID: np.arange(n) % 2, S.HELPFUL_NUM: np.ones(n)})


@dataclasses.dataclass(frozen=True)
class _Fit:  # the fields of an MF fit that matter here
    note_params: pd.DataFrame
    weights: np.ndarray | None = None
    first_fit: "_Fit | None" = None


# -- hand-built objects ------------------------------------------------------------------------------

def test_lean_final_drops_call_ratings_and_weights_keeps_the_rest():
    notes = pd.DataFrame({NID: [0, 1, 2], S.NOTE_INTERCEPT: [0.1, 0.2, 0.3]})
    helpful = pd.DataFrame({RID: [0, 1]})
    fit = _Fit(notes, weights=np.ones(6), first_fit=_Fit(notes, weights=np.ones(6)))
    call = CallResult("main", _ratings(), fit, notes, notes, helpful, {"ratings_in": 6})
    out = FinalOutput(scorer=None, scored_notes=notes, helpfulness_scores=helpful, aux_note_info=notes,
                      internal_scored_notes=notes, calls={"main": call})
    lean = lean_final(out)
    c = lean.calls["main"]
    assert c.training_ratings is None and c.mf.weights is None and c.mf.first_fit.weights is None
    # what is not rating-level is the same object, not a copy
    assert c.note_params is notes and c.helpfulness is helpful and c.mf.note_params is notes
    assert c.counts == {"ratings_in": 6} and lean.scored_notes is notes
    # the input is left as it was
    assert out.calls["main"].training_ratings is not None and fit.weights is not None


def test_lean_prescoring_drops_rating_frames_of_every_scorer():
    h = pd.DataFrame({RID: [0, 1], "crhCrnhRatioDifference": [0.1, 0.2]})
    inter = {"A": {"ratings_for_training": _ratings(), "valid_ratings": _ratings(4), "helpfulness": h,
                   "final": _Fit(h, weights=np.ones(6)), "round1_train_mse": 0.1},
             "B": {"ratings_for_training": _ratings(), "timings": pd.DataFrame({"stage": ["x"]})}}
    out = PrescoringOutput(h, h, {}, None, inter)
    lean = lean_prescoring(out)
    assert lean.intermediates["A"]["ratings_for_training"] is None
    assert lean.intermediates["A"]["valid_ratings"] is None
    assert lean.intermediates["B"]["ratings_for_training"] is None
    assert lean.intermediates["A"]["final"].weights is None
    assert lean.intermediates["A"]["helpfulness"] is h and lean.intermediates["A"]["round1_train_mse"] == 0.1
    assert lean.note_model_output is h and lean.rater_model_output is h
    assert inter["A"]["ratings_for_training"] is not None  # not mutated
    # nothing to drop: the same object back
    plain = PrescoringOutput(h, h, {}, None, {"A": {"helpfulness": h}})
    assert lean_prescoring(plain) is plain and lean_prescoring(None) is None


def test_lean_confidence_drops_training_frames_only():
    @dataclasses.dataclass(frozen=True)
    class PFlip:
        threshold: float
        train_frame: Any = None

    @dataclasses.dataclass(frozen=True)
    class PCRH:
        seed: int
        training: Any = None

    @dataclasses.dataclass(frozen=True)
    class Conf:
        pflip: Any = None
        pcrh: Any = None
        pflip_predictions: Any = None

    pred = pd.DataFrame({NID: [1], "LABEL": ["CRH"]})
    conf = Conf(PFlip(0.5, pd.DataFrame({NID: [1, 2]})), PCRH(3, pd.DataFrame({NID: [1]})), pred)
    lean = lean_confidence(conf)
    assert lean.pflip == PFlip(0.5, None) and lean.pcrh == PCRH(3, None)
    assert lean.pflip_predictions is pred
    assert lean_confidence(None) is None
    assert lean_confidence(Conf(pflip=PFlip(0.5))) == Conf(pflip=PFlip(0.5))


def test_keep_values_and_the_error_message():
    assert check_keep("all") == "all" and check_keep("outputs") == "outputs"
    with pytest.raises(ValueError, match="'all', 'outputs'"):
        check_keep("none")
    with pytest.raises(ValueError, match="keep='frames'"):
        score(None, keep="frames")  # checked before any work (no dataset needed)
    full = dataclasses.make_dataclass("R", [("keep", str)])
    require_full(full("all"), "explain()")
    with pytest.raises(ResultNotKeptError) as e:
        require_full(full("outputs"), "rescore()")
    msg = str(e.value)
    assert msg.startswith("rescore() needs") and "keep='outputs'" in msg and 'keep="all"' in msg
    assert isinstance(e.value, ValueError)


def test_docstring_examples():
    import doctest

    from cnlab.pipeline import keep

    failures, attempted = doctest.testmod(keep)
    assert attempted >= 3 and failures == 0


# -- property ----------------------------------------------------------------------------------------

_frames = st.sampled_from(["rating", "note", "rater"]).map(
    lambda kind: _ratings() if kind == "rating" else pd.DataFrame({NID if kind == "note" else RID: [1, 2]}))
_trees = st.recursive(_frames | st.integers() | st.none(),
                      lambda inner: st.dictionaries(st.text("abc", min_size=1, max_size=3), inner, max_size=4),
                      max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["S1", "S2"]), _trees, min_size=1))
def test_lean_prescoring_removes_exactly_the_rating_frames(inter):
    out = PrescoringOutput(pd.DataFrame(), pd.DataFrame(), {}, None, inter)
    lean = lean_prescoring(out).intermediates

    def pairs(a, b):
        if isinstance(a, dict):
            assert isinstance(b, dict) and a.keys() == b.keys()
            for k in a:
                yield from pairs(a[k], b[k])
        else:
            yield a, b

    for before, after in pairs(inter, lean):
        if isinstance(before, pd.DataFrame) and {NID, RID} <= set(before.columns):
            assert after is None
        else:
            assert after is before


# -- the bundled sample --------------------------------------------------------------------------------

def _roster() -> ScoringConfig:
    """One scorer of each family: MF with reputation (Core), MF without (a topic scorer), the
    ReputationScorer and a Gaussian scorer (the whole official roster takes ~25 s per run here)."""
    from cnlab.pipeline.config import meta_scorer_names
    from cnlab.scorers import mf_config as M
    from cnlab.scorers.gaussian import GAUSSIAN
    from cnlab.scorers.reputation import REPUTATION_SCORER

    mf = (M.CORE, M.TOPIC_SCORERS["UkraineConflict"])
    return ScoringConfig(scorers=mf, enabled_meta_scorers=meta_scorer_names(mf),
                         reputation=REPUTATION_SCORER, gaussian=(GAUSSIAN,))


@pytest.fixture(scope="module")
def sample():
    import cnlab

    return cnlab.load_sample()


@pytest.fixture(scope="module", params=["core", "roster"])
def pair(request, sample):
    config = ScoringConfig() if request.param == "core" else _roster()
    return score(sample, config), score(sample, config, keep="outputs")


def _rating_sized(obj: Any, limit: int, path: str = "result", depth: int = 0) -> list[str]:
    """Paths of the rating-level frames reachable through dataclass fields, mappings and
    sequences: a frame with both noteId and raterParticipantId, or any frame or array longer than
    ``limit`` (more rows than all scorers' note or participant rows)."""
    if depth > 8 or obj is None:
        return []
    if isinstance(obj, pd.DataFrame):
        return [path] if {NID, RID} <= set(obj.columns) or len(obj) > limit else []
    if isinstance(obj, (pd.Series, np.ndarray)):
        return [path] if len(obj) > limit else []
    if isinstance(obj, Mapping):
        return [p for k, v in obj.items() for p in _rating_sized(v, limit, f"{path}[{k!r}]", depth + 1)]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _rating_sized(v, limit, f"{path}[{i}]", depth + 1)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [p for f in dataclasses.fields(obj)
                for p in _rating_sized(getattr(obj, f.name), limit, f"{path}.{f.name}", depth + 1)]
    return []


def test_lean_run_gives_the_same_outputs(pair):
    full, lean = pair
    assert (full.keep, lean.keep) == ("all", "outputs")
    # the prefilter drops ratings here, so the lean prescoring reads its training rows through
    # positions into the slice (not the slice itself)
    assert any(len(v["ratings_for_training"]) < v["slice_report"].after_group_filter
               for v in full.prescoring.intermediates.values()
               if isinstance(v, dict) and v.get("ratings_for_training") is not None)
    for key, frame in full.frames.items():
        pd.testing.assert_frame_equal(frame, lean.frames[key])
    for key, frame in full.outputs().items():
        pd.testing.assert_frame_equal(frame, lean.outputs()[key])
    pd.testing.assert_frame_equal(full.decisions(), lean.decisions())
    pd.testing.assert_frame_equal(full.final_helpfulness(), lean.final_helpfulness())
    assert list(full.final) == list(lean.final)
    pd.testing.assert_frame_equal(full.funnel.to_frame(), lean.funnel.to_frame())
    assert "keep='outputs'" in lean.summary() and "keep=" not in full.summary()


def test_lean_result_holds_no_rating_level_frame(pair, sample):
    full, lean = pair
    # prescoring outputs stack one row per note (rater) and scorer
    limit = len(full.config.roster()) * max(len(sample.notes), len(sample.status_history),
                                            len(sample.participants))
    assert limit < len(full.final_ratings)  # the size rule can tell ratings apart on the sample
    found = _rating_sized(full, limit)
    # the walk finds them in a full result (else the next assertion would prove nothing)
    for expected in ("result.final_ratings", "result.prescoring_ratings", "result.preprocessed.ratings",
                     "result.dataset.ratings", "result.prescoring.intermediates['MFCoreScorer']"
                     "['ratings_for_training']", "result.final['MFCoreScorer'].calls['main'].training_ratings"):
        assert expected in found, expected
    assert _rating_sized(lean, limit) == []
    assert lean.dataset is None and lean.final_ratings is None and lean.prescoring_ratings is None
    assert lean.preprocessed.ratings is None
    pd.testing.assert_frame_equal(lean.preprocessed.status_history, full.preprocessed.status_history)
    if full.confidence is not None:
        assert lean.confidence.pflip.train_frame is None and lean.confidence.pcrh.training is None
        assert full.confidence.pflip.threshold == lean.confidence.pflip.threshold


def test_explain_and_rescore_need_a_full_result(pair):
    full, lean = pair
    note = int(full.frames["scored_notes"][NID].iloc[0])
    assert full.explain(note).note_id == note
    for call, what in ((lambda: lean.explain(note), "ScoringResult.explain()"),
                       (lambda: lean.rescore(), "ScoringResult.rescore()")):
        with pytest.raises(ResultNotKeptError, match=r"keep='outputs'") as e:
            call()
        assert str(e.value).startswith(what)
    from cnlab.pipeline.explain import explain
    from cnlab.pipeline.rescore import rescore

    with pytest.raises(ResultNotKeptError, match=r"^explain\(\) needs"):
        explain(lean, note)
    with pytest.raises(ResultNotKeptError, match=r"^rescore\(\) needs"):
        rescore(lean, score=score)


def test_cli_files_are_those_of_a_full_result(tmp_path, monkeypatch):
    args = ["score", "--sample", "--scorers", "MFCoreScorer", "--no-parquet", "--quiet"]
    seen = []
    run = cli._run_scoring

    def spy(*a, **kw):
        seen.append(kw.get("keep"))
        return run(*a, **kw)

    monkeypatch.setattr(cli, "_run_scoring", spy)
    assert cli.main([*args, "-o", str(tmp_path / "lean")]) == 0
    monkeypatch.setattr(cli, "_run_scoring", lambda *a, **kw: run(*a, **{**kw, "keep": "all"}))
    assert cli.main([*args, "-o", str(tmp_path / "full")]) == 0
    assert seen == ["outputs"]  # cnlab score asks for a lean run
    for name in ("scored_notes.tsv", "helpfulness_scores.tsv", "note_status_history.tsv",
                 "aux_note_info.tsv"):
        assert (tmp_path / "lean" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


def test_lean_result_readers_say_what_is_missing(pair, sample):
    """Readers of the released ratings name keep='outputs' instead of failing on None."""
    from cnlab.errors import CnlabInputError
    from cnlab.post_likes import rater_factors_from_result

    full, lean = pair
    assert "released ratings" in lean.preprocessed.summary()
    assert f"{len(full.preprocessed.ratings):,} ratings" in full.preprocessed.summary()
    with pytest.raises(CnlabInputError, match="keep='outputs'"):
        rater_factors_from_result(lean)
    # given the ratings explicitly, a lean result serves as well as a full one
    pd.testing.assert_frame_equal(rater_factors_from_result(lean, ratings=full.preprocessed.ratings),
                                  rater_factors_from_result(full))


def test_lean_final_scoring_drops_sub_fit_ratings_as_each_fit_ends(pair):
    """With ``ScoringContext.keep_ratings`` False (a lean run) the sub-fits' ratings go when each
    sub-fit ends: the main fit is given the same intercepts, so the outputs are those of a full run."""
    from cnlab.scorers.base import ScoringContext, family_for

    full, _ = pair
    sc = full.config.roster()[0]
    assert sc.name == "MFCoreScorer"

    pre = full.preprocessed
    ctx = dict(status_history=pre.status_history, enrollment=full.dataset.enrollment,
               note_topics=full.note_topics, seed=full.config.seed, epoch_millis=full.epoch_millis)
    args = (sc, full.final_ratings, full.prescoring)
    kept = family_for(sc).score_final(*args, ScoringContext(**ctx, keep_ratings=True))
    lean = family_for(sc).score_final(*args, ScoringContext(**ctx, keep_ratings=False))
    subfits = [k for k in kept.calls if k != "main"]
    assert subfits and all(kept.calls[k].training_ratings is not None for k in subfits)
    assert all(lean.calls[k].training_ratings is None for k in subfits)
    assert lean.calls["main"].training_ratings is not None  # the main call is lean_final's to drop
    pd.testing.assert_frame_equal(lean.scored_notes, kept.scored_notes, check_exact=True)
    pd.testing.assert_frame_equal(lean.helpfulness_scores, kept.helpfulness_scores, check_exact=True)
    assert lean.slice_counts == kept.slice_counts
