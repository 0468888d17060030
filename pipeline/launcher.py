"""The run launcher of the shipped dagster.yaml: Dagster's DefaultRunLauncher (runs start
as child processes of the code server that holds the job), except that a code server
that is shutting down does not fail the run.

A code server told to stop (a graceful restart, a deploy) answers every launch with
"Tried to start a run on a server after telling it to shut down" while its running
runs finish; DefaultRunLauncher turns that into a failed run (9 of 12 runs of a
backfill failed so). Here it is reported as an unreachable code server, which the run
queue answers by putting the run back in the queue and not launching from that code
location for `run_queue.user_code_failure_retry_delay` seconds, up to
`max_user_code_failure_retries` times (dagster.yaml): the runs wait for the new server.
"""

from __future__ import annotations

from dagster import DefaultRunLauncher

from pipeline.runs.dagster_internals import (
    DagsterLaunchFailedError,
    DagsterUserCodeUnreachableError,
    LaunchRunContext,
)

DRAINING = "after telling it to shut down"


class DrainingRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher; a launch refused by a stopping code server is re-queued."""

    def launch_run(self, context: LaunchRunContext) -> None:
        try:
            super().launch_run(context)
        except DagsterLaunchFailedError as exc:
            if DRAINING not in str(exc):
                raise
            raise DagsterUserCodeUnreachableError(
                f"the code server is shutting down; run {context.dagster_run.run_id} "
                "goes back to the queue until it is up again"
            ) from exc
