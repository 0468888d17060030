"""eventsync's export job on a chosen executor.

``pipeline.definitions.defs`` picks its executor once, at import; tests that compare
executors in one process rebuild the same assets and resources here instead. The
function is module-level so ``dg.reconstructable`` can rebuild it in run and Celery
worker processes."""

import dagster as dg

from assets.events import events_daily, events_export
from pipeline.executors import executor_from_env
from pipeline.jobs import daily_sync_job
from resources import build_resources


def _export_job(executor: str | None) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[events_daily, events_export],
        jobs=[daily_sync_job],
        resources=build_resources(),
        executor=executor_from_env(executor),
    )
    return defs.resolve_job_def("daily_sync_job")


# One module-level function per executor: Dagster caches what a reconstructable target
# returns, so one function reading the environment would keep the first executor.
def export_job_on_configured_executor() -> dg.JobDefinition:
    return _export_job(None)


def export_job_in_process() -> dg.JobDefinition:
    return _export_job("in_process")


def export_job_multiprocess() -> dg.JobDefinition:
    return _export_job("multiprocess")


def export_job_celery() -> dg.JobDefinition:
    return _export_job("celery")
