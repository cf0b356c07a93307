"""Seeded topic model for notes (spec 05 §A).

Notes are grouped by the post (``tweetId``) they annotate; the text of all
notes on a post is labelled with a small set of seed-term regexes; a
bag-of-words classifier (scikit-learn ``CountVectorizer`` → ``TfidfTransformer``
→ multinomial ``LogisticRegression``) trained on those labels then extends
or revokes them.  Tokens that contain a seed term are removed from the
features so the classifier must learn from *other* words.

Pipeline
--------
1. :func:`prepare_post_text` (§A.4): concatenate summaries per post, shrink
   URLs to their long alphabetic runs, replace ``_`` and ``/`` by spaces.
2. :func:`seed_labels` (§A.5): one topic matched → that topic; none →
   ``Unassigned``; several → ``Unassigned`` and *conflicted*.
3. :func:`stop_words` (§A.6): every vocabulary token containing a blocked
   string derived from a seed term (substring rule).
4. :func:`train_topic_classifier` (§A.6): fit on non-conflicted posts.
5. :func:`assign_topics` (§A.7): probabilities, accuracy guard, label merge
   (seed label kept unless ``p(seed) < 0.01``; 0.02 for InDimensionTwo),
   conflicted posts resolved to their most probable matched topic.

This is the only module of cnlab that uses scikit-learn (allowed by the
developer guide because the official model *is* this sklearn pipeline).

Examples
--------
>>> import pandas as pd
>>> notes = pd.DataFrame({"noteId": [1, 2], "tweetId": [10, 11],
...                       "summary": ["Putin said", "a scam https://x.com/tos"]})
>>> post = prepare_post_text(notes)
>>> post["text"].tolist()
['Putin said', 'a scam https:  x.com tos']
>>> seed_labels(post["text"]).labels.tolist()
[1, 4]
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cnlab import schema
from cnlab._compat.sklearn102_logistic import summed_loss_tol

__all__ = [
    "SEED_TERMS",
    "TOPIC_IDS",
    "TopicConfig",
    "TopicModelError",
    "TopicAccuracyError",
    "SeedLabels",
    "TopicClassifier",
    "TopicAssignment",
    "TopicModel",
    "compile_seed_regex",
    "fit_assign_topics",
    "filter_url_tokens",
    "prepare_post_text",
    "seed_labels",
    "tokenize",
    "blocked_strings",
    "stop_words",
    "train_topic_classifier",
    "predict_post_topics",
    "assign_topics",
]

NOTE_TOPIC = "noteTopic"

#: Topic name → integer id (``enums.Topics``, spec 05 §A.1).
TOPIC_IDS: dict[str, int] = {name: i for i, name in enumerate(schema.TOPICS)}
UNASSIGNED = 0

#: Seed-term regex fragments per topic, exactly as spec 05 §A.2.  The official
#: code stores each topic's terms in a Python *set*; we keep the listed order
#: (alternative order can only change which alternative matches, not which
#: topics match — spec 05 §D.9).
SEED_TERMS: dict[str, tuple[str, ...]] = {
    "UkraineConflict": ("ukrain", "russia", "kiev", "kyiv", "moscow", "zelensky", "putin"),
    "GazaConflict": ("israel", "palestin", "gaza", "jerusalem", r"\bhamas\b"),
    "MessiRonaldo": (r"messi\b", "ronaldo"),
    "Scams": (
        "scam",
        r"undisclosed\sad",
        r"terms\sof\sservice",
        r"help\.x\.com",
        r"x\.com/tos",
        r"engagement\sfarm",
        "spam",
        "gambling",
        "apostas",
        "apuestas",
        "dropship",
        r"drop\sship",
        "promotion",
    ),
    "InDimensionTwo": (
        r"\bugc\b",
        r"\bgc\b",
        r"\bobc\b",
        r"\bsc\b",
        r"\bsc[,\s]+st\b",
        r"\bst[,\s]+sc\b",
        "आरक्षण",
    ),
}


@dataclass(frozen=True)
class TopicConfig:
    """Constants of the topic model (spec 05 §A).

    Attributes
    ----------
    unassigned_threshold
        Official ``TopicModel(unassignedThreshold=0.99)``: a seed-labelled post
        keeps its topic iff ``1 - p(topic) <= threshold`` (i.e. ``p >= 0.01``).
    in_dimension_two_threshold
        Official ``_unassignedThreshold[Topics.InDimensionTwo] = 0.98``.
    min_balanced_accuracy
        Official ``validate_note_topic_accuracy_on_seed_labels`` guard:
        balanced accuracy of argmax predictions on non-conflicted posts must be
        strictly greater than 0.35.
    url_min_token_length
        Official ``_filter_url_tokens(min_token_length=4)``.
    large_corpus_posts
        Official ``min_df = 1 if len(postText) < 2000 else 25``: the post count
        at which ``min_df`` switches.
    min_df_small, min_df_large
        The two ``min_df`` values of that rule (absolute document counts).
    max_df_floor, max_df_fraction
        Official ``max_df = max(1000, int(0.25 * len(postText)))`` (absolute).
    max_iter
        Official ``LogisticRegression(max_iter=1000)``.
    C
        ``LogisticRegression`` default inverse L2 strength (1.0), official default.
    tol
        ``LogisticRegression`` default ``tol=1e-4`` (official default, sklearn 1.0.2).
    tol_per_sample
        sklearn 1.0.2 (the official pin) minimised the *sum* of log-losses,
        so lbfgs' gradient tolerance applied to an n-times larger gradient;
        sklearn ≥ 1.2 minimises the *mean*.  When True the tolerance passed to
        sklearn is ``tol / n_train`` to reproduce the official stopping point
        (on the fixture this changes one near-tie post; parity needs it;
        :mod:`cnlab._compat.sklearn102_logistic`).
    """

    unassigned_threshold: float = 0.99
    in_dimension_two_threshold: float = 0.98
    min_balanced_accuracy: float = 0.35
    url_min_token_length: int = 4
    large_corpus_posts: int = 2000
    min_df_small: int = 1
    min_df_large: int = 25
    max_df_floor: int = 1000
    max_df_fraction: float = 0.25
    max_iter: int = 1000
    C: float = 1.0
    tol: float = 1e-4
    tol_per_sample: bool = True

    def threshold(self, topic_id: int) -> float:
        """Unassigned threshold of a topic id (1..5)."""
        if topic_id == TOPIC_IDS["InDimensionTwo"]:
            return self.in_dimension_two_threshold
        return self.unassigned_threshold


class TopicModelError(RuntimeError):
    """The topic classifier cannot be trained or applied on these notes."""


class TopicAccuracyError(TopicModelError):
    """Balanced accuracy on seed labels is not above the configured minimum (§A.7.2)."""


# ---------------------------------------------------------------------------
# Regexes
# ---------------------------------------------------------------------------


def compile_seed_regex(seed_terms: dict[str, Sequence[str]] = SEED_TERMS) -> re.Pattern:
    """Build the combined seed regex (spec 05 §A.3).

    A term is used unchanged if it contains an escaped period or already
    starts with ``\\b`` / ``\\s``; otherwise it must follow whitespace or the
    start of the text: ``(?:\\s|^)term``.  One named group per topic, joined
    with ``|``, case-insensitive.
    """
    groups = [f"(?P<{topic}>{'|'.join(_alternatives(terms))})" for topic, terms in seed_terms.items()]
    pattern = re.compile("|".join(groups), re.IGNORECASE)
    try:
        _SCREENS[pattern] = _SeedScreen(
            tuple((_literal_runs(term), re.compile(alt, re.IGNORECASE))
                  for terms in seed_terms.values() for term, alt in zip(terms, _alternatives(terms))))
    except ValueError:  # a term this screen cannot read: every text goes to the regex
        _SCREENS.pop(pattern, None)
    return pattern


def _alternatives(terms: Sequence[str]) -> list[str]:
    """Each term as :func:`compile_seed_regex` writes it into its topic's group."""
    return [t if (r"\." in t or t.startswith((r"\b", r"\s"))) else r"(?:\s|^)" + t for t in terms]


