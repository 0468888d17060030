"""Reader conformance: for every format x compression the sync can write, DuckDB,
polars, pandas and pyarrow.dataset pointed at the sync's folder for that format get
exactly the store's valid rows, with the right types: timestamps as UTC instants,
nps_score a nullable integer, properties JSON text, `date` the partition. Each
reader is called the way docs/destinations.md shows (and the DuckDB one runs the
generated `_schema.duckdb_<format>.sql`). The suite runs with TZ=America/New_York."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from assets import layout
from assets.event_schema import EXPORT_SCHEMA
from assets.formats import CODECS, codec_for
from tests.e2e.conftest import Exported

TIMESTAMPS = ("occurred_at", "received_at")
HIVE = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")
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


# --- the readers, as docs/destinations.md shows them --------------------------------------
def read_duckdb(folder: Path, fmt: str) -> pa.Table:
    sync_root = folder.parent.parent
    ddl = (sync_root / f"_schema.duckdb_{fmt}.sql").read_text()
    con = duckdb.connect()
    con.execute(ddl)
    return con.sql(f"SELECT * FROM events_{fmt}").arrow().read_all()


def read_polars(folder: Path, fmt: str) -> pa.Table:
    ts = {c: pl.Datetime("us", "UTC") for c in TIMESTAMPS}
    if fmt == "parquet":
        frame = pl.scan_parquet(folder).collect()
    else:
        scan = pl.scan_csv if fmt == "csv" else pl.scan_ndjson
        frame = (
            scan(f"{folder}/*/*", schema_overrides=ts, include_file_paths="file")
            .with_columns(date=pl.col("file").str.extract(r"date=([0-9-]+)").str.to_date())
            .drop("file")
            .collect()
        )
    return frame.to_arrow()


def read_pandas(folder: Path, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(folder, dtype_backend="pyarrow")
    frames = []
    for path in sorted(folder.glob("date=*/part-*")):
        if fmt == "csv":
            # pandas' own CSV parsers read `""` as NULL; pyarrow's keeps them apart.
            table = pcsv.read_csv(
                path,
                parse_options=pcsv.ParseOptions(newlines_in_values=True),
                convert_options=pcsv.ConvertOptions(
                    column_types=EXPORT_SCHEMA,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        else:
            frame = pd.read_json(
                path, lines=True, dtype_backend="pyarrow", convert_dates=TIMESTAMPS
            )
        frames.append(frame.assign(date=path.parent.name.removeprefix("date=")))
    return pd.concat(frames, ignore_index=True)


def read_pyarrow(folder: Path, fmt: str) -> pa.Table:
    schema = pa.schema([*EXPORT_SCHEMA, pa.field("date", pa.date32())])
    if fmt == "parquet":
        return ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    file_format = {
        "csv": ds.CsvFileFormat(
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        ),
        "jsonl": ds.JsonFileFormat(),
    }[fmt]
    return ds.dataset(folder, format=file_format, partitioning=HIVE, schema=schema).to_table()


READERS: dict[str, Callable[[Path, str], object]] = {
    "duckdb": read_duckdb,
    "polars": read_polars,
    "pandas": read_pandas,
    "pyarrow": read_pyarrow,
}


# --- conformance ----------------------------------------------------------------------------
def _as_table(result: object) -> pa.Table:
    if isinstance(result, pd.DataFrame):
        return pa.Table.from_pandas(result, preserve_index=False)
    assert isinstance(result, pa.Table)
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


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize(("compression", "fmt"), CELLS)
def test_reader_gets_the_stores_valid_rows_with_their_types(exported, reader, compression, fmt):
    codec = codec_for(fmt, compression)
    if (reader, fmt, codec) in UNSUPPORTED:
        with pytest.raises(Exception):  # noqa: B017 -- the documented limitation still holds
            READERS[reader](_folder(exported, compression, fmt), fmt)
        return
    table = _as_table(READERS[reader](_folder(exported, compression, fmt), fmt))
    _check_types(table)
    assert _rows(table) == exported.expected


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
    from tests.e2e.conftest import DAYS

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
