"""The tables the code queries are the tables the migrations build: Alembic finds no
difference between `eventsync.store.schema` and a store migrated to head, on SQLite and
on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from eventsync.store.connection import engine_for
from eventsync.store.schema import metadata


def test_a_migrated_store_has_exactly_the_schemas_tables_and_columns(store_url: str) -> None:
    with engine_for(store_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
