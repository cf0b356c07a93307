"""End to end: the whole roster from the raw fixture files, through the CLI and through ``score()``.

Three runs in fresh processes, side by side (each uses one TensorFlow thread, so together they
use the two cores of the CI machine):

* ``cli_loose`` — ``cnlab score`` from the raw files with the official flags and nothing else: the
  whole roster, as the official ``main.py`` (cnlab's own prescoring);
* ``api_loose`` — the same run through :func:`cnlab.pipeline.score` (tests/scripts/score_api.py),
  which also writes its prescoring outputs in the official layout;
* ``cli_tight`` — ``cnlab score --scorers all --prescoring-dir official-all/prescoring``.

Every column of the four official files, and of the prescoring outputs, is compared with the
official run under the contract of tests/parity_contract.py. The CLI flags' documented effects are
checked on Core-only runs (tests at the end).
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import parity_contract as C
from cnlab.lab import parity

pytestmark = [pytest.mark.parity, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
FILES = tuple(parity.OUTPUT_KEYS)


def _env() -> dict:
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("CNLAB_TF_THREADS", None)  # the default (one thread) is what users get
    return env


def _cli(small_dir: Path, outdir: Path, *extra: str) -> list[str]:
    inputs = small_dir / "inputs"
    return [sys.executable, "-m", "cnlab.cli", "score",
            "-n", str(inputs / "notes-00000.tsv.gz"), "-r", str(inputs / "ratings-00000.tsv.gz"),
            "-e", str(inputs / "userEnrollment-00000.tsv.gz"), "-s", str(small_dir / "pass2_status.tsv.gz"),
            "-o", str(outdir), "--no-parquet", "--quiet", *extra]


def _run_all(commands: dict[str, list[str]], logdir: Path) -> None:
    """Run the commands concurrently; fail with the tail of the log of any that fails."""
    procs = {}
    for name, cmd in commands.items():
        log = open(logdir / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT), log)
    failed = []
    for name, (p, log) in procs.items():
        rc = p.wait(timeout=1800)
        log.close()
        if rc != 0:
            failed.append(f"{name} exited {rc}:\n" + (logdir / f"{name}.log").read_text()[-3000:])
    assert not failed, "\n\n".join(failed)


@pytest.fixture(scope="module")
def epoch(small_dir) -> int:
    return int((small_dir / "epoch_pass2").read_text().strip())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_dir, epoch) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("e2e")
    dirs = {k: base / k for k in ("cli_loose", "api_loose", "cli_tight")}
    common = ("--seed", "42", "--epoch-millis", str(epoch))
    _run_all({
        "cli_loose": _cli(small_dir, dirs["cli_loose"], *common),  # no --scorers: the drop-in default
        "api_loose": [sys.executable, str(REPO / "tests" / "scripts" / "score_api.py"), str(small_dir),
                      str(dirs["api_loose"])],
        "cli_tight": _cli(small_dir, dirs["cli_tight"], *common, "--scorers", "all", "--prescoring-dir",
                          str(small_dir / "official-all" / "prescoring")),
    }, base)
    return dirs


@pytest.fixture(scope="module")
def official(small_dir) -> dict[str, pd.DataFrame]:
    return parity.read_official_outputs(small_dir / "official-all")


def _check(contract: dict, report: pd.DataFrame) -> list[str]:
    failures = []
    for col, row in report.iterrows():
        cls = contract.get(col)
        if cls is None:
            failures.append(f"{col}: no tolerance class")
            continue
        msg = cls.check(row)
        if msg:
            failures.append(f"{col} [{type(cls).__name__}: {cls.reason}]: {msg}")
    return failures


def _compare(official: dict, outdir: Path, name: str, contract: dict) -> list[str]:
    ours = parity.read_official_outputs(outdir)[name]
    keys = parity.compare_keys(official[name], ours, parity.OUTPUT_KEYS[name])
    assert keys["reference_only"] == keys["ours_only"] == 0, keys
    assert list(ours.columns) == list(official[name].columns)
    return _check(contract, parity.compare_columns(official[name], ours, parity.OUTPUT_KEYS[name]))


@pytest.mark.parametrize("name", FILES)
def test_tight_every_column(runs, official, name):
    """From the official prescoring: every column exact or within float32 round-off."""
    failures = _compare(official, runs["cli_tight"], name, C.TIGHT[name])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", FILES)
def test_loose_every_column(runs, official, name):
    """From the raw files: every column within init noise (README figures included)."""
    failures = _compare(official, runs["cli_loose"], name, C.LOOSE[name])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", FILES)
def test_api_and_cli_write_identical_files(runs, name):
    """score() and `cnlab score` with the same inputs, flags and seed: byte-identical files."""
    a, b = runs["cli_loose"] / f"{name}.tsv", runs["api_loose"] / f"{name}.tsv"
    assert filecmp.cmp(a, b, shallow=False), f"{name}.tsv differs between the CLI and score()"


def test_readme_whole_roster_figures(runs, official):
    """The README's headline: finalRatingStatus 1,999 / 2,000 and decidedBy 1,994 / 2,000 from the
    raw files (as lower bounds with the contract's tolerances), and every note scored."""
    ours = parity.read_official_outputs(runs["cli_loose"])["scored_notes"]
    rep = parity.compare_columns(official["scored_notes"], ours, "noteId")
    assert len(ours) == len(official["scored_notes"]) == 2000
    assert rep.loc["finalRatingStatus", "equal"] >= C.LOOSE_FINAL_STATUS_AGREEMENT * 2000
    assert rep.loc["decidedBy", "equal"] >= C.LOOSE_DECIDED_BY_AGREEMENT * 2000


def check_prescoring(official: pd.DataFrame, ours: pd.DataFrame, name: str) -> list[str]:
    """Apply the contract to one prescoring file, scorer family by scorer family when the file
    mixes every scorer's rows."""
    key = parity.PRESCORING_KEYS[name]
    contract = C.PRESCORING[name]
    if "scorerName" not in key:
        return _check(contract, parity.compare_columns(official, ours, key))
    failures = []
    fam_o = official["scorerName"].map(C.scorer_family)
    fam_c = ours["scorerName"].map(C.scorer_family)
    for family in ("large", "small", "reputation"):
        flat = {c: (v.for_family(family) if isinstance(v, C.ByFamily) else v) for c, v in contract.items()}
        rep = parity.compare_columns(official[fam_o == family], ours[fam_c == family], key)
        failures += [f"[{family}] {m}" for m in _check(flat, rep)]
    return failures


@pytest.mark.parametrize("name", list(parity.PRESCORING_KEYS))
def test_loose_prescoring_every_column(runs, small_dir, name):
    """cnlab's own prescoring outputs (written in the official layout) vs the official ones."""
    off = parity.read_prescoring_outputs(small_dir / "official-all" / "prescoring")[name]
    ours = parity.read_prescoring_outputs(runs["api_loose"] / "prescoring")[name]
    keys = parity.compare_keys(off, ours, parity.PRESCORING_KEYS[name])
    assert keys["reference_only"] <= C.PRESCORING_ROW_MISMATCH * len(off), keys
    assert keys["ours_only"] <= C.PRESCORING_ROW_MISMATCH * len(off), keys
    assert list(ours.columns) == list(off.columns)
    failures = check_prescoring(off, ours, name)
    assert not failures, "\n".join(failures)


def test_loose_prescoring_meta(runs, small_dir):
    off = parity.read_prescoring_meta(small_dir / "official-all" / "prescoring")
    ours = parity.read_prescoring_meta(runs["api_loose"] / "prescoring")
    assert set(ours) == set(off), set(ours) ^ set(off)
    failures = []
    for scorer, fields in off.items():
        assert set(ours[scorer]) == set(fields), scorer
        for field, value in fields.items():
            cls = C.PRESCORING_META[field]
            if isinstance(cls, C.MetaByFamily):
                cls = cls.for_family(C.scorer_family(scorer))
            msg = cls.check_meta(value, ours[scorer][field])
            if msg:
                failures.append(f"{scorer}.{field}: {msg}")
    assert not failures, "\n".join(failures)


def test_written_prescoring_feeds_final_scoring(runs, small_dir, epoch):
    """The prescoring files score() wrote are read back by load_official_prescoring unchanged."""
    import cnlab.io as cio
    from cnlab.pipeline import load_official_prescoring

    inputs = small_dir / "inputs"
    ds = cio.load(notes=inputs / "notes-00000.tsv.gz", ratings=inputs / "ratings-00000.tsv.gz",
                  enrollment=inputs / "userEnrollment-00000.tsv.gz", status=small_dir / "pass2_status.tsv.gz")
    pre = load_official_prescoring(runs["api_loose"] / "prescoring", ds)
    written = pd.read_parquet(runs["api_loose"] / "prescoring" / "prescoring_rater_model_output.parquet")
    assert len(pre.rater_model_output) == len(written)
    assert (pre.rater_model_output["raterParticipantId"] >= 0).all()  # every id maps back to a code
    assert set(pre.meta) == set(parity.read_prescoring_meta(runs["api_loose"] / "prescoring"))


# ---------------------------------------------------------------------------------------------
# CLI flags, on Core-only runs from the raw files
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flag_runs(tmp_path_factory, small_dir, epoch) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("flags")
    core = ("--scorers", "MFCoreScorer")
    variants = {
        "base": ("--seed", "42", "--epoch-millis", str(epoch)),
        "again": ("--seed", "42", "--epoch-millis", str(epoch)),
        "seed": ("--seed", "7", "--epoch-millis", str(epoch)),
        "nopseudo": ("--seed", "42", "--epoch-millis", str(epoch), "--nopseudoraters"),
        "later": ("--seed", "42", "--epoch-millis", str(epoch + EPOCH_SHIFT_MS)),
    }
    dirs = {k: base / k for k in variants}
    names = list(variants)
    for pair in (names[:2], names[2:4], names[4:]):  # two at a time: two cores
        _run_all({k: _cli(small_dir, dirs[k], *core, *variants[k]) for k in pair}, base)
    return dirs


#: --epoch-millis shift for the "later" run: 30 days moves notes across the 28-day windows.
EPOCH_SHIFT_MS = 30 * 24 * 3600 * 1000


def _sn(d: Path, name="scored_notes") -> pd.DataFrame:
    return pd.read_csv(d / f"{name}.tsv", sep="\t", low_memory=False).set_index(
        parity.OUTPUT_KEYS[name][0]).sort_index()


def test_same_seed_gives_identical_files(flag_runs):
    for name in FILES:
        assert filecmp.cmp(flag_runs["base"] / f"{name}.tsv", flag_runs["again"] / f"{name}.tsv",
                           shallow=False), name


def test_seed_changes_the_initialization_only(flag_runs):
    a, b = _sn(flag_runs["base"]), _sn(flag_runs["seed"])
    d = (a["coreNoteIntercept"] - b["coreNoteIntercept"]).abs()
    assert d.max() > 0, "--seed had no effect"
    # ... within init noise: the same contract as the loose run against the official one
    rep = parity.compare_columns(a.reset_index(), b.reset_index(), "noteId")
    assert rep.loc["coreNoteIntercept", "pearson"] >= C.LOOSE_MF_PEARSON
    assert rep.loc["coreRatingStatus", "agreement"] >= C.LOOSE_MODEL_STATUS_AGREEMENT


def test_scorers_restricts_the_roster(flag_runs):
    sn = _sn(flag_runs["base"])
    assert sn["coreRatingStatus"].notna().any() and sn["coreNoteIntercept"].notna().any()
    others = [c for c in sn.columns if c.startswith(("expansion", "group", "topic", "multiGroup", "coreWithTopics",
                                                     "gaussian", "coverage"))]
    assert others and not sn[others].notna().any().any(), sn[others].notna().sum()[lambda s: s > 0]
    assert set(sn["decidedBy"].dropna().str.split(" ").str[0]) <= {"CoreModel", "MetaInitialNMR", "NmrDueToMinStableCrhTime",
                                                                    "ScoringDriftGuard", "InsufficientExplanation"}


def test_nopseudoraters_only_drops_the_intervals(flag_runs):
    """Without pseudo-raters the intervals are empty, so the rule that reads the interval's upper
    end (UcbCRNH, spec 03) cannot fire; every fitted parameter stays the same."""
    a, b = _sn(flag_runs["base"]), _sn(flag_runs["nopseudo"])
    assert a["coreNoteInterceptMin"].notna().any() and a["coreNoteInterceptMax"].notna().any()
    assert b["coreNoteInterceptMin"].isna().all() and b["coreNoteInterceptMax"].isna().all()
    params = ["coreNoteIntercept", "coreNoteFactor1", "coreNoteInterceptNoHighVol", "coreNoteInterceptNoCorrelated",
              "coreNoteInterceptPopulationSampled", "coreNumFinalRoundRatings", "numRatings"]
    pd.testing.assert_frame_equal(a[params], b[params])
    ucb = "UcbCRNH (v1.0)"
    rules_a = a["coreActiveRules"].fillna("")
    assert rules_a.str.contains(ucb, regex=False).any() and not b["coreActiveRules"].fillna("").str.contains(
        ucb, regex=False).any()
    without = rules_a.str.split(",").map(lambda rs: ",".join(r for r in rs if r != ucb))
    fired = rules_a.str.contains(ucb, regex=False)
    # where UcbCRNH did not fire the rule lists are identical; where it did, only it is gone or
    # another CRNH rule takes the decision
    assert (without[~fired] == b["coreActiveRules"].fillna("")[~fired]).all()
    same_status = a["coreRatingStatus"].astype(object).fillna("") == b["coreRatingStatus"].astype(object).fillna("")
    assert same_status[~fired].all()


def test_epoch_millis_is_now(flag_runs, epoch, small_dir):
    """"now" stamps every status change of the run and drives the time windows."""
    from cnlab.io import read_status_history
    from cnlab.scoring.rescoring import rescoring_active_rules

    a, b = _sn(flag_runs["base"]), _sn(flag_runs["later"])
    ha, hb = (_sn(flag_runs[k], "note_status_history") for k in ("base", "later"))
    # a note whose status this run changed carries the run's "now" as its status timestamp
    assert (ha["timestampMillisOfMostRecentStatusChange"] == epoch).any()
    assert (hb["timestampMillisOfMostRecentStatusChange"] == epoch + EPOCH_SHIFT_MS).any()
    assert not (hb["timestampMillisOfMostRecentStatusChange"] == epoch).any()
    assert not (ha["timestampMillisOfMostRecentStatusChange"] > epoch).any()
    # the rescoring rules of the later run are those of spec 04 §10.2 at the later "now"
    nsh = read_status_history(small_dir / "pass2_status.tsv.gz")  # the run's input history
    expected = rescoring_active_rules(b.index.to_series(), nsh, now=epoch + EPOCH_SHIFT_MS)
    assert (b["rescoringActiveRules"].to_numpy() == np.asarray(expected)).all()
    assert (a["rescoringActiveRules"] != b["rescoringActiveRules"]).any()
    # aux numRatingsLast28 counts the 28 days before "now"
    xa, xb = (_sn(flag_runs[k], "aux_note_info") for k in ("base", "later"))
    assert (xb["numRatingsLast28"] <= xa["numRatingsLast28"]).all()
    assert (xb["numRatingsLast28"] < xa["numRatingsLast28"]).any()
