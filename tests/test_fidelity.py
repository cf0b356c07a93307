"""``ScoringConfig.fidelity``: "official" leaves the run untouched, "fast" puts every MF fit the exact
solver supports on it (resolved in one place, ``ScoringConfig.resolved``), and stays reproducible."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import cnlab
from cnlab import cli
from cnlab.mf.config import GROUP14_MF, MFConfig, TAG_CONSENSUS_MF
from cnlab.pipeline import ScoringConfig, score
from cnlab.pipeline.config import exact_supported
from cnlab.scorers import mf_config as mc
from cnlab.scorers.gaussian import GAUSSIAN_SCORERS
from cnlab.scorers.reputation import REPUTATION_SCORER


# -- tier 1: the resolution, by hand ---------------------------------------------------------------
def test_official_is_the_identity():
    cfg = ScoringConfig.official()
    assert cfg.fidelity == "official"
    assert cfg.resolved() is cfg


def test_fast_puts_supported_fits_on_the_exact_solver():
    cfg = ScoringConfig.official(fidelity="fast").resolved()
    assert all(s.mf_config().solver == "exact" for s in cfg.scorers)
    assert all(g.mf_config().solver == "exact" for g in cfg.gaussian)
    assert cfg.reputation.stable_init_mf.solver == "exact"
    # everything but the solver is the scorer's own preset (group 14: diamond term, normalised loss)
    g14 = next(s for s in cfg.scorers if s.name == "MFGroupScorer_14")
    assert g14.mf_config() == GROUP14_MF.replace(solver="exact")
    core = next(s for s in cfg.scorers if s.name == "MFCoreScorer")
    assert dataclasses.replace(core, mf=None) == mc.CORE


def test_fast_fits_pflip_on_the_working_set():
    from cnlab.models.pflip import PFlipModel
    from cnlab.models.pflip_features import PFlipConfig

    assert ScoringConfig(fidelity="fast").resolved().pflip == PFlipConfig(solver="working_set")
    mine = PFlipConfig(C=0.5)
    assert ScoringConfig(pflip=mine, fidelity="fast").resolved().pflip == dataclasses.replace(
        mine, solver="working_set")
    # an explicit solver, "none" and a given model are left as they are
    pinned = PFlipConfig(solver="liblinear")
    assert ScoringConfig(pflip=pinned, fidelity="fast").resolved().pflip is pinned
    assert ScoringConfig(pflip="none", fidelity="fast").resolved().pflip == "none"
    model = PFlipModel()
    assert ScoringConfig(pflip=model, fidelity="fast").resolved().pflip is model
    assert ScoringConfig().resolved().pflip == "fit"


def test_fast_keeps_unsupported_fits_official():
    bce = dataclasses.replace(mc.CORE, name="BceScorer", mf=TAG_CONSENSUS_MF)
    diamond_2d = dataclasses.replace(mc.CORE, name="Diamond2D", mf=GROUP14_MF.replace(n_factors=2))
    cfg = ScoringConfig(scorers=(bce, diamond_2d), fidelity="fast").resolved()
    assert cfg.scorers == (bce, diamond_2d)  # untouched objects


@pytest.mark.parametrize("mf, ok", [
    (MFConfig(), True),
    (GROUP14_MF, True),  # the diamond term has an exact 2x2 solution for one factor
    (GROUP14_MF.replace(n_factors=2), False),
    (MFConfig(n_factors=3), True),
    (TAG_CONSENSUS_MF, False),
])
def test_exact_supported(mf, ok):
    assert exact_supported(mf) is ok


def test_unknown_fidelity_is_refused():
    with pytest.raises(ValueError, match="fidelity"):
        ScoringConfig(fidelity="turbo").resolved()


def test_cli_flag():
    parser = cli.build_parser()
    args = parser.parse_args(["score", "--sample", "--fidelity", "fast", "--scorers", "MFCoreScorer"])
    assert cli._scoring_config(args).fidelity == "fast"
    args = parser.parse_args(["score", "--sample", "--scorers", "MFCoreScorer"])
    assert cli._scoring_config(args).fidelity == "official"
    with pytest.raises(SystemExit):
        parser.parse_args(["score", "--sample", "--fidelity", "turbo"])


# -- end to end on the bundled sample (Core) ----------------------------------------------------------
@pytest.fixture(scope="module")
def sample():
    return cnlab.load_sample()


@pytest.fixture(scope="module")
def fast_runs(sample):
    cfg = ScoringConfig(fidelity="fast", pflip="none", pcrh="none")
    return score(sample, cfg, seed=7), score(sample, cfg, seed=7)


def _bytes(result) -> dict[str, bytes]:
    return {k: v.to_csv(sep="\t", index=False).encode() for k, v in result.outputs().items()}


def test_fast_same_seed_same_bytes(fast_runs):
    a, b = fast_runs
    assert _bytes(a) == _bytes(b)


def test_fast_run_used_the_exact_solver_and_keeps_the_given_config(fast_runs):
    res = fast_runs[0]
    assert res.config.fidelity == "fast"
    assert res.config.scorers == (mc.CORE,)  # the given config, not the resolved one
    inter = res.prescoring.intermediates["MFCoreScorer"]
    assert inter["final"].solver == "exact"
    main = res.final["MFCoreScorer"].calls
    assert all(c.mf.solver == "exact" for c in main.values())


def test_rescore_across_fidelities_recomputes_prescoring(sample):
    base = score(sample, ScoringConfig(pflip="none", pcrh="none", topics="none"), seed=3)
    fast = base.rescore(base.config.with_(fidelity="fast"))
    assert "prescoring" in fast.recomputed
    assert fast.rescore_reasons["prescoring"] == ("fidelity",)
    assert fast.prescoring.intermediates["MFCoreScorer"]["final"].solver == "exact"
    assert isinstance(fast.frames["scored_notes"], pd.DataFrame)


def test_fast_solves_the_low_diligence_final_phases_note_by_note(sample, monkeypatch):
    """fidelity="fast" reaches the diligence final phases through the scorer's exact solver:
    they are solved by Newton (spec 06 §D.6), never by the Adam loop; official runs the loop."""
    from cnlab.scorers import diligence as dg

    calls = {"newton": 0, "adam": 0}
    newton, adam = dg.train_final_phases_newton, dg.train_final_phases

    def count(kind, fn):
        def wrapped(*args, **kwargs):
            calls[kind] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(dg, "train_final_phases_newton", count("newton", newton))
    monkeypatch.setattr(dg, "train_final_phases", count("adam", adam))
    fast = score(sample, ScoringConfig(fidelity="fast", pflip="none", pcrh="none", topics="none"), seed=7)
    assert calls == {"newton": 1, "adam": 0}  # one scored final call (main) in Core
    dil = fast.final["MFCoreScorer"].internal_scored_notes[dg.NOTE_INTERCEPT]
    assert dil.notna().any() and np.isfinite(dil.dropna()).all()
    score(sample, ScoringConfig(pflip="none", pcrh="none", topics="none"), seed=7)
    assert calls == {"newton": 1, "adam": 1}
