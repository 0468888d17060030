"""Auto-pause after consecutive failed export runs, resume, and the freshness check."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import dagster as dg
from click.testing import CliRunner
from fastapi.testclient import TestClient

from assets import layout
from pipeline.api import create_app
from pipeline.cli import main
from pipeline.defs.exports.freshness import CHECK_NAME, export_freshness_sensor
from pipeline.syncs.config import create_sync, get_sync, list_syncs
from pipeline.syncs.health import freshness
from pipeline.workspaces import create_workspace
from tests.factories import insert_day
from tests.fixtures.dagster_env import materialize_day, tick_sensor

TODAY = datetime.now(UTC).date()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def test_failing_destination_pauses_after_three_runs_and_resume_works(
    engine, instance, resources, tmp_path
):
    created = create_workspace(engine, "acme")
    ws = created.workspace_id
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the destination folder should be")
    sync = create_sync(engine, ws, str(blocker / "out"))
    insert_day(engine, ws, YESTERDAY, 30)

    for attempt in (1, 2, 3):
        assert [s.id for s in list_syncs(engine, enabled_only=True)] == [sync.id]
        result = materialize_day(instance, resources, YESTERDAY, sync.id)
        assert not result.success
        current = get_sync(engine, sync.id)
        assert current.consecutive_failures == attempt
        assert (current.paused_reason is not None) == (attempt == 3)
    reason = get_sync(engine, sync.id).paused_reason
    assert "paused after 3 consecutive failed export runs" in reason
    assert "NotADirectoryError" in reason or "FileExistsError" in reason
    # The daily schedule no longer selects it.
    assert list_syncs(engine, enabled_only=True) == []

    # The API and the CLI say why.
    client = TestClient(create_app(engine))
    auth = {"Authorization": f"Bearer {created.api_key}"}
    listed = client.get("/v1/syncs", headers=auth).json()["syncs"]
    assert [(s["sync_id"], s["paused"], s["paused_reason"]) for s in listed] == [
        (sync.id, True, reason)
    ]
    days = client.get(
        f"/v1/syncs/{sync.id}/days", params={"from": YESTERDAY, "to": YESTERDAY}, headers=auth
    ).json()["days"]
    assert days[0]["status"] == "failed" and days[0]["error"] in reason
    shown = CliRunner().invoke(main, ["sync", "status", sync.id])
    assert shown.exit_code == 0 and f"PAUSED: {reason}" in shown.output

    # Fix the destination, resume, and the next run succeeds and resets the count.
    blocker.unlink()
    resumed = CliRunner().invoke(main, ["sync", "resume", sync.id, "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output)["paused_reason"] is None
    assert [s.id for s in list_syncs(engine, enabled_only=True)] == [sync.id]
    assert materialize_day(instance, resources, YESTERDAY, sync.id).success
    assert get_sync(engine, sync.id).consecutive_failures == 0
    assert (blocker / "out" / layout.manifest_key(sync.id, YESTERDAY)).exists()
    unknown = CliRunner().invoke(main, ["sync", "resume", "sync_nope"])
    assert unknown.exit_code == 2 and "sync_nope" in unknown.output


def test_success_between_failures_resets_the_count(engine, instance, resources, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    blocker = tmp_path / "blocker"
    sync = create_sync(engine, ws, str(blocker / "out"))
    insert_day(engine, ws, YESTERDAY, 5)
    blocker.write_text("x")
    for _ in range(2):
        assert not materialize_day(instance, resources, YESTERDAY, sync.id).success
    blocker.unlink()
    assert materialize_day(instance, resources, YESTERDAY, sync.id).success
    shutil.rmtree(blocker)  # the destination breaks again
    blocker.write_text("x")
    assert not materialize_day(instance, resources, YESTERDAY, sync.id).success
    s = get_sync(engine, sync.id)
    assert (s.consecutive_failures, s.paused_reason) == (1, None)


def test_freshness_check_fails_for_a_stale_sync(engine, instance, resources, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    fresh = create_sync(engine, ws, str(tmp_path / "fresh"), title="fresh")
    stale = create_sync(engine, ws, str(tmp_path / "stale"), title="stale")
    three_days_ago = (TODAY - timedelta(days=3)).isoformat()
    insert_day(engine, ws, YESTERDAY, 10)
    insert_day(engine, ws, three_days_ago, 10)
    assert materialize_day(instance, resources, YESTERDAY, fresh.id).success
    assert materialize_day(instance, resources, three_days_ago, stale.id).success

    after_deadline = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=7)
    passed, detail = freshness(engine, after_deadline)
    assert not passed
    assert detail[fresh.id]["fresh"] and not detail[stale.id]["fresh"]
    assert detail[stale.id]["last_exported_day"] == three_days_ago
    assert detail[stale.id]["expected_day"] == YESTERDAY
    assert detail[stale.id]["lag_days"] == 2
    # Before 06:00 UTC the day before yesterday is enough.
    before_deadline = after_deadline - timedelta(hours=2)
    early = freshness(engine, before_deadline)[1]
    assert early[stale.id]["expected_day"] == (TODAY - timedelta(days=2)).isoformat()
    assert early[fresh.id]["fresh"] and not early[stale.id]["fresh"]

    # The sensor emits the check evaluation (and only again when the verdict changes).
    result = tick_sensor(export_freshness_sensor, instance)
    (evaluation,) = result.asset_events
    assert evaluation.check_name == CHECK_NAME
    assert evaluation.asset_key == dg.AssetKey("events_export")
    assert evaluation.passed is False
    assert stale.id in evaluation.description and fresh.id not in evaluation.description
    again = tick_sensor(export_freshness_sensor, instance, result.cursor)
    assert isinstance(again, dg.SkipReason)
    assert export_freshness_sensor.default_status == dg.DefaultSensorStatus.RUNNING

    # Catching up makes it pass.
    assert materialize_day(instance, resources, YESTERDAY, stale.id).success
    assert freshness(engine, after_deadline)[0]
