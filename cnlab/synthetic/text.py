"""Note summaries of the synthetic generator: neutral words, topic companion words and seed words.

Notes on a topic post (spec 05 §A.2) get companion words and, usually, a seed word; seed-word
tokens are stop words of the topic model (spec 05 §A.6), so the companion words are what lets it
pass its accuracy guard (spec 05 §A.7).
"""

from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------------------
# Text of summaries
# ---------------------------------------------------------------------------
# Neutral vocabulary: no word starts with a topic seed fragment of spec 05 A.2 and
# no two-letter word equals sc/st/gc/obc/ugc.
_VOCAB = np.array((
    "the a this post claim is was not shows that image video quote from in of and to "
    "according official report data statement source article published older taken "
    "context missing important figure numbers study clip edited account company agency "
    "government website reports confirmed independent fact checkers found no evidence "
    "original photo shows different event location date year years later earlier census "
    "statistic budget law ruling court survey poll sample chart map omits removes "
    "misrepresents misleading satire parody joke opinion product price real fake "
    "manipulated digitally altered generated caption translation speech remark interview "
    "context page records archive database agency spokesperson denied confirmed corrected "
    "retracted updated version full longer shorter crop cropped frame footage weather "
    "storm election vote ballot county city region health vaccine trial paper journal"
).split())
_DOMAINS = np.array(["apnews.com", "reuters.com", "bbc.co.uk", "who.int", "europa.eu",
                     "snopes.com", "wikipedia.org", "nasa.gov", "census.gov", "factcheck.org"])
_SEED_WORDS = {
    "UkraineConflict": ("Ukraine", "Russia", "Kyiv", "Moscow", "Zelensky", "Putin", "Ukrainian", "Russian"),
    "GazaConflict": ("Israel", "Gaza", "Palestinian", "Jerusalem", "Hamas", "Israeli"),
    "MessiRonaldo": ("Messi", "Ronaldo"),
    "Scams": ("scam", "spam", "gambling", "promotion", "dropship", "scammers"),
    "InDimensionTwo": ("UGC", "OBC", "SC", "GC"),
}
# Topic companion vocabulary: words that co-occur with a topic's seed words in real notes.
# The topic model drops every token containing a blocked string of spec 05 A.6 (a seed
# fragment, or "sc", "gc", "ugc", "obc"), so it can only separate topics through words
# like these; none of them contains a blocked string or matches a seed regex (checked by
# tests/test_synthetic.py), and none is in the neutral ``_VOCAB``.
_COMPANION_WORDS = {
    "UkraineConflict": ("kremlin", "crimea", "donbas", "nato", "sanctions", "frontline", "invasion",
                        "missile", "artillery", "kharkiv", "mariupol", "mobilization"),
    "GazaConflict": ("netanyahu", "idf", "hostages", "ceasefire", "rafah", "westbank", "unrwa",
                     "hezbollah", "settlements", "airstrike", "humanitarian", "refugees"),
    "MessiRonaldo": ("football", "goals", "barcelona", "argentina", "juventus", "madrid", "ballon",
                     "transfer", "striker", "penalty", "worldcup", "fifa"),
    "Scams": ("crypto", "bitcoin", "wallet", "giveaway", "phishing", "airdrop", "investment",
              "fraudulent", "impersonation", "lottery", "deposit", "doubling"),
    "InDimensionTwo": ("reservation", "quota", "caste", "dalit", "tribes", "brahmin", "mandal",
                       "backward", "classes", "ambedkar", "creamy", "admissions"),
}


def _summary_draws(w):
    """Random draws for all summaries, made once from their own stream."""
    if "_summ" not in w:
        cfg = w["cfg"]
        rng = np.random.default_rng([cfg.seed, 3])
        N = len(w["note_created"])
        lengths = rng.integers(8, 32, N)
        words = rng.integers(0, len(_VOCAB), int(lengths.sum())).astype(np.int16)
        offs = np.concatenate([[0], np.cumsum(lengths)])
        w["_summ"] = dict(words=words, offs=offs, seed_pos=rng.random(N), seed_pick=rng.random(N),
                          url_dom=rng.integers(0, len(_DOMAINS), N), url_num=rng.integers(10**6, 10**9, N))
        # companion words get their own stream so the draws above do not depend on them
        crng = np.random.default_rng([cfg.seed, 3, 1])
        m = cfg.companion_max
        w["_summ"].update(comp_n=crng.integers(cfg.companion_min, m + 1, N),
                          comp_pick=crng.random((N, m)), comp_pos=crng.random((N, m)))
    return w["_summ"]


def _summaries(w, idx: np.ndarray) -> list[str]:
    """Summaries of notes ``idx``: neutral words; on topic posts also companion words of the
    topic (every note) and a seed word (most notes); a source URL when ``trustworthySources``."""
    d = _summary_draws(w)
    vocab = _VOCAB.tolist()
    domains = _DOMAINS.tolist()
    words, offs = d["words"], d["offs"]
    tnames = w["topic_names"]
    comp_n, comp_pick, comp_pos = d["comp_n"], d["comp_pick"], d["comp_pos"]
    out = []
    for i in idx.tolist():
        ws = [vocab[j] for j in words[offs[i]:offs[i + 1]].tolist()]
        if w["topic"][i] >= 0:
            comp = _COMPANION_WORDS[tnames[w["topic"][i]]]
            for j in range(int(comp_n[i])):
                ws.insert(int(comp_pos[i, j] * (len(ws) + 1)), comp[int(comp_pick[i, j] * len(comp))])
        if w["seedword"][i]:
            cand = _SEED_WORDS[tnames[w["topic"][i]]]
            ws.insert(int(d["seed_pos"][i] * len(ws)), cand[int(d["seed_pick"][i] * len(cand))])
        s = " ".join(ws)
        s = s[0].upper() + s[1:] + "."
        if w["trustworthy"][i]:
            s += f" https://www.{domains[d['url_dom'][i]]}/{d['url_num'][i]}"
        out.append(s)
    return out
