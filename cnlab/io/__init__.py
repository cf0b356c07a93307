"""Reading the public Community Notes data and writing the official outputs.

>>> import cnlab
>>> ds = cnlab.load("path/to/download")          # doctest: +SKIP
>>> ds = cnlab.load(notes=..., ratings="ratings/", status=..., enrollment=...)  # doctest: +SKIP

Formats
-------
Each input may be ``.tsv``, ``.tsv.gz`` or ``.zip`` (compression is detected
from the magic bytes, not the name).  ``ratings`` may also be a list of shards
or a directory of them (read in sorted name order; the official reader uses
``os.listdir`` order).  Parsing uses :mod:`pyarrow.csv` with multi-threading and
reads only the columns that are needed.

Columns are matched **by header name**, not position (the official reader is
positional).  Unknown extra columns are ignored with one warning per file.
A file without a header row is accepted if its field count is that of an
official layout (counted as a recovery).

Optional columns
----------------
A *required* column missing from a header raises :class:`CnlabInputError`.
Every other documented column may be absent; it is then filled as below and the
fill is counted as a recovery in ``Dataset.report``.

=================  ======================================================  ==============================
file               required                                                 absent optional columns -> fill
=================  ======================================================  ==============================
notes              noteId, noteAuthorParticipantId, createdAtMillis,         tweetId -> -1; isMediaNote,
                   classification                                           isCollaborativeNote -> 0;
                                                                            other flags -> <NA>;
                                                                            believable/harmful/
                                                                            validationDifficulty,
                                                                            summary -> NaN
ratings            noteId, raterParticipantId, createdAtMillis,             helpful, notHelpful -> 0;
                   helpfulnessLevel                                         tags -> 0 (bit clear);
                                                                            ratingSourceBucketed ->
                                                                            DEFAULT; version, agree,
                                                                            disagree -> <NA>;
                                                                            ratedOnTweetId -> -1
noteStatusHistory  noteId, noteAuthorParticipantId, createdAtMillis         every other column -> NaN;
                                                                            without
                                                                            abovePcrhThresholdTime the
                                                                            file is *legacy* (below)
userEnrollment     participantId, enrollmentState                           numberOfTimesEarnedOut -> 0;
                                                                            others -> NaN / <NA>
=================  ======================================================  ==============================

Legacy note status history: a file without ``abovePcrhThresholdTime`` is the
23-column layout.  Like the official fallback reader (spec 04 §2.5) the loader
then also sets ``timestampMillisOfFirstNmrDueToMinStableCrhTime`` to NaN even
though the file has it; pass ``legacy_nsh_official=False`` to keep the file's
values.

Bad values
----------
Raise :class:`cnlab.errors.CnlabInputError` naming file, line (1-based,
header = 1) and column: non-numeric or out-of-range numbers (ids, timestamps,
flags), a missing ``noteId``/``createdAtMillis``, unknown enum strings
(classification, helpfulnessLevel, ratingSourceBucketed, enrollmentState), rows
with the wrong number of fields (truncated rows), invalid UTF-8, corrupt
compressed streams and empty (0-byte) files.  A header-only file yields zero
rows and a warning.  Missing participant ids become code -1; missing values in
other integer columns stay ``<NA>`` with a warning.  Nothing is dropped.

Recoveries (counted in ``Dataset.report.recoveries``): gzip content without a
``.gz`` name (or vice versa), no header row, absent optional columns, legacy
NSH layout.

Outputs
-------
:func:`write_outputs` writes the four official output files as one set (a manifest,
``cnlab-outputs.json``, written last; :func:`verify_outputs` checks it, :func:`recover_outputs`
finishes a replacement interrupted by a crash); :func:`read_output` /
:func:`read_outputs` read them back, from cnlab or from the official scorer of any published
vintage: the single-model files of 2021–2023 (``scoredNotes.tsv`` with ``noteIntercept``,
``noteFactor1``, ``ratingStatus``; ``helpfulnessScores.tsv`` with ``raterIntercept``,
``raterFactor1``) come back with the current names (``coreNoteIntercept``, ``coreNoteFactor1``,
``coreRatingStatus`` and ``finalRatingStatus``, ``coreRaterIntercept``, ``coreRaterFactor1``),
each mapping counted as a recovery (``with_report=True``).

Memory
------
Participant ids become ``int32`` codes shared by the four files (spec 04 §3,
``Dataset.participants``); the 22 tag columns are packed into two ``uint16``
bit fields; enums are categoricals with ``int8`` codes.  The default rating
columns take 28-30 bytes per rating.
"""

from __future__ import annotations

from .dataset import Dataset, LoadReport, find_files, load, load_sample, restore_ids
from .readers import OFFICIAL_LEGACY_NSH, read_enrollment, read_notes, read_ratings, read_status_history
from .writers import (
    MANIFEST,
    OUTPUTS,
    WriteReport,
    read_output,
    read_outputs,
    recover_outputs,
    verify_outputs,
    write_outputs,
)

__all__ = [
    "Dataset",
    "LoadReport",
    "MANIFEST",
    "WriteReport",
    "OFFICIAL_LEGACY_NSH",
    "OUTPUTS",
    "find_files",
    "load",
    "load_sample",
    "read_enrollment",
    "read_notes",
    "read_output",
    "read_outputs",
    "read_ratings",
    "read_status_history",
    "recover_outputs",
    "restore_ids",
    "verify_outputs",
    "write_outputs",
]
