"""The README's Python examples run as written (on the bundled sample)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(_python_blocks()) >= 2


@pytest.mark.slow
def test_readme_examples_run(capsys):
    # The blocks build on each other (the MF example reuses `res`), so run them in one namespace.
    namespace: dict = {}
    for block in _python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "notes change Core status" in out
    assert namespace["r_exact"].final_loss <= namespace["r_official"].final_loss