#: Characters that ``re.IGNORECASE`` matches to an ASCII letter and that survive ``str.lower()``
#: (the dotless i, the long s); the screen maps them to that letter (completeness is tested).
CASE_TWINS = {"\u0131": "i", "\u017f": "s"}
_TWIN_TABLE = str.maketrans(CASE_TWINS)


def _literal_runs(term: str) -> tuple[str, ...]:
    """The literal runs of a seed term: the strings any match of it contains (``\\.`` is a period;
    ``\\b``, ``\\s`` and ``[…]`` with an optional quantifier separate runs). ValueError for any other
    regex syntax."""
    runs, cur, i = [], [], 0
    while i < len(term):
        c = term[i]
        if c == "\\" and i + 1 < len(term):
            if term[i + 1] in "bs":
                runs.append("".join(cur))
                cur = []
            elif term[i + 1] in ".-/":
                cur.append(term[i + 1])
            else:
                raise ValueError(f"seed term {term!r}: unsupported escape")
            i += 2
        elif c == "[":
            runs.append("".join(cur))
            cur = []
            i = term.index("]", i) + 1
            if i < len(term) and term[i] in "+*?":
                i += 1
        elif c in "\\.^$*+?{}()|]":
            raise ValueError(f"seed term {term!r}: unsupported syntax {c!r}")
        else:
            cur.append(c)
            i += 1
    runs.append("".join(cur))
    return tuple(r for r in runs if r)


