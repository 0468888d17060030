"""The schedules' shared shape: UTC, running by default, a day from the tick's time."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from pipeline.runs.ticks import utc_schedule


@dg.op
def _noop() -> None: ...


@dg.job
def _job() -> None:
    _noop()


@utc_schedule(_job, "0 3 * * *", "every day at 03:00 UTC")
def _daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=context.scheduled_execution_time.date().isoformat())


def test_a_schedule_runs_on_utc_from_the_start() -> None:
    assert _daily.execution_timezone == "UTC"
    assert _daily.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (_daily.cron_schedule, _daily.description) == ("0 3 * * *", "every day at 03:00 UTC")


def test_a_tick_names_its_scheduled_day_not_the_clocks() -> None:
    at = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=at)
    assert _daily(context).run_key == "2026-03-01"


def test_every_schedule_of_the_code_location_is_on_utc_and_running() -> None:
    from pipeline.definitions import defs

    schedules = list(defs.schedules or [])
    assert {s.name for s in schedules} >= {"daily_sync_schedule", "retention_schedule"}
    for schedule in schedules:
        assert schedule.execution_timezone == "UTC", schedule.name
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
