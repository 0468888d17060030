"""The one runner of privacy requests: it alone moves a request through its states
(eventsync/privacy/states.py draws them; eventsync/privacy/transitions.py makes each
move one compare-and-set on (request, attempt, owner)).

Every driver calls it: the Dagster ops (one op per step), the request sensor (`claim`,
`reap`), the run-failure sensor (`fail`), the CLI's `--now` (`run_all`) and retries.

A running request is owned: `start` gives its owner (a run id, or the CLI's host:pid)
the attempt's lease, which `run_step` renews while a step works. When the owner dies
the lease expires and `reap` takes the request over as a new attempt (at most
EVENTSYNC_PRIVACY_MAX_ATTEMPTS of them; then it fails with that reason), which the
request sensor launches -- no `retry` needed. A step that an earlier attempt finished
is skipped, so a new attempt does no work twice; an erasure's steps are idempotent and
resume mid-step (erasure.py journals each day). Whatever the old owner still does is
refused: every write is fenced on its attempt.

Each step loads the request once (`StepContext`) and passes it down; the step changes
the typed progress in memory and saves it through the fence.
"""

from __future__ import annotations

from contextlib import nullcontext, suppress

from sqlalchemy import Engine

from eventsync.clock import now_iso
from eventsync.privacy import access_export, lease, request_store, steps, transitions
from eventsync.privacy.opener import Opener, default_opener
from eventsync.privacy.progress import StepRecord
from eventsync.privacy.request_store import PrivacyRequest
from eventsync.privacy.states import (
    FailureReason,
    InvalidTransition,
    LeaseLost,
    RequestKind,
    RequestStatus,
    StepStatus,
)
from eventsync.privacy.step_context import StepContext
from eventsync.privacy.verification import VerificationFailed
from eventsync.store.locks import export_lock

__all__ = ["InvalidTransition", "LeaseLost"]

ACCESS_EXPORT_STEP = "write_csv"


def kind_steps(kind: str) -> tuple[str, ...]:
    """The steps of a request kind, in order."""
    if kind == RequestKind.ERASURE:
        return tuple(steps.STEPS)
    if kind == RequestKind.ACCESS_EXPORT:
        return (ACCESS_EXPORT_STEP,)
    raise ValueError(f"unknown privacy request kind {kind!r}")


def claim(engine: Engine, request_id: str, actor: str) -> PrivacyRequest:
    """received -> queued for its attempt (InvalidTransition if already taken)."""
    return transitions.claim(engine, request_id, actor)


def start(
    engine: Engine, request_id: str, owner: str, actor: str, attempt: int | None = None
) -> PrivacyRequest:
    """queued -> running: `owner` takes the attempt (`attempt`: the one its run was
    launched for; LeaseLost when the request has moved on to another)."""
    return transitions.start(engine, request_id, owner, actor, lease.seconds(), attempt)


def adopt(
    engine: Engine, request_id: str, owner: str, actor: str, reexecution: bool = False
) -> PrivacyRequest:
    """Make sure `owner` runs the request: nothing to do when it does. A Dagster
    re-execution of a failed run (`reexecution`) starts at the failed step, under a new
    run id, without the start op: it takes a failed request over as a new attempt.
    Anything else is an owner that lost its lease (LeaseLost)."""
    req = request_store.get_request(engine, request_id)
    if req.status == RequestStatus.RUNNING and req.lease_owner == owner[:128]:
        return req
    if reexecution and req.status == RequestStatus.FAILED:
        return transitions.reexecute(engine, request_id, owner, actor, lease.seconds())
    raise LeaseLost(
        f"privacy request {request_id} is {req.status} under {req.lease_owner}, "
        f"not under {owner}: its lease was lost"
    )


def _step_function(req: PrivacyRequest, step: str) -> steps.StepFunction:
    if req.kind == RequestKind.ACCESS_EXPORT:
        if step != ACCESS_EXPORT_STEP:
            raise ValueError(f"unknown access-export step {step!r}")
        return access_export.run_access_export
    return steps.erasure_step(step)


def _owned(engine: Engine, request_id: str, owner: str) -> PrivacyRequest:
    """The request, loaded once for a step of `owner`'s (LeaseLost if not its own)."""
    req = request_store.get_request(engine, request_id)
    if req.status != RequestStatus.RUNNING or req.lease_owner != owner[:128]:
        raise LeaseLost(
            f"privacy request {request_id} is {req.status} under {req.lease_owner}, "
            f"not under {owner}: its lease was lost"
        )
    return req


def _record(ctx: StepContext, step: str, fn: steps.StepFunction) -> StepRecord:
    """Run `fn`, its status, timestamps and result recorded in the progress (and the
    audit log)."""
    progress = ctx.progress
    prior = progress.steps.get(step)
    started = now_iso()
    progress.steps[step] = StepRecord(
        status=StepStatus.RUNNING, started_at=started, result=prior.result if prior else {}
    )
    ctx.save()
    try:
        result = fn(ctx)
    except LeaseLost:
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        record = progress.steps[step]
        record.status, record.error, record.finished_at = StepStatus.FAILED, error, now_iso()
        # A taken-over attempt's failure is not the request's: nothing to record then.
        with suppress(LeaseLost):
            ctx.save(f"step_failed:{step}", {"error": error})
        raise
    record = StepRecord(
        status=StepStatus.DONE, started_at=started, finished_at=now_iso(), result=result
    )
    progress.steps[step] = record
    ctx.save(f"step:{step}", result)
    return record


