"""A frame of taken rows read one column at a time (no pandas beyond whole columns)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TakenColumns", "take_values", "take_columns"]


def take_values(column: pd.Series, rows: np.ndarray) -> Any:
    """``column``'s values at ``rows`` (positions or a bool mask): a numpy array for a numpy
    dtype, the column's own array type otherwise (categoricals keep their dtype).

    >>> take_values(pd.Series(["a", "b", "a"], dtype="category"), np.array([2, 0])).tolist()
    ['a', 'a']
    """
    return column.to_numpy()[rows] if isinstance(column.dtype, np.dtype) else column.array[rows]


def take_columns(frame: pd.DataFrame, rows: np.ndarray | None, columns) -> pd.DataFrame:
    """``frame.iloc[rows]`` (positions or a bool mask) narrowed to ``columns`` (those present)
    in one copy, index reset; ``rows`` None: every row (the columns without a copy).

    >>> f = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]}, index=[7, 8, 9])
    >>> take_columns(f, np.array([True, False, True]), ["b", "absent"]).to_dict("list")
    {'b': [4.0, 6.0]}
    """
    cols = [c for c in columns if c in frame.columns]
    if rows is None:
        return frame[cols].reset_index(drop=True)
    return pd.DataFrame({c: take_values(frame[c], rows) for c in cols})


def _increasing(positions: np.ndarray, block: int = 1 << 22) -> bool:
    """Whether ``positions`` strictly increase (checked a block at a time: no whole-length
    temporaries)."""
    for lo in range(0, len(positions) - 1, block):
        part = positions[lo:lo + block + 1]
        if not (part[1:] > part[:-1]).all():
            return False
    return True


class TakenColumns:
    """Rows ``take`` of a column source, plus added columns: a frame read one column at a time.

    Each ``frame[col]`` reads ``source[col]`` (a DataFrame, another view, or columns on disk:
    :class:`cnlab.pipeline.spill.ArrowColumns`, :meth:`~cnlab.pipeline.spill.RatingsSpill.preprocessed_columns`)
    and takes the rows, so a reader of whole columns (``len``, ``columns``, ``index``,
    ``frame[col]``) holds one source column beside its own copies instead of a copy of every
    column of every row. ``frame[[cols]]`` gives those columns as a DataFrame; :meth:`to_frame`
    all of them. Uses: the final ratings of a lean run at scale (spec 05 B.4: the run's ratings,
    on disk, at the positions PSS coalescing keeps, with ``correlatedRater``; 206M ratings:
    ~10 GiB less than their copy) and a scorer's slice of them in final scoring.

    Parameters
    ----------
    source
        Anything with ``columns`` and ``source[col]`` giving a Series (position order).
    take
        Positions of the rows, in their order (None: every row of the source, ``n_rows`` long).
    added
        Columns of the result given as arrays (one value per taken row), after the source's.
    n_rows
        Rows of the source (needed when ``take`` is None).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> src = pd.DataFrame({"noteId": [10, 11, 12], "helpfulNum": [1.0, 0.0, 0.5]})
    >>> v = TakenColumns(src, np.array([2, 0]), {"correlatedRater": np.array([True, False])})
    >>> len(v), list(v.columns), v["noteId"].tolist()
    (2, ['noteId', 'helpfulNum', 'correlatedRater'], [12, 10])
    >>> v.to_frame().equals(src.take([2, 0]).reset_index(drop=True).assign(correlatedRater=[True, False]))
    True
    """

    def __init__(self, source: Any, take: np.ndarray | None, added: dict[str, np.ndarray] | None = None,
                 *, n_rows: int | None = None):
        self.source = source
        self.take = None if take is None else np.asarray(take)
        n = len(self.take) if self.take is not None else (len(source) if n_rows is None else n_rows)
        self._n = int(n)
        self.added = {c: np.asarray(v) for c, v in (added or {}).items()}
        for c, v in self.added.items():
            if len(v) != self._n:
                raise ValueError(f"TakenColumns: added column {c!r} has {len(v)} values for {self._n} rows")
        self.columns = pd.Index([*(c for c in source.columns if c not in self.added), *self.added])

    def __len__(self) -> int:
        return self._n

    @property
    def empty(self) -> bool:
        return self._n == 0 or len(self.columns) == 0

    @property
    def index(self) -> pd.RangeIndex:
        return pd.RangeIndex(self._n)

    def __contains__(self, col: str) -> bool:
        return col in self.columns

    def __getitem__(self, col: str | list[str]) -> pd.Series | pd.DataFrame:
        if isinstance(col, list):
            return pd.DataFrame({c: self[c].array for c in col}, copy=False)
        if col in self.added:
            return pd.Series(self.added[col], name=col, copy=False)
        if col not in self.columns:
            raise KeyError(col)
        if self.take is None:
            full = self.source[col]
            values = full.to_numpy() if isinstance(full.dtype, np.dtype) else full.array
        elif self._gathers():
            values = self.source.take_rows(col, self.take)
        else:
            values = take_values(self.source[col], self.take)
        return pd.Series(values, name=col, copy=False)

    def _gathers(self) -> bool:
        """Whether the source gathers rows itself (``take_rows``: columns on disk, a batch at a
        time, or another view, whose positions compose) for these increasing positions: a column
        is then read without the source's whole column beside it (206M ratings on disk: an int64
        column is 1.6 GB before a scorer's rows are taken from it)."""
        if not hasattr(self.source, "take_rows"):
            return False
        if not hasattr(self, "_increasing"):
            self._increasing = _increasing(self.take)
        return self._increasing

    def take_rows(self, col: str, rows: np.ndarray) -> Any:
        """``self[col]``'s values at the increasing positions ``rows`` (a numpy array, or the
        column's pandas array): the positions compose with this view's own, so a view of a view
        reads the source once, at the rows it needs.

        >>> src = pd.DataFrame({"noteId": [10, 11, 12, 13]})
        >>> TakenColumns(src, np.array([0, 2, 3])).take_rows("noteId", np.array([1, 2])).tolist()
        [12, 13]
        """
        rows = np.asarray(rows)
        if col in self.added:
            return self.added[col][rows]
        if col not in self.columns:
            raise KeyError(col)
        if self.take is None:
            if hasattr(self.source, "take_rows"):
                return self.source.take_rows(col, rows)
            return take_values(self.source[col], rows)
        inner = self.take[rows]
        if self._gathers():
            return self.source.take_rows(col, inner)
        return take_values(self.source[col], inner)

    def to_frame(self) -> pd.DataFrame:
        """Every column at once (what a reader of rows needs), a fresh RangeIndex."""
        return self[list(self.columns)]
