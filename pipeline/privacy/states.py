"""The state machine of a privacy request (docs in pipeline/privacy/ledger.py): every
change of status goes through `transition`, checked against TRANSITIONS and audited in
the same transaction. Only pipeline/privacy/runner.py calls these.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, update

from pipeline.privacy.ledger import PrivacyRequest, audit, get_request, locked, update_progress
from resources.clock import now_iso, utcnow
from resources.errors import EventsyncError
from resources.schema import privacy_requests

# Allowed transitions. failed -> running: Dagster re-execution of the failed run;
# running -> running: a step re-executed, or a new owner after the lease expired.
TRANSITIONS: dict[str, set[str]] = {
    "received": {"queued", "failed"},
    "queued": {"running", "failed"},
    "running": {"running", "completed", "failed", "received", "erased"},
    "failed": {"received", "running"},
    "completed": {"erased"},
    "erased": set(),
}


class InvalidTransition(EventsyncError):
    """The request is not in a state that allows the action (message says which)."""


def transition(
    engine: Engine,
    request_id: str,
    new_status: str,
    actor: str,
    detail: dict[str, Any] | None = None,
    expect: set[str] | None = None,
    mutate: Callable[[PrivacyRequest, dict[str, Any]], None] | None = None,
) -> PrivacyRequest:
    """Move a request to `new_status` and audit it. The move must be in TRANSITIONS and,
    when `expect` is given, start from one of those states; `mutate(request, values)`
    may add column values to the same UPDATE (or raise InvalidTransition)."""
    with engine.begin() as conn:
        req = locked(conn, request_id)
        allowed = new_status in TRANSITIONS[req.status]
        if not allowed or (expect is not None and req.status not in expect):
            raise InvalidTransition(
                f"privacy request {request_id} is {req.status}; cannot become {new_status}"
            )
        now = now_iso()
        values: dict[str, Any] = {"status": new_status, "updated_at": now}
        if mutate is not None:
            mutate(req, values)
        conn.execute(
            update(privacy_requests).where(privacy_requests.c.id == request_id).values(**values)
        )
        audit(
            conn,
            req.workspace_id,
            request_id,
            actor,
            new_status,
            {"from": req.status, "attempt": values.get("attempt", req.attempt), **(detail or {})},
        )
    return get_request(engine, request_id)


def claim(engine: Engine, request_id: str, actor: str = "sensor") -> PrivacyRequest:
    """received -> queued, starting a new attempt."""

    def bump(req: PrivacyRequest, values: dict[str, Any]) -> None:
        values["attempt"] = req.attempt + 1
        values["error"] = None

    return transition(engine, request_id, "queued", actor, expect={"received"}, mutate=bump)


def lease_expired(req: PrivacyRequest, now: str | None = None) -> bool:
    """Has the owner of a running request stopped renewing its lease?"""
    return req.lease_expires_at is None or req.lease_expires_at < (now or now_iso())


def _expiry(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def start(
    engine: Engine, request_id: str, owner: str, actor: str, lease_seconds: float
) -> PrivacyRequest:
    """queued | failed -> running under `owner`'s lease (running -> running when the
    same owner re-executes a step, or when the previous owner's lease expired)."""

    def stamp(req: PrivacyRequest, values: dict[str, Any]) -> None:
        if req.status == "running" and req.lease_owner != owner and not lease_expired(req):
            raise InvalidTransition(
                f"privacy request {request_id} is running under {req.lease_owner} "
                f"(lease until {req.lease_expires_at})"
            )
        values["started_at"] = now_iso()
        values["error"] = None
        values["lease_owner"] = owner[:128]
        values["lease_expires_at"] = _expiry(lease_seconds)
        progress = req.progress
        progress.setdefault("runs", []).append({"run_id": owner, "attempt": req.attempt})
        values["progress"] = json.dumps(progress, sort_keys=True)

    return transition(
        engine,
        request_id,
        "running",
        actor,
        {"run_id": owner},
        expect={"queued", "running", "failed"},
        mutate=stamp,
    )


