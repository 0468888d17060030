"""Event schema v1: the exported columns in order, the quarantine layout, `_schema.json`."""

from __future__ import annotations

import pyarrow as pa

from eventsync.engine.event_schema import (
    COLUMNS,
    EXPORT_SCHEMA,
    QUARANTINE_SCHEMA,
    SCHEMA_VERSION,
    schema_description,
)


def test_schema_json_lists_every_column_in_export_order_with_its_type() -> None:
    doc = schema_description()
    assert doc["schema_version"] == SCHEMA_VERSION
    assert [c["name"] for c in doc["columns"]] == list(COLUMNS)
    occurred = next(c for c in doc["columns"] if c["name"] == "occurred_at")
    assert occurred == {"name": "occurred_at", "type": "timestamp[us, tz=UTC]", "nullable": False}
    assert doc["partitioning"] == {
        "style": "hive",
        "key": "date",
        "type": "date",
        "timezone": "UTC",
    }


def test_quarantine_keeps_any_stored_row_and_says_why() -> None:
    assert QUARANTINE_SCHEMA.names == [*COLUMNS, "reason"]
    assert QUARANTINE_SCHEMA.field("nps_score").type == pa.int64()  # any stored value fits
    assert all(f.nullable for f in QUARANTINE_SCHEMA if f.name != "reason")
    assert not QUARANTINE_SCHEMA.field("reason").nullable


def test_the_schema_version_travels_in_the_arrow_metadata() -> None:
    assert EXPORT_SCHEMA.metadata == {b"eventsync.schema_version": str(SCHEMA_VERSION).encode()}
