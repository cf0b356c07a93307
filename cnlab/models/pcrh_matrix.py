"""The PCRH training matrix in bounded memory (spec 06 §B.4).

PCRH pools, over N ∈ {8, 10, 15, 20, 30, 50}, one row per note with at least N ratings: about
0.05 rows a rating and ~123 float64 features, i.e. ~47 bytes a rating in one matrix. The
whole-frame formulation held that matrix four times at its peak (the pooled frame, the matrix, the
scaler's temporaries, the boosting's train/validation copies): ~200 bytes a rating, 40 GiB at
206M ratings. Here the checkpoints' frames are built a note chunk at a time and kept as blocks
(on disk when asked); the matrix is then assembled a feature at a time, scaled, binned and split
into the boosting's training and validation parts as it goes, so the boosting's two inputs are the
only full-size arrays. The model is the same bit for bit:

* the pooled rows and columns are those of ``pd.concat`` of the checkpoints' whole frames
  (:meth:`TrainingBlocks.columns`: each checkpoint's columns in the order the feature functions
  create them, the checkpoints' unions appended in turn);
* ``StandardScaler`` fitted on one contiguous column gives the same mean, variance and scaled
  values as on the Fortran-ordered matrix (each column is reduced alone either way);
* the split is the boosting's own (:meth:`LegacyHistBinning.boosting_split`), passed to
  ``fit(X, y, X_val=, y_val=)``, which draws the same seeds and bins the same rows.

``tests/test_pcrh_memory.py`` checks each against the whole-frame formulation.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema as S
from cnlab._compat.sklearn102_hist_binning import LegacyHistBinning

__all__ = ["TrainingBlocks", "fit_scaled_boosting"]

LABEL = "is_crh"


class TrainingBlocks:
    """The pooled PCRH training frame as blocks, one per (checkpoint N, note chunk), in pooled
    order (N by N, chunks in ascending note ids).

    Parameters
    ----------
    template
        Every column a block may hold, in the order the feature functions create them: a
        checkpoint's columns are the template's columns present in any of its blocks, which is
        the column order of that checkpoint's whole frame.
    zero_where
        For a column a block lacks, the column whose non-missing rows hold 0 in the whole frame
        (its other rows: missing); None: missing everywhere. Only :meth:`frame` reads it (the
        matrix fills every missing value with 0).
    spill_dir
        Keep each block's numbers in a float64 file there (Fortran order, one column read at a
        time) instead of in memory; the folder is removed by :meth:`close`. ``None``: in memory.
    """

    def __init__(self, template: Sequence[str], *, spill_dir: str | Path | None = None,
                 zero_where: Callable[[str], str | None] | None = None):
        self._rank = {c: i for i, c in enumerate(template)}
        self._zero_where = zero_where
        self._blocks: dict[int, list[dict[str, Any]]] = {}
        self._dir = None if spill_dir is None else Path(tempfile.mkdtemp(prefix="pcrh-", dir=spill_dir))

    @property
    def on_disk(self) -> bool:
        return self._dir is not None

    def add(self, n: int, frame: pd.DataFrame) -> None:
        """Checkpoint ``n``'s frame of one note chunk (``noteId``, features, ``is_crh``, ``N``)."""
        unknown = [c for c in frame.columns if c not in self._rank]
        if unknown:
            raise ValueError(f"PCRH block of N={n}: columns {unknown} are not in the feature template")
        order = [self._rank[c] for c in frame.columns]
        if order != sorted(order):
            raise ValueError(f"PCRH block of N={n}: columns out of the template's order")
        block: dict[str, Any] = {"columns": list(frame.columns), "rows": len(frame),
                                 "object": {c for c in frame.columns if frame[c].dtype == object}}
        if self._dir is None:
            block["frame"] = frame
        else:
            numeric = [c for c in frame.columns if c not in block["object"]]
            m = np.empty((len(frame), len(numeric)), dtype=np.float64, order="F")
            for j, c in enumerate(numeric):
                m[:, j] = frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
            path = self._dir / f"n{n}-{sum(len(v) for v in self._blocks.values())}.npy"
            np.save(path, m)
            block.update(path=path, numeric={c: j for j, c in enumerate(numeric)})
        self._blocks.setdefault(n, []).append(block)

    def drop(self, n: int) -> None:
        """Leave checkpoint ``n`` out (fewer notes than the minimum)."""
        for b in self._blocks.pop(n, []):
            if "path" in b:
                b["path"].unlink(missing_ok=True)

    def checkpoints(self) -> list[int]:
        return list(self._blocks)

    def n_rows(self) -> int:
        return sum(b["rows"] for bs in self._blocks.values() for b in bs)

    def _columns_of(self, n: int) -> list[str]:
        present = {c for b in self._blocks[n] for c in b["columns"]}
        return sorted(present, key=self._rank.__getitem__)

    def columns(self) -> list[str]:
        """The pooled frame's columns: ``pd.concat`` of the checkpoints' frames appends each
        checkpoint's new columns after those of the checkpoints before it."""
        out: list[str] = []
        seen: set[str] = set()
        for n in self._blocks:
            for c in self._columns_of(n):
                if c not in seen:
                    seen.add(c)
                    out.append(c)
        return out

    def feature_columns(self) -> list[str]:
        """The model's features: every pooled column but ``noteId``, ``is_crh`` and text columns."""
        text = {c for bs in self._blocks.values() for b in bs for c in b["object"]}
        return [c for c in self.columns() if c not in (S.NOTE_ID, LABEL) and c not in text]

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` over the pooled rows as float64, missing values (and blocks without the
        column) 0: ``pooled[name].fillna(0)``."""
        out = np.zeros(self.n_rows(), dtype=np.float64)
        at = 0
        for bs in self._blocks.values():
            for b in bs:
                rows = b["rows"]
                if name in b["columns"]:
                    if "frame" in b:
                        v = b["frame"][name].to_numpy(dtype=np.float64, na_value=np.nan)
                    else:
                        mm = np.load(b["path"], mmap_mode="r")
                        v = np.array(mm[:, b["numeric"][name]])
                        del mm
                    seg = out[at:at + rows]
                    seg[:] = v
                    seg[np.isnan(seg)] = 0.0  # fillna(0): infinities stay
                at += rows
        return out

    def labels(self) -> np.ndarray:
        return self.column(LABEL).astype(np.int64)

    def frame(self) -> pd.DataFrame:
        """The pooled frame (blocks in memory only)."""
        if self._dir is not None:
            raise ValueError("the pooled PCRH frame is not kept when its blocks are on disk")
        per_n = []
        for n, bs in self._blocks.items():
            if len(bs) == 1:
                per_n.append(bs[0]["frame"])
                continue
            cols = self._columns_of(n)
            per_n.append(pd.concat([self._completed(b["frame"], cols) for b in bs], ignore_index=True))
        return pd.concat(per_n, ignore_index=True)

    def _completed(self, frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
        """``frame`` with the checkpoint's columns it lacks, as the whole frame holds them."""
        missing = [c for c in cols if c not in frame.columns]
        if not missing:
            return frame
        add = {}
        for c in missing:
            like = self._zero_where(c) if self._zero_where is not None else None
            has = frame[like].notna().to_numpy() if like in frame.columns else np.zeros(len(frame), bool)
            add[c] = np.where(has, 0.0, np.nan)
        return pd.concat([frame, pd.DataFrame(add, index=frame.index)], axis=1)[cols]

    def close(self) -> None:
        self._blocks.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def fit_scaled_boosting(blocks: TrainingBlocks, columns: Sequence[str], y: np.ndarray, *,
                        random_state: int, validation_fraction: float, legacy_binning: bool,
                        make_model: Callable[[], Any], fit_model: Callable[..., Any]):
    """Scale (``StandardScaler``), bin (:class:`LegacyHistBinning`) and fit the boosting on the
    pooled features, a feature at a time (module docstring). Returns ``(model, scaler, binning)``,
    the same as fitting ``make_model()`` on ``binning(scaler(pooled[columns].fillna(0)))`` with
    its own early-stopping split. ``fit_model(model, X, y, **val)`` runs the fit (the caller's
    thread limits). The blocks are closed once read."""
    from sklearn.preprocessing import StandardScaler

    n, f = len(y), len(columns)
    train, val = LegacyHistBinning.boosting_split(y, n, random_state, validation_fraction)
    # C order: scikit-learn's boosting copies a Fortran-ordered input once more (a 432k x 123
    # matrix: 600 MiB above it against 200 MiB in C order)
    x_train = np.empty((len(train), f), dtype=np.float64)
    x_val = np.empty((len(val), f), dtype=np.float64)
    binning = LegacyHistBinning() if legacy_binning else None
    mean, var, scale = (np.empty(f) for _ in range(3))
    seen = None
    for j, c in enumerate(columns):
        v = blocks.column(c)[:, None]
        s = StandardScaler().fit(v)
        mean[j], var[j], scale[j], seen = s.mean_[0], s.var_[0], s.scale_[0], s.n_samples_seen_
        v = s.transform(v, copy=False)[:, 0]
        if binning is not None:
            binning.add_column(v[train])
            v = binning.code_column(j, v, out=v)
        x_train[:, j] = v[train]
        x_val[:, j] = v[val]
        del v
    blocks.close()  # read in full: the boosting runs without them
    scaler = StandardScaler()
    scaler.mean_, scaler.var_, scaler.scale_, scaler.n_samples_seen_ = mean, var, scale, seen
    scaler.n_features_in_ = f
    model = make_model()
    if len(val):
        fit_model(model, x_train, y[train], X_val=x_val, y_val=y[val])
    else:
        fit_model(model, x_train, y[train])
    return model, scaler, binning
