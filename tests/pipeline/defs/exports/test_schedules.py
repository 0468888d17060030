"""The daily schedule: the previous UTC day of every enabled sync, ahead of backfills."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from pipeline.defs.exports.schedules import daily_sync_schedule
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import create_sync
from pipeline.workspaces import create_workspace


def test_schedule_requests_previous_utc_day_for_each_enabled_sync(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    a = create_sync(engine, ws, str(tmp_path / "a"))
    b = create_sync(engine, ws, str(tmp_path / "b"))
    off = create_sync(engine, ws, str(tmp_path / "c"), enabled=False)
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 11, 24, 3, 0, tzinfo=UTC),
        resources={"store": EventStoreResource()},
    ) as ctx:
        requests = daily_sync_schedule(ctx)
    keys = sorted(str(r.partition_key) for r in requests)
    assert keys == sorted([f"2026-11-23|{a.id}", f"2026-11-23|{b.id}"])
    assert all(r.partition_key is not None for r in requests)
    # Daily runs go ahead of queued backfill runs in the run queue.
    assert all(r.tags["dagster/priority"] == "10" for r in requests)
    assert off.id not in " ".join(keys)
    assert set(instance.get_dynamic_partitions("sync")) >= {a.id, b.id}
    # The real schedule definition: 03:00 UTC, running by default.
    assert daily_sync_schedule.cron_schedule == "0 3 * * *"
    assert daily_sync_schedule.execution_timezone == "UTC"
    assert daily_sync_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
