"""Column-by-column comparison of two sets of scorer outputs (cnlab's and the official ones).

The official scorer writes four files (``scored_notes``, ``helpfulness_scores``,
``note_status_history``, ``aux_note_info``) and, between its two phases, the prescoring outputs
(``prescoring_note_model_output``, ``prescoring_rater_model_output``, ``pss_output``,
``prescoring_meta.json``). :func:`compare_columns` joins two versions of one file on its key and
reports, for **every** column of the reference, how far the other side is from it; the parity
tests apply a tolerance class to each row of that report.

No TensorFlow is imported here.

Examples
--------
>>> import pandas as pd
>>> ref = pd.DataFrame({"noteId": [1, 2, 3], "x": [0.1, 0.2, None], "s": ["a", "b", "c"]})
>>> ours = pd.DataFrame({"noteId": [3, 2, 1], "x": [None, 0.2, 0.1 + 1e-6], "s": ["c", "b", "z"]})
>>> rep = compare_columns(ref, ours, key="noteId")
>>> r = rep.loc["x"]
>>> r["kind"], int(r["equal"]), round(float(r["max_abs"]), 9), int(r["nan_mismatch"])
('numeric', 2, 1e-06, 0)
>>> int(rep.loc["s", "equal"])
2
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

#: The four files of a scoring run, with the key that identifies a row of each.
OUTPUT_KEYS: Mapping[str, tuple[str, ...]] = {
    "scored_notes": ("noteId",),
    "helpfulness_scores": ("raterParticipantId",),
    "note_status_history": ("noteId",),
    "aux_note_info": ("noteId",),
}
#: The prescoring outputs (the official ``prescoring/`` folder), with their keys.
PRESCORING_KEYS: Mapping[str, tuple[str, ...]] = {
    "prescoring_note_model_output": ("noteId", "scorerName"),
    "prescoring_rater_model_output": ("raterParticipantId", "scorerName"),
    "pss_output": ("raterParticipantId",),
}

#: Columns of :func:`compare_columns`' report.
REPORT_COLUMNS = ("kind", "in_ours", "rows", "equal", "agreement", "nan_mismatch", "max_abs", "mean_abs",
                  "pearson", "same_partition")


def read_official_outputs(directory: str | Path) -> dict[str, pd.DataFrame]:
    """The four official output files of one run (``<name>.tsv`` or ``<name>.tsv.gz``).

    Values are read as the TSV holds them (pandas type inference); ids stay text where they
    are not numbers (participant ids are 64-hex strings).
    """
    directory = Path(directory)
    out = {}
    for name in OUTPUT_KEYS:
        for suffix in (".tsv.gz", ".tsv"):
            path = directory / f"{name}{suffix}"
            if path.exists():
                out[name] = pd.read_csv(path, sep="\t", low_memory=False)
                break
        else:
            raise FileNotFoundError(f"{directory}: no {name}.tsv or {name}.tsv.gz")
    return out


def read_prescoring_outputs(directory: str | Path) -> dict[str, pd.DataFrame]:
    """The three prescoring parquet files of a ``prescoring/`` folder (official layout)."""
    directory = Path(directory)
    return {name: pd.read_parquet(directory / f"{name}.parquet") for name in PRESCORING_KEYS}


def read_prescoring_meta(directory: str | Path) -> dict:
    """``prescoring_meta.json`` as a ``{scorerName: {field: value}}`` mapping."""
    with open(Path(directory) / "prescoring_meta.json") as fh:
        meta = json.load(fh)
    return meta.get("metaScorerOutput", meta)


def _as_text(s: pd.Series) -> np.ndarray:
    """Text form used to compare non-numeric columns; missing → ``"<NA>"``; 1.0 and 1 agree."""

    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return "<NA>"
        if isinstance(v, (bool, np.bool_)):
            return str(bool(v))
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)

    return np.array([one(v) for v in s.astype(object).to_numpy()], dtype=object)


def _as_number(s: pd.Series) -> pd.Series | None:
    """``s`` as float64 when every present value is a number (not a boolean), else None."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return None
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    present = s.dropna()
    if len(present) and present.map(lambda v: isinstance(v, (bool, np.bool_)) or v in ("True", "False")).any():
        return None
    num = pd.to_numeric(s, errors="coerce")
    if int(num.notna().sum()) != int(s.notna().sum()):
        return None
    return num.astype("float64")


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` group the rows alike: the same rows missing, and a one-to-one
    map between their labels (cluster ids whose numbering is arbitrary)."""
    if a.dtype == object:  # text form of _as_text
        ma, mb = a == "<NA>", b == "<NA>"
    else:
        ma, mb = np.isnan(a), np.isnan(b)
    if (ma != mb).any():
        return False
    pairs = pd.DataFrame({"a": a[~ma], "b": b[~mb]}).drop_duplicates()
    return bool(pairs["a"].is_unique and pairs["b"].is_unique)


def compare_series(ref: pd.Series, ours: pd.Series) -> dict:
    """Agreement of two aligned columns (same length and row order).

    Returns a dict of the :data:`REPORT_COLUMNS` figures (``in_ours`` excluded). Numbers are
    compared numerically when both sides are numeric (``equal`` counts exact equality, NaN ==
    NaN); anything else as text, where ``max_abs`` etc. are NaN.

    .. math:: \\mathrm{max\\_abs} = \\max_i |r_i - o_i| \\text{ over rows where both are present}
    """
    n = len(ref)
    a, b = _as_number(ref), _as_number(ours)
    if a is not None and b is not None:
        av, bv = a.to_numpy(), b.to_numpy()
        na, nb = np.isnan(av), np.isnan(bv)
        both = ~na & ~nb
        d = np.abs(av[both] - bv[both])
        equal = int(((av == bv) | (na & nb)).sum())
        pearson = np.nan
        if both.sum() >= 3 and np.std(av[both]) > 0 and np.std(bv[both]) > 0:
            pearson = float(np.corrcoef(av[both], bv[both])[0, 1])
        return {"kind": "numeric", "rows": n, "equal": equal, "agreement": equal / n if n else np.nan,
                "nan_mismatch": int((na != nb).sum()),
                "max_abs": float(d.max()) if d.size else np.nan, "mean_abs": float(d.mean()) if d.size else np.nan,
                "pearson": pearson, "same_partition": _same_partition(av, bv)}
    ta, tb = _as_text(ref), _as_text(ours)
    equal = int((ta == tb).sum())
    return {"kind": "text", "rows": n, "equal": equal, "agreement": equal / n if n else np.nan,
            "nan_mismatch": int(((ta == "<NA>") != (tb == "<NA>")).sum()),
            "max_abs": np.nan, "mean_abs": np.nan, "pearson": np.nan, "same_partition": _same_partition(ta, tb)}


def compare_columns(reference: pd.DataFrame, ours: pd.DataFrame, key: str | Sequence[str]) -> pd.DataFrame:
    """Compare every column of ``reference`` with the same column of ``ours``.

    Rows are matched on ``key`` (an inner join; :func:`compare_keys` reports rows present on one
    side only). A column of ``reference`` that ``ours`` lacks is reported with ``in_ours=False``
    and compared against an all-missing column.

    Parameters
    ----------
    reference, ours
        Two versions of one output file.
    key
        Column name(s) identifying a row; unique on both sides.

    Returns
    -------
    pandas.DataFrame
        Indexed by column name (key columns excluded), with :data:`REPORT_COLUMNS`.
    """
    key = [key] if isinstance(key, str) else list(key)
    ref = reference.copy()
    oth = ours.copy()
    for k in key:  # ids: compare as text so that int / str representations join
        if not (pd.api.types.is_integer_dtype(ref[k].dtype) and pd.api.types.is_integer_dtype(oth[k].dtype)):
            ref[k], oth[k] = ref[k].astype(str), oth[k].astype(str)
    for side, frame in (("reference", ref), ("ours", oth)):
        if frame.duplicated(key).any():
            raise ValueError(f"{side}: key {key} is not unique")
    cols = [c for c in ref.columns if c not in key]
    oth_cols = [c for c in cols if c in oth.columns]
    m = ref.merge(oth[key + oth_cols], on=key, how="inner", suffixes=("", "\x00ours"))
    rows = {}
    for c in cols:
        theirs = m[c + "\x00ours"] if c in oth_cols else pd.Series(np.nan, index=m.index)
        rows[c] = {"in_ours": c in oth.columns, **compare_series(m[c], theirs)}
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(REPORT_COLUMNS))


def compare_keys(reference: pd.DataFrame, ours: pd.DataFrame, key: str | Sequence[str]) -> dict[str, int]:
    """Row keys on both sides, on the reference only and on ours only."""
    key = [key] if isinstance(key, str) else list(key)

    def keys(frame):
        return set(map(tuple, frame[key].astype(str).to_numpy().tolist()))

    a, b = keys(reference), keys(ours)
    return {"both": len(a & b), "reference_only": len(a - b), "ours_only": len(b - a)}


def compare_meta(reference: Mapping[str, Mapping], ours: Mapping[str, Mapping]) -> pd.DataFrame:
    """Field-by-field comparison of two ``prescoring_meta.json`` mappings.

    One row per (scorer, field) of ``reference`` with both values and ``abs_diff`` (numbers),
    ``equal`` (exact, or identical mapping for nested fields such as tag thresholds).
    """
    rows = []
    for scorer, fields in reference.items():
        mine = ours.get(scorer)
        for field, value in fields.items():
            other = None if mine is None else mine.get(field)
            diff = np.nan
            if isinstance(value, (int, float)) and isinstance(other, (int, float)) and value is not None:
                diff = abs(float(value) - float(other))
            if isinstance(value, Mapping) and isinstance(other, Mapping):
                equal = set(value) == set(other) and all(
                    np.isclose(float(value[k]), float(other[k]), rtol=0, atol=0) for k in value)
            else:
                equal = value == other
            rows.append({"scorer": scorer, "field": field, "in_ours": mine is not None and field in mine,
                         "official": value, "ours": other, "abs_diff": diff, "equal": bool(equal)})
    return pd.DataFrame(rows)
