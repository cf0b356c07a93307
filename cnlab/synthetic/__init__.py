"""Synthetic Community Notes data with a planted model.

:func:`generate` writes the four input files of the public data download
(spec 04 §2: ``notes-00000.tsv``, ``ratings-00000.tsv`` or shards
``ratings-0000i.tsv``, ``noteStatusHistory-00000.tsv``,
``userEnrollment-00000.tsv``; optionally gzipped) and returns the planted
parameters as :class:`SyntheticTruth` (also written as ``notes_truth.tsv.gz`` and
``raters_truth.tsv.gz``).

Planted model
-------------
Every rating has a latent value (the MF model of spec 01 §4 plus noise)

.. math::

    y_{un} = \\mu + i_u + i_n + f_u \\cdot f_n + \\sigma_u \\varepsilon,
    \\qquad \\varepsilon \\sim N(0, 1)

which is thresholded: ``y > +band`` → HELPFUL, ``y < -band`` → NOT_HELPFUL,
otherwise SOMEWHAT_HELPFUL.  ``i_n`` is the note's ``trueQuality``, ``f_n`` its
``trueFactor1..k``, ``i_u`` the rater's ``leniency`` and ``σ_u`` its
``noiseScale``.  Note types (bridging, partisan, mediocre, notneeded, incorrect,
abusive) set ``i_n``/``f_n`` and the tag rates.

Summaries are neutral words; notes on a topic post (spec 05 A.2) add
``companion_min..companion_max`` topic companion words and, with probability
``seed_word_rate``, a seed word.  Seed-word tokens are stop words of the topic
model (spec 05 A.6), so the companion words are what lets it pass its accuracy
guard (balanced accuracy > 0.35, spec 05 A.7).

Scale
-----
Ratings are generated rater chunk by rater chunk (``chunk_ratings`` ratings
each) with the RNG ``np.random.default_rng([seed, 7, chunk])``, deduplicated per
(rater, note) inside the chunk (a rater never spans chunks, so no global set is
needed), formatted with numpy byte arithmetic and streamed to disk.  Memory is
O(notes + raters + chunk), so hundreds of millions of ratings fit in a few GiB.
The output depends on ``seed`` and :class:`SyntheticConfig` only — not on
``shard_size``, compression or ``progress``.

Modules
-------
==============  ==================================================================
``config``      :class:`SyntheticConfig`, :class:`SyntheticTruth`, constants
``planted``     the planted model: participants, posts, notes, ratings
``text``        note summaries (neutral, companion and seed words)
``writer``      vectorised TSV bytes, streaming (gzip) sinks, Arrow tables
``files``       notes, noteStatusHistory, userEnrollment files; truth tables
``generator``   :func:`generate` (orchestration)
``sample``      the bundled sample: :data:`SAMPLE_DIR`, :func:`make_sample`
``post_likes``  :func:`generate_post_likes` (spec 07 B pilot)
==============  ==================================================================
"""

from cnlab.synthetic.config import CORE_MODEL_RULE, NOTE_TYPES, TWITTER_EPOCH_MS, SyntheticConfig, SyntheticTruth
from cnlab.synthetic.generator import generate
from cnlab.synthetic.post_likes import POST_TYPES, PostLikesSynthConfig, SyntheticPostLikes, generate_post_likes
from cnlab.synthetic.sample import SAMPLE_CONFIG, SAMPLE_DIR, make_sample

__all__ = [
    "SAMPLE_DIR",
    "SAMPLE_CONFIG",
    "NOTE_TYPES",
    "SyntheticConfig",
    "SyntheticTruth",
    "generate",
    "make_sample",
    "POST_TYPES",
    "PostLikesSynthConfig",
    "SyntheticPostLikes",
    "generate_post_likes",
]
