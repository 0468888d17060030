"""Writes of ingested rows to the event store: bulk inserts, race-free inserts of new
event ids (INSERT ... ON CONFLICT DO NOTHING), and profile upserts.

Other writers of the platform (and `eventsync demo seed`) put rows into `events`
directly through `insert_event_rows`; the export validates every row again, whatever
wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, LargeBinary, cast, delete, func, insert, select

from eventsync.engine.event_schema import SCHEMA_VERSION
from eventsync.event_limits import LIMITS
from eventsync.store.schema import company_profiles, events, user_profiles

EVENT_COLUMNS = tuple(c.name for c in events.columns)
INSERT_CHUNK = 2_000  # rows per executemany
LOOKUP_CHUNK = 500  # ids per IN (...) lookup


def _full_rows(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every column present (executemany needs identical keys); schema_version defaults."""
    for row in rows:
        full = {c: row.get(c) for c in EVENT_COLUMNS}
        if full["schema_version"] is None:
            full["schema_version"] = SCHEMA_VERSION
        yield full


def insert_event_rows(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Bulk insert complete store rows (chunked executemany); returns the count.
    Missing columns are written as NULL (schema_version defaults to 1)."""
    count = 0
    chunk: list[dict[str, Any]] = []
    stmt = insert(events)
    for full in _full_rows(rows):
        chunk.append(full)
        if len(chunk) >= INSERT_CHUNK:
            conn.execute(stmt, chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        conn.execute(stmt, chunk)
        count += len(chunk)
    return count


def existing_event_ids(conn: Connection, workspace_id: str, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), LOOKUP_CHUNK):
        part = ids[i : i + LOOKUP_CHUNK]
        found.update(
            conn.execute(
                select(events.c.event_id).where(
                    events.c.workspace_id == workspace_id, events.c.event_id.in_(part)
                )
            ).scalars()
        )
    return found


def _dialect_insert(conn: Connection) -> Any | None:
    """The backend's INSERT with ON CONFLICT support, or None."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    return None


def insert_new_event_rows(conn: Connection, rows: Iterable[dict[str, Any]]) -> set[str]:
    """Insert the rows whose (workspace_id, event_id) is not stored yet; returns the ids
    inserted. INSERT ... ON CONFLICT DO NOTHING RETURNING makes this race-free: of two
    concurrent writers of one id exactly one stores it. Rows go in event_id order so
    concurrent PostgreSQL transactions take row locks in the same order (no deadlock)."""
    full = sorted(_full_rows(rows), key=lambda r: (r["workspace_id"], r["event_id"]))
    dialect_insert = _dialect_insert(conn)
    if dialect_insert is None:  # pragma: no cover - other backends: check, then insert
        by_ws: dict[str, list[dict[str, Any]]] = {}
        for row in full:
            by_ws.setdefault(row["workspace_id"], []).append(row)
        new = []
        for ws, ws_rows in by_ws.items():
            stored = existing_event_ids(conn, ws, [r["event_id"] for r in ws_rows])
            new += [r for r in ws_rows if r["event_id"] not in stored]
        insert_event_rows(conn, new)
        return {r["event_id"] for r in new}
    stmt = (
        dialect_insert(events)
        .on_conflict_do_nothing(index_elements=["workspace_id", "event_id"])
        .returning(events.c.event_id)
    )
    inserted: set[str] = set()
    for i in range(0, len(full), INSERT_CHUNK):
        inserted.update(conn.execute(stmt, full[i : i + INSERT_CHUNK]).scalars())
    return inserted


def _upsert(conn: Connection, table: Any, key_cols: tuple[str, ...], row: dict[str, Any]) -> None:
    """Insert or update one profile row (dialect-aware ON CONFLICT)."""
    dialect_insert = _dialect_insert(conn)
    if dialect_insert is None:  # pragma: no cover - other backends: read-then-write
        where = [table.c[k] == row[k] for k in key_cols]
        if conn.execute(select(table.c[key_cols[0]]).where(*where)).first() is None:
            conn.execute(insert(table).values(**row))
        else:
            conn.execute(table.update().where(*where).values(**row))
        return
    stmt = dialect_insert(table).values(**row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(key_cols),
            set_={k: stmt.excluded[k] for k in row if k not in key_cols},
        )
    )


def delete_event_rows(conn: Connection, workspace_id: str, event_ids: Iterable[str]) -> int:
    """Delete events of the workspace by id (inside the caller's transaction)."""
    ids = sorted(event_ids)
    removed = 0
    for i in range(0, len(ids), INSERT_CHUNK):
        removed += conn.execute(
            delete(events).where(
                events.c.workspace_id == workspace_id,
                events.c.event_id.in_(ids[i : i + INSERT_CHUNK]),
            )
        ).rowcount
    return removed


