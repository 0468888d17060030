"""Configuration resolves the same way for every entry point, and what is wrong with it
is one line naming the variable and the fix -- never a traceback, never a new empty
store somewhere else."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventsync import settings
from eventsync.cli import main

ROOT = Path(__file__).resolve().parents[3]


def _one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DAGSTER_HOME is an empty folder (e.g. `export DAGSTER_HOME=~/dagster_home`)."""
    home = tmp_path / "elsewhere"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("EVENTSYNC_DATABASE_URL", raising=False)
    return home


def test_a_dagster_home_without_a_store_is_one_line_and_creates_nothing(no_store: Path) -> None:
    for args in (["sync", "list"], ["sync", "backfill", "sync_x"], ["sync", "status", "sync_x"]):
        line = _one_line_error(CliRunner().invoke(main, args))
        assert line == (
            f"error: EVENTSYNC_DATABASE_URL: no event store at sqlite:///{no_store}/eventsync.db "
            f"(under DAGSTER_HOME={no_store}): run `eventsync db upgrade` to create it there, or "
            "unset DAGSTER_HOME / EVENTSYNC_DATABASE_URL to use the project's "
            f"{ROOT}/dagster_home/eventsync.db"
        )
    assert list(no_store.iterdir()) == []  # no stray empty database


def test_a_dagster_home_that_is_not_a_folder_is_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "missing"))
    monkeypatch.delenv("EVENTSYNC_DATABASE_URL", raising=False)
    for args in (["sync", "list"], ["db", "upgrade"], ["sync", "backfill", "sync_x", "--json"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2
        assert "DAGSTER_HOME: " in result.output and "is not a folder" in result.output
        assert f"unset it to use the project's {ROOT}/dagster_home" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "missing").exists()


def test_a_store_without_tables_is_one_line(tmp_path, monkeypatch) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    monkeypatch.setenv("EVENTSYNC_DATABASE_URL", f"sqlite:///{db}")
    line = _one_line_error(CliRunner().invoke(main, ["sync", "list"]))
    assert "has no eventsync tables (no such table: syncs): run `eventsync db upgrade`" in line


def test_an_unexpected_error_is_one_line_unless_debugging(engine, monkeypatch) -> None:
    import eventsync.syncs.config as config

    def boom(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(config, "list_syncs", boom)
    line = _one_line_error(CliRunner().invoke(main, ["sync", "list"]))
    assert line == "error: RuntimeError: disk on fire second line (EVENTSYNC_DEBUG=1 shows where)"
    monkeypatch.setenv("EVENTSYNC_DEBUG", "1")
    result = CliRunner().invoke(main, ["sync", "list"])
    assert isinstance(result.exception, RuntimeError)


def test_the_env_file_gives_defaults_and_the_environment_wins(tmp_path, monkeypatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DAGSTER_HOME=${{DAGSTER_HOME:-{tmp_path / 'home'}}}\n")
    monkeypatch.setenv("EVENTSYNC_ENV_FILE", str(env_file))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert settings.dagster_home() == tmp_path / "home"
    assert settings.source("DAGSTER_HOME") == f"DAGSTER_HOME in {env_file}"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "exported"))
    assert settings.dagster_home() == tmp_path / "exported"


@pytest.mark.slow
def test_make_install_points_dagster_and_eventsync_at_the_project_home(tmp_path) -> None:
    """A checkout where only `make install` ran: `dagster` run from it and `eventsync`
    find the checkout's dagster_home/ with nothing exported."""
    project = tmp_path / "checkout"
    (project / "dagster_home").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", project / "Makefile")
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", project / "dagster_home" / "dagster.yaml")
    subprocess.run(["make", "-s", ".env"], cwd=project, check=True)
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    info = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "instance", "info"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0, info.stderr
    assert f"$DAGSTER_HOME: {project / 'dagster_home'}" in info.stdout
    probe = (
        "from eventsync.settings import dagster_home, database_url;"
        "print(dagster_home()); print(database_url())"
    )
    ours = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,  # any folder: eventsync reads the project's .env, not the cwd's
        env={**env, "EVENTSYNC_ENV_FILE": str(project / ".env"), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ours.stdout.split() == [
        str(project / "dagster_home"),
        f"sqlite:///{project / 'dagster_home' / 'eventsync.db'}",
    ]


def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("EVENTSYNC_PAUSE_AFTER_FAILURES", "0")
    line = _one_line_error(CliRunner().invoke(main, ["sync", "list"]))
    assert line == (
        "error: EVENTSYNC_PAUSE_AFTER_FAILURES: must be >= 1, got '0' "
        "($EVENTSYNC_PAUSE_AFTER_FAILURES)"
    )
