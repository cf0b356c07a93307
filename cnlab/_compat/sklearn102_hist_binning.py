"""Replica of scikit-learn 1.0.2's histogram-gradient-boosting feature bins (``_find_binning_thresholds``).

scikit-learn ≥ 1.4 picks other bin edges ("averaged_inverted_cdf" percentiles, duplicates removed),
which changes PCRH's trees (spec 06 §B.4; bench/RESULTS.md "What the pinned versions change":
pcrhExitProba Pearson 0.968 instead of 1 on the fixture). Applying these bins before the installed
``HistGradientBoostingClassifier`` reproduces the pinned version's model.

Used by :class:`cnlab.models.pcrh.PCRHModel` (``PCRHConfig.legacy_binning``).
"""

from __future__ import annotations

import numpy as np

from cnlab._arrays import unique

__all__ = ["LegacyHistBinning"]


class LegacyHistBinning:
    """Histogram-gradient-boosting feature bins of scikit-learn 1.0.2 (``_find_binning_thresholds``),
    applied *before* the installed ``HistGradientBoostingClassifier`` so that it reproduces the pinned
    version's trees (spec 06 §B.4).

    Fitted, as 1.0.2 does, on the boosting's own training part (the stratified split it makes for
    early stopping with the same seed). Per feature with values v on that part::

        ≤ 255 distinct values:  thresholds = midpoints of consecutive distinct values
        otherwise:              thresholds = percentile(v, linspace(0, 100, 256)[1:-1], "midpoint")
        code(x) = #{thresholds < x}

    The installed boosting then sees integer codes (≤ 255 distinct: its own binning is the identity).
    A code absent from the training part (an empty 1.0.2 bin) is moved up to the next code that is
    present, so that it falls on the same side of every split as in 1.0.2 (which takes the lowest
    of equal-gain bins).
    """

    MAX_BINS = 255

    def __init__(self, x: np.ndarray | None = None, y: np.ndarray | None = None,
                 random_state: int | None = None, validation_fraction: float = 0.0):
        self.thresholds: list[np.ndarray] = []
        self.seen: list[np.ndarray] = []
        if x is None:  # filled a column at a time by :meth:`add_column`
            return
        # the split depends on y, the row count and the seed only, so splitting the row numbers
        # gives the boosting's rows, and each column is gathered alone (no copy of x)
        rows, _ = self.boosting_split(y, x.shape[0], random_state, validation_fraction)
        for j in range(x.shape[1]):
            self.add_column(x[rows, j])

    @staticmethod
    def boosting_split(y: np.ndarray, n: int, random_state: int,
                       validation_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers of the training and validation parts that ``HistGradientBoostingClassifier
        (random_state=random_state, validation_fraction=...)`` makes for early stopping: a
        stratified split seeded by the first draw of ``RandomState(random_state)``, in the order it
        returns them. No validation part: every row, in order, and none."""
        from sklearn.model_selection import train_test_split

        rows = np.arange(n)
        if not validation_fraction:
            return rows, rows[:0]
        seed = np.random.RandomState(random_state).randint(np.iinfo(np.uint32).max, dtype="u8")
        train, val = train_test_split(rows, stratify=y, test_size=validation_fraction, random_state=seed)
        return train, val

    def add_column(self, col: np.ndarray) -> None:
        """Fit the next feature's thresholds on its values ``col`` in the training part (any order)."""
        d = np.unique(col)
        if len(d) <= self.MAX_BINS:
            m = d[:-1] + d[1:]
            m *= 0.5
        else:
            pct = np.linspace(0, 100, num=self.MAX_BINS + 1)[1:-1]
            m = np.percentile(col, pct, method="midpoint")
        t = np.minimum(m, np.finfo(np.float64).max)
        self.thresholds.append(t)
        self.seen.append(unique(np.searchsorted(t, col, side="left")).astype(np.float64))

    def code_column(self, j: int, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Feature ``j``'s codes of ``values`` (float64), an empty bin's code moved up to the next
        seen one; written into ``out`` when given (which may be ``values`` itself)."""
        c = np.searchsorted(self.thresholds[j], values, side="left")
        if out is None:
            out = np.empty(len(c), dtype=np.float64)
        out[:] = c
        seen = self.seen[j]
        k = np.searchsorted(seen, out, side="left")
        inside = k < len(seen)
        out[inside] = seen[k[inside]]
        return out

    def _codes(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Per column ``#{thresholds < x}`` as float64, in ``x``'s memory order (one allocation,
        or none with ``out``, which may be ``x`` itself: each column is read before it is written)."""
        if out is None:
            out = np.empty(x.shape, dtype=np.float64, order="F" if np.isfortran(x) else "C")
        for j, t in enumerate(self.thresholds):
            out[:, j] = np.searchsorted(t, x[:, j], side="left")
        return out

    def transform(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The codes of ``x`` (float64), written into ``out`` when given (``out=x`` overwrites x)."""
        if out is None:
            out = np.empty(x.shape, dtype=np.float64, order="F" if np.isfortran(x) else "C")
        for j in range(len(self.thresholds)):
            out[:, j] = self.code_column(j, x[:, j])
        return out
