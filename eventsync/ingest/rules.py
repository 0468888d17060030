"""The rules one event must pass to be stored (the limits are `LIMITS`, eventsync/event_limits.py).

Each rule gives a reason naming the field, so a rejected event can be fixed by its
sender. Strings the store cannot hold (NUL, lone surrogates, which is also what invalid
UTF-8 becomes, see eventsync/api/guard.py) are refused here, per event, on every backend.

Server-set fields (`workspace_id`, `received_at`, `schema_version`) are ignored when an
event carries them, so an exported file can be re-imported; any other unknown field is
a rejection (custom data belongs in `properties`).
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

from eventsync.clock import to_us, utcnow
from eventsync.engine.event_schema import EVENT_TYPES, REQUIRED_FIELDS, SCHEMA_VERSION
from eventsync.event_limits import LIMITS, OPTIONAL_STRING_FIELDS
from eventsync.subjects import canonical
from eventsync.subjects import problem as subject_problem

# Timestamps outside [2000-01-01, now + 1 day] are mistakes (seconds sent as ms, a
# default date, a skewed clock), not events: they would create absurd partitions.
MIN_OCCURRED_AT_US = to_us(datetime(2000, 1, 1, tzinfo=UTC))
MAX_CLOCK_SKEW_US = 86_400_000_000

REQUIRED_STRINGS = ("event_id", "event_type", "event_name", "user_id")
# Optional string fields (their maximum lengths: LIMITS.width).
OPTIONAL_STRINGS = OPTIONAL_STRING_FIELDS
# Ids: one rule (check_subject_id) for what identifies an event, a subject or a session.
ID_FIELDS = ("event_id", "user_id", "company_id", "session_id")
SUBJECT_FIELDS = ("user_id", "company_id")
SERVER_FIELDS = ("workspace_id", "received_at", "schema_version")
KNOWN_FIELDS = frozenset(
    (*REQUIRED_FIELDS, *OPTIONAL_STRINGS, "properties", "nps_score", *SERVER_FIELDS)
)


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _unstorable(text: str) -> str | None:
    """Why the store cannot hold `text` (NUL, lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which the store cannot hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"is not valid UTF-8 (a lone surrogate U+{ord(text[exc.start]):04X} at "
            f"character {exc.start}: invalid bytes or an unpaired \\ud800-\\udfff escape)"
        )
    return None


def check_subject_id(name: str, value: str) -> str | None:
    """The rule for an id: None when `value` is a legal id, else the reason. User and
    company ids follow the one subject-id rule (eventsync/subjects.py), so whatever
    ingestion stores can be erased and exported. Event and session ids: not empty, no
    leading or trailing whitespace, no control characters (C0, C1, NUL) or lone
    surrogates, at most LIMITS.width(name) characters."""
    if name in SUBJECT_FIELDS:
        problem = subject_problem(value)
        return f"{name!r} {problem}" if problem else None
    limit = LIMITS.width(name)
    if not value.strip():
        return f"{name!r} must not be empty (or only whitespace)"
    if len(value) > limit:
        return f"{name!r} is too long: {len(value)} characters, at most {limit}"
    problem = _unstorable(value)
    if problem:
        return f"{name!r} {problem}"
    if any(unicodedata.category(c) == "Cc" for c in value):
        return f"{name!r} contains a control character"
    if value != value.strip():
        return f"{name!r} has leading or trailing whitespace"
    return None


