"""Schedules: the daily export at 03:00 UTC for the UTC day that just closed.

One run exports the day of up to EVENTSYNC_SYNCS_PER_RUN syncs (default 50), not
one run per sync: a run costs a few seconds of start-up whatever it holds, and at
1,000 syncs one run per sync is ~1,000 run start-ups every morning. A run is a
partition key range over the `sync` dimension (date fixed), so it holds syncs that
are consecutive in the `sync` partitions' order (the order they were added): a
disabled or paused sync, or a sync whose destination is of another kind (local,
S3, GCS), ends one run and starts the next. Every day still gets its own
materialization, checks and verdict (pipeline/defs/exports/batch.py): one failing
sync fails alone, the others of its run are exported. docs/architecture.md
("Many syncs") has the measurements behind the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipeline.defs.exports.jobs import daily_sync_job
from pipeline.defs.exports.partitions import partition_key, sync_partitions
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import Sync, list_syncs
from resources.destinations.base import parse_destination
from resources.settings import syncs_per_run

DESTINATION_TAG = "eventsync/destination"
SYNC_TAG = "eventsync/sync"
# On runs that hold several syncs: "first..last (n syncs)", for people reading the UI.
SYNCS_TAG = "eventsync/syncs"


def run_tags(sync: Sync) -> dict[str, str]:
    """Tags of a run of one sync: the per-destination concurrency limit keys on them."""
    return {DESTINATION_TAG: sync.destination[:255], SYNC_TAG: sync.id}


def ensure_sync_partitions(instance: dg.DagsterInstance, sync_ids: list[str]) -> list[str]:
    """Add missing `sync` dynamic partitions (one listing, one add); returns the added."""
    existing = set(instance.get_dynamic_partitions(sync_partitions.name))
    missing = list(dict.fromkeys(s for s in sync_ids if s not in existing))
    if missing:
        instance.add_dynamic_partitions(sync_partitions.name, missing)
    return missing


@dataclass(frozen=True)
class SyncGroup:
    """Syncs consecutive in the `sync` partitions' order, exported by one run."""

    syncs: tuple[Sync, ...]

    def request(self, day: str) -> dg.RunRequest:
        first, last = self.syncs[0], self.syncs[-1]
        # Ahead of queued backfill runs: yesterday's export is what customers wait for.
        priority = {"dagster/priority": "10"}
        if len(self.syncs) == 1:
            return dg.RunRequest(
                run_key=f"daily:{first.id}:{day}",
                partition_key=partition_key(day, first.id),
                tags={**run_tags(first), **priority},
            )
        return dg.RunRequest(
            run_key=f"daily:{first.id}..{last.id}:{day}",
            tags={
                ASSET_PARTITION_RANGE_START_TAG: str(partition_key(day, first.id)),
                ASSET_PARTITION_RANGE_END_TAG: str(partition_key(day, last.id)),
                SYNCS_TAG: f"{first.id}..{last.id} ({len(self.syncs)} syncs)",
                **priority,
            },
        )


def sync_groups(order: list[str], enabled: list[Sync], per_run: int) -> list[SyncGroup]:
    """The enabled syncs cut into runs: consecutive in `order` (the sync partitions),
    the same destination kind, at most `per_run` each."""
    by_id = {s.id: s for s in enabled}
    groups: list[list[Sync]] = []
    current: list[Sync] = []
    kind = None
    for sync_id in order:
        sync = by_id.get(sync_id)
        this_kind = parse_destination(sync.destination).kind if sync else None
        if current and (sync is None or this_kind != kind or len(current) >= per_run):
            groups.append(current)
            current = []
        if sync is not None:
            current.append(sync)
            kind = this_kind
    if current:
        groups.append(current)
    return [SyncGroup(tuple(g)) for g in groups]


@dg.schedule(
    job=daily_sync_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="03:00 UTC: export the previous UTC day of every enabled sync, "
    "up to EVENTSYNC_SYNCS_PER_RUN syncs per run.",
)
def daily_sync_schedule(context: dg.ScheduleEvaluationContext, store: EventStoreResource):
    scheduled = context.scheduled_execution_time
    if scheduled is None:
        raise dg.Failure("daily_sync_schedule needs a scheduled execution time")
    day = (scheduled.date() - timedelta(days=1)).isoformat()
    syncs = list_syncs(store.engine(), enabled_only=True)
    if not syncs:
        return dg.SkipReason(f"no enabled sync to export for {day}")
    ensure_sync_partitions(context.instance, [s.id for s in syncs])
    order = context.instance.get_dynamic_partitions(sync_partitions.name)
    return [group.request(day) for group in sync_groups(order, syncs, syncs_per_run())]
