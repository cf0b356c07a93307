"""CLI tests: exit codes, messages without tracebacks, synth, score, demo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cnlab import cli
from cnlab import schema as S
from cnlab.io import load, read_outputs
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
                 "--nopseudoraters", "--epoch-millis", "--prescoring-dir", "--no-parquet", "--quiet"):
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
    rc = cli.main(["demo", "--outdir", str(tmp_path / "demo"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "demo" / "scored_notes.tsv").exists()
    assert "cnlab demo" in capsys.readouterr().out


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
