"""The asset checks of `events_daily`, evaluated per day even in a batched run.

Dagster gives a check one verdict per step (dagster-io/dagster#17836): in a
61-day backfill run an `AssetCheckResult` judges all 61 days at once, and a
failing *blocking* check fails the step, so one bad day would stop the export
of the other 60. So the specs are partitioned like the asset (one check
execution per day, shown per partition in the UI) and `events_daily` yields one
`AssetCheckEvaluation` per day. Blocking is per day: `events_export` refuses
exactly the days whose staging was blocked (`StageResult.blocked_reason`) and
exports the others. The specs say `blocking=True` (the UI labels them so, and
declarative automation honours it); the evaluations are emitted with
`blocking=False`, which only stops Dagster from failing the whole step.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import dagster as dg

from assets.staging import StageResult
from pipeline.defs.exports.partitions import partitions

VALID_SHARE = "valid_share"
UNIQUE_IDS = "unique_event_ids"
NO_QUARANTINE = "no_quarantined_rows"
DAILY_ASSET = dg.AssetKey("events_daily")


def _specs() -> list[dg.AssetCheckSpec]:
    with warnings.catch_warnings():  # partitioned check specs are a preview in 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                VALID_SHARE,
                asset=DAILY_ASSET,
                partitions_def=partitions,
                blocking=True,
                description="Per day: at most `max_invalid_share` of the day's rows failed the "
                "schema. A day above it is not exported (events_export refuses that day "
                "only; the other days of its batch are exported).",
            ),
            dg.AssetCheckSpec(
                UNIQUE_IDS,
                asset=DAILY_ASSET,
                partitions_def=partitions,
                blocking=True,
                description="Per day: no event_id occurs twice. A day that fails it is not "
                "exported.",
            ),
            dg.AssetCheckSpec(
                NO_QUARANTINE,
                asset=DAILY_ASSET,
                partitions_def=partitions,
                description="Warns when rows were quarantined (the day is still exported).",
            ),
        ]


DAILY_CHECK_SPECS = _specs()


def day_evaluations(
    stage: StageResult, key: str, selected: set[str]
) -> Iterator[dg.AssetCheckEvaluation]:
    """The three checks' verdicts on one staged day (only the selected checks)."""
    too_invalid = stage.invalid_share > stage.max_invalid_share
    verdicts = {
        VALID_SHARE: (
            not too_invalid,
            dg.AssetCheckSeverity.ERROR,
            {
                "invalid_share": round(stage.invalid_share, 6),
                "max_invalid_share": stage.max_invalid_share,
                "rows_quarantined": stage.quarantined,
                "top_reasons": dg.MetadataValue.json(dict(list(stage.reasons.items())[:5])),
            },
            stage.blocked_reason if too_invalid else None,
        ),
        UNIQUE_IDS: (
            not stage.duplicate_ids,
            dg.AssetCheckSeverity.ERROR,
            {"duplicate_ids": len(stage.duplicate_ids)},
            f"{len(stage.duplicate_ids)} event ids occur more than once"
            if stage.duplicate_ids
            else None,
        ),
        NO_QUARANTINE: (
            not stage.quarantined,
            dg.AssetCheckSeverity.WARN,
            {
                "rows_quarantined": stage.quarantined,
                "reasons": dg.MetadataValue.json(stage.reasons),
            },
            f"{stage.quarantined} rows quarantined" if stage.quarantined else None,
        ),
    }
    for name, (passed, severity, metadata, description) in verdicts.items():
        if name in selected:
            yield dg.AssetCheckEvaluation(
                asset_key=DAILY_ASSET,
                check_name=name,
                passed=passed,
                partition=key,
                severity=severity,
                blocking=False,  # per day, by events_export (see above)
                metadata=metadata,
                description=description,
            )


def selected_checks(context: dg.AssetExecutionContext) -> set[str]:
    return {key.name for key in context.selected_asset_check_keys}


def check_outputs(context: dg.AssetExecutionContext) -> Iterator[dg.Output]:
    """The (empty) step outputs of the selected checks: with evaluations yielded
    directly instead of `AssetCheckResult`s, Dagster expects them explicitly."""
    for output_name in context.assets_def.check_specs_by_output_name:
        yield dg.Output(None, output_name=output_name)