@dataclass(frozen=True)
class _SeedScreen:
    """A fast exact test of whether the seed regex matches a lowered text at all.

    A match of the combined regex is a match of one term's alternative, so the text contains that
    term's literal runs (up to :data:`CASE_TWINS`) and the alternative alone finds a match: texts
    failing both for every term have no match, and the others go to the combined regex. Substring
    tests are C loops; the combined regex tries ~35 alternatives at every position."""

    terms: tuple[tuple[tuple[str, ...], re.Pattern], ...]

    def may_match(self, lowered: str) -> bool:
        probe = lowered if lowered.isascii() else lowered.translate(_TWIN_TABLE)
        return any(all(r in probe for r in runs) and alt.search(lowered) is not None
                   for runs, alt in self.terms)


_SCREENS: dict[re.Pattern, _SeedScreen] = {}
_SEED_REGEX = compile_seed_regex()
_URL_RE = re.compile(r"https?://[^\s)\]]+")
_ALPHA_RUN_RE = re.compile(r"[a-zA-Z]+")
_KEEP_URL_RES = (re.compile(r"help\.x\.com"), re.compile(r"x\.com/tos"))


def _period_terms(seed_terms: dict[str, Sequence[str]]) -> list[str]:
    return [t for terms in seed_terms.values() for t in terms if r"\." in t]


def _token_regex(seed_terms: dict[str, Sequence[str]]) -> re.Pattern:
    # URL-like seed terms are captured (optionally with scheme and trailing path)
    # before the generic 2+ character word rule (§A.6).
    parts = [rf"(?:https?://)?({t})(?:/[^\s]+)?|" for t in _period_terms(seed_terms)]
    return re.compile("(?i)" + "".join(parts) + r"\b\w\w+\b")


_TOKEN_RE = _token_regex(SEED_TERMS)


# ---------------------------------------------------------------------------
# Post text
# ---------------------------------------------------------------------------


def filter_url_tokens(text: str, *, min_token_length: int = 4) -> str:
    """Replace each URL by its alphabetic runs of at least ``min_token_length`` letters.

    URLs containing ``help.x.com`` or ``x.com/tos`` are kept verbatim (spec 05
    §A.4 step 2), so seed terms inside other URLs (``?sc_lang=``) cannot match.

    >>> filter_url_tokens("see https://a.com/sc_lang?q=ukraine_war)")
    'see https lang ukraine)'
    """

    def shrink(m: re.Match) -> str:
        url = m.group(0)
        if any(p.search(url) for p in _KEEP_URL_RES):
            return url
        return " ".join(t for t in _ALPHA_RUN_RE.findall(url) if len(t) >= min_token_length)

    return _URL_RE.sub(shrink, text)


