"""Op jobs of the privacy requests and the retention job (its schedule: pipeline/schedules.py).

Each op is one step of `eventsync.privacy.runner`, the one runner that moves a request
through its states: `privacy_start` takes the attempt the run was launched for (tag
`eventsync/privacy_attempt`; the run id owns its lease), one op per erasure step (built from
`steps.STEPS`, so the UI shows each step), then `*_complete`. A step an earlier attempt
finished is skipped. A failing op marks the attempt failed through the runner (the
run-failure sensor does it too, for failures outside the ops); a run whose attempt was
taken over meanwhile changes nothing. A re-execution of a failed run (the UI's button)
takes the failed request over as a new attempt at its first op.

Seconds, not minutes: the privacy jobs run their ops in the run's own process
(`in_process_executor`), not one process per op -- on a 2-core machine each op process
cost ~3 s of imports, seven of them most of an erasure's 32 s. The ops pass nothing to
each other (`Nothing` dependencies keep the order and the graph): each reads the request
id from the run config (`ops.privacy_start.config.request_id`, which a re-execution
inherits), so no output is pickled, stored and loaded by an IO manager between steps --
that was 40 of the 83 event-log writes of a one-user erasure run.

Nothing personal reaches Dagster's storage: run config and tags carry the request id,
logs carry request ids, steps and counts; a failing op's error is recorded in the
privacy ledger (which may name subjects) and Dagster gets a message without it.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from eventsync.privacy import retention, runner, steps
from eventsync.privacy.progress import StepRecord
from eventsync.privacy.states import FailureReason
from pipeline.runs.tags import ATTEMPT_TAG, KIND_TAG, NO_RUN_RETRIES, PRIORITY_TAG
from resources import DestinationsResource, EventStoreResource

# Privacy runs leave the run queue before export runs waiting there.
PRIORITY_TAGS = {PRIORITY_TAG: "50"}


class PrivacyRequestConfig(dg.Config):
    request_id: str


def _actor(context: dg.OpExecutionContext) -> str:
    return f"job:{context.run_id}"


def _request_id(context: dg.OpExecutionContext) -> str:
    """The request of this run: the config of `privacy_start` (validated by Dagster)."""
    return context.run_config["ops"]["privacy_start"]["config"]["request_id"]


AFTER = {"after": dg.In(dg.Nothing)}
DONE = dg.Out(dg.Nothing)


def _guard(
    context: dg.OpExecutionContext,
    store: EventStoreResource,
    request_id: str,
    what: str,
    fn: Callable[[], Any],
) -> Any:
    """Run `fn`. On error: the request is marked failed with the full reason (in the
    privacy ledger), and Dagster gets a Failure that names the request and the error
    type only -- an exception's text can hold ids (SQL parameters, file contents)."""
    try:
        return fn()
    except Exception as exc:
        runner.fail(
            store.engine(),
            request_id,
            f"run {context.run_id}: {what} failed: {type(exc).__name__}: {exc}",
            _actor(context),
            FailureReason.STEP_FAILED,
            owner=context.run_id,
            attempt=launched_attempt(context.run),
            step=what.removeprefix("step ") if what.startswith("step ") else None,
        )
        raise dg.Failure(
            description=f"privacy request {request_id}: {what} failed ({type(exc).__name__}); "
            f"the reason is recorded with the request (eventsync privacy status {request_id})",
            allow_retries=False,
        ) from None


def run_attempt(tags: Any) -> int | None:
    """The request attempt a run was launched for (the sensor tags it), if any."""
    value = tags.get(ATTEMPT_TAG)
    return int(value) if value and value.isdigit() else None


def is_reexecution(run: dg.DagsterRun) -> bool:
    return run.parent_run_id is not None


def launched_attempt(run: dg.DagsterRun) -> int | None:
    """The attempt a run was launched for; None for a re-execution, which inherits its
    parent's tag but runs a new attempt of its own."""
    return None if is_reexecution(run) else run_attempt(run.tags)


def _summary(result: dict[str, Any]) -> str:
    """Counts only (a step's result may list file paths or request ids)."""
    return ", ".join(
        f"{k}={v if isinstance(v, int | float) else len(v)}"
        for k, v in sorted(result.items())
        if isinstance(v, int | float | list | dict) and not isinstance(v, bool)
    )


