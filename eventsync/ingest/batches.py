"""Ingest one batch: validate every event, store the valid ones in one transaction,
give every rejected one its index and reason. Nothing is dropped silently.

A batch is stored whole or not at all, and only an event's own faults are its
rejections: a store fault (connection refused or dropped, disk full, lock timeout)
raises StoreUnavailable, and the caller acknowledges nothing of the batch (the API
answers 503 with Retry-After). When the commit itself is lost with the connection, the
batch may be stored whole; sent again, its events come back as duplicates, never
stored twice.

Callers: `POST /v1/events` (the HTTP API) and `ingest_file` (`eventsync ingest`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine

from eventsync.clock import to_us, utcnow
from eventsync.ingest.event_writes import (
    delete_event_rows,
    insert_new_event_rows,
    upsert_profiles,
)
from eventsync.ingest.rules import validate_event
from eventsync.privacy.suppressions import SUBJECT_ERASED, admission, split_erased
from eventsync.store.faults import is_row_fault, is_store_fault, unavailable

log = logging.getLogger(__name__)

MAX_ECHOED_ID_LENGTH = 128
Row = tuple[int, dict[str, Any]]  # (position in the batch, store row)


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
    engine: Engine, workspace_id: str, rows: list[Row]
) -> tuple[list[Row], set[str], list[Rejection]]:
    """Insert the rows in one transaction; returns (kept rows, ids already stored, rows
    refused: erased subjects, or values the store cannot hold). Erased subjects are
    refused inside the transaction that stores the rest, under the workspace's ingestion
    gate, so no event of a subject erased meanwhile slips in.

    The rules should leave nothing for the store to refuse. If it still refuses a row's
    values, each row is tried alone in a transaction that is rolled back, the rows it
    refuses are rejected, and the others are stored, again in one transaction: nothing
    is stored row by row, so a store fault at any point leaves the batch unstored."""
    refused: list[Rejection] = []
    while True:
        try:
            with admission(engine, workspace_id) as conn:
                admitted, erased = split_erased(conn, workspace_id, rows, row=itemgetter(1))
                inserted = insert_new_event_rows(conn, (r for _, r in admitted))
                keep = [(p, r) for p, r in admitted if r["event_id"] in inserted]
                too_large = upsert_profiles(conn, workspace_id, (r for _, r in keep)).refused
                # identifies that would outgrow the profile: refused, the event not stored
                oversized = [
                    Rejection(p, r["event_id"], too_large[r["event_id"]])
                    for p, r in keep
                    if r["event_id"] in too_large
                ]
                if too_large:
                    delete_event_rows(conn, workspace_id, too_large)
                    keep = [(p, r) for p, r in keep if r["event_id"] not in too_large]
        except Exception as exc:
            if not is_row_fault(exc):
                raise
            log.warning("the store refused a batch (%s); trying each row", type(exc).__name__)
            failure = exc
        else:
            stored = {r["event_id"] for _, r in admitted} - inserted
            return keep, stored, refused + oversized + _erased(erased)
        bad = _refused_alone(engine, workspace_id, rows)
        if not bad:
            raise failure  # the batch fails, no row alone does: not a row's fault
        refused += bad
        out = {r.index for r in bad}
        rows = [(p, r) for p, r in rows if p not in out]


class _Tried(Exception):
    """Ends a trial insert: its transaction is rolled back."""


def _refused_alone(engine: Engine, workspace_id: str, rows: list[Row]) -> list[Rejection]:
    """The rows whose values the store refuses, each tried alone in a transaction that
    is rolled back: nothing is stored here."""
    refused = []
    for pos, row in rows:
        try:
            with engine.connect() as conn, conn.begin():
                insert_new_event_rows(conn, [row])
                upsert_profiles(conn, workspace_id, [row])
                raise _Tried
        except _Tried:
            continue
        except Exception as exc:
            if not is_row_fault(exc):
                raise
            cause = type(getattr(exc, "orig", None) or exc).__name__
            reason = f"the event store cannot hold this event ({cause})"
            refused.append(Rejection(pos, row["event_id"], reason))
    return refused


def _erased(rows: list[Row]) -> list[Rejection]:
    return [Rejection(pos, row["event_id"], SUBJECT_ERASED) for pos, row in rows]


def ingest_events(
    engine: Engine,
    workspace_id: str,
    events_in: Sequence[Any],
    received_at_us: int | None = None,
    default_source: str | None = None,
    index_base: Sequence[int] | None = None,
) -> IngestResult:
    """Validate and store a batch. Valid events are kept, each rejected one gets a
    reason; `index_base` maps batch positions to caller positions (file line numbers).
    Raises StoreUnavailable (nothing of the batch acknowledged) on a store fault."""
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

    try:
        keep, stored, refused = (
            _store(engine, workspace_id, candidates) if candidates else ([], set(), [])
        )
    except Exception as exc:
        if is_store_fault(exc):
            raise unavailable(exc) from exc
        raise
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