def prepare_post_text(notes: pd.DataFrame, *, config: TopicConfig = TopicConfig()) -> pd.DataFrame:
    """One row per post: ``[tweetId, text]`` (spec 05 §A.4).

    Summaries of all notes on a post are joined with single spaces (row order
    within the post; missing summaries → ``""``), URLs are filtered
    (:func:`filter_url_tokens`), then every ``_`` and ``/`` becomes a space —
    so the ``x\\.com/tos`` seed can never match afterwards (official quirk).
    Posts are keyed by ``tweetId`` as a string, like the official
    preprocessing; rows are in sorted key order.
    """
    schema.require_columns(notes, [schema.TWEET_ID, schema.SUMMARY], where="prepare_post_text")
    key = _tweet_key(notes[schema.TWEET_ID])
    summary = notes[schema.SUMMARY].astype(object).where(notes[schema.SUMMARY].notna(), "")
    frame = pd.DataFrame({schema.TWEET_ID: key.to_numpy(), "text": summary.astype(str).to_numpy()})
    post = frame.groupby(schema.TWEET_ID, sort=True)["text"].agg(" ".join).reset_index()
    post["text"] = [
        filter_url_tokens(t, min_token_length=config.url_min_token_length).replace("_", " ").replace("/", " ")
        for t in post["text"].tolist()
    ]
    return post


def _tweet_key(tweet_ids: pd.Series) -> pd.Series:
    """``tweetId`` as strings (the official preprocessing casts it to ``str``)."""
    if pd.api.types.is_float_dtype(tweet_ids):
        out = tweet_ids.astype("Int64").astype(str)
    else:
        out = tweet_ids.astype(str)
    return out.astype(object)


# ---------------------------------------------------------------------------
# Seed labels, tokenizer, stop words
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedLabels:
    """Seed labels of posts (spec 05 §A.5).

    Attributes
    ----------
    labels
        int64 topic id per post; 0 (Unassigned) for no match or a conflict.
    conflicts
        Per post ``None`` or the frozenset of matched topic ids (≥ 2).
    """

    labels: np.ndarray
    conflicts: tuple[frozenset[int] | None, ...]

    @property
    def conflicted(self) -> np.ndarray:
        """Boolean mask of posts matching more than one topic."""
        return np.array([c is not None for c in self.conflicts], dtype=bool)


def seed_labels(texts: Iterable[str], *, regex: re.Pattern = _SEED_REGEX) -> SeedLabels:
    """Label texts by seed-term matches (spec 05 §A.5).

    >>> seed_labels(["ukraine and gaza", "science", "sc st quota"]).labels.tolist()
    [0, 0, 5]
    """
    labels: list[int] = []
    conflicts: list[frozenset[int] | None] = []
    screen = _SCREENS.get(regex)
    for text in texts:
        lowered = str(text).lower()
        if screen is not None and not screen.may_match(lowered):
            labels.append(UNASSIGNED)
            conflicts.append(None)
            continue
        found = {
            TOPIC_IDS[name]
            for m in regex.finditer(lowered)
            for name, value in m.groupdict().items()
            if value
        }
        if len(found) == 1:
            labels.append(next(iter(found)))
            conflicts.append(None)
        elif found:
            labels.append(UNASSIGNED)
            conflicts.append(frozenset(found))
        else:
            labels.append(UNASSIGNED)
            conflicts.append(None)
    return SeedLabels(np.asarray(labels, dtype=np.int64), tuple(conflicts))


def tokenize(text: str) -> list[str]:
    """Tokenizer of the official pipeline (spec 05 §A.6).

    Lower-cases and strips accents (sklearn's default preprocessor with
    ``strip_accents="unicode"``), then emits the captured URL seed term
    (``help.x.com``; ``x.com/tos`` in principle) or each ``\\b\\w\\w+\\b`` word.

    >>> tokenize("Visit https://help.x.com/en/rules NOW, café")
    ['visit', 'help.x.com', 'now', 'cafe']
    """
    from sklearn.feature_extraction.text import strip_accents_unicode

    text = strip_accents_unicode(text.lower())
    out = []
    for m in _TOKEN_RE.finditer(text):
        seed = next((g for g in m.groups() if g is not None), None)
        out.append(seed if seed is not None else m.group(0))
    return out


