"""Backfills of a sync's days, as Dagster asset backfills.

The daemon executes them honouring the assets' BackfillPolicy (61 days per run),
which `dagster job backfill` would not (it launches one run per partition).
The sensor, the weekly re-sync, the resume and the CLI all build the same subset
here, and all skip what cannot or need not be requested again:

- days before the first partition day (EVENTSYNC_PARTITIONS_START) do not exist for
  Dagster;
- days still pending in a requested backfill of the same sync would be exported
  twice by two backfills racing each other: they are left to that backfill.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus, PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from pipeline.defs.exports.partitions import PARTITIONS_START, partition_key, partitions, split_key
from pipeline.defs.exports.schedules import SYNC_TAG, ensure_sync_partitions, run_tags
from pipeline.syncs.config import Sync

EXPORT_ASSETS = (dg.AssetKey("events_daily"), dg.AssetKey("events_export"))
EXPORT_ASSET = EXPORT_ASSETS[1]


def backfill_subset(sync_id: str, days: Iterable[str]) -> AssetGraphSubset:
    """Both assets, the given days of one sync. (AssetGraphSubset is how Dagster 1.13
    lets a sensor request a backfill: RunRequest.for_asset_graph_subset.)"""
    keys = [str(partition_key(day, sync_id)) for day in days]
    subset = partitions.empty_subset().with_partition_keys(keys)
    return AssetGraphSubset(
        partitions_subsets_by_asset_key={key: subset for key in EXPORT_ASSETS},
        non_partitioned_asset_keys=set(),
    )


def requested_backfills(instance: dg.DagsterInstance, sync_id: str) -> list[PartitionBackfill]:
    """The sync's backfills the daemon is still working on. (Filtered here, not with
    BulkActionsFilter.tags: that needs a storage index older instances may lack.)"""
    requested = instance.get_backfills(
        filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED])
    )
    return [b for b in requested if b.tags.get(SYNC_TAG) == sync_id]


def backfill_remaining_days(backfill: PartitionBackfill) -> list[str]:
    """Days of the backfill's export not materialized yet (requested, running, failed)."""
    data = backfill.asset_backfill_data
    if data is None or EXPORT_ASSET not in data.target_subset.asset_keys:
        return []
    target = set(data.target_subset.get_partitions_subset(EXPORT_ASSET).get_partition_keys())
    done: set[str] = set()
    if EXPORT_ASSET in data.materialized_subset.asset_keys:
        materialized = data.materialized_subset.get_partitions_subset(EXPORT_ASSET)
        done = set(materialized.get_partition_keys())
    return sorted(split_key(k)[0] for k in target - done)


@dataclass
class BackfillPlan:
    """What a backfill request for a sync's days turns into."""

    sync_id: str
    reason: str
    days: list[str] = field(default_factory=list)  # to request now
    pending: dict[str, list[str]] = field(default_factory=dict)  # backfill id -> its days
    before_start: list[str] = field(default_factory=list)
    backfill_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sync_id": self.sync_id,
            "backfill_id": self.backfill_id,
            "days": len(self.days),
            "first_day": self.days[0] if self.days else None,
            "last_day": self.days[-1] if self.days else None,
            "already_pending": {k: len(v) for k, v in self.pending.items()},
            "before_partitions_start": len(self.before_start),
            "partitions_start": PARTITIONS_START,
        }


def plan_backfill(
    instance: dg.DagsterInstance, sync: Sync, days: Iterable[str], reason: str
) -> BackfillPlan:
    plan = BackfillPlan(sync.id, reason)
    wanted = sorted(set(days))
    plan.before_start = [d for d in wanted if d < PARTITIONS_START]
    wanted = [d for d in wanted if d >= PARTITIONS_START]
    pending: dict[str, str] = {}
    for backfill in requested_backfills(instance, sync.id):
        for day in backfill_remaining_days(backfill):
            pending.setdefault(day, backfill.backfill_id)
    for day in wanted:
        if day in pending:
            plan.pending.setdefault(pending[day], []).append(day)
        else:
            plan.days.append(day)
    return plan


def backfill_request(plan: BackfillPlan, sync: Sync) -> dg.RunRequest:
    """The plan as a sensor's run request (the sensor daemon creates the backfill)."""
    return dg.RunRequest.for_asset_graph_subset(
        backfill_subset(sync.id, plan.days),
        tags={**run_tags(sync), "eventsync/reason": plan.reason},
    )


def submit_backfill(
    instance: dg.DagsterInstance, sync: Sync, days: Iterable[str], reason: str
) -> BackfillPlan:
    """Queue an asset backfill on the instance (what the UI's "Launch backfill" does) of
    the days not already pending; the daemon runs it. The plan says what was queued."""
    plan = plan_backfill(instance, sync, days, reason)
    if not plan.days:
        return plan
    ensure_sync_partitions(instance, [sync.id])
    plan.backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=plan.backfill_id,
        backfill_timestamp=time.time(),
        tags={**run_tags(sync), "eventsync/reason": reason},
        dynamic_partitions_store=instance,
        asset_graph_subset=backfill_subset(sync.id, plan.days),
        title=f"{reason}: {sync.id} {plan.days[0]}..{plan.days[-1]}",
        description=f"{len(plan.days)} days of sync {sync.id} ({sync.title})",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return plan
