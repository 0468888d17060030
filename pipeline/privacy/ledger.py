"""Privacy request ledger: state, per-step progress and the append-only audit log.

States (pipeline/privacy/states.py holds the machine; pipeline/privacy/runner.py alone
moves a request through it):

    received -> queued -> running -> completed | failed
    failed -> received                      retry: a new attempt of the same request
    running -> received                     retry after the owner's lease expired
    completed | running -> erased           an access export whose file a later
                                            erasure removed (result_note says so)

A retried request skips the steps that already finished (each records `status: done`).
A running request carries a lease (owner, expiry) that its owner renews while it works.

The audit log (`privacy_request_log`) only ever gets INSERTs. `actor` names who acted:
`key:<api key id>` for the HTTP API (the public half of the key, never the key),
`cli:<os user>`, `sensor`, `job:<run id>`, `schedule`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from pipeline import subjects
from resources.clock import now_iso
from resources.errors import ConfigError, NotFound
from resources.schema import privacy_request_log, privacy_requests

KINDS = ("erasure", "access_export")
STATUSES = ("received", "queued", "running", "completed", "failed", "erased")
MAX_IDS = 1_000


@dataclass
class PrivacyRequest:
    id: str
    workspace_id: str
    kind: str
    status: str
    user_ids: list[str]
    company_ids: list[str]
    attempt: int
    progress: dict[str, Any] = field(default_factory=dict)
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def subjects(self) -> list[tuple[str, str]]:
        return [("user", u) for u in self.user_ids] + [("company", c) for c in self.company_ids]


def _row(row: Any) -> PrivacyRequest:
    m = row._mapping
    return PrivacyRequest(
        id=m["id"],
        workspace_id=m["workspace_id"],
        kind=m["kind"],
        status=m["status"],
        user_ids=json.loads(m["user_ids"]),
        company_ids=json.loads(m["company_ids"]),
        attempt=m["attempt"] or 0,
        progress=json.loads(m["progress"] or "{}"),
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
    )


def validate_subjects(
    engine: Engine, workspace_id: str, kind: str, user_ids: Any, company_ids: Any
) -> tuple[list[str], list[str]]:
    """Check a request's subjects against the one subject-id rule (pipeline/subjects.py:
    an id the workspace holds is accepted even if the rule would refuse it as new);
    raises ConfigError naming the problem."""
    if kind not in KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
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
    if kind == "access_export" and total != 1:
        raise ConfigError("user_id", "an access export covers exactly one user or one company")
    return users, companies


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
    prefix = "era" if kind == "erasure" else "acc"
    request_id = f"{prefix}_{secrets.token_hex(8)}"
    now = now_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(privacy_requests).values(
                id=request_id,
                workspace_id=workspace_id,
                kind=kind,
                status="received",
                user_ids=json.dumps(users),
                company_ids=json.dumps(companies),
                attempt=0,
                progress=json.dumps({"steps": {}}),
                created_at=now,
                updated_at=now,
            )
        )
        audit(
            conn,
            workspace_id,
            request_id,
            actor,
            "received",
            {"kind": kind, "user_ids": len(users), "company_ids": len(companies)},
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
        row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"privacy request {request_id!r} not found")
    return _row(row)


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
        return [_row(r) for r in conn.execute(query.limit(limit))]


def audit_log(engine: Engine, request_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(privacy_request_log)
            .where(privacy_request_log.c.request_id == request_id)
            .order_by(privacy_request_log.c.id)
        ).all()
    return [{**r._mapping, "detail": json.loads(r.detail)} for r in rows]


def locked(conn: Connection, request_id: str) -> PrivacyRequest:
    query = select(privacy_requests).where(privacy_requests.c.id == request_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"privacy request {request_id!r} not found")
    return _row(row)


def update_progress(
    engine: Engine,
    request_id: str,
    change: Callable[[dict[str, Any]], None],
    actor: str | None = None,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Read-modify-write the progress document in one transaction (and audit it)."""
    with engine.begin() as conn:
        req = locked(conn, request_id)
        progress = req.progress
        progress.setdefault("steps", {})
        change(progress)
        conn.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == request_id)
            .values(progress=json.dumps(progress, sort_keys=True), updated_at=now_iso())
        )
        if action:
            audit(conn, req.workspace_id, request_id, actor or "job", action, detail)
    return progress


def run_step(
    engine: Engine,
    request_id: str,
    step: str,
    fn: Callable[[PrivacyRequest], dict[str, Any]],
    actor: str,
    force: bool = False,
) -> dict[str, Any]:
    """Run one step unless a previous attempt finished it (`force` runs it anyway).
    Its result lands in progress.steps[step] with timestamps, and in the audit log."""
    req = get_request(engine, request_id)
    prior = req.progress.get("steps", {}).get(step, {})
    if prior.get("status") == "done" and not force:
        return prior
    started = now_iso()

    def begin(progress: dict[str, Any]) -> None:
        progress["steps"][step] = {**prior, "status": "running", "started_at": started}

    update_progress(engine, request_id, begin)
    try:
        result = fn(req)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"

        def failed(progress: dict[str, Any]) -> None:
            progress["steps"][step] = {
                **progress["steps"].get(step, {}),
                "status": "failed",
                "error": error[:2000],
                "finished_at": now_iso(),
            }

        update_progress(
            engine, request_id, failed, actor, f"step_failed:{step}", {"error": error[:2000]}
        )
        raise
    record = {"status": "done", "started_at": started, "finished_at": now_iso(), **result}

    def done(progress: dict[str, Any]) -> None:
        progress["steps"][step] = record

    update_progress(engine, request_id, done, actor, f"step:{step}", result)
    return record
