"""What the Dagster UI shows, asked the way the UI asks: GraphQL on the webserver."""

from __future__ import annotations

from datetime import date, timedelta

from tests.fixtures.dagster_dev import DagsterDev

PARTITION_STATUS = """
query ($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on TimePartitionStatuses {
          ranges { startKey endKey status }
        }
      }
    }
  }
}
"""


def partition_status(dev: DagsterDev, asset: str) -> tuple[set[str], set[str]]:
    """(materialized, failed) dates of an asset's partition view."""
    data = dev.graphql(PARTITION_STATUS, {"key": {"path": [asset]}})
    statuses = data["assetNodeOrError"]["assetPartitionStatuses"]
    assert "ranges" in statuses, statuses
    materialized: set[str] = set()
    failed: set[str] = set()
    for r in statuses["ranges"]:
        first, last = date.fromisoformat(r["startKey"]), date.fromisoformat(r["endKey"])
        days = {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}
        if r["status"] == "MATERIALIZED":
            materialized |= days
        elif r["status"] == "FAILED":
            failed |= days
    return materialized, failed
