"""Auto-pause after consecutive failed export runs, pause by hand, resume, and what
the status says (never exported, failed days)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from eventsync.api import create_app
from eventsync.cli import main
from eventsync.engine import layout
from eventsync.errors import ConfigError
from eventsync.syncs.config import create_sync, get_sync, list_syncs
from eventsync.syncs.health import pause_sync, require_unpaused, resume_sync, sync_status
from eventsync.workspaces import create_workspace
from tests.factories import insert_day
from tests.fixtures.clock import TODAY
from tests.fixtures.dagster_env import materialize_day

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_pause_and_resume_say_whether_they_changed_anything(engine, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    paused, changed = pause_sync(engine, sync.id, "bucket migration", "cli:ops")
    assert changed and paused.paused_reason.startswith("paused by cli:ops at ")
    assert paused.paused_reason.endswith(": bucket migration")
    again, changed = pause_sync(engine, sync.id, "other", "cli:ops")
    assert not changed and again.paused_reason == paused.paused_reason  # the first reason stays
    assert list_syncs(engine, enabled_only=True) == []
    with pytest.raises(ConfigError, match=f"is paused .*eventsync sync resume {sync.id}"):
        require_unpaused(again)
    resumed, changed = resume_sync(engine, sync.id)
    assert changed and resumed.paused_reason is None
    _, changed = resume_sync(engine, sync.id)
    assert not changed
    shown = CliRunner().invoke(main, ["sync", "resume", sync.id])
    assert (
        shown.exit_code == 0
        and shown.output.strip() == f"{sync.id} was not paused: nothing to resume"
    )
    with pytest.raises(ConfigError, match="reason: must not be empty"):
        pause_sync(engine, sync.id, "  ", "cli:ops")


def test_status_of_a_sync_never_exported_says_so(engine, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    status = sync_status(engine, sync)
    assert (status.state, status.last_exported_day, status.lag_days, status.failed_days) == (
        "never exported",
        None,
        None,
        0,
    )
    shown = CliRunner().invoke(main, ["sync", "status", sync.id])
    assert shown.exit_code == 0, shown.output
    first = shown.output.splitlines()[0]
    assert first.startswith(f"{sync.id} [never exported]: never exported (no day has been")
    assert "None" not in shown.output
