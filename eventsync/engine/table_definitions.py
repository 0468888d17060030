"""Ready-made table definitions for the exported files, generated from event schema
v1 (eventsync/engine/event_schema.py) so they cannot drift from it: `_schema.json`, a BigQuery
schema, a Spark schema string, and per exported format a Spark, an Athena and a
DuckDB table over the sync's own folder. Each names the options its reader needs
to read the files right (CSV dialect, timestamp text, NULL vs empty string)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa

from eventsync.destinations.interface import DestinationURI
from eventsync.engine import layout
from eventsync.engine.event_schema import EXPORT_SCHEMA, schema_description
from eventsync.engine.formats.text import TIMESTAMP_FORMAT

# Spark/Java pattern of the timestamp text CSV and JSON lines carry.
SPARK_TIMESTAMP = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"
_BIGQUERY = {"string": "STRING", "timestamp": "TIMESTAMP", "int32": "INTEGER"}
_SPARK = {"string": "STRING", "timestamp": "TIMESTAMP", "int32": "INT"}
_DUCKDB = {"string": "VARCHAR", "timestamp": "TIMESTAMPTZ", "int32": "INTEGER"}
_ATHENA = {"string": "string", "timestamp": "timestamp", "int32": "int"}
_GLOB = {"parquet": "*.parquet", "csv": "*.csv*", "jsonl": "*.jsonl*"}


def _kind(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_int32(t):
        return "int32"
    if pa.types.is_string(t):
        return "string"
    raise TypeError(f"no table type for {t}")  # a new column type needs a mapping here


def encodings() -> dict:
    """How each format writes values (part of `_schema.json`)."""
    ts = f"ISO-8601 UTC text, microseconds: {TIMESTAMP_FORMAT} (2024-05-01T23:59:59.999999Z)"
    return {
        "parquet": {"timestamps": "TIMESTAMP(MICROS, isAdjustedToUTC=true)", "null": "null"},
        "csv": {
            "dialect": "RFC 4180: comma, double quote doubled inside values, CRLF, header",
            "timestamps": ts,
            "null": "empty unquoted field",
            "empty_string": '""',
        },
        "jsonl": {"timestamps": ts, "null": "null", "properties": "JSON text (a string)"},
    }


def bigquery_schema() -> list[dict]:
    """BigQuery's schema JSON: name, type, mode per column (`date` comes from the
    hive partitioning of the external table)."""
    return [
        {
            "name": f.name,
            "type": _BIGQUERY[_kind(f.type)],
            "mode": "NULLABLE" if f.nullable else "REQUIRED",
        }
        for f in EXPORT_SCHEMA
    ]


def spark_schema() -> str:
    """`spark.read.schema(...)` / StructType.fromDDL string of the exported columns."""
    return ", ".join(f"{f.name} {_SPARK[_kind(f.type)]}" for f in EXPORT_SCHEMA)


def location(uri: DestinationURI, sync_id: str, fmt: str, engine: str) -> str:
    """A format's data folder as the engine addresses it (no trailing slash)."""
    folder = layout.data_folder(sync_id, fmt).rstrip("/")
    if uri.kind == "local":
        return f"{uri.prefix}/{folder}" if engine == "duckdb" else f"file://{uri.prefix}/{folder}"
    scheme = {"gcs": "gs"}.get(uri.kind, "s3a" if engine == "spark" else "s3")
    prefix = f"{uri.prefix}/" if uri.prefix else ""
    return f"{scheme}://{uri.bucket}/{prefix}{folder}"


def _columns(types: dict[str, str], override: dict[str, str] | None = None) -> str:
    over = override or {}
    return ",\n".join(
        f"  {f.name} {over.get(_kind(f.type), types[_kind(f.type)])}" for f in EXPORT_SCHEMA
    )


def spark_table(uri: DestinationURI, sync_id: str, fmt: str) -> str:
    options = {
        "parquet": "",
        # lineSep keeps a CRLF inside a quoted value; a nullValue marker that never occurs
        # makes only an empty unquoted field NULL, so "" stays an empty string.
        "csv": (
            "OPTIONS (header 'true', multiLine 'true', quote '\"', escape '\"', "
            "lineSep '\\r\\n', nullValue '\\u0000', "
            f"mode 'FAILFAST', timestampFormat \"{SPARK_TIMESTAMP}\")\n"
        ),
        "jsonl": f"OPTIONS (mode 'FAILFAST', timestampFormat \"{SPARK_TIMESTAMP}\")\n",
    }[fmt]
    source = {"jsonl": "json"}.get(fmt, fmt)
    return (
        f"CREATE TABLE IF NOT EXISTS events_{fmt} (\n{_columns(_SPARK)},\n  date DATE\n)\n"
        f"USING {source}\n{options}PARTITIONED BY (date)\n"
        f"LOCATION '{location(uri, sync_id, fmt, 'spark')}';\n"
        f"MSCK REPAIR TABLE events_{fmt};\n"
    )


