"""Ingest one batch: validate every event, store the valid ones in one transaction,
give every rejected one its index and reason. Nothing is dropped silently.

Callers: `POST /v1/events` (the HTTP API) and `ingest_file` (`eventsync ingest`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from pipeline.ingest.rules import validate_event
from pipeline.ingest.store import insert_new_event_rows, upsert_profiles
from resources.clock import to_us, utcnow

log = logging.getLogger(__name__)

# Errors of one row's values (not of the connection): the batch is retried row by row
# so only the rows the store refuses are rejected.
_ROW_ERRORS = (DataError, IntegrityError, StatementError)
MAX_ECHOED_ID_LENGTH = 128


@dataclass(frozen=True)
class Rejection:
    index: int  # position in the batch (0-based), or line number (1-based) for files
    event_id: str | None
    reason: str


@dataclass
class IngestResult:
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected: int = 0  # total count; `rejections` may be truncated for large files
    rejects_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejections"] = [asdict(r) for r in self.rejections]
        return data


def _echoable_id(raw: Any) -> str | None:
    """The event's id when it can be sent back as is (a short, valid UTF-8 string)."""
    value = raw.get("event_id") if isinstance(raw, dict) else None
    if not isinstance(value, str) or len(value) > MAX_ECHOED_ID_LENGTH or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _store(
    engine: Engine, workspace_id: str, rows: list[tuple[int, dict[str, Any]]]
) -> tuple[list[tuple[int, dict[str, Any]]], set[str], list[Rejection]]:
    """Insert the rows; returns (kept rows, ids already stored, rows the store refused).
    The rules should leave nothing for the store to refuse; if it still does, the batch
    is retried one row at a time, so the other rows are kept (never a 5xx)."""
    try:
        with engine.begin() as conn:
            inserted = insert_new_event_rows(conn, (r for _, r in rows))
            keep = [(p, r) for p, r in rows if r["event_id"] in inserted]
            upsert_profiles(conn, workspace_id, (r for _, r in keep))
        return keep, {r["event_id"] for _, r in rows} - inserted, []
    except _ROW_ERRORS as exc:
        log.warning("the store refused a batch (%s); retrying row by row", type(exc).__name__)
    keep, stored, refused = [], set(), []
    for pos, row in rows:
        try:
            with engine.begin() as conn:
                inserted = insert_new_event_rows(conn, [row])
                if inserted:
                    upsert_profiles(conn, workspace_id, [row])
        except _ROW_ERRORS as exc:
            reason = f"the event store cannot hold this event ({type(exc.orig or exc).__name__})"
            refused.append(Rejection(pos, row["event_id"], reason))
            continue
        if inserted:
            keep.append((pos, row))
        else:
            stored.add(row["event_id"])
    return keep, stored, refused


def ingest_events(
    engine: Engine,
    workspace_id: str,
    events_in: Sequence[Any],
    received_at_us: int | None = None,
    default_source: str | None = None,
    index_base: Sequence[int] | None = None,
) -> IngestResult:
    """Validate and store a batch. Valid events are kept, each rejected one gets a
    reason; `index_base` maps batch positions to caller positions (file line numbers)."""
    received_at_us = received_at_us if received_at_us is not None else to_us(utcnow())
    positions = list(index_base) if index_base is not None else list(range(len(events_in)))
    result = IngestResult()
    candidates: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for pos, raw in zip(positions, events_in, strict=True):
        row, reason = validate_event(raw, now_us=received_at_us)
        if row is not None and row["event_id"] in seen:
            reason = (
                f"duplicate event_id {row['event_id']!r} (also at index {seen[row['event_id']]} "
                "of this batch)"
            )
            row = None
        if row is None:
            result.rejections.append(Rejection(pos, _echoable_id(raw), reason or "invalid event"))
            continue
        seen[row["event_id"]] = pos
        row["workspace_id"] = workspace_id
        row["received_at"] = received_at_us
        if row["source"] is None:
            row["source"] = default_source
        candidates.append((pos, row))

    keep, stored, refused = (
        _store(engine, workspace_id, candidates) if candidates else ([], set(), [])
    )
    result.rejections += refused
    for pos, row in candidates:
        if row["event_id"] in stored:
            result.rejections.append(
                Rejection(
                    pos,
                    row["event_id"],
                    f"duplicate event_id {row['event_id']!r} (already stored in this workspace)",
                )
            )
    result.rejections.sort(key=lambda r: r.index)
    result.accepted = len(keep)
    result.rejected = len(result.rejections)
    return result
