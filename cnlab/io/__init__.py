"""Reading the public Community Notes data and writing the official outputs.

>>> import cnlab
>>> ds = cnlab.load("path/to/download")          # doctest: +SKIP
>>> ds = cnlab.load(notes=..., ratings="ratings/", status=..., enrollment=...)  # doctest: +SKIP
>>> ds = cnlab.load("path/to/download", cache="cache/")  # parsed once, then read from cache/  # doctest: +SKIP

Formats
-------
Each input may be ``.tsv``, ``.tsv.gz`` or ``.zip`` (compression is detected
from the magic bytes, not the name).  ``ratings`` may also be a list of shards
or a directory of them (read in sorted name order; the official reader uses
``os.listdir`` order).  Parsing uses :mod:`pyarrow.csv` with multi-threading and
reads only the columns that are needed.  Files are streamed: pyarrow asks for blocks of
``_tsv.BLOCK_SIZE`` bytes (4 MiB) and never holds a file's text whole; the slow re-scan that
pinpoints a bad line reads line by line.

Zip archives are never extracted to disk: members are streamed from the archive, and only
these are read.  Directory entries, ``__MACOSX/`` and dot files are skipped silently.  Members
whose path is absolute, has a drive letter, a ``..`` component or a backslash are not read
(a warning, counted as ``unsafe_zip_members``).  Of the others, the members whose file name is
a public name of the kind being read (``notes``, ``notes.tsv``, ``notes-<anything>`` for notes;
stems ``ratings``, ``noteStatusHistory``, ``userEnrollment``; not itself compressed) are read, from
the shallowest folder that has any (a folder inside the archive is a counted recovery); every
other member is not read (a warning, ``ignored_zip_members``).  An archive with no such member
but exactly one other is read as that kind (a recovery); with several, it is an error.

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
flags; integers are decimal: ``NaN``, ``inf``, ``1.5``, ``0x1F`` and ``+5`` are errors, where
pandas would read ``+5`` as 5), a missing ``noteId``/``createdAtMillis``, unknown enum strings
(classification, helpfulnessLevel, ratingSourceBucketed, enrollmentState), rows
with the wrong number of fields (truncated rows), invalid UTF-8 in a column that is read (e.g.
``summary``; the official reader fails on the whole file), a compressed stream that is
truncated or corrupt (the line where its data breaks off; a zip member failing its CRC check),
a note (``noteId``) given by two *different* rows (naming both lines and the first column that
differs; the official scorer aborts on it in preprocessing) and empty (0-byte) files.  A
header-only file yields zero rows and a warning.  Missing participant ids become code -1;
missing values in other integer columns stay ``<NA>`` with a warning.  Nothing is dropped.

Read, but reported (a warning naming column, count and first line, and a count in
``Dataset.report.counts``, :data:`cnlab.io.dataset.COUNTS`): empty integer cells
(``missing_integer_values``, kept as ``<NA>``); empty rating tag cells (``empty_tag_cells``,
read as 0: the tag was not given, which is how the official scorer treats a missing tag);
``±inf`` in float columns (``infinite_values``); participant ids that are not 64 hexadecimal
characters (``nonstandard_participant_ids``: kept as opaque strings, as officially); note rows
that repeat an earlier row exactly (``duplicate_note_rows``: kept, dropped by preprocessing as
officially); ratings of notes in neither the notes file nor the status history
(``ratings_of_unknown_notes``: kept, the official preprocessing drops them); ``createdAtMillis``
after the wall clock at load time (``future_timestamps``).  Counted without a warning,
because the public data has them: ratings of deleted notes (``ratings_of_deleted_notes``: in
the status history, not in the notes file; scored as officially); they appear in
``Dataset.summary()``.  Every case is listed with its test in ``docs/input-faults.md``.

Recoveries (counted in ``Dataset.report.recoveries``): gzip content without a
``.gz`` name (or vice versa), no header row, absent optional columns, legacy
NSH layout, zip members in a folder of the archive or under another name.

Cache
-----
``load(..., cache=DIR)`` keeps a parsed copy of the dataset in ``DIR`` (Arrow IPC, memory-mapped;
a JSON manifest with a format version, a key of the inputs and options, and each file's size
and SHA-256) and reads it instead of the TSVs while the key holds; a changed input, option,
loader or format rebuilds it, and a damaged cache file is detected and rebuilt with a warning.
Nothing in it is unpickled or evaluated.  Details: :mod:`cnlab.io.cache`; from the command
line: ``cnlab cache DIRECTORY --cache DIR``, ``cnlab score DIRECTORY --cache DIR``.

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

from .dataset import COUNTS, Dataset, LoadReport, find_files, load, load_sample, restore_ids
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
    "COUNTS",
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
