"""Every move of a privacy request between its states (eventsync/privacy/states.py), and
every write of a running request's progress: one compare-and-set each, audited in the
same transaction. Only eventsync/privacy/runner.py calls these (and the lease and the
step context it hands an owner, for the owner's own writes).

A move reads the row, decides from what it read (raising InvalidTransition, or LeaseLost
for an owner that lost its attempt), then makes ONE

    UPDATE privacy_requests SET ... WHERE id = ? AND status = ? AND attempt = ?
        AND lease_owner IS NOT DISTINCT FROM ? [AND progress = <as read>]
        [AND lease_expires_at < <now>]

and writes the audit row only if that changed exactly one row. If it changed none,
another actor moved first: the row is read again and the decision taken again from what
is there now -- a decision taken on a stale read is never applied. So a reaper that read
`running` cannot fail a request that was retried since, a lease renewed in between
makes a take-over match nothing, and an owner whose attempt was taken over finds every
later write of its own refused (LeaseLost). An owner never comes back: once it lost
an attempt, it cannot start or re-execute another of the same request.

An owner's own writes during a step (`save_progress`, `renew`) need no read: the owner
knows its fence (running, attempt, owner). No other actor writes the progress of a
running request while one of its steps runs, except `mark_result_erased` on an access
export, and that runs only under the workspace's export lock held exclusive, which the
access export's step holds shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, or_, update

from eventsync.clock import now_iso, utcnow
from eventsync.privacy import request_store
from eventsync.privacy.progress import Failure, Removal, RequestProgress, RunRecord
from eventsync.privacy.request_store import FIRST_ATTEMPT, PrivacyRequest
from eventsync.privacy.states import (
    FailureReason,
    Fence,
    InvalidTransition,
    LeaseLost,
    RequestStatus,
    starts_attempt,
)
from eventsync.store.schema import privacy_requests

S = RequestStatus
C = privacy_requests.c
# A move whose UPDATE matched nothing only because the progress document changed (a step
# of the owner wrote it) is decided again; this many times at most.
MAX_REDECIDE = 20


@dataclass
class Move:
    """What a decision changes: the target status (None: the status stays), column
    values, the progress document (matched on the document as read), the audit row."""

    target: RequestStatus | None
    values: dict[str, Any] = field(default_factory=dict)
    progress: RequestProgress | None = None
    action: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    where: list[ColumnElement[bool]] = field(default_factory=list)
    match_progress: bool = False


def expiry(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def _lease_expired_at(now: str) -> ColumnElement[bool]:
    return or_(C.lease_expires_at.is_(None), C.lease_expires_at < now)


def _fenced(request_id: str, fence: Fence) -> list[ColumnElement[bool]]:
    return [
        C.id == request_id,
        C.status == str(fence.status),
        C.attempt == fence.attempt,
        C.lease_owner.is_not_distinct_from(fence.owner),
    ]


def compare_and_set(
    engine: Engine,
    request_id: str,
    actor: str,
    decide: Callable[[PrivacyRequest], Move | None],
) -> PrivacyRequest | None:
    """Read, decide, compare-and-set; decide again on a fresh read when another actor
    moved first. None when `decide` finds nothing to do."""
    for _ in range(MAX_REDECIDE):
        req = request_store.get_request(engine, request_id)
        move = decide(req)
        if move is None:
            return None
        if move.target is not None and not req.fence.allows(move.target):
            raise InvalidTransition(
                f"privacy request {request_id} is {req.status}; cannot become {move.target}"
            )
        values = {**move.values, "updated_at": now_iso()}
        where = _fenced(request_id, req.fence) + move.where
        if move.target is not None:
            values["status"] = str(move.target)
            if starts_attempt(req.status, move.target):
                values["attempt"] = req.attempt + 1
        if move.progress is not None:
            values["progress"] = move.progress.dumps()
        if move.progress is not None or move.match_progress:
            where.append(C.progress == req.stored_progress)
        with engine.begin() as conn:
            if conn.execute(update(privacy_requests).where(*where).values(**values)).rowcount:
                action = move.action or (str(move.target) if move.target else None)
                if action:
                    detail = {
                        "from": str(req.status),
                        "from_attempt": req.attempt,
                        "from_owner": req.lease_owner,
                        "attempt": values.get("attempt", req.attempt),
                        "owner": values.get("lease_owner", req.lease_owner),
                        **move.detail,
                    }
                    request_store.audit(conn, req.workspace_id, request_id, actor, action, detail)
                return request_store.read(conn, request_id)
    raise InvalidTransition(
        f"privacy request {request_id} kept changing while {actor} tried to move it; try again"
    )


def _moved(req: PrivacyRequest | None) -> PrivacyRequest:
    assert req is not None  # the decisions below return None only where the caller allows
    return req


# --- the moves ------------------------------------------------------------------------
def claim(engine: Engine, request_id: str, actor: str) -> PrivacyRequest:
    """received -> queued for the attempt the request carries (`retry` and `take_over`
    began it; a new request's is 1)."""

    def decide(req: PrivacyRequest) -> Move:
        if req.status != S.RECEIVED:
            raise InvalidTransition(
                f"privacy request {request_id} is {req.status}; cannot be claimed"
            )
        # A row stored before `retry` began a new attempt may carry one that already ran.
        ran = [r.attempt + 1 for r in req.progress.runs]
        attempt = max(req.attempt, FIRST_ATTEMPT, *ran)
        return Move(S.QUEUED, {"attempt": attempt, "error": None})

    return _moved(compare_and_set(engine, request_id, actor, decide))


def _running_under(
    req: PrivacyRequest, owner: str, attempt: int, lease_seconds: float, detail: dict[str, Any]
) -> Move:
    """The move to running as `attempt` under `owner`'s lease, the run recorded."""
    progress = req.progress.model_copy(deep=True)
    progress.runs.append(RunRecord(run_id=owner[:128], attempt=attempt))
    return Move(
        S.RUNNING,
        {
            "started_at": now_iso(),
            "error": None,
            "lease_owner": owner[:128],
            "lease_expires_at": expiry(lease_seconds),
        },
        progress=progress,
        detail=detail,
    )


def _took_part(req: PrivacyRequest, owner: str) -> bool:
    return any(r.run_id == owner[:128] for r in req.progress.runs)


def start(
    engine: Engine,
    request_id: str,
    owner: str,
    actor: str,
    lease_seconds: float,
    attempt: int | None = None,
) -> PrivacyRequest:
    """queued -> running under `owner`'s lease, for `attempt` when given (the attempt a
    run was launched for). An owner that already runs it gets it back unchanged."""

    def decide(req: PrivacyRequest) -> Move | None:
        if attempt is not None and req.attempt != attempt:
            raise LeaseLost(
                f"privacy request {request_id} is on attempt {req.attempt}, not {attempt}"
            )
        if req.status == S.RUNNING and req.lease_owner == owner[:128]:
            return None
        if req.status == S.RUNNING:
            raise InvalidTransition(
                f"privacy request {request_id} is running under {req.lease_owner} "
                f"(lease until {req.lease_expires_at})"
            )
        if req.status != S.QUEUED:
            raise InvalidTransition(f"privacy request {request_id} is {req.status}; cannot start")
        if _took_part(req, owner):
            raise LeaseLost(f"{owner} owned privacy request {request_id} before: it lost it")
        return _running_under(req, owner, req.attempt, lease_seconds, {"run_id": owner})

    moved = compare_and_set(engine, request_id, actor, decide)
    return moved if moved is not None else request_store.get_request(engine, request_id)


def reexecute(
    engine: Engine, request_id: str, owner: str, actor: str, lease_seconds: float
) -> PrivacyRequest:
    """failed -> running as a new attempt under `owner`: a Dagster re-execution of a
    failed run (it starts at the failed step, without `start`). An owner that held the
    request before cannot come back this way."""

    def decide(req: PrivacyRequest) -> Move:
        if req.status != S.FAILED:
            raise LeaseLost(
                f"privacy request {request_id} is {req.status} under {req.lease_owner}, "
                f"not failed: {owner} cannot take it over"
            )
        if _took_part(req, owner):
            raise LeaseLost(f"{owner} owned privacy request {request_id} before: it lost it")
        detail = {"run_id": owner, "reexecution": True}
        return _running_under(req, owner, req.attempt + 1, lease_seconds, detail)

    return _moved(compare_and_set(engine, request_id, actor, decide))


def renew(engine: Engine, req: PrivacyRequest, lease_seconds: float) -> bool:
    """Extend the owner's lease; False when the request is no longer running under
    that owner and attempt."""
    fence = Fence(S.RUNNING, req.attempt, req.lease_owner)
    with engine.begin() as conn:
        return bool(
            conn.execute(
                update(privacy_requests)
                .where(*_fenced(req.id, fence))
                .values(lease_expires_at=expiry(lease_seconds))
            ).rowcount
        )


def save_progress(
    engine: Engine,
    req: PrivacyRequest,
    actor: str,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write the owner's progress (`req.progress`) and audit `action`, in one
    transaction, fenced on (running, attempt, owner): LeaseLost when the owner lost it."""
    if req.status != S.RUNNING or req.lease_owner is None:
        raise LeaseLost(f"privacy request {req.id} is {req.status}: its progress is not ours")
    text = req.progress.dumps()
    with engine.begin() as conn:
        changed = conn.execute(
            update(privacy_requests)
            .where(*_fenced(req.id, req.fence))
            .values(progress=text, updated_at=now_iso())
        ).rowcount
        if not changed:
            raise LeaseLost(
                f"privacy request {req.id}: attempt {req.attempt} under {req.lease_owner} "
                "was taken over or ended; its lease was lost"
            )
        if action:
            full = {**(detail or {}), "attempt": req.attempt, "owner": req.lease_owner}
            request_store.audit(conn, req.workspace_id, req.id, actor, action, full)
    req.stored_progress = text


def _owned(req: PrivacyRequest, fresh: PrivacyRequest) -> None:
    if fresh.fence != Fence(S.RUNNING, req.attempt, req.lease_owner):
        raise LeaseLost(
            f"privacy request {req.id} is {fresh.status} (attempt {fresh.attempt}, owner "
            f"{fresh.lease_owner}), not running under {req.lease_owner} on attempt "
            f"{req.attempt}: its lease was lost"
        )


_RELEASED = {"lease_owner": None, "lease_expires_at": None}


def complete(
    engine: Engine,
    req: PrivacyRequest,
    actor: str,
    verified_at: str | None = None,
    result_location: str | None = None,
    result_note: str | None = None,
) -> PrivacyRequest:
    """running -> completed by its owner (`req` as the owner loaded it). An access
    export whose file an erasure deleted meanwhile becomes `erased` instead."""

    def decide(fresh: PrivacyRequest) -> Move:
        _owned(req, fresh)
        output = fresh.progress.output
        if output is not None and output.removed is not None:
            removed = output.removed
            return Move(
                S.ERASED,
                {
                    **_RELEASED,
                    **request_store.IDS_REMOVED,
                    "result_location": None,
                    "result_note": removed.note,
                },
                detail=removed.model_dump(),
                match_progress=True,
            )
        values: dict[str, Any] = {
            "completed_at": now_iso(),
            "error": None,
            **_RELEASED,
            **request_store.IDS_REMOVED,  # from now on only the keyed hashes name them
        }
        if verified_at:
            values["verified_at"] = verified_at
        if result_location:
            values["result_location"] = result_location
        if result_note:
            values["result_note"] = result_note
        return Move(
            S.COMPLETED,
            values,
            detail={"verified_at": verified_at, "result_location": result_location},
            match_progress=True,
        )

    return _moved(compare_and_set(engine, req.id, actor, decide))


def fail(
    engine: Engine,
    request_id: str,
    error: str,
    actor: str,
    reason: FailureReason,
    *,
    owner: str | None = None,
    attempt: int | None = None,
    step: str | None = None,
) -> PrivacyRequest | None:
    """-> failed with the reason, for the failure of `owner`'s run of `attempt`.
    Changes nothing (None) unless that is the request's present: a running request
    fails only under its owner (and attempt, when given), a queued one only for its
    attempt; a received, completed, erased or failed one never."""

    def decide(req: PrivacyRequest) -> Move | None:
        if attempt is not None and req.attempt != attempt:
            return None
        if req.status == S.RUNNING:
            if owner is None or req.lease_owner != owner[:128]:
                return None
        elif req.status != S.QUEUED or attempt is None:
            return None
        progress = req.progress.model_copy(deep=True)
        progress.failure = Failure(reason=reason, attempt=req.attempt, step=step)
        return Move(
            S.FAILED,
            {"error": error[:4000], **_RELEASED},
            progress=progress,
            detail={"error": error[:2000], "reason": str(reason)},
        )

    return compare_and_set(engine, request_id, actor, decide)


def retry(
    engine: Engine, request_id: str, actor: str, workspace_id: str | None = None
) -> PrivacyRequest:
    """failed -> received as a new attempt, or running -> received (a new attempt) once
    the owner's lease expired: the request sensor (or --now) runs it. Always allowed,
    whatever attempts were made: a person asked for it."""
    request_store.get_request(engine, request_id, workspace_id)  # NotFound across workspaces
    now = now_iso()

    def decide(req: PrivacyRequest) -> Move:
        where: list[ColumnElement[bool]] = []
        if req.status == S.RUNNING:
            if not req.lease_expired(now):
                raise InvalidTransition(
                    f"privacy request {request_id} is running under {req.lease_owner}, whose "
                    f"lease runs until {req.lease_expires_at}; retry it after that"
                )
            where.append(_lease_expired_at(now))
        elif req.status != S.FAILED:
            raise InvalidTransition(
                f"privacy request {request_id} is {req.status}; only a failed request, or a "
                "running one whose owner died, can be retried"
            )
        return Move(
            S.RECEIVED,
            dict(_RELEASED),
            detail={"retry": True},
            where=where,
        )

    return _moved(compare_and_set(engine, request_id, actor, decide))


def take_over(
    engine: Engine,
    request_id: str,
    actor: str,
    max_attempts: int,
    dead_owner: str | None = None,
) -> PrivacyRequest | None:
    """A running request whose owner died: back to `received` as a new attempt while
    fewer than `max_attempts` were made, else `failed` with reason `attempts_exhausted`;
    the lapsed owner and the reason are audited. The owner died when its lease expired,
    or -- `dead_owner` -- when its Dagster run failed while it still owned the request.
    None, changing nothing, when the lease is live (renewed meanwhile) and the owner is
    not `dead_owner`, or the request is not running."""
    now = now_iso()

    def decide(req: PrivacyRequest) -> Move | None:
        if req.status != S.RUNNING:
            return None
        where: list[ColumnElement[bool]] = []
        if dead_owner is not None and req.lease_owner == dead_owner[:128]:
            lapsed = {"reason": str(FailureReason.RUN_FAILED), "lapsed_owner": req.lease_owner}
            why = f"the run of owner {req.lease_owner} (attempt {req.attempt}) failed"
        elif req.lease_expired(now):
            lapsed = {
                "reason": str(FailureReason.LEASE_EXPIRED),
                "lapsed_owner": req.lease_owner,
                "lease_expired_at": req.lease_expires_at,
            }
            why = (
                f"owner {req.lease_owner} of attempt {req.attempt} stopped renewing its "
                f"lease (expired {req.lease_expires_at})"
            )
            # Matched in the UPDATE too: a renewal that lands after our read wins.
            where.append(_lease_expired_at(now))
        else:
            return None
        if req.attempt < max_attempts:
            return Move(S.RECEIVED, dict(_RELEASED), detail=lapsed, where=where)
        error = (
            f"{why}; that was attempt {req.attempt} of {max_attempts}, so it is not taken "
            "over again: retry the request to run it"
        )
        progress = req.progress.model_copy(deep=True)
        progress.failure = Failure(reason=FailureReason.ATTEMPTS_EXHAUSTED, attempt=req.attempt)
        return Move(
            S.FAILED,
            {"error": error, **_RELEASED},
            progress=progress,
            detail={**lapsed, "reason": str(FailureReason.ATTEMPTS_EXHAUSTED), "error": error},
            where=where,
        )

    return compare_and_set(engine, request_id, actor, decide)


def mark_result_erased(
    engine: Engine, request_id: str, erasure_id: str, actor: str
) -> PrivacyRequest | None:
    """An erasure deleted this access export's file: a completed export becomes
    `erased` (no location, a note why); any other records it in its output and becomes
    `erased` when it completes. Returns the request when it became `erased`."""
    note = f"file deleted by erasure {erasure_id} at {now_iso()}: the subject was erased"

    def decide(req: PrivacyRequest) -> Move | None:
        output = req.progress.output
        if output is None or req.status == S.ERASED:
            return None
        progress = req.progress.model_copy(deep=True)
        assert progress.output is not None
        progress.output.removed = Removal(by=erasure_id, note=note)
        if req.status == S.COMPLETED:
            return Move(
                S.ERASED,
                {"result_location": None, "result_note": note},
                progress=progress,
                detail={"by": erasure_id, "note": note},
            )
        return Move(None, progress=progress)

    moved = compare_and_set(engine, request_id, actor, decide)
    return moved if moved is not None and moved.status == S.ERASED else None
