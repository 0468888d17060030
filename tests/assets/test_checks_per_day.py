"""Check results Dagster shows per date: each evaluation of a batched run targets its
own date's materialization from that run, so the Checks tab's Partitions view shows
Passed / Failed per date (asserted through dagster-webserver's GraphQL, on the
project's code location loaded out of process as the UI loads it)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets.checks import DAILY_ASSET, SYNC_DAYS_VALID
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.definitions import defs
from pipeline.runs.tags import run_tags
from tests.factories import insert_day

ROOT = Path(__file__).resolve().parents[2]
DAYS = ["2025-03-01", "2025-03-02", "2025-03-03"]
QUERY = """
query ($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name
            partitionStatuses {
              __typename
              ... on AssetCheckTimePartitionStatuses {
                ranges { startKey endKey status }
              }
            }
          }
        }
      }
    }
  }
}
"""


def _per_day(check: dict) -> dict[str, str]:
    """{date: SUCCEEDED | FAILED ...} of the test's dates, from the check's ranges."""
    statuses = check["partitionStatuses"]
    assert statuses["__typename"] == "AssetCheckTimePartitionStatuses", statuses
    out: dict[str, str] = {}
    for r in statuses["ranges"]:
        for day in DAYS:
            if r["startKey"] <= day <= r["endKey"]:
                out[day] = r["status"]
    return out


@pytest.mark.slow  # a code server process for the GraphQL context
def test_each_days_checks_target_its_materialization_and_show_per_day(
    engine, instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    insert_day(engine, ws, DAYS[0], 20)
    insert_day(engine, ws, DAYS[1], 20, i3={"event_type": "bogus"})  # quarantined: WARN fails
    insert_day(engine, ws, DAYS[2], 20, **{f"i{i}": {"event_type": "bogus"} for i in range(8)})
    keys = DAYS
    result = defs.resolve_job_def("daily_sync_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            **run_tags(sync),
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
    )
    run_id = result.run_id

    # Each evaluation points at its own day's materialization, written by this run.
    materializations = {
        r.partition_key: r
        for r in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=DAILY_ASSET, asset_partitions=keys), limit=10
        ).records
    }
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_key == DAILY_ASSET
    ]
    assert len(evaluations) == len(DAYS)
    for ev in evaluations:
        target = ev.target_materialization_data
        assert target is not None, ev.check_name
        assert target.run_id == run_id
        assert target.storage_id == materializations[ev.partition].storage_id

    # What the Checks tab's Partitions view shows, per day.
    monkeypatch.chdir(ROOT)
    with (
        define_out_of_process_context(str(ROOT / "workspace.yaml"), None, instance) as ctx,
        ctx,  # as the webserver enters it per request (dynamic partitions loader)
    ):
        data = execute_dagster_graphql(ctx, QUERY, {"key": {"path": ["events_daily"]}})
    assert not data.errors, data.errors
    checks = {c["name"]: c for c in data.data["assetNodeOrError"]["assetChecksOrError"]["checks"]}
    assert _per_day(checks[SYNC_DAYS_VALID]) == {
        DAYS[0]: "SUCCEEDED",
        DAYS[1]: "FAILED",  # quarantined rows: a warning
        DAYS[2]: "FAILED",  # 8 of 20 rows invalid: blocked
    }
