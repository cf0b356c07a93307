"""CLI tests: exit codes, messages without tracebacks, synth, score, demo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cnlab import cli
from cnlab import schema as S
from cnlab.io import OUTPUTS, load, read_outputs
from cnlab.synthetic import SAMPLE_DIR

# The CLI message tests only need some valid input files: they read the bundled sample
# (committed, same file names as the public download), never the parity fixtures.


def _args(d: Path, out: Path, status=None, extra=()):
    return ["score", "-e", str(d / "userEnrollment-00000.tsv.gz"), "-n", str(d / "notes-00000.tsv.gz"),
            "-r", str(d / "ratings-00000.tsv.gz"), "-s", str(status or d / "noteStatusHistory-00000.tsv.gz"),
            "-o", str(out), "--quiet", *extra]


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as ei:
        cli.main(["score", "--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--enrollment", "--notes", "--ratings", "--status", "--outdir", "--seed", "--scorers",
                 "--nopseudoraters", "--epoch-millis", "--prescoring-dir", "--no-parquet", "--quiet",
                 "--sample", "--verbose", "directory"):
        assert flag in out


def test_missing_file_message(tmp_path, capsys):
    args = _args(SAMPLE_DIR, tmp_path)
    args[args.index("-n") + 1] = str(tmp_path / "nope.tsv")
    assert cli.main(args) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "nope.tsv" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_input_message_names_line(tmp_path, capsys):
    d = tmp_path / "in"
    shutil.copytree(SAMPLE_DIR, d)
    bad = pd.read_csv(d / "userEnrollment-00000.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
    bad.loc[4, "enrollmentState"] = "wizard"
    (d / "userEnrollment-00000.tsv.gz").unlink()
    bad.to_csv(d / "userEnrollment-00000.tsv.gz", sep="\t", index=False, compression="gzip")
    assert cli.main(_args(d, tmp_path / "out")) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "line 6" in err and "enrollmentState" in err and "wizard" in err and "Traceback" not in err


def test_unknown_scorer(tmp_path, capsys):
    rc = cli.main(_args(SAMPLE_DIR, tmp_path, extra=("--scorers", "MFNopeScorer")))
    assert rc == cli.EXIT_BAD_INPUT and "MFNopeScorer" in capsys.readouterr().err


def test_synth_small(tmp_path, capsys):
    out = tmp_path / "syn"
    rc = cli.main(["synth", "--out", str(out), "--notes", "40", "--raters", "30", "--ratings", "600",
                   "--seed", "3", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert "cnlab synth" in capsys.readouterr().out
    ds = load(out)
    assert len(ds.ratings) > 0 and len(ds.notes) > 0


def test_synth_rejects_nonpositive(tmp_path, capsys):
    rc = cli.main(["synth", "--out", str(tmp_path), "--notes", "0", "--raters", "3", "--ratings", "3"])
    assert rc == cli.EXIT_BAD_INPUT and "Traceback" not in capsys.readouterr().err


def test_internal_error_no_traceback(tmp_path, capsys, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli, "_run_scoring", boom)
    assert cli.main(_args(SAMPLE_DIR, tmp_path)) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "kaput" in err and "--debug" in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parity
def test_score_from_official_prescoring(tmp_path, small_dir):
    out = tmp_path / "out"
    epoch = (small_dir / "epoch_pass2").read_text().strip()
    rc = cli.main(_args(small_dir / "inputs", out, status=small_dir / "pass2_status.tsv.gz",
                        extra=("--seed", "42", "--epoch-millis", epoch, "--scorers", "MFCoreScorer",
                               "--prescoring-dir", str(small_dir / "official-all" / "prescoring"))))
    assert rc == 0
    frames = read_outputs(out)
    assert list(frames["scored_notes"].columns) == list(S.SCORED_NOTES_COLUMNS)
    assert len(frames["scored_notes"]) == 2000
    assert (out / "scored_notes.parquet").exists()


@pytest.mark.slow
def test_demo(tmp_path, capsys):
    """What the README says the demo writes: the four official TSVs and figures, no parquet."""
    rc = cli.main(["demo", "--outdir", str(tmp_path / "demo"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "demo"
    assert sorted(p.name for p in out.glob("*.tsv")) == sorted(f"{stem}.tsv" for stem, _ in OUTPUTS.values())
    assert not list(out.rglob("*.parquet"))
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["note_factor_intercept.png", "preprocessing_funnel.png", "rater_factor_intercept.png"]
    assert "cnlab demo" in capsys.readouterr().out  # tests/test_readme.py: the README says the same


# ---------------------------------------------------------------------------
# input: DIRECTORY | --sample | the four file flags
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [["-n", "notes-00000.tsv"], ["--sample"], ["--ratings", "r/", "--status", "s.tsv"]],
                         ids=["dir+notes", "dir+sample", "dir+two-flags"])
def test_score_directory_excludes_other_inputs(tmp_path, capsys, extra):
    rc = cli.main(["score", str(SAMPLE_DIR), *extra, "-o", str(tmp_path), "--quiet"])
    assert rc == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "DIRECTORY" in err and "give one input" in err and "Traceback" not in err
    assert all(flag in err for flag in extra if flag.startswith("-"))


def test_score_sample_excludes_file_flags(tmp_path, capsys):
    rc = cli.main(["score", "--sample", "--notes", "x.tsv", "-o", str(tmp_path), "--quiet"])
    assert rc == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "--sample and --notes" in err


def test_score_directory_must_be_a_directory(tmp_path, capsys):
    rc = cli.main(["score", str(tmp_path / "nope"), "-o", str(tmp_path), "--quiet"])
    assert rc == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "nope" in err and "not a directory" in err


def test_score_without_input_uses_official_default_names(tmp_path, capsys, monkeypatch):
    """No DIRECTORY, --sample or file flag: the official main.py's default file names, which
    must then exist in the working directory."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["score", "--quiet"]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "--enrollment: no such file or directory" in err and "userEnrollment-00000.tsv" in err