def blocked_strings(seed_terms: dict[str, Sequence[str]] = SEED_TERMS) -> frozenset[str]:
    """Strings whose presence inside a token makes it a stop word (spec 05 §A.6).

    For each term ``t``: ``re.sub(r"\\\\[sb]", "", t)`` and ``re.sub(r"\\\\.", ".", t)``.
    The second rule turns *every* escape into a period, so ``\\bsc\\b`` yields
    ``sc`` (first rule) and ``.sc.`` (second), and ``undisclosed\\sad`` yields
    ``undisclosedad`` / ``undisclosed.ad`` — "undisclosed" itself is not blocked.
    """
    out: set[str] = set()
    for terms in seed_terms.values():
        for t in terms:
            t = t.strip()
            out.add(re.sub(r"\\[sb]", "", t))
            out.add(re.sub(r"\\.", ".", t))
    return frozenset(out)


def stop_words(texts: Iterable[str], *, seed_terms: dict[str, Sequence[str]] = SEED_TERMS) -> list[str]:
    """Vocabulary tokens containing any :func:`blocked_strings` substring, sorted.

    "undisclosed" is a stop word only because it contains "sc" (from ``\\bsc\\b``):

    >>> stop_words(["science discuss scam ukrainian sc data undisclosed"])
    ['discuss', 'sc', 'scam', 'science', 'ukrainian', 'undisclosed']
    """
    vocab: set[str] = set()
    for text in texts:
        vocab.update(tokenize(str(text)))
    blocked = blocked_strings(seed_terms)
    return sorted(v for v in vocab if any(b in v for b in blocked))


# ---------------------------------------------------------------------------
# Classifier
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicClassifier:
    """A fitted topic classifier (the official ``note_topic_classifier.joblib``).

    Attributes
    ----------
    pipeline
        The fitted sklearn ``Pipeline`` (``UnigramEncoder`` → ``tfidf`` → ``Classifier``).
    stop_words
        The stop-word list given to the vectorizer.
    n_posts, n_train_posts, n_conflicted
        Posts seen at training, used for training (non-conflicted), excluded.
    seed_label_counts
        Posts per seed label (topic name → count) at training.
    config, seed
        What it was trained with.
    """

    pipeline: object
    stop_words: tuple[str, ...]
    n_posts: int
    n_train_posts: int
    n_conflicted: int
    seed_label_counts: dict[str, int]
    config: TopicConfig = field(default_factory=TopicConfig)
    seed: int | None = None

    @property
    def classes(self) -> np.ndarray:
        """Topic ids the classifier has seen."""
        return np.asarray(self.pipeline.named_steps["Classifier"].classes_)

    def summary(self) -> str:
        vocab = len(self.pipeline.named_steps["UnigramEncoder"].vocabulary_)
        labels = ", ".join(f"{k}={v}" for k, v in self.seed_label_counts.items())
        return (
            f"TopicClassifier: {self.n_posts} posts ({self.n_train_posts} trained, "
            f"{self.n_conflicted} conflicted); {len(self.stop_words)} stop words; "
            f"vocabulary {vocab}; classes {self.classes.tolist()}; seed labels: {labels}"
        )


def _vectorizer_limits(n_posts: int, config: TopicConfig) -> tuple[int, int]:
    min_df = config.min_df_small if n_posts < config.large_corpus_posts else config.min_df_large
    max_df = max(config.max_df_floor, int(config.max_df_fraction * n_posts))
    return min_df, max_df


def train_topic_classifier(
    notes: pd.DataFrame, *, seed: int | None = None, config: TopicConfig = TopicConfig()
) -> TopicClassifier:
    """Fit the topic pipeline on the notes' posts (spec 05 §A.6).

    ``CountVectorizer(tokenizer=tokenize, stop_words=..., min_df, max_df)`` →
    ``TfidfTransformer()`` → ``LogisticRegression(C=1, max_iter=1000)``, where
    ``min_df = 1`` if fewer than 2000 posts else 25 and
    ``max_df = max(1000, int(0.25 · #posts))`` (absolute counts).  Training
    rows are all non-conflicted posts; targets are the seed labels including
    Unassigned.  The lbfgs tolerance is ``tol / n_train`` by default (see
    :class:`TopicConfig`).  ``seed`` goes to ``LogisticRegression(random_state=...)``
    (lbfgs itself is deterministic).

    Raises
    ------
    TopicModelError
        If fewer than two distinct seed labels are available for training or
        the vocabulary is empty after stop-word removal.
    """
    post = prepare_post_text(notes, config=config)
    texts = post["text"].to_numpy(dtype=object)
    return _train_on_posts(texts, seed_labels(texts), seed=seed, config=config)


