"""Op jobs of the privacy requests and the daily retention schedule.

Each op is one step of `pipeline.privacy.runner`, the one runner that moves a request
through its states: `privacy_start` takes the request, one op per erasure step (built
from `erasure.STEPS`, so the UI shows each step), then `*_complete`. A step an earlier
attempt finished is skipped. A failing op marks the request failed through the runner
(the run-failure sensor does it too, for failures outside the ops). Logs name request
ids, steps and counts -- never a subject id.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from pipeline.defs.resources import DestinationsResource, EventStoreResource
from pipeline.privacy import erasure, retention, runner

REQUEST_TAG = "eventsync/privacy_request"
ATTEMPT_TAG = "eventsync/privacy_attempt"


class PrivacyRequestConfig(dg.Config):
    request_id: str


def _actor(context: dg.OpExecutionContext) -> str:
    return f"job:{context.run_id}"


def _guard(
    context: dg.OpExecutionContext, store: EventStoreResource, request_id: str, fn: Callable
) -> Any:
    """Run `fn`; on error mark the request failed with the reason, then re-raise."""
    try:
        return fn()
    except Exception as exc:
        runner.fail(store.engine(), request_id, f"{type(exc).__name__}: {exc}", _actor(context))
        raise


def _summary(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v}" for k, v in result.items() if k not in ("started_at", "finished_at")
    )


@dg.op(description="queued -> running: the run takes the request.")
def privacy_start(
    context: dg.OpExecutionContext, config: PrivacyRequestConfig, store: EventStoreResource
) -> str:
    req = _guard(
        context,
        store,
        config.request_id,
        lambda: runner.start(store.engine(), config.request_id, context.run_id, _actor(context)),
    )
    context.log.info(f"{req.kind} {req.id} attempt {req.attempt} running")
    return req.id


def _step_op(step: str, description: str) -> dg.OpDefinition:
    @dg.op(name=f"erasure_{step}", description=description)
    def _op(
        context: dg.OpExecutionContext,
        request_id: str,
        store: EventStoreResource,
        destinations: DestinationsResource,
    ) -> str:
        result = _guard(
            context,
            store,
            request_id,
            lambda: runner.run_step(
                store.engine(), request_id, step, _actor(context), destinations.open
            ),
        )
        context.log.info(f"erasure {request_id} {step}: {_summary(result)}")
        return request_id

    return _op


ERASURE_OPS = [_step_op(step, description) for step, description in erasure.STEPS.items()]


@dg.op(description="running -> completed with verified_at.")
def erasure_complete(
    context: dg.OpExecutionContext, request_id: str, store: EventStoreResource
) -> None:
    req = _guard(
        context,
        store,
        request_id,
        lambda: runner.finish(store.engine(), request_id, _actor(context)),
    )
    context.log.info(f"erasure {req.id} completed, verified at {req.verified_at}")


@dg.job(
    description="Erase users/companies from the store, local files and every exported day, "
    "then verify. Config: ops.privacy_start.config.request_id.",
    tags={"eventsync/kind": "erasure"},
)
def erasure_job() -> None:
    rid = privacy_start()
    for op in ERASURE_OPS:
        rid = op(rid)
    erasure_complete(rid)


@dg.op(description="Write the subject's events and profile as CSV and complete the request.")
def access_export_write(
    context: dg.OpExecutionContext,
    request_id: str,
    store: EventStoreResource,
    destinations: DestinationsResource,
) -> None:
    engine = store.engine()

    def run() -> Any:
        runner.run_step(
            engine, request_id, runner.ACCESS_EXPORT_STEP, _actor(context), destinations.open
        )
        return runner.finish(engine, request_id, _actor(context))

    req = _guard(context, store, request_id, run)
    context.log.info(f"access export {req.id} written to {req.result_location}")


@dg.job(
    description="One user's or company's events and profile as CSV. "
    "Config: ops.privacy_start.config.request_id.",
    tags={"eventsync/kind": "access_export"},
)
def access_export_job() -> None:
    access_export_write(privacy_start())


@dg.op(description="Delete events older than each workspace's retention days (store, staging).")
def retention_purge(context: dg.OpExecutionContext, store: EventStoreResource) -> None:
    results = retention.purge_expired(store.engine(), actor=_actor(context))
    for r in results:
        context.log.info(
            f"{r['workspace_id']}: {r['events_removed']} events older than "
            f"{r['deleted_before']} removed"
        )


@dg.job(description="Apply workspace retention (daily).")
def retention_job() -> None:
    retention_purge()


retention_schedule = dg.ScheduleDefinition(
    name="retention_schedule",
    job=retention_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="04:30 UTC daily: delete events older than each workspace's retention days.",
)


def run_config(request_id: str) -> dict[str, Any]:
    return {"ops": {"privacy_start": {"config": {"request_id": request_id}}}}


JOB_BY_KIND = {"erasure": erasure_job, "access_export": access_export_job}
