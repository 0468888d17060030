"""Sensors of the privacy requests (both RUNNING by default).

`privacy_request_sensor` first takes over the running requests whose owner died (lease
expired): each goes back to `received` as a new attempt, or fails once
EVENTSYNC_PRIVACY_MAX_ATTEMPTS attempts were made. Then it claims `received` requests
(new ones, retries, take-overs) -- `queued` for their attempt -- and launches
`erasure_job` / `access_export_job` with run_key `<request id>:<attempt>` and the
attempt as a tag, so a tick evaluated twice never starts two runs of one attempt, and
a run only ever works on the attempt it was launched for. Its cursor is the last
privacy_request_log id it has seen plus the run keys it requested last. It is evaluated
on every loop of the sensor daemon (every 5 s, dagster/_daemon/sensor.py), so a request
waits 2.5 s on average before its run is queued.

`privacy_failure_sensor` handles a failed run of a request: a run that still owned the
request when it failed died without its op recording why (run monitoring marks a run
whose process was killed failed), so the request is taken over as a new attempt at once
(no need to wait for the lease; bounded like every take-over); a run that failed before
it took its attempt (still `queued`) marks the request failed with the run's error.
Nothing changes when the op already recorded the reason, or the run no longer owns the
request's present attempt (a take-over, a retry or a completion came first).
"""

import json

import dagster as dg
from sqlalchemy import func, select

from eventsync.privacy import request_store, runner
from eventsync.privacy.states import FailureReason, RequestStatus
from eventsync.store.schema import privacy_request_log
from pipeline.privacy_jobs import (
    JOB_BY_KIND,
    PRIORITY_TAGS,
    access_export_job,
    erasure_job,
    launched_attempt,
    run_config,
)
from pipeline.runs.tags import ATTEMPT_TAG, REQUEST_TAG
from resources import EventStoreResource

MAX_PER_TICK = 50
ACTOR_FAILURE = "sensor:privacy_failure_sensor"


@dg.sensor(
    jobs=[erasure_job, access_export_job],
    # Below the sensor daemon's 5 s loop, so every loop evaluates it: with 5 here, a
    # tick that lands a little under 5 s after the last one is skipped (measured: every
    # other interval was 10 s).
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Queues received privacy requests and launches their job "
    "(run_key = request id + attempt).",
)
def privacy_request_sensor(context: dg.SensorEvaluationContext, store: EventStoreResource):
    engine = store.engine()
    for req in runner.reap(engine, actor="sensor:privacy_request_sensor"):
        if req.status == RequestStatus.FAILED:
            context.log.warning(f"{req.kind} {req.id}: its owner died; no attempt left, failed")
        else:
            context.log.warning(
                f"{req.kind} {req.id}: its owner died (lease expired); attempt {req.attempt}"
            )
    cursor = json.loads(context.cursor) if context.cursor else {}
    # `received` is the queue (retries go back to it); oldest first, bounded per tick.
    pending = sorted(
        request_store.list_requests(engine, status=RequestStatus.RECEIVED, limit=10_000),
        key=lambda r: (r.updated_at, r.id),
    )[:MAX_PER_TICK]
    with engine.connect() as conn:
        last_log = conn.execute(select(func.max(privacy_request_log.c.id))).scalar() or 0
    if not pending:
        if cursor.get("log_id") == last_log:
            return dg.SkipReason("no received privacy request")
        return dg.SensorResult(
            skip_reason="no received privacy request",
            cursor=json.dumps({**cursor, "log_id": last_log, "launched": []}),
        )
    requests = []
    for req in pending:
        try:
            queued = runner.claim(engine, req.id, actor="sensor:privacy_request_sensor")
        except runner.InvalidTransition:
            continue  # taken by a concurrent tick
        job = JOB_BY_KIND[queued.kind]
        run_key = f"{queued.id}:{queued.attempt}"
        requests.append(
            dg.RunRequest(
                run_key=run_key,
                job_name=job.name,
                run_config=run_config(queued.id),
                tags={REQUEST_TAG: queued.id, ATTEMPT_TAG: str(queued.attempt), **PRIORITY_TAGS},
            )
        )
        context.log.info(f"{queued.kind} {queued.id} attempt {queued.attempt}: {job.name}")
    with engine.connect() as conn:
        last_log = conn.execute(select(func.max(privacy_request_log.c.id))).scalar() or 0
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps({"log_id": last_log, "launched": [r.run_key for r in requests]}),
    )


def _run_error(context: dg.RunFailureSensorContext) -> str:
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        error = getattr(data, "error", None)
        # Dagster wraps the op's exception: report the op's own error (the cause).
        while error is not None and error.cause is not None and "Dagster" in (error.cls_name or ""):
            error = error.cause
        if error is not None:
            return f"step {event.step_key} failed: {error.message.strip()}"[:4000]
    return (context.failure_event.message or "run failed")[:4000]


@dg.run_failure_sensor(
    monitored_jobs=[erasure_job, access_export_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks the privacy request of a failed run as failed, with the run's error.",
)
def privacy_failure_sensor(context: dg.RunFailureSensorContext, store: EventStoreResource) -> None:
    request_id = context.dagster_run.tags.get(REQUEST_TAG) or (
        (context.dagster_run.run_config or {})
        .get("ops", {})
        .get("privacy_start", {})
        .get("config", {})
        .get("request_id")
    )
    if not request_id:
        context.log.warning(f"run {context.dagster_run.run_id} carries no privacy request id")
        return
    run_id, engine, actor = context.dagster_run.run_id, store.engine(), ACTOR_FAILURE
    current = request_store.get_request(engine, request_id)
    if current.status == RequestStatus.FAILED:
        context.log.info(f"privacy request {request_id}: already failed with its reason")
        return
    if current.status == RequestStatus.RUNNING and current.lease_owner == run_id:
        taken = runner.take_over_failed_run(engine, request_id, run_id, actor)
        if taken is not None:
            context.log.warning(
                f"privacy request {request_id}: its run died; "
                + (f"attempt {taken.attempt}" if taken.status != "failed" else "no attempt left")
            )
            return
    req = runner.fail(
        engine,
        request_id,
        f"run {run_id} failed: {_run_error(context)}",
        actor,
        FailureReason.RUN_FAILED,
        owner=run_id,
        attempt=launched_attempt(context.dagster_run),
    )
    context.log.info(
        f"privacy request {request_id}: "
        + ("marked failed" if req is not None else "not this run's attempt any more, left as is")
    )
