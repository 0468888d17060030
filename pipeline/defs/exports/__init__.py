"""Dagster wiring of the export domain: the two assets over date x sync partitions, the
daily job and schedule, the weekly re-sync, backfills and the new-sync and freshness
sensors."""

import dagster as dg

from pipeline.defs.exports.assets import events_daily, events_export
from pipeline.defs.exports.freshness import export_freshness_sensor
from pipeline.defs.exports.jobs import daily_sync_job
from pipeline.defs.exports.resync import resync_job, weekly_resync_schedule
from pipeline.defs.exports.schedules import daily_sync_schedule
from pipeline.defs.exports.sensors import new_sync_sensor

defs = dg.Definitions(
    assets=[events_daily, events_export],
    jobs=[daily_sync_job, resync_job],
    schedules=[daily_sync_schedule, weekly_resync_schedule],
    sensors=[new_sync_sensor, export_freshness_sensor],
)
