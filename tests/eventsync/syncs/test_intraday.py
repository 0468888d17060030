"""Intraday exports of hourly syncs, without Dagster: each tick exports the UTC day so
far at the same keys (one copy of each row, even for a reader polling the folder during
the switch), the manifest says `partial` with its cut-off and high-water mark, an
erasure between two ticks reaches the current files and every later one, and the
export of the closed day marks it `complete` (an intraday run never replaces it)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select

from eventsync.clock import to_us
from eventsync.engine import layout
from eventsync.engine.staging import stage_day
from eventsync.ingest import insert_event_rows
from eventsync.privacy import request_store, runner
from eventsync.privacy.opener import default_opener
from eventsync.store.connection import engine_for
from eventsync.store.schema import export_ledger, export_subjects
from eventsync.syncs.config import Sync, create_sync, get_sync, update_sync
from eventsync.syncs.export_days import Outcome, export_days
from eventsync.syncs.intraday import (
    export_intraday,
    plan_intraday,
    plan_intraday_from_store,
)
from eventsync.workspaces import create_workspace
from tests.factories import event_row, insert_day

DAY = "2026-11-20"
D = datetime(2026, 11, 20, tzinfo=UTC)


def at(hours: float) -> datetime:
    return D + timedelta(hours=hours)


def _late(engine: Engine, ws: str, first: int, n: int, received: datetime, **kw) -> None:
    rows = [
        event_row(ws, DAY, i, received_at=to_us(received), **kw) for i in range(first, first + n)
    ]
    with engine.begin() as conn:
        insert_event_rows(conn, rows)


def _manifest(root: Path, sync: Sync) -> dict:
    return json.loads((root / layout.manifest_key(sync.id, DAY)).read_text())


def _parts(root: Path, sync: Sync, fmt: str) -> list[Path]:
    return sorted((root / layout.day_folder(sync.id, fmt, DAY)).glob("part-*"))


def _ids(root: Path, sync: Sync) -> list[str]:
    (part,) = _parts(root, sync, "parquet")
    return pq.read_table(part).column("event_id").to_pylist()


def _tick(engine: Engine, url: str, now: datetime) -> list:
    (run,) = [r for r in plan_intraday_from_store(engine, now) if r.day == DAY]
    return list(export_intraday(engine, url, run, default_opener, holder="test"))


def test_ticks_replace_the_day_so_far_then_the_closed_day_is_complete(
    store_url: str, tmp_path: Path
) -> None:
    engine = engine_for(store_url)
    root = tmp_path / "out"
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(root), formats=["parquet", "jsonl"], frequency="hourly")
    insert_day(engine, ws, DAY, 20)  # received in the day's first seconds
    _late(engine, ws, 100, 3, at(10.5))  # received after the first tick's cut-off

    (first,) = _tick(engine, store_url, at(10))
    assert (first.kind, first.result.rows) == (Outcome.EXPORTED, 20)
    doc = _manifest(root, sync)
    assert doc["status"] == "partial"
    assert doc["complete_through"] == f"{DAY}T09:59:00.000000Z"
    assert doc["high_water_mark"] == f"{DAY}T00:00:21.000057Z"  # row 19: 19 s + 57 µs + 2 s
    keys = sorted(f["key"] for f in doc["files"])
    assert sorted(set(_ids(root, sync))) == sorted(_ids(root, sync)) and len(_ids(root, sync)) == 20

    (second,) = _tick(engine, store_url, at(11))
    assert (second.kind, second.result.rows) == (Outcome.EXPORTED, 23)
    doc = _manifest(root, sync)
    assert (doc["status"], doc["high_water_mark"]) == ("partial", f"{DAY}T10:30:00.000000Z")
    assert sorted(f["key"] for f in doc["files"]) == keys  # the same keys, replaced
    assert [len(_parts(root, sync, f)) for f in ("parquet", "jsonl")] == [1, 1]

    # An erasure between two ticks: gone from the current files ...
    req = request_store.create_request(engine, ws, "erasure", ["user-3"], [], "test")
    assert runner.run_all(engine, req.id, "test").status == "completed"
    assert (
        "user-3"
        not in pq.read_table(_parts(root, sync, "parquet")[0]).column("user_id").to_pylist()
    )
    doc = _manifest(root, sync)
    assert (doc["status"], doc["complete_through"]) == ("partial", f"{DAY}T10:59:00.000000Z")
    # ... and from every later one, although a late event of it reached the store.
    _late(engine, ws, 200, 2, at(11.5), user_id="user-3")
    _late(engine, ws, 300, 2, at(11.5), user_id="user-x")
    (third,) = _tick(engine, store_url, at(12))
    table = pq.read_table(_parts(root, sync, "parquet")[0])
    assert "user-3" not in table.column("user_id").to_pylist()
    assert table.num_rows == third.result.rows == 23 - 2 + 2  # rows 3 and 16 erased
    with engine.connect() as conn:  # the write-ahead index names the partial day
        indexed = {
            r.subject_id
            for r in conn.execute(
                select(export_subjects.c.subject_id).where(export_subjects.c.day == DAY)
            )
        }
    assert "user-x" in indexed and "user-3" not in indexed

    # The closed day: the daily run's export marks it complete.
    stage = stage_day(store_url, engine, sync.id, ws, DAY)
    (done,) = export_days(engine, [(DAY, sync.id)], default_opener, holder="daily")
    assert done.kind is Outcome.EXPORTED and stage.received_through is None
    doc = _manifest(root, sync)
    assert doc["status"] == "complete" and "complete_through" not in doc
    with engine.connect() as conn:
        row = conn.execute(select(export_ledger).where(export_ledger.c.day == DAY)).one()
    assert row.partial_through is None and row.rows == 23
    # An intraday tick of that day now changes nothing.
    (late_tick,) = list(
        export_intraday(
            engine,
            store_url,
            plan_intraday(at(23.9), [get_sync(engine, sync.id)])[0],
            default_opener,
            holder="test",
        )
    )
    assert late_tick.kind is Outcome.SUPERSEDED
    assert _manifest(root, sync)["status"] == "complete"


def test_a_reader_polling_during_the_switch_sees_one_copy(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "out"
    url = str(engine.url)
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(root), frequency="hourly")
    insert_day(engine, ws, DAY, 300)
    _tick(engine, url, at(1))
    _late(engine, ws, 1000, 50, at(1.5))
    seen: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for part in _parts(root, sync, "parquet"):
                try:
                    ids = pq.read_table(part).column("event_id").to_pylist()
                except FileNotFoundError:
                    continue
                assert len(ids) == len(set(ids))
                seen.append(len(ids))

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for hour in (2, 3, 4):
            (out,) = _tick(engine, url, at(hour))
            assert out.kind is Outcome.EXPORTED
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) <= {300, 350}
    assert len(_parts(root, sync, "parquet")) == 1


def test_plan_reads_frequency_at_each_tick(engine: Engine, tmp_path: Path) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    a = create_sync(engine, ws, str(tmp_path / "a"))
    b = create_sync(engine, ws, str(tmp_path / "b"), frequency="hourly")
    assert [(r.day, r.sync_ids) for r in plan_intraday_from_store(engine, at(5))] == [
        (DAY, (b.id,))
    ]
    update_sync(engine, a.id, frequency="hourly")
    update_sync(engine, b.id, frequency="daily")
    assert [r.sync_ids for r in plan_intraday_from_store(engine, at(6))] == [(a.id,)]
    update_sync(engine, a.id, enabled=False)
    assert plan_intraday_from_store(engine, at(7)) == []
    # The first hour of a day also finishes the day before; the cut-off is now - 60 s.
    update_sync(engine, a.id, enabled=True)
    runs = plan_intraday_from_store(engine, at(24.5))
    assert [r.day for r in runs] == [DAY, "2026-11-21"]
    assert {r.cutoff_us for r in runs} == {to_us(at(24.5) - timedelta(seconds=60))}


def test_a_sync_made_daily_after_the_plan_is_not_exported(engine: Engine, tmp_path) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "a"), frequency="hourly")
    insert_day(engine, ws, DAY, 5)
    (run,) = plan_intraday_from_store(engine, at(5))
    update_sync(engine, sync.id, frequency="daily")
    (out,) = export_intraday(engine, str(engine.url), run, default_opener, holder="t")
    assert out.kind is Outcome.NOT_HOURLY
    assert not (tmp_path / "a" / layout.manifest_key(sync.id, DAY)).exists()


@pytest.mark.parametrize("partial_stage", [True, False])
def test_a_run_exports_only_stages_of_its_kind(
    engine: Engine, tmp_path: Path, partial_stage: bool
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "a"), frequency="hourly")
    insert_day(engine, ws, DAY, 5)
    cutoff = to_us(at(3))
    stage_day(
        str(engine.url), engine, sync.id, ws, DAY,
        received_through=cutoff if partial_stage else None,
    )  # fmt: skip
    (out,) = export_days(
        engine,
        [(DAY, sync.id)],
        default_opener,
        holder="t",
        partial_until=None if partial_stage else cutoff,
    )
    assert out.kind is Outcome.NOT_STAGED and "stage it again" in out.reason


def test_status_shows_the_intraday_export_and_its_freshness(engine: Engine, tmp_path) -> None:
    from eventsync.syncs.health import day_statuses, sync_status

    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "a"), frequency="hourly")
    insert_day(engine, ws, DAY, 8)
    _tick(engine, str(engine.url), at(9))
    status = sync_status(engine, get_sync(engine, sync.id), now=at(9.5))
    assert (status.intraday_day, status.intraday_rows) == (DAY, 8)
    assert status.intraday_through == f"{DAY}T08:59:00.000000Z"
    assert status.intraday_fresh is True
    assert status.last_exported_day is None  # a partial day is not the last complete one
    late = sync_status(engine, get_sync(engine, sync.id), now=at(10.2))  # 71 min after
    assert late.intraday_fresh is False and late.fresh is False
    (today,) = day_statuses(engine, get_sync(engine, sync.id), DAY, DAY)
    assert (today.status, today.rows, today.complete_through) == (
        "partial",
        8,
        f"{DAY}T08:59:00.000000Z",
    )
    update_sync(engine, sync.id, frequency="daily")
    assert sync_status(engine, get_sync(engine, sync.id), now=at(12)).intraday_fresh is None
