"""The one runner of privacy requests: it alone moves a request through its states
(pipeline/privacy/ledger.py draws them):

    received -> queued -> running -> completed | failed      (failed -> received: retry)

Every driver calls it: the Dagster ops (one op per step), the request sensor (`claim`,
`reap`), the run-failure sensor (`fail`), the CLI's `--now` (`run_all`) and retries.

A running request is owned: `start` gives its owner (a run id, or the CLI's host:pid) a
lease that `run_step` renews while a step works. When the owner dies the lease
expires: `reap` marks the request failed, and `retry` accepts it either way. A step
that an earlier attempt finished is skipped, so a retried request does no work twice;
an erasure's steps are idempotent and resume mid-step (erasure.py journals each day).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import Engine

from pipeline.privacy import access_export, lease, ledger, states, steps
from pipeline.privacy.opener import Opener, default_opener
from pipeline.privacy.verification import VerificationFailed
from resources.clock import now_iso
from resources.locks import export_lock

ACCESS_EXPORT_STEP = "write_csv"
InvalidTransition = states.InvalidTransition


def kind_steps(kind: str) -> tuple[str, ...]:
    """The steps of a request kind, in order."""
    if kind == "erasure":
        return tuple(steps.STEPS)
    if kind == "access_export":
        return (ACCESS_EXPORT_STEP,)
    raise ValueError(f"unknown privacy request kind {kind!r}")


def claim(engine: Engine, request_id: str, actor: str) -> ledger.PrivacyRequest:
    """received -> queued: a new attempt (raises InvalidTransition if already taken)."""
    return states.claim(engine, request_id, actor)


def start(engine: Engine, request_id: str, owner: str, actor: str) -> ledger.PrivacyRequest:
    """queued -> running: `owner` takes the request (and its lease)."""
    return states.start(engine, request_id, owner, actor, lease.seconds())


def adopt(engine: Engine, request_id: str, owner: str, actor: str) -> ledger.PrivacyRequest:
    """Make sure `owner` runs the request: nothing to do when it does; else take it
    (a Dagster re-execution of a failed run starts at the failed step, under a new run
    id, without the start op)."""
    req = ledger.get_request(engine, request_id)
    if req.status == "running" and req.lease_owner == owner:
        return req
    return start(engine, request_id, owner, actor)


def _step_function(
    engine: Engine, req: ledger.PrivacyRequest, step: str, opener: Opener, actor: str
) -> Any:
    if req.kind == "access_export":
        if step != ACCESS_EXPORT_STEP:
            raise ValueError(f"unknown access-export step {step!r}")
        return lambda r: access_export.run_access_export(engine, r.id, opener, actor)
    return steps.erasure_step(step, engine, opener)


def run_step(
    engine: Engine,
    request_id: str,
    step: str,
    actor: str,
    opener: Opener = default_opener,
    owner: str | None = None,
) -> dict[str, Any]:
    """Run one step through the ledger (skipped if an earlier attempt finished it; an
    erasure's `verify` always runs), renewing `owner`'s lease meanwhile. Steps that
    clean or write what exports hold take the workspace's export lock: an erasure's
    exclusively, an access export's shared (resources/locks.py says why)."""
    req = ledger.get_request(engine, request_id)
    if owner is not None and (req.status != "running" or req.lease_owner != owner):
        raise InvalidTransition(
            f"privacy request {request_id} is {req.status} under {req.lease_owner}, "
            f"not under {owner}: its lease was lost"
        )
    fn = _step_function(engine, req, step, opener, actor)
    force = step in steps.ALWAYS_RUN
    exclusive = req.kind == "erasure"
    locked = req.kind == "access_export" or step in steps.LOCKED_STEPS
    with lease.heartbeat(engine, request_id, owner) if owner else nullcontext():
        if not locked:
            result = ledger.run_step(engine, request_id, step, fn, actor, force=force)
        else:
            with export_lock(engine, req.workspace_id, exclusive=exclusive):
                result = ledger.run_step(engine, request_id, step, fn, actor, force=force)
    if step == "access_exports":
        _mark_removed(engine, req.id, result, actor)
    return result


def _mark_removed(engine: Engine, erasure_id: str, result: dict[str, Any], actor: str) -> None:
    """Access exports whose files the erasure deleted say so (idempotent)."""
    for request_id in result.get("requests_removed", []):
        states.mark_result_erased(engine, request_id, erasure_id, actor)


def finish(engine: Engine, request_id: str, actor: str) -> ledger.PrivacyRequest:
    """running -> completed: an erasure only once `verify` is done (its verified_at is
    stamped), an access export with the location of its file (or `erased`, when an
    erasure removed the file meanwhile)."""
    req = ledger.get_request(engine, request_id)
    done = req.progress.get("steps", {})
    if req.kind == "erasure":
        verify = done.get("verify", {})
        if verify.get("status") != "done":
            raise VerificationFailed(f"erasure {request_id} has not been verified")
        _mark_removed(engine, req.id, done.get("access_exports", {}), actor)
        return states.complete(engine, request_id, actor, verified_at=verify["verified_at"])
    written = done.get(ACCESS_EXPORT_STEP, {})
    if written.get("status") != "done":
        raise InvalidTransition(f"access export {request_id} has not been written")
    return states.complete(
        engine,
        request_id,
        actor,
        result_location=written["location"],
        result_note=written.get("note"),
    )


def fail(
    engine: Engine,
    request_id: str,
    error: str,
    actor: str,
    owner: str | None = None,
    attempt: int | None = None,
) -> ledger.PrivacyRequest | None:
    """-> failed with the reason. Returns None, changing nothing, for a completed
    request, or when `owner` / `attempt` is given and the request has moved on (a retry
    took it over: the old owner's failure is not the request's)."""
    return states.fail(engine, request_id, error, actor, owner, attempt)


def retry(
    engine: Engine, request_id: str, actor: str, workspace_id: str | None = None
) -> ledger.PrivacyRequest:
    """failed (or running with an expired lease) -> received: the request sensor (or
    `run_all`) starts a new attempt."""
    return states.retry(engine, request_id, actor, workspace_id)


def reap(engine: Engine, actor: str) -> list[ledger.PrivacyRequest]:
    """Mark failed every running request whose owner stopped renewing its lease."""
    now = now_iso()
    out = []
    for req in ledger.list_requests(engine, status="running", limit=10_000):
        if states.lease_expired(req, now):
            error = (
                f"owner {req.lease_owner} stopped renewing its lease (expired "
                f"{req.lease_expires_at}); retry the request to finish it"
            )
            failed = states.fail(engine, req.id, error, actor, owner=req.lease_owner)
            if failed is not None:
                out.append(failed)
    return out


def run_all(
    engine: Engine,
    request_id: str,
    actor: str,
    owner: str | None = None,
    opener: Opener = default_opener,
) -> ledger.PrivacyRequest:
    """Claim (if received), start, every step in order, finish -- in this process (the
    CLI's `--now`, benchmarks). Any error marks the request failed, then re-raises."""
    owner = owner or lease.local_owner("inline")
    if ledger.get_request(engine, request_id).status == "received":
        claim(engine, request_id, actor)
    req = start(engine, request_id, owner, actor)
    try:
        for step in kind_steps(req.kind):
            run_step(engine, request_id, step, actor, opener, owner)
        return finish(engine, request_id, actor)
    except Exception as exc:
        fail(engine, request_id, f"{type(exc).__name__}: {exc}", actor, owner)
        raise
