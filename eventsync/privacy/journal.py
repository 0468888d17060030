"""The erasure journal: a restored store never resurrects an erased subject.

The suppression list lives in the store, so a store restored from a backup taken
before an erasure would export the subject again. Every change of the list is therefore
also written, *before* the store is changed, to an append-only journal kept outside
the store's backup:

- the journal file (`EVENTSYNC_ERASURE_JOURNAL`, default
  `<data dir>/journal/erasures.jsonl`): one JSON line per erasure or un-suppress, with
  the keyed hashes of the subjects (never an id), the key's id, the request and the
  time;
- a copy of each erasure's entry in every destination of the workspace, at
  `_eventsync/erasures/<entry id>.json` (written by the erasure's `exports` step; a
  write-only destination can hold it too), from which a lost or older journal file is
  completed (`merge_from_destination`) where the destination grants list and read.

The store records the entries it holds (`erasure_journal_applied`, written in the
transaction that changes the list). `reconcile`, called before anything is staged or
exported, re-applies in journal order every entry the store lacks: the subjects go back
on the suppression list, their rows still in the restored store (events, profiles) and
in staging/quarantine are deleted, and the audit log says so. An entry written under
another subject key stops the export (the key must be restored first, never re-hashed).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, union

from eventsync.clock import now_iso
from eventsync.destinations.interface import (
    Destination,
    DestinationError,
    DestinationExistsError,
)
from eventsync.engine import staging
from eventsync.errors import ConfigError
from eventsync.privacy.purge import purge_subjects
from eventsync.privacy.request_store import audit
from eventsync.pseudonyms import hasher, key_id
from eventsync.settings import load
from eventsync.store import subject_key
from eventsync.store.locks import subject_gate
from eventsync.store.schema import (
    company_profiles,
    erasure_journal_applied,
    events,
    listed_hashes,
    suppression_key,
    suppressions,
    syncs,
    user_profiles,
)

log = logging.getLogger(__name__)

DESTINATION_PREFIX = "_eventsync/erasures/"
ERASE, LIFT = "erase", "lift"
ACTOR = "erasure journal"


@dataclass(frozen=True)
class Entry:
    """One change of a workspace's suppression list. `subjects`: (kind, keyed hash)."""

    id: str
    op: str  # erase | lift
    workspace_id: str
    subjects: tuple[tuple[str, str], ...]
    key_id: str
    request_id: str
    at: str

    def line(self) -> str:
        data = asdict(self)
        data["subjects"] = [list(s) for s in self.subjects]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | bytes) -> Entry:
        data = json.loads(text)
        if data.get("op") not in (ERASE, LIFT):
            raise ValueError(f"unknown journal operation {data.get('op')!r}")
        return cls(
            id=str(data["id"]),
            op=data["op"],
            workspace_id=str(data["workspace_id"]),
            subjects=tuple((str(k), str(h)) for k, h in data["subjects"]),
            key_id=str(data["key_id"]),
            request_id=str(data["request_id"]),
            at=str(data["at"]),
        )

    def suppression_rows(self, listed: set[str]) -> list[dict[str, str]]:
        """The suppression-list rows this erasure adds: one per subject whose hash is not
        `listed` already, stamped with the entry's key id, request and time. The erasure
        and a re-application after a restore both write these, so they write the same
        rows (but for the time, where a step retried after a crash journaled the entry
        again: the journal keeps its first line)."""
        return [
            {
                "workspace_id": self.workspace_id,
                "subject_type": kind,
                "subject_hash": digest,
                "key_id": self.key_id,
                "request_id": self.request_id,
                "created_at": self.at,
            }
            for kind, digest in self.subjects
            if digest not in listed
        ]


def path() -> Path:
    return load().journal_path