@pytest.mark.slow
def test_score_directory_and_sample_quiet_tensorflow(tmp_path, capsys):
    """`cnlab score DIR` and `cnlab score --sample` score the same bundled files into identical
    outputs; without --verbose no TensorFlow start-up line reaches stderr (run in a fresh
    process: the lines are printed when TensorFlow is first imported)."""
    import subprocess
    import sys

    args = ["--scorers", "MFCoreScorer", "--seed", "42", "--quiet", "--no-parquet"]
    proc = subprocess.run([sys.executable, "-m", "cnlab.cli", "score", "--sample", "-o", str(tmp_path / "sample"),
                           *args], capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert proc.returncode == 0, proc.stderr
    for noise in TENSORFLOW_STARTUP_LINES:
        assert noise not in proc.stderr, proc.stderr
    assert "cnlab score: 32,000 ratings" in proc.stdout
    assert cli.main(["score", str(SAMPLE_DIR), "-o", str(tmp_path / "dir"), *args]) == 0, capsys.readouterr().err
    for stem, _cols in OUTPUTS.values():
        assert (tmp_path / "sample" / f"{stem}.tsv").read_bytes() == (tmp_path / "dir" / f"{stem}.tsv").read_bytes()


#: Lines TensorFlow 2.x prints on import unless silenced (C++ logging before absl is initialised).
TENSORFLOW_STARTUP_LINES = ("oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard")


def test_tensorflow_log_level_unless_verbose(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    cli._quiet_tensorflow_logging(verbose=True)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    cli._quiet_tensorflow_logging(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == cli.TF_LOG_LEVEL == "2"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # what the user exported wins
    cli._quiet_tensorflow_logging(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert build_verbose_flag_parses()


def build_verbose_flag_parses() -> bool:
    parser = cli.build_parser()
    return (parser.parse_args(["score", "--sample", "--verbose"]).verbose
            and parser.parse_args(["demo", "--verbose"]).verbose
            and not parser.parse_args(["score", "--sample"]).verbose)


# ---------------------------------------------------------------------------
# error messages name the setting that avoids them
# ---------------------------------------------------------------------------
def _without_group_13(tmp_path) -> Path:
    d = tmp_path / "no13"
    shutil.copytree(SAMPLE_DIR, d)
    enr = pd.read_csv(d / "userEnrollment-00000.tsv.gz", sep="	", dtype=str, keep_default_na=False)
    assert (enr["modelingGroup"] == "13.0").any() or (enr["modelingGroup"] == "13").any()
    enr.loc[enr["modelingGroup"].isin(["13", "13.0"]), "modelingGroup"] = "3.0"
    (d / "userEnrollment-00000.tsv.gz").unlink()
    enr.to_csv(d / "userEnrollment-00000.tsv.gz", sep="	", index=False, compression="gzip")
    return d


@pytest.mark.slow
def test_stable_init_without_group_13_warns_and_scores(tmp_path, capsys, caplog):
    """No notes rated mostly by modeling group 13 (the official MF aborts): cnlab score warns,
    names the setting that restores the abort and scores; with stable_init_fallback="raise" the
    error names the switch that turns the stable initialisation off, and that switch lets the
    scorer's round-1 fit run."""
    import dataclasses

    from cnlab.errors import CnlabInputError
    from cnlab.preprocess import filter_ratings, preprocess
    from cnlab.scorers.mf_config import SCORERS
    from cnlab.scorers.mf_prescoring import fit_round1

    d = _without_group_13(tmp_path)
    with caplog.at_level("WARNING", logger="cnlab"):
        rc = cli.main(["score", str(d), "-o", str(tmp_path / "out"), "--scorers", "MFCoreScorer", "--quiet"])
    assert rc == cli.EXIT_OK
    assert any("modeling group 13" in r.message and "stable_init_fallback='raise'" in r.message
               for r in caplog.records)
    assert (tmp_path / "out" / "scored_notes.tsv").exists()

    ds = load(d)
    ratings = filter_ratings(preprocess(ds).ratings, min_ratings_per_rater=10, min_raters_per_note=5)
    core = dataclasses.replace(SCORERS["MFCoreScorer"], stable_init_fallback="raise")
    with pytest.raises(CnlabInputError, match="use_stable_init") as err:
        fit_round1(ratings, ds.enrollment, core, core.mf_config(), 0)
    assert "modeling group 13" in str(err.value) and "dataclasses.replace(" in str(err.value)
    result = fit_round1(ratings, ds.enrollment, dataclasses.replace(core, use_stable_init=False), core.mf_config(), 0)
    assert len(result.note_params) == ratings["noteId"].nunique()
    fallback = fit_round1(ratings, ds.enrollment, SCORERS["MFCoreScorer"], core.mf_config(), 0)
    pd.testing.assert_frame_equal(fallback.note_params, result.note_params)


def test_scorers_all_selects_mf_and_gaussian_roster():
    """`--scorers all` = every MF scorer + the Gaussian scorers, with their meta families."""
    from cnlab.cli import _scoring_config, build_parser
    from cnlab.scorers.gaussian import GAUSSIAN_SCORERS
    from cnlab.scorers.mf_config import SCORERS

    args = build_parser().parse_args(["score", "--scorers", "all"])
    cfg = _scoring_config(args)
    assert [s.name for s in cfg.scorers] == list(SCORERS)
    assert [g.name for g in cfg.gaussian] == list(GAUSSIAN_SCORERS)
    assert {"MFCoreScorer", "MFGroupScorer", "MFTopicScorer"} <= set(cfg.enabled_meta_scorers)

    args = build_parser().parse_args(["score", "--scorers", "MFCoreScorer,GaussianScorer"])
    cfg = _scoring_config(args)
    assert [s.name for s in cfg.scorers] == ["MFCoreScorer"]
    assert [g.name for g in cfg.gaussian] == ["GaussianScorer"]


def test_default_is_the_whole_roster():
    """Without --scorers, `cnlab score` runs what the official main.py runs: the whole roster
    (tests/test_end_to_end.py compares that run's files with the official ones, column by column)."""
    from cnlab.cli import _scoring_config, build_parser
    from cnlab.pipeline import ScoringConfig

    default = _scoring_config(build_parser().parse_args(["score"]))
    assert default == _scoring_config(build_parser().parse_args(["score", "--scorers", "all"]))
    official = ScoringConfig.official()
    assert [c.name for c in default.roster()] == [c.name for c in official.roster()]
    assert set(default.enabled_meta_scorers) == set(official.enabled_meta_scorers)
    # the demo keeps the fast Core-only path unless asked
    demo = build_parser().parse_args(["demo"])
    assert demo.scorers == "MFCoreScorer"


def test_stage_log_follows_the_current_stderr(tmp_path, monkeypatch):
    """The stage-log handler writes to sys.stderr as it is when a line is logged: a stream an
    earlier `main()` saw may be closed by now (pytest's capture between tests, a notebook cell)."""
    import io
    import logging

    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    assert cli.main(["synth", "--out", str(tmp_path / "s"), "--notes", "40", "--raters", "30",
                     "--ratings", "600"]) == 0  # not --quiet: the stage log is shown
    first.close()
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("cnlab").warning("stage line")
    assert "stage line" in second.getvalue()
    cli._configure_logging(quiet=True)  # --quiet later in the same process: no stage lines
    logging.getLogger("cnlab").info("hidden line")
    assert "hidden line" not in second.getvalue()


def test_confidence_models_none_turns_pflip_and_pcrh_off(tmp_path):
    """`--confidence-models none` = ScoringConfig(pflip="none", pcrh="none"): the run writes no
    pflip probability where the default run writes one (the bundled sample fits pflip)."""
    from cnlab.cli import _scoring_config, build_parser

    args = build_parser().parse_args(["score", "--scorers", "MFCoreScorer", "--confidence-models", "none"])
    cfg = _scoring_config(args)
    assert (cfg.pflip, cfg.pcrh) == ("none", "none")
    default = _scoring_config(build_parser().parse_args(["score", "--scorers", "MFCoreScorer"]))
    assert (default.pflip, default.pcrh) == ("fit", "fit")

    probs = {}
    for flag in ("fit", "none"):
        out = tmp_path / flag
        rc = cli.main(["score", "--sample", "--scorers", "MFCoreScorer", "--confidence-models", flag,
                       "-o", str(out), "--quiet", "--no-parquet"])
        assert rc == 0
        scored = pd.read_csv(out / "scored_notes.tsv", sep="\t")
        probs[flag] = scored["pflipProba"]
    assert probs["fit"].notna().any()
    assert probs["none"].isna().all()
