"""Schedules: the daily export at 03:00 UTC for the UTC day that just closed."""

from datetime import timedelta

import dagster as dg

from pipeline.defs.exports.jobs import daily_sync_job
from pipeline.defs.exports.partitions import partition_key, sync_partitions
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import Sync, list_syncs

DESTINATION_TAG = "eventsync/destination"
SYNC_TAG = "eventsync/sync"


def run_tags(sync: Sync) -> dict[str, str]:
    """Tags every export run carries: the per-destination concurrency limit keys on them."""
    return {DESTINATION_TAG: sync.destination[:255], SYNC_TAG: sync.id}


def ensure_sync_partitions(instance: dg.DagsterInstance, sync_ids: list[str]) -> list[str]:
    """Add missing `sync` dynamic partitions; returns the ones added."""
    existing = set(instance.get_dynamic_partitions(sync_partitions.name))
    missing = [s for s in sync_ids if s not in existing]
    if missing:
        instance.add_dynamic_partitions(sync_partitions.name, missing)
    return missing


@dg.schedule(
    job=daily_sync_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="03:00 UTC: export the previous UTC day of every enabled sync.",
)
def daily_sync_schedule(context: dg.ScheduleEvaluationContext, store: EventStoreResource):
    scheduled = context.scheduled_execution_time
    if scheduled is None:
        raise dg.Failure("daily_sync_schedule needs a scheduled execution time")
    day = (scheduled.date() - timedelta(days=1)).isoformat()
    syncs = list_syncs(store.engine(), enabled_only=True)
    ensure_sync_partitions(context.instance, [s.id for s in syncs])
    requests = [
        dg.RunRequest(
            run_key=f"daily:{sync.id}:{day}",
            partition_key=partition_key(day, sync.id),
            # Ahead of queued backfill runs: yesterday's export is what customers wait for.
            tags={**run_tags(sync), "dagster/priority": "10"},
        )
        for sync in syncs
    ]
    if not requests:
        return dg.SkipReason(f"no enabled sync to export for {day}")
    return requests