def new_entry(op: str, workspace_id: str, request_id: str, subjects: Iterable[tuple[str, str]]):
    """An entry for (kind, hash) subjects. An erasure's id is derived from its content, so
    a retried `suppress` step writes the same entry again (read back once)."""
    pairs = tuple(sorted(set(subjects)))
    kid = key_id()
    if op == ERASE:
        seed = json.dumps([op, workspace_id, request_id, kid, pairs]).encode()
        entry_id = hashlib.blake2b(seed, digest_size=16).hexdigest()
    else:
        entry_id = secrets.token_hex(16)
    return Entry(entry_id, op, workspace_id, pairs, kid, request_id, now_iso())


def append(entry: Entry, journal: Path | None = None) -> None:
    """Append one line, flushed to disk before the store is changed (write-ahead)."""
    journal = journal or path()
    journal.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (entry.line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


_cache: dict[str, tuple[tuple[int, int], list[Entry]]] = {}


def read(journal: Path | None = None) -> list[Entry]:
    """The journal's entries in order, each id once (a torn last line -- a crash while
    appending -- is skipped: its store change never happened)."""
    journal = journal or path()
    try:
        st = journal.stat()
    except FileNotFoundError:
        return []
    stamp = (st.st_size, st.st_mtime_ns)
    cached = _cache.get(str(journal))
    if cached and cached[0] == stamp:
        return cached[1]
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, text in enumerate(journal.read_bytes().splitlines(), 1):
        if not text.strip():
            continue
        try:
            entry = Entry.parse(text)
        except (ValueError, KeyError, TypeError):
            log.warning("erasure journal %s: line %d is not an entry; skipped", journal, number)
            continue
        if entry.id not in seen:
            seen.add(entry.id)
            entries.append(entry)
    _cache[str(journal)] = (stamp, entries)
    return entries


def record_applied(conn: Connection, entry: Entry, source: str = "live") -> None:
    """Note in the store that it holds `entry` (in the transaction that applied it)."""
    present = conn.execute(
        select(erasure_journal_applied.c.entry_id).where(
            erasure_journal_applied.c.entry_id == entry.id
        )
    ).first()
    if present is None:
        conn.execute(
            insert(erasure_journal_applied).values(
                entry_id=entry.id,
                workspace_id=entry.workspace_id,
                operation=entry.op,
                recorded_at=entry.at,
                applied_at=now_iso(),
                source=source,
            )
        )


def missing(engine: Engine, journal: Path | None = None) -> list[Entry]:
    """The journal's entries the store does not hold, in journal order."""
    entries = read(journal)
    if not entries:
        return []
    with engine.connect() as conn:
        held = set(conn.execute(select(erasure_journal_applied.c.entry_id)).scalars())
    return [e for e in entries if e.id not in held]


def reconcile(engine: Engine, journal: Path | None = None) -> list[Entry]:
    """Re-apply every journal entry the store lacks (a restored store); returns them.
    Called before any day is staged or exported: one read of the applied ids when there
    is nothing to do."""
    subject_key.check(engine)
    todo = missing(engine, journal)
    current = key_id() if todo else ""
    for entry in todo:
        if entry.key_id != current:
            raise ConfigError(
                "EVENTSYNC_SUBJECT_KEY",
                f"the erasure journal entry {entry.id} was written with subject key "
                f"{entry.key_id}, this process has {current}: restore that key (the "
                "environment variable or <data dir>/keys/subject.key); nothing is exported "
                "until the erased subjects are recognised again",
            )
    for entry in todo:
        _apply(engine, entry)
    if todo:
        log.warning(
            "erasure journal: re-applied %d entries the store lacked (restored from a backup?)",
            len(todo),
        )
    return todo


def _matching_ids(conn: Connection, workspace_id: str, kind: str, hashes: set[str]) -> list[str]:
    """The plain ids still in the store whose keyed hash is in `hashes`."""
    if not hashes:
        return []
    if kind == "user":
        sources = [
            select(events.c.user_id.label("id")).where(events.c.workspace_id == workspace_id),
            select(user_profiles.c.user_id.label("id")).where(
                user_profiles.c.workspace_id == workspace_id
            ),
        ]
    else:
        sources = [
            select(events.c.company_id.label("id")).where(events.c.workspace_id == workspace_id),
            select(company_profiles.c.company_id.label("id")).where(
                company_profiles.c.workspace_id == workspace_id
            ),
        ]
    digest = hasher(workspace_id, kind)
    ids = conn.execute(union(*sources)).scalars()
    return sorted(i for i in ids if isinstance(i, str) and digest(i) in hashes)


def _apply(engine: Engine, entry: Entry) -> None:
    ws = entry.workspace_id
    users: list[str] = []
    companies: list[str] = []
    with subject_gate(engine, ws, exclusive=True) as conn:
        held = conn.execute(
            select(erasure_journal_applied.c.entry_id).where(
                erasure_journal_applied.c.entry_id == entry.id
            )
        ).first()
        if held is not None:  # another process re-applied it meanwhile
            return
        detail: dict[str, Any] = {"entry": entry.id, "recorded_at": entry.at}
        if entry.op == ERASE:
            rows = entry.suppression_rows(listed_hashes(conn, ws, set(entry.subjects)))
            if rows:
                conn.execute(insert(suppressions), rows)
            users = _matching_ids(conn, ws, "user", {h for k, h in entry.subjects if k == "user"})
            companies = _matching_ids(
                conn, ws, "company", {h for k, h in entry.subjects if k == "company"}
            )
            purged = purge_subjects(conn, ws, users, companies)
            detail |= {"subjects_suppressed": len(rows), **purged}
        else:
            for kind, digest in entry.subjects:
                conn.execute(delete(suppressions).where(suppression_key(ws, kind, digest)))
        record_applied(conn, entry, source="journal")
        # The audit row names the request and the entry, never the person.
        audit(conn, ws, entry.request_id, ACTOR, f"journal_reapplied_{entry.op}", detail)
    if users or companies:
        sync_ids = _workspace_syncs(engine, ws)
        for area in ("staging", "quarantine"):
            staging.remove_subjects(area, sync_ids, set(users), set(companies))


def _workspace_syncs(engine: Engine, workspace_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(syncs.c.id).where(syncs.c.workspace_id == workspace_id)).scalars()
        )


