"""Op jobs of the privacy requests and the daily retention schedule.

`erasure_job` runs one op per erasure step; each op updates the request's ledger
entry as it goes, and a step a previous attempt finished is skipped, so a retried
request does no work twice. Any failing op marks the request failed with its error
(the run-failure sensor does it too, for failures outside the ops).
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from pipeline.privacy import access_export, erasure, ledger, retention
from pipeline.syncs.config import Sync
from resources.destinations.base import Destination
from resources.destinations.resource import DestinationsResource
from resources.store import EventStoreResource

REQUEST_TAG = "eventsync/privacy_request"
ATTEMPT_TAG = "eventsync/privacy_attempt"


class PrivacyRequestConfig(dg.Config):
    request_id: str


def _actor(context: dg.OpExecutionContext) -> str:
    return f"job:{context.run_id}"


def _opener(destinations: DestinationsResource) -> Callable[[Sync], Destination]:
    return destinations.open


def _guard(context: dg.OpExecutionContext, store: EventStoreResource, request_id: str, fn):  # type: ignore[no-untyped-def]
    """Run `fn`; on error mark the request failed with the reason, then re-raise."""
    try:
        return fn()
    except Exception as exc:
        ledger.fail(store.engine(), request_id, f"{type(exc).__name__}: {exc}", _actor(context))
        raise


@dg.op(description="queued -> running: the run takes the request.")
def privacy_start(
    context: dg.OpExecutionContext, config: PrivacyRequestConfig, store: EventStoreResource
) -> str:
    req = ledger.start(store.engine(), config.request_id, context.run_id, _actor(context))
    context.log.info(f"{req.kind} {req.id} attempt {req.attempt} running")
    return req.id


def _erasure_op(step: str, description: str) -> dg.OpDefinition:
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
            lambda: erasure.run_step(
                store.engine(), request_id, step, _opener(destinations), _actor(context)
            ),
        )
        context.log.info(f"erasure {request_id} {step}: {_summary(result)}")
        return request_id

    return _op


def _summary(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v}" for k, v in result.items() if k not in ("started_at", "finished_at")
    )


erasure_suppress = _erasure_op(
    "suppress", "Add the subjects to the suppression list (before anything else)."
)
erasure_store = _erasure_op("store", "Delete the subjects' events and profiles from the store.")
erasure_staging = _erasure_op("staging", "Filter the subjects out of staged partitions.")
erasure_quarantine = _erasure_op("quarantine", "Filter the subjects out of quarantine files.")
erasure_access_exports = _erasure_op(
    "access_exports", "Delete earlier access-export files of the subjects."
)
erasure_exports = _erasure_op(
    "exports", "Rewrite the exported days that held the subjects (or write tombstones)."
)
erasure_verify = _erasure_op(
    "verify", "Re-read rewritten files, the store, staging and quarantine: no row may remain."
)


@dg.op(description="running -> completed with verified_at.")
def erasure_complete(
    context: dg.OpExecutionContext, request_id: str, store: EventStoreResource
) -> None:
    req = _guard(
        context,
        store,
        request_id,
        lambda: erasure.finish(store.engine(), request_id, _actor(context)),
    )
    context.log.info(f"erasure {req.id} completed, verified at {req.verified_at}")


@dg.job(
    description="Erase users/companies from the store, local files and every exported day, "
    "then verify. Config: ops.privacy_start.config.request_id.",
    tags={"eventsync/kind": "erasure"},
)
def erasure_job() -> None:
    rid = privacy_start()
    for op in (
        erasure_suppress,
        erasure_store,
        erasure_staging,
        erasure_quarantine,
        erasure_access_exports,
        erasure_exports,
        erasure_verify,
    ):
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

    def run() -> ledger.PrivacyRequest:
        result = ledger.run_step(
            engine,
            request_id,
            "write_csv",
            lambda r: access_export.run_access_export(
                engine, r.id, _opener(destinations), _actor(context)
            ),
            _actor(context),
        )
        return ledger.complete(
            engine, request_id, _actor(context), result_location=result["location"]
        )

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
