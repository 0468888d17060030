"""The throwaway code location of `bench.ui --designs`: the shape of eventsync's export
assets and checks under each candidate partition design (issue 24), nothing else.

`BENCH_UI_DESIGN` (a, b, c, d) picks the design; `dagster-webserver -m
bench.ui_location` serves it. The assets are never executed: `bench.ui_populate`
writes their runs, materializations and check evaluations straight into Dagster's
storage, the way the runs of a year of 03:00 schedules would have.

- a: today's design. `events_daily`, `events_export` over date x sync
  (DailyPartitionsDefinition x DynamicPartitionsDefinition "sync"); three partitioned
  checks on `events_daily`, the unpartitioned freshness check on `events_export`.
- b: date-only. The same two assets over DailyPartitionsDefinition (UTC); a run handles
  a group of syncs of one day, each sync's outcome in the materialization's metadata
  (and eventsync's ledger); the three checks partitioned by date.
- c: 16 shards. `events_daily_sNN`, `events_export_sNN` (NN = 00..15), each pair over
  date x its own dynamic `sync_sNN`; a sync lives in one shard; the checks of (a) on
  every pair.
- d: today's partitions, per-run checks. As (a), but the three checks are unpartitioned:
  one verdict per run over the days it staged, each day's verdict in its
  materialization's metadata.
- p: the product as it is now (design b landed): the webserver serves eventsync's own
  code location (`pipeline.definitions`), not this module; `pairs("p")` gives its
  shape for bench.ui_populate: b plus the `syncs_exported` check of `events_export`,
  partitioned by the product's own dates (assets/partitions.py).
"""

import os
from dataclasses import dataclass
from datetime import date

import dagster as dg

from eventsync.clock import utc_today

SHARDS = 16
DESIGNS = {
    "a": "date x sync, 3 partitioned checks (today)",
    "b": "date only, 3 checks per date",
    "c": f"{SHARDS} shards of date x sync, 3 partitioned checks each",
    "d": "date x sync, 3 per-run (unpartitioned) checks",
    "p": "eventsync's own code location (b, with syncs_exported)",
}
CHECKS = ("valid_share", "unique_event_ids", "no_quarantined_rows")
FRESHNESS = "export_freshness"
SYNCS_EXPORTED = "syncs_exported"


def partitions_start(today: date) -> str:
    """The product's rolling start (assets/partitions.py): the first day of today's
    month a year earlier, so the date dimension holds 365 to 396 days."""
    month = today.year * 12 + today.month - 1 - 12
    return date(month // 12, month % 12 + 1, 1).isoformat()


DATES = dg.DailyPartitionsDefinition(
    start_date=partitions_start(utc_today()), timezone="UTC", end_offset=0
)


@dataclass(frozen=True)
class Pair:
    """One events_daily / events_export pair of a design."""

    daily: str
    export: str
    partitions_def: dg.PartitionsDefinition
    sync_dimension: str | None  # the dynamic partitions' name; None: date-only
    partitioned_checks: bool
    job: str = "daily_sync_job"
    export_checks: tuple[str, ...] = ()  # partitioned checks of the export asset
    daily_checks: tuple[str, ...] = CHECKS  # the daily asset's checks


def pairs(design: str) -> list[Pair]:
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}: one of {', '.join(DESIGNS)}")
    if design == "b":
        return [Pair("events_daily", "events_export", DATES, None, True)]
    if design == "p":
        from assets.checks import SYNC_DAYS_VALID
        from assets.partitions import partitions

        return [
            Pair(
                "events_daily",
                "events_export",
                partitions,
                None,
                True,
                export_checks=(SYNCS_EXPORTED,),
                daily_checks=(SYNC_DAYS_VALID,),
            )
        ]
    if design in ("a", "d"):
        multi = dg.MultiPartitionsDefinition(
            {"date": DATES, "sync": dg.DynamicPartitionsDefinition(name="sync")}
        )
        return [Pair("events_daily", "events_export", multi, "sync", design == "a")]
    out = []
    for i in range(SHARDS):
        name = f"sync_s{i:02d}"
        multi = dg.MultiPartitionsDefinition(
            {"date": DATES, "sync": dg.DynamicPartitionsDefinition(name=name)}
        )
        out.append(
            Pair(
                f"events_daily_s{i:02d}",
                f"events_export_s{i:02d}",
                multi,
                name,
                True,
                job=f"daily_sync_job_s{i:02d}",
            )
        )
    return out


def _never_run(context: dg.AssetExecutionContext) -> None:
    raise dg.Failure(
        "bench.ui_location only gives the assets' shape; bench.ui_populate writes their "
        "events. Run eventsync's own code location (pipeline.definitions) to export."
    )


def _assets(pair: Pair) -> list[dg.AssetsDefinition]:
    import warnings

    with warnings.catch_warnings():  # partitioned check specs are a preview in 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        checks = [
            dg.AssetCheckSpec(
                name,
                asset=pair.daily,
                partitions_def=pair.partitions_def if pair.partitioned_checks else None,
                blocking=name != "no_quarantined_rows",
                description=f"{name} of each staged day",
            )
            for name in CHECKS
        ]

    @dg.asset(
        name=pair.daily,
        partitions_def=pair.partitions_def,
        group_name="events",
        kinds={"sql", "parquet", "pandera"},
        check_specs=checks,
        description="One sync's UTC day of events, validated and staged (bench shape).",
    )
    def daily(context: dg.AssetExecutionContext):
        _never_run(context)

    @dg.asset(
        name=pair.export,
        partitions_def=pair.partitions_def,
        group_name="events",
        deps=[pair.daily],
        kinds={"s3", "gcs", "parquet"},
        output_required=False,
        check_specs=[
            dg.AssetCheckSpec(
                FRESHNESS, asset=pair.export, description="Yesterday exported by 06:00 UTC."
            )
        ],
        description="The staged day written to the sync's destination (bench shape).",
    )
    def export(context: dg.AssetExecutionContext):
        _never_run(context)

    return [daily, export]


def definitions(design: str) -> dg.Definitions:
    chosen = pairs(design)
    jobs = [
        dg.define_asset_job(pair.job, selection=dg.AssetSelection.assets(pair.daily, pair.export))
        for pair in chosen
    ]
    return dg.Definitions(assets=[a for pair in chosen for a in _assets(pair)], jobs=jobs)


defs = definitions(os.environ.get("BENCH_UI_DESIGN", "a"))
