""":func:`generate`: a synthetic data set in the public format (spec 04 §2), with its planted truth.

Orchestration only: the world and the ratings come from :mod:`cnlab.synthetic.planted`, ratings are
streamed rater chunk by rater chunk through :mod:`cnlab.synthetic.writer`, the other files and the
truth tables come from :mod:`cnlab.synthetic.files`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from cnlab import schema
from cnlab.synthetic.config import SyntheticConfig, SyntheticTruth
from cnlab.synthetic.files import _truth_frames, _write_enrollment, _write_notes, _write_nsh
from cnlab.synthetic.planted import _build_world, _format_ratings, _ratings_chunk
from cnlab.synthetic.writer import _frame_tsv, _header, _ShardWriter, _write_whole


def generate(
    out_dir,
    *,
    n_notes: int | None = None,
    n_raters: int | None = None,
    n_ratings: int | None = None,
    seed: int | None = None,
    n_factors: int | None = None,
    config: SyntheticConfig | None = None,
    shard_size: int | None = None,
    progress: bool = False,
    compress: bool = False,
) -> SyntheticTruth:
    """Generate a synthetic data set in the public format.

    Parameters
    ----------
    out_dir
        Directory to write to (created).
    n_notes, n_raters, n_ratings, seed, n_factors
        Override the corresponding :class:`SyntheticConfig` fields (``config``
        defaults to ``SyntheticConfig()``).
    config
        Everything else about the planted model.
    shard_size
        If given, ratings are split into ``ratings-00000.tsv``, ``ratings-00001.tsv``,
        ... of at most ``shard_size`` rows each (concatenated they equal the
        unsharded file minus repeated headers).
    progress
        Print one line per chunk to stderr.
    compress
        Write ``.tsv.gz`` (gzip, mtime 0) instead of ``.tsv``.

    Returns
    -------
    SyntheticTruth
    """
    cfg = config or SyntheticConfig()
    over = {k: v for k, v in dict(n_notes=n_notes, n_raters=n_raters, n_ratings=n_ratings,
                                   seed=seed, n_factors=n_factors).items() if v is not None}
    cfg = dataclasses.replace(cfg, **over)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    level = cfg.gzip_level if compress else None
    suffix = ".tsv.gz" if compress else ".tsv"
    t_start = time.perf_counter()

    world = _build_world(cfg)
    files: list[Path] = []

    # ---- ratings (streamed) ----
    writer = _ShardWriter(out, "ratings", _header(schema.RATINGS_FILE_COLUMNS), shard_size, level, suffix)
    n_notes_all = len(world["note_created"])
    note_count = np.zeros(n_notes_all, dtype=np.int64)
    note_hsum = np.zeros(n_notes_all, dtype=np.float64)
    rater_count = np.zeros(cfg.n_raters, dtype=np.int64)
    written = 0
    bounds = world["chunk_bounds"]
    for ci in range(len(bounds) - 1):
        a, b = int(bounds[ci]), int(bounds[ci + 1])
        r, nn, t, lvl, tags, src = _ratings_chunk(cfg, world, ci, a, b)
        note_count += np.bincount(nn, minlength=n_notes_all)
        note_hsum += np.bincount(nn, weights=np.array([1.0, 0.5, 0.0])[lvl], minlength=n_notes_all)
        rater_count += np.bincount(r, minlength=cfg.n_raters)
        step = 200_000
        for s in range(0, len(r), step):
            sl = slice(s, s + step)
            data, rowlen = _format_ratings(world, r[sl], nn[sl], t[sl], lvl[sl], tags[sl], src[sl],
                                           rowlen=bool(shard_size))
            writer.write(data, rowlen)
        written += len(r)
        if progress:
            el = time.perf_counter() - t_start
            print(f"[synthetic] chunk {ci + 1}/{len(bounds) - 1}: {written:,} ratings, "
                  f"{el:.1f}s, {written / max(el, 1e-9):,.0f}/s", file=sys.stderr, flush=True)
    writer.close()

    # ---- notes, NSH, enrollment ----
    files.append(_write_notes(out, world, level, suffix))
    files.extend(writer.paths)
    files.append(_write_nsh(out, cfg, world, level, suffix))
    files.append(_write_enrollment(out, world, level, suffix))

    # ---- truth ----
    notes_tab, raters_tab = _truth_frames(cfg, world, note_count, note_hsum, rater_count)
    for name, frame in (("notes_truth", notes_tab), ("raters_truth", raters_tab)):
        p = out / f"{name}.tsv.gz"
        _write_whole(p, b"", [_frame_tsv(frame)], cfg.gzip_level)
        files.append(p)
    meta = {
        "generator": "cnlab.synthetic",
        "epoch_millis": cfg.now_millis,
        "n_notes": cfg.n_notes,
        "n_notes_in_notes_file": int((~world["deleted"]).sum()),
        "n_raters": cfg.n_raters,
        "n_ratings": int(written),
        "config": {k: (list(map(list, v)) if isinstance(v, tuple) else v)
                   for k, v in dataclasses.asdict(cfg).items()},
    }
    p = out / "meta.json"
    p.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    files.append(p)
    if written != cfg.n_ratings:
        warnings.warn(f"cnlab.synthetic: wrote {written} ratings instead of {cfg.n_ratings} "
                      f"(too few notes per rater for that many distinct pairs)", stacklevel=2)
    if progress:
        print(f"[synthetic] done: {written:,} ratings in {time.perf_counter() - t_start:.1f}s",
              file=sys.stderr, flush=True)
    return SyntheticTruth(notes=notes_tab.to_pandas(), raters=raters_tab.to_pandas(), config=cfg,
                          epoch_millis=cfg.now_millis, n_ratings=int(written),
                          files=tuple(str(f) for f in files))
