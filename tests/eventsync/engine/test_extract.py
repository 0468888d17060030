"""Streaming a workspace's UTC day out of the store as Arrow batches (ADBC, SQLite and
PostgreSQL): only that day and workspace, in (occurred_at, event_id) order, and a
fingerprint that is the same whether SQL or the streamed batches compute it."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlalchemy import Engine

from eventsync.engine.extract import (
    RAW_SCHEMA,
    DayQuery,
    FingerprintAccumulator,
    day_fingerprints,
    stream_day,
)
from eventsync.store.connection import engine_for
from tests.factories import insert_day


def test_a_day_streams_in_order_and_nothing_else(store_url: str) -> None:
    engine = engine_for(store_url)
    rows = insert_day(engine, "ws_a", "2025-03-01", 30)
    insert_day(engine, "ws_a", "2025-03-02", 5)
    insert_day(engine, "ws_b", "2025-03-01", 5)
    table = pa.Table.from_batches(
        stream_day(store_url, DayQuery("ws_a", "2025-03-01"), batch_rows=8)
    )
    assert table.schema == RAW_SCHEMA
    expected = sorted((r["occurred_at"], r["event_id"]) for r in rows)
    assert (
        list(zip(table["occurred_at"].to_pylist(), table["event_id"].to_pylist(), strict=True))
        == expected
    )


def test_the_event_type_filter_keeps_only_those_types(engine: Engine) -> None:
    insert_day(engine, "ws_a", "2025-03-01", 20)
    query = DayQuery("ws_a", "2025-03-01", event_types=["track"])
    url = str(engine.url)
    batches = stream_day(url, query, batch_rows=1_000)
    types = {t for b in batches for t in b.column("event_type").to_pylist()}
    assert types == {"track"}


def test_sql_and_streamed_fingerprints_agree(store_url: str) -> None:
    engine = engine_for(store_url)
    insert_day(engine, "ws_a", "2025-03-01", 40)
    insert_day(engine, "ws_a", "2025-03-03", 3)
    acc = FingerprintAccumulator()
    for batch in stream_day(store_url, DayQuery("ws_a", "2025-03-01"), batch_rows=7):
        acc.add(batch)
    prints = day_fingerprints(engine, "ws_a", "2025-03-01", "2025-03-03")
    assert set(prints) == {"2025-03-01", "2025-03-03"}  # a day without rows is absent
    assert prints["2025-03-01"] == acc.result() and acc.result().rows == 40


def test_values_that_would_be_inlined_unsafely_are_refused() -> None:
    with pytest.raises(ValueError, match="refusing to inline unsafe SQL literal"):
        DayQuery("ws'; DROP TABLE events; --", "2025-03-01").select_sql()
    with pytest.raises(
        ValueError, match="no Arrow extraction path for database URL scheme 'mysql'"
    ):
        next(stream_day("mysql://host/db", DayQuery("ws_a", "2025-03-01"), batch_rows=8))
