"""The check of `events_daily`, one verdict per date over every sync of the date (from
eventsync's record, not only the syncs of the run that evaluates it): too many
invalid rows and duplicate ids block that sync's day and fail the date naming the
sync and the rule; quarantined rows only warn. And the export's `syncs_exported` check
over the ledger."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from assets.checks import (
    DAILY_ASSET,
    DAILY_CHECK_SPECS,
    EXPORT_CHECK_SPEC,
    SYNC_DAYS_VALID,
    date_evaluation,
    export_evaluation,
)
from assets.partitions import partitions
from eventsync.engine.export_records import record_failure
from eventsync.engine.staging import StageResult, stage_day
from eventsync.settings import database_url
from eventsync.syncs.config import create_sync
from eventsync.syncs.date_record import SyncDay, date_record
from eventsync.workspaces import create_workspace
from tests.factories import insert_day

DAY = "2025-03-01"


def _staged(
    engine: Engine, tmp_path, invalid: int, max_invalid_share: float, name: str = "acme"
) -> StageResult:
    ws = create_workspace(engine, name).workspace_id
    sync = create_sync(engine, ws, str(tmp_path / name))
    insert_day(engine, ws, DAY, 20, **{f"i{i}": {"event_type": "bogus"} for i in range(invalid)})
    return stage_day(database_url(), engine, sync.id, ws, DAY, max_invalid_share=max_invalid_share)


def _verdict(engine: Engine, stages: list[StageResult]) -> dg.AssetCheckEvaluation:
    ids = [s.sync_id for s in stages]
    return date_evaluation(DAY, date_record(engine, DAY, ids, {s.sync_id: s for s in stages}))


def test_one_spec_per_date_that_blocks() -> None:
    """One partitioned check, not one per rule: each costs the Checks tab a rebuild of its
    state from every date (bench/RESULTS.md, Run L)."""
    (spec,) = DAILY_CHECK_SPECS
    assert (spec.name, spec.asset_key, spec.partitions_def) == (
        SYNC_DAYS_VALID,
        DAILY_ASSET,
        partitions,
    )
    assert spec.blocking
    assert EXPORT_CHECK_SPEC.partitions_def == partitions


def test_a_clean_date_passes(engine: Engine, tmp_path) -> None:
    verdict = _verdict(engine, [_staged(engine, tmp_path, invalid=0, max_invalid_share=0.1)])
    assert verdict.passed and verdict.description == "all 1 syncs of the date pass"
    assert verdict.metadata["syncs_blocked"].value == 0


def test_a_few_quarantined_rows_only_warn(engine: Engine, tmp_path) -> None:
    stage = _staged(engine, tmp_path, invalid=1, max_invalid_share=0.1)
    warn = _verdict(engine, [stage])
    assert (warn.passed, warn.severity, warn.partition) == (False, dg.AssetCheckSeverity.WARN, DAY)
    assert warn.description == f"1 of 1 syncs with quarantined rows (not blocked): {stage.sync_id}"
    assert warn.metadata["rows_quarantined"].value == 1
    assert warn.metadata["syncs_blocked"].value == 0
    assert warn.metadata["failed_syncs"].value == {stage.sync_id: ["rows_quarantined"]}


def test_one_sync_above_the_limit_fails_the_date_naming_only_it(engine: Engine, tmp_path) -> None:
    bad = _staged(engine, tmp_path, invalid=4, max_invalid_share=0.1, name="bad")
    good = _staged(engine, tmp_path, invalid=0, max_invalid_share=0.1, name="good")
    failed = _verdict(engine, [bad, good])
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    # Its quarantined rows are part of the block, not a second finding.
    assert failed.description == f"1 of 2 syncs above the invalid limit: {bad.sync_id}"
    assert failed.metadata["by_sync"].value == {
        bad.sync_id: {"invalid_share": 0.2, "duplicate_ids": 0, "rows_quarantined": 4}
    }
    assert failed.metadata["failed_syncs"].value == {bad.sync_id: ["invalid_share"]}
    counts = ("syncs_checked", "syncs_blocked", "syncs_invalid_share", "syncs_rows_quarantined")
    assert [failed.metadata[k].value for k in counts] == [2, 1, 1, 0]
    assert not failed.blocking  # blocking is per sync-day, by events_export


def test_a_date_names_each_rule_broken_and_its_syncs() -> None:
    record = {
        "dup": SyncDay("dup", staged=True, duplicate_ids=2, rows_quarantined=1),
        "warn": SyncDay("warn", staged=True, rows_quarantined=3),
        "clean": SyncDay("clean", staged=True),
    }
    verdict = date_evaluation(DAY, record)
    assert verdict.severity == dg.AssetCheckSeverity.ERROR  # one blocked sync-day
    assert verdict.description == (
        "1 of 3 syncs with duplicate event ids: dup; "
        "1 of 3 syncs with quarantined rows (not blocked): warn"
    )
    assert verdict.metadata["failed_syncs"].value == {
        "dup": ["duplicate_ids"],
        "warn": ["rows_quarantined"],
    }
    assert (
        verdict.metadata["duplicate_ids"].value,
        verdict.metadata["rows_quarantined"].value,
    ) == (
        2,
        3,
    )


def test_a_later_run_of_other_syncs_still_names_the_failed_sync(engine: Engine, tmp_path) -> None:
    """Twenty runs judge the same date: the last one reads the others' record."""
    bad = _staged(engine, tmp_path, invalid=4, max_invalid_share=0.1, name="bad")
    good = _staged(engine, tmp_path, invalid=0, max_invalid_share=0.1, name="good")
    record = date_record(engine, DAY, [bad.sync_id, good.sync_id], {good.sync_id: good})
    verdict = date_evaluation(DAY, record)
    assert not verdict.passed
    assert verdict.metadata["failed_syncs"].value == {bad.sync_id: ["invalid_share"]}


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
