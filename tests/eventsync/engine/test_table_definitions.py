"""Generated table definitions: in step with the event schema, in each engine's
documented format, pointing at the sync's real folders. (DuckDB's views read real
exports in tests/e2e/test_readers.py; Spark and Athena/Hive in tests/interop.)"""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from eventsync.destinations.interface import parse_destination
from eventsync.engine import layout
from eventsync.engine.event_schema import EXPORT_SCHEMA
from eventsync.engine.table_definitions import (
    athena_table,
    bigquery_schema,
    duckdb_view,
    location,
    spark_schema,
    spark_table,
    table_definitions,
)

# https://cloud.google.com/bigquery/docs/schemas: the legal column types and modes.
BIGQUERY_TYPES = {
    "STRING", "BYTES", "INTEGER", "INT64", "FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC",
    "BOOLEAN", "BOOL", "TIMESTAMP", "DATE", "TIME", "DATETIME", "GEOGRAPHY", "RECORD",
    "STRUCT", "JSON", "RANGE", "INTERVAL",
}  # fmt: skip
BIGQUERY_MODES = {"NULLABLE", "REQUIRED", "REPEATED"}
S3 = parse_destination("s3://acme/exports")
SYNC = "sync_ab12"


def test_bigquery_schema_follows_its_documented_format():
    schema = bigquery_schema()
    assert [f["name"] for f in schema] == EXPORT_SCHEMA.names
    for field in schema:
        assert set(field) == {"name", "type", "mode"}
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,299}", field["name"])
        assert field["type"] in BIGQUERY_TYPES and field["mode"] in BIGQUERY_MODES
    by_name = {f["name"]: f for f in schema}
    assert by_name["occurred_at"] == {
        "name": "occurred_at",
        "type": "TIMESTAMP",
        "mode": "REQUIRED",
    }
    assert by_name["nps_score"] == {"name": "nps_score", "type": "INTEGER", "mode": "NULLABLE"}
    assert by_name["properties"]["type"] == "STRING"


def test_spark_schema_lists_every_column_with_its_type():
    columns = [c.split() for c in spark_schema().split(", ")]
    assert [c[0] for c in columns] == EXPORT_SCHEMA.names
    assert dict(columns)["occurred_at"] == "TIMESTAMP" and dict(columns)["nps_score"] == "INT"


@pytest.mark.parametrize(
    ("uri", "engine", "expected"),
    [
        ("s3://acme/exports", "athena", "s3://acme/exports/sync_ab12/csv/events"),
        ("s3://acme/exports", "spark", "s3a://acme/exports/sync_ab12/csv/events"),
        ("gs://acme", "spark", "gs://acme/sync_ab12/csv/events"),
        ("/data/out", "duckdb", "/data/out/sync_ab12/csv/events"),
        ("/data/out", "spark", "file:///data/out/sync_ab12/csv/events"),
    ],
)
def test_definitions_point_at_the_formats_folder(uri, engine, expected):
    assert location(parse_destination(uri), SYNC, "csv", engine) == expected


def test_athena_tables_project_the_date_partition_and_keep_text_timestamps_as_text():
    parquet = athena_table(S3, SYNC, "parquet")
    assert "STORED AS PARQUET" in parquet and "occurred_at timestamp" in parquet
    assert "LOCATION 's3://acme/exports/sync_ab12/parquet/events/'" in parquet
    assert (
        "'storage.location.template' = 's3://acme/exports/sync_ab12/parquet/events/date=${date}/'"
        in parquet
    )
    jsonl = athena_table(S3, SYNC, "jsonl")
    assert "org.openx.data.jsonserde.JsonSerDe" in jsonl
    assert "occurred_at string" in jsonl and "nps_score int" in jsonl  # microseconds kept


def test_no_athena_table_for_csv_which_athena_cannot_read_right():
    with pytest.raises(ValueError, match="Athena cannot read the csv files right"):
        athena_table(S3, SYNC, "csv")
    keys = [k for k, _, _ in table_definitions(S3, SYNC, ["csv"])]
    assert f"{SYNC}/_schema.duckdb_csv.sql" in keys
    assert not [k for k in keys if "athena" in k]


def test_spark_tables_carry_the_csv_dialect_and_timestamp_pattern():
    csv = spark_table(S3, SYNC, "csv")
    assert "multiLine 'true'" in csv and "escape '\"'" in csv
    assert "timestampFormat \"yyyy-MM-dd'T'HH:mm:ss.SSSSSSX\"" in csv
    assert csv.rstrip().endswith("MSCK REPAIR TABLE events_csv;")
    assert "USING json" in spark_table(S3, SYNC, "jsonl")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_duckdb_view_parses(fmt):
    """Valid DuckDB SQL (reading it would need the bucket)."""
    sql = duckdb_view(S3, SYNC, fmt)
    assert sql.startswith(f"CREATE OR REPLACE VIEW events_{fmt} AS SELECT * FROM ")
    query = sql.rstrip(";\n").split(" AS ", 1)[1]
    ((parsed,),) = duckdb.sql("SELECT json_serialize_sql(?)", params=[query]).fetchall()
    assert json.loads(parsed)["error"] is False, parsed


def test_every_definition_is_written_beside_the_schema():
    keys = [k for k, _, _ in table_definitions(S3, SYNC, ["parquet", "jsonl"])]
    assert keys == [
        layout.schema_key(SYNC),
        f"{SYNC}/_schema.bigquery.json",
        f"{SYNC}/_schema.spark.ddl",
        f"{SYNC}/_schema.spark_parquet.sql",
        f"{SYNC}/_schema.athena_parquet.sql",
        f"{SYNC}/_schema.duckdb_parquet.sql",
        f"{SYNC}/_schema.spark_jsonl.sql",
        f"{SYNC}/_schema.athena_jsonl.sql",
        f"{SYNC}/_schema.duckdb_jsonl.sql",
    ]


def test_schema_doc_says_how_each_format_encodes_values():
    (_, body, _), *_ = table_definitions(S3, SYNC, ["csv"])
    doc = json.loads(body)
    assert [c["name"] for c in doc["columns"]] == EXPORT_SCHEMA.names
    assert doc["encodings"]["csv"]["null"] == "empty unquoted field"
    assert doc["encodings"]["csv"]["empty_string"] == '""'
    assert "2024-05-01T23:59:59.999999Z" in doc["encodings"]["jsonl"]["timestamps"]
    assert doc["partitioning"] == {
        "style": "hive",
        "key": "date",
        "type": "date",
        "timezone": "UTC",
    }
