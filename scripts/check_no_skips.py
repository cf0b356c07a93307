#!/usr/bin/env python3
"""Fail when a pytest run skipped a test (CI: the parity contract must never pass by skipping).

Usage: ``check_no_skips.py JUNIT_XML`` (the file written by ``pytest --junitxml=...``).

Exit status 0 when the report holds at least one test case and none was skipped (an ``xfail`` is
reported as skipped in JUnit XML and counts too), except skips whose reason matches an entry of
:data:`ALLOWED_SKIP_REASONS`; otherwise 1, listing every offending test with its reason.
Standard library only, so it runs before or without the project's environment.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

#: Skip reasons (regular expressions, searched in the reason) tolerated in CI.  Only for
#: *optional third-party tools* that CI deliberately does not install, each with why.  Empty:
#: every dependency the tests use is declared in pyproject.toml and installed by CI, and the
#: parity fixtures are required under CI=true.
ALLOWED_SKIP_REASONS: tuple[tuple[str, str], ...] = (
    # (pattern, why it is allowed), e.g.
    # (r"^could not import 'some_optional_tool'", "optional accelerator backend, not installed in CI"),
)


def skipped_tests(junit_xml: Path) -> tuple[int, list[tuple[str, str, str]]]:
    """Return (number of test cases, [(test id, kind, reason) for each skipped case])."""
    root = ET.parse(junit_xml).getroot()
    n = 0
    skipped = []
    for case in root.iter("testcase"):
        n += 1
        for sk in case.findall("skipped"):
            test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
            reason = sk.get("message") or (sk.text or "").strip()
            skipped.append((test_id, sk.get("type", "skip"), reason))
    return n, skipped


def is_allowed(reason: str) -> bool:
    return any(re.search(pattern, reason) for pattern, _why in ALLOWED_SKIP_REASONS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: check_no_skips.py JUNIT_XML", file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        print(f"check_no_skips: {path} not found (did pytest run with --junitxml={path}?)", file=sys.stderr)
        return 1
    try:
        n, skipped = skipped_tests(path)
    except ET.ParseError as e:
        print(f"check_no_skips: {path} is not valid JUnit XML: {e}", file=sys.stderr)
        return 1
    if n == 0:
        print(f"check_no_skips: {path} holds no test case", file=sys.stderr)
        return 1
    bad = [s for s in skipped if not is_allowed(s[2])]
    allowed = len(skipped) - len(bad)
    if bad:
        print(f"check_no_skips: {len(bad)} of {n} tests were skipped in CI (not allowed):", file=sys.stderr)
        for test_id, kind, reason in bad:
            print(f"  {test_id}  [{kind}] {reason}", file=sys.stderr)
        return 1
    print(f"check_no_skips: {n} tests, none skipped" + (f" ({allowed} allowed optional-tool skips)" if allowed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
