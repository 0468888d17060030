"""A code server told to stop while a run executes on it refuses new launches: Dagster's
default launcher fails such a run; DrainingRunLauncher reports the code server as
unreachable instead, which the run queue answers by putting the run back in the queue
(dagster.yaml `max_user_code_failure_retries`). A real gRPC code server, real runs."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from pipeline.launcher import DrainingRunLauncher
from pipeline.runs.dagster_internals import (
    DagsterLaunchFailedError,
    DagsterUserCodeUnreachableError,
    LaunchRunContext,
)
from tests.dagster_code.slow_step import slow_job
from tests.test_postgres_dagster import daemon_workspace


@pytest.mark.slow
def test_a_stopping_code_server_requeues_instead_of_failing(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("EVENTSYNC_TEST_MARKER_DIR", str(markers))
    monkeypatch.setenv("EVENTSYNC_TEST_STEP_SECONDS", "15")
    launcher = DrainingRunLauncher()
    launcher.register_instance(instance)
    with daemon_workspace(instance, "tests.dagster_code.slow_step") as ctx:
        workspace = ctx.create_request_context()
        (entry,) = workspace.get_code_location_entries().values()
        location = entry.code_location
        (repo,) = location.get_repositories().values()
        remote = repo.get_full_job("slow_job")

        def new_run() -> dg.DagsterRun:
            return instance.create_run_for_job(
                job_def=slow_job,
                remote_job_origin=remote.get_remote_origin(),
                job_code_origin=remote.get_python_origin(),
            )

        first = new_run()
        launcher.launch_run(LaunchRunContext(dagster_run=first, workspace=workspace))
        deadline = time.monotonic() + 60
        while not list(markers.glob("started-*")):
            assert time.monotonic() < deadline, "the first run never started its step"
            time.sleep(0.3)
        location.client.shutdown_server()  # graceful: finish the run, take no new one

        second = new_run()
        default = dg.DefaultRunLauncher()
        default.register_instance(instance)
        with pytest.raises(DagsterLaunchFailedError, match="after telling it to shut down"):
            default.launch_run(LaunchRunContext(dagster_run=second, workspace=workspace))
        third = new_run()
        with pytest.raises(DagsterUserCodeUnreachableError, match="goes back to the queue"):
            launcher.launch_run(LaunchRunContext(dagster_run=third, workspace=workspace))
        # The run that was executing finishes.
        deadline = time.monotonic() + 90
        while instance.get_run_by_id(first.run_id).status != dg.DagsterRunStatus.SUCCESS:
            assert time.monotonic() < deadline, instance.get_run_by_id(first.run_id).status
            time.sleep(0.5)
