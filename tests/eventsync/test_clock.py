"""UTC time helpers: microseconds since the epoch, partition days and their bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine

from eventsync.clock import (
    US_PER_DAY,
    day_bounds_us,
    from_us,
    now_iso,
    parse_day,
    to_us,
    utc_today,
)


def test_microseconds_round_trip_exactly() -> None:
    moment = datetime(2024, 5, 1, 23, 59, 59, 999_999, tzinfo=UTC)
    assert from_us(to_us(moment)) == moment


def test_a_naive_datetime_is_taken_as_utc_whatever_the_local_zone() -> None:
    naive = datetime(2024, 5, 1, 12, 0)
    berlin = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_us(naive) == to_us(berlin)


def test_a_day_is_the_half_open_utc_range_of_its_microseconds() -> None:
    start, end = day_bounds_us("2024-05-01")
    assert from_us(start) == datetime(2024, 5, 1, tzinfo=UTC)
    assert end - start == US_PER_DAY
    assert day_bounds_us("2024-05-02")[0] == end


def test_a_bad_day_names_the_value() -> None:
    with pytest.raises(ValueError, match=r"not a UTC day \(YYYY-MM-DD\): '2024-13-01'"):
        parse_day("2024-13-01")


def test_bookkeeping_timestamps_are_utc_with_microseconds() -> None:
    stamp = now_iso()
    assert stamp.endswith("+00:00")
    assert len(stamp.split(".")[1]) == len("123456+00:00")


def test_today_is_the_utc_day_whatever_the_local_zone() -> None:
    """21:00 in New York (the suite's zone) on the 7th is already the 8th in UTC."""
    at = datetime(2026, 12, 8, 2, 0, tzinfo=UTC).timestamp()  # a timestamp keeps the zone
    with time_machine.travel(at, tick=False):
        assert datetime.now().day == 7  # local
        assert utc_today() == datetime(2026, 12, 8).date()
