"""Test helper: write a small output set with ``cnlab.io.write_outputs``, sleeping before each
rename of the commit (so that a test can kill the process mid-way).

    python slow_write_outputs.py OUTDIR VALUE DELAY_SECONDS

Prints ``renaming NAME`` (flushed) before each rename.
"""

import sys
import time

import pandas as pd

from cnlab.io import writers

outdir, value, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
_rename = writers._rename


def slow_rename(src, dst):
    print(f"renaming {dst.name}", flush=True)
    time.sleep(delay)
    _rename(src, dst)


writers._rename = slow_rename
frames = {key: pd.DataFrame({"noteId": [value, value + 1]}) for key in ("scored_notes", "note_status_history",
                                                                         "aux_note_info")}
frames["helpfulness_scores"] = pd.DataFrame({"raterParticipantId": [f"r{value}"]})
writers.write_outputs(frames, outdir, funnel=pd.DataFrame({"step": ["load"], "rows_in": [value]}))
print("done", flush=True)
