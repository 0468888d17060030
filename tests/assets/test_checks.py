"""The checks of `events_daily`, one verdict per date over every sync of the date (from
eventsync's record, not only the syncs of the run that evaluates them): too many
invalid rows and duplicate ids block that sync's day and fail the date naming the
sync; quarantined rows only warn. And the export's `syncs_exported` check over the
ledger."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from assets.checks import (
    DAILY_ASSET,
    DAILY_CHECK_SPECS,
    EXPORT_CHECK_SPEC,
    NO_QUARANTINE,
    UNIQUE_IDS,
    VALID_SHARE,
    date_evaluations,
    export_evaluation,
)
from assets.partitions import partitions
from eventsync.engine.export_records import record_failure
from eventsync.engine.staging import StageResult, stage_day
from eventsync.settings import database_url
from eventsync.syncs.config import create_sync
from eventsync.syncs.date_record import date_record
from eventsync.workspaces import create_workspace
from tests.factories import insert_day

DAY = "2025-03-01"
ALL = {VALID_SHARE, UNIQUE_IDS, NO_QUARANTINE}


def _staged(
    engine: Engine, tmp_path, invalid: int, max_invalid_share: float, name: str = "acme"
) -> StageResult:
    ws = create_workspace(engine, name).workspace_id
    sync = create_sync(engine, ws, str(tmp_path / name))
    insert_day(engine, ws, DAY, 20, **{f"i{i}": {"event_type": "bogus"} for i in range(invalid)})
    return stage_day(database_url(), engine, sync.id, ws, DAY, max_invalid_share=max_invalid_share)


def _verdicts(
    engine: Engine, stages: list[StageResult], selected: set[str] = ALL, fresh: bool = True
) -> dict[str, dg.AssetCheckEvaluation]:
    ids = [s.sync_id for s in stages]
    record = date_record(engine, DAY, ids, {s.sync_id: s for s in stages} if fresh else None)
    return {e.check_name: e for e in date_evaluations(DAY, record, selected)}


def test_the_specs_are_per_date_and_two_of_them_block() -> None:
    specs = {s.name: s for s in DAILY_CHECK_SPECS}
    assert set(specs) == ALL
    assert all(
        s.asset_key == DAILY_ASSET and s.partitions_def == partitions for s in specs.values()
    )
    assert specs[VALID_SHARE].blocking and specs[UNIQUE_IDS].blocking
    assert not specs[NO_QUARANTINE].blocking
    assert EXPORT_CHECK_SPEC.partitions_def == partitions


def test_a_few_quarantined_rows_warn_and_the_date_passes(engine: Engine, tmp_path) -> None:
    stage = _staged(engine, tmp_path, invalid=1, max_invalid_share=0.1)
    verdicts = _verdicts(engine, [stage])
    assert verdicts[VALID_SHARE].passed and verdicts[UNIQUE_IDS].passed
    warn = verdicts[NO_QUARANTINE]
    assert (warn.passed, warn.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert warn.description == f"1 of 1 syncs with quarantined rows: {stage.sync_id}"
    assert warn.metadata["rows_quarantined"].value == 1
    assert {e.partition for e in verdicts.values()} == {DAY}


def test_one_sync_above_the_limit_fails_the_date_naming_only_it(engine: Engine, tmp_path) -> None:
    bad = _staged(engine, tmp_path, invalid=4, max_invalid_share=0.1, name="bad")
    good = _staged(engine, tmp_path, invalid=0, max_invalid_share=0.1, name="good")
    failed = _verdicts(engine, [bad, good])[VALID_SHARE]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.description == f"1 of 2 syncs above the invalid limit: {bad.sync_id}"
    assert failed.metadata["by_sync"].value == {bad.sync_id: 0.2}
    assert (failed.metadata["syncs_checked"].value, failed.metadata["syncs_failed"].value) == (
        2,
        1,
    )
    assert not failed.blocking  # blocking is per sync-day, by events_export


def test_a_later_run_of_other_syncs_still_names_the_failed_sync(engine: Engine, tmp_path) -> None:
    """Twenty runs judge the same date: the last one reads the others' record."""
    bad = _staged(engine, tmp_path, invalid=4, max_invalid_share=0.1, name="bad")
    good = _staged(engine, tmp_path, invalid=0, max_invalid_share=0.1, name="good")
    record = date_record(engine, DAY, [bad.sync_id, good.sync_id], {good.sync_id: good})
    verdicts = {e.check_name: e for e in date_evaluations(DAY, record, ALL)}
    assert not verdicts[VALID_SHARE].passed
    assert verdicts[VALID_SHARE].metadata["failed_syncs"].value == [bad.sync_id]


def test_only_the_selected_checks_are_evaluated(engine: Engine, tmp_path) -> None:
    stage = _staged(engine, tmp_path, invalid=0, max_invalid_share=0.1)
    assert set(_verdicts(engine, [stage], {UNIQUE_IDS})) == {UNIQUE_IDS}


def test_the_export_check_names_the_syncs_the_ledger_has_failed(engine: Engine, tmp_path) -> None:
    bad = _staged(engine, tmp_path, invalid=4, max_invalid_share=0.1, name="bad")
    good = _staged(engine, tmp_path, invalid=0, max_invalid_share=0.1, name="good")
    record_failure(engine, bad, "blocked: too many invalid rows")
    evaluation = export_evaluation(DAY, date_record(engine, DAY, [bad.sync_id, good.sync_id]))
    assert not evaluation.passed and evaluation.partition == DAY
    assert evaluation.metadata["failed_syncs"].value == [bad.sync_id]
    assert evaluation.description == f"1 of 1 syncs not exported: {bad.sync_id}"


def test_the_export_check_counts_a_partial_day_apart(engine: Engine, tmp_path) -> None:
    """A date whose hourly sync has only its day so far exported is not reported as
    complete: the check names that sync as partial (and passes: nothing failed)."""
    from datetime import UTC, datetime

    from eventsync.clock import to_us
    from eventsync.privacy.opener import default_opener
    from eventsync.syncs.export_days import export_days
    from eventsync.syncs.intraday import IntradayRun, export_intraday

    daily = _staged(engine, tmp_path, invalid=0, max_invalid_share=0.1, name="daily")
    ws = create_workspace(engine, "hourly").workspace_id
    hourly = create_sync(engine, ws, str(tmp_path / "hourly"), frequency="hourly")
    insert_day(engine, ws, DAY, 10)
    list(export_days(engine, [(DAY, daily.sync_id)], default_opener, holder="daily"))
    cutoff = to_us(datetime(2025, 3, 1, 10, 4, tzinfo=UTC))
    run = IntradayRun(DAY, cutoff, (hourly.id,))
    list(export_intraday(engine, database_url(), run, default_opener, holder="tick"))
    record = date_record(engine, DAY, [daily.sync_id, hourly.id])
    assert record[hourly.id].partial and not record[daily.sync_id].partial
    evaluation = export_evaluation(DAY, record)
    assert evaluation.passed
    assert evaluation.metadata["syncs_partial"].value == 1
    assert evaluation.metadata["partial_syncs"].value == [hourly.id]
    assert evaluation.description == (
        f"all 2 syncs of the date exported, 1 of them partial (the day so far): {hourly.id}"
    )
