"""Jobs. The export job is an asset job over date x sync partitions."""

from __future__ import annotations

import dagster as dg

from pipeline.defs.exports.partitions import partitions

daily_sync_job = dg.define_asset_job(
    "daily_sync_job",
    selection=dg.AssetSelection.groups("events"),
    partitions_def=partitions,
    description="Stage, validate and export one sync's UTC day (or a range of days).",
)
