"""Dagster on PostgreSQL: a real DagsterInstance built from
dagster_home/dagster.postgres.yaml (values from DAGSTER_PG_* env vars) runs a job, a
schedule tick and a sensor tick through the scheduler, sensor and run-queue daemons'
own iterations, a real code server and the default run launcher."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs
from sqlalchemy import create_engine, text

from tests.fixtures.postgres import dagster_pg_env

ROOT = Path(__file__).resolve().parent.parent
PG_YAML = ROOT / "dagster_home" / "dagster.postgres.yaml"
LOG = logging.getLogger("eventsync.test")


@pytest.fixture
def pg_dagster_home(es_home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """es_home with dagster.postgres.yaml as its dagster.yaml, DAGSTER_PG_* pointing at
    a fresh PostgreSQL database."""
    shutil.copy(PG_YAML, es_home / "dagster.yaml")
    for name, value in dagster_pg_env(pg_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EVENTSYNC_EXECUTOR", "in_process")
    yield es_home


def _pg_run_ids(pg_url: str) -> set[str]:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT run_id FROM runs")).scalars())
    finally:
        engine.dispose()


def _limits(config: dict) -> tuple:
    """(max runs, tag limits, pool default) whichever of Dagster's two forms is used."""
    runs = dict(config.get("run_coordinator", {}).get("config") or {})
    runs.update(config.get("concurrency", {}).get("runs") or {})
    pools = config.get("concurrency", {}).get("pools") or {}
    return runs.get("max_concurrent_runs"), runs.get("tag_concurrency_limits"), pools


