"""Loader tests: fixtures, formats, schema drift, bad values (tiers 1 and 3)."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnlab import schema as S
from cnlab.errors import CnlabInputError
from cnlab.io import (
    Dataset,
    find_files,
    load,
    load_sample,
    read_enrollment,
    read_notes,
    read_ratings,
    read_status_history,
)

#: the loader must stay within this many resident bytes per rating (issue "Foundation")
MAX_BYTES_PER_RATING = 40

HEX = "0123456789ABCDEF"


def _pid(i: int) -> str:
    return (HEX[i % 16] + f"{i:063X}")[:64]


def _ratings_frame(n=12, n_notes=3, n_raters=5) -> pd.DataFrame:
    rows = []
    for k in range(n):
        row = {c: 0 for c in S.RATINGS_FILE_COLUMNS}
        row.update(
            noteId=1000 + k % n_notes,
            raterParticipantId=_pid(k // n_notes % n_raters + 1),
            createdAtMillis=1_700_000_000_000 + k,
            version=2,
            helpfulnessLevel=S.HELPFULNESS_LEVELS[k % 3],
            ratedOnTweetId=77,
            ratingSourceBucketed=S.RATING_SOURCES[k % 2],
            suggestion="",
            suggestionId="",
        )
        row[S.ALL_TAGS[k % 22]] = 1
        rows.append(row)
    return pd.DataFrame(rows, columns=list(S.RATINGS_FILE_COLUMNS))


def _write_tsv(frame: pd.DataFrame, path: Path, **kw) -> Path:
    frame.to_csv(path, sep="\t", index=False, **kw)
    return path


def _small_set(tmp: Path, ratings: pd.DataFrame | None = None) -> dict[str, Path]:
    """A tiny but complete public-format dataset; returns the paths."""
    r = _ratings_frame() if ratings is None else ratings
    notes = pd.DataFrame({c: 0 for c in S.NOTES_FILE_COLUMNS}, index=range(3))
    notes["noteId"] = [1000, 1001, 1002]
    notes["noteAuthorParticipantId"] = [_pid(20), _pid(21), _pid(1)]
    notes["createdAtMillis"] = 1_690_000_000_000
    notes["tweetId"] = 5
    notes["classification"] = [S.MISLEADING, S.NOT_MISLEADING, S.MISLEADING]
    for c in ("believable", "harmful", "validationDifficulty"):
        notes[c] = ""
    notes["summary"] = ["a note", "another, with \"quotes\" inside", "x"]
    nsh = pd.DataFrame({c: np.nan for c in S.NOTE_STATUS_HISTORY_COLUMNS}, index=range(2))
    nsh["noteId"] = [1000, 1001]
    nsh["noteAuthorParticipantId"] = [_pid(20), _pid(21)]
    nsh["createdAtMillis"] = 1_690_000_000_000
    nsh["currentStatus"] = S.NMR
    enr = pd.DataFrame(
        {
            "participantId": [_pid(i) for i in range(1, 6)] + [_pid(30)],
            "enrollmentState": "earnedIn",
            "successfulRatingNeededToEarnIn": 5,
            "timestampOfLastStateChange": 1,
            "timestampOfLastEarnOut": 1,
            "modelingPopulation": "CORE",
            "modelingGroup": 13.0,
            "numberOfTimesEarnedOut": 0,
        }
    )
    return {
        "notes": _write_tsv(notes, tmp / "notes-00000.tsv"),
        "ratings": _write_tsv(r, tmp / "ratings-00000.tsv"),
        "status": _write_tsv(nsh, tmp / "noteStatusHistory-00000.tsv"),
        "enrollment": _write_tsv(enr, tmp / "userEnrollment-00000.tsv"),
    }


# ---------------------------------------------------------------------------
# tier 3: the fixtures
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fixture_ds(small_dir) -> Dataset:
    return load(small_dir / "inputs", status=small_dir / "pass2_status.tsv.gz")


def _pandas(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={c: "str" for c in (S.AUTHOR_ID, S.RATER_ID, S.PARTICIPANT_ID)})


def test_fixture_directory_found(small_dir):
    found = find_files(small_dir / "inputs")
    assert found["ratings"].name == "ratings-00000.tsv.gz"
    assert found["status_history"].name.startswith("noteStatusHistory")


def test_fixture_counts_and_dtypes(fixture_ds, small_dir):
    ds = fixture_ds
    assert len(ds.ratings) == 59343 and len(ds.notes) == 2000
    assert len(ds.status_history) == 2000 and len(ds.enrollment) == 1500
    assert list(ds.status_history.columns) == list(S.NOTE_STATUS_HISTORY_COLUMNS)
    r = ds.ratings
    assert r[S.RATER_ID].dtype == np.int32 and r[S.NOTE_ID].dtype == np.int64
    assert r[S.HELPFUL_TAG_BITS].dtype == np.uint16 and r[S.NOT_HELPFUL_TAG_BITS].dtype == np.uint16
    assert isinstance(r[S.HELPFULNESS_LEVEL].dtype, pd.CategoricalDtype)
    assert ds.notes[S.AUTHOR_ID].dtype == np.int32 and ds.enrollment[S.PARTICIPANT_ID].dtype == np.int32
    assert r.memory_usage(deep=True).sum() / len(r) <= MAX_BYTES_PER_RATING
    assert ds.report.warnings == () and ds.report.recoveries == ()
    assert "59,343" in ds.summary()


def test_fixture_participants_joint_sorted(fixture_ds, small_dir):
    ds = fixture_ds
    p = ds.participants
    assert p.is_monotonic_increasing and p.is_unique
    # the official log: "Factorized 1500 unique participant IDs"
    assert len(p) == 1500
    raw = _pandas(small_dir / "inputs" / "ratings-00000.tsv.gz")
    restored = ds.restore_ids(ds.ratings[[S.RATER_ID]])
    assert restored[S.RATER_ID].tolist() == raw[S.RATER_ID].tolist()
    # codes are ranks of the strings: sorting by code == sorting by string
    codes = ds.ratings[S.RATER_ID].to_numpy()
    assert np.array_equal(np.argsort(codes, kind="stable"), np.argsort(raw[S.RATER_ID].to_numpy(dtype=object), kind="stable"))


def test_fixture_ratings_values_equal_pandas(fixture_ds, small_dir):
    ds = fixture_ds
    raw = _pandas(small_dir / "inputs" / "ratings-00000.tsv.gz")
    r = S.unpack_tags(ds.ratings)
    for c in (S.NOTE_ID, S.CREATED_AT, "helpful", "notHelpful", *S.ALL_TAGS):
        assert np.array_equal(r[c].to_numpy(dtype=np.int64), raw[c].to_numpy(dtype=np.int64)), c
    for c in (S.HELPFULNESS_LEVEL, S.RATING_SOURCE):
        assert r[c].astype(object).fillna("").tolist() == raw[c].astype(object).fillna("").tolist()


def test_fixture_other_files_equal_pandas(fixture_ds, small_dir):
    ds = fixture_ds
    notes = _pandas(small_dir / "inputs" / "notes-00000.tsv.gz")
    got = ds.restore_ids(ds.notes)
    assert got[S.AUTHOR_ID].tolist() == notes[S.AUTHOR_ID].tolist()
    assert got[S.SUMMARY].tolist() == notes[S.SUMMARY].tolist()
    assert got[S.CLASSIFICATION].astype(str).tolist() == notes[S.CLASSIFICATION].tolist()
    assert np.array_equal(got["misleadingFactualError"].to_numpy(dtype=float, na_value=np.nan),
                          notes["misleadingFactualError"].to_numpy(dtype=float), equal_nan=True)
    nsh = _pandas(small_dir / "pass2_status.tsv.gz")
    g = ds.restore_ids(ds.status_history)
    for c in S.NOTE_STATUS_HISTORY_COLUMNS:
        a, b = g[c], nsh[c]
        if pd.api.types.is_numeric_dtype(b.dtype):
            assert np.array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float), equal_nan=True), c
        else:
            assert a.astype(object).where(a.notna(), None).tolist() == b.astype(object).where(b.notna(), None).tolist(), c
    enr = _pandas(small_dir / "inputs" / "userEnrollment-00000.tsv.gz")
    e = ds.restore_ids(ds.enrollment)
    assert e[S.PARTICIPANT_ID].tolist() == enr[S.PARTICIPANT_ID].tolist()
    assert np.array_equal(e[S.MODELING_GROUP].to_numpy(), enr[S.MODELING_GROUP].to_numpy(), equal_nan=True)
    assert e[S.ENROLLMENT_STATE].astype(str).tolist() == enr[S.ENROLLMENT_STATE].tolist()


def test_every_fixture_input_readable(small_dir):
    inputs = small_dir / "inputs"
    assert len(read_notes(inputs / "notes-00000.tsv.gz")) == 2000
    assert len(read_ratings(inputs / "ratings-00000.tsv.gz")) == 59343
    assert len(read_status_history(inputs / "noteStatusHistory-00000.tsv.gz")) == 2000
    assert len(read_status_history(small_dir / "pass2_status.tsv.gz")) == 2000
    e = read_enrollment(inputs / "userEnrollment-00000.tsv.gz")
    assert len(e) == 1500 and e[S.PARTICIPANT_ID].str.len().eq(64).all()


def test_load_sample_loads_the_bundled_files():
    """The committed sample loads whole: every size derived from its meta.json or its raw files."""
    import json

    import cnlab.io.dataset as dataset_module
    from cnlab.synthetic import SAMPLE_DIR

    meta = json.loads((SAMPLE_DIR / "meta.json").read_text())
    ds = load_sample()
    assert len(ds.ratings) == meta["n_ratings"]
    assert len(ds.notes) == meta["n_notes_in_notes_file"]
    # the status history keeps the deleted notes: one row per generated note
    assert len(ds.status_history) == meta["n_notes"]
    # raw files, read independently of cnlab
    enr = _pandas(SAMPLE_DIR / "userEnrollment-00000.tsv.gz")
    notes = _pandas(SAMPLE_DIR / "notes-00000.tsv.gz")
    ratings = _pandas(SAMPLE_DIR / "ratings-00000.tsv.gz")
    nsh = _pandas(SAMPLE_DIR / "noteStatusHistory-00000.tsv.gz")
    assert len(ds.enrollment) == len(enr) and len(ds.notes) == len(notes) and len(ds.ratings) == len(ratings)
    ids = set(enr[S.PARTICIPANT_ID]) | set(notes[S.AUTHOR_ID]) | set(ratings[S.RATER_ID]) | set(nsh[S.AUTHOR_ID])
    assert list(ds.participants) == sorted(ids)
    assert len(ds.participants) == meta["n_raters"]  # every generated participant appears somewhere
    assert ds.report.warnings == () and ds.report.recoveries == ()
    # it is the folder load_sample documents
    assert Path(dataset_module.__file__).resolve().parents[1] / "data" / "sample" == SAMPLE_DIR


def test_load_sample_missing_is_a_clear_input_error(tmp_path, monkeypatch):
    """load_sample finds the sample next to cnlab/io/dataset.py; point that at an empty tree."""
    import cnlab.io.dataset as dataset_module

    fake = tmp_path / "cnlab" / "io" / "dataset.py"
    monkeypatch.setattr(dataset_module, "__file__", str(fake))
    expected = tmp_path / "cnlab" / "data" / "sample"
    with pytest.raises(CnlabInputError, match="sample") as ei:
        load_sample()
    assert ei.value.path == str(expected)
    assert "cnlab synth" in str(ei.value)
    # an empty folder is just as missing
    expected.mkdir(parents=True)
    with pytest.raises(CnlabInputError, match="missing or empty") as ei:
        load_sample()
    assert ei.value.path == str(expected)


# ---------------------------------------------------------------------------
# formats: shards, compression, zip, misnamed gzip
# ---------------------------------------------------------------------------
def test_shards_mixed_compression_equal_single_file(tmp_path):
    paths = _small_set(tmp_path)
    single = load(tmp_path)
    r = pd.read_csv(paths["ratings"], sep="\t", dtype=str, keep_default_na=False)
    shard_dir = tmp_path / "shards" / "ratings"
    shard_dir.mkdir(parents=True)
    parts = np.array_split(np.arange(len(r)), 4)
    r.iloc[parts[0]].to_csv(shard_dir / "ratings-00000.tsv", sep="\t", index=False)
    with gzip.open(shard_dir / "ratings-00001.tsv.gz", "wt") as fh:
        r.iloc[parts[1]].to_csv(fh, sep="\t", index=False)
    with zipfile.ZipFile(shard_dir / "ratings-00002.zip", "w") as zf:
        zf.writestr("ratings-00002.tsv", r.iloc[parts[2]].to_csv(sep="\t", index=False))
    with gzip.open(shard_dir / "ratings-00003.tsv", "wt") as fh:  # gzip content, plain name
        r.iloc[parts[3]].to_csv(fh, sep="\t", index=False)
    ds = load(notes=paths["notes"], ratings=shard_dir, status=paths["status"], enrollment=paths["enrollment"])
    pd.testing.assert_frame_equal(ds.ratings, single.ratings)
    assert ds.participants.equals(single.participants)
    assert len(ds.report.files) == 7
    assert any("gzip" in what for _p, what, _n in ds.report.recoveries)
    assert ds.report.n_recoveries == 1
    # list of shards == directory
    ds2 = load(notes=paths["notes"], ratings=sorted(shard_dir.iterdir()), status=paths["status"],
               enrollment=paths["enrollment"])
    pd.testing.assert_frame_equal(ds2.ratings, single.ratings)


def test_directory_with_ratings_subdir(tmp_path):
    paths = _small_set(tmp_path)
    (tmp_path / "ratings").mkdir()
    shutil.move(paths["ratings"], tmp_path / "ratings" / "ratings-00000.tsv")
    assert len(load(tmp_path).ratings) == 12


def test_missing_file_in_directory(tmp_path):
    paths = _small_set(tmp_path)
    paths["enrollment"].unlink()
    with pytest.raises(CnlabInputError, match="enrollment"):
        load(tmp_path)


def test_joint_codes_cover_all_files(tmp_path):
    _small_set(tmp_path)
    ds = load(tmp_path)
    # authors _pid(20/21) and enrollee _pid(30) rate nothing but still get codes
    assert len(ds.participants) == 8
    assert (ds.notes[S.AUTHOR_ID] >= 0).all() and (ds.enrollment[S.PARTICIPANT_ID] >= 0).all()
    back = ds.restore_ids(ds.notes)[S.AUTHOR_ID].tolist()
    assert back == [_pid(20), _pid(21), _pid(1)]
    assert ds.codes_for([_pid(1), "nope"]).tolist() == [ds.participants.get_loc(_pid(1)), -1]


def test_optional_rating_columns(tmp_path):
    _small_set(tmp_path)
    ds = load(tmp_path, columns=["version", "ratedOnTweetId"])
    assert ds.ratings["version"].tolist() == [2] * 12 and (ds.ratings["ratedOnTweetId"] == 77).all()
    assert "agree" not in load(tmp_path).ratings
    assert {"version", "agree", "disagree", "ratedOnTweetId"} <= set(load(tmp_path, columns="all").ratings)
    with pytest.raises(ValueError, match="suggestion"):
        load(tmp_path, columns=["suggestion"])


def test_missing_participant_id_becomes_minus_one(tmp_path):
    r = _ratings_frame()
    r.loc[3, "raterParticipantId"] = ""
    _small_set(tmp_path, r)
    ds = load(tmp_path)
    assert ds.ratings[S.RATER_ID].iloc[3] == -1
    assert pd.isna(ds.restore_ids(ds.ratings)[S.RATER_ID].iloc[3])


# ---------------------------------------------------------------------------
# schema drift
# ---------------------------------------------------------------------------
def test_shuffled_and_extra_columns(tmp_path):
    paths = _small_set(tmp_path)
    ref = load(tmp_path)
    r = pd.read_csv(paths["ratings"], sep="\t", dtype=str, keep_default_na=False)
    cols = list(r.columns)[::-1]
    r = r[cols]
    r["brandNewColumn"] = "x"
    r["anotherOne"] = 1
    r.to_csv(paths["ratings"], sep="\t", index=False)
    ds = load(tmp_path)
    pd.testing.assert_frame_equal(ds.ratings, ref.ratings)
    warns = [w for w in ds.report.warnings if "unknown" in w]
    assert len(warns) == 1 and "brandNewColumn" in warns[0] and "anotherOne" in warns[0]


def test_missing_optional_columns_filled(tmp_path):
    paths = _small_set(tmp_path)
    r = pd.read_csv(paths["ratings"], sep="\t", dtype=str, keep_default_na=False)
    r = r.drop(columns=["ratingSourceBucketed", "helpfulOther", "helpful", "suggestion", "suggestionId"])
    r.to_csv(paths["ratings"], sep="\t", index=False)
    ds = load(tmp_path)
    assert (ds.ratings[S.RATING_SOURCE] == S.SOURCE_DEFAULT).all()
    assert (ds.ratings["helpful"] == 0).all()
    assert (ds.ratings[S.HELPFUL_TAG_BITS] & 1 == 0).all()
    rec = [what for _p, what, _n in ds.report.recoveries]
    assert len(rec) == 1 and "ratingSourceBucketed" in rec[0] and "suggestion" not in rec[0]


def test_missing_required_column(tmp_path):
    paths = _small_set(tmp_path)
    r = pd.read_csv(paths["ratings"], sep="\t", dtype=str, keep_default_na=False)
    r.drop(columns=["helpfulnessLevel"]).to_csv(paths["ratings"], sep="\t", index=False)
    with pytest.raises(CnlabInputError) as ei:
        load(tmp_path)
    assert ei.value.column == "helpfulnessLevel" and ei.value.path.endswith("ratings-00000.tsv")
    assert ei.value.line == 1


def test_headerless_file_recovered(tmp_path):
    paths = _small_set(tmp_path)
    ref = load(tmp_path)
    r = pd.read_csv(paths["ratings"], sep="\t", dtype=str, keep_default_na=False)
    r.to_csv(paths["ratings"], sep="\t", index=False, header=False)
    ds = load(tmp_path)
    pd.testing.assert_frame_equal(ds.ratings, ref.ratings)
    assert any("no header" in what for _p, what, _n in ds.report.recoveries)


@pytest.mark.parametrize("official", [True, False])
def test_legacy_nsh(tmp_path, official):
    paths = _small_set(tmp_path)
    nsh = pd.read_csv(paths["status"], sep="\t")
    nsh["timestampMillisOfFirstNmrDueToMinStableCrhTime"] = 123.0
    nsh.drop(columns=["abovePcrhThresholdTime"]).to_csv(paths["status"], sep="\t", index=False)
    ds = load(tmp_path, legacy_nsh_official=official)
    h = ds.status_history
    assert list(h.columns) == list(S.NOTE_STATUS_HISTORY_COLUMNS)
    assert h["abovePcrhThresholdTime"].isna().all()
    col = h["timestampMillisOfFirstNmrDueToMinStableCrhTime"]
    assert col.isna().all() if official else (col == 123.0).all()
    assert any("legacy" in what for _p, what, _n in ds.report.recoveries)


# ---------------------------------------------------------------------------
# bad values: file, line, column
# ---------------------------------------------------------------------------
def _corrupt(path: Path, line: int, column: str | None, value: str | None = None, *, truncate: bool = False):
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    fields = lines[line - 1].split("\t")
    if truncate:
        fields = fields[: len(fields) // 2]
    else:
        fields[header.index(column)] = value
    lines[line - 1] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "kind, column, value",
    [
        ("ratings", "noteId", "12ab"),
        ("ratings", "createdAtMillis", "soon"),
        ("ratings", "helpfulnessLevel", "VERY_HELPFUL"),
        ("ratings", "ratingSourceBucketed", "SOMETIMES"),
        ("ratings", "notHelpfulIncorrect", "yes"),
        ("ratings", "noteId", ""),
        ("notes", "classification", "MAYBE"),
        ("notes", "noteId", "1e5x"),
        ("enrollment", "enrollmentState", "superUser"),
        ("enrollment", "modelingGroup", "thirteen"),
        ("status", "timestampMillisOfCurrentStatus", "later"),
        # hexadecimal: pyarrow's integer parser reads "0x1F" as 31 (and 0xFFFFFFFFFFFFFFFF as -1);
        # pandas, the official reader, rejects it, so it is a bad value, not a number
        ("ratings", "noteId", "0x1F"),
        ("ratings", "createdAtMillis", "0xFFFFFFFFFFFFFFFF"),
        ("ratings", "helpful", "0X1"),
        ("ratings", "notHelpfulIncorrect", "0x1"),
        ("notes", "tweetId", "0x5"),
        ("notes", "misleadingOther", "0x0"),
        ("enrollment", "numberOfTimesEarnedOut", "0x2"),
    ],
)
def test_bad_value_names_file_line_column(tmp_path, kind, column, value):
    paths = _small_set(tmp_path)
    _corrupt(paths[kind], 3, column, value)
    with pytest.raises(CnlabInputError) as ei:
        load(tmp_path)
    e = ei.value
    assert e.path == str(paths[kind]) and e.line == 3 and e.column == column, str(e)


def test_text_starting_with_0x_is_not_a_hex_error(tmp_path):
    """The hex guard re-scans a file whose field starts with 0x; text fields keep such values."""
    paths = _small_set(tmp_path)
    _corrupt(paths["notes"], 3, "summary", "0xAB12 is the wallet")
    _corrupt(paths["notes"], 2, "believable", "0x1")
    ds = load(tmp_path)
    notes = ds.restore_ids(ds.notes)
    assert notes[S.SUMMARY].tolist()[1] == "0xAB12 is the wallet"
    assert notes["believable"].astype(object).tolist()[0] == "0x1"
    assert notes[S.TWEET_ID].tolist() == [5, 5, 5]


def test_truncated_row(tmp_path):
    paths = _small_set(tmp_path)
    _corrupt(paths["ratings"], 5, None, truncate=True)
    with pytest.raises(CnlabInputError, match="fields") as ei:
        load(tmp_path)
    assert ei.value.line == 5


def test_truncated_gzip_stream(tmp_path):
    paths = _small_set(tmp_path)
    data = gzip.compress(paths["ratings"].read_bytes())
    paths["ratings"].unlink()
    gz = tmp_path / "ratings-00000.tsv.gz"
    gz.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CnlabInputError) as ei:
        load(tmp_path)
    assert ei.value.path == str(gz)


def test_empty_and_header_only_files(tmp_path):
    paths = _small_set(tmp_path)
    header = paths["status"].read_text().splitlines()[0]
    paths["status"].write_text(header + "\n")
    ds = load(tmp_path)
    assert len(ds.status_history) == 0
    assert any("header only" in w for w in ds.report.warnings)
    paths["status"].write_text("")
    with pytest.raises(CnlabInputError, match="empty") as ei:
        load(tmp_path)
    assert ei.value.path == str(paths["status"])


def test_garbage_first_line(tmp_path):
    paths = _small_set(tmp_path)
    paths["enrollment"].write_text("hello\tworld\n1\t2\n")
    with pytest.raises(CnlabInputError) as ei:
        load(tmp_path)
    assert ei.value.line == 1


def test_duplicate_header_column(tmp_path):
    paths = _small_set(tmp_path)
    text = paths["enrollment"].read_text().splitlines()
    text[0] = text[0].replace("modelingPopulation", "modelingGroup")
    paths["enrollment"].write_text("\n".join(text) + "\n")
    with pytest.raises(CnlabInputError, match="duplicate") as ei:
        load(tmp_path)
    assert ei.value.column == "modelingGroup"


# ---------------------------------------------------------------------------
# round trip: frames -> public files -> load -> same frames
# ---------------------------------------------------------------------------
def test_dataset_round_trip_through_files(fixture_ds, tmp_path):
    ds = fixture_ds
    r = S.unpack_tags(ds.restore_ids(ds.ratings)).drop(columns=[S.HELPFUL_TAG_BITS, S.NOT_HELPFUL_TAG_BITS])
    files = {
        "notes-00000.tsv": ds.restore_ids(ds.notes),
        "ratings-00000.tsv": r,
        "noteStatusHistory-00000.tsv": ds.restore_ids(ds.status_history),
        "userEnrollment-00000.tsv": ds.restore_ids(ds.enrollment),
    }
    for name, frame in files.items():
        frame.to_csv(tmp_path / name, sep="\t", index=False)
    back = load(tmp_path)
    assert back.participants.equals(ds.participants)
    for attr in ("ratings", "status_history", "enrollment"):
        pd.testing.assert_frame_equal(getattr(back, attr), getattr(ds, attr), obj=attr)
    # notes: the open-set categoricals may list categories differently; compare values
    pd.testing.assert_frame_equal(back.notes.astype(object), ds.notes.astype(object))
    # the file lacks version/agree/...: not asked for by default, so nothing to fill or count
    assert back.report.n_recoveries == 0 and back.report.warnings == ()


def test_restore_ids_handles_missing_codes(fixture_ds):
    f = pd.DataFrame({S.RATER_ID: [0.0, np.nan, -1.0, 2.0]})
    out = fixture_ds.restore_ids(f)
    p = fixture_ds.participants
    assert out[S.RATER_ID].iloc[0] == p[0] and out[S.RATER_ID].iloc[3] == p[2]
    assert out[S.RATER_ID].iloc[1:3].isna().all()
    with pytest.raises(S.SchemaError):
        fixture_ds.restore_ids(pd.DataFrame({S.RATER_ID: [10**6]}))