def _train_on_posts(texts: np.ndarray, labels: SeedLabels, *, seed: int | None,
                    config: TopicConfig) -> TopicClassifier:
    """:func:`train_topic_classifier` from the posts' prepared text and seed labels."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    conflicted = labels.conflicted
    words = stop_words(texts)
    train_x = texts[~conflicted]
    train_y = labels.labels[~conflicted]
    if len(np.unique(train_y)) < 2:
        raise TopicModelError(
            f"topic model needs at least two seed labels among {len(train_y)} non-conflicted posts; "
            f"found {np.unique(train_y).tolist()}"
        )
    min_df, max_df = _vectorizer_limits(len(texts), config)
    tol = summed_loss_tol(config.tol, len(train_y)) if config.tol_per_sample else config.tol
    pipe = Pipeline(
        [
            (
                "UnigramEncoder",
                CountVectorizer(
                    tokenizer=tokenize,
                    token_pattern=None,
                    strip_accents="unicode",
                    stop_words=words,
                    min_df=min_df,
                    max_df=max_df,
                ),
            ),
            ("tfidf", TfidfTransformer()),
            ("Classifier", LogisticRegression(C=config.C, tol=tol, max_iter=config.max_iter, random_state=seed)),
        ]
    )
    with warnings.catch_warnings():
        # sklearn warns that stop words may be inconsistent with preprocessing: expected here.
        warnings.simplefilter("ignore", UserWarning)
        try:
            pipe.fit(train_x, train_y)
        except ValueError as exc:  # e.g. empty vocabulary after pruning
            raise TopicModelError(f"topic model training failed: {exc}") from exc
    counts = pd.Series(labels.labels).value_counts().sort_index()
    return TopicClassifier(
        pipeline=pipe,
        stop_words=tuple(words),
        n_posts=len(texts),
        n_train_posts=int((~conflicted).sum()),
        n_conflicted=int(conflicted.sum()),
        seed_label_counts={schema.TOPICS[int(k)]: int(v) for k, v in counts.items()},
        config=config,
        seed=seed,
    )


def _full_probabilities(classifier: TopicClassifier, texts: np.ndarray) -> np.ndarray:
    """Softmax (sigmoid for 2 classes) of the decision function in the 6-topic space."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        logits = np.asarray(classifier.pipeline.decision_function(texts), dtype=np.float64)
    if logits.ndim == 1:
        p1 = 1.0 / (1.0 + np.exp(-logits))
        probs = np.column_stack([1.0 - p1, p1])
    else:
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        probs = e / e.sum(axis=1, keepdims=True)
    full = np.zeros((len(texts), len(schema.TOPICS)), dtype=np.float64)
    full[:, classifier.classes.astype(int)] = probs
    return full


def merge_predictions(
    probs: np.ndarray, labels: SeedLabels, *, config: TopicConfig = TopicConfig()
) -> np.ndarray:
    """Final topic id per post (spec 05 §A.7 steps 3–4).

    ``pred = argmax(p)``; a post with seed label L keeps L iff
    ``1 − p_L ≤ threshold_L``; a conflicted post takes its most probable
    matched topic T (ties → lowest id) iff ``1 − p_T ≤ threshold_T``.
    """
    pred = np.argmax(probs, axis=1)
    for topic in range(1, len(schema.TOPICS)):
        keep = (labels.labels == topic) & (1.0 - probs[:, topic] <= config.threshold(topic))
        pred[keep] = topic
    for i, matched in enumerate(labels.conflicts):
        if matched is None:
            continue
        best = max(sorted(matched), key=lambda t: (probs[i, t], -t))
        if 1.0 - probs[i, best] <= config.threshold(best):
            pred[i] = best
    return pred


