"""The asset checks of `events_daily` and `events_export`, one verdict per date over
every sync of the date.

A partition is a date and a run stages that date for a group of syncs (twenty runs of
50 syncs make a morning at 1,000 syncs). Each check is partitioned by date and judges
the date over every sync that has a record of it (`eventsync.syncs.date_record`: the
staging summaries and the export ledger), not only the syncs of the run that evaluates
it: it fails naming the failed syncs' ids (and, for `sync_days_valid`, the rules each
breaks), and its metadata counts them.

Dagster gives a check one verdict per step (dagster-io/dagster#17836), so in a ranged
(batched) run `events_daily` yields one `AssetCheckEvaluation` per date itself.
Blocking is per sync and day: `events_export` refuses exactly the sync-days whose
staging was blocked (`StageResult.blocked_reason`) and exports the others. The specs
say `blocking=True` (the UI labels them so); the evaluations are emitted with
`blocking=False`, which only stops Dagster from failing the whole step.

Each evaluation of events_daily names the materialization it judged: its date's,
written by this run (`day_targets`). Without that target Dagster counts the evaluation
as not current, and the Checks tab's Partitions view shows every date "Missing".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import dagster as dg

from assets.partitions import partitions
from eventsync.syncs.date_record import SyncDay
from pipeline.runs.dagster_internals import AssetCheckEvaluationTargetMaterializationData

Target = AssetCheckEvaluationTargetMaterializationData

# The one partitioned check of events_daily. Each partitioned check costs the Checks tab a
# rebuild of its state from every date's record (Dagster OSS keeps no checkpoint of it):
# one check carrying the three rules' verdicts keeps that tab under 2 s at 1,000 syncs x a
# year, where three separate checks took 2.2 s (bench/RESULTS.md, Run L).
SYNC_DAYS_VALID = "sync_days_valid"
DAILY_ASSET = dg.AssetKey("events_daily")
# Sync ids named in a check's description and metadata at most (the counts stay exact).
MAX_NAMED = 50


def _specs() -> list[dg.AssetCheckSpec]:
    with warnings.catch_warnings():  # partitioned check specs are a preview in 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                SYNC_DAYS_VALID,
                asset=DAILY_ASSET,
                partitions_def=partitions,
                blocking=True,
                description="Per date, over every sync of the date: at most "
                "`max_invalid_share` of each sync's rows failed the schema, and no event_id "
                "occurs twice in a sync's day. A sync-day that breaks either rule is not "
                "exported (the other syncs of the date are): the check fails (error) naming "
                "the syncs and the rule. Rows quarantined within the limit only warn.",
            )
        ]


DAILY_CHECK_SPECS = _specs()

SYNCS_EXPORTED = "syncs_exported"
EXPORT_ASSET = dg.AssetKey("events_export")


def day_targets(context: dg.AssetExecutionContext, keys: list[str]) -> dict[str, Target]:
    """{date: this run's materialization of events_daily for it}: what each date's
    evaluations judged. One query; the run's own are the newest of its dates."""
    if not keys:
        return {}
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=DAILY_ASSET, asset_partitions=keys),
        limit=len(keys),
    ).records
    targets: dict[str, Target] = {}
    for record in records:
        key = record.partition_key
        if key and key not in targets and record.run_id == context.run_id:
            targets[key] = Target(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return targets


def _export_spec() -> dg.AssetCheckSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            SYNCS_EXPORTED,
            asset=EXPORT_ASSET,
            partitions_def=partitions,
            description="Per date, over every sync of the date in the export ledger: no "
            "sync's day failed to export (blocked, refused by the destination, given up). "
            "Fails naming the syncs; each one's reason is in `eventsync sync status`.",
        )


EXPORT_CHECK_SPEC = _export_spec()


def export_evaluation(day: str, record: Mapping[str, SyncDay]) -> dg.AssetCheckEvaluation:
    """The date's export verdict over the ledger rows of every sync of the date."""
    recorded = [s for s in record.values() if s.export_status is not None]
    failing = [s for s in recorded if s.export_failed]
    exported = [s for s in recorded if s.export_status == "exported"]
    # An hourly sync's day so far (partial) is exported, but not complete: counted and
    # named apart, so a date is never reported complete while one of its syncs is partial.
    partial = [s for s in exported if s.partial]
    done = f"all {len(recorded)} syncs of the date exported"
    if partial:
        done += f", {len(partial)} of them partial (the day so far): " + ", ".join(
            s.sync_id for s in partial[:MAX_NAMED]
        )
    return dg.AssetCheckEvaluation(
        asset_key=EXPORT_ASSET,
        check_name=SYNCS_EXPORTED,
        passed=not failing,
        partition=day,
        severity=dg.AssetCheckSeverity.ERROR,
        blocking=False,
        metadata={
            "syncs_exported": len(exported),
            "syncs_failed": len(failing),
            "rows_exported": sum(s.rows_exported for s in exported),
            "syncs_partial": len(partial),
            "failed_syncs": dg.MetadataValue.json([s.sync_id for s in failing[:MAX_NAMED]]),
            "partial_syncs": dg.MetadataValue.json([s.sync_id for s in partial[:MAX_NAMED]]),
        },
        description=_description("not exported", failing, len(recorded)) if failing else done,
    )


