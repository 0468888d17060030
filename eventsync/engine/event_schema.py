"""Event schema v1: the exported columns, their Arrow types, and the rules every
exported row satisfies. Ingestion, validation and the exported `_schema.json`
all read these definitions."""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

EVENT_TYPES = (
    "track",
    "labeled",
    "page_view",
    "flow_interaction",
    "checklist_interaction",
    "nps_response",
    "survey_submission",
    "identify_user",
    "identify_company",
    "session_start",
)

# Fields an event must carry. company_id and the context fields are optional.
REQUIRED_FIELDS = ("event_id", "event_type", "event_name", "user_id", "occurred_at")
# The limits of each field are in eventsync/event_limits.py.

TS = pa.timestamp("us", tz="UTC")

# Exported columns in order. Field names follow the anchors (Userpilot/PostHog).
EXPORT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("workspace_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("event_name", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("company_id", pa.string()),
        pa.field("occurred_at", TS, nullable=False),
        pa.field("received_at", TS, nullable=False),
        pa.field("source", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("hostname", pa.string()),
        pa.field("pathname", pa.string()),
        pa.field("user_agent", pa.string()),
        pa.field("browser", pa.string()),
        pa.field("os", pa.string()),
        pa.field("device_type", pa.string()),
        pa.field("country_code", pa.string()),
        pa.field("properties", pa.string()),
        pa.field("nps_score", pa.int32()),
        pa.field("schema_version", pa.int32(), nullable=False),
    ],
    metadata={"eventsync.schema_version": str(SCHEMA_VERSION)},
)
COLUMNS = tuple(EXPORT_SCHEMA.names)

# Quarantine files: the row as read from the store (every column nullable, nps_score
# wide enough for any stored value) plus the reason it was not exported.
QUARANTINE_SCHEMA = pa.schema(
    [pa.field(f.name, pa.int64() if f.name == "nps_score" else f.type) for f in EXPORT_SCHEMA]
    + [pa.field("reason", pa.string(), nullable=False)]
)


def schema_description() -> dict:
    """The `_schema.json` document: columns, types and the schema version."""
    return {
        "schema_version": SCHEMA_VERSION,
        "columns": [
            {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in EXPORT_SCHEMA
        ],
        "partitioning": {"style": "hive", "key": "date", "type": "date", "timezone": "UTC"},
    }
