"""Partitions: one cell = one sync's one UTC day (date x sync)."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from resources.settings import partitions_start

# The first partition day. Backfills reach at most 365 days back, so the start only
# needs to be older than that; a later start keeps the partition count (days x syncs)
# small. Override with EVENTSYNC_PARTITIONS_START (YYYY-MM-DD).
PARTITIONS_START = partitions_start() or "2025-01-01"

date_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=0
)
sync_partitions = dg.DynamicPartitionsDefinition(name="sync")
partitions = dg.MultiPartitionsDefinition({"date": date_partitions, "sync": sync_partitions})


def partition_key(day: str, sync_id: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day, "sync": sync_id})


def split_key(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(day, sync_id) of a partition key ("2026-11-20|sync_ab12")."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
    else:
        dims = partitions.get_partition_key_from_str(key).keys_by_dimension
    return dims["date"], dims["sync"]


def closed_days(n: int, today: date) -> list[str]:
    """The n UTC days before `today` (the last one is yesterday), oldest first."""
    return [(today - timedelta(days=i)).isoformat() for i in range(n, 0, -1)]
