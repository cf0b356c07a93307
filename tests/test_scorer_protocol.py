"""The scorer plug-in protocol (cnlab.scorers.base): registry, dispatch, declared outputs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd
import pytest

from cnlab.pipeline import ScoringConfig
from cnlab.schema import SchemaError
from cnlab.scorers import base
from cnlab.scorers.gaussian import GAUSSIAN_SCORERS
from cnlab.scorers.mf_config import CORE, GROUPS
from cnlab.scorers.reputation import REPUTATION_SCORER


def test_every_registered_family_follows_the_protocol():
    fams = base.families()
    assert len(fams) == len(base.FAMILIES)
    for fam in fams:
        assert isinstance(fam, base.ScorerFamily), fam
        assert isinstance(fam.meta_rules_configurable, bool)


@pytest.mark.parametrize("config, family_module", [
    (CORE, "cnlab.scorers.matrix_factorization"), (GROUPS[13], "cnlab.scorers.matrix_factorization"),
    (REPUTATION_SCORER, "cnlab.scorers.reputation"),
    (next(iter(GAUSSIAN_SCORERS.values())), "cnlab.scorers.gaussian"),
])
def test_family_for_dispatches_on_the_config_type(config, family_module):
    assert type(base.family_for(config)).__module__ == family_module


def test_unknown_config_type_is_a_clear_error():
    @dataclass(frozen=True)
    class Nope:
        name: str = "Nope"

    with pytest.raises(TypeError, match="no scorer family registered for Nope"):
        base.family_for(Nope())


def test_roster_order_is_the_official_call_order():
    cfg = ScoringConfig.official()
    names = [c.name for c in cfg.roster()]
    n_mf = len(cfg.scorers)
    assert names[:n_mf] == [s.name for s in cfg.scorers]
    assert names[n_mf] == "ReputationScorer"
    assert names[n_mf + 1:] == list(GAUSSIAN_SCORERS)


def test_meta_rules_of_each_family():
    mf = base.family_for(CORE)
    assert mf.meta_rules_configurable and mf.meta_scorers(CORE) == ("MFCoreScorer",)
    assert mf.meta_scorers(dataclasses.replace(GROUPS[13], final_scoring=False)) == ()  # prescoring only
    rep = base.family_for(REPUTATION_SCORER)
    assert not rep.meta_rules_configurable and rep.meta_scorers(REPUTATION_SCORER) == ()
    g = next(iter(GAUSSIAN_SCORERS.values()))
    assert base.family_for(g).meta_scorers(g) == ((g.meta_scorer,) if g.meta_scorer else ())


def test_declared_output_columns_are_enforced():
    declared = base.family_for(CORE).output_columns(CORE)
    assert "coreNoteIntercept" in declared["scored_notes"] and "coreRatingStatus" in declared["scored_notes"]
    full = SimpleNamespace(**{k: pd.DataFrame(columns=v) for k, v in declared.items()})
    base.check_outputs(CORE, full)  # every declared column present: no error
    short = SimpleNamespace(**{k: pd.DataFrame(columns=[c for c in v if c != "coreRatingStatus"])
                               for k, v in declared.items()})
    with pytest.raises(SchemaError, match="MFCoreScorer.*coreRatingStatus"):
        base.check_outputs(CORE, short)
