"""One partition = one UTC date (design b of issue 24); the rolling start reaches past
any backfill."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg

from assets.partitions import closed_days, day_range, open_days, partitions, rolling_start
from eventsync.clock import utc_today, utcnow


def test_a_partition_is_a_utc_date_ending_yesterday() -> None:
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.timezone == "UTC" and partitions.end_offset == 1


def test_a_range_of_dates_oldest_first() -> None:
    assert day_range("2025-02-27", "2025-03-01") == ["2025-02-27", "2025-02-28", "2025-03-01"]
    assert day_range("2025-03-01", "2025-03-01") == ["2025-03-01"]


def test_closed_days_end_yesterday_oldest_first() -> None:
    assert closed_days(3, date(2025, 3, 1)) == ["2025-02-26", "2025-02-27", "2025-02-28"]


def test_the_rolling_start_is_a_month_start_a_year_back() -> None:
    assert rolling_start(date(2025, 3, 17)) == "2024-03-01"
    assert rolling_start(date(2025, 1, 1)) == "2024-01-01"
    assert (date(2025, 12, 31) - date.fromisoformat(rolling_start(date(2025, 12, 31)))).days >= 365


def test_under_noon_utc_the_library_and_dagster_agree_on_today(noon_utc: date) -> None:
    """The pinned clock (tests/fixtures/clock.py) reaches Dagster's own: the last
    partition (end_offset=1) is the library's today, and the open day is only today."""
    assert utc_today() == noon_utc and utcnow().hour == 12
    assert datetime.now().hour != 12  # the local zone stays the suite's (not UTC)
    assert partitions.get_last_partition_key() == noon_utc.isoformat()
    yesterday = closed_days(1, noon_utc)[0]
    assert open_days([yesterday, noon_utc.isoformat()]) == [noon_utc.isoformat()]