# --- copies in the destinations -------------------------------------------------------
def destination_key(entry: Entry) -> str:
    return f"{DESTINATION_PREFIX}{entry.id}.json"


def publish(dest: Destination, entry: Entry) -> None:
    """Write the entry's copy to a destination (create-only: a copy is never replaced;
    one already there is this entry's, written by an earlier attempt)."""
    with contextlib.suppress(DestinationExistsError):
        dest.put_bytes(
            destination_key(entry), entry.line().encode(), "application/json", create_only=True
        )


def entry_of_request(workspace_id: str, request_id: str) -> Entry | None:
    """The journal's erasure entry of a request (the last one written for it)."""
    found = [
        e
        for e in read()
        if e.op == ERASE and e.workspace_id == workspace_id and e.request_id == request_id
    ]
    return found[-1] if found else None


def merge_from_destination(dest: Destination, journal: Path | None = None) -> list[Entry]:
    """Append to the journal file the copies a destination holds that it lacks (a lost or
    restored journal file); [] where the destination may not be listed or read."""
    try:
        keys = dest.list(DESTINATION_PREFIX)
    except (PermissionError, DestinationError) as exc:
        log.info("erasure journal: %s cannot be listed (%s)", dest.describe(), exc)
        return []
    known = {e.id for e in read(journal)}
    added: list[Entry] = []
    for key in sorted(keys):
        name = key.rsplit("/", 1)[-1]
        if not name.endswith(".json") or name[: -len(".json")] in known:
            continue
        try:
            entry = Entry.parse(dest.get_bytes(key))
        except (PermissionError, DestinationError, ValueError, KeyError, TypeError) as exc:
            log.warning("erasure journal: copy %s unreadable (%s)", key, exc)
            continue
        known.add(entry.id)
        added.append(entry)
    added.sort(key=lambda e: e.at)
    for entry in added:
        append(entry, journal)
    return added
