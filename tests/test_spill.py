"""cnlab.pipeline.spill: rating frames written and read back equal, the dataset lent and given back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cnlab.io import load_sample
from cnlab.pipeline.spill import RatingsSpill, read_frame, write_frame
from cnlab.preprocess import preprocess


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def test_frames_come_back_exactly_with_their_index_and_dtypes(sample, tmp_path):
    r = sample.ratings
    kept = r.iloc[np.flatnonzero(np.arange(len(r)) % 7 != 3)]  # rows dropped: an index with gaps
    for frame in (r, kept, kept.iloc[:0]):
        write_frame(frame, tmp_path / "f.arrow")
        back = read_frame(tmp_path / "f.arrow", frame.dtypes)
        pd.testing.assert_frame_equal(back, frame, check_exact=True)
        assert back.index.equals(frame.index) and type(back.index) is type(frame.index)
        assert not list(tmp_path.glob(".*.tmp"))


def test_a_frame_is_read_one_batch_at_a_time(sample, tmp_path, monkeypatch):
    """A RangeIndex frame of numpy and categorical columns (the run's ratings) is read one record
    batch at a time into the frame's arrays (never the whole table) and equals pyarrow's
    whole-table read; a batch that converts otherwise (nulls) falls back to the whole read."""
    import pyarrow as pa
    import pyarrow.feather as feather

    import cnlab.pipeline.spill as spill

    frame = sample.ratings.reset_index(drop=True)
    path = tmp_path / "f.arrow"
    feather.write_feather(frame, path, compression="uncompressed", chunksize=len(frame) // 5 + 1)
    assert pa.ipc.open_file(pa.OSFile(str(path))).num_record_batches == 5
    whole = feather.read_table(path).to_pandas()
    monkeypatch.setattr(spill, "_whole_read", lambda p: pytest.fail("read whole"))
    back = read_frame(path, frame.dtypes)
    pd.testing.assert_frame_equal(back, whole, check_exact=True)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    monkeypatch.undo()
    # an integer column missing in one batch only: that batch converts to float -> whole read
    col = frame.columns[frame.dtypes.map(lambda d: d.kind == "i").to_numpy()][0]
    table = pa.Table.from_pandas(frame, preserve_index=None)
    values = table.column(col).to_pylist()
    values[-1] = None
    table = table.set_column(table.schema.get_field_index(col), col, pa.array(values, table.schema.field(col).type))
    feather.write_feather(table, path, compression="uncompressed", chunksize=len(frame) // 5 + 1)
    pd.testing.assert_frame_equal(read_frame(path), feather.read_table(path).to_pandas(), check_exact=True)


def test_the_dataset_is_lent_and_given_back(sample, tmp_path):
    ds = dataclasses.replace(sample)  # a Dataset of its own (the same frames)
    pre = preprocess(ds)
    want_ds, want_pre = ds.ratings.copy(), pre.ratings.copy()
    spill = RatingsSpill.write(tmp_path / "spill", ds, pre)
    assert ds.ratings is None  # released: the run holds no reference through the dataset
    # the columns preprocessing did not copy are written once, in the dataset's file
    assert set(spill.shared) == set(want_ds.columns) and spill.own_columns == ["helpfulNum", "highVolumeRater"]
    assert pa.ipc.open_file(pa.OSFile(str(spill.preprocessed_path))).schema.names == spill.own_columns
    back = spill.read_preprocessed(remove=False)
    pd.testing.assert_frame_equal(back, want_pre, check_exact=True)
    assert spill.preprocessed_on_disk()
    spill.write_preprocessed(back)  # dropped again: the own columns written again
    pd.testing.assert_frame_equal(spill.read_preprocessed(), want_pre, check_exact=True)
    assert not spill.preprocessed_path.exists() and not spill.preprocessed_on_disk()
    spill.restore_dataset(ds)
    pd.testing.assert_frame_equal(ds.ratings, want_ds, check_exact=True)
    assert not spill.dataset_path.exists()
    assert sample.ratings is not None  # the other Dataset object was not touched


@pytest.mark.parametrize("case", ["copied", "same frame"])
def test_a_spill_of_unshared_or_identical_frames(sample, tmp_path, case):
    """Preprocessed ratings that are a copy are written whole; the dataset's own frame (nothing
    added) is written once and read back for both."""
    ds = dataclasses.replace(sample, ratings=sample.ratings.copy())
    pre = preprocess(ds)
    pre = dataclasses.replace(pre, ratings=pre.ratings.copy() if case == "copied" else ds.ratings)
    want_ds, want_pre = ds.ratings.copy(), pre.ratings.copy()
    spill = RatingsSpill.write(tmp_path / "spill", ds, pre)
    if case == "copied":
        assert spill.shared == () and spill.preprocessed_path.exists()
    else:
        assert spill.own_columns == [] and not spill.preprocessed_path.exists()
    pd.testing.assert_frame_equal(spill.read_preprocessed(), want_pre, check_exact=True)
    assert spill.preprocessed_on_disk() == (case != "copied")
    spill.restore_dataset(ds)
    pd.testing.assert_frame_equal(ds.ratings, want_ds, check_exact=True)
    assert not list((tmp_path / "spill").iterdir())


def test_a_run_that_fails_after_the_spill_gives_the_dataset_back(sample, monkeypatch):
    """A lean run with a worker process lends its dataset's ratings to disk; an error later in the
    run (here in the confidence models) still gives them back, equal."""
    import cnlab.pipeline.run as run
    from cnlab.pipeline import ScoringConfig, score

    ds = dataclasses.replace(sample)
    want = ds.ratings.copy()

    def boom(*args, **kwargs):
        assert ds.ratings is None, "lent while the run goes on"
        raise RuntimeError("stop here")

    monkeypatch.setattr(run, "fit_confidence_models", boom)
    with pytest.raises(RuntimeError, match="stop here"):
        score(ds, ScoringConfig(seed=5), keep="outputs", isolate=True)
    pd.testing.assert_frame_equal(ds.ratings, want, check_exact=True)


def test_arrow_columns_read_each_column_as_a_whole_read_does(sample, tmp_path):
    """A worker's lazy view of the input file: every column equals the whole read's (values and
    dtype), and the scorer's slice cut from it equals the slice cut from the frame."""
    from cnlab.pipeline.spill import ArrowColumns
    from cnlab.scorers.mf_config import CORE
    from cnlab.scorers.mf_prescoring import slice_for_prescoring

    pre = preprocess(sample)
    write_frame(pre.ratings.reset_index(drop=True), tmp_path / "r.arrow")
    lazy = ArrowColumns(tmp_path / "r.arrow")
    whole = read_frame(tmp_path / "r.arrow")
    assert len(lazy) == len(whole) and list(lazy.columns) == list(whole.columns)
    assert lazy.index.equals(whole.index)
    for col in whole.columns:
        pd.testing.assert_series_equal(lazy[col], whole[col], check_exact=True)
    with pytest.raises(KeyError):
        lazy["noSuchColumn"]
    a = slice_for_prescoring(lazy, pre.status_history, sample.enrollment, CORE, epoch_millis=0).take()[0]
    b = slice_for_prescoring(whole, pre.status_history, sample.enrollment, CORE, epoch_millis=0).take()[0]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # a lean run's slice: indexed by position, the same rows and columns
    c = slice_for_prescoring(lazy, pre.status_history, sample.enrollment, CORE, epoch_millis=0,
                             keep_labels=False).take()[0]
    assert isinstance(c.index, pd.RangeIndex) and len(c) < len(whole)
    pd.testing.assert_frame_equal(c, b.reset_index(drop=True), check_exact=True)


