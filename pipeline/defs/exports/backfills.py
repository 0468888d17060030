"""Backfills of a sync's days, as Dagster asset backfills.

The daemon executes them honouring the assets' BackfillPolicy (61 days per run),
which `dagster job backfill` would not (it launches one run per partition).
The sensor, the weekly re-sync, the resume and the CLI all build the same subset
here, and all skip what cannot or need not be requested again:

- days before the first partition day (EVENTSYNC_PARTITIONS_START) do not exist for
  Dagster;
- days still pending in a requested backfill of the same sync would be exported
  twice by two backfills racing each other: they are left to that backfill.

The new-sync sensor asks for one backfill per tick however many syncs it found
(`multi_sync_request`): the backfill daemon checks every requested backfill on every
pass, at a cost that grows with the whole partition set, so 1,000 new syncs must not
be 1,000 backfills. The daemon cuts such a backfill into runs along the dimension
with fewer keys: one sync's days (61 per run), or one day of up to 61 consecutive
syncs.
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
from pipeline.defs.exports.schedules import (
    SYNC_TAG,
    SYNCS_TAG,
    ensure_sync_partitions,
    run_tags,
)
from pipeline.syncs.config import Sync

EXPORT_ASSETS = (dg.AssetKey("events_daily"), dg.AssetKey("events_export"))
EXPORT_ASSET = EXPORT_ASSETS[1]


def backfill_subset(sync_id: str, days: Iterable[str]) -> AssetGraphSubset:
    """Both assets, the given days of one sync. (AssetGraphSubset is how Dagster 1.13
    lets a sensor request a backfill: RunRequest.for_asset_graph_subset.)"""
    return _subset([str(partition_key(day, sync_id)) for day in days])


def _subset(keys: list[str]) -> AssetGraphSubset:
    subset = partitions.empty_subset().with_partition_keys(keys)
    return AssetGraphSubset(
        partitions_subsets_by_asset_key={key: subset for key in EXPORT_ASSETS},
        non_partitioned_asset_keys=set(),
    )


def _requested(instance: dg.DagsterInstance) -> list[PartitionBackfill]:
    """Backfills the daemon is still working on. (Filtered by tag in Python, not with
    BulkActionsFilter.tags: that needs a storage index older instances may lack.)"""
    return instance.get_backfills(filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED]))


def requested_backfills(instance: dg.DagsterInstance, sync_id: str) -> list[PartitionBackfill]:
    """The sync's own (single-sync) backfills the daemon is still working on."""
    return [b for b in _requested(instance) if b.tags.get(SYNC_TAG) == sync_id]


def _export_keys(data: Any, attribute: str) -> set[str]:
    subset = getattr(data, attribute)
    if EXPORT_ASSET not in subset.asset_keys:
        return set()
    return set(subset.get_partitions_subset(EXPORT_ASSET).get_partition_keys())


def remaining_keys(backfill: PartitionBackfill, include_failed: bool = True) -> set[str]:
    """Partition keys of the backfill's export not materialized yet (requested, running,
    and, with `include_failed`, failed)."""
    data = backfill.asset_backfill_data
    if data is None:
        return set()
    keys = _export_keys(data, "target_subset") - _export_keys(data, "materialized_subset")
    if not include_failed:
        keys -= _export_keys(data, "failed_and_downstream_subset")
    return keys


def backfill_remaining_days(backfill: PartitionBackfill) -> list[str]:
    """Days of a single-sync backfill's export not materialized yet."""
    return sorted(split_key(k)[0] for k in remaining_keys(backfill))


def pending_days(instance: dg.DagsterInstance) -> dict[str, dict[str, str]]:
    """{sync_id: {day: backfill_id}}: the days requested backfills will still export
    (failed days are not pending: nothing will retry them). One storage read for all
    syncs, so the sensor's tick does not read every backfill once per sync."""
    pending: dict[str, dict[str, str]] = {}
    for backfill in _requested(instance):
        if SYNC_TAG not in backfill.tags and SYNCS_TAG not in backfill.tags:
            continue
        for key in sorted(remaining_keys(backfill, include_failed=False)):
            day, sync_id = split_key(key)
            pending.setdefault(sync_id, {}).setdefault(day, backfill.backfill_id)
    return pending


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
    instance: dg.DagsterInstance,
    sync: Sync,
    days: Iterable[str],
    reason: str,
    pending_by_sync: dict[str, dict[str, str]] | None = None,
) -> BackfillPlan:
    """The days to request: `days` less those before the partitions' start and those a
    requested backfill will still export (`pending_by_sync`: `pending_days`, read once
    per tick by a caller planning many syncs)."""
    plan = BackfillPlan(sync.id, reason)
    wanted = sorted(set(days))
    plan.before_start = [d for d in wanted if d < PARTITIONS_START]
    wanted = [d for d in wanted if d >= PARTITIONS_START]
    if pending_by_sync is None:
        pending_by_sync = pending_days(instance)
    pending = pending_by_sync.get(sync.id, {})
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


