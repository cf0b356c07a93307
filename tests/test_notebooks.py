"""Execute every numbered notebook on the bundled sample (jupytext → nbformat → nbclient).

A broken notebook (an exception or a failed headline assertion) fails the test.  All
notebooks of one session share a scoring-result cache (``CNLAB_NOTEBOOK_CACHE``), so the
sample is scored once.  Figures go to a temporary folder so that CI does not rewrite
``figures/``, unless ``CNLAB_FIGURES_DIR`` is set (``CNLAB_FIGURES_DIR=$PWD/figures pytest
tests/test_notebooks.py`` refreshes the committed figures).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import ipykernel  # noqa: F401  (declared dev dependencies: a missing one is an error, not a skip)
import jupytext
import nbclient
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
TIMEOUT_PER_CELL_S = 600  # one scoring run of the sample fits well inside this on 2 cores

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


@pytest.fixture(scope="session")
def notebook_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("nb-cache")
    figures = Path(os.environ.get("CNLAB_FIGURES_DIR") or tmp_path_factory.mktemp("nb-figures"))
    old = {k: os.environ.get(k) for k in ("CNLAB_NOTEBOOK_CACHE", "CNLAB_FIGURES_DIR", "MPLBACKEND")}
    os.environ["CNLAB_NOTEBOOK_CACHE"] = str(cache)
    os.environ["CNLAB_FIGURES_DIR"] = str(figures)
    # let ipykernel pick its inline backend: plt.show() then renders and closes each figure
    os.environ.pop("MPLBACKEND", None)
    yield figures
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_notebooks_found():
    names = [p.stem for p in NOTEBOOKS]
    assert names[:10] == [
        "00_overview", "01_data_and_funnel", "02_matrix_factorization", "03_rater_helpfulness",
        "04_pseudo_raters", "05_status_rules", "06_tag_and_incorrect_filters", "07_what_if",
        "08_bridging_vs_majority", "09_post_likes",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_saves_into_an_explicit_directory(path):
    """cnlab.plotting.savefig defaults to ./figures under the working directory (notebooks/ when
    a notebook runs): the notebooks write the committed figures/ by passing it explicitly."""
    import re

    calls = re.findall(r"savefig\(([^\n]*)\)", path.read_text())
    assert calls, f"{path.stem} saves no figure"
    assert all("directory=FIGURES" in c for c in calls), calls
    assert "FIGURES = _nb.figures_dir()" in path.read_text()


def test_notebook_figures_dir(monkeypatch):
    import sys

    sys.path.insert(0, str(NOTEBOOK_DIR))
    try:
        import _nb
    finally:
        sys.path.remove(str(NOTEBOOK_DIR))
    monkeypatch.delenv("CNLAB_FIGURES_DIR", raising=False)
    assert _nb.figures_dir() == REPO / "figures"
    monkeypatch.setenv("CNLAB_FIGURES_DIR", "elsewhere")
    assert _nb.figures_dir() == Path("elsewhere")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, notebook_env):
    nb = jupytext.read(path)
    assert nb.cells[0].cell_type == "markdown"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert params and "CNLAB_NOTEBOOK_DATA" in params[0].source, "first code cell must read CNLAB_NOTEBOOK_DATA"
    client = nbclient.NotebookClient(
        nb, timeout=TIMEOUT_PER_CELL_S, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    t0 = time.perf_counter()
    client.execute()
    print(f"{path.stem}: {time.perf_counter() - t0:.1f} s")
    # figures only through cnlab.plotting.savefig: every notebook writes at least one, into the
    # folder it was given, none into ./figures of its working directory
    assert list(notebook_env.glob(f"{path.stem[:2]}_*.png")), f"{path.stem} saved no figure"
    assert not (NOTEBOOK_DIR / "figures").exists()
