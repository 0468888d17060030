"""privacy_request_sensor: queues each received request once, advances its cursor,
and fails running requests whose owner died."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from pipeline.defs.privacy.sensors import privacy_request_sensor
from pipeline.privacy import ledger
from pipeline.workspaces import create_workspace
from tests.fixtures.dagster_env import tick_sensor


def test_request_sensor_queues_once_and_advances_its_cursor(engine: Engine, instance):
    ws = create_workspace(engine, "acme").workspace_id
    era = ledger.create_request(engine, ws, "erasure", ["u1"], [], "test")
    acc = ledger.create_request(engine, ws, "access_export", [], ["c1"], "test")

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
    assert {ledger.get_request(engine, r).status for r in (era.id, acc.id)} == {"queued"}
    cursor = json.loads(first.cursor)
    assert cursor["log_id"] > 0 and sorted(cursor["launched"]) == sorted(by_key)
    second = tick(first.cursor)
    assert not getattr(second, "run_requests", None)  # nothing launched twice
    assert ledger.get_request(engine, era.id).attempt == 1


def test_request_sensor_fails_running_requests_whose_owner_died(engine: Engine, instance):
    from pipeline.privacy import runner, states

    ws = create_workspace(engine, "acme").workspace_id
    era = ledger.create_request(engine, ws, "erasure", ["u1"], [], "test")
    runner.claim(engine, era.id, "test")
    states.start(engine, era.id, "a-run-that-died", "test", lease_seconds=0)
    result = tick_sensor(privacy_request_sensor, instance)
    assert not getattr(result, "run_requests", None)
    failed = ledger.get_request(engine, era.id)
    assert failed.status == "failed" and "a-run-that-died stopped renewing" in failed.error
    # ... so the next retry is picked up on the next tick as a new attempt
    runner.retry(engine, era.id, "test")
    (request,) = tick_sensor(privacy_request_sensor, instance).run_requests
    assert request.run_key == f"{era.id}:2"
    assert request.tags["dagster/priority"] == "50"
