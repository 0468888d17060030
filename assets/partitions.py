"""Partitions: one UTC date (design b of issue 24, docs/architecture.md "Many syncs").

A partition is a date; the syncs a run exports for its dates are named in the run's
`eventsync/syncs` tag (pipeline/runs/tags.py; no tag: every enabled sync). Each sync's
outcome of each day is eventsync's own record (the staging summary and the export
ledger), reported in the date's materialization metadata and checks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from eventsync.clock import utc_today, utcnow
from eventsync.settings import load

# The dynamic partitions of the date x sync design this one replaced; only
# `eventsync dagster migrate-partitions` still names them (pipeline/runs/migrate.py).
LEGACY_SYNC_PARTITIONS = "sync"


def rolling_start(today: date) -> str:
    """The first day of `today`'s month, a year earlier.

    Backfills reach at most 365 days back, so the start only needs to be older than
    that; a later start keeps the partition count small, and every backfill pass of
    Dagster's daemon enumerates all of it. A fixed start would grow by 365 partitions a
    year; this one holds 365 to 396 days, and moves once a month by dropping only days
    older than any backfill reaches (their files, ledger rows and run history stay)."""
    month = today.year * 12 + today.month - 1 - 12
    return date(month // 12, month % 12 + 1, 1).isoformat()


# The first partition day; EVENTSYNC_PARTITIONS_START (YYYY-MM-DD) overrides it.
_configured = load().partitions_start
PARTITIONS_START = _configured.isoformat() if _configured else rolling_start(utc_today())

# end_offset=1: the last partition is today, so the hourly syncs' intraday runs
# materialize today's date (metadata `status: partial` with the cut-off,
# pipeline/intraday.py). Only closed days are exported complete: the 03:00 schedule asks
# for yesterday, backfills for closed days (`closed_days`), and a run of the asset
# job that reaches today (a UI backfill of "all", a materialization of the last
# partition) skips today (`open_days`), saying so.
partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=1)


def day_range(first: str, last: str) -> list[str]:
    """Every day of [first, last], oldest first (a ranged run's dates)."""
    d0, d1 = date.fromisoformat(first), date.fromisoformat(last)
    return [(d0 + timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]


def open_days(days: list[str], now: datetime | None = None) -> list[str]:
    """The days of `days` not yet closed at `now` (today in UTC or later): a complete
    export of them would claim a day that is still growing."""
    today = (now or utcnow()).date().isoformat()
    return [d for d in days if d >= today]


def closed_days(n: int, today: date) -> list[str]:
    """The n UTC days before `today` (the last one is yesterday), oldest first."""
    return [(today - timedelta(days=i)).isoformat() for i in range(n, 0, -1)]
