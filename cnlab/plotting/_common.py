"""Shared pieces of :mod:`cnlab.plotting`: headless backend, colours, the Core scorer's default
thresholds, deterministic :func:`savefig`, and the small helpers every figure module uses.

The thresholds drawn are the Core scorer's defaults (spec 03 §3.3, §4, §5); figures take them as
keyword arguments so that "what if" figures can draw others.

The package imports this module first, so the backend is chosen before anything imports
:mod:`matplotlib.pyplot`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

# Headless (CI, notebooks executed by nbclient set MPLBACKEND themselves):
# pick Agg before pyplot is imported so that no GUI toolkit is probed.
if (
    "matplotlib.pyplot" not in sys.modules
    and not os.environ.get("MPLBACKEND")
    and not os.environ.get("DISPLAY")
    and not os.environ.get("WAYLAND_DISPLAY")
    and sys.platform.startswith("linux")
):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnlab import schema  # noqa: E402


# ---------------------------------------------------------------------------
# Constants: colours, rule order, default thresholds (Core scorer, spec 03 §4)
# ---------------------------------------------------------------------------
STATUS_ORDER: tuple[str, ...] = (schema.CRH, schema.NMR, schema.NYH, schema.FIRM_REJECT, schema.CRNH)
"""Order in which statuses are listed in legends and confusion matrices."""

STATUS_COLORS: dict[str, str] = {
    schema.CRH: "#1b9e4b",
    schema.CRNH: "#d62728",
    schema.NMR: "#9e9e9e",
    schema.FIRM_REJECT: "#6a3d9a",
    schema.NYH: "#ff9f1c",
}
_OTHER_COLOR = "#4c72b0"

STATUS_SHORT: dict[str, str] = {
    schema.CRH: "CRH",
    schema.CRNH: "CRNH",
    schema.NMR: "NMR",
    schema.FIRM_REJECT: "FIRM_REJECT",
    schema.NYH: "NYH",
}
"""Abbreviation of each status (axis ticks, compact labels)."""

STATUS_LONG: dict[str, str] = {
    schema.CRH: "currently rated helpful",
    schema.CRNH: "currently rated not helpful",
    schema.NMR: "needs more ratings",
    schema.FIRM_REJECT: "blocked from helpful by a filter",
    schema.NYH: "needs your help",
}
"""What each status means, spelled out in legends (:func:`status_label`)."""

# Rule base names (display name without the version) in application order
# (spec 03 §4 table, then the meta-scorer rules of spec 03 §7), with the
# status each one sets.  Used for ordering and colouring rule_flow.
RULE_ORDER: tuple[tuple[str, str | None], ...] = (
    ("InitialNMR", schema.NMR),
    ("GeneralCRH", schema.CRH),
    ("GeneralCRNH", schema.CRNH),
    ("UcbCRNH", schema.CRNH),
    ("RatioCRNH", schema.CRNH),
    ("NmCRNH", schema.CRNH),
    ("GeneralCRHInertia", schema.CRH),
    ("TagFilter", schema.FIRM_REJECT),
    ("CRHSuperThreshold", schema.CRH),
    ("ElevatedCRHInertia", schema.CRH),
    ("FilterIncorrect", schema.FIRM_REJECT),
    ("FilterLowDiligence", schema.FIRM_REJECT),
    ("FilterLargeFactor", schema.FIRM_REJECT),
    ("RejectLowIntercept", schema.FIRM_REJECT),
    ("MinMinorityRaters", schema.NYH),
    ("RaterBalance", schema.NYH),
    ("NoHighVolIntercept", schema.NYH),
    ("NoCorrelatedIntercept", schema.NYH),
    ("PopulationSampledIntercept", schema.NYH),
)

CRH_THRESHOLD = 0.40
"""GeneralCRH: intercept ≥ 0.40 (official ``crhThreshold``)."""
CRNH_INTERCEPT = -0.05
"""GeneralCRNH: intercept ≤ −0.05 − 0.8·|f| (official ``crnhThresholdIntercept``)."""
CRNH_FACTOR_MULTIPLIER = -0.8
"""GeneralCRNH slope (official ``crnhThresholdNoteFactorMultiplier``)."""
FACTOR_THRESHOLD = 0.5
"""FilterLargeFactor: CRH blocked when |f| > 0.5 (official ``factorThreshold``)."""
UCB_CRNH_THRESHOLD = -0.04
"""UcbCRNH: CRNH when the pseudo-rater upper bound < −0.04."""
MIN_MINORITY_NET_HELPFUL = 4
"""MinMinorityRaters: CRH needs ≥ 4 net helpful ratings from each factor side."""
HELPFULNESS_THRESHOLDS: dict[str, float] = {
    "raterAgreeRatio": 0.66,  # minRaterAgreeRatio
    "raterAgreeRatioKeyWithHarassmentAbusePenalty": 0.66,
    "crhCrnhRatioDifference": 0.0,  # minCRHVsCRNHRatio
    "meanNoteScore": 0.05,  # minMeanNoteScore
}
"""Contributor-helpfulness cut-offs (spec 03 §3.3)."""
TAG_PERCENTILE = 40
"""Distance percentile used to normalize tag-outlier weights (spec 03 §5)."""
TAG_WEIGHT_EXPONENT = 5
"""Exponent of the tag-outlier weight 1/(1+(d/p40)^5)."""

DPI = 110
"""Fixed resolution of saved PNG files."""
_SVG_HASHSALT = "cnlab"
_METADATA_PNG = {"Software": None, "Creator": "cnlab"}
_METADATA_SVG = {"Date": None, "Creator": "cnlab"}


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------
FIGURES_DIR_ENV = "CNLAB_FIGURES_DIR"
"""Environment variable naming the default figures folder."""


def figures_dir(directory: str | os.PathLike | None = None) -> Path:
    """Directory :func:`savefig` writes to.

    ``directory`` if given, else ``$CNLAB_FIGURES_DIR``, else ``figures/`` under the current
    working directory.  Nothing is written next to the installed package unless asked.

    Examples
    --------
    >>> figures_dir("out/figs").as_posix()
    'out/figs'
    """
    if directory is not None:
        return Path(directory)
    env = os.environ.get(FIGURES_DIR_ENV)
    if env:
        return Path(env)
    return Path.cwd() / "figures"


def savefig(
    fig: Figure | Axes, name: str, *, directory: str | os.PathLike | None = None
) -> tuple[Path, Path]:
    """Write ``fig`` as ``<name>.png`` and ``<name>.svg`` with stable bytes.

    Saving the same figure twice gives byte-identical files: fixed dpi, no
    date or software-version metadata, a fixed SVG hash salt, and each file is
    written to a temporary name and renamed (no half-written figures).

    Parameters
    ----------
    fig
        A figure, or an Axes (its figure is saved).
    name
        File stem, e.g. ``"02_factor_intercept"`` (a ``.png``/``.svg`` suffix
        is dropped).
    directory
        Output folder; default :func:`figures_dir` (``$CNLAB_FIGURES_DIR`` or
        ``./figures`` under the current working directory).  Created if needed.

    Returns
    -------
    (png_path, svg_path)

    Examples
    --------
    >>> import tempfile
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> png, svg = savefig(fig, "demo", directory=tempfile.mkdtemp())
    >>> png.suffix, svg.suffix
    ('.png', '.svg')
    >>> plt.close(fig)
    """
    if isinstance(fig, Axes):
        fig = fig.figure
    stem = Path(name).name
    for suffix in (".png", ".svg"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    outdir = figures_dir(directory)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": _SVG_HASHSALT, "svg.fonttype": "path"}):
        for fmt, meta in (("png", _METADATA_PNG), ("svg", _METADATA_SVG)):
            path = outdir / f"{stem}.{fmt}"
            tmp = outdir / f".{stem}.{fmt}.tmp"
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta, bbox_inches="tight")
            os.replace(tmp, path)
            paths.append(path)
    return paths[0], paths[1]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _current(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the column names of older output vintages mapped to the current ones
    (:func:`cnlab.schema.current_output_names`: ``noteIntercept`` -> ``coreNoteIntercept`` ...)."""
    return schema.current_output_names(frame)[0]


