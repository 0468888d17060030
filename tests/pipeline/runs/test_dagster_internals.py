"""Every private Dagster name eventsync uses, checked where it is used: an upgrade that
moves, renames or changes one fails here, naming it, not in a sensor at 03:00."""

from __future__ import annotations

import dagster as dg

from assets.partitions import partitions
from pipeline.runs import dagster_internals as internals


def test_the_partition_tags_are_the_ones_dagster_reads_and_writes() -> None:
    days = dg.DailyPartitionsDefinition(start_date="2025-03-01")
    seen: list[dg.PartitionKeyRange] = []

    @dg.asset(partitions_def=days)
    def daily(context) -> None:  # type: ignore[no-untyped-def]
        seen.append(context.partition_key_range)

    ranged = dg.materialize(
        [daily],
        tags={
            internals.ASSET_PARTITION_RANGE_START_TAG: "2025-03-01",
            internals.ASSET_PARTITION_RANGE_END_TAG: "2025-03-03",
        },
    )
    assert ranged.success and seen == [dg.PartitionKeyRange("2025-03-01", "2025-03-03")]
    single = dg.materialize([daily], partition_key="2025-03-02")
    assert single.dagster_run.tags[internals.PARTITION_NAME_TAG] == "2025-03-02"


def test_a_backfill_round_trips_through_a_real_instance(instance: dg.DagsterInstance) -> None:
    subset = partitions.empty_subset().with_partition_keys(["2025-03-01"])
    graph_subset = internals.AssetGraphSubset(
        partitions_subsets_by_asset_key={dg.AssetKey("events_export"): subset},
        non_partitioned_asset_keys=set(),
    )
    backfill_id = internals.make_new_backfill_id()
    instance.add_backfill(
        internals.PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=0.0,
            tags={},
            dynamic_partitions_store=instance,
            asset_graph_subset=graph_subset,
            title=None,
            description=None,
            run_config=None,
        )
    )
    requested = internals.BulkActionsFilter(statuses=[internals.BulkActionStatus.REQUESTED])
    assert [b.backfill_id for b in instance.get_backfills(filters=requested)] == [backfill_id]
    error = internals.SerializableErrorInfo("paused by hand", [], "SyncPaused")
    assert error.message == "paused by hand"
