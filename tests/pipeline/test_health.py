"""The Dagster side's incidents and probes (pipeline/health.py), on a real instance and
real sockets: a daemon that never beat, a code server that does not answer, an export
run lost for the infrastructure (one incident with its retries), a step's own failure
(none: the ledger's failed day says it)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import dagster as dg
from dagster import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.types import DaemonHeartbeat

from pipeline.health import (
    DAEMON_LATE_SECONDS,
    CodeServer,
    code_server_up,
    code_servers,
    dagster_incidents,
)
from pipeline.runs.dagster_internals import RUN_FAILURE_REASON_TAG
from pipeline.runs.tags import KIND_TAG, SYNC_TAG


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_workspace_file_names_the_code_servers_to_probe(tmp_path: Path) -> None:
    ws = tmp_path / "workspace.yaml"
    ws.write_text(
        "load_from:\n"
        "  - grpc_server: {host: 10.0.0.5, port: 4000, location_name: eventsync}\n"
        "  - grpc_server: {port: 4001}\n"
        "  - python_module: pipeline.definitions\n"
    )
    assert code_servers(ws) == [
        CodeServer("eventsync", "10.0.0.5", 4000),
        CodeServer("localhost:4001", "localhost", 4001),
    ]
    assert code_servers(tmp_path / "missing.yaml") == [] == code_servers(None)
    assert not code_server_up(CodeServer("x", "127.0.0.1", _dead_port()))


def test_a_daemon_whose_heartbeats_stopped_is_down_at_once(instance: dg.DagsterInstance) -> None:
    late = time.time() - DAEMON_LATE_SECONDS - 5
    for daemon in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(DaemonHeartbeat(late, daemon, None, None))
    (down,) = [i for i in dagster_incidents(instance, []) if i.key == "daemon_down"]
    assert down.notify_after_seconds == 0
    for daemon in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), daemon, None, None))
    assert "daemon_down" not in {i.key for i in dagster_incidents(instance, [])}


def test_incidents_of_the_dagster_side(instance: dg.DagsterInstance) -> None:
    tags = {SYNC_TAG: "sync_a", KIND_TAG: "export"}
    first = create_run_for_test(instance, job_name="j", status=DagsterRunStatus.STARTED, tags=tags)
    instance.report_run_failed(first, "the run worker died")
    retry = create_run_for_test(
        instance,
        job_name="j",
        status=DagsterRunStatus.STARTED,
        tags={**tags, "dagster/parent_run_id": first.run_id, "dagster/root_run_id": first.run_id},
    )
    instance.report_run_failed(retry, "the run worker died again")
    own = create_run_for_test(
        instance,
        job_name="j",
        status=DagsterRunStatus.STARTED,
        tags={**tags, RUN_FAILURE_REASON_TAG: "STEP_FAILURE"},
    )
    instance.report_run_failed(own, "a day's destination refused")
    dead = CodeServer("eventsync", "127.0.0.1", _dead_port())

    found = {i.key: i for i in dagster_incidents(instance, [dead])}

    # No daemon has ever beaten on this instance (one still starting?): notified once
    # that has lasted 30 s; a code server, once it has not answered for 30 s.
    assert found["daemon_down"].notify_after_seconds == 30
    assert found["code_server_down:eventsync"].notify_after_seconds == 30
    # The lost run and its failed retry are one incident, keyed by the first run.
    assert [k for k in found if k.startswith("run_lost:")] == [f"run_lost:{first.run_id}"]
    assert own.run_id not in " ".join(i.summary for i in found.values())

    # A retry of the retry succeeds: the whole chain is resolved.
    done = create_run_for_test(
        instance,
        job_name="j",
        status=DagsterRunStatus.SUCCESS,
        tags={**tags, "dagster/parent_run_id": retry.run_id, "dagster/root_run_id": first.run_id},
    )
    assert done.status == DagsterRunStatus.SUCCESS
    keys = {i.key for i in dagster_incidents(instance, [])}
    assert not [k for k in keys if k.startswith("run_lost:")], keys
