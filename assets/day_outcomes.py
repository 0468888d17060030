"""One export run's outcome, reported to Dagster: of a run's sync-days (its dates x its
syncs), a bad one fails alone and the others are exported in the same run.

The sync-days' outcomes are decided and recorded by eventsync/syncs/export_days.py;
this module only turns them into what Dagster shows. A partition is a date, so:

- each date with at least one sync exported is materialized on its own
  (`AssetMaterialization(partition=date)`, the asset's output being optional), its
  metadata listing every sync of this run with its outcome and numbers;
- each failed sync-day gets an observation on its date's timeline (the sync, the kind
  of outcome, the reason);
- the step ends with one `Failure` naming every failed sync-day with its reason, so
  the run reports it; Dagster marks failed exactly the planned dates that were not
  materialized (in the UI and in an asset backfill): a date none of whose syncs was
  exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from eventsync.syncs.export_days import DayOutcome, Outcome

MAX_DESCRIPTION = 3000
EXPORT_ASSET = dg.AssetKey("events_export")


def label(outcome: DayOutcome) -> str:
    """The sync-day's name in messages ("2026-11-20 sync_ab12")."""
    return f"{outcome.day} {outcome.sync_id}"


def sync_entry(outcome: DayOutcome) -> dict[str, object]:
    """One sync's outcome in its date's metadata: the kind and numbers, no free text."""
    entry: dict[str, object] = {"outcome": outcome.kind.value}
    if outcome.result is not None:
        entry.update(
            rows=outcome.result.rows,
            rows_quarantined=outcome.result.quarantined,
            bytes=outcome.result.bytes,
            files=len(outcome.result.files),
        )
    elif outcome.stage is not None:
        entry.update(rows_valid=outcome.stage.valid, rows_quarantined=outcome.stage.quarantined)
    return entry


def column_schema(path: str) -> dg.TableSchema:
    """The staged file's column names and types: the export's shape, no values.

    No row preview: Dagster's storage and UI (its GraphQL has no login) are a copy that
    erasure cannot reach, and every free-text column (event_name holds page paths,
    pathname, hostname, user agents, properties) can carry a person's id."""
    schema = pq.read_schema(path)
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def date_materialization(day: str, outcomes: Sequence[DayOutcome]) -> dg.AssetMaterialization:
    """The date's materialization by this run: totals and every sync's outcome."""
    exported = [o for o in outcomes if o.exported and o.result is not None]
    rows = sum(o.result.rows for o in exported if o.result)
    seconds = sum(o.result.seconds for o in exported if o.result)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.kind.value] = counts.get(o.kind.value, 0) + 1
    return dg.AssetMaterialization(
        asset_key=EXPORT_ASSET,
        partition=day,
        metadata={
            # The closed day's export; an intraday run's says "partial" (pipeline/intraday.py).
            "status": "complete",
            "syncs": len(outcomes),
            "syncs_exported": len(exported),
            "syncs_failed": len(outcomes) - len(exported),
            "rows": rows,
            "rows_quarantined": sum(o.result.quarantined for o in exported if o.result),
            "bytes": sum(o.result.bytes for o in exported if o.result),
            "files": sum(len(o.result.files) for o in exported if o.result),
            "duration_seconds": dg.MetadataValue.float(round(seconds, 3)),
            "rows_per_second": dg.MetadataValue.float(round(rows / seconds, 1) if seconds else 0.0),
            "outcomes": dg.MetadataValue.json(dict(sorted(counts.items()))),
            "by_sync": dg.MetadataValue.json({o.sync_id: sync_entry(o) for o in outcomes}),
            **_columns(exported),
        },
    )


def _columns(exported: Sequence[DayOutcome]) -> dict[str, dg.MetadataValue]:
    """The columns of the first exported sync-day's staged file (every sync stages the
    same schema), when that file is still there."""
    for o in exported:
        if o.stage is not None and Path(o.stage.staged_path).exists():
            schema = column_schema(o.stage.staged_path)
            return {"dagster/column_schema": dg.MetadataValue.table_schema(schema)}
    return {}


def failed_day(outcome: DayOutcome) -> dg.AssetObservation:
    """The sync-day's own reason, on its date's timeline in the UI (the run's failure
    lists every failed sync-day; this says which one failed why)."""
    return dg.AssetObservation(
        asset_key=EXPORT_ASSET,
        partition=outcome.day,
        metadata={
            "status": "failed",
            "sync_id": outcome.sync_id,
            "outcome": outcome.kind.value,
            "error": dg.MetadataValue.text(outcome.public_reason[:2000]),
        },
    )


def run_failure(outcomes: Sequence[DayOutcome]) -> dg.Failure | None:
    """The step's failure naming every failed sync-day, or None when all were exported."""
    failed = {label(o): o.public_reason for o in outcomes if not o.exported}
    if not failed:
        return None
    exported = len(outcomes) - len(failed)
    lines = [f"{key}: {why}" for key, why in sorted(failed.items())]
    head = f"{len(failed)} of {len(outcomes)} sync-days not exported, {exported} exported"
    description = head + "\n" + "\n".join(lines)
    if len(description) > MAX_DESCRIPTION:
        description = description[:MAX_DESCRIPTION] + "\n..."
    failed_syncs = sorted({o.sync_id for o in outcomes if not o.exported})
    return dg.Failure(
        description=description,
        metadata={
            "days_failed": len(failed),
            "days_exported": exported,
            "failed_syncs": dg.MetadataValue.json(failed_syncs),
            "failed_days": dg.MetadataValue.json(dict(sorted(failed.items()))),
        },
        allow_retries=False,
    )


__all__ = ["Outcome", "date_materialization", "failed_day", "label", "run_failure"]