def test_postgres_yaml_keeps_the_default_queue_limits() -> None:
    prod = yaml.safe_load(PG_YAML.read_text())
    default = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
    assert _limits(prod) == _limits(default)
    assert prod["run_monitoring"] == default["run_monitoring"]
    db = prod["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2"
    assert {v["env"] for k, v in db.items() if k != "scheme"} == {
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    }


def test_instance_on_postgres_runs_a_job(pg_dagster_home: Path, pg_url: str) -> None:
    from tests.dagster_code.trivial import trivial_job_in_process

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        limits = instance.get_concurrency_config().run_queue_config
        assert limits.max_concurrent_runs == 3
        assert limits.tag_concurrency_limits[0]["key"] == "eventsync/destination"
        with dg.execute_job(
            dg.reconstructable(trivial_job_in_process), instance=instance
        ) as result:
            assert result.success
            assert result.output_for_node("write_marker") == "2"
        run_id = result.run_id
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
    # The run really is in PostgreSQL, not in a SQLite file next to dagster.yaml.
    assert run_id in _pg_run_ids(pg_url)
    assert not list(pg_dagster_home.glob("**/runs.db"))


@contextmanager
def daemon_workspace(instance: dg.DagsterInstance, module: str) -> Iterator:
    """The workspace a daemon sees: the module served by a real gRPC code server."""
    target = ModuleTarget(
        module_name=module, attribute=None, working_directory=str(ROOT), location_name="test"
    )
    marker = str(instance.root_directory).encode()
    before = _grpc_servers(marker)
    try:
        with create_test_daemon_workspace_context(target, instance) as ctx:
            entries = ctx.create_request_context().get_code_location_entries().values()
            for entry in entries:
                assert entry.code_location is not None, entry.load_error
            yield ctx
    finally:
        # The registry asks its code servers to shut down; one serving a database that
        # the test then drops can miss that and outlive the test. Stop what we started.
        # They do not all honour SIGTERM while retrying their dropped database: SIGKILL.
        leftover = _grpc_servers(marker) - before
        for pid in leftover:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while leftover and time.monotonic() < deadline:
            time.sleep(0.2)
            leftover &= _grpc_servers(marker)
        for pid in leftover:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _grpc_servers(marker: bytes) -> set[int]:
    """Pids of the `dagster api grpc` code servers serving the instance under `marker`."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"api" in cmd and b"grpc" in cmd and any(marker in part for part in cmd):
            pids.add(int(proc.name))
    return pids


def dequeue_and_wait(
    instance: dg.DagsterInstance, ctx, run_ids: set[str] | None = None, timeout: float = 120
) -> list:
    """Let the run-queue daemon launch queued runs, then wait until they finish."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    deadline = time.monotonic() + timeout
    while True:
        list(daemon.run_iteration(ctx))
        runs = [r for r in instance.get_runs() if run_ids is None or r.run_id in run_ids]
        if runs and all(r.is_finished for r in runs):
            return runs
        if time.monotonic() > deadline:
            pytest.fail(f"runs did not finish: {[(r.run_id, r.status) for r in runs]}")
        time.sleep(1)


def schedule_tick(ctx, at: dt.datetime, iteration_times: dict | None = None) -> None:
    list(
        launch_scheduled_runs(
            ctx,
            LOG,
            end_datetime_utc=at,
            iteration_times=iteration_times if iteration_times is not None else {},
        )
    )


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_schedule_and_sensor_ticks_on_postgres(pg_dagster_home: Path, pg_url: str) -> None:
    with (
        dg.DagsterInstance.get() as instance,
        daemon_workspace(instance, "tests.dagster_code.trivial") as ctx,
    ):
        # First iteration records the schedule's state; the next one, past 10:00, ticks.
        schedule_tick(ctx, dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC))
        assert instance.get_runs() == []
        schedule_tick(ctx, dt.datetime(2026, 3, 1, 10, 0, 5, tzinfo=dt.UTC))
        runs = instance.get_runs(RunsFilter(tags={"dagster/schedule_name": "trivial_hourly"}))
        assert len(runs) == 1
        assert runs[0].status == DagsterRunStatus.QUEUED  # through the QueuedRunCoordinator
        assert runs[0].tags[".dagster/scheduled_execution_time"].startswith("2026-03-01T10:00")

        list(execute_sensor_iteration(ctx, LOG, None, None))
        sensor_runs = instance.get_runs(RunsFilter(tags={"dagster/sensor_name": "trivial_sensor"}))
        assert len(sensor_runs) == 1
        assert sensor_runs[0].tags["dagster/run_key"] == "tick-0"

        finished = dequeue_and_wait(instance, ctx, {runs[0].run_id, sensor_runs[0].run_id})
        assert {r.status for r in finished} == {DagsterRunStatus.SUCCESS}
        states = {s.instigator_name: s for s in instance.all_instigator_state()}
        assert {"trivial_hourly", "trivial_sensor"} <= set(states)
        for name in ("trivial_hourly", "trivial_sensor"):
            state = states[name]
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            assert any(t.status.value == "SUCCESS" for t in ticks), (name, ticks)
        assert states["trivial_sensor"].instigator_data.cursor == "1"
    assert {r.run_id for r in finished} <= _pg_run_ids(pg_url)


