"""The notes, note-status-history and enrollment files of a synthetic data set, and its truth tables.

Layouts: spec 04 §2.3 (notes), §2.5 (noteStatusHistory, with a planted prior history of statuses,
§13) and §2.6 (userEnrollment); the truth tables hold the planted parameters
(:class:`cnlab.synthetic.SyntheticTruth`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab.synthetic.config import _DAY, _HOUR, _MINUTE, CORE_MODEL_RULE, NOTE_TYPES
from cnlab.synthetic.text import _summaries
from cnlab.synthetic.writer import (
    _categorical,
    _flag_field,
    _hex_column,
    _int_field,
    _str_table,
    _table,
    _write_table,
)


def _write_notes(out: Path, w, level, suffix) -> Path:
    cfg = w["cfg"]
    rng = np.random.default_rng([cfg.seed, 2])
    N = len(w["note_created"])
    nm = w["not_misleading"]
    mis_p = np.array([0.04, 0.42, 0.015, 0.06, 0.59, 0.24, 0.025])
    nm_p = np.array([0.37, 0.5, 0.05, 0.12, 0.35])
    mis = (rng.random((N, 7)) < mis_p) & ~nm[:, None]
    mis[:, 2] |= w["media"] & ~nm & (rng.random(N) < 0.5)
    mis[~nm & ~mis.any(axis=1), 4] = True
    nmf = (rng.random((N, 5)) < nm_p) & nm[:, None]
    nmf[nm & ~nmf.any(axis=1), 1] = True
    cls_table = _str_table(schema.CLASSIFICATIONS)

    def fields(ix):
        f = [w["note_id_txt"][ix], w["pid_hex"][w["author"][ix]], _int_field(w["note_created"][ix]),
             w["tweet_id_txt"][ix], cls_table[nm[ix].astype(np.int64)], None, None, None]
        f += [_flag_field(mis[ix, j]) for j in range(7)]
        f += [_flag_field(nmf[ix, j]) for j in range(5)]
        f += [_flag_field(w["trustworthy"][ix]), _str_table(_summaries(w, ix)), _flag_field(w["media"][ix]),
              _flag_field(np.zeros(len(ix), dtype=np.uint8))]
        return f

    p = out / f"notes-00000{suffix}"
    _write_table(p, schema.NOTES_FILE_COLUMNS, np.flatnonzero(~w["deleted"]), fields, level, step=50_000)
    return p


def _history(cfg, w):
    """Per-note prior status history: state code and timestamps (spec 04 §2.5, §13)."""
    rng = np.random.default_rng([cfg.seed, 4])
    N = len(w["note_created"])
    created = w["note_created"]
    now = w["now"]
    last_run = now - int(cfg.fresh_hours * _HOUR)
    tc = w["type_code"]
    scored = created < last_run
    old_enough = created < last_run - 6 * _HOUR
    u = rng.random(N)
    # probabilities of (crh, flipped, crnh) by type
    p = np.array([[0.55, 0.15, 0.0], [0.02, 0.08, 0.0], [0.03, 0.03, 0.02],
                  [0.0, 0.01, 0.10], [0.0, 0.0, 0.35], [0.0, 0.0, 0.35]])[tc]
    c = np.cumsum(p, axis=1)
    state = np.full(N, 1, dtype=np.int8)  # 0 fresh, 1 nmr, 2 crh, 3 flipped, 4 crnh
    state[old_enough & (u < c[:, 0])] = 2
    state[old_enough & (u >= c[:, 0]) & (u < c[:, 1])] = 3
    state[old_enough & (u >= c[:, 1]) & (u < c[:, 2])] = 4
    state[~scored] = 0
    room = (last_run - created).astype(np.float64)
    t1 = created + (np.minimum(rng.uniform(3, 36, N) * _HOUR, room * 0.5)).astype(np.int64)
    t2 = t1 + (np.minimum(rng.uniform(2, 120, N) * _HOUR, (last_run - t1) * 0.5)).astype(np.int64)
    tpre = t1 - np.minimum(rng.uniform(30, 120, N) * _MINUTE, (t1 - created) * 0.5).astype(np.int64)
    lock_t = created + 14 * _DAY + rng.integers(0, _HOUR, N)
    locked = lock_t < last_run
    return dict(state=state, last_run=last_run, t1=t1, t2=t2, tpre=tpre, lock_t=lock_t, locked=locked)


_HISTORY_NAMES = ("fresh", "nmr", "crh", "flipped", "crnh")


def _write_nsh(out: Path, cfg, w, level, suffix) -> Path:
    h = _history(cfg, w)
    w["history"] = h
    N = len(w["note_created"])
    st = h["state"]
    scored = st > 0
    ever = st >= 2
    crh_ever = (st == 2) | (st == 3)
    status_tab = _str_table(["", schema.NMR, schema.CRH, schema.CRNH])
    # current status: nmr / crh / nmr (flipped) / crnh
    cur = np.select([st == 1, st == 2, st == 3, st == 4], [1, 2, 1, 3], 0)
    first = np.select([crh_ever, st == 4], [2, 3], 0)
    lockc = np.where(h["locked"] & ever, np.select([st == 2, st == 3, st == 4], [2, 1, 3], 0), 0)
    recent_change = np.select([st == 1, st == 2, st == 3, st == 4], [-1, h["t1"], h["t2"], h["t1"]], 0)
    decided_tab = _str_table(["", CORE_MODEL_RULE])
    lock_ok = h["locked"] & ever

    def fields(ix):
        n = len(ix)
        last_run = np.full(n, h["last_run"], dtype=np.int64)
        zeros = np.zeros(n, dtype=np.int64)
        minus1 = np.full(n, -1, dtype=np.int64)
        sc, ev = scored[ix], ever[ix]
        return [
            w["note_id_txt"][ix], w["pid_hex"][w["author"][ix]], _int_field(w["note_created"][ix]),
            _int_field(h["t1"][ix], ev), status_tab[first[ix]],                 # first non-NMR
            _int_field(last_run, sc), status_tab[cur[ix]],                      # current
            _int_field(h["t1"][ix], ev), status_tab[first[ix]],                 # latest non-NMR
            _int_field(h["lock_t"][ix], lock_ok[ix]), status_tab[lockc[ix]],    # lock
            None,                                                               # retro lock
            status_tab[cur[ix]], None, None,                                    # core / expansion / group
            decided_tab[sc.astype(np.int64)], _int_field(zeros, sc),           # decidedBy, modelingGroup
            _int_field(recent_change[ix], sc),                                  # most recent change
            _int_field(minus1, ev),                                             # NMR due to min stable CRH
            None, _int_field(zeros, sc),                                        # multi-group status, group
            None,                                                               # minute of final scoring
            _int_field(h["tpre"][ix], crh_ever[ix]),                            # first NMR due to min stable
            _int_field(minus1, ev),                                             # above PCRH threshold
        ]

    p = out / f"noteStatusHistory-00000{suffix}"
    _write_table(p, schema.NOTE_STATUS_HISTORY_FILE_COLUMNS, np.arange(N), fields, level)
    return p



def _write_enrollment(out: Path, w, level, suffix) -> Path:
    pop_tab = _str_table(schema.MODELING_POPULATIONS)
    st_tab = _str_table(list(w["enroll_states"]))
    expansion = list(schema.EXPANSION_GROUPS | schema.EXPANSION_PLUS_GROUPS)

    def fields(ix):
        g = w["group"][ix]
        pop = np.isin(g, expansion).astype(np.int64)
        times_out = w["times_out"][ix]
        return [
            w["pid_hex"][ix], st_tab[w["enroll_state"][ix]], _int_field(5 + 5 * times_out),
            _int_field(w["last_change"][ix]), _int_field(w["last_out"][ix]), pop_tab[pop],
            _int_field(g, g >= 0), _int_field(times_out),
        ]

    p = out / f"userEnrollment-00000{suffix}"
    _write_table(p, schema.ENROLLMENT_FILE_COLUMNS, np.flatnonzero(w["enrolled"]), fields, level)
    return p


def _truth_frames(cfg, w, note_count, note_hsum, rater_count):
    k = cfg.n_factors
    tn = w["topic_names"]
    topic = _categorical(np.where(w["topic"] >= 0, w["topic"] + 1, 0), ["none"] + list(tn))
    notes = {
        "noteId": w["note_id"], "tweetId": w["tweet_id"], "noteAuthorParticipantId": _hex_column(w["pid_hex"], w["author"]),
        "noteType": _categorical(w["type_code"], NOTE_TYPES), "trueQuality": w["quality"],
    }
    for j in range(k):
        notes[f"trueFactor{j + 1}"] = w["fn"][:, j]
    notes.update({
        "topic": topic, "topicSeedWord": w["seedword"].astype(np.int8),
        "classification": _categorical(w["not_misleading"].astype(np.int64), schema.CLASSIFICATIONS),
        "createdAtMillis": w["note_created"], "numRatings": note_count,
        "meanHelpfulNum": np.where(note_count > 0, note_hsum / np.maximum(note_count, 1), np.nan),
        "coordinatedTarget": w["target"].astype(np.int8), "postGroup": w["post_group"],
        "historyState": _categorical(w["history"]["state"], _HISTORY_NAMES),
        "deleted": w["deleted"].astype(np.int8), "trustworthySources": w["trustworthy"].astype(np.int8),
    })
    raters = {"participantId": _hex_column(w["pid_hex"], np.arange(cfg.n_raters))}
    for j in range(k):
        raters[f"trueFactor{j + 1}"] = w["fu"][:, j]
    grp = pd.array(np.where(w["group"] >= 0, w["group"], 0), dtype="Int64")
    grp[~(w["group"] >= 0)] = pd.NA
    pop = _categorical(np.where(~w["enrolled"], 0, np.where(
        np.isin(w["group"], list(schema.EXPANSION_GROUPS | schema.EXPANSION_PLUS_GROUPS)), 2, 1)),
        ("",) + schema.MODELING_POPULATIONS)
    raters.update({
        "side": w["side"], "centrist": w["centrist"].astype(np.int8), "leniency": w["leniency"],
        "noiseScale": w["noise"], "lowDiligence": w["low_dil"].astype(np.int8),
        "activityWeight": w["activity"], "numRatings": rater_count,
        "numNotesWritten": np.bincount(w["author"], minlength=cfg.n_raters),
        "isWriter": w["writer"].astype(np.int8), "coordinated": w["coord"].astype(np.int8),
        "enrolled": w["enrolled"].astype(np.int8), "modelingPopulation": pop, "modelingGroup": grp,
    })
    return _table(notes), _table(raters)