def _pick(frame: pd.DataFrame, preferred: str | None, fallbacks: Sequence[str], *, what: str) -> str:
    """Return the first of ``preferred`` + ``fallbacks`` present in ``frame``.

    A legacy name (``noteIntercept`` ...) also finds the current column it was mapped to.
    """
    candidates = ([preferred] if preferred else [])
    if preferred in schema.LEGACY_OUTPUT_COLUMNS:
        candidates += list(schema.LEGACY_OUTPUT_COLUMNS[preferred])
    candidates += [c for c in fallbacks if c not in candidates]
    for c in candidates:
        if c in frame.columns:
            return c
    raise schema.SchemaError(f"{what}: none of the columns {candidates} present")


def status_label(status: Any, n: int | None = None) -> str:
    """Legend text of a status: abbreviation spelled out, with an optional count.

    Examples
    --------
    >>> status_label("CURRENTLY_RATED_HELPFUL", 12)
    'CRH = currently rated helpful (12)'
    >>> status_label("NEEDS_YOUR_HELP")
    'NYH = needs your help'
    >>> status_label("majority only", 3)
    'majority only (3)'
    """
    short, long = STATUS_SHORT.get(status), STATUS_LONG.get(status)
    text = f"{short} = {long}" if short and long else str(status)
    return text if n is None else f"{text} ({n:,})"


