"""An independent, literal reading of spec 04 §10.2 (``rescoringActiveRules`` of a run without
previous outputs), for deriving expected counts in the parity tests (not cnlab's code)."""

from __future__ import annotations

import pandas as pd

DAY_MS = 24 * 60 * 60 * 1000
ALL = "ALL_NOTES"
SOMEWHAT_RECENT = "NOTES_CREATED_SOMEWHAT_RECENTLY"
NEW_NOT_RESCORED = "NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH"


def expected_rescoring_rules(note_ids, status_history: pd.DataFrame, now: int) -> list[str]:
    """Per note id, the comma-joined subsets of spec 04 §10.2 that contain it, in the spec's order:

    * ALL_NOTES: every note;
    * NOTES_CREATED_SOMEWHAT_RECENTLY: created in [now − 13 d, now − 3 d);
    * NEW_NOTES_NOT_RESCORED_RECENTLY_ENOUGH: created within 14 d of now (created > now − 14 d) and
      timestampMillisOfCurrentStatus < now − 1 d (a missing status time never qualifies).

    The subsets are taken over the note status history; a note absent from it is in ALL_NOTES only.
    """
    by_id = {}
    for nid, created, current in zip(status_history["noteId"], status_history["createdAtMillis"],
                                     status_history["timestampMillisOfCurrentStatus"]):
        by_id[int(nid)] = (float(created), float(current))
    out = []
    for nid in note_ids:
        names = [ALL]
        if int(nid) in by_id:
            created, current = by_id[int(nid)]
            if now - 13 * DAY_MS <= created < now - 3 * DAY_MS:
                names.append(SOMEWHAT_RECENT)
            if created > now - 14 * DAY_MS and current < now - DAY_MS:  # NaN < x is False
                names.append(NEW_NOT_RESCORED)
        out.append(",".join(names))
    return out
