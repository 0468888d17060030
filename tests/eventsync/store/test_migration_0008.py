"""Migration 0008: `events.pathname` and `events.user_agent` get the widths of their
limits on a store that holds events, keeping every value; on PostgreSQL a value longer
than its new width stops the migration, which then changes nothing and says why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

import eventsync.store.connection as store
from eventsync.event_limits import LIMITS
from eventsync.ingest import insert_event_rows
from eventsync.store.connection import engine_for, upgrade
from tests.factories import event_row

DAY = "2025-03-09"
COLUMNS = ("pathname", "user_agent")


@pytest.fixture(params=["sqlite", "postgresql"])
def url_at_0007(request: pytest.FixtureRequest, es_home: Path) -> str:
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    upgrade(url, "0007")
    return url


def _widths(engine: Engine) -> dict[str, int | None]:
    columns = inspect(engine).get_columns("events")
    return {c["name"]: getattr(c["type"], "length", None) for c in columns if c["name"] in COLUMNS}


def _revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def _rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        query = "SELECT event_id, pathname, user_agent FROM events ORDER BY event_id"
        return [tuple(r) for r in conn.execute(text(query))]


def test_upgrade_keeps_every_value_and_sets_the_widths(url_at_0007: str) -> None:
    engine = engine_for(url_at_0007)
    longest = {c: "é" * LIMITS.width(c) for c in COLUMNS}
    rows = [event_row("ws_1", DAY, i) for i in range(20)]
    rows += [event_row("ws_1", DAY, 20, **longest), event_row("ws_1", DAY, 21, pathname=None)]
    with engine.begin() as conn:
        insert_event_rows(conn, rows)
    before = _rows(engine)
    assert _widths(engine) == dict.fromkeys(COLUMNS, None)  # text

    upgrade(url_at_0007)
    assert _widths(engine) == {c: LIMITS.width(c) for c in COLUMNS}
    assert _rows(engine) == before
    index_names = {ix["name"] for ix in inspect(engine).get_indexes("events")}
    assert {"ix_events_ws_occurred", "ix_events_ws_user", "ix_events_ws_company"} <= index_names

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    command.downgrade(cfg, "0007")
    assert _widths(engine) == dict.fromkeys(COLUMNS, None)
    assert _rows(engine) == before


def test_too_long_values_stop_the_upgrade_on_postgresql(pg_url: str, es_home: Path) -> None:
    upgrade(pg_url, "0007")
    engine = engine_for(pg_url)
    too_long = {"pathname": "/" + "p" * LIMITS.pathname}
    rows = [event_row("ws_1", DAY, 0), event_row("ws_1", DAY, 1, **too_long)]
    rows += [event_row("ws_1", DAY, 2, **too_long)]
    with engine.begin() as conn:
        insert_event_rows(conn, rows)
    before = _rows(engine)
    with pytest.raises(RuntimeError) as caught:
        upgrade(pg_url)
    assert "2 rows of events.pathname are longer than 2048 characters" in str(caught.value)
    assert "user_agent" not in str(caught.value)
    assert _revision(engine) == "0007"
    assert _widths(engine) == dict.fromkeys(COLUMNS, None)
    assert _rows(engine) == before
