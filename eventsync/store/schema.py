"""The event store's tables (SQLAlchemy Core). Alembic migrations create them.

Timestamps that decide partitions (``occurred_at``, ``received_at``) are stored as
BIGINT microseconds since the Unix epoch, UTC, on every backend: "one workspace,
one day" is then an integer range scan on ``ix_events_ws_occurred``, and Arrow turns
the column into ``timestamp[us, UTC]`` without parsing text (SQLite has no native
timestamp type). Bookkeeping timestamps (``created_at`` ...) are ISO-8601 text.

The store belongs to the analytics platform: other writers than eventsync's strict
ingestion may put rows into ``events``, so columns are permissive (``event_type`` is
text, ``properties`` is text) and the export validates every row. The widths of the
event's string columns, and of every column holding a subject id, are the event limits
(eventsync/event_limits.py): the store holds whatever ingestion accepts, and the export
quarantines no value for a length PostgreSQL's columns allow (SQLite does not enforce
widths).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from eventsync.event_limits import LIMITS
from eventsync.keys import DEFAULT_SCOPES


def _width(field: str) -> String:
    """The column type of an event's string field: as wide as its limit."""
    return String(LIMITS.width(field))


SUBJECT_ID = String(LIMITS.subject_id)
WORKSPACE_ID = String(64)  # "ws_" and 12 hex digits by default; the demo's is named


def stamp(name: str, *, nullable: bool = False) -> Column[str]:
    """A bookkeeping timestamp: ISO-8601 text in UTC (``eventsync.clock.now_iso``)."""
    return Column(name, String(32), nullable=nullable)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", WORKSPACE_ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("retention_days", Integer, nullable=True),
    stamp("created_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    # The public half of a key ("esk_<id>_<secret>"): lets us find the row without
    # scanning; the secret is stored only as a salted scrypt hash.
    Column("id", String(32), primary_key=True),
    Column("workspace_id", WORKSPACE_ID, nullable=False, index=True),
    Column("salt", String(64), nullable=False),
    Column("key_hash", String(128), nullable=False),
    stamp("created_at"),
    stamp("revoked_at", nullable=True),
    # 0003: what the key may do (space-separated scopes, see eventsync/keys.py), a name
    # for people, an optional expiry, and the last use (written at most once a minute).
    Column("name", String(200), nullable=True),
    Column(
        "scopes",
        Text,
        nullable=False,
        server_default=DEFAULT_SCOPES,
    ),
    stamp("expires_at", nullable=True),
    stamp("last_used_at", nullable=True),
)

