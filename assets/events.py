"""The two software-defined assets over date partitions (design b of issue 24,
docs/architecture.md "Many syncs").

A run exports its dates for a set of syncs: those its `eventsync/syncs` tag names (the
03:00 schedule's runs of up to 50 syncs, backfills, the CLI), or every enabled sync
when it names none (a materialization or backfill launched from the UI as it is).
`events_daily` stages and validates each sync's day; its checks judge each date over
every sync of the date. `events_export` writes the staged sync-days to their syncs'
destinations.

Both handle one date or a range of them (backfills are batched by the BackfillPolicy:
a 365-day backfill is 6 runs, not 365). Every sync's day gets its own outcome (decided
and recorded by eventsync/syncs/export_days.py, reported by assets/day_outcomes.py):
one bad sync-day fails alone, the rest of its run is exported in the same run, and the
run fails naming it.
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from assets.checks import (
    DAILY_CHECK_SPECS,
    EXPORT_CHECK_SPEC,
    SYNC_DAYS_VALID,
    SYNCS_EXPORTED,
    check_outputs,
    date_evaluation,
    day_targets,
    export_evaluation,
    selected_checks,
)
from assets.day_outcomes import date_materialization, failed_day, label, run_failure
from assets.freshness import CHECK_NAME as FRESHNESS_CHECK
from assets.freshness import evaluate_freshness
from assets.partitions import open_days, partitions
from eventsync.engine.formats import staging_codec
from eventsync.engine.staging import StageResult, stage_day
from eventsync.privacy import journal
from eventsync.settings import Settings
from eventsync.syncs.config import list_syncs
from eventsync.syncs.date_record import date_record
from eventsync.syncs.export_days import (
    DayOutcome,
    Outcome,
    attempted_syncs,
    destination_errors,
    export_days,
    infrastructure_failed,
)
from eventsync.syncs.health import record_run_failure, record_run_success
from pipeline.runs.pause import AUTO_PAUSE_NOTE, LivePauses, cancel_sync_work, hold_paused
from pipeline.runs.run_syncs import RunSyncs, run_syncs
from resources import DestinationsResource, EventStoreResource

# Dates per backfill run. Each run costs a fixed start-up (run process, code loading,
# 2 x 61 planned-materialization events on SQLite storage) and a backfill's runs go two
# at a time per destination (dagster.yaml), so 61 dates per run: 365 days are 6 runs in
# 3 rounds of 2, and a daily run waits behind at most one 61-day run for a slot.
BACKFILL_DAYS_PER_RUN = 61
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=BACKFILL_DAYS_PER_RUN)


class DailyConfig(dg.Config):
    """Run configuration of `events_daily`; unset values come from the settings
    (eventsync/settings.py) when the run starts."""

    max_invalid_share: float | None = Field(
        default=None, description=Settings.described("max_invalid_share")
    )
    batch_rows: int | None = Field(default=None, description=Settings.described("batch_rows"))
    syncs: list[str] = Field(
        default_factory=list,
        description="Sync ids to stage (give events_export the same); empty: those the "
        "run's eventsync/syncs tag names, or every enabled sync without the tag.",
    )


class ExportConfig(dg.Config):
    """Run configuration of `events_export`."""

    syncs: list[str] = Field(
        default_factory=list,
        description="Sync ids to export (as events_daily's); empty: those the run's "
        "eventsync/syncs tag names, or every enabled sync without the tag.",
    )


def _days(context: dg.AssetExecutionContext) -> list[str]:
    """The run's closed dates. Today's partition exists for the hourly syncs' intraday
    runs (pipeline/intraday.py); a run of this job that reaches it (a UI backfill of
    "all", a materialization of the last partition) leaves it to them: a complete
    export of a day still growing would be marked `complete`. A run of only open days
    fails saying so."""
    days = sorted(str(k) for k in context.partition_keys)
    growing = open_days(days)
    if growing:
        context.log.warning(
            f"not exported, the UTC day is not closed yet: {', '.join(growing)} (hourly "
            "syncs export it intraday; the 03:00 run exports it complete once closed)"
        )
    closed = [d for d in days if d not in growing]
    if not closed:
        raise dg.Failure(
            description=f"{', '.join(growing)}: the UTC day is not closed yet; only closed "
            "days are exported complete (hourly syncs export today intraday)",
            allow_retries=False,
        )
    return closed


def _run_syncs(
    context: dg.AssetExecutionContext, engine: Engine, configured: list[str]
) -> RunSyncs:
    """The run's syncs (its config's, else its tag's, else every enabled sync); a run
    with none to export fails saying why."""
    chosen = run_syncs(engine, context.run.tags, configured)
    if chosen.unknown:
        context.log.error(
            f"no such sync: {', '.join(chosen.unknown)} (named in the run's "
            "eventsync/syncs tag); the run exports the others and fails naming them"
        )
    if not chosen.syncs:
        if chosen.unknown:
            raise dg.Failure(
                description=f"no such sync: {', '.join(chosen.unknown)} (named in the run's "
                "eventsync/syncs tag): nothing to export",
                allow_retries=False,
            )
        raise dg.Failure(
            description="no enabled sync to export (the run names no sync in its "
            "eventsync/syncs tag, so it exports every enabled sync, and there is none)",
            allow_retries=False,
        )
    return chosen


def _date_syncs(engine: Engine, chosen: RunSyncs) -> list[str]:
    """The syncs a date's checks are evaluated over (with the ledger's): every enabled
    sync and the run's own."""
    ids = [s.id for s in chosen.syncs]
    if chosen.named:
        ids += [s.id for s in list_syncs(engine, enabled_only=True)]
    return list(dict.fromkeys(ids))


