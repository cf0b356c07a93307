"""Output writer tests: official layout, round trip of the official fixture outputs, atomicity."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.errors import CnlabInputError
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aux_note_info.tsv", "cnlab-outputs.json"]
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aux_note_info.tsv", "cnlab-outputs.json"]


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


# ---------------------------------------------------------------------------
# Older output vintages (single-model scorer, 2021–2023)
# ---------------------------------------------------------------------------
def _legacy_frames():
    sn = pd.DataFrame({"noteId": [11, 12, 13], "numRatings": [9, 7, 3],
                       "noteIntercept": [0.45, -0.2, np.nan], "noteFactor1": [0.1, 0.3, np.nan],
                       "ratingStatus": [S.CRH, S.CRNH, S.NMR]})
    hs = pd.DataFrame({"raterParticipantId": ["0A", "1B"], "raterAgreeRatio": [0.9, 0.5],
                       "raterIntercept": [0.1, -0.1], "raterFactor1": [0.4, -0.3]})
    return sn, hs


@pytest.mark.parametrize("gz", [False, True], ids=["tsv", "tsv.gz"])
def test_read_output_maps_legacy_columns(tmp_path, gz):
    """scoredNotes.tsv / helpfulnessScores.tsv of 2021–2023 come back with the current names,
    values unchanged, each mapping counted as a recovery."""
    sn, hs = _legacy_frames()
    suffix = ".tsv.gz" if gz else ".tsv"
    sn.to_csv(tmp_path / f"scoredNotes{suffix}", sep="\t", index=False)
    hs.to_csv(tmp_path / f"helpfulnessScores{suffix}", sep="\t", index=False)

    got, rep = read_output(tmp_path / f"scoredNotes{suffix}", with_report=True)
    assert list(got.columns) == ["noteId", "numRatings", "coreNoteIntercept", "coreNoteFactor1",
                                 "coreRatingStatus", "finalRatingStatus"]
    np.testing.assert_array_equal(got["coreNoteIntercept"].to_numpy(), sn["noteIntercept"].to_numpy())
    np.testing.assert_array_equal(got["coreNoteFactor1"].to_numpy(), sn["noteFactor1"].to_numpy())
    assert got["coreRatingStatus"].tolist() == got["finalRatingStatus"].tolist() == sn["ratingStatus"].tolist()
    assert [r[1] for r in rep.recoveries] == [
        "legacy output column noteIntercept -> coreNoteIntercept",
        "legacy output column noteFactor1 -> coreNoteFactor1",
        "legacy output column ratingStatus -> coreRatingStatus, finalRatingStatus"]
    assert rep.n_recoveries == 3 and rep.files[0]["rows"] == len(sn)
    assert rep.files[0]["kind"] == "scored_notes" and rep.files[0]["compression"] == ("gzip" if gz else "none")
    assert "recovered (1x)" in rep.summary()

    got = read_output(tmp_path / f"helpfulnessScores{suffix}")
    assert list(got.columns) == ["raterParticipantId", "raterAgreeRatio", "coreRaterIntercept", "coreRaterFactor1"]
    assert got["raterParticipantId"].tolist() == ["0A", "1B"]  # ids stay strings
    assert got["coreRaterFactor1"].tolist() == hs["raterFactor1"].tolist()

    # read_outputs finds the legacy file names and reports them too
    frames, rep = read_outputs(tmp_path, with_report=True)
    assert set(frames) == {"scored_notes", "helpfulness_scores"}
    assert "coreRaterIntercept" in frames["helpfulness_scores"].columns
    whats = [r[1] for r in rep.recoveries]
    assert whats.count("legacy output file name: read as scored_notes.tsv") == 1
    assert whats.count("legacy output file name: read as helpfulness_scores.tsv") == 1
    assert rep.n_recoveries == 3 + 2 + 2  # 3 + 2 columns, 2 file names


def test_read_output_current_layout_has_no_recoveries(tmp_path):
    """A current file is read as is: a legacy name next to its current column is left alone."""
    sn = pd.DataFrame({"noteId": [1], "coreNoteIntercept": [0.3], "noteIntercept": [9.9],
                       "finalRatingStatus": [S.NMR]})
    sn.to_csv(tmp_path / "scored_notes.tsv", sep="\t", index=False)
    got, rep = read_output(tmp_path / "scored_notes.tsv", with_report=True)
    assert list(got.columns) == list(sn.columns) and rep.recoveries == ()
    assert got["coreNoteIntercept"].tolist() == [0.3]


def test_read_output_bad_files(tmp_path):
    with pytest.raises(CnlabInputError, match="file not found"):
        read_output(tmp_path / "nope.tsv")
    (tmp_path / "empty.tsv").write_bytes(b"")
    with pytest.raises(CnlabInputError, match=r"empty\.tsv.*empty file"):
        read_output(tmp_path / "empty.tsv")
    with pytest.raises(CnlabInputError, match="not a directory"):
        read_outputs(tmp_path / "nope")
