"""The package's layering (docs/architecture.md): no import circle, imports only go down the
layers declared in pyproject.toml ([tool.importlinter]), TensorFlow only in cnlab.mf, and every
module imports on its own in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    out = []
    for path in sorted((REPO / "cnlab").rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def test_import_linter_contracts_hold():
    """`lint-imports` (import-linter) checks the layers and the TensorFlow contract."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_no_import_cycle():
    """No module of cnlab reaches itself through its own imports (lazy imports inside functions
    included: they are imports too)."""
    import grimp

    graph = grimp.build_graph("cnlab", cache_dir=None)
    modules = sorted(graph.modules)
    cycles = []
    for m in modules:
        for dep in graph.find_modules_directly_imported_by(m):
            if dep.startswith("cnlab") and dep != m and not dep.startswith(m + ".") \
                    and not m.startswith(dep + ".") and graph.chain_exists(importer=dep, imported=m):
                cycles.append((m, dep))
    assert not cycles, f"import cycles: {sorted(cycles)[:20]}"


def test_layering_contract_can_fail(tmp_path):
    """The contract is not vacuous: a module of a low layer importing a high one breaks it."""
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(REPO / "cnlab", copy / "cnlab", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    with open(copy / "cnlab" / "schema.py", "a") as fh:
        fh.write("\nimport cnlab.pipeline.run  # noqa: E402,F401\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())"], cwd=copy, capture_output=True, text=True,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "cnlab layers BROKEN" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("module", _modules())
def test_module_imports_alone(module):
    """Each module imports in a fresh interpreter; outside cnlab.mf none imports TensorFlow."""
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            "print('tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    uses_tf = module.startswith("cnlab.mf.") and module.split(".")[2] in ("_tf_loop", "engine", "pseudo_raters")
    if not uses_tf:
        assert proc.stdout.strip() == "False", f"{module} imports TensorFlow"