def _stage_metadata(stages: dict[str, StageResult]) -> dict:
    """A date's staging by this run: totals, and each sync's numbers (no free text)."""
    reasons: dict[str, int] = {}
    for stage in stages.values():
        for reason, n in stage.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    extracted = sum(s.extracted for s in stages.values())
    seconds = sum(s.seconds for s in stages.values())
    return {
        "syncs": len(stages),
        "syncs_blocked": sum(1 for s in stages.values() if s.blocked_reason),
        "rows_extracted": dg.MetadataValue.int(extracted),
        "rows_valid": dg.MetadataValue.int(sum(s.valid for s in stages.values())),
        "rows_quarantined": dg.MetadataValue.int(sum(s.quarantined for s in stages.values())),
        "quarantine_reasons": dg.MetadataValue.json(dict(sorted(reasons.items()))),
        "by_sync": dg.MetadataValue.json(
            {
                sync_id: {
                    "rows_extracted": s.extracted,
                    "rows_valid": s.valid,
                    "rows_quarantined": s.quarantined,
                    "invalid_share": round(s.invalid_share, 6),
                    "duplicate_ids": len(s.duplicate_ids),
                    "blocked": s.blocked_reason is not None,
                }
                for sync_id, s in sorted(stages.items())
            }
        ),
        "duration_seconds": dg.MetadataValue.float(round(seconds, 3)),
        "rows_per_second": dg.MetadataValue.float(
            round(extracted / seconds, 1) if seconds else 0.0
        ),
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
    """Each UTC day of the run's syncs, read from the event store with each sync's
    filters (suppressed subjects excluded), validated against event schema v1 (pandera),
    and staged as Parquet. Invalid rows go to quarantine with the reason for each; the
    date's checks say, over every sync of the date, which sync-days may not be
    exported."""
    engine = store.engine()
    # A restored store gets back the erasures it lacks before a date is staged.
    if reapplied := journal.reconcile(engine):
        context.log.warning(f"re-applied {len(reapplied)} erasure journal entries first")
    days = _days(context)
    chosen = _run_syncs(context, engine, config.syncs)
    paused = hold_paused(
        context.instance,
        engine,
        [(day, s.id) for day in days for s in chosen.syncs],
        context.run_id,
    )
    stages: dict[str, dict[str, StageResult]] = {}
    for day in days:
        stages[day] = {}
        for sync in chosen.syncs:
            if sync.id in paused:
                continue
            stages[day][sync.id] = stage_day(
                store.url(),
                engine,
                sync.id,
                sync.workspace_id,
                day,
                event_types=sync.event_types,
                event_names=sync.event_names,
                codec=staging_codec(sync.formats, sync.compression),
                max_invalid_share=config.max_invalid_share,
                batch_rows=config.batch_rows,
                holder=f"run {context.run_id}",
            )
        context.add_asset_metadata(_stage_metadata(stages[day]), partition_key=day)
    for day in open_days(sorted(str(k) for k in context.partition_keys)):
        # A ranged run's result covers all its dates: say this one was not staged.
        context.add_asset_metadata({"status": "not closed: not staged"}, partition_key=day)
    if paused:
        context.log.info(f"not staged, paused or deleted: {', '.join(sorted(paused))}")
    # One log line per step, not per sync-day: each date's numbers are in its
    # materialization and check verdicts already, and every event is a write to
    # Dagster's storage.
    context.log.info(_stage_summary(stages))
    yield dg.MaterializeResult()
    if SYNC_DAYS_VALID in selected_checks(context):
        date_syncs = _date_syncs(engine, chosen)
        targets = day_targets(context, days)
        for day in days:
            record = date_record(engine, day, date_syncs, stages[day])
            yield date_evaluation(day, record, targets.get(day))
    yield from check_outputs(context)


def _stage_summary(stages: dict[str, dict[str, StageResult]]) -> str:
    flat = [s for of_day in stages.values() for s in of_day.values()]
    valid = sum(s.valid for s in flat)
    quarantined = sum(s.quarantined for s in flat)
    blocked = sorted(f"{s.day} {s.sync_id}" for s in flat if s.blocked_reason)
    seconds = sum(s.seconds for s in flat)
    text = (
        f"staged {len(flat)} sync-days ({len(stages)} dates): {valid} valid, "
        f"{quarantined} quarantined rows in {seconds:.1f}s"
    )
    return text + (f"; blocked (not exported): {', '.join(blocked)}" if blocked else "")


def _settle_syncs(
    context: dg.AssetExecutionContext, engine: Engine, outcomes: list[DayOutcome]
) -> None:
    """Count the run once per sync for auto-pause; a sync that gets paused has its
    queued work canceled right away (pipeline/runs/pause.py)."""
    errors = destination_errors(outcomes)
    system = infrastructure_failed(outcomes)
    for sync_id in sorted(attempted_syncs(outcomes)):
        error = errors.get(sync_id)
        if error is None and sync_id in system:
            context.log.warning(f"sync {sync_id}: days failed for the system, not the sync")
            continue
        if error is None:
            record_run_success(engine, sync_id)  # a good run resets the failure count
            continue
        paused = record_run_failure(engine, sync_id, error)
        if paused.paused_reason:
            # Its reason quotes the destination's error: kept out of Dagster.
            canceled = cancel_sync_work(context.instance, sync_id, AUTO_PAUSE_NOTE)
            context.log.error(
                f"sync {sync_id} is paused (its reason: eventsync sync status); canceled "
                f"{len(canceled.runs)} queued runs and {len(canceled.backfills)} backfills"
            )


@dg.asset(
    partitions_def=partitions,
    backfill_policy=BACKFILL_POLICY,
    group_name="events",
    deps=[events_daily],
    kinds={"s3", "gcs", "parquet"},
    # Each date with a sync exported is materialized on its own (below), so a date none
    # of whose syncs could be exported stays failed while the others show exported.
    output_required=False,
    check_specs=[
        dg.AssetCheckSpec(
            FRESHNESS_CHECK,
            asset="events_export",
            description="Every enabled sync has yesterday's UTC day exported by 06:00 UTC "
            "(before 06:00, the day before). Evaluated after each export, and every 10 "
            "minutes by export_freshness_sensor.",
        ),
        EXPORT_CHECK_SPEC,
    ],
)
def events_export(
    context: dg.AssetExecutionContext,
    config: ExportConfig,
    store: EventStoreResource,
    destinations: DestinationsResource,
) -> Iterator:
    """Each staged sync-day written to its sync's destination in each configured format,
    `{sync_id}/{format}/events/date=YYYY-MM-DD/part-00000.<ext>`, then the day's manifest
    `{sync_id}/_manifests/date=YYYY-MM-DD.json` (written last, listing rows, bytes and
    sha256 of every file). Re-exporting a day replaces it. A sync-day whose checks
    failed is not exported; the run then fails naming each such sync-day and its reason,
    after exporting all the others. Each date's materialization lists every sync of the
    run with its outcome."""
    engine = store.engine()
    days = _days(context)
    chosen = _run_syncs(context, engine, config.syncs)
    pairs = [(day, s.id) for day in days for s in chosen.syncs]
    outcomes: list[DayOutcome] = []
    of_day: list[DayOutcome] = []
    for outcome in export_days(
        engine,
        pairs,
        destinations.open,
        holder=f"run {context.run_id}",
        paused=LivePauses(
            context.instance,
            engine,
            context.run_id,
            hold_paused(context.instance, engine, pairs, context.run_id),
            sole_sync=len(chosen.syncs) == 1,
        ),
    ):
        if of_day and of_day[0].day != outcome.day:
            yield from _date_events(of_day)
            of_day = []
        outcomes.append(outcome)
        of_day.append(outcome)
        if outcome.kind is Outcome.FAILED:
            context.log.error(f"{label(outcome)}: not exported: {outcome.public_reason}")
    if of_day:
        yield from _date_events(of_day)
    failed = sum(not o.exported for o in outcomes)
    context.log.info(
        f"exported {len(outcomes) - failed} of {len(pairs)} sync-days ({len(days)} dates)"
        + (f", {failed} failed (named in the run's failure)" if failed else "")
    )
    _settle_syncs(context, engine, outcomes)
    if SYNCS_EXPORTED in selected_checks(context):
        date_syncs = _date_syncs(engine, chosen)
        for day in days:
            yield export_evaluation(day, date_record(engine, day, date_syncs))
    # In the export's own step: a separate check step would be one more process
    # per run under the multiprocess executor (6 more per 365-day backfill).
    if FRESHNESS_CHECK in selected_checks(context):
        yield evaluate_freshness(store)
    yield from check_outputs(context)
    unknown = [
        DayOutcome(day, sync_id, Outcome.FAILED, "no such sync (named in the run's tag)")
        for day in days
        for sync_id in chosen.unknown
    ]
    failure = run_failure(outcomes + unknown)
    if failure is not None:
        raise failure


def _date_events(outcomes: list[DayOutcome]) -> Iterator:
    """A date's events once all its sync-days are done: an observation per failed
    sync-day, and the date's materialization when any of them was exported."""
    for outcome in outcomes:
        if not outcome.exported:
            yield failed_day(outcome)
    if any(o.exported for o in outcomes):
        yield date_materialization(outcomes[0].day, outcomes)