def renew(engine: Engine, request_id: str, owner: str, lease_seconds: float) -> bool:
    """Extend `owner`'s lease; False when the request is no longer running under it."""
    with engine.begin() as conn:
        return bool(
            conn.execute(
                update(privacy_requests)
                .where(
                    privacy_requests.c.id == request_id,
                    privacy_requests.c.status == "running",
                    privacy_requests.c.lease_owner == owner[:128],
                )
                .values(lease_expires_at=_expiry(lease_seconds))
            ).rowcount
        )


def _release(values: dict[str, Any]) -> None:
    values.update(lease_owner=None, lease_expires_at=None)


def complete(
    engine: Engine,
    request_id: str,
    actor: str,
    verified_at: str | None = None,
    result_location: str | None = None,
    result_note: str | None = None,
) -> PrivacyRequest:
    """running -> completed (an access export whose file was removed meanwhile becomes
    `erased` instead: see `mark_result_erased`)."""
    req = get_request(engine, request_id)
    removed = (req.progress.get("output") or {}).get("removed")
    if removed:

        def note(_req: PrivacyRequest, values: dict[str, Any]) -> None:
            _release(values)
            values["result_note"] = removed["note"]

        return transition(
            engine, request_id, "erased", actor, removed, expect={"running"}, mutate=note
        )

    def stamp(req: PrivacyRequest, values: dict[str, Any]) -> None:
        values["completed_at"] = now_iso()
        values["error"] = None
        _release(values)
        if verified_at:
            values["verified_at"] = verified_at
        if result_location:
            values["result_location"] = result_location
        if result_note:
            values["result_note"] = result_note

    return transition(
        engine,
        request_id,
        "completed",
        actor,
        {"verified_at": verified_at, "result_location": result_location},
        expect={"running"},
        mutate=stamp,
    )


def fail(
    engine: Engine,
    request_id: str,
    error: str,
    actor: str,
    owner: str | None = None,
    attempt: int | None = None,
) -> PrivacyRequest | None:
    """Mark failed with the reason. Returns None, changing nothing, when the request
    completed already, when `owner` is given and another owner runs it now, or when
    `attempt` is given and the request has moved on to a later attempt."""

    def record(req: PrivacyRequest, values: dict[str, Any]) -> None:
        if owner is not None and req.status == "running" and req.lease_owner not in (None, owner):
            raise InvalidTransition(f"privacy request {request_id} runs under another owner")
        if attempt is not None and attempt != req.attempt:
            raise InvalidTransition(f"privacy request {request_id} is on a later attempt")
        values["error"] = error[:4000]
        _release(values)

    try:
        return transition(
            engine,
            request_id,
            "failed",
            actor,
            {"error": error[:2000]},
            expect={"received", "queued", "running", "failed"},
            mutate=record,
        )
    except InvalidTransition:
        return None


def retry(engine: Engine, request_id: str, actor: str, workspace_id: str | None = None):
    """failed -> received, or running -> received once the owner's lease expired (it
    died): the sensor queues a new attempt of the same request."""
    get_request(engine, request_id, workspace_id)  # NotFound across workspaces

    def check(req: PrivacyRequest, values: dict[str, Any]) -> None:
        if req.status == "running" and not lease_expired(req):
            raise InvalidTransition(
                f"privacy request {request_id} is running under {req.lease_owner}, whose "
                f"lease runs until {req.lease_expires_at}; retry it after that"
            )
        _release(values)

    return transition(
        engine,
        request_id,
        "received",
        actor,
        {"retry": True},
        expect={"failed", "running"},
        mutate=check,
    )


def mark_result_erased(
    engine: Engine, request_id: str, erasure_id: str, actor: str
) -> PrivacyRequest | None:
    """An erasure deleted this access export's file: a completed export becomes
    `erased` (no location, a note why); a running one records it and becomes `erased`
    when it finishes. Other states are left as they are (None)."""
    note = f"file deleted by erasure {erasure_id} at {now_iso()}: the subject was erased"
    removed = {"by": erasure_id, "note": note}
    update_progress(
        engine, request_id, lambda p: p.setdefault("output", {}).update(removed=removed)
    )
    try:
        return transition(
            engine,
            request_id,
            "erased",
            actor,
            removed,
            expect={"completed"},
            mutate=lambda _r, v: v.update(result_location=None, result_note=note),
        )
    except InvalidTransition:
        return None
