"""The Dagster code location (workspace.yaml loads `pipeline.definitions`): the assets
and their checks (assets/), the jobs, schedules and sensors (pipeline/), the resources
(resources/) and the executor, each defined once."""

from __future__ import annotations

import dagster as dg

from assets.events import events_daily, events_export
from pipeline.executors import executor_from_env
from pipeline.intraday import intraday_schedule, intraday_sync_job
from pipeline.jobs import daily_sync_job, resync_job
from pipeline.privacy_jobs import access_export_job, erasure_job, retention_job
from pipeline.privacy_sensors import privacy_failure_sensor, privacy_request_sensor
from pipeline.schedules import daily_sync_schedule, retention_schedule, weekly_resync_schedule
from pipeline.sensors import export_freshness_sensor, new_sync_sensor
from resources import build_resources

defs = dg.Definitions(
    assets=[events_daily, events_export],
    jobs=[
        daily_sync_job,
        resync_job,
        erasure_job,
        access_export_job,
        retention_job,
        intraday_sync_job,
    ],
    schedules=[
        daily_sync_schedule,
        weekly_resync_schedule,
        retention_schedule,
        intraday_schedule,
    ],
    sensors=[
        new_sync_sensor,
        export_freshness_sensor,
        privacy_request_sensor,
        privacy_failure_sensor,
    ],
    resources=build_resources(),
    executor=executor_from_env(),
)
