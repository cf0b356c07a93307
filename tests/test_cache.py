"""The dataset cache (issue 10 item 6, issue 9's ``cnlab cache``): ``load(..., cache=DIR)`` reads a
parsed copy instead of the TSVs, identical to the TSV load; it is versioned, keyed on the inputs,
verified before it is read, written atomically, and holds nothing that is unpickled or evaluated."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from cnlab import cli
from cnlab.errors import CnlabInputError
from cnlab.io import cache as cache_module
from cnlab.io import load
from cnlab.synthetic import SAMPLE_DIR, generate

FRAMES = ("notes", "ratings", "status_history", "enrollment")


def _assert_same_dataset(a, b) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)
    pd.testing.assert_index_equal(a.participants, b.participants, exact=True)
    for field in ("warnings", "recoveries", "counts"):
        assert getattr(a.report, field) == getattr(b.report, field), field
    timeless = [[{k: v for k, v in f.items() if k != "seconds"} for f in r.report.files] for r in (a, b)]
    assert timeless[0] == timeless[1]


def _manifest(cache: Path) -> dict:
    return json.loads((cache / cache_module.MANIFEST).read_text())


def _data_file(cache: Path, table: str) -> Path:
    return cache / _manifest(cache)["data"] / f"{table}.arrow"


@pytest.fixture
def inputs(tmp_path) -> Path:
    """A synthetic public-format dataset (~15,000 ratings: the ratings file is over 2 MiB) in which
    the load has something to report: an extra column (warning), a headerless enrollment file
    (recovery) and an empty tag cell (warning and count)."""
    d = tmp_path / "inputs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        generate(d, n_notes=400, n_raters=250, n_ratings=15_000, seed=3)
    r = d / "ratings-00000.tsv"
    lines = r.read_text().split("\n")
    header = lines[0].split("\t")
    fields = lines[5].split("\t")
    fields[header.index("helpfulClear")] = ""
    lines[5] = "\t".join(fields)
    r.write_text("\n".join(lines))
    n = d / "notes-00000.tsv"
    notes = n.read_text().split("\n")
    n.write_text("\n".join([notes[0] + "\textraColumn"] + [ln + "\tx" for ln in notes[1:] if ln]) + "\n")
    e = d / "userEnrollment-00000.tsv"
    e.write_text("\n".join(e.read_text().split("\n")[1:]))
    return d


def test_cache_round_trip_is_identical(inputs, tmp_path):
    cache = tmp_path / "cache"
    ref = load(inputs)
    assert ref.report.warnings and ref.report.recoveries and ref.report.counts  # something to carry over
    built = load(inputs, cache=cache)
    assert built.report.cache == f"written to {cache}"
    hit = load(inputs, cache=cache)
    assert hit.report.cache == f"read from {cache}"
    _assert_same_dataset(ref, built)
    _assert_same_dataset(ref, hit)
    # the compact dtypes came back, not merely equal values
    assert str(hit.ratings["raterParticipantId"].dtype) == "int32"
    assert str(hit.ratings["helpfulTagBits"].dtype) == "uint16"
    assert hit.ratings["helpfulnessLevel"].cat.codes.dtype == "int8"
    assert "cache: read from" in hit.report.summary()


@pytest.mark.slow
def test_scoring_from_the_cache_is_identical(tmp_path):
    from cnlab.pipeline import ScoringConfig, score

    tsv = load(SAMPLE_DIR)
    load(SAMPLE_DIR, cache=tmp_path / "cache")
    cached = load(SAMPLE_DIR, cache=tmp_path / "cache")
    assert cached.report.cache.startswith("read from")
    _assert_same_dataset(tsv, cached)
    a = score(tsv, ScoringConfig()).outputs()["scored_notes"]
    b = score(cached, ScoringConfig()).outputs()["scored_notes"]
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_rebuilt_when_the_format_version_changes(inputs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load(inputs, cache=cache)
    old_data = _manifest(cache)["data"]
    monkeypatch.setattr(cache_module, "CACHE_FORMAT_VERSION", cache_module.CACHE_FORMAT_VERSION + 1)
    ds = load(inputs, cache=cache)
    v = cache_module.CACHE_FORMAT_VERSION
    assert ds.report.cache == f"rebuilt (cache format {v - 1} (this cnlab reads {v})) in {cache}"
    m = _manifest(cache)
    assert m["key"]["format"] == m["cnlab_cache_format"] == v and m["data"] != old_data
    assert not (cache / old_data).exists()  # the old data folder is gone
    assert load(inputs, cache=cache).report.cache.startswith("read from")


def test_rebuilt_when_an_input_or_an_option_changes(inputs, tmp_path):
    cache = tmp_path / "cache"
    load(inputs, cache=cache)
    r = inputs / "ratings-00000.tsv"
    lines = r.read_text().split("\n")
    header = lines[0].split("\t")
    fields = lines[1].split("\t")
    col = header.index("createdAtMillis")
    fields[col] = str(int(fields[col]) + 1)  # same size
    lines[1] = "\t".join(fields)
    r.write_text("\n".join(lines))
    ds = load(inputs, cache=cache)
    assert ds.report.cache.startswith("rebuilt (inputs changed: ratings-00000.tsv (mtime_ns, sha256))")
    _assert_same_dataset(load(inputs), ds)
    assert ds.ratings["createdAtMillis"].iloc[0] == int(fields[col])
    other = load(inputs, cache=cache, columns=["version"])
    assert other.report.cache.startswith("rebuilt (other load options)") and "version" in other.ratings
    # another file set (an explicit path instead of the one found in the folder) is another key
    shutil.copy(inputs / "notes-00000.tsv", tmp_path / "notes-copy.tsv")
    moved = load(inputs, notes=tmp_path / "notes-copy.tsv", cache=cache, columns=["version"])
    assert moved.report.cache.startswith("rebuilt (other notes files)")


def test_full_hash_sees_an_edit_that_keeps_size_and_mtime(inputs, tmp_path):
    r = inputs / "ratings-00000.tsv"
    size = r.stat().st_size
    assert size > 2 * cache_module.EDGE_BYTES
    for mode in ("edges", "full"):
        load(inputs, cache=tmp_path / mode, cache_hash=mode)
    st = r.stat()
    raw = bytearray(r.read_bytes())
    mid = raw.index(b"\tHELPFUL\t", size // 2) + 1
    raw[mid:mid + 7] = b"XELPFUL"  # an unknown level: a TSV load would now fail
    r.write_bytes(bytes(raw))
    os.utime(r, ns=(st.st_atime_ns, st.st_mtime_ns))
    # the default key hashes the first and last MiB only: it does not see the edit (documented) ...
    assert load(inputs, cache=tmp_path / "edges").report.cache.startswith("read from")
    # ... the full hash does, and the rebuild parses the file
    with pytest.raises(CnlabInputError, match="XELPFUL"):
        load(inputs, cache=tmp_path / "full", cache_hash="full")
    with pytest.raises(ValueError, match="cache_hash"):
        load(inputs, cache=tmp_path / "other", cache_hash="middle")


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    p.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage, expect", [
    (lambda c: _truncate(_data_file(c, "ratings")), "ratings.arrow has"),
    (lambda c: _flip(_data_file(c, "notes")), "notes.arrow: SHA-256 differs"),
    (lambda c: _data_file(c, "participants").unlink(), "participants.arrow is missing"),
    (lambda c: (c / cache_module.MANIFEST).write_text('{"key": '), "unreadable manifest"),
])
def test_a_damaged_cache_is_rebuilt_with_a_warning_never_read(inputs, tmp_path, monkeypatch, damage, expect):
    cache = tmp_path / "cache"
    ref = load(inputs, cache=cache)
    damage(cache)

    def refuse(*a, **k):
        raise AssertionError("a damaged cache file was opened as Arrow data")

    monkeypatch.setattr(pa.ipc, "open_file", refuse)
    ds = load(inputs, cache=cache)
    warning = [w for w in ds.report.warnings if w.startswith(f"cache {cache}")]
    assert len(warning) == 1 and expect in warning[0] and "rebuilt from the TSV files" in warning[0], ds.report.warnings
    assert ds.report.cache.startswith(f"rebuilt in {cache} (corrupt: ")
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(ds, name), getattr(ref, name), check_exact=True)
    monkeypatch.undo()
    again = load(inputs, cache=cache)
    assert again.report.cache.startswith("read from") and again.report.warnings == ref.report.warnings


def test_forged_cache_contents_are_rejected(inputs, tmp_path):
    cache = tmp_path / "cache"
    load(inputs, cache=cache)
    m = _manifest(cache)
    # a manifest pointing outside the cache folder
    (cache / cache_module.MANIFEST).write_text(json.dumps({**m, "data": "../elsewhere"}))
    ds = load(inputs, cache=cache)
    assert any("unexpected data folder '../elsewhere'" in w for w in ds.report.warnings)
    # a data file with a column type cnlab never writes (an extension type), hashes made to match
    m = _manifest(cache)
    path = cache / m["data"] / "enrollment.arrow"
    table = pa.table({"participantId": pa.ExtensionArray.from_storage(pa.uuid(), pa.array([b"0" * 16], pa.binary(16)))})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    m["files"]["enrollment.arrow"] = {"bytes": path.stat().st_size,
                                      "sha256": cache_module._sha256_file(path, edges=False)}
    (cache / cache_module.MANIFEST).write_text(json.dumps(m))
    ds = load(inputs, cache=cache)
    assert any("column types cnlab never writes" in w for w in ds.report.warnings), ds.report.warnings


def test_the_cache_holds_no_pickle(inputs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ref = load(inputs, cache=cache)
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".arrow", ".json"}, files

    def refuse(*a, **k):
        raise AssertionError("the cache unpickled something")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pd, "read_pickle", refuse)
    ds = load(inputs, cache=cache)
    assert ds.report.cache.startswith("read from")
    _assert_same_dataset(ref, ds)


def test_a_failed_write_leaves_the_previous_cache(inputs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load(inputs, cache=cache)
    before = _manifest(cache)
    e = inputs / "userEnrollment-00000.tsv"
    original, st = e.read_bytes(), e.stat()
    e.write_bytes(original + original.split(b"\n")[0] + b"\n")  # one more enrollment row
    calls = []
    real = cache_module._write_table

    def failing(frame, path):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(frame, path)

    monkeypatch.setattr(cache_module, "_write_table", failing)
    ds = load(inputs, cache=cache)
    assert ds.report.cache == f"not written to {cache} (No space left on device)"
    assert any("not written" in w for w in ds.report.warnings)
    assert _manifest(cache) == before  # the old cache, whole
    assert not list(cache.glob(".tmp-*")) and [p.name for p in cache.glob("data-*")] == [before["data"]]
    monkeypatch.undo()
    e.write_bytes(original)
    os.utime(e, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert load(inputs, cache=cache).report.cache.startswith("read from")


def test_cli_cache_command(inputs, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    assert cli.main(["cache", str(inputs), "--cache", str(cache), "--quiet"]) == cli.EXIT_OK
    assert f"written to {cache}" in capsys.readouterr().out
    assert cli.main(["cache", str(inputs), "--cache", str(cache), "--quiet", "--full-hash"]) == cli.EXIT_OK
    assert "rebuilt (other load options)" in capsys.readouterr().out
    assert cli.main(["cache", str(inputs), "--cache", str(cache), "--quiet", "--full-hash"]) == cli.EXIT_OK
    assert f"read from {cache}" in capsys.readouterr().out
    assert cli.main(["cache", str(tmp_path / "nope"), "--cache", str(cache)]) == cli.EXIT_BAD_INPUT
    assert "not a directory" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["cache", str(inputs), "--cache", str(blocker / "c"), "--quiet"]) == cli.EXIT_BAD_INPUT
    assert "--cache: not written" in capsys.readouterr().err
    # cnlab score passes --cache to the loader
    seen = {}

    def fake_load(*a, **k):
        seen.update(k)
        raise CnlabInputError("stop here")

    monkeypatch.setattr("cnlab.io.load", fake_load)
    rc = cli.main(["score", str(inputs), "--cache", str(cache), "-o", str(tmp_path / "out"), "--quiet"])
    assert rc == cli.EXIT_BAD_INPUT and seen["cache"] == str(cache)
