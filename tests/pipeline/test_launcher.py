"""A code server told to stop while a run executes on it refuses new launches: Dagster's
default launcher fails such a run; DrainingRunLauncher reports the code server as
unreachable instead, which the run queue answers by putting the run back in the queue
(dagster.yaml `max_user_code_failure_retries`). A real gRPC code server, real runs."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import dagster as dg
import pytest

from pipeline.launcher import SERVER_TAG, DrainingRunLauncher
from pipeline.runs.dagster_internals import (
    GRPC_INFO_TAG,
    DagsterLaunchFailedError,
    DagsterUserCodeUnreachableError,
    LaunchRunContext,
    WorkerStatus,
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
        # Run monitoring's health check: the server that took the run executes it ...
        first = instance.get_run_by_id(first.run_id)
        assert first.tags[SERVER_TAG]
        assert launcher.check_run_worker_health(first).status == WorkerStatus.RUNNING
        # ... a run this same server took and no longer executes has lost its process: failed
        # once the daemon's workspace has had time to know the server (a retry launched
        # before that fails for good) ...
        orphan = new_run().run_id
        address = {GRPC_INFO_TAG: first.tags[GRPC_INFO_TAG]}
        instance.add_run_tags(orphan, {**address, SERVER_TAG: first.tags[SERVER_TAG]})
        verdict = launcher.check_run_worker_health(instance.get_run_by_id(orphan))
        assert verdict.status == WorkerStatus.RUNNING and "just seen" in verdict.msg
        monkeypatch.setattr("pipeline.launcher.WORKSPACE_RELOAD_SECONDS", 0.0)
        verdict = launcher.check_run_worker_health(instance.get_run_by_id(orphan))
        assert verdict.status == WorkerStatus.FAILED and "no longer runs it" in verdict.msg
        # ... one another server took (before a restart or a reload) is failed only once
        # it has been silent: a reloaded server's old one still finishes its runs.
        instance.add_run_tags(orphan, {SERVER_TAG: "a-server-since-replaced"})
        instance.report_engine_event("a step logs", instance.get_run_by_id(orphan))
        verdict = launcher.check_run_worker_health(instance.get_run_by_id(orphan))
        assert verdict.status == WorkerStatus.RUNNING and "replaced" in verdict.msg
        monkeypatch.setenv("EVENTSYNC_REPLACED_CODE_SERVER_SILENCE_SECONDS", "10")
        time.sleep(10.5)
        verdict = launcher.check_run_worker_health(instance.get_run_by_id(orphan))
        assert verdict.status == WorkerStatus.FAILED and "silent" in verdict.msg
        # A server that does not answer is no verdict (a blip must not fail a healthy run).
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            nobody = json.dumps({"host": "127.0.0.1", "port": free.getsockname()[1]})
        instance.add_run_tags(orphan, {GRPC_INFO_TAG: nobody})
        verdict = launcher.check_run_worker_health(instance.get_run_by_id(orphan))
        assert verdict.status == WorkerStatus.RUNNING and verdict.transient
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
