"""The "no silent skips" contract of CI (issue 16): missing fixtures fail under CI=true, and
scripts/check_no_skips.py rejects a JUnit report with a skipped test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import check_no_skips  # noqa: E402

#: a generous wall-clock limit for a pytest subprocess that collects one trivial test
SUBPROCESS_TIMEOUT_S = 120

_USES_FIXTURES = '''
def test_needs_fixtures(small_dir):
    assert small_dir.is_dir()
'''


def _run_isolated(tmp_path: Path, ci: str | None) -> tuple[subprocess.CompletedProcess, Path]:
    """Run a test that requests ``small_dir`` with a copy of tests/conftest.py in a tree with no
    ``../shared/fixtures`` and no CNLAB_FIXTURES."""
    tests = tmp_path / "repo" / "tests"
    tests.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "conftest.py", tests / "conftest.py")
    (tests / "test_uses_fixtures.py").write_text(_USES_FIXTURES)
    assert not (tmp_path / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "CNLAB_FIXTURES", "PYTEST_ADDOPTS")}
    if ci is not None:
        env["CI"] = ci
    junit = tmp_path / f"junit-{ci}.xml"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist",
         f"--junitxml={junit}", str(tests)],
        cwd=tmp_path / "repo", env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S,
    ), junit


def test_missing_fixtures_fail_under_ci(tmp_path):
    proc, junit = _run_isolated(tmp_path, "true")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 error" in out and "skipped" not in out, out
    assert "CNLAB_FIXTURES" in out and str(tmp_path / "shared" / "fixtures") in out, out
    n, skipped = check_no_skips.skipped_tests(junit)
    assert n == 1 and skipped == []


def test_missing_fixtures_skip_with_reason_outside_ci(tmp_path):
    proc, junit = _run_isolated(tmp_path, None)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 skipped" in out and "CNLAB_FIXTURES" in out, out
    # ... and exactly that report is what CI rejects
    n, skipped = check_no_skips.skipped_tests(junit)
    assert n == 1 and len(skipped) == 1 and "CNLAB_FIXTURES" in skipped[0][2]
    assert check_no_skips.main([str(junit)]) == 1


_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" skipped="{n_skip}">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a" name="test_fail" time="0.1"><failure message="boom">x</failure></testcase>
{skipped}
</testsuite></testsuites>
"""


def _junit(tmp_path: Path, skipped: str = "") -> Path:
    p = tmp_path / "junit.xml"
    p.write_text(_JUNIT.format(n_skip=int(bool(skipped)), skipped=skipped))
    return p


def test_check_no_skips_passes_a_report_without_skips(tmp_path, capsys):
    assert check_no_skips.main([str(_junit(tmp_path))]) == 0
    assert "2 tests, none skipped" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["pytest.skip", "pytest.xfail"])
def test_check_no_skips_lists_each_skipped_test(tmp_path, capsys, kind):
    case = (f'<testcase classname="tests.test_b" name="test_parity" time="0">'
            f'<skipped type="{kind}" message="fixtures not found">why</skipped></testcase>')
    assert check_no_skips.main([str(_junit(tmp_path, case))]) == 1
    err = capsys.readouterr().err
    assert "tests.test_b::test_parity" in err and "fixtures not found" in err and kind in err


def test_check_no_skips_allow_list(tmp_path, monkeypatch):
    case = ('<testcase classname="tests.test_c" name="test_tool" time="0">'
            '<skipped type="pytest.skip" message="could not import \'optional_tool\'"/></testcase>')
    report = str(_junit(tmp_path, case))
    assert check_no_skips.main([report]) == 1
    monkeypatch.setattr(check_no_skips, "ALLOWED_SKIP_REASONS",
                        ((r"could not import 'optional_tool'", "test double"),))
    assert check_no_skips.main([report]) == 0


def test_check_no_skips_rejects_missing_or_empty_report(tmp_path):
    assert check_no_skips.main([str(tmp_path / "absent.xml")]) == 1
    empty = tmp_path / "empty.xml"
    empty.write_text('<testsuites><testsuite name="pytest" tests="0"/></testsuites>')
    assert check_no_skips.main([str(empty)]) == 1


def test_ci_run_uses_the_skip_check():
    """.ci/run sets CI=true, writes the JUnit report and checks it."""
    text = (REPO / ".ci" / "run").read_text()
    assert "export CI=true" in text
    assert "--junitxml=out/ci-junit.xml" in text and "-rs" in text
    assert "scripts/check_no_skips.py out/ci-junit.xml" in text
    assert 'exec .venv/bin/python -m pytest' in (REPO / "scripts" / "test.sh").read_text()
    assert '"$@"' in (REPO / "scripts" / "test.sh").read_text()
