"""ingest_events: mixed batches keep their valid events, duplicates are refused, on each backend."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from eventsync.ingest import ingest_events
from eventsync.store.schema import company_profiles, user_profiles
from eventsync.workspaces import create_workspace
from tests.eventsync.ingest.events import ev, stored_rows, us


def test_mixed_batch_keeps_valid_events(engine: Engine, ws: str) -> None:
    batch = [
        ev(event_id="a"),
        ev(event_id="b", event_type="nope"),
        ev(
            event_id="c",
            event_type="page_view",
            event_name="/home",
            received_at="ignored",
            workspace_id="ignored",
            properties={"k": "v"},
        ),
        "not an object",
        ev(event_id="a"),  # duplicate within the batch
        ev(event_id="d", event_type="nps_response", nps_score=9),
    ]
    received = us(2025, 3, 10, 1)
    result = ingest_events(engine, ws, batch, received_at_us=received)
    assert result.accepted == 3
    assert [(r.index, r.event_id) for r in result.rejections] == [(1, "b"), (3, None), (4, "a")]
    assert result.rejections[2].reason == "duplicate event_id 'a' (also at index 0 of this batch)"
    rows = stored_rows(engine, ws)
    assert [r["event_id"] for r in rows] == ["a", "c", "d"]
    assert {r["received_at"] for r in rows} == {received}
    assert {r["workspace_id"] for r in rows} == {ws}
    assert rows[1]["properties"] == '{"k":"v"}'
    assert rows[2]["nps_score"] == 9


def test_duplicate_of_stored_event_is_rejected(engine: Engine, ws: str) -> None:
    other = create_workspace(engine, "Other").workspace_id
    assert ingest_events(engine, ws, [ev(event_id="x1")]).accepted == 1
    again = ingest_events(engine, ws, [ev(event_id="x1"), ev(event_id="x2")])
    assert again.accepted == 1
    assert [(r.index, r.event_id, r.reason) for r in again.rejections] == [
        (0, "x1", "duplicate event_id 'x1' (already stored in this workspace)")
    ]
    # event ids are unique per workspace, not globally
    assert ingest_events(engine, other, [ev(event_id="x1")]).accepted == 1
    assert len(stored_rows(engine, ws)) == 2


def test_ingest_on_each_backend(store_url: str) -> None:
    """The same batch, profiles and duplicate check on SQLite and PostgreSQL (column
    widths enforced by PostgreSQL are checked before the insert)."""
    from eventsync.store.connection import engine_for

    engine = engine_for(store_url)
    ws = create_workspace(engine, "Backends").workspace_id
    batch = [
        ev(event_id="p1", hostname="h" * 300),  # wider than the column: a rejection
        ev(
            event_id="p2",
            event_type="identify_user",
            event_name="identify_user",
            properties={"plan": "pro"},
            company_id="c9",
        ),
        ev(
            event_id="p3",
            event_type="identify_company",
            event_name="identify_company",
            company_id="c9",
            properties={"name": "Nine"},
        ),
        ev(event_id="p2"),
    ]
    result = ingest_events(engine, ws, batch)
    assert result.accepted == 2
    assert [r.reason for r in result.rejections] == [
        "'hostname' is too long: 300 characters, at most 256",
        "duplicate event_id 'p2' (also at index 1 of this batch)",
    ]
    again = ingest_events(
        engine,
        ws,
        [
            ev(event_id="p3"),
            ev(
                event_id="p4",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-03-09T11:00:00Z",
                properties={"seats": 3},
            ),
        ],
    )
    assert again.accepted == 1 and again.rejections[0].event_id == "p3"
    with engine.connect() as conn:
        user = conn.execute(select(user_profiles).where(user_profiles.c.workspace_id == ws)).one()
        company = conn.execute(
            select(company_profiles).where(company_profiles.c.workspace_id == ws)
        ).one()
    assert json.loads(user.properties) == {"plan": "pro", "seats": 3}
    assert user.company_id == "c9"
    assert json.loads(company.properties) == {"name": "Nine"}
    assert [r["event_id"] for r in stored_rows(engine, ws)] == ["p2", "p3", "p4"]


def test_concurrent_batches_never_duplicate(store_url: str) -> None:
    """Overlapping batches from several threads (as the API's thread pool runs them),
    on each backend: every id is stored once and accepted exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    from eventsync.store.connection import engine_for

    engine = engine_for(store_url)
    ws = create_workspace(engine, "Concurrency").workspace_id

    batches = [[ev(event_id=f"c{(k * 7 + i) % 60}") for i in range(30)] for k in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda b: ingest_events(engine, ws, b), batches))
    unique = {e["event_id"] for b in batches for e in b}
    assert sum(r.accepted for r in results) == len(unique)
    assert sum(r.accepted + r.rejected for r in results) == sum(len(b) for b in batches)
    assert sorted(r["event_id"] for r in stored_rows(engine, ws)) == sorted(unique)


def test_rows_the_store_refuses_are_rejected_alone(pg_store_url: str) -> None:
    """Defence in depth: if a row passed the rules but the store still refused it (here
    a hostname wider than PostgreSQL's column, slipped past the rules), the batch is
    retried row by row: that row is rejected with a reason, the others are kept."""
    from eventsync.ingest.batches import _store
    from eventsync.ingest.rules import validate_event
    from eventsync.store.connection import engine_for

    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "Refused").workspace_id
    rows = []
    for pos, raw in enumerate([ev(event_id="ok1"), ev(event_id="wide"), ev(event_id="ok2")]):
        row, _ = validate_event(raw)
        row.update(workspace_id=ws, received_at=row["occurred_at"])
        rows.append((pos, row))
    rows[1][1]["hostname"] = "h" * 300
    keep, stored, refused = _store(engine, ws, rows)
    assert [r["event_id"] for _, r in keep] == ["ok1", "ok2"] and stored == set()
    assert [(x.index, x.event_id) for x in refused] == [(1, "wide")]
    assert refused[0].reason.startswith("the event store cannot hold this event")
    assert [r["event_id"] for r in stored_rows(engine, ws)] == ["ok1", "ok2"]
