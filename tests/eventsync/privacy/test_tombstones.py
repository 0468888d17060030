"""A destination eventsync may only write to gets a tombstone: `privacy erase --now`
against moto_server with IAM enforced (write-only credentials); its instructions name
the folders and manifests an export really writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
from click.testing import CliRunner
from sqlalchemy import Engine, select

from assets.events import events_daily, events_export
from eventsync.cli import main
from eventsync.privacy.tombstones import owner_instructions
from eventsync.store.schema import events, export_subjects
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from resources import build_resources
from tests.eventsync.privacy.scenario import DAYS, seed
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
    result = dg.materialize(
        [events_daily, events_export],
        partition_key=DAY,
        instance=instance,
        resources=build_resources(),
        tags={"eventsync/syncs": sync.id},
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
    assert tomb["instructions"] == owner_instructions()
    # the store is clean; the index still says the day holds the user (not rewritten)
    with engine.connect() as conn:
        assert not conn.execute(select(events).where(events.c.user_id == "user-3")).all()
        assert conn.execute(
            select(export_subjects).where(export_subjects.c.subject_id == "user-3")
        ).all()
    status = cli("privacy", "status", rid, "--log")
    assert status["status"] == "completed"
    assert "tombstone_written" in [e["action"] for e in status["audit_log"]]


def test_owner_instructions_name_the_folders_and_manifests_an_export_writes(
    engine: Engine, tmp_path: Path
) -> None:
    """Every file of a real export (all three formats) lies in a folder the
    instructions name, and its day's manifest is the one they name."""
    root = tmp_path / "out"
    sync = seed(engine, root, formats=("parquet", "csv", "jsonl"))
    patterns = re.findall(r"<sync_id>[^\s,()]*", owner_instructions())
    folder, manifest = patterns[0], patterns[1]

    def fill(pattern: str, fmt: str, day: str) -> str:
        return pattern.replace("<sync_id>", sync.id).replace("<format>", fmt).replace("<day>", day)

    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    parts = [k for k in written if "/part-" in k]
    assert len(parts) == 3 * len(DAYS)
    for day in DAYS:
        assert fill(manifest, "", day) in written
        for fmt in sync.formats:
            assert [k for k in parts if k.startswith(fill(folder, fmt, day))], (fmt, day)
    assert all(
        any(k.startswith(fill(folder, fmt, day)) for fmt in sync.formats for day in DAYS)
        for k in parts
    )
