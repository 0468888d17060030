"""The limits of one legal event, in one place: ingestion refuses what exceeds them
(per event, with a reason), the API documents them, and the export sizes its memory
from them (`MAX_EVENT_BYTES` x rows per batch).

Why these numbers: they are the widths of the store's columns (PostgreSQL enforces
them), common practice for the free-text fields (a URL path of 2 KiB, a user agent of
1 KiB; browsers send far less), and the anchors' property limits (Segment: 32 KB per
event). The properties' depth bounds the recursion of every JSON reader downstream.
"""

from __future__ import annotations

from assets.event_schema import MAX_ID_LENGTH, MAX_PROPERTIES_BYTES

# Events per request of `POST /v1/events` (and per store transaction of a file import).
MAX_EVENTS_PER_BATCH = 1_000

MAX_EVENT_NAME_LENGTH = 512
# Maximum length in characters of every string field of an event.
STRING_LIMITS: dict[str, int] = {
    "event_id": MAX_ID_LENGTH,
    "event_type": 64,
    "event_name": MAX_EVENT_NAME_LENGTH,
    "user_id": MAX_ID_LENGTH,
    "company_id": MAX_ID_LENGTH,
    "session_id": MAX_ID_LENGTH,
    "source": 64,
    "hostname": 256,
    "pathname": 2_048,
    "user_agent": 1_024,
    "browser": 64,
    "os": 64,
    "device_type": 32,
    "country_code": 8,
}
# Properties: a JSON object of at most MAX_PROPERTIES_BYTES (UTF-8, compact JSON) and
# MAX_PROPERTIES_DEPTH levels of nesting (the object itself is level 1).
MAX_PROPERTIES_DEPTH = 16

# The largest legal event as stored, in bytes of text: every string at its limit in
# 4-byte UTF-8 characters, the properties at theirs, plus the integer columns.
MAX_EVENT_BYTES = 4 * sum(STRING_LIMITS.values()) + MAX_PROPERTIES_BYTES + 64

__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "MAX_EVENT_BYTES",
    "MAX_EVENT_NAME_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_PROPERTIES_BYTES",
    "MAX_PROPERTIES_DEPTH",
    "STRING_LIMITS",
]
