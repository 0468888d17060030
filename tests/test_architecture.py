"""The layering contract of docs/architecture.md (pyproject's [tool.importlinter]) holds
on the tree, and a wrong-way import breaks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    for name in ("pipeline", "assets", "resources"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_engine_module_importing_the_domain_breaks_the_layers(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "assets" / "duck.py").open("a") as fh:
        fh.write("\nimport pipeline.syncs.config  # noqa: E402,F401\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert "assets.duck -> pipeline.syncs.config" in result.stdout


def test_an_adapter_importing_dagster_breaks_the_plain_python_rule(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "resources" / "clock.py").open("a") as fh:
        fh.write("\nimport dagster  # noqa: E402,F401\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert "resources is not allowed to import dagster" in result.stdout