def test_final_ratings_read_from_the_spill_equal_the_coalesced_frame(core_full_run, tmp_path):
    """A lean run with its ratings on disk reads the final ratings as a column view of the spilled
    run's ratings at the positions PSS coalescing keeps (``final_pss_rows`` + ``TakenColumns``):
    every column equals :func:`apply_pss`'s frame (values, dtype, order), and the Core final
    scoring and the note statistics give the same outputs from either."""
    from cnlab import schema
    from cnlab.pipeline.run import apply_pss, final_pss_rows
    from cnlab.pipeline.spill import TakenColumns
    from cnlab.scorers.mf_config import CORE
    from cnlab.scorers.mf_final import score_final
    from cnlab.scoring.note_stats import compute_note_stats

    res = core_full_run
    pre, nsh = res.preprocessed, res.preprocessed.status_history
    ds = dataclasses.replace(res.dataset)  # the spill lends this object's ratings, not the fixture's
    fp = res.prescoring.final_pss()
    want = apply_pss(pre.notes, pre.ratings, fp)
    take, corr = final_pss_rows(pre.notes, pre.ratings, fp)
    assert take is not None and len(take) < len(pre.ratings) and corr.any()  # rows coalesced, raters flagged
    spill = RatingsSpill.write(tmp_path / "spill", ds, pre)
    view = TakenColumns(spill.preprocessed_columns(), take, {schema.CORRELATED_RATER: corr},
                        n_rows=len(pre.ratings))
    assert len(view) == len(want) and list(view.columns) == list(want.columns)
    assert view.index.equals(want.index)
    for col in want.columns:
        pd.testing.assert_series_equal(view[col], want[col], check_exact=True)
    pd.testing.assert_frame_equal(view.to_frame(), want, check_exact=True)
    # a view of the view (a scorer's rows) reads each column once, at the composed positions (PSS
    # coalescing's order is not the file's: from the whole column); rows out of order are taken
    # from the view's column instead; the same values and dtypes either way
    rng = np.random.default_rng(3)
    rows = np.flatnonzero(rng.random(len(want)) < 0.3)
    for sub in (rows, rng.permutation(rows)):
        inner = TakenColumns(view, sub)
        assert inner._gathers() == (sub is rows)
        pd.testing.assert_frame_equal(inner.to_frame(), want.iloc[sub].reset_index(drop=True), check_exact=True)
    # increasing positions into the file: gathered a record batch at a time
    direct = TakenColumns(spill.preprocessed_columns(), rows, n_rows=len(pre.ratings))
    assert direct._gathers()
    pd.testing.assert_frame_equal(direct.to_frame(), pre.ratings.iloc[rows].reset_index(drop=True),
                                  check_exact=True)
    epoch = res.epoch_millis
    pd.testing.assert_frame_equal(compute_note_stats(view, nsh, epoch_millis=epoch),
                                  compute_note_stats(want, nsh, epoch_millis=epoch), check_exact=True)
    kw = dict(note_topics=res.note_topics, seed=42, epoch_millis=epoch, keep_ratings=False)
    a = score_final(view, nsh, ds.enrollment, CORE, res.prescoring, **kw)
    b = score_final(want, nsh, ds.enrollment, CORE, res.prescoring, **kw)
    for key in ("scored_notes", "helpfulness_scores", "aux_note_info"):
        pd.testing.assert_frame_equal(getattr(a, key), getattr(b, key), check_exact=True)
    # no PSS rows: every rating, none correlated
    take, corr = final_pss_rows(pre.notes, pre.ratings, None)
    none = TakenColumns(spill.preprocessed_columns(), take, {schema.CORRELATED_RATER: corr}, n_rows=len(pre.ratings))
    pd.testing.assert_frame_equal(none.to_frame(), apply_pss(pre.notes, pre.ratings, None), check_exact=True)


