"""Local stand-in for ``cnlab.preprocess.preprocess`` (spec 04 §4).

TODO(integration): used only while ``cnlab.preprocess`` is not importable; remove
once the loader developer's module lands.  Implements: helpfulNum (drop NaN),
highVolumeRater (7/28-day 99.9th percentile, ≥ 200 notes), NSH merge_note_info
(outer, sorted by noteId, gains ``classification``) and the misleading-notes filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnlab import schema

DAY = 86_400_000
NOT_MISLEADING_CUTOFF = 1664755200000  # 2022-10-03 UTC


@dataclass(frozen=True)
class Preprocessed:
    notes: pd.DataFrame
    ratings: pd.DataFrame
    status_history: pd.DataFrame
    funnel: Any = field(default=None)


def preprocess(dataset: Any) -> Preprocessed:
    r = dataset.ratings.copy()
    hn = np.full(len(r), np.nan)
    hn[r["helpful"].to_numpy(dtype=np.float64, na_value=0) == 1] = 1.0
    hn[r["notHelpful"].to_numpy(dtype=np.float64, na_value=0) == 1] = 0.0
    lvl = r[schema.HELPFULNESS_LEVEL].astype(object)
    hn[(lvl == schema.NOT_HELPFUL).to_numpy()] = 0.0
    hn[(lvl == schema.SOMEWHAT_HELPFUL).to_numpy()] = 0.5
    hn[(lvl == schema.HELPFUL).to_numpy()] = 1.0
    r[schema.HELPFUL_NUM] = hn.astype(np.float32)
    funnel = [("helpfulNum", len(r))]
    r = r[~np.isnan(hn)]
    funnel.append(("after helpfulNum", len(r)))
    hv = np.zeros(len(r), dtype=bool)
    if r[schema.NOTE_ID].nunique() >= 200:
        t = r[schema.CREATED_AT].to_numpy()
        rid = r[schema.RATER_ID].to_numpy()
        flagged: set = set()
        for days in (7, 28):
            cut = t.max() - days * DAY
            counts = pd.Series(rid[t > cut]).value_counts()
            thr = counts.quantile(0.999)
            flagged |= set(counts.index[counts > thr])
        hv = np.isin(rid, list(flagged))
    r[schema.HIGH_VOLUME_RATER] = hv
    notes = dataset.notes
    nsh = dataset.status_history.drop(columns=[schema.CLASSIFICATION], errors="ignore")
    ncols = notes[[schema.NOTE_ID, schema.CREATED_AT, schema.AUTHOR_ID, schema.CLASSIFICATION]]
    m = nsh.merge(ncols, on=schema.NOTE_ID, how="outer", suffixes=("", "_n"))
    for c in (schema.CREATED_AT, schema.AUTHOR_ID):
        m[c] = m[c].fillna(m[f"{c}_n"]).astype(ncols[c].dtype)
        m = m.drop(columns=[f"{c}_n"])
    m = m.sort_values(schema.NOTE_ID).reset_index(drop=True)
    j = r[[schema.NOTE_ID]].merge(
        m[[schema.NOTE_ID, schema.CREATED_AT, schema.CLASSIFICATION]].rename(
            columns={schema.CREATED_AT: "_c"}), on=schema.NOTE_ID, how="left")
    cls = j[schema.CLASSIFICATION].astype(object)
    keep = ((cls == schema.MISLEADING) | (cls.isna() & j["_c"].notna())
            | ((cls == schema.NOT_MISLEADING) & (j["_c"] > NOT_MISLEADING_CUTOFF))).to_numpy()
    r = r[keep].reset_index(drop=True)
    funnel.append(("after misleading filter", len(r)))
    return Preprocessed(notes, r, m, funnel)


def filter_ratings(ratings: pd.DataFrame, *, min_ratings_per_rater: int,
                   min_raters_per_note: int) -> pd.DataFrame:
    """Spec 01 §2: notes ≥ n, raters ≥ k, notes ≥ n (one pass each)."""
    def notes_ok(r):
        c = r.groupby(schema.NOTE_ID)[schema.NOTE_ID].transform("size")
        return r[c.to_numpy() >= min_raters_per_note]
    r = notes_ok(ratings)
    c = r.groupby(schema.RATER_ID)[schema.RATER_ID].transform("size")
    r = r[c.to_numpy() >= min_ratings_per_rater]
    return notes_ok(r)
