"""Events and fixtures shared by the ingestion tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from eventsync.clock import to_us
from eventsync.store.schema import events


def us(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


NOW_US = us(2025, 3, 10, 12)


def ev(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e1",
        "event_type": "track",
        "event_name": "Report Created",
        "user_id": "u1",
        "occurred_at": "2025-03-09T10:00:00Z",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def stored_rows(engine: Engine, workspace_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(events).where(events.c.workspace_id == workspace_id).order_by(events.c.event_id)
        )
        return [dict(r._mapping) for r in rows]
