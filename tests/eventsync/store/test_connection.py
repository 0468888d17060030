"""The event store's engine: one per URL per process, SQLite in WAL mode with a busy
timeout (the API ingests while an export reads), and `upgrade` creating the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from eventsync.store.connection import default_engine, engine_for, upgrade
from eventsync.store.schema import metadata


def test_one_engine_per_url(es_home: Path) -> None:
    url = f"sqlite:///{es_home / 'a.db'}"
    assert engine_for(url) is engine_for(url)
    assert engine_for(url) is not engine_for(f"sqlite:///{es_home / 'b.db'}")


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(es_home: Path) -> None:
    with engine_for(f"sqlite:///{es_home / 'wal.db'}").connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 60000


def test_upgrade_creates_the_store_and_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'folder' / 'eventsync.db'}"
    assert upgrade(url) == url
    assert set(metadata.tables) <= set(inspect(engine_for(url)).get_table_names())


def test_the_default_engine_is_the_configured_store(
    es_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{es_home / 'configured.db'}"
    monkeypatch.setenv("EVENTSYNC_DATABASE_URL", url)
    assert default_engine() is engine_for(url)
