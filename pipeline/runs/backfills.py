"""Backfills of syncs' days, as Dagster asset backfills of date partitions.

A backfill is a set of dates of both assets with the syncs it exports in its
`eventsync/syncs` tag (pipeline/runs/tags.py); the daemon executes it honouring the
assets' BackfillPolicy (61 dates per run), which `dagster job backfill` would not, and
each of its runs inherits the tag. The sensor, the weekly re-sync, the resume and the
CLI all build their backfills here, and all skip what cannot or need not be requested
again:

- days before the first partition day (EVENTSYNC_PARTITIONS_START) do not exist for
  Dagster;
- days still pending in a requested backfill that names the sync would be exported
  twice by two backfills racing each other: they are left to that backfill. (A
  backfill launched from the UI without the tag exports every enabled sync; it is not
  counted as pending for any.)

Several syncs' wanted days become as few backfills as they can while exporting exactly
those sync-days (`batches`): syncs wanting the same days share one, or dates wanted by
the same syncs do, whichever makes fewer; each holds at most EVENTSYNC_SYNCS_PER_RUN
syncs, so its runs are the size of the 03:00 schedule's and its tag stays short.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from assets.partitions import PARTITIONS_START, partitions
from eventsync.settings import load
from eventsync.syncs.config import Sync
from pipeline.runs.dagster_internals import (
    AssetGraphSubset,
    BulkActionsFilter,
    BulkActionStatus,
    PartitionBackfill,
    make_new_backfill_id,
)
from pipeline.runs.tags import REASON_TAG, SYNC_TAG, run_tags, syncs_tags, tagged_syncs

EXPORT_ASSETS = (dg.AssetKey("events_daily"), dg.AssetKey("events_export"))
EXPORT_ASSET = EXPORT_ASSETS[1]


def backfill_subset(days: Iterable[str]) -> AssetGraphSubset:
    """Both assets, the given dates. (AssetGraphSubset is how Dagster 1.13 lets a sensor
    request a backfill: RunRequest.for_asset_graph_subset.)"""
    subset = partitions.empty_subset().with_partition_keys(sorted(set(days)))
    return AssetGraphSubset(
        partitions_subsets_by_asset_key={key: subset for key in EXPORT_ASSETS},
        non_partitioned_asset_keys=set(),
    )


def requested(instance: dg.DagsterInstance) -> list[PartitionBackfill]:
    """Backfills the daemon is still working on. (Filtered by tag in Python, not with
    BulkActionsFilter.tags: that needs a storage index older instances may lack.)"""
    return instance.get_backfills(filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED]))


def requested_backfills(instance: dg.DagsterInstance, sync_id: str) -> list[PartitionBackfill]:
    """The sync's own (single-sync) backfills the daemon is still working on."""
    return [b for b in requested(instance) if b.tags.get(SYNC_TAG) == sync_id]


def _export_keys(data: Any, attribute: str) -> set[str]:
    subset = getattr(data, attribute)
    if EXPORT_ASSET not in subset.asset_keys:
        return set()
    return set(subset.get_partitions_subset(EXPORT_ASSET).get_partition_keys())


def remaining_keys(backfill: PartitionBackfill, include_failed: bool = True) -> set[str]:
    """Dates of the backfill's export not materialized yet (requested, running, and,
    with `include_failed`, failed)."""
    data = backfill.asset_backfill_data
    if data is None:
        return set()
    keys = _export_keys(data, "target_subset") - _export_keys(data, "materialized_subset")
    if not include_failed:
        keys -= _export_keys(data, "failed_and_downstream_subset")
    return keys


def backfill_remaining_days(backfill: PartitionBackfill) -> list[str]:
    """Dates of a backfill's export not materialized yet."""
    return sorted(remaining_keys(backfill))


