"""The production deployment recovers by itself (issue 23's "Done when"): PostgreSQL, a
code server, the daemon, two Celery workers on RabbitMQ, the API, and the metrics
exporter alerting a local webhook (tests/e2e/production_stack.py). While backfills and
erasures run, each process is killed with SIGKILL, and the code server is also
restarted gracefully:

- every backfill and every erasure completes with no manual step (no retry, no resume
  command: the supervisor restarts the process, as systemd would);
- while a process is down, its documented health check fails and /metrics shows it;
- the webhook gets one notification per incident (daemon down, code server down, each
  run lost with the code server), and none for a graceful restart.

The timings are the shipped ones except how often run monitoring looks (5 s, not 30),
how long a run re-queued for an unreachable code server waits (5 s, not 30), the
privacy lease after which a dead owner's request is taken over (20 s, not 120), and how
long a run whose code server was restarted must be silent to be failed (20 s, not 180).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter
from sqlalchemy import Engine, create_engine, select

from eventsync.clock import now_iso
from eventsync.store.schema import events, privacy_requests
from pipeline.runs.dagster_internals import BulkActionStatus
from tests.e2e.production_stack import Stack, Webhook, wait_until
from tests.fixtures.broker import _reachable
from tests.fixtures.ports import free_port

AMQP = "amqp://guest:guest@127.0.0.1:5672//"
SYNC = "sync_demo_local"
IN_FLIGHT = ("received", "queued", "running")
DAYS = 6
TIMINGS = {
    "run_monitoring": {"poll_interval_seconds": 5},
    "run_queue": {"user_code_failure_retry_delay": 5},
}


@pytest.fixture
def stack(
    tmp_path: Path, pg_url: str, pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Stack, Webhook]]:
    if _reachable(AMQP) is not None:
        pytest.fail(f"this test needs RabbitMQ on 127.0.0.1:5672: {_reachable(AMQP)}")
    webhook = Webhook()
    ports = {name: free_port() for name in ("code", "api", "metrics")}
    root = tmp_path / f"p{secrets.token_hex(4)}"
    root.mkdir()
    stack = Stack.configure(root, pg_url, pg_store_url, AMQP, webhook.url, ports, TIMINGS)
    for name in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
                 "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB", "EVENTSYNC_DATA_DIR"):  # fmt: skip
        monkeypatch.setenv(name, stack.env[name])
    try:
        yield stack, webhook
    finally:
        stack.stop_all()
        webhook.close()


def _export_runs(instance: dg.DagsterInstance, *statuses: DagsterRunStatus) -> list[dg.DagsterRun]:
    return [
        r.dagster_run
        for r in instance.get_run_records(
            filters=RunsFilter(tags={"eventsync/kind": "export"}, statuses=list(statuses))
        )
    ]


def _running_step(instance: dg.DagsterInstance, step: str | None = None) -> dg.DagsterRun | None:
    """An export run executing a step (`step`, or any): started, not yet succeeded."""
    for run in _export_runs(instance, DagsterRunStatus.STARTED):
        keys = {
            kind: {
                r.event_log_entry.step_key
                for r in instance.get_records_for_run(run.run_id, of_type=kind).records
            }
            for kind in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS)
        }
        running = keys[DagsterEventType.STEP_START] - keys[DagsterEventType.STEP_SUCCESS]
        if running if step is None else step in running:
            return run
    return None


def _busy_worker(stack: Stack) -> str | None:
    """The worker holding a step: it logged more tasks received than finished."""
    for name in ("worker1", "worker2"):
        log = stack.processes[name].log.read_text(errors="replace").split("--- start")[-1]
        if log.count("] received") > log.count("] succeeded") + log.count("] failed"):
            return name
    return None


def _backfill(stack: Stack, instance: dg.DagsterInstance) -> str:
    """A new backfill of the sync's days, once the one before has ended (days pending in
    a backfill are not queued twice)."""
    wait_until(
        "the previous backfill to end",
        lambda: all(b.status != BulkActionStatus.REQUESTED for b in instance.get_backfills()),
        300,
        1,
    )
    result = stack.cli("eventsync", "sync", "backfill", SYNC, "--days", str(DAYS), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["backfill_id"]


def _stored_status(store: Engine, request_id: str, wanted: tuple[str, ...]) -> str | None:
    """The request's status as the store has it (polled: the API would rate-limit us)."""
    with store.connect() as conn:
        status = conn.execute(
            select(privacy_requests.c.status).where(privacy_requests.c.id == request_id)
        ).scalar_one()
    return status if status in wanted else None


def _erasure_in_flight(api: Api, store: Engine, users: list[str]) -> str:
    """An erasure seen running (its run holds the request's lease). Erasures of this
    data take a second or two; if one completes before it is seen running, the next
    user's is submitted."""
    while users:
        request_id = api.erase(users.pop(0))
        seen = partial(_stored_status, store, request_id, ("running", "completed"))
        if wait_until("the erasure to run", seen, 60, 0.1) == "running":
            return request_id
    raise AssertionError("no erasure was seen running")


