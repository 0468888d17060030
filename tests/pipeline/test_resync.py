"""Weekly re-sync: late events in old days -> exactly those days re-exported, replaced
(never appended), and the ledger's fingerprints match the source again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from assets.events import events_daily, events_export
from eventsync.cli import main
from eventsync.clock import to_us
from eventsync.engine import layout
from eventsync.engine.extract import day_fingerprints
from eventsync.store.schema import events, export_ledger
from eventsync.syncs.config import create_sync, get_sync
from eventsync.syncs.resync_plan import plan_resync
from eventsync.workspaces import create_workspace
from pipeline.jobs import resync_job
from pipeline.runs.backfills import EXPORT_ASSETS
from pipeline.runs.tags import SYNCS_TAG
from pipeline.schedules import weekly_resync_schedule
from tests.factories import event_row, insert_day
from tests.fixtures.clock import TODAY

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
DAYS = [(TODAY - timedelta(days=i)).isoformat() for i in range(8, 0, -1)]  # 8 closed days
LATE = [DAYS[0], DAYS[3], DAYS[5]]


def _materialize(instance, resources, day: str, sync_id: str) -> None:
    result = dg.materialize(
        [events_daily, events_export],
        partition_key=day,
        instance=instance,
        resources=resources,
        tags={SYNCS_TAG: sync_id},
    )
    assert result.success


def _add_late(engine, ws: str, day: str, n: int) -> None:
    """n events that occurred in `day` but arrive now (received_at = now)."""
    now = to_us(datetime.now(UTC))
    rows = [
        event_row(ws, day, 500 + i, event_id=f"late-{day}-{i}", received_at=now) for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(events.insert(), rows)


def _ledger(engine, sync_id: str) -> dict:
    with engine.connect() as conn:
        return {
            r.day: r
            for r in conn.execute(select(export_ledger).where(export_ledger.c.sync_id == sync_id))
        }


@pytest.mark.slow
def test_late_events_in_three_old_days_are_resynced_exactly(engine, instance, resources, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out), formats=["parquet", "jsonl"], backfill_days=30)
    for day in DAYS:
        insert_day(engine, ws, day, 40)
        _materialize(instance, resources, day, sync.id)
    assert plan_resync(engine, sync).days == []  # nothing changed yet

    for day in LATE:
        _add_late(engine, ws, day, 5)

    # The CLI's dry run reports exactly the three days, and what changed.
    cli = CliRunner().invoke(
        main, ["sync", "resync", sync.id, "--days", "30", "--dry-run", "--json"]
    )
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["reasons"] == {d: "5 late events" for d in LATE}

    # The weekly schedule's tick -> the re-sync job -> one backfill of exactly 3 days.
    tick = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC).replace(hour=4)
    request = weekly_resync_schedule(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
    )
    assert request.run_key == f"resync:{TODAY.isoformat()}"
    run = resync_job.execute_in_process(
        run_config=request.run_config, instance=instance, resources=resources
    )
    assert run.success
    backfills = instance.get_backfills()
    assert len(backfills) == 1
    target = backfills[0].asset_backfill_data.target_subset
    assert target.asset_keys == set(EXPORT_ASSETS)
    for key in EXPORT_ASSETS:
        keys = target.get_partitions_subset(key).get_partition_keys()
        assert sorted(keys) == LATE
    assert backfills[0].tags[SYNCS_TAG] == sync.id
    # Asked again while that backfill is pending: nothing is queued twice.
    again = CliRunner().invoke(main, ["sync", "resync", sync.id, "--days", "30", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["backfill_id"] is None
    assert json.loads(again.output)["already_pending"] == {backfills[0].backfill_id: LATE}
    assert len(instance.get_backfills()) == 1
    assert weekly_resync_schedule.cron_schedule == "0 4 * * 1"
    assert weekly_resync_schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    # Run the backfill's dates for its syncs (in process, on the same instance).
    before = _ledger(engine, sync.id)
    for day in target.get_partitions_subset(EXPORT_ASSETS[1]).get_partition_keys():
        _materialize(instance, resources, day, backfills[0].tags[SYNCS_TAG])
    after = _ledger(engine, sync.id)
    # Only the three days were re-exported; the others keep their export.
    assert {d for d in DAYS if after[d].exported_at != before[d].exported_at} == set(LATE)

    fps = day_fingerprints(engine, ws, DAYS[0], DAYS[-1])
    with engine.connect() as conn:
        for day in DAYS:
            store_ids = {
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT event_id FROM events WHERE workspace_id = :w AND occurred_at >= :a "
                        "AND occurred_at < :b"
                    ),
                    {"w": ws, **dict(zip("ab", _bounds(day), strict=True))},
                )
            }
            parquet = out / layout.part_key(sync.id, "parquet", day, "zstd")
            ids = pq.read_table(parquet).column("event_id").to_pylist()
            assert len(ids) == len(set(ids)) == len(store_ids)  # every row, once
            assert set(ids) == store_ids
            # the second format was replaced too, and each folder holds its one part
            for fmt, codec in (("parquet", "zstd"), ("jsonl", "gzip")):
                folder = out / layout.day_folder(sync.id, fmt, day)
                assert [p.name for p in folder.iterdir()] == [
                    layout.part_key(sync.id, fmt, day, codec).rsplit("/", 1)[1]
                ]
            manifest = json.loads((out / layout.manifest_key(sync.id, day)).read_text())
            assert manifest["rows"] == len(store_ids)
            fp, row = fps[day], after[day]
            assert (row.source_rows, row.source_max_received_at, row.source_checksum) == (
                fp.rows,
                fp.max_received_at,
                fp.checksum,
            )
    assert plan_resync(engine, get_sync(engine, sync.id)).days == []


def _bounds(day: str) -> tuple[int, int]:
    from eventsync.clock import day_bounds_us

    return day_bounds_us(day)


def test_the_weekly_resync_of_many_syncs_is_one_backfill(engine, instance, tmp_path):
    """One backfill for every sync's changed days: the backfill daemon checks each
    requested backfill on every pass."""
    from pipeline.runs.resync import resync_all

    ws = create_workspace(engine, "acme").workspace_id
    for day in DAYS[:2]:
        insert_day(engine, ws, day, 5)
    syncs = [create_sync(engine, ws, str(tmp_path / f"s{i}"), backfill_days=30) for i in range(3)]
    outcomes = resync_all(engine, instance, window_days=30)
    (backfill,) = instance.get_backfills()
    assert backfill.tags[SYNCS_TAG] == ",".join(s.id for s in syncs)
    assert {o.backfill_id for o in outcomes} == {backfill.backfill_id}
    keys = backfill.asset_backfill_data.target_subset.get_partitions_subset(EXPORT_ASSETS[1])
    assert sorted(keys.get_partition_keys()) == DAYS[:2]
    # Asked again while it is pending: nothing is queued twice.
    again = resync_all(engine, instance, window_days=30)
    assert len(instance.get_backfills()) == 1
    assert all(o.backfill_id is None for o in again)
