"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: where the fixtures are looked for when ``CNLAB_FIXTURES`` is not set
DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures"


def _find_fixtures() -> Path | None:
    env = os.environ.get("CNLAB_FIXTURES")
    # a folder named explicitly is used or reported, never silently replaced by the default one
    candidates = [Path(env)] if env else [DEFAULT_FIXTURES]
    for c in candidates:
        if (c / "small" / "inputs").is_dir():
            return c
    return None


FIXTURES = _find_fixtures()


def in_ci() -> bool:
    """True when running under CI (``.ci/run`` exports ``CI=true``, as CI services do)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def _missing_fixtures_message() -> str:
    env = os.environ.get("CNLAB_FIXTURES")
    looked = [f"$CNLAB_FIXTURES={env}"] if env else [str(DEFAULT_FIXTURES)]
    return ("the parity fixtures were not found: expected a folder with small/inputs/ at "
            + " or ".join(looked) + " (set CNLAB_FIXTURES to the folder that holds small/)")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Path of ``../shared/fixtures`` (or ``$CNLAB_FIXTURES``).

    Outside CI a missing folder skips the test, with the reason; under CI (``CI=true``) it is an
    error: the parity contract must never pass by skipping.
    """
    if FIXTURES is None:
        if in_ci():
            pytest.fail("CI=true: " + _missing_fixtures_message(), pytrace=False)
        pytest.skip(_missing_fixtures_message())
    return FIXTURES


@pytest.fixture(scope="session")
def small_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "small"


def bench_module(name: str):
    """Import a parity harness from ``bench/`` (they double as the parity tests' drivers)."""
    import importlib
    import sys

    bench = str(REPO / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def core_final_run(small_dir):
    """Core-only final scoring from the official prescoring (``bench/parity_core.py --mode
    final``, ~12 s): its ``final["MFCoreScorer"].calls`` hold the exact training ratings of each
    official final-scoring MF call. Shared by the parity tests of one worker; do not mutate."""
    pc = bench_module("parity_core")
    pc.FIX = small_dir
    res, _ = pc.run("final")
    return res


@pytest.fixture(scope="session")
def core_full_run(small_dir):
    """Core-only run from the raw files, seed 42 (``bench/parity_core.py --mode full``, ~13 s):
    cnlab's own prescoring, ``prescoring.intermediates["MFCoreScorer"]`` included."""
    pc = bench_module("parity_core")
    pc.FIX = small_dir
    res, _ = pc.run("full")
    return res
