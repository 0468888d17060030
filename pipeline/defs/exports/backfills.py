"""Backfills of a sync's days, as Dagster asset backfills.

The daemon executes them honouring the assets' BackfillPolicy (61 days per run),
which `dagster job backfill` would not (it launches one run per partition).
The sensor, the weekly re-sync and the CLI all build the same subset here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from pipeline.defs.exports.partitions import partition_key, partitions
from pipeline.defs.exports.schedules import ensure_sync_partitions, run_tags
from pipeline.syncs.config import Sync

EXPORT_ASSETS = (dg.AssetKey("events_daily"), dg.AssetKey("events_export"))


def backfill_subset(sync_id: str, days: Iterable[str]) -> AssetGraphSubset:
    """Both assets, the given days of one sync. (AssetGraphSubset is how Dagster 1.13
    lets a sensor request a backfill: RunRequest.for_asset_graph_subset.)"""
    keys = [str(partition_key(day, sync_id)) for day in days]
    subset = partitions.empty_subset().with_partition_keys(keys)
    return AssetGraphSubset(
        partitions_subsets_by_asset_key={key: subset for key in EXPORT_ASSETS},
        non_partitioned_asset_keys=set(),
    )


def backfill_request(sync: Sync, days: list[str], reason: str) -> dg.RunRequest:
    return dg.RunRequest.for_asset_graph_subset(
        backfill_subset(sync.id, days),
        tags={**run_tags(sync), "eventsync/reason": reason},
    )


def submit_backfill(instance: dg.DagsterInstance, sync: Sync, days: list[str], reason: str) -> str:
    """Queue an asset backfill on the instance (what the UI's "Launch backfill" does);
    the daemon runs it. Returns the backfill id."""
    ensure_sync_partitions(instance, [sync.id])
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time(),
        tags={**run_tags(sync), "eventsync/reason": reason},
        dynamic_partitions_store=instance,
        asset_graph_subset=backfill_subset(sync.id, days),
        title=f"{reason}: {sync.id} {days[0]}..{days[-1]}" if days else reason,
        description=f"{len(days)} days of sync {sync.id} ({sync.title})",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id
