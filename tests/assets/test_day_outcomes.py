"""A batched (ranged) export run isolates its bad sync-days: one sync's day above the
invalid-share limit, or one day the destination refuses, fails alone -- with its reason
in the date's checks and metadata, the ledger, the status API and the CLI -- and the
other sync-days of the batch are exported in the same run, which fails naming it."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from eventsync.api import create_app
from eventsync.cli import main
from eventsync.engine import layout
from eventsync.syncs.config import create_sync, get_sync
from eventsync.syncs.health import day_statuses, sync_status
from eventsync.workspaces import create_workspace
from pipeline.definitions import defs
from pipeline.runs.tags import SYNCS_TAG
from tests.assets.verdicts import check_verdicts, partition_status
from tests.factories import insert_day
from tests.fixtures.clock import TODAY

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
DAYS = [(TODAY - timedelta(days=i)).isoformat() for i in range(5, 0, -1)]
BAD = DAYS[2]
TWENTY_PERCENT_INVALID = {f"i{i}": {"properties": "not json"} for i in range(0, 50, 5)}


def _ranged_run(instance: dg.DagsterInstance, *sync_ids: str) -> dg.ExecuteInProcessResult:
    """What a backfill batch is: one run over a range of dates (BackfillPolicy), for the
    syncs its tag names."""
    return defs.resolve_job_def("daily_sync_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": DAYS[0],
            "dagster/asset_partition_range_end": DAYS[-1],
            SYNCS_TAG: ",".join(sync_ids),
        },
    )


def _step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {
        e.step_key: e.step_failure_data.error.message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    }


def test_a_day_above_the_invalid_limit_fails_alone_and_the_batch_exports_the_rest(
    engine, instance, tmp_path
):
    created = create_workspace(engine, "acme")
    ws = created.workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out))
    for day in DAYS:
        insert_day(engine, ws, day, 50, **(TWENTY_PERCENT_INVALID if day == BAD else {}))

    result = _ranged_run(instance, sync.id)

    assert not result.success
    failures = _step_failures(result)
    assert list(failures) == ["events_export"]  # staging and checks ran for all five days
    assert "1 of 5 sync-days not exported, 4 exported" in failures["events_export"]
    assert f"{BAD} {sync.id}: blocked: 10 of 50 rows invalid (20.0%)" in failures["events_export"]
    # The files: every day but the bad one.
    exported = sorted(p.name for p in (out / layout.data_folder(sync.id, "parquet")).iterdir())
    assert exported == [f"date={d}" for d in DAYS if d != BAD]
    # The UI's partition view: the run's only sync was not exported on the bad date, so
    # that date failed; staging materialized all.
    materialized, failed = partition_status(instance, "events_export")
    assert (materialized, failed) == ({d for d in DAYS if d != BAD}, {BAD})
    assert partition_status(instance, "events_daily") == (set(DAYS), set())
    # Per-date check verdicts (one Dagster verdict per date, not one per batch), naming
    # the sync.
    valid = check_verdicts(instance, "sync_days_valid")
    assert {k for k, (passed, _) in valid.items() if not passed} == {BAD}
    assert valid[BAD][1] == f"1 of 1 syncs above the invalid limit: {sync.id}"
    exported_check = check_verdicts(instance, "syncs_exported", "events_export")
    assert {k for k, (passed, _) in exported_check.items() if not passed} == {BAD}
    # The sync-day's own reason on its date's timeline.
    observation = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_export"), asset_partitions=[BAD]),
        limit=1,
    ).records[0]
    metadata = observation.asset_observation.metadata
    assert "blocked: 10 of 50 rows invalid" in metadata["error"].value
    assert (metadata["sync_id"].value, metadata["outcome"].value) == (sync.id, "blocked")

    # The status API and the CLI: the bad day failed with its reason; failed_days counts days.
    status = sync_status(engine, get_sync(engine, sync.id))
    assert (status.failed_days, status.last_exported_day, status.consecutive_failures) == (
        1,
        DAYS[-1],
        0,  # a blocked day is a data problem, not a failing destination: no auto-pause
    )
    client = TestClient(create_app(engine))
    days = client.get(
        f"/v1/syncs/{sync.id}/days",
        params={"from": DAYS[0], "to": DAYS[-1]},
        headers={"Authorization": f"Bearer {created.api_key}"},
    ).json()["days"]
    by_day = {d["day"]: d for d in days}
    assert [d for d in DAYS if by_day[d]["status"] == "exported"] == [d for d in DAYS if d != BAD]
    assert by_day[BAD]["status"] == "failed"
    assert by_day[BAD]["error"].startswith("blocked: 10 of 50 rows invalid (20.0%)")
    shown = CliRunner().invoke(main, ["sync", "status", sync.id, "--from", DAYS[0]])
    assert shown.exit_code == 0, shown.output
    assert f"{BAD}  failed" in shown.output and "blocked: 10 of 50 rows invalid" in shown.output
    assert "1 failed days" in shown.output


def test_a_day_the_destination_refuses_fails_alone(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out))
    for day in DAYS:
        insert_day(engine, ws, day, 20)
    # A file where the bad day's folder must go: only that day's write fails.
    blocked = out / layout.day_folder(sync.id, "parquet", BAD).rstrip("/")
    blocked.parent.mkdir(parents=True)
    blocked.write_text("in the way")

    result = _ranged_run(instance, sync.id)

    assert not result.success
    message = _step_failures(result)["events_export"]
    assert "1 of 5 sync-days not exported, 4 exported" in message
    assert partition_status(instance, "events_export") == ({d for d in DAYS if d != BAD}, {BAD})
    status = sync_status(engine, get_sync(engine, sync.id))
    assert status.failed_days == 1
    assert status.consecutive_failures == 1  # the destination failed: one failed run


def test_a_dead_destination_is_not_retried_for_every_day_of_the_batch(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the destination folder should be")
    sync = create_sync(engine, ws, str(blocker / "out"))
    for day in DAYS:
        insert_day(engine, ws, day, 5)

    result = _ranged_run(instance, sync.id)

    message = _step_failures(result)["events_export"]
    assert "5 of 5 sync-days not exported, 0 exported" in message
    # Two days tried, then the rest of the batch is failed without waiting out retries.
    tried = [d for d in DAYS if f"{d} {sync.id}: NotADirectoryError" in message]
    assert tried == DAYS[:2]
    for day in DAYS[2:]:
        assert f"{day} {sync.id}: not attempted: the destination failed on {DAYS[1]}" in message
    assert sync_status(engine, sync).failed_days == 5
    assert partition_status(instance, "events_export")[1] == set(DAYS)


def test_a_bucket_that_refuses_writes_fails_the_batch_at_once_with_the_fix(
    engine, instance, moto_iam, tmp_path, monkeypatch
):
    """Access denied is no day's fault: the rest of the batch is not tried, and every
    day's reason is one classified line with the fix."""
    from assets.events import events_daily, events_export
    from resources import build_resources

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_iam.writer["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_iam.writer["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("EVENTSYNC_S3_ENDPOINT_URL", moto_iam.server.url)
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, f"s3://{moto_iam.bucket}/other")  # writer: exports/ only
    for day in DAYS:
        insert_day(engine, ws, day, 5)
    result = dg.materialize(
        [events_daily, events_export],
        instance=instance,
        resources=build_resources(),
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": DAYS[0],
            "dagster/asset_partition_range_end": DAYS[-1],
            SYNCS_TAG: sync.id,
        },
    )
    message = _step_failures(result)["events_export"]
    assert "5 of 5 sync-days not exported, 0 exported" in message
    # In Dagster: the classified problem, the error's class and the fix, not the error's
    # text (which the export ledger keeps: eventsync sync status).
    first = f"{DAYS[0]} {sync.id}: access_denied: DestinationError (its message: "
    assert first in message and "; fix: grant the export identity s3:PutObject" in message
    ledger = day_statuses(engine, get_sync(engine, sync.id), DAYS[0], DAYS[0])[0].error
    assert ledger.startswith("access_denied: DestinationError: ") and "fix:" in ledger
    for day in DAYS[1:]:
        assert f"{day} {sync.id}: not attempted: the destination failed on {DAYS[0]}" in message
    status = sync_status(engine, get_sync(engine, sync.id))
    assert (status.failed_days, status.consecutive_failures) == (5, 1)