def multi_sync_request(plans: list[BackfillPlan]) -> dg.RunRequest:
    """Several syncs' planned days as one backfill request (the sensor's, per tick)."""
    keys = [str(partition_key(day, plan.sync_id)) for plan in plans for day in plan.days]
    reasons = sorted({plan.reason for plan in plans})
    return dg.RunRequest.for_asset_graph_subset(
        _subset(keys),
        tags={
            SYNCS_TAG: f"{len(plans)} syncs, {len(keys)} days",
            "eventsync/reason": ", ".join(reasons),
        },
    )


def _add_backfill(
    instance: dg.DagsterInstance,
    subset: AssetGraphSubset,
    tags: dict[str, str],
    title: str | None,
    description: str | None,
) -> str:
    backfill_id = make_new_backfill_id()
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags=tags,
            dynamic_partitions_store=instance,
            asset_graph_subset=subset,
            title=title,
            description=description,
            run_config=None,
        )
    )
    return backfill_id


def add_requested_backfill(instance: dg.DagsterInstance, request: dg.RunRequest) -> str:
    """Queue a sensor's backfill request as the sensor daemon does (for benchmarks and
    tests that tick the sensor by hand)."""
    if request.asset_graph_subset is None:
        raise ValueError("not a backfill request: no asset_graph_subset")
    return _add_backfill(instance, request.asset_graph_subset, dict(request.tags), None, None)


def submit_backfill(
    instance: dg.DagsterInstance, sync: Sync, days: Iterable[str], reason: str
) -> BackfillPlan:
    """Queue an asset backfill on the instance (what the UI's "Launch backfill" does) of
    the days not already pending; the daemon runs it. The plan says what was queued."""
    plan = plan_backfill(instance, sync, days, reason)
    if not plan.days:
        return plan
    ensure_sync_partitions(instance, [sync.id])
    plan.backfill_id = _add_backfill(
        instance,
        backfill_subset(sync.id, plan.days),
        tags={**run_tags(sync), "eventsync/reason": reason},
        title=f"{reason}: {sync.id} {plan.days[0]}..{plan.days[-1]}",
        description=f"{len(plan.days)} days of sync {sync.id} ({sync.title})",
    )
    return plan


def submit_shared_backfill(
    instance: dg.DagsterInstance, wanted: list[tuple[Sync, list[str]]], reason: str
) -> list[BackfillPlan]:
    """One backfill for several syncs' days (the weekly re-sync's), one plan per sync;
    a single sync's days get a backfill of their own (`submit_backfill`'s, with its
    per-destination tags)."""
    pending = pending_days(instance)
    plans = [plan_backfill(instance, sync, days, reason, pending) for sync, days in wanted]
    queued = [(plan, sync) for plan, (sync, _) in zip(plans, wanted, strict=True) if plan.days]
    if not queued:
        return plans
    ensure_sync_partitions(instance, [sync.id for _, sync in queued])
    if len(queued) == 1:
        plan, sync = queued[0]
        keys = [str(partition_key(day, sync.id)) for day in plan.days]
        tags = {**run_tags(sync), "eventsync/reason": reason}
        title = f"{reason}: {sync.id} {plan.days[0]}..{plan.days[-1]}"
    else:
        keys = [str(partition_key(d, plan.sync_id)) for plan, _ in queued for d in plan.days]
        tags = {SYNCS_TAG: f"{len(queued)} syncs, {len(keys)} days", "eventsync/reason": reason}
        title = f"{reason}: {len(queued)} syncs"
    backfill_id = _add_backfill(
        instance, _subset(keys), tags, title, f"{len(keys)} days of {len(queued)} syncs"
    )
    for plan, _ in queued:
        plan.backfill_id = backfill_id
    return plans
