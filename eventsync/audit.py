"""The general audit log: every console action and every API request that changed
something, per workspace: who (`actor`: an account id, `key:<api key id>`,
`cli:<user>`; `actor_label`: the member's e-mail address then), what (`action`,
`target`, `outcome`, `detail`), when (`at`, UTC) and from where (`client_address`).

Rows are only ever inserted. Nothing secret goes in: no password, token, session id,
TOTP secret, API key or request body (privacy requests are named by their id, never
by the people in them). Each privacy request keeps its own step-by-step trail in
`privacy_request_log` (eventsync/privacy/request_store.py).

`export_csv` writes rows for spreadsheets: UTF-8 with a byte order mark, and every
cell that a spreadsheet would run as a formula (starting with = + - @, a tab or a
carriage return) prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select

from eventsync.clock import now_iso
from eventsync.errors import ConfigError
from eventsync.store.account_tables import audit_log

SOURCES = ("console", "api", "cli")
OUTCOMES = ("ok", "refused", "failed")
COLUMNS = ("at", "source", "actor", "actor_label", "action", "target", "outcome",
           "client_address", "detail")  # fmt: skip
PAGE = 100
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Entry:
    id: int
    workspace_id: str
    at: str
    source: str
    actor: str
    actor_label: str | None
    action: str
    target: str | None
    outcome: str
    client_address: str | None
    detail: dict[str, Any]


def record(
    engine_or_conn: Engine | Connection,
    workspace_id: str,
    source: str,
    actor: str,
    action: str,
    *,
    actor_label: str | None = None,
    target: str | None = None,
    outcome: str = "ok",
    client_address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one row (in the caller's transaction when given a Connection)."""
    if source not in SOURCES or outcome not in OUTCOMES:
        raise ValueError(f"audit: bad source {source!r} or outcome {outcome!r}")
    row = {
        "workspace_id": workspace_id,
        "at": now_iso(),
        "source": source,
        "actor": actor[:64],
        "actor_label": actor_label[:320] if actor_label else None,
        "action": action[:64],
        "target": target[:320] if target else None,
        "outcome": outcome,
        "client_address": client_address[:64] if client_address else None,
        "detail": json.dumps(detail or {}, sort_keys=True, default=str),
    }
    if isinstance(engine_or_conn, Connection):
        engine_or_conn.execute(insert(audit_log).values(**row))
    else:
        with engine_or_conn.begin() as conn:
            conn.execute(insert(audit_log).values(**row))


@dataclass(frozen=True)
class Filter:
    """What the Audit page and its CSV select; every field optional."""

    actor: str = ""  # part of the actor id or label
    action: str = ""  # an action's prefix, e.g. `team.` or `api.`
    source: str = ""
    outcome: str = ""
    since: str = ""  # YYYY-MM-DD, UTC, inclusive
    until: str = ""  # YYYY-MM-DD, UTC, inclusive

    def checked(self) -> Filter:
        """The filter, or ConfigError naming the field that is wrong."""
        for name in ("since", "until"):
            value = getattr(self, name)
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise ConfigError(name, f"not a day (YYYY-MM-DD): {value[:40]!r}") from None
        if self.source and self.source not in SOURCES:
            raise ConfigError("source", f"one of {', '.join(SOURCES)}")
        if self.outcome and self.outcome not in OUTCOMES:
            raise ConfigError("outcome", f"one of {', '.join(OUTCOMES)}")
        if len(self.actor) > 320 or len(self.action) > 64:
            raise ConfigError("filter", "too long")
        return self


def _where(workspace_id: str, f: Filter) -> list[Any]:
    t = audit_log.c
    clauses: list[Any] = [t.workspace_id == workspace_id]
    if f.actor:
        clauses.append(
            or_(
                t.actor.contains(f.actor, autoescape=True),
                t.actor_label.contains(f.actor.lower(), autoescape=True),
            )
        )
    if f.action:
        clauses.append(t.action.startswith(f.action, autoescape=True))
    if f.source:
        clauses.append(t.source == f.source)
    if f.outcome:
        clauses.append(t.outcome == f.outcome)
    if f.since:
        clauses.append(t.at >= date.fromisoformat(f.since).isoformat())
    if f.until:
        clauses.append(t.at < (date.fromisoformat(f.until) + timedelta(days=1)).isoformat())
    return clauses


def _entry(row: Any) -> Entry:
    m = dict(row._mapping)
    m["detail"] = json.loads(m["detail"] or "{}")
    return Entry(**m)


def query(
    engine: Engine, workspace_id: str, f: Filter, limit: int = PAGE, before_id: int | None = None
) -> list[Entry]:
    """Newest first; `before_id` pages to older rows."""
    clauses = _where(workspace_id, f.checked())
    if before_id is not None:
        clauses.append(audit_log.c.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(*clauses).order_by(audit_log.c.id.desc()).limit(limit)
        ).all()
    return [_entry(r) for r in rows]


def iter_all(engine: Engine, workspace_id: str, f: Filter, batch: int = 1000) -> Iterator[Entry]:
    """Every matching row, newest first, read in batches."""
    before: int | None = None
    while True:
        rows = query(engine, workspace_id, f, batch, before)
        yield from rows
        if len(rows) < batch:
            return
        before = rows[-1].id


def spreadsheet_safe(value: Any) -> str:
    """The cell's text, with a leading apostrophe where a spreadsheet would see a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_csv(entries: Iterable[Entry]) -> Iterator[bytes]:
    """CSV (RFC 4180, CRLF) of the entries, UTF-8 with BOM, chunk by chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")

    def flush() -> bytes:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text.encode("utf-8")

    writer.writerow(COLUMNS)
    yield "\ufeff".encode() + flush()
    for n, e in enumerate(entries, 1):
        values = [getattr(e, c) for c in COLUMNS[:-1]]
        values.append(json.dumps(e.detail, sort_keys=True) if e.detail else "")
        writer.writerow([spreadsheet_safe(v) for v in values])
        if n % 500 == 0:
            yield flush()
    yield flush()
