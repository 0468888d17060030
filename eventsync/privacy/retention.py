"""Retention: each workspace with `retention_days` keeps events whose occurred_at is
within that many UTC days before today; older events are deleted from the store and
their staged/quarantined partitions from the data folder. Every purge is audited.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select

from eventsync.clock import day_bounds_us, utc_today
from eventsync.engine.staging import remove_partitions_before
from eventsync.privacy.request_store import audit
from eventsync.store.schema import events, workspaces
from eventsync.syncs.config import list_syncs


def cutoff_day(retention_days: int, today: date) -> date:
    """The oldest UTC day that is kept."""
    return today - timedelta(days=retention_days)


def purge_workspace(
    engine: Engine, workspace_id: str, retention_days: int, today: date, actor: str
) -> dict[str, Any]:
    keep_from = cutoff_day(retention_days, today)
    start_us = day_bounds_us(keep_from)[0]
    with engine.begin() as conn:
        removed = conn.execute(
            delete(events).where(
                events.c.workspace_id == workspace_id, events.c.occurred_at < start_us
            )
        ).rowcount
    dirs = remove_partitions_before([s.id for s in list_syncs(engine, workspace_id)], keep_from)
    detail = {
        "retention_days": retention_days,
        "deleted_before": keep_from.isoformat(),
        "events_removed": removed,
        "partition_folders_removed": dirs,
    }
    with engine.begin() as conn:
        audit(conn, workspace_id, None, actor, "retention_purge", detail)
    return {"workspace_id": workspace_id, **detail}


def purge_expired(
    engine: Engine, today: date | None = None, actor: str = "retention"
) -> list[dict[str, Any]]:
    """Purge every workspace that sets retention_days."""
    today = today or utc_today()
    with engine.connect() as conn:
        rows = conn.execute(
            select(workspaces.c.id, workspaces.c.retention_days).where(
                workspaces.c.retention_days.is_not(None)
            )
        ).all()
    return [purge_workspace(engine, ws, days, today, actor) for ws, days in rows]
