"""What tests read back about a batched run: per-date outcomes as the UI shows them."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from assets.partitions import partitions


def partition_status(instance: dg.DagsterInstance, asset: str) -> tuple[set[str], set[str]]:
    """(materialized, failed) partition keys of an asset: the asset status cache the
    UI's partition view is drawn from."""
    value = get_and_update_asset_status_cache_value(instance, dg.AssetKey(asset), partitions)
    if value is None:
        return set(), set()
    return (
        set(value.deserialize_materialized_partition_subsets(partitions).get_partition_keys()),
        set(value.deserialize_failed_partition_subsets(partitions).get_partition_keys()),
    )


def check_verdicts(
    instance: dg.DagsterInstance, check: str, asset: str = "events_daily"
) -> dict[str, tuple[bool, str | None]]:
    """{date: (passed, description)} of the latest evaluations of a partitioned check."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    out: dict[str, tuple[bool, str | None]] = {}
    for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=1000):
        event = record.event.dagster_event if record.event else None
        evaluated = event is not None and event.event_type_value == "ASSET_CHECK_EVALUATION"
        if record.partition in out or not evaluated:
            continue
        data = event.asset_check_evaluation_data
        out[record.partition] = (data.passed, data.description)
    return out