@dataclass
class ProfileWrites:
    """What `upsert_profiles` did: profiles written, and the identify events it refused
    ({event_id: reason}) because the profile would outgrow LIMITS.profile_bytes."""

    written: int = 0
    refused: dict[str, str] = field(default_factory=dict)


def profile_size(props: dict[str, Any]) -> int:
    """A profile's size as stored and limited: bytes of compact UTF-8 JSON."""
    return len(json.dumps(props, separators=(",", ":"), ensure_ascii=False).encode())


def too_large(kind: str, size: int) -> str:
    return (
        f"identify would make the {kind}'s profile {size} bytes of JSON, more than the "
        f"profile limit of {LIMITS.profile_bytes} bytes (profile_bytes): the event is "
        "refused, nothing is truncated"
    )


def upsert_profiles(
    conn: Connection, workspace_id: str, rows: Iterable[dict[str, Any]]
) -> ProfileWrites:
    """Apply identify_user / identify_company rows to the profiles: properties merged
    (the newer event wins a key; an older event only adds keys), first/last seen widened,
    a user's company_id set by its newest identify that names one. An identify whose
    merge would make the profile larger than LIMITS.profile_bytes is refused (left out
    of the profile, listed in `refused`: the caller must not store the event). The work
    per identify is bounded by that limit, whatever the subject's history."""
    out = ProfileWrites()
    plans: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("event_type") == "identify_user" and row.get("user_id"):
            plans.setdefault(("user", row["user_id"]), []).append(row)
        elif row.get("event_type") == "identify_company" and row.get("company_id"):
            plans.setdefault(("company", row["company_id"]), []).append(row)
    for (kind, subject), subject_rows in sorted(plans.items()):
        table, key = (
            (user_profiles, "user_id") if kind == "user" else (company_profiles, "company_id")
        )
        current = conn.execute(
            select(table).where(table.c.workspace_id == workspace_id, table.c[key] == subject)
        ).first()
        if current is not None:
            props = _json_object(current.properties)
            first, last = current.first_seen_at, current.last_seen_at
            company = current.company_id if kind == "user" else None
        else:
            props, first, last, company = {}, None, None, None
        applied = False
        for row in sorted(subject_rows, key=lambda r: r["occurred_at"]):
            new = _json_object(row.get("properties"))
            at = row["occurred_at"]
            newer = last is None or at >= last
            merged = {**props, **new} if newer else {**new, **props}
            if new and merged != props:
                size = profile_size(merged)
                if size > LIMITS.profile_bytes:
                    out.refused[row["event_id"]] = too_large(kind, size)
                    continue
            props, applied = merged, True
            if newer:
                if kind == "user" and row.get("company_id"):
                    company = row["company_id"]
            elif kind == "user" and company is None:
                company = row.get("company_id")
            first = at if first is None else min(first, at)
            last = at if last is None else max(last, at)
        if not applied:
            continue
        values: dict[str, Any] = {
            "workspace_id": workspace_id,
            key: subject,
            "properties": json.dumps(props, separators=(",", ":"), ensure_ascii=False),
            "first_seen_at": first,
            "last_seen_at": last,
        }
        if kind == "user":
            values["company_id"] = company
        _upsert(conn, table, ("workspace_id", key), values)
        out.written += 1
    return out


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def oversized_profiles(conn: Connection) -> list[dict[str, Any]]:
    """Stored profiles larger than LIMITS.profile_bytes (written by a version without the
    limit, or by another writer of the store): workspace, subject type and id, bytes.
    Their subjects' identify events are refused until the profile shrinks (an erasure,
    or an operator's edit); nothing is cut here."""
    found: list[dict[str, Any]] = []
    for kind, table, key in (
        ("user", user_profiles, "user_id"),
        ("company", company_profiles, "company_id"),
    ):
        size = (
            func.octet_length(table.c.properties)
            if conn.dialect.name == "postgresql"
            else func.length(cast(table.c.properties, LargeBinary))
        )
        rows = conn.execute(
            select(table.c.workspace_id, table.c[key], size.label("bytes"))
            .where(size > LIMITS.profile_bytes)
            .order_by(table.c.workspace_id, table.c[key])
        )
        found += [
            {"workspace_id": ws, "subject_type": kind, "subject_id": subject, "bytes": int(n)}
            for ws, subject, n in rows
        ]
    return found
