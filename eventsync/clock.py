"""UTC time helpers: the store keeps partition-deciding timestamps as µs since epoch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from eventsync.errors import ConfigError

US_PER_DAY = 86_400_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_today() -> date:
    """Today's UTC day: the one still open; every earlier day is closed."""
    return utcnow().date()


def now_iso() -> str:
    """Bookkeeping timestamp: ISO-8601, UTC, microseconds."""
    return utcnow().isoformat(timespec="microseconds")


def to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def parse_day(day: str) -> date:
    """Parse a partition day (YYYY-MM-DD); raises ValueError naming the bad value."""
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"not a UTC day (YYYY-MM-DD): {day!r}") from None


# No event is older (eventsync/ingest/rules.py): the first day a query may name.
FIRST_DAY = date(2000, 1, 1)


def day_parameter(name: str, value: str | None, default: date) -> date:
    """A YYYY-MM-DD parameter (the API's query, the console's form) between FIRST_DAY and
    9999-12-30, `default` when None; else ConfigError naming `name`."""
    if value is None:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ConfigError(name, f"not a UTC day (YYYY-MM-DD): {value[:40]!a}") from None
    if not FIRST_DAY <= day < date.max:
        raise ConfigError(name, f"must be between {FIRST_DAY} and 9999-12-30, got {day}")
    return day


def day_bounds_us(day: str | date) -> tuple[int, int]:
    """[start, end) of a UTC day in µs since epoch."""
    d = parse_day(day) if isinstance(day, str) else day
    start = (d - date(1970, 1, 1)).days * US_PER_DAY
    return start, start + US_PER_DAY