def pending_days(instance: dg.DagsterInstance) -> dict[str, dict[str, str]]:
    """{sync_id: {day: backfill_id}}: the days requested backfills will still export
    for the syncs they name (failed days are not pending: nothing will retry them). One
    storage read for all syncs, so the sensor's tick does not read every backfill once
    per sync."""
    pending: dict[str, dict[str, str]] = {}
    for backfill in requested(instance):
        sync_ids = tagged_syncs(backfill.tags)
        if not sync_ids:
            continue
        days = sorted(remaining_keys(backfill, include_failed=False))
        for sync_id in sync_ids:
            for day in days:
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
    backfill_id: str | None = None  # the (first) backfill queued for `days`
    queued: dict[str, list[str]] = field(default_factory=dict)  # backfill id -> its days

    def to_dict(self) -> dict[str, Any]:
        return {
            "sync_id": self.sync_id,
            "backfill_id": self.backfill_id,
            "backfills": {k: len(v) for k, v in self.queued.items()},
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


@dataclass(frozen=True)
class Batch:
    """One backfill: these dates, for these syncs (every sync for every date)."""

    days: tuple[str, ...]
    sync_ids: tuple[str, ...]

    @property
    def sync_days(self) -> int:
        return len(self.days) * len(self.sync_ids)


def batches(wanted: dict[str, list[str]], per_backfill: int | None = None) -> list[Batch]:
    """{sync_id: its days} as the fewest backfills that export exactly those sync-days:
    syncs grouped by their set of days, or dates grouped by the set of syncs that want
    them, whichever gives fewer groups; each cut to at most `per_backfill` syncs
    (EVENTSYNC_SYNCS_PER_RUN)."""
    per_backfill = per_backfill or load().syncs_per_run
    wanted = {s: sorted(set(d)) for s, d in wanted.items() if d}
    by_days: dict[tuple[str, ...], list[str]] = {}
    for sync_id, days in wanted.items():
        by_days.setdefault(tuple(days), []).append(sync_id)
    syncs_of_day: dict[str, list[str]] = {}
    for sync_id, days in wanted.items():
        for day in days:
            syncs_of_day.setdefault(day, []).append(sync_id)
    by_syncs: dict[tuple[str, ...], list[str]] = {}
    for day in sorted(syncs_of_day):
        by_syncs.setdefault(tuple(syncs_of_day[day]), []).append(day)
    groups = (
        [(days, list(ids)) for days, ids in by_days.items()]
        if len(by_days) <= len(by_syncs)
        else [(tuple(days), list(ids)) for ids, days in by_syncs.items()]
    )
    out = []
    for days, ids in groups:
        for i in range(0, len(ids), per_backfill):
            out.append(Batch(tuple(days), tuple(ids[i : i + per_backfill])))
    return out


def _batch_tags(batch: Batch, syncs: dict[str, Sync], reason: str) -> dict[str, str]:
    if len(batch.sync_ids) == 1:
        return {**run_tags(syncs[batch.sync_ids[0]]), REASON_TAG: reason}
    return {**syncs_tags(batch.sync_ids), REASON_TAG: reason}


def backfill_request(plan: BackfillPlan, sync: Sync) -> dg.RunRequest:
    """One sync's plan as a sensor's run request (the sensor daemon creates the
    backfill)."""
    return dg.RunRequest.for_asset_graph_subset(
        backfill_subset(plan.days), tags={**run_tags(sync), REASON_TAG: plan.reason}
    )


def multi_sync_requests(plans: list[tuple[BackfillPlan, Sync]]) -> list[dg.RunRequest]:
    """Several syncs' planned days as the fewest backfill requests (`batches`)."""
    syncs = {sync.id: sync for _, sync in plans}
    reasons = ", ".join(sorted({plan.reason for plan, _ in plans}))
    return [
        dg.RunRequest.for_asset_graph_subset(
            backfill_subset(batch.days), tags=_batch_tags(batch, syncs, reasons)
        )
        for batch in batches({plan.sync_id: plan.days for plan, _ in plans if plan.days})
    ]


def _add_backfill(
    instance: dg.DagsterInstance,
    days: Iterable[str],
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
            asset_graph_subset=backfill_subset(days),
            title=title,
            description=description,
            run_config=None,
        )
    )
    return backfill_id


def add_requested_backfill(instance: dg.DagsterInstance, request: dg.RunRequest) -> str:
    """Queue a sensor's backfill request as the sensor daemon does (for benchmarks and
    tests that tick the sensor by hand)."""
    subset = request.asset_graph_subset
    if subset is None:
        raise ValueError("not a backfill request: no asset_graph_subset")
    days = subset.get_partitions_subset(EXPORT_ASSET).get_partition_keys()
    return _add_backfill(instance, days, dict(request.tags), None, None)


def submit_backfill(
    instance: dg.DagsterInstance, sync: Sync, days: Iterable[str], reason: str
) -> BackfillPlan:
    """Queue an asset backfill on the instance (what the UI's "Launch backfill" does,
    with the sync's tags) of the days not already pending; the daemon runs it. The plan
    says what was queued."""
    plan = plan_backfill(instance, sync, days, reason)
    if not plan.days:
        return plan
    plan.backfill_id = _add_backfill(
        instance,
        plan.days,
        tags={**run_tags(sync), REASON_TAG: reason},
        title=f"{reason}: {sync.id} {plan.days[0]}..{plan.days[-1]}",
        description=f"{len(plan.days)} days of sync {sync.id} ({sync.title})",
    )
    plan.queued = {plan.backfill_id: list(plan.days)}
    return plan


def submit_shared_backfill(
    instance: dg.DagsterInstance, wanted: list[tuple[Sync, list[str]]], reason: str
) -> list[BackfillPlan]:
    """Several syncs' days as the fewest backfills (`batches`; the weekly re-sync's),
    one plan per sync; a batch of a single sync gets that sync's tags."""
    pending = pending_days(instance)
    plans = [plan_backfill(instance, sync, days, reason, pending) for sync, days in wanted]
    syncs = {sync.id: sync for sync, _ in wanted}
    by_id = {plan.sync_id: plan for plan in plans}
    for batch in batches({plan.sync_id: plan.days for plan in plans if plan.days}):
        first, last = batch.days[0], batch.days[-1]
        if len(batch.sync_ids) == 1:
            title = f"{reason}: {batch.sync_ids[0]} {first}..{last}"
        else:
            title = f"{reason}: {len(batch.sync_ids)} syncs {first}..{last}"
        backfill_id = _add_backfill(
            instance,
            batch.days,
            _batch_tags(batch, syncs, reason),
            title,
            f"{len(batch.days)} dates of {len(batch.sync_ids)} syncs",
        )
        for sync_id in batch.sync_ids:
            plan = by_id[sync_id]
            plan.backfill_id = plan.backfill_id or backfill_id
            plan.queued[backfill_id] = list(batch.days)
    return plans
