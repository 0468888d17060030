"""One slow step, for killing the Celery worker that runs it: the step writes which
process started it, waits, then writes which process finished it."""

import os
import time

import dagster as dg

from pipeline.executors import executor_from_env


@dg.op
def slow_step(context: dg.OpExecutionContext) -> int:
    folder = os.environ["EVENTSYNC_TEST_MARKER_DIR"]
    with open(os.path.join(folder, f"started-{os.getpid()}"), "w") as fh:
        fh.write(context.run_id)
    time.sleep(float(os.environ.get("EVENTSYNC_TEST_STEP_SECONDS", "8")))
    with open(os.path.join(folder, "finished"), "w") as fh:
        fh.write(str(os.getpid()))
    return os.getpid()


@dg.job
def slow_job() -> None:
    slow_step()


def slow_job_celery() -> dg.JobDefinition:
    return dg.Definitions(jobs=[slow_job], executor=executor_from_env("celery")).get_job_def(
        "slow_job"
    )


defs = dg.Definitions(jobs=[slow_job])
