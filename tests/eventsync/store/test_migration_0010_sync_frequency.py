"""Migration 0010_sync_frequency (first made as 0009_sync_frequency, chained after
0009_totp_sealed): `syncs.frequency` (existing syncs become `daily`) and
`syncs.event_names` (NULL: every name) are added on a store that holds syncs, on SQLite
and PostgreSQL, keeping every other value; the downgrade removes them again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

import eventsync.store.connection as store
from eventsync.store.connection import engine_for, upgrade
from eventsync.syncs.config import get_sync, update_sync

REVISION = "0010_sync_frequency"
BEFORE = "0009_totp_sealed"


@pytest.fixture(params=["sqlite", "postgresql"])
def url_before(request: pytest.FixtureRequest, es_home: Path) -> str:
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    upgrade(url, BEFORE)
    return url


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("syncs")}


def _rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        query = "SELECT id, title, formats, event_types, options FROM syncs ORDER BY id"
        return [tuple(r) for r in conn.execute(text(query))]


def test_existing_syncs_become_daily_without_a_name_filter(url_before: str) -> None:
    engine = engine_for(url_before)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO syncs (id, workspace_id, title, destination, formats,"
                    " compression, event_types, backfill_days, enabled, options, created_at,"
                    " updated_at, consecutive_failures) VALUES (:id, 'ws_1', :t, '/tmp/x',"
                    " '[\"csv\"]', 'auto', :et, 30, :en, '{}', 't', 't', 0)"
                ),
                {"id": f"sync_{i}", "t": f"T{i}", "et": '["track"]' if i else None, "en": True},
            )
    before = _rows(engine)
    assert "frequency" not in _columns(engine)

    upgrade(url_before, REVISION)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == REVISION
    assert _rows(engine) == before
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT frequency, event_names FROM syncs WHERE id = 'sync_1'")
        ).one()
    assert tuple(stored) == ("daily", None)
    upgrade(url_before)  # the sync model of today reads later columns too (0012)
    synced = get_sync(engine, "sync_1")
    assert (synced.frequency, synced.event_names, synced.event_types) == ("daily", None, ["track"])
    assert update_sync(engine, "sync_1", frequency="hourly").frequency == "hourly"

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    command.downgrade(cfg, BEFORE)
    assert {"frequency", "event_names"}.isdisjoint(_columns(engine))
    assert _rows(engine) == before