def _properties_depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit` (the object itself is level 1);
    iterative, so a hostile depth cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def check_properties(props: Any) -> tuple[str | None, str | None]:
    """(compact JSON text, None) or (None, reason) for an event's properties."""
    if not isinstance(props, dict):
        return None, f"wrong type for 'properties': expected JSON object, got {type_name(props)}"
    if _properties_depth_exceeds(props, LIMITS.properties_depth):
        return None, f"properties nest deeper than {LIMITS.properties_depth} levels"
    try:
        text = json.dumps(props, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError) as exc:
        return None, f"properties cannot be encoded as JSON: {exc}"
    problem = _unstorable(text)
    if problem:
        return None, f"properties {problem}"
    size = len(text.encode())
    if size > LIMITS.properties_bytes:
        return None, (
            f"properties too large: {size} bytes of JSON, at most {LIMITS.properties_bytes}"
        )
    return text, None


def parse_timestamp_us(value: Any, field_name: str = "occurred_at") -> int:
    """µs since epoch from ISO-8601 with a timezone (or Z) or integer epoch milliseconds.
    Raises ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            f"wrong type for {field_name!r}: expected ISO-8601 string with timezone or "
            f"integer epoch milliseconds, got {type_name(value)}"
        )
    if isinstance(value, int):
        return value * 1000
    shown = ascii(value[:64])
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"bad timestamp in {field_name!r}: {shown} is not ISO-8601") from None
    if parsed.tzinfo is None:
        raise ValueError(
            f"bad timestamp in {field_name!r}: {shown} has no timezone (add Z or +00:00)"
        )
    try:
        return to_us(parsed)
    except (OverflowError, ValueError):
        raise ValueError(f"bad timestamp in {field_name!r}: {shown} is out of range") from None


def _check_strings(raw: dict[str, Any]) -> str | None:
    """Types, emptiness and limits of every string field; the first problem or None."""
    for name in REQUIRED_STRINGS:
        if not isinstance(raw[name], str):
            return f"wrong type for {name!r}: expected string, got {type_name(raw[name])}"
        if not raw[name].strip():
            return f"missing field {name!r} (empty string)"
    for name in OPTIONAL_STRINGS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            return f"wrong type for {name!r}: expected string, got {type_name(value)}"
    for name in (*REQUIRED_STRINGS, *OPTIONAL_STRINGS):
        value = raw.get(name)
        if value is None:
            continue
        if name in ID_FIELDS:
            reason = check_subject_id(name, value)
            if reason:
                return reason
            continue
        limit = LIMITS.width(name)
        if len(value) > limit:
            return f"{name!r} is too long: {len(value)} characters, at most {limit}"
        problem = _unstorable(value)
        if problem:
            return f"{name!r} {problem}"
    return None


def validate_event(raw: Any, now_us: int | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """Check one event. Returns (store row without workspace_id/received_at, None) or
    (None, reason). Duplicates need the batch and the store: `ingest_events` checks them."""
    if not isinstance(raw, dict):
        return None, f"event must be a JSON object, got {type_name(raw)}"
    unknown = sorted(k for k in raw if k not in KNOWN_FIELDS)
    if unknown:
        return None, f"unknown field {ascii(unknown[0])[:80]}; put custom data in 'properties'"
    for name in REQUIRED_FIELDS:
        if raw.get(name) is None:
            return None, f"missing field {name!r}"
    reason = _check_strings(raw)
    if reason:
        return None, reason
    event_type = raw["event_type"]
    if event_type not in EVENT_TYPES:
        return None, f"unknown event_type {event_type!a}; allowed: {', '.join(EVENT_TYPES)}"
    if event_type == "identify_company" and not raw.get("company_id"):
        return None, "missing field 'company_id' (required for identify_company)"

    try:
        occurred_at = parse_timestamp_us(raw["occurred_at"])
    except ValueError as exc:
        return None, str(exc)
    now_us = now_us if now_us is not None else to_us(utcnow())
    if not MIN_OCCURRED_AT_US <= occurred_at <= now_us + MAX_CLOCK_SKEW_US:
        return None, (
            f"bad timestamp in 'occurred_at': {raw['occurred_at']!a} is outside "
            "2000-01-01 .. now + 1 day (seconds instead of milliseconds?)"
        )

    nps = raw.get("nps_score")
    if nps is not None:
        if isinstance(nps, bool) or not isinstance(nps, int):
            return None, f"wrong type for 'nps_score': expected integer, got {type_name(nps)}"
        if not LIMITS.nps_min <= nps <= LIMITS.nps_max:
            return None, f"nps_score {nps} is outside {LIMITS.nps_min}..{LIMITS.nps_max}"
    elif event_type == "nps_response":
        return None, "missing field 'nps_score' (required for nps_response)"

    props_text: str | None = None
    if raw.get("properties") is not None:
        props_text, reason = check_properties(raw["properties"])
        if reason:
            return None, reason

    row: dict[str, Any] = {name: raw.get(name) for name in OPTIONAL_STRINGS}
    if row["company_id"] is not None:  # subject ids are stored in the form they compare in
        row["company_id"] = canonical(row["company_id"])
    row.update(
        event_id=raw["event_id"],
        event_type=event_type,
        event_name=raw["event_name"],
        user_id=canonical(raw["user_id"]),
        occurred_at=occurred_at,
        properties=props_text,
        nps_score=nps,
        schema_version=SCHEMA_VERSION,
    )
    return row, None
