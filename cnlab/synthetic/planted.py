"""The planted model of the synthetic generator: participants, posts, notes and their ratings.

:func:`_build_world` draws everything but the ratings (participants with groups, sides and planted
factors, posts, notes with types, planted intercepts and factors, the coordinated block);
:func:`_ratings_chunk` draws the ratings of a chunk of raters from the latent MF value of spec 01
§4 plus noise, thresholded into helpfulness levels, with tags consistent with level and note type
(spec 04 §2.4 layout). Every random stream is ``default_rng([seed, stream, ...])``.
"""

from __future__ import annotations

import math

import numpy as np

from cnlab import schema
from cnlab.synthetic.config import _DAY, _HOUR, _MINUTE, NOTE_TYPES, TWITTER_EPOCH_MS, SyntheticConfig
from cnlab.synthetic.writer import _TAB, _assemble, _hex_ids, _int_field, _str_table


# ---------------------------------------------------------------------------
# Tag rates per note type (rows follow NOTE_TYPES, columns the schema tag order)
# ---------------------------------------------------------------------------
#                 Other Inform Clear Empath Sources Unique Addr Import Unbiased
_P_HELPFUL = np.array([
    [0.06, 0.05, 0.50, 0.02, 0.45, 0.03, 0.50, 0.65, 0.35],  # bridging
    [0.08, 0.05, 0.40, 0.02, 0.35, 0.03, 0.45, 0.60, 0.15],  # partisan
    [0.09, 0.05, 0.42, 0.02, 0.33, 0.03, 0.42, 0.58, 0.22],  # mediocre
    [0.10, 0.05, 0.40, 0.03, 0.25, 0.03, 0.40, 0.50, 0.22],  # notneeded
    [0.10, 0.05, 0.40, 0.02, 0.30, 0.03, 0.40, 0.55, 0.20],  # incorrect
    [0.10, 0.03, 0.30, 0.02, 0.20, 0.02, 0.30, 0.40, 0.10],  # abusive
], dtype=np.float32)
#  Other Incorr SrcMiss OpSpBias MissKey Outdated Hard Argum OffTopic Spam IrrelSrc OpSpec NotNeeded
_P_NOT_HELPFUL = np.array([
    [0.10, 0.08, 0.20, 0.00, 0.30, 0.02, 0.10, 0.20, 0.03, 0.01, 0.08, 0.20, 0.15],  # bridging
    [0.07, 0.12, 0.22, 0.00, 0.25, 0.02, 0.06, 0.45, 0.03, 0.02, 0.08, 0.40, 0.12],  # partisan
    [0.08, 0.10, 0.28, 0.00, 0.38, 0.03, 0.12, 0.22, 0.04, 0.01, 0.10, 0.20, 0.12],  # mediocre
    [0.08, 0.05, 0.12, 0.00, 0.15, 0.02, 0.06, 0.15, 0.08, 0.01, 0.06, 0.20, 0.60],  # notneeded
    [0.07, 0.60, 0.40, 0.00, 0.25, 0.05, 0.06, 0.15, 0.03, 0.02, 0.15, 0.15, 0.05],  # incorrect
    [0.10, 0.10, 0.10, 0.00, 0.08, 0.01, 0.10, 0.45, 0.25, 0.60, 0.08, 0.15, 0.10],  # abusive
], dtype=np.float32)
_SOMEWHAT_NH_SCALE = np.float32(0.25)
_TOP_HELPFUL = _P_HELPFUL.argmax(axis=1)
_TOP_NOT_HELPFUL = _P_NOT_HELPFUL.argmax(axis=1)
_SOURCES_TAG = schema.HELPFUL_TAGS.index("helpfulGoodSources")

# planted intercept (mean, sd) and |factor1| scale per type
_QUALITY = {"bridging": (1.15, 0.35), "partisan": (0.35, 0.35), "mediocre": (0.05, 0.45),
            "notneeded": (0.0, 0.4), "incorrect": (-1.0, 0.4), "abusive": (-1.7, 0.3)}
_FACTOR_SD = {"bridging": 0.12, "mediocre": 0.3, "notneeded": 0.45, "incorrect": 0.15, "abusive": 0.15}

