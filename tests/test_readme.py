"""The README's Python examples run as written (on the bundled sample) and print what it shows.

Each ```python block of README.md is followed by a ```text block holding what that block prints;
the blocks build on each other (the what-if and the MF examples reuse ``ds`` and ``res``), so they
run in order in one namespace, and each block's standard output is compared with its text block.
The comparison is :mod:`doctest`'s with NORMALIZE_WHITESPACE only: runs of blanks and line ends
count as one blank (pandas pads its columns to the longest value), every figure must match.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

#: A ```python block, then (blank lines only between them) the ```text block of its output.
_EXAMPLE = re.compile(r"```python\n(?P<code>.*?)```\s*?\n(?:[ \t]*\n)*(?:```text\n(?P<out>.*?)```)?", re.S)


def _examples(text: str | None = None) -> list[tuple[str, str | None]]:
    """(code, expected output or None) of every ```python block, in order."""
    text = README.read_text() if text is None else text
    return [(m["code"], m["out"]) for m in _EXAMPLE.finditer(text)]


def test_readme_has_examples_each_with_its_output():
    examples = _examples()
    assert len(examples) >= 3
    missing = [code.splitlines()[0] for code, out in examples if out is None]
    assert not missing, f"python block(s) without a ```text output block after them: {missing}"


def test_example_parser():
    """The parser pairs a block with the text block right after it, and only that one."""
    text = ("```python\nprint(1)\n```\n\n```text\n1\n```\n\nprose\n\n```python\nx = 2\n```\n\nmore prose\n"
            "```text\nnot its output\n```\n")
    assert _examples(text) == [("print(1)\n", "1\n"), ("x = 2\n", None)]


def _check_output(got: str, want: str, where: str) -> None:
    checker = doctest.OutputChecker()
    flags = doctest.NORMALIZE_WHITESPACE
    if not checker.check_output(want, got, flags):
        example = doctest.Example(source=where, want=want)
        pytest.fail(f"README example {where!r} printed something else:\n"
                    + checker.output_difference(example, got, flags))


def test_output_check_fails_on_other_figures():
    """The comparison is strict about figures, lenient about column padding only."""
    _check_output("a    1\nb  22\n", "a 1\nb 22\n", "padding")
    with pytest.raises(pytest.fail.Exception):
        _check_output("22 of 557 notes\n", "23 of 557 notes\n", "figure")


@pytest.mark.slow
def test_readme_examples_print_what_it_shows():
    namespace: dict = {}
    for code, want in _examples():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, str(README), "exec"), namespace)
        _check_output(buffer.getvalue(), want or "", code.splitlines()[0])
    assert namespace["r_exact"].final_loss <= namespace["r_official"].final_loss


def test_demo_is_not_said_to_write_parquet():
    """`cnlab demo` writes the four TSVs and figures, no parquet (tests/test_cli.py::test_demo):
    no line about the demo in the README or the docs' home page may say otherwise."""
    for path in (README, REPO / "docs" / "index.md"):
        lines = [ln for ln in path.read_text().splitlines() if "demo" in ln.lower() and "parquet" in ln.lower()]
        assert not lines, f"{path.name}: {lines}"