@dataclass(frozen=True)
class TopicAssignment:
    """Per-post predictions (diagnostics for :func:`assign_topics`).

    Attributes
    ----------
    posts
        ``[tweetId, text, seedLabel, conflicted, argmaxTopic, topic, p_<Topic>...]``.
    balanced_accuracy
        Balanced accuracy of argmax predictions vs seed labels (non-conflicted posts).
    """

    posts: pd.DataFrame
    balanced_accuracy: float

    def summary(self) -> str:
        counts = self.posts["topic"].value_counts().reindex(list(schema.TOPICS), fill_value=0)
        return f"balanced accuracy {self.balanced_accuracy:.4f}; posts per topic: " + ", ".join(
            f"{k}={v}" for k, v in counts.items()
        )


def predict_post_topics(
    notes: pd.DataFrame,
    classifier: TopicClassifier,
    *,
    config: TopicConfig | None = None,
    check_accuracy: bool = True,
) -> TopicAssignment:
    """Classify every post of ``notes`` with fresh seed labels (spec 05 §A.7, §A.8).

    Raises
    ------
    TopicAccuracyError
        If ``check_accuracy`` and balanced accuracy ≤ ``config.min_balanced_accuracy``.
    """
    config = classifier.config if config is None else config
    post = prepare_post_text(notes, config=config)
    texts = post["text"].to_numpy(dtype=object)
    return _predict_posts(post, texts, seed_labels(texts), classifier, config=config,
                          check_accuracy=check_accuracy)


def _predict_posts(post: pd.DataFrame, texts: np.ndarray, labels: SeedLabels, classifier: TopicClassifier,
                   *, config: TopicConfig, check_accuracy: bool) -> TopicAssignment:
    """:func:`predict_post_topics` from the posts' prepared text and seed labels."""
    from sklearn.metrics import balanced_accuracy_score

    if len(texts) == 0:
        return TopicAssignment(post.assign(topic=pd.Series([], dtype=object)), float("nan"))
    probs = _full_probabilities(classifier, texts)
    argmax = np.argmax(probs, axis=1)
    ok = ~labels.conflicted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        bacc = float(balanced_accuracy_score(labels.labels[ok], argmax[ok])) if ok.any() else float("nan")
    if check_accuracy and not bacc > config.min_balanced_accuracy:
        raise TopicAccuracyError(
            f"topic classifier balanced accuracy on seed labels is {bacc:.4f}, not above "
            f"{config.min_balanced_accuracy} (official run would abort); {int(ok.sum())} posts evaluated"
        )
    final = merge_predictions(probs, labels, config=config)
    names = np.asarray(schema.TOPICS, dtype=object)
    out = post.assign(
        seedLabel=labels.labels,
        conflicted=labels.conflicted,
        argmaxTopic=names[argmax],
        topic=names[final],
    )
    for k, name in enumerate(schema.TOPICS):
        out[f"p_{name}"] = probs[:, k]
    return TopicAssignment(out, bacc)


def assign_topics(
    notes: pd.DataFrame,
    classifier: TopicClassifier,
    *,
    config: TopicConfig | None = None,
    check_accuracy: bool = True,
) -> pd.DataFrame:
    """``[noteId, noteTopic]`` for notes on posts assigned a real topic (spec 05 §A.7.5).

    Every note on a post receives the post's topic; notes on Unassigned posts
    are absent.  Row order follows ``notes``.
    """
    schema.require_columns(notes, [schema.NOTE_ID, schema.TWEET_ID, schema.SUMMARY], where="assign_topics")
    result = predict_post_topics(notes, classifier, config=config, check_accuracy=check_accuracy)
    return _note_topics(notes, result.posts)


