"""Privacy requests as stored: the typed row (`PrivacyRequest`, its progress a
`RequestProgress`), creating, reading and listing them, and the append-only audit log.

eventsync/privacy/states.py draws the states; eventsync/privacy/transitions.py moves a
request between them (one compare-and-set per move); eventsync/privacy/runner.py alone
calls it. A retried request skips the steps that already finished (each records
`status: done`).

Subject ids are kept in the clear only while a request is in flight (received, queued,
running, failed -- a failed one can be retried): when it completes (or its access-export
file is erased) `user_ids` / `company_ids` are emptied in the same compare-and-set, and
from then on the request names its subjects only by their keyed hashes
(`subject_hashes`, eventsync/pseudonyms.py, written when the request is created), which
is how a later erasure finds an earlier access export of the same subject. The audit
log names the request, never the person (counts, not ids).

The audit log (`privacy_request_log`) only ever gets INSERTs. `actor` names who acted:
`key:<api key id>` for the HTTP API (the public half of the key, never the key),
`cli:<os user>`, `sensor`, `job:<run id>`, `schedule`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from eventsync import subjects
from eventsync.clock import now_iso
from eventsync.errors import ConfigError, NotFound
from eventsync.privacy.progress import RequestProgress
from eventsync.privacy.states import Fence, RequestKind, RequestStatus
from eventsync.pseudonyms import hasher
from eventsync.store import subject_key
from eventsync.store.schema import privacy_request_log, privacy_requests

KINDS = tuple(RequestKind)
STATUSES = tuple(RequestStatus)
# Done: the ids are gone from the row, only their keyed hashes are left.
DONE = frozenset({RequestStatus.COMPLETED, RequestStatus.ERASED})
# What a request's id columns become when it is done (transitions.complete).
IDS_REMOVED = {"user_ids": "[]", "company_ids": "[]"}
MAX_IDS = 1_000
FIRST_ATTEMPT = 1


@dataclass
class PrivacyRequest:
    id: str
    workspace_id: str
    kind: RequestKind
    status: RequestStatus
    user_ids: list[str]
    company_ids: list[str]
    attempt: int
    progress: RequestProgress = field(default_factory=RequestProgress)
    result_location: str | None = None
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    started_at: str | None = None
    completed_at: str | None = None
    verified_at: str | None = None
    lease_owner: str | None = None
    lease_expires_at: str | None = None
    result_note: str | None = None
    # {"user": [keyed hash, ...], "company": [...]}: the subjects, whatever the status.
    subject_hashes: dict[str, list[str]] = field(default_factory=dict)
    # The progress document as read: a move that rewrites it matches on it.
    stored_progress: str = field(default="{}", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON-ready values (what the CLI prints and the API shows)."""
        return {
            "id": self.id,
            "workspace_id": self.workspace_id,
            "kind": str(self.kind),
            "status": str(self.status),
            "user_ids": self.user_ids,
            "company_ids": self.company_ids,
            "user_count": self.user_count,
            "company_count": self.company_count,
            "ids_removed": self.ids_removed,
            "attempt": self.attempt,
            "progress": self.progress.dump(),
            "result_location": self.result_location,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "verified_at": self.verified_at,
            "lease_owner": self.lease_owner,
            "lease_expires_at": self.lease_expires_at,
            "result_note": self.result_note,
        }

    @property
    def user_count(self) -> int:
        return max(len(self.user_ids), len(self.subject_hashes.get("user", [])))

    @property
    def company_count(self) -> int:
        return max(len(self.company_ids), len(self.subject_hashes.get("company", [])))

    @property
    def ids_removed(self) -> bool:
        """The request is done and keeps its subjects only as keyed hashes."""
        return self.status in DONE

    def hashes(self) -> set[tuple[str, str]]:
        """{(kind, keyed hash)} of the request's subjects."""
        return {(kind, h) for kind, values in self.subject_hashes.items() for h in values}

    @property
    def subjects(self) -> list[tuple[str, str]]:
        return [("user", u) for u in self.user_ids] + [("company", c) for c in self.company_ids]

    @property
    def fence(self) -> Fence:
        """The (status, attempt, owner) a move from this state must still find."""
        return Fence(self.status, self.attempt, self.lease_owner)

    def lease_expired(self, now: str | None = None) -> bool:
        """Has the owner of a running request stopped renewing its lease?"""
        return self.lease_expires_at is None or self.lease_expires_at < (now or now_iso())


