"""TensorFlow's pooling allocator off (``release_memory_after_fits``): the same fits bit for bit.

`cnlab score --release-tf-memory` turns the oneDNN options off so that each fit's memory goes back to
the system (docs/scaling.md); that is only admissible because it changes no result. Each case runs
in a fresh process (the switch is read when TensorFlow starts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_FIT = r"""
import hashlib, os, sys
sys.path.insert(0, "tests")
from cnlab.mf import _tf_setup
changed = _tf_setup.release_memory_after_fits() if sys.argv[1] == "off" else False
from _mf_helpers import planted
import cnlab.mf as mf
from cnlab.mf import reputation_mf as R
from cnlab.scorers.diligence import DiligenceConfig, regularization
import numpy as np
df, _ = planted(n_notes=300, n_raters=400, n_ratings=20_000, seed=3)
r = mf.fit(df, seed=0)
h = hashlib.sha256(r.note_params.to_numpy().tobytes() + r.rater_params.to_numpy().tobytes())
rng = np.random.default_rng(0)
n, N, U = 20_000, 600, 700
p = dict(note_emb=rng.normal(size=N) * .1, rater_emb=rng.normal(size=U) * .1, note_bias=np.zeros(N),
         rater_bias=np.zeros(U), reputation=np.ones(U), global_bias=0.0)
m = R.ReputationMF(rng.integers(0, N, n), rng.integers(0, U, n), (rng.random(n) < .5).astype(np.float32), p)
cfg = DiligenceConfig()
loss, hist = m.train_round(np.ones(n, np.float32), regularization(cfg, third=False),
                           ("note_emb", "rater_emb", "note_bias", "rater_bias", "global_bias"), cfg)
h.update(m.get("note_bias").tobytes() + np.asarray(hist).tobytes())
print("RESULT", changed, os.environ.get("TF_ENABLE_ONEDNN_OPTS"), r.n_steps, h.hexdigest())
"""


def _run(mode: str) -> list[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    out = subprocess.run([sys.executable, "-c", _FIT, mode], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return next(line for line in out.stdout.splitlines() if line.startswith("RESULT")).split()[1:]


def test_fits_are_identical_with_the_pooling_allocator_off():
    changed, value, steps, digest = _run("off")
    assert (changed, value) == ("True", "0")
    default = _run("default")
    assert default[:2] == ["False", "None"]
    assert int(steps) > 10
    assert default[2:] == [steps, digest]   # the same steps and the same parameter bits


def test_switch_leaves_a_users_setting_and_a_started_tensorflow_alone(monkeypatch):
    from cnlab.mf import _tf_setup

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert _tf_setup.release_memory_after_fits() is False
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    assert _tf_setup.release_memory_after_fits() is False
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ


def test_cli_flag_turns_the_pool_off_before_tensorflow_starts(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    out = subprocess.run([sys.executable, "-m", "cnlab.cli", "score", "--sample", "-o", str(tmp_path / "o"),
                          "--no-parquet", "--release-tf-memory", "--scorers", "MFCoreScorer"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "pooling allocator off (TF_ENABLE_ONEDNN_OPTS=0)" in out.stdout + out.stderr
    assert (tmp_path / "o" / "scored_notes.tsv").is_file()
