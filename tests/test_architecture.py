"""The layering contracts of docs/architecture.md (pyproject's [tool.importlinter]) hold
on the tree, and a wrong-way import breaks each of them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("eventsync", "pipeline", "assets", "resources")


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
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _with_import(tmp_path: Path, module: str, imported: str) -> subprocess.CompletedProcess[str]:
    tree = _copy(tmp_path)
    with (tree / (module.replace(".", "/") + ".py")).open("a") as fh:
        fh.write(f"\nimport {imported}  # noqa: E402,F401\n")
    return _lint(tree)


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("eventsync.engine.duck", "eventsync.syncs.config"),  # engine -> domain
        ("eventsync.privacy.runner", "pipeline.privacy_jobs"),  # library -> Dagster layer
        ("resources.event_store", "assets.events"),  # resources -> assets
        ("assets.events", "pipeline.schedules"),  # assets -> schedules
        ("eventsync.store.schema", "eventsync.engine.layout"),  # adapter -> engine
    ],
)
def test_a_wrong_way_import_breaks_the_layers(tmp_path: Path, module: str, imported: str) -> None:
    result = _with_import(tmp_path, module, imported)
    assert result.returncode == 1
    assert f"{module} -> {imported}" in result.stdout


@pytest.mark.parametrize("module", ["eventsync.clock", "eventsync.engine.staging"])
def test_the_library_importing_dagster_breaks_the_plain_python_rule(
    tmp_path: Path, module: str
) -> None:
    result = _with_import(tmp_path, module, "dagster")
    assert result.returncode == 1
    assert f"{module} -> dagster" in result.stdout


@pytest.mark.parametrize(
    ("module", "imported"),
    [("eventsync.accounts.members", "jinja2"), ("eventsync.audit", "fastapi")],
)
def test_the_library_under_the_console_imports_no_web_framework(
    tmp_path: Path, module: str, imported: str
) -> None:
    result = _with_import(tmp_path, module, imported)
    assert result.returncode == 1
    assert f"{module} -> {imported}" in result.stdout


def test_the_library_cannot_import_the_console(tmp_path: Path) -> None:
    result = _with_import(tmp_path, "eventsync.accounts.signin", "eventsync.console.web")
    assert result.returncode == 1
