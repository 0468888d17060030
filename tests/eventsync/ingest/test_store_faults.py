"""A store fault is never an event's rejection: `ingest_events` raises StoreUnavailable
and stores nothing of the batch (a dropped PostgreSQL connection, a SQLite lock
timeout); the store's refusal of a row's values stays that row's rejection, and trying
each row stores nothing."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import Engine, create_engine, text

from eventsync.errors import StoreUnavailable
from eventsync.ingest import ingest_events
from eventsync.ingest.batches import _refused_alone
from eventsync.ingest.rules import validate_event
from eventsync.store.connection import engine_for
from eventsync.store.locks import subject_gate
from eventsync.workspaces import create_workspace
from tests.eventsync.ingest.events import ev, stored_rows


def _batch(n: int, prefix: str = "e") -> list[dict]:
    return [ev(event_id=f"{prefix}{i}", user_id=f"u{i % 3}") for i in range(n)]


def test_a_dropped_postgresql_connection_stores_nothing_and_rejects_nothing(
    pg_store_url: str,
) -> None:
    """The batch waits on the workspace's ingestion gate (held by an erasure here);
    the server drops its connection (pg_terminate_backend): StoreUnavailable, nothing
    stored. The next batch is stored (the pool replaces the dead connection)."""
    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "faults").workspace_id
    outcome: dict[str, object] = {}

    def ingest() -> None:
        try:
            outcome["result"] = ingest_events(engine, ws, _batch(20))
        except Exception as exc:
            outcome["error"] = exc

    admin = create_engine(pg_store_url, isolation_level="AUTOCOMMIT")
    with subject_gate(engine, ws, exclusive=True):
        worker = threading.Thread(target=ingest)
        worker.start()
        waiting = _wait_for_backend(admin, "pg_advisory_xact_lock_shared")
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": waiting})
        worker.join(30)
    admin.dispose()
    error = outcome.get("error")
    assert isinstance(error, StoreUnavailable), outcome
    assert error.cause in ("AdminShutdown", "OperationalError")
    assert "result" not in outcome
    assert stored_rows(engine, ws) == []
    assert ingest_events(engine, ws, _batch(20)).accepted == 20


def _wait_for_backend(admin: Engine, query_part: str) -> int:
    """The pid of the backend waiting on a lock while running `query_part`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with admin.connect() as conn:
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE :q AND pid <> pg_backend_pid()"
                ),
                {"q": f"%{query_part}%"},
            ).scalar()
        if pid is not None:
            return int(pid)
        time.sleep(0.05)
    raise AssertionError("the ingesting backend never waited on the gate")


def test_a_sqlite_lock_timeout_stores_nothing_and_rejects_nothing(engine: Engine) -> None:
    """Another writer holds the SQLite file past the busy timeout: StoreUnavailable
    ('database is locked'), nothing stored; once it is gone, the batch is stored."""
    ws = create_workspace(engine, "faults").workspace_id
    path = engine.url.database
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            ingest_events(impatient, ws, _batch(5))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert caught.value.cause == "OperationalError"
    assert "locked" in caught.value.detail
    assert stored_rows(engine, ws) == []
    assert ingest_events(impatient, ws, _batch(5)).accepted == 5
    impatient.dispose()


def test_trying_each_row_stores_nothing(pg_store_url: str) -> None:
    """The fallback that finds the rows the store refuses rolls every try back: only
    the final transaction stores, so a fault at any point leaves nothing stored."""
    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "tries").workspace_id
    rows = []
    for pos, raw in enumerate(_batch(3)):
        row, _ = validate_event(raw)
        row.update(workspace_id=ws, received_at=row["occurred_at"])
        rows.append((pos, row))
    rows[1][1]["hostname"] = "h" * 300  # wider than the column: the store refuses it
    refused = _refused_alone(engine, ws, rows)
    assert [(r.index, r.event_id) for r in refused] == [(1, "e1")]
    assert stored_rows(engine, ws) == []
