"""Every module of the product imports on its own, first thing in a fresh interpreter:
an import cycle (a package `__init__` pulling in a module that needs the package back)
only shows when the cycle's module is imported first, which a test suite that imports
everything up front never does. One child process imports the heavy third-party
libraries once, then forks a child per module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("eventsync", "pipeline", "assets", "resources")

CHILD = r"""
import os, sys, traceback
import importlib
for lib in ("dagster", "pyarrow.parquet", "pyarrow.dataset", "sqlalchemy", "fastapi", "click",
            "pandas", "pandera.pandas", "duckdb", "boto3", "botocore", "google.cloud.storage",
            "alembic", "uvicorn", "httpx", "dagster_celery", "celery", "dagster_postgres"):
    try:
        importlib.import_module(lib)  # shared by every forked child
    except ImportError:
        pass
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            __import__(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed.append(name)
print("FAILED:" + ",".join(failed))
"""


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.slow  # ~30 s of CPU (a fork per module): make test, not the inner loop
def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    modules = _modules()
    assert len(modules) > 80
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    failed = result.stdout.strip().rsplit("FAILED:", 1)[-1]
    assert result.returncode == 0 and not failed, failed + "\n" + result.stderr[-4000:]
