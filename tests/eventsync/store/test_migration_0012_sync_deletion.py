"""Migration 0012_sync_deletion (first made as 0009_sync_deletion, chained after
0011_hashed_request_subjects): `syncs.deleted_at` is added (NULL: not deleted) on a
store that holds syncs, keeping every other value; the downgrade removes it."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

import eventsync.store.connection as store
from eventsync.store.connection import engine_for, upgrade
from eventsync.syncs.config import get_sync, list_syncs

REVISION = "0012_sync_deletion"
BEFORE = "0011_hashed_request_subjects"


def test_existing_syncs_are_not_deleted_and_the_downgrade_removes_the_column(
    es_home: Path,
) -> None:
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    upgrade(url, BEFORE)
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO syncs (id, workspace_id, title, destination, formats,"
                " compression, event_types, backfill_days, enabled, options, created_at,"
                " updated_at, consecutive_failures) VALUES ('sync_1', 'ws_1', 'T', '/tmp/x',"
                " '[\"csv\"]', 'auto', NULL, 30, 1, '{}', 't', 't', 0)"
            )
        )
    upgrade(url, REVISION)
    s = get_sync(engine, "sync_1")
    assert (s.deleted_at, s.enabled, s.title) == (None, True, "T")
    assert [x.id for x in list_syncs(engine, enabled_only=True)] == ["sync_1"]

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    command.downgrade(cfg, BEFORE)
    assert "deleted_at" not in {c["name"] for c in inspect(engine).get_columns("syncs")}
