"""Stage logging: one line per stage with rows in/out and wall time (logger ``cnlab``)."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator

log = logging.getLogger("cnlab")


class StageTimer:
    """Collects ``(stage, rows_in, rows_out, seconds, note)`` records."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.records: list[dict[str, Any]] = []

    @contextmanager
    def stage(self, name: str, rows_in: int | None = None) -> Iterator[dict[str, Any]]:
        rec: dict[str, Any] = {"stage": f"{self.prefix}{name}", "rows_in": rows_in,
                               "rows_out": None, "seconds": None, "note": ""}
        t0 = time.perf_counter()
        try:
            yield rec
        finally:
            rec["seconds"] = time.perf_counter() - t0
            self.records.append(rec)
            log.info("%s: rows in=%s out=%s (%.2f s)%s", rec["stage"], rec["rows_in"],
                     rec["rows_out"], rec["seconds"], f" — {rec['note']}" if rec["note"] else "")

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.records, columns=["stage", "rows_in", "rows_out", "seconds", "note"])