def test_one_syncs_bad_day_fails_alone_and_its_date_still_exports_the_others(
    engine, instance, tmp_path
):
    """Several syncs in one run (the 03:00 schedule's, a multi-sync backfill's): the bad
    sync-day fails alone, the date is materialized with every sync's outcome, the run
    fails naming it, and the date's check names the sync."""
    ws = create_workspace(engine, "acme").workspace_id
    bad_ws = create_workspace(engine, "other").workspace_id
    good = create_sync(engine, ws, str(tmp_path / "good"))
    bad = create_sync(engine, bad_ws, str(tmp_path / "bad"))
    for day in DAYS:
        insert_day(engine, ws, day, 30)
        insert_day(engine, bad_ws, day, 50, **(TWENTY_PERCENT_INVALID if day == BAD else {}))

    result = _ranged_run(instance, good.id, bad.id)

    assert not result.success
    message = _step_failures(result)["events_export"]
    assert "1 of 10 sync-days not exported, 9 exported" in message
    assert f"{BAD} {bad.id}: blocked" in message and good.id not in message
    # Every date materialized (each had a sync exported); the bad date's metadata says who.
    assert partition_status(instance, "events_export") == (set(DAYS), set())
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_export"), asset_partitions=[BAD]),
        limit=1,
    ).records[0]
    metadata = record.asset_materialization.metadata
    assert (metadata["syncs_exported"].value, metadata["syncs_failed"].value) == (1, 1)
    by_sync = metadata["by_sync"].value
    assert by_sync[good.id] == {
        "outcome": "exported",
        "rows": 30,
        "rows_quarantined": 0,
        "bytes": by_sync[good.id]["bytes"],
        "files": 1,
    }
    assert by_sync[bad.id] == {"outcome": "blocked", "rows_valid": 40, "rows_quarantined": 10}
    valid = check_verdicts(instance, "sync_days_valid")
    assert valid[BAD] == (False, f"1 of 2 syncs above the invalid limit: {bad.id}")
    assert valid[DAYS[0]] == (True, "all 2 syncs of the date pass")
    # The ledger per sync and day, as `eventsync sync status` and the API read it.
    assert sync_status(engine, get_sync(engine, bad.id)).failed_days == 1
    assert sync_status(engine, get_sync(engine, good.id)).failed_days == 0
