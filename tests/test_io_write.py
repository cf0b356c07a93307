"""Output writer tests: official layout, round trip of the official fixture outputs, atomicity."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.io import OUTPUTS, read_output, read_outputs, write_outputs


@pytest.fixture(scope="module")
def official(small_dir):
    return read_outputs(small_dir / "official-all")


def test_official_outputs_round_trip(official, tmp_path):
    assert set(official) == set(OUTPUTS)
    rep = write_outputs(official, tmp_path)
    assert all(v == [] for v in rep.absent_columns.values())
    back = read_outputs(tmp_path)
    for key, frame in official.items():
        got = back[key]
        assert list(got.columns) == list(OUTPUTS[key][1])
        pd.testing.assert_frame_equal(got, frame, check_dtype=True, obj=key)


def test_round_trip_is_byte_stable(official, tmp_path):
    write_outputs(official, tmp_path / "a")
    again = read_outputs(tmp_path / "a")
    write_outputs(again, tmp_path / "b")
    for stem, _cols in OUTPUTS.values():
        assert (tmp_path / "a" / f"{stem}.tsv").read_bytes() == (tmp_path / "b" / f"{stem}.tsv").read_bytes()


def test_absent_columns_written_empty_and_reported(tmp_path):
    sn = pd.DataFrame({"noteId": [2, 1], "finalRatingStatus": [S.CRH, S.NMR], "numRatings": [5, 7],
                       "bogus": [1, 2], "topicNoteConfident": [True, False]})
    rep = write_outputs({"scored_notes": sn}, tmp_path)
    assert len(rep.absent_columns["scored_notes"]) == len(S.SCORED_NOTES_COLUMNS) - 4
    assert rep.extra_columns["scored_notes"] == ["bogus"]
    text = (tmp_path / "scored_notes.tsv").read_text().splitlines()
    assert text[0].split("\t") == list(S.SCORED_NOTES_COLUMNS)
    row = text[1].split("\t")
    assert len(row) == len(S.SCORED_NOTES_COLUMNS)
    assert row[0] == "2" and row[3] == S.CRH and row[1] == ""
    assert row[S.SCORED_NOTES_COLUMNS.index("topicNoteConfident")] == "True"
    assert "written empty" in rep.summary()


def test_atomic_no_temp_files_and_permissions(tmp_path):
    write_outputs({"aux_note_info": pd.DataFrame({"noteId": [1]})}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aux_note_info.tsv"]
    assert os.stat(tmp_path / "aux_note_info.tsv").st_mode & 0o044  # readable by others (umask permitting)


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    write_outputs({"aux_note_info": pd.DataFrame({"noteId": [1]})}, tmp_path)
    before = (tmp_path / "aux_note_info.tsv").read_bytes()

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError):
        write_outputs({"aux_note_info": pd.DataFrame({"noteId": [2]})}, tmp_path)
    assert (tmp_path / "aux_note_info.tsv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aux_note_info.tsv"]


def test_parquet_copy(official, tmp_path):
    rep = write_outputs({"note_status_history": official["note_status_history"]}, tmp_path, parquet=True)
    p = rep.parquet["note_status_history"]
    back = pd.read_parquet(p)
    assert list(back.columns) == list(S.NOTE_STATUS_HISTORY_COLUMNS) and len(back) == 2000


def test_participant_codes_restored(tmp_path):
    parts = pd.Index(["AA", "BB", "CC"], dtype="str")
    hs = pd.DataFrame({"raterParticipantId": np.array([2, 0, -1], dtype=np.int32), "coreRaterIntercept": [0.1, 0.2, 0.3]})
    write_outputs({"helpfulness_scores": hs}, tmp_path, participants=parts)
    back = read_output(tmp_path / "helpfulness_scores.tsv")
    assert back["raterParticipantId"].iloc[:2].tolist() == ["CC", "AA"] and pd.isna(back["raterParticipantId"].iloc[2])


def test_unknown_key(tmp_path):
    with pytest.raises(KeyError):
        write_outputs({"scoredNotes": pd.DataFrame()}, tmp_path)