def _history(instance: dg.DagsterInstance) -> str:
    """Each export run (id, status, tags) and a failed one's engine events; each backfill."""
    lines = []
    for run in _export_runs(instance, *DagsterRunStatus):
        tags = {k: v for k, v in run.tags.items() if k.startswith("dagster/")}
        lines.append(f"{run.run_id[:8]} {run.status.value} {tags}")
        if run.status == DagsterRunStatus.FAILURE:
            for record in instance.get_records_for_run(run.run_id).records:
                entry = record.event_log_entry
                if entry.dagster_event and entry.dagster_event.event_type_value in (
                    "ENGINE_EVENT",
                    "RUN_FAILURE",
                ):
                    lines.append(
                        f"    {entry.dagster_event.event_type_value}: {entry.message[:300]}"
                    )
    lines += [f"backfill {b.backfill_id} {b.status.value}" for b in instance.get_backfills()]
    return "\n".join(lines)


class Api:
    def __init__(self, stack: Stack, key: str) -> None:
        self.base = f"http://127.0.0.1:{stack.ports['api']}/v1/privacy/erasures"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def erase(self, user_id: str) -> str:
        body = json.dumps({"user_ids": [user_id]}).encode()
        req = urllib.request.Request(self.base, data=body, headers=self.headers, method="POST")
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read())["id"]

    def status(self, request_id: str) -> str:
        req = urllib.request.Request(f"{self.base}/{request_id}", headers=self.headers)
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read())["status"]


