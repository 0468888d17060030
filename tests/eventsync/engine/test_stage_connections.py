"""A day read over K connections at once (K consecutive occurred_at ranges) stages the
same bytes as over one: staged file, quarantine file and summary, on SQLite and
PostgreSQL; the ranges cover the day exactly; rebatching cuts any stream the same way."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.data import day_table, load
from eventsync.clock import day_bounds_us
from eventsync.engine.extract import DayQuery, rebatch, stream_day_ranges
from eventsync.engine.staging import SUMMARY_FILE, stage_day
from eventsync.store.connection import engine_for
from eventsync.workspaces import create_workspace

DAY = "2025-03-01"
ROWS = 8_000
TIMING = ("seconds", "rows_per_second")


def _load_day(url: str, workspace_id: str) -> None:
    """ROWS events (one in 1000 with properties that are not a JSON object), plus 40
    all over the day with two faults each (an NPS answer out of range, an empty event
    name)."""
    table = day_table(workspace_id, DAY, ROWS)
    extra = day_table(workspace_id, DAY, 40, offset=ROWS)
    nps_at = extra.schema.get_field_index("nps_score")
    extra = extra.set_column(nps_at, "nps_score", pa.array([99] * 40, pa.int64()))
    name_at = extra.schema.get_field_index("event_name")
    extra = extra.set_column(name_at, "event_name", pa.array([""] * 40))
    load(url, [table, extra])


def _stage(url: str, workspace_id: str, sync_id: str, connections: int) -> dict[str, bytes]:
    result = stage_day(
        url,
        engine_for(url),
        sync_id,
        workspace_id,
        DAY,
        batch_rows=1_500,
        read_connections=connections,
    )
    staged = Path(result.staged_path)
    summary = json.loads((staged.parent / SUMMARY_FILE).read_text())
    for key in (*TIMING, "staged_path", "quarantine_path", "sync_id"):
        summary.pop(key)
    assert result.quarantine_path is not None
    return {
        "staged": staged.read_bytes(),
        "quarantine": Path(result.quarantine_path).read_bytes(),
        "summary": json.dumps(summary, sort_keys=True).encode(),
    }


def test_k_connections_stage_the_same_bytes_as_one(store_url: str) -> None:
    engine = engine_for(store_url)
    ws = create_workspace(engine, "acme").workspace_id
    _load_day(store_url, ws)
    one = _stage(store_url, ws, "s_one", 1)
    summary = json.loads(one["summary"])
    assert summary["extracted"] == ROWS + 40
    assert summary["quarantined"] >= 40 + ROWS // 1000 and len(summary["reasons"]) >= 3
    for k in (4, 3):
        assert _stage(store_url, ws, f"s_{k}", k) == one, f"{k} connections"


def test_the_ranges_of_a_query_cover_it_in_order() -> None:
    query = DayQuery("ws_a", DAY)
    start, end = day_bounds_us(DAY)
    for parts in (1, 2, 3, 4, 7):
        ranges = [q.bounds() for q in query.split(parts)]
        assert len(ranges) == parts
        assert ranges[0][0] == start and ranges[-1][1] == end
        assert all(a[1] == b[0] for a, b in pairwise(ranges))
    sql = query.split(2)[1].select_sql()
    assert f"e.occurred_at >= {start + (end - start) // 2}" in sql


@pytest.mark.parametrize("sizes", [[7, 3, 10, 1, 9], [30], [5] * 6, [1] * 25])
def test_rebatch_cuts_every_stream_of_the_same_rows_the_same_way(sizes: list[int]) -> None:
    values = pa.array(range(sum(sizes)), pa.int64())
    batches, at = [], 0
    for n in sizes:
        batches.append(pa.record_batch([values.slice(at, n)], names=["v"]))
        at += n
    out = list(rebatch(batches, 8))
    assert [b.num_rows for b in out] == [8] * (sum(sizes) // 8) + (
        [sum(sizes) % 8] if sum(sizes) % 8 else []
    )
    assert pa.Table.from_batches(out).column("v").combine_chunks().equals(values)


def test_a_day_read_over_k_connections_comes_in_order(store_url: str) -> None:
    ws = create_workspace(engine_for(store_url), "acme").workspace_id
    _load_day(store_url, ws)
    table = pa.Table.from_batches(
        list(stream_day_ranges(store_url, DayQuery(ws, DAY), batch_rows=1_000, connections=4))
    )
    assert table.num_rows == ROWS + 40
    occurred = table.column("occurred_at")
    assert pc.all(pc.greater_equal(occurred.slice(1), occurred.slice(0, len(occurred) - 1))).as_py()


def test_the_background_writer_raises_a_failed_write_and_keeps_the_order(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from eventsync.engine.staging import BackgroundWriter

    schema = pa.schema([("v", pa.int64())])
    path = tmp_path / "ok.parquet"
    with pq.ParquetWriter(path, schema) as writer, BackgroundWriter(writer) as out:
        for i in range(5):
            out.write(pa.table({"v": pa.array(range(i * 10, i * 10 + 10), pa.int64())}))
    assert pq.read_table(path).column("v").to_pylist() == list(range(50))

    wrong = pa.table({"w": pa.array(["x"])})
    with (
        pytest.raises(ValueError, match="schema does not match"),
        pq.ParquetWriter(tmp_path / "bad.parquet", schema) as writer,
        BackgroundWriter(writer) as out,
    ):
        out.write(wrong)
        out.write(pa.table({"v": pa.array([1], pa.int64())}))
