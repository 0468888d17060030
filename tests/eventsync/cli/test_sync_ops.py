"""`eventsync sync backfill | resync | pause | resume | status` on the project's Dagster
instance: work is queued for the daemon, a paused sync gets none, and each command
says in one line what it did."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from assets.partitions import closed_days
from eventsync.cli import main
from eventsync.syncs.config import Sync, create_sync
from eventsync.workspaces import create_workspace
from tests.factories import insert_day
from tests.fixtures.clock import TODAY

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _sync(engine: Engine, tmp_path: Path) -> Sync:
    ws = create_workspace(engine, "acme").workspace_id
    return create_sync(engine, ws, str(tmp_path / "out"), backfill_days=3)


def test_backfill_queues_the_syncs_closed_days(
    engine, instance: dg.DagsterInstance, tmp_path
) -> None:
    sync = _sync(engine, tmp_path)
    out = json.loads(run("sync", "backfill", sync.id, "--json"))
    (backfill,) = instance.get_backfills()
    days = closed_days(3, TODAY)
    assert (out["backfill_id"], out["days"]) == (backfill.backfill_id, 3)
    assert (out["first_day"], out["last_day"]) == (days[0], days[-1])


def test_a_paused_sync_gets_no_work_until_resumed(
    engine, instance: dg.DagsterInstance, tmp_path
) -> None:
    sync = _sync(engine, tmp_path)
    assert run("sync", "pause", sync.id, "--reason", "bucket migration").startswith(
        f"paused {sync.id}: "
    )
    refused = run("sync", "backfill", sync.id, code=2)
    assert f"{sync.id} is paused" in refused and f"eventsync sync resume {sync.id}" in refused
    assert instance.get_backfills() == []
    assert run("sync", "resume", sync.id).startswith(f"resumed {sync.id}; failures reset to 0")
    assert run("sync", "resume", sync.id) == f"{sync.id} was not paused: nothing to resume\n"


def test_resync_dry_run_names_each_changed_day_and_why(engine, tmp_path) -> None:
    sync = _sync(engine, tmp_path)
    (yesterday,) = closed_days(1, TODAY)
    insert_day(engine, sync.workspace_id, yesterday, 4)
    out = json.loads(run("sync", "resync", sync.id, "--days", "5", "--dry-run", "--json"))
    assert (out["days"], out["reasons"]) == ([yesterday], {yesterday: "never exported"})
    assert out["backfill_id"] is None


def test_status_of_a_sync_never_exported_says_so(engine, tmp_path) -> None:
    sync = _sync(engine, tmp_path)
    first = run("sync", "status", sync.id).splitlines()[0]
    assert first.startswith(f"{sync.id} [")
    assert "never exported (no day has been exported yet)" in first


def test_status_says_when_the_syncs_runs_hang_or_die(
    engine, instance: dg.DagsterInstance, tmp_path
) -> None:
    from dagster._core.storage.dagster_run import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    from pipeline.runs.tags import run_tags

    sync = _sync(engine, tmp_path)
    assert json.loads(run("sync", "status", sync.id, "--json"))["runs"]["healthy"]
    lost = create_run_for_test(
        instance, job_name="export_job", status=DagsterRunStatus.STARTED, tags=run_tags(sync)
    )
    instance.report_run_failed(lost, "Exceeded maximum runtime of 3600 seconds.")
    out = json.loads(run("sync", "status", sync.id, "--json"))
    assert out["sync"]["state"] == "runs failing"
    assert out["runs"]["failed_infrastructure"] == [lost.run_id]
    assert "1 failed for the infrastructure" in run("sync", "status", sync.id)


def test_resync_of_chosen_days_queues_exactly_them(
    engine, instance: dg.DagsterInstance, tmp_path
) -> None:
    sync = _sync(engine, tmp_path)
    first, _, last = closed_days(3, TODAY)
    dry = json.loads(
        run("sync", "resync", sync.id, "--day", last, "--day", first, "--dry-run", "--json")
    )
    assert dry["days"] == [first, last] and dry["backfill_id"] is None
    assert set(dry["reasons"].values()) == {"chosen: re-exported with the sync's current settings"}
    assert instance.get_backfills() == []
    out = json.loads(run("sync", "resync", sync.id, "--day", first, "--day", last, "--json"))
    (backfill,) = instance.get_backfills()
    assert (out["backfill_id"], out["days"]) == (backfill.backfill_id, [first, last])
    today = TODAY.isoformat()
    refused = run("sync", "resync", sync.id, "--day", today, code=2)
    assert refused.startswith(f"error: day: {today} is not a closed day of the last 365 days")
    assert "not a UTC day" in run("sync", "resync", sync.id, "--day", "yesterday", code=2)


@pytest.mark.slow  # waits out its 10 s: make test, not the inner loop
def test_backfill_wait_without_a_daemon_says_so_within_10_s(
    engine, instance: dg.DagsterInstance, tmp_path
) -> None:
    import time

    sync = _sync(engine, tmp_path)
    started = time.monotonic()
    result = CliRunner().invoke(main, ["sync", "backfill", sync.id, "--wait"])
    assert time.monotonic() - started < 10
    assert result.exit_code == 2, result.output
    assert "no Dagster daemon is running on" in result.output
    assert "last heartbeat: never" in result.output
    assert "make demo" in result.output
    (backfill,) = instance.get_backfills()  # queued all the same, for a later daemon
    assert backfill.backfill_id in result.output


def test_a_heartbeating_daemon_is_no_problem(instance: dg.DagsterInstance) -> None:
    import time

    from dagster._daemon.types import DaemonHeartbeat

    from pipeline.instance import daemon_problem

    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - 100, "BACKFILL", "d1", None))
    assert "last heartbeat: 100 s ago" in daemon_problem(instance, wait_seconds=0)
    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "BACKFILL", "d1", None))
    assert daemon_problem(instance, wait_seconds=0) is None
