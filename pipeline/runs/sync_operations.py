"""Operating one sync on the Dagster instance, as the CLI (`eventsync sync pause |
resume | backfill | delete`) and the console's Syncs pages both do it: the store's change
(eventsync.syncs.health) and the instance's (canceled or re-requested work, a queued
asset backfill) together, in one function each."""

from __future__ import annotations

from typing import Any

import dagster as dg
from sqlalchemy import Engine

from assets.partitions import closed_days
from eventsync.clock import utc_today
from eventsync.syncs.config import Sync, delete_sync, get_sync
from eventsync.syncs.health import pause_sync, require_unpaused, resume_sync
from pipeline.runs.backfills import BackfillPlan, submit_backfill
from pipeline.runs.deletion import retire_sync
from pipeline.runs.pause import cancel_sync_work, rerequest_paused_work


def pause(
    engine: Engine,
    instance: dg.DagsterInstance,
    sync_id: str,
    reason: str,
    actor: str,
    in_flight: bool = True,
) -> dict[str, Any]:
    """Pause the sync (by hand) and cancel its queued work with the reason, and with
    `in_flight` its starting and running runs of that sync alone (they end CANCELED; a
    run of several syncs skips it); the sync's fields, and `was_paused`,
    `canceled_runs`, `canceled_backfills`."""
    s, changed = pause_sync(engine, sync_id, reason, actor)
    canceled = cancel_sync_work(instance, s.id, s.paused_reason or reason, in_flight=in_flight)
    return {**s.to_dict(), "was_paused": not changed, **canceled.to_dict()}


def resume(engine: Engine, instance: dg.DagsterInstance, sync_id: str) -> dict[str, Any]:
    """Resume the sync and re-request the days its pause canceled (`requeued`: the
    backfill plan, or None)."""
    s, was_paused = resume_sync(engine, sync_id)
    data: dict[str, Any] = {**s.to_dict(), "was_paused": was_paused, "requeued": None}
    if was_paused:
        plan = rerequest_paused_work(instance, s)
        data["requeued"] = plan.to_dict() if plan else None
    return data


def backfill_last_days(
    engine: Engine, instance: dg.DagsterInstance, sync_id: str, days: int | None, reason: str
) -> tuple[Sync, BackfillPlan]:
    """Queue an asset backfill of the sync's last `days` closed UTC days (default: its
    backfill_days); a paused sync is refused (ConfigError)."""
    s = require_unpaused(get_sync(engine, sync_id))
    window = closed_days(days or s.backfill_days, utc_today())
    return s, submit_backfill(instance, s, window, reason)


def delete(
    engine: Engine,
    instance: dg.DagsterInstance,
    sync_id: str,
    actor: str,
    source: str = "cli",
    workspace_id: str | None = None,
    client_address: str | None = None,
) -> dict[str, Any]:
    """Delete the sync (eventsync.syncs.config.delete_sync: disabled for good, audited;
    Conflict when already deleted) and retire its Dagster work at once; the sync's
    fields, and `canceled_runs`, `canceled_backfills`, `removed_partitions`."""
    s = delete_sync(
        engine,
        sync_id,
        actor,
        source=source,
        workspace_id=workspace_id,
        client_address=client_address,
    )
    retired = retire_sync(instance, s.id, f"deleted at {s.deleted_at}")
    return {**s.to_dict(), **retired.to_dict()}
