"""Privacy operations outside the API path: a write-only S3 destination gets a tombstone
(CLI `privacy erase --now`, moto_server with IAM enforced), access export to the local
privacy folder for a workspace without syncs (CLI), and retention through retention_job."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from assets.staging import staging_dir
from pipeline.cli import main
from pipeline.defs.exports.assets import events_daily, events_export
from pipeline.defs.exports.partitions import partition_key
from pipeline.defs.privacy.jobs import retention_job, retention_schedule
from pipeline.defs.resources import EventStoreResource, build_resources
from pipeline.privacy import ledger
from pipeline.syncs.config import create_sync
from pipeline.workspaces import create_workspace
from resources.clock import utcnow
from resources.schema import events, export_subjects, privacy_request_log
from tests.factories import insert_day
from tests.fixtures.dagster_env import tick_sensor

DAY = "2025-04-10"


def cli(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_write_only_destination_gets_a_tombstone(engine: Engine, instance, moto_iam, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_iam.writer["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_iam.writer["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("EVENTSYNC_S3_ENDPOINT_URL", moto_iam.server.url)
    monkeypatch.setenv("EVENTSYNC_DEST_MAX_ATTEMPTS", "2")
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 26)
    sync = create_sync(engine, ws, f"s3://{moto_iam.bucket}/exports", formats=["parquet"])
    instance.add_dynamic_partitions("sync", [sync.id])
    result = dg.materialize(
        [events_daily, events_export],
        partition_key=str(partition_key(DAY, sync.id)),
        instance=instance,
        resources=build_resources(),
    )
    assert result.success

    out = cli("privacy", "erase", "--workspace", ws, "--user-id", "user-3", "--now")
    assert out["status"] == "completed" and out["verified_at"], out
    rid = out["id"]
    where = f"s3://{moto_iam.bucket}/exports"
    assert out["progress"]["destinations"][sync.id]["status"] == "tombstone"
    assert "owner must clean" in out["progress"]["owner_action_required"][where]
    assert out["progress"]["tombstones"][where]["syncs"] == {sync.id: [DAY]}
    tomb = json.loads(
        moto_iam.admin_client()
        .get_object(Bucket=moto_iam.bucket, Key=f"exports/_deletions/{rid}.json")["Body"]
        .read()
    )
    assert tomb["user_ids"] == ["user-3"] and tomb["days_by_sync"] == {sync.id: [DAY]}
    # the store is clean; the index still says the day holds the user (not rewritten)
    with engine.connect() as conn:
        assert not conn.execute(select(events).where(events.c.user_id == "user-3")).all()
        assert conn.execute(
            select(export_subjects).where(export_subjects.c.subject_id == "user-3")
        ).all()
    status = cli("privacy", "status", rid, "--log")
    assert status["status"] == "completed"
    assert "tombstone_written" in [e["action"] for e in status["audit_log"]]


def test_access_export_without_sync_goes_to_the_local_privacy_folder(engine: Engine, es_home):
    ws = create_workspace(engine, "acme").workspace_id
    rows = insert_day(engine, ws, DAY, 26)
    out = cli("privacy", "export", "--workspace", ws, "--company-id", "company-2", "--now")
    assert out["status"] == "completed"
    path = es_home / "eventsync" / "privacy" / ws / "_privacy" / "access" / f"{out['id']}.csv"
    assert out["result_location"] == str(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert sorted(frame["event_id"]) == sorted(
        r["event_id"] for r in rows if r["company_id"] == "company-2"
    )
    assert set(frame["company_id"]) == {"company-2"}
    # bad input names the problem, exit status 2
    bad = CliRunner().invoke(main, ["privacy", "export", "--workspace", ws])
    assert bad.exit_code == 2 and "name at least one user id or company id" in bad.output
    bad = CliRunner().invoke(
        main, ["privacy", "export", "--workspace", ws, "--user-id", "a", "--company-id", "b"]
    )
    assert bad.exit_code == 2 and "exactly one user or one company" in bad.output
    bad = CliRunner().invoke(main, ["privacy", "status", "era_nope"])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_retention_job_purges_old_events_and_staging(engine: Engine, instance, tmp_path):
    ws = create_workspace(engine, "acme", retention_days=30).workspace_id
    keep_ws = create_workspace(engine, "forever").workspace_id
    today = utcnow().date()
    old, recent = (today - timedelta(days=40)).isoformat(), (today - timedelta(days=5)).isoformat()
    insert_day(engine, ws, old, 10)
    insert_day(engine, ws, recent, 10)
    insert_day(engine, keep_ws, old, 10)
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    for day in (old, recent):
        staging_dir(sync.id, day).mkdir(parents=True)
        (staging_dir(sync.id, day) / "events.parquet").write_bytes(b"x")

    result = retention_job.execute_in_process(
        instance=instance, resources={"store": EventStoreResource()}
    )
    assert result.success
    with engine.connect() as conn:
        left = conn.execute(select(events.c.workspace_id, events.c.event_id)).all()
        log = conn.execute(
            select(privacy_request_log).where(privacy_request_log.c.action == "retention_purge")
        ).all()
    assert sorted({(w, e.split("-", 1)[1][:10]) for w, e in left}) == sorted(
        {(ws, recent), (keep_ws, old)}
    )
    assert not staging_dir(sync.id, old).exists() and staging_dir(sync.id, recent).exists()
    (entry,) = log
    detail = json.loads(entry.detail)
    assert entry.workspace_id == ws and entry.actor.startswith("job:")
    assert detail["events_removed"] == 10 and detail["partition_folders_removed"] == 1
    assert retention_schedule.cron_schedule == "30 4 * * *"


def test_retried_request_skips_finished_steps(engine: Engine, tmp_path):
    """The ledger's step runner: a step done in attempt 1 is not run again."""
    ws = create_workspace(engine, "acme").workspace_id
    req = ledger.create_request(engine, ws, "erasure", ["u"], [], "test")
    calls = []
    ledger.run_step(engine, req.id, "s", lambda r: calls.append(1) or {"n": 1}, "test")
    ledger.run_step(engine, req.id, "s", lambda r: calls.append(2) or {"n": 2}, "test")
    assert calls == [1]
    assert ledger.get_request(engine, req.id).progress["steps"]["s"]["n"] == 1
    with pytest.raises(ledger.InvalidTransition, match="received; cannot become completed"):
        ledger.complete(engine, req.id, "test")


def test_request_sensor_queues_once_and_advances_its_cursor(engine: Engine, instance):
    from pipeline.defs.privacy.sensors import privacy_request_sensor

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
