"""The two software-defined assets over date x sync partitions.

`events_daily` stages and validates a partition; its checks block the export of
bad days. `events_export` writes the staged day to the sync's destination.

Both handle one partition or a range of them (backfills are batched by the
BackfillPolicy: a 365-day backfill is 6 runs, not 365). Per-partition
metadata goes through `add_asset_metadata(partition_key=...)`, so every day has
its own row counts in the UI either way.
"""

import dagster as dg
import pyarrow.parquet as pq

from assets.export import ExportResult, export_partition, write_schema_doc
from assets.formats import staging_codec
from assets.ledger import record_failure
from assets.staging import DEFAULT_MAX_INVALID_SHARE, StageResult, stage_day
from pipeline.defs.exports.freshness import CHECK_NAME as FRESHNESS_CHECK
from pipeline.defs.exports.freshness import evaluate_freshness
from pipeline.defs.exports.partitions import partitions, split_key
from pipeline.defs.resources import DestinationsResource, EventStoreResource
from pipeline.syncs.config import Sync, get_sync
from pipeline.syncs.health import record_run_failure, record_run_success
from resources.destinations.base import Destination
from resources.locks import PartitionBusy

# Days per backfill run. Each run costs ~40 s of fixed start-up on a 2-core machine
# (run and step processes, event log writes) and a backfill's runs go one at a time
# per destination (dagster.yaml), so 61 days per run: 365 days are 6 runs.
BACKFILL_DAYS_PER_RUN = 61
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=BACKFILL_DAYS_PER_RUN)
VALID_SHARE = "valid_share"
UNIQUE_IDS = "unique_event_ids"
NO_QUARANTINE = "no_quarantined_rows"


class DailyConfig(dg.Config):
    """Run configuration of `events_daily`."""

    max_invalid_share: float = DEFAULT_MAX_INVALID_SHARE
    batch_rows: int = 131_072


def _partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    return list(context.partition_keys)


def _stage_metadata(stage: StageResult) -> dict:
    return {
        "rows_extracted": dg.MetadataValue.int(stage.extracted),
        "rows_valid": dg.MetadataValue.int(stage.valid),
        "rows_quarantined": dg.MetadataValue.int(stage.quarantined),
        "invalid_share": dg.MetadataValue.float(round(stage.invalid_share, 6)),
        "rows_by_event_type": dg.MetadataValue.json(stage.by_type),
        "quarantine_reasons": dg.MetadataValue.json(stage.reasons),
        "quarantine_path": dg.MetadataValue.path(stage.quarantine_path or "(none)"),
        "staged_path": dg.MetadataValue.path(stage.staged_path),
        "source_fingerprint": dg.MetadataValue.json(stage.fingerprint),
        "duration_seconds": dg.MetadataValue.float(round(stage.seconds, 3)),
        "rows_per_second": dg.MetadataValue.float(round(stage.rows_per_second, 1)),
    }


def _check_results(stages: list[StageResult]) -> list[dg.AssetCheckResult]:
    """One result per check for the run's partitions (a ranged run gets one verdict
    listing the days that failed)."""
    too_invalid = [s for s in stages if s.invalid_share > s.max_invalid_share]
    duplicated = [s for s in stages if s.duplicate_ids]
    quarantined = [s for s in stages if s.quarantined]
    return [
        dg.AssetCheckResult(
            check_name=VALID_SHARE,
            passed=not too_invalid,
            metadata={
                "days_checked": len(stages),
                "max_invalid_share": stages[0].max_invalid_share if stages else 0.0,
                "invalid_share": max((s.invalid_share for s in stages), default=0.0),
                "blocked_days": dg.MetadataValue.json(
                    {f"{s.day}|{s.sync_id}": s.blocked_reason for s in too_invalid}
                ),
                "top_reasons": dg.MetadataValue.json(
                    {f"{s.day}|{s.sync_id}": dict(list(s.reasons.items())[:5]) for s in too_invalid}
                ),
            },
            description=(
                "; ".join(f"{s.day}|{s.sync_id}: {s.blocked_reason}" for s in too_invalid) or None
            ),
        ),
        dg.AssetCheckResult(
            check_name=UNIQUE_IDS,
            passed=not duplicated,
            # Days and counts, never ids.
            metadata={
                "duplicated_ids_by_day": dg.MetadataValue.json(
                    {f"{s.day}|{s.sync_id}": len(s.duplicate_ids) for s in duplicated}  # <= 20
                )
            },
        ),
        dg.AssetCheckResult(
            check_name=NO_QUARANTINE,
            passed=not quarantined,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_quarantined": sum(s.quarantined for s in stages),
                "reasons": dg.MetadataValue.json(
                    {f"{s.day}|{s.sync_id}": s.reasons for s in quarantined}
                ),
            },
        ),
    ]


