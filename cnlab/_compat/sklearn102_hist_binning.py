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

    def __init__(self, x: np.ndarray, y: np.ndarray, random_state: int, validation_fraction: float):
        from sklearn.model_selection import train_test_split

        seed = np.random.RandomState(random_state).randint(np.iinfo(np.uint32).max, dtype="u8")
        # the boosting's training rows: the split depends on y, the row count and the seed only, so
        # splitting the row numbers gives its rows, and each column is gathered alone (no copy of x)
        rows = np.arange(x.shape[0])
        if validation_fraction:
            rows, _ = train_test_split(rows, stratify=y, test_size=validation_fraction, random_state=seed)
        pct = np.linspace(0, 100, num=self.MAX_BINS + 1)[1:-1]
        self.thresholds: list[np.ndarray] = []
        self.seen: list[np.ndarray] = []
        for j in range(x.shape[1]):
            col = x[rows, j]
            d = np.unique(col)
            if len(d) <= self.MAX_BINS:
                m = d[:-1] + d[1:]
                m *= 0.5
            else:
                m = np.percentile(col, pct, method="midpoint")
            t = np.minimum(m, np.finfo(np.float64).max)
            self.thresholds.append(t)
            self.seen.append(unique(np.searchsorted(t, col, side="left")).astype(np.float64))

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
        c = self._codes(x, out)
        for j, seen in enumerate(self.seen):
            k = np.searchsorted(seen, c[:, j], side="left")
            inside = k < len(seen)
            c[inside, j] = seen[k[inside]]
        return c