# Athena reads Parquet and JSON lines right; not the CSV: its text SerDes split rows at
# the line breaks legal inside quoted values, OpenCSVSerde drops backslashes, and none
# tells NULL from "" (measured: 162,325 rows read back for 21,008 events).
ATHENA_FORMATS = ("parquet", "jsonl")


def athena_table(uri: DestinationURI, sync_id: str, fmt: str) -> str:
    """Hive DDL for Athena, partitions by projection (no MSCK REPAIR needed). Parquet
    gives typed columns (Athena's `timestamp` keeps milliseconds); JSON lines keeps the
    timestamps as text with their microseconds (from_iso8601_timestamp_nanos())."""
    if fmt not in ATHENA_FORMATS:
        raise ValueError(f"Athena cannot read the {fmt} files right: use {ATHENA_FORMATS}")
    loc = location(uri, sync_id, fmt, "athena")
    storage = {
        "parquet": "STORED AS PARQUET",
        "jsonl": "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nSTORED AS TEXTFILE",
    }[fmt]
    header = ""
    text_ts = None if fmt == "parquet" else {"timestamp": "string"}
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS events_{fmt} (\n{_columns(_ATHENA, text_ts)}\n)\n"
        f"PARTITIONED BY (`date` string)\n{storage}\nLOCATION '{loc}/'\n"
        "TBLPROPERTIES (\n"
        "  'projection.enabled' = 'true',\n"
        "  'projection.date.type' = 'date',\n"
        "  'projection.date.format' = 'yyyy-MM-dd',\n"
        "  'projection.date.range' = '2000-01-01,NOW',\n"
        "  'projection.date.interval' = '1',\n"
        "  'projection.date.interval.unit' = 'DAYS',\n"
        f"  'storage.location.template' = '{loc}/date=${{date}}/'{header}\n);\n"
    )


def duckdb_view(uri: DestinationURI, sync_id: str, fmt: str) -> str:
    glob = f"{location(uri, sync_id, fmt, 'duckdb')}/*/{_GLOB[fmt]}"
    columns = (
        "{" + ", ".join(f"'{f.name}': '{_DUCKDB[_kind(f.type)]}'" for f in EXPORT_SCHEMA) + "}"
    )
    hive = "hive_partitioning = true, hive_types = {'date': DATE}"
    reader = {
        "parquet": f"read_parquet('{glob}', {hive})",
        "csv": (
            f"read_csv('{glob}', header = true, delim = ',', quote = '\"', escape = '\"', "
            f"allow_quoted_nulls = false, columns = {columns}, {hive})"
        ),
        "jsonl": (
            f"read_json('{glob}', format = 'newline_delimited', columns = {columns}, {hive})"
        ),
    }[fmt]
    return f"CREATE OR REPLACE VIEW events_{fmt} AS SELECT * FROM {reader};\n"


def table_definitions(
    uri: DestinationURI, sync_id: str, formats: list[str]
) -> Iterator[tuple[str, str, str]]:
    """(key, body, content type) of `_schema.json` and every table definition."""
    doc = {**schema_description(), "encodings": encodings()}
    yield (
        layout.schema_key(sync_id),
        json.dumps(doc, indent=2, sort_keys=True) + "\n",
        "application/json",
    )
    yield (
        layout.table_definition_key(sync_id, "bigquery"),
        json.dumps(bigquery_schema(), indent=2) + "\n",
        "application/json",
    )
    yield layout.table_definition_key(sync_id, "spark_schema"), spark_schema() + "\n", "text/plain"
    for fmt in formats:
        for kind, render in (
            ("spark", spark_table),
            ("athena", athena_table),
            ("duckdb", duckdb_view),
        ):
            if kind == "athena" and fmt not in ATHENA_FORMATS:
                continue
            yield (
                layout.table_definition_key(sync_id, kind, fmt),
                render(uri, sync_id, fmt),
                "application/sql",
            )
