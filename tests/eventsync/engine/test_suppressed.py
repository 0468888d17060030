"""The export's suppression filter: rows of suppressed users or companies are dropped
from a staged day, whoever wrote them into the store."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from eventsync.engine.staging import stage_day, staging_dir
from eventsync.engine.suppressed import SuppressedSubjects
from eventsync.ingest import insert_event_rows
from eventsync.privacy import suppressions
from eventsync.settings import database_url
from eventsync.workspaces import create_workspace
from tests.factories import event_row

DAY = "2025-04-10"


def _batch(users: list[str | None], companies: list[str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"user_id": pa.array(users, pa.string()), "company_id": pa.array(companies, pa.string())}
    )


def test_rows_of_suppressed_users_and_companies_are_dropped(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    suppressions.add(engine, ws, "era_1", [("user", "alice"), ("company", "acme-co")])
    filt = SuppressedSubjects.load(engine, ws)
    batch = _batch(["alice", "bob", "carol", None, "alice"], [None, "acme-co", "x", None, "x"])
    assert filt.drop(batch).column("user_id").to_pylist() == ["carol", None]
    # a later batch of the same day: ids seen before are not hashed again, still dropped
    again = filt.drop(_batch(["alice", "dave"], ["y", None]))
    assert again.column("user_id").to_pylist() == ["dave"]


def test_a_workspace_without_suppressions_is_left_as_is(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    other = create_workspace(engine, "other").workspace_id
    suppressions.add(engine, other, "era_1", [("user", "alice")])
    batch = _batch(["alice"], [None])
    assert SuppressedSubjects.load(engine, ws).drop(batch) is batch


def test_a_suppressed_users_row_another_writer_stored_is_not_staged(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    suppressions.add(engine, ws, "era_1", [("user", "alice")])
    with engine.begin() as conn:  # bypasses ingestion, like the platform's other writers
        insert_event_rows(
            conn, [event_row(ws, DAY, 1, user_id="alice"), event_row(ws, DAY, 2, user_id="bob")]
        )
    stage = stage_day(database_url(), engine, "sync_x", ws, DAY)
    staged = pq.read_table(staging_dir("sync_x", DAY) / "events.parquet")
    assert staged.column("user_id").to_pylist() == ["bob"] and stage.extracted == 1
    assert stage.fingerprint["rows"] == 2  # the fingerprint counts the store as it is
