"""Fencing tokens of a sync-day: each writer gets the next generation; an earlier writer
can neither pass its checks nor publish once a later one took the day."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsync.store import fencing
from eventsync.store.connection import engine_for
from eventsync.store.schema import export_ledger


def test_each_writer_gets_the_next_generation(store_url):
    engine = engine_for(store_url)
    first = fencing.take(engine, "sync_f", "2026-11-20", "export by run a")
    other_day = fencing.take(engine, "sync_f", "2026-11-21", "export by run a")
    second = fencing.take(engine, "sync_f", "2026-11-20", "erasure era_1")
    assert (first.generation, other_day.generation, second.generation) == (1, 1, 2)
    assert fencing.current(engine, "sync_f", "2026-11-20") == (2, "erasure era_1")


def test_a_superseded_writer_stops_and_publishes_nothing(store_url):
    engine = engine_for(store_url)
    export = fencing.take(engine, "sync_f", "2026-11-20", "export by run a")
    export.check()  # still its own
    fencing.take(engine, "sync_f", "2026-11-20", "erasure era_1")
    with pytest.raises(fencing.Fenced, match="superseded by generation 2 of erasure era_1"):
        export.check()

    def write_ledger(conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute(
            export_ledger.insert().values(
                sync_id="sync_f", day="2026-11-20", workspace_id="ws", export_id="x",
                status="exported", files="[]", exported_at="now",
            )
        )  # fmt: skip

    with pytest.raises(fencing.Fenced):
        export.publish(write_ledger)
    with engine.connect() as conn:
        assert conn.execute(select(export_ledger)).all() == []


def test_the_current_writer_publishes_in_one_transaction(store_url):
    engine = engine_for(store_url)
    fence = fencing.take(engine, "sync_f", "2026-11-20", "export by run a")

    def fail_after_the_row(conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute(
            export_ledger.insert().values(
                sync_id="sync_f", day="2026-11-20", workspace_id="ws", export_id="x",
                status="exported", files="[]", exported_at="now",
            )
        )  # fmt: skip
        raise OSError("the manifest upload failed")

    with pytest.raises(OSError, match="manifest upload failed"):
        fence.publish(fail_after_the_row)
    with engine.connect() as conn:  # the row was rolled back with the failed upload
        assert conn.execute(select(export_ledger)).all() == []
