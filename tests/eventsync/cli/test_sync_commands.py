"""`eventsync sync ...`: create probes the destination first (one line when it refuses),
`test` reports any destination error in one line, `backfill` never queues a duplicate
of a pending backfill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventsync.cli import main
from eventsync.syncs.config import list_syncs
from eventsync.workspaces import create_workspace


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def iam_env(moto_iam, monkeypatch: pytest.MonkeyPatch):
    """The CLI's environment with the write-only identity of the IAM-enforcing moto."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_iam.writer["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_iam.writer["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("EVENTSYNC_S3_ENDPOINT_URL", moto_iam.server.url)
    monkeypatch.setenv("EVENTSYNC_DEST_MAX_ATTEMPTS", "1")
    return moto_iam


@pytest.fixture
def no_google_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Application Default Credentials anywhere (and no metadata server lookups)."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


def test_create_refuses_a_bucket_it_cannot_write_to(engine, iam_env):
    ws = create_workspace(engine, "acme").workspace_id
    denied = f"s3://{iam_env.bucket}/other"  # the identity may write under exports/ only
    result = _run("sync", "create", "--workspace", ws, "--destination", denied)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: destination: {denied}: access_denied: ")
    assert "fix: grant the export identity s3:PutObject" in line
    assert line.endswith("(to create the sync anyway: --no-check)")
    assert list_syncs(engine) == []
    # --no-check stores it anyway; a writable prefix passes the probe.
    forced = _run("sync", "create", "--workspace", ws, "--destination", denied, "--no-check")
    assert forced.exit_code == 0, forced.output
    good = f"s3://{iam_env.bucket}/exports"
    created = _run("sync", "create", "--workspace", ws, "--destination", good, "--json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["destination"] == good
    assert len(list_syncs(engine)) == 2


def test_gcs_without_credentials_is_one_line(engine, no_google_credentials):
    ws = create_workspace(engine, "acme").workspace_id
    dest = "gs://acme-exports/eventsync"
    result = _run("sync", "create", "--workspace", ws, "--destination", dest)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: destination: {dest}: bad_credentials: ")
    assert "no Google credentials found" in line
    assert "fix: the Google credentials are missing or were rejected" in line
    assert "AWS" not in line.split("fix:")[1]  # the fix for this provider only
    created = _run(
        "sync", "create", "--workspace", ws, "--destination", dest, "--no-check", "--json"
    )
    sync_id = json.loads(created.output)["id"]
    tested = _run("sync", "test", sync_id)  # the same probe: classified, with the fix
    assert tested.exit_code == 1 and "Traceback" not in tested.output
    assert tested.output.startswith(f"FAILED: {dest}: bad_credentials")
    assert "fix: the Google credentials are missing or were rejected" in tested.output
    as_json = _run("sync", "test", sync_id, "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.output)["problem"] == "bad_credentials"


def test_create_on_a_writable_folder_probes_it(engine, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "out"
    created = _run("sync", "create", "--workspace", ws, "--destination", str(out), "--json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["destination"] == f"file://{out}"
    # The probe could write, read and delete: nothing is left behind.
    assert list(out.iterdir()) == []  # not even its folders


def test_backfill_twice_queues_one_backfill(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    created = _run("sync", "create", "--workspace", ws, "--destination", str(tmp_path), "--json")
    sync_id = json.loads(created.output)["id"]
    first = _run("sync", "backfill", sync_id, "--days", "10", "--json")
    assert first.exit_code == 0, first.output
    queued = json.loads(first.output)
    assert queued["days"] == 10 and queued["backfill_id"]
    second = _run("sync", "backfill", sync_id, "--days", "12")
    assert second.exit_code == 0, second.output
    lines = second.output.strip().splitlines()
    assert lines[0].startswith("backfill ") and ": 2 days of " in lines[0]
    assert (
        lines[1] == f"10 days already pending in backfill {queued['backfill_id']}: not queued again"
    )
    assert len(instance.get_backfills()) == 2
    third = _run("sync", "backfill", sync_id, "--days", "12", "--json")
    assert json.loads(third.output)["backfill_id"] is None
    assert len(instance.get_backfills()) == 2


def test_frequency_and_event_names_on_create_and_update(engine, tmp_path):
    from eventsync.syncs.config import FREQUENCIES, get_sync

    ws = create_workspace(engine, "acme").workspace_id
    dest = str(tmp_path / "out")
    args = ["--frequency", "hourly", "--event-name", "Signed Up", "--event-name", "flow:*"]
    created = _run("sync", "create", "--workspace", ws, "--destination", dest, *args, "--json")
    assert created.exit_code == 0, created.output
    sync_id = json.loads(created.output)["id"]
    assert get_sync(engine, sync_id).frequency == "hourly"
    assert get_sync(engine, sync_id).event_names == ["Signed Up", "flow:*"]
    line = _run("sync", "update", sync_id, "--frequency", "daily", "--all-event-names")
    assert line.exit_code == 0, line.output
    assert "[daily; parquet/auto; all event types; all event names;" in line.output
    assert (get_sync(engine, sync_id).frequency, get_sync(engine, sync_id).event_names) == (
        "daily",
        None,
    )
    both = _run("sync", "update", sync_id, "--event-name", "x", "--all-event-names")
    assert both.exit_code == 2
    assert both.output.strip() == (
        "error: event_names: give --event-name or --all-event-names, not both"
    )
    bad = _run("sync", "update", sync_id, "--event-name", "a\tb")
    assert bad.exit_code == 2 and bad.output.startswith("error: event_names: ")
    weekly = _run("sync", "update", sync_id, "--frequency", "weekly")
    assert weekly.exit_code == 2 and "'weekly' is not one of 'daily', 'hourly'" in weekly.output
    # The CLI's choice is the library's list (not imported there, to start fast).
    assert FREQUENCIES == ("daily", "hourly")
