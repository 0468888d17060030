"""The Dagster code location (workspace.yaml loads `pipeline.definitions`)."""

from __future__ import annotations

import os

import dagster as dg

from pipeline.defs.executors import executor_from_env
from pipeline.defs.exports import events_daily, events_export
from pipeline.defs.freshness import export_freshness_sensor
from pipeline.defs.jobs import daily_sync_job
from pipeline.defs.privacy_jobs import (
    access_export_job,
    erasure_job,
    retention_job,
    retention_schedule,
)
from pipeline.defs.privacy_sensors import privacy_failure_sensor, privacy_request_sensor
from pipeline.defs.resync import resync_job, weekly_resync_schedule
from pipeline.defs.schedules import daily_sync_schedule
from pipeline.defs.sensors import new_sync_sensor
from resources.destinations.resource import DestinationsResource
from resources.store import EventStoreResource


def _store() -> EventStoreResource:
    # The URL may hold a password: read it from the environment at run time (EnvVar),
    # never copy it into run config.
    if os.environ.get("EVENTSYNC_DATABASE_URL"):
        return EventStoreResource(database_url=dg.EnvVar("EVENTSYNC_DATABASE_URL"))
    return EventStoreResource()


defs = dg.Definitions(
    assets=[events_daily, events_export],
    jobs=[daily_sync_job, resync_job, erasure_job, access_export_job, retention_job],
    schedules=[daily_sync_schedule, weekly_resync_schedule, retention_schedule],
    sensors=[
        new_sync_sensor,
        export_freshness_sensor,
        privacy_request_sensor,
        privacy_failure_sensor,
    ],
    resources={"store": _store(), "destinations": DestinationsResource.from_env()},
    executor=executor_from_env(),
)
