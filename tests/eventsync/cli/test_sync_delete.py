"""`eventsync sync delete` and `DELETE /v1/syncs/{id}`: the sync is disabled for good,
its work canceled (and a leftover legacy `sync` partition removed); its exported files,
export ledger and subject index stay (erasures still need them); the deletion is
audited; every later operation on it is refused with the reason (CLI exit status 2,
API 409)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.utils import make_new_run_id
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from assets.partitions import LEGACY_SYNC_PARTITIONS, closed_days
from eventsync import audit
from eventsync.api import create_app
from eventsync.cli import main
from eventsync.store.schema import export_ledger, export_subjects
from eventsync.syncs.config import create_sync, get_sync
from eventsync.workspaces import create_key, create_workspace
from pipeline.runs.backfills import submit_backfill
from pipeline.runs.tags import run_tags
from pipeline.sensors import new_sync_sensor
from tests.factories import insert_day
from tests.fixtures.clock import TODAY
from tests.fixtures.dagster_env import materialize_day, tick_sensor

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _run(instance: dg.DagsterInstance, sync, status: DagsterRunStatus) -> DagsterRun:
    return instance.add_run(
        DagsterRun(
            job_name="daily_sync_job",
            run_id=make_new_run_id(),
            status=status,
            remote_job_origin=RemoteJobOrigin(
                RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("eventsync"), "__repository__"),
                "daily_sync_job",
            ),
            tags={**run_tags(sync), "dagster/partition": YESTERDAY},
        )
    )


def _count(engine, table, sync_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(table).where(table.c.sync_id == sync_id)
        ).scalar_one()


def test_sync_delete_keeps_files_and_index_and_refuses_later_work(
    engine, instance: dg.DagsterInstance, resources, tmp_path: Path
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "out"
    sync = create_sync(engine, ws, str(out), backfill_days=3)
    insert_day(engine, ws, YESTERDAY, 6)
    assert materialize_day(instance, resources, YESTERDAY, sync.id).success
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert files and _count(engine, export_subjects, sync.id) > 0
    index_rows = _count(engine, export_subjects, sync.id)
    backfill = submit_backfill(instance, sync, closed_days(3, TODAY), "cli backfill")
    queued = _run(instance, sync, DagsterRunStatus.QUEUED)
    running = _run(instance, sync, DagsterRunStatus.STARTED)
    # An instance not yet through `eventsync dagster migrate-partitions`.
    instance.add_dynamic_partitions(LEGACY_SYNC_PARTITIONS, [sync.id])

    shown = json.loads(run("sync", "delete", sync.id, "--json"))

    assert shown["deleted_at"] and shown["enabled"] is False
    assert shown["removed_partitions"] == [sync.id]
    assert sync.id not in instance.get_dynamic_partitions(LEGACY_SYNC_PARTITIONS)
    assert instance.get_backfill(backfill.backfill_id).status.value == "CANCELED"
    assert instance.get_run_by_id(queued.run_id).status == DagsterRunStatus.CANCELED
    # The in-flight run is told to stop: CANCELING with the reason (it ends CANCELED).
    assert instance.get_run_by_id(running.run_id).status == DagsterRunStatus.CANCELING
    messages = [e.message for e in instance.all_logs(running.run_id) if e.message]
    assert any(f"sync {sync.id} is deleted" in m for m in messages), messages
    # Kept: the customer's files, the ledger and the subject index (for erasures).
    assert sorted(p for p in out.rglob("*") if p.is_file()) == files
    assert _count(engine, export_subjects, sync.id) == index_rows
    assert _count(engine, export_ledger, sync.id) >= 1
    (entry,) = [e for e in audit.iter_all(engine, ws, audit.Filter()) if e.action == "sync.delete"]
    assert (entry.source, entry.target, entry.outcome) == ("cli", sync.id, "ok")
    assert entry.actor.startswith("cli")

    # Every later operation is refused, naming why.
    for args in (
        ("sync", "backfill", sync.id, "--days", "2"),
        ("sync", "resync", sync.id),
        ("sync", "pause", sync.id),
        ("sync", "resume", sync.id),
        ("sync", "update", sync.id, "--enable"),
        ("sync", "test", sync.id),
        ("sync", "delete", sync.id, "--yes"),
    ):
        refused = run(*args, code=2)
        assert f"sync {sync.id} was deleted at {shown['deleted_at']}" in refused, args
    assert "deleted at" in run("sync", "list")
    # A run of it that starts anyway exports nothing and ends CANCELED.
    stopped = materialize_day(instance, resources, YESTERDAY, sync.id)
    assert instance.get_run_by_id(stopped.run_id).status == DagsterRunStatus.CANCELED
    assert sorted(p for p in out.rglob("*") if p.is_file()) == files


def test_a_disabled_sync_is_not_backfilled(engine, instance, tmp_path: Path) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"), enabled=False)
    refused = run("sync", "backfill", sync.id, "--days", "2", code=2)
    assert f"sync {sync.id} is disabled" in refused
    assert f"eventsync sync update {sync.id} --enable" in refused
    assert run("sync", "resync", sync.id, code=2).count("is disabled") == 1
    assert instance.get_backfills() == []


def test_api_delete_then_the_sensor_cancels_its_work(
    engine, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    a = create_workspace(engine, "a")
    b = create_workspace(engine, "b")
    sync = create_sync(engine, a.workspace_id, str(tmp_path / "a"))
    client = TestClient(create_app(engine))
    first = tick_sensor(new_sync_sensor, instance)  # requests its backfill
    assert first.run_requests
    backfill = submit_backfill(instance, sync, closed_days(3, TODAY), "cli backfill")
    a_key = create_key(engine, a.workspace_id, ["syncs:write"])
    b_key = create_key(engine, b.workspace_id, ["syncs:write"])

    # The workspace's first key does not hold syncs:write (given only when named).
    plain = client.delete(f"/v1/syncs/{sync.id}", headers={"Authorization": f"Bearer {a.api_key}"})
    assert plain.status_code == 403
    other = client.delete(f"/v1/syncs/{sync.id}", headers={"Authorization": f"Bearer {b_key}"})
    assert other.status_code == 404
    deleted = client.delete(f"/v1/syncs/{sync.id}", headers={"Authorization": f"Bearer {a_key}"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["files_kept"] is True
    assert get_sync(engine, sync.id).deleted_at == deleted.json()["deleted_at"]
    again = client.delete(f"/v1/syncs/{sync.id}", headers={"Authorization": f"Bearer {a_key}"})
    patched = client.patch(
        f"/v1/syncs/{sync.id}", json={"enabled": True}, headers={"Authorization": f"Bearer {a_key}"}
    )
    assert patched.status_code == 409, patched.text
    assert again.status_code == 409
    assert f"sync {sync.id} was deleted at" in again.json()["detail"]
    actions = [(e.source, e.action) for e in audit.iter_all(engine, a.workspace_id, audit.Filter())]
    assert ("api", "sync.delete") in actions

    second = tick_sensor(new_sync_sensor, instance, first.cursor)
    assert instance.get_backfill(backfill.backfill_id).status.value == "CANCELED"
    assert not second.run_requests
    assert json.loads(second.cursor)[sync.id] == "deleted"
