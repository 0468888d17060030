"""privacy_request_sensor: queues each received request once, advances its cursor,
and takes over running requests whose owner died (a new attempt, launched in the same
tick) until their attempts are used up."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from eventsync.privacy import request_store
from eventsync.workspaces import create_workspace
from pipeline.privacy_sensors import privacy_request_sensor
from pipeline.runs.tags import ATTEMPT_TAG
from tests.fixtures.dagster_env import tick_sensor


def test_request_sensor_queues_once_and_advances_its_cursor(engine: Engine, instance):
    ws = create_workspace(engine, "acme").workspace_id
    era = request_store.create_request(engine, ws, "erasure", ["u1"], [], "test")
    acc = request_store.create_request(engine, ws, "access_export", [], ["c1"], "test")

    def tick(cursor):  # type: ignore[no-untyped-def]
        return tick_sensor(privacy_request_sensor, instance, cursor)

    first = tick(None)
    by_key = {r.run_key: r for r in first.run_requests}
    assert set(by_key) == {f"{era.id}:1", f"{acc.id}:1"}
    assert by_key[f"{era.id}:1"].job_name == "erasure_job"
    assert by_key[f"{acc.id}:1"].job_name == "access_export_job"
    assert by_key[f"{era.id}:1"].run_config == {
        "ops": {"privacy_start": {"config": {"request_id": era.id}}}
    }
    assert {request_store.get_request(engine, r).status for r in (era.id, acc.id)} == {"queued"}
    cursor = json.loads(first.cursor)
    assert cursor["log_id"] > 0 and sorted(cursor["launched"]) == sorted(by_key)
    second = tick(first.cursor)
    assert not getattr(second, "run_requests", None)  # nothing launched twice
    assert request_store.get_request(engine, era.id).attempt == 1


def test_request_sensor_takes_over_running_requests_whose_owner_died(
    engine: Engine, instance, monkeypatch
):
    from eventsync.privacy import runner, transitions

    monkeypatch.setenv("EVENTSYNC_PRIVACY_MAX_ATTEMPTS", "2")
    ws = create_workspace(engine, "acme").workspace_id
    era = request_store.create_request(engine, ws, "erasure", ["u1"], [], "test")
    runner.claim(engine, era.id, "test")
    transitions.start(engine, era.id, "a-run-that-died", "test", lease_seconds=0)
    (request,) = tick_sensor(privacy_request_sensor, instance).run_requests
    assert request.run_key == f"{era.id}:2" and request.tags[ATTEMPT_TAG] == "2"
    assert request.tags["dagster/priority"] == "50"
    taken = request_store.get_request(engine, era.id)
    assert (taken.status, taken.attempt, taken.lease_owner) == ("queued", 2, None)
    # the second attempt's owner dies too: no attempt left, failed with the reason
    transitions.start(engine, era.id, "another-run-that-died", "test", lease_seconds=0, attempt=2)
    assert not getattr(tick_sensor(privacy_request_sensor, instance), "run_requests", None)
    failed = request_store.get_request(engine, era.id)
    assert failed.status == "failed" and "attempt 2 of 2" in (failed.error or "")
    # a person may still retry it: attempt 3
    runner.retry(engine, era.id, "test")
    (request,) = tick_sensor(privacy_request_sensor, instance).run_requests
    assert request.run_key == f"{era.id}:3"


def _failed_run(instance, request_id: str, attempt: int):  # type: ignore[no-untyped-def]
    """A run of erasure_job that run monitoring marked failed (its process died)."""
    import dagster as dg

    from pipeline.privacy_jobs import erasure_job, run_config
    from pipeline.runs.tags import REQUEST_TAG
    from resources import EventStoreResource

    run = instance.create_run_for_job(
        erasure_job,
        run_config=run_config(request_id),
        tags={REQUEST_TAG: request_id, ATTEMPT_TAG: str(attempt)},
    )
    event = instance.report_run_failed(run, "the run worker died")
    context = dg.build_run_status_sensor_context(
        sensor_name="privacy_failure_sensor",
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run.run_id),
        dagster_event=event,
        resources={"store": EventStoreResource()},
    ).for_run_failure()
    return run, context


def test_a_run_that_died_owning_its_request_has_it_taken_over_at_once(engine: Engine, instance):
    from eventsync.privacy import runner, transitions
    from pipeline.privacy_sensors import privacy_failure_sensor

    ws = create_workspace(engine, "acme").workspace_id
    era = request_store.create_request(engine, ws, "erasure", ["u1"], [], "test")
    runner.claim(engine, era.id, "sensor")
    run, context = _failed_run(instance, era.id, attempt=1)
    transitions.start(engine, era.id, run.run_id, "job", lease_seconds=120, attempt=1)
    privacy_failure_sensor(context)  # long before its lease would expire
    taken = request_store.get_request(engine, era.id)
    assert (taken.status, taken.attempt, taken.lease_owner) == ("received", 2, None)
    detail = request_store.audit_log(engine, era.id)[-1]["detail"]
    assert (detail["reason"], detail["lapsed_owner"]) == ("run_failed", run.run_id)
    (request,) = tick_sensor(privacy_request_sensor, instance).run_requests
    assert request.run_key == f"{era.id}:2"
    privacy_failure_sensor(context)  # reported twice: the old run owns nothing now
    assert request_store.get_request(engine, era.id).status == "queued"


def test_a_run_that_failed_before_taking_its_attempt_fails_the_request(engine: Engine, instance):
    from eventsync.privacy import runner
    from pipeline.privacy_sensors import privacy_failure_sensor

    ws = create_workspace(engine, "acme").workspace_id
    era = request_store.create_request(engine, ws, "erasure", ["u1"], [], "test")
    runner.claim(engine, era.id, "sensor")
    run, context = _failed_run(instance, era.id, attempt=1)
    privacy_failure_sensor(context)
    failed = request_store.get_request(engine, era.id)
    assert failed.status == "failed" and run.run_id in (failed.error or "")
    assert failed.progress.failure is not None and failed.progress.failure.reason == "run_failed"
