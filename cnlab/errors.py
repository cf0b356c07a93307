"""Exceptions raised on bad input."""

from __future__ import annotations


class CnlabInputError(ValueError):
    """Bad input data: names the file, line (1-based, header = line 1) and column.

    Parameters
    ----------
    message
        What is wrong.
    path, line, column
        Where it is; any may be ``None`` when not applicable.
    """

    def __init__(self, message: str, *, path=None, line: int | None = None, column: str | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        where = []
        if self.path is not None:
            where.append(f"file {self.path}")
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