def fit_assign_topics(notes: pd.DataFrame, *, seed: int | None = None, config: TopicConfig = TopicConfig(),
                      check_accuracy: bool = True) -> tuple[TopicClassifier, pd.DataFrame]:
    """Train on all notes and assign all notes (prescoring, spec 04 §8.1): the classifier and the
    ``[noteId, noteTopic]`` frame of :func:`train_topic_classifier` followed by
    :func:`assign_topics`, with the posts' text and seed labels computed once for both."""
    schema.require_columns(notes, [schema.NOTE_ID, schema.TWEET_ID, schema.SUMMARY], where="fit_assign_topics")
    post = prepare_post_text(notes, config=config)
    texts = post["text"].to_numpy(dtype=object)
    labels = seed_labels(texts)
    classifier = _train_on_posts(texts, labels, seed=seed, config=config)
    result = _predict_posts(post, texts, labels, classifier, config=config, check_accuracy=check_accuracy)
    return classifier, _note_topics(notes, result.posts)


def _note_topics(notes: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    """Each note with its post's topic, notes on Unassigned posts left out (row order of ``notes``)."""
    topic_of = dict(zip(posts[schema.TWEET_ID], posts["topic"]))
    topic = _tweet_key(notes[schema.TWEET_ID]).map(topic_of)
    keep = topic.notna().to_numpy() & (topic != schema.TOPICS[UNASSIGNED]).to_numpy()
    out = pd.DataFrame(
        {schema.NOTE_ID: notes[schema.NOTE_ID].to_numpy()[keep], NOTE_TOPIC: topic.to_numpy()[keep]}
    )
    out[NOTE_TOPIC] = out[NOTE_TOPIC].astype(str)
    return out


def seed_label_topics(notes: pd.DataFrame, *, config: TopicConfig = TopicConfig()) -> pd.DataFrame:
    """``[noteId, noteTopic]`` from the seed labels alone (spec 05 §A.5), without the classifier.

    cnlab's fallback when a dataset is too small for the topic model: a post gets a topic when its
    notes' text matches the seed terms of exactly one topic; every note on it receives that topic.
    The official scorer has no fallback: it aborts (see :class:`TopicAccuracyError`).

    >>> import pandas as pd
    >>> notes = pd.DataFrame({"noteId": [1, 2, 3], "tweetId": [10, 10, 11],
    ...                       "summary": ["Gaza ceasefire", "more context", "a recipe"]})
    >>> seed_label_topics(notes).to_dict("list")
    {'noteId': [1, 2], 'noteTopic': ['GazaConflict', 'GazaConflict']}
    """
    schema.require_columns(notes, [schema.NOTE_ID, schema.TWEET_ID, schema.SUMMARY], where="seed_label_topics")
    post = prepare_post_text(notes, config=config)
    labels = seed_labels(post["text"].to_numpy(dtype=object)).labels
    names = np.asarray(schema.TOPICS, dtype=object)
    topic_of = dict(zip(post[schema.TWEET_ID], names[labels]))
    topic = _tweet_key(notes[schema.TWEET_ID]).map(topic_of)
    keep = topic.notna().to_numpy() & (topic != schema.TOPICS[UNASSIGNED]).to_numpy()
    out = pd.DataFrame({schema.NOTE_ID: notes[schema.NOTE_ID].to_numpy()[keep],
                        NOTE_TOPIC: topic.to_numpy()[keep]})
    out[NOTE_TOPIC] = out[NOTE_TOPIC].astype(str)
    return out


class TopicModel:
    """Object façade over the module functions (mirrors the official ``TopicModel``).

    >>> model = TopicModel()                       # doctest: +SKIP
    >>> clf = model.train(notes, seed=0)           # doctest: +SKIP
    >>> topics = model.assign(notes, clf)          # doctest: +SKIP
    """

    def __init__(self, config: TopicConfig = TopicConfig()):
        self.config = config

    def train(self, notes: pd.DataFrame, *, seed: int | None = None) -> TopicClassifier:
        return train_topic_classifier(notes, seed=seed, config=self.config)

    def assign(self, notes: pd.DataFrame, classifier: TopicClassifier, *, check_accuracy: bool = True) -> pd.DataFrame:
        return assign_topics(notes, classifier, config=self.config, check_accuracy=check_accuracy)

    def fit_assign(self, notes: pd.DataFrame, *, seed: int | None = None) -> tuple[TopicClassifier, pd.DataFrame]:
        """Prescoring use (spec 04 §8.1): train on all notes, assign all notes."""
        return fit_assign_topics(notes, seed=seed, config=self.config)
