"""Command line: ``cnlab score | demo | synth | cache``.

``cnlab score`` reads a folder of the public download (any layout :func:`cnlab.io.load`
accepts), the bundled sample, or the four files named by the flags of the official ``main.py``
(spec 04 §2.1)::

    cnlab score path/to/download/ --outdir out --seed 42
    cnlab score --sample --outdir out
    cnlab score --enrollment userEnrollment-00000.tsv --notes notes-00000.tsv \\
        --ratings ratings/ --status noteStatusHistory-00000.tsv --outdir out \\
        --seed 42 --epoch-millis 1794709800000

TensorFlow's start-up messages (oneDNN, CPU features, absl) are hidden unless ``--verbose``.

``cnlab cache DIRECTORY --cache CACHE`` parses a folder of the public download once into a cache
folder (:mod:`cnlab.io.cache`); ``cnlab score DIRECTORY --cache CACHE`` (or ``cnlab.load(...,
cache=CACHE)``) then reads that instead of the TSVs while the inputs are unchanged::

    cnlab cache path/to/download/ --cache cache/
    cnlab score path/to/download/ --cache cache/ --outdir out

``cnlab score`` writes the four files, their parquet copies (unless ``--no-parquet``) and the
preprocessing funnel ``funnel.tsv`` as one set with a manifest, ``cnlab-outputs.json``
(:func:`cnlab.io.write_outputs`); it checks that ``--outdir`` can be written before loading.

Bad input (:class:`~cnlab.errors.CnlabInputError`, :class:`~cnlab.schema.SchemaError`,
missing files, an ``--outdir`` that cannot be written) ends with exit code 2 and a one-paragraph message, no traceback.
Unexpected errors exit 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from cnlab._timing import StageTimer
from cnlab.errors import CnlabInputError
from cnlab.schema import SchemaError

#: Folder inside ``--outdir`` where ``cnlab score`` keeps its checkpoint until the outputs are written.
CHECKPOINT_DIR = ".cnlab-checkpoint"
#: From this many ratings a run takes minutes to hours: ``--checkpoint auto`` keeps checkpoints and
#: freed memory is handed back to the OS at once. Below, a run takes seconds to a minute, writing
#: every phase to disk would cost more than a rerun saves, and unmapping every large temporary
#: costs ~6 % of the time (fixture, whole roster: 28.3 s → 30.1 s).
LARGE_RUN_RATINGS = 1_000_000
#: Ratings from which `cnlab score` prescores in a worker process even for one scorer
#: (``score(isolate=True)``): TensorFlow's allocator keeps a pool as large as the biggest fit for
#: the life of its process; in a worker it goes before the pflip fit (50M Core: the parent's peak
#: 16.3 → 14.6 GiB; the tree's 16.3 → 16.0, the worker's copy of the ratings being the rest). A
#: worker's start-up (a few seconds, overlapped with preprocessing) is nothing at this size.
ISOLATE_RATINGS = 10_000_000

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


class _Console:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def info(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


# ---------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------
#: (short flag, flag, default of the official main.py, what) of the four input files.
_FILE_FLAGS = (
    ("-e", "--enrollment", "userEnrollment-00000.tsv", "user enrollment file"),
    ("-n", "--notes", "notes-00000.tsv", "notes file"),
    ("-r", "--ratings", "ratings", "ratings file, or a directory of shards"),
    ("-s", "--status", "noteStatusHistory-00000.tsv", "note status history file"),
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cnlab", description="Community Notes note scoring, reimplemented for research.")
    p.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score a public-data folder, the bundled sample, or the files named by "
                       "the flags of the official main.py")
    s.add_argument("directory", nargs="?", default=None,
                   help="folder of the public download (notes-*, ratings* or ratings/, noteStatusHistory-*, "
                   "userEnrollment-*; .tsv, .tsv.gz or .zip); instead of the four file flags")
    s.add_argument("--sample", action="store_true", help="score the bundled synthetic sample")
    for short, flag, default, what in _FILE_FLAGS:
        s.add_argument(short, flag, default=None, help=f"{what} (default {default}; not with DIRECTORY or --sample)")
    s.add_argument("-o", "--outdir", default=".", help="output directory")
    s.add_argument("--seed", type=int, default=None, help="seed of every stochastic step")
    s.add_argument("--scorers", default=None, help="comma-separated scorer names (e.g. MFCoreScorer for the fast "
                   "Core-only path, or MFCoreScorer,MFGroupScorer_13), all-mf for every MF scorer of the official "
                   "roster (with ReputationScorer), or all (the default, as the official main.py): MF + "
                   "ReputationScorer + Gaussian scorers")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--pseudoraters", dest="pseudoraters", action="store_true", default=True)
    g.add_argument("--nopseudoraters", dest="pseudoraters", action="store_false", help="skip pseudo-rater intervals")
    s.add_argument("--epoch-millis", type=int, default=None, help='"now" in ms since the epoch')
    s.add_argument("--fidelity", choices=("official", "fast"), default="official",
                   help="official (default): the official MF training loop; fast: the exact solver for every "
                        "MF fit whose objective it supports (ScoringConfig.fidelity)")
    s.add_argument("--factors", type=int, default=None, metavar="K",
                   help="factors per note and rater in every MF scorer (ScoringConfig.n_factors; "
                        "default: the official 1)")
    s.add_argument("--factor-rule", choices=("norm", "axis"), default="norm",
                   help="how the rules that read the factor use k of them: norm (default) or axis "
                        "(ScoringConfig.factor_rule)")
    s.add_argument("--confidence-models", choices=("fit", "none"), default="fit",
                   help="fit (default, official): train pflip and PCRH; none: neither (a note in "
                        "stabilization then counts as predicted to flip, the official reading of a "
                        "missing prediction; ScoringConfig.pflip / .pcrh = 'none')")
    s.add_argument("--prescoring-dir", default=None, help="start final scoring from these prescoring outputs")
    s.add_argument("--cache", default=None, metavar="CACHE", help="read the inputs through this cache folder "
                   "(written on the first run, rebuilt when the inputs change; see `cnlab cache`)")
    s.add_argument("--no-parquet", action="store_true", help="skip parquet copies of the outputs")
    s.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes for the scorers' prescoring (outputs identical for every N; "
                        "memory grows with N)")
    s.add_argument("--threads", type=int, default=None, metavar="N",
                   help="scorers (and the pflip / PCRH fits) side by side in threads of this process "
                        "(outputs identical for every N; default: the cores up to 2M ratings, 1 above)")
    s.add_argument("--no-memory-check", action="store_true",
                   help="score even when the estimated peak memory exceeds what the machine has free")
    s.add_argument("--release-tf-memory", action="store_true",
                   help="hand each TensorFlow fit's memory back when the fit ends (TF_ENABLE_ONEDNN_OPTS=0): "
                        "same results, a lower peak on large runs, MF fits up to ~2x slower there")
    s.add_argument("--resume", action="store_true",
                   help="continue an interrupted run with the same inputs and flags: reuse the phases "
                        "finished in OUTDIR/.cnlab-checkpoint (rater clustering, each scorer's prescoring)")
    s.add_argument("--checkpoint", choices=("auto", "on", "off"), default="auto",
                   help="keep finished phases in OUTDIR/.cnlab-checkpoint for --resume: auto (default) "
                        f"from {LARGE_RUN_RATINGS:,} ratings on, where a run takes minutes")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up log messages")

    d = sub.add_parser("demo", help="score the bundled sample, write the four output TSVs and figures")
    d.add_argument("-o", "--outdir", default="cnlab-demo", help="output directory")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--scorers", default="MFCoreScorer", help="as for score; the demo runs the Core model alone "
                   "by default (seconds), --scorers all runs the whole roster")
    d.add_argument("--quiet", action="store_true")
    d.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up log messages")

    y = sub.add_parser("synth", help="write a synthetic dataset in the public format")
    y.add_argument("--out", required=True, help="output directory")
    y.add_argument("--notes", type=int, required=True)
    y.add_argument("--raters", type=int, required=True)
    y.add_argument("--ratings", type=int, required=True)
    y.add_argument("--seed", type=int, default=0)
    y.add_argument("--dims", type=int, default=1, help="number of planted viewpoint factors")
    y.add_argument("--quiet", action="store_true")

    c = sub.add_parser("cache", help="parse a public-data folder once into a cache folder that later loads read "
                       "instead of the TSVs (cnlab score --cache, cnlab.load(..., cache=))")
    c.add_argument("directory", help="folder of the public download (as for score)")
    c.add_argument("--cache", required=True, metavar="CACHE", help="cache folder (created if needed)")
    c.add_argument("--full-hash", action="store_true", help="key the cache on every byte of the input files "
                   "(default: their names, sizes, mtimes and first and last MiB)")
    c.add_argument("--quiet", action="store_true")
    return p


# ---------------------------------------------------------------------------
# helpers shared by score / demo
# ---------------------------------------------------------------------------
def _scoring_config(args):
    from cnlab.scorers.gaussian import GAUSSIAN_SCORERS as gaussians
    from cnlab.scorers.reputation import REPUTATION_SCORERS as reputation
    from cnlab.pipeline import ScoringConfig
    from cnlab.scorers import mf_config as pconfig

    config = ScoringConfig()
    changes = {"pseudoraters": args.pseudoraters}
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.epoch_millis is not None:
        changes["epoch_millis"] = args.epoch_millis
    if getattr(args, "fidelity", "official") != "official":  # `cnlab demo` has no --fidelity
        changes["fidelity"] = args.fidelity
    if getattr(args, "factors", None) is not None:
        if args.factors < 1:
            raise CnlabInputError(f"--factors {args.factors}: give at least 1 factor")
        changes["n_factors"] = args.factors
    if getattr(args, "factor_rule", "norm") != "norm":
        changes["factor_rule"] = args.factor_rule
    if getattr(args, "confidence_models", "fit") == "none":
        changes["pflip"] = changes["pcrh"] = "none"
    # without --scorers the whole roster runs, as the official main.py does (drop-in default)
    names = tuple(n.strip() for n in (args.scorers or "all").split(",") if n.strip())
    if names:
        catalogue = pconfig.SCORERS
        if names == ("all",):  # the whole roster, as the official main.py without --scorers
            names = tuple(catalogue) + tuple(reputation) + tuple(gaussians)
        elif names == ("all-mf",):  # ScoringConfig.official_mf(): ALL_MF_SCORERS + ReputationScorer
            names = tuple(catalogue) + tuple(reputation)
        unknown = [n for n in names if n not in catalogue and n not in gaussians and n not in reputation]
        if unknown:
            raise CnlabInputError(
                f"--scorers: unknown scorer(s) {', '.join(unknown)}; available: all, all-mf, "
                f"{', '.join((*catalogue, *reputation, *gaussians))}"
            )
        changes["scorers"] = tuple(catalogue[n] for n in names if n in catalogue)
        changes["gaussian"] = tuple(gaussians[n] for n in names if n in gaussians)
        changes["reputation"] = next((reputation[n] for n in names if n in reputation), None)
        # meta rules are toggled per official Scorers enum (MFGroupScorer_13 → MFGroupScorer);
        # score() adds the Gaussian scorers' own rules when they run.
        changes["enabled_meta_scorers"] = pconfig.meta_scorer_names(changes["scorers"])
    return config.with_(**changes)


def _write(frames, outdir, *, parquet: bool, participants, console: _Console, funnel=None):
    from cnlab.io import write_outputs

    rep = write_outputs(frames, outdir, parquet=parquet, participants=participants, funnel=funnel)
    n_absent = sum(len(v) for v in rep.absent_columns.values())
    console.info(rep.summary())
    if n_absent:
        console.info(f"note: {n_absent} official column(s) were not computed and are written empty")
    return rep


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
def _input_source(args) -> tuple[str, object]:
    """Which input ``cnlab score`` reads: ("sample", None), ("directory", path) or ("files", dict).

    DIRECTORY, ``--sample`` and the four file flags exclude each other; without any of them the
    file flags take the official ``main.py`` defaults (files in the working directory).
    """
    given = [flag for _s, flag, _d, _w in _FILE_FLAGS if getattr(args, flag[2:]) is not None]
    sources = [name for name, on in (("DIRECTORY", args.directory is not None), ("--sample", args.sample)) if on]
    if len(sources) > 1 or (sources and given):
        raise CnlabInputError(
            f"give one input: {' and '.join(sources + given)} were given together; DIRECTORY (a public-download "
            "folder), --sample, or the four file flags --notes/--ratings/--status/--enrollment")
    if args.sample:
        return "sample", None
    if args.directory is not None:
        if not Path(args.directory).is_dir():
            raise CnlabInputError("DIRECTORY: not a directory", path=args.directory)
        return "directory", args.directory
    files = {}
    for _short, flag, default, _what in _FILE_FLAGS:
        path = getattr(args, flag[2:]) or default
        if not Path(path).exists():
            raise CnlabInputError(f"{flag}: no such file or directory", path=path)
        files[flag[2:]] = path
    return "files", files


def _check_writable(outdir) -> None:
    """Fail fast when ``outdir`` cannot take the outputs: create it if needed, then write,
    fsync and remove a probe file (an unwritable directory, a path under a regular file, a full
    disk).  Raises :class:`CnlabInputError` naming the directory."""
    import tempfile

    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".cnlab-probe-", dir=out)
        try:
            os.write(fd, b"cnlab")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise CnlabInputError(f"--outdir {out}: not writable ({e.strerror or e})") from None


def _check_memory(ds, config, args, console: _Console) -> None:
    """Stop before scoring when the estimated peak does not fit in the free memory (hours of work
    would end in an out-of-memory kill); the message names what lowers the estimate."""
    from cnlab.pipeline.memory import available_gib, estimate_peak

    n_scorers = len(config.roster())
    est = estimate_peak(len(ds.ratings), n_scorers=n_scorers, jobs=args.jobs, threads=args.threads)
    free = available_gib()
    console.info(f"memory: {est.summary()}; {free:.1f} GiB available (free + held by the loaded data)")
    if est.peak_gib <= free or args.no_memory_check:
        return
    lower = []
    if args.jobs > 1 or est.threads > 1:
        flags = " ".join(f for f, on in (("--jobs 1", args.jobs > 1), ("--threads 1", est.threads > 1)) if on)
        lower.append(f"{flags} ({estimate_peak(len(ds.ratings), n_scorers=n_scorers, threads=1).peak_gib:.1f} GiB)")
    if n_scorers > 1:
        lower.append(f"--scorers MFCoreScorer ({estimate_peak(len(ds.ratings), threads=args.threads).peak_gib:.1f} GiB)")
    if not args.release_tf_memory and len(ds.ratings) >= LARGE_RUN_RATINGS:
        lower.append("--release-tf-memory (~50 bytes a rating of the largest fit, at the cost of time)")
    lower.append("a subset of the ratings (cnlab.lab.counterfactual or your own cut)")
    raise CnlabInputError(
        f"{est.summary()}, more than the {free:.1f} GiB this run can have (the machine's free memory "
        f"and what the loaded data holds already); lower it with "
        f"{'; '.join(lower)}, or score anyway with --no-memory-check (estimate: cnlab.pipeline.memory)")


def cmd_score(args) -> int:
    from cnlab.io import load, load_sample

    console = _Console(args.quiet)
    if args.jobs < 1:
        raise CnlabInputError(f"--jobs {args.jobs}: give at least 1 worker process")
    if args.threads is not None and args.threads < 1:
        raise CnlabInputError(f"--threads {args.threads}: give at least 1 thread")
    config = _scoring_config(args)  # a bad --scorers fails before a long load
    kind, source = _input_source(args)
    _check_writable(args.outdir)  # before the (long) loading and scoring
    if args.prescoring_dir is not None and not Path(args.prescoring_dir).is_dir():
        raise CnlabInputError("--prescoring-dir: not a directory", path=args.prescoring_dir)
    console.info("loading ...")
    timer = StageTimer()
    with timer.stage("load") as st:
        opts = {"progress": not args.quiet, "cache": args.cache}
        if kind == "sample":
            ds = load_sample(**opts)
        elif kind == "directory":
            ds = load(source, **opts)
        else:
            ds = load(notes=source["notes"], ratings=source["ratings"], status=source["status"],
                      enrollment=source["enrollment"], **opts)
        st["rows_out"] = len(ds.ratings)
    if ds.report.cache is not None:
        console.info(f"cache: {ds.report.cache}")
    console.info(ds.summary())
    for w in ds.report.warnings:
        console.info(f"warning: {w}")
    _check_memory(ds, config, args, console)
    if len(ds.ratings) >= LARGE_RUN_RATINGS:
        from cnlab._timing import return_freed_memory_to_the_os

        return_freed_memory_to_the_os()
    if args.release_tf_memory:
        from cnlab.mf._tf_setup import release_memory_after_fits  # sets a variable, imports nothing

        if release_memory_after_fits():
            console.info("TensorFlow's pooling allocator off (TF_ENABLE_ONEDNN_OPTS=0): memory of each "
                         "fit is returned when it ends; results are the same")
        else:
            console.info("--release-tf-memory: TensorFlow already started or TF_ENABLE_ONEDNN_OPTS set; "
                         "left as it is")
    use_checkpoint = args.checkpoint == "on" or args.resume or (
        args.checkpoint == "auto" and len(ds.ratings) >= LARGE_RUN_RATINGS)
    checkpoint = Path(args.outdir) / CHECKPOINT_DIR if use_checkpoint and args.checkpoint != "off" else None
    # keep="outputs": only the four files are written, so each rating-level frame goes when the run
    # is done with it (docs/scaling.md, memory model)
    n_ratings = len(ds.ratings)
    # return_ratings=False: the dataset's ratings, if the run lends them to disk, stay there (only
    # their count is printed below)
    frames, n_status, funnel = _run_scoring(ds, config, console, prescoring=args.prescoring_dir,
                                            verbose=args.verbose, checkpoint=checkpoint, resume=args.resume,
                                            jobs=args.jobs, keep="outputs", threads=args.threads,
                                            isolate=n_ratings >= ISOLATE_RATINGS, return_ratings=False)
    with timer.stage("write outputs") as st:
        _write(frames, args.outdir, parquet=not args.no_parquet, participants=ds.participants,
               console=console, funnel=funnel.to_frame())
        st["rows_in"] = st["rows_out"] = len(frames["scored_notes"])
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)  # the outputs are complete: nothing to resume
    print(
        f"cnlab score: {n_ratings:,} ratings, {len(ds.notes):,} notes -> {n_status} "
        f"-> {args.outdir} in {console.elapsed():.1f} s",
        flush=True,
    )
    return EXIT_OK


def _status_line(scored) -> str:
    col = "finalRatingStatus"
    if col not in scored.columns or scored[col].isna().all():
        return f"{len(scored):,} notes (no statuses)"
    vc = scored[col].value_counts()
    return ", ".join(f"{k} {v:,}" for k, v in vc.items())


def _run_scoring(ds, config, console: _Console, *, prescoring=None, verbose: bool = False,
                 checkpoint=None, resume: bool = False, jobs: int = 1, keep: str = "all",
                 isolate: bool = False, threads: int | None = None, return_ratings: bool = True):
    from cnlab.pipeline import score

    if not verbose:
        _import_tensorflow_quietly()
    console.info("scoring ...")
    kwargs = {} if prescoring is None else {"prescoring": str(prescoring)}
    # a bar over the phases with the time left, on a terminal only: a log file gets the stage lines
    kwargs["progress_bar"] = False if console.quiet else None
    kwargs["keep"] = keep
    kwargs["threads"] = threads
    if prescoring is None:
        kwargs.update(checkpoint=checkpoint, resume=resume, jobs=jobs, isolate=isolate,
                      return_ratings=return_ratings)
    result = score(ds, config, **kwargs)
    console.info(result.summary())
    frames = result.outputs()
    return frames, _status_line(frames["scored_notes"]), result.funnel


def cmd_demo(args) -> int:
    from cnlab.io import load, load_sample

    console = _Console(args.quiet)
    out = Path(args.outdir)
    try:
        ds = load_sample(progress=not args.quiet)
    except CnlabInputError:
        # sample files removed from the installation: regenerate them (same config, same bytes)
        from cnlab.synthetic import make_sample

        console.info("bundled sample missing; regenerating it with cnlab.synthetic.make_sample")
        make_sample(out / "input")
        ds = load(out / "input", progress=not args.quiet)
    console.info(ds.summary())
    ns = argparse.Namespace(seed=args.seed, epoch_millis=None, scorers=args.scorers, pseudoraters=True)
    frames, status, _funnel = _run_scoring(ds, _scoring_config(ns), console, verbose=args.verbose)
    _write(frames, out, parquet=False, participants=ds.participants, console=console)
    figs = _demo_figures(frames, ds, out / "figures", console)
    print(f"cnlab demo: {len(ds.ratings):,} ratings, {len(ds.notes):,} notes -> {status}; "
          f"outputs and {figs} figure(s) in {out} ({console.elapsed():.1f} s)", flush=True)
    return EXIT_OK


def _demo_figures(frames, ds, figdir: Path, console: _Console) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnlab import plotting
    from cnlab.preprocess import preprocess

    jobs = [
        ("note_factor_intercept", lambda: plotting.note_factor_intercept(frames["scored_notes"])),
        ("rater_factor_intercept", lambda: plotting.rater_factor_intercept(frames["helpfulness_scores"])),
        ("preprocessing_funnel", lambda: plotting.funnel(preprocess(ds).funnel.to_frame())),
    ]
    n = 0
    for name, make in jobs:
        try:
            ax = make()
            plotting.savefig(ax, name, directory=figdir)
            plt.close(ax.figure)
            n += 1
        except Exception as e:  # a figure is a nicety; report and go on
            console.info(f"warning: figure {name} not drawn ({type(e).__name__}: {e})")
    return n


def cmd_synth(args) -> int:
    from cnlab.synthetic import generate

    console = _Console(args.quiet)
    for name in ("notes", "raters", "ratings"):
        if getattr(args, name) <= 0:
            raise CnlabInputError(f"--{name} must be positive")
    truth = generate(args.out, n_notes=args.notes, n_raters=args.raters, n_ratings=args.ratings,
                     seed=args.seed, n_factors=args.dims)
    console.info(truth.summary())
    print(f"cnlab synth: {args.notes:,} notes, {args.raters:,} raters, {args.ratings:,} ratings "
          f"(seed {args.seed}, {args.dims} factor(s)) -> {args.out} in {console.elapsed():.1f} s", flush=True)
    return EXIT_OK


def cmd_cache(args) -> int:
    from cnlab.io import load

    console = _Console(args.quiet)
    if not Path(args.directory).is_dir():
        raise CnlabInputError("DIRECTORY: not a directory", path=args.directory)
    ds = load(args.directory, cache=args.cache, cache_hash="full" if args.full_hash else "edges",
              progress=not args.quiet)
    note = ds.report.cache or ""
    if note.startswith("not written"):
        raise CnlabInputError(f"--cache: {note}")
    console.info(ds.report.summary())
    print(f"cnlab cache: {len(ds.ratings):,} ratings, {len(ds.notes):,} notes: {note} in {console.elapsed():.1f} s",
          flush=True)
    return EXIT_OK


COMMANDS = {"score": cmd_score, "demo": cmd_demo, "synth": cmd_synth, "cache": cmd_cache}


#: TensorFlow's C++ log threshold set at start-up unless --verbose (2: errors only).
TF_LOG_LEVEL = "2"


def _quiet_tensorflow_logging(*, verbose: bool) -> None:
    """Hide TensorFlow's start-up log lines unless ``verbose``: its C++ threshold
    (``TF_CPP_MIN_LOG_LEVEL``, read when TensorFlow loads, so set before anything imports it)
    and, once imported, the absl Python logger.  A value the user exported is kept."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow (through :mod:`cnlab.mf`, with cnlab's thread settings) with the
    process's stderr pointed at /dev/null.

    Some start-up lines ("oneDNN custom operations are on", "All log messages before
    absl::InitializeLog() is called are written to STDERR") are written by C++ before
    TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``; only silencing the file descriptor hides them.
    Errors still surface: a failed import raises, and stderr is restored before that.
    """
    if "tensorflow" in sys.modules:
        return
    from cnlab.mf._tf_setup import import_tensorflow

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        import_tensorflow()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; nothing to quiet without it
        pass


class _StderrHandler(logging.StreamHandler):
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted, so that
    a later ``main()`` in the same process (tests, notebooks) never writes to a stream an
    earlier call was given and that is closed since."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # set by StreamHandler.__init__; the property decides
        pass


_HANDLER = _StderrHandler()
_HANDLER.setFormatter(logging.Formatter("%(message)s"))


def _configure_logging(*, quiet: bool, verbose: bool = False) -> None:
    # One line per pipeline stage (rows in/out, seconds) goes to the "cnlab" logger; show it
    # unless --quiet. TensorFlow's C++ start-up chatter is hidden unless --verbose.
    _quiet_tensorflow_logging(verbose=verbose)
    logger = logging.getLogger("cnlab")
    if quiet:
        if _HANDLER in logger.handlers:  # an earlier call in this process showed the stage lines
            logger.removeHandler(_HANDLER)
            logger.propagate = True
        return
    if _HANDLER in logger.handlers or logger.handlers:  # ours, or the caller configured it
        return
    logger.addHandler(_HANDLER)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv=None) -> int:
    """Entry point of the ``cnlab`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False))

    import signal

    from cnlab._timing import note_interrupt, raise_if_interrupted

    received: list[int] = []

    def on_signal(signum, frame):
        # raised where the signal lands; if that is inside a __del__ (which drops exceptions), the
        # recorded flag raises it again when the current stage ends. SIGTERM (`kill PID`) takes the
        # same way out as Ctrl-C: no partial output, the workers shut down, the checkpoint kept
        received.append(signum)
        note_interrupt()
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread (main() called from a worker thread): leave it as is
            pass
    try:
        rc = COMMANDS[args.command](args)
        raise_if_interrupted()  # one dropped after the last stage boundary
        return rc
    except (CnlabInputError, SchemaError) as e:
        print(f"cnlab {args.command}: bad input: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as e:
        print(f"cnlab {args.command}: cannot access {getattr(e, 'filename', '') or ''}: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        terminated = signal.SIGTERM in received
        print(f"cnlab {args.command}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    except Exception as e:
        if args.debug or os.environ.get("CNLAB_DEBUG"):
            raise
        print(f"cnlab {args.command}: internal error: {type(e).__name__}: {e} "
              "(rerun with `cnlab --debug ...` for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:  # an interrupt already raised through must not fire again in this process
            raise_if_interrupted()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
