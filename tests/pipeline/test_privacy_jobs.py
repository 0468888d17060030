"""The privacy jobs: one op per erasure step in one process, a failing op's error kept
out of Dagster (recorded with the request), a failed run re-executed from the failure
(the UI's button) finishing the request under its new run id as a new attempt, and a
runner killed mid-erasure whose request the request sensor takes over and erasure_job
completes -- without `privacy retry`."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine

from eventsync.engine import layout
from eventsync.privacy import request_store, runner, steps
from pipeline.privacy_jobs import erasure_job, run_config
from pipeline.privacy_sensors import privacy_request_sensor
from pipeline.runs.tags import ATTEMPT_TAG, REQUEST_TAG
from tests.eventsync.privacy.scenario import (
    DAYS,
    TARGET,
    TARGET_EXPORTED_ROWS,
    check_day,
    seed,
    slow_opener,
)
from tests.fixtures.dagster_env import tick_sensor

LEASE = 3.0


def erasure_job_with_resources() -> dg.JobDefinition:
    """erasure_job as the code location binds it (reconstructable for execute_job)."""
    from pipeline.definitions import defs

    return defs.get_job_def("erasure_job")


def test_the_erasure_job_has_one_op_per_step_in_one_process() -> None:
    ops = [node.name for node in erasure_job.graph.nodes_in_topological_order]
    assert ops == ["privacy_start", *(f"erasure_{s}" for s in steps.STEPS), "erasure_complete"]
    assert erasure_job.executor_def.name == "in_process"


@pytest.mark.slow
def test_a_failed_run_re_executed_from_the_failure_completes_the_request(
    engine: Engine, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    root = tmp_path / "dest"
    sync = seed(engine, root)
    manifest = root / layout.manifest_key(sync.id, DAYS[0])
    good = manifest.read_bytes()
    manifest.write_bytes(b"{not json " + TARGET.encode())  # the exports step fails on it
    req = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "test")
    req = runner.claim(engine, req.id, "test")
    recon = dg.reconstructable(erasure_job_with_resources)
    tags = {REQUEST_TAG: req.id, ATTEMPT_TAG: str(req.attempt)}
    with dg.execute_job(recon, instance, run_config=run_config(req.id), tags=tags) as first:
        assert not first.success
        run_id = first.run_id
        failure = next(e for e in first.all_events if e.is_step_failure)
    failed = request_store.get_request(engine, req.id)
    assert failed.status == "failed" and "JSONDecodeError" in failed.error
    # Dagster got the step and the error type, not the error's text
    message = failure.step_failure_data.error.message
    assert "exports failed (DestinationError)" in message and TARGET not in message
    assert failure.step_failure_data.error.cause is None

    manifest.write_bytes(good)
    options = dg.ReexecutionOptions.from_failure(run_id, instance)
    with dg.execute_job(recon, instance, reexecution_options=options) as second:
        assert second.success
        assert "privacy_start" not in {e.step_key for e in second.all_events if e.step_key}
    done = request_store.get_request(engine, req.id)
    assert done.status == "completed" and done.verified_at
    assert [r.run_id for r in done.progress.runs] == [run_id, second.run_id]
    assert [r.attempt for r in done.progress.runs] == [1, 2] and done.attempt == 2


def slow_erasure_child(request_id: str) -> None:
    """`privacy erase --now` in a process of its own, on a slow link to the bucket."""
    from eventsync.store.connection import default_engine

    engine = default_engine()
    runner.run_all(engine, request_id, "cli:ops", owner="child-runner", opener=slow_opener(1.0))


@pytest.mark.slow  # real servers and processes for a minute: make test, not test-fast
def test_a_runner_killed_mid_erasure_is_taken_over_and_completed_without_retry(
    engine: Engine, instance: dg.DagsterInstance, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_PRIVACY_LEASE_SECONDS", str(LEASE))
    root = tmp_path / "dest"
    sync = seed(engine, root)
    req = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "t")
    child = mp.get_context("spawn").Process(target=slow_erasure_child, args=(req.id,))
    child.start()
    deadline = time.monotonic() + 120
    while not request_store.get_request(engine, req.id).progress.in_flight.get(sync.id):
        assert time.monotonic() < deadline and child.is_alive(), "the erasure never got going"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # mid-exports: a day journaled, its files uploading
    child.join(10)
    killed = request_store.get_request(engine, req.id)
    assert (killed.status, killed.attempt, killed.lease_owner) == ("running", 1, "child-runner")
    assert not killed.progress.step_done("exports")

    time.sleep(LEASE + 0.5)  # the dead owner's lease runs out; nobody retries
    (run_request,) = tick_sensor(privacy_request_sensor, instance).run_requests
    assert run_request.run_key == f"{req.id}:2" and run_request.tags[ATTEMPT_TAG] == "2"
    run = erasure_job_with_resources().execute_in_process(
        run_config=run_request.run_config, instance=instance, tags=run_request.tags
    )
    assert run.success

    done = request_store.get_request(engine, req.id)
    assert (done.status, done.attempt) == ("completed", 2) and done.verified_at
    assert [r.run_id for r in done.progress.runs] == ["child-runner", run.run_id]
    assert done.progress.destinations[sync.id].rows_removed == TARGET_EXPORTED_ROWS
    log = request_store.audit_log(engine, req.id)
    assert not [e for e in log if e["detail"].get("retry")]
    (takeover,) = [e for e in log if e["detail"].get("reason") == "lease_expired"]
    assert takeover["actor"] == "sensor:privacy_request_sensor"
    assert takeover["detail"]["lapsed_owner"] == "child-runner"
    for day in DAYS:
        assert TARGET not in {r["user_id"] for r in check_day(engine, root, sync.id, day)}
