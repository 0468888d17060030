"""A trivial code location: one job, an hourly schedule and a sensor, all running by
default. Used to prove a Dagster instance (PostgreSQL storage, Celery executor) works
before eventsync's own definitions are involved."""

import os

import dagster as dg

from pipeline.executors import executor_from_env


@dg.op
def add_one(context: dg.OpExecutionContext) -> int:
    context.log.info("adding one")
    return 1


@dg.op
def double(value: int) -> int:
    return value * 2


@dg.op
def write_marker(context: dg.OpExecutionContext, value: int) -> str:
    """Writes which process ran it, so a test can tell a worker ran the step."""
    folder = os.environ.get("EVENTSYNC_TEST_MARKER_DIR")
    if folder:
        path = os.path.join(folder, f"{context.run_id}.txt")
        with open(path, "w") as fh:
            fh.write(f"{value} {os.getpid()}\n")
    return str(value)


@dg.job
def trivial_job() -> None:
    write_marker(double(add_one()))


trivial_schedule = dg.ScheduleDefinition(
    name="trivial_hourly",
    job=trivial_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.sensor(
    job=trivial_job, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=1
)
def trivial_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    cursor = int(context.cursor or 0)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"tick-{cursor}")], cursor=str(cursor + 1)
    )


defs = dg.Definitions(
    jobs=[trivial_job],
    schedules=[trivial_schedule],
    sensors=[trivial_sensor],
    executor=executor_from_env(),
)


def _trivial_job(executor: str) -> dg.JobDefinition:
    return dg.Definitions(jobs=[trivial_job], executor=executor_from_env(executor)).get_job_def(
        "trivial_job"
    )


# Module-level, one per executor, so ``dg.reconstructable`` can rebuild them in run and
# Celery worker processes (Dagster caches what a reconstructable target returns).
def trivial_job_in_process() -> dg.JobDefinition:
    return _trivial_job("in_process")


def trivial_job_celery() -> dg.JobDefinition:
    return _trivial_job("celery")
