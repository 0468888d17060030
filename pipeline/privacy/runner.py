"""The one runner of privacy requests: it alone moves a request through its states
(docs/architecture.md, "A privacy request"):

    received -> queued -> running -> completed | failed      (failed -> received: retry)

Every driver calls it: the Dagster ops (one op per step), the request sensor (`claim`),
the run-failure sensor (`fail`), the CLI's `--now` (`run_all`) and retries. A step that
an earlier attempt finished is skipped (`ledger.run_step`), so a retried request does
no work twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from pipeline.privacy import access_export, erasure, ledger
from pipeline.privacy.opener import Opener, default_opener
from resources.locks import export_lock

ACCESS_EXPORT_STEP = "write_csv"


def steps(kind: str) -> tuple[str, ...]:
    """The steps of a request kind, in order."""
    if kind == "erasure":
        return tuple(erasure.STEPS)
    if kind == "access_export":
        return (ACCESS_EXPORT_STEP,)
    raise ValueError(f"unknown privacy request kind {kind!r}")


def claim(engine: Engine, request_id: str, actor: str) -> ledger.PrivacyRequest:
    """received -> queued: a new attempt (raises InvalidTransition if already taken)."""
    return ledger.claim(engine, request_id, actor)


def start(engine: Engine, request_id: str, run_id: str, actor: str) -> ledger.PrivacyRequest:
    """queued -> running: the run that executes the steps takes the request."""
    return ledger.start(engine, request_id, run_id, actor)


def run_step(
    engine: Engine,
    request_id: str,
    step: str,
    actor: str,
    opener: Opener = default_opener,
) -> dict[str, Any]:
    """Run one step through the ledger (skipped if an earlier attempt finished it;
    an erasure's `verify` always runs). Steps that clean what exports write hold the
    workspace's export lock exclusively (resources/locks.py says why)."""
    req = ledger.get_request(engine, request_id)
    if req.kind == "access_export":
        if step != ACCESS_EXPORT_STEP:
            raise ValueError(f"unknown access-export step {step!r}")
        return ledger.run_step(
            engine,
            request_id,
            step,
            lambda r: access_export.run_access_export(engine, r.id, opener, actor),
            actor,
        )
    fn = erasure.step_function(step, engine, opener)
    force = step == "verify"
    if step not in erasure.LOCKED_STEPS:
        return ledger.run_step(engine, request_id, step, fn, actor, force=force)
    with export_lock(engine, req.workspace_id, exclusive=True):
        return ledger.run_step(engine, request_id, step, fn, actor, force=force)


def finish(engine: Engine, request_id: str, actor: str) -> ledger.PrivacyRequest:
    """running -> completed: an erasure only once `verify` is done (its verified_at is
    stamped), an access export with the location of its file."""
    req = ledger.get_request(engine, request_id)
    done = req.progress.get("steps", {})
    if req.kind == "erasure":
        verify = done.get("verify", {})
        if verify.get("status") != "done":
            raise erasure.VerificationFailed(f"erasure {request_id} has not been verified")
        return ledger.complete(engine, request_id, actor, verified_at=verify["verified_at"])
    written = done.get(ACCESS_EXPORT_STEP, {})
    if written.get("status") != "done":
        raise ledger.InvalidTransition(f"access export {request_id} has not been written")
    return ledger.complete(engine, request_id, actor, result_location=written["location"])


def fail(engine: Engine, request_id: str, error: str, actor: str) -> ledger.PrivacyRequest | None:
    """-> failed with the reason (a completed request stays completed: returns None)."""
    return ledger.fail(engine, request_id, error, actor)


def retry(
    engine: Engine, request_id: str, actor: str, workspace_id: str | None = None
) -> ledger.PrivacyRequest:
    """failed -> received: the sensor (or `run_all`) starts a new attempt."""
    return ledger.retry(engine, request_id, actor, workspace_id)


def run_all(
    engine: Engine,
    request_id: str,
    actor: str,
    run_id: str = "inline",
    opener: Opener = default_opener,
) -> ledger.PrivacyRequest:
    """Claim (if received), start, every step in order, finish -- in this process (the
    CLI's `--now`, benchmarks). Any error marks the request failed, then re-raises."""
    if ledger.get_request(engine, request_id).status == "received":
        claim(engine, request_id, actor)
    req = start(engine, request_id, run_id, actor)
    try:
        for step in steps(req.kind):
            run_step(engine, request_id, step, actor, opener)
        return finish(engine, request_id, actor)
    except Exception as exc:
        fail(engine, request_id, f"{type(exc).__name__}: {exc}", actor)
        raise