_N_TAGS = len(schema.ALL_TAGS)


def _tag_thresholds() -> np.ndarray:
    """uint8 thresholds (P·256) per (note type, level, trustworthySources), tags in file order."""
    out = np.zeros((len(NOTE_TYPES) * 3 * 2, _N_TAGS), dtype=np.uint8)
    for t in range(len(NOTE_TYPES)):
        for lvl in range(3):
            for ts in range(2):
                ph = _P_HELPFUL[t].astype(np.float64) * (lvl <= 1)
                ph[_SOURCES_TAG] *= 1.2 if ts else 0.35
                pn = _P_NOT_HELPFUL[t].astype(np.float64) * (1.0, float(_SOMEWHAT_NH_SCALE), 0.0)[2 - lvl]
                p = np.concatenate([ph, pn])
                out[(t * 3 + lvl) * 2 + ts] = np.clip(np.round(p * 256), 0, 255).astype(np.uint8)
    return out


_TAG_THRESHOLDS = _tag_thresholds()

_LEVELS = (schema.HELPFUL, schema.SOMEWHAT_HELPFUL, schema.NOT_HELPFUL)
_LEVEL_TABLE = _str_table(_LEVELS)
_SOURCE_TABLE = _str_table(schema.RATING_SOURCES)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _choice_from_mix(rng, mix, n):
    names = [m[0] for m in mix]
    w = np.array([m[1] for m in mix], dtype=np.float64)
    return names, rng.choice(len(names), size=n, p=w / w.sum())


def _snowflake(rng, millis: np.ndarray) -> np.ndarray:
    """Unique snowflake-style ids for the given creation times (bumping ms on a clash)."""
    ms = millis.astype(np.int64).copy()
    low = rng.integers(0, 1 << 22, size=len(ms), dtype=np.int64)
    while True:
        ids = ((ms - TWITTER_EPOCH_MS) << 22) | low
        _, first, counts = np.unique(ids, return_index=True, return_counts=True)
        if (counts == 1).all():
            return ids
        dup = np.ones(len(ids), dtype=bool)
        dup[first] = False
        low[dup] = rng.integers(0, 1 << 22, size=int(dup.sum()), dtype=np.int64)


def _allocate(weights: np.ndarray, total: int, cap: int) -> np.ndarray:
    """Integer counts ∝ ``weights`` summing to ``total`` with each ≤ ``cap`` (water filling,
    then largest remainders; ties by index)."""
    n = len(weights)
    total = int(min(total, cap * n))
    counts = np.zeros(n, dtype=np.int64)
    if total <= 0 or n == 0:
        return counts
    w = weights.astype(np.float64)
    capped = np.zeros(n, dtype=bool)
    for _ in range(100):
        free = ~capped
        budget = total - cap * capped.sum()
        e = np.where(free, budget * w / w[free].sum(), cap)
        over = free & (e > cap)
        if not over.any():
            break
        capped |= over
    base = np.floor(e).astype(np.int64)
    base = np.minimum(base, cap)
    rest = total - int(base.sum())
    if rest > 0:
        frac = np.where(base < cap, e - base, -1.0)
        order = np.argsort(-frac, kind="stable")[:rest]
        base[order] += 1
    return base