def from_row(row: Any) -> PrivacyRequest:
    m = row._mapping
    return PrivacyRequest(
        id=m["id"],
        workspace_id=m["workspace_id"],
        kind=RequestKind(m["kind"]),
        status=RequestStatus(m["status"]),
        user_ids=json.loads(m["user_ids"]),
        company_ids=json.loads(m["company_ids"]),
        attempt=m["attempt"] or 0,
        progress=RequestProgress.load(m["progress"]),
        result_location=m["result_location"],
        error=m["error"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        started_at=m["started_at"],
        completed_at=m["completed_at"],
        verified_at=m["verified_at"],
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        result_note=m["result_note"],
        subject_hashes=json.loads(m["subject_hashes"] or "{}"),
        stored_progress=m["progress"] or "{}",
    )


def validate_subjects(
    engine: Engine, workspace_id: str, kind: str, user_ids: Any, company_ids: Any
) -> tuple[list[str], list[str]]:
    """Check a request's subjects against the one subject-id rule (eventsync/subjects.py:
    an id the workspace holds is accepted even if the rule would refuse it as new);
    raises ConfigError naming the problem."""
    if kind not in KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    kind = RequestKind(kind)
    for name, ids in (("user_ids", user_ids), ("company_ids", company_ids)):
        if isinstance(ids, list | tuple) and len(ids) > MAX_IDS:
            raise ConfigError(name, f"at most {MAX_IDS} ids per request, got {len(ids)}")
    users = subjects.requested_ids(engine, workspace_id, "user", "user_ids", user_ids)
    companies = subjects.requested_ids(engine, workspace_id, "company", "company_ids", company_ids)
    total = len(users) + len(companies)
    if total == 0:
        raise ConfigError("user_ids", "name at least one user id or company id")
    if total > MAX_IDS:
        raise ConfigError("user_ids", f"at most {MAX_IDS} ids per request, got {total}")
    if kind == RequestKind.ACCESS_EXPORT and total != 1:
        raise ConfigError("user_id", "an access export covers exactly one user or one company")
    return users, companies


def subject_hashes(workspace_id: str, users: list[str], companies: list[str]) -> str:
    """The `subject_hashes` document of a request's subjects."""
    digest = {kind: hasher(workspace_id, kind) for kind in ("user", "company")}
    return json.dumps(
        {
            "user": [digest["user"](u) for u in users],
            "company": [digest["company"](c) for c in companies],
        },
        sort_keys=True,
    )


def audit(
    conn: Connection,
    workspace_id: str,
    request_id: str | None,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(privacy_request_log).values(
            workspace_id=workspace_id,
            request_id=request_id,
            at=now_iso(),
            actor=actor[:128],
            action=action[:64],
            detail=json.dumps(detail or {}, sort_keys=True, default=str),
        )
    )


def create_request(
    engine: Engine,
    workspace_id: str,
    kind: str,
    user_ids: Any,
    company_ids: Any,
    actor: str,
) -> PrivacyRequest:
    """Persist a request (status `received`) and its audit row in one transaction."""
    users, companies = validate_subjects(engine, workspace_id, kind, user_ids, company_ids)
    prefix = "era" if kind == RequestKind.ERASURE else "acc"
    request_id = f"{prefix}_{secrets.token_hex(8)}"
    now = now_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(privacy_requests).values(
                id=request_id,
                workspace_id=workspace_id,
                kind=str(kind),
                status=str(RequestStatus.RECEIVED),
                user_ids=json.dumps(users),
                company_ids=json.dumps(companies),
                subject_hashes=subject_hashes(workspace_id, users, companies),
                attempt=0,  # never claimed: `claim` makes it attempt 1
                progress=RequestProgress().dumps(),
                created_at=now,
                updated_at=now,
            )
        )
        subject_key.record(conn)  # the hashes above are keyed: the store names the key
        audit(
            conn,
            workspace_id,
            request_id,
            actor,
            str(RequestStatus.RECEIVED),
            {
                "kind": str(kind),
                "attempt": 0,
                "user_ids": len(users),
                "company_ids": len(companies),
            },
        )
    return get_request(engine, request_id)


def get_request(
    engine: Engine, request_id: str, workspace_id: str | None = None, kind: str | None = None
) -> PrivacyRequest:
    """The request; with `workspace_id` (and `kind`), any other is NotFound as well."""
    query = select(privacy_requests).where(privacy_requests.c.id == request_id)
    if workspace_id is not None:
        query = query.where(privacy_requests.c.workspace_id == workspace_id)
    if kind is not None:
        query = query.where(privacy_requests.c.kind == kind)
    with engine.connect() as conn:
        return read(conn, request_id, query)


def read(conn: Connection, request_id: str, query: Any = None) -> PrivacyRequest:
    """The request's row, read on `conn` (NotFound when there is none)."""
    if query is None:
        query = select(privacy_requests).where(privacy_requests.c.id == request_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"privacy request {request_id!r} not found")
    return from_row(row)


def list_requests(
    engine: Engine,
    workspace_id: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[PrivacyRequest]:
    query = select(privacy_requests).order_by(
        privacy_requests.c.created_at.desc(), privacy_requests.c.id
    )
    if workspace_id is not None:
        query = query.where(privacy_requests.c.workspace_id == workspace_id)
    if kind is not None:
        query = query.where(privacy_requests.c.kind == kind)
    if status is not None:
        query = query.where(privacy_requests.c.status == status)
    with engine.connect() as conn:
        return [from_row(r) for r in conn.execute(query.limit(limit))]


def audit_log(engine: Engine, request_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(privacy_request_log)
            .where(privacy_request_log.c.request_id == request_id)
            .order_by(privacy_request_log.c.id)
        ).all()
    return [{**r._mapping, "detail": json.loads(r.detail)} for r in rows]
