"""export_days decides and records each day's outcome, without Dagster: one outcome per
day, in order, each failed day in the ledger with its reason."""

from __future__ import annotations

from pathlib import Path

from eventsync.destinations import open_destination
from eventsync.engine import layout
from eventsync.engine.export_records import exported_files
from eventsync.engine.staging import stage_day
from eventsync.syncs.config import create_sync
from eventsync.syncs.export_days import (
    Outcome,
    attempted_syncs,
    destination_errors,
    export_days,
)
from eventsync.syncs.health import sync_status
from eventsync.workspaces import create_workspace
from tests.factories import insert_day

DAYS = ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]


def _stage(engine, sync, days):  # type: ignore[no-untyped-def]
    for day in days:
        stage_day(str(engine.url), engine, sync.id, sync.workspace_id, day)


def _opener(sync):  # type: ignore[no-untyped-def]
    return open_destination(sync.destination, sync.options, sync_id=sync.id)


def test_each_day_gets_one_typed_outcome_and_failures_are_recorded(engine, tmp_path: Path):
    ws = create_workspace(engine, "acme").workspace_id
    good = create_sync(engine, ws, str(tmp_path / "good"))
    paused = create_sync(engine, ws, str(tmp_path / "paused"))
    for day in DAYS:
        bad = {"i1": {"properties": "x"}, "i2": {"properties": "x"}}
        insert_day(engine, ws, day, 20, **(bad if day == DAYS[1] else {}))
    _stage(engine, good, [DAYS[0], DAYS[1], DAYS[3]])  # DAYS[2] is never staged
    batch = [(d, good.id) for d in DAYS] + [(DAYS[0], paused.id)]

    outcomes = list(
        export_days(
            engine, batch, _opener, holder="test", paused={paused.id: "paused by the owner"}
        )
    )

    kinds = [(o.day, o.sync_id, o.kind) for o in outcomes]
    assert kinds == [
        (DAYS[0], good.id, Outcome.EXPORTED),
        (DAYS[1], good.id, Outcome.BLOCKED),  # 2 of 20 invalid is above 5 %
        (DAYS[2], good.id, Outcome.NOT_STAGED),
        (DAYS[3], good.id, Outcome.EXPORTED),
        (DAYS[0], paused.id, Outcome.PAUSED),
    ]
    assert outcomes[1].reason.startswith("blocked: 2 of 20 rows invalid")
    assert "has not been staged" in outcomes[2].reason
    assert outcomes[4].reason == "not attempted: the sync is paused (paused by the owner)"
    assert outcomes[0].result is not None and outcomes[0].result.rows == 20
    # Recorded: the blocked day is failed in the ledger with its reason; the exported
    # days list their files; an unstaged or paused day was not attempted.
    assert sync_status(engine, good).failed_days == 1
    listed = [f["key"] for f in exported_files(engine, good.id, DAYS[0])]
    assert listed == [layout.part_key(good.id, "parquet", DAYS[0], "zstd")]
    assert destination_errors(outcomes) == {}  # a blocked day is no destination failure
    assert attempted_syncs(outcomes) == {good.id}


def test_a_failing_destination_is_given_up_after_two_days(engine, tmp_path: Path):
    ws = create_workspace(engine, "acme").workspace_id
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the destination folder should be")
    sync = create_sync(engine, ws, str(blocker / "out"))
    for day in DAYS:
        insert_day(engine, ws, day, 5)
    _stage(engine, sync, DAYS)

    outcomes = list(export_days(engine, [(d, sync.id) for d in DAYS], _opener, holder="t"))

    assert [o.kind for o in outcomes] == [Outcome.FAILED] * 2 + [Outcome.GIVEN_UP] * 2
    assert outcomes[0].reason.startswith("NotADirectoryError")
    assert outcomes[2].reason.startswith(f"not attempted: the destination failed on {DAYS[1]}")
    assert destination_errors(outcomes) == {sync.id: outcomes[1].reason}
    assert sync_status(engine, sync).failed_days == 4


def test_a_store_outage_fails_the_day_for_the_system_not_the_sync(
    pg_url: str, es_home: Path, tmp_path: Path, monkeypatch
) -> None:
    """The store's connections refused mid-run (a real PostgreSQL behind a TCP proxy):
    the day fails as an infrastructure failure, which auto-pause does not count."""
    from sqlalchemy import create_engine, make_url

    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.export_days import infrastructure_failed
    from tests.tcpproxy import TcpProxy

    upgrade(pg_url)
    direct = engine_for(pg_url)
    monkeypatch.setenv("EVENTSYNC_DATABASE_URL", pg_url)
    ws = create_workspace(direct, "acme").workspace_id
    sync = create_sync(direct, ws, str(tmp_path / "out"))
    insert_day(direct, ws, DAYS[0], 20)
    _stage(direct, sync, [DAYS[0]])
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    engine = create_engine(url.set(port=proxy.port), pool_pre_ping=True)

    def opener(s):  # type: ignore[no-untyped-def]
        proxy.refuse()  # the store goes away once the run has read the sync
        return _opener(s)

    try:
        (outcome,) = list(export_days(engine, [(DAYS[0], sync.id)], opener, holder="test"))
    finally:
        proxy.close()
        engine.dispose()
    assert outcome.kind is Outcome.FAILED and outcome.infrastructure, outcome.reason
    assert "OperationalError" in outcome.reason
    assert destination_errors([outcome]) == {}  # not the sync's failure: no auto-pause
    assert infrastructure_failed([outcome]) == {sync.id}
