"""The suppression list: erased subjects, refused at the door until an audited lift.

- `add` (the erasure's first step) puts the request's subjects on the list;
- `split_erased` (every ingestion transaction, the demo's seed) refuses events whose
  user or company is on it -- reason `subject erased` -- so nothing of them is stored;
- the export engine drops their rows from every export (eventsync/engine/extract.py), a second
  line for rows other writers put into the store directly;
- `lift` (`eventsync privacy unsuppress`, `POST /v1/privacy/unsuppress`) takes a
  subject who came back with consent off the list, audited.

Only keyed hashes are kept (eventsync/pseudonyms.py). Ingestion reads the list inside
`admission`, a transaction holding the workspace's subject gate shared; `add` holds it
exclusive (eventsync/store/locks.py), so after `add` commits no event of the subjects can be
stored: verification has nothing to race against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, delete, insert, select

from eventsync import subjects
from eventsync.clock import now_iso
from eventsync.errors import ConfigError, NotFound
from eventsync.privacy import journal
from eventsync.privacy.request_store import audit
from eventsync.pseudonyms import hasher, key_id, subject_hash
from eventsync.store import subject_key
from eventsync.store.locks import subject_gate
from eventsync.store.schema import listed_hashes, suppression_key, suppressions

SUBJECT_ERASED = "subject erased"
_checked_keys: set[tuple[str, str]] = set()

T = TypeVar("T")


def check_key(conn: Connection) -> None:
    """Refuse to work with a suppression list written under another subject key: every
    lookup would miss and erased subjects would come back (checked once per process)."""
    subject_key.check(conn.engine)  # the store's recorded key first (0011)
    current = key_id()
    marker = (str(conn.engine.url), current)
    if marker in _checked_keys:
        return
    other = conn.execute(
        select(suppressions.c.key_id).where(suppressions.c.key_id != current).limit(1)
    ).scalar()
    if other is not None:
        raise ConfigError(
            "EVENTSYNC_SUBJECT_KEY",
            f"the suppression list was written with subject key {other}, this process has "
            f"{current}: restore that key (the environment variable or <data dir>/keys/"
            "subject.key), or erased subjects would no longer be recognised",
        )
    _checked_keys.add(marker)


@contextmanager
def admission(engine: Engine, workspace_id: str) -> Iterator[Connection]:
    """The transaction that checks the list and stores what passed (gate held shared)."""
    with subject_gate(engine, workspace_id) as conn:
        check_key(conn)
        yield conn


def split_erased(
    conn: Connection,
    workspace_id: str,
    items: Sequence[T],
    row: Callable[[T], Mapping[str, Any]] = lambda item: item,  # type: ignore[assignment,return-value]
) -> tuple[list[T], list[T]]:
    """(kept, refused): an item is refused when its row's user_id or company_id is on
    the list. Call inside `admission` and store only the kept items there."""
    keys: dict[tuple[str, str], str] = {}
    digest = {kind: hasher(workspace_id, kind) for kind in ("user", "company")}
    for item in items:
        r = row(item)
        for kind, column in (("user", "user_id"), ("company", "company_id")):
            value = r.get(column)
            if isinstance(value, str) and (kind, value) not in keys:
                keys[(kind, value)] = digest[kind](value)
    if not keys:
        return list(items), []
    hit = listed_hashes(conn, workspace_id, {(kind, h) for (kind, _), h in keys.items()})
    if not hit:
        return list(items), []
    kept: list[T] = []
    refused: list[T] = []
    for item in items:
        r = row(item)
        erased = any(
            isinstance(r.get(column), str) and keys[(kind, r[column])] in hit
            for kind, column in (("user", "user_id"), ("company", "company_id"))
        )
        (refused if erased else kept).append(item)
    return kept, refused


def add(
    engine: Engine, workspace_id: str, request_id: str, subject_list: list[tuple[str, str]]
) -> int:
    """Put (kind, id) subjects on the list (idempotent); returns how many were new.
    Holds the gate exclusive: ingestion transactions in flight finish first."""
    wanted = {subject_hash(workspace_id, kind, s): kind for kind, s in subject_list}
    # Write-ahead: the journal (outside the store's backup) first, so a store restored
    # from before this erasure gets it back (eventsync/privacy/journal.py).
    entry = journal.new_entry(
        journal.ERASE, workspace_id, request_id, [(k, h) for h, k in wanted.items()]
    )
    journal.append(entry)
    with subject_gate(engine, workspace_id, exclusive=True) as conn:
        check_key(conn)
        rows = entry.suppression_rows(listed_hashes(conn, workspace_id, set(entry.subjects)))
        if rows:
            conn.execute(insert(suppressions), rows)
            subject_key.record(conn)
        journal.record_applied(conn, entry)
    return len(rows)


def is_suppressed(engine: Engine, workspace_id: str, kind: str, subject_id: str) -> bool:
    with engine.connect() as conn:
        check_key(conn)
        digest = subject_hash(workspace_id, kind, subject_id)
        return bool(listed_hashes(conn, workspace_id, {(kind, digest)}))


def lift(
    engine: Engine, workspace_id: str, kind: str, subject_id: str, actor: str, reason: str = ""
) -> dict[str, Any]:
    """Take one subject off the list (their new events are accepted again), audited
    with who did it and why. NotFound when the subject is not suppressed."""
    (subject_id,) = subjects.requested_ids(engine, workspace_id, kind, f"{kind}_id", [subject_id])
    digest = subject_hash(workspace_id, kind, subject_id)
    with subject_gate(engine, workspace_id, exclusive=True) as conn:
        row = conn.execute(
            select(suppressions.c.request_id).where(suppression_key(workspace_id, kind, digest))
        ).first()
        if row is None:
            raise NotFound(f"this {kind} is not on the suppression list of the workspace")
        # Journaled before the store changes, like `add`: a restored store re-applies
        # the lift after the erasure, in order.
        entry = journal.new_entry(journal.LIFT, workspace_id, row.request_id, [(kind, digest)])
        journal.append(entry)
        journal.record_applied(conn, entry)
        conn.execute(delete(suppressions).where(suppression_key(workspace_id, kind, digest)))
        lifted_at = now_iso()
        # The audit log names requests, not people: the subject by its keyed hash (whoever
        # holds the key can check an id against it), the erasure and the reason.
        detail = {
            "subject_type": kind,
            "subject_hash": digest,
            "erasure_request_id": row.request_id,
            "reason": reason[:500],
        }
        audit(conn, workspace_id, row.request_id, actor, "unsuppressed", detail)
    return {"subject_type": kind, "erasure_request_id": row.request_id, "lifted_at": lifted_at}
