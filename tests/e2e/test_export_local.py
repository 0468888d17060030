"""The export slice through a real Dagster instance to a local folder: what one
materialized day writes (files, manifest, quarantine, metadata, ledger) and re-exports
of it. Checks, batches, schedules and sensors: tests/assets/, tests/pipeline/."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sqlalchemy import select

from eventsync.clock import day_bounds_us
from eventsync.engine import layout
from eventsync.store.schema import export_ledger, export_subjects
from eventsync.syncs.config import create_sync, update_sync
from eventsync.workspaces import create_workspace
from tests.factories import insert_day
from tests.fixtures.dagster_env import materialize_day

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_materialize_partition_exports_valid_rows_and_quarantines_the_rest(
    engine, instance, resources, tmp_path
):
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(
        engine,
        ws,
        str(out),
        formats=["parquet", "csv", "jsonl"],
        event_types=["page_view", "track", "nps_response"],
    )
    insert_day(
        engine,
        ws,
        DAY,
        200,
        i0={"event_type": "nps_response", "nps_score": 42},
        i5={"event_type": "nps_response", "nps_score": None},
        i10={"properties": "{not json"},
        i15={"event_type": "track", "user_id": ""},
        i20={"event_type": "nps_response", "nps_score": 9},
    )
    insert_day(engine, ws, "2026-11-21", 30)  # the next day: not in this partition
    other = create_workspace(engine, "other").workspace_id
    insert_day(engine, other, DAY, 50)  # another workspace: never exported here

    result = materialize_day(instance, resources, DAY, sync.id)
    assert result.success

    manifest = json.loads((out / layout.manifest_key(sync.id, DAY)).read_text())
    # What the store holds for the workspace, day and filter, independently computed.
    with sqlite3.connect(engine.url.database) as db:
        store_ids = {
            r[0]
            for r in db.execute(
                "SELECT event_id FROM events WHERE workspace_id = ? AND occurred_at >= ? "
                "AND occurred_at < ? AND event_type IN ('page_view', 'track', 'nps_response')",
                [ws, *day_bounds_us(DAY)],
            )
        }
    con = duckdb.connect()
    invalid = {f"{ws}-{DAY}-{i:06d}" for i in (0, 5, 10, 15)}
    parquet = pq.read_table(out / layout.part_key(sync.id, "parquet", DAY, "zstd"))
    exported_ids = set(parquet.column("event_id").to_pylist())
    assert exported_ids == store_ids - invalid
    assert parquet.num_rows == len(exported_ids)  # no duplicates
    # DuckDB reads each format's hive folder with the same rows.
    glob = f"{out}/{sync.id}/{{}}/events/*/*"
    assert con.execute(
        f"SELECT count(*) FROM read_parquet('{glob.format('parquet')}', hive_partitioning=1) "
        f"WHERE date = '{DAY}'"
    ).fetchone()[0] == len(exported_ids)
    assert con.execute(
        f"SELECT count(DISTINCT event_id) FROM read_csv('{glob.format('csv')}')"
    ).fetchone()[0] == len(exported_ids)
    assert con.execute(f"SELECT count(*) FROM read_json('{glob.format('jsonl')}')").fetchone()[
        0
    ] == len(exported_ids)
    assert str(parquet.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"

    # Quarantine: every invalid row with its reason; exported + quarantined = extracted.
    from eventsync.engine.staging import quarantine_path

    q = pq.read_table(quarantine_path(sync.id, DAY)).to_pylist()
    reasons = {r["event_id"]: r["reason"] for r in q}
    assert set(reasons) == {i for i in invalid if i in store_ids}
    assert reasons[f"{ws}-{DAY}-000000"] == "nps_score outside 0..10"
    assert reasons[f"{ws}-{DAY}-000005"] == "nps_score missing for nps_response"
    assert reasons[f"{ws}-{DAY}-000010"] == "properties is not a JSON object"
    assert reasons[f"{ws}-{DAY}-000015"] == "user_id empty or longer than 256"
    assert manifest["rows"] + manifest["quarantined"] == len(store_ids)
    assert manifest["rows"] == len(exported_ids)
    # the default compression: zstd inside Parquet, gzip for CSV and JSON lines
    assert [f["key"] for f in manifest["files"]] == [
        f"{sync.id}/parquet/events/date={DAY}/part-00000.parquet",
        f"{sync.id}/csv/events/date={DAY}/part-00000.csv.gz",
        f"{sync.id}/jsonl/events/date={DAY}/part-00000.jsonl.gz",
    ]
    for f in manifest["files"]:
        data = (out / f["key"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]

    # Metadata the UI shows, per date (each sync's numbers under by_sync); row counts
    # are numeric (plotted).
    mat = (
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_export")), limit=1
        )
        .records[0]
        .asset_materialization
    )
    assert mat.partition == DAY
    assert mat.metadata["rows"].value == len(exported_ids)
    assert isinstance(mat.metadata["rows"], dg.IntMetadataValue)
    assert mat.metadata["rows_per_second"].value > 0
    assert mat.metadata["by_sync"].value[sync.id]["rows"] == len(exported_ids)
    assert mat.metadata["by_sync"].value[sync.id]["files"] == 3
    assert (
        "preview" not in mat.metadata
    )  # no row values in Dagster (tests/assets/test_no_free_text_in_dagster.py)
    columns = [c.name for c in mat.metadata["dagster/column_schema"].value.columns]
    assert "event_name" in columns and "user_id" in columns
    daily = (
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_daily")), limit=1
        )
        .records[0]
        .asset_materialization
    )
    assert daily.metadata["rows_quarantined"].value == manifest["quarantined"]
    assert daily.metadata["rows_extracted"].value == len(store_ids)

    # Ledger and the subject -> days index.
    with engine.connect() as conn:
        led = conn.execute(select(export_ledger)).one()
        subjects = (
            conn.execute(
                select(export_subjects.c.subject_id).where(export_subjects.c.subject_type == "user")
            )
            .scalars()
            .all()
        )
    assert led.status == "exported" and led.rows == len(exported_ids)
    assert set(subjects) == set(parquet.column("user_id").to_pylist())
    assert (out / sync.id / "_schema.json").exists()


def test_rematerializing_a_day_is_byte_identical_without_duplicates(
    engine, instance, resources, tmp_path
):
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out), formats=["parquet", "jsonl"])
    insert_day(engine, ws, DAY, 120)
    assert materialize_day(instance, resources, DAY, sync.id).success
    first = _files(out)
    assert materialize_day(instance, resources, DAY, sync.id).success
    assert _files(out) == first
    table = ds.dataset(
        str(out / layout.data_folder(sync.id, "parquet")), format="parquet", partitioning="hive"
    ).to_table()
    assert table.num_rows == 120 == len(set(table.column("event_id").to_pylist()))


def test_reexport_after_format_change_leaves_only_manifest_files(
    engine, instance, resources, tmp_path
):
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out), formats=["parquet", "csv"], compression="gzip")
    insert_day(engine, ws, DAY, 40)
    assert materialize_day(instance, resources, DAY, sync.id).success
    update_sync(engine, sync.id, formats=["parquet"], compression="zstd")
    insert_day(engine, ws, DAY, 0)
    assert materialize_day(instance, resources, DAY, sync.id).success
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert [f for f in files if "/_schema." not in f] == [
        layout.manifest_key(sync.id, DAY),
        layout.part_key(sync.id, "parquet", DAY, "zstd"),
    ]
