"""A destination eventsync may only write to gets a tombstone: `privacy erase --now`
against moto_server with IAM enforced (write-only credentials)."""

from __future__ import annotations

import json

import dagster as dg
from click.testing import CliRunner
from sqlalchemy import Engine, select

from pipeline.cli import main
from pipeline.defs.exports.assets import events_daily, events_export
from pipeline.defs.exports.partitions import partition_key
from pipeline.defs.resources import build_resources
from pipeline.syncs.config import create_sync
from pipeline.workspaces import create_workspace
from resources.schema import events, export_subjects
from tests.factories import insert_day

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