def _wait_backfill_done(
    instance: dg.DagsterInstance, ctx, backfill_id: str, timeout: float = 300
) -> None:
    """Alternate the backfill daemon's and the run queue's iterations until the
    backfill is complete (what `dagster-daemon run` does on its own)."""
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._daemon.backfill import execute_backfill_iteration

    queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
    deadline = time.monotonic() + timeout
    while True:
        list(execute_backfill_iteration(ctx, LOG))
        list(queue.run_iteration(ctx))
        backfill = instance.get_backfill(backfill_id)
        if backfill.status != BulkActionStatus.REQUESTED:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"backfill {backfill_id} still {backfill.status}")
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_eventsync_schedule_sensor_and_30_day_backfill_on_postgres(
    pg_dagster_home: Path, pg_url: str, pg_store_url: str, tmp_path: Path
) -> None:
    """Production mode end to end: event store and Dagster storage on PostgreSQL, the
    code location `pipeline.definitions` in a real code server. The new-sync sensor
    requests one 30-day backfill for the three new syncs, the backfill daemon runs it
    in batched runs, and the 03:00 schedule tick exports yesterday of all three in one
    run; every day lands once in each destination."""
    import json

    from dagster._core.execution.backfill import BulkActionStatus
    from sqlalchemy import select

    from eventsync.engine import layout
    from eventsync.store.connection import engine_for
    from eventsync.store.schema import export_ledger
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace
    from tests.factories import insert_day
    from tests.fixtures.clock import today_with_room

    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "acme").workspace_id
    syncs = [create_sync(engine, ws, str(tmp_path / f"b{i}"), backfill_days=30) for i in range(3)]
    today = today_with_room()  # the code server's sensor reads the real clock
    days = [(today - dt.timedelta(days=i)).isoformat() for i in range(30, 0, -1)]
    for n, day in enumerate(days):
        insert_day(engine, ws, day, 5 + n)

    with (
        dg.DagsterInstance.get() as instance,
        daemon_workspace(instance, "pipeline.definitions") as ctx,
    ):
        # Sensor tick: the new syncs get one backfill of their 30 dates, naming them.
        list(execute_sensor_iteration(ctx, LOG, None, None))
        backfills = instance.get_backfills()
        assert len(backfills) == 1
        backfill = backfills[0]
        assert backfill.tags["eventsync/syncs"] == ",".join(s.id for s in syncs)
        _wait_backfill_done(instance, ctx, backfill.backfill_id)
        assert instance.get_backfill(backfill.backfill_id).status == (
            BulkActionStatus.COMPLETED_SUCCESS
        )
        backfill_runs = instance.get_runs(
            RunsFilter(tags={"dagster/backfill": backfill.backfill_id})
        )
        # Batched by the assets' BackfillPolicy: one run of the 30 dates for the three
        # syncs (it inherits the backfill's tag), not one per day.
        assert len(backfill_runs) == 1
        assert backfill_runs[0].tags["eventsync/syncs"] == backfill.tags["eventsync/syncs"]
        assert {r.status for r in backfill_runs} == {DagsterRunStatus.SUCCESS}

        # Schedule tick at 03:00 UTC today: yesterday of the three syncs, in one run.
        at = dt.datetime.combine(today, dt.time(3), tzinfo=dt.UTC)
        schedule_tick(ctx, at - dt.timedelta(minutes=30))
        schedule_tick(ctx, at + dt.timedelta(seconds=5))
        scheduled = instance.get_runs(
            RunsFilter(tags={"dagster/schedule_name": "daily_sync_schedule"})
        )
        assert len(scheduled) == 1
        assert scheduled[0].tags["dagster/partition"] == days[-1]
        assert scheduled[0].tags["eventsync/syncs"] == ",".join(s.id for s in syncs)
        finished = dequeue_and_wait(instance, ctx, {scheduled[0].run_id})
        assert finished[0].status == DagsterRunStatus.SUCCESS
        exported = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_export"), storage_ids=None),
            limit=1000,
        ).records
        # The date's materialization from the scheduled run lists each sync's day.
        (mine,) = [r for r in exported if r.run_id == scheduled[0].run_id]
        assert mine.partition_key == days[-1]
        by_sync = mine.asset_materialization.metadata["by_sync"].value
        assert {k: v["outcome"] for k, v in by_sync.items()} == {s.id: "exported" for s in syncs}

    with engine.connect() as conn:
        ledger = {(r.sync_id, r.day): r for r in conn.execute(select(export_ledger))}
    assert sorted(ledger) == sorted((s.id, d) for s in syncs for d in days)
    for sync in syncs:
        out = tmp_path / f"b{syncs.index(sync)}"
        for n, day in enumerate(days):
            manifest = json.loads((out / layout.manifest_key(sync.id, day)).read_text())
            assert manifest["rows"] == 5 + n == ledger[(sync.id, day)].rows
    # Runs, events and the tick history are in Dagster's PostgreSQL database.
    assert {r.run_id for r in backfill_runs} | {scheduled[0].run_id} <= _pg_run_ids(pg_url)
