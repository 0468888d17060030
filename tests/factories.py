"""Test data: raw store rows for a workspace's day (valid by default)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from eventsync.clock import day_bounds_us
from eventsync.ingest import insert_event_rows

TYPES = ("page_view", "track", "labeled", "flow_interaction", "identify_user")


def event_row(workspace_id: str, day: str, i: int, **overrides: Any) -> dict[str, Any]:
    start, _ = day_bounds_us(day)
    row = {
        "workspace_id": workspace_id,
        "event_id": f"{workspace_id}-{day}-{i:06d}",
        "event_type": TYPES[i % len(TYPES)],
        "event_name": f"event-{i % 7}",
        "user_id": f"user-{i % 13}",
        "company_id": f"company-{i % 3}" if i % 4 else None,
        "occurred_at": start + i * 1_000_003,
        "received_at": start + i * 1_000_003 + 2_000_000,
        "source": "web-client",
        "session_id": f"s-{i // 10}",
        "hostname": "app.example.com",
        "pathname": f"/page/{i % 5}",
        "user_agent": "Mozilla/5.0",
        "browser": "Firefox",
        "os": "Linux",
        "device_type": "desktop",
        "country_code": "DE",
        "properties": json.dumps({"i": i, "plan": "pro"}),
        "nps_score": None,
        "schema_version": 1,
    }
    row.update(overrides)
    return row


def insert_day(
    engine: Engine, workspace_id: str, day: str, n: int, **overrides_by_index: dict
) -> list[dict[str, Any]]:
    """Insert n events for the day; `overrides_by_index={"i3": {...}}` alters row 3."""
    rows = [
        event_row(workspace_id, day, i, **overrides_by_index.get(f"i{i}", {})) for i in range(n)
    ]
    with engine.begin() as conn:
        insert_event_rows(conn, rows)
    return rows
