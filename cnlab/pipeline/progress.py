"""A progress bar over the phases of a scoring run, with the time left estimated from the phases
done so far (``cnlab score`` in a terminal; ``score(progress=True)`` in a notebook)."""

from __future__ import annotations

from typing import Any

__all__ = ["PhaseBar"]


class PhaseBar:
    """One bar step per phase: rater clustering, each scorer's prescoring, the confidence models,
    each scorer's final scoring, then meta rules and contributor scores.

    ``enabled=None`` shows it only on a terminal (tqdm's rule), so logs written to a file get the
    one line per stage of the stage timer instead; ``False`` never shows it.
    """

    def __init__(self, n_scorers: int, *, enabled: bool | None) -> None:
        self.bar: Any = None
        if enabled is False:
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=2 * n_scorers + 3, unit="phase", desc="scoring", disable=None if enabled is None else False,
                        bar_format="{desc}: {n_fmt}/{total_fmt} phases [{elapsed}<{remaining}]")

    def start(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(name)

    def done(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
