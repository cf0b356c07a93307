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

import pandas as pd

from cnlab._memory import release_freed_memory

__all__ = ["RatingsSpill", "ArrowColumns", "write_frame", "read_frame", "release_arrow_memory"]


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as an uncompressed Arrow (Feather v2) file, its index kept (atomically: a
    temporary file renamed once complete)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    table = pa.Table.from_pandas(frame, preserve_index=None)  # a RangeIndex as metadata only
    tmp = path.with_name(f".{path.name}.tmp")
    feather.write_feather(table, tmp, compression="uncompressed")
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
        table = feather.read_table(self.path, columns=[col], memory_map=False)
        return table.to_pandas(split_blocks=True, self_destruct=True)[col]

    def to_frame(self) -> pd.DataFrame:
        """Every column at once (what a reader of rows needs)."""
        return read_frame(self.path)


def _layout(path: Path) -> tuple[list[str], bool]:
    """The stored columns of an Arrow file and whether pandas' metadata names a stored index."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        schema = pa.ipc.open_file(source).schema
    pandas_meta = schema.pandas_metadata or {}
    return list(schema.names), any(isinstance(c, str) for c in pandas_meta.get("index_columns", []))


def read_frame(path: Path, dtypes: pd.Series | None = None) -> pd.DataFrame:
    """The frame :func:`write_frame` wrote, read one column at a time: each column's buffers are
    read, converted and released before the next is read, so reading back holds the frame and one
    column's Arrow copy. (A whole-table read holds every column twice until the last is converted:
    206M preprocessed ratings read back grew by 13.1 GiB for a 6.6 GiB frame; the coalesced
    prescoring ratings read from a checkpoint peaked 4.2 GiB above what they left.)

    ``dtypes`` (the written frame's ``.dtypes``) restores what Arrow cannot carry: the categories
    of a categorical column with no rows."""
    import pyarrow.feather as feather

    names, stored_index = _layout(path)
    if stored_index or not names:  # an index stored as columns goes with every read: read once
        table = feather.read_table(path, memory_map=False)
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
    else:
        frame = None
        for name in names:
            table = feather.read_table(path, columns=[name], memory_map=False)
            part = table.to_pandas(split_blocks=True, self_destruct=True)
            del table
            if frame is None:
                frame = part
            else:
                frame[name] = part[name]
            del part
            # the column's Arrow buffers stay in Arrow's pool until released
            release_freed_memory()
    release_freed_memory()
    if dtypes is not None:
        for col, dtype in dtypes.items():
            if frame[col].dtype != dtype:
                frame[col] = frame[col].astype(dtype)
    return frame


@dataclass(frozen=True)
class RatingsSpill:
    """Where :meth:`write` put a run's rating frames.

    Attributes
    ----------
    directory
        The spill folder (inside the run's checkpoint folder).
    """

    directory: Path
    dataset_dtypes: pd.Series
    preprocessed_dtypes: pd.Series

    @property
    def dataset_path(self) -> Path:
        return self.directory / "dataset_ratings.arrow"

    @property
    def preprocessed_path(self) -> Path:
        return self.directory / "preprocessed_ratings.arrow"

    @classmethod
    def write(cls, directory: str | Path, dataset: Any, pre: Any) -> "RatingsSpill":
        """Write ``dataset.ratings`` and ``pre.ratings`` and release the dataset's (its
        ``ratings`` is None until :meth:`restore_dataset`). The caller drops its references to
        ``pre.ratings``; memory is freed once no other reference holds either frame."""
        spill = cls(Path(directory), dataset.ratings.dtypes, pre.ratings.dtypes)
        spill.directory.mkdir(parents=True, exist_ok=True)
        write_frame(dataset.ratings, spill.dataset_path)
        write_frame(pre.ratings, spill.preprocessed_path)
        object.__setattr__(dataset, "ratings", None)  # a frozen Dataset: lent to the run, given back
        return spill

    def write_preprocessed(self, frame: pd.DataFrame) -> None:
        """Write the preprocessed ratings again (after :meth:`read_preprocessed`: the dataset's file
        is still on disk); the caller drops its references."""
        write_frame(frame, self.preprocessed_path)

    def read_preprocessed(self, *, remove: bool = True) -> pd.DataFrame:
        """The preprocessed ratings, read back (the file is removed unless ``remove`` is False:
        then dropping them again needs no write)."""
        frame = read_frame(self.preprocessed_path, self.preprocessed_dtypes)
        if remove:
            self.preprocessed_path.unlink(missing_ok=True)
        return frame

    def restore_dataset(self, dataset: Any) -> None:
        """Give ``dataset`` its ratings back (read from the spill; the file is removed)."""
        object.__setattr__(dataset, "ratings", read_frame(self.dataset_path, self.dataset_dtypes))
        self.dataset_path.unlink(missing_ok=True)
