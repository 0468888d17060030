"""Issue 25's "Done when", against a real Dagster instance (PostgreSQL storage), a real
code server of `pipeline.definitions` and the scheduler and run-queue daemons' own
iterations, with the event store on PostgreSQL:

- an hourly sync's tick exports the UTC day so far (manifest `partial`, high-water mark
  of the newest event exported); events received after it are in the next tick's
  export; each intraday run materializes the date's partition marked partial with each
  sync's rows;
- an erasure between two intraday exports removes the subject from the current files
  and from every later one;
- daily -> hourly -> daily takes effect at the next tick (same code server, no
  restart);
- after the day closes, the 03:00 run exports it `complete`; a reader polling the
  folder through the switches sees one copy of each row.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

from eventsync.clock import to_us
from eventsync.engine import layout
from eventsync.ingest import insert_event_rows
from eventsync.privacy import request_store, runner
from eventsync.store.connection import engine_for
from eventsync.syncs.config import create_sync, update_sync
from eventsync.workspaces import create_workspace
from tests.factories import event_row, insert_day
from tests.test_postgres_dagster import (  # noqa: F401 (pg_dagster_home is a fixture)
    _pg_run_ids,
    daemon_workspace,
    dequeue_and_wait,
    pg_dagster_home,
    schedule_tick,
)

EXPORT = dg.AssetKey("events_export")


class Poller:
    """A reader polling the day's Parquet file: every read must hold each row once."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.seen, self.errors = folder, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for part in sorted(self.folder.glob("part-*")):
                try:
                    ids = pq.read_table(part).column("event_id").to_pylist()
                except (FileNotFoundError, OSError):
                    continue  # between the replace's unlink and rename: not a copy
                if len(ids) != len(set(ids)):
                    self.errors.append(len(ids))
                self.seen.append(len(ids))
            parts = list(self.folder.glob("part-*"))
            if len(parts) > 1:
                self.errors.append(f"{len(parts)} part files")

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_hourly_sync_through_the_daemons(
    pg_dagster_home: Path,  # noqa: F811
    pg_url: str,
    pg_store_url: str,
    tmp_path: Path,
) -> None:
    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "acme").workspace_id
    root = tmp_path / "out"
    sync = create_sync(engine, ws, str(root), frequency="hourly")
    # A closed day two days back, so that every tick below, the 03:00 one included,
    # is in the past and its partition exists.
    day_d = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    day = day_d.isoformat()

    def at(h: int, m: int = 5, s: int = 5) -> dt.datetime:
        midnight = dt.datetime.combine(day_d, dt.time(), dt.UTC)
        return midnight + dt.timedelta(hours=h, minutes=m, seconds=s)

    insert_day(engine, ws, day, 20)  # received in the day's first seconds
    manifest = root / layout.manifest_key(sync.id, day)
    folder = root / layout.day_folder(sync.id, "parquet", day)

    def late(first: int, n: int, received: dt.datetime, **kw: str) -> None:
        rows = [
            event_row(ws, day, i, received_at=to_us(received), **kw)
            for i in range(first, first + n)
        ]
        with engine.begin() as conn:
            insert_event_rows(conn, rows)

    def doc() -> dict:
        return json.loads(manifest.read_text())

    def user_ids() -> list[str]:
        (part,) = folder.glob("part-*")
        return pq.read_table(part).column("user_id").to_pylist()

    with (
        dg.DagsterInstance.get() as instance,
        daemon_workspace(instance, "pipeline.definitions") as ctx,
    ):

        def tick(when: dt.datetime) -> list:
            """One scheduler iteration up to `when`; run what it queued to the end."""
            before = {r.run_id for r in instance.get_runs()}
            schedule_tick(ctx, when)
            new = {r.run_id for r in instance.get_runs()} - before
            if not new:
                return []
            finished = dequeue_and_wait(instance, ctx, new, timeout=300)
            assert {r.status for r in finished} == {DagsterRunStatus.SUCCESS}, finished
            return finished

        def materialization(run_id: str) -> dict:
            records = instance.fetch_materializations(EXPORT, limit=100).records
            (mine,) = [r for r in records if r.run_id == run_id]
            assert mine.partition_key == day
            return {k: v.value for k, v in mine.asset_materialization.metadata.items()}

        schedule_tick(ctx, at(9, 30))  # the scheduler's first iteration: no tick due yet
        assert instance.get_runs() == []

        # 10:05: the day so far.
        (run,) = tick(at(10))
        assert run.tags["eventsync/reason"] == "intraday" and run.tags["dagster/priority"] == "5"
        assert (doc()["status"], doc()["rows"]) == ("partial", 20)
        assert doc()["complete_through"] == f"{day}T10:04:00.000000Z"
        assert doc()["high_water_mark"] == f"{day}T00:00:21.000057Z"  # row 19's received_at
        meta = materialization(run.run_id)
        assert meta["status"] == "partial"
        assert meta["by_sync"][sync.id]["rows"] == 20

        # Received after the cut-off: in the next tick's export, replacing the first one.
        late(100, 5, at(10, 30, 0))
        with Poller(folder) as poller:
            (run,) = tick(at(11))
        assert (doc()["status"], doc()["rows"]) == ("partial", 25)
        assert doc()["high_water_mark"] == f"{day}T10:30:00.000000Z"
        assert materialization(run.run_id)["by_sync"][sync.id]["rows"] == 25
        assert not poller.errors and set(poller.seen) <= {20, 25}

        # An erasure between two intraday exports: gone from the current files ...
        req = request_store.create_request(engine, ws, "erasure", ["user-3"], [], "test")
        assert runner.run_all(engine, req.id, "test").status == "completed"
        assert "user-3" not in user_ids()
        # ... and from every later one, though a late event of the subject came in.
        late(200, 2, at(11, 30, 0), user_id="user-3")
        late(300, 2, at(11, 30, 0), user_id="user-x")
        (run,) = tick(at(12))
        ids = user_ids()
        assert "user-3" not in ids and "user-x" in ids
        assert doc()["rows"] == len(ids) == 25 - 2 + 2  # rows 3 and 16 erased, 2 new

        # daily -> hourly -> daily, each at the next tick, the same code server.
        update_sync(engine, sync.id, frequency="daily")
        assert tick(at(13)) == []
        assert doc()["complete_through"] == f"{day}T12:04:00.000000Z"  # untouched
        late(400, 1, at(13, 30, 0))
        update_sync(engine, sync.id, frequency="hourly")
        (run,) = tick(at(14))
        assert (doc()["status"], doc()["rows"]) == ("partial", 26)
        update_sync(engine, sync.id, frequency="daily")
        late(500, 1, at(14, 30, 0))

        # The day closes; the 03:00 run (the only run of the iteration: the hourly ticks
        # in between skip the daily sync) exports it complete.
        with Poller(folder) as poller:
            (run,) = tick(at(27, 0, 5))
        assert run.tags["dagster/schedule_name"] == "daily_sync_schedule"
        assert run.tags["dagster/partition"] == day
        assert (doc()["status"], doc()["rows"]) == ("complete", 27)
        assert "complete_through" not in doc()
        assert materialization(run.run_id)["status"] == "complete"
        assert not poller.errors and set(poller.seen) <= {26, 27}
        assert "user-3" not in user_ids()
        ticks = instance.get_runs(RunsFilter(tags={"dagster/schedule_name": "intraday_schedule"}))
        assert len(ticks) == 4  # 10:05, 11:05, 12:05, 14:05
    assert {r.run_id for r in ticks} <= _pg_run_ids(pg_url)