# ---------------------------------------------------------------------------
# World: participants, posts, notes (everything but the ratings)
# ---------------------------------------------------------------------------
def _build_world(cfg: SyntheticConfig) -> dict:
    rng = np.random.default_rng([cfg.seed, 1])
    R, N, k = cfg.n_raters, cfg.n_notes, cfg.n_factors
    now = cfg.now_millis
    w: dict = {"cfg": cfg, "now": now}

    # ---- participants ----
    w["pid_hex"] = _hex_ids(rng, R)
    u = rng.random(R)
    unenrolled = u < cfg.unenrolled_fraction
    nogroup = (~unenrolled) & (u < cfg.unenrolled_fraction + cfg.no_group_fraction)
    gnames, gidx = _choice_from_mix(rng, cfg.group_mix, R)
    groups = np.array(gnames, dtype=np.int64)[gidx]
    groups[unenrolled | nogroup] = -1
    w["enrolled"] = ~unenrolled
    w["group"] = groups  # -1: no group (or unenrolled)
    all_groups = np.array(sorted(set(gnames)), dtype=np.int64)
    lean = dict(zip(all_groups.tolist(), rng.uniform(-cfg.group_lean, cfg.group_lean, len(all_groups))))
    p_pos = np.array([0.5 + lean.get(int(g), 0.0) for g in groups])
    side = np.where(rng.random(R) < p_pos, 1, -1)
    centrist = rng.random(R) < cfg.centrist_fraction
    fu = np.empty((R, k))
    fu[:, 0] = np.where(centrist, rng.normal(0, 0.15, R), side * np.clip(rng.normal(0.75, 0.3, R), 0.1, None))
    if k > 1:
        fu[:, 1:] = rng.normal(0, 0.6, (R, k - 1))
    low_dil = rng.random(R) < cfg.low_diligence_fraction
    leniency = rng.normal(0, cfg.leniency_sd, R) + np.where(low_dil, 0.8, 0.0)
    noise = cfg.noise_median * np.exp(rng.normal(0, cfg.noise_log_sd, R)) * np.where(low_dil, 2.5, 1.0)
    activity = np.exp(rng.normal(0, cfg.activity_sigma, R))
    writer = rng.random(R) < cfg.writer_fraction
    if not writer.any():
        writer[0] = True
    w.update(side=side, centrist=centrist, fu=fu, low_dil=low_dil, leniency=leniency, noise=noise,
             activity=activity, writer=writer)

    # ---- enrollment fields ----
    states = np.array(["earnedIn", "newUser", "atRisk", "earnedOutNoAcknowledge", "earnedOutAcknowledged"])
    st = rng.choice(len(states), size=R, p=[0.55, 0.39, 0.02, 0.02, 0.02])
    times_out = np.where(st >= 3, rng.integers(1, 3, R), np.where(rng.random(R) < 0.02, 1, 0))
    last_change = rng.integers(cfg.start_millis - 180 * _DAY, now - _HOUR, R)
    last_out = np.where(times_out > 0, last_change - rng.integers(0, 30 * _DAY, R), 1)
    w.update(enroll_state=st, enroll_states=states, times_out=times_out,
             last_change=last_change, last_out=last_out)

    # ---- posts ----
    n_posts = max(1, int(round(N / cfg.notes_per_post)))
    post_time = rng.integers(cfg.start_millis, now - 2 * _HOUR, n_posts)
    post_pop = np.exp(rng.normal(0, 0.8, n_posts))
    # post group ∝ total activity of the group's enrolled raters
    gw = np.array([activity[groups == g].sum() for g in all_groups])
    if gw.sum() <= 0:
        gw = np.ones(len(all_groups))
    post_group = all_groups[rng.choice(len(all_groups), size=n_posts, p=gw / gw.sum())]
    tnames, tidx = _choice_from_mix(rng, cfg.topic_mix, n_posts)
    post_topic = np.where(rng.random(n_posts) < cfg.topic_fraction, tidx, -1)
    post_id = _snowflake(rng, post_time)

    # ---- notes ----
    note_post = rng.choice(n_posts, size=N, p=post_pop / post_pop.sum())
    delay = rng.exponential(8 * _HOUR, N).astype(np.int64) + _MINUTE
    created = post_time[note_post] + delay
    late = created >= now - _MINUTE
    created[late] = post_time[note_post][late] + (
        rng.random(late.sum()) * (now - _MINUTE - post_time[note_post][late])).astype(np.int64)
    order = np.argsort(created, kind="stable")  # note index = creation order
    note_post, created = note_post[order], created[order]
    tnames_types, ntype = _choice_from_mix(rng, cfg.note_type_mix, N)
    type_code = np.array([NOTE_TYPES.index(t) for t in tnames_types])[ntype]
    quality = np.empty(N)
    fn = np.zeros((N, k))
    for ti, tname in enumerate(NOTE_TYPES):
        m = type_code == ti
        mu_q, sd_q = _QUALITY[tname]
        quality[m] = rng.normal(mu_q, sd_q, m.sum())
        if tname == "partisan":
            fn[m, 0] = rng.choice([-1.0, 1.0], m.sum()) * np.clip(rng.normal(1.1, 0.25, m.sum()), 0.3, None)
        else:
            fn[m, 0] = rng.normal(0, _FACTOR_SD[tname], m.sum())
    topic = post_topic[note_post]
    dim2 = topic == tnames.index("InDimensionTwo") if "InDimensionTwo" in tnames else np.zeros(N, bool)
    if k > 1:
        fn[:, 1:] = rng.normal(0, 0.1, (N, k - 1))
        fn[dim2, 1] = rng.choice([-1.0, 1.0], dim2.sum()) * np.clip(rng.normal(1.0, 0.25, dim2.sum()), 0.3, None)
        fn[dim2, 0] *= 0.3
    notneeded = type_code == NOTE_TYPES.index("notneeded")
    not_misleading = np.where(notneeded, rng.random(N) < 0.9, rng.random(N) < 0.03)
    trustworthy = rng.random(N) < np.where(type_code == 0, 0.85, 0.5)
    media = rng.random(N) < 0.05
    seedword = (topic >= 0) & (rng.random(N) < cfg.seed_word_rate)
    deleted = rng.random(N) < cfg.deleted_fraction
    note_id = _snowflake(rng, created)
    tweet_id = post_id[note_post]

    # authors: writers with Zipf-like weights
    writers = np.flatnonzero(writer)
    wz = 1.0 / np.arange(1, len(writers) + 1) ** 1.1
    author = writers[rng.permutation(len(writers))][rng.choice(len(writers), size=N, p=wz / wz.sum())]

    # note exposure: popularity, with fewer ratings for notes created shortly before "now"
    age_h = (now - created) / _HOUR
    exposure = np.exp(rng.normal(0, 1.0, N)) * np.sqrt(post_pop[note_post]) * np.minimum(1.0, age_h / 72.0) ** 0.7

    # coordinated block and its targets
    coord = np.zeros(R, dtype=bool)
    target = np.zeros(N, dtype=bool)
    nb = min(cfg.coordinated_block_size, R // 4)
    if nb > 0 and cfg.coordinated_n_targets > 0:
        cand_r = np.flatnonzero(~writer & ~low_dil)
        if len(cand_r) >= nb:
            coord[rng.choice(cand_r, nb, replace=False)] = True
        cand_n = np.flatnonzero(((type_code == 1) | (type_code == 2)) & (quality < 0.3)
                                & (created < now - 12 * _HOUR) & ~deleted)
        nt = min(cfg.coordinated_n_targets, len(cand_n))
        if coord.any() and nt > 0:
            target[rng.choice(cand_n, nt, replace=False)] = True
        else:
            coord[:] = False
    w.update(n_posts=n_posts, note_post=note_post, note_created=created, type_code=type_code,
             quality=quality, fn=fn, topic=topic, topic_names=tnames, post_group=post_group[note_post],
             not_misleading=not_misleading, trustworthy=trustworthy, media=media, seedword=seedword,
             deleted=deleted, note_id=note_id, tweet_id=tweet_id, author=author, exposure=exposure,
             coord=coord, target=target)

    # ---- per-rating budget per rater ----
    n_coord_pairs = int(coord.sum() * target.sum())
    budget = max(0, cfg.n_ratings - n_coord_pairs)
    cap = max(1, min(N - 1, max(int(cfg.max_rated_fraction * N), -(-budget // R))))
    counts = _allocate(activity, budget, cap)
    w["counts"] = counts
    w["n_coord_pairs"] = n_coord_pairs
    tot = counts + np.where(coord, target.sum(), 0)
    cum = np.concatenate([[0], np.cumsum(tot)])
    nchunks = max(1, int(math.ceil(cum[-1] / cfg.chunk_ratings)))
    bnd = np.searchsorted(cum, np.arange(1, nchunks) * cfg.chunk_ratings, side="left")
    w["chunk_bounds"] = np.unique(np.concatenate([[0], bnd, [R]]))

    # ---- sampling structure: a table of note indices, each note repeated ∝ its exposure
    # (systematic rounding), notes ordered by post group so that a group's notes form one
    # contiguous segment; sampling is then one uniform integer per candidate ----
    order_g = np.argsort(w["post_group"], kind="stable")
    cw0 = np.concatenate([[0.0], np.cumsum(exposure[order_g])])
    size = int(max(8 * N, 1 << 16))
    pos = np.floor(cw0 / cw0[-1] * size).astype(np.int64)
    table = np.repeat(order_g.astype(np.int32), np.diff(pos))
    gsorted = w["post_group"][order_g]
    lo_idx = np.searchsorted(gsorted, all_groups, side="left")
    hi_idx = np.searchsorted(gsorted, all_groups, side="right")
    gi = {int(g): i for i, g in enumerate(all_groups)}
    rg = np.array([gi.get(int(g), -1) for g in groups], dtype=np.int64)
    rgc = np.maximum(rg, 0)
    lo_t, hi_t = pos[lo_idx][rgc], pos[hi_idx][rgc]
    has = (rg >= 0) & (hi_t > lo_t)
    w.update(table=table, rater_lo_t=np.where(has, lo_t, 0), rater_span_t=np.where(has, hi_t - lo_t, len(table)),
             rater_has_group=has)

    # ---- pre-formatted per-note / per-participant bytes ----
    w["note_id_txt"] = _int_field(note_id)
    w["tweet_id_txt"] = _int_field(tweet_id)
    return w


# ---------------------------------------------------------------------------
# Ratings
# ---------------------------------------------------------------------------
def _sample_notes(w, rng, raters: np.ndarray) -> np.ndarray:
    """One candidate note per entry of ``raters`` (own-group pool w.p. ``group_affinity``)."""
    cfg = w["cfg"]
    m = len(raters)
    aff = np.where(w["group"][raters] == 13, cfg.initial_group_affinity, cfg.group_affinity)
    own = (rng.random(m) < aff) & w["rater_has_group"][raters]
    table = w["table"]
    lo = np.where(own, w["rater_lo_t"][raters], 0)
    span = np.where(own, w["rater_span_t"][raters], len(table))
    idx = lo + (rng.random(m) * span).astype(np.int64)
    return table[np.minimum(idx, len(table) - 1)].astype(np.int64)


def _ratings_chunk(cfg, w, ci: int, a: int, b: int):
    """All ratings of raters [a, b): (rater, note, time, level, tags (n, 22) bool, source)."""
    rng = np.random.default_rng([cfg.seed, 7, ci])
    N = len(w["note_created"])
    need = w["counts"][a:b]
    nr = b - a
    author, coord, target = w["author"], w["coord"], w["target"]

    sel_r = np.empty(0, dtype=np.int64)
    sel_n = np.empty(0, dtype=np.int64)
    have = np.zeros(nr, dtype=np.int64)
    for rnd in range(12):
        deficit = need - have
        todo = np.flatnonzero(deficit > 0)
        if len(todo) == 0:
            break
        m = np.ceil(deficit[todo] * (1.3 if rnd == 0 else 2.0)).astype(np.int64) + 2
        cr = np.repeat(todo, m)
        if rnd < 4:
            cn = _sample_notes(w, rng, cr + a)
        else:  # stubborn deficits (heavy raters, small pools): fall back to uniform notes
            cn = rng.integers(0, N, len(cr))
        ok = (author[cn] != cr + a) & ~(coord[cr + a] & target[cn])
        cr, cn = cr[ok], cn[ok]
        if rnd == 0:
            all_r, all_n = cr, cn
        else:
            # keep the picks of finished raters; redo the rest with old picks first
            keep = need[sel_r] <= have[sel_r]
            all_r = np.concatenate([sel_r[~keep], cr])
            all_n = np.concatenate([sel_n[~keep], cn])
        key = all_r * N + all_n
        _, first = np.unique(key, return_index=True)
        first.sort()  # generation order (old picks first, then random candidate order)
        ur, un = all_r[first], all_n[first]
        o = np.argsort(ur, kind="stable")
        ur, un = ur[o], un[o]
        starts = np.concatenate([[0], np.cumsum(np.bincount(ur, minlength=nr))[:-1]])
        rank = np.arange(len(ur)) - starts[ur]
        take = rank < need[ur]
        ur, un = ur[take], un[take]
        if rnd == 0:
            sel_r, sel_n = ur, un
        else:
            sel_r = np.concatenate([sel_r[keep], ur])
            sel_n = np.concatenate([sel_n[keep], un])
        have = np.bincount(sel_r, minlength=nr)

    r = sel_r + a
    n = sel_n
    # coordinated block: every target, HELPFUL, within minutes of creation
    cblock = np.flatnonzero(coord[a:b]) + a
    tgt = np.flatnonzero(target)
    is_coord = np.zeros(len(r), dtype=bool)
    if len(cblock) and len(tgt):
        r = np.concatenate([r, np.repeat(cblock, len(tgt))])
        n = np.concatenate([n, np.tile(tgt, len(cblock))])
        is_coord = np.concatenate([is_coord, np.ones(len(cblock) * len(tgt), dtype=bool)])
    cnt = len(r)

    # latent rating
    mean = cfg.global_mean + w["leniency"][r] + w["quality"][n] + np.einsum("ij,ij->i", w["fu"][r], w["fn"][n])
    y = mean + w["noise"][r] * rng.standard_normal(cnt)
    lvl = np.where(y > cfg.somewhat_band, 0, np.where(y < -cfg.somewhat_band, 2, 1)).astype(np.int8)
    lvl[is_coord] = 0

    # tags consistent with the level
    tc = w["type_code"][n]
    row = (tc * 3 + lvl) * 2 + w["trustworthy"][n]
    draws = np.frombuffer(rng.bytes(cnt * _N_TAGS), dtype=np.uint8).reshape(cnt, _N_TAGS)
    tags = draws < _TAG_THRESHOLDS[row]
    nh = len(schema.HELPFUL_TAGS)
    no_h = (lvl <= 1) & ~tags[:, :nh].any(axis=1)
    tags[np.flatnonzero(no_h), _TOP_HELPFUL[tc[no_h]]] = True
    no_n = (lvl == 2) & ~tags[:, nh:].any(axis=1)
    tags[np.flatnonzero(no_n), nh + _TOP_NOT_HELPFUL[tc[no_n]]] = True

    # source and time
    src = ((rng.random(cnt) < cfg.population_sampled_fraction) & ~is_coord).astype(np.int8)
    created = w["note_created"][n]
    now = w["now"]
    med = cfg.rating_delay_median_hours * _HOUR
    delay = np.exp(rng.normal(np.log(med), cfg.rating_delay_log_sd, cnt))
    cdelay = rng.uniform(_MINUTE, cfg.coordinated_max_delay_minutes * _MINUTE, cnt)
    delay = np.where(is_coord, cdelay, delay)
    span = (now - 1 - created).astype(np.float64)
    delay = np.where(delay < span, delay, rng.random(cnt) * span)
    t = created + np.maximum(delay.astype(np.int64), 1)
    t = np.minimum(t, now - 1)

    # by rater, then time (ties keep generation order)
    if b - a < (1 << 22) and cfg.now_millis - cfg.start_millis < (1 << 40):
        o = np.argsort(((r - a).astype(np.int64) << 40) | (t - cfg.start_millis), kind="stable")
    else:
        o = np.lexsort((t, r))
    return r[o], n[o], t[o], lvl[o], tags[o], src[o]


def _format_ratings(w, r, n, t, lvl, tags, src, rowlen=False):
    cnt = len(r)
    tg = np.empty((cnt, 2 * tags.shape[1]), dtype=np.uint8)
    tg[:, 0::2] = tags.view(np.uint8) + 48
    tg[:, 1::2] = _TAB
    parts = [
        w["note_id_txt"][n], b"\t", w["pid_hex"][r], b"\t", _int_field(t),
        b"\t2\t0\t0\t0\t0\t", _LEVEL_TABLE[lvl], b"\t", tg,
        w["tweet_id_txt"][n], b"\t", _SOURCE_TABLE[src], b"\t\t\n",
    ]
    return _assemble(parts, cnt, rowlen)
