"""The event store behaves the same on SQLite and PostgreSQL (store_url runs each
test on both): migrations, workspaces, keys, syncs, and the day-range index."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, inspect, select, text

from eventsync import keys
from eventsync import workspaces as ws_ops
from eventsync.errors import ConfigError, NotFound
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import events, metadata
from eventsync.syncs import config as sync_ops
from tests.fixtures.postgres import libpq_url, start_throwaway_postgres

DAY_US = 86_400 * 1_000_000
DAY0_US = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00:00Z


def _table_names(url: str) -> set[str]:
    return set(inspect(engine_for(url)).get_table_names())


def test_migrations_apply_from_empty_and_are_idempotent(store_url: str) -> None:
    names = _table_names(store_url)
    assert set(metadata.tables) <= names
    assert "alembic_version" in names
    upgrade(store_url)  # second run: nothing to do, nothing breaks
    with engine_for(store_url).connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert len(versions) == 1
    assert _table_names(store_url) == names
    index_names = {ix["name"] for ix in inspect(engine_for(store_url)).get_indexes("events")}
    assert {"ix_events_ws_occurred", "ix_events_ws_user", "ix_events_ws_company"} <= index_names


def test_workspaces_keys_and_syncs_crud(store_url: str, tmp_path) -> None:
    engine = engine_for(store_url)
    created = ws_ops.create_workspace(engine, "Acme", retention_days=90)
    assert ws_ops.get_workspace(engine, created.workspace_id)["retention_days"] == 90
    ws_ops.set_retention(engine, created.workspace_id, 30)
    assert ws_ops.get_workspace(engine, created.workspace_id)["retention_days"] == 30

    assert ws_ops.authenticate(engine, created.api_key) == created.workspace_id
    second = ws_ops.create_key(engine, created.workspace_id)
    assert ws_ops.authenticate(engine, second) == created.workspace_id
    ws_ops.revoke_key(engine, created.api_key)
    assert ws_ops.authenticate(engine, created.api_key) is None
    assert ws_ops.authenticate(engine, second) == created.workspace_id
    with pytest.raises(NotFound):
        ws_ops.revoke_key(engine, created.api_key)

    dest = tmp_path / "out"
    sync = sync_ops.create_sync(
        engine,
        created.workspace_id,
        str(dest),
        formats=["parquet", "csv"],
        compression="gzip",
        event_types=["track", "page_view"],
        backfill_days=7,
        title="Daily",
    )
    got = sync_ops.get_sync(engine, sync.id, workspace_id=created.workspace_id)
    assert got.formats == ["parquet", "csv"]
    assert got.event_types == ["track", "page_view"]
    assert got.destination == f"file://{dest.resolve()}"
    assert got.enabled is True

    other = ws_ops.create_workspace(engine, "Other")
    with pytest.raises(NotFound):
        sync_ops.get_sync(engine, sync.id, workspace_id=other.workspace_id)

    updated = sync_ops.update_sync(
        engine, sync.id, title="Renamed", backfill_days=365, enabled=False
    )
    assert (updated.title, updated.backfill_days, updated.enabled) == ("Renamed", 365, False)
    assert [s.id for s in sync_ops.list_syncs(engine, created.workspace_id)] == [sync.id]
    assert sync_ops.list_syncs(engine, created.workspace_id, enabled_only=True) == []


def test_api_keys_are_stored_only_hashed(store_url: str) -> None:
    engine = engine_for(store_url)
    created = ws_ops.create_workspace(engine, "Hashed")
    extra = ws_ops.create_key(engine, created.workspace_id)
    secrets_to_hide = []
    for plaintext in (created.api_key, extra):
        parts = keys.split_key(plaintext)
        assert parts is not None
        secrets_to_hide += [plaintext, parts[1]]
    dump = []
    with engine.connect() as conn:
        for name in _table_names(store_url):
            for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                dump.append(json.dumps([str(v) for v in row]))
    blob = "\n".join(dump)
    assert created.workspace_id in blob  # the dump really holds the rows
    for secret in secrets_to_hide:
        assert secret not in blob


def test_sync_update_refuses_destination_change(store_url: str, tmp_path) -> None:
    engine = engine_for(store_url)
    ws = ws_ops.create_workspace(engine, "Fixed")
    sync = sync_ops.create_sync(engine, ws.workspace_id, str(tmp_path / "a"))
    with pytest.raises(ConfigError) as err:
        sync_ops.update_sync(engine, sync.id, destination="s3://other-bucket/x")
    assert err.value.field == "destination"
    assert "destination" in str(err.value)
    assert sync_ops.get_sync(engine, sync.id).destination == sync.destination
    # The same destination, spelled as given at creation, is not a change.
    same = sync_ops.update_sync(engine, sync.id, destination=str(tmp_path / "a"), title="T")
    assert same.title == "T"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"formats": ["xlsx"]}, "formats"),
        ({"compression": "lz4"}, "compression"),
        ({"event_types": ["click"]}, "event_types"),
        ({"backfill_days": 400}, "backfill_days"),
        ({"options": {"kms_key_id": "arn:aws:kms:eu-west-1:1:key/k"}}, "kms_key_id"),
        ({"options": {"sse": "AES256", "kms_key_id": "k"}}, "kms_key_id"),
    ],
)
def test_malformed_sync_config_names_the_field(store_url: str, kwargs: dict, field: str) -> None:
    engine = engine_for(store_url)
    ws = ws_ops.create_workspace(engine, "Bad config")
    with pytest.raises(ConfigError) as err:
        sync_ops.create_sync(engine, ws.workspace_id, "s3://bucket/prefix", **kwargs)
    assert err.value.field == field
    assert field in str(err.value)
    assert sync_ops.list_syncs(engine, ws.workspace_id) == []
    # Updates go through the same checks.
    sync = sync_ops.create_sync(engine, ws.workspace_id, "s3://bucket/prefix")
    with pytest.raises(ConfigError) as err:
        sync_ops.update_sync(engine, sync.id, **kwargs)
    assert err.value.field == field


def _seed_events(url: str, workspaces: int = 5, days: int = 30, per_day: int = 100) -> None:
    rows = []
    for w in range(workspaces):
        for d in range(days):
            for i in range(per_day):
                at = DAY0_US + d * DAY_US + i * 800_000_000
                rows.append(
                    {
                        "workspace_id": f"ws_{w}",
                        "event_id": f"e{d}_{i}",
                        "event_type": "track",
                        "event_name": "click",
                        "user_id": f"u{i % 17}",
                        "occurred_at": at,
                        "received_at": at + 1_000_000,
                        "schema_version": 1,
                    }
                )
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(insert(events), rows)
        conn.execute(text("ANALYZE"))


def test_one_workspace_one_day_uses_the_day_index(store_url: str) -> None:
    _seed_events(store_url)
    start = DAY0_US + 12 * DAY_US
    query = (
        select(events)
        .where(
            events.c.workspace_id == "ws_3",
            events.c.occurred_at >= start,
            events.c.occurred_at < start + DAY_US,
        )
        .order_by(events.c.occurred_at, events.c.event_id)
    )
    engine = engine_for(store_url)
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        plan = "\n".join(str(r[-1]) for r in conn.execute(text(prefix + str(compiled))))
        assert len(conn.execute(query).all()) == 100
    assert "ix_events_ws_occurred" in plan, plan
    if engine.dialect.name == "sqlite":
        assert "SEARCH" in plan and "occurred_at>" in plan, plan
    else:
        assert "Index" in plan and "Seq Scan" not in plan, plan


def test_adbc_reads_the_store_with_a_libpq_uri(store_url: str) -> None:
    """The Arrow fast path: ADBC's PostgreSQL driver takes a libpq URI, i.e. the
    SQLAlchemy URL without '+psycopg2'; SQLite's takes the file path."""
    _seed_events(store_url, workspaces=1, days=2, per_day=10)
    sql = "SELECT event_id, occurred_at FROM events WHERE workspace_id = 'ws_0' ORDER BY 1"
    if store_url.startswith("sqlite"):
        from adbc_driver_sqlite import dbapi

        conn = dbapi.connect(store_url.split("///", 1)[1])
    else:
        from adbc_driver_postgresql import dbapi

        assert libpq_url(store_url).startswith("postgresql://")
        conn = dbapi.connect(libpq_url(store_url))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
    finally:
        conn.close()
    assert table.num_rows == 20
    assert table.column("occurred_at").type.bit_width == 64


@pytest.mark.slow
def test_throwaway_postgres_from_pgserver_starts_and_stops() -> None:
    """The last fallback of pg_server_url works on this machine (also as root)."""
    server = start_throwaway_postgres()
    try:
        url = server.url
        upgrade(url)
        assert set(metadata.tables) <= _table_names(url)
        engine_for(url).dispose()
    finally:
        server.stop()
    assert not server.pgdata.exists()
