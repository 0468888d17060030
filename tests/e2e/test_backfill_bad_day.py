"""A 61-day backfill batch with one day above the invalid-share limit, run by a real
Dagster daemon: the other 60 days are exported in the same backfill (one run), and the
bad day is failed with its own reason in the UI's partition view (the backfill's only
sync was not exported that date), the date's check, the status API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from fastapi.testclient import TestClient

from assets.partitions import closed_days
from eventsync.api import create_app
from eventsync.cli import main
from eventsync.engine import layout
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.runs.backfills import submit_backfill
from tests.e2e.dagster_ui import partition_status
from tests.factories import insert_day

BAD_ROWS = {f"i{i}": {"properties": "not json"} for i in range(0, 20, 4)}  # 5 of 20 invalid


@pytest.mark.timeout(900)
def test_one_bad_day_of_a_61_day_batch_fails_alone(dagster_dev, engine, tmp_path):
    created = create_workspace(engine, "acme")
    out = tmp_path / "bucket"
    # Disabled: the new-sync sensor leaves it alone; this test queues the backfill itself.
    sync = create_sync(engine, created.workspace_id, str(out), backfill_days=61, enabled=False)
    days = closed_days(61, datetime.now(UTC).date())
    bad = days[30]
    for day in days:
        insert_day(engine, created.workspace_id, day, 20, **(BAD_ROWS if day == bad else {}))

    with dg.DagsterInstance.get() as instance:
        plan = submit_backfill(instance, sync, days, "cli backfill")
        done = dagster_dev.wait_until(
            "the backfill to finish",
            lambda: (
                (b := instance.get_backfill(plan.backfill_id)).status != BulkActionStatus.REQUESTED
                and b
            ),
            600,
        )
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": plan.backfill_id}))
        data = done.asset_backfill_data
    # One run for the 61 days; it fails because of the one bad day, after exporting 60.
    assert done.status == BulkActionStatus.COMPLETED_FAILED, done.status
    assert [r.status for r in runs] == [DagsterRunStatus.FAILURE]
    key = bad
    export = dg.AssetKey("events_export")
    assert set(
        data.failed_and_downstream_subset.get_partitions_subset(export).get_partition_keys()
    ) == {key}
    assert len(data.materialized_subset.get_partitions_subset(export).get_partition_keys()) == 60
    folder = out / layout.data_folder(sync.id, "parquet")
    exported = sorted(p.name.removeprefix("date=") for p in folder.iterdir())
    assert exported == [d for d in days if d != bad]

    # The UI's partition view (the webserver's GraphQL).
    materialized, failed = partition_status(dagster_dev, "events_export")
    assert failed == {key}
    assert materialized == {d for d in days if d != bad}

    # The status API and the CLI, with the day's own reason.
    client = TestClient(create_app(engine))
    body = client.get(
        f"/v1/syncs/{sync.id}/days",
        params={"from": days[0], "to": days[-1]},
        headers={"Authorization": f"Bearer {created.api_key}"},
    ).json()
    statuses = {d["day"]: d for d in body["days"]}
    assert sum(d["status"] == "exported" for d in statuses.values()) == 60
    assert statuses[bad]["status"] == "failed"
    assert statuses[bad]["error"] == (
        "blocked: 5 of 20 rows invalid (25.0%), above the limit of 5.0%"
    )
    assert body["sync"]["failed_days"] == 1
    shown = CliRunner().invoke(
        main, ["sync", "status", sync.id, "--from", days[0], "--to", days[-1]]
    )
    assert shown.exit_code == 0, shown.output
    assert f"  {bad}  failed" in shown.output and "blocked: 5 of 20 rows invalid" in shown.output
    day_lines = shown.output.splitlines()[1:]
    assert sum(line.split()[1] == "exported" for line in day_lines) == 60
