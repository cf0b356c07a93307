"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_fixtures() -> Path | None:
    env = os.environ.get("CNLAB_FIXTURES")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "fixtures")
    for c in candidates:
        if (c / "small" / "inputs").is_dir():
            return c
    return None


FIXTURES = _find_fixtures()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Path of ``../shared/fixtures`` (skips the test when it is absent)."""
    if FIXTURES is None:
        pytest.skip("../shared/fixtures not found (set CNLAB_FIXTURES)")
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