@pytest.mark.slow
@pytest.mark.timeout(1200)  # the longest test (6-10 min): collected first, see tests/conftest.py
def test_kill_9_of_every_process_mid_backfill_and_mid_erasure_needs_no_manual_step(
    stack: tuple[Stack, Webhook],
) -> None:
    stack_, webhook = stack
    s = stack_
    s.start()
    wait_until("the code server's health check", s.code_server_healthy, 120, 1)
    wait_until("the API's /healthz", s.api_healthy, 60)
    wait_until("both workers' ping", lambda: all(map(s.worker_pongs, ("worker1", "worker2"))), 90)
    wait_until("the daemon's liveness check", s.daemon_live, 120, 2)
    wait_until("/metrics", lambda: s.metric("eventsync_celery_workers") == 2, 60)
    assert s.metric("eventsync_dagster_code_server_up", location="eventsync") == 1

    seeded = s.cli("eventsync", "demo", "seed", "--days", str(DAYS), "--events-per-day", "10000")
    assert seeded.returncode == 0, seeded.stderr
    key = s.cli("eventsync", "key", "create", "--workspace", "ws_demo", "-q").stdout.strip()
    api = Api(s, key)
    store = create_engine(s.env["EVENTSYNC_DATABASE_URL"])
    with store.connect() as conn:
        users = list(
            conn.execute(
                select(events.c.user_id)
                .where(events.c.workspace_id == "ws_demo", events.c.user_id != "")
                .distinct()
                .order_by(events.c.user_id)
                .limit(12)
            ).scalars()
        )
    erased = set(users)  # the ones submitted are popped from `users`
    instance = dg.DagsterInstance.get()
    erasures: list[str] = []

    # 1. A backfill and an erasure in flight: SIGKILL the worker that holds the backfill's
    #    step (the broker hands the step to the other worker), then the API.
    _backfill(s, instance)
    wait_until("events_daily executing", lambda: _running_step(instance, "events_daily"), 240, 0.1)
    erasures.append(api.erase(users.pop(0)))
    busy = wait_until("the worker holding the step", lambda: _busy_worker(s), 30, 0.05)
    s.processes[busy].kill9()
    s.processes["api"].kill9()
    assert _stored_status(store, erasures[-1], IN_FLIGHT), "the erasure was already done"
    assert not s.worker_pongs(busy)
    assert not s.api_healthy()
    assert wait_until("/metrics to count one worker",
                      lambda: s.metric("eventsync_celery_workers") == 1, 30)  # fmt: skip
    s.start(busy, "api")
    wait_until("the API back", s.api_healthy, 60)
    wait_until("the worker back", lambda: s.worker_pongs(busy), 60)

    # 2. A backfill: SIGKILL the code server while its run waits on a worker's step (the
    #    run's process dies with the server; the step finishes on the worker, the rest of
    #    the run is lost until run monitoring fails it and run retries retry it).
    _backfill(s, instance)
    victim = wait_until("events_daily executing",
                        lambda: _running_step(instance, "events_daily"), 240, 0.1)  # fmt: skip
    s.processes["code"].kill9()
    assert not s.code_server_healthy()
    assert s.metric("eventsync_dagster_code_server_up", location="eventsync") == 0
    wait_until("the code_server_down alert",
               lambda: "code_server_down:eventsync" in webhook.notified(), 90)  # fmt: skip
    s.start("code")
    wait_until("the code server back", s.code_server_healthy, 120, 1)
    wait_until("run monitoring to fail the lost run",
               lambda: instance.get_run_by_id(victim.run_id).is_failure, 180, 1)  # fmt: skip
    wait_until("the lost run retried to success", lambda: victim.run_id in {
        r.tags.get("dagster/root_run_id") for r in _export_runs(instance, DagsterRunStatus.SUCCESS)
    }, 180, 1)  # fmt: skip

    # 2b. An erasure: SIGKILL the code server while the erasure's run executes in it; the
    #     server is back within seconds (no page), the request's lease lets the privacy
    #     sensor take it over as a new attempt.
    erasures.append(_erasure_in_flight(api, store, users))
    s.processes["code"].kill9()
    assert not s.code_server_healthy()
    s.start("code")
    wait_until("the code server back", s.code_server_healthy, 120, 1)

    # 3. A backfill and an erasure in flight: SIGKILL the daemon (the erasure waits for
    #    its sensor; the backfill's run goes on in the code server, the next ones wait).
    _backfill(s, instance)
    wait_until("an export step", lambda: _running_step(instance), 240, 0.1)
    erasures.append(api.erase(users.pop(0)))
    s.processes["daemon"].kill9()
    assert _stored_status(store, erasures[-1], IN_FLIGHT), "the erasure was already done"
    killed = time.monotonic()
    wait_until("the liveness check to fail", lambda: not s.daemon_live(), 60, 2)
    assert time.monotonic() - killed < 60
    check = s.cli("dagster-daemon", "liveness-check", timeout=60)
    assert check.returncode == 1 and "not running" in check.stdout, check.stdout
    beats = [v for (name, _), v in s.metrics().items()
             if name == "eventsync_dagster_daemon_heartbeat_age_seconds"]  # fmt: skip
    assert beats and max(beats) > 55, beats
    wait_until("the daemon_down alert", lambda: "daemon_down" in webhook.notified(), 90)
    s.start("daemon")
    wait_until("the daemon live again", s.daemon_live, 120, 2)

    # 4. A backfill: the code server restarted gracefully (SIGTERM: it finishes the runs
    #    it holds and refuses new ones, which go back to the queue) while a run executes.
    graceful = now_iso()
    _backfill(s, instance)
    wait_until("an export run executing a step", lambda: _running_step(instance), 240, 0.2)
    s.processes["code"].terminate()
    wait_until("the old code server to drain and exit",
               lambda: not s.processes["code"].alive, 300, 1)  # fmt: skip
    s.start("code")
    wait_until("the code server back", s.code_server_healthy, 120, 1)

    # Everything completes by itself.
    def finished() -> bool:
        backfills = instance.get_backfills()
        in_progress = _export_runs(
            instance, DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED
        )
        return (
            all(b.status.value.startswith("COMPLETED") for b in backfills)
            and not in_progress
            and all(api.status(r) == "completed" for r in erasures)
        )

    wait_until("every backfill and erasure to complete", finished, 420, 3)
    for backfill in instance.get_backfills():
        assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, _history(instance)
    problems = s.metric("eventsync_dagster_export_runs_in_trouble", problem="lost")
    assert problems == 0, f"a lost run was not retried to success: {_history(instance)}"
    retried = {
        r.tags.get("dagster/root_run_id")
        for r in _export_runs(instance, DagsterRunStatus.SUCCESS)
        if r.tags.get("dagster/root_run_id")
    }
    assert victim.run_id in retried, _history(instance)
    # No erased user in any exported or staged file.
    erased -= set(users)
    files = [
        *(s.home / "exports").rglob("*.parquet"),
        *Path(s.env["EVENTSYNC_DATA_DIR"]).rglob("*.parquet"),
    ]
    assert files
    for path in files:
        if "user_id" in pq.read_schema(path).names:
            found = set(pq.read_table(path, columns=["user_id"]).column(0).to_pylist())
            assert not found & erased, path

    # Health is back everywhere, and each incident was notified once.
    # (A daemon thread blocked on the restarting code server may still be late a while.)
    wait_until("every health check to pass again", lambda: s.code_server_healthy()
               and s.api_healthy() and s.daemon_live()
               and all(map(s.worker_pongs, ("worker1", "worker2"))), 120, 2)  # fmt: skip
    # One notification per incident (an incident: its key and when it opened).
    incidents = [(alert["key"], alert["opened_at"]) for alert in webhook.received]
    assert len(incidents) == len(set(incidents)), incidents
    keys = {key for key, _ in incidents}
    assert {"daemon_down", "code_server_down:eventsync", f"run_lost:{victim.run_id}"} <= keys, keys
    # A graceful restart pages nobody.
    assert not [i for i in incidents if i[0].startswith("code_server_down") and i[1] > graceful]
    # Every lost run notified was one whose work was lost and then retried to success.
    assert {k.split(":", 1)[1] for k in keys if k.startswith("run_lost:")} <= retried, keys
