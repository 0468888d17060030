"""The reading commands of docs/destinations.md and the README's tour run verbatim
against a real export (the module's exported workspace, linked where the docs say
the files are). Spark's run in `make interop` (tests/interop)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.e2e.conftest import Exported

ROOT = Path(__file__).resolve().parents[2]


def blocks(path: Path, lang: str, start: str, end: str | None = None) -> list[str]:
    text = path.read_text()
    section = text[text.index(start) : text.index(end) if end else None]
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def reading_blocks(lang: str) -> list[str]:
    return blocks(
        ROOT / "docs/destinations.md", lang, "## Reading the files", "### Days exported before"
    )


@pytest.fixture
def docs_cwd(exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder where `exports/sync_ab12` is a three-format sync with default compression."""
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports/sync_ab12").symlink_to(exported.root / exported.sync_ids["auto"])
    monkeypatch.chdir(tmp_path)
    return tmp_path


PYTHON = [b for b in reading_blocks("python") if "pyspark" not in b]


def test_docs_show_a_command_for_every_reader():
    text = "\n".join(reading_blocks("python"))
    for reader in (
        "pd.read_parquet",
        "pj.read_json",
        "csv.read_csv",
        "ds.dataset",
        "pl.scan_parquet",
        "pl.scan_csv",
        "duckdb",
        "spark.read",
        "chdb.query",
    ):
        assert reader in text, reader
    assert reading_blocks("sh") and "bq mkdef" in reading_blocks("sh")[0]


@pytest.mark.parametrize("code", PYTHON, ids=[f"block{i}" for i in range(len(PYTHON))])
def test_reading_command_reads_every_exported_row(docs_cwd, exported, code):
    namespace: dict = {}
    exec(compile(code, "docs/destinations.md", "exec"), namespace)
    assert len(namespace["events"]) == len(exported.expected)


def test_manifest_query_lists_the_days_files(docs_cwd):
    (sql,) = reading_blocks("sql")[:1]
    rows = duckdb.connect().sql(sql).fetchall()
    assert len(rows) == 3  # parquet, csv, jsonl


def test_readme_tour_commands_run_verbatim(exported, tmp_path):
    """Tour step 5, in a folder laid out like the demo's (`dagster_home/exports`)."""
    (tmp_path / ".venv/bin").mkdir(parents=True)
    python = tmp_path / ".venv/bin/python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    (tmp_path / "dagster_home/exports").mkdir(parents=True)
    demo = exported.root / exported.sync_ids["auto"]
    (tmp_path / "dagster_home/exports/sync_demo_local").symlink_to(demo)
    (tour,) = [
        b for b in blocks(ROOT / "README.md", "sh", "5. **Read them**", "6. **Call the API**")
    ]
    commands = [line.strip() for line in tour.splitlines() if line.strip()]
    assert len(commands) == 4
    outputs = []
    for command in commands:
        proc = subprocess.run(
            command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert "2025-05-01" in outputs[0] and "page_view" in outputs[0]
    assert str(len(exported.expected)) in outputs[3]  # rows of the JSON lines files


def test_readme_tour_lists_the_files_the_export_writes(exported):
    text = (ROOT / "README.md").read_text()
    step = text[text.index("4. **Find the files**") : text.index("5. **Read them**")]
    listed = [line.strip() for line in step.splitlines() if "sync_demo_local/" in line]
    assert len(listed) == 4
    demo = exported.root / exported.sync_ids["auto"]
    for line in listed:
        key = line.split()[0].removeprefix("sync_demo_local/").replace("2026-11-20", "2025-05-01")
        assert (demo / key).is_file(), key
