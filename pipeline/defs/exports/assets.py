"""The two software-defined assets over date x sync partitions.

`events_daily` stages and validates a partition; its checks decide, per day, which
days may be exported. `events_export` writes the staged days to the sync's
destination.

Both handle one partition or a range of them (backfills are batched by the
BackfillPolicy: a 365-day backfill is 6 runs, not 365). Every day gets its own
metadata, check verdicts (pipeline/defs/exports/checks.py) and export outcome
(pipeline/defs/exports/batch.py): one bad day fails alone, the rest of its batch is
exported in the same run.
"""

from collections.abc import Iterator

import dagster as dg
import pyarrow.parquet as pq
from sqlalchemy import Engine

from assets.export import ExportResult, export_partition, write_schema_doc
from assets.formats import staging_codec
from assets.ledger import record_failure
from assets.staging import DEFAULT_MAX_INVALID_SHARE, StageResult, stage_day
from pipeline.defs.exports.batch import ExportBatch
from pipeline.defs.exports.checks import (
    DAILY_CHECK_SPECS,
    check_outputs,
    day_evaluations,
    selected_checks,
)
from pipeline.defs.exports.freshness import CHECK_NAME as FRESHNESS_CHECK
from pipeline.defs.exports.freshness import evaluate_freshness
from pipeline.defs.exports.partitions import partitions, split_key
from pipeline.defs.exports.pause import cancel_sync_work, hold_paused
from pipeline.defs.resources import DestinationsResource, EventStoreResource
from pipeline.syncs.config import Sync, get_sync
from pipeline.syncs.health import record_run_failure, record_run_success
from resources.destinations.base import Destination
from resources.locks import PartitionBusy

# Days per backfill run. Each run costs a fixed start-up (run process, code loading,
# 2 x 61 planned-materialization events on SQLite storage) and a backfill's runs go two
# at a time per destination (dagster.yaml), so 61 days per run: 365 days are 6 runs in
# 3 rounds of 2, and a daily run waits behind at most one 61-day run for a slot.
BACKFILL_DAYS_PER_RUN = 61
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=BACKFILL_DAYS_PER_RUN)
EXPORT_ASSET = dg.AssetKey("events_export")


class DailyConfig(dg.Config):
    """Run configuration of `events_daily`."""

    max_invalid_share: float = DEFAULT_MAX_INVALID_SHARE
    batch_rows: int = 131_072


def _partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    return [str(k) for k in context.partition_keys]


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


@dg.asset(
    partitions_def=partitions,
    backfill_policy=BACKFILL_POLICY,
    group_name="events",
    kinds={"sql", "parquet", "pandera"},
    check_specs=DAILY_CHECK_SPECS,
)
def events_daily(
    context: dg.AssetExecutionContext, config: DailyConfig, store: EventStoreResource
) -> Iterator:
    """One sync's UTC day of events, read from the event store with the sync's filters
    (suppressed subjects excluded), validated against event schema v1 (pandera), and
    staged as Parquet. Invalid rows go to quarantine with the reason for each; each
    day's checks say whether it may be exported."""
    engine = store.engine()
    keys = _partition_keys(context)
    paused = hold_paused(context.instance, engine, keys)
    stages = {}
    for key in keys:
        day, sync_id = split_key(key)
        if sync_id in paused:
            context.log.info(f"{key}: not staged: the sync is paused")
            continue
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
        stages[key] = stage
    # One log line per step, not per day: each day's numbers are in its materialization
    # and check verdicts already, and every event is a write to Dagster's storage.
    context.log.info(_stage_summary(stages))
    yield dg.MaterializeResult()
    selected = selected_checks(context)
    for key, stage in stages.items():
        yield from day_evaluations(stage, key, selected)
    yield from check_outputs(context)


def _stage_summary(stages: dict[str, StageResult]) -> str:
    valid = sum(s.valid for s in stages.values())
    quarantined = sum(s.quarantined for s in stages.values())
    blocked = sorted(k for k, s in stages.items() if s.blocked_reason)
    seconds = sum(s.seconds for s in stages.values())
    text = (
        f"staged {len(stages)} days: {valid} valid, {quarantined} quarantined rows "
        f"in {seconds:.1f}s"
    )
    return text + (f"; blocked (not exported): {', '.join(blocked)}" if blocked else "")


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
    cols = PREVIEW_COLUMNS
    with pq.ParquetFile(path) as f:
        if f.metadata.num_rows == 0:
            return dg.MetadataValue.md("*(no rows)*")
        # The shown columns only: a row group holds ~16 MiB, mostly properties.
        table = f.read_row_group(0, columns=cols).slice(0, rows)
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


