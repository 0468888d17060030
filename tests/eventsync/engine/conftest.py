"""A small staged file in the export schema with the values readers get wrong: the
first and last microsecond of a UTC day, NULL next to empty strings, quotes, commas
and line breaks inside values, non-ASCII text."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventsync.clock import day_bounds_us
from eventsync.engine.event_schema import EXPORT_SCHEMA

DAY = "2024-05-01"


def staged_rows() -> list[dict]:
    start, end = day_bounds_us(DAY)
    base = {
        "workspace_id": "ws_1",
        "event_type": "track",
        "event_name": "signup",
        "company_id": None,
        "source": "web-client",
        "session_id": "s1",
        "hostname": "app.example.com",
        "pathname": "/",
        "user_agent": "Mozilla/5.0",
        "browser": "Firefox",
        "os": "Linux",
        "device_type": "desktop",
        "country_code": "DE",
        "properties": json.dumps({"plan": "pro"}),
        "nps_score": None,
        "schema_version": 1,
    }
    rows = [
        {**base, "event_id": "e0", "user_id": "u1", "occurred_at": start, "received_at": start},
        {
            **base,
            "event_id": "e1",
            "user_id": "u2",
            "company_id": "c1",
            "occurred_at": end - 1,
            "received_at": end - 1,
            "hostname": "",  # empty string, not NULL
            "pathname": None,
            "event_name": 'say "hi", then\r\nleave',
            "properties": json.dumps({"note": 'ünïcode, "quoted"\nline'}),
            "event_type": "nps_response",
            "nps_score": 0,
        },
        {
            **base,
            "event_id": "e2",
            "user_id": "u1",
            "company_id": "c2",
            "occurred_at": start + 43_200_000_001,
            "received_at": end + 5,  # late: after the day closed
            "properties": None,
            "nps_score": 10,
            "country_code": "",
        },
    ]
    return rows


def staged_table() -> pa.Table:
    rows = staged_rows()
    cols = {name: [r[name] for r in rows] for name in EXPORT_SCHEMA.names}
    arrays = []
    for field in EXPORT_SCHEMA:
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(cols[field.name], pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(cols[field.name], field.type))
    return pa.Table.from_arrays(arrays, schema=EXPORT_SCHEMA)


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    path = tmp_path / "events.parquet"
    pq.write_table(staged_table(), path, compression="zstd")
    return path