@dataclass(frozen=True)
class Rule:
    """One rule of `sync_days_valid`: which sync-days break it, what that is called, the
    number each sync shows for it, and whether breaking it blocks the export."""

    key: str
    blocks: bool
    breaks: Callable[[SyncDay], bool]
    what: str
    measure: Callable[[SyncDay], float | int]


RULES = (
    Rule(
        "invalid_share",
        True,
        lambda s: s.too_invalid,
        "above the invalid limit",
        lambda s: round(s.invalid_share, 6),
    ),
    Rule(
        "duplicate_ids",
        True,
        lambda s: s.staged and s.duplicate_ids > 0,
        "with duplicate event ids",
        lambda s: s.duplicate_ids,
    ),
    Rule(  # a warning about the sync-days not blocked already
        "rows_quarantined",
        False,
        lambda s: s.staged and s.rows_quarantined > 0 and not _blocks(s),
        "with quarantined rows (not blocked)",
        lambda s: s.rows_quarantined,
    ),
)


def _blocks(s: SyncDay) -> bool:
    """Whether the sync-day breaks a blocking rule (staging blocked it for that)."""
    return any(rule.breaks(s) for rule in RULES if rule.blocks)


def _metadata(broken: dict[Rule, list[SyncDay]], staged: int) -> dict:
    """Counts per rule (exact) and, for the first MAX_NAMED syncs that break any rule,
    the rules each breaks and its numbers."""
    ids = {rule: {s.sync_id for s in syncs} for rule, syncs in broken.items()}
    blocked = set().union(*(ids[rule] for rule in RULES if rule.blocks))
    named: dict[str, SyncDay] = {}
    for syncs in broken.values():
        for s in syncs:
            if len(named) < MAX_NAMED:
                named.setdefault(s.sync_id, s)
    metadata: dict = {
        "syncs_checked": staged,
        "syncs_blocked": len(blocked),
        "failed_syncs": dg.MetadataValue.json(
            {sid: [r.key for r in RULES if sid in ids[r]] for sid in named}
        ),
        "by_sync": dg.MetadataValue.json(
            {sid: {r.key: r.measure(s) for r in RULES} for sid, s in named.items()}
        ),
    }
    of = {rule.key: syncs for rule, syncs in broken.items()}
    for key, syncs in of.items():
        metadata[f"syncs_{key}"] = len(syncs)
    metadata["max_invalid_share_seen"] = max(
        (round(s.invalid_share, 6) for s in of["invalid_share"]), default=0.0
    )
    metadata["duplicate_ids"] = sum(s.duplicate_ids for s in of["duplicate_ids"])
    metadata["rows_quarantined"] = sum(s.rows_quarantined for s in of["rows_quarantined"])
    return metadata


def _description(what: str, failing: list[SyncDay], staged: int) -> str:
    if not failing:
        return f"all {staged} syncs of the date pass"
    ids = ", ".join(s.sync_id for s in failing[:MAX_NAMED])
    more = f" and {len(failing) - MAX_NAMED} more" if len(failing) > MAX_NAMED else ""
    return f"{len(failing)} of {staged} syncs {what}: {ids}{more}"


def date_evaluation(
    day: str, record: Mapping[str, SyncDay], target: Target | None = None
) -> dg.AssetCheckEvaluation:
    """`sync_days_valid` on one date over every sync of its record, targeting the date's
    materialization by this run (`target`): an error when a sync-day breaks a blocking
    rule, a warning when rows were only quarantined."""
    staged = sum(1 for s in record.values() if s.staged)
    broken = {rule: [s for s in record.values() if rule.breaks(s)] for rule in RULES}
    blocks = any(syncs for rule, syncs in broken.items() if rule.blocks)
    parts = [_description(rule.what, syncs, staged) for rule, syncs in broken.items() if syncs]
    return dg.AssetCheckEvaluation(
        asset_key=DAILY_ASSET,
        check_name=SYNC_DAYS_VALID,
        passed=not parts,
        partition=day,
        severity=dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN,
        blocking=False,  # per sync-day, by events_export (see above)
        metadata=_metadata(broken, staged),
        description="; ".join(parts) or _description("", [], staged),
        target_materialization_data=target,
    )


def selected_checks(context: dg.AssetExecutionContext) -> set[str]:
    return {key.name for key in context.selected_asset_check_keys}


def check_outputs(context: dg.AssetExecutionContext) -> Iterator[dg.Output]:
    """The (empty) step outputs of the selected checks: with evaluations yielded
    directly instead of `AssetCheckResult`s, Dagster expects them explicitly."""
    for output_name in context.assets_def.check_specs_by_output_name:
        yield dg.Output(None, output_name=output_name)
