"""The limits of one legal event, in one place: `LIMITS`, an `EventLimits`.

Everything that states or enforces a per-event limit derives it from here: the
ingestion rules (eventsync/ingest/rules.py: the event is refused with a reason naming
the field), the API's OpenAPI document (eventsync/api/event_routes.py,
privacy_routes.py), the export's pandera schema and its Arrow screen
(eventsync/engine/validate.py: a stored row over a limit is quarantined, whatever
wrote it), the store's column widths (eventsync/store/schema.py) and the table of
limits in README.md. tests/eventsync/test_event_limits.py checks every one of them
against this.

Why these numbers:

- `user_id`, `company_id` (the one subject-id rule, eventsync/subjects.py): 256
  characters. It takes every id the anchors take (Mixpanel's distinct_id is at most
  255 characters), and the store's columns have been 256 wide since the first
  migration: a narrower limit would quarantine ids the store already holds (which
  privacy requests must still reach).
- `event_id`, `session_id`: 128, the store's width since the first migration (UUIDs
  and the anchors' insert ids are far shorter; `event_id` is half the primary key).
- `event_name` 512, `event_type` / `source` / `browser` / `os` 64, `device_type` 32,
  `country_code` 8, `hostname` 256 (a DNS name has at most 253): the store's widths.
- `pathname` 2 KiB and `user_agent` 1 KiB: common practice (browsers send far less);
  the store held them as unbounded text until migration 0008.
- `properties`: a JSON object of at most 32 KiB of compact UTF-8 JSON (Segment takes
  32 KB per event) and 16 levels of nesting, which bounds the recursion of every JSON
  reader downstream.
- `profile_bytes`: a subject's merged profile (the properties its identify_user /
  identify_company events merged) is at most 64 KiB of compact UTF-8 JSON: two
  maximum-size events' worth, far above real profiles (Segment's traits, Mixpanel's
  people properties are a few KiB), and small enough that an identify costs the same
  whatever the subject's history and an access export holds the profile once in memory.
  An identify that would make it larger is refused with a reason naming this limit
  (eventsync/ingest/event_writes.py); nothing is truncated. `eventsync db
  check-profiles` reports profiles stored larger (by an older version).
- 1,000 events per request of `POST /v1/events` (and per store transaction of a file
  import); `nps_score` 0..10, the NPS scale.
"""

from __future__ import annotations

from dataclasses import dataclass

# The string fields of an event, in the order of the export schema.
STRING_FIELDS = (
    "event_id",
    "event_type",
    "event_name",
    "user_id",
    "company_id",
    "session_id",
    "source",
    "hostname",
    "pathname",
    "user_agent",
    "browser",
    "os",
    "device_type",
    "country_code",
)
# The string fields an event may leave out (NULL): ingestion, pandera and the screen
# all take them from here.
OPTIONAL_STRING_FIELDS = STRING_FIELDS[STRING_FIELDS.index("company_id") :]
# One width for both kinds of subject id (the one subject-id rule).
SUBJECT_FIELDS = ("user_id", "company_id")


@dataclass(frozen=True)
class EventLimits:
    """Widths in characters of the string fields, and the other per-event limits."""

    event_id: int = 128
    event_type: int = 64
    event_name: int = 512
    subject_id: int = 256  # user_id and company_id
    session_id: int = 128
    source: int = 64
    hostname: int = 256
    pathname: int = 2_048
    user_agent: int = 1_024
    browser: int = 64
    os: int = 64
    device_type: int = 32
    country_code: int = 8
    # Compact UTF-8 JSON; the object itself is nesting level 1.
    properties_bytes: int = 32 * 1024
    properties_depth: int = 16
    # A subject's merged profile, compact UTF-8 JSON (not a per-event limit: per subject).
    profile_bytes: int = 64 * 1024
    events_per_batch: int = 1_000
    nps_min: int = 0
    nps_max: int = 10

    def width(self, field: str) -> int:
        """The maximum length in characters of the string field `field`."""
        if field in SUBJECT_FIELDS:
            return self.subject_id
        if field not in STRING_FIELDS:
            raise KeyError(f"{field!r} is not a string field of an event")
        return int(getattr(self, field))

    def widths(self) -> dict[str, int]:
        """{string field: width}, in STRING_FIELDS order."""
        return {name: self.width(name) for name in STRING_FIELDS}

    @property
    def max_event_bytes(self) -> int:
        """The largest legal event as stored, in bytes of text: every string at its
        width in 4-byte UTF-8 characters, the properties at theirs, plus the integer
        columns."""
        return 4 * sum(self.widths().values()) + self.properties_bytes + 64


LIMITS = EventLimits()

__all__ = ["LIMITS", "STRING_FIELDS", "SUBJECT_FIELDS", "EventLimits"]
