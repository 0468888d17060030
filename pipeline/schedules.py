"""The schedules: the daily export at 03:00 UTC for the UTC day that just closed (the
date's partition, one run per up to EVENTSYNC_SYNCS_PER_RUN syncs named in its tags:
`pipeline.runs.sync_groups`), the weekly
re-sync (Mondays 04:00 UTC) and the daily retention purge (04:30 UTC). A leaf: nothing
imports this module but the Definitions."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from eventsync.settings import load
from eventsync.syncs.config import list_syncs
from pipeline.jobs import daily_sync_job, resync_job
from pipeline.privacy_jobs import retention_job
from pipeline.runs.sync_groups import sync_groups
from pipeline.runs.tags import REASON_TAG
from pipeline.runs.ticks import UTC_RUNNING, utc_schedule
from resources import EventStoreResource


@utc_schedule(
    daily_sync_job,
    "0 3 * * *",
    "03:00 UTC: export the previous UTC day of every enabled sync, "
    "up to EVENTSYNC_SYNCS_PER_RUN syncs per run.",
)
def daily_sync_schedule(context: dg.ScheduleEvaluationContext, store: EventStoreResource):
    day = (context.scheduled_execution_time.date() - timedelta(days=1)).isoformat()
    syncs = list_syncs(store.engine(), enabled_only=True)
    if not syncs:
        return dg.SkipReason(f"no enabled sync to export for {day}")
    return [group.request(day) for group in sync_groups(syncs, load().syncs_per_run)]


@utc_schedule(
    resync_job,
    "0 4 * * 1",
    "Mondays 04:00 UTC: re-export the days (<= 365 back) whose source "
    "fingerprint changed since their export, and days with rows never exported.",
)
def weekly_resync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(
        run_key=f"resync:{today}",
        run_config={"ops": {"plan_and_queue_resync": {"config": {"today": today}}}},
        tags={REASON_TAG: "weekly re-sync"},
    )


retention_schedule = dg.ScheduleDefinition(
    name="retention_schedule",
    job=retention_job,
    cron_schedule="30 4 * * *",
    description="04:30 UTC daily: delete events older than each workspace's retention days.",
    **UTC_RUNNING,
)