def test_a_run_told_not_to_return_the_ratings_leaves_them_on_no_disk(sample, tmp_path):
    """``return_ratings=False`` (what ``cnlab score`` asks): the lent ratings are not read back,
    their spilled files are removed, and the outputs are those of a run that gives them back."""
    from cnlab.pipeline import ScoringConfig, score

    kept = dataclasses.replace(sample)
    dropped = dataclasses.replace(sample)
    a = score(kept, ScoringConfig(seed=5), keep="outputs", isolate=True, checkpoint=tmp_path / "a")
    b = score(dropped, ScoringConfig(seed=5), keep="outputs", isolate=True, checkpoint=tmp_path / "b",
              return_ratings=False)
    pd.testing.assert_frame_equal(kept.ratings, sample.ratings, check_exact=True)
    assert dropped.ratings is None
    assert not [p for p in (tmp_path / "b").rglob("*.arrow") if "spill" in p.parts]
    assert "dataset's ratings read back" in set(a.timings["stage"])
    assert "dataset's ratings read back" not in set(b.timings["stage"])
    for name, frame in a.outputs().items():
        pd.testing.assert_frame_equal(b.outputs()[name], frame, check_exact=True, obj=name)


def test_arrow_columns_with_nulls_or_strings_equal_a_whole_read(tmp_path):
    """Columns read a batch at a time (numeric, boolean) and those read whole (nulls, strings,
    nullable integers) both come back as the whole read gives them, across several batches."""
    from cnlab.pipeline.spill import ArrowColumns

    n = (1 << 18) * 2 + 17  # three record batches
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "i64": rng.integers(-10**12, 10**12, n),
        "f32": rng.random(n).astype(np.float32),
        "flag": rng.random(n) < 0.5,
        "f64_nan": np.where(rng.random(n) < 0.01, np.nan, rng.random(n)),
        "nullable": pd.array(np.where(rng.random(n) < 0.01, None, 1), dtype="Int8"),
        "text": np.where(rng.random(n) < 0.5, "a", "bb"),
    })
    write_frame(frame, tmp_path / "f.arrow")
    lazy, whole = ArrowColumns(tmp_path / "f.arrow"), read_frame(tmp_path / "f.arrow")
    for col in frame.columns:
        pd.testing.assert_series_equal(lazy[col], whole[col], check_exact=True, obj=col)
    # rows gathered as each batch is read: what the whole column gives at those positions
    row_sets = [np.flatnonzero(rng.random(n) < 0.3), np.arange(0), np.arange(n),
                np.arange(n - 20, n), np.array([0, (1 << 18) - 1, 1 << 18, n - 1])]
    for rows in row_sets:
        for col in frame.columns:
            got, w = lazy.take_rows(col, rows), whole[col]
            want = w.to_numpy()[rows] if isinstance(w.dtype, np.dtype) else w.array[rows]
            pd.testing.assert_series_equal(pd.Series(got), pd.Series(want), check_exact=True, obj=col)