def _failed_day(key: str, reason: str) -> dg.AssetObservation:
    """The day's own reason, on the partition's timeline in the UI (the run's failure
    lists every failed day; this says which one failed why)."""
    return dg.AssetObservation(
        asset_key=EXPORT_ASSET,
        partition=key,
        metadata={"status": "failed", "error": dg.MetadataValue.text(reason[:2000])},
    )


def _settle_syncs(
    context: dg.AssetExecutionContext, engine: Engine, batch: ExportBatch, synced: set[str]
) -> None:
    """Count the run once per sync for auto-pause; a sync that gets paused has its
    queued work canceled right away (pipeline/defs/exports/pause.py)."""
    for sync_id in sorted(synced):
        error = batch.destination_errors.get(sync_id)
        if error is None:
            record_run_success(engine, sync_id)  # a good run resets the failure count
            continue
        paused = record_run_failure(engine, sync_id, error)
        if paused.paused_reason:
            canceled = cancel_sync_work(context.instance, sync_id, paused.paused_reason)
            context.log.error(
                f"sync {sync_id} is paused: {paused.paused_reason}; canceled "
                f"{len(canceled.runs)} queued runs and {len(canceled.backfills)} backfills"
            )


@dg.asset(
    partitions_def=partitions,
    backfill_policy=BACKFILL_POLICY,
    group_name="events",
    deps=[events_daily],
    kinds={"s3", "gcs", "parquet"},
    # Each exported day is materialized on its own (below), so a failed day of a
    # batch stays failed while the others show exported.
    output_required=False,
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
) -> Iterator:
    """The staged day written to the sync's destination in each configured format,
    `{sync_id}/{format}/events/date=YYYY-MM-DD/part-00000.<ext>`, then the day's manifest
    `{sync_id}/_manifests/date=YYYY-MM-DD.json` (written last, listing rows, bytes and
    sha256 of every file). Re-exporting a day replaces it. A day whose checks failed is
    not exported; the run then fails naming each such day and its reason, after
    exporting all the others."""
    engine = store.engine()
    keys = _partition_keys(context)
    batch = ExportBatch()
    paused = hold_paused(context.instance, engine, keys)
    # One sync read and one opened destination (S3 client, STS role) per sync per run,
    # not per day: a backfill run holds 61 days of the same sync.
    syncs: dict[str, Sync] = {}
    opened: dict[str, Destination] = {}
    for key in keys:
        day, sync_id = split_key(key)
        if sync_id in paused:
            reason = f"not attempted: the sync is paused ({paused[sync_id][:500]})"
            batch.skipped(key, reason)
            yield _failed_day(key, reason)
            continue
        if sync_id not in syncs:
            syncs[sync_id] = get_sync(engine, sync_id)
        sync = syncs[sync_id]
        try:
            stage = StageResult.load(sync_id, day)
        except FileNotFoundError as exc:
            batch.skipped(key, str(exc))
            yield _failed_day(key, str(exc))
            continue
        refused = stage.blocked_reason and f"blocked: {stage.blocked_reason}"
        refused = refused or batch.given_up(sync_id)
        if refused:
            record_failure(engine, stage, refused)
            batch.skipped(key, refused)
            yield _failed_day(key, refused)
            continue
        try:
            # Opening the destination and the first write count as the export's too.
            if sync_id not in opened:
                opened[sync_id] = destinations.open(sync)
                write_schema_doc(opened[sync_id], sync_id, sync.formats)
            dest = opened[sync_id]
            result = export_partition(
                engine, stage, sync.formats, sync.compression, dest, holder=f"run {context.run_id}"
            )
        except PartitionBusy as exc:  # another run is exporting this day: its outcome counts
            batch.skipped(key, str(exc))
            yield _failed_day(key, str(exc))
            continue
        except Exception as exc:
            reason = batch.export_failed(key, day, sync_id, exc)
            record_failure(engine, stage, reason)
            context.log.error(f"{key}: not exported: {reason}")
            yield _failed_day(key, reason)
            continue
        batch.export_succeeded(key, sync_id)
        yield dg.AssetMaterialization(
            asset_key=EXPORT_ASSET,
            partition=key,
            metadata=_export_metadata(result, stage, dest.describe(result.manifest_key)),
        )
    context.log.info(
        f"exported {len(batch.exported)} of {len(keys)} days"
        + (f", {len(batch.failed)} failed (named in the run's failure)" if batch.failed else "")
    )
    _settle_syncs(context, engine, batch, set(syncs))
    # In the export's own step: a separate check step would be one more process
    # per run under the multiprocess executor (6 more per 365-day backfill).
    freshness = evaluate_freshness(store)
    yield dg.AssetCheckResult(
        check_name=FRESHNESS_CHECK,
        passed=freshness.passed,
        metadata=dict(freshness.metadata),
        severity=freshness.severity,
        description=freshness.description,
    )
    failure = batch.failure(len(keys))
    if failure is not None:
        raise failure
