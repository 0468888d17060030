"""plan_resync: which days of a sync are re-exported and why, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from eventsync.clock import day_bounds_us, to_us
from eventsync.destinations.interface import parse_destination
from eventsync.destinations.local import LocalDestination
from eventsync.engine.day_export import export_day
from eventsync.engine.export_records import record_export
from eventsync.engine.staging import stage_day
from eventsync.store.connection import engine_for
from eventsync.store.schema import events, export_ledger
from eventsync.syncs.config import create_sync
from eventsync.syncs.resync_plan import plan_resync
from eventsync.workspaces import create_workspace
from tests.factories import event_row, insert_day
from tests.fixtures.clock import TODAY

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
DAYS = [(TODAY - timedelta(days=i)).isoformat() for i in range(8, 0, -1)]  # 8 closed days


def _add_late(engine, ws: str, day: str, n: int) -> None:
    """n events that occurred in `day` but arrive now (received_at = now)."""
    now = to_us(datetime.now(UTC))
    rows = [
        event_row(ws, day, 500 + i, event_id=f"late-{day}-{i}", received_at=now) for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(events.insert(), rows)


def test_plan_on_both_backends_names_each_reason(store_url, tmp_path):
    """What changed (late events, rows added, rows deleted, rows changed), emptied, never
    exported, last export failed -- on SQLite and PostgreSQL."""
    engine = engine_for(store_url)
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"), backfill_days=30)
    dest = LocalDestination(parse_destination(str(tmp_path / "out")))
    for day in DAYS[:6]:
        insert_day(engine, ws, day, 25)
        stage = stage_day(store_url, engine, sync.id, ws, day)
        record_export(engine, stage, export_day(stage, ["parquet"], "zstd", dest))
    insert_day(engine, ws, DAYS[6], 10)  # rows, never exported
    _add_late(engine, ws, DAYS[1], 1)
    with engine.begin() as conn:  # all events of DAYS[2] deleted (e.g. retention)
        lo, hi = day_bounds_us(DAYS[2])
        conn.execute(
            delete(events).where(
                events.c.workspace_id == ws, events.c.occurred_at >= lo, events.c.occurred_at < hi
            )
        )
        conn.execute(
            export_ledger.update()
            .where(export_ledger.c.day == DAYS[4])
            .values(status="failed", error="boom")
        )
    # A row that only changes received_at of an existing event is detected too.
    with engine.begin() as conn:
        conn.execute(
            events.update()
            .where(events.c.event_id == f"{ws}-{DAYS[3]}-000003")
            .values(received_at=to_us(datetime.now(UTC)))
        )
        # DAYS[0] loses two events; DAYS[5] gains one received as early as the others.
        gone = [f"{ws}-{DAYS[0]}-000001", f"{ws}-{DAYS[0]}-000002"]
        conn.execute(delete(events).where(events.c.event_id.in_(gone)))
        conn.execute(events.insert(), [event_row(ws, DAYS[5], 3, event_id="imported-1")])
    plan = plan_resync(engine, sync, window_days=30)
    assert plan.reasons == {
        DAYS[0]: "2 rows deleted",
        DAYS[1]: "1 late event",
        DAYS[2]: "emptied",
        DAYS[3]: "rows changed (as many rows, received after the export)",
        DAYS[4]: "last export failed: boom",
        DAYS[5]: "1 row added",
        DAYS[6]: "never exported",
    }
    assert plan.days_with_rows == 6
    with pytest.raises(Exception, match="days: must be from 1 to 365"):
        plan_resync(engine, sync, window_days=400)


def test_a_changed_filter_reexports_nothing_by_itself(store_url, tmp_path):
    """Each day is compared under the filters it was exported with: changing the
    event-name filter plans nothing; late data of a day still re-exports it (with the
    new filter), after which the day is compared under the new one. A closed day that
    has only a partial (intraday) export is re-exported."""
    from eventsync.syncs.config import update_sync

    engine = engine_for(store_url)
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"), backfill_days=30)
    dest = LocalDestination(parse_destination(str(tmp_path / "out")))

    def export(day: str, **kw) -> None:
        s = sync_now()
        stage = stage_day(
            store_url, engine, s.id, ws, day, event_types=s.event_types,
            event_names=s.event_names, **kw,
        )  # fmt: skip
        record_export(engine, stage, export_day(stage, ["parquet"], "zstd", dest))

    def sync_now():
        from eventsync.syncs.config import get_sync

        return get_sync(engine, sync.id)

    for day in DAYS[:3]:
        insert_day(engine, ws, day, 21)
        export(day)
    assert plan_resync(engine, sync_now()).reasons == {}
    update_sync(engine, sync.id, event_names=["event-1", "event-2*"])
    assert plan_resync(engine, sync_now()).reasons == {}  # nothing by itself
    _add_late(engine, ws, DAYS[1], 1)  # late data: the day is re-exported
    assert plan_resync(engine, sync_now()).reasons == {DAYS[1]: "1 late event"}
    export(DAYS[1])  # now exported under the new filter: 6 of the 22 rows
    assert plan_resync(engine, sync_now()).reasons == {}
    (row,) = [r for r in engine.connect().execute(export_ledger.select()) if r.day == DAYS[1]]
    assert row.rows == 6 and '"event-2*"' in row.source_filter
    # A closed day with only an intraday export (an hourly sync's) is completed.
    insert_day(engine, ws, DAYS[3], 5)
    export(DAYS[3], received_through=day_bounds_us(DAYS[3])[1] + 10**12)
    assert plan_resync(engine, sync_now()).reasons == {DAYS[3]: "only a partial (intraday) export"}