syncs = Table(
    "syncs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workspace_id", WORKSPACE_ID, nullable=False, index=True),
    Column("title", String(200), nullable=False),
    # Fixed after creation: a local path, file://, s3:// or gs:// URI.
    Column("destination", Text, nullable=False),
    Column("formats", Text, nullable=False),  # JSON list: parquet, csv, jsonl
    Column("compression", String(16), nullable=False),
    Column("event_types", Text, nullable=True),  # JSON list, NULL = all types
    Column("backfill_days", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # Destination options that are not secrets (SSE mode, KMS key id, role ARN ...).
    Column("options", Text, nullable=False),
    stamp("created_at"),
    stamp("updated_at"),
    Column("paused_reason", Text, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    # daily (03:00 UTC, the closed day) or hourly (also today so far): read at tick time.
    Column("frequency", String(16), nullable=False, server_default="daily"),
    Column("event_names", Text, nullable=True),  # JSON list of names / `*` globs, NULL = all
    # Set by `eventsync sync delete`: the row stays for erasures (migration 0012).
    stamp("deleted_at", nullable=True),
)

events = Table(
    "events",
    metadata,
    Column("workspace_id", WORKSPACE_ID, nullable=False),
    Column("event_id", _width("event_id"), nullable=False),
    Column("event_type", _width("event_type"), nullable=True),
    Column("event_name", _width("event_name"), nullable=True),
    Column("user_id", _width("user_id"), nullable=True),
    Column("company_id", _width("company_id"), nullable=True),
    Column("occurred_at", BigInteger, nullable=False),  # µs since epoch, UTC
    Column("received_at", BigInteger, nullable=False),  # µs since epoch, UTC
    Column("source", _width("source"), nullable=True),
    Column("session_id", _width("session_id"), nullable=True),
    Column("hostname", _width("hostname"), nullable=True),
    Column("pathname", _width("pathname"), nullable=True),  # text until 0008
    Column("user_agent", _width("user_agent"), nullable=True),  # text until 0008
    Column("browser", _width("browser"), nullable=True),
    Column("os", _width("os"), nullable=True),
    Column("device_type", _width("device_type"), nullable=True),
    Column("country_code", _width("country_code"), nullable=True),
    Column("properties", Text, nullable=True),  # JSON object as text
    Column("nps_score", Integer, nullable=True),
    Column("schema_version", Integer, nullable=False, default=1),
    PrimaryKeyConstraint("workspace_id", "event_id"),
    # (occurred_at, event_id) in the index: a day streams in export order without a sort;
    # received_at too: the re-sync's day fingerprints read the index alone (0002).
    Index("ix_events_ws_occurred", "workspace_id", "occurred_at", "event_id", "received_at"),
    Index("ix_events_ws_user", "workspace_id", "user_id"),
    Index("ix_events_ws_company", "workspace_id", "company_id"),
)


def _profiles(name: str, subject: str, *more: Column[Any]) -> Table:
    """A subject's merged identify traits, one row per subject of a workspace."""
    return Table(
        name,
        metadata,
        Column("workspace_id", WORKSPACE_ID, nullable=False),
        Column(subject, SUBJECT_ID, nullable=False),
        *more,
        Column("properties", Text, nullable=True),
        Column("first_seen_at", BigInteger, nullable=False),
        Column("last_seen_at", BigInteger, nullable=False),
        PrimaryKeyConstraint("workspace_id", subject),
    )


user_profiles = _profiles(
    "user_profiles", "user_id", Column("company_id", SUBJECT_ID, nullable=True)
)
company_profiles = _profiles("company_profiles", "company_id")

export_ledger = Table(
    "export_ledger",
    metadata,
    Column("sync_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC)
    Column("workspace_id", WORKSPACE_ID, nullable=False),
    Column("export_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # exported | failed | blocked
    Column("rows", BigInteger, nullable=False, default=0),
    Column("quarantined", BigInteger, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("files", Text, nullable=False),  # JSON list of {key, format, rows, bytes, sha256}
    # Source fingerprint at export time: decides whether the weekly re-sync re-exports.
    Column("source_rows", BigInteger, nullable=False, default=0),
    Column("source_max_received_at", BigInteger, nullable=True),
    Column("source_checksum", String(32), nullable=True),
    Column("error", Text, nullable=True),
    stamp("exported_at"),
    # The filters the day was exported with (JSON; NULL: before they were recorded): the
    # re-sync compares the source under them, so a changed filter re-exports nothing.
    Column("source_filter", Text, nullable=True),
    # An intraday export: the cut-off instant (µs) on received_at; NULL: the complete day.
    Column("partial_through", BigInteger, nullable=True),
    PrimaryKeyConstraint("sync_id", "day"),
)

# subject -> days index, written at export time, so an erasure rewrites only the
# exported days that held the subject (even after the store purged those events).
export_subjects = Table(
    "export_subjects",
    metadata,
    Column("sync_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),
    Column("subject_type", String(8), nullable=False),  # user | company
    Column("subject_id", SUBJECT_ID, nullable=False),
    PrimaryKeyConstraint("sync_id", "subject_type", "subject_id", "day"),
    # An export reads and replaces one day's rows (0005; covering, or SQLite reads the
    # day from the primary key, scanning all of the sync's rows).
    Index("ix_export_subjects_sync_day", "sync_id", "day", "subject_type", "subject_id"),
)

# The fencing token of each sync-day (0006): every writer of the day (export,
# re-export, erasure rewrite) takes the next generation before it writes, and each of its
# publishing writes is conditional on it still being the current one
# (eventsync/store/fencing.py).
day_fences = Table(
    "day_fences",
    metadata,
    Column("sync_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("writer", String(160), nullable=False),  # e.g. "export run <id>", "erasure <id>"
    stamp("taken_at"),
    PrimaryKeyConstraint("sync_id", "day"),
)

# Erased subjects: refused at ingestion, filtered out of every export, until an audited
# un-suppress. Only a keyed hash of each id is kept (eventsync/pseudonyms.py), with the
# id of the key that made it (0004).
suppressions = Table(
    "suppressions",
    metadata,
    Column("workspace_id", WORKSPACE_ID, nullable=False),
    Column("subject_type", String(8), nullable=False),  # user | company
    Column("subject_hash", String(64), nullable=False),  # HMAC-SHA256, hex
    Column("key_id", String(16), nullable=False),
    Column("request_id", String(64), nullable=False),
    stamp("created_at"),
    PrimaryKeyConstraint("workspace_id", "subject_type", "subject_hash"),
)


def suppression_key(workspace_id: str, kind: str, digest: str) -> ColumnElement[bool]:
    """The row of one subject (by its keyed hash) on a workspace's suppression list."""
    c = suppressions.c
    return and_(c.workspace_id == workspace_id, c.subject_type == kind, c.subject_hash == digest)


_LOOKUP_CHUNK = 500  # hashes per IN list


def listed_hashes(conn: Connection, workspace_id: str, keys: set[tuple[str, str]]) -> set[str]:
    """The hashes among `keys` ((kind, hash) pairs) that are on the workspace's suppression
    list: one primary-key lookup per kind and chunk of `_LOOKUP_CHUNK`."""
    c = suppressions.c
    found: set[str] = set()
    for kind in ("user", "company"):
        ordered = sorted(h for k, h in keys if k == kind)
        for i in range(0, len(ordered), _LOOKUP_CHUNK):
            chunk = ordered[i : i + _LOOKUP_CHUNK]
            found.update(
                conn.execute(
                    select(c.subject_hash).where(
                        c.workspace_id == workspace_id,
                        c.subject_type == kind,
                        c.subject_hash.in_(chunk),
                    )
                ).scalars()
            )
    return found


# The erasure journal's entries this store has applied (eventsync/privacy/journal.py):
# an entry of the journal missing here -- the store was restored from a backup taken
# before it -- is re-applied before any export.
erasure_journal_applied = Table(
    "erasure_journal_applied",
    metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("workspace_id", WORKSPACE_ID, nullable=False),
    Column("operation", String(8), nullable=False),  # erase | lift
    stamp("recorded_at"),  # the journal's time of the entry
    stamp("applied_at"),
    Column("source", String(16), nullable=False),  # live | journal (re-applied)
)

# Facts about the store itself (0011): `subject_key_id`, the fingerprint of the subject
# key its keyed hashes were made with (eventsync/store/subject_key.py).
store_meta = Table(
    "store_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    stamp("updated_at"),
)

# Alert incidents (eventsync/ops/alerts.py): one row per incident key, so each incident
# is notified once, whichever process evaluates the alerts (0010).
alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("key", String(200), primary_key=True),  # e.g. "failed_day:<sync>:<day>"
    Column("kind", String(32), nullable=False),
    Column("summary", Text, nullable=False),  # names syncs/requests, never a subject
    stamp("opened_at"),
    stamp("notified_at", nullable=True),
    stamp("resolved_at", nullable=True),
)

privacy_requests = Table(
    "privacy_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workspace_id", WORKSPACE_ID, nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # eventsync/privacy/states.py RequestKind
    Column("status", String(16), nullable=False),  # eventsync/privacy/states.py RequestStatus
    # JSON lists of the ids while the request is in flight; emptied when it completes
    # (0009): from then on only `subject_hashes` names the subjects.
    Column("user_ids", Text, nullable=False),  # JSON list
    Column("company_ids", Text, nullable=False),  # JSON list
    # JSON {"user": [keyed hash, ...], "company": [...]} (eventsync/pseudonyms.py),
    # written with the request: how a completed request's subjects are matched.
    Column("subject_hashes", Text, nullable=True),
    Column("attempt", Integer, nullable=False, default=0),
    Column("progress", Text, nullable=False),  # JSON: per step / per destination
    Column("result_location", Text, nullable=True),
    Column("error", Text, nullable=True),
    stamp("created_at"),
    stamp("updated_at"),
    stamp("started_at", nullable=True),
    stamp("completed_at", nullable=True),
    stamp("verified_at", nullable=True),
    # The runner's lease on a running request (0004): the owner (a run id, or the CLI's
    # host:pid) renews it while it works; once expired the request may be retried.
    Column("lease_owner", String(128), nullable=True),
    stamp("lease_expires_at", nullable=True),
    # Why a result is empty or gone (e.g. the subject was erased), for the API.
    Column("result_note", Text, nullable=True),
)

# Append-only audit log of every privacy action (requests, steps, retention purges).
privacy_request_log = Table(
    "privacy_request_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace_id", WORKSPACE_ID, nullable=False, index=True),
    Column("request_id", String(64), nullable=True, index=True),
    stamp("at"),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("detail", Text, nullable=False),  # JSON
)
