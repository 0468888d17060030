"""validate_event: one test per rule and reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from eventsync.clock import to_us
from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.event_limits import LIMITS
from eventsync.ingest import validate_event
from tests.eventsync.ingest.events import NOW_US, ev, us


def test_valid_event_becomes_a_store_row() -> None:
    row, reason = validate_event(
        ev(properties={"plan": "pro", "n": 2}, company_id="c1", hostname="app.example.com"),
        now_us=NOW_US,
    )
    assert reason is None
    assert row is not None
    assert row["occurred_at"] == us(2025, 3, 9, 10)
    assert row["properties"] == '{"plan":"pro","n":2}'  # compact JSON text
    assert row["company_id"] == "c1" and row["hostname"] == "app.example.com"
    assert row["schema_version"] == 1
    assert "workspace_id" not in row and "received_at" not in row


@pytest.mark.parametrize(
    "missing", ["event_id", "event_type", "event_name", "user_id", "occurred_at"]
)
def test_missing_field_is_named(missing: str) -> None:
    row, reason = validate_event(ev(**{missing: ...}), now_us=NOW_US)
    assert row is None
    assert reason == f"missing field {missing!r}"


def test_empty_user_id_is_missing() -> None:
    _, reason = validate_event(ev(user_id="  "), now_us=NOW_US)
    assert reason == "missing field 'user_id' (empty string)"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("user_id", 42, "expected string, got int"),
        ("event_name", ["x"], "expected string, got list"),
        ("company_id", 7, "expected string, got int"),
        ("properties", [1, 2], "expected JSON object, got list"),
        ("properties", '{"a": 1}', "expected JSON object, got str"),
        ("nps_score", "9", "expected integer, got str"),
        ("nps_score", 7.5, "expected integer, got float"),
        ("occurred_at", 1.7e12, "integer epoch milliseconds, got float"),
    ],
)
def test_wrong_type_names_field_and_expected_type(field: str, value: Any, expected: str) -> None:
    _, reason = validate_event(ev(**{field: value}), now_us=NOW_US)
    assert reason is not None
    assert f"wrong type for {field!r}" in reason
    assert expected in reason


def test_unknown_event_type_lists_the_allowed_ones() -> None:
    _, reason = validate_event(ev(event_type="pageview"), now_us=NOW_US)
    assert reason is not None
    assert reason.startswith("unknown event_type 'pageview'; allowed: ")
    assert all(t in reason for t in EVENT_TYPES)


def test_unknown_field_is_rejected_not_dropped() -> None:
    _, reason = validate_event(ev(plan="pro"), now_us=NOW_US)
    assert reason == "unknown field 'plan'; put custom data in 'properties'"


@pytest.mark.parametrize(
    ("value", "occurred_iso"),
    [
        ("2025-03-09T10:00:00Z", "2025-03-09T10:00:00+00:00"),
        ("2025-03-09T12:00:00+02:00", "2025-03-09T10:00:00+00:00"),
        ("2025-03-09T10:00:00.123456+00:00", "2025-03-09T10:00:00.123456+00:00"),
        (1741514400000, "2025-03-09T10:00:00+00:00"),  # epoch milliseconds
    ],
)
def test_accepted_timestamps(value: Any, occurred_iso: str) -> None:
    row, reason = validate_event(ev(occurred_at=value), now_us=NOW_US)
    assert reason is None and row is not None
    assert row["occurred_at"] == to_us(datetime.fromisoformat(occurred_iso))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-09T10:00:00", "has no timezone"),  # naive
        ("yesterday", "is not ISO-8601"),
        ("2025-02-30T10:00:00Z", "is not ISO-8601"),
        (1741514400, "outside 2000-01-01 .. now + 1 day"),  # seconds, not ms: 1970
        ("1999-12-31T23:59:59Z", "outside 2000-01-01"),
        ("2025-03-20T00:00:00Z", "outside 2000-01-01 .. now + 1 day"),  # future
        (True, "wrong type for 'occurred_at'"),
    ],
)
def test_bad_timestamp_names_the_field(value: Any, expected: str) -> None:
    _, reason = validate_event(ev(occurred_at=value), now_us=NOW_US)
    assert reason is not None
    assert "'occurred_at'" in reason
    assert expected in reason


def test_oversize_properties() -> None:
    row, reason = validate_event(
        ev(properties={"blob": "x" * (LIMITS.properties_bytes - 11)}), now_us=NOW_US
    )
    assert reason is None and row is not None  # exactly at the limit
    assert len(row["properties"].encode()) == LIMITS.properties_bytes
    _, reason = validate_event(
        ev(properties={"blob": "x" * LIMITS.properties_bytes}), now_us=NOW_US
    )
    assert reason == (
        f"properties too large: {LIMITS.properties_bytes + 11} bytes of JSON, "
        f"at most {LIMITS.properties_bytes}"
    )


@pytest.mark.parametrize("score", [-1, 11, 100])
def test_nps_score_out_of_range(score: int) -> None:
    _, reason = validate_event(ev(event_type="nps_response", nps_score=score), now_us=NOW_US)
    assert reason == f"nps_score {score} is outside 0..10"


def test_nps_response_needs_a_score() -> None:
    _, reason = validate_event(ev(event_type="nps_response"), now_us=NOW_US)
    assert reason == "missing field 'nps_score' (required for nps_response)"
    row, reason = validate_event(ev(event_type="nps_response", nps_score=0), now_us=NOW_US)
    assert reason is None and row is not None and row["nps_score"] == 0


@pytest.mark.parametrize("field", ["event_id", "user_id", "company_id", "session_id"])
def test_id_fields_too_long(field: str) -> None:
    width = LIMITS.width(field)
    _, reason = validate_event(ev(**{field: "x" * (width + 1)}), now_us=NOW_US)
    assert reason == f"{field!r} is too long: {width + 1} characters, at most {width}"


def test_identify_company_needs_company_id() -> None:
    _, reason = validate_event(ev(event_type="identify_company"), now_us=NOW_US)
    assert reason == "missing field 'company_id' (required for identify_company)"


def test_non_object_event() -> None:
    assert validate_event(["e1"]) == (None, "event must be a JSON object, got list")
