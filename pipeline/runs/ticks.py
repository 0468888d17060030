"""What eventsync's schedules share: a cron on UTC, running from the start (a new
deployment exports without a click). A tick derives its day from
`context.scheduled_execution_time`, never from the clock, so a late tick exports the
same day."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

# The arguments every schedule of eventsync takes (decorated or a ScheduleDefinition).
UTC_RUNNING: dict[str, Any] = {
    "execution_timezone": "UTC",
    "default_status": dg.DefaultScheduleStatus.RUNNING,
}


def utc_schedule(job: Any, cron_schedule: str, description: str) -> Callable[..., Any]:
    """`@dg.schedule` of `job` on UTC, running by default."""
    return dg.schedule(job=job, cron_schedule=cron_schedule, description=description, **UTC_RUNNING)
