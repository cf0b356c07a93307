"""The run's rating frames on disk while worker processes prescore (a lean run at scale).

While the scorers prescore in worker processes (``score(..., isolate=True)`` or ``jobs > 1``), the
parent process reads no rating: it waits. In a lean run (``keep="outputs"``, what ``cnlab score``
does) it writes the dataset's ratings and the preprocessed ratings to uncompressed Arrow files,
drops them, and reads them back when the workers are done; the workers' own copies then do not sit
beside the parent's (206M ratings: ~7 GiB of the parent's memory).

The frames read back equal the written ones exactly (values, dtypes, index, column order); the
dataset's ratings come back into the caller's :class:`~cnlab.io.Dataset` at the end of the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cnlab._columns import TakenColumns, take_values
from cnlab._memory import release_freed_memory

__all__ = ["RatingsSpill", "ArrowColumns", "TakenColumns", "write_frame", "read_frame", "release_arrow_memory"]


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as an uncompressed Arrow (Feather v2) file, its index kept (atomically: a
    temporary file renamed once complete)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    table = pa.Table.from_pandas(frame, preserve_index=None)  # a RangeIndex as metadata only
    tmp = path.with_name(f".{path.name}.tmp")
    # record batches of 2^18 rows (Feather's default is 2^16): read back a batch at a time, each
    # costs ~1 ms of fixed conversion cost and a transient copy of a few MB
    feather.write_feather(table, tmp, compression="uncompressed", chunksize=1 << 18)
    del table
    os.replace(tmp, path)


def release_arrow_memory() -> None:
    """Hand the memory Arrow's allocator (and the C heap) keep after frees back to the system: it
    otherwise holds what the Arrow-backed columns of released frames used (at 206M ratings, ~4 GiB
    in a parent that had released its ratings). :func:`cnlab._memory.release_freed_memory`."""
    release_freed_memory()


class ArrowColumns:
    """The columns of an Arrow (Feather v2) file of ratings, each read from disk when asked for.

    Enough of a DataFrame for a reader of whole columns (``len``, ``columns``, ``index``,
    ``frame[col]``): a prescoring worker cuts its scorer's slice from it
    (:func:`cnlab.scorers.mf_prescoring.slice_for_prescoring`) holding one full column at a time
    beside the slice, not a copy of every rating (at 206M ratings, 7 GiB and the file's pages).
    Each ``frame[col]`` reads the column again (from the page cache) and is the column a whole
    read gives: the same values and dtype.
    """

    def __init__(self, path: str | Path):
        import pyarrow as pa

        self.path = Path(path)
        with pa.memory_map(str(self.path)) as source:
            reader = pa.ipc.open_file(source)
            schema = reader.schema
            self._n = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
        pandas_meta = schema.pandas_metadata or {}
        index_cols = {c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)}
        self.columns = pd.Index([n for n in schema.names if n not in index_cols])

    def __len__(self) -> int:
        return self._n

    @property
    def index(self) -> pd.RangeIndex:
        return pd.RangeIndex(self._n)

    def __getitem__(self, col: str) -> pd.Series:
        import pyarrow.feather as feather

        if col not in self.columns:
            raise KeyError(col)
        values = _column_by_batches(self.path, col, self._n)
        if values is not None:
            return pd.Series(values, name=col, copy=False)
        table = feather.read_table(self.path, columns=[col], memory_map=False)
        return table.to_pandas(split_blocks=True, self_destruct=True)[col]

    def to_frame(self) -> pd.DataFrame:
        """Every column at once (what a reader of rows needs)."""
        return read_frame(self.path)

    def take_rows(self, col: str, rows: np.ndarray) -> Any:
        """``self[col]``'s values at the increasing positions ``rows``, gathered a record batch
        at a time (a numpy array; a pandas array for a categorical or other non-numeric column):
        only the result and one batch's column are held, not the whole column beside them (a
        prescoring worker cutting a 200M-rating slice: 1.6 GB a column)."""
        values = _column_by_batches(self.path, col, self._n, rows=np.asarray(rows))
        if values is not None:
            return values
        return take_values(self[col], rows)


def _column_by_batches(path: Path, col: str, n: int, rows: np.ndarray | None = None) -> np.ndarray | None:
    """Column ``col`` of an Arrow file read one record batch at a time, only its buffers
    (``included_fields``), into one array: the array and one batch's column are held. (A column
    read as a table and converted held the column twice at its peak, and Arrow's pool kept the
    freed half: at 206M ratings contributor scoring's four columns took ~10 GiB for 5.4.) None for
    a column that is not a plain numeric or boolean one without nulls: the caller reads it whole.
    ``rows`` (increasing positions) keeps only those rows of each batch."""
    import pyarrow as pa

    with pa.OSFile(str(path)) as source:
        probe = pa.ipc.open_file(source)
        i = probe.schema.get_field_index(col)
        field = probe.schema.field(i)
        if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                or pa.types.is_boolean(field.type)):
            return None
        reader = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(included_fields=[i], use_threads=False))
        out = np.empty(n if rows is None else len(rows), dtype=field.type.to_pandas_dtype())
        at = filled = 0
        for b in range(reader.num_record_batches):
            arr = reader.get_batch(b).column(0)
            if arr.null_count:
                return None
            k = len(arr)
            if rows is None:
                out[at:at + k] = arr.to_numpy(zero_copy_only=False)
            else:
                lo, hi = np.searchsorted(rows, (at, at + k))
                if hi > lo:
                    out[filled:filled + hi - lo] = arr.to_numpy(zero_copy_only=False)[rows[lo:hi] - at]
                filled += hi - lo
            at += k
            del arr
    if at != n or (rows is not None and filled != len(rows)):
        return None
    return out


class _SpilledColumns:
    """The preprocessed ratings' columns in a :class:`RatingsSpill`, each read when asked for
    (from the dataset's file or the preprocessed one), with the written dtype."""

    def __init__(self, spill: "RatingsSpill"):
        self.spill = spill
        self.columns = pd.Index(list(spill.preprocessed_dtypes.index))
        self._files = {
            c: (spill.dataset_path if c in spill.shared else spill.preprocessed_path) for c in self.columns}

    def __len__(self) -> int:
        return len(ArrowColumns(next(iter(self._files.values()))))

    def __getitem__(self, col: str) -> pd.Series:
        col_s = ArrowColumns(self._files[col])[col]
        dtype = self.spill.preprocessed_dtypes[col]
        return col_s if col_s.dtype == dtype else col_s.astype(dtype)

    def take_rows(self, col: str, rows: np.ndarray) -> Any:
        """``self[col]``'s values at the increasing positions ``rows``, gathered a record batch
        at a time (:meth:`ArrowColumns.take_rows`), with the written dtype."""
        values = ArrowColumns(self._files[col]).take_rows(col, rows)
        dtype = self.spill.preprocessed_dtypes[col]
        if values.dtype == dtype:
            return values
        return pd.Series(values, copy=False).astype(dtype).array if not isinstance(dtype, np.dtype) \
            else np.asarray(values).astype(dtype)


def _whole_read(path: Path) -> pd.DataFrame:
    """Every record batch at once, then converted column by column (the general reader)."""
    import pyarrow.feather as feather

    table = feather.read_table(path, memory_map=False)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    return frame


def _range_index(schema: Any, n: int) -> pd.Index | None:
    """The RangeIndex pandas' metadata describes (None when the index was stored as columns)."""
    meta = schema.pandas_metadata or {}
    index = meta.get("index_columns", [])
    if not index:
        return pd.RangeIndex(n)
    if len(index) != 1 or not isinstance(index[0], dict) or index[0].get("kind") != "range":
        return None
    r = index[0]
    out = pd.RangeIndex(r["start"], r["stop"], r["step"], name=r.get("name"))
    return out if len(out) == n else pd.RangeIndex(n, name=r.get("name"))


def _by_batches(path: Path) -> pd.DataFrame | None:
    """The frame read one record batch at a time into arrays allocated once: the batch (its body
    is read whole, every column) is the only copy beside the frame. None where the columns are not
    all numpy or categorical, or a batch's conversion differs from the first's (nulls, other
    categories): the caller then reads the whole file."""
    import pyarrow as pa

    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        n = reader.count_rows()
        index = _range_index(reader.schema, n)
        if index is None or reader.num_record_batches == 0:
            return None
        out: dict[str, np.ndarray] = {}
        categories: dict[str, Any] = {}
        columns_name = None
        at = 0
        for i in range(reader.num_record_batches):
            piece = pa.Table.from_batches([reader.get_batch(i)]).to_pandas()
            k = len(piece)
            for col in piece.columns:
                s = piece[col]
                if isinstance(s.dtype, pd.CategoricalDtype):
                    values = s.cat.codes.to_numpy()
                    if col not in categories:
                        categories[col] = s.dtype
                    elif not s.dtype == categories[col]:
                        return None
                elif isinstance(s.dtype, np.dtype) and s.dtype.kind in "biufcmM":
                    values = s.to_numpy()
                else:
                    return None
                if col not in out:
                    if i:
                        return None
                    out[col] = np.empty(n, dtype=values.dtype)
                    columns_name = piece.columns.name
                elif out[col].dtype != values.dtype:
                    return None
                out[col][at:at + k] = values
            at += k
            del piece
    frame = pd.DataFrame(
        {c: (pd.Categorical.from_codes(v, dtype=categories[c]) if c in categories else v)
         for c, v in out.items()}, index=index, copy=False)
    frame.columns.name = columns_name
    return frame


def read_frame(path: Path, dtypes: pd.Series | None = None) -> pd.DataFrame:
    """The frame :func:`write_frame` wrote, read one record batch at a time into the frame's
    arrays: the frame and one batch are held, not the file's every column twice. (A whole-table
    read keeps each batch's body, all columns, until the table is released: 206M preprocessed
    ratings read back grew by 13.1 GiB for a 6.6 GiB frame; the coalesced prescoring ratings read
    from a checkpoint peaked 4.2 GiB above what they left.) Frames with a stored index or columns
    other than numpy and categorical ones are read whole.

    ``dtypes`` (the written frame's ``.dtypes``) restores what Arrow cannot carry: the categories
    of a categorical column with no rows."""
    frame = _by_batches(path)
    if frame is None:
        frame = _whole_read(path)
    release_freed_memory()
    if dtypes is not None:
        for col, dtype in dtypes.items():
            if frame[col].dtype != dtype:
                frame[col] = frame[col].astype(dtype)
    return frame


def _same_buffer(a: pd.Series, b: pd.Series) -> bool:
    """Whether two columns are one array (a frame derived from another without a copy)."""
    if a.dtype != b.dtype:
        return False
    if isinstance(a.dtype, pd.CategoricalDtype):
        x, y = a.array.codes, b.array.codes  # views of the codes (``.cat.codes`` is a copy)
    else:
        x, y = a.to_numpy(), b.to_numpy()
    return x.shape == y.shape and x.ctypes.data == y.ctypes.data and x.strides == y.strides


@dataclass(frozen=True)
class RatingsSpill:
    """Where :meth:`write` put a run's rating frames.

    The preprocessed ratings share most columns with the dataset's (preprocessing adds
    ``helpfulNum`` and ``highVolumeRater`` to the same rows without copying the rest): those are
    written once, in the dataset's file, and the preprocessed file holds the other columns only
    (206M ratings: ~1 GB instead of ~6 GB more on disk).

    Attributes
    ----------
    directory
        The spill folder (inside the run's checkpoint folder).
    shared
        Columns of the preprocessed ratings read from the dataset's file.
    """

    directory: Path
    dataset_dtypes: pd.Series
    preprocessed_dtypes: pd.Series
    shared: tuple[str, ...] = ()

    @property
    def dataset_path(self) -> Path:
        return self.directory / "dataset_ratings.arrow"

    @property
    def preprocessed_path(self) -> Path:
        """The preprocessed ratings' own columns (absent when every column is shared)."""
        return self.directory / "preprocessed_ratings.arrow"

    @property
    def own_columns(self) -> list[str]:
        return [c for c in self.preprocessed_dtypes.index if c not in self.shared]

    def preprocessed_on_disk(self) -> bool:
        """Whether :meth:`read_preprocessed` can read them (after ``remove=True``, not until
        :meth:`write_preprocessed`, unless every column is the dataset's: that file stays)."""
        if self.own_columns:
            return self.preprocessed_path.exists()
        return self.dataset_path.exists()

    @classmethod
    def write(cls, directory: str | Path, dataset: Any, pre: Any) -> "RatingsSpill":
        """Write ``dataset.ratings`` and ``pre.ratings`` (the columns it shares with the dataset's
        once) and release the dataset's (its ``ratings`` is None until :meth:`restore_dataset`).
        The caller drops its references to ``pre.ratings``; memory is freed once no other
        reference holds either frame."""
        ds, pr = dataset.ratings, pre.ratings
        shared: tuple[str, ...] = ()
        if len(ds) == len(pr) and ds.index.equals(pr.index):
            shared = tuple(c for c in pr.columns if c in ds.columns and _same_buffer(ds[c], pr[c]))
        spill = cls(Path(directory), ds.dtypes, pr.dtypes, shared)
        spill.directory.mkdir(parents=True, exist_ok=True)
        write_frame(ds, spill.dataset_path)
        spill.write_preprocessed(pr)
        object.__setattr__(dataset, "ratings", None)  # a frozen Dataset: lent to the run, given back
        return spill

    def write_preprocessed(self, frame: pd.DataFrame) -> None:
        """Write the preprocessed ratings (again, after :meth:`read_preprocessed`: the dataset's
        file, which holds the shared columns, is still on disk); the caller drops its references."""
        own = self.own_columns
        if own:
            write_frame(frame[own], self.preprocessed_path)

    def read_preprocessed(self, *, remove: bool = True) -> pd.DataFrame:
        """The preprocessed ratings, read back (their own file is removed unless ``remove`` is
        False: then dropping them again needs no write; the dataset's file stays)."""
        own = self.own_columns
        frame = None
        if self.shared:
            frame = read_frame(self.dataset_path, self.dataset_dtypes)
            frame = frame[list(self.shared)] if list(frame.columns) != list(self.shared) else frame
        if own:
            extra = read_frame(self.preprocessed_path, self.preprocessed_dtypes[own])
            if frame is None:
                frame = extra
            else:
                for col in own:  # same rows, same index: by position
                    frame[col] = extra[col].array
                del extra
                frame = frame[list(self.preprocessed_dtypes.index)]
        if remove and own:
            self.preprocessed_path.unlink(missing_ok=True)
        return frame

    def preprocessed_columns(self) -> "_SpilledColumns":
        """The preprocessed ratings as columns read from disk one at a time (a source for
        :class:`TakenColumns`); the files must stay (:meth:`read_preprocessed` with
        ``remove=False``)."""
        if not self.preprocessed_on_disk():
            raise FileNotFoundError(f"the preprocessed ratings are not in {self.directory}")
        return _SpilledColumns(self)

    def discard(self) -> None:
        """Remove the spilled files without reading them (the dataset keeps ``ratings=None``)."""
        self.dataset_path.unlink(missing_ok=True)
        self.preprocessed_path.unlink(missing_ok=True)

    def restore_dataset(self, dataset: Any) -> None:
        """Give ``dataset`` its ratings back (read from the spill; the file is removed)."""
        object.__setattr__(dataset, "ratings", read_frame(self.dataset_path, self.dataset_dtypes))
        self.dataset_path.unlink(missing_ok=True)
        self.preprocessed_path.unlink(missing_ok=True)
