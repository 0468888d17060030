"""Reader conformance: for every format x compression the sync can write, DuckDB,
polars, pandas and pyarrow.dataset pointed at the sync's folder for that format get
exactly the store's valid rows, with the right types: timestamps as UTC instants,
nps_score a nullable integer, properties JSON text, `date` the partition. Each
reader is called the way docs/destinations.md shows (and the DuckDB one runs the
generated `_schema.duckdb_<format>.sql`). The suite runs with TZ=America/New_York."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from eventsync.engine import layout
from eventsync.engine.event_schema import EXPORT_SCHEMA
from eventsync.engine.formats import CODECS, codec_for
from tests.e2e.conftest import DAYS, EMPTY_DAY, Exported
from tests.readers import docs_recipes

TIMESTAMPS = ("occurred_at", "received_at")
# (compression setting, format) cells: every codec of every format.
CELLS = [
    (c, f)
    for f in CODECS
    for c in ("auto", "zstd", "gzip", "snappy", "none")
    if c != "snappy" or f == "parquet"
]
# pyarrow.dataset decompresses CSV and JSON lines by file extension, except zstd.
UNSUPPORTED = {("pyarrow", "csv", "zstd"), ("pyarrow", "jsonl", "zstd")}


def _folder(exported: Exported, compression: str, fmt: str) -> Path:
    return exported.root / layout.data_folder(exported.sync_ids[compression], fmt)


# --- the readers: docs/destinations.md's recipes, run verbatim --------------------------
RECIPES = docs_recipes()
READERS = ("pandas", "polars", "pyarrow", "duckdb", "chdb", "spark")
FORMATS = ("parquet", "csv", "jsonl")


def run_recipe(reader: str, fmt: str, sync_root: Path, cwd: Path) -> object:
    """The documented recipe, in a folder where `exports/sync_ab12` is `sync_root`."""
    (cwd / "exports").mkdir(exist_ok=True)
    link = cwd / "exports" / "sync_ab12"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(sync_root)
    namespace: dict = {}
    exec(compile(RECIPES[(reader, fmt)], f"docs/destinations.md ({reader} {fmt})", "exec"),
         namespace)  # fmt: skip
    return namespace["events"]


def test_the_docs_have_a_recipe_for_every_reader_and_format():
    assert set(RECIPES) == {(r, f) for r in READERS for f in FORMATS}


# --- conformance ----------------------------------------------------------------------------
def _as_table(result: object) -> pa.Table:
    if isinstance(result, pd.DataFrame):
        return pa.Table.from_pandas(result, preserve_index=False)
    if isinstance(result, pl.DataFrame):
        return result.to_arrow()
    if hasattr(result, "toArrow"):  # a Spark DataFrame
        return result.toArrow()
    assert isinstance(result, pa.Table), type(result)
    return result


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _check_types(table: pa.Table) -> None:
    for name in TIMESTAMPS:
        t = table.schema.field(name).type
        # an instant (time-zone aware); DuckDB labels it with the session's zone
        assert pa.types.is_timestamp(t) and t.tz is not None, (name, t)
    assert pa.types.is_integer(table.schema.field("nps_score").type)
    assert pa.types.is_integer(table.schema.field("schema_version").type)
    for field in EXPORT_SCHEMA:
        if pa.types.is_string(field.type):
            assert _is_text(table.schema.field(field.name).type), field
    d = table.schema.field("date").type
    assert pa.types.is_date(d) or _is_text(d) or pa.types.is_dictionary(d), d


def _value(name: str, v: object) -> object:
    if v is None:
        return None
    if name in TIMESTAMPS:
        assert isinstance(v, datetime) and v.utcoffset().total_seconds() == 0, v  # type: ignore[union-attr]
        return v.timestamp() * 0 + (v - datetime(1970, 1, 1, tzinfo=v.tzinfo)) // pd.Timedelta(
            microseconds=1
        )  # type: ignore[operator]
    if name == "date":
        return v.isoformat() if isinstance(v, date) else str(v)
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


def _rows(table: pa.Table) -> list[dict]:
    names = [*EXPORT_SCHEMA.names, "date"]
    table = table.select(names)
    for name in TIMESTAMPS:  # pandas reads nanoseconds: same instants, finer unit
        table = table.set_column(
            table.schema.get_field_index(name), name, table[name].cast(pa.timestamp("us", "UTC"))
        )
    rows = [{n: _value(n, r[n]) for n in names} for r in table.to_pylist()]
    return sorted(rows, key=lambda r: r["event_id"])


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("compression", "fmt"), CELLS)
def test_reader_gets_the_stores_valid_rows_with_their_types(
    exported, tmp_path, monkeypatch, reader, compression, fmt
):
    if reader == "spark":
        pytest.importorskip("pyspark", reason="Spark's recipes run in `make interop`")
    monkeypatch.chdir(tmp_path)
    sync_root = exported.root / exported.sync_ids[compression]
    if fmt not in {p.name for p in sync_root.iterdir()}:
        pytest.skip(f"{compression} is not a {fmt} compression")
    codec = codec_for(fmt, compression)
    if (reader, fmt, codec) in UNSUPPORTED:
        with pytest.raises(Exception):  # noqa: B017 -- the documented limitation still holds
            run_recipe(reader, fmt, sync_root, tmp_path)
        return
    table = _as_table(run_recipe(reader, fmt, sync_root, tmp_path))
    _check_types(table)
    assert _rows(table) == exported.expected


def test_an_empty_day_has_no_data_file_and_a_manifest_of_0_rows(exported):
    import json

    for sync_id in exported.sync_ids.values():
        sync = exported.root / sync_id
        manifest = json.loads((exported.root / layout.manifest_key(sync_id, EMPTY_DAY)).read_text())
        assert (manifest["rows"], manifest["files"]) == (0, [])
        assert not list(sync.glob(f"*/events/date={EMPTY_DAY}/*"))
        assert all(list(sync.glob(f"*/events/date={day}/*")) for day in DAYS)


def test_a_format_folder_holds_only_that_formats_files(exported):
    for compression, sync_id in exported.sync_ids.items():
        sync = exported.root / sync_id
        formats = ["parquet"] if compression == "snappy" else list(CODECS)
        assert sorted(p.name for p in sync.iterdir() if p.is_dir()) == sorted(
            [*formats, "_manifests"]
        )
        for fmt in formats:
            files = [p for p in (sync / fmt).rglob("*") if p.is_file()]
            suffix = layout.part_key(sync_id, fmt, "x", codec_for(fmt, compression)).rsplit(
                "part-00000", 1
            )[1]
            assert files and all(p.name == f"part-00000{suffix}" for p in files), files


def test_three_format_sync_parquet_folder_reads_with_pandas_pyarrow_and_polars(exported):
    folder = exported.root / layout.data_folder(exported.sync_ids["auto"], "parquet")
    n = len(exported.expected)
    assert len(pd.read_parquet(folder)) == n
    assert ds.dataset(folder, partitioning="hive").count_rows() == n
    assert pl.scan_parquet(folder).select(pl.len()).collect().item() == n


def test_every_format_writes_the_stores_utc_instant_at_the_day_edges(exported):
    """Under TZ=America/New_York: the first and the last microsecond of the UTC day,
    as the store holds them, in the text of CSV and JSON lines and in Parquet."""
    day = DAYS[0]
    sync_root = exported.root / exported.sync_ids["none"]
    csv_text = (sync_root / f"csv/events/date={day}/part-00000.csv").read_bytes().decode()
    jsonl_text = (sync_root / f"jsonl/events/date={day}/part-00000.jsonl").read_text()
    parquet = pq.read_table(sync_root / f"parquet/events/date={day}/part-00000.parquet")
    store = {r["event_id"]: r for r in exported.expected}
    for i, text in ((0, f"{day}T00:00:00.000000Z"), (29, f"{day}T23:59:59.999999Z")):
        event_id = next(e for e in store if e.endswith(f"{day}-{i:06d}"))
        assert (
            datetime.fromisoformat(text).timestamp() * 1_000_000 == store[event_id]["occurred_at"]
        )
        line = next(x for x in jsonl_text.splitlines() if event_id in x)
        assert f'"occurred_at":"{text}"' in line
        row = next(r for r in csv_text.split("\r\n") if r.startswith(event_id))
        assert f",{text}," in row
        at = parquet.filter(pa.compute.equal(parquet["event_id"], event_id))["occurred_at"]
        assert at.cast(pa.int64())[0].as_py() == store[event_id]["occurred_at"]