@dg.op(description="queued -> running: the run takes the request.", out=DONE)
def privacy_start(
    context: dg.OpExecutionContext, config: PrivacyRequestConfig, store: EventStoreResource
) -> None:
    def take() -> Any:
        engine, actor = store.engine(), _actor(context)
        if is_reexecution(context.run):
            return runner.adopt(engine, config.request_id, context.run_id, actor, reexecution=True)
        attempt = launched_attempt(context.run)
        return runner.start(engine, config.request_id, context.run_id, actor, attempt)

    req = _guard(context, store, config.request_id, "start", take)
    context.log.info(f"{req.kind} {req.id} attempt {req.attempt} running")


def _run_step(
    context: dg.OpExecutionContext,
    store: EventStoreResource,
    destinations: DestinationsResource,
    request_id: str,
    step: str,
) -> StepRecord:
    engine = store.engine()
    _adopt(context, store, request_id)
    return runner.run_step(
        engine, request_id, step, _actor(context), destinations.open, owner=context.run_id
    )


def _adopt(context: dg.OpExecutionContext, store: EventStoreResource, request_id: str) -> None:
    """A re-execution of a failed run starts at the failed op, under a new run id: it
    takes the request over there. Any other run must own it already."""
    reexecution = is_reexecution(context.run)
    runner.adopt(store.engine(), request_id, context.run_id, _actor(context), reexecution)


def _step_op(step: str, description: str) -> dg.OpDefinition:
    @dg.op(name=f"erasure_{step}", description=description, ins=AFTER, out=DONE)
    def _op(
        context: dg.OpExecutionContext,
        store: EventStoreResource,
        destinations: DestinationsResource,
    ) -> None:
        request_id = _request_id(context)
        result = _guard(
            context,
            store,
            request_id,
            f"step {step}",
            lambda: _run_step(context, store, destinations, request_id, step),
        )
        context.log.info(f"erasure {request_id} {step}: {_summary(result.result)}")

    return _op


ERASURE_OPS = [_step_op(step, description) for step, description in steps.STEPS.items()]


@dg.op(description="running -> completed with verified_at.", ins=AFTER)
def erasure_complete(context: dg.OpExecutionContext, store: EventStoreResource) -> None:
    request_id = _request_id(context)

    def complete() -> Any:
        _adopt(context, store, request_id)
        return runner.finish(store.engine(), request_id, _actor(context), owner=context.run_id)

    req = _guard(context, store, request_id, "complete", complete)
    context.log.info(f"erasure {req.id} completed, verified at {req.verified_at}")


def _request_job(kind: str, what: str) -> Any:
    """`@dg.job` of one kind of privacy request: its steps in one process, and no run
    retries by Dagster (a request's own attempts and lease take over a dead run)."""
    return dg.job(
        description=f"{what} Config: ops.privacy_start.config.request_id.",
        tags={KIND_TAG: kind, **NO_RUN_RETRIES},
        executor_def=dg.in_process_executor,
    )


@_request_job(
    "erasure",
    "Erase users/companies from the store, local files and every exported day, then verify.",
)
def erasure_job() -> None:
    done = privacy_start()
    for op in ERASURE_OPS:
        done = op(after=done)
    erasure_complete(after=done)


@dg.op(
    description="Write the subject's events and profile as CSV and complete the request.",
    ins=AFTER,
)
def access_export_write(
    context: dg.OpExecutionContext,
    store: EventStoreResource,
    destinations: DestinationsResource,
) -> None:
    request_id = _request_id(context)
    engine = store.engine()

    def run() -> Any:
        _run_step(context, store, destinations, request_id, runner.ACCESS_EXPORT_STEP)
        return runner.finish(engine, request_id, _actor(context), owner=context.run_id)

    req = _guard(context, store, request_id, "write", run)
    context.log.info(f"access export {req.id}: {req.status}")


@_request_job("access_export", "One user's or company's events and profile as CSV.")
def access_export_job() -> None:
    access_export_write(after=privacy_start())


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


def run_config(request_id: str) -> dict[str, Any]:
    return {"ops": {"privacy_start": {"config": {"request_id": request_id}}}}


JOB_BY_KIND = {"erasure": erasure_job, "access_export": access_export_job}
