"""What the Dagster UI shows, asked the way the UI asks: GraphQL on the webserver."""

from __future__ import annotations

from datetime import date, timedelta

from tests.fixtures.dagster_dev import DagsterDev

PARTITION_STATUS = """
query ($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey
            primaryDimEndKey
            secondaryDim {
              ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
            }
          }
        }
      }
    }
  }
}
"""


def partition_status(dev: DagsterDev, asset: str) -> tuple[set[str], set[str]]:
    """(materialized, failed) "day|sync" keys of an asset's partition view."""
    data = dev.graphql(PARTITION_STATUS, {"key": {"path": [asset]}})
    statuses = data["assetNodeOrError"]["assetPartitionStatuses"]
    assert statuses["primaryDimensionName"] == "date", statuses
    materialized: set[str] = set()
    failed: set[str] = set()
    for r in statuses["ranges"]:
        first, last = (
            date.fromisoformat(r["primaryDimStartKey"]),
            date.fromisoformat(r["primaryDimEndKey"]),
        )
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        for day in days:
            materialized |= {f"{day}|{s}" for s in r["secondaryDim"]["materializedPartitions"]}
            failed |= {f"{day}|{s}" for s in r["secondaryDim"]["failedPartitions"]}
    return materialized, failed
