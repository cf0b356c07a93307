"""A Ctrl-C (SIGINT) reaches `cnlab score` even when Python drops it.

Python runs a signal handler between any two bytecodes; when those are inside an object's
``__del__``, the KeyboardInterrupt is printed ("Exception ignored in ...") and dropped. The CLI's
handler records the interrupt too, and the next stage boundary raises it again.
"""

from __future__ import annotations

import gc

import pytest

from cnlab import _timing
from cnlab._timing import StageTimer, note_interrupt, raise_if_interrupted


@pytest.fixture(autouse=True)
def _clear_flag():
    _timing._interrupted = False
    yield
    _timing._interrupted = False


def test_a_recorded_interrupt_is_raised_at_the_stage_boundary_once():
    timer = StageTimer()
    note_interrupt()
    with pytest.raises(KeyboardInterrupt):
        with timer.stage("work", 3) as st:
            st["rows_out"] = 3
    assert timer.records[-1]["stage"] == "work"  # the stage is still recorded
    with timer.stage("next"):  # raised once, then cleared
        pass
    raise_if_interrupted()


def test_no_interrupt_no_exception():
    with StageTimer().stage("quiet"):
        pass
    raise_if_interrupted()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_dropped_inside_del_is_raised_at_the_next_boundary():
    def handler():
        # what the CLI's SIGINT handler does, called where a signal would land: inside __del__
        note_interrupt()
        raise KeyboardInterrupt

    class Finalized:
        def __del__(self):
            handler()

    obj = Finalized()
    with pytest.raises(KeyboardInterrupt):
        with StageTimer().stage("fit"):
            del obj  # the KeyboardInterrupt of __del__ is printed and dropped by Python
            gc.collect()
            # without the flag the stage would end normally here


def test_cli_reports_an_interrupt_dropped_after_the_last_stage(tmp_path, capsys):
    """An interrupt recorded but never raised through (dropped after the last stage) still makes the
    command exit 130, and leaves no flag behind for the next call in this process."""
    from cnlab.cli import main

    args = ["synth", "--out", str(tmp_path / "d"), "--notes", "40", "--raters", "30", "--ratings", "400",
            "--quiet"]
    note_interrupt()
    assert main(args) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _timing._interrupted is False
    assert main(args[:2] + [str(tmp_path / "e")] + args[3:]) == 0  # the next command runs normally