def run_step(
    engine: Engine,
    request_id: str,
    step: str,
    actor: str,
    opener: Opener = default_opener,
    *,
    owner: str,
) -> StepRecord:
    """Run one step of `owner`'s attempt (skipped if an earlier attempt finished it; an
    erasure's `verify` always runs), renewing the lease meanwhile. Steps that clean or
    write what exports hold take the workspace's export lock: an erasure's exclusively,
    an access export's shared (eventsync/store/locks.py says why)."""
    req = _owned(engine, request_id, owner)
    prior = req.progress.steps.get(step)
    if prior is not None and prior.done and step not in steps.ALWAYS_RUN:
        return prior
    fn = _step_function(req, step)
    exclusive = req.kind == RequestKind.ERASURE
    locked = req.kind == RequestKind.ACCESS_EXPORT or step in steps.LOCKED_STEPS
    with lease.heartbeat(engine, req) as lost:
        ctx = StepContext(engine, req, actor, opener, lost)
        held = export_lock(engine, req.workspace_id, exclusive=exclusive)
        with held if locked else nullcontext():
            record = _record(ctx, step, fn)
    if step == "access_exports":
        _mark_removed(engine, req.id, record.result.get("requests_removed", []), actor)
    return record


def _mark_removed(engine: Engine, erasure_id: str, request_ids: list[str], actor: str) -> None:
    """Access exports whose files the erasure deleted say so (idempotent)."""
    for request_id in request_ids:
        transitions.mark_result_erased(engine, request_id, erasure_id, actor)


def finish(engine: Engine, request_id: str, actor: str, *, owner: str) -> PrivacyRequest:
    """running -> completed by its owner: an erasure only once `verify` is done (its
    verified_at is stamped), an access export with the location of its file (or
    `erased`, when an erasure removed the file meanwhile)."""
    req = _owned(engine, request_id, owner)
    done = req.progress.steps
    if req.kind == RequestKind.ERASURE:
        verify = done.get("verify")
        if verify is None or not verify.done:
            raise VerificationFailed(f"erasure {request_id} has not been verified")
        access = done.get("access_exports")
        removed = access.result.get("requests_removed", []) if access else []
        _mark_removed(engine, req.id, removed, actor)
        return transitions.complete(engine, req, actor, verified_at=verify.result["verified_at"])
    written = done.get(ACCESS_EXPORT_STEP)
    if written is None or not written.done:
        raise InvalidTransition(f"access export {request_id} has not been written")
    return transitions.complete(
        engine,
        req,
        actor,
        result_location=written.result["location"],
        result_note=written.result.get("note"),
    )


def fail(
    engine: Engine,
    request_id: str,
    error: str,
    actor: str,
    reason: FailureReason = FailureReason.STEP_FAILED,
    *,
    owner: str | None = None,
    attempt: int | None = None,
    step: str | None = None,
) -> PrivacyRequest | None:
    """-> failed with the reason, for the failure of `owner`'s run of `attempt`.
    Returns None, changing nothing, unless that is still the request's present (a
    take-over, a retry or a completion came first: the old owner's failure is not the
    request's)."""
    return transitions.fail(
        engine, request_id, error, actor, reason, owner=owner, attempt=attempt, step=step
    )


def retry(
    engine: Engine, request_id: str, actor: str, workspace_id: str | None = None
) -> PrivacyRequest:
    """failed (or running with an expired lease) -> received as a new attempt: the
    request sensor (or `run_all`) runs it."""
    return transitions.retry(engine, request_id, actor, workspace_id)


def reap(engine: Engine, actor: str, max_attempts: int | None = None) -> list[PrivacyRequest]:
    """Take over every running request whose owner stopped renewing its lease: back to
    `received` as a new attempt, or `failed` (attempts_exhausted) after `max_attempts`
    (EVENTSYNC_PRIVACY_MAX_ATTEMPTS). A lease renewed meanwhile is left alone."""
    limit = max_attempts or lease.max_attempts()
    now = now_iso()
    out = []
    for req in request_store.list_requests(engine, status=RequestStatus.RUNNING, limit=10_000):
        if req.lease_expired(now):
            moved = transitions.take_over(engine, req.id, actor, limit)
            if moved is not None:
                out.append(moved)
    return out


def take_over_failed_run(
    engine: Engine, request_id: str, run_id: str, actor: str, max_attempts: int | None = None
) -> PrivacyRequest | None:
    """The Dagster run `run_id` failed while it still owned the request (its process
    died, or its op could not record the failure): take the request over as a new
    attempt now, as `reap` would once the lease expired (bounded the same way). None
    when the run no longer owns it."""
    limit = max_attempts or lease.max_attempts()
    return transitions.take_over(engine, request_id, actor, limit, dead_owner=run_id)


def run_all(
    engine: Engine,
    request_id: str,
    actor: str,
    owner: str | None = None,
    opener: Opener = default_opener,
) -> PrivacyRequest:
    """Claim (if received), start, every step in order, finish -- in this process (the
    CLI's `--now`, benchmarks). Any error marks the attempt failed (unless it was taken
    over meanwhile), then re-raises."""
    owner = owner or lease.local_owner("inline")
    if request_store.get_request(engine, request_id).status == RequestStatus.RECEIVED:
        claim(engine, request_id, actor)
    req = start(engine, request_id, owner, actor)
    step = None
    try:
        for step in kind_steps(req.kind):
            run_step(engine, request_id, step, actor, opener, owner=owner)
        step = None
        return finish(engine, request_id, actor, owner=owner)
    except Exception as exc:
        fail(
            engine,
            request_id,
            f"{type(exc).__name__}: {exc}",
            actor,
            owner=owner,
            attempt=req.attempt,
            step=step,
        )
        raise
