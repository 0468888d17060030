"""bench.ui_populate writes what runs write: the storage answers the UI's questions
(materialized partitions, check verdicts per partition, the runs and their partition
ranges) as it would for the 03:00 runs of that day."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.asset_key import AssetCheckKey
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from sqlalchemy import make_url

from bench import ui_populate
from bench.ui_location import pairs

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-01-07"  # 2 of the first 60 syncs fail their checks that day


@pytest.fixture
def pg_instance(es_home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    shutil.copy(ROOT / "dagster_home" / "dagster.postgres.yaml", es_home / "dagster.yaml")
    url = make_url(pg_url)
    for name, value in {
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database or "",
    }.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        yield instance


def test_a_day_of_date_x_sync_runs_reads_back_as_runs_wrote_it(pg_instance) -> None:  # type: ignore[no-untyped-def]
    syncs = ui_populate.sync_ids(120)
    failing = {s for s in syncs if ui_populate.fails(DAY, s)}
    ui_populate.add_sync_partitions(pg_instance, "a", syncs)
    batches = list(ui_populate.day_batches("a", syncs, DAY))
    assert len(batches) == 3  # 50 + 50 + 20 syncs
    assert failing
    ui_populate.write_day(pg_instance, batches)
    pair = pairs("a")[0]
    keys = {f"{DAY}|{s}" for s in syncs}
    assert set(pg_instance.get_materialized_partitions(dg.AssetKey(pair.daily))) == keys
    exported = set(pg_instance.get_materialized_partitions(dg.AssetKey(pair.export)))
    assert exported == {f"{DAY}|{s}" for s in syncs if s not in failing}
    records = pg_instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(dg.AssetKey(pair.daily), "valid_share"), limit=1000
    )
    assert {r.partition for r in records} == keys
    failed = {r.partition for r in records if r.status == AssetCheckExecutionRecordStatus.FAILED}
    assert failed == {f"{DAY}|{s}" for s in failing}
    run = pg_instance.get_run_by_id(batches[0].run.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    latest = pg_instance.get_latest_materialization_event(dg.AssetKey(pair.daily))
    assert latest is not None and latest.run_id == batches[-1].run.run_id
    assert latest.asset_materialization.metadata["rows_extracted"].value == ui_populate.day_rows(
        DAY, syncs[-1]
    )


def test_date_only_runs_keep_each_syncs_outcome_in_metadata(pg_instance) -> None:  # type: ignore[no-untyped-def]
    syncs = ui_populate.sync_ids(60)
    ui_populate.write_day(pg_instance, list(ui_populate.day_batches("b", syncs, DAY)))
    pair = pairs("b")[0]
    assert set(pg_instance.get_materialized_partitions(dg.AssetKey(pair.daily))) == {DAY}
    events = pg_instance.fetch_materializations(dg.AssetKey(pair.daily), limit=10).records
    per_sync = {}
    for record in events:
        per_sync.update(record.asset_materialization.metadata["syncs"].value)
    assert set(per_sync) == set(syncs)
    assert {s for s, v in per_sync.items() if v["blocked"]} == {
        s for s in syncs if ui_populate.fails(DAY, s)
    }


def test_the_products_runs_carry_its_syncs_exported_check_per_date(pg_instance) -> None:  # type: ignore[no-untyped-def]
    """Design p (eventsync's own code location): b's runs plus the export asset's
    partitioned `syncs_exported` verdicts, which the product's check reads back."""
    from pipeline.definitions import defs

    syncs = ui_populate.sync_ids(120)
    ui_populate.write_day(pg_instance, list(ui_populate.day_batches("p", syncs, DAY)))
    check = dg.AssetCheckKey(dg.AssetKey("events_export"), "syncs_exported")
    assert check in defs.resolve_asset_graph().asset_check_keys
    records = pg_instance.event_log_storage.get_asset_check_execution_history(check, limit=10)
    assert len(records) == 3  # one per run of 50 syncs
    verdicts = [r.event.dagster_event.event_specific_data for r in records]
    assert {v.partition for v in verdicts} == {DAY}
    failed = {s for s in syncs if ui_populate.fails(DAY, s)}
    assert failed  # 2 of these 120 syncs fail on DAY
    assert {s for v in verdicts for s in v.metadata["failed"].value} == failed
    # The daily asset's one check, as the product names it, per run.
    daily = dg.AssetCheckKey(dg.AssetKey("events_daily"), "sync_days_valid")
    assert daily in defs.resolve_asset_graph().asset_check_keys
    records = pg_instance.event_log_storage.get_asset_check_execution_history(daily, limit=10)
    assert len(records) == 3
    blocked = {
        s
        for r in records
        for s, rules in r.event.dagster_event.event_specific_data.metadata[
            "failed_syncs"
        ].value.items()
        if rules == ["invalid_share"]
    }
    assert blocked == failed
