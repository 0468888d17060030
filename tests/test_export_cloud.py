"""A day exported through Dagster (events_daily -> events_export) to S3 (moto_server)
and GCS (fake-gcs-server) reads back — with pyarrow's S3FileSystem and the
google-cloud-storage client, not our reader — with the same rows as the local export."""

from __future__ import annotations

import hashlib
import io
import json
from urllib.parse import urlsplit

import dagster as dg
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from pipeline.defs.exports.assets import events_daily, events_export
from pipeline.defs.exports.partitions import partition_key
from pipeline.defs.resources import build_resources
from pipeline.ingest import insert_event_rows
from pipeline.syncs.config import create_sync, update_sync
from pipeline.workspaces import create_workspace
from tests.factories import event_row, insert_day

DAY = "2026-11-20"


@pytest.fixture
def cloud_env(s3_env, fake_gcs, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("EVENTSYNC_GCS_PROJECT", "eventsync-test")
    return s3_env, fake_gcs


def export(instance, sync_id: str, day: str = DAY) -> None:
    instance.add_dynamic_partitions("sync", [sync_id])
    result = dg.materialize(
        [events_daily, events_export],
        partition_key=str(partition_key(day, sync_id)),
        instance=instance,
        resources=build_resources(),
    )
    assert result.success


def rows(table) -> list[dict]:  # type: ignore[no-untyped-def]
    return sorted(table.to_pylist(), key=lambda r: r["event_id"])


def s3fs(moto) -> fs.S3FileSystem:  # type: ignore[no-untyped-def]
    return fs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        endpoint_override=urlsplit(moto.url).netloc,
        scheme="http",
    )


def test_day_on_s3_and_gcs_matches_the_local_export(
    engine, instance, cloud_env, s3_bucket, gcs_bucket, tmp_path
):
    moto, gcs = cloud_env
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 300, i7={"properties": "{broken"})
    kms_key = moto.client("kms").create_key()["KeyMetadata"]["KeyId"]
    local = create_sync(engine, ws, str(tmp_path / "local"), formats=["parquet", "jsonl"])
    s3 = create_sync(
        engine,
        ws,
        f"s3://{s3_bucket}/eventsync",
        formats=["parquet", "jsonl"],
        options={"sse": "aws:kms", "kms_key_id": kms_key},
    )
    gs = create_sync(engine, ws, f"gs://{gcs_bucket}/eventsync", formats=["parquet", "jsonl"])
    for sync in (local, s3, gs):
        export(instance, sync.id)

    expected = rows(
        pq.read_table(
            tmp_path / "local" / local.id / "events" / f"date={DAY}" / "part-00000.parquet"
        )
    )
    assert len(expected) == 299  # the broken row is quarantined

    # S3, read with pyarrow's own S3 filesystem
    s3_day = f"{s3_bucket}/eventsync/{s3.id}/events/date={DAY}"
    got = pq.read_table(f"{s3_day}/part-00000.parquet", filesystem=s3fs(moto))
    assert rows(got) == expected
    admin = moto.client()
    listed = admin.list_objects_v2(Bucket=s3_bucket, Prefix=f"eventsync/{s3.id}/")["Contents"]
    assert listed
    for obj in listed:  # every object, manifest and schema doc included
        head = admin.head_object(Bucket=s3_bucket, Key=obj["Key"])
        assert head["ServerSideEncryption"] == "aws:kms" and kms_key in head["SSEKMSKeyId"], obj[
            "Key"
        ]
    manifest = json.loads(
        admin.get_object(
            Bucket=s3_bucket, Key=f"eventsync/{s3.id}/events/date={DAY}/_manifest.json"
        )["Body"].read()
    )
    for f in manifest["files"]:
        body = admin.get_object(Bucket=s3_bucket, Key=f"eventsync/{f['key']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == f["sha256"]

    # GCS, read with the google-cloud-storage client
    bucket = gcs.client().bucket(gcs_bucket)
    data = bucket.blob(
        f"eventsync/{gs.id}/events/date={DAY}/part-00000.parquet"
    ).download_as_bytes()
    assert rows(pq.read_table(io.BytesIO(data))) == expected
    names = {
        b.name for b in gcs.client().list_blobs(gcs_bucket, prefix=f"eventsync/{gs.id}/events/")
    }
    assert f"eventsync/{gs.id}/events/date={DAY}/_manifest.json" in names


def test_reexport_after_rows_changed_leaves_only_new_files_and_no_duplicates(
    engine, instance, cloud_env, s3_bucket
):
    moto, _ = cloud_env
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 100)
    sync = create_sync(engine, ws, f"s3://{s3_bucket}/x", formats=["parquet", "csv"])
    export(instance, sync.id)
    with engine.begin() as conn:  # late events for the same day
        insert_event_rows(conn, [event_row(ws, DAY, i) for i in range(100, 140)])
    update_sync(engine, sync.id, formats=["parquet"])  # and the csv part becomes stale
    export(instance, sync.id)

    admin = moto.client()
    prefix = f"x/{sync.id}/events/date={DAY}/"
    keys = sorted(
        o["Key"] for o in admin.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)["Contents"]
    )
    assert keys == [prefix + "_manifest.json", prefix + "part-00000.parquet"]
    manifest = json.loads(
        admin.get_object(Bucket=s3_bucket, Key=prefix + "_manifest.json")["Body"].read()
    )
    assert manifest["rows"] == 140 and [f["key"] for f in manifest["files"]] == [
        f"{sync.id}/events/date={DAY}/part-00000.parquet"
    ]
    # every file under the day, read by pyarrow: 140 distinct events, no duplicates
    table = ds.dataset(f"{s3_bucket}/{prefix}", filesystem=s3fs(moto), format="parquet").to_table()
    ids = table.column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == 140


def test_write_only_s3_export_keeps_manifest_consistent(engine, instance, moto_iam, monkeypatch):
    """moto IAM enforcement: the exporter may only PutObject/AbortMultipartUpload."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_iam.writer["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_iam.writer["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("EVENTSYNC_S3_ENDPOINT_URL", moto_iam.server.url)
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 50)
    sync = create_sync(engine, ws, f"s3://{moto_iam.bucket}/exports", formats=["parquet", "jsonl"])
    export(instance, sync.id)
    update_sync(engine, sync.id, formats=["parquet"])
    export(instance, sync.id)  # cannot delete the old jsonl part: it stays, unreferenced

    admin = moto_iam.admin_client()
    prefix = f"exports/{sync.id}/events/date={DAY}/"
    keys = {
        o["Key"] for o in admin.list_objects_v2(Bucket=moto_iam.bucket, Prefix=prefix)["Contents"]
    }
    assert prefix + "part-00000.jsonl.zst" in keys  # stale, kept (no delete permission)
    manifest = json.loads(
        admin.get_object(Bucket=moto_iam.bucket, Key=prefix + "_manifest.json")["Body"].read()
    )
    assert [f["key"] for f in manifest["files"]] == [
        f"{sync.id}/events/date={DAY}/part-00000.parquet"
    ]
