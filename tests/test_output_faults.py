"""Process faults (issue 10, item 4): an unwritable ``--outdir`` fails before any work, and a
run killed while scoring or while writing leaves the previous complete output set, or a committed
new set that :func:`cnlab.io.recover_outputs` completes, never a mix; ``funnel.tsv`` is written
beside the outputs (item 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import cnlab.io
from cnlab import cli
from cnlab.io import MANIFEST, recover_outputs, verify_outputs

HERE = Path(__file__).parent
SLOW_WRITER = HERE / "scripts" / "slow_write_outputs.py"
STEMS = ("scored_notes", "helpfulness_scores", "note_status_history", "aux_note_info")


def _listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def _complete(d: Path) -> dict:
    m = verify_outputs(d)
    assert m is not None, f"no complete output set in {d}: {_listing(d)}"
    # nothing but the set and its manifest: no temporary or staging files
    assert _listing(d) == sorted([e["name"] for e in m["files"]] + [MANIFEST])
    return m


# ---------------------------------------------------------------------------
# (a) unwritable --outdir: one line, exit 2, before loading
# ---------------------------------------------------------------------------
def _unwritable(tmp_path: Path, kind: str) -> Path:
    if kind == "under_file":
        f = tmp_path / "a_file"
        f.write_text("x")
        return f / "out"
    d = tmp_path / "readonly"
    d.mkdir()
    d.chmod(0o555)
    try:  # root ignores the mode bits: then use a directory that cannot exist instead
        (d / "probe").write_text("x")
    except PermissionError:
        return d
    (d / "probe").unlink()
    d.chmod(0o755)
    (tmp_path / "plain_file").write_text("x")
    return tmp_path / "plain_file" / "sub" / "out"


@pytest.mark.parametrize("kind", ["under_file", "readonly_dir"])
def test_unwritable_outdir_fails_before_loading(tmp_path, monkeypatch, capsys, kind):
    outdir = _unwritable(tmp_path, kind)

    def must_not_load(*a, **k):
        raise AssertionError("loaded input before checking --outdir")

    monkeypatch.setattr(cnlab.io, "load_sample", must_not_load)
    rc = cli.main(["score", "--sample", "-o", str(outdir), "--scorers", "MFCoreScorer", "--quiet"])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_BAD_INPUT
    assert len(err.strip().splitlines()) == 1 and str(outdir) in err and "not writable" in err
    assert "Traceback" not in err
    if outdir.parent.is_dir():
        assert _listing(outdir.parent) == [] or not outdir.exists()


def test_writable_outdir_is_created_and_left_clean(tmp_path):
    out = tmp_path / "new" / "deeper"
    cli._check_writable(out)
    assert out.is_dir() and _listing(out) == []


# ---------------------------------------------------------------------------
# (b) kill during scoring (CLI) and funnel.tsv
# ---------------------------------------------------------------------------
def _score_cmd(outdir: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "cnlab.cli", "score", "--sample", "--scorers", "MFCoreScorer",
            "-o", str(outdir), "--seed", str(seed)]


def _kill_when(cmd, marker: str, sig) -> int:
    """Run ``cmd``, send ``sig`` when ``marker`` appears on its stderr; return the exit status."""
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in p.stderr:
            if marker in line:
                p.send_signal(sig)
                break
        else:
            pytest.fail(f"{marker!r} never printed")
        p.stderr.read()
        return p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.slow
def test_cli_kill_during_scoring_keeps_previous_set_and_writes_funnel(tmp_path):
    from cnlab.preprocess import preprocess

    out = tmp_path / "out"
    subprocess.run(_score_cmd(out, 1), check=True, capture_output=True, timeout=600)
    first = _complete(out)
    names = sorted(e["name"] for e in first["files"])
    assert names == sorted([f"{s}.tsv" for s in STEMS] + [f"{s}.parquet" for s in STEMS] + ["funnel.tsv"])
    before = {n: (out / n).read_bytes() for n in names}

    # funnel.tsv: Funnel.to_frame() of the sample's preprocessing, computed here independently
    written = pd.read_csv(out / "funnel.tsv", sep="\t", keep_default_na=False)
    expected = preprocess(cnlab.io.load_sample()).funnel.to_frame()
    assert list(written.columns) == list(expected.columns)
    for col in ("stage", "step", "table", "rows_in", "rows_out", "dropped"):
        assert written[col].tolist() == expected[col].tolist(), col
    assert (written["rows_in"] == written["rows_out"] + written["dropped"]).all()

    for sig in (signal.SIGKILL, signal.SIGINT):  # dies while scoring ("scoring ..." printed)
        rc = _kill_when(_score_cmd(out, 2), "scoring ...", sig)
        assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 130), rc
        assert _complete(out) == first
        assert {n: (out / n).read_bytes() for n in names} == before

    subprocess.run(_score_cmd(out, 2), check=True, capture_output=True, timeout=600)
    second = _complete(out)
    assert second != first  # another seed: new numbers, the whole set replaced


# ---------------------------------------------------------------------------
# (b) kill during writing (helper with a slow rename)
# ---------------------------------------------------------------------------
def _writer(outdir: Path, value: int, delay: float) -> list[str]:
    return [sys.executable, str(SLOW_WRITER), str(outdir), str(value), str(delay)]


def _manifest_of(tmp_path: Path, value: int, name: str) -> dict:
    d = tmp_path / name
    subprocess.run(_writer(d, value, 0), check=True, capture_output=True, timeout=120)
    return _complete(d)


@pytest.mark.parametrize("kill_at", [1, 3, 7])
def test_kill_during_writing_never_leaves_a_mix(tmp_path, kill_at):
    old, new = _manifest_of(tmp_path, 1, "ref_old"), _manifest_of(tmp_path, 2, "ref_new")
    assert old["files"] != new["files"]
    out = tmp_path / "out"
    subprocess.run(_writer(out, 1, 0), check=True, capture_output=True, timeout=120)
    assert _complete(out) == old

    # renames: 1 = staging -> .cnlab-commit (the commit point), 2..6 = the five files, 7 = manifest
    p = subprocess.Popen(_writer(out, 2, 5.0), stdout=subprocess.PIPE, text=True)
    seen = 0
    try:
        for line in p.stdout:
            if line.startswith("renaming"):
                seen += 1
                if seen == kill_at:  # killed while sleeping before rename number kill_at
                    p.kill()
                    break
    finally:
        p.wait(timeout=60)
    assert seen == kill_at and p.returncode == -signal.SIGKILL

    if kill_at == 1:  # before the commit point: the old set, untouched (a stray staging dir)
        assert verify_outputs(out) == old
        assert any(n.startswith(".cnlab-staging-") for n in _listing(out))
    else:  # after it: no manifest (a reader sees "incomplete"), the committed set awaits
        assert verify_outputs(out) is None and ".cnlab-commit" in _listing(out)
    state = recover_outputs(out)
    assert state == ("cleaned" if kill_at == 1 else "rolled forward")
    assert _complete(out) == (old if kill_at == 1 else new)

    # a following successful run leaves exactly its set
    subprocess.run(_writer(out, 3, 0), check=True, capture_output=True, timeout=120)
    third = _complete(out)
    assert third not in (old, new)


def test_next_write_recovers_without_explicit_call(tmp_path):
    out = tmp_path / "out"
    subprocess.run(_writer(out, 1, 0), check=True, capture_output=True, timeout=120)
    p = subprocess.Popen(_writer(out, 2, 5.0), stdout=subprocess.PIPE, text=True)
    seen = 0
    for line in p.stdout:
        seen += line.startswith("renaming")
        if seen == 3:
            p.kill()
            break
    p.wait(timeout=60)
    assert verify_outputs(out) is None
    subprocess.run(_writer(out, 4, 0), check=True, capture_output=True, timeout=120)
    _complete(out)
    assert not any(n.startswith(".") for n in _listing(out)) and not os.path.exists(out / ".cnlab-commit")