@dg.asset(
    partitions_def=partitions,
    backfill_policy=BACKFILL_POLICY,
    group_name="events",
    kinds={"sql", "parquet", "pandera"},
    check_specs=[
        dg.AssetCheckSpec(
            VALID_SHARE,
            asset="events_daily",
            blocking=True,
            description="At most `max_invalid_share` of the day's rows failed the schema; "
            "above it the day is not exported.",
        ),
        dg.AssetCheckSpec(
            UNIQUE_IDS,
            asset="events_daily",
            blocking=True,
            description="No event_id occurs twice in the day.",
        ),
        dg.AssetCheckSpec(
            NO_QUARANTINE,
            asset="events_daily",
            description="Warns when rows were quarantined (the day is still exported).",
        ),
    ],
)
def events_daily(
    context: dg.AssetExecutionContext, config: DailyConfig, store: EventStoreResource
) -> dg.MaterializeResult:
    """One sync's UTC day of events, read from the event store with the sync's filters
    (suppressed subjects excluded), validated against event schema v1 (pandera), and
    staged as Parquet. Invalid rows go to quarantine with the reason for each."""
    engine = store.engine()
    stages = []
    for key in _partition_keys(context):
        day, sync_id = split_key(key)
        sync = get_sync(engine, sync_id)
        stage = stage_day(
            store.url(),
            engine,
            sync.id,
            sync.workspace_id,
            day,
            event_types=sync.event_types,
            codec=staging_codec(sync.formats, sync.compression),
            max_invalid_share=config.max_invalid_share,
            batch_rows=config.batch_rows,
            holder=f"run {context.run_id}",
        )
        context.add_asset_metadata(_stage_metadata(stage), partition_key=key)
        context.log.info(
            f"{key}: {stage.valid} valid, {stage.quarantined} quarantined of {stage.extracted} "
            f"in {stage.seconds:.2f}s"
        )
        stages.append(stage)
    return dg.MaterializeResult(check_results=_check_results(stages))


# Columns a preview may show: nothing that identifies a person (no user, company,
# session or event id, no properties). Dagster's storage and UI are a copy erasure
# cannot reach, so personal data must never land there.
PREVIEW_COLUMNS = [
    "occurred_at",
    "event_type",
    "event_name",
    "source",
    "device_type",
    "country_code",
]


def _preview(path: str, rows: int = 5) -> dg.MetadataValue:
    with pq.ParquetFile(path) as f:
        if f.metadata.num_rows == 0:
            return dg.MetadataValue.md("*(no rows)*")
        table = f.read_row_group(0).slice(0, rows)
    cols = PREVIEW_COLUMNS
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in table.select(cols).to_pylist():
        lines.append("| " + " | ".join(str(rec[c]) for c in cols) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _export_metadata(result: ExportResult, stage: StageResult, where: str) -> dict:
    return {
        "rows": dg.MetadataValue.int(result.rows),
        "rows_quarantined": dg.MetadataValue.int(result.quarantined),
        "bytes": dg.MetadataValue.int(result.bytes),
        "files": dg.MetadataValue.int(len(result.files)),
        "file_list": dg.MetadataValue.json(
            [
                {"key": f.key, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}
                for f in result.files
            ]
        ),
        "manifest": dg.MetadataValue.text(where),
        "export_id": dg.MetadataValue.text(result.export_id),
        "rows_by_event_type": dg.MetadataValue.json(stage.by_type),
        "stale_files_removed": dg.MetadataValue.int(len(result.stale_removed)),
        "stale_cleanup": dg.MetadataValue.text(result.stale_cleanup),
        "duration_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "rows_per_second": dg.MetadataValue.float(
            round(result.rows / result.seconds, 1) if result.seconds else 0.0
        ),
        "preview": _preview(stage.staged_path),
    }


@dg.asset(
    partitions_def=partitions,
    backfill_policy=BACKFILL_POLICY,
    group_name="events",
    deps=[events_daily],
    kinds={"s3", "gcs", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            FRESHNESS_CHECK,
            asset="events_export",
            description="Every enabled sync has yesterday's UTC day exported by 06:00 UTC "
            "(before 06:00, the day before). Evaluated after each export, and every 10 "
            "minutes by export_freshness_sensor.",
        )
    ],
)
def events_export(
    context: dg.AssetExecutionContext,
    store: EventStoreResource,
    destinations: DestinationsResource,
) -> dg.MaterializeResult:
    """The staged day written to the sync's destination in each configured format,
    `{sync_id}/{format}/events/date=YYYY-MM-DD/part-00000.<ext>`, then the day's manifest
    `{sync_id}/_manifests/date=YYYY-MM-DD.json` (written last, listing rows, bytes and
    sha256 of every file). Re-exporting a day replaces it."""
    engine = store.engine()
    # One sync read and one opened destination (S3 client, STS role) per sync per run,
    # not per day: a backfill run holds 61 days of the same sync.
    opened: dict[str, tuple[Sync, Destination]] = {}
    for key in _partition_keys(context):
        day, sync_id = split_key(key)
        sync = opened[sync_id][0] if sync_id in opened else get_sync(engine, sync_id)
        stage = StageResult.load(sync_id, day)
        try:
            # Opening the destination and the first write count as the export's too.
            if sync_id not in opened:
                opened[sync_id] = (sync, destinations.open(sync))
                write_schema_doc(opened[sync_id][1], sync_id, sync.formats)
            dest = opened[sync_id][1]
            result = export_partition(
                engine, stage, sync.formats, sync.compression, dest, holder=f"run {context.run_id}"
            )
        except PartitionBusy:
            raise  # another run is exporting this day: not this sync's failure
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            record_failure(engine, stage, error)
            # One failed run counts once (the run stops here); N in a row pause it.
            paused = record_run_failure(engine, sync_id, error)
            if paused.paused_reason:
                context.log.error(f"sync {sync_id} is paused: {paused.paused_reason}")
            raise
        context.add_asset_metadata(
            _export_metadata(result, stage, dest.describe(result.manifest_key)), partition_key=key
        )
        context.log.info(
            f"{key}: exported {result.rows} rows in {len(result.files)} files "
            f"({result.bytes} bytes) to {dest.describe()}"
        )
    for sync_id in opened:
        record_run_success(engine, sync_id)  # a good run resets the failure count
    # In the export's own step: a separate check step would be one more process
    # per run under the multiprocess executor (6 more per 365-day backfill).
    freshness = evaluate_freshness(store)
    return dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(
                check_name=FRESHNESS_CHECK,
                passed=freshness.passed,
                metadata=dict(freshness.metadata),
                severity=freshness.severity,
                description=freshness.description,
            )
        ]
    )
