"""Partitions: one cell = one sync's one UTC day (date x sync)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from resources.settings import partitions_start


def rolling_start(today: date) -> str:
    """The first day of `today`'s month, a year earlier.

    Backfills reach at most 365 days back, so the start only needs to be older than
    that; a later start keeps the partition count (days x syncs) small, and every
    backfill pass of Dagster's daemon enumerates all of it (docs/architecture.md, "Many
    syncs"). A fixed start would grow by 365 partitions per sync a year; this one holds
    365 to 396 days, and moves once a month by dropping only days older than any
    backfill reaches (their files, ledger rows and run history stay)."""
    month = today.year * 12 + today.month - 1 - 12
    return date(month // 12, month % 12 + 1, 1).isoformat()


# The first partition day; EVENTSYNC_PARTITIONS_START (YYYY-MM-DD) overrides it.
PARTITIONS_START = partitions_start() or rolling_start(datetime.now(UTC).date())

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