def status_key(statuses: Iterable[Any]) -> str:
    """``"CRH = currently rated helpful, NMR = ..."`` for the known statuses among ``statuses``."""
    return ", ".join(status_label(s) for s in STATUS_ORDER if s in set(statuses))


_MODEL_SUFFIXES = ("NoteIntercept", "RaterIntercept", "NoteFactor1", "RaterFactor1", "RatingStatus",
                   "ActiveRules")


def _model_name(col: str | None) -> str:
    """``coreNoteIntercept`` -> ``"Core"``, ``expansionPlusRaterFactor1`` -> ``"ExpansionPlus"``;
    ``internal…`` and unknown columns -> ``"the model"``."""
    for suffix in _MODEL_SUFFIXES:
        if col and col.endswith(suffix):
            prefix = col[: -len(suffix)]
            if prefix and prefix != "internal":
                return prefix[0].upper() + prefix[1:]
    return "the model"


def _left_out(parts: Sequence[tuple[int, str]]) -> str:
    """``"left out: 470 not scored by Core; 3 without coreNoteFactor1"`` ('' when nothing is)."""
    shown = [f"{n:,} {why}" for n, why in parts if n]
    return ("left out: " + "; ".join(shown)) if shown else ""


def _title(ax: Axes, head: str, *parts: tuple[int, str], **kwargs: Any) -> None:
    """Title ``head``, plus a second line saying how many rows were left out and why."""
    tail = _left_out(parts)
    ax.set_title(head + (f"\n{tail}" if tail else ""), **kwargs)


def _status_order(values: Iterable[Any]) -> list[str]:
    present = [v for v in pd.unique(pd.Series(list(values), dtype=object)) if pd.notna(v)]
    known = [s for s in STATUS_ORDER if s in present]
    return known + sorted(str(v) for v in present if v not in STATUS_ORDER)


def _status_color(status: str) -> str:
    return STATUS_COLORS.get(status, _OTHER_COLOR)


def _as_float(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _status_col_for(frame: pd.DataFrame, intercept_col: str, status_col: str | None) -> str | None:
    if status_col is not None:
        return _pick(frame, status_col, [], what="status_col")
    candidates = []
    if intercept_col.endswith("NoteIntercept"):
        candidates.append(intercept_col[: -len("NoteIntercept")] + "RatingStatus")
    candidates += [schema.RATING_STATUS, "finalRatingStatus"]
    for c in candidates:
        if c in frame.columns:
            return c
    return None
